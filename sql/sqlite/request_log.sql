-- The request log: one row per proxied request, written in batches.

-- name: insert_request_log
-- The rows as one JSON array (the adapter passes execute_many's rows so): one statement per flush.
INSERT INTO request_log
    (time, api_key_id, client_key_id, endpoint, model, status, duration_ms, prompt_tokens, completion_tokens, total_tokens)
SELECT json_extract(value, '$.time'),
       json_extract(value, '$.api_key_id'),
       json_extract(value, '$.client_key_id'),
       json_extract(value, '$.endpoint'),
       json_extract(value, '$.model'),
       json_extract(value, '$.status'),
       json_extract(value, '$.duration_ms'),
       json_extract(value, '$.prompt_tokens'),
       json_extract(value, '$.completion_tokens'),
       json_extract(value, '$.total_tokens')
FROM json_each(:batch)
ORDER BY key;

-- name: delete_request_log_before
-- Retention (PROXYD_REQUEST_LOG_DAYS), a batch at a time so no statement runs long.
DELETE FROM request_log WHERE id IN (SELECT id FROM request_log WHERE time < :cutoff LIMIT :batch);

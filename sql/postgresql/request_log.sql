-- The request log: one row per proxied request, written in batches.

-- name: insert_request_log
INSERT INTO request_log
    (time, api_key_id, client_key_id, endpoint, model, status, duration_ms, prompt_tokens, completion_tokens, total_tokens)
VALUES
    (:time, :api_key_id, :client_key_id, :endpoint, :model, :status, :duration_ms, :prompt_tokens, :completion_tokens, :total_tokens);

-- name: delete_request_log_before
-- Retention (PROXYD_REQUEST_LOG_DAYS), a batch at a time so no statement runs long.
DELETE FROM request_log WHERE id IN (SELECT id FROM request_log WHERE time < :cutoff LIMIT :batch);

-- The admin console's numbers (GET /api/admin/usage, the filters of GET /api/admin/logs).
-- Time boundaries are computed by the caller in UTC and passed as epoch milliseconds.

-- name: count_request_log
-- Each filter NULL matches every row; status_min/status_max bound the status (both inclusive).
SELECT COUNT(*) AS total
FROM request_log AS r
WHERE (:client_key_id IS NULL OR r.client_key_id = :client_key_id)
  AND (:api_key_id IS NULL OR r.api_key_id = :api_key_id)
  AND (:model IS NULL OR r.model = :model)
  AND (:status_min IS NULL OR r.status >= :status_min)
  AND (:status_max IS NULL OR r.status <= :status_max);

-- name: page_request_log
-- Newest first. LEFT JOIN: a deleted key's rows stay, with no name or key.
SELECT r.id, r.time, r.api_key_id, k.name AS api_key_name, k.masked_key AS api_key_masked_key,
       r.client_key_id, c.name AS client_key_name,
       r.endpoint, r.model, r.status, r.duration_ms, r.prompt_tokens, r.completion_tokens, r.total_tokens
FROM request_log AS r
LEFT JOIN api_keys AS k ON k.id = r.api_key_id
LEFT JOIN client_keys AS c ON c.id = r.client_key_id
WHERE (:client_key_id IS NULL OR r.client_key_id = :client_key_id)
  AND (:api_key_id IS NULL OR r.api_key_id = :api_key_id)
  AND (:model IS NULL OR r.model = :model)
  AND (:status_min IS NULL OR r.status >= :status_min)
  AND (:status_max IS NULL OR r.status <= :status_max)
ORDER BY r.time DESC, r.id DESC
LIMIT :limit OFFSET :offset;

-- name: usage_by_client_key
-- Requests, errors and tokens per bucket (:bucket_ms wide, counted from :start) and group, in [:start, :end).
SELECT (r.time - :start) / :bucket_ms AS bucket, r.client_key_id AS group_id, c.name AS group_name,
       COUNT(*) AS requests,
       COALESCE(SUM(CASE WHEN r.status >= 400 THEN 1 ELSE 0 END), 0) AS errors,
       COALESCE(SUM(r.prompt_tokens), 0) AS prompt_tokens,
       COALESCE(SUM(r.completion_tokens), 0) AS completion_tokens,
       COALESCE(SUM(COALESCE(r.total_tokens, COALESCE(r.prompt_tokens, 0) + COALESCE(r.completion_tokens, 0))), 0) AS tokens
FROM request_log AS r
LEFT JOIN client_keys AS c ON c.id = r.client_key_id
WHERE r.time >= :start AND r.time < :end
GROUP BY 1, 2, 3
ORDER BY 1, 2;

-- name: usage_by_account
-- Requests, errors and tokens per bucket (:bucket_ms wide, counted from :start) and group, in [:start, :end).
SELECT (r.time - :start) / :bucket_ms AS bucket, r.api_key_id AS group_id, k.name AS group_name,
       COUNT(*) AS requests,
       COALESCE(SUM(CASE WHEN r.status >= 400 THEN 1 ELSE 0 END), 0) AS errors,
       COALESCE(SUM(r.prompt_tokens), 0) AS prompt_tokens,
       COALESCE(SUM(r.completion_tokens), 0) AS completion_tokens,
       COALESCE(SUM(COALESCE(r.total_tokens, COALESCE(r.prompt_tokens, 0) + COALESCE(r.completion_tokens, 0))), 0) AS tokens
FROM request_log AS r
LEFT JOIN api_keys AS k ON k.id = r.api_key_id
WHERE r.time >= :start AND r.time < :end
GROUP BY 1, 2, 3
ORDER BY 1, 2;

-- name: usage_by_model
-- Requests, errors and tokens per bucket (:bucket_ms wide, counted from :start) and group, in [:start, :end).
SELECT (r.time - :start) / :bucket_ms AS bucket, r.model AS group_id, r.model AS group_name,
       COUNT(*) AS requests,
       COALESCE(SUM(CASE WHEN r.status >= 400 THEN 1 ELSE 0 END), 0) AS errors,
       COALESCE(SUM(r.prompt_tokens), 0) AS prompt_tokens,
       COALESCE(SUM(r.completion_tokens), 0) AS completion_tokens,
       COALESCE(SUM(COALESCE(r.total_tokens, COALESCE(r.prompt_tokens, 0) + COALESCE(r.completion_tokens, 0))), 0) AS tokens
FROM request_log AS r
WHERE r.time >= :start AND r.time < :end
GROUP BY 1, 2, 3
ORDER BY 1, 2;

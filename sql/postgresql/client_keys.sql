-- Client keys (migrations/*/0004.client-keys.sql). Every row selector returns the
-- same columns, requests_this_month read from client_key_months (0006) for the month at :month_start.

-- name: find_all_client_keys
-- Newest first, like the API keys.
SELECT c.*,
       COALESCE(
           (SELECT m.requests FROM client_key_months AS m WHERE m.client_key_id = c.id AND m.month = :month_start), 0
       ) AS requests_this_month
FROM client_keys AS c
ORDER BY c.created_at DESC, c.id DESC;

-- name: find_client_key_by_id
SELECT c.*,
       COALESCE(
           (SELECT m.requests FROM client_key_months AS m WHERE m.client_key_id = c.id AND m.month = :month_start), 0
       ) AS requests_this_month
FROM client_keys AS c
WHERE c.id = :id;

-- name: find_client_key_by_hash
SELECT c.*,
       COALESCE(
           (SELECT m.requests FROM client_key_months AS m WHERE m.client_key_id = c.id AND m.month = :month_start), 0
       ) AS requests_this_month
FROM client_keys AS c
WHERE c.key_sha256 = :key_sha256;

-- name: insert_client_key
INSERT INTO client_keys
    (id, name, key_sha256, prefix, models, rpm, monthly_requests, expires_at, accounts, created_at, usage_count)
VALUES
    (:id, :name, :key_sha256, :prefix, :models, :rpm, :monthly_requests, :expires_at, :accounts, :created_at, 0);

-- name: lock_client_key
SELECT id FROM client_keys WHERE id = :id FOR UPDATE;

-- name: update_client_key
UPDATE client_keys
SET name = :name, models = :models, rpm = :rpm, monthly_requests = :monthly_requests,
    expires_at = :expires_at, accounts = :accounts
WHERE id = :id;

-- name: delete_client_key
DELETE FROM client_keys WHERE id = :id;

-- name: record_client_key_usage
-- Many (id, n, last_used) increments in one statement, as record_usage does for API keys.
UPDATE client_keys AS c
SET usage_count = c.usage_count + u.n,
    last_used = GREATEST(c.last_used, u.last_used)
FROM jsonb_to_recordset(CAST(:batch AS jsonb)) AS u(id text, n bigint, last_used bigint)
WHERE c.id = u.id;

-- name: record_client_key_months
-- Many (id, month, n) increments of client_key_months in one statement; ids of deleted keys are ignored.
INSERT INTO client_key_months (client_key_id, month, requests)
SELECT u.id, u.month, u.n
FROM jsonb_to_recordset(CAST(:batch AS jsonb)) AS u(id text, month bigint, n bigint)
WHERE u.id IN (SELECT id FROM client_keys)
ON CONFLICT (client_key_id, month) DO UPDATE SET requests = client_key_months.requests + EXCLUDED.requests;

-- name: delete_client_key_months
DELETE FROM client_key_months WHERE client_key_id = :id;

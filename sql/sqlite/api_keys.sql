-- API keys and their Copilot meta. Every row selector returns the same columns.

-- name: find_all_keys
-- Newest first, as the legacy list did.
SELECT * FROM api_key_records AS k
ORDER BY k.created_at DESC, k.id DESC;

-- name: find_key_by_id
SELECT * FROM api_key_records AS k
WHERE k.id = :id;

-- name: find_key_by_hmac
-- A presented token, by its keyed lookup hash (proxyd/crypto/keyring.py). Two hashes: while a
-- rotation runs, the row may be stored under the new key's hash or still under the old key's.
SELECT * FROM api_key_records AS k
WHERE k.key_hmac IN (:hmac, :other_hmac);

-- name: all_key_ids
-- Which accounts exist (proxyd keys create --accounts): nothing to decrypt.
SELECT id FROM api_keys;

-- name: find_default_key
SELECT * FROM api_key_records AS k
WHERE k.is_default = 1;

-- name: insert_key
-- The token only sealed (key_ciphertext), found by key_hmac, shown as masked_key.
INSERT INTO api_keys (id, name, key_hmac, key_ciphertext, masked_key, created_at, last_used, usage_count, is_default)
VALUES (:id, :name, :key_hmac, :key_ciphertext, :masked_key, :created_at, :last_used, :usage_count, 0);

-- name: lock_key
-- BEGIN IMMEDIATE already serialises writers; this only tells whether the row exists.
SELECT id FROM api_keys WHERE id = :id;

-- name: update_key_name
UPDATE api_keys SET name = :name WHERE id = :id;

-- name: update_key_usage
UPDATE api_keys SET usage_count = :usage_count, last_used = :last_used WHERE id = :id;

-- name: delete_key
-- copilot_meta goes with it (ON DELETE CASCADE).
DELETE FROM api_keys WHERE id = :id;

-- name: upsert_meta
INSERT INTO copilot_meta (api_key_id, token_ciphertext, expires_at, reset_time, chat_quota, completions_quota)
VALUES (:api_key_id, :token_ciphertext, :expires_at, :reset_time, :chat_quota, :completions_quota)
ON CONFLICT (api_key_id) DO UPDATE SET
    token_ciphertext = excluded.token_ciphertext, expires_at = excluded.expires_at, reset_time = excluded.reset_time,
    chat_quota = excluded.chat_quota, completions_quota = excluded.completions_quota;

-- name: lock_default_key
-- BEGIN IMMEDIATE already serialises writers; this only proves the lock row exists.
SELECT name FROM proxyd_lock WHERE name = 'default_key';

-- name: clear_default_key
UPDATE api_keys SET is_default = 0 WHERE is_default = 1;

-- name: mark_default_key
UPDATE api_keys SET is_default = 1 WHERE id = :id;

-- name: record_usage
-- Many (id, n, last_used) increments in one statement, one round trip: :batch is
-- a JSON array of objects. Unknown ids match nothing (the key was deleted).
UPDATE api_keys
SET usage_count = usage_count + u.n,
    last_used = max(COALESCE(api_keys.last_used, 0), u.last_used)
FROM (
    SELECT json_extract(value, '$.id') AS id,
           json_extract(value, '$.n') AS n,
           json_extract(value, '$.last_used') AS last_used
    FROM json_each(:batch)
) AS u
WHERE api_keys.id = u.id;

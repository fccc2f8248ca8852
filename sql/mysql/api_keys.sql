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
VALUES (:id, :name, :key_hmac, :key_ciphertext, :masked_key, :created_at, :last_used, :usage_count, FALSE);

-- name: lock_key
-- Held until commit: a concurrent DELETE waits for the update, or has already
-- removed the row and this finds nothing. A locking read sees the latest
-- committed row, not the transaction's snapshot.
SELECT id FROM api_keys WHERE id = :id FOR UPDATE;

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
ON DUPLICATE KEY UPDATE
    token_ciphertext = VALUES(token_ciphertext), expires_at = VALUES(expires_at), reset_time = VALUES(reset_time),
    chat_quota = VALUES(chat_quota), completions_quota = VALUES(completions_quota);

-- name: lock_default_key
-- Held until commit: concurrent set_default calls run one after another
-- instead of deadlocking on each other's row locks. Taken before any plain
-- read, so the transaction's snapshot (which starts at its first non-locking
-- read) sees the default the previous holder committed.
SELECT name FROM proxyd_lock WHERE name = 'default_key' FOR UPDATE;

-- name: clear_default_key
UPDATE api_keys SET is_default = FALSE WHERE default_marker = 1;

-- name: mark_default_key
UPDATE api_keys SET is_default = TRUE WHERE id = :id;

-- name: record_usage
-- Many (id, n, last_used) increments in one statement, one round trip: :batch is
-- a JSON array of objects. Unknown ids match nothing (the key was deleted).
UPDATE api_keys AS k
JOIN JSON_TABLE(:batch, '$[*]' COLUMNS (
    id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$.id',
    n BIGINT PATH '$.n',
    last_used BIGINT PATH '$.last_used'
)) AS u ON k.id = u.id
SET k.usage_count = k.usage_count + u.n,
    k.last_used = GREATEST(COALESCE(k.last_used, 0), u.last_used);

-- Tokens at rest (proxyd/crypto/): what the start-up check, `proxyd keys rotate-encryption`
-- and the clean-up after re-encrypting read and write. Tokens only ever appear here sealed.

-- name: sealed_tokens
-- Every account's sealed GitHub token: checked at start against the key, re-sealed by a rotation.
SELECT id, name, masked_key, key_hmac, key_ciphertext FROM api_keys
ORDER BY id;

-- name: sealed_meta_tokens
SELECT api_key_id, token_ciphertext FROM copilot_meta
ORDER BY api_key_id;

-- name: reseal_key
-- Only if the row still holds what was read: a row changed meanwhile is left for the next pass.
UPDATE api_keys SET key_hmac = :key_hmac, key_ciphertext = :key_ciphertext
WHERE id = :id AND key_ciphertext = :old_ciphertext;

-- name: reseal_meta
-- Only if the token is still the one read: a Copilot token stored meanwhile is newer, and sealed already.
UPDATE copilot_meta SET token_ciphertext = :token_ciphertext
WHERE api_key_id = :api_key_id AND token_ciphertext = :old_ciphertext;

-- name: scrub_token_tables
-- After tokens were rewritten (migration 0006, a rotation): drop the copies of their old values
-- the database keeps in its files. Runs outside a transaction.
-- SQLite zeroes what it deletes or overwrites (PRAGMA secure_delete, set on every connection);
-- what is left is the write-ahead log, whose old frames this empties (the file shrinks to nothing).
PRAGMA wal_checkpoint(TRUNCATE);

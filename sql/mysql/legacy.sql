-- The legacy import (proxyd/legacy/): what is already in the database, and
-- legacy_import, the record of every api_keys row an import created.

-- name: legacy_existing_keys
-- Every id and sealed key: the batch import opens them and decides "already present" in memory.
SELECT id, key_ciphertext FROM api_keys;

-- name: legacy_imported
-- Every key an import created, including those deleted since.
SELECT api_key_id, key_sha256 FROM legacy_import;

-- name: legacy_imported_match
-- Did an import already create this id or this token (sha256)?
SELECT api_key_id, key_sha256 FROM legacy_import
WHERE api_key_id = :id OR key_sha256 = :key_sha256;

-- name: legacy_insert_meta
INSERT INTO copilot_meta (api_key_id, token_ciphertext, expires_at, reset_time, chat_quota, completions_quota)
VALUES (:api_key_id, :token_ciphertext, :expires_at, :reset_time, :chat_quota, :completions_quota);

-- name: legacy_record_import
INSERT INTO legacy_import (api_key_id, key_sha256, imported_at, source_dir, source_file, via)
VALUES (:api_key_id, :key_sha256, :imported_at, :source_dir, :source_file, :via);

-- name: legacy_import_records
SELECT api_key_id, key_sha256, imported_at, source_dir, source_file, via
FROM legacy_import
ORDER BY api_key_id;

-- name: legacy_delete_imported_meta
-- Explicit, for connections that do not enforce foreign keys (yoyo's SQLite connection).
DELETE FROM copilot_meta WHERE api_key_id IN (SELECT api_key_id FROM legacy_import);

-- name: legacy_delete_imported_keys
DELETE FROM api_keys WHERE id IN (SELECT api_key_id FROM legacy_import);

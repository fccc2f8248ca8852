"""Encrypt every GitHub and Copilot token at rest (proxyd/crypto/; the README's Encryption at rest).

api_keys.key becomes key_hmac: the token's keyed lookup hash (HMAC-SHA-256), still unique,
so a presented token is found without decrypting anything. Beside it, key_ciphertext holds
the token sealed with AES-256-GCM and masked_key what admins are shown (computed here, once).
copilot_meta.token becomes token_ciphertext, the cached Copilot token sealed the same way.

The data step needs the encryption key: PROXYD_ENCRYPTION_KEY, else the key file, created
with a random key on first use (`proxyd migrate apply` passes it in). Rolling back decrypts
every token into api_keys.key and copilot_meta.token again, all or nothing, and logs a
warning that they are stored in clear.

MySQL commits DDL at once: if a step fails, yoyo runs the rollbacks of the steps before it
(the data steps raise the driver's error type so that it does). The steps that only roll
back restore the original column types once the tokens are back in clear.
"""

from yoyo import step

from proxyd.crypto.migration import decrypt_step, encrypt_step

__depends__ = {"0006.client-key-months"}

# The queries of the data steps, against the schema as it is between the steps around them
# (the token columns not yet renamed), in the format of sql/<dialect>/*.sql.
SCHEMA_QUERIES = """
-- name: clear_keys
SELECT id, `key` FROM api_keys;

-- name: clear_meta_tokens
SELECT api_key_id, token FROM copilot_meta;

-- name: seal_clear_key
UPDATE api_keys SET `key` = :key_hmac, key_ciphertext = :key_ciphertext, masked_key = :masked_key
WHERE id = :id;

-- name: seal_clear_meta_token
UPDATE copilot_meta SET token = :token WHERE api_key_id = :api_key_id;

-- name: sealed_keys_to_open
SELECT id, key_ciphertext FROM api_keys;

-- name: sealed_meta_tokens_to_open
SELECT api_key_id, token FROM copilot_meta;

-- name: unseal_key
UPDATE api_keys SET `key` = :key WHERE id = :id;

-- name: unseal_meta_token
UPDATE copilot_meta SET token = :token WHERE api_key_id = :api_key_id;
"""

CLEAR_VIEW = """
CREATE VIEW api_key_records AS
SELECT k.id, k.name, k.`key` AS `key`, k.created_at, k.last_used, k.usage_count, k.is_default,
       m.token AS meta_token, m.expires_at AS meta_expires_at, m.reset_time AS meta_reset_time,
       m.chat_quota AS meta_chat_quota, m.completions_quota AS meta_completions_quota
FROM api_keys AS k
LEFT JOIN copilot_meta AS m ON m.api_key_id = k.id
"""

# Every read of an account wants its meta too: one definition of that join, tokens sealed.
SEALED_VIEW = """
CREATE VIEW api_key_records AS
SELECT k.id, k.name, k.key_hmac, k.key_ciphertext, k.masked_key, k.created_at, k.last_used, k.usage_count,
       k.is_default, m.token_ciphertext AS meta_token_ciphertext, m.expires_at AS meta_expires_at,
       m.reset_time AS meta_reset_time, m.chat_quota AS meta_chat_quota,
       m.completions_quota AS meta_completions_quota
FROM api_keys AS k
LEFT JOIN copilot_meta AS m ON m.api_key_id = k.id
"""

steps = [
    step("DROP VIEW api_key_records", CLEAR_VIEW),
    step(
        "ALTER TABLE api_keys ADD COLUMN key_ciphertext TEXT NULL, ADD COLUMN masked_key VARCHAR(64) NULL",
        "ALTER TABLE api_keys DROP COLUMN key_ciphertext, DROP COLUMN masked_key",
    ),
    # A sealed Copilot token is a third longer than the token: room for it before it is written.
    step(
        "ALTER TABLE copilot_meta MODIFY token MEDIUMTEXT NOT NULL",
        "ALTER TABLE copilot_meta MODIFY token TEXT NOT NULL",
    ),
    step(encrypt_step("mysql", SCHEMA_QUERIES), decrypt_step("mysql", SCHEMA_QUERIES)),
    step(
        "ALTER TABLE api_keys CHANGE COLUMN `key` key_hmac CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, "
        "RENAME INDEX api_keys_key TO api_keys_key_hmac, "
        "MODIFY key_ciphertext TEXT NOT NULL, MODIFY masked_key VARCHAR(64) NOT NULL",
        "ALTER TABLE api_keys CHANGE COLUMN key_hmac `key` VARCHAR(512) NOT NULL, "
        "RENAME INDEX api_keys_key_hmac TO api_keys_key, "
        "MODIFY key_ciphertext TEXT NULL, MODIFY masked_key VARCHAR(64) NULL",
    ),
    step(
        "ALTER TABLE copilot_meta CHANGE COLUMN token token_ciphertext MEDIUMTEXT NOT NULL",
        "ALTER TABLE copilot_meta CHANGE COLUMN token_ciphertext token MEDIUMTEXT NOT NULL",
    ),
    step(SEALED_VIEW, "DROP VIEW api_key_records"),
]

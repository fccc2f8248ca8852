-- depends: 0003.usage-batches
-- Client keys: secrets proxyd hands out to clients, apart from the GitHub accounts
-- that pay (api_keys). Only the SHA-256 of a secret is stored, never the secret.
-- models and accounts are JSON arrays (NULL: every model, every account); an
-- account id whose key was deleted since is ignored when the pool is built.

CREATE TABLE client_keys (
    id VARCHAR(255) NOT NULL,
    name TEXT NOT NULL,
    key_sha256 CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    prefix VARCHAR(16) NOT NULL,
    models MEDIUMTEXT NULL,
    rpm BIGINT NULL,
    monthly_requests BIGINT NULL,
    expires_at BIGINT NULL,
    accounts MEDIUMTEXT NULL,
    created_at BIGINT NOT NULL,
    last_used BIGINT NULL,
    usage_count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY client_keys_key_sha256 (key_sha256),
    KEY client_keys_created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Which client key a request came with (NULL: a GitHub token or the default key).
ALTER TABLE request_log ADD COLUMN client_key_id VARCHAR(255) NULL, ADD KEY request_log_client_key (client_key_id, time);

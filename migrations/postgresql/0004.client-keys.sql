-- depends: 0003.usage-batches
-- Client keys: secrets proxyd hands out to clients, apart from the GitHub accounts
-- that pay (api_keys). Only the SHA-256 of a secret is stored, never the secret.
-- models and accounts are JSON arrays (NULL: every model, every account); an
-- account id whose key was deleted since is ignored when the pool is built.

CREATE TABLE client_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    prefix TEXT NOT NULL,
    models TEXT,
    rpm BIGINT,
    monthly_requests BIGINT,
    expires_at BIGINT,
    accounts TEXT,
    created_at BIGINT NOT NULL,
    last_used BIGINT,
    usage_count BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT client_keys_key_sha256 UNIQUE (key_sha256)
);
CREATE INDEX client_keys_created_at ON client_keys (created_at);

-- Which client key a request came with (NULL: a GitHub token or the default key).
ALTER TABLE request_log ADD COLUMN client_key_id TEXT;
CREATE INDEX request_log_client_key ON request_log (client_key_id, time);

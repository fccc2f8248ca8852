-- The schema: API keys, their Copilot meta, and the request log.
-- Timestamps are epoch milliseconds in 64-bit integers: exact, and the legacy wire format.

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used INTEGER,
    usage_count INTEGER NOT NULL DEFAULT 0,
    is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    CONSTRAINT api_keys_key UNIQUE (key)
);

-- At most one default key, enforced by the database itself.
CREATE UNIQUE INDEX api_keys_one_default ON api_keys (is_default) WHERE is_default = 1;
CREATE INDEX api_keys_created_at ON api_keys (created_at);

CREATE TABLE copilot_meta (
    api_key_id TEXT PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    token TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    reset_time INTEGER,
    chat_quota INTEGER,
    completions_quota INTEGER
);

-- No foreign key to api_keys: a log row must survive its key's deletion, and a
-- batch of log rows must never fail because one key was deleted meanwhile.
CREATE TABLE request_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    api_key_id TEXT,
    endpoint TEXT NOT NULL,
    model TEXT,
    status INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER
);
CREATE INDEX request_log_time ON request_log (time);
CREATE INDEX request_log_api_key ON request_log (api_key_id);

-- One row per named lock; set_default serialises on it (see sql/*/api_keys.sql).
CREATE TABLE proxyd_lock (name TEXT PRIMARY KEY);
INSERT INTO proxyd_lock (name) VALUES ('default_key');

-- Every read of a key wants its meta too: one definition of that join.
CREATE VIEW api_key_records AS
SELECT k.id, k.name, k.key AS key, k.created_at, k.last_used, k.usage_count, k.is_default,
       m.token AS meta_token, m.expires_at AS meta_expires_at, m.reset_time AS meta_reset_time,
       m.chat_quota AS meta_chat_quota, m.completions_quota AS meta_completions_quota
FROM api_keys AS k
LEFT JOIN copilot_meta AS m ON m.api_key_id = k.id;

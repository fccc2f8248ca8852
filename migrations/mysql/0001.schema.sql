-- The schema: API keys, their Copilot meta, and the request log.
-- Timestamps are epoch milliseconds in BIGINT: exact, and the legacy wire format.
-- utf8mb4 everywhere (emoji in names); binary collation because ids and GitHub
-- tokens are case-sensitive: 'gho_A' and 'gho_a' are different keys.

CREATE TABLE api_keys (
    id VARCHAR(255) NOT NULL,
    name TEXT NOT NULL,
    `key` VARCHAR(512) NOT NULL,
    created_at BIGINT NOT NULL,
    last_used BIGINT NULL,
    usage_count BIGINT NOT NULL DEFAULT 0,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    -- NULL for every non-default row, so a unique index admits one default only.
    default_marker TINYINT AS (IF(is_default, 1, NULL)) STORED,
    PRIMARY KEY (id),
    UNIQUE KEY api_keys_key (`key`),
    UNIQUE KEY api_keys_one_default (default_marker),
    KEY api_keys_created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE copilot_meta (
    api_key_id VARCHAR(255) NOT NULL,
    token TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    reset_time BIGINT NULL,
    chat_quota BIGINT NULL,
    completions_quota BIGINT NULL,
    PRIMARY KEY (api_key_id),
    CONSTRAINT copilot_meta_api_key FOREIGN KEY (api_key_id) REFERENCES api_keys (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- No foreign key to api_keys: a log row must survive its key's deletion, and a
-- batch of log rows must never fail because one key was deleted meanwhile.
CREATE TABLE request_log (
    id BIGINT NOT NULL AUTO_INCREMENT,
    time BIGINT NOT NULL,
    api_key_id VARCHAR(255) NULL,
    endpoint VARCHAR(255) NOT NULL,
    model TEXT NULL,
    status INT NOT NULL,
    duration_ms BIGINT NOT NULL,
    prompt_tokens BIGINT NULL,
    completion_tokens BIGINT NULL,
    total_tokens BIGINT NULL,
    PRIMARY KEY (id),
    KEY request_log_time (time),
    KEY request_log_api_key (api_key_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per named lock; set_default serialises on it (see sql/*/api_keys.sql).
CREATE TABLE proxyd_lock (name VARCHAR(64) NOT NULL PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO proxyd_lock (name) VALUES ('default_key');

-- Every read of a key wants its meta too: one definition of that join.
CREATE VIEW api_key_records AS
SELECT k.id, k.name, k.`key` AS `key`, k.created_at, k.last_used, k.usage_count, k.is_default,
       m.token AS meta_token, m.expires_at AS meta_expires_at, m.reset_time AS meta_reset_time,
       m.chat_quota AS meta_chat_quota, m.completions_quota AS meta_completions_quota
FROM api_keys AS k
LEFT JOIN copilot_meta AS m ON m.api_key_id = k.id;

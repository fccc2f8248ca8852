"""Import the legacy service's API keys from PROXYD_LEGACY_DIR (nothing when it is unset).

legacy_import records every api_keys row an import created -- this step,
`proxyd import-legacy` and the transition fallback alike -- and outlives the
row (no foreign key), so a key deleted in proxyd is not imported again.
Rolling back deletes exactly the recorded rows (keys created since through
the API stay) and drops legacy_import.
"""

from yoyo import step

from proxyd.legacy.migration import import_step, rollback_step

__depends__ = {"0001.schema"}

# The writes of the schema as it is here, tokens in clear: 0007.encrypt-tokens encrypts them
# right after (the daemon's own queries, in sql/sqlite/, are for the schema after it).
SCHEMA_QUERIES = """
-- name: legacy_existing_keys
SELECT id, key FROM api_keys;

-- name: insert_key
INSERT INTO api_keys (id, name, key, created_at, last_used, usage_count, is_default)
VALUES (:id, :name, :key, :created_at, :last_used, :usage_count, 0);

-- name: legacy_insert_meta
INSERT INTO copilot_meta (api_key_id, token, expires_at, reset_time, chat_quota, completions_quota)
VALUES (:api_key_id, :token, :expires_at, :reset_time, :chat_quota, :completions_quota);
"""

steps = [
    step(
        """
        CREATE TABLE legacy_import (
            api_key_id TEXT PRIMARY KEY,
            key_sha256 TEXT NOT NULL,
            imported_at INTEGER NOT NULL,
            source_dir TEXT NOT NULL,
            source_file TEXT NOT NULL,
            via TEXT NOT NULL CHECK (via IN ('migration', 'cli', 'fallback'))
        )
        """,
        "DROP TABLE legacy_import",
    ),
    step("CREATE INDEX legacy_import_key ON legacy_import (key_sha256)"),
    step(import_step("sqlite", SCHEMA_QUERIES), rollback_step("sqlite")),
]

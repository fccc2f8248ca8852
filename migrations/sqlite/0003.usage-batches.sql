-- depends: 0002.legacy-import
-- Usage flushes that committed, by the batch id proxyd gave each: a flush whose
-- COMMIT acknowledgement was lost is retried with the same id, and finding the id
-- here means it already counted. Rows older than a day are pruned hourly.

CREATE TABLE usage_batches (
    id TEXT PRIMARY KEY,
    applied_at INTEGER NOT NULL
);
CREATE INDEX usage_batches_applied_at ON usage_batches (applied_at);

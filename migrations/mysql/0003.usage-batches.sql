-- depends: 0002.legacy-import
-- Usage flushes that committed, by the batch id proxyd gave each: a flush whose
-- COMMIT acknowledgement was lost is retried with the same id, and finding the id
-- here means it already counted. Rows older than a day are pruned hourly.

CREATE TABLE usage_batches (
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (id),
    KEY usage_batches_applied_at (applied_at)
) ENGINE=InnoDB;

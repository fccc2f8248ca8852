-- Ids of the usage flushes that committed (see migrations/*/0003.usage-batches.sql).

-- name: claim_usage_batch
-- One row if the batch is new, none if a committed transaction already applied it.
-- A transaction still holding the same id (a COMMIT in flight) makes this wait for its outcome.
-- Not INSERT IGNORE, whose duplicate-key warning the driver would print: a duplicate left as it
-- was counts as 0 affected rows (proxyd's connections do not set CLIENT_FOUND_ROWS).
INSERT INTO usage_batches (id, applied_at) VALUES (:id, :applied_at) ON DUPLICATE KEY UPDATE id = id;

-- name: delete_usage_batches_before
DELETE FROM usage_batches WHERE applied_at < :cutoff ORDER BY applied_at LIMIT :batch;

-- Ids of the usage flushes that committed (see migrations/*/0003.usage-batches.sql).

-- name: claim_usage_batch
-- One row if the batch is new, none if a committed transaction already applied it.
-- A transaction still holding the same id (a COMMIT in flight) makes this wait for its outcome.
INSERT INTO usage_batches (id, applied_at) VALUES (:id, :applied_at) ON CONFLICT (id) DO NOTHING;

-- name: delete_usage_batches_before
DELETE FROM usage_batches WHERE id IN (SELECT id FROM usage_batches WHERE applied_at < :cutoff LIMIT :batch);

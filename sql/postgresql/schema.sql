-- Health and schema checks.

-- name: ping
SELECT 1 AS ok;

-- name: applied_migrations
-- yoyo's own bookkeeping table: which migrations this database has.
SELECT migration_id FROM _yoyo_migration;

-- name: count_orphaned_meta
-- Consistency check: Copilot meta whose key is gone (the foreign key should make this 0).
SELECT COUNT(*) AS n FROM copilot_meta AS m LEFT JOIN api_keys AS k ON k.id = m.api_key_id WHERE k.id IS NULL;

-- name: count_default_keys
SELECT COUNT(*) AS n FROM api_keys WHERE is_default = TRUE;

-- Health and schema checks.

-- name: ping
SELECT 1 AS ok;

-- name: applied_migrations
-- yoyo's own bookkeeping table: which migrations this database has.
SELECT migration_id FROM _yoyo_migration;

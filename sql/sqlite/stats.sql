-- Admin dashboard numbers (GET /api/admin/stats, /api/admin/logs). Time
-- boundaries (today, this week, ...) are computed by the caller in UTC and
-- passed as epoch milliseconds, so no query depends on the database's clock.

-- name: stats_keys
-- Active: used at or after :active_since.
SELECT COUNT(*) AS total_keys,
       COALESCE(SUM(CASE WHEN last_used >= :active_since THEN 1 ELSE 0 END), 0) AS active_keys
FROM api_keys;

-- name: stats_requests
-- :client_key_id NULL counts every request, else those of that client key.
-- One pass over the log; the period counts and the error count are filtered sums.
SELECT COUNT(*) AS total,
       COALESCE(SUM(CASE WHEN r.time >= :day_start THEN 1 ELSE 0 END), 0) AS today,
       COALESCE(SUM(CASE WHEN r.time >= :week_start THEN 1 ELSE 0 END), 0) AS this_week,
       COALESCE(SUM(CASE WHEN r.time >= :month_start THEN 1 ELSE 0 END), 0) AS this_month,
       COALESCE(SUM(CASE WHEN r.status >= 400 THEN 1 ELSE 0 END), 0) AS errors,
       AVG(r.duration_ms) AS average_duration
FROM request_log AS r
WHERE (:client_key_id IS NULL OR r.client_key_id = :client_key_id);

-- name: stats_top_models
SELECT r.model, COUNT(*) AS requests
FROM request_log AS r
WHERE r.model IS NOT NULL AND (:client_key_id IS NULL OR r.client_key_id = :client_key_id)
GROUP BY r.model
ORDER BY requests DESC, r.model
LIMIT :limit;

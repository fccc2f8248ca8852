-- depends: 0005.admin-sessions
-- Each client key's requests per UTC calendar month (month: its first millisecond, epoch ms), kept by
-- the usage flush in the same transaction as usage_count: monthlyRequests limits read one row, however
-- long PROXYD_REQUEST_LOG_DAYS keeps the request log. The current month starts from the request log.

CREATE TABLE client_key_months (
    client_key_id TEXT NOT NULL,
    month INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (client_key_id, month)
);

INSERT INTO client_key_months (client_key_id, month, requests)
SELECT r.client_key_id, m.month, COUNT(*)
FROM request_log AS r
JOIN (SELECT CAST(strftime('%s', 'now', 'start of month') AS INTEGER) * 1000 AS month) AS m ON r.time >= m.month
WHERE r.client_key_id IN (SELECT id FROM client_keys)
GROUP BY r.client_key_id, m.month;

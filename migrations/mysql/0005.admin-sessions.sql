-- depends: 0004.client-keys
-- Admin console sessions (POST /admin/login). Only an HMAC of each session's secret is
-- stored, keyed with the admin credentials: a copy of this table signs nobody in, and
-- changing the admin token or password ends every session. Sign-out deletes the row, so
-- it ends the session on every worker and instance; expired rows are pruned at sign-in.

CREATE TABLE admin_sessions (
    id_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (id_hash),
    KEY admin_sessions_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

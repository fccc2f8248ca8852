-- depends: 0004.client-keys
-- Admin console sessions (POST /admin/login). Only an HMAC of each session's secret is
-- stored, keyed with the admin credentials: a copy of this table signs nobody in, and
-- changing the admin token or password ends every session. Sign-out deletes the row, so
-- it ends the session on every worker and instance; expired rows are pruned at sign-in.

CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);

-- Admin console sessions (proxyd/admin/sessions.py). id_hash is an HMAC of the session's
-- secret, never the secret itself.

-- name: insert_admin_session
INSERT INTO admin_sessions (id_hash, subject, created_at, expires_at)
VALUES (:id_hash, :subject, :created_at, :expires_at);

-- name: find_admin_session
SELECT subject, expires_at FROM admin_sessions WHERE id_hash = :id_hash AND expires_at > :now;

-- name: delete_admin_session
DELETE FROM admin_sessions WHERE id_hash = :id_hash;

-- name: delete_expired_admin_sessions
DELETE FROM admin_sessions WHERE expires_at <= :now;

-- Legacy tables and keys stay; only what 0004 added goes.
DROP INDEX request_log_client_key;
ALTER TABLE request_log DROP COLUMN client_key_id;
DROP TABLE client_keys;

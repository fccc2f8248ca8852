-- Legacy tables and keys stay; only what 0004 added goes.
ALTER TABLE request_log DROP KEY request_log_client_key, DROP COLUMN client_key_id;
DROP TABLE client_keys;

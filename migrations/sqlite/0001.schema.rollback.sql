DROP VIEW api_key_records;
DROP TABLE proxyd_lock;
DROP TABLE request_log;
DROP TABLE copilot_meta;
DROP TABLE api_keys;

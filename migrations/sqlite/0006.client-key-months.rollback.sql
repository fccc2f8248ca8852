-- The request log still holds what the monthly counts were counted from (within PROXYD_REQUEST_LOG_DAYS).
DROP TABLE client_key_months;

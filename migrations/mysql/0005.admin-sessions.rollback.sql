-- Only what 0005 added goes.
DROP TABLE admin_sessions;

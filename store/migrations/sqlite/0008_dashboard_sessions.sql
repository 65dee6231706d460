-- The dashboard's sign-in sessions, in the store so that every replica behind a load balancer
-- knows them: the SHA-256 of the session id (the cookie's value itself is never stored), who
-- signed in with which API token, their forms' CSRF token, and when the session ends (Unix
-- seconds). Expired rows are deleted as new sessions start.
CREATE TABLE dashboard_sessions (
    id_hash    BLOB    PRIMARY KEY,
    user_name  TEXT    NOT NULL,
    token_id   TEXT    NOT NULL,
    csrf       TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- The web console (collector/src/store/console.rs): console users, sign-in sessions, sign-in rate limiting, the daily
-- trend of active findings, and the indexes behind the dashboard and host list at fleet scale (10,000 hosts,
-- 100,000 findings). Times are milliseconds since the Unix epoch (UTC), as in 0001.

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    -- viewer, analyst or admin (model::Role).
    role                 TEXT NOT NULL,
    -- PHC string (Argon2id).
    password_hash        TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           BIGINT NOT NULL,
    last_login_at        BIGINT,
    disabled_at          BIGINT
);

-- Only the SHA-256 of the session cookie is stored.
CREATE TABLE console_sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
CREATE INDEX console_sessions_user ON console_sessions (user_id);

-- Failed sign-ins by key (a source address or a user name).
CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);

-- Active findings per severity at the end of each day (UTC); day is YYYY-MM-DD. taken_at: when the day's snapshot
-- was last replaced.
CREATE TABLE finding_trend (
    day      TEXT NOT NULL,
    severity TEXT NOT NULL,
    active   BIGINT NOT NULL,
    taken_at BIGINT NOT NULL,
    PRIMARY KEY (day, severity)
);

-- Per-host active counts by severity (host list, risk sort, "has critical").
CREATE INDEX findings_host_status ON findings (host_id, status, severity_rank);
-- Active vulnerability findings by package (dashboard) and by advisory (KEV).
CREATE INDEX findings_kind_status ON findings (kind, status, subject);
CREATE INDEX findings_kind_rule ON findings (kind, rule_id, status);
-- The host list's OS sort.
CREATE INDEX hosts_os_pretty_name ON hosts (os_pretty_name, hostname);

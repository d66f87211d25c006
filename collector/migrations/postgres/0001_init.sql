-- Muster collector schema (PostgreSQL). Times are milliseconds since the Unix epoch (UTC) so both backends sort and
-- compare them the same way. Secrets and tokens are stored only as SHA-256 hashes.

CREATE TABLE hosts (
    id                 TEXT PRIMARY KEY,
    hostname           TEXT NOT NULL,
    machine_id         TEXT,
    system_uuid        TEXT,
    system_serial      TEXT,
    os_id              TEXT,
    os_version_id      TEXT,
    os_pretty_name     TEXT,
    kernel_release     TEXT,
    architecture       TEXT,
    agent_version      TEXT,
    tags               TEXT NOT NULL DEFAULT '[]',
    duplicate_identity BOOLEAN NOT NULL DEFAULT FALSE,
    first_seen         BIGINT NOT NULL,
    last_seen          BIGINT NOT NULL,
    last_report_at     BIGINT
);
CREATE INDEX hosts_hardware_identity ON hosts (system_uuid, system_serial);
CREATE INDEX hosts_machine_id ON hosts (machine_id);
CREATE INDEX hosts_hostname ON hosts (hostname);
CREATE INDEX hosts_last_seen ON hosts (last_seen);

CREATE TABLE host_tokens (
    token_hash TEXT PRIMARY KEY,
    host_id    TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX host_tokens_host ON host_tokens (host_id);

CREATE TABLE enroll_secrets (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT,
    uses        BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE enroll_failures (
    source_ip TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX enroll_failures_ip ON enroll_failures (source_ip, at);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE reports (
    host_id       TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    report_id     TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    collected_at  BIGINT NOT NULL,
    full_sections TEXT NOT NULL,
    PRIMARY KEY (host_id, report_id)
);
CREATE INDEX reports_received ON reports (host_id, received_at);

CREATE TABLE host_sections (
    host_id    TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    section    TEXT NOT NULL,
    hash       TEXT NOT NULL,
    content    TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, section)
);

CREATE TABLE software (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    arch           TEXT,
    source_name    TEXT,
    source_version TEXT
);
CREATE INDEX software_name ON software (name);
CREATE INDEX software_source_name ON software (source_name);

CREATE TABLE host_software (
    host_id      TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    software_id  TEXT NOT NULL REFERENCES software (id),
    installed_at BIGINT,
    size_bytes   BIGINT,
    PRIMARY KEY (host_id, software_id)
);
CREATE INDEX host_software_software ON host_software (software_id);

CREATE TABLE history (
    id         BIGSERIAL PRIMARY KEY,
    host_id    TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    report_id  TEXT,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    from_value TEXT,
    to_value   TEXT,
    details    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX history_host ON history (host_id, at);

CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT,
    source_ip TEXT,
    details   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);

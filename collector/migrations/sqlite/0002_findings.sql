-- Findings and their lifecycle (collector/src/findings). A finding is one problem on one host, keyed by
-- (host, kind, rule, subject): `kind` is `rule` for policy rules and `vulnerability` for advisory matches, whose
-- `rule_id` is then the advisory id and `subject` the package. Times are milliseconds since the epoch (UTC).

CREATE TABLE findings (
    id                 TEXT PRIMARY KEY,
    host_id            TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    kind               TEXT NOT NULL,
    rule_id            TEXT NOT NULL,
    subject            TEXT NOT NULL DEFAULT '',
    title              TEXT NOT NULL,
    severity           TEXT NOT NULL,
    severity_rank      BIGINT NOT NULL,
    status             TEXT NOT NULL,
    evidence           TEXT NOT NULL DEFAULT '[]',
    details            TEXT NOT NULL DEFAULT '{}',
    remediation        TEXT NOT NULL DEFAULT '',
    sla_days           BIGINT NOT NULL,
    first_seen         BIGINT NOT NULL,
    due_at             BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    acknowledged_by    TEXT,
    acknowledged_at    BIGINT,
    ack_comment        TEXT,
    risk_accepted_by   TEXT,
    risk_accepted_at   BIGINT,
    risk_reason        TEXT,
    risk_expires_at    BIGINT,
    resolved_at        BIGINT,
    resolved_report_id TEXT,
    UNIQUE (host_id, kind, rule_id, subject)
);
CREATE INDEX findings_status ON findings (status, severity_rank);
CREATE INDEX findings_rule ON findings (rule_id);
CREATE INDEX findings_due ON findings (due_at);
CREATE INDEX findings_risk_expiry ON findings (risk_expires_at);

CREATE TABLE finding_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    finding_id  TEXT NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    source_ip   TEXT,
    report_id   TEXT,
    comment     TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX finding_history_finding ON finding_history (finding_id, at);

-- When each pending security update was first reported pending, for `patch.security_overdue`.
CREATE TABLE pending_security_updates (
    host_id           TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    arch              TEXT NOT NULL DEFAULT '',
    installed_version TEXT NOT NULL,
    candidate_version TEXT NOT NULL,
    origin            TEXT NOT NULL DEFAULT '',
    first_seen        BIGINT NOT NULL,
    PRIMARY KEY (host_id, name, arch)
);

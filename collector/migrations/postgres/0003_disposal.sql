-- Hardware disposal (issue 7): each host's lifecycle state, the disposal cases opened on it, the evidence that its
-- disks were sanitized (agent verifications, witnessed destructions), the signed certificates issued per medium, and
-- the collector's signing key. Times are milliseconds since the Unix epoch (UTC), as in 0001.

-- `in_service`, `decommissioning`, `sanitized` or `disposed`. Statistics about stale or missing hosts count only
-- `in_service` hosts.
ALTER TABLE hosts ADD COLUMN lifecycle_state TEXT NOT NULL DEFAULT 'in_service';
CREATE INDEX hosts_lifecycle_state ON hosts (lifecycle_state);

-- One row per decommissioning; closed by `disposed` or `redeployed`. At most one open case per host.
CREATE TABLE disposal_cases (
    id                  TEXT PRIMARY KEY,
    host_id             TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    reason              TEXT NOT NULL,
    operator            TEXT NOT NULL,
    verifier            TEXT NOT NULL,
    location            TEXT NOT NULL,
    planned_destination TEXT NOT NULL,
    revoke_token        BOOLEAN NOT NULL,
    -- JSON list of the host's disks when the case was opened; disks reported later are added, never removed.
    disks               TEXT NOT NULL,
    opened_by           TEXT NOT NULL,
    opened_at           BIGINT NOT NULL,
    sanitized_at        BIGINT,
    closed_at           BIGINT,
    outcome             TEXT,
    destination         TEXT,
    reference           TEXT
);
CREATE INDEX disposal_cases_host ON disposal_cases (host_id, opened_at);

CREATE TABLE disposal_evidence (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES disposal_cases (id) ON DELETE CASCADE,
    -- `verification` or `destruction`.
    kind        TEXT NOT NULL,
    disk_serial TEXT,
    disk_name   TEXT,
    passed      BOOLEAN NOT NULL,
    recorded_at BIGINT NOT NULL,
    recorded_by TEXT NOT NULL,
    -- The verification result as the agent sent it, or the destruction record.
    details     TEXT NOT NULL
);
CREATE INDEX disposal_evidence_case ON disposal_evidence (case_id, recorded_at);

CREATE TABLE disposal_certificates (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES disposal_cases (id) ON DELETE CASCADE,
    host_id     TEXT NOT NULL,
    disk_serial TEXT,
    issued_at   BIGINT NOT NULL,
    -- The signed certificate document (payload and detached signature), exactly as issued.
    document    TEXT NOT NULL
);
CREATE INDEX disposal_certificates_case ON disposal_certificates (case_id);

-- Keys the collector signs with, shared by every replica; the first writer of a purpose wins.
CREATE TABLE signing_keys (
    purpose    TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    secret_key TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

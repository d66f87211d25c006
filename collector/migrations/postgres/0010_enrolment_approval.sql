-- Re-enrolment without take-over (issue 15, defect 3). Why a host token stopped working, so its agent is told the
-- truth: `replaced` (a new enrolment of the host took over) or `retired` (the host left service: sanitized or
-- disposed of). NULL on tokens revoked before this was recorded.
ALTER TABLE host_tokens ADD COLUMN revoked_reason TEXT;

-- An enrolment that would take over a live host's record waits here for an administrator's approval; the old
-- agent keeps working meanwhile. The new agent already holds `token_hash`'s token: approval moves it to
-- host_tokens, so the waiting agent goes on without enrolling again. `state`: pending, approved, rejected,
-- superseded (another enrolment took the host over first).
CREATE TABLE enrolment_requests (
    id            TEXT PRIMARY KEY,
    host_id       TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    hostname      TEXT NOT NULL,
    machine_id    TEXT,
    system_uuid   TEXT,
    system_serial TEXT,
    agent_version TEXT NOT NULL,
    tags          TEXT NOT NULL,
    secret_id     TEXT NOT NULL,
    source_ip     TEXT,
    requested_at  BIGINT NOT NULL,
    state         TEXT NOT NULL,
    decided_at    BIGINT,
    decided_by    TEXT
);
CREATE INDEX enrolment_requests_state ON enrolment_requests (state, requested_at);
CREATE INDEX enrolment_requests_host ON enrolment_requests (host_id);

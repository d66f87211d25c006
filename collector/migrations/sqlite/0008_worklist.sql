-- The worklist (issue 12): each finding's priority as one number (`vuln::priority`: known exploited, then fix
-- available, then severity), so the fleet's findings sort by it and a host's risk score counts known-exploited
-- findings; and each advisory's `details` text, shown on its page.
ALTER TABLE findings ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
-- Rows written before: vulnerability findings carry their score in their details; posture findings are actionable
-- (fix rank 3) at their severity (info 1 … critical 5), as `vuln::priority::rule_priority` computes.
UPDATE findings SET priority = CASE
    WHEN kind = 'vulnerability' THEN COALESCE(CAST(json_extract(details, '$.priority_score') AS BIGINT), 0)
    ELSE 30000 + 1000 * (severity_rank + 1)
END;
-- The worklist order (`store/findings.rs`, WORKLIST): its first page read from the index, not by sorting every
-- active finding (console_bench: 137 ms p95 for /findings without it).
CREATE INDEX findings_worklist ON findings (priority DESC, first_seen, due_at, host_id, kind, rule_id, subject);
-- Active counts per host and severity, and now the risk score's known-exploited count, from the index alone (0006's
-- index without `priority` sent every active finding's row to the table: the dashboard went from 85 to 248 ms p95).
DROP INDEX findings_status_host;
CREATE INDEX findings_status_host ON findings (status, host_id, severity_rank, priority);
ALTER TABLE advisories ADD COLUMN details TEXT;
-- End-of-life data (endoflife.date's product shape) fetched or imported with the advisories: one row, replaced
-- whole; every replica reads it when its policy loads, in place of the built-in data.
CREATE TABLE eol_data (
    id          BIGINT PRIMARY KEY,
    input       TEXT NOT NULL,
    text        TEXT NOT NULL,
    products    BIGINT NOT NULL,
    imported_at BIGINT NOT NULL
);
-- Packages found outside the OS package database (issue 19): where each was found, the OS package whose files
-- include it (a distribution's copy of a Python library is matched through the distribution, never PyPI), and the
-- publisher. Part of the catalogue row's identity when present, so a distribution's idna and pip's idna of the same
-- version on one host are two rows, not one.
ALTER TABLE software ADD COLUMN path TEXT;
ALTER TABLE software ADD COLUMN owner TEXT;
ALTER TABLE software ADD COLUMN publisher TEXT;
-- Repeated audit events of one client coalesced into one row (issue 15, defect 5: a client kept blocked from
-- signing in wrote ~424 rows a second): `repeats` counts them, `last_at` is the latest.
ALTER TABLE audit_log ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN last_at BIGINT;
CREATE INDEX audit_log_coalesce ON audit_log (action, actor, at);

-- Indexes behind the web console's pages at fleet scale (10,000 hosts, 100,000 findings), found with
-- `cargo run --release -p muster-collector --example console_bench` (BENCHMARKS.md): each turns a sort or a walk
-- over the findings table into an index range.

-- The dashboard's count of active findings past their due date, and the overdue filter's count.
CREATE INDEX findings_status_due ON findings (status, due_at);
-- Active counts per host and severity (the host list sorted by risk, the dashboard's counts), from the index
-- alone: SQLite otherwise finds the active findings by status and reads every one of them from the table.
CREATE INDEX findings_status_host ON findings (status, host_id, severity_rank);
-- The findings list's order (most severe first, then soonest due): its first page without sorting every finding.
CREATE INDEX findings_list_order ON findings (severity_rank DESC, due_at);
-- Findings of one status and severity (where the dashboard's counts link to): counted, and listed in order.
CREATE INDEX findings_status_severity ON findings (status, severity, severity_rank DESC, due_at);
-- The dashboard's most widespread vulnerable packages and KEV advisories present: active findings only, already
-- grouped by package. Replaces 0005's findings_kind_status, whose rows had to be read from the table and sorted.
DROP INDEX findings_kind_status;
CREATE INDEX findings_active_vulnerabilities ON findings (kind, subject, host_id, rule_id, severity_rank)
    WHERE status IN ('open', 'acknowledged', 'reopened');

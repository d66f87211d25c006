-- Escalation of overdue findings (issue 18): `overdue_sent_for` is the due date the `finding.overdue` event was
-- written for, so each due date escalates once across replicas and restarts, and a finding that recurs or gets a
-- new SLA (a new due date) can escalate again.
ALTER TABLE findings ADD COLUMN overdue_sent_for BIGINT;

-- Findings already overdue at the upgrade count as escalated: subscribers hear of deadlines passing from now on,
-- not of the whole backlog at once.
UPDATE findings SET overdue_sent_for = due_at
WHERE status IN ('open', 'acknowledged', 'reopened')
  AND due_at < CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT);

-- Narrowed scheduled evaluation (issue 14): when each host's evaluation can next change with time alone
-- (`rules::timing`), in milliseconds since the epoch. NULL: due at the next scheduled run (never evaluated, or its
-- facts changed without a report: re-enrolment, a duplicate identity, vulnerability findings opened or resolved).
ALTER TABLE hosts ADD COLUMN evaluate_after BIGINT;
-- Counts those changes without a report. An evaluation reads it with the facts and keeps its schedule only if
-- neither it nor `last_seen` (a report) moved meanwhile; otherwise the host stays due.
ALTER TABLE hosts ADD COLUMN facts_marks BIGINT NOT NULL DEFAULT 0;

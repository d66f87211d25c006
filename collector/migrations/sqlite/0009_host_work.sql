-- Evaluation off the request path (issue 14): a report is acknowledged once it is stored, and the work it leaves
-- (evaluating the host's rules, matching its packages) is one row per host here, written in the report's own
-- transaction so a crash loses none of it. Repeated reports of one host coalesce into its row: `work` ORs the
-- kinds (1 = evaluate the rules, 2 = match the packages), `seq` counts them so a worker that finished an older
-- state leaves the newer one queued. `claimed_until` is a lease: a worker that died releases its claim by expiry.
CREATE TABLE host_work (
    host_id       TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    work          BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    report_id     TEXT,
    enqueued_at   BIGINT NOT NULL,
    latest_at     BIGINT NOT NULL,
    claimed_by    TEXT,
    claimed_until BIGINT,
    attempts      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX host_work_due ON host_work (enqueued_at);

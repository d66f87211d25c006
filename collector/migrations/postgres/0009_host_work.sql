-- Evaluation off the request path (issue 14): a report is acknowledged once it is stored, and the work it leaves
-- (evaluating the host's rules, matching its packages) is one row per host here, written in the report's own
-- transaction so a crash loses none of it. Repeated reports of one host coalesce into its row: `work` ORs the
-- kinds (1 = evaluate the rules, 2 = match the packages), `seq` counts them so a worker that finished an older
-- state leaves the newer one queued. `claimed_until` is a lease: a worker that died releases its claim by expiry;
-- (`claimed_by`, `claimed_until`) names a claim, so a worker whose lease ran out cannot finish another's.
-- `requeued_at` is the first report queued since the claim began: the time the remaining work waits since.
CREATE TABLE host_work (
    host_id       TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    work          BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    report_id     TEXT,
    enqueued_at   BIGINT NOT NULL,
    requeued_at   BIGINT,
    claimed_by    TEXT,
    claimed_until BIGINT,
    attempts      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX host_work_due ON host_work (enqueued_at);

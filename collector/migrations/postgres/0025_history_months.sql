-- Host history partitioned by month of `at` (issue 14, growth): retention drops a month whole instead of deleting
-- its rows one batch at a time, which at 100,000 hosts is millions of rows a day through the indexes; a month's rows
-- also sit together. Months are created ahead by the collector (store/partitions.rs), once a day with retention.
--
-- The rows already here are not copied: the old table becomes one partition, from the beginning of time to the end
-- of this month, and is dropped whole once all of it is past retention. Attaching it
-- builds its (id, at) key and checks its range, one pass over the old rows.
ALTER TABLE history RENAME TO history_before_months;
ALTER INDEX history_pkey RENAME TO history_before_months_pkey;
ALTER INDEX history_host RENAME TO history_before_months_host;
ALTER INDEX history_at RENAME TO history_before_months_at;

-- A partitioned table's key must hold the partition column: (id, at). Nothing refers to a history row by id.
CREATE TABLE history (
    id         BIGINT NOT NULL DEFAULT nextval('history_id_seq'),
    host_id    TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    report_id  TEXT,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    from_value TEXT,
    to_value   TEXT,
    details    TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
-- The ids go on from the old table's; the sequence now belongs to the new table, so dropping the old partition
-- keeps it.
ALTER SEQUENCE history_id_seq OWNED BY history.id;
ALTER TABLE history_before_months ALTER COLUMN id DROP DEFAULT;
-- Its key on id alone gives way to the partitioned table's (id, at), which attaching builds.
ALTER TABLE history_before_months DROP CONSTRAINT history_before_months_pkey;
CREATE INDEX history_host ON history (host_id, at);
CREATE INDEX history_at ON history (at);

-- Rows of a month not created yet (a collector down for months, a clock set far ahead) land here; the next creation
-- of their month moves them out.
CREATE TABLE history_default PARTITION OF history DEFAULT;

DO $$
DECLARE
    upto BIGINT := (extract(epoch FROM date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') * 1000)::BIGINT;
BEGIN
    -- Rows dated after this month (written while a clock was set ahead) wait in the default partition, as rows of
    -- any month not made yet do, rather than stretch the old table's range over the months to come.
    INSERT INTO history (id, host_id, at, report_id, kind, subject, from_value, to_value, details)
        SELECT id, host_id, at, report_id, kind, subject, from_value, to_value, details
        FROM history_before_months WHERE at >= upto;
    DELETE FROM history_before_months WHERE at >= upto;
    EXECUTE format('ALTER TABLE history ATTACH PARTITION history_before_months FOR VALUES FROM (MINVALUE) TO (%s)', upto);
END $$;

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
CREATE INDEX findings_priority ON findings (priority DESC, first_seen);
ALTER TABLE advisories ADD COLUMN details TEXT;

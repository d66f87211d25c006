-- Language packages are matched against their own ecosystems' advisories (issue 19). A match remembers where the
-- package was found, since two copies of one library (two virtualenvs) are two matches of one advisory.
ALTER TABLE host_vulnerabilities ADD COLUMN path TEXT;

-- PyPI advisories are now indexed under PEP 503 normalised names (`PyYAML` as `pyyaml`). Those stored before keep
-- the spelling they were imported with, so they are marked for rewriting: the next import of the same records
-- stores them again (an import rewrites a record whose stored `modified` is older or missing).
UPDATE advisories SET modified = NULL
WHERE id IN (SELECT advisory_id FROM advisory_packages WHERE ecosystem = 'PyPI');

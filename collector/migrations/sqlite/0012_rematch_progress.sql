-- The advisories_version up to which every host holding a changed (ecosystem, name) key was matched again
-- (app::advisory_sync). It trails advisories_version while an import re-matches, and stays behind when that was
-- interrupted (the process killed, the database gone); the next import or scheduled evaluation finishes the work.
-- Databases that existed before count as re-matched.
INSERT INTO vuln_meta (name, value) SELECT 'rematched_version', value FROM vuln_meta WHERE name = 'advisories_version';

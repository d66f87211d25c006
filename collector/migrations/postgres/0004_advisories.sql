-- Vulnerability advisories (OSV, normalised), the KEV catalog, and matching results cached per distinct
-- (ecosystem, package, version) and per host. Times are milliseconds since the Unix epoch (UTC).

-- One row per advisory id; withdrawn records are kept so an older copy cannot come back, but never match.
CREATE TABLE advisories (
    id            TEXT PRIMARY KEY,
    modified      BIGINT,
    published     BIGINT,
    withdrawn     BIGINT,
    summary       TEXT,
    -- unknown, negligible, low, medium, high, critical; severity_rank orders them 0..5.
    severity      TEXT NOT NULL,
    severity_rank BIGINT NOT NULL,
    cvss_score    DOUBLE PRECISION,
    cvss_vector   TEXT,
    aliases       TEXT NOT NULL DEFAULT '[]',
    -- When CISA added the advisory (or an alias) to the KEV catalog, YYYY-MM-DD.
    kev_added     TEXT,
    -- The normalised record (vuln::stored::StoredAdvisory as JSON).
    record        TEXT NOT NULL,
    imported_at   BIGINT NOT NULL
);

-- The (ecosystem, package) keys live advisories name: what matching loads and what an import re-matches.
CREATE TABLE advisory_packages (
    advisory_id TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    ecosystem   TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (advisory_id, ecosystem, name)
);
CREATE INDEX advisory_packages_key ON advisory_packages (ecosystem, name);

-- The id and every alias of each advisory, to find advisories by CVE and to flag KEV entries.
CREATE TABLE advisory_names (
    advisory_id TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    PRIMARY KEY (advisory_id, name)
);
CREATE INDEX advisory_names_name ON advisory_names (name);

CREATE TABLE kev_catalog (
    cve_id     TEXT PRIMARY KEY,
    date_added TEXT NOT NULL
);

-- `advisories_version` counts imports that changed advisories; cached results older than the last change of
-- their (ecosystem, package) are stale.
CREATE TABLE vuln_meta (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO vuln_meta (name, value) VALUES ('advisories_version', 0);

-- The advisories_version at which the advisories naming (ecosystem, name) last changed.
CREATE TABLE vuln_package_changes (
    ecosystem  TEXT NOT NULL,
    name       TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (ecosystem, name)
);

-- Matching result per distinct key: JSON array of {"id", "fixed"}; evaluated_at is the advisories_version read
-- before the advisories were loaded.
CREATE TABLE vuln_keys (
    ecosystem    TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    hits         TEXT NOT NULL,
    evaluated_at BIGINT NOT NULL,
    PRIMARY KEY (ecosystem, name, version)
);

-- Which keys each host's packages are looked up under, to find the hosts a re-evaluated key concerns.
CREATE TABLE host_vuln_keys (
    host_id   TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    ecosystem TEXT NOT NULL,
    name      TEXT NOT NULL,
    version   TEXT NOT NULL,
    PRIMARY KEY (host_id, ecosystem, name, version)
);
CREATE INDEX host_vuln_keys_key ON host_vuln_keys (ecosystem, name, version);

-- Each host's current vulnerability matches (one per advisory and installed package). The findings lifecycle
-- (first seen, resolved, triage) belongs to the findings tables; this is the current state they follow.
CREATE TABLE host_vulnerabilities (
    host_id           TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    advisory_id       TEXT NOT NULL,
    ecosystem         TEXT NOT NULL,
    kind              TEXT NOT NULL,
    package           TEXT NOT NULL,
    arch              TEXT,
    installed_version TEXT NOT NULL,
    source_name       TEXT NOT NULL,
    matched_name      TEXT NOT NULL,
    compared_version  TEXT NOT NULL,
    fixed_version     TEXT,
    -- running, not_running, unknown for kernel packages.
    kernel            TEXT,
    remediation       TEXT,
    matched_at        BIGINT NOT NULL
);
CREATE INDEX host_vulnerabilities_host ON host_vulnerabilities (host_id);
CREATE INDEX host_vulnerabilities_advisory ON host_vulnerabilities (advisory_id);

-- What the last match of each host saw.
CREATE TABLE host_vuln_state (
    host_id          TEXT PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    matched_at       BIGINT NOT NULL,
    packages_checked BIGINT NOT NULL,
    ecosystems       TEXT NOT NULL DEFAULT '[]',
    warnings         TEXT NOT NULL DEFAULT '[]'
);

//! Storage of advisories, the KEV catalog and vulnerability matches: the `AdvisoryStore` trait, its views, and
//! (in `sync.rs`) the import and matching flows built on it.
//!
//! Architecture invariant: nothing here keeps host or advisory state in memory between calls; every cached result
//! lives in the database, marked with the `advisories_version` it was computed at, so replicas share it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use muster_shared::v1::{Os, Package};
use serde::Serialize;
use utoipa::ToSchema;

use super::StoreError;
use crate::vuln::kev::KevCatalog;
use crate::vuln::keyed::{HostVulnerability, KeyHit, MatchKey};
use crate::vuln::{Advisory, EolImport};

mod sql;
mod views;

/// What writing an import changed.
#[derive(Debug, Clone, Default)]
pub struct WriteOutcome {
    /// The new `advisories_version`; unchanged when nothing was written.
    pub version: i64,
    /// (ecosystem, package) keys whose advisories changed (old and new keys of updated records).
    pub changed: BTreeSet<(String, String)>,
    /// Ecosystems named for the first time.
    pub new_ecosystems: Vec<String>,
}

/// How far re-matching after imports got: every host holding a key changed at or before `rematched` was matched
/// again. Behind `version` while an import's re-match runs, and after one was interrupted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RematchState {
    pub version: i64,
    pub rematched: i64,
}

/// A cached matching result of one key.
#[derive(Debug, Clone)]
pub struct CachedKey {
    pub name: String,
    pub version: String,
    pub hits: Vec<KeyHit>,
    /// False when the advisories of (ecosystem, name) changed after the result was computed.
    pub fresh: bool,
}

/// What matching needs of a stored host.
#[derive(Debug, Clone)]
pub struct HostInventory {
    pub hostname: String,
    pub os: Option<Os>,
    pub packages: Vec<Package>,
    /// The pending updates of the last patches section; `None` when unknown (no section, or no list in it).
    pub pending: Option<Vec<muster_shared::v1::PendingUpdate>>,
    /// The sockets of the last software section (empty from agents that do not report them).
    pub listeners: Vec<muster_shared::v1::Listener>,
    /// The container images of the last software section whose package lists are kept, by id.
    pub images: Vec<ImageInventory>,
}

/// One of a host's container images as matching needs it: a machine of its own OS with its own packages.
#[derive(Debug, Clone, Default)]
pub struct ImageInventory {
    pub id: String,
    /// How it is named to people and keyed in findings: unique among the host's images
    /// ([`crate::model::StoredSoftware::image_names`]).
    pub name: String,
    pub os: Option<Os>,
    pub packages: Vec<Package>,
    /// Whether every package database of its layers was read in full.
    pub complete: bool,
    /// The names of the containers made from it, sorted.
    pub containers: Vec<String>,
}

/// What one match of a host saw, kept beside its matches.
#[derive(Debug, Clone, Default)]
pub struct HostMatchState {
    pub matched_at: DateTime<Utc>,
    pub packages_checked: u64,
    pub ecosystems: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct VulnerabilityFilter {
    /// Severity levels to keep (`critical`, `high`…); empty keeps all.
    pub severities: Vec<String>,
    pub kev: Option<bool>,
    /// Exact installed package or source package name.
    pub package: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// One advisory with the hosts it affects, for the fleet-wide list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VulnerabilitySummary {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    /// `critical`, `high`, `medium`, `low`, `negligible` or `unknown`.
    pub severity: String,
    pub cvss_score: Option<f64>,
    pub kev: bool,
    pub kev_date_added: Option<NaiveDate>,
    pub published: Option<DateTime<Utc>>,
    /// Hosts with an active finding (kernel findings only on the running kernel).
    pub affected_hosts: i64,
    /// Hosts where only an installed, not running kernel is affected.
    pub not_running_kernel_hosts: i64,
    /// Source packages concerned.
    pub packages: Vec<String>,
    /// Whether a fixed version exists for at least one affected host.
    pub fix_available: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VulnerabilityPage {
    pub vulnerabilities: Vec<VulnerabilitySummary>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub next_offset: Option<i64>,
}

/// One affected package of one host.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AffectedHost {
    pub host_id: String,
    pub hostname: String,
    pub ecosystem: String,
    pub package: String,
    pub arch: Option<String>,
    pub installed_version: String,
    pub source_name: String,
    pub source_version: String,
    /// `None`: no fix yet.
    pub fixed_version: Option<String>,
    pub kernel: Option<String>,
    pub remediation: Option<String>,
    /// The container image of the host holding the package; absent for the host's own packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AffectedPackage {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VulnerabilityDetail {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    /// The record's `details` text as published (Markdown in most sources; shown as plain text).
    pub details: Option<String>,
    pub severity: String,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<String>,
    pub kev: bool,
    pub kev_date_added: Option<NaiveDate>,
    pub published: Option<DateTime<Utc>>,
    pub modified: Option<DateTime<Utc>>,
    pub withdrawn: Option<DateTime<Utc>>,
    /// The packages the advisory names, per ecosystem.
    pub affected_packages: Vec<AffectedPackage>,
    /// Other advisories with the same alias, when looked up by an alias (a CVE named by several advisories).
    pub other_advisories: Vec<String>,
    pub affected_hosts: i64,
    pub hosts: Vec<AffectedHost>,
}

/// One finding on one host, with the same field names as `muster-collector scan --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HostVulnerabilityEntry {
    pub id: String,
    pub aliases: Vec<String>,
    pub ecosystem: String,
    /// The package manager (`deb`, `rpm`, `apk`) or language ecosystem (`pypi`, `npm`, `cargo`, `go`).
    pub package_kind: String,
    pub source_name: String,
    pub source_version: String,
    pub package: String,
    pub arch: Option<String>,
    pub installed_version: String,
    pub fixed_version: Option<String>,
    pub fix_available: bool,
    pub severity: String,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<String>,
    pub kev: bool,
    pub kev_date_added: Option<NaiveDate>,
    pub published: Option<DateTime<Utc>>,
    /// `running`, `not_running` or `unknown` for kernel images; `not_a_kernel` for headers and tools built from a
    /// kernel source.
    pub kernel: Option<String>,
    /// The upgrade command for the host's package manager.
    pub remediation: Option<String>,
    pub summary: Option<String>,
    /// The distribution's own label for this package (Debian urgency, Ubuntu priority, Red Hat impact), as
    /// published; `None` when the record gives none.
    pub vendor_severity: Option<String>,
    /// `fix_available`, `fix_unverified`, `fix_released`, `no_fix` or `end_of_life` (`vuln::FixState`); `None` for
    /// matches stored before the state was kept.
    pub fix_state: Option<String>,
    /// Where a language package was found (`METADATA`, `package.json`, lockfile, binary); `None` for OS packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The container image holding the package (`sha256:…`), for entries of `container_image_vulnerabilities`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// That image's first tag (its short id when untagged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HostVulnerabilities {
    pub host_id: String,
    /// When the host was last matched; `None` if never.
    pub matched_at: Option<DateTime<Utc>>,
    pub ecosystems: Vec<String>,
    pub packages_checked: u64,
    pub warnings: Vec<String>,
    /// Ranked: KEV first, then severity, then age.
    pub vulnerabilities: Vec<HostVulnerabilityEntry>,
    /// Matches on installed kernels that are not running, and on packages built from a kernel source that are not
    /// kernels (each entry's `kernel` label says which), reported apart and never findings.
    pub not_running_kernel_vulnerabilities: Vec<HostVulnerabilityEntry>,
    /// Matches in the host's container images, each matched like a machine of the image's OS, ranked alike; each
    /// entry names its image.
    pub container_image_vulnerabilities: Vec<HostVulnerabilityEntry>,
}

#[async_trait]
pub trait AdvisoryStore: Send + Sync {
    /// Stored `modified` (ms) of every advisory id.
    async fn advisory_modified(&self) -> Result<HashMap<String, Option<i64>>, StoreError>;
    /// Inserts or replaces advisories and, if given, replaces the KEV catalog; one transaction. Bumps
    /// `advisories_version` when anything changed.
    async fn write_advisories(
        &self,
        advisories: &[Arc<Advisory>],
        kev: Option<&KevCatalog>,
        now: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError>;
    /// The stored KEV catalog: (CVE id, date added as YYYY-MM-DD), sorted.
    async fn kev_entries(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Replaces the stored end-of-life data.
    async fn save_eol(&self, eol: &EolImport, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// The stored end-of-life data and when it was imported, if any was.
    async fn load_eol(&self) -> Result<Option<(EolImport, DateTime<Utc>)>, StoreError>;
    async fn advisories_version(&self) -> Result<i64, StoreError>;
    async fn rematch_state(&self) -> Result<RematchState, StoreError>;
    /// The (ecosystem, name) keys whose advisories changed after `version`.
    async fn package_changes_since(&self, version: i64) -> Result<BTreeSet<(String, String)>, StoreError>;
    /// Records that re-matching finished up to `version`; never moves it back.
    async fn mark_rematched(&self, version: i64) -> Result<(), StoreError>;
    /// Every ecosystem a live advisory names.
    async fn advisory_ecosystems(&self) -> Result<BTreeSet<String>, StoreError>;
    /// The live advisories naming any of `names` in `ecosystem`.
    async fn load_advisories(&self, ecosystem: &str, names: &[String]) -> Result<Vec<Advisory>, StoreError>;
    async fn cached_keys(&self, ecosystem: &str, names: &[String]) -> Result<Vec<CachedKey>, StoreError>;
    async fn save_keys(&self, results: &[(MatchKey, Vec<KeyHit>)], evaluated_at: i64) -> Result<(), StoreError>;
    async fn host_inventory(&self, host_id: &str) -> Result<Option<HostInventory>, StoreError>;
    /// Replaces a host's keys, matches and match state.
    async fn save_host_matches(
        &self,
        host_id: &str,
        keys: &BTreeSet<MatchKey>,
        matches: &[HostVulnerability],
        state: &HostMatchState,
    ) -> Result<(), StoreError>;
    /// (host id, name, version) of the hosts looked up under `names` in `ecosystem`.
    async fn hosts_with_keys(
        &self,
        ecosystem: &str,
        names: &[String],
    ) -> Result<Vec<(String, String, String)>, StoreError>;
    async fn all_host_ids(&self) -> Result<Vec<String>, StoreError>;
}

/// How much advisory data is stored and how current it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdvisoryFreshness {
    pub advisories: i64,
    pub kev_entries: i64,
    /// The newest `modified` time among the records: the age of the data itself.
    pub newest_modified: Option<DateTime<Utc>>,
    pub last_imported: Option<DateTime<Utc>>,
}

/// What the console and the API show of vulnerabilities (`views.rs`).
#[async_trait]
pub trait VulnerabilityViews: Send + Sync {
    async fn advisory_freshness(&self) -> Result<AdvisoryFreshness, StoreError>;
    async fn list_vulnerabilities(&self, filter: &VulnerabilityFilter) -> Result<VulnerabilityPage, StoreError>;
    /// By advisory id, else by alias (e.g. a CVE id).
    async fn vulnerability(&self, id: &str) -> Result<Option<VulnerabilityDetail>, StoreError>;
    async fn host_vulnerabilities(&self, host_id: &str) -> Result<Option<HostVulnerabilities>, StoreError>;
}

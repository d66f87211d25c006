//! The rows the host transaction (`store/tx.rs`) reads and writes, as plain data: what the use cases in `crate::app`
//! decide with and hand back to it. Apart from the transaction so both stay readable.

use chrono::{DateTime, Utc};
use muster_shared::v1::{Os, Package};

use crate::disposal::lifecycle::LifecycleState;
use crate::model::StoredPackage;

/// A host that may be the enrolling machine (same hardware identity or machine id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCandidate {
    pub host_id: String,
    pub machine_id: Option<String>,
    pub last_seen: DateTime<Utc>,
    pub lifecycle: LifecycleState,
}

/// The host row as a report finds it under its lock, with what the report's first decisions need: whether its id was
/// stored before, and the stored hash of each section. One statement reads all three (see
/// [`super::tx::HostTx::lock_host_for_report`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLock {
    pub host: LockedHost,
    /// A report with this id was stored and is not forgotten yet.
    pub seen: bool,
    /// Section name to stored hash.
    pub hashes: std::collections::BTreeMap<String, String>,
}

/// How to find the hosts an enrolling machine may be.
#[derive(Debug, Clone, Copy)]
pub enum IdentityKey<'a> {
    Hardware { uuid: &'a str, serial: &'a str },
    MachineId(&'a str),
}

/// What an enrolment writes into a host row, new or taken over.
#[derive(Debug, Clone)]
pub struct EnrolledHost<'a> {
    pub hostname: &'a str,
    pub machine_id: Option<&'a str>,
    pub hardware_identity: Option<(&'a str, &'a str)>,
    pub agent_version: &'a str,
    pub tags: &'a [String],
}

/// A catalogue row with its key (see `ingest::software_id`).
#[derive(Debug, Clone)]
pub struct SoftwareRow<'a> {
    pub id: String,
    pub package: &'a Package,
}

/// The host row as a report finds it, under its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedHost {
    pub last_seen: DateTime<Utc>,
    pub agent_version: Option<String>,
    pub lifecycle: LifecycleState,
}

/// Why a host token stopped working, as `host_tokens.revoked_reason` keeps it: what its agent is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedReason {
    /// A new enrolment of the host took its record over.
    Replaced,
    /// The host left service (sanitized with `revoke_token`, or disposed of).
    Retired,
    /// A revocation from before reasons were kept.
    Revoked,
}

impl RevokedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokedReason::Replaced => "replaced",
            RevokedReason::Retired => "retired",
            RevokedReason::Revoked => "revoked",
        }
    }

    pub fn parse(s: Option<&str>) -> RevokedReason {
        match s {
            Some("replaced") => RevokedReason::Replaced,
            Some("retired") => RevokedReason::Retired,
            _ => RevokedReason::Revoked,
        }
    }
}

/// An enrolment that would take over a live host's record, kept for an administrator's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldEnrolment {
    pub id: String,
    pub host_id: String,
    pub token_hash: String,
    pub hostname: String,
    pub machine_id: Option<String>,
    pub hardware_identity: Option<(String, String)>,
    pub agent_version: String,
    pub tags: Vec<String>,
    pub secret_id: String,
    pub source_ip: Option<String>,
    pub requested_at: DateTime<Utc>,
}

/// One stored package link: the catalogue row it points to, the host's own columns, and the fields the history
/// diff compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLink {
    pub software_id: String,
    pub installed_at: Option<i64>,
    pub size_bytes: Option<i64>,
    pub state: Option<String>,
    pub channel: Option<String>,
    /// The catalogue row's publisher (a snap's comes only when the agent could read it from snapd).
    pub publisher: Option<String>,
    pub package: StoredPackage,
}

/// How a report's software section changes the host's links. Diffed against the stored links, so upgrading one
/// package touches its rows only (rewriting ~1,000 links per report was most of an ingest's SQL time).
#[derive(Debug, Clone, Default)]
pub struct SoftwareChange<'a> {
    /// No links were stored (a first report): every row is inserted, nothing compared.
    pub first: bool,
    /// Links to add; their catalogue rows are added when new.
    pub insert: Vec<SoftwareRow<'a>>,
    /// Links whose host columns (install time, size, state) changed.
    pub update: Vec<SoftwareRow<'a>>,
    /// Catalogue ids the host no longer has.
    pub delete: Vec<String>,
}

impl SoftwareChange<'_> {
    /// Nothing to write: the links stored are the report's.
    pub fn is_empty(&self) -> bool {
        self.insert.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// One container image's package list as its host keeps it (`host_image_packages`), for matching the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePackages {
    pub image_id: String,
    /// SHA-256 of `packages`: a report rewrites only the images whose list changed.
    pub digest: String,
    /// The image's packages as JSON (`[Package]`).
    pub packages: String,
}

/// How a report changes the host's stored image package lists: only images new or whose list changed are
/// written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageChange {
    pub write: Vec<ImagePackages>,
    /// Ids of the images the host no longer holds (or whose packages can no longer be read).
    pub delete: Vec<String>,
}

impl ImageChange {
    pub fn is_empty(&self) -> bool {
        self.write.is_empty() && self.delete.is_empty()
    }
}

/// The host columns a stored report sets; `None` leaves a column as it is.
#[derive(Debug, Clone)]
pub struct ReportedHost<'a> {
    pub agent_version: &'a str,
    pub hostname: Option<&'a str>,
    pub machine_id: Option<&'a str>,
    pub hardware_identity: Option<(String, String)>,
    pub os: Option<&'a Os>,
}

/// The row of a stored report, remembered to answer retries with `duplicate`.
#[derive(Debug, Clone)]
pub struct ReportRow<'a> {
    pub report_id: &'a str,
    pub received_at: DateTime<Utc>,
    pub collected_at: DateTime<Utc>,
    /// The sections sent in full, comma-separated.
    pub full_sections: String,
}

//! What the store knows of one host that rules evaluate ([`HostFacts`]); data only. Turning it into CEL variables is
//! `crate::rules::facts`'s job, so the store can load facts without importing the rules.

use chrono::{DateTime, Utc};
use muster_shared::v1::{Check, Hardware, Host, Listener, Os, Patches};

/// One host's current state as rules need it.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    pub host_id: String,
    pub hostname: String,
    pub tags: Vec<String>,
    pub duplicate_identity: bool,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Changes to the host's facts made without a report, counted (`hosts.facts_marks`): read with the facts so
    /// an evaluation can tell whether they are still current when it writes (`Store::schedule_evaluation`).
    pub marks: i64,
    /// When the host's evaluation was next due as stored (`hosts.evaluate_after`); `None`: due now.
    pub evaluate_after: Option<DateTime<Utc>>,
    pub agent_version: Option<String>,
    pub host: Option<Host>,
    pub hardware: Option<Hardware>,
    pub os: Option<Os>,
    pub patches: Option<Patches>,
    pub checks: Vec<Check>,
    pub package_count: i64,
    /// The sockets listening on addresses other machines can reach (the stored software section's `listeners`).
    pub listeners: Vec<Listener>,
    /// The host's container images and containers (the stored software section's).
    pub container_images: Vec<crate::model::StoredImage>,
    pub containers: Vec<muster_shared::v1::Container>,
    /// Pending security updates with the time each was first reported pending (see `crate::findings`).
    pub security_pending: Vec<PendingSecurityUpdate>,
    /// Binary packages an unresolved vulnerability fix finding (`vuln.fix`) already asks to upgrade: their pending
    /// security updates are that finding's work, not a second one.
    pub fix_packages: std::collections::BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSecurityUpdate {
    pub name: String,
    pub arch: String,
    pub installed_version: String,
    pub candidate_version: String,
    pub origin: String,
    pub first_seen: DateTime<Utc>,
}

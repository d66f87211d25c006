//! Read models the store returns and the HTTP API serialises: hosts, installed software, history, admin records.
//!
//! These are collector-local API shapes (documented in the OpenAPI document), not agent wire types; the agent
//! protocol lives in `muster_shared::v1`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{EventKind, Role};

/// A host as listed; the denormalised facts of its latest report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HostSummary {
    pub id: String,
    pub hostname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_pretty_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_release: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    pub tags: Vec<String>,
    /// Raised when two live agents claim this host's hardware identity with different machine ids (cloned VMs).
    pub duplicate_identity: bool,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_report_at: Option<DateTime<Utc>>,
}

/// One page of hosts.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HostPage {
    pub hosts: Vec<HostSummary>,
    /// Hosts matching the filter, over all pages.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<i64>,
}

/// A host with the current content of each stored section.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HostDetail {
    #[serde(flatten)]
    pub host: HostSummary,
    /// Keyed by section name (`host`, `hardware`, `os`, `software`, `patches`, `checks`). The software section holds
    /// its package sources and count; the packages are at `/api/v1/hosts/{id}/software`.
    pub sections: BTreeMap<String, SectionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SectionView {
    /// SHA-256 of the section as the agent hashes it.
    pub hash: String,
    pub updated_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
}

/// One package installed on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InstalledPackage {
    pub kind: String,
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Where a package outside the OS package database was found (a `METADATA` file, a `package.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The OS package whose files include it (matched through the distribution only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// The channel the host follows for its updates (a snap's tracking channel).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// One recorded change of a host.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,
    pub kind: EventKind,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// A distinct package version and the hosts that have it installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SoftwareVersionHosts {
    pub kind: String,
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    pub host_count: usize,
    pub hosts: Vec<HostRef>,
}

/// A package name found by a software search: how many versions of it and how many hosts have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SoftwareMatch {
    pub kind: String,
    pub name: String,
    pub versions: u64,
    pub hosts: u64,
}

/// The names a search found, most widespread first; `truncated` when there were more than were returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SoftwareSearch {
    pub matches: Vec<SoftwareMatch>,
    pub truncated: bool,
}

/// One monitor of the fleet and the host it was attached to at the host's last hardware report (from its EDID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MonitorView {
    pub host_id: String,
    pub hostname: String,
    /// Where it is connected, e.g. `card0-DP-1`.
    pub connector: String,
    /// Manufacturer id and product code as monitor lists show them, e.g. `DEL40F4`.
    pub product_id: String,
    /// The three-letter PNP manufacturer id.
    pub manufacturer_id: String,
    pub model: Option<String>,
    /// The serial on its label: the EDID's serial text, else its serial number.
    pub serial: Option<String>,
    pub manufactured_year: Option<u16>,
    pub manufactured_week: Option<u8>,
    pub model_year: Option<u16>,
    pub width_cm: Option<u8>,
    pub height_cm: Option<u8>,
}

/// The fleet's monitors; `truncated` when there were more than returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MonitorList {
    pub monitors: Vec<MonitorView>,
    pub truncated: bool,
}

/// One battery of the fleet and the host it was in at the host's last hardware report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BatteryView {
    pub host_id: String,
    pub hostname: String,
    /// The model name the pack reports (on a Mac, its fuel gauge's device name).
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub chemistry: Option<String>,
    pub design_capacity_mwh: Option<u32>,
    pub full_charge_capacity_mwh: Option<u32>,
    /// What is left of the design capacity: the full charge against it, or the percentage the system reports
    /// (macOS's Maximum Capacity) where it gives no capacities.
    pub health_percent: Option<u32>,
    pub cycle_count: Option<u32>,
    /// The system's own verdict, as it words it (macOS: `Normal`, `Service Recommended`).
    pub condition: Option<String>,
}

/// The fleet's batteries, most worn first; `truncated` when there were more than returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BatteryList {
    pub batteries: Vec<BatteryView>,
    pub truncated: bool,
}

/// One host of the fleet and its TPM, as of the host's last hardware report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TpmView {
    pub host_id: String,
    pub hostname: String,
    /// `none` (no TPM reported), `older` (1.2), `unknown` (family not given), `off` (2.0, not enabled or not
    /// activated, as Windows says) or `ready` (2.0, enabled and activated as far as the system says).
    pub state: String,
    /// The TCG family: `2.0` or `1.2`.
    pub spec_version: Option<String>,
    /// The TCG vendor id, e.g. `NTC` (Nuvoton), `IFX` (Infineon), `INTC` (Intel's firmware TPM); not read for a
    /// TPM 2.0 on Linux.
    pub manufacturer: Option<String>,
    pub firmware_version: Option<String>,
    /// Enabled, activated and owned (provisioned by the operating system) are said by Windows only.
    pub enabled: Option<bool>,
    pub activated: Option<bool>,
    pub owned: Option<bool>,
}

/// The fleet's hosts with their TPMs, those not known to have a usable TPM 2.0 first; `truncated` when there were more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TpmList {
    pub tpms: Vec<TpmView>,
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HostRef {
    pub id: String,
    pub hostname: String,
}

/// An enrolment secret without the secret itself (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EnrollSecretInfo {
    pub id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub uses: i64,
}

/// An enrolment that would take over a live host's record, as an administrator decides it: what the new agent
/// claims next to what the record holds now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EnrolmentRequestInfo {
    pub id: String,
    pub host_id: String,
    /// `pending`, `approved`, `rejected`, or `superseded` by a newer request for the same host.
    pub state: String,
    pub requested_at: DateTime<Utc>,
    /// The address the request came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    pub secret_id: String,
    pub hostname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_serial: Option<String>,
    pub agent_version: String,
    /// The record's hostname and last contact now: the agent that keeps working until a decision.
    pub host_hostname: String,
    pub host_last_seen: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
}

/// An API token without the token itself (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiTokenInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// How many times this event happened (repeated events of one client are counted into one row).
    pub repeats: i64,
    /// When it last happened, for a row that counts repeats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_at: Option<DateTime<Utc>>,
}

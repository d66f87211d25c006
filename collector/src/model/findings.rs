//! The findings' vocabulary shared by the layers: kinds, statuses, actions, the stored and shown shapes of a
//! finding. Data only; what may happen to a finding (the lifecycle, the plan) lives in `crate::findings` and the
//! use cases in `crate::app::findings`, so the store can read and write these rows without importing a decision.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Severity;

/// Where a finding comes from; the table leaves room for sources beside policy rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Rule,
    Vulnerability,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Rule => "rule",
            FindingKind::Vulnerability => "vulnerability",
        }
    }

    pub fn parse(s: &str) -> Option<FindingKind> {
        [FindingKind::Rule, FindingKind::Vulnerability].into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    RiskAccepted,
    Resolved,
    /// Open again: it came back after being resolved, a risk acceptance expired, or someone reopened it.
    Reopened,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Open, Status::Acknowledged, Status::RiskAccepted, Status::Resolved, Status::Reopened];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::RiskAccepted => "risk_accepted",
            Status::Resolved => "resolved",
            Status::Reopened => "reopened",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Someone still has to act on it: these can be overdue.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::Acknowledged | Status::Reopened)
    }
}

/// What changes a finding's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An evaluation matched for the first time.
    Open,
    Acknowledge,
    AcceptRisk,
    /// A person reopened it.
    Reopen,
    /// An evaluation no longer matched.
    Resolve,
    /// An evaluation matched a resolved finding again.
    Recur,
    /// Its risk acceptance ran out.
    Expire,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Open => "opened",
            Action::Acknowledge => "acknowledged",
            Action::AcceptRisk => "risk_accepted",
            Action::Reopen => "reopened",
            Action::Resolve => "resolved",
            Action::Recur => "recurred",
            Action::Expire => "risk_acceptance_expired",
        }
    }
}

/// One finding as the API, the CLI and CSV exports show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FindingView {
    pub id: String,
    pub host_id: String,
    pub hostname: String,
    pub kind: FindingKind,
    /// The rule id, or for vulnerabilities the advisory id.
    pub rule_id: String,
    /// What on the host it is about (a package for vulnerabilities); empty for host-wide rules.
    pub subject: String,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub evidence: Vec<String>,
    pub details: serde_json::Value,
    /// The finding's place in the worklist as one number (`vuln::priority::Priority::score`): known exploited,
    /// then fix available, then severity.
    pub priority: u32,
    /// Listed in CISA's catalog of known exploited vulnerabilities (read off `priority`).
    pub known_exploited: bool,
    pub remediation: String,
    pub sla_days: u32,
    /// When the current occurrence was first seen.
    pub first_seen: DateTime<Utc>,
    /// `first_seen` + SLA.
    pub due_at: DateTime<Utc>,
    /// Past due and still open, acknowledged or reopened.
    pub overdue: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub ack_comment: Option<String>,
    pub risk_accepted_by: Option<String>,
    pub risk_accepted_at: Option<DateTime<Utc>>,
    pub risk_reason: Option<String>,
    pub risk_expires_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The report whose evaluation no longer matched.
    pub resolved_report_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FindingPage {
    pub findings: Vec<FindingView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub next_offset: Option<i64>,
}

/// One step of a finding's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FindingEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub source_ip: Option<String>,
    pub report_id: Option<String>,
    pub comment: Option<String>,
    pub details: serde_json::Value,
}

/// The orders a list of findings can be read in. Each has a natural direction (most urgent, most severe, soonest
/// due, oldest, A to Z) that `descending` reverses; ties fall back to the worklist order, then the finding id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FindingSort {
    /// The worklist (`vuln::priority`): known exploited, then fix available, then severity; then the oldest first.
    #[default]
    Priority,
    Severity,
    Due,
    FirstSeen,
    Host,
    Rule,
    Status,
}

impl FindingSort {
    pub const ALL: [FindingSort; 7] = [
        FindingSort::Priority,
        FindingSort::Severity,
        FindingSort::Due,
        FindingSort::FirstSeen,
        FindingSort::Host,
        FindingSort::Rule,
        FindingSort::Status,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingSort::Priority => "priority",
            FindingSort::Severity => "severity",
            FindingSort::Due => "due",
            FindingSort::FirstSeen => "first_seen",
            FindingSort::Host => "host",
            FindingSort::Rule => "rule",
            FindingSort::Status => "status",
        }
    }

    pub fn parse(s: &str) -> Option<FindingSort> {
        FindingSort::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub severity: Option<Severity>,
    pub status: Option<Status>,
    /// Only findings someone still has to act on (open, acknowledged, reopened); `status` narrows further.
    pub active: bool,
    pub rule_id: Option<String>,
    /// A host id or a hostname (exact, case-insensitive).
    pub host_id: Option<String>,
    pub kind: Option<FindingKind>,
    /// Only overdue (`true`) or only not overdue (`false`) findings, as of `now`.
    pub overdue: Option<bool>,
    pub sort: FindingSort,
    /// Reverses the sort's own key; the tie-breaks keep their order.
    pub descending: bool,
    pub now: DateTime<Utc>,
    pub limit: i64,
    pub offset: i64,
}

/// A stored rule finding of one host, as far as planning needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingFinding {
    pub id: String,
    pub rule_id: String,
    pub subject: String,
    pub status: Status,
    pub title: String,
    pub severity: Severity,
    pub evidence: Vec<String>,
    pub remediation: String,
    pub sla_days: u32,
    pub first_seen: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub details: serde_json::Value,
    pub priority: u32,
}

/// What a matching rule (or a vulnerability match) says about the finding it makes.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched {
    /// The rule id, or for a vulnerability fix `vuln.fix` / `vuln.no_fix`.
    pub rule_id: String,
    /// What the finding is about within the host: empty for host-wide rules, the source package for a
    /// vulnerability fix.
    pub subject: String,
    pub title: String,
    pub severity: Severity,
    pub sla_days: u32,
    pub remediation: String,
    pub evidence: Vec<String>,
    /// Structured facts beside the evidence (a fix's packages, target version, advisories and their ratings);
    /// an empty object for rules.
    pub details: serde_json::Value,
    /// The finding's place in the worklist as one number (`vuln::priority`): known exploited, then fix available,
    /// then severity.
    pub priority: u32,
}

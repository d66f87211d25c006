//! Findings: problems found on hosts (by policy rules here, by vulnerability matching later), with one lifecycle
//! for all of them — open → acknowledged → risk_accepted → resolved → reopened — every step in the finding's
//! history and in the audit log.
//!
//! Architecture invariant: nothing here keeps host state in memory. Evaluation reads the store, computes, and
//! writes changes with conditional statements, so several replicas may evaluate the same host at once.

pub mod actions;
pub mod evaluate;
pub mod schedule;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::rules::Severity;

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

    /// The statuses the action applies to, and the status it leads to.
    pub fn transition(self) -> (&'static [Status], Status) {
        use Status::*;
        match self {
            Action::Open => (&[], Open),
            Action::Acknowledge => (&[Open, Reopened], Acknowledged),
            Action::AcceptRisk => (&[Open, Reopened, Acknowledged], RiskAccepted),
            Action::Reopen => (&[Acknowledged, RiskAccepted], Reopened),
            Action::Resolve => (&[Open, Acknowledged, RiskAccepted, Reopened], Resolved),
            Action::Recur => (&[Resolved], Reopened),
            Action::Expire => (&[RiskAccepted], Reopened),
        }
    }
}

/// Stable id of the finding for (host, kind, rule, subject): replicas creating it at once create the same row.
pub fn finding_id(host_id: &str, kind: FindingKind, rule_id: &str, subject: &str) -> String {
    let mut h = Sha256::new();
    for part in [host_id, kind.as_str(), rule_id, subject] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

pub fn due_at(first_seen: DateTime<Utc>, sla_days: u32) -> DateTime<Utc> {
    first_seen + chrono::Duration::days(i64::from(sla_days))
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

#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub severity: Option<Severity>,
    pub status: Option<Status>,
    pub rule_id: Option<String>,
    pub host_id: Option<String>,
    pub kind: Option<FindingKind>,
    /// Only overdue (`true`) or only not overdue (`false`) findings, as of `now`.
    pub overdue: Option<bool>,
    pub now: DateTime<Utc>,
    pub limit: i64,
    pub offset: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_transitions() {
        use Status::*;
        let can = |a: Action, s: Status| a.transition().0.contains(&s);
        assert!(can(Action::Acknowledge, Open) && can(Action::Acknowledge, Reopened));
        assert!(!can(Action::Acknowledge, RiskAccepted) && !can(Action::Acknowledge, Resolved));
        assert!(can(Action::AcceptRisk, Acknowledged) && !can(Action::AcceptRisk, Resolved));
        assert!(can(Action::Reopen, RiskAccepted) && !can(Action::Reopen, Open));
        assert_eq!(Action::Expire.transition(), (&[RiskAccepted][..], Reopened));
        assert_eq!(Action::Recur.transition().1, Reopened);
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = finding_id("h1", FindingKind::Rule, "host.stale", "");
        assert_eq!(a, finding_id("h1", FindingKind::Rule, "host.stale", ""));
        assert_ne!(a, finding_id("h1", FindingKind::Vulnerability, "host.stale", ""));
        assert_ne!(finding_id("h1", FindingKind::Rule, "a", "bc"), finding_id("h1", FindingKind::Rule, "ab", "c"));
        assert_eq!(a.len(), 32);
    }
}

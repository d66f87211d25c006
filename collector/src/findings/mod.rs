//! Findings: problems found on hosts (by policy rules here, by vulnerability matching later), with one lifecycle
//! for all of them — open → acknowledged → risk_accepted → resolved → reopened — every step in the finding's
//! history and in the audit log.
//!
//! This module is pure: the lifecycle table, stable ids and the plan (`evaluate`). The use cases that read the
//! store and write the plan are in `crate::app::findings`. Nothing keeps host state in memory: a use case reads
//! the store, plans, and writes changes with conditional statements, so several replicas may evaluate the same host
//! at once.

pub mod actions;
pub mod evaluate;
pub mod vulnerability;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

pub use crate::model::findings::{
    Action, ExistingFinding, FindingEvent, FindingFilter, FindingKind, FindingPage, FindingSort, FindingView, Matched,
    Status,
};

/// The lifecycle: which statuses each action applies to (the vocabulary is in `crate::model::findings`).
impl Action {
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

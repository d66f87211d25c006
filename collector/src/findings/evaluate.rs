//! Turning rule evaluations and vulnerability matches into finding changes: the pure plan (what to open, refresh,
//! resolve, reopen). The use cases that load facts and write the plan are in `crate::app::findings`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{ExistingFinding, FindingKind, Matched, Status, due_at, finding_id};
use crate::rules::{Evaluation, Policy, Severity};
use crate::vuln::priority::rule_priority;

/// The actor evaluations are recorded under in finding history and the audit log.
pub const EVALUATOR: &str = "evaluator";

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Open {
        id: String,
        found: Matched,
    },
    /// Matched again after being resolved: a new occurrence, with a new first-seen time and due date.
    Recur {
        id: String,
        found: Matched,
    },
    /// Still matching; rule text, severity, SLA or evidence changed.
    Refresh {
        id: String,
        found: Matched,
        due_at: DateTime<Utc>,
    },
    Resolve {
        id: String,
        rule_id: String,
        from: Status,
    },
}

/// The actor vulnerability findings are recorded under.
pub const VULNERABILITY_MATCHER: &str = "vulnerability-matcher";

/// Days to fix a vulnerability finding, by severity (the rules carry their own SLA).
pub fn vulnerability_sla_days(severity: Severity) -> u32 {
    match severity {
        Severity::Critical => 7,
        Severity::High => 30,
        Severity::Medium => 90,
        Severity::Low => 180,
        Severity::Info => 365,
    }
}

pub use super::vulnerability::vulnerability_outcome;

/// One host's evaluation in the terms of its stored findings of one kind.
#[derive(Debug, Clone)]
pub struct HostOutcome {
    pub host_id: String,
    /// Rule findings and vulnerability findings are planned separately: an evaluation of one kind never resolves
    /// findings of the other.
    pub kind: FindingKind,
    pub matched: Vec<Matched>,
    /// Rules that failed on this host: their findings are left as they are.
    pub failed: BTreeSet<String>,
}

impl HostOutcome {
    pub fn new(host_id: &str, policy: &Policy, evaluation: Evaluation) -> HostOutcome {
        let matched = evaluation
            .matches
            .into_iter()
            .filter_map(|m| {
                let rule = policy.rule(&m.rule_id)?;
                Some(Matched {
                    rule_id: m.rule_id,
                    subject: String::new(),
                    title: rule.title.clone(),
                    severity: rule.severity,
                    sla_days: rule.sla_days,
                    remediation: rule.remediation.clone(),
                    evidence: m.evidence,
                    details: serde_json::json!({}),
                    priority: rule_priority(rule.severity),
                })
            })
            .collect();
        HostOutcome {
            host_id: host_id.to_owned(),
            kind: FindingKind::Rule,
            matched,
            failed: evaluation.failures.into_iter().map(|f| f.rule_id).collect(),
        }
    }

    /// The changes that bring `existing` (this host's rule findings) in line with the evaluation. Findings of
    /// rules that no longer exist are resolved too: the whole policy was evaluated.
    pub fn plan(&self, existing: &[ExistingFinding]) -> Vec<Change> {
        let by_rule: BTreeMap<(&str, &str), &ExistingFinding> =
            existing.iter().map(|f| ((f.rule_id.as_str(), f.subject.as_str()), f)).collect();
        let mut changes = Vec::new();
        let mut matched_keys = BTreeSet::new();
        for found in &self.matched {
            matched_keys.insert((found.rule_id.as_str(), found.subject.as_str()));
            match by_rule.get(&(found.rule_id.as_str(), found.subject.as_str())) {
                None => changes.push(Change::Open {
                    id: finding_id(&self.host_id, self.kind, &found.rule_id, &found.subject),
                    found: found.clone(),
                }),
                Some(f) if f.status == Status::Resolved => {
                    changes.push(Change::Recur { id: f.id.clone(), found: found.clone() })
                }
                Some(f) => {
                    let due = due_at(f.first_seen, found.sla_days);
                    let same = f.title == found.title
                        && f.severity == found.severity
                        && f.sla_days == found.sla_days
                        && f.remediation == found.remediation
                        && f.evidence == found.evidence
                        && f.details == found.details
                        && f.priority == found.priority
                        && f.due_at == due;
                    if !same {
                        changes.push(Change::Refresh { id: f.id.clone(), found: found.clone(), due_at: due });
                    }
                }
            }
        }
        for f in existing {
            if f.status != Status::Resolved
                && !matched_keys.contains(&(f.rule_id.as_str(), f.subject.as_str()))
                && !self.failed.contains(&f.rule_id)
            {
                changes.push(Change::Resolve { id: f.id.clone(), rule_id: f.rule_id.clone(), from: f.status });
            }
        }
        changes
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ApplySummary {
    pub opened: usize,
    pub reopened: usize,
    pub resolved: usize,
    pub refreshed: usize,
}

impl ApplySummary {
    pub fn add(&mut self, other: ApplySummary) {
        self.opened += other.opened;
        self.reopened += other.reopened;
        self.resolved += other.resolved;
        self.refreshed += other.refreshed;
    }
}

/// Totals of one evaluation run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    /// Hosts evaluated.
    pub hosts: usize,
    /// Hosts left alone because nothing they are evaluated on can have changed since their last evaluation.
    pub not_due: usize,
    #[serde(flatten)]
    pub changes: ApplySummary,
    /// Risk acceptances that ran out and reopened.
    pub expired: usize,
    /// Findings that passed their due date since the last run (escalated: `finding.overdue`).
    pub overdue: usize,
    /// (rule, message) of rules that failed, one example per rule.
    pub rule_failures: BTreeMap<String, String>,
    /// The run stopped early because the rules were reloaded meanwhile (their own run covers every host).
    pub superseded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap()
    }

    fn matched(rule: &str, evidence: &[&str]) -> Matched {
        Matched {
            rule_id: rule.to_owned(),
            subject: String::new(),
            title: format!("{rule} title"),
            severity: Severity::High,
            sla_days: 30,
            remediation: "fix it".to_owned(),
            evidence: evidence.iter().map(|s| (*s).to_owned()).collect(),
            details: serde_json::json!({}),
            priority: rule_priority(Severity::High),
        }
    }

    fn existing(rule: &str, status: Status, evidence: &[&str]) -> ExistingFinding {
        let m = matched(rule, evidence);
        ExistingFinding {
            id: finding_id("h", FindingKind::Rule, rule, ""),
            rule_id: rule.to_owned(),
            subject: String::new(),
            status,
            title: m.title,
            severity: m.severity,
            evidence: m.evidence,
            remediation: m.remediation,
            sla_days: 30,
            first_seen: t(1),
            due_at: due_at(t(1), 30),
            details: serde_json::json!({}),
            priority: m.priority,
        }
    }

    /// A vulnerability is keyed by advisory and package: the same advisory on a second package is a second finding,
    /// and a package no longer affected resolves only its own finding.
    #[test]
    fn vulnerability_findings_are_keyed_by_advisory_and_package() {
        let on = |subject: &str| Matched { subject: subject.to_owned(), ..matched("DSA-5611-1", &[]) };
        let outcome = HostOutcome {
            host_id: "h".to_owned(),
            kind: FindingKind::Vulnerability,
            matched: vec![on("libc6:amd64")],
            failed: BTreeSet::new(),
        };
        let stored = |subject: &str| ExistingFinding {
            id: finding_id("h", FindingKind::Vulnerability, "DSA-5611-1", subject),
            subject: subject.to_owned(),
            ..existing("DSA-5611-1", Status::Open, &[])
        };
        let plan = outcome.plan(&[stored("libc6:amd64"), stored("libc-bin:amd64")]);
        assert_eq!(
            plan,
            vec![Change::Resolve {
                id: finding_id("h", FindingKind::Vulnerability, "DSA-5611-1", "libc-bin:amd64"),
                rule_id: "DSA-5611-1".to_owned(),
                from: Status::Open
            }]
        );
        let fresh = outcome.plan(&[]);
        assert_eq!(
            fresh,
            vec![Change::Open {
                id: finding_id("h", FindingKind::Vulnerability, "DSA-5611-1", "libc6:amd64"),
                found: on("libc6:amd64")
            }]
        );
    }

    #[test]
    fn plans_open_refresh_resolve_recur_and_leaves_failed_rules_alone() {
        let outcome = HostOutcome {
            host_id: "h".to_owned(),
            kind: FindingKind::Rule,
            matched: vec![
                matched("new.rule", &[]),
                matched("same.rule", &["a"]),
                matched("changed.rule", &["b"]),
                matched("back.rule", &[]),
            ],
            failed: ["broken.rule".to_owned()].into(),
        };
        let stored = [
            existing("same.rule", Status::Acknowledged, &["a"]),
            existing("changed.rule", Status::Open, &["old"]),
            existing("back.rule", Status::Resolved, &[]),
            existing("gone.rule", Status::RiskAccepted, &[]),
            existing("broken.rule", Status::Open, &[]),
            existing("done.rule", Status::Resolved, &[]),
        ];
        let plan = outcome.plan(&stored);
        assert_eq!(
            plan,
            vec![
                Change::Open {
                    id: finding_id("h", FindingKind::Rule, "new.rule", ""),
                    found: matched("new.rule", &[])
                },
                Change::Refresh {
                    id: stored[1].id.clone(),
                    found: matched("changed.rule", &["b"]),
                    due_at: due_at(t(1), 30)
                },
                Change::Recur { id: stored[2].id.clone(), found: matched("back.rule", &[]) },
                Change::Resolve {
                    id: stored[3].id.clone(),
                    rule_id: "gone.rule".to_owned(),
                    from: Status::RiskAccepted
                },
            ]
        );
        // Applying the plan's result again changes nothing.
        assert!(HostOutcome { matched: vec![matched("same.rule", &["a"])], ..outcome }.plan(&stored[..1]).is_empty());
    }
}

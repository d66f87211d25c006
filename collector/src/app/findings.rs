//! The findings use cases: writing an evaluation's plan, what people do to findings, risk acceptances running out,
//! and the facts an evaluation reads. Each opens one findings transaction, decides with the pure lifecycle
//! (`crate::findings`) and records every step in the finding's history and, through [`AuditEvent`], the audit log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use muster_shared::v1::Patches;

use super::audit::{Actor, AuditEvent};
use super::integrations::{self, FindingChange};
use crate::findings::actions::{self, ActionError, TransitionRequest};
use crate::findings::evaluate::{ApplySummary, Change, HostOutcome};
use crate::findings::{Action, FindingKind, FindingView, Status, due_at, vulnerability};
use crate::model::facts::{HostFacts, PendingSecurityUpdate};
use crate::model::integrations::Subscription;
use crate::model::{from_ms, to_ms};
use crate::store::findings_tx::{FindingsTx, HistoryStep, NewFinding, StatusWrite, Triage};
use crate::store::tx::end;
use crate::store::{Store, StoreError};

/// One lifecycle step, written to the finding's history and the audit log in the same transaction.
struct Step<'s> {
    finding_id: &'s str,
    host_id: &'s str,
    rule_id: &'s str,
    action: Action,
    from: Option<Status>,
    report_id: Option<&'s str>,
    comment: Option<&'s str>,
    details: serde_json::Value,
}

/// Also the change's event for the integrations that want it (`app::integrations`), in the same transaction.
async fn record(
    tx: &mut dyn FindingsTx,
    subscriptions: &[Subscription],
    actor: &Actor,
    at: DateTime<Utc>,
    s: Step<'_>,
) -> Result<(), StoreError> {
    let to = s.action.transition().1;
    let event_type = crate::integrations::finding_event_type(s.action);
    let change = FindingChange {
        finding_id: s.finding_id,
        host_id: s.host_id,
        rule_id: s.rule_id,
        event_type: &event_type,
        from: s.from,
        to,
        actor: &actor.name,
        comment: s.comment,
        at,
    };
    integrations::finding_changed(tx, subscriptions, change).await?;
    tx.insert_finding_history(&HistoryStep {
        finding_id: s.finding_id,
        at,
        actor: &actor.name,
        action: s.action.as_str(),
        from: s.from,
        to,
        source_ip: actor.source_ip.as_deref(),
        report_id: s.report_id,
        comment: s.comment,
        details: s.details.clone(),
    })
    .await?;
    let event = AuditEvent::FindingChanged {
        finding_id: s.finding_id.to_owned(),
        action: s.action,
        host_id: s.host_id.to_owned(),
        rule_id: s.rule_id.to_owned(),
        from: s.from,
        to,
        report_id: s.report_id.map(str::to_owned),
        comment: s.comment.map(str::to_owned),
        details: s.details,
    };
    tx.audit(&event.into_record(actor, at)).await
}

/// Brings the host's findings of the outcome's kind in line with it (see [`HostOutcome::plan`]). `actor` is the
/// evaluator or the vulnerability matcher.
pub async fn apply(
    store: &dyn Store,
    outcome: &HostOutcome,
    now: DateTime<Utc>,
    report_id: Option<&str>,
    actor: &str,
) -> Result<ApplySummary, StoreError> {
    // Most evaluations change nothing: find out without taking a write lock.
    if outcome.plan(&store.existing_findings(&outcome.host_id, outcome.kind).await?).is_empty() {
        return Ok(ApplySummary::default());
    }
    let mut tx = store.begin_findings_tx().await?;
    let written = apply_in(tx.as_mut(), outcome, now, report_id, actor).await;
    end(tx, written).await
}

/// [`apply`] in the caller's transaction, with the rest of a host's queued work (`app::queue`): planned under the
/// host's lock (an `UPDATE` of its row), no finding written when the plan is empty.
pub async fn apply_in(
    tx: &mut dyn FindingsTx,
    outcome: &HostOutcome,
    now: DateTime<Utc>,
    report_id: Option<&str>,
    actor: &str,
) -> Result<ApplySummary, StoreError> {
    let host_id = outcome.host_id.as_str();
    if !tx.lock_host(host_id).await? {
        return Ok(ApplySummary::default());
    }
    // Planned again under the lock: another replica may have written in between.
    let plan = outcome.plan(&tx.existing_findings(host_id, outcome.kind).await?);
    if plan.is_empty() {
        return Ok(ApplySummary::default());
    }
    let subscriptions = tx.subscriptions().await?;
    let actor = Actor { name: actor.to_owned(), source_ip: None };
    let mut summary = ApplySummary::default();
    for change in &plan {
        let (id, rule_id, action, from) = match change {
            Change::Open { id, found } => {
                let new = NewFinding {
                    id,
                    host_id,
                    kind: outcome.kind,
                    found,
                    first_seen: now,
                    due_at: due_at(now, found.sla_days),
                };
                if !tx.insert_finding(&new).await? {
                    continue;
                }
                summary.opened += 1;
                (id, &found.rule_id, Action::Open, None)
            }
            Change::Recur { id, found } => {
                if !tx.recur_finding(id, found, now, due_at(now, found.sla_days)).await? {
                    continue;
                }
                summary.reopened += 1;
                (id, &found.rule_id, Action::Recur, Some(Status::Resolved))
            }
            Change::Refresh { id, found, due_at } => {
                tx.refresh_finding(id, found, *due_at, now).await?;
                summary.refreshed += 1;
                continue;
            }
            Change::Resolve { id, rule_id, from } => {
                if !tx.resolve_finding(id, *from, now, report_id).await? {
                    continue;
                }
                summary.resolved += 1;
                (id, rule_id, Action::Resolve, Some(*from))
            }
        };
        let superseded = action == Action::Resolve
            && outcome.kind == FindingKind::Vulnerability
            && vulnerability::is_superseded_rule(rule_id);
        let step = Step {
            finding_id: id,
            host_id,
            rule_id,
            action,
            from,
            report_id,
            comment: superseded.then_some(vulnerability::SUPERSEDED),
            details: if superseded { serde_json::json!({ "superseded": true }) } else { serde_json::json!({}) },
        };
        record(tx, &subscriptions, &actor, now, step).await?;
    }
    // Rules read the open fix findings (`patches.security_pending[].covered`).
    if outcome.kind == FindingKind::Vulnerability {
        tx.mark_evaluation_due(host_id).await?;
    }
    Ok(summary)
}

/// Acknowledge, accept the risk of, or reopen a finding, for a person (API, console, CLI): the request is checked
/// (`findings::actions::check`), the lifecycle decides whether the finding's status allows it.
pub async fn act(store: &dyn Store, request: TransitionRequest) -> Result<FindingView, ActionError> {
    let req = actions::check(request)?;
    let mut tx = store.begin_findings_tx().await?;
    match act_in(tx.as_mut(), &req).await {
        Ok(()) => tx.commit().await?,
        Err(ActionError::Store(e)) => {
            tx.give_up(&e);
            return Err(ActionError::Store(e));
        }
        // A refusal rests on what the transaction read, on SQLite possibly another member's write in the open
        // group (`group_commit.rs`): it is given once that is committed.
        Err(refusal) => {
            tx.commit().await?;
            return Err(refusal);
        }
    }
    store.get_finding(&req.finding_id, req.at).await?.ok_or(ActionError::NotFound(req.finding_id))
}

async fn act_in(tx: &mut dyn FindingsTx, req: &TransitionRequest) -> Result<(), ActionError> {
    let (allowed, to) = req.action.transition();
    let Some(head) = tx.lock_finding(&req.finding_id).await? else {
        return Err(ActionError::NotFound(req.finding_id.clone()));
    };
    if !allowed.contains(&head.status) {
        return Err(ActionError::NotAllowed { action: actions::verb(req.action), from: head.status.as_str() });
    }
    let comment = req.comment.as_deref();
    let triage = match req.action {
        Action::Acknowledge => Triage::Acknowledged { by: &req.actor, comment },
        Action::AcceptRisk => Triage::RiskAccepted { by: &req.actor, reason: comment, expires_at: req.expires_at },
        _ => Triage::None,
    };
    let write = StatusWrite { id: &req.finding_id, from: head.status, to, at: req.at, triage };
    if !tx.set_finding_status(&write).await? {
        // Locked above, so only a store that lost the row lock gets here; say what is true rather than guess.
        return Err(ActionError::Store(StoreError::Corrupt(format!(
            "finding {} changed while it was locked",
            req.finding_id
        ))));
    }
    let actor = Actor { name: req.actor.clone(), source_ip: req.source_ip.clone() };
    let step = Step {
        finding_id: &req.finding_id,
        host_id: &head.host_id,
        rule_id: &head.rule_id,
        action: req.action,
        from: Some(head.status),
        report_id: None,
        comment,
        details: serde_json::json!({ "expires_at": req.expires_at }),
    };
    let subscriptions = tx.subscriptions().await?;
    record(tx, &subscriptions, &actor, req.at, step).await?;
    Ok(())
}

/// Reopens risk-accepted findings whose acceptance ended at or before `now`; returns their ids. Each in its own
/// transaction, re-checked under the finding's lock (a person may have changed it since the list was read).
pub async fn expire_risk_acceptances(
    store: &dyn Store,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<Vec<String>, StoreError> {
    let actor = Actor { name: actor.to_owned(), source_ip: None };
    let mut expired = Vec::new();
    for id in store.risk_acceptances_ending(now).await? {
        let mut tx = store.begin_findings_tx().await?;
        let written = expire_in(tx.as_mut(), &id, now, &actor).await;
        if end(tx, written).await? {
            expired.push(id);
        }
    }
    Ok(expired)
}

/// False when the finding is no longer a risk acceptance that ended.
async fn expire_in(tx: &mut dyn FindingsTx, id: &str, now: DateTime<Utc>, actor: &Actor) -> Result<bool, StoreError> {
    let Some(head) = tx.lock_finding(id).await? else { return Ok(false) };
    let ended = head.risk_expires_at.is_some_and(|at| at <= now);
    if head.status != Status::RiskAccepted || !ended {
        return Ok(false);
    }
    let write = StatusWrite { id, from: head.status, to: Action::Expire.transition().1, at: now, triage: Triage::None };
    if !tx.set_finding_status(&write).await? {
        return Ok(false);
    }
    let step = Step {
        finding_id: id,
        host_id: &head.host_id,
        rule_id: &head.rule_id,
        action: Action::Expire,
        from: Some(head.status),
        report_id: None,
        comment: None,
        details: serde_json::json!({ "expired_at": head.risk_expires_at }),
    };
    let subscriptions = tx.subscriptions().await?;
    record(tx, &subscriptions, actor, now, step).await?;
    Ok(true)
}

/// The history step of an escalation: the status stays, the deadline passed.
pub const OVERDUE_STEP: &str = "overdue";

/// Escalates active findings whose due date passed before `now`: once per due date, a `finding.overdue` event for
/// the subscriptions that want it and an `overdue` step in the finding's history; returns their ids. Each in its
/// own transaction; the mark is conditional on the due date not yet escalated, so replicas running this at once
/// send each escalation once.
pub async fn escalate_overdue(store: &dyn Store, now: DateTime<Utc>, actor: &str) -> Result<Vec<String>, StoreError> {
    let mut escalated = Vec::new();
    for id in store.findings_turning_overdue(now).await? {
        let mut tx = store.begin_findings_tx().await?;
        let written = escalate_in(tx.as_mut(), &id, now, actor).await;
        if end(tx, written).await? {
            escalated.push(id);
        }
    }
    Ok(escalated)
}

/// False when the finding's due date is no longer one to escalate.
async fn escalate_in(tx: &mut dyn FindingsTx, id: &str, now: DateTime<Utc>, actor: &str) -> Result<bool, StoreError> {
    let Some((head, due)) = tx.mark_overdue(id, now).await? else { return Ok(false) };
    let change = FindingChange {
        finding_id: id,
        host_id: &head.host_id,
        rule_id: &head.rule_id,
        event_type: crate::integrations::FINDING_OVERDUE,
        from: Some(head.status),
        to: head.status,
        actor,
        comment: None,
        at: now,
    };
    let subscriptions = tx.subscriptions().await?;
    integrations::finding_changed(tx, &subscriptions, change).await?;
    tx.insert_finding_history(&HistoryStep {
        finding_id: id,
        at: now,
        actor,
        action: OVERDUE_STEP,
        from: Some(head.status),
        to: head.status,
        source_ip: None,
        report_id: None,
        comment: None,
        details: serde_json::json!({ "due_at": due }),
    })
    .await?;
    Ok(true)
}

/// What the stored pending security updates must become so they equal the host's reported ones, each keeping the
/// time it was first reported pending (the `updates.security_pending_days` rule counts from it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingChanges {
    /// (name, arch) no longer pending.
    pub remove: Vec<(String, String)>,
    /// Every one reported, in (name, arch) order: the list as it is stored after the change. A new one is first
    /// seen `now`, one stored before keeps its first-seen time.
    pub upsert: Vec<PendingSecurityUpdate>,
}

/// `None` when nothing changes, or when the report does not say what is pending (no patches section, or no list):
/// then what was recorded stays.
pub fn pending_changes(
    patches: Option<&Patches>,
    stored: &[PendingSecurityUpdate],
    now: DateTime<Utc>,
) -> Option<PendingChanges> {
    let pending = patches?.pending.as_ref()?;
    let current: BTreeMap<(String, String), _> = pending
        .iter()
        .filter(|u| u.security)
        .map(|u| ((u.name.clone(), u.arch.clone().unwrap_or_default()), u))
        .collect();
    let known: BTreeMap<(String, String), &PendingSecurityUpdate> =
        stored.iter().map(|p| ((p.name.clone(), p.arch.clone()), p)).collect();
    let unchanged = current.len() == known.len()
        && current.iter().all(|(k, u)| {
            known.get(k).is_some_and(|p| {
                p.installed_version == u.installed_version && p.candidate_version == u.candidate_version
            })
        });
    if unchanged {
        return None;
    }
    let remove = known.keys().filter(|k| !current.contains_key(*k)).cloned().collect();
    let seen = from_ms(to_ms(now));
    let upsert = current
        .iter()
        .map(|((name, arch), u)| PendingSecurityUpdate {
            name: name.clone(),
            arch: arch.clone(),
            installed_version: u.installed_version.clone(),
            candidate_version: u.candidate_version.clone(),
            origin: u.origin.clone().unwrap_or_default(),
            // Whole milliseconds, as the store keeps it: rules see one time for it in every evaluation.
            first_seen: known.get(&(name.clone(), arch.clone())).map_or(seen, |p| p.first_seen),
        })
        .collect();
    Some(PendingChanges { remove, upsert })
}

/// `facts` with their pending security updates as the report leaves them, each with the time it was first seen,
/// and the changes that store them (`None`: the stored list stays). Pure, so an evaluation is planned before its
/// write begins (`evaluation::plan_host`).
pub fn with_pending(facts: HostFacts, now: DateTime<Utc>) -> (HostFacts, Option<PendingChanges>) {
    match pending_changes(facts.patches.as_ref(), &facts.security_pending, now) {
        None => (facts, None),
        Some(changes) => (HostFacts { security_pending: changes.upsert.clone(), ..facts }, Some(changes)),
    }
}

/// Writes [`with_pending`]'s changes of the host's pending security updates in `tx`.
pub async fn record_pending_in(
    tx: &mut dyn FindingsTx,
    host_id: &str,
    changes: &PendingChanges,
) -> Result<(), StoreError> {
    for (name, arch) in &changes.remove {
        tx.delete_pending_security_update(host_id, name, arch).await?;
    }
    for update in &changes.upsert {
        tx.upsert_pending_security_update(host_id, update).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use muster_shared::v1::PendingUpdate;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap()
    }

    fn stored(name: &str, installed: &str, candidate: &str, first_seen: DateTime<Utc>) -> PendingSecurityUpdate {
        PendingSecurityUpdate {
            name: name.to_owned(),
            arch: "amd64".to_owned(),
            installed_version: installed.to_owned(),
            candidate_version: candidate.to_owned(),
            origin: "Debian-Security".to_owned(),
            first_seen,
        }
    }

    fn patches(updates: &[(&str, &str, &str, bool)]) -> Patches {
        let pending = updates
            .iter()
            .map(|(name, installed, candidate, security)| PendingUpdate {
                name: (*name).to_owned(),
                arch: Some("amd64".to_owned()),
                installed_version: (*installed).to_owned(),
                candidate_version: (*candidate).to_owned(),
                security: *security,
                origin: Some("Debian-Security".to_owned()),
            })
            .collect();
        Patches { pending: Some(pending), ..Patches::default() }
    }

    /// The table of what a report does to the recorded pending security updates and their first-seen times.
    #[test]
    fn pending_security_updates_keep_their_first_seen_time() {
        let recorded =
            [stored("libc6", "2.36-9", "2.36-9+deb12u4", at(1)), stored("curl", "7.88.1-10", "7.88.1-11", at(2))];
        let cases: [(&str, Option<Patches>, Option<PendingChanges>); 5] = [
            ("no patches section: keep what was recorded", None, None),
            ("no pending list: keep what was recorded", Some(Patches::default()), None),
            (
                "same updates (a non-security one beside them does not count)",
                Some(patches(&[
                    ("libc6", "2.36-9", "2.36-9+deb12u4", true),
                    ("curl", "7.88.1-10", "7.88.1-11", true),
                    ("vim", "9.0", "9.1", false),
                ])),
                None,
            ),
            (
                "curl installed, a newer libc6 offered, openssl new",
                Some(patches(&[("libc6", "2.36-9", "2.36-9+deb12u7", true), ("openssl", "3.0.11", "3.0.13", true)])),
                Some(PendingChanges {
                    remove: vec![("curl".to_owned(), "amd64".to_owned())],
                    upsert: vec![
                        stored("libc6", "2.36-9", "2.36-9+deb12u7", at(1)),
                        stored("openssl", "3.0.11", "3.0.13", at(5)),
                    ],
                }),
            ),
            (
                "everything installed",
                Some(patches(&[])),
                Some(PendingChanges {
                    remove: vec![("curl".to_owned(), "amd64".to_owned()), ("libc6".to_owned(), "amd64".to_owned())],
                    upsert: vec![],
                }),
            ),
        ];
        for (name, report, expected) in cases {
            assert_eq!(pending_changes(report.as_ref(), &recorded, at(5)), expected, "{name}");
        }
    }
}

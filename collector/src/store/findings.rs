//! Storage of findings, their history, and the facts rules are evaluated on; one body for SQLite and PostgreSQL.
//!
//! Writes are conditional (`WHERE status = <expected>`, `ON CONFLICT DO NOTHING`) and an evaluation locks the
//! host row before changing its findings, so replicas evaluating the same host neither duplicate nor lose a step.
//!
//! Over 600 lines because it is one `macro_rules!` body instantiated for both backends (see `store/sql.rs`); it
//! shrinks when the findings plan moves out of `apply_evaluation` into `app/` (issue 13, not done yet).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::findings::actions::{TransitionOutcome, TransitionRequest};
use crate::findings::evaluate::{ApplySummary, HostOutcome};
use crate::findings::{FindingEvent, FindingFilter, FindingPage, FindingView};
use crate::rules::HostFacts;

#[async_trait]
pub trait FindingsStore: Send + Sync {
    /// One host's facts; first records when each of its pending security updates was first seen pending.
    async fn load_host_facts(&self, host_id: &str, now: DateTime<Utc>) -> Result<Option<HostFacts>, StoreError>;
    /// Facts of up to `limit` hosts with ids after `after`, by id.
    async fn host_facts_page(&self, after: &str, limit: i64) -> Result<Vec<HostFacts>, StoreError>;
    /// Brings the host's rule findings in line with `outcome` (see [`HostOutcome::plan`]).
    async fn apply_evaluation(
        &self,
        outcome: &HostOutcome,
        now: DateTime<Utc>,
        report_id: Option<&str>,
        actor: &str,
    ) -> Result<ApplySummary, StoreError>;
    /// Reopens risk-accepted findings whose acceptance expired at or before `now`; returns their ids.
    async fn expire_risk_acceptances(&self, now: DateTime<Utc>, actor: &str) -> Result<Vec<String>, StoreError>;
    async fn transition_finding(&self, request: &TransitionRequest) -> Result<TransitionOutcome, StoreError>;
    async fn list_findings(&self, filter: &FindingFilter) -> Result<FindingPage, StoreError>;
    async fn get_finding(&self, id: &str, now: DateTime<Utc>) -> Result<Option<FindingView>, StoreError>;
    /// Oldest first.
    async fn finding_history(&self, id: &str) -> Result<Vec<FindingEvent>, StoreError>;
}

pub(super) const FINDING_COLUMNS: &str = "f.id, f.host_id, h.hostname, f.kind, f.rule_id, f.subject, f.title, \
     f.severity, f.status, f.evidence, f.details, f.remediation, f.sla_days, f.first_seen, f.due_at, f.created_at, \
     f.updated_at, f.acknowledged_by, f.acknowledged_at, f.ack_comment, f.risk_accepted_by, f.risk_accepted_at, \
     f.risk_reason, f.risk_expires_at, f.resolved_at, f.resolved_report_id";

macro_rules! impl_findings_store {
    ($store:ty, $db:ty, $row:ty) => {
        const _: () = {
            use std::collections::BTreeMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use muster_shared::v1::{Check, Hardware, Host, Os, Patches, SectionName};
            use sqlx::{QueryBuilder, Row};

            use crate::findings::actions::{TransitionOutcome, TransitionRequest};
            use crate::findings::evaluate::{ApplySummary, Change, ExistingFinding, HostOutcome};
            use crate::findings::{
                Action, FindingEvent, FindingFilter, FindingKind, FindingPage, FindingView, Status, due_at,
            };
            use crate::model::{from_ms, to_ms};
            use crate::rules::{HostFacts, PendingSecurityUpdate, Severity};
            use crate::store::StoreError;
            use crate::store::findings::{FINDING_COLUMNS, FindingsStore};

            type Tx<'t> = sqlx::Transaction<'t, $db>;

            fn corrupt(what: &str, value: &str) -> StoreError {
                StoreError::Corrupt(format!("{what} {value:?}"))
            }

            fn status_of(text: &str) -> Result<Status, StoreError> {
                Status::parse(text).ok_or_else(|| corrupt("finding status", text))
            }

            fn severity_of(text: &str) -> Result<Severity, StoreError> {
                Severity::parse(text).ok_or_else(|| corrupt("severity", text))
            }

            fn evidence_of(text: &str) -> Result<Vec<String>, StoreError> {
                serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("finding evidence: {e}")))
            }

            fn evidence_json(evidence: &[String]) -> String {
                serde_json::Value::from(evidence.to_vec()).to_string()
            }

            fn opt_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
                v.map(from_ms)
            }

            fn sla_of(v: i64) -> u32 {
                u32::try_from(v).unwrap_or(u32::MAX)
            }

            fn finding_from_row(r: &$row, now: DateTime<Utc>) -> Result<FindingView, StoreError> {
                let kind: String = r.try_get("kind")?;
                let status = status_of(&r.try_get::<String, _>("status")?)?;
                let due: DateTime<Utc> = from_ms(r.try_get("due_at")?);
                let details: String = r.try_get("details")?;
                Ok(FindingView {
                    id: r.try_get("id")?,
                    host_id: r.try_get("host_id")?,
                    hostname: r.try_get("hostname")?,
                    kind: FindingKind::parse(&kind).ok_or_else(|| corrupt("finding kind", &kind))?,
                    rule_id: r.try_get("rule_id")?,
                    subject: r.try_get("subject")?,
                    title: r.try_get("title")?,
                    severity: severity_of(&r.try_get::<String, _>("severity")?)?,
                    status,
                    evidence: evidence_of(&r.try_get::<String, _>("evidence")?)?,
                    details: serde_json::from_str(&details).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    remediation: r.try_get("remediation")?,
                    sla_days: sla_of(r.try_get("sla_days")?),
                    first_seen: from_ms(r.try_get("first_seen")?),
                    due_at: due,
                    overdue: status.is_active() && due < now,
                    created_at: from_ms(r.try_get("created_at")?),
                    updated_at: from_ms(r.try_get("updated_at")?),
                    acknowledged_by: r.try_get("acknowledged_by")?,
                    acknowledged_at: opt_ms(r.try_get("acknowledged_at")?),
                    ack_comment: r.try_get("ack_comment")?,
                    risk_accepted_by: r.try_get("risk_accepted_by")?,
                    risk_accepted_at: opt_ms(r.try_get("risk_accepted_at")?),
                    risk_reason: r.try_get("risk_reason")?,
                    risk_expires_at: opt_ms(r.try_get("risk_expires_at")?),
                    resolved_at: opt_ms(r.try_get("resolved_at")?),
                    resolved_report_id: r.try_get("resolved_report_id")?,
                })
            }

            /// A stored section that no longer parses is treated as not collected.
            fn section<T: serde::de::DeserializeOwned>(sections: &BTreeMap<String, String>, name: SectionName) -> Option<T> {
                sections.get(name.as_str()).and_then(|text| serde_json::from_str(text).ok())
            }

            const FACT_SECTIONS: &str = "('host', 'hardware', 'os', 'patches', 'checks')";

            fn facts_from_row(
                r: &$row,
                sections: &BTreeMap<String, String>,
                package_count: i64,
                security_pending: Vec<PendingSecurityUpdate>,
            ) -> Result<HostFacts, StoreError> {
                let tags: String = r.try_get("tags")?;
                Ok(HostFacts {
                    host_id: r.try_get("id")?,
                    hostname: r.try_get("hostname")?,
                    tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    duplicate_identity: r.try_get("duplicate_identity")?,
                    first_seen: from_ms(r.try_get("first_seen")?),
                    last_seen: from_ms(r.try_get("last_seen")?),
                    agent_version: r.try_get("agent_version")?,
                    host: section::<Host>(sections, SectionName::Host),
                    hardware: section::<Hardware>(sections, SectionName::Hardware),
                    os: section::<Os>(sections, SectionName::Os),
                    patches: section::<Patches>(sections, SectionName::Patches),
                    checks: section::<Vec<Check>>(sections, SectionName::Checks).unwrap_or_default(),
                    package_count,
                    security_pending,
                })
            }

            fn pending_from_row(r: &$row) -> Result<PendingSecurityUpdate, StoreError> {
                Ok(PendingSecurityUpdate {
                    name: r.try_get("name")?,
                    arch: r.try_get("arch")?,
                    installed_version: r.try_get("installed_version")?,
                    candidate_version: r.try_get("candidate_version")?,
                    origin: r.try_get("origin")?,
                    first_seen: from_ms(r.try_get("first_seen")?),
                })
            }

            const HOST_FACT_COLUMNS: &str =
                "id, hostname, tags, duplicate_identity, first_seen, last_seen, agent_version";

            async fn existing_findings(
                executor: impl sqlx::Executor<'_, Database = $db>,
                host_id: &str,
                kind: FindingKind,
            ) -> Result<Vec<ExistingFinding>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, rule_id, subject, status, title, severity, evidence, remediation, sla_days, \
                     first_seen, due_at FROM findings WHERE host_id = $1 AND kind = $2",
                )
                .bind(host_id)
                .bind(kind.as_str())
                .fetch_all(executor)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ExistingFinding {
                            id: r.try_get("id")?,
                            rule_id: r.try_get("rule_id")?,
                            subject: r.try_get("subject")?,
                            status: status_of(&r.try_get::<String, _>("status")?)?,
                            title: r.try_get("title")?,
                            severity: severity_of(&r.try_get::<String, _>("severity")?)?,
                            evidence: evidence_of(&r.try_get::<String, _>("evidence")?)?,
                            remediation: r.try_get("remediation")?,
                            sla_days: sla_of(r.try_get("sla_days")?),
                            first_seen: from_ms(r.try_get("first_seen")?),
                            due_at: from_ms(r.try_get("due_at")?),
                        })
                    })
                    .collect()
            }

            /// One step in the finding's history and in the audit log.
            struct Step<'s> {
                finding_id: &'s str,
                host_id: &'s str,
                rule_id: &'s str,
                at: i64,
                actor: &'s str,
                action: Action,
                from: Option<Status>,
                to: Status,
                source_ip: Option<&'s str>,
                report_id: Option<&'s str>,
                comment: Option<&'s str>,
                details: serde_json::Value,
            }

            async fn record(tx: &mut Tx<'_>, s: Step<'_>) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO finding_history (finding_id, at, actor, action, from_status, to_status, source_ip, \
                     report_id, comment, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(s.finding_id)
                .bind(s.at)
                .bind(s.actor)
                .bind(s.action.as_str())
                .bind(s.from.map(Status::as_str))
                .bind(s.to.as_str())
                .bind(s.source_ip)
                .bind(s.report_id)
                .bind(s.comment)
                .bind(s.details.to_string())
                .execute(&mut **tx)
                .await?;
                let details = serde_json::json!({
                    "host_id": s.host_id,
                    "rule_id": s.rule_id,
                    "from": s.from.map(Status::as_str),
                    "to": s.to.as_str(),
                    "report_id": s.report_id,
                    "comment": s.comment,
                    "details": s.details,
                });
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, target, source_ip, details) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(s.at)
                .bind(s.actor)
                .bind(format!("finding.{}", s.action.as_str()))
                .bind(s.finding_id)
                .bind(s.source_ip)
                .bind(details.to_string())
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn apply_change(
                tx: &mut Tx<'_>,
                outcome: &HostOutcome,
                change: &Change,
                now: DateTime<Utc>,
                report_id: Option<&str>,
                actor: &str,
                summary: &mut ApplySummary,
            ) -> Result<(), StoreError> {
                let (host_id, kind) = (outcome.host_id.as_str(), outcome.kind);
                let at = to_ms(now);
                let step = |id: &'_ str, rule_id: &'_ str, action: Action, from: Option<Status>| (id.to_owned(), rule_id.to_owned(), action, from);
                let (id, rule_id, action, from) = match change {
                    Change::Open { id, found } => {
                        let done = sqlx::query(
                            "INSERT INTO findings (id, host_id, kind, rule_id, subject, title, severity, \
                             severity_rank, status, evidence, remediation, sla_days, first_seen, due_at, created_at, \
                             updated_at) VALUES ($1, $2, $12, $3, $13, $4, $5, $6, 'open', $7, $8, $9, $10, $11, \
                             $10, $10) ON CONFLICT DO NOTHING",
                        )
                        .bind(id)
                        .bind(host_id)
                        .bind(&found.rule_id)
                        .bind(&found.title)
                        .bind(found.severity.as_str())
                        .bind(i64::from(found.severity.rank()))
                        .bind(evidence_json(&found.evidence))
                        .bind(&found.remediation)
                        .bind(i64::from(found.sla_days))
                        .bind(at)
                        .bind(to_ms(due_at(now, found.sla_days)))
                        .bind(kind.as_str())
                        .bind(&found.subject)
                        .execute(&mut **tx)
                        .await?;
                        if done.rows_affected() == 0 {
                            return Ok(());
                        }
                        summary.opened += 1;
                        step(id, &found.rule_id, Action::Open, None)
                    }
                    Change::Recur { id, found } => {
                        let done = sqlx::query(
                            "UPDATE findings SET status = 'reopened', title = $1, severity = $2, severity_rank = $3, \
                             evidence = $4, remediation = $5, sla_days = $6, first_seen = $7, due_at = $8, \
                             updated_at = $7, acknowledged_by = NULL, acknowledged_at = NULL, ack_comment = NULL, \
                             risk_accepted_by = NULL, risk_accepted_at = NULL, risk_reason = NULL, \
                             risk_expires_at = NULL, resolved_at = NULL, resolved_report_id = NULL \
                             WHERE id = $9 AND status = 'resolved'",
                        )
                        .bind(&found.title)
                        .bind(found.severity.as_str())
                        .bind(i64::from(found.severity.rank()))
                        .bind(evidence_json(&found.evidence))
                        .bind(&found.remediation)
                        .bind(i64::from(found.sla_days))
                        .bind(at)
                        .bind(to_ms(due_at(now, found.sla_days)))
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                        if done.rows_affected() == 0 {
                            return Ok(());
                        }
                        summary.reopened += 1;
                        step(id, &found.rule_id, Action::Recur, Some(Status::Resolved))
                    }
                    Change::Refresh { id, found, due_at } => {
                        sqlx::query(
                            "UPDATE findings SET title = $1, severity = $2, severity_rank = $3, evidence = $4, \
                             remediation = $5, sla_days = $6, due_at = $7, updated_at = $8 \
                             WHERE id = $9 AND status <> 'resolved'",
                        )
                        .bind(&found.title)
                        .bind(found.severity.as_str())
                        .bind(i64::from(found.severity.rank()))
                        .bind(evidence_json(&found.evidence))
                        .bind(&found.remediation)
                        .bind(i64::from(found.sla_days))
                        .bind(to_ms(*due_at))
                        .bind(at)
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                        summary.refreshed += 1;
                        return Ok(());
                    }
                    Change::Resolve { id, from } => {
                        let done = sqlx::query(
                            "UPDATE findings SET status = 'resolved', resolved_at = $1, resolved_report_id = $2, \
                             updated_at = $1 WHERE id = $3 AND status = $4",
                        )
                        .bind(at)
                        .bind(report_id)
                        .bind(id)
                        .bind(from.as_str())
                        .execute(&mut **tx)
                        .await?;
                        if done.rows_affected() == 0 {
                            return Ok(());
                        }
                        summary.resolved += 1;
                        let rule: String = sqlx::query("SELECT rule_id FROM findings WHERE id = $1")
                            .bind(id)
                            .fetch_one(&mut **tx)
                            .await?
                            .try_get("rule_id")?;
                        step(id, &rule, Action::Resolve, Some(*from))
                    }
                };
                let to = action.transition().1;
                record(
                    tx,
                    Step {
                        finding_id: &id,
                        host_id,
                        rule_id: &rule_id,
                        at,
                        actor,
                        action,
                        from,
                        to,
                        source_ip: None,
                        report_id,
                        comment: None,
                        details: serde_json::json!({}),
                    },
                )
                .await
            }

            fn push_filter(qb: &mut QueryBuilder<'_, $db>, f: &FindingFilter) {
                qb.push(" WHERE 1 = 1");
                if let Some(severity) = f.severity {
                    qb.push(" AND f.severity = ").push_bind(severity.as_str());
                }
                if let Some(status) = f.status {
                    qb.push(" AND f.status = ").push_bind(status.as_str());
                }
                if let Some(rule) = &f.rule_id {
                    qb.push(" AND f.rule_id = ").push_bind(rule.clone());
                }
                if let Some(host) = &f.host_id {
                    qb.push(" AND f.host_id = ").push_bind(host.clone());
                }
                if let Some(kind) = f.kind {
                    qb.push(" AND f.kind = ").push_bind(kind.as_str());
                }
                if let Some(overdue) = f.overdue {
                    qb.push(if overdue { " AND " } else { " AND NOT " });
                    qb.push("(f.status IN ('open', 'acknowledged', 'reopened') AND f.due_at < ")
                        .push_bind(to_ms(f.now))
                        .push(")");
                }
            }

            #[async_trait]
            impl FindingsStore for $store {
                async fn load_host_facts(
                    &self,
                    host_id: &str,
                    now: DateTime<Utc>,
                ) -> Result<Option<HostFacts>, StoreError> {
                    let patches: Option<Patches> = match sqlx::query(
                        "SELECT content FROM host_sections WHERE host_id = $1 AND section = 'patches'",
                    )
                    .bind(host_id)
                    .fetch_optional(&self.pool)
                    .await?
                    {
                        Some(r) => serde_json::from_str(&r.try_get::<String, _>("content")?).ok(),
                        None => None,
                    };
                    let stored: Vec<PendingSecurityUpdate> =
                        sqlx::query("SELECT * FROM pending_security_updates WHERE host_id = $1")
                            .bind(host_id)
                            .fetch_all(&self.pool)
                            .await?
                            .iter()
                            .map(pending_from_row)
                            .collect::<Result<_, _>>()?;
                    // Pending updates unknown (no patches section, or no pending list): keep what was recorded.
                    if let Some(pending) = patches.and_then(|p| p.pending) {
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
                                    p.installed_version == u.installed_version
                                        && p.candidate_version == u.candidate_version
                                })
                            });
                        if !unchanged {
                            let mut tx = self.pool.begin().await?;
                            for (name, arch) in known.keys().filter(|k| !current.contains_key(*k)) {
                                sqlx::query(
                                    "DELETE FROM pending_security_updates WHERE host_id = $1 AND name = $2 AND arch = $3",
                                )
                                .bind(host_id)
                                .bind(name)
                                .bind(arch)
                                .execute(&mut *tx)
                                .await?;
                            }
                            for ((name, arch), u) in &current {
                                sqlx::query(
                                    "INSERT INTO pending_security_updates (host_id, name, arch, installed_version, \
                                     candidate_version, origin, first_seen) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                                     ON CONFLICT (host_id, name, arch) DO UPDATE SET \
                                     installed_version = excluded.installed_version, \
                                     candidate_version = excluded.candidate_version, origin = excluded.origin",
                                )
                                .bind(host_id)
                                .bind(name)
                                .bind(arch)
                                .bind(&u.installed_version)
                                .bind(&u.candidate_version)
                                .bind(u.origin.clone().unwrap_or_default())
                                .bind(to_ms(now))
                                .execute(&mut *tx)
                                .await?;
                            }
                            tx.commit().await?;
                        }
                    }
                    let mut page = self.host_facts_in(Some(host_id), "", 1).await?;
                    Ok(page.pop())
                }

                async fn host_facts_page(&self, after: &str, limit: i64) -> Result<Vec<HostFacts>, StoreError> {
                    self.host_facts_in(None, after, limit).await
                }

                async fn apply_evaluation(
                    &self,
                    outcome: &HostOutcome,
                    now: DateTime<Utc>,
                    report_id: Option<&str>,
                    actor: &str,
                ) -> Result<ApplySummary, StoreError> {
                    let host_id = outcome.host_id.as_str();
                    // Most evaluations change nothing: find out without taking a write lock.
                    if outcome.plan(&existing_findings(&self.pool, host_id, outcome.kind).await?).is_empty() {
                        return Ok(ApplySummary::default());
                    }
                    let mut tx = self.pool.begin().await?;
                    let locked = sqlx::query("UPDATE hosts SET last_seen = last_seen WHERE id = $1")
                        .bind(host_id)
                        .execute(&mut *tx)
                        .await?;
                    if locked.rows_affected() == 0 {
                        return Ok(ApplySummary::default());
                    }
                    let plan = outcome.plan(&existing_findings(&mut *tx, host_id, outcome.kind).await?);
                    let mut summary = ApplySummary::default();
                    for change in &plan {
                        apply_change(&mut tx, outcome, change, now, report_id, actor, &mut summary).await?;
                    }
                    tx.commit().await?;
                    Ok(summary)
                }

                async fn expire_risk_acceptances(
                    &self,
                    now: DateTime<Utc>,
                    actor: &str,
                ) -> Result<Vec<String>, StoreError> {
                    let due = sqlx::query(
                        "SELECT id, host_id, rule_id, risk_expires_at FROM findings \
                         WHERE status = 'risk_accepted' AND risk_expires_at <= $1 ORDER BY id",
                    )
                    .bind(to_ms(now))
                    .fetch_all(&self.pool)
                    .await?;
                    let mut expired = Vec::new();
                    for r in &due {
                        let id: String = r.try_get("id")?;
                        let host_id: String = r.try_get("host_id")?;
                        let rule_id: String = r.try_get("rule_id")?;
                        let expires: Option<i64> = r.try_get("risk_expires_at")?;
                        let mut tx = self.pool.begin().await?;
                        let done = sqlx::query(
                            "UPDATE findings SET status = 'reopened', updated_at = $1 \
                             WHERE id = $2 AND status = 'risk_accepted' AND risk_expires_at <= $1",
                        )
                        .bind(to_ms(now))
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() == 1 {
                            record(
                                &mut tx,
                                Step {
                                    finding_id: &id,
                                    host_id: &host_id,
                                    rule_id: &rule_id,
                                    at: to_ms(now),
                                    actor,
                                    action: Action::Expire,
                                    from: Some(Status::RiskAccepted),
                                    to: Status::Reopened,
                                    source_ip: None,
                                    report_id: None,
                                    comment: None,
                                    details: serde_json::json!({ "expired_at": opt_ms(expires) }),
                                },
                            )
                            .await?;
                            expired.push(id);
                        }
                        tx.commit().await?;
                    }
                    Ok(expired)
                }

                async fn transition_finding(
                    &self,
                    req: &TransitionRequest,
                ) -> Result<TransitionOutcome, StoreError> {
                    let (allowed, to) = req.action.transition();
                    let at = to_ms(req.at);
                    let mut tx = self.pool.begin().await?;
                    // Writing first takes the row lock (PostgreSQL) or the write lock (SQLite) before reading.
                    let touched = sqlx::query("UPDATE findings SET updated_at = updated_at WHERE id = $1")
                        .bind(&req.finding_id)
                        .execute(&mut *tx)
                        .await?;
                    if touched.rows_affected() == 0 {
                        return Ok(TransitionOutcome::NotFound);
                    }
                    let row = sqlx::query("SELECT host_id, rule_id, status FROM findings WHERE id = $1")
                        .bind(&req.finding_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let from = status_of(&row.try_get::<String, _>("status")?)?;
                    let host_id: String = row.try_get("host_id")?;
                    let rule_id: String = row.try_get("rule_id")?;
                    if !allowed.contains(&from) {
                        return Ok(TransitionOutcome::NotAllowed(from));
                    }
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new("UPDATE findings SET status = ");
                    qb.push_bind(to.as_str()).push(", updated_at = ").push_bind(at);
                    match req.action {
                        Action::Acknowledge => {
                            qb.push(", acknowledged_by = ").push_bind(req.actor.clone());
                            qb.push(", acknowledged_at = ").push_bind(at);
                            qb.push(", ack_comment = ").push_bind(req.comment.clone());
                        }
                        Action::AcceptRisk => {
                            qb.push(", risk_accepted_by = ").push_bind(req.actor.clone());
                            qb.push(", risk_accepted_at = ").push_bind(at);
                            qb.push(", risk_reason = ").push_bind(req.comment.clone());
                            qb.push(", risk_expires_at = ").push_bind(req.expires_at.map(to_ms));
                        }
                        _ => {}
                    }
                    qb.push(" WHERE id = ").push_bind(req.finding_id.clone());
                    qb.build().execute(&mut *tx).await?;
                    record(
                        &mut tx,
                        Step {
                            finding_id: &req.finding_id,
                            host_id: &host_id,
                            rule_id: &rule_id,
                            at,
                            actor: &req.actor,
                            action: req.action,
                            from: Some(from),
                            to,
                            source_ip: req.source_ip.as_deref(),
                            report_id: None,
                            comment: req.comment.as_deref(),
                            details: serde_json::json!({ "expires_at": req.expires_at }),
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    match self.get_finding(&req.finding_id, req.at).await? {
                        Some(view) => Ok(TransitionOutcome::Done(Box::new(view))),
                        None => Ok(TransitionOutcome::NotFound),
                    }
                }

                async fn list_findings(&self, filter: &FindingFilter) -> Result<FindingPage, StoreError> {
                    let mut count: QueryBuilder<'_, $db> = QueryBuilder::new("SELECT COUNT(*) AS n FROM findings f");
                    push_filter(&mut count, filter);
                    let total: i64 = count.build().fetch_one(&self.pool).await?.try_get("n")?;
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                        "SELECT {FINDING_COLUMNS} FROM findings f JOIN hosts h ON h.id = f.host_id"
                    ));
                    push_filter(&mut qb, filter);
                    qb.push(" ORDER BY f.severity_rank DESC, f.due_at, h.hostname, f.rule_id, f.id LIMIT ")
                        .push_bind(filter.limit)
                        .push(" OFFSET ")
                        .push_bind(filter.offset);
                    let rows = qb.build().fetch_all(&self.pool).await?;
                    let findings =
                        rows.iter().map(|r| finding_from_row(r, filter.now)).collect::<Result<Vec<_>, _>>()?;
                    let end = filter.offset + findings.len() as i64;
                    Ok(FindingPage {
                        findings,
                        total,
                        limit: filter.limit,
                        offset: filter.offset,
                        next_offset: (end < total).then_some(end),
                    })
                }

                async fn get_finding(&self, id: &str, now: DateTime<Utc>) -> Result<Option<FindingView>, StoreError> {
                    let row = sqlx::query(&format!(
                        "SELECT {FINDING_COLUMNS} FROM findings f JOIN hosts h ON h.id = f.host_id WHERE f.id = $1"
                    ))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(|r| finding_from_row(r, now)).transpose()
                }

                async fn finding_history(&self, id: &str) -> Result<Vec<FindingEvent>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT id, at, actor, action, from_status, to_status, source_ip, report_id, comment, details \
                         FROM finding_history WHERE finding_id = $1 ORDER BY at, id",
                    )
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            let from: Option<String> = r.try_get("from_status")?;
                            let details: String = r.try_get("details")?;
                            Ok(FindingEvent {
                                id: r.try_get("id")?,
                                at: from_ms(r.try_get("at")?),
                                actor: r.try_get("actor")?,
                                action: r.try_get("action")?,
                                from_status: from.as_deref().map(status_of).transpose()?,
                                to_status: status_of(&r.try_get::<String, _>("to_status")?)?,
                                source_ip: r.try_get("source_ip")?,
                                report_id: r.try_get("report_id")?,
                                comment: r.try_get("comment")?,
                                details: serde_json::from_str(&details)
                                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                            })
                        })
                        .collect()
                }

            }

            impl $store {
                /// Facts of one host (`only`), or of up to `limit` hosts after `after`.
                async fn host_facts_in(
                    &self,
                    only: Option<&str>,
                    after: &str,
                    limit: i64,
                ) -> Result<Vec<HostFacts>, StoreError> {
                    let hosts = match only {
                        Some(id) => sqlx::query(&format!("SELECT {HOST_FACT_COLUMNS} FROM hosts WHERE id = $1"))
                            .bind(id)
                            .fetch_all(&self.pool)
                            .await?,
                        None => sqlx::query(&format!(
                            "SELECT {HOST_FACT_COLUMNS} FROM hosts WHERE id > $1 ORDER BY id LIMIT $2"
                        ))
                        .bind(after)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?,
                    };
                    if hosts.is_empty() {
                        return Ok(Vec::new());
                    }
                    let ids: Vec<String> = hosts.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
                    let in_ids = |qb: &mut QueryBuilder<'_, $db>| {
                        let mut list = qb.separated(", ");
                        for id in &ids {
                            list.push_bind(id.clone());
                        }
                        qb.push(")");
                    };
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                        "SELECT host_id, section, content FROM host_sections WHERE section IN {FACT_SECTIONS} \
                         AND host_id IN ("
                    ));
                    in_ids(&mut qb);
                    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
                    for r in qb.build().fetch_all(&self.pool).await? {
                        sections
                            .entry(r.try_get("host_id")?)
                            .or_default()
                            .insert(r.try_get("section")?, r.try_get("content")?);
                    }
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "SELECT host_id, COUNT(*) AS n FROM host_software WHERE host_id IN (",
                    );
                    in_ids(&mut qb);
                    qb.push(" GROUP BY host_id");
                    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
                    for r in qb.build().fetch_all(&self.pool).await? {
                        counts.insert(r.try_get("host_id")?, r.try_get("n")?);
                    }
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("SELECT * FROM pending_security_updates WHERE host_id IN (");
                    in_ids(&mut qb);
                    qb.push(" ORDER BY host_id, name, arch");
                    let mut pending: BTreeMap<String, Vec<PendingSecurityUpdate>> = BTreeMap::new();
                    for r in qb.build().fetch_all(&self.pool).await? {
                        pending.entry(r.try_get("host_id")?).or_default().push(pending_from_row(&r)?);
                    }
                    let empty = BTreeMap::new();
                    hosts
                        .iter()
                        .zip(&ids)
                        .map(|(r, id)| {
                            facts_from_row(
                                r,
                                sections.get(id).unwrap_or(&empty),
                                counts.get(id).copied().unwrap_or(0),
                                pending.remove(id).unwrap_or_default(),
                            )
                        })
                        .collect()
                }
            }
        };
    };
}

impl_findings_store!(super::SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
impl_findings_store!(super::PgStore, sqlx::Postgres, sqlx::postgres::PgRow);

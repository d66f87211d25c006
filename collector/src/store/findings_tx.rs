//! The write transaction of findings: plain reads and writes of finding rows, their history, the audit log, the
//! pending-security-update bookkeeping, a host's next evaluation and the end of its queued work's claim, no
//! decision. The use cases in `crate::app::findings` and `crate::app::queue` plan with the pure lifecycle
//! (`crate::findings`) and write the plan through it; every write is conditional on the status the plan
//! was made from, so replicas working on the same host neither duplicate nor lose a step. Dropping it without
//! [`FindingsTx::commit`] rolls everything back.
//!
//! Both backends share one body (`impl_findings_tx!`, instantiated in `sqlite.rs` and `postgres.rs`), as
//! `store/tx.rs` explains.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::work::WorkItem;
use super::{AuditRecord, StoreError};
use crate::model::Severity;
use crate::model::facts::{HostFacts, PendingSecurityUpdate};
use crate::model::findings::{ExistingFinding, FindingKind, Matched, Status};
use crate::model::integrations::{FindingBrief, NewEvent, Subscription};

/// The `SET` assignments that make a host due at the next scheduled evaluation after a change to its facts made
/// without a report: every such write uses them, so an evaluation that read the facts before it sees the count
/// moved (`FindingsStore::schedule_evaluation`).
pub(crate) const MARK_DUE: &str = "evaluate_after = NULL, facts_marks = facts_marks + 1";

/// A finding to create; the use case chose its id, first-seen time and due date.
#[derive(Debug, Clone)]
pub struct NewFinding<'a> {
    pub id: &'a str,
    pub host_id: &'a str,
    pub kind: FindingKind,
    pub found: &'a Matched,
    pub first_seen: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// A finding's owner and status, read under its row lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingHead {
    pub host_id: String,
    pub rule_id: String,
    pub status: Status,
    pub risk_expires_at: Option<DateTime<Utc>>,
}

/// Who acknowledged or accepted a risk, written with a status change.
#[derive(Debug, Clone)]
pub enum Triage<'a> {
    None,
    Acknowledged { by: &'a str, comment: Option<&'a str> },
    RiskAccepted { by: &'a str, reason: Option<&'a str>, expires_at: Option<DateTime<Utc>> },
}

/// A status change by a person or by expiry, written only if the finding is still in `from`.
#[derive(Debug, Clone)]
pub struct StatusWrite<'a> {
    pub id: &'a str,
    pub from: Status,
    pub to: Status,
    pub at: DateTime<Utc>,
    pub triage: Triage<'a>,
}

/// One row of a finding's history.
#[derive(Debug, Clone)]
pub struct HistoryStep<'a> {
    pub finding_id: &'a str,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    /// `Action::as_str`.
    pub action: &'a str,
    pub from: Option<Status>,
    pub to: Status,
    pub source_ip: Option<&'a str>,
    pub report_id: Option<&'a str>,
    pub comment: Option<&'a str>,
    pub details: serde_json::Value,
}

#[async_trait]
pub trait FindingsTx: Send {
    /// Locks the host's row so evaluations of one host are serialised (and SQLite takes its write lock before
    /// reading). False when there is no such host.
    async fn lock_host(&mut self, host_id: &str) -> Result<bool, StoreError>;
    /// Makes the host due at the next scheduled evaluation: its facts changed without a report (its
    /// vulnerability findings, which rules read as `covered`).
    async fn mark_evaluation_due(&mut self, host_id: &str) -> Result<(), StoreError>;
    async fn existing_findings(&mut self, host_id: &str, kind: FindingKind)
    -> Result<Vec<ExistingFinding>, StoreError>;
    /// False when the row already exists (another replica created it).
    async fn insert_finding(&mut self, new: &NewFinding<'_>) -> Result<bool, StoreError>;
    /// A resolved finding matched again: new occurrence, triage cleared. False when it is no longer resolved.
    async fn recur_finding(
        &mut self,
        id: &str,
        found: &Matched,
        first_seen: DateTime<Utc>,
        due_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// New text, severity, SLA or evidence of a finding that is not resolved.
    async fn refresh_finding(
        &mut self,
        id: &str,
        found: &Matched,
        due_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// False when the finding is no longer in `from`.
    async fn resolve_finding(
        &mut self,
        id: &str,
        from: Status,
        at: DateTime<Utc>,
        report_id: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Locks one finding's row and reads its owner and status; `None` when there is no such finding.
    async fn lock_finding(&mut self, id: &str) -> Result<Option<FindingHead>, StoreError>;
    /// Notes that the escalation of an active finding due before `now` is being sent for its current due date
    /// (which locks its row), and returns its owner and status with that date; `None` when it is not active, not yet
    /// due, or already escalated for that date (another replica got there first).
    async fn mark_overdue(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(FindingHead, DateTime<Utc>)>, StoreError>;
    /// False when the finding is no longer in `write.from`.
    async fn set_finding_status(&mut self, write: &StatusWrite<'_>) -> Result<bool, StoreError>;
    async fn insert_finding_history(&mut self, step: &HistoryStep<'_>) -> Result<(), StoreError>;
    async fn audit(&mut self, record: &AuditRecord) -> Result<(), StoreError>;

    /// The enabled integrations, for deciding which want an event of this transaction.
    async fn subscriptions(&mut self) -> Result<Vec<Subscription>, StoreError>;
    /// What an event about the finding tells of it; `None` when there is no such finding.
    async fn finding_brief(&mut self, id: &str) -> Result<Option<FindingBrief>, StoreError>;
    /// The event and its deliveries to `integration_ids`, committed or rolled back with the change it tells.
    async fn insert_event(&mut self, event: &NewEvent, integration_ids: &[String]) -> Result<(), StoreError>;

    async fn delete_pending_security_update(&mut self, host_id: &str, name: &str, arch: &str)
    -> Result<(), StoreError>;
    /// Inserts the update with its `first_seen`, or updates its versions and origin keeping the first `first_seen`.
    async fn upsert_pending_security_update(
        &mut self,
        host_id: &str,
        update: &PendingSecurityUpdate,
    ) -> Result<(), StoreError>;

    /// When the host's evaluation is next due, unless its facts moved since `facts` were read (see
    /// `FindingsStore::schedule_evaluation`).
    async fn schedule_evaluation(&mut self, facts: &HostFacts, next: DateTime<Utc>) -> Result<(), StoreError>;
    /// Ends a claim on the host's queued work, in the transaction that wrote its results, so done and its results
    /// are committed together: removes the host's row when nothing was queued since `item` was claimed (true);
    /// otherwise frees the claim so the newer work runs next (false). Nothing is written when the row no longer
    /// holds `item`'s claim.
    async fn finish_work(&mut self, item: &WorkItem) -> Result<bool, StoreError>;

    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
    /// Ends the transaction without keeping its work after `why` failed it. Dropping it does the same, but only this
    /// tells SQLite's group commit the fault (`store/group_commit.rs`): when SQLite ended the whole shared
    /// transaction, the reports in it are answered with that fault (a full disk: `storage_full`), not as busy.
    fn give_up(self: Box<Self>, why: &StoreError);
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

pub(super) fn status_of(text: &str) -> Result<Status, StoreError> {
    Status::parse(text).ok_or_else(|| corrupt("finding status", text))
}

pub(super) fn severity_of(text: &str) -> Result<Severity, StoreError> {
    Severity::parse(text).ok_or_else(|| corrupt("severity", text))
}

pub(super) fn kind_of(text: &str) -> Result<FindingKind, StoreError> {
    FindingKind::parse(text).ok_or_else(|| corrupt("finding kind", text))
}

pub(super) fn evidence_of(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("finding evidence: {e}")))
}

pub(super) fn details_of(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("finding details: {e}")))
}

pub(super) fn evidence_json(evidence: &[String]) -> String {
    serde_json::Value::from(evidence.to_vec()).to_string()
}

pub(super) fn sla_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// A stored priority score; rows outside `u32` cannot come from `vuln::priority` and read as the lowest.
pub(super) fn priority_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

macro_rules! impl_findings_tx {
    ($db:ty, conn: $conn:ty, $key_share:expr) => {
        pub(crate) mod findings_tx {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Row};

            use crate::model::facts::{HostFacts, PendingSecurityUpdate};
            use crate::store::work::WorkItem;
            use crate::model::findings::{ExistingFinding, FindingKind, Matched, Status};
            use crate::model::{from_ms, to_ms};
            use crate::store::findings_tx::{
                FindingHead, FindingsTx, HistoryStep, NewFinding, StatusWrite, Triage, details_of, evidence_json, evidence_of, priority_of,
                severity_of, sla_of, status_of,
            };
            use crate::store::console::ACTIVE;
            use crate::store::{AuditRecord, StoreError};

            /// On the host transactions' connection: on SQLite a member of the writer's open group
            /// (`group_commit.rs`), so a host's findings share a commit, and a turn, with the reports being written.
            pub(crate) struct Tx(pub(crate) $conn);

            /// An outbox event and one pending delivery per subscription; the integration store's own writes
            /// (`store/integrations.rs`) use it too. Returns the event's sequence number.
            pub(crate) async fn insert_event_rows(
                conn: &mut <$db as sqlx::Database>::Connection,
                event: &crate::model::integrations::NewEvent,
                integration_ids: &[String],
            ) -> Result<i64, StoreError> {
                let seq: i64 = sqlx::query_scalar(
                    "INSERT INTO events (id, type, at, body) VALUES ($1, $2, $3, $4) RETURNING seq",
                )
                .bind(&event.id)
                .bind(&event.event_type)
                .bind(to_ms(event.at))
                .bind(&event.body)
                .fetch_one(&mut *conn)
                .await?;
                if !integration_ids.is_empty() {
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("INSERT INTO deliveries (integration_id, event_seq, status) ");
                    qb.push_values(integration_ids, |mut b, id| {
                        b.push_bind(id.clone()).push_bind(seq).push_bind("pending");
                    });
                    qb.build().execute(&mut *conn).await?;
                }
                Ok(seq)
            }

            /// A finding's owner and status from a row with those columns.
            fn head_of(row: &<$db as sqlx::Database>::Row) -> Result<FindingHead, StoreError> {
                Ok(FindingHead {
                    host_id: row.try_get("host_id")?,
                    rule_id: row.try_get("rule_id")?,
                    status: status_of(&row.try_get::<String, _>("status")?)?,
                    risk_expires_at: row.try_get::<Option<i64>, _>("risk_expires_at")?.map(from_ms),
                })
            }

            /// The enabled subscriptions, in a transaction that may write their deliveries; the host transaction
            /// (`store/tx.rs`) uses it too. PostgreSQL: held until commit, so removing an integration waits for
            /// this transaction instead of failing its delivery rows' foreign key. SQLite's one writer needs no lock.
            pub(crate) async fn subscription_rows(
                conn: &mut <$db as sqlx::Database>::Connection,
            ) -> Result<Vec<crate::model::integrations::Subscription>, StoreError> {
                let rows =
                    sqlx::query(concat!(
                        "SELECT id, kind, events, min_severity, rules, tags FROM integrations WHERE enabled",
                        $key_share
                    ))
                        .fetch_all(&mut *conn)
                        .await?;
                rows.iter()
                    .map(|r| {
                        let min: Option<String> = r.try_get("min_severity")?;
                        let kind: String = r.try_get("kind")?;
                        Ok(crate::model::integrations::Subscription {
                            id: r.try_get("id")?,
                            kind: crate::model::integrations::IntegrationKind::parse(&kind)
                                .ok_or_else(|| StoreError::Corrupt(format!("integration kind {kind:?}")))?,
                            events: crate::store::integrations::events_of(&r.try_get::<String, _>("events")?)?,
                            min_severity: min.as_deref().and_then(crate::model::Severity::parse),
                            rules: crate::store::integrations::events_of(&r.try_get::<String, _>("rules")?)?,
                            tags: crate::store::integrations::events_of(&r.try_get::<String, _>("tags")?)?,
                        })
                    })
                    .collect()
            }

            /// One audit row; the store's own audit writes (`store/sql.rs`) use it too.
            pub(crate) async fn insert_audit(
                executor: impl sqlx::Executor<'_, Database = $db>,
                record: &AuditRecord,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, target, source_ip, details) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(to_ms(record.at))
                .bind(&record.actor)
                .bind(&record.action)
                .bind(&record.target)
                .bind(&record.source_ip)
                .bind(record.details.to_string())
                .execute(executor)
                .await?;
                Ok(())
            }

            /// Shared with the store's lock-free read (`FindingsStore::existing_findings`).
            pub(crate) async fn existing_findings(
                executor: impl sqlx::Executor<'_, Database = $db>,
                host_id: &str,
                kind: FindingKind,
            ) -> Result<Vec<ExistingFinding>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, rule_id, subject, status, title, severity, evidence, remediation, sla_days, \
                     first_seen, due_at, details, priority FROM findings WHERE host_id = $1 AND kind = $2",
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
                            details: details_of(&r.try_get::<String, _>("details")?)?,
                            priority: priority_of(r.try_get("priority")?),
                        })
                    })
                    .collect()
            }

            #[async_trait]
            impl FindingsTx for Tx {
                async fn lock_host(&mut self, host_id: &str) -> Result<bool, StoreError> {
                    let locked = sqlx::query("UPDATE hosts SET last_seen = last_seen WHERE id = $1")
                        .bind(host_id)
                        .execute(self.0.conn()?)
                        .await?;
                    Ok(locked.rows_affected() > 0)
                }

                async fn mark_evaluation_due(&mut self, host_id: &str) -> Result<(), StoreError> {
                    sqlx::query(&format!("UPDATE hosts SET {} WHERE id = $1", $crate::store::findings_tx::MARK_DUE))
                        .bind(host_id)
                        .execute(self.0.conn()?)
                        .await?;
                    Ok(())
                }

                async fn existing_findings(
                    &mut self,
                    host_id: &str,
                    kind: FindingKind,
                ) -> Result<Vec<ExistingFinding>, StoreError> {
                    existing_findings(self.0.conn()?, host_id, kind).await
                }

                async fn insert_finding(&mut self, new: &NewFinding<'_>) -> Result<bool, StoreError> {
                    let found = new.found;
                    let done = sqlx::query(
                        "INSERT INTO findings (id, host_id, kind, rule_id, subject, title, severity, \
                         severity_rank, status, evidence, remediation, sla_days, first_seen, due_at, created_at, \
                         updated_at, details, priority) VALUES ($1, $2, $12, $3, $13, $4, $5, $6, 'open', $7, $8, \
                         $9, $10, $11, $10, $10, $14, $15) ON CONFLICT DO NOTHING",
                    )
                    .bind(new.id)
                    .bind(new.host_id)
                    .bind(&found.rule_id)
                    .bind(&found.title)
                    .bind(found.severity.as_str())
                    .bind(i64::from(found.severity.rank()))
                    .bind(evidence_json(&found.evidence))
                    .bind(&found.remediation)
                    .bind(i64::from(found.sla_days))
                    .bind(to_ms(new.first_seen))
                    .bind(to_ms(new.due_at))
                    .bind(new.kind.as_str())
                    .bind(&found.subject)
                    .bind(found.details.to_string())
                    .bind(i64::from(found.priority))
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn recur_finding(
                    &mut self,
                    id: &str,
                    found: &Matched,
                    first_seen: DateTime<Utc>,
                    due_at: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE findings SET status = 'reopened', title = $1, severity = $2, severity_rank = $3, \
                         evidence = $4, remediation = $5, sla_days = $6, first_seen = $7, due_at = $8, \
                         updated_at = $7, acknowledged_by = NULL, acknowledged_at = NULL, ack_comment = NULL, \
                         risk_accepted_by = NULL, risk_accepted_at = NULL, risk_reason = NULL, \
                         risk_expires_at = NULL, resolved_at = NULL, resolved_report_id = NULL, details = $10, \
                         priority = $11 WHERE id = $9 AND status = 'resolved'",
                    )
                    .bind(&found.title)
                    .bind(found.severity.as_str())
                    .bind(i64::from(found.severity.rank()))
                    .bind(evidence_json(&found.evidence))
                    .bind(&found.remediation)
                    .bind(i64::from(found.sla_days))
                    .bind(to_ms(first_seen))
                    .bind(to_ms(due_at))
                    .bind(id)
                    .bind(found.details.to_string())
                    .bind(i64::from(found.priority))
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn refresh_finding(
                    &mut self,
                    id: &str,
                    found: &Matched,
                    due_at: DateTime<Utc>,
                    at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE findings SET title = $1, severity = $2, severity_rank = $3, evidence = $4, \
                         remediation = $5, sla_days = $6, due_at = $7, updated_at = $8, details = $10, \
                         priority = $11 WHERE id = $9 AND status <> 'resolved'",
                    )
                    .bind(&found.title)
                    .bind(found.severity.as_str())
                    .bind(i64::from(found.severity.rank()))
                    .bind(evidence_json(&found.evidence))
                    .bind(&found.remediation)
                    .bind(i64::from(found.sla_days))
                    .bind(to_ms(due_at))
                    .bind(to_ms(at))
                    .bind(id)
                    .bind(found.details.to_string())
                    .bind(i64::from(found.priority))
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(())
                }

                async fn resolve_finding(
                    &mut self,
                    id: &str,
                    from: Status,
                    at: DateTime<Utc>,
                    report_id: Option<&str>,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE findings SET status = 'resolved', resolved_at = $1, resolved_report_id = $2, \
                         updated_at = $1 WHERE id = $3 AND status = $4",
                    )
                    .bind(to_ms(at))
                    .bind(report_id)
                    .bind(id)
                    .bind(from.as_str())
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn lock_finding(&mut self, id: &str) -> Result<Option<FindingHead>, StoreError> {
                    // Writing first takes the row lock (PostgreSQL) or the write lock (SQLite) before reading.
                    let touched = sqlx::query("UPDATE findings SET updated_at = updated_at WHERE id = $1")
                        .bind(id)
                        .execute(self.0.conn()?)
                        .await?;
                    if touched.rows_affected() == 0 {
                        return Ok(None);
                    }
                    let row = sqlx::query(
                        "SELECT host_id, rule_id, status, risk_expires_at FROM findings WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_one(self.0.conn()?)
                    .await?;
                    Ok(Some(head_of(&row)?))
                }

                async fn mark_overdue(
                    &mut self,
                    id: &str,
                    now: DateTime<Utc>,
                ) -> Result<Option<(FindingHead, DateTime<Utc>)>, StoreError> {
                    let marked = sqlx::query(&format!(
                        "UPDATE findings SET overdue_sent_for = due_at WHERE id = $1 AND status IN {ACTIVE} \
                         AND due_at < $2 AND (overdue_sent_for IS NULL OR overdue_sent_for <> due_at)"
                    ))
                    .bind(id)
                    .bind(to_ms(now))
                    .execute(self.0.conn()?)
                    .await?;
                    if marked.rows_affected() == 0 {
                        return Ok(None);
                    }
                    let row = sqlx::query(
                        "SELECT host_id, rule_id, status, risk_expires_at, due_at FROM findings WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_one(self.0.conn()?)
                    .await?;
                    Ok(Some((head_of(&row)?, from_ms(row.try_get("due_at")?))))
                }

                async fn set_finding_status(&mut self, w: &StatusWrite<'_>) -> Result<bool, StoreError> {
                    let at = to_ms(w.at);
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new("UPDATE findings SET status = ");
                    qb.push_bind(w.to.as_str()).push(", updated_at = ").push_bind(at);
                    match &w.triage {
                        Triage::None => {}
                        Triage::Acknowledged { by, comment } => {
                            qb.push(", acknowledged_by = ").push_bind(by.to_string());
                            qb.push(", acknowledged_at = ").push_bind(at);
                            qb.push(", ack_comment = ").push_bind(comment.map(str::to_owned));
                        }
                        Triage::RiskAccepted { by, reason, expires_at } => {
                            qb.push(", risk_accepted_by = ").push_bind(by.to_string());
                            qb.push(", risk_accepted_at = ").push_bind(at);
                            qb.push(", risk_reason = ").push_bind(reason.map(str::to_owned));
                            qb.push(", risk_expires_at = ").push_bind(expires_at.map(to_ms));
                        }
                    }
                    qb.push(" WHERE id = ").push_bind(w.id.to_owned());
                    qb.push(" AND status = ").push_bind(w.from.as_str());
                    let done = qb.build().execute(self.0.conn()?).await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn insert_finding_history(&mut self, s: &HistoryStep<'_>) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO finding_history (finding_id, at, actor, action, from_status, to_status, \
                         source_ip, report_id, comment, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(s.finding_id)
                    .bind(to_ms(s.at))
                    .bind(s.actor)
                    .bind(s.action)
                    .bind(s.from.map(Status::as_str))
                    .bind(s.to.as_str())
                    .bind(s.source_ip)
                    .bind(s.report_id)
                    .bind(s.comment)
                    .bind(s.details.to_string())
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(())
                }

                async fn audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
                    insert_audit(self.0.conn()?, record).await
                }

                async fn subscriptions(
                    &mut self,
                ) -> Result<Vec<crate::model::integrations::Subscription>, StoreError> {
                    subscription_rows(self.0.conn()?).await
                }

                async fn finding_brief(
                    &mut self,
                    id: &str,
                ) -> Result<Option<crate::model::integrations::FindingBrief>, StoreError> {
                    let row = sqlx::query(
                        "SELECT h.hostname, h.tags, f.kind, f.subject, f.title, f.severity, f.due_at FROM findings f \
                         JOIN hosts h ON h.id = f.host_id WHERE f.id = $1",
                    )
                    .bind(id)
                    .fetch_optional(self.0.conn()?)
                    .await?;
                    row.map(|r| {
                        Ok(crate::model::integrations::FindingBrief {
                            hostname: r.try_get("hostname")?,
                            kind: r.try_get("kind")?,
                            subject: r.try_get("subject")?,
                            title: r.try_get("title")?,
                            severity: severity_of(&r.try_get::<String, _>("severity")?)?,
                            due_at: from_ms(r.try_get("due_at")?),
                            tags: serde_json::from_str(&r.try_get::<String, _>("tags")?)
                                .map_err(|e| StoreError::Corrupt(format!("host tags: {e}")))?,
                        })
                    })
                    .transpose()
                }

                async fn insert_event(
                    &mut self,
                    event: &crate::model::integrations::NewEvent,
                    integration_ids: &[String],
                ) -> Result<(), StoreError> {
                    insert_event_rows(self.0.conn()?, event, integration_ids).await.map(|_| ())
                }

                async fn delete_pending_security_update(
                    &mut self,
                    host_id: &str,
                    name: &str,
                    arch: &str,
                ) -> Result<(), StoreError> {
                    sqlx::query("DELETE FROM pending_security_updates WHERE host_id = $1 AND name = $2 AND arch = $3")
                        .bind(host_id)
                        .bind(name)
                        .bind(arch)
                        .execute(self.0.conn()?)
                        .await?;
                    Ok(())
                }

                async fn upsert_pending_security_update(
                    &mut self,
                    host_id: &str,
                    u: &PendingSecurityUpdate,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO pending_security_updates (host_id, name, arch, installed_version, \
                         candidate_version, origin, first_seen) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (host_id, name, arch) DO UPDATE SET \
                         installed_version = excluded.installed_version, \
                         candidate_version = excluded.candidate_version, origin = excluded.origin",
                    )
                    .bind(host_id)
                    .bind(&u.name)
                    .bind(&u.arch)
                    .bind(&u.installed_version)
                    .bind(&u.candidate_version)
                    .bind(&u.origin)
                    .bind(to_ms(u.first_seen))
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(())
                }

                async fn schedule_evaluation(
                    &mut self,
                    facts: &HostFacts,
                    next: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE hosts SET evaluate_after = CASE WHEN last_seen = $1 AND facts_marks = $2 THEN $3 \
                         ELSE NULL END WHERE id = $4",
                    )
                    .bind(to_ms(facts.last_seen))
                    .bind(facts.marks)
                    .bind(to_ms(next))
                    .bind(&facts.host_id)
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(())
                }

                async fn finish_work(&mut self, item: &WorkItem) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "DELETE FROM host_work WHERE host_id = $1 AND seq = $2 AND claimed_by = $3 \
                         AND claimed_until = $4",
                    )
                    .bind(&item.host_id)
                    .bind(item.seq)
                    .bind(&item.claimed_by)
                    .bind(to_ms(item.claimed_until))
                    .execute(self.0.conn()?)
                    .await?;
                    if done.rows_affected() > 0 {
                        return Ok(true);
                    }
                    // Queued again meanwhile: what remains waits since the first report that queued it. A claim
                    // that is no longer this one's (its lease ran out) is left alone.
                    sqlx::query(
                        "UPDATE host_work SET claimed_by = NULL, claimed_until = NULL, attempts = 0, \
                         enqueued_at = COALESCE(requeued_at, enqueued_at), requeued_at = NULL \
                         WHERE host_id = $1 AND claimed_by = $2 AND claimed_until = $3",
                    )
                    .bind(&item.host_id)
                    .bind(&item.claimed_by)
                    .bind(to_ms(item.claimed_until))
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(false)
                }

                async fn commit(self: Box<Self>) -> Result<(), StoreError> {
                    self.0.commit().await?;
                    Ok(())
                }

                fn give_up(self: Box<Self>, why: &StoreError) {
                    self.0.give_up(why)
                }
            }

            pub(crate) fn pending_from_row(
                r: &<$db as sqlx::Database>::Row,
            ) -> Result<PendingSecurityUpdate, StoreError> {
                Ok(PendingSecurityUpdate {
                    name: r.try_get("name")?,
                    arch: r.try_get("arch")?,
                    installed_version: r.try_get("installed_version")?,
                    candidate_version: r.try_get("candidate_version")?,
                    origin: r.try_get("origin")?,
                    first_seen: from_ms(r.try_get("first_seen")?),
                })
            }
        }
    };
}

pub(super) use impl_findings_tx;

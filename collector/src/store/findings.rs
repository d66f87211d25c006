//! Reading findings, their history, and the facts rules are evaluated on; one body for SQLite and PostgreSQL.
//! Writes go through the findings transaction (`store/findings_tx.rs`) that the use cases in
//! `crate::app::findings` open: the store stores, the lifecycle decides.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use super::findings_tx::FindingsTx;
use crate::model::facts::HostFacts;
use crate::model::findings::{
    ExistingFinding, FindingEvent, FindingFilter, FindingKind, FindingPage, FindingSort, FindingView,
};

/// One page of the hosts an evaluation of all of them walks.
#[derive(Debug, Default)]
pub struct FactsPage {
    /// The facts of the page's hosts (those still due, when read for a scheduled run).
    pub facts: Vec<HostFacts>,
    /// Hosts in the page.
    pub hosts: usize,
    /// The page's last host id, to read the next page after.
    pub last: Option<String>,
}

/// What a scheduled run has to do.
#[derive(Debug, Default)]
pub struct DueHosts {
    /// The due hosts' ids, in order.
    pub ids: Vec<String>,
    /// Hosts whose evaluation is not due.
    pub not_due: usize,
}

#[async_trait]
pub trait FindingsStore: Send + Sync {
    /// A write transaction over findings (see [`FindingsTx`]).
    async fn begin_findings_tx(&self) -> Result<Box<dyn FindingsTx>, StoreError>;
    /// One host's findings of one kind, read without a lock: most evaluations change nothing, and finding that out
    /// should not take the write lock.
    async fn existing_findings(&self, host_id: &str, kind: FindingKind) -> Result<Vec<ExistingFinding>, StoreError>;
    /// One host's facts, with its pending security updates as recorded.
    async fn host_facts(&self, host_id: &str) -> Result<Option<HostFacts>, StoreError>;
    /// Up to `limit` hosts with ids after `after`, by id, with their facts: what a run evaluating every host walks.
    async fn host_facts_page(&self, after: &str, limit: i64) -> Result<FactsPage, StoreError>;
    /// The hosts due for evaluation by `due_by` (see [`FindingsStore::schedule_evaluation`]), by id, and how many
    /// hosts are not: read from the `hosts_evaluate_after` index, so a scheduled run costs what is due, not the
    /// fleet.
    async fn due_hosts(&self, due_by: DateTime<Utc>) -> Result<DueHosts, StoreError>;
    /// The facts of the hosts `ids` (at most a page of them) still due by `due_by`: another replica may have
    /// evaluated some since [`FindingsStore::due_hosts`] listed them.
    async fn due_host_facts(&self, ids: &[String], due_by: DateTime<Utc>) -> Result<Vec<HostFacts>, StoreError>;
    /// Records when the host's evaluation next needs doing (`rules::timing`) after an evaluation of `facts`. When a
    /// report or a change without one came since they were read (their `last_seen` or `marks` moved), the
    /// evaluation may have written from stale facts: the host is left due instead.
    async fn schedule_evaluation(&self, facts: &HostFacts, next: DateTime<Utc>) -> Result<(), StoreError>;
    /// Ids of risk-accepted findings whose acceptance ends at or before `now`, by id.
    async fn risk_acceptances_ending(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError>;
    /// Ids of active findings due before `now` whose escalation has not been written for their due date, by id
    /// (see [`FindingsTx::mark_overdue`]).
    async fn findings_turning_overdue(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError>;
    async fn list_findings(&self, filter: &FindingFilter) -> Result<FindingPage, StoreError>;
    async fn get_finding(&self, id: &str, now: DateTime<Utc>) -> Result<Option<FindingView>, StoreError>;
    /// Oldest first.
    async fn finding_history(&self, id: &str) -> Result<Vec<FindingEvent>, StoreError>;
}

/// The worklist order as SQL: the stored priority, then the oldest occurrence first (`vuln::priority`); then the
/// soonest due, then host, kind, rule and subject, which are unique together, so the order is total and pages never
/// overlap. Exactly the columns of the `findings_worklist` index (migration 0008), so a page is an index range.
const WORKLIST: &str = "f.priority DESC, f.first_seen, f.due_at, f.host_id, f.kind, f.rule_id, f.subject";

/// `ORDER BY` of a findings list: the sort's own key (reversed by `descending`), then the worklist order, which is
/// total, so pages never overlap.
fn finding_order(sort: FindingSort, descending: bool) -> String {
    let (key, natural_desc) = match sort {
        FindingSort::Priority => ("f.priority", true),
        FindingSort::Severity => ("f.severity_rank", true),
        FindingSort::Due => ("f.due_at", false),
        FindingSort::FirstSeen => ("f.first_seen", false),
        FindingSort::Host => ("h.hostname", false),
        FindingSort::Rule => ("f.rule_id", false),
        FindingSort::Status => ("f.status", false),
    };
    let dir = if natural_desc != descending { "DESC" } else { "ASC" };
    match sort {
        // Reversed whole, so the index is read backwards.
        FindingSort::Priority if descending => "f.priority ASC, f.first_seen DESC, f.due_at DESC, f.host_id DESC, \
             f.kind DESC, f.rule_id DESC, f.subject DESC"
            .to_owned(),
        FindingSort::Priority => WORKLIST.to_owned(),
        FindingSort::Rule => format!("{key} {dir}, f.subject {dir}, {WORKLIST}"),
        _ => format!("{key} {dir}, {WORKLIST}"),
    }
}

pub(super) const FINDING_COLUMNS: &str = "f.id, f.host_id, h.hostname, f.kind, f.rule_id, f.subject, f.title, \
     f.severity, f.status, f.evidence, f.details, f.priority, f.remediation, f.sla_days, f.first_seen, f.due_at, f.created_at, \
     f.updated_at, f.acknowledged_by, f.acknowledged_at, f.ack_comment, f.risk_accepted_by, f.risk_accepted_at, \
     f.risk_reason, f.risk_expires_at, f.resolved_at, f.resolved_report_id";

/// The hosts due for evaluation by `$1`, and the count of the others: both searches of the `hosts_evaluate_after`
/// index (migration 0022), which `store::sqlite`'s tests check SQLite's plan for.
pub(super) const DUE_HOSTS: &str = "SELECT id FROM hosts WHERE evaluate_after IS NULL OR evaluate_after <= $1";
pub(super) const NOT_DUE_HOSTS: &str = "SELECT COUNT(*) FROM hosts WHERE evaluate_after > $1";

/// Which hosts a facts read covers.
pub(super) enum Hosts<'a> {
    One(&'a str),
    /// Up to `limit` hosts with ids after `after`, by id.
    Page {
        after: &'a str,
        limit: i64,
    },
    Ids(&'a [String]),
}

macro_rules! impl_findings_store {
    ($store:ty, $db:ty, $row:ty, $backend:ident) => {
        const _: () = {
            use std::collections::BTreeMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use muster_shared::v1::{Check, Hardware, Host, Os, Patches, SectionName};
            use sqlx::{QueryBuilder, Row};

            use crate::model::facts::{HostFacts, PendingSecurityUpdate};
            use crate::model::findings::{
                ExistingFinding, FindingEvent, FindingFilter, FindingKind, FindingPage, FindingView,
            };
            use crate::model::{from_ms, to_ms};
            use crate::store::StoreError;
            use crate::store::console::ACTIVE;
            use crate::store::findings::{
                DUE_HOSTS, DueHosts, FINDING_COLUMNS, FactsPage, FindingsStore, Hosts, NOT_DUE_HOSTS, finding_order,
            };
            use crate::store::findings_tx::{
                FindingsTx, evidence_of, kind_of, priority_of, severity_of, sla_of, status_of,
            };
            use crate::store::$backend::findings_tx as tx;
            use crate::vuln::priority::is_known_exploited;

            fn opt_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
                v.map(from_ms)
            }

            fn finding_from_row(r: &$row, now: DateTime<Utc>) -> Result<FindingView, StoreError> {
                let kind: String = r.try_get("kind")?;
                let status = status_of(&r.try_get::<String, _>("status")?)?;
                let due: DateTime<Utc> = from_ms(r.try_get("due_at")?);
                let details: String = r.try_get("details")?;
                let priority = priority_of(r.try_get("priority")?);
                Ok(FindingView {
                    id: r.try_get("id")?,
                    host_id: r.try_get("host_id")?,
                    hostname: r.try_get("hostname")?,
                    kind: kind_of(&kind)?,
                    rule_id: r.try_get("rule_id")?,
                    subject: r.try_get("subject")?,
                    title: r.try_get("title")?,
                    severity: severity_of(&r.try_get::<String, _>("severity")?)?,
                    status,
                    evidence: evidence_of(&r.try_get::<String, _>("evidence")?)?,
                    details: serde_json::from_str(&details).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    priority,
                    known_exploited: is_known_exploited(priority),
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
            fn section<T: serde::de::DeserializeOwned>(
                sections: &BTreeMap<String, String>,
                name: SectionName,
            ) -> Option<T> {
                sections.get(name.as_str()).and_then(|text| serde_json::from_str(text).ok())
            }

            // The software section holds no packages (they are the catalogue's), only its sources and listeners.
            const FACT_SECTIONS: &str = "('host', 'hardware', 'os', 'patches', 'checks', 'software')";

            fn facts_from_row(
                r: &$row,
                sections: &BTreeMap<String, String>,
                package_count: i64,
                security_pending: Vec<PendingSecurityUpdate>,
                fix_packages: std::collections::BTreeSet<String>,
            ) -> Result<HostFacts, StoreError> {
                let tags: String = r.try_get("tags")?;
                let software =
                    section::<crate::model::StoredSoftware>(sections, SectionName::Software).unwrap_or_default();
                Ok(HostFacts {
                    host_id: r.try_get("id")?,
                    hostname: r.try_get("hostname")?,
                    tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    duplicate_identity: r.try_get("duplicate_identity")?,
                    marks: r.try_get("facts_marks")?,
                    evaluate_after: r.try_get::<Option<i64>, _>("evaluate_after")?.map(from_ms),
                    first_seen: from_ms(r.try_get("first_seen")?),
                    last_seen: from_ms(r.try_get("last_seen")?),
                    agent_version: r.try_get("agent_version")?,
                    host: section::<Host>(sections, SectionName::Host),
                    hardware: section::<Hardware>(sections, SectionName::Hardware),
                    os: section::<Os>(sections, SectionName::Os),
                    patches: section::<Patches>(sections, SectionName::Patches),
                    checks: section::<Vec<Check>>(sections, SectionName::Checks).unwrap_or_default(),
                    package_count,
                    listeners: software.listeners,
                    container_images: software.container_images,
                    containers: software.containers,
                    security_pending,
                    fix_packages,
                })
            }

            const HOST_FACT_COLUMNS: &str =
                "id, hostname, tags, duplicate_identity, first_seen, last_seen, agent_version, evaluate_after, facts_marks";

            /// `for_page`: the list query, not its count. Its active filter is then written so that SQLite, which
            /// has no statistics, reads the worklist index in order instead of every active finding to sort them
            /// (`||` makes the status an expression no index covers; PostgreSQL plans by its statistics either way).
            fn push_filter(qb: &mut QueryBuilder<'_, $db>, f: &FindingFilter, for_page: bool) {
                qb.push(" WHERE 1 = 1");
                if let Some(severity) = f.severity {
                    qb.push(" AND f.severity = ").push_bind(severity.as_str());
                }
                if let Some(status) = f.status {
                    qb.push(" AND f.status = ").push_bind(status.as_str());
                }
                if f.active {
                    let by_worklist = for_page && f.sort == FindingSort::Priority;
                    qb.push(if by_worklist { " AND f.status || '' IN " } else { " AND f.status IN " });
                    qb.push("('open', 'acknowledged', 'reopened')");
                }
                if let Some(rule) = &f.rule_id {
                    qb.push(" AND f.rule_id = ").push_bind(rule.clone());
                }
                if let Some(host) = &f.host_id {
                    // A host id, or a hostname as people type it (several hosts may share one).
                    qb.push(" AND (f.host_id = ").push_bind(host.clone());
                    qb.push(" OR f.host_id IN (SELECT id FROM hosts WHERE lower(hostname) = lower(")
                        .push_bind(host.clone())
                        .push(")))");
                }
                if let Some(kind) = f.kind {
                    qb.push(" AND f.kind = ").push_bind(kind.as_str());
                }
                if let Some(overdue) = f.overdue {
                    qb.push(if overdue { " AND " } else { " AND NOT " });
                    qb.push(format!("(f.status IN {ACTIVE} AND f.due_at < ")).push_bind(to_ms(f.now)).push(")");
                }
            }

            #[async_trait]
            impl FindingsStore for $store {
                async fn begin_findings_tx(&self) -> Result<Box<dyn FindingsTx>, StoreError> {
                    Ok(Box::new(tx::Tx(self.begin_host().await?)))
                }

                async fn existing_findings(
                    &self,
                    host_id: &str,
                    kind: FindingKind,
                ) -> Result<Vec<ExistingFinding>, StoreError> {
                    tx::existing_findings(&self.pool, host_id, kind).await
                }

                async fn host_facts(&self, host_id: &str) -> Result<Option<HostFacts>, StoreError> {
                    let mut page = self.host_facts_in(Hosts::One(host_id), None).await?;
                    Ok(page.facts.pop())
                }

                async fn host_facts_page(&self, after: &str, limit: i64) -> Result<FactsPage, StoreError> {
                    self.host_facts_in(Hosts::Page { after, limit }, None).await
                }

                async fn due_hosts(&self, due_by: DateTime<Utc>) -> Result<DueHosts, StoreError> {
                    let mut ids: Vec<String> = sqlx::query_scalar(DUE_HOSTS)
                        .bind(to_ms(due_by))
                    .fetch_all(&self.pool)
                    .await?;
                    ids.sort_unstable();
                    let not_due: i64 = sqlx::query_scalar(NOT_DUE_HOSTS)
                        .bind(to_ms(due_by))
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(DueHosts { ids, not_due: usize::try_from(not_due).unwrap_or(0) })
                }

                async fn due_host_facts(
                    &self,
                    ids: &[String],
                    due_by: DateTime<Utc>,
                ) -> Result<Vec<HostFacts>, StoreError> {
                    Ok(self.host_facts_in(Hosts::Ids(ids), Some(due_by)).await?.facts)
                }

                async fn schedule_evaluation(
                    &self,
                    facts: &HostFacts,
                    next: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let mut tx = self.begin_findings_tx().await?;
                    tx.schedule_evaluation(facts, next).await?;
                    tx.commit().await
                }

                async fn risk_acceptances_ending(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT id FROM findings WHERE status = 'risk_accepted' AND risk_expires_at <= $1 ORDER BY id",
                    )
                    .bind(to_ms(now))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
                }

                async fn findings_turning_overdue(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "SELECT id FROM findings WHERE status IN {ACTIVE} AND due_at < $1 \
                         AND (overdue_sent_for IS NULL OR overdue_sent_for <> due_at) ORDER BY id"
                    ))
                    .bind(to_ms(now))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
                }

                async fn list_findings(&self, filter: &FindingFilter) -> Result<FindingPage, StoreError> {
                    let mut count: QueryBuilder<'_, $db> = QueryBuilder::new("SELECT COUNT(*) AS n FROM findings f");
                    push_filter(&mut count, filter, false);
                    let total: i64 = count.build().fetch_one(&self.pool).await?.try_get("n")?;
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                        "SELECT {FINDING_COLUMNS} FROM findings f JOIN hosts h ON h.id = f.host_id"
                    ));
                    push_filter(&mut qb, filter, true);
                    qb.push(" ORDER BY ")
                        .push(finding_order(filter.sort, filter.descending))
                        .push(" LIMIT ")
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
                /// Facts of one host (`only`), or of up to `limit` hosts after `after` of which only those due by
                /// `due_by` are read past their row: the sections are most of the cost.
                async fn host_facts_in(
                    &self,
                    which: Hosts<'_>,
                    due_by: Option<DateTime<Utc>>,
                ) -> Result<FactsPage, StoreError> {
                    let page = match which {
                        Hosts::One(id) => {
                            sqlx::query(&format!("SELECT {HOST_FACT_COLUMNS} FROM hosts WHERE id = $1"))
                                .bind(id)
                                .fetch_all(&self.pool)
                                .await?
                        }
                        Hosts::Page { after, limit } => {
                            sqlx::query(&format!(
                                "SELECT {HOST_FACT_COLUMNS} FROM hosts WHERE id > $1 ORDER BY id LIMIT $2"
                            ))
                            .bind(after)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?
                        }
                        Hosts::Ids([]) => Vec::new(),
                        Hosts::Ids(ids) => {
                            let mut qb: QueryBuilder<'_, $db> =
                                QueryBuilder::new(format!("SELECT {HOST_FACT_COLUMNS} FROM hosts WHERE id IN ("));
                            let mut list = qb.separated(", ");
                            for id in ids {
                                list.push_bind(id.clone());
                            }
                            qb.push(") ORDER BY id");
                            qb.build().fetch_all(&self.pool).await?
                        }
                    };
                    let mut out = FactsPage { hosts: page.len(), ..FactsPage::default() };
                    if let Some(last) = page.last() {
                        out.last = Some(last.try_get("id")?);
                    }
                    let mut hosts = Vec::with_capacity(page.len());
                    for r in page {
                        let after: Option<i64> = r.try_get("evaluate_after")?;
                        if due_by.is_none_or(|by| after.is_none_or(|a| a <= to_ms(by))) {
                            hosts.push(r);
                        }
                    }
                    if hosts.is_empty() {
                        return Ok(out);
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
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("SELECT host_id, COUNT(*) AS n FROM host_software WHERE host_id IN (");
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
                        pending.entry(r.try_get("host_id")?).or_default().push(tx::pending_from_row(&r)?);
                    }
                    // The packages of each host's unresolved fix findings of its own packages (their `details.packages`).
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "SELECT host_id, details FROM findings WHERE kind = 'vulnerability' AND rule_id = 'vuln.fix' \
                         AND status <> 'resolved' AND host_id IN (",
                    );
                    in_ids(&mut qb);
                    let mut fixes: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
                    for r in qb.build().fetch_all(&self.pool).await? {
                        let details: String = r.try_get("details")?;
                        let details: serde_json::Value = serde_json::from_str(&details)
                            .map_err(|e| StoreError::Corrupt(format!("finding details: {e}")))?;
                        // A fix inside a container image is no upgrade of the host's own packages.
                        if details.get("image").is_some() {
                            continue;
                        }
                        let packages = details["packages"].as_array().into_iter().flatten().filter_map(|p| p.as_str());
                        fixes.entry(r.try_get("host_id")?).or_default().extend(packages.map(str::to_owned));
                    }
                    let empty = BTreeMap::new();
                    let facts = hosts
                        .iter()
                        .zip(&ids)
                        .map(|(r, id)| {
                            facts_from_row(
                                r,
                                sections.get(id).unwrap_or(&empty),
                                counts.get(id).copied().unwrap_or(0),
                                pending.remove(id).unwrap_or_default(),
                                fixes.remove(id).unwrap_or_default(),
                            )
                        })
                        .collect::<Result<_, _>>()?;
                    out.facts = facts;
                    Ok(out)
                }
            }
        };
    };
}

impl_findings_store!(super::SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow, sqlite);
impl_findings_store!(super::PgStore, sqlx::Postgres, sqlx::postgres::PgRow, postgres);

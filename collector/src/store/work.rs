//! The queue of work a stored report leaves on its host (`host_work`, written in the report's transaction by
//! `HostTx::enqueue_work`): claiming it under a lease, retrying it, and its backlog; one body for SQLite and
//! PostgreSQL. Finishing it is `FindingsTx::finish_work`, in the transaction that writes the work's results. What
//! the work is and when it runs is `app::queue`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// One host's queued work as a worker claimed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub host_id: String,
    /// The kinds of work, ORed (`app::queue::EVALUATE`, `app::queue::MATCH`).
    pub work: i64,
    /// Reports queued on the host so far; a newer one since the claim keeps the row queued.
    pub seq: i64,
    /// The latest report that queued it.
    pub report_id: Option<String>,
    pub enqueued_at: DateTime<Utc>,
    /// Claims so far, this one included.
    pub attempts: i64,
    /// The claim: its worker and lease end. Finishing or retrying writes only while the row still holds this
    /// claim, so a worker whose lease ran out cannot drop work another worker claimed or a report queued since.
    pub claimed_by: String,
    pub claimed_until: DateTime<Utc>,
}

/// What is waiting: hosts queued and the oldest waiting since.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkBacklog {
    pub hosts: i64,
    pub oldest: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait WorkStore: Send + Sync {
    /// Claims up to `limit` queued hosts, oldest first, whose claim is free (never claimed, released, or its lease
    /// past), for `worker` until `until`; only `host`'s when given. On PostgreSQL rows another replica is claiming
    /// are skipped, not waited for.
    async fn claim_work(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
        host: Option<&str>,
    ) -> Result<Vec<WorkItem>, StoreError>;
    /// Frees a failed claim, to be claimed again from `retry_at` (only while the row still holds it).
    async fn retry_work(&self, item: &WorkItem, retry_at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Frees the claims a previous process left. SQLite's file has one collector process, so every claim not
    /// `worker`'s is a dead process's; on PostgreSQL other replicas' claims are live and expire by their lease, so
    /// nothing is freed there.
    async fn release_dead_claims(&self, worker: &str) -> Result<u64, StoreError>;
    /// Gives back claimed work not begun (a stopping worker's), free to claim at once and with the claim not counted
    /// as an attempt; only rows still holding each item's claim. Returns the hosts given back.
    async fn release_work(&self, items: &[WorkItem]) -> Result<u64, StoreError>;
    async fn work_backlog(&self) -> Result<WorkBacklog, StoreError>;
}

macro_rules! impl_work_store {
    ($store:ty, $db:ty, $skip_locked:expr, $release_all:expr) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Row};

            use crate::model::{from_ms, to_ms};
            use crate::store::StoreError;
            use crate::store::work::{WorkBacklog, WorkItem, WorkStore};

            #[async_trait]
            impl WorkStore for $store {
                async fn claim_work(
                    &self,
                    worker: &str,
                    now: DateTime<Utc>,
                    until: DateTime<Utc>,
                    limit: i64,
                    host: Option<&str>,
                ) -> Result<Vec<WorkItem>, StoreError> {
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new("UPDATE host_work SET claimed_by = ");
                    qb.push_bind(worker.to_owned()).push(", claimed_until = ").push_bind(to_ms(until));
                    qb.push(", requeued_at = NULL, attempts = attempts + 1 WHERE host_id IN (SELECT host_id FROM host_work WHERE ");
                    qb.push("(claimed_until IS NULL OR claimed_until <= ").push_bind(to_ms(now)).push(")");
                    if let Some(host) = host {
                        qb.push(" AND host_id = ").push_bind(host.to_owned());
                    }
                    qb.push(" ORDER BY enqueued_at LIMIT ").push_bind(limit).push($skip_locked).push(")");
                    qb.push(" RETURNING host_id, work, seq, report_id, enqueued_at, attempts, claimed_by, claimed_until");
                    let rows = qb.build().fetch_all(&self.writer).await?;
                    let mut items = rows
                        .iter()
                        .map(|r| {
                            Ok(WorkItem {
                                host_id: r.try_get("host_id")?,
                                work: r.try_get("work")?,
                                seq: r.try_get("seq")?,
                                report_id: r.try_get("report_id")?,
                                enqueued_at: from_ms(r.try_get("enqueued_at")?),
                                attempts: r.try_get("attempts")?,
                                claimed_by: r.try_get::<Option<String>, _>("claimed_by")?.unwrap_or_default(),
                                claimed_until: from_ms(r.try_get::<Option<i64>, _>("claimed_until")?.unwrap_or(0)),
                            })
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    // RETURNING gives no order; the oldest waited longest.
                    items.sort_by(|a, b| a.enqueued_at.cmp(&b.enqueued_at).then_with(|| a.host_id.cmp(&b.host_id)));
                    Ok(items)
                }

                async fn retry_work(&self, item: &WorkItem, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE host_work SET claimed_by = NULL, claimed_until = $1 \
                         WHERE host_id = $2 AND claimed_by = $3 AND claimed_until = $4",
                    )
                    .bind(to_ms(retry_at))
                    .bind(&item.host_id)
                    .bind(&item.claimed_by)
                    .bind(to_ms(item.claimed_until))
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn release_dead_claims(&self, worker: &str) -> Result<u64, StoreError> {
                    if !$release_all {
                        return Ok(0);
                    }
                    let freed = sqlx::query(
                        "UPDATE host_work SET claimed_by = NULL, claimed_until = NULL \
                         WHERE claimed_by IS NOT NULL AND claimed_by <> $1",
                    )
                    .bind(worker)
                    .execute(&self.writer)
                    .await?;
                    Ok(freed.rows_affected())
                }

                async fn release_work(&self, items: &[WorkItem]) -> Result<u64, StoreError> {
                    let mut freed = 0;
                    for item in items {
                        let done = sqlx::query(
                            "UPDATE host_work SET claimed_by = NULL, claimed_until = NULL, requeued_at = NULL, \
                             attempts = attempts - 1 WHERE host_id = $1 AND claimed_by = $2 AND claimed_until = $3",
                        )
                        .bind(&item.host_id)
                        .bind(&item.claimed_by)
                        .bind(to_ms(item.claimed_until))
                        .execute(&self.writer)
                        .await?;
                        freed += done.rows_affected();
                    }
                    Ok(freed)
                }

                async fn work_backlog(&self) -> Result<WorkBacklog, StoreError> {
                    let row = sqlx::query("SELECT COUNT(*) AS hosts, MIN(enqueued_at) AS oldest FROM host_work")
                        .fetch_one(&self.pool)
                        .await?;
                    let oldest: Option<i64> = row.try_get("oldest")?;
                    Ok(WorkBacklog { hosts: row.try_get("hosts")?, oldest: oldest.map(from_ms) })
                }
            }
        };
    };
}

impl_work_store!(super::SqliteStore, sqlx::Sqlite, "", true);
impl_work_store!(super::PgStore, sqlx::Postgres, " FOR UPDATE SKIP LOCKED", false);

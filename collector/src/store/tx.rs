//! The write transaction of one host's rows (enrolment, reports): plain reads and writes, no decision. The use
//! cases in `crate::app` open it, read what they need, decide with pure functions (identity, delta check, history
//! diff) and then tell it what to write; dropping it without [`HostTx::commit`] rolls everything back.
//!
//! Both backends share one body (`impl_host_tx!`, instantiated in `sqlite.rs` and `postgres.rs`) because they
//! accept the same SQL here but for a few fragments the macro takes, and otherwise differ only in their sqlx types;
//! sqlx's generic `Executor` bounds would say the same thing at several times the length.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use muster_shared::v1::SectionName;

use super::StoreError;
use crate::model::HistoryEvent;

pub use super::tx_rows::*;

#[async_trait]
pub trait HostTx: Send {
    // Enrolment.

    /// Counts a use of the enrolment secret. Written first: it takes SQLite's write lock before any read and, on
    /// PostgreSQL, the secret's row lock, so concurrent enrolments with one secret see each other's hosts.
    async fn count_secret_use(&mut self, secret_id: &str) -> Result<(), StoreError>;
    async fn hosts_with_identity(&mut self, key: IdentityKey<'_>) -> Result<Vec<HostCandidate>, StoreError>;
    /// Re-enrolment: the host row takes the new claims (a hardware identity only when one is given), its tokens
    /// are revoked as `replaced` and its other pending requests are `superseded`.
    async fn take_over_host(
        &mut self,
        host_id: &str,
        host: &EnrolledHost<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn insert_host(
        &mut self,
        host_id: &str,
        host: &EnrolledHost<'_>,
        duplicate_identity: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn flag_duplicate_identity(&mut self, host_id: &str) -> Result<(), StoreError>;
    /// Keeps `held` for an administrator's decision, next to any other pending request for the host (a newer one
    /// must not push out the genuine one; approving one supersedes the rest).
    async fn hold_enrolment(&mut self, held: &HeldEnrolment) -> Result<(), StoreError>;
    /// How many requests for the host wait for a decision.
    async fn pending_enrolments(&mut self, host_id: &str) -> Result<i64, StoreError>;
    /// Locks the host a held request is for, as [`HostTx::lock_host`] does: host row first, then the request, the
    /// order disposal and enrolment take them in too. `None` when there is no such request or host.
    async fn lock_host_of_request(&mut self, id: &str) -> Result<Option<(String, LockedHost)>, StoreError>;
    /// Moves a pending request to `decision` (`approved` or `rejected`) and returns it; `None` when no pending
    /// request has this id (decided meanwhile, or never held).
    async fn decide_enrolment(
        &mut self,
        id: &str,
        decision: &str,
        decided_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<HeldEnrolment>, StoreError>;
    async fn insert_host_token(
        &mut self,
        token_hash: &str,
        host_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    // Reports.

    /// Locks the host's row: writes to one host (enrolment, and reports through
    /// [`HostTx::lock_host_for_report`]) are serialised on PostgreSQL, and SQLite takes its write lock before reading,
    /// so the transaction never has to upgrade a read lock. `None` when there is no such host.
    async fn lock_host(&mut self, host_id: &str) -> Result<Option<LockedHost>, StoreError>;
    /// The machine-id the host is bound to, if any (read under the host's lock).
    async fn bound_machine_id(&mut self, host_id: &str) -> Result<Option<String>, StoreError>;
    /// [`HostTx::lock_host`] for a report: the same lock, then whether `report_id` was stored and the stored
    /// section hashes, read under it. On SQLite one statement does all three, where three cost three hand-overs to
    /// the one writer's thread and back and an unchanged report is little more than these (BENCHMARKS.md, "Fewer
    /// statements per report"); PostgreSQL needs two (see `impl_host_tx!`).
    async fn lock_host_for_report(&mut self, host_id: &str, report_id: &str) -> Result<Option<ReportLock>, StoreError>;
    /// The stored JSON of one section.
    async fn section_content(&mut self, host_id: &str, section: SectionName) -> Result<Option<String>, StoreError>;
    /// The host's package links with the catalogue fields the history diff compares.
    async fn stored_packages(&mut self, host_id: &str) -> Result<Vec<StoredLink>, StoreError>;
    async fn put_section(
        &mut self,
        host_id: &str,
        section: SectionName,
        hash: &str,
        content: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Writes the host's package links as `change` says; catalogue rows are shared and only added.
    async fn write_software(&mut self, host_id: &str, change: &SoftwareChange<'_>) -> Result<(), StoreError>;
    /// The digest of each container image package list the host keeps, by image id.
    async fn image_digests(&mut self, host_id: &str) -> Result<BTreeMap<String, String>, StoreError>;
    /// Writes the host's container image package lists as `change` says.
    async fn write_image_packages(&mut self, host_id: &str, change: &ImageChange) -> Result<(), StoreError>;
    /// Queues work on the host for after the commit (`app::queue`), coalesced into the host's queued row.
    async fn enqueue_work(
        &mut self,
        host_id: &str,
        work: i64,
        report_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn insert_history(
        &mut self,
        host_id: &str,
        at: DateTime<Utc>,
        report_id: &str,
        events: &[HistoryEvent],
    ) -> Result<(), StoreError>;
    /// Sets the host's columns from the report (`last_seen` and `last_report_at` to `report.received_at`), records
    /// the report and forgets the host's reports received before `forget_before`: one statement (SQLite runs the
    /// three as one batch, PostgreSQL as one statement with data-modifying `WITH`), for the reason
    /// [`HostTx::lock_host_for_report`] gives.
    async fn record_report(
        &mut self,
        host_id: &str,
        host: &ReportedHost<'_>,
        report: &ReportRow<'_>,
        forget_before: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    // The outbox (`app::integrations`): a host event is written with the change it tells.

    /// The enabled subscriptions (see `FindingsTx::subscriptions`).
    async fn subscriptions(&mut self) -> Result<Vec<crate::model::integrations::Subscription>, StoreError>;
    /// An outbox event with a pending delivery for each of `integration_ids`.
    async fn insert_event(
        &mut self,
        event: &crate::model::integrations::NewEvent,
        integration_ids: &[String],
    ) -> Result<(), StoreError>;

    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
    /// Ends the transaction without keeping its work after `why` failed it. Dropping it does the same, but only
    /// this tells SQLite's group commit the fault (`store/group_commit.rs`): when SQLite ended the whole shared
    /// transaction, the other reports in it are answered with that fault (a full disk: `storage_full`).
    fn give_up(self: Box<Self>, why: &StoreError);
}

/// An error that may be the store's own: the fault [`end`] passes on to SQLite's group.
pub trait StoreFailure: From<StoreError> {
    fn store_error(&self) -> Option<&StoreError>;
}

impl StoreFailure for StoreError {
    fn store_error(&self) -> Option<&StoreError> {
        Some(self)
    }
}

/// A write transaction [`end`] ends: a host's (reports, enrolments) or a findings transaction, both members of
/// SQLite's write group.
#[async_trait]
pub trait Ends: Send {
    async fn keep(self: Box<Self>) -> Result<(), StoreError>;
    fn abandon(self: Box<Self>, why: &StoreError);
}

#[async_trait]
impl Ends for dyn HostTx {
    async fn keep(self: Box<Self>) -> Result<(), StoreError> {
        self.commit().await
    }

    fn abandon(self: Box<Self>, why: &StoreError) {
        self.give_up(why)
    }
}

#[async_trait]
impl Ends for dyn super::findings_tx::FindingsTx {
    async fn keep(self: Box<Self>) -> Result<(), StoreError> {
        self.commit().await
    }

    fn abandon(self: Box<Self>, why: &StoreError) {
        self.give_up(why)
    }
}

/// Ends `tx` as its work `written` ended. Committed when that is `Ok`, whatever it answers: an answer may rest on
/// another request's work in the same SQLite group (a retry's `duplicate`), and is given only once that is durable.
/// Otherwise given up, which undoes this transaction's writes alone and, when the store failed it, tells the rest
/// of the group why ([`HostTx::give_up`]); a refusal is not the store's fault and tells nothing.
pub async fn end<T, E: StoreFailure, X: Ends + ?Sized>(tx: Box<X>, written: Result<T, E>) -> Result<T, E> {
    match written {
        Ok(value) => {
            tx.keep().await?;
            Ok(value)
        }
        Err(e) => {
            match e.store_error() {
                Some(fault) => tx.abandon(fault),
                None => drop(tx),
            }
            Err(e)
        }
    }
}

/// `$hashes`: the aggregate that turns a host's `(section, hash)` rows into one JSON object's text.
/// `$read_in_lock`: whether [`HostTx::lock_host_for_report`] may read in the locking statement itself. Only where
/// nothing can commit between the statement's snapshot and its lock: SQLite's one writer. PostgreSQL (read committed)
/// takes the snapshot before the `UPDATE` waits for the row, so subqueries beside it would miss what the report that
/// held the lock just committed; there the reads are a second statement.
/// `$rec_open`, `$rec_mid`, `$rec_last`: the text before, between and after the three statements of
/// [`HostTx::record_report`]: SQLite runs `;`-separated statements as one batch, PostgreSQL takes them as
/// data-modifying `WITH` queries of one statement.
macro_rules! impl_host_tx {
    (
        $db:ty,
        conn: $conn:ty,
        $hashes:literal,
        read_in_lock: $read_in_lock:literal,
        record: ($rec_open:literal, $rec_mid:literal, $rec_last:literal)
    ) => {
        mod host_tx {
            use std::collections::BTreeMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use muster_shared::v1::SectionName;
            use sqlx::{QueryBuilder, Row};

            use crate::model::{HistoryEvent, StoredPackage, from_ms, to_ms};
            use crate::store::StoreError;
            use crate::store::sql::CHUNK;
            use crate::disposal::lifecycle::LifecycleState;
            use crate::store::tx::{
                EnrolledHost, HeldEnrolment, HostCandidate, HostTx, IdentityKey, ImageChange, LockedHost, ReportLock,
                ReportRow, ReportedHost, SoftwareChange, SoftwareRow, StoredLink,
            };

            fn lifecycle(text: &str) -> Result<LifecycleState, StoreError> {
                LifecycleState::parse(text).ok_or_else(|| StoreError::Corrupt(format!("lifecycle state {text:?}")))
            }

            /// A host row locked by `UPDATE … RETURNING last_seen, agent_version, lifecycle_state`.
            fn locked_host(r: &<$db as sqlx::Database>::Row) -> Result<LockedHost, StoreError> {
                Ok(LockedHost {
                    last_seen: from_ms(r.try_get("last_seen")?),
                    agent_version: r.try_get("agent_version")?,
                    lifecycle: lifecycle(r.try_get("lifecycle_state")?)?,
                })
            }

            pub(crate) struct Tx(pub(crate) $conn);

            #[async_trait]
            impl HostTx for Tx {
                async fn count_secret_use(&mut self, secret_id: &str) -> Result<(), StoreError> {
                    sqlx::query("UPDATE enroll_secrets SET uses = uses + 1 WHERE id = $1")
                        .bind(secret_id)
                        .execute(self.0.conn()?)
                        .await?;
                    Ok(())
                }

                async fn hosts_with_identity(
                    &mut self,
                    key: IdentityKey<'_>,
                ) -> Result<Vec<HostCandidate>, StoreError> {
                    let rows = match key {
                        IdentityKey::Hardware { uuid, serial } => {
                            sqlx::query(
                                "SELECT id, machine_id, last_seen, lifecycle_state FROM hosts \
                                 WHERE system_uuid = $1 AND system_serial = $2",
                            )
                            .bind(uuid)
                            .bind(serial)
                            .fetch_all(self.0.conn()?)
                            .await?
                        }
                        IdentityKey::MachineId(machine_id) => {
                            sqlx::query(
                                "SELECT id, machine_id, last_seen, lifecycle_state FROM hosts WHERE machine_id = $1",
                            )
                                .bind(machine_id)
                                .fetch_all(self.0.conn()?)
                                .await?
                        }
                    };
                    rows.iter()
                        .map(|r| {
                            Ok(HostCandidate {
                                host_id: r.try_get("id")?,
                                machine_id: r.try_get("machine_id")?,
                                last_seen: from_ms(r.try_get("last_seen")?),
                                lifecycle: lifecycle(r.try_get("lifecycle_state")?)?,
                            })
                        })
                        .collect()
                }

                async fn take_over_host(
                    &mut self,
                    host_id: &str,
                    host: &EnrolledHost<'_>,
                    now: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let tags = serde_json::to_string(host.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    sqlx::query(&format!(
                        "UPDATE hosts SET hostname = $1, machine_id = $2, agent_version = $3, tags = $4, \
                         last_seen = $5, system_uuid = coalesce($6, system_uuid), \
                         system_serial = coalesce($7, system_serial), {} WHERE id = $8",
                        $crate::store::findings_tx::MARK_DUE
                    ))
                    .bind(host.hostname)
                    .bind(host.machine_id)
                    .bind(host.agent_version)
                    .bind(&tags)
                    .bind(to_ms(now))
                    .bind(host.hardware_identity.map(|(uuid, _)| uuid))
                    .bind(host.hardware_identity.map(|(_, serial)| serial))
                    .bind(host_id)
                    .execute(self.0.conn()?)
                    .await?;
                    sqlx::query(
                        "UPDATE host_tokens SET revoked_at = $1, revoked_reason = 'replaced' \
                         WHERE host_id = $2 AND revoked_at IS NULL",
                    )
                    .bind(to_ms(now))
                    .bind(host_id)
                    .execute(self.0.conn()?)
                    .await?;
                    sqlx::query(
                        "UPDATE enrolment_requests SET state = 'superseded', decided_at = $1 \
                         WHERE host_id = $2 AND state = 'pending'",
                    )
                    .bind(to_ms(now))
                    .bind(host_id)
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(())
                }

                async fn lock_host_of_request(
                    &mut self,
                    id: &str,
                ) -> Result<Option<(String, LockedHost)>, StoreError> {
                    let row = sqlx::query(
                        "UPDATE hosts SET last_seen = last_seen \
                         WHERE id = (SELECT host_id FROM enrolment_requests WHERE id = $1) \
                         RETURNING id, last_seen, agent_version, lifecycle_state",
                    )
                    .bind(id)
                    .fetch_optional(self.0.conn()?)
                    .await?;
                    Ok(match row {
                        Some(r) => Some((r.try_get("id")?, locked_host(&r)?)),
                        None => None,
                    })
                }

                async fn pending_enrolments(&mut self, host_id: &str) -> Result<i64, StoreError> {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS n FROM enrolment_requests WHERE host_id = $1 AND state = 'pending'",
                    )
                    .bind(host_id)
                    .fetch_one(self.0.conn()?)
                    .await?;
                    Ok(row.try_get("n")?)
                }

                async fn hold_enrolment(&mut self, held: &HeldEnrolment) -> Result<(), StoreError> {
                    let tags = serde_json::to_string(&held.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    sqlx::query(
                        "INSERT INTO enrolment_requests (id, host_id, token_hash, hostname, machine_id, system_uuid, \
                         system_serial, agent_version, tags, secret_id, source_ip, requested_at, state) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending')",
                    )
                    .bind(&held.id)
                    .bind(&held.host_id)
                    .bind(&held.token_hash)
                    .bind(&held.hostname)
                    .bind(&held.machine_id)
                    .bind(held.hardware_identity.as_ref().map(|(uuid, _)| uuid))
                    .bind(held.hardware_identity.as_ref().map(|(_, serial)| serial))
                    .bind(&held.agent_version)
                    .bind(&tags)
                    .bind(&held.secret_id)
                    .bind(&held.source_ip)
                    .bind(to_ms(held.requested_at))
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(())
                }

                async fn decide_enrolment(
                    &mut self,
                    id: &str,
                    decision: &str,
                    decided_by: &str,
                    now: DateTime<Utc>,
                ) -> Result<Option<HeldEnrolment>, StoreError> {
                    let row = sqlx::query(
                        "UPDATE enrolment_requests SET state = $1, decided_at = $2, decided_by = $3 \
                         WHERE id = $4 AND state = 'pending' \
                         RETURNING id, host_id, token_hash, hostname, machine_id, system_uuid, system_serial, \
                         agent_version, tags, secret_id, source_ip, requested_at",
                    )
                    .bind(decision)
                    .bind(to_ms(now))
                    .bind(decided_by)
                    .bind(id)
                    .fetch_optional(self.0.conn()?)
                    .await?;
                    let Some(r) = row else { return Ok(None) };
                    let tags: String = r.try_get("tags")?;
                    let uuid: Option<String> = r.try_get("system_uuid")?;
                    let serial: Option<String> = r.try_get("system_serial")?;
                    Ok(Some(HeldEnrolment {
                        id: r.try_get("id")?,
                        host_id: r.try_get("host_id")?,
                        token_hash: r.try_get("token_hash")?,
                        hostname: r.try_get("hostname")?,
                        machine_id: r.try_get("machine_id")?,
                        hardware_identity: uuid.zip(serial),
                        agent_version: r.try_get("agent_version")?,
                        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        secret_id: r.try_get("secret_id")?,
                        source_ip: r.try_get("source_ip")?,
                        requested_at: from_ms(r.try_get("requested_at")?),
                    }))
                }

                async fn insert_host(
                    &mut self,
                    host_id: &str,
                    host: &EnrolledHost<'_>,
                    duplicate_identity: bool,
                    now: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let tags = serde_json::to_string(host.tags).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    sqlx::query(
                        "INSERT INTO hosts (id, hostname, machine_id, system_uuid, system_serial, agent_version, \
                         tags, duplicate_identity, first_seen, last_seen) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    )
                    .bind(host_id)
                    .bind(host.hostname)
                    .bind(host.machine_id)
                    .bind(host.hardware_identity.map(|(uuid, _)| uuid))
                    .bind(host.hardware_identity.map(|(_, serial)| serial))
                    .bind(host.agent_version)
                    .bind(&tags)
                    .bind(duplicate_identity)
                    .bind(to_ms(now))
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(())
                }

                async fn flag_duplicate_identity(&mut self, host_id: &str) -> Result<(), StoreError> {
                    sqlx::query(&format!(
                        "UPDATE hosts SET duplicate_identity = TRUE, {} WHERE id = $1",
                        $crate::store::findings_tx::MARK_DUE
                    ))
                        .bind(host_id)
                        .execute(self.0.conn()?)
                        .await?;
                    Ok(())
                }

                async fn insert_host_token(
                    &mut self,
                    token_hash: &str,
                    host_id: &str,
                    now: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO host_tokens (token_hash, host_id, created_at) VALUES ($1, $2, $3)")
                        .bind(token_hash)
                        .bind(host_id)
                        .bind(to_ms(now))
                        .execute(self.0.conn()?)
                        .await?;
                    Ok(())
                }

                async fn lock_host(&mut self, host_id: &str) -> Result<Option<LockedHost>, StoreError> {
                    let row = sqlx::query(
                        "UPDATE hosts SET last_seen = last_seen WHERE id = $1 \
                         RETURNING last_seen, agent_version, lifecycle_state",
                    )
                    .bind(host_id)
                    .fetch_optional(self.0.conn()?)
                    .await?;
                    row.as_ref().map(locked_host).transpose()
                }

                async fn bound_machine_id(&mut self, host_id: &str) -> Result<Option<String>, StoreError> {
                    let row = sqlx::query("SELECT machine_id FROM hosts WHERE id = $1")
                        .bind(host_id)
                        .fetch_optional(self.0.conn()?)
                        .await?;
                    Ok(match row {
                        Some(r) => r.try_get("machine_id")?,
                        None => None,
                    })
                }

                async fn lock_host_for_report(
                    &mut self,
                    host_id: &str,
                    report_id: &str,
                ) -> Result<Option<ReportLock>, StoreError> {
                    // Whole statements at compile time: this runs for every report.
                    macro_rules! lock {
                        () => {
                            "UPDATE hosts SET last_seen = last_seen WHERE id = $1 \
                             RETURNING last_seen, agent_version, lifecycle_state"
                        };
                    }
                    macro_rules! reads {
                        () => {
                            concat!(
                                "EXISTS (SELECT 1 FROM reports WHERE host_id = $1 AND report_id = $2) AS seen, \
                                 (SELECT ",
                                $hashes,
                                " FROM host_sections WHERE host_id = $1) AS hashes"
                            )
                        };
                    }
                    let (host, r) = if $read_in_lock {
                        let Some(r) = sqlx::query(concat!(lock!(), ", ", reads!()))
                            .bind(host_id)
                            .bind(report_id)
                            .fetch_optional(self.0.conn()?)
                            .await?
                        else {
                            return Ok(None);
                        };
                        (locked_host(&r)?, r)
                    } else {
                        let Some(locked) = sqlx::query(lock!()).bind(host_id).fetch_optional(self.0.conn()?).await?
                        else {
                            return Ok(None);
                        };
                        let r = sqlx::query(concat!("SELECT ", reads!()))
                            .bind(host_id)
                            .bind(report_id)
                            .fetch_one(self.0.conn()?)
                            .await?;
                        (locked_host(&locked)?, r)
                    };
                    // No sections: SQLite's aggregate gives `{}`, PostgreSQL's NULL.
                    let hashes = match r.try_get::<Option<String>, _>("hashes")? {
                        Some(text) => serde_json::from_str(&text)
                            .map_err(|e| StoreError::Corrupt(format!("section hashes of host {host_id}: {e}")))?,
                        None => BTreeMap::new(),
                    };
                    Ok(Some(ReportLock { host, seen: r.try_get("seen")?, hashes }))
                }

                async fn section_content(
                    &mut self,
                    host_id: &str,
                    section: SectionName,
                ) -> Result<Option<String>, StoreError> {
                    let row = sqlx::query("SELECT content FROM host_sections WHERE host_id = $1 AND section = $2")
                        .bind(host_id)
                        .bind(section.as_str())
                        .fetch_optional(self.0.conn()?)
                        .await?;
                    Ok(match row {
                        Some(row) => Some(row.try_get("content")?),
                        None => None,
                    })
                }

                async fn stored_packages(&mut self, host_id: &str) -> Result<Vec<StoredLink>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT hs.software_id, hs.installed_at, hs.size_bytes, hs.state, hs.channel, s.publisher, s.kind, \
                         s.name, s.version, s.arch FROM host_software hs JOIN software s ON s.id = hs.software_id \
                         WHERE hs.host_id = $1",
                    )
                    .bind(host_id)
                    .fetch_all(self.0.conn()?)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(StoredLink {
                                software_id: r.try_get("software_id")?,
                                installed_at: r.try_get("installed_at")?,
                                size_bytes: r.try_get("size_bytes")?,
                                state: r.try_get("state")?,
                                channel: r.try_get("channel")?,
                                publisher: r.try_get("publisher")?,
                                package: StoredPackage {
                                    kind: r.try_get("kind")?,
                                    name: r.try_get("name")?,
                                    version: r.try_get("version")?,
                                    arch: r.try_get("arch")?,
                                },
                            })
                        })
                        .collect()
                }

                async fn put_section(
                    &mut self,
                    host_id: &str,
                    section: SectionName,
                    hash: &str,
                    content: &str,
                    at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO host_sections (host_id, section, hash, content, updated_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (host_id, section) DO UPDATE SET \
                         hash = excluded.hash, content = excluded.content, updated_at = excluded.updated_at",
                    )
                    .bind(host_id)
                    .bind(section.as_str())
                    .bind(hash)
                    .bind(content)
                    .bind(to_ms(at))
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(())
                }

                async fn write_software(
                    &mut self,
                    host_id: &str,
                    change: &SoftwareChange<'_>,
                ) -> Result<(), StoreError> {
                    // Updated links' rows too: a snap's publisher (outside its id) may come with them.
                    let catalogue: Vec<&SoftwareRow<'_>> = change.insert.iter().chain(&change.update).collect();
                    for chunk in catalogue.chunks(CHUNK) {
                        let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                            "INSERT INTO software (id, kind, name, version, arch, source_name, source_version, path, \
                             owner, publisher) ",
                        );
                        qb.push_values(chunk, |mut b, row| {
                            let p = row.package;
                            b.push_bind(row.id.clone())
                                .push_bind(p.kind.as_str())
                                .push_bind(p.name.clone())
                                .push_bind(p.version.clone())
                                .push_bind(p.arch.clone())
                                .push_bind(p.source_name.clone())
                                .push_bind(p.source_version.clone())
                                .push_bind(p.path.clone())
                                .push_bind(p.owner.clone())
                                .push_bind(p.publisher.clone());
                        });
                        // Only a snap's publisher is outside its id (`ingest::software_id`): a row made while snapd
                        // did not answer takes it when it comes. The row is every host's, so the first publisher
                        // stays: one host (or a disk image read with --root) cannot rename another host's snap.
                        qb.push(
                            " ON CONFLICT (id) DO UPDATE SET publisher = excluded.publisher \
                             WHERE excluded.publisher IS NOT NULL AND software.publisher IS NULL",
                        );
                        qb.build().execute(self.0.conn()?).await?;
                    }
                    if change.first {
                        // Links left by a section stored under an older schema.
                        sqlx::query("DELETE FROM host_software WHERE host_id = $1")
                            .bind(host_id)
                            .execute(self.0.conn()?)
                            .await?;
                    }
                    for chunk in change.delete.chunks(CHUNK) {
                        let mut qb: QueryBuilder<'_, $db> =
                            QueryBuilder::new("DELETE FROM host_software WHERE host_id = ");
                        qb.push_bind(host_id.to_owned()).push(" AND software_id IN (");
                        let mut ids = qb.separated(", ");
                        for id in chunk {
                            ids.push_bind(id.clone());
                        }
                        qb.push(")");
                        qb.build().execute(self.0.conn()?).await?;
                    }
                    for row in &change.update {
                        sqlx::query(
                            "UPDATE host_software SET installed_at = $1, size_bytes = $2, state = $3, channel = $6 \
                             WHERE host_id = $4 AND software_id = $5",
                        )
                        .bind(row.package.installed_at.map(to_ms))
                        .bind(row.package.size_bytes.and_then(|s| i64::try_from(s).ok()))
                        .bind(row.package.state.clone())
                        .bind(host_id)
                        .bind(&row.id)
                        .bind(row.package.channel.clone())
                        .execute(self.0.conn()?)
                        .await?;
                    }
                    for chunk in change.insert.chunks(CHUNK) {
                        let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                            "INSERT INTO host_software (host_id, software_id, installed_at, size_bytes, state, channel) ",
                        );
                        qb.push_values(chunk, |mut b, row| {
                            b.push_bind(host_id.to_owned())
                                .push_bind(row.id.clone())
                                .push_bind(row.package.installed_at.map(to_ms))
                                .push_bind(row.package.size_bytes.and_then(|s| i64::try_from(s).ok()))
                                .push_bind(row.package.state.clone())
                                .push_bind(row.package.channel.clone());
                        });
                        qb.build().execute(self.0.conn()?).await?;
                    }
                    Ok(())
                }

                async fn image_digests(&mut self, host_id: &str) -> Result<BTreeMap<String, String>, StoreError> {
                    sqlx::query("SELECT image_id, digest FROM host_image_packages WHERE host_id = $1")
                        .bind(host_id)
                        .fetch_all(self.0.conn()?)
                        .await?
                        .iter()
                        .map(|r| Ok((r.try_get("image_id")?, r.try_get("digest")?)))
                        .collect()
                }

                async fn write_image_packages(&mut self, host_id: &str, change: &ImageChange) -> Result<(), StoreError> {
                    for id in &change.delete {
                        sqlx::query("DELETE FROM host_image_packages WHERE host_id = $1 AND image_id = $2")
                            .bind(host_id)
                            .bind(id)
                            .execute(self.0.conn()?)
                            .await?;
                    }
                    for image in &change.write {
                        sqlx::query(
                            "INSERT INTO host_image_packages (host_id, image_id, digest, packages) \
                             VALUES ($1, $2, $3, $4) ON CONFLICT (host_id, image_id) \
                             DO UPDATE SET digest = excluded.digest, packages = excluded.packages",
                        )
                        .bind(host_id)
                        .bind(&image.image_id)
                        .bind(&image.digest)
                        .bind(&image.packages)
                        .execute(self.0.conn()?)
                        .await?;
                    }
                    Ok(())
                }

                async fn enqueue_work(
                    &mut self,
                    host_id: &str,
                    work: i64,
                    report_id: &str,
                    at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    // The oldest waiting time stays in `enqueued_at` (what the lag measures), the first report
                    // since a claim in `requeued_at`; `seq` tells a worker that finished an older state that this
                    // one is newer.
                    sqlx::query(
                        "INSERT INTO host_work (host_id, work, seq, report_id, enqueued_at) \
                         VALUES ($1, $2, 1, $3, $4) ON CONFLICT (host_id) DO UPDATE SET \
                         work = host_work.work | excluded.work, seq = host_work.seq + 1, \
                         report_id = excluded.report_id, \
                         requeued_at = COALESCE(host_work.requeued_at, excluded.enqueued_at)",
                    )
                    .bind(host_id)
                    .bind(work)
                    .bind(report_id)
                    .bind(to_ms(at))
                    .execute(self.0.conn()?)
                    .await?;
                    Ok(())
                }

                async fn insert_history(
                    &mut self,
                    host_id: &str,
                    at: DateTime<Utc>,
                    report_id: &str,
                    events: &[HistoryEvent],
                ) -> Result<(), StoreError> {
                    let at = to_ms(at);
                    for chunk in events.chunks(CHUNK) {
                        let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                            "INSERT INTO history (host_id, at, report_id, kind, subject, from_value, to_value, \
                             details) ",
                        );
                        qb.push_values(chunk, |mut b, e| {
                            b.push_bind(host_id.to_owned())
                                .push_bind(at)
                                .push_bind(report_id.to_owned())
                                .push_bind(e.kind.as_str())
                                .push_bind(e.subject.clone())
                                .push_bind(e.from.clone())
                                .push_bind(e.to.clone())
                                .push_bind(e.details.to_string());
                        });
                        qb.build().execute(self.0.conn()?).await?;
                    }
                    Ok(())
                }

                async fn record_report(
                    &mut self,
                    host_id: &str,
                    host: &ReportedHost<'_>,
                    report: &ReportRow<'_>,
                    forget_before: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let now = to_ms(report.received_at);
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new($rec_open);
                    qb.push("UPDATE hosts SET last_seen = ").push_bind(now).push(", last_report_at = ").push_bind(now);
                    qb.push(", agent_version = ").push_bind(host.agent_version.to_owned());
                    if let Some(name) = host.hostname {
                        qb.push(", hostname = ").push_bind(name.to_owned());
                    }
                    if let Some(machine_id) = host.machine_id {
                        qb.push(", machine_id = ").push_bind(machine_id.to_owned());
                    }
                    if let Some((uuid, serial)) = &host.hardware_identity {
                        qb.push(", system_uuid = ").push_bind(uuid.clone());
                        qb.push(", system_serial = ").push_bind(serial.clone());
                    }
                    if let Some(os) = host.os {
                        qb.push(", os_id = ").push_bind(os.id.clone());
                        qb.push(", os_version_id = ").push_bind(os.version_id.clone());
                        qb.push(", os_pretty_name = ").push_bind(os.pretty_name.clone());
                        qb.push(", kernel_release = ").push_bind(os.kernel_release.clone());
                        qb.push(", architecture = ").push_bind(os.architecture.clone());
                    }
                    qb.push(" WHERE id = ").push_bind(host_id.to_owned());
                    qb.push($rec_mid);
                    qb.push("INSERT INTO reports (host_id, report_id, received_at, collected_at, full_sections) VALUES (");
                    qb.separated(", ")
                        .push_bind(host_id.to_owned())
                        .push_bind(report.report_id.to_owned())
                        .push_bind(now)
                        .push_bind(to_ms(report.collected_at))
                        .push_bind(report.full_sections.clone());
                    qb.push(")");
                    qb.push($rec_last);
                    qb.push("DELETE FROM reports WHERE host_id = ").push_bind(host_id.to_owned());
                    qb.push(" AND received_at < ").push_bind(to_ms(forget_before));
                    qb.build().execute(self.0.conn()?).await?;
                    Ok(())
                }

                async fn subscriptions(
                    &mut self,
                ) -> Result<Vec<crate::model::integrations::Subscription>, StoreError> {
                    super::findings_tx::subscription_rows(self.0.conn()?).await
                }

                async fn insert_event(
                    &mut self,
                    event: &crate::model::integrations::NewEvent,
                    integration_ids: &[String],
                ) -> Result<(), StoreError> {
                    super::findings_tx::insert_event_rows(self.0.conn()?, event, integration_ids).await.map(|_| ())
                }

                async fn commit(self: Box<Self>) -> Result<(), StoreError> {
                    self.0.commit().await
                }

                fn give_up(self: Box<Self>, why: &StoreError) {
                    self.0.give_up(why)
                }
            }
        }
    };
}

pub(super) use impl_host_tx;

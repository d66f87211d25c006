//! Storage of the disposal lifecycle: cases, evidence, certificates and the signing key, for both backends.
//!
//! Every transition is one conditional `UPDATE` (`… WHERE lifecycle_state = <expected>`) inside a transaction, so two
//! replicas acting on one host at once cannot both move it (nor both issue certificates).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use muster_shared::v1::Disk;

use crate::disposal::lifecycle::{Destination, Evidence, KnownDisk, LifecycleState};
use crate::model::integrations::Outbox;
use crate::store::StoreError;

/// A disposal case to open.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub id: String,
    pub host_id: String,
    pub reason: String,
    pub operator: String,
    pub verifier: String,
    pub location: String,
    pub planned_destination: Destination,
    pub revoke_token: bool,
    pub disks: Vec<KnownDisk>,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
}

/// A stored case, open or closed.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRecord {
    pub id: String,
    pub host_id: String,
    pub reason: String,
    pub operator: String,
    pub verifier: String,
    pub location: String,
    pub planned_destination: Destination,
    pub revoke_token: bool,
    pub disks: Vec<KnownDisk>,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
    pub sanitized_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// `disposed` or `redeployed`.
    pub outcome: Option<String>,
    pub destination: Option<Destination>,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredCertificate {
    pub id: String,
    pub case_id: String,
    pub host_id: String,
    pub disk_serial: String,
    pub issued_at: DateTime<Utc>,
    /// The signed document, byte for byte as issued.
    pub document: String,
}

/// A signing key; `secret_key` and `public_key` are hex.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub algorithm: String,
    pub secret_key: String,
    pub public_key: String,
    pub created_at: DateTime<Utc>,
}

/// How a case ends.
#[derive(Debug, Clone)]
pub struct CaseClosing<'a> {
    pub case_id: &'a str,
    pub host_id: &'a str,
    /// The host must be in one of these states.
    pub from: &'a [LifecycleState],
    pub to: LifecycleState,
    /// `disposed` or `redeployed`.
    pub outcome: &'a str,
    pub destination: Option<Destination>,
    pub reference: Option<&'a str>,
    pub now: DateTime<Utc>,
    /// Revoke the host's tokens as `retired` in the same transaction (disposal: the hardware is gone).
    pub retire_tokens: bool,
    /// The step's event for the integrations, written in the same transaction.
    pub outbox: Option<&'a Outbox>,
}

#[async_trait]
pub trait DisposalStore: Send + Sync {
    /// `None` when no such host.
    async fn lifecycle_state(&self, host_id: &str) -> Result<Option<LifecycleState>, StoreError>;
    /// Ids of hosts with exactly this hostname.
    async fn hosts_named(&self, hostname: &str) -> Result<Vec<String>, StoreError>;
    /// Hosts in a disposal (any state but `in_service`), by hostname.
    async fn hosts_in_disposal(&self) -> Result<Vec<String>, StoreError>;
    /// The disks of the host's stored hardware section; `None` when it has none.
    async fn inventory_disks(&self, host_id: &str) -> Result<Option<Vec<Disk>>, StoreError>;
    /// Opens a case and moves the host from `in_service` to `decommissioning`, with the step's event for the
    /// integrations; false (nothing written) when it was not in service.
    async fn open_case(&self, case: &NewCase, outbox: Option<&Outbox>) -> Result<bool, StoreError>;
    /// The host's open case, else its newest closed one (a host has at most one open case).
    async fn latest_case(&self, host_id: &str) -> Result<Option<CaseRecord>, StoreError>;
    /// Stores evidence, skipping ids already stored; returns how many were new.
    async fn add_evidence(&self, case_id: &str, evidence: &[Evidence]) -> Result<usize, StoreError>;
    async fn case_evidence(&self, case_id: &str) -> Result<Vec<Evidence>, StoreError>;
    /// Moves the host from `decommissioning` to `sanitized`, stores the certificates and, when the case asks,
    /// revokes the host's agent tokens; false (and nothing stored) when another request got there first.
    async fn mark_sanitized(
        &self,
        case: &CaseRecord,
        certificates: &[StoredCertificate],
        now: DateTime<Utc>,
        outbox: Option<&Outbox>,
    ) -> Result<bool, StoreError>;
    /// Closes an open case and moves the host; false (nothing changed) when the case or host state moved meanwhile.
    async fn close_case(&self, closing: &CaseClosing<'_>) -> Result<bool, StoreError>;
    async fn certificate(&self, id: &str) -> Result<Option<StoredCertificate>, StoreError>;
    async fn case_certificates(&self, case_id: &str) -> Result<Vec<StoredCertificate>, StoreError>;
    /// The key for `purpose`, storing `candidate` first if there is none yet (the first replica's key wins).
    async fn signing_key(&self, purpose: &str, candidate: &StoredKey) -> Result<StoredKey, StoreError>;
    /// The key for `purpose`, if one was ever created.
    async fn find_signing_key(&self, purpose: &str) -> Result<Option<StoredKey>, StoreError>;
}

macro_rules! impl_disposal_store {
    ($store:ty, $db:ty, $events:path) => {
        impl $store {
            /// A disposal step's event and deliveries, in the transaction of the step.
            async fn write_outbox(
                conn: &mut <$db as sqlx::Database>::Connection,
                outbox: Option<&Outbox>,
            ) -> Result<(), StoreError> {
                use $events as events;
                if let Some(o) = outbox {
                    events::insert_event_rows(conn, &o.event, &o.integration_ids).await?;
                }
                Ok(())
            }
        }

        #[async_trait]
        impl DisposalStore for $store {
            async fn lifecycle_state(&self, host_id: &str) -> Result<Option<LifecycleState>, StoreError> {
                let row = sqlx::query("SELECT lifecycle_state FROM hosts WHERE id = $1")
                    .bind(host_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let state: String = row.try_get("lifecycle_state")?;
                LifecycleState::parse(&state)
                    .map(Some)
                    .ok_or_else(|| StoreError::Corrupt(format!("lifecycle state {state:?}")))
            }

            async fn hosts_named(&self, hostname: &str) -> Result<Vec<String>, StoreError> {
                let rows = sqlx::query("SELECT id FROM hosts WHERE hostname = $1 ORDER BY id")
                    .bind(hostname)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
            }

            async fn hosts_in_disposal(&self) -> Result<Vec<String>, StoreError> {
                let rows =
                    sqlx::query("SELECT id FROM hosts WHERE lifecycle_state <> 'in_service' ORDER BY hostname, id")
                        .fetch_all(&self.pool)
                        .await?;
                rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
            }

            async fn inventory_disks(&self, host_id: &str) -> Result<Option<Vec<Disk>>, StoreError> {
                let row = sqlx::query("SELECT content FROM host_sections WHERE host_id = $1 AND section = 'hardware'")
                    .bind(host_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let content: String = row.try_get("content")?;
                let hardware: muster_shared::v1::Hardware = serde_json::from_str(&content)
                    .map_err(|e| StoreError::Corrupt(format!("hardware section of {host_id}: {e}")))?;
                Ok(Some(hardware.disks))
            }

            async fn open_case(&self, case: &NewCase, outbox: Option<&Outbox>) -> Result<bool, StoreError> {
                let disks = serde_json::to_string(&case.disks).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.writer.begin().await?;
                let moved = sqlx::query(
                    "UPDATE hosts SET lifecycle_state = 'decommissioning' \
                     WHERE id = $1 AND lifecycle_state = 'in_service'",
                )
                .bind(&case.host_id)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO disposal_cases (id, host_id, reason, operator, verifier, location, \
                     planned_destination, revoke_token, disks, opened_by, opened_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&case.id)
                .bind(&case.host_id)
                .bind(&case.reason)
                .bind(&case.operator)
                .bind(&case.verifier)
                .bind(&case.location)
                .bind(case.planned_destination.as_str())
                .bind(case.revoke_token)
                .bind(disks)
                .bind(&case.opened_by)
                .bind(to_ms(case.opened_at))
                .execute(&mut *tx)
                .await?;
                <$store>::write_outbox(&mut tx, outbox).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn latest_case(&self, host_id: &str) -> Result<Option<CaseRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, host_id, reason, operator, verifier, location, planned_destination, revoke_token, \
                     disks, opened_by, opened_at, sanitized_at, closed_at, outcome, destination, reference \
                     FROM disposal_cases WHERE host_id = $1 \
                     ORDER BY CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END, opened_at DESC, closed_at DESC, id DESC \
                     LIMIT 1",
                )
                .bind(host_id)
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = row else { return Ok(None) };
                let destination = |text: String| {
                    Destination::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("destination {text:?}")))
                };
                let disks: String = r.try_get("disks")?;
                Ok(Some(CaseRecord {
                    id: r.try_get("id")?,
                    host_id: r.try_get("host_id")?,
                    reason: r.try_get("reason")?,
                    operator: r.try_get("operator")?,
                    verifier: r.try_get("verifier")?,
                    location: r.try_get("location")?,
                    planned_destination: destination(r.try_get("planned_destination")?)?,
                    revoke_token: r.try_get("revoke_token")?,
                    disks: serde_json::from_str(&disks).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    opened_by: r.try_get("opened_by")?,
                    opened_at: from_ms(r.try_get("opened_at")?),
                    sanitized_at: r.try_get::<Option<i64>, _>("sanitized_at")?.map(from_ms),
                    closed_at: r.try_get::<Option<i64>, _>("closed_at")?.map(from_ms),
                    outcome: r.try_get("outcome")?,
                    destination: r.try_get::<Option<String>, _>("destination")?.map(destination).transpose()?,
                    reference: r.try_get("reference")?,
                }))
            }

            async fn add_evidence(&self, case_id: &str, evidence: &[Evidence]) -> Result<usize, StoreError> {
                let mut tx = self.writer.begin().await?;
                let mut added = 0;
                for e in evidence {
                    let done = sqlx::query(
                        "INSERT INTO disposal_evidence (id, case_id, kind, disk_serial, disk_name, passed, \
                         recorded_at, recorded_by, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(&e.id)
                    .bind(case_id)
                    .bind(e.kind.as_str())
                    .bind(&e.disk_serial)
                    .bind(&e.disk_name)
                    .bind(e.passed)
                    .bind(to_ms(e.recorded_at))
                    .bind(&e.recorded_by)
                    .bind(e.details.to_string())
                    .execute(&mut *tx)
                    .await?;
                    added += done.rows_affected() as usize;
                }
                tx.commit().await?;
                Ok(added)
            }

            async fn case_evidence(&self, case_id: &str) -> Result<Vec<Evidence>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, kind, disk_serial, disk_name, passed, recorded_at, recorded_by, details \
                     FROM disposal_evidence WHERE case_id = $1 ORDER BY recorded_at, id",
                )
                .bind(case_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let kind: String = r.try_get("kind")?;
                        let details: String = r.try_get("details")?;
                        Ok(Evidence {
                            id: r.try_get("id")?,
                            kind: EvidenceKind::parse(&kind)
                                .ok_or_else(|| StoreError::Corrupt(format!("evidence kind {kind:?}")))?,
                            disk_serial: r.try_get("disk_serial")?,
                            disk_name: r.try_get("disk_name")?,
                            passed: r.try_get("passed")?,
                            recorded_at: from_ms(r.try_get("recorded_at")?),
                            recorded_by: r.try_get("recorded_by")?,
                            details: serde_json::from_str(&details).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        })
                    })
                    .collect()
            }

            async fn mark_sanitized(
                &self,
                case: &CaseRecord,
                certificates: &[StoredCertificate],
                now: DateTime<Utc>,
                outbox: Option<&Outbox>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin().await?;
                let case_moved = sqlx::query(
                    "UPDATE disposal_cases SET sanitized_at = $1 \
                     WHERE id = $2 AND closed_at IS NULL AND sanitized_at IS NULL",
                )
                .bind(to_ms(now))
                .bind(&case.id)
                .execute(&mut *tx)
                .await?;
                let host_moved = sqlx::query(
                    "UPDATE hosts SET lifecycle_state = 'sanitized' \
                     WHERE id = $1 AND lifecycle_state = 'decommissioning'",
                )
                .bind(&case.host_id)
                .execute(&mut *tx)
                .await?;
                if case_moved.rows_affected() == 0 || host_moved.rows_affected() == 0 {
                    return Ok(false);
                }
                for c in certificates {
                    sqlx::query(
                        "INSERT INTO disposal_certificates (id, case_id, host_id, disk_serial, issued_at, document) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&c.id)
                    .bind(&c.case_id)
                    .bind(&c.host_id)
                    .bind(&c.disk_serial)
                    .bind(to_ms(c.issued_at))
                    .bind(&c.document)
                    .execute(&mut *tx)
                    .await?;
                }
                if case.revoke_token {
                    sqlx::query(
                        "UPDATE host_tokens SET revoked_at = $1, revoked_reason = 'retired' \
                         WHERE host_id = $2 AND revoked_at IS NULL",
                    )
                    .bind(to_ms(now))
                    .bind(&case.host_id)
                    .execute(&mut *tx)
                    .await?;
                }
                <$store>::write_outbox(&mut tx, outbox).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn close_case(&self, closing: &CaseClosing<'_>) -> Result<bool, StoreError> {
                let mut tx = self.writer.begin().await?;
                let case_closed = sqlx::query(
                    "UPDATE disposal_cases SET closed_at = $1, outcome = $2, destination = $3, reference = $4 \
                     WHERE id = $5 AND closed_at IS NULL",
                )
                .bind(to_ms(closing.now))
                .bind(closing.outcome)
                .bind(closing.destination.map(Destination::as_str))
                .bind(closing.reference)
                .bind(closing.case_id)
                .execute(&mut *tx)
                .await?;
                let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new("UPDATE hosts SET lifecycle_state = ");
                qb.push_bind(closing.to.as_str()).push(" WHERE id = ").push_bind(closing.host_id.to_owned());
                qb.push(" AND lifecycle_state IN (");
                let mut states = qb.separated(", ");
                for state in closing.from {
                    states.push_bind(state.as_str());
                }
                qb.push(")");
                let host_moved = qb.build().execute(&mut *tx).await?;
                if case_closed.rows_affected() == 0 || host_moved.rows_affected() == 0 {
                    return Ok(false);
                }
                if closing.retire_tokens {
                    sqlx::query(
                        "UPDATE host_tokens SET revoked_at = $1, revoked_reason = 'retired' \
                         WHERE host_id = $2 AND revoked_at IS NULL",
                    )
                    .bind(to_ms(closing.now))
                    .bind(closing.host_id)
                    .execute(&mut *tx)
                    .await?;
                    // A held take-over of a host that is gone can never be approved.
                    sqlx::query(
                        "UPDATE enrolment_requests SET state = 'rejected', decided_at = $1, decided_by = 'disposal' \
                         WHERE host_id = $2 AND state = 'pending'",
                    )
                    .bind(to_ms(closing.now))
                    .bind(closing.host_id)
                    .execute(&mut *tx)
                    .await?;
                }
                <$store>::write_outbox(&mut tx, closing.outbox).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn certificate(&self, id: &str) -> Result<Option<StoredCertificate>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, case_id, host_id, disk_serial, issued_at, document FROM disposal_certificates \
                     WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(certificate_from_row).transpose()
            }

            async fn case_certificates(&self, case_id: &str) -> Result<Vec<StoredCertificate>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, case_id, host_id, disk_serial, issued_at, document FROM disposal_certificates \
                     WHERE case_id = $1 ORDER BY disk_serial, id",
                )
                .bind(case_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(certificate_from_row).collect()
            }

            async fn signing_key(&self, purpose: &str, candidate: &StoredKey) -> Result<StoredKey, StoreError> {
                sqlx::query(
                    "INSERT INTO signing_keys (purpose, algorithm, secret_key, public_key, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (purpose) DO NOTHING",
                )
                .bind(purpose)
                .bind(&candidate.algorithm)
                .bind(&candidate.secret_key)
                .bind(&candidate.public_key)
                .bind(to_ms(candidate.created_at))
                .execute(&self.writer)
                .await?;
                self.find_signing_key(purpose)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("signing key {purpose:?} vanished")))
            }

            async fn find_signing_key(&self, purpose: &str) -> Result<Option<StoredKey>, StoreError> {
                let row = sqlx::query(
                    "SELECT algorithm, secret_key, public_key, created_at FROM signing_keys WHERE purpose = $1",
                )
                .bind(purpose)
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(StoredKey {
                    algorithm: r.try_get("algorithm")?,
                    secret_key: r.try_get("secret_key")?,
                    public_key: r.try_get("public_key")?,
                    created_at: from_ms(r.try_get("created_at")?),
                }))
            }
        }
    };
}

fn certificate_from_row<R: sqlx::Row>(r: &R) -> Result<StoredCertificate, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(StoredCertificate {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        host_id: r.try_get("host_id")?,
        disk_serial: r.try_get("disk_serial")?,
        issued_at: from_ms(r.try_get("issued_at")?),
        document: r.try_get("document")?,
    })
}

mod backends {
    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use muster_shared::v1::Disk;
    use sqlx::{QueryBuilder, Row};

    use super::{CaseClosing, CaseRecord, DisposalStore, NewCase, StoredCertificate, StoredKey, certificate_from_row};
    use crate::disposal::lifecycle::{Destination, Evidence, EvidenceKind, LifecycleState};
    use crate::model::integrations::Outbox;
    use crate::model::{from_ms, to_ms};
    use crate::store::{PgStore, SqliteStore, StoreError};

    impl_disposal_store!(SqliteStore, sqlx::Sqlite, crate::store::sqlite::findings_tx);
    impl_disposal_store!(PgStore, sqlx::Postgres, crate::store::postgres::findings_tx);
}

use crate::model::from_ms;

//! Storage of integrations: the subscriptions, the outbox of events and each event's delivery to each
//! subscription, claimed by one worker at a time under a lease; one body for SQLite and PostgreSQL. What is sent
//! and when is `app::integrations`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::model::integrations::{
    Attempt, ClaimedIntegration, DeliveryRecord, FindingTicket, Integration, IntegrationSettings, JiraSettings,
    NewEvent, NewIntegration, PendingDelivery, ServiceNowSettings, Ticket,
};

#[async_trait]
pub trait IntegrationStore: Send + Sync {
    /// False when the name is taken.
    async fn create_integration(&self, new: &NewIntegration) -> Result<bool, StoreError>;
    /// By name.
    async fn list_integrations(&self) -> Result<Vec<Integration>, StoreError>;
    /// The enabled integrations as deciding who wants an event needs them, for events with no transaction of their
    /// own (the same read the findings and enrolment transactions make).
    async fn subscriptions(&self) -> Result<Vec<crate::model::integrations::Subscription>, StoreError>;
    /// By id or by name.
    async fn find_integration(&self, id_or_name: &str) -> Result<Option<Integration>, StoreError>;
    /// Removes it with its deliveries; false when there was none.
    async fn delete_integration(&self, id: &str) -> Result<bool, StoreError>;
    async fn set_integration_enabled(&self, id: &str, enabled: bool) -> Result<bool, StoreError>;
    /// Replaces the events, filters and digest; false when there is no such integration.
    async fn update_integration_settings(&self, id: &str, settings: &IntegrationSettings) -> Result<bool, StoreError>;
    /// The current secret becomes the previous one, signing beside `secret` until `previous_until`.
    async fn rotate_integration_secret(
        &self,
        id: &str,
        secret: &str,
        previous_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// An event and its deliveries to `integration_ids`, in one transaction (events no finding change carries:
    /// test sends). Returns the event's sequence number.
    async fn enqueue_event(&self, event: &NewEvent, integration_ids: &[String]) -> Result<i64, StoreError>;
    /// Claims up to `limit` enabled subscriptions with a pending delivery, not held back by a retry and whose
    /// claim is free, for `worker` until `until`; only `only`'s when given. On PostgreSQL rows another replica is
    /// claiming are skipped, not waited for.
    async fn claim_integrations(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
        only: Option<&str>,
    ) -> Result<Vec<ClaimedIntegration>, StoreError>;
    /// The subscription's pending deliveries, oldest event first.
    async fn pending_deliveries(&self, integration_id: &str, limit: i64) -> Result<Vec<PendingDelivery>, StoreError>;
    /// Writes an attempt's result (and, for a failure to retry, holds the subscription back until
    /// `attempt.retry_at`) while `claim` still holds the subscription; false when it no longer does.
    async fn record_attempt(
        &self,
        claim: &ClaimedIntegration,
        event_seq: i64,
        attempt: &Attempt,
    ) -> Result<bool, StoreError>;
    /// Extends the claim to `until` before a delivery, so a live worker keeps it and a dead one's lapses soon;
    /// false when the row no longer holds it.
    async fn renew_integration_claim(
        &self,
        claim: &ClaimedIntegration,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Frees the claim (only while the row still holds it).
    async fn release_integration(&self, claim: &ClaimedIntegration) -> Result<(), StoreError>;
    /// Releases the claim and holds the subscription back until `until` (a digest waiting for its oldest event to
    /// be old enough).
    async fn hold_integration(&self, claim: &ClaimedIntegration, until: DateTime<Utc>) -> Result<(), StoreError>;
    /// Ends a hold or a retry wait at once (a test someone asked for goes out now).
    async fn wake_integration(&self, id: &str) -> Result<(), StoreError>;
    /// As `WorkStore::release_dead_claims`: on SQLite every claim not `worker`'s is a dead process's.
    async fn release_dead_integration_claims(&self, worker: &str) -> Result<u64, StoreError>;
    /// The delivery log, newest event first.
    async fn list_deliveries(&self, integration_id: &str, limit: i64) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// A dead delivery pending again, its attempts reset; false when it is not dead.
    async fn replay_delivery(&self, integration_id: &str, event_seq: i64) -> Result<bool, StoreError>;
    /// Replaces the secret outright (a ticket system's new token: nothing to sign beside the old one).
    async fn replace_integration_secret(&self, id: &str, secret: &str) -> Result<bool, StoreError>;
    /// The ticket `integration_id` opened for the finding.
    async fn ticket(&self, integration_id: &str, finding_id: &str) -> Result<Option<Ticket>, StoreError>;
    /// Remembers the finding's ticket (the latest wins: a ticket deleted or closed in the tracker and opened again).
    async fn save_ticket(
        &self,
        integration_id: &str,
        finding_id: &str,
        ticket: &Ticket,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The tickets every subscription opened for the finding, by subscription name.
    async fn finding_tickets(&self, finding_id: &str) -> Result<Vec<FindingTicket>, StoreError>;
}

/// The `settings` column: a JSON object with the kind's own settings (`{"jira": {…}}`, `{"servicenow": {…}}`), `{}`
/// for the others.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct KindSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira: Option<JiraSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servicenow: Option<ServiceNowSettings>,
}

pub(super) fn settings_json(jira: Option<&JiraSettings>, servicenow: Option<&ServiceNowSettings>) -> String {
    let s = KindSettings { jira: jira.cloned(), servicenow: servicenow.cloned() };
    serde_json::to_string(&s).unwrap_or_else(|_| "{}".to_owned())
}

pub(super) fn settings_of(text: &str) -> Result<KindSettings, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("integration settings: {e}")))
}

pub(super) fn events_json(events: &[String]) -> String {
    serde_json::Value::from(events.to_vec()).to_string()
}

/// A JSON array of strings as the integrations table keeps them (events, rules, tags).
pub(super) fn events_of(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("integration list: {e}")))
}

macro_rules! impl_integration_store {
    ($store:ty, $db:ty, $skip_locked:expr, $release_all:expr) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Row};

            use crate::model::integrations::{
                Attempt, ClaimedIntegration, DeliveryRecord, DeliveryStatus, Integration, IntegrationKind, NewEvent,
                NewIntegration, PayloadFormat, PendingDelivery, Ticket,
            };
            use crate::model::{Severity, from_ms, to_ms};
            use crate::store::StoreError;
            use crate::store::integrations::{IntegrationStore, events_json, events_of, settings_json, settings_of};

            const COLUMNS: &str = "id, name, kind, url, format, events, min_severity, enabled, created_at, created_by, \
                 previous_until, digest_minutes, rules, tags, settings";

            /// Checked when written (`integrations::check`); a value outside `u32` is a corrupt row.
            fn digest_of(r: &<$db as sqlx::Database>::Row) -> Result<Option<u32>, StoreError> {
                let minutes: Option<i64> = r.try_get("digest_minutes")?;
                minutes
                    .map(|m| u32::try_from(m).map_err(|_| StoreError::Corrupt(format!("digest minutes {m}"))))
                    .transpose()
            }

            fn kind_of(text: &str) -> Result<IntegrationKind, StoreError> {
                IntegrationKind::parse(text)
                    .ok_or_else(|| StoreError::Corrupt(format!("integration kind {text:?}")))
            }

            fn format_of(text: &str) -> Result<PayloadFormat, StoreError> {
                PayloadFormat::parse(text)
                    .ok_or_else(|| StoreError::Corrupt(format!("integration format {text:?}")))
            }

            fn integration(r: &<$db as sqlx::Database>::Row) -> Result<Integration, StoreError> {
                let min: Option<String> = r.try_get("min_severity")?;
                let settings = settings_of(&r.try_get::<String, _>("settings")?)?;
                Ok(Integration {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    kind: kind_of(&r.try_get::<String, _>("kind")?)?,
                    url: r.try_get("url")?,
                    format: format_of(&r.try_get::<String, _>("format")?)?,
                    events: events_of(&r.try_get::<String, _>("events")?)?,
                    min_severity: min.as_deref().and_then(Severity::parse),
                    rules: events_of(&r.try_get::<String, _>("rules")?)?,
                    tags: events_of(&r.try_get::<String, _>("tags")?)?,
                    digest_minutes: digest_of(r)?,
                    enabled: r.try_get("enabled")?,
                    created_at: from_ms(r.try_get("created_at")?),
                    created_by: r.try_get("created_by")?,
                    previous_secret_until: r.try_get::<Option<i64>, _>("previous_until")?.map(from_ms),
                    jira: settings.jira,
                    servicenow: settings.servicenow,
                })
            }

            #[async_trait]
            impl IntegrationStore for $store {
                async fn create_integration(&self, new: &NewIntegration) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "INSERT INTO integrations (id, name, kind, url, secret, events, min_severity, enabled, \
                         created_at, created_by, format, digest_minutes, rules, tags, settings) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $9, $10, $11, $12, $13, $14) \
                         ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(&new.id)
                    .bind(&new.name)
                    .bind(new.kind.as_str())
                    .bind(&new.url)
                    .bind(&new.secret)
                    .bind(events_json(&new.events))
                    .bind(new.min_severity.map(Severity::as_str))
                    .bind(to_ms(new.created_at))
                    .bind(&new.created_by)
                    .bind(new.format.as_str())
                    .bind(new.digest_minutes.map(i64::from))
                    .bind(events_json(&new.rules))
                    .bind(events_json(&new.tags))
                    .bind(settings_json(new.jira.as_ref(), new.servicenow.as_ref()))
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn list_integrations(&self) -> Result<Vec<Integration>, StoreError> {
                    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM integrations ORDER BY name"))
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(integration).collect()
                }

                async fn subscriptions(&self) -> Result<Vec<crate::model::integrations::Subscription>, StoreError> {
                    let mut conn = self.pool.acquire().await?;
                    findings_tx::subscription_rows(&mut conn).await
                }

                async fn find_integration(&self, id_or_name: &str) -> Result<Option<Integration>, StoreError> {
                    let row = sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM integrations WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1"
                    ))
                    .bind(id_or_name)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(integration).transpose()
                }

                async fn delete_integration(&self, id: &str) -> Result<bool, StoreError> {
                    // The deliveries go by `ON DELETE CASCADE`: the subscription's row is locked first, in the
                    // order a delivery worker's `record_attempt` takes them, so the two cannot deadlock.
                    let done = sqlx::query("DELETE FROM integrations WHERE id = $1").bind(id).execute(&self.writer).await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn update_integration_settings(
                    &self,
                    id: &str,
                    s: &crate::model::integrations::IntegrationSettings,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE integrations SET events = $1, min_severity = $2, rules = $3, tags = $4, \
                         digest_minutes = $5 WHERE id = $6",
                    )
                    .bind(events_json(&s.events))
                    .bind(s.min_severity.map(Severity::as_str))
                    .bind(events_json(&s.rules))
                    .bind(events_json(&s.tags))
                    .bind(s.digest_minutes.map(i64::from))
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn set_integration_enabled(&self, id: &str, enabled: bool) -> Result<bool, StoreError> {
                    let done = sqlx::query("UPDATE integrations SET enabled = $1 WHERE id = $2")
                        .bind(enabled)
                        .bind(id)
                        .execute(&self.writer)
                        .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn rotate_integration_secret(
                    &self,
                    id: &str,
                    secret: &str,
                    previous_until: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE integrations SET previous_secret = secret, previous_until = $1, secret = $2 \
                         WHERE id = $3",
                    )
                    .bind(to_ms(previous_until))
                    .bind(secret)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn enqueue_event(&self, event: &NewEvent, integration_ids: &[String]) -> Result<i64, StoreError> {
                    let mut tx = self.writer.begin().await?;
                    let seq = findings_tx::insert_event_rows(&mut tx, event, integration_ids).await?;
                    tx.commit().await?;
                    Ok(seq)
                }

                async fn claim_integrations(
                    &self,
                    worker: &str,
                    now: DateTime<Utc>,
                    until: DateTime<Utc>,
                    limit: i64,
                    only: Option<&str>,
                ) -> Result<Vec<ClaimedIntegration>, StoreError> {
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("UPDATE integrations SET claimed_by = ");
                    qb.push_bind(worker.to_owned()).push(", claimed_until = ").push_bind(to_ms(until));
                    qb.push(" WHERE id IN (SELECT i.id FROM integrations i WHERE i.enabled");
                    qb.push(" AND (i.claimed_until IS NULL OR i.claimed_until <= ").push_bind(to_ms(now)).push(")");
                    qb.push(" AND (i.retry_at IS NULL OR i.retry_at <= ").push_bind(to_ms(now)).push(")");
                    qb.push(" AND EXISTS (SELECT 1 FROM deliveries d WHERE d.integration_id = i.id");
                    qb.push(" AND d.status = 'pending')");
                    if let Some(only) = only {
                        qb.push(" AND i.id = ").push_bind(only.to_owned());
                    }
                    // The subscription whose oldest waiting event is oldest first: with more busy subscriptions
                    // than a claim takes, none waits behind the others for ever.
                    qb.push(
                        " ORDER BY (SELECT MIN(d.event_seq) FROM deliveries d WHERE d.integration_id = i.id \
                         AND d.status = 'pending'), i.id LIMIT ",
                    );
                    qb.push_bind(limit).push($skip_locked).push(")");
                    qb.push(
                        " RETURNING id, name, kind, url, format, secret, previous_secret, previous_until, \
                         claimed_by, claimed_until, digest_minutes, settings",
                    );
                    let rows = qb.build().fetch_all(&self.writer).await?;
                    rows.iter()
                        .map(|r| {
                            let settings = settings_of(&r.try_get::<String, _>("settings")?)?;
                            Ok(ClaimedIntegration {
                                id: r.try_get("id")?,
                                name: r.try_get("name")?,
                                kind: kind_of(&r.try_get::<String, _>("kind")?)?,
                                url: r.try_get("url")?,
                                format: format_of(&r.try_get::<String, _>("format")?)?,
                                secret: r.try_get("secret")?,
                                previous_secret: r.try_get("previous_secret")?,
                                previous_until: r.try_get::<Option<i64>, _>("previous_until")?.map(from_ms),
                                digest_minutes: digest_of(r)?,
                                jira: settings.jira,
                                servicenow: settings.servicenow,
                                claimed_by: r.try_get::<Option<String>, _>("claimed_by")?.unwrap_or_default(),
                                claimed_until: from_ms(r.try_get::<Option<i64>, _>("claimed_until")?.unwrap_or(0)),
                            })
                        })
                        .collect()
                }

                async fn pending_deliveries(
                    &self,
                    integration_id: &str,
                    limit: i64,
                ) -> Result<Vec<PendingDelivery>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT d.event_seq, d.attempts, e.id, e.type, e.at, e.body FROM deliveries d \
                         JOIN events e ON e.seq = d.event_seq \
                         WHERE d.integration_id = $1 AND d.status = 'pending' ORDER BY d.event_seq LIMIT $2",
                    )
                    .bind(integration_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(PendingDelivery {
                                event_seq: r.try_get("event_seq")?,
                                event_id: r.try_get("id")?,
                                event_type: r.try_get("type")?,
                                at: from_ms(r.try_get("at")?),
                                body: r.try_get("body")?,
                                attempts: r.try_get("attempts")?,
                            })
                        })
                        .collect()
                }

                async fn record_attempt(
                    &self,
                    claim: &ClaimedIntegration,
                    event_seq: i64,
                    attempt: &Attempt,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.writer.begin().await?;
                    // Writing the subscription first takes its row lock (PostgreSQL) or the write lock (SQLite)
                    // and proves the claim is still this worker's.
                    let held = sqlx::query("UPDATE integrations SET retry_at = $1 WHERE id = $2 AND claimed_by = $3")
                    .bind(attempt.retry_at.map(to_ms))
                    .bind(&claim.id)
                    .bind(&claim.claimed_by)
                    .execute(&mut *tx)
                    .await?;
                    if held.rows_affected() == 0 {
                        return Ok(false);
                    }
                    sqlx::query(
                        "UPDATE deliveries SET status = $1, attempts = attempts + 1, last_attempt_at = $2, \
                         response_code = $3, error = $4 WHERE integration_id = $5 AND event_seq = $6 \
                         AND status = 'pending'",
                    )
                    .bind(attempt.status.as_str())
                    .bind(to_ms(attempt.at))
                    .bind(attempt.response_code.map(i32::from))
                    .bind(&attempt.error)
                    .bind(&claim.id)
                    .bind(event_seq)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn renew_integration_claim(
                    &self,
                    claim: &ClaimedIntegration,
                    until: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE integrations SET claimed_until = $1 WHERE id = $2 AND claimed_by = $3",
                    )
                    .bind(to_ms(until))
                    .bind(&claim.id)
                    .bind(&claim.claimed_by)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn release_integration(&self, claim: &ClaimedIntegration) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE integrations SET claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $2",
                    )
                    .bind(&claim.id)
                    .bind(&claim.claimed_by)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn hold_integration(
                    &self,
                    claim: &ClaimedIntegration,
                    until: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE integrations SET retry_at = $1, claimed_by = NULL, claimed_until = NULL \
                         WHERE id = $2 AND claimed_by = $3",
                    )
                    .bind(to_ms(until))
                    .bind(&claim.id)
                    .bind(&claim.claimed_by)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn wake_integration(&self, id: &str) -> Result<(), StoreError> {
                    sqlx::query("UPDATE integrations SET retry_at = NULL WHERE id = $1").bind(id).execute(&self.writer).await?;
                    Ok(())
                }

                async fn release_dead_integration_claims(&self, worker: &str) -> Result<u64, StoreError> {
                    if !$release_all {
                        return Ok(0);
                    }
                    let freed = sqlx::query(
                        "UPDATE integrations SET claimed_by = NULL, claimed_until = NULL \
                         WHERE claimed_by IS NOT NULL AND claimed_by <> $1",
                    )
                    .bind(worker)
                    .execute(&self.writer)
                    .await?;
                    Ok(freed.rows_affected())
                }

                async fn list_deliveries(
                    &self,
                    integration_id: &str,
                    limit: i64,
                ) -> Result<Vec<DeliveryRecord>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT d.event_seq, d.status, d.attempts, d.last_attempt_at, d.response_code, d.error, \
                         e.id, e.type, e.at FROM deliveries d JOIN events e ON e.seq = d.event_seq \
                         WHERE d.integration_id = $1 ORDER BY d.event_seq DESC LIMIT $2",
                    )
                    .bind(integration_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            let status: String = r.try_get("status")?;
                            Ok(DeliveryRecord {
                                event_seq: r.try_get("event_seq")?,
                                event_id: r.try_get("id")?,
                                event_type: r.try_get("type")?,
                                event_at: from_ms(r.try_get("at")?),
                                status: DeliveryStatus::parse(&status)
                                    .ok_or_else(|| StoreError::Corrupt(format!("delivery status {status:?}")))?,
                                attempts: r.try_get("attempts")?,
                                last_attempt_at: r.try_get::<Option<i64>, _>("last_attempt_at")?.map(from_ms),
                                response_code: r
                                    .try_get::<Option<i32>, _>("response_code")?
                                    .and_then(|c| u16::try_from(c).ok()),
                                error: r.try_get("error")?,
                            })
                        })
                        .collect()
                }

                async fn replay_delivery(&self, integration_id: &str, event_seq: i64) -> Result<bool, StoreError> {
                    let mut tx = self.writer.begin().await?;
                    let done = sqlx::query(
                        "UPDATE deliveries SET status = 'pending', attempts = 0 \
                         WHERE integration_id = $1 AND event_seq = $2 AND status = 'dead'",
                    )
                    .bind(integration_id)
                    .bind(event_seq)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    // Sent at the next turn, not after the wait of an earlier failure.
                    sqlx::query("UPDATE integrations SET retry_at = NULL WHERE id = $1")
                        .bind(integration_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn replace_integration_secret(&self, id: &str, secret: &str) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE integrations SET secret = $1, previous_secret = NULL, previous_until = NULL \
                         WHERE id = $2",
                    )
                    .bind(secret)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn ticket(&self, integration_id: &str, finding_id: &str) -> Result<Option<Ticket>, StoreError> {
                    let row = sqlx::query(
                        "SELECT ticket, reference FROM integration_tickets \
                         WHERE integration_id = $1 AND finding_id = $2",
                    )
                    .bind(integration_id)
                    .bind(finding_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(|r| {
                        let key: String = r.try_get("ticket")?;
                        let reference: String = r.try_get("reference")?;
                        // Rows from before references were kept are Jira's, whose key is its reference.
                        let reference = if reference.is_empty() { key.clone() } else { reference };
                        Ok(Ticket { key, reference })
                    })
                    .transpose()
                }

                async fn save_ticket(
                    &self,
                    integration_id: &str,
                    finding_id: &str,
                    ticket: &Ticket,
                    now: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO integration_tickets (integration_id, finding_id, ticket, reference, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (integration_id, finding_id) \
                         DO UPDATE SET ticket = excluded.ticket, reference = excluded.reference, \
                         created_at = excluded.created_at",
                    )
                    .bind(integration_id)
                    .bind(finding_id)
                    .bind(&ticket.key)
                    .bind(&ticket.reference)
                    .bind(to_ms(now))
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn finding_tickets(
                    &self,
                    finding_id: &str,
                ) -> Result<Vec<crate::model::integrations::FindingTicket>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT i.name, i.kind, i.url, t.ticket, t.reference FROM integration_tickets t \
                         JOIN integrations i ON i.id = t.integration_id WHERE t.finding_id = $1 ORDER BY i.name",
                    )
                    .bind(finding_id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            let ticket: String = r.try_get("ticket")?;
                            let reference: String = r.try_get("reference")?;
                            let site: String = r.try_get("url")?;
                            let url = match kind_of(&r.try_get::<String, _>("kind")?)? {
                                IntegrationKind::ServiceNow => {
                                    crate::integrations::servicenow::record_url(&site, &reference)
                                }
                                _ => crate::integrations::jira::browse_url(&site, &ticket),
                            };
                            Ok(crate::model::integrations::FindingTicket {
                                integration: r.try_get("name")?,
                                url,
                                ticket,
                            })
                        })
                        .collect()
                }
            }
        };
    };
}

pub(super) use impl_integration_store;

//! The integration use cases: subscriptions (add, list, remove, enable, rotate the secret or replace a token, test,
//! replay) and the outbox write a change makes in its own transaction. The delivery worker that sends what was
//! committed is [`delivery`]; Jira's calls and syslog's transports are [`jira`] and [`syslog`].
//!
//! A collector killed after the commit finds the delivery pending at its next start; one killed after the
//! receiver answered but before the answer was written sends it again with the same `webhook-id`, so receivers
//! drop the repeat.

mod delivery;
mod jira;
mod servicenow;
mod syslog;
mod tracker;

pub use delivery::{Sender, drain, run_batch, spawn};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::audit::{self, Actor, AuditEvent, IntegrationChange};
use crate::integrations::{self, About, IntegrationError, IntegrationRequest};
use crate::model::findings::Status;
use crate::model::integrations::{
    DeliveryRecord, Integration, IntegrationKind, IntegrationSettings, NewEvent, NewIntegration, Outbox, Subscription,
};
use crate::store::findings_tx::FindingsTx;
use crate::store::tx::HostTx;
use crate::store::{Store, StoreError};
use crate::tokens;

/// One finding's change, as `app::findings` records it: a step of its lifecycle or its escalation.
pub(crate) struct FindingChange<'a> {
    pub finding_id: &'a str,
    pub host_id: &'a str,
    pub rule_id: &'a str,
    /// `integrations::finding_event_type` of the step, or `integrations::FINDING_OVERDUE`.
    pub event_type: &'a str,
    pub from: Option<Status>,
    pub to: Status,
    pub actor: &'a str,
    pub comment: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// Writes the change's event with a delivery for each subscription that wants it, in the finding's own
/// transaction; nothing when none does (the common case costs no write).
pub(crate) async fn finding_changed(
    tx: &mut dyn FindingsTx,
    subscriptions: &[Subscription],
    change: FindingChange<'_>,
) -> Result<(), StoreError> {
    let event_type = change.event_type;
    if !subscriptions.iter().any(|s| integrations::wants(s, event_type, &About::default())) {
        return Ok(());
    }
    let Some(brief) = tx.finding_brief(change.finding_id).await? else { return Ok(()) };
    let about = About { severity: Some(brief.severity), rule_id: Some(change.rule_id), tags: Some(&brief.tags) };
    let ids = integrations::subscribers(subscriptions, event_type, &about);
    if ids.is_empty() {
        return Ok(());
    }
    let body = integrations::finding_body(
        event_type,
        change.at,
        change.finding_id,
        change.host_id,
        change.rule_id,
        &brief,
        change.from,
        change.to,
        change.actor,
        change.comment,
    );
    // Derived from what happened rather than drawn at random: a status write is conditional on the status it
    // leaves, and an escalation on the due date it has not been sent for, so one finding cannot take the same step
    // twice in a millisecond.
    let id = message_id(&[change.finding_id, event_type, &change.at.timestamp_millis().to_string()]);
    tx.insert_event(&NewEvent { id, event_type: event_type.to_owned(), at: change.at, body }, &ids).await
}

/// Writes a host's enrolment event with a delivery for each subscription that wants it, in the enrolment's own
/// transaction; nothing when none does. `token_hash` is the enrolling agent's new token's: one per enrolment, so
/// the event's id is unique and stable.
pub(crate) async fn host_changed(
    tx: &mut dyn HostTx,
    change: integrations::HostChange,
    facts: &integrations::HostFacts<'_>,
    token_hash: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let event_type = change.event_type();
    let about = About { tags: Some(facts.tags), ..About::default() };
    let ids = integrations::subscribers(&tx.subscriptions().await?, event_type, &about);
    if ids.is_empty() {
        return Ok(());
    }
    let body = integrations::host_body(change, at, facts);
    let id = message_id(&[facts.host_id, event_type, token_hash]);
    tx.insert_event(&NewEvent { id, event_type: event_type.to_owned(), at, body }, &ids).await
}

/// The event of a disposal step for the subscriptions that want it, for the disposal store to write in the step's
/// own transaction; `None` when none does (the host's name is read only then).
pub(crate) async fn disposal_outbox(
    store: &dyn Store,
    step: integrations::DisposalFacts<'_>,
    at: DateTime<Utc>,
) -> Result<Option<Outbox>, StoreError> {
    let event_type = step.event_type;
    let subscriptions = store.subscriptions().await?;
    if !subscriptions.iter().any(|s| integrations::wants(s, event_type, &About::default())) {
        return Ok(None);
    }
    let (hostname, tags) =
        store.get_host_summary(step.host_id).await?.map(|h| (h.hostname, h.tags)).unwrap_or_default();
    let ids = integrations::subscribers(&subscriptions, event_type, &About { tags: Some(&tags), ..About::default() });
    if ids.is_empty() {
        return Ok(None);
    }
    let body = integrations::disposal_body(at, &step, &hostname);
    let id = message_id(&[step.host_id, event_type, step.case_id]);
    Ok(Some(Outbox { event: NewEvent { id, event_type: event_type.to_owned(), at, body }, integration_ids: ids }))
}

/// Tells the subscribers of `advisories.update_failed` which of the `sources` configured sources the scheduled
/// update could not fetch (or that it failed as a whole). Nothing else changed, so there is no transaction to share:
/// the event is queued on its own.
pub async fn advisory_update_failed(
    store: &dyn Store,
    sources: usize,
    failures: &[integrations::SourceFailure],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), IntegrationError> {
    let event_type = integrations::ADVISORIES_UPDATE_FAILED;
    let ids = integrations::subscribers(&store.subscriptions().await?, event_type, &About::default());
    if ids.is_empty() {
        return Ok(());
    }
    let body = integrations::advisory_failure_body(now, sources, failures, actor);
    let event = NewEvent { id: format!("msg_{}", tokens::new_id()?), event_type: event_type.to_owned(), at: now, body };
    store.enqueue_event(&event, &ids).await?;
    Ok(())
}

fn message_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    format!("msg_{}", &hex::encode(h.finalize())[..32])
}

fn audit_details(i: &Integration) -> serde_json::Value {
    json!({ "name": i.name, "kind": i.kind, "url": i.url, "format": i.format, "events": i.events,
        "min_severity": i.min_severity, "rules": i.rules, "tags": i.tags, "digest_minutes": i.digest_minutes,
        "jira": i.jira, "servicenow": i.servicenow })
}

/// Adds a subscription; returns it and its signing secret, which is shown only now (none for a ticket tracker, whose
/// secret is the token or password it was given).
pub async fn add(
    store: &dyn Store,
    actor: &Actor,
    request: IntegrationRequest,
    now: DateTime<Utc>,
) -> Result<(Integration, Option<String>), IntegrationError> {
    let req = integrations::check(request)?;
    // A tracker's secret is the credential it gave; the others sign (or could) with one made here.
    let (secret, shown) = match req.token.clone() {
        Some(token) => (token, None),
        None => {
            let secret = integrations::new_secret(tokens::random_bytes::<32>()?);
            (secret.clone(), Some(secret))
        }
    };
    let new = NewIntegration {
        id: tokens::new_id()?,
        name: req.name.clone(),
        kind: req.kind,
        url: req.url,
        format: req.format,
        secret,
        events: req.events,
        min_severity: req.min_severity,
        rules: req.rules,
        tags: req.tags,
        digest_minutes: req.digest_minutes,
        jira: req.jira,
        servicenow: req.servicenow,
        created_at: now,
        created_by: actor.name.clone(),
    };
    if !store.create_integration(&new).await? {
        return Err(IntegrationError::Exists(req.name));
    }
    let integration = Integration {
        id: new.id,
        name: new.name,
        kind: new.kind,
        url: new.url,
        format: new.format,
        events: new.events,
        min_severity: new.min_severity,
        rules: new.rules,
        tags: new.tags,
        digest_minutes: new.digest_minutes,
        enabled: true,
        created_at: new.created_at,
        created_by: new.created_by,
        previous_secret_until: None,
        jira: new.jira,
        servicenow: new.servicenow,
    };
    let event = AuditEvent::Integration {
        change: IntegrationChange::Created,
        id: integration.id.clone(),
        details: audit_details(&integration),
    };
    audit::record(store, actor, now, event).await?;
    Ok((integration, shown))
}

/// By id or name.
pub async fn found(store: &dyn Store, id_or_name: &str) -> Result<Integration, IntegrationError> {
    store.find_integration(id_or_name).await?.ok_or_else(|| IntegrationError::NotFound(id_or_name.to_owned()))
}

pub async fn remove(
    store: &dyn Store,
    actor: &Actor,
    id_or_name: &str,
    now: DateTime<Utc>,
) -> Result<Integration, IntegrationError> {
    let i = found(store, id_or_name).await?;
    if !store.delete_integration(&i.id).await? {
        return Err(IntegrationError::NotFound(id_or_name.to_owned()));
    }
    let event =
        AuditEvent::Integration { change: IntegrationChange::Removed, id: i.id.clone(), details: audit_details(&i) };
    audit::record(store, actor, now, event).await?;
    Ok(i)
}

/// Changes what a subscription sends (events, filters, digest); the events already queued for it stay as they are.
pub async fn update(
    store: &dyn Store,
    actor: &Actor,
    id_or_name: &str,
    change: integrations::SettingsChange,
    now: DateTime<Utc>,
) -> Result<Integration, IntegrationError> {
    let i = found(store, id_or_name).await?;
    let req = integrations::changed(&i, change)?;
    let settings = IntegrationSettings {
        events: req.events,
        min_severity: req.min_severity,
        rules: req.rules,
        tags: req.tags,
        digest_minutes: req.digest_minutes,
    };
    if !store.update_integration_settings(&i.id, &settings).await? {
        return Err(IntegrationError::NotFound(id_or_name.to_owned()));
    }
    let updated = Integration {
        events: settings.events,
        min_severity: settings.min_severity,
        rules: settings.rules,
        tags: settings.tags,
        digest_minutes: settings.digest_minutes,
        ..i
    };
    let event = AuditEvent::Integration {
        change: IntegrationChange::Updated,
        id: updated.id.clone(),
        details: audit_details(&updated),
    };
    audit::record(store, actor, now, event).await?;
    Ok(updated)
}

pub async fn set_enabled(
    store: &dyn Store,
    actor: &Actor,
    id_or_name: &str,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<Integration, IntegrationError> {
    let i = found(store, id_or_name).await?;
    if !store.set_integration_enabled(&i.id, enabled).await? {
        return Err(IntegrationError::NotFound(id_or_name.to_owned()));
    }
    let change = if enabled { IntegrationChange::Enabled } else { IntegrationChange::Disabled };
    let event = AuditEvent::Integration { change, id: i.id.clone(), details: json!({ "name": i.name }) };
    audit::record(store, actor, now, event).await?;
    Ok(Integration { enabled, ..i })
}

/// A new signing secret (shown only now); the old one signs beside it for [`integrations::PREVIOUS_SECRET_GRACE`].
pub async fn rotate_secret(
    store: &dyn Store,
    actor: &Actor,
    id_or_name: &str,
    now: DateTime<Utc>,
) -> Result<(Integration, String), IntegrationError> {
    let i = found(store, id_or_name).await?;
    if i.kind == IntegrationKind::Jira {
        return Err(IntegrationError::Jira(format!(
            "{}'s secret is the token Jira gave: replace it with `integrations set-token`",
            i.name
        )));
    }
    if i.kind == IntegrationKind::ServiceNow {
        return Err(IntegrationError::ServiceNow(format!(
            "{}'s secret is the ServiceNow user's password: replace it with `integrations set-token`",
            i.name
        )));
    }
    let secret = integrations::new_secret(tokens::random_bytes::<32>()?);
    let until = now + integrations::PREVIOUS_SECRET_GRACE;
    if !store.rotate_integration_secret(&i.id, &secret, until).await? {
        return Err(IntegrationError::NotFound(id_or_name.to_owned()));
    }
    let event = AuditEvent::Integration {
        change: IntegrationChange::SecretRotated,
        id: i.id.clone(),
        details: json!({ "name": i.name, "previous_secret_until": until }),
    };
    audit::record(store, actor, now, event).await?;
    Ok((Integration { previous_secret_until: Some(until), ..i }, secret))
}

/// Replaces a tracker subscription's credential (Atlassian API tokens expire, ServiceNow passwords are rotated);
/// the old one is gone at once.
pub async fn set_token(
    store: &dyn Store,
    actor: &Actor,
    id_or_name: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Integration, IntegrationError> {
    let i = found(store, id_or_name).await?;
    let token = match i.kind {
        IntegrationKind::Jira => integrations::check_token(token)?,
        IntegrationKind::ServiceNow => integrations::check_password(token)?,
        other => {
            return Err(IntegrationError::Token(format!(
                "{} is a {} subscription: only Jira and ServiceNow keep a token",
                i.name,
                other.as_str()
            )));
        }
    };
    if !store.replace_integration_secret(&i.id, &token).await? {
        return Err(IntegrationError::NotFound(id_or_name.to_owned()));
    }
    let event = AuditEvent::Integration {
        change: IntegrationChange::SecretRotated,
        id: i.id.clone(),
        details: json!({ "name": i.name, "token_replaced": true }),
    };
    audit::record(store, actor, now, event).await?;
    Ok(i)
}

/// The tickets opened for a finding (its page shows them).
pub async fn finding_tickets(
    store: &dyn Store,
    finding_id: &str,
) -> Result<Vec<crate::model::integrations::FindingTicket>, StoreError> {
    store.finding_tickets(finding_id).await
}

/// Queues an `integration.test` event for this subscription only, through the outbox like any other; returns its
/// sequence number (see its delivery in [`deliveries`]).
pub async fn send_test(
    store: &dyn Store,
    actor: &Actor,
    id_or_name: &str,
    now: DateTime<Utc>,
) -> Result<i64, IntegrationError> {
    let i = found(store, id_or_name).await?;
    // Queued for a disabled subscription it would go out, stale, whenever someone enables it.
    if !i.enabled {
        return Err(IntegrationError::Disabled(i.name));
    }
    let data = json!({
        "version": integrations::BODY_VERSION,
        "integration": i.name,
        "message": "A test from the Muster collector: this endpoint receives its events.",
        "actor": actor.name,
    });
    let body = integrations::body(integrations::TEST_EVENT, now, &data);
    let id = format!("msg_{}", tokens::new_id()?);
    let event = NewEvent { id, event_type: integrations::TEST_EVENT.to_owned(), at: now, body };
    let seq = store.enqueue_event(&event, std::slice::from_ref(&i.id)).await?;
    // A digest holds the subscription until its oldest event is due; a test goes out now.
    if i.digest_minutes.is_some() {
        store.wake_integration(&i.id).await?;
    }
    let audit_event = AuditEvent::Integration {
        change: IntegrationChange::TestSent,
        id: i.id.clone(),
        details: json!({ "name": i.name, "event_seq": seq }),
    };
    audit::record(store, actor, now, audit_event).await?;
    Ok(seq)
}

pub async fn deliveries(
    store: &dyn Store,
    id_or_name: &str,
    limit: i64,
) -> Result<(Integration, Vec<DeliveryRecord>), IntegrationError> {
    let i = found(store, id_or_name).await?;
    let list = store.list_deliveries(&i.id, limit.clamp(1, 1000)).await?;
    Ok((i, list))
}

/// Sends a dead delivery again, at the subscription's next turn.
pub async fn replay(
    store: &dyn Store,
    actor: &Actor,
    id_or_name: &str,
    event_seq: i64,
    now: DateTime<Utc>,
) -> Result<(), IntegrationError> {
    let i = found(store, id_or_name).await?;
    if !store.replay_delivery(&i.id, event_seq).await? {
        return Err(IntegrationError::NotDead { integration: i.name, seq: event_seq });
    }
    let event = AuditEvent::Integration {
        change: IntegrationChange::DeliveryReplayed,
        id: i.id.clone(),
        details: json!({ "name": i.name, "event_seq": event_seq }),
    };
    audit::record(store, actor, now, event).await?;
    Ok(())
}

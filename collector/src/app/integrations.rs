//! The integration use cases: subscriptions (add, list, remove, enable, rotate the secret, test, replay), the
//! outbox write a finding's change makes in its own transaction, and the delivery worker that sends what was
//! committed, at least once, in order per subscription, one worker of all replicas per subscription at a time.
//!
//! A collector killed after the commit finds the delivery pending at its next start; one killed after the
//! receiver answered but before the answer was written sends it again with the same `webhook-id`, so receivers
//! drop the repeat.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::audit::{self, Actor, AuditEvent, IntegrationChange};
use crate::integrations::{self, About, IntegrationError, IntegrationRequest};
use crate::model::findings::Status;
use crate::model::integrations::{
    ClaimedIntegration, DeliveryRecord, DeliveryStatus, Integration, IntegrationKind, IntegrationSettings, NewEvent,
    NewIntegration, Outbox, PendingDelivery, Subscription,
};
use crate::store::findings_tx::FindingsTx;
use crate::store::tx::HostTx;
use crate::store::{Store, StoreError};
use crate::tokens;

/// A subscription's claim, renewed before each delivery: one request at its timeout and the write of its answer
/// fit well inside it, and a worker that died leaves the subscription to another this soon.
const LEASE: TimeDelta = TimeDelta::seconds(30);
/// One request's limit, connection included; a receiver that takes longer is retried.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Subscriptions claimed at once, and deliveries sent per subscription in one turn.
const CLAIM_BATCH: i64 = 8;
const TURN: i64 = 20;
/// Events one digest message sums up: it lists a few and counts the rest, so this bounds the work of one turn, not
/// what people read; more waiting go in the next message at once.
const DIGEST_MAX: i64 = 500;
/// How often an idle worker looks for committed events.
const POLL: Duration = Duration::from_secs(1);

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
        "jira": i.jira })
}

/// Adds a subscription; returns it and its signing secret, which is shown only now (none for Jira, whose secret is
/// the token it was given).
pub async fn add(
    store: &dyn Store,
    actor: &Actor,
    request: IntegrationRequest,
    now: DateTime<Utc>,
) -> Result<(Integration, Option<String>), IntegrationError> {
    let req = integrations::check(request)?;
    // A Jira subscription's secret is the token Jira gave; the others sign (or could) with one made here.
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

/// Replaces a Jira subscription's token (Atlassian API tokens expire); the old one is gone at once.
pub async fn set_token(
    store: &dyn Store,
    actor: &Actor,
    id_or_name: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Integration, IntegrationError> {
    let i = found(store, id_or_name).await?;
    if i.kind != IntegrationKind::Jira {
        return Err(IntegrationError::Jira(format!("{} is a {} subscription, not Jira", i.name, i.kind.as_str())));
    }
    let token = integrations::check_token(token)?;
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

/// The network side of delivery: one HTTP client per process, no redirects (the configured URL is the
/// destination); syslog connections per delivery, named by this machine's host name.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    hostname: String,
    /// The console as people reach it, for chat messages' links (`config::console_url`).
    console: Option<String>,
}

impl Sender {
    /// `console`: the console's address for links in chat messages; without it they carry none.
    pub fn new(console: Option<String>) -> Result<Sender, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Muster-Collector/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let hostname = crate::local_hostname().unwrap_or_else(|| "-".to_owned());
        Ok(Sender { client, hostname, console })
    }

    /// Sends one event its subscription's way: the HTTP answer, `None` when a syslog receiver took it, or why it
    /// could not be sent.
    async fn deliver(
        &self,
        store: &dyn Store,
        clock: &crate::Clock,
        claim: &ClaimedIntegration,
        d: &PendingDelivery,
    ) -> Result<Option<integrations::HttpAnswer>, String> {
        let now = clock();
        match claim.kind {
            IntegrationKind::Jira => self.deliver_jira(store, clock, claim, d).await,
            IntegrationKind::Webhook => {
                let secrets = integrations::signing_secrets(
                    &claim.secret,
                    claim.previous_secret.as_deref(),
                    claim.previous_until,
                    now,
                );
                // The send's own time, not the scheduler's: receivers compare it with their clock to refuse replays.
                let timestamp = Utc::now().timestamp();
                let signature = integrations::signature(&secrets, &d.event_id, timestamp, d.body.as_bytes())?;
                let headers = [
                    ("webhook-id", d.event_id.clone()),
                    ("webhook-timestamp", timestamp.to_string()),
                    ("webhook-signature", signature),
                ];
                self.post(&claim.url, &headers, d.body.clone()).await.map(Some)
            }
            // Unsigned: the URL is the credential.
            IntegrationKind::Slack => {
                let message = integrations::chat::slack(&d.body, self.console.as_deref())?;
                self.post(&claim.url, &[], message).await.map(Some)
            }
            IntegrationKind::Teams => {
                let message = integrations::chat::teams(&d.body, self.console.as_deref())?;
                self.post(&claim.url, &[], message).await.map(Some)
            }
            IntegrationKind::Syslog => {
                let target = integrations::syslog::target(&claim.url).map_err(|e| e.to_string())?;
                let message = integrations::syslog::message(
                    &d.event_id,
                    &d.event_type,
                    d.at,
                    &d.body,
                    &self.hostname,
                    target.facility,
                    claim.format,
                );
                tokio::time::timeout(TIMEOUT, send_syslog(&target, &message))
                    .await
                    .map_err(|_| format!("no answer from {}:{} in {} s", target.host, target.port, TIMEOUT.as_secs()))?
                    .map(|()| None)
            }
        }
    }

    /// One event to a Jira subscription (see `integrations::jira`): a test checks the token and the project; a
    /// finding's first event that asks for action opens its ticket (or takes the one its label finds in the project:
    /// a create whose answer was lost, or a ticket from before the subscription was made again), later ones comment
    /// on it and move it through the workflow; a ticket deleted in Jira is opened again when the finding needs one.
    /// The last call's answer is the delivery's; a call that fails stops there, and the retry starts again from what
    /// is recorded. The claim is renewed before each call after the first, so several slow calls cannot outlast it.
    async fn deliver_jira(
        &self,
        store: &dyn Store,
        clock: &crate::Clock,
        claim: &ClaimedIntegration,
        d: &PendingDelivery,
    ) -> Result<Option<integrations::HttpAnswer>, String> {
        use integrations::jira::{self, Plan};
        let settings = claim.jira.as_ref().ok_or("the subscription has lost its Jira settings")?;
        let call = JiraCall {
            client: &self.client,
            site: &claim.url,
            auth: jira::authorization(settings, &claim.secret),
            store,
            claim,
            clock,
            made: std::sync::atomic::AtomicU32::new(0),
        };
        if d.event_type == integrations::TEST_EVENT {
            let answer = call.send(reqwest::Method::GET, "myself", &[], None).await?;
            if !answer.is_success() {
                return Ok(Some(answer.into()));
            }
            let path = format!("project/{}", segment(&settings.project)?);
            return Ok(Some(call.send(reqwest::Method::GET, &path, &[], None).await?.into()));
        }
        let (event_type, data) = jira::finding_event(&d.body)?;
        let mut ticket = store.ticket(&claim.id, &data.finding_id).await.map_err(|e| e.to_string())?;
        // At most: search or create, then comment and transition; a deleted ticket sends it round once more.
        let mut rounds = 0;
        loop {
            rounds += 1;
            match jira::plan(&event_type, ticket.as_deref()) {
                Plan::Nothing => return Ok(None),
                Plan::Create => {
                    let query = [
                        ("jql", jira::search_jql(&settings.project, &jira::label(&data.finding_id))),
                        ("fields", "key".to_owned()),
                        ("maxResults", "1".to_owned()),
                    ];
                    let answer = call.send(reqwest::Method::GET, "search/jql", &query, None).await?;
                    if !answer.is_success() {
                        return Ok(Some(answer.into()));
                    }
                    if let Some(key) = jira::found_key(&answer.body)? {
                        let key = segment(&key)?.to_owned();
                        store
                            .save_ticket(&claim.id, &data.finding_id, &key, clock())
                            .await
                            .map_err(|e| e.to_string())?;
                        // Found, not made: an opening is told; anything else still has to be said on it.
                        ticket = Some(key);
                        continue;
                    }
                    let create = jira::create_body(settings, &data, self.console.as_deref());
                    let answer = call.send(reqwest::Method::POST, "issue", &[], Some(create)).await?;
                    if answer.is_success() {
                        let key = jira::created_key(&answer.body)?;
                        let key = segment(&key)?.to_owned();
                        store
                            .save_ticket(&claim.id, &data.finding_id, &key, clock())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    return Ok(Some(answer.into()));
                }
                Plan::Comment { ticket: key, goal } => {
                    let issue = segment(&key)?.to_owned();
                    let comment = jira::comment_body(&event_type, &data, self.console.as_deref());
                    let path = format!("issue/{issue}/comment");
                    let answer = call.send(reqwest::Method::POST, &path, &[], Some(comment)).await?;
                    if answer.code == 404 && rounds == 1 {
                        // Deleted in Jira (or moved out of the account's sight): a finding that needs a ticket
                        // gets a new one; any other change has nothing left to tell.
                        tracing::info!(integration = %claim.name, ticket = %key, "the ticket is gone from Jira");
                        if !jira::opens(&event_type) {
                            return Ok(None);
                        }
                        ticket = None;
                        continue;
                    }
                    let Some(goal) = goal.filter(|_| answer.is_success()) else {
                        return Ok(Some(answer.into()));
                    };
                    let path = format!("issue/{issue}/transitions");
                    let answer = call.send(reqwest::Method::GET, &path, &[], None).await?;
                    if !answer.is_success() {
                        return Ok(Some(answer.into()));
                    }
                    let Some(id) = jira::pick_transition(&answer.body, goal, settings)? else {
                        tracing::info!(integration = %claim.name, ticket = %key, ?goal,
                            "the workflow offers the account no such transition from the ticket's status; commented only");
                        return Ok(Some(answer.into()));
                    };
                    let body = Some(jira::transition_body(&id));
                    return Ok(Some(call.send(reqwest::Method::POST, &path, &[], body).await?.into()));
                }
            }
        }
    }

    /// Sends `events` to a Slack or Teams subscription as one digest message.
    async fn deliver_digest(
        &self,
        claim: &ClaimedIntegration,
        events: &[PendingDelivery],
    ) -> Result<Option<integrations::HttpAnswer>, String> {
        let bodies: Vec<&str> = events.iter().map(|d| d.body.as_str()).collect();
        let message = match claim.kind {
            IntegrationKind::Slack => integrations::chat::slack_digest(&bodies, self.console.as_deref())?,
            IntegrationKind::Teams => integrations::chat::teams_digest(&bodies, self.console.as_deref())?,
            // `integrations::check` refuses a digest for the others.
            other => return Err(format!("a {} subscription does not take digests", other.as_str())),
        };
        self.post(&claim.url, &[], message).await.map(Some)
    }

    /// POSTs a JSON `body` with `headers`; the answer (with the start of a refusal's body), or why there was none.
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: String,
    ) -> Result<integrations::HttpAnswer, String> {
        let mut request = self.client.post(url).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        // Errors without the URL: many webhook URLs hold their own secret in the path or query, and a chat
        // webhook's URL is its credential.
        let mut answer = request.body(body).send().await.map_err(|e| super::describe_http(e.without_url()))?;
        let code = answer.status().as_u16();
        if answer.status().is_success() {
            return Ok(integrations::HttpAnswer::new(code, b""));
        }
        // A few KiB at most, and never a reason to fail the attempt twice: what arrived before an error is kept.
        let mut said = Vec::new();
        while said.len() < 4096 {
            match answer.chunk().await {
                Ok(Some(chunk)) => said.extend_from_slice(&chunk),
                _ => break,
            }
        }
        said.truncate(4096);
        Ok(integrations::HttpAnswer::new(code, &said))
    }
}

/// A ticket key or project key as one path segment: Jira's keys are letters, digits, `_` and `-`; anything else
/// in a stored key is refused rather than sent into a URL.
fn segment(key: &str) -> Result<&str, String> {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(key)
    } else {
        Err(format!("{key:?} is not a Jira key"))
    }
}

/// A Jira answer: its status, and its body (up to [`JIRA_ANSWER_MAX`]) for the key or list it carries, or the
/// start of a refusal for the delivery log.
struct JiraAnswer {
    code: u16,
    body: Vec<u8>,
}

/// Enough for a page of transitions or a search answer; Jira's answers to these calls are a few KiB.
const JIRA_ANSWER_MAX: usize = 1 << 20;

impl JiraAnswer {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

impl From<JiraAnswer> for integrations::HttpAnswer {
    fn from(a: JiraAnswer) -> Self {
        let said = if a.is_success() { &[][..] } else { &a.body[..a.body.len().min(4096)] };
        integrations::HttpAnswer::new(a.code, said)
    }
}

/// Calls to one Jira site with one account, for one delivery of a claimed subscription.
struct JiraCall<'a> {
    client: &'a reqwest::Client,
    site: &'a str,
    auth: String,
    store: &'a dyn Store,
    claim: &'a ClaimedIntegration,
    clock: &'a crate::Clock,
    /// Calls made so far in this delivery.
    made: std::sync::atomic::AtomicU32,
}

impl JiraCall<'_> {
    /// One REST v3 call and its answer, or why there was none (the URL left out of errors). Every call after the
    /// first renews the claim first: a delivery of four calls at the timeout each would outlast one lease.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
    ) -> Result<JiraAnswer, String> {
        if self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0 {
            let renewed = self.store.renew_integration_claim(self.claim, (self.clock)() + LEASE).await;
            if !renewed.map_err(|e| e.to_string())? {
                return Err("the claim ran out during the delivery; left to the worker that holds it".to_owned());
            }
        }
        let url = integrations::jira::api_url(self.site, path);
        let mut request =
            self.client.request(method, &url).header("authorization", &self.auth).header("accept", "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let mut answer = request.send().await.map_err(|e| super::describe_http(e.without_url()))?;
        let code = answer.status().as_u16();
        let mut got = Vec::new();
        while got.len() < JIRA_ANSWER_MAX {
            match answer.chunk().await {
                Ok(Some(chunk)) => got.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) if (200..300).contains(&code) => return Err(super::describe_http(e.without_url())),
                Err(_) => break,
            }
        }
        got.truncate(JIRA_ANSWER_MAX);
        Ok(JiraAnswer { code, body: got })
    }
}

/// One message to a syslog receiver: a datagram, or an octet-counted frame on a new TCP or TLS connection that is
/// flushed and closed (the message is delivered when the receiver's TCP stack has taken it).
async fn send_syslog(target: &integrations::syslog::Target, message: &str) -> Result<(), String> {
    use integrations::syslog::{Transport, octet_counted};
    use tokio::io::AsyncWriteExt;
    let addr = (target.host.as_str(), target.port);
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("{what} {}:{}: {e}", target.host, target.port);
    match target.transport {
        Transport::Udp => {
            let peer = tokio::net::lookup_host(addr)
                .await
                .map_err(|e| failed("resolving", &e))?
                .next()
                .ok_or_else(|| failed("resolving", &"no address"))?;
            let local: std::net::SocketAddr =
                if peer.is_ipv6() { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() } else { ([0, 0, 0, 0], 0).into() };
            let socket = tokio::net::UdpSocket::bind(local).await.map_err(|e| failed("opening a socket for", &e))?;
            socket.send_to(message.as_bytes(), peer).await.map_err(|e| failed("sending to", &e))?;
        }
        Transport::Tcp => {
            let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| failed("connecting to", &e))?;
            stream.write_all(&octet_counted(message)).await.map_err(|e| failed("sending to", &e))?;
            stream.shutdown().await.map_err(|e| failed("closing", &e))?;
        }
        Transport::Tls => {
            // Reading the roots is file I/O: off the runtime's workers.
            let ca_file = target.ca_file.clone();
            let config = tokio::task::spawn_blocking(move || syslog_tls_config(ca_file.as_deref()))
                .await
                .map_err(|e| e.to_string())??;
            let name = rustls_pki_types::ServerName::try_from(target.host.clone()).map_err(|e| failed("naming", &e))?;
            let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| failed("connecting to", &e))?;
            let mut stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| failed("TLS handshake with", &e))?;
            stream.write_all(&octet_counted(message)).await.map_err(|e| failed("sending to", &e))?;
            stream.shutdown().await.map_err(|e| failed("closing", &e))?;
        }
    }
    Ok(())
}

/// The client side of RFC 5425: the receiver's certificate checked against `ca_file`, else the system's roots.
fn syslog_tls_config(ca_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("reading {path}: {e}"))? {
                let cert = cert.map_err(|e| format!("reading {path}: {e}"))?;
                roots.add(cert).map_err(|e| format!("{path}: {e}"))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system root rustls cannot parse is skipped, as every TLS client does.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err("no trusted CA for the syslog receiver's certificate".to_owned());
    }
    Ok(Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()))
}

/// Claims subscriptions with pending deliveries (only `only`'s when given) and sends them, each subscription's
/// oldest first and the subscriptions side by side, so a slow or dead receiver delays only its own events; a
/// failure holds the rest of that subscription back until its retry. Returns the deliveries attempted.
pub async fn run_batch(
    store: &dyn Store,
    sender: &Sender,
    clock: &crate::Clock,
    worker: &str,
    only: Option<&str>,
) -> Result<usize, StoreError> {
    let now = clock();
    let claims = store.claim_integrations(worker, now, now + LEASE, CLAIM_BATCH, only).await?;
    let turns = futures_util::future::join_all(claims.iter().map(|claim| turn(store, sender, clock, claim))).await;
    let mut attempted = 0;
    for t in turns {
        attempted += t?;
    }
    Ok(attempted)
}

/// One subscription's turn: up to `TURN` of its pending deliveries in order, stopping at a failure (a digest
/// subscription's: see [`digest_turn`]); then its claim is released. Returns the deliveries attempted.
async fn turn(
    store: &dyn Store,
    sender: &Sender,
    clock: &crate::Clock,
    claim: &ClaimedIntegration,
) -> Result<usize, StoreError> {
    if let Some(minutes) = claim.digest_minutes {
        return digest_turn(store, sender, clock, claim, TimeDelta::minutes(i64::from(minutes))).await;
    }
    let mut attempted = 0;
    for d in store.pending_deliveries(&claim.id, TURN).await? {
        if !store.renew_integration_claim(claim, clock() + LEASE).await? {
            tracing::warn!(integration = %claim.name, "the claim ran out; left to the worker that holds it");
            break;
        }
        let answer = sender.deliver(store, clock, claim, &d).await;
        attempted += 1;
        match record(store, claim, &d, answer, clock()).await? {
            Some(DeliveryStatus::Pending) | None => break,
            Some(_) => {}
        }
    }
    store.release_integration(claim).await?;
    Ok(attempted)
}

/// A digest subscription's turn. Test events go out at once, one by one (someone is waiting for the answer); the
/// rest wait until the oldest has waited `window`, then go as one message, up to [`DIGEST_MAX`] events, each
/// recorded with that message's answer. Until then the subscription is held back (`hold_integration`), so no
/// worker claims it for nothing.
async fn digest_turn(
    store: &dyn Store,
    sender: &Sender,
    clock: &crate::Clock,
    claim: &ClaimedIntegration,
    window: TimeDelta,
) -> Result<usize, StoreError> {
    let (tests, events): (Vec<_>, Vec<_>) = store
        .pending_deliveries(&claim.id, DIGEST_MAX)
        .await?
        .into_iter()
        .partition(|d| d.event_type == integrations::TEST_EVENT);
    let mut attempted = 0;
    for d in &tests {
        if !store.renew_integration_claim(claim, clock() + LEASE).await? {
            return Ok(attempted);
        }
        let answer = sender.deliver(store, clock, claim, d).await;
        attempted += 1;
        if record(store, claim, d, answer, clock()).await? != Some(DeliveryStatus::Delivered) {
            store.release_integration(claim).await?;
            return Ok(attempted);
        }
    }
    let Some(oldest) = events.first() else {
        store.release_integration(claim).await?;
        return Ok(attempted);
    };
    let due = oldest.at + window;
    if clock() < due {
        store.hold_integration(claim, due).await?;
        return Ok(attempted);
    }
    if !store.renew_integration_claim(claim, clock() + LEASE).await? {
        return Ok(attempted);
    }
    let answer = sender.deliver_digest(claim, &events).await;
    let now = clock();
    for d in &events {
        attempted += 1;
        if record(store, claim, d, answer.clone(), now).await?.is_none() {
            return Ok(attempted);
        }
    }
    store.release_integration(claim).await?;
    Ok(attempted)
}

/// Writes one delivery's attempt (counted, logged); its status, or `None` when the claim ran out meanwhile.
async fn record(
    store: &dyn Store,
    claim: &ClaimedIntegration,
    d: &PendingDelivery,
    answer: Result<Option<integrations::HttpAnswer>, String>,
    now: DateTime<Utc>,
) -> Result<Option<DeliveryStatus>, StoreError> {
    let attempt = integrations::attempt_outcome(d.attempts, answer, now);
    let outcome = match attempt.status {
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Pending => "failed",
        DeliveryStatus::Dead => "dead",
    };
    crate::metrics::count_delivery(claim.kind.as_str(), outcome);
    match attempt.status {
        DeliveryStatus::Delivered => {}
        DeliveryStatus::Pending => tracing::warn!(integration = %claim.name, event = %d.event_id,
            code = ?attempt.response_code, error = ?attempt.error, retry_at = ?attempt.retry_at,
            "delivery failed; retrying later"),
        DeliveryStatus::Dead => tracing::warn!(integration = %claim.name, event = %d.event_id,
            code = ?attempt.response_code, error = ?attempt.error,
            "delivery failed too often; kept as a dead letter to replay"),
    }
    if !store.record_attempt(claim, d.event_seq, &attempt).await? {
        tracing::warn!(integration = %claim.name, "the claim ran out during delivery; left to the next");
        return Ok(None);
    }
    Ok(Some(attempt.status))
}

/// Delivers whatever is due until nothing is (tests and one-shot CLI runs); returns the attempts made.
pub async fn drain(
    store: &dyn Store,
    sender: &Sender,
    clock: &crate::Clock,
    worker: &str,
    only: Option<&str>,
) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let n = run_batch(store, sender, clock, worker, only).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

/// The delivery worker of `serve`: frees what a previous process left claimed, then delivers every `POLL`.
pub fn spawn(store: Arc<dyn Store>, clock: crate::Clock, sender: Sender) {
    tokio::spawn(async move {
        // Claims are told apart by this name, so it must differ between replicas (containers all run as PID 1).
        let worker = tokens::new_id().unwrap_or_else(|_| {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
            format!("pid-{}-{nanos}", std::process::id())
        });
        match store.release_dead_integration_claims(&worker).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(integrations = n, "deliveries a previous process had claimed are free again"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot free the previous process's delivery claims; their leases expire")
            }
        }
        loop {
            match run_batch(store.as_ref(), &sender, &clock, &worker, None).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "claiming deliveries failed; trying again"),
            }
            tokio::time::sleep(POLL).await;
        }
    });
}

//! The delivery worker: claims subscriptions with committed events and sends them, at least once, in order per
//! subscription, one worker of all replicas per subscription at a time, with retries, dead letters and digests.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::syslog::send_syslog;
use crate::app::background::Background;
use crate::integrations::{self, Failure};
use crate::model::integrations::{ClaimedIntegration, DeliveryStatus, IntegrationKind, PayloadFormat, PendingDelivery};
use crate::store::{Store, StoreError};
use crate::tokens;

/// A subscription's claim, renewed before each delivery: one request at its timeout and the write of its answer
/// fit well inside it, and a worker that died leaves the subscription to another this soon.
pub(super) const LEASE: TimeDelta = TimeDelta::seconds(30);
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

/// The network side of delivery: one HTTP client per process, no redirects (the configured URL is the
/// destination); syslog connections per delivery, named by this machine's host name.
#[derive(Clone)]
pub struct Sender {
    pub(super) client: reqwest::Client,
    hostname: String,
    /// The console as people reach it, for chat messages' links (`config::console_url`).
    pub(super) console: Option<String>,
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
    ) -> Result<Option<integrations::HttpAnswer>, Failure> {
        let now = clock();
        match claim.kind {
            IntegrationKind::Jira => self.deliver_jira(store, clock, claim, d).await,
            IntegrationKind::ServiceNow => self.deliver_servicenow(store, clock, claim, d).await,
            IntegrationKind::Webhook => {
                let secrets = integrations::signing_secrets(
                    &claim.secret,
                    claim.previous_secret.as_deref(),
                    claim.previous_until,
                    now,
                );
                // The send's own time, not the scheduler's: receivers compare it with their clock to refuse replays.
                let timestamp = Utc::now().timestamp();
                let body = match claim.format {
                    PayloadFormat::Ocsf => self.ocsf(store, d, now).await?,
                    _ => d.body.clone(),
                };
                let signature = integrations::signature(&secrets, &d.event_id, timestamp, body.as_bytes())?;
                let headers = [
                    ("webhook-id", d.event_id.clone()),
                    ("webhook-timestamp", timestamp.to_string()),
                    ("webhook-signature", signature),
                ];
                Ok(Some(self.post(&claim.url, &headers, body).await?))
            }
            // Unsigned: the URL is the credential.
            IntegrationKind::Slack => {
                let known = self.facts(store, d, now).await?;
                let message = integrations::chat::slack(&d.body, self.console.as_deref(), known.as_ref())
                    .map_err(Failure::Never)?;
                Ok(Some(self.post(&claim.url, &[], message).await?))
            }
            IntegrationKind::Teams => {
                let known = self.facts(store, d, now).await?;
                let message = integrations::chat::teams(&d.body, self.console.as_deref(), known.as_ref())
                    .map_err(Failure::Never)?;
                Ok(Some(self.post(&claim.url, &[], message).await?))
            }
            IntegrationKind::Syslog => {
                let target = integrations::syslog::target(&claim.url).map_err(|e| e.to_string())?;
                let ocsf = match claim.format {
                    PayloadFormat::Ocsf => Some(self.ocsf(store, d, now).await?),
                    _ => None,
                };
                let message = integrations::syslog::message(
                    &d.event_id,
                    &d.event_type,
                    d.at,
                    &d.body,
                    &self.hostname,
                    target.facility,
                    ocsf.as_deref()
                        .map_or(integrations::syslog::Text::of(claim.format), integrations::syslog::Text::Given),
                );
                tokio::time::timeout(TIMEOUT, send_syslog(&target, &message)).await.map_err(|_| {
                    format!("no answer from {}:{} in {} s", target.host, target.port, TIMEOUT.as_secs())
                })??;
                Ok(None)
            }
        }
    }
    /// What a message says of a vulnerability finding beyond its event (its advisories, what to do), read from the
    /// store; `None` for other events and findings pruned since.
    async fn facts(
        &self,
        store: &dyn Store,
        d: &PendingDelivery,
        now: DateTime<Utc>,
    ) -> Result<Option<integrations::tickets::Facts>, Failure> {
        let finding = event_finding(store, d, now).await?;
        Ok(finding.map(|f| integrations::tickets::Facts::of(&f.details, &f.remediation)))
    }

    /// The event as OCSF, its finding's advisories read from the store (the event's body names the fix group only).
    async fn ocsf(&self, store: &dyn Store, d: &PendingDelivery, now: DateTime<Utc>) -> Result<String, Failure> {
        let details = event_finding(store, d, now).await?.map(|f| f.details);
        // The event is no finding, or its body unreadable: no retry makes it one.
        let event = integrations::ocsf::event(&d.body, &d.event_id, self.console.as_deref(), details.as_ref())
            .map_err(Failure::Never)?;
        Ok(event.to_string())
    }

    /// Sends `events` to a Slack or Teams subscription as one digest message.
    async fn deliver_digest(
        &self,
        claim: &ClaimedIntegration,
        events: &[PendingDelivery],
    ) -> Result<Option<integrations::HttpAnswer>, Failure> {
        let bodies: Vec<&str> = events.iter().map(|d| d.body.as_str()).collect();
        let message = match claim.kind {
            IntegrationKind::Slack => integrations::chat::slack_digest(&bodies, self.console.as_deref())?,
            IntegrationKind::Teams => integrations::chat::teams_digest(&bodies, self.console.as_deref())?,
            // `integrations::check` refuses a digest for the others.
            other => return Err(Failure::Never(format!("a {} subscription does not take digests", other.as_str()))),
        };
        Ok(Some(self.post(&claim.url, &[], message).await?))
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
        let answer = request.body(body).send().await.map_err(|e| crate::app::describe_http(e.without_url()))?;
        let code = answer.status().as_u16();
        if answer.status().is_success() {
            return Ok(integrations::HttpAnswer::new(code, b""));
        }
        // A few KiB at most, and never a reason to fail the attempt twice: what arrived before an error is kept.
        let (said, _) = crate::app::read_prefix(answer, 4096).await;
        Ok(integrations::HttpAnswer::new(code, &said))
    }
}

/// The finding a stored event is about, as it stands now: `None` for events about no finding and findings pruned
/// since; an unreadable body is a dead letter, a store error a retry.
async fn event_finding(
    store: &dyn Store,
    d: &PendingDelivery,
    now: DateTime<Utc>,
) -> Result<Option<crate::model::findings::FindingView>, Failure> {
    let finding_id = integrations::StoredEvent::parse(&d.body).map_err(Failure::Never)?.data.finding_id;
    if finding_id.is_empty() {
        return Ok(None);
    }
    Ok(store.get_finding(&finding_id, now).await.map_err(|e| e.to_string())?)
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
    run_batch_until(store, sender, clock, worker, only, None).await
}

/// [`run_batch`], each subscription's turn ending before its next delivery once `background` stops.
async fn run_batch_until(
    store: &dyn Store,
    sender: &Sender,
    clock: &crate::Clock,
    worker: &str,
    only: Option<&str>,
    background: Option<&Background>,
) -> Result<usize, StoreError> {
    let now = clock();
    let claims = store.claim_integrations(worker, now, now + LEASE, CLAIM_BATCH, only).await?;
    let turns =
        futures_util::future::join_all(claims.iter().map(|claim| turn(store, sender, clock, claim, background))).await;
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
    background: Option<&Background>,
) -> Result<usize, StoreError> {
    if let Some(minutes) = claim.digest_minutes {
        return digest_turn(store, sender, clock, claim, TimeDelta::minutes(i64::from(minutes))).await;
    }
    let mut attempted = 0;
    for d in store.pending_deliveries(&claim.id, TURN).await? {
        if background.is_some_and(Background::stopping) {
            break;
        }
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
    // An event whose stored body cannot be read cannot be in any message: dead at once on its own, so it does not
    // fail the digest of every other event with it.
    let (events, unreadable): (Vec<_>, Vec<_>) =
        events.into_iter().partition(|d| integrations::StoredEvent::parse(&d.body).is_ok());
    for d in &unreadable {
        attempted += 1;
        let why = Failure::Never("the stored event is not readable".to_owned());
        if record(store, claim, d, Err(why), clock()).await?.is_none() {
            return Ok(attempted);
        }
    }
    if events.is_empty() {
        store.release_integration(claim).await?;
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
    answer: Result<Option<integrations::HttpAnswer>, Failure>,
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
        DeliveryStatus::Dead if d.attempts + 1 < integrations::MAX_ATTEMPTS => tracing::warn!(
            integration = %claim.name, event = %d.event_id, error = ?attempt.error,
            "delivery cannot succeed as it is; kept as a dead letter to replay"),
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

/// The delivery worker of `serve`: frees what a previous process left claimed, then delivers every `POLL`, until
/// the stop. At the stop each subscription's turn ends before its next delivery; a delivery still under way at the
/// stop's limit is cut, and goes again once its claim is freed (delivery is at least once).
pub fn spawn(background: &Background, store: Arc<dyn Store>, clock: crate::Clock, sender: Sender) {
    background.spawn(|stop| async move {
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
        while !stop.stopping() {
            match run_batch_until(store.as_ref(), &sender, &clock, &worker, None, Some(&stop)).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "claiming deliveries failed; trying again"),
            }
            if stop.unless_stopped(tokio::time::sleep(POLL)).await.is_none() {
                return;
            }
        }
    });
}

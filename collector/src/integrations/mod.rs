//! What the collector pushes and how, decided without I/O: the event types, which subscriptions want an event,
//! the versioned JSON bodies receivers get, the Standard Webhooks signature, and the retry schedule. The outbox
//! rows are written by `app::integrations` in the transaction of the change; the delivery worker sends them. A
//! subscription request and its checks are [`request`].

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::model::Severity;
use crate::model::findings::{Action, Status};
use crate::model::integrations::{Attempt, DeliveryStatus, FindingBrief, Subscription};

pub mod chat;
pub mod jira;
pub mod ocsf;
mod request;
pub mod servicenow;
pub mod syslog;
pub mod tickets;

pub use request::*;

/// The version of the bodies' `data`; a change that could break a receiver gets a new one.
pub const BODY_VERSION: u32 = 1;

/// The event a receiver can test its endpoint with (`integrations test`); sent only to that subscription.
pub const TEST_EVENT: &str = "integration.test";

/// A new host enrolled (a new record; `duplicates` names records with the same identity).
pub const HOST_ENROLLED: &str = "host.enrolled";
/// An existing record taken over by a new agent: a reinstall, a cloned disk, or an approved held request.
pub const HOST_TAKEN_OVER: &str = "host.taken_over";
/// An enrolment claiming a record that another live agent holds, waiting for an administrator's approval.
pub const HOST_ENROLMENT_HELD: &str = "host.enrolment_held";

/// An active finding passed its due date (once per due date: a finding that recurs or gets a new SLA can be
/// overdue again); the escalation the worklist's deadlines promise.
pub const FINDING_OVERDUE: &str = "finding.overdue";

/// A host's disposal steps (issue 7's lifecycle): decommissioning began; every disk is sanitized and the
/// certificates are issued; the hardware left (disposed); the host went back into service.
pub const DISPOSAL_STARTED: &str = "disposal.started";
pub const DISPOSAL_SANITIZED: &str = "disposal.sanitized";
pub const DISPOSAL_COMPLETED: &str = "disposal.completed";
pub const DISPOSAL_REDEPLOYED: &str = "disposal.redeployed";

/// A scheduled advisory update could not fetch a source, or failed: matching goes on with older advisories.
pub const ADVISORIES_UPDATE_FAILED: &str = "advisories.update_failed";

/// Every event type a subscription can ask for: first a finding's change, one per finding action
/// (`Action::as_str`), then its escalation, then the rest.
pub const EVENT_TYPES: [&str; 16] = [
    "finding.opened",
    "finding.acknowledged",
    "finding.risk_accepted",
    "finding.reopened",
    "finding.resolved",
    "finding.recurred",
    "finding.risk_acceptance_expired",
    FINDING_OVERDUE,
    HOST_ENROLLED,
    HOST_TAKEN_OVER,
    HOST_ENROLMENT_HELD,
    DISPOSAL_STARTED,
    DISPOSAL_SANITIZED,
    DISPOSAL_COMPLETED,
    DISPOSAL_REDEPLOYED,
    ADVISORIES_UPDATE_FAILED,
];

/// What a person asked to send when they gave no list: what someone has to act on.
pub const DEFAULT_EVENTS: [&str; 7] = [
    "finding.opened",
    "finding.reopened",
    "finding.recurred",
    "finding.risk_acceptance_expired",
    FINDING_OVERDUE,
    HOST_ENROLMENT_HELD,
    ADVISORIES_UPDATE_FAILED,
];

/// Failed attempts after which a delivery is dead (kept for replay) and the subscription moves on: about three
/// and a half hours of retries with [`retry_after`].
pub const MAX_ATTEMPTS: i64 = 12;

/// How long a rotated-out secret still signs, so receivers can switch without dropping a delivery.
pub const PREVIOUS_SECRET_GRACE: TimeDelta = TimeDelta::hours(24);

pub fn finding_event_type(action: Action) -> String {
    format!("finding.{}", action.as_str())
}

/// What an event is about, for a subscription's filters. `None` where the event has no such thing: that filter
/// then lets it through (an advisory update failure has no host, a host event no severity).
#[derive(Debug, Clone, Copy, Default)]
pub struct About<'a> {
    pub severity: Option<Severity>,
    /// The finding's rule or advisory id.
    pub rule_id: Option<&'a str>,
    /// The host's tags.
    pub tags: Option<&'a [String]>,
}

/// Whether `sub` wants an event of `event_type` about `about`: its type is asked for, and what it is about passes
/// the least severity, the rules (a rule or advisory id, or a prefix ending in `*`, any case) and the tags (the
/// host has one of them).
pub fn wants(sub: &Subscription, event_type: &str, about: &About<'_>) -> bool {
    if !sub.events.iter().any(|e| e == event_type) {
        return false;
    }
    // A ticket, once open, hears its finding's whole life: a filter changed since (or a severity re-scored, a tag
    // removed) must not leave it open for ever. Events about a finding with no ticket do nothing there.
    if sub.kind.tickets() && !tickets::opens(event_type) {
        return true;
    }
    let severity_ok = match (sub.min_severity, about.severity) {
        (Some(min), Some(s)) => s >= min,
        _ => true,
    };
    let rule_ok = match (sub.rules.is_empty(), about.rule_id) {
        (false, Some(rule)) => sub.rules.iter().any(|pattern| rule_matches(pattern, rule)),
        _ => true,
    };
    let tags_ok = match (sub.tags.is_empty(), about.tags) {
        (false, Some(tags)) => tags.iter().any(|t| sub.tags.contains(t)),
        _ => true,
    };
    severity_ok && rule_ok && tags_ok
}

fn rule_matches(pattern: &str, rule: &str) -> bool {
    let rule = rule.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_suffix('*') {
        Some(prefix) => rule.starts_with(prefix),
        None => rule == pattern,
    }
}

/// The ids of the subscriptions in `subs` that want an event of `event_type` about `about`.
pub fn subscribers(subs: &[Subscription], event_type: &str, about: &About<'_>) -> Vec<String> {
    subs.iter().filter(|s| wants(s, event_type, about)).map(|s| s.id.clone()).collect()
}

/// The wait after the `attempts`-th failure: 10 s doubling to an hour.
pub fn retry_after(attempts: i64) -> TimeDelta {
    let shift = attempts.clamp(1, 16) - 1;
    TimeDelta::seconds((10_i64 << shift).min(3600))
}

/// An HTTP receiver's answer: its status and, when it refused, the start of what it said. Slack's and Teams' webhooks
/// say why there (`invalid_payload`, `channel_not_found`, `channel_is_archived`), which is what an administrator needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub code: u16,
    pub said: String,
}

impl HttpAnswer {
    /// Characters of a refusal's body kept: enough for an error code and a sentence, not a whole error page.
    pub const SAID_CHARS: usize = 200;

    /// `body` (the first bytes of the answer's body) as one short line of text.
    pub fn new(code: u16, body: &[u8]) -> HttpAnswer {
        let text = String::from_utf8_lossy(body);
        let said: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        HttpAnswer { code, said: said.chars().take(Self::SAID_CHARS).collect() }
    }
}

/// Why a delivery did not happen: something that may pass (no answer, a timeout, a store error: retried with
/// backoff), or something no retry can change (the stored event or the subscription's settings cannot make a
/// request: dead at once, with the reason, to be seen and replayed once mended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Retry(String),
    Never(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Retry(e)
    }
}

/// What an attempt's answer makes of a delivery that had failed `failed_before` times: a 2xx status, or a
/// transport that has no status (syslog) taking the message, delivers it; another status or no answer
/// (`Failure::Retry`) is retried after [`retry_after`] until the [`MAX_ATTEMPTS`]-th failure, which is final (dead, kept for replay);
/// [`Failure::Never`] is final at once.
pub fn attempt_outcome(failed_before: i64, answer: Result<Option<HttpAnswer>, Failure>, now: DateTime<Utc>) -> Attempt {
    let answer = match answer {
        Ok(None) => {
            return Attempt {
                at: now,
                status: DeliveryStatus::Delivered,
                response_code: None,
                error: None,
                retry_at: None,
            };
        }
        Ok(Some(answer)) => Ok(answer),
        Err(Failure::Retry(e)) => Err(e),
        Err(Failure::Never(e)) => {
            return Attempt {
                at: now,
                status: DeliveryStatus::Dead,
                response_code: None,
                error: Some(e),
                retry_at: None,
            };
        }
    };
    let (code, error) = match answer {
        Ok(HttpAnswer { code, .. }) if (200..300).contains(&code) => {
            return Attempt {
                at: now,
                status: DeliveryStatus::Delivered,
                response_code: Some(code),
                error: None,
                retry_at: None,
            };
        }
        Ok(HttpAnswer { code, said }) if said.is_empty() => (Some(code), Some(format!("HTTP {code}"))),
        Ok(HttpAnswer { code, said }) => (Some(code), Some(format!("HTTP {code}: {said}"))),
        Err(e) => (None, Some(e)),
    };
    let failures = failed_before.saturating_add(1);
    if failures >= MAX_ATTEMPTS {
        return Attempt { at: now, status: DeliveryStatus::Dead, response_code: code, error, retry_at: None };
    }
    Attempt {
        at: now,
        status: DeliveryStatus::Pending,
        response_code: code,
        error,
        retry_at: Some(now + retry_after(failures)),
    }
}

/// A new signing secret in the specification's form: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret(random: [u8; 32]) -> String {
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(random))
}

/// The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each secret, space
/// separated (two while a rotated-out secret is in its grace). A secret that is not `whsec_` base64 is a corrupt row.
pub fn signature(secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let mut out = Vec::new();
    for secret in secrets {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("signing secret is not base64: {e}"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        out.push(format!("v1,{sig}"));
    }
    Ok(out.join(" "))
}

/// The secrets a delivery at `now` is signed with: the current one, and the previous one during its grace.
pub fn signing_secrets<'a>(
    secret: &'a str,
    previous: Option<&'a str>,
    previous_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<&'a str> {
    let mut secrets = vec![secret];
    if let (Some(p), Some(until)) = (previous, previous_until)
        && now < until
    {
        secrets.push(p);
    }
    secrets
}

/// A finding event's `data` (version [`BODY_VERSION`]).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FindingEvent<'a> {
    pub version: u32,
    pub finding_id: &'a str,
    pub host_id: &'a str,
    pub hostname: &'a str,
    /// The host's tags (for routing on the receiver's side).
    pub tags: &'a [String],
    /// `rule` or `vulnerability`.
    pub kind: &'a str,
    /// The rule id, or the advisory id.
    pub rule_id: &'a str,
    /// A package for vulnerabilities; empty for host-wide rules.
    pub subject: &'a str,
    pub title: &'a str,
    pub severity: Severity,
    pub from_status: Option<Status>,
    pub status: Status,
    pub due_at: DateTime<Utc>,
    /// Who: a console user, an API token, or the evaluator.
    pub actor: &'a str,
    pub comment: Option<&'a str>,
    /// The finding in the console, relative to the collector's URL.
    pub path: String,
}

/// What a webhook receives for a finding's change (the OpenAPI document's description of [`finding_body`]);
/// `integration.test` has the same envelope with `data` {version, integration, message, actor}.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookFindingEvent<'a> {
    /// `finding.opened`, … (`EVENT_TYPES`).
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// When the change happened (RFC 3339, milliseconds, UTC).
    pub timestamp: String,
    pub data: FindingEvent<'a>,
}

/// The document receivers get, as the Standard Webhooks specification shapes it: type, timestamp, data.
pub fn body<T: Serialize>(event_type: &str, at: DateTime<Utc>, data: &T) -> String {
    #[derive(Serialize)]
    struct Envelope<'a, T> {
        #[serde(rename = "type")]
        event_type: &'a str,
        timestamp: String,
        data: &'a T,
    }
    let envelope = Envelope { event_type, timestamp: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), data };
    // Serialising plain structs of strings and numbers cannot fail; an empty object is the harmless fallback.
    serde_json::to_string(&envelope).unwrap_or_else(|_| "{}".to_owned())
}

/// A stored event's body read back at delivery, for what renders it in a destination's own form (chat messages,
/// tickets): its type and every field any event's `data` may carry, absent ones empty (a test event has no
/// finding, a host event no rule).
#[derive(Debug, serde::Deserialize)]
pub struct StoredEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339, as [`body`] writes it.
    #[serde(default)]
    pub timestamp: String,
    pub data: EventData,
}

/// The union of the events' `data` fields ([`FindingEvent`], [`HostEvent`], [`DisposalEvent`],
/// [`AdvisoryUpdateFailure`], the test event's), as text.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct EventData {
    pub finding_id: String,
    pub hostname: String,
    pub kind: String,
    pub rule_id: String,
    pub subject: String,
    pub title: String,
    pub severity: String,
    pub from_status: Option<String>,
    pub status: String,
    pub due_at: String,
    pub actor: String,
    pub comment: Option<String>,
    pub path: String,
    pub integration: String,
    pub message: String,
    pub host_id: String,
    pub agent_version: String,
    pub tags: Vec<String>,
    pub duplicates: Vec<String>,
    pub request_id: Option<String>,
    pub failures: Vec<SourceFailure>,
    pub from: String,
    pub to: String,
    pub details: serde_json::Value,
}

impl StoredEvent {
    pub fn parse(body: &str) -> Result<StoredEvent, String> {
        serde_json::from_str(body).map_err(|e| format!("the stored event is not readable: {e}"))
    }
}

/// The body of a finding's change.
#[allow(clippy::too_many_arguments)]
pub fn finding_body(
    event_type: &str,
    at: DateTime<Utc>,
    finding_id: &str,
    host_id: &str,
    rule_id: &str,
    brief: &FindingBrief,
    from: Option<Status>,
    to: Status,
    actor: &str,
    comment: Option<&str>,
) -> String {
    let data = FindingEvent {
        version: BODY_VERSION,
        finding_id,
        host_id,
        hostname: &brief.hostname,
        tags: &brief.tags,
        kind: &brief.kind,
        rule_id,
        subject: &brief.subject,
        title: &brief.title,
        severity: brief.severity,
        from_status: from,
        status: to,
        due_at: brief.due_at,
        actor,
        comment,
        path: format!("/findings/{finding_id}"),
    };
    body(event_type, at, &data)
}

/// How a host's record changed at enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostChange {
    Enrolled,
    TakenOver,
    EnrolmentHeld,
}

impl HostChange {
    pub fn event_type(self) -> &'static str {
        match self {
            HostChange::Enrolled => HOST_ENROLLED,
            HostChange::TakenOver => HOST_TAKEN_OVER,
            HostChange::EnrolmentHeld => HOST_ENROLMENT_HELD,
        }
    }
}

/// A host event's `data` (version [`BODY_VERSION`]): the record, the agent that enrolled, and where to act.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostEvent<'a> {
    pub version: u32,
    pub host_id: &'a str,
    pub hostname: &'a str,
    pub agent_version: &'a str,
    pub tags: &'a [String],
    /// One line for people and SIEM event names.
    pub title: String,
    /// Other records with the same hardware or machine id (`host.enrolled`): cloned disks or images to look at.
    pub duplicates: &'a [String],
    /// The held request to approve or reject (`host.enrolment_held`).
    pub request_id: Option<&'a str>,
    /// Who: `enrolment` (the agent's own request), or the administrator who approved a held one.
    pub actor: &'a str,
    /// Where to look in the console, relative to the collector's URL: the host, or the held requests.
    pub path: String,
}

/// What a webhook receives for a host's enrolment (`host.*`); the same envelope as finding events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookHostEvent<'a> {
    /// `host.enrolled`, `host.taken_over` or `host.enrolment_held`.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub timestamp: String,
    pub data: HostEvent<'a>,
}

/// What a host event tells, as `app::enrol` knows it.
#[derive(Debug, Clone)]
pub struct HostFacts<'a> {
    pub host_id: &'a str,
    pub hostname: &'a str,
    pub agent_version: &'a str,
    pub tags: &'a [String],
    pub duplicates: &'a [String],
    pub request_id: Option<&'a str>,
    pub actor: &'a str,
}

/// The body of a host's enrolment event.
pub fn host_body(change: HostChange, at: DateTime<Utc>, facts: &HostFacts<'_>) -> String {
    let title = match change {
        HostChange::Enrolled if facts.duplicates.is_empty() => format!("New host {} enrolled", facts.hostname),
        HostChange::Enrolled => format!(
            "New host {} enrolled with the identity of {} other record(s)",
            facts.hostname,
            facts.duplicates.len()
        ),
        HostChange::TakenOver => format!("Host {} taken over by a new agent", facts.hostname),
        HostChange::EnrolmentHeld => format!("Enrolment of {} held for approval", facts.hostname),
    };
    let path = match change {
        HostChange::EnrolmentHeld => "/admin/enrolments".to_owned(),
        _ => format!("/hosts/{}", facts.host_id),
    };
    let data = HostEvent {
        version: BODY_VERSION,
        host_id: facts.host_id,
        hostname: facts.hostname,
        agent_version: facts.agent_version,
        tags: facts.tags,
        title,
        duplicates: facts.duplicates,
        request_id: facts.request_id,
        actor: facts.actor,
        path,
    };
    body(change.event_type(), at, &data)
}

/// One advisory source that was not fetched, as an event tells it.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SourceFailure {
    /// The source's address without its query (where a mirror's access key may sit).
    pub source: String,
    pub error: String,
}

/// A disposal step's `data` (version [`BODY_VERSION`]): the host, the lifecycle states it moved between, who moved
/// it, and what the audit log keeps of the step (case, reason, destination, certificates, …).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DisposalEvent<'a> {
    pub version: u32,
    pub host_id: &'a str,
    pub hostname: &'a str,
    /// One line for people and SIEM event names.
    pub title: String,
    /// `in_service`, `decommissioning`, `sanitized` or `disposed`.
    pub from: &'a str,
    pub to: &'a str,
    pub actor: &'a str,
    /// The host's disposal page in the console.
    pub path: String,
    #[schema(value_type = Object)]
    pub details: &'a serde_json::Value,
}

/// What a webhook receives for a disposal step (`disposal.*`); the same envelope as finding events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookDisposalEvent<'a> {
    /// `disposal.started`, `disposal.sanitized`, `disposal.completed` or `disposal.redeployed`.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub timestamp: String,
    pub data: DisposalEvent<'a>,
}

/// One disposal step, as `crate::disposal` takes it.
#[derive(Debug, Clone)]
pub struct DisposalFacts<'a> {
    pub event_type: &'static str,
    pub host_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// Each case passes each step once, so with the host and step it makes the event's id unique and stable.
    pub case_id: &'a str,
    pub actor: &'a str,
    /// What the audit log keeps of the step.
    pub details: &'a serde_json::Value,
}

/// The body of a disposal step's event.
pub fn disposal_body(at: DateTime<Utc>, f: &DisposalFacts<'_>, hostname: &str) -> String {
    let title = match f.event_type {
        DISPOSAL_STARTED => format!("Disposal of {hostname} started"),
        DISPOSAL_SANITIZED => format!("Every disk of {hostname} sanitized; certificates issued"),
        DISPOSAL_COMPLETED => format!("{hostname} disposed"),
        _ => format!("{hostname} back in service"),
    };
    let data = DisposalEvent {
        version: BODY_VERSION,
        host_id: f.host_id,
        hostname,
        title,
        from: f.from,
        to: f.to,
        actor: f.actor,
        path: format!("/disposal/{}", f.host_id),
        details: f.details,
    };
    body(f.event_type, at, &data)
}

/// An advisory update's failure `data` (version [`BODY_VERSION`]).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdvisoryUpdateFailure<'a> {
    pub version: u32,
    pub title: String,
    /// Sources configured for the update.
    pub sources: usize,
    pub failures: &'a [SourceFailure],
    pub actor: &'a str,
    /// The advisories page of the console (their age and counts).
    pub path: &'a str,
}

/// A source as events show it: no user, password, query or fragment.
pub fn source_label(source: &str) -> String {
    match url::Url::parse(source) {
        Ok(mut url) if url.has_host() => {
            url.set_query(None);
            url.set_fragment(None);
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => source.to_owned(),
    }
}

/// The body of a failed advisory update: which of `sources` sources failed and why.
pub fn advisory_failure_body(at: DateTime<Utc>, sources: usize, failures: &[SourceFailure], actor: &str) -> String {
    let data = AdvisoryUpdateFailure {
        version: BODY_VERSION,
        title: format!("Advisory update failed for {} of {sources} source(s)", failures.len()),
        sources,
        failures,
        actor,
        path: "/admin/advisories",
    };
    body(ADVISORIES_UPDATE_FAILED, at, &data)
}

#[cfg(test)]
mod tests;

//! Enrolment: an agent trades the enrolment secret for a host token. The checks on what it claims, the limit on
//! failed attempts per address, the secret's validity, creating or taking over the host record (decided by
//! `identity::decide` over the candidates read in the same transaction), holding a take-over of a live host for an
//! administrator's approval (and that decision), and the audit entry of each outcome.

use chrono::{DateTime, Utc};
use muster_shared::v1::{EnrollRequest, EnrollResponse};

use crate::app::audit::{Actor, AuditEvent, record};
use crate::app::integrations::host_changed;
use crate::config::EnrolmentPolicy;
use crate::disposal::lifecycle::LifecycleState;
use crate::identity::{self, Candidate, Decision, Windows};
use crate::integrations::{HostChange, HostFacts};
use crate::store::tx::{self, EnrolledHost, HeldEnrolment, HostTx, IdentityKey};
use crate::store::{HostTokenLookup, Store, StoreError};
use crate::tokens::{self, RandomError};

/// What an enrolling agent claims about itself, already cleaned (junk hardware identity removed).
#[derive(Debug, Clone)]
pub struct EnrollInput {
    pub hostname: String,
    pub machine_id: Option<String>,
    /// Both parts or nothing: half an identity identifies nothing.
    pub hardware_identity: Option<(String, String)>,
    pub agent_version: String,
    pub tags: Vec<String>,
    pub token_hash: String,
    /// The id a new host gets, if the enrolment creates one (or the held request's id, if it is held).
    pub new_host_id: String,
    /// The host whose current token the agent presented (`previous_token`), if valid.
    pub proven_host: Option<String>,
    pub source_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollOutcome {
    pub host_id: String,
    pub reenrolled: bool,
    /// Other live hosts with the same hardware identity; all of them and the new host are flagged.
    pub duplicates: Vec<String>,
    /// The id of the request held for an administrator's approval, when the enrolment waits for one.
    pub held: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("too many failed enrolments from this address")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Invalid(String),
    /// The secret is unknown, revoked or expired; `code` is the API's error code.
    #[error("{message}")]
    Refused { code: &'static str, message: &'static str },
    /// [`MAX_HELD_PER_HOST`] requests already wait for a decision on this host.
    #[error(
        "{MAX_HELD_PER_HOST} enrolments of this machine already wait for an administrator's approval; retry once \
         they are decided (muster-collector enrolment list)"
    )]
    TooManyHeld { host_id: String },
    /// The machine's record left service: it is never taken over.
    #[error("{}", retired_message(.host_id, *.state))]
    Retired { host_id: String, state: LifecycleState },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
}

fn retired_message(host_id: &str, state: LifecycleState) -> String {
    match state {
        LifecycleState::Disposed => {
            format!("this machine's host record {host_id} is disposed of; disposed hardware cannot enrol again")
        }
        state => format!(
            "this machine's host record {host_id} is {}; it cannot enrol until an administrator returns it to \
             service (muster-collector disposal redeploy {host_id})",
            state.as_str()
        ),
    }
}

fn checked(name: &str, value: &str, max: usize) -> Result<(), EnrolError> {
    if value.len() > max {
        return Err(EnrolError::Invalid(format!("{name} is longer than {max} bytes")));
    }
    Ok(())
}

/// The request within its size limits, with the hostname trimmed and not empty.
fn validate(request: &EnrollRequest) -> Result<String, EnrolError> {
    checked("secret", &request.secret, 512)?;
    checked("agent_version", &request.agent_version, 64)?;
    if let Some(token) = &request.previous_token {
        checked("previous_token", token, 512)?;
    }
    for value in [&request.machine_id, &request.system_uuid, &request.system_serial].into_iter().flatten() {
        checked("identity field", value, 128)?;
    }
    if request.tags.len() > 64 {
        return Err(EnrolError::Invalid("at most 64 tags".to_owned()));
    }
    for tag in &request.tags {
        checked("tag", tag, 128)?;
    }
    Ok(crate::identity::hostname(&request.hostname).map_err(EnrolError::Invalid)?.to_owned())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// `now - d`, or the epoch when that does not exist.
pub fn ago(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    now.checked_sub_signed(d).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Whether the secret may enrol now; the reason (code and message) when not.
fn secret_refusal(
    secret: Option<&crate::store::EnrollSecretState>,
    now: DateTime<Utc>,
) -> Option<(&'static str, &'static str)> {
    match secret {
        None => Some(("invalid_secret", "unknown enrolment secret")),
        Some(s) if s.revoked => Some(("secret_revoked", "this enrolment secret was revoked")),
        Some(s) if s.expires_at.is_some_and(|at| at <= now) => {
            Some(("secret_expired", "this enrolment secret has expired"))
        }
        Some(_) => None,
    }
}

/// Enrols the machine whose enrolment request (JSON) is `body`, coming from `ip`. The body is decoded after the
/// failure limit is checked: a limited address gets the same answer whatever it sends. A host seen since
/// `not_stale_since` (the rules' stale window, `app::hosts::ages`) is taken over only with proof or approval.
pub async fn enrol(
    store: &dyn Store,
    policy: &EnrolmentPolicy,
    not_stale_since: DateTime<Utc>,
    body: &[u8],
    ip: &str,
    now: DateTime<Utc>,
) -> Result<EnrollResponse, EnrolError> {
    let failures = store.count_enroll_failures(ip, ago(now, policy.failure_window)).await?;
    if failures >= policy.max_failures {
        tracing::warn!(source_ip = %ip, failures, "enrolment refused: too many failed attempts");
        return Err(EnrolError::RateLimited { retry_after_secs: policy.failure_window.as_secs().max(1) });
    }
    let request: EnrollRequest =
        serde_json::from_slice(body).map_err(|e| EnrolError::Invalid(format!("not an enrolment request: {e}")))?;
    let hostname = validate(&request)?;
    let actor = Actor::agent(ip);

    let secret = store.find_enroll_secret(&tokens::hash(&request.secret)).await?;
    let secret = match (secret_refusal(secret.as_ref(), now), secret) {
        (None, Some(secret)) => secret,
        (refusal, _) => {
            let (code, message) = refusal.unwrap_or(("invalid_secret", "unknown enrolment secret"));
            tracing::warn!(source_ip = %ip, hostname = %hostname, reason = code, "enrolment failed");
            store.record_enroll_failure(ip, now).await?;
            record(store, &actor, now, AuditEvent::HostEnrollFailed { hostname, reason: code }).await?;
            return Err(EnrolError::Refused { code, message });
        }
    };

    // The proof a re-enrolling agent offers: the token it holds now, if that is still a live token of a host.
    let proven_host = match &request.previous_token {
        Some(previous) => match store.host_for_token(&tokens::hash(previous)).await? {
            HostTokenLookup::Valid { host_id, .. } => Some(host_id),
            _ => None,
        },
        None => None,
    };
    let token = tokens::generate(tokens::HOST_TOKEN_PREFIX)?;
    let input = EnrollInput {
        hostname: hostname.clone(),
        machine_id: non_empty(request.machine_id),
        hardware_identity: identity::hardware_identity(
            request.system_uuid.as_deref(),
            request.system_serial.as_deref(),
        ),
        agent_version: request.agent_version,
        tags: request.tags,
        token_hash: tokens::hash(token.expose()),
        new_host_id: tokens::new_id()?,
        proven_host,
        source_ip: Some(ip.to_owned()),
    };
    // Never a narrower window than the clone check's, whatever the rules' `stale_days` says.
    let live_since = ago(now, policy.live_window);
    let windows = Windows { live_since, not_stale_since: not_stale_since.min(live_since) };
    let outcome = match enrol_host(store, &input, &secret.id, now, windows).await {
        Err(EnrolError::Retired { host_id, state }) => {
            tracing::warn!(source_ip = %ip, hostname = %hostname, host_id = %host_id, state = state.as_str(),
                "enrolment refused: the machine's host record left service");
            let event = AuditEvent::HostEnrollRefused { host_id: host_id.clone(), hostname, state: state.as_str() };
            record(store, &actor, now, event).await?;
            return Err(EnrolError::Retired { host_id, state });
        }
        Err(e @ EnrolError::TooManyHeld { .. }) => {
            tracing::warn!(source_ip = %ip, hostname = %hostname, "enrolment refused: too many held for this host");
            return Err(e);
        }
        other => other?,
    };
    if let Some(request_id) = &outcome.held {
        tracing::warn!(host_id = %outcome.host_id, hostname = %hostname, request_id = %request_id, source_ip = %ip,
            "enrolment held: it would take over a live host's record; an administrator must approve it");
        let event = AuditEvent::HostEnrollHeld {
            request_id: request_id.clone(),
            host_id: outcome.host_id.clone(),
            hostname,
            secret_id: secret.id,
        };
        record(store, &actor, now, event).await?;
        return Ok(EnrollResponse {
            host_id: outcome.host_id,
            host_token: token.expose().to_owned(),
            reenrolled: false,
            pending_approval: true,
        });
    }
    if !outcome.duplicates.is_empty() {
        tracing::warn!(host_id = %outcome.host_id, others = ?outcome.duplicates,
            "duplicate hardware identity: another live host claims it (cloned machine?)");
    }
    tracing::info!(host_id = %outcome.host_id, hostname = %hostname, reenrolled = outcome.reenrolled, "host enrolled");
    let event = AuditEvent::HostEnrolled {
        host_id: outcome.host_id.clone(),
        hostname,
        secret_id: secret.id,
        reenrolled: outcome.reenrolled,
        duplicate_of: outcome.duplicates,
    };
    record(store, &actor, now, event).await?;
    Ok(EnrollResponse {
        host_id: outcome.host_id,
        host_token: token.expose().to_owned(),
        reenrolled: outcome.reenrolled,
        pending_approval: false,
    })
}

/// Creates or takes over a host (see [`identity::decide`]) and gives it `input.token_hash`, revoking the host's
/// older tokens; or holds the enrolment for approval; counts a use of the secret. One transaction.
pub async fn enrol_host(
    store: &dyn Store,
    input: &EnrollInput,
    secret_id: &str,
    now: DateTime<Utc>,
    windows: Windows,
) -> Result<EnrollOutcome, EnrolError> {
    let mut tx = store.begin_host_tx().await?;
    let written = write_enrolment(tx.as_mut(), input, secret_id, now, windows).await;
    tx::end(tx, written).await
}

async fn write_enrolment(
    tx: &mut dyn HostTx,
    input: &EnrollInput,
    secret_id: &str,
    now: DateTime<Utc>,
    windows: Windows,
) -> Result<EnrollOutcome, EnrolError> {
    tx.count_secret_use(secret_id).await?;
    let key = match (&input.hardware_identity, &input.machine_id) {
        (Some((uuid, serial)), _) => Some(IdentityKey::Hardware { uuid, serial }),
        (None, Some(machine_id)) => Some(IdentityKey::MachineId(machine_id)),
        (None, None) => None,
    };
    let candidates: Vec<Candidate> = match key {
        Some(key) => tx
            .hosts_with_identity(key)
            .await?
            .into_iter()
            .map(|c| Candidate {
                host_id: c.host_id,
                machine_id: c.machine_id,
                last_seen: c.last_seen,
                lifecycle: c.lifecycle,
            })
            .collect(),
        None => Vec::new(),
    };
    let host = EnrolledHost {
        hostname: &input.hostname,
        machine_id: input.machine_id.as_deref(),
        hardware_identity: input.hardware_identity.as_ref().map(|(u, s)| (u.as_str(), s.as_str())),
        agent_version: &input.agent_version,
        tags: &input.tags,
    };
    let decision = identity::decide(input.machine_id.as_deref(), &candidates, windows, input.proven_host.as_deref());
    // The record about to be held or taken over is locked and read again (host row before requests, as disposal
    // and approval take them): a disposal that finished meanwhile wins.
    if let Decision::Hold { host_id } | Decision::Reenrol { host_id } = &decision
        && let Some(locked) = tx.lock_host(host_id).await?
        && locked.lifecycle != LifecycleState::InService
    {
        return Err(EnrolError::Retired { host_id: host_id.clone(), state: locked.lifecycle });
    }
    let outcome = match decision {
        Decision::Retired { host_id, state } => return Err(EnrolError::Retired { host_id, state }),
        Decision::Hold { host_id } => {
            if tx.pending_enrolments(&host_id).await? >= MAX_HELD_PER_HOST {
                return Err(EnrolError::TooManyHeld { host_id });
            }
            let held = HeldEnrolment {
                id: input.new_host_id.clone(),
                host_id: host_id.clone(),
                token_hash: input.token_hash.clone(),
                hostname: input.hostname.clone(),
                machine_id: input.machine_id.clone(),
                hardware_identity: input.hardware_identity.clone(),
                agent_version: input.agent_version.clone(),
                tags: input.tags.clone(),
                secret_id: secret_id.to_owned(),
                source_ip: input.source_ip.clone(),
                requested_at: now,
            };
            tx.hold_enrolment(&held).await?;
            let facts = HostFacts {
                host_id: &host_id,
                hostname: &input.hostname,
                agent_version: &input.agent_version,
                tags: &input.tags,
                duplicates: &[],
                request_id: Some(&held.id),
                actor: ENROLMENT_ACTOR,
            };
            host_changed(tx, HostChange::EnrolmentHeld, &facts, &input.token_hash, now).await?;
            return Ok(EnrollOutcome { host_id, reenrolled: false, duplicates: Vec::new(), held: Some(held.id) });
        }
        Decision::Reenrol { host_id } => {
            tx.take_over_host(&host_id, &host, now).await?;
            EnrollOutcome { host_id, reenrolled: true, duplicates: Vec::new(), held: None }
        }
        Decision::New { duplicates } => {
            tx.insert_host(&input.new_host_id, &host, !duplicates.is_empty(), now).await?;
            for other in &duplicates {
                tx.flag_duplicate_identity(other).await?;
            }
            EnrollOutcome { host_id: input.new_host_id.clone(), reenrolled: false, duplicates, held: None }
        }
    };
    tx.insert_host_token(&input.token_hash, &outcome.host_id, now).await?;
    let facts = HostFacts {
        host_id: &outcome.host_id,
        hostname: &input.hostname,
        agent_version: &input.agent_version,
        tags: &input.tags,
        duplicates: &outcome.duplicates,
        request_id: None,
        actor: ENROLMENT_ACTOR,
    };
    let change = if outcome.reenrolled { HostChange::TakenOver } else { HostChange::Enrolled };
    host_changed(tx, change, &facts, &input.token_hash, now).await?;
    Ok(outcome)
}

/// Who enrolment events name when the agent's own request made the change.
const ENROLMENT_ACTOR: &str = "enrolment";

/// Held requests per host: enough for a genuine reinstall next to a few others, bounded so holding cannot be used
/// to fill the table or the administrator's list.
pub const MAX_HELD_PER_HOST: i64 = 5;

/// An administrator's answer to a held enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("no pending enrolment request {0} (decided already, superseded, or never held)")]
    NotPending(String),
    #[error("{}", retired_message(.host_id, *.state))]
    Retired { host_id: String, state: LifecycleState },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Approves or rejects the held enrolment `id`. Approval hands the record to the waiting agent in one
/// transaction: the record takes its claims, the old agent's tokens are revoked as `replaced`, and the token the
/// waiting agent already holds starts working. A record that left service meanwhile is never handed over.
pub async fn decide_held(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    verdict: Verdict,
    now: DateTime<Utc>,
) -> Result<HeldEnrolment, DecideError> {
    let mut tx = store.begin_host_tx().await?;
    let written = write_decision(tx.as_mut(), actor, id, verdict, now).await;
    let (held, decision) = match tx::end(tx, written).await? {
        Decided::Closed { held, decision } => (*held, decision),
        Decided::Refused { host_id, state } => return Err(DecideError::Retired { host_id, state }),
    };
    tracing::info!(request_id = %id, host_id = %held.host_id, decision, actor = %actor.name, "held enrolment decided");
    let event = AuditEvent::HostEnrollDecided {
        request_id: held.id.clone(),
        host_id: held.host_id.clone(),
        hostname: held.hostname.clone(),
        approved: verdict == Verdict::Approve,
    };
    record(store, actor, now, event).await?;
    Ok(held)
}

impl tx::StoreFailure for EnrolError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            EnrolError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl tx::StoreFailure for DecideError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            DecideError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// What [`write_decision`] wrote, to be committed either way.
enum Decided {
    /// The request is decided (`decision`: approved or rejected).
    Closed { held: Box<HeldEnrolment>, decision: &'static str },
    /// An approval of a host that left service: the request is closed as rejected, never handed over.
    Refused { host_id: String, state: LifecycleState },
}

async fn write_decision(
    tx: &mut dyn HostTx,
    actor: &Actor,
    id: &str,
    verdict: Verdict,
    now: DateTime<Utc>,
) -> Result<Decided, DecideError> {
    // Host row first (as disposal and enrolment lock it), then the request.
    let Some((host_id, locked)) = tx.lock_host_of_request(id).await? else {
        return Err(DecideError::NotPending(id.to_owned()));
    };
    // An approval of a host that left service closes the request instead, with the reason as its decider.
    let refused = verdict == Verdict::Approve && locked.lifecycle != LifecycleState::InService;
    let (decision, decided_by) = match verdict {
        _ if refused => ("rejected", "lifecycle"),
        Verdict::Approve => ("approved", actor.name.as_str()),
        Verdict::Reject => ("rejected", actor.name.as_str()),
    };
    let held = tx
        .decide_enrolment(id, decision, decided_by, now)
        .await?
        .ok_or_else(|| DecideError::NotPending(id.to_owned()))?;
    if refused {
        // Never handed over, and never left pending: the request is closed with the reason.
        return Ok(Decided::Refused { host_id, state: locked.lifecycle });
    }
    if verdict == Verdict::Approve {
        let host = EnrolledHost {
            hostname: &held.hostname,
            machine_id: held.machine_id.as_deref(),
            hardware_identity: held.hardware_identity.as_ref().map(|(u, s)| (u.as_str(), s.as_str())),
            agent_version: &held.agent_version,
            tags: &held.tags,
        };
        tx.take_over_host(&held.host_id, &host, now).await?;
        tx.insert_host_token(&held.token_hash, &held.host_id, now).await?;
        let facts = HostFacts {
            host_id: &held.host_id,
            hostname: &held.hostname,
            agent_version: &held.agent_version,
            tags: &held.tags,
            duplicates: &[],
            request_id: Some(&held.id),
            actor: &actor.name,
        };
        host_changed(tx, HostChange::TakenOver, &facts, &held.token_hash, now).await?;
    }
    Ok(Decided::Closed { held: Box::new(held), decision })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::EnrollSecretState;

    #[test]
    fn secrets_are_refused_when_unknown_revoked_or_expired() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let secret = |revoked: bool, expires_at: Option<DateTime<Utc>>| EnrollSecretState {
            id: "s".to_owned(),
            expires_at,
            revoked,
        };
        let cases = [
            (None, Some("invalid_secret")),
            (Some(secret(true, None)), Some("secret_revoked")),
            (Some(secret(false, Some(now))), Some("secret_expired")),
            (Some(secret(false, Some(now + chrono::Duration::seconds(1)))), None),
            (Some(secret(false, None)), None),
        ];
        for (stored, expected) in cases {
            assert_eq!(secret_refusal(stored.as_ref(), now).map(|(code, _)| code), expected, "{stored:?}");
        }
    }

    #[test]
    fn requests_over_the_limits_are_invalid() {
        let request = |hostname: &str, tags: usize| EnrollRequest {
            secret: "s".to_owned(),
            hostname: hostname.to_owned(),
            machine_id: None,
            system_uuid: None,
            system_serial: None,
            agent_version: "0.1.0".to_owned(),
            tags: vec!["t".to_owned(); tags],
            previous_token: None,
        };
        assert_eq!(validate(&request("  lab ", 0)).unwrap(), "lab");
        let long_proof = EnrollRequest { previous_token: Some("t".repeat(513)), ..request("lab", 0) };
        for bad in [request("   ", 0), request(&"h".repeat(256), 0), request("lab", 65), long_proof] {
            assert!(matches!(validate(&bad), Err(EnrolError::Invalid(_))), "{bad:?}");
        }
    }
}

//! Hardware disposal (issue 7): a host's lifecycle from `in_service` through `decommissioning` and `sanitized` to
//! `disposed` (or back to service), the evidence that each disk was sanitized, and the signed certificates.
//!
//! The CLI and the HTTP API both call the functions here; each transition is audited. The decisions themselves are
//! pure (see [`lifecycle`]); this module loads, decides, stores.

pub mod certificate;
pub mod evidence;
pub mod html;
pub mod issue;
pub mod lifecycle;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::admin::Actor;
use crate::app::audit::{AuditEvent, DisposalStep, record};
use crate::app::integrations::disposal_outbox;
use crate::integrations::{DISPOSAL_COMPLETED, DISPOSAL_REDEPLOYED, DISPOSAL_STARTED, DisposalFacts};
use crate::store::disposal::{CaseClosing, CaseRecord, NewCase};
use crate::store::{Store, StoreError};
use crate::tokens::{self, RandomError};
use certificate::CertificateError;
use lifecycle::{Destination, DiskCoverage, KnownDisk, LifecycleState};

#[derive(Debug, thiserror::Error)]
pub enum DisposalError {
    #[error("host {0} not found")]
    HostNotFound(String),
    #[error("certificate {0} not found")]
    CertificateNotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// The host is not in a state that allows this.
    #[error("{0}")]
    WrongState(String),
    #[error("host {host} cannot be disposed: {} disk(s) lack a passing verification or destruction record: {}", .missing.len(), .missing.join("; "))]
    Incomplete { host: String, missing: Vec<String> },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error("the operating system random source failed: {0}")]
    Entropy(String),
}

/// What `disposal start` needs. Operator and verifier are named up front: they go on every certificate.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct StartRequest {
    pub reason: String,
    /// Who sanitizes the media.
    pub operator: String,
    /// Who checks the result (should not be the operator).
    pub verifier: String,
    /// Where sanitization takes place.
    #[serde(default)]
    pub location: Option<String>,
    /// Planned post-sanitization destination; certificates state it and `complete` must confirm it.
    pub destination: Destination,
    /// Revoke the host's agent token once the verification is in (when the host becomes `sanitized`).
    #[serde(default)]
    pub revoke_token: bool,
}

/// A case as shown to people.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CaseView {
    pub id: String,
    pub reason: String,
    pub operator: String,
    pub verifier: String,
    pub location: String,
    pub planned_destination: Destination,
    pub revoke_token: bool,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sanitized_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    /// `disposed` or `redeployed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CertificateRef {
    pub id: String,
    pub disk_serial: String,
    pub issued_at: DateTime<Utc>,
}

/// Where a host's disposal stands, and what is missing.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DisposalStatus {
    pub host_id: String,
    pub hostname: String,
    pub state: LifecycleState,
    /// The newest case, open or closed; absent when the host was never decommissioned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseView>,
    /// Each disk the case must cover, with its state (empty outside a case).
    pub disks: Vec<DiskCoverage>,
    /// One line per disk still lacking evidence (only while decommissioning).
    pub missing: Vec<String>,
    pub certificates: Vec<CertificateRef>,
    pub warnings: Vec<String>,
}

fn view(case: &CaseRecord) -> CaseView {
    CaseView {
        id: case.id.clone(),
        reason: case.reason.clone(),
        operator: case.operator.clone(),
        verifier: case.verifier.clone(),
        location: case.location.clone(),
        planned_destination: case.planned_destination,
        revoke_token: case.revoke_token,
        opened_by: case.opened_by.clone(),
        opened_at: case.opened_at,
        sanitized_at: case.sanitized_at,
        closed_at: case.closed_at,
        outcome: case.outcome.clone(),
        destination: case.destination,
        reference: case.reference.clone(),
    }
}

/// Records one disposal step in the audit log.
pub(crate) async fn audit(
    store: &dyn Store,
    actor: &Actor,
    now: DateTime<Utc>,
    step: DisposalStep,
    host_id: &str,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    record(store, actor, now, AuditEvent::Disposal { step, host_id: host_id.to_owned(), details }).await
}

/// A host by id, or by exact hostname when that names one host.
pub async fn resolve_host(store: &dyn Store, host: &str) -> Result<String, DisposalError> {
    if store.lifecycle_state(host).await?.is_some() {
        return Ok(host.to_owned());
    }
    let ids = store.hosts_named(host).await?;
    match ids.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(DisposalError::HostNotFound(host.to_owned())),
        many => Err(DisposalError::Invalid(format!(
            "hostname {host} names {} hosts ({}); give the host id",
            many.len(),
            many.join(", ")
        ))),
    }
}

pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<String, DisposalError> {
    let value = value.trim();
    if value.is_empty() || value.len() > max {
        return Err(DisposalError::Invalid(format!("{field} must be 1 to {max} characters")));
    }
    Ok(value.to_owned())
}

fn same_person_warning(operator: &str, verifier: &str) -> Option<String> {
    lifecycle::same_person(operator, verifier)
        .then(|| format!("operator and verifier are the same person ({operator}); NIST expects a second person"))
}

/// The disks a case must cover now: those listed at its start plus any the latest inventory added.
pub(crate) async fn case_disks(store: &dyn Store, case: &CaseRecord) -> Result<Vec<KnownDisk>, StoreError> {
    let current: Vec<KnownDisk> =
        store.inventory_disks(&case.host_id).await?.unwrap_or_default().iter().map(KnownDisk::from_inventory).collect();
    Ok(lifecycle::merge_disks(&case.disks, &current))
}

/// `in_service` → `decommissioning`.
pub async fn start(
    store: &dyn Store,
    actor: &Actor,
    host: &str,
    request: &StartRequest,
    now: DateTime<Utc>,
) -> Result<DisposalStatus, DisposalError> {
    let host_id = resolve_host(store, host).await?;
    let reason = text("reason", &request.reason, 1000)?;
    let operator = text("operator", &request.operator, 200)?;
    let verifier = text("verifier", &request.verifier, 200)?;
    let location = match &request.location {
        Some(location) => text("location", location, 500)?,
        None => "not stated".to_owned(),
    };
    let state = store.lifecycle_state(&host_id).await?.ok_or_else(|| DisposalError::HostNotFound(host.into()))?;
    if state != LifecycleState::InService {
        return Err(DisposalError::WrongState(format!(
            "host {host} is {}, not in service; a disposal is already under way or done",
            state.as_str()
        )));
    }
    let disks: Vec<KnownDisk> =
        store.inventory_disks(&host_id).await?.unwrap_or_default().iter().map(KnownDisk::from_inventory).collect();
    let case = NewCase {
        id: tokens::new_id()?,
        host_id: host_id.clone(),
        reason: reason.clone(),
        operator: operator.clone(),
        verifier: verifier.clone(),
        location,
        planned_destination: request.destination,
        revoke_token: request.revoke_token,
        disks: disks.clone(),
        opened_by: actor.name.clone(),
        opened_at: now,
    };
    let warnings: Vec<String> = same_person_warning(&operator, &verifier).into_iter().collect();
    let details = serde_json::json!({
        "case_id": case.id,
        "from": "in_service",
        "to": "decommissioning",
        "reason": reason,
        "operator": operator,
        "verifier": verifier,
        "destination": request.destination,
        "revoke_token": request.revoke_token,
        "disks": disks.iter().map(KnownDisk::label).collect::<Vec<_>>(),
        "warnings": warnings,
    });
    let change = DisposalFacts {
        event_type: DISPOSAL_STARTED,
        host_id: &host_id,
        from: "in_service",
        to: "decommissioning",
        case_id: &case.id,
        actor: &actor.name,
        details: &details,
    };
    let outbox = disposal_outbox(store, change, now).await?;
    if !store.open_case(&case, outbox.as_ref()).await? {
        return Err(DisposalError::WrongState(format!("host {host} left service meanwhile")));
    }
    audit(store, actor, now, DisposalStep::Started, &host_id, details).await?;
    status(store, &host_id).await
}

/// Where the host's disposal stands.
pub async fn status(store: &dyn Store, host: &str) -> Result<DisposalStatus, DisposalError> {
    let host_id = resolve_host(store, host).await?;
    let summary = store.get_host_summary(&host_id).await?.ok_or_else(|| DisposalError::HostNotFound(host.into()))?;
    let state = store.lifecycle_state(&host_id).await?.ok_or_else(|| DisposalError::HostNotFound(host.into()))?;
    let mut out = DisposalStatus {
        host_id: host_id.clone(),
        hostname: summary.hostname,
        state,
        case: None,
        disks: Vec::new(),
        missing: Vec::new(),
        certificates: Vec::new(),
        warnings: Vec::new(),
    };
    let Some(case) = store.latest_case(&host_id).await? else { return Ok(out) };
    if case.closed_at.is_none() {
        let disks = case_disks(store, &case).await?;
        let evidence = store.case_evidence(&case.id).await?;
        out.disks = lifecycle::coverage(&disks, &evidence);
        if state == LifecycleState::Decommissioning {
            out.missing = lifecycle::missing(&out.disks);
        }
    }
    out.certificates = store
        .case_certificates(&case.id)
        .await?
        .into_iter()
        .map(|c| CertificateRef { id: c.id, disk_serial: c.disk_serial, issued_at: c.issued_at })
        .collect();
    out.warnings.extend(same_person_warning(&case.operator, &case.verifier));
    out.case = Some(view(&case));
    Ok(out)
}

/// Every host not in service, with what each still lacks: the disposal queue.
pub async fn queue(store: &dyn Store) -> Result<Vec<DisposalStatus>, DisposalError> {
    let mut out = Vec::new();
    for host_id in store.hosts_in_disposal().await? {
        out.push(status(store, &host_id).await?);
    }
    Ok(out)
}

async fn open_case(store: &dyn Store, host_id: &str) -> Result<CaseRecord, DisposalError> {
    store
        .latest_case(host_id)
        .await?
        .filter(|c| c.closed_at.is_none())
        .ok_or_else(|| DisposalError::WrongState(format!("no disposal is under way for host {host_id}")))
}

/// `sanitized` → `disposed`; refused, naming the disks, while any disk lacks evidence.
pub async fn complete(
    store: &dyn Store,
    actor: &Actor,
    host: &str,
    destination: Destination,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<DisposalStatus, DisposalError> {
    let host_id = resolve_host(store, host).await?;
    let reference = text("reference", reference, 500)?;
    let state = store.lifecycle_state(&host_id).await?.ok_or_else(|| DisposalError::HostNotFound(host.into()))?;
    match state {
        LifecycleState::Sanitized => {}
        LifecycleState::Decommissioning => {
            let case = open_case(store, &host_id).await?;
            let disks = case_disks(store, &case).await?;
            let coverage = lifecycle::coverage(&disks, &store.case_evidence(&case.id).await?);
            return Err(DisposalError::Incomplete { host: host.to_owned(), missing: lifecycle::missing(&coverage) });
        }
        other => {
            return Err(DisposalError::WrongState(format!(
                "host {host} is {}; only a sanitized host can be disposed",
                other.as_str()
            )));
        }
    }
    let case = open_case(store, &host_id).await?;
    if destination != case.planned_destination {
        return Err(DisposalError::Invalid(format!(
            "the certificates state the planned destination {}; redeploy and start again to change it",
            case.planned_destination.as_str()
        )));
    }
    let details = serde_json::json!({
        "case_id": case.id, "from": "sanitized", "to": "disposed", "destination": destination, "reference": reference,
    });
    let change = DisposalFacts {
        event_type: DISPOSAL_COMPLETED,
        host_id: &host_id,
        from: "sanitized",
        to: "disposed",
        case_id: &case.id,
        actor: &actor.name,
        details: &details,
    };
    let outbox = disposal_outbox(store, change, now).await?;
    let closing = CaseClosing {
        case_id: &case.id,
        host_id: &host_id,
        from: &[LifecycleState::Sanitized],
        to: LifecycleState::Disposed,
        outcome: "disposed",
        destination: Some(destination),
        reference: Some(&reference),
        now,
        retire_tokens: true,
        outbox: outbox.as_ref(),
    };
    if !store.close_case(&closing).await? {
        return Err(DisposalError::WrongState(format!("host {host} changed state meanwhile; try again")));
    }
    audit(store, actor, now, DisposalStep::Completed, &host_id, details).await?;
    status(store, &host_id).await
}

/// `decommissioning` or `sanitized` → back to `in_service`. Revoked agent tokens stay revoked: the machine enrols
/// again.
pub async fn redeploy(
    store: &dyn Store,
    actor: &Actor,
    host: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DisposalStatus, DisposalError> {
    let host_id = resolve_host(store, host).await?;
    let note = note.map(|n| text("note", n, 1000)).transpose()?;
    let state = store.lifecycle_state(&host_id).await?.ok_or_else(|| DisposalError::HostNotFound(host.into()))?;
    if !matches!(state, LifecycleState::Decommissioning | LifecycleState::Sanitized) {
        return Err(DisposalError::WrongState(format!(
            "host {host} is {}; only a host being decommissioned or sanitized can be redeployed",
            state.as_str()
        )));
    }
    let case = open_case(store, &host_id).await?;
    let details = serde_json::json!({ "case_id": case.id, "from": state.as_str(), "to": "in_service", "note": note });
    let change = DisposalFacts {
        event_type: DISPOSAL_REDEPLOYED,
        host_id: &host_id,
        from: state.as_str(),
        to: "in_service",
        case_id: &case.id,
        actor: &actor.name,
        details: &details,
    };
    let outbox = disposal_outbox(store, change, now).await?;
    let closing = CaseClosing {
        case_id: &case.id,
        host_id: &host_id,
        from: &[LifecycleState::Decommissioning, LifecycleState::Sanitized],
        to: LifecycleState::InService,
        outcome: "redeployed",
        destination: None,
        reference: None,
        now,
        retire_tokens: false,
        outbox: outbox.as_ref(),
    };
    if !store.close_case(&closing).await? {
        return Err(DisposalError::WrongState(format!("host {host} changed state meanwhile; try again")));
    }
    audit(store, actor, now, DisposalStep::Redeployed, &host_id, details).await?;
    status(store, &host_id).await
}

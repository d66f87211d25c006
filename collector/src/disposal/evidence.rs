//! Evidence that a disk was sanitized: the agent's verification results and witnessed physical destructions. Each
//! new piece may complete the case, which then moves the host to `sanitized` and issues the certificates.

use chrono::{DateTime, Utc};
use muster_shared::v1::{DISPOSAL_SCHEMA, DisposalReport, MediumKind, SanitizationTechnique, VerificationResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lifecycle::{self, Evidence, EvidenceKind, KnownDisk, LifecycleState};
use super::{DisposalError, DisposalStatus, audit, case_disks, issue, open_case, resolve_host, status, text};
use crate::app::admin::Actor;
use crate::app::audit::DisposalStep;
use crate::store::Store;
use crate::store::disposal::CaseRecord;
use crate::tokens;

/// Physical destruction techniques (NIST SP 800-88 "Destroy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DestructionMethod {
    Shred,
    Disintegrate,
    Pulverize,
    Incinerate,
    Melt,
}

impl DestructionMethod {
    pub fn technique(self) -> SanitizationTechnique {
        match self {
            DestructionMethod::Shred => SanitizationTechnique::Shred,
            DestructionMethod::Disintegrate => SanitizationTechnique::Disintegrate,
            DestructionMethod::Pulverize => SanitizationTechnique::Pulverize,
            DestructionMethod::Incinerate => SanitizationTechnique::Incinerate,
            DestructionMethod::Melt => SanitizationTechnique::Melt,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DestructionRequest {
    /// The disk's serial, or `name:<kernel name>` for a disk the inventory lists without one.
    pub disk: String,
    pub method: DestructionMethod,
    /// Who saw it destroyed.
    pub witness: String,
    /// When it was destroyed; now when absent.
    #[serde(default)]
    pub destroyed_at: Option<DateTime<Utc>>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ImportOutcome {
    pub report_id: String,
    /// True when this report was already stored.
    pub duplicate: bool,
    /// Disks (by label) the results were stored for.
    pub matched: Vec<String>,
    /// Media of the report that are not a disk of this host, and why.
    pub ignored: Vec<String>,
    pub status: DisposalStatus,
}

fn require_decommissioning(state: LifecycleState, host: &str) -> Result<(), DisposalError> {
    match state {
        LifecycleState::Decommissioning => Ok(()),
        LifecycleState::InService => Err(DisposalError::WrongState(format!(
            "no disposal is under way for host {host}; start one first (muster-collector disposal start)"
        ))),
        other => Err(DisposalError::WrongState(format!(
            "host {host} is already {}; no more evidence is needed",
            other.as_str()
        ))),
    }
}

async fn case_in_progress(store: &dyn Store, host_id: &str, host: &str) -> Result<CaseRecord, DisposalError> {
    let state = store.lifecycle_state(host_id).await?.ok_or_else(|| DisposalError::HostNotFound(host.into()))?;
    require_decommissioning(state, host)?;
    open_case(store, host_id).await
}

/// Records a witnessed physical destruction of one disk.
pub async fn record_destruction(
    store: &dyn Store,
    actor: &Actor,
    host: &str,
    request: &DestructionRequest,
    now: DateTime<Utc>,
) -> Result<DisposalStatus, DisposalError> {
    let host_id = resolve_host(store, host).await?;
    let witness = text("witness", &request.witness, 200)?;
    let wanted = text("disk", &request.disk, 200)?;
    let case = case_in_progress(store, &host_id, host).await?;
    let disks = case_disks(store, &case).await?;
    let (serial, name) = match wanted.strip_prefix("name:") {
        Some(name) => (None, Some(name.to_owned())),
        None => (Some(wanted.clone()), None),
    };
    let disk = disks.iter().find(|d| d.matches(serial.as_deref(), name.as_deref())).ok_or_else(|| {
        let known: Vec<String> = disks.iter().map(KnownDisk::label).collect();
        DisposalError::Invalid(format!("host {host} has no disk {wanted}; its disks: {}", known.join(", ")))
    })?;
    let destroyed_at = request.destroyed_at.unwrap_or(now);
    let details = serde_json::json!({
        "method": request.method,
        "technique": request.method.technique(),
        "witness": witness,
        "destroyed_at": destroyed_at,
    });
    let evidence = Evidence {
        id: tokens::new_id()?,
        kind: EvidenceKind::Destruction,
        disk_serial: disk.serial.clone(),
        disk_name: Some(disk.name.clone()),
        passed: true,
        recorded_at: now,
        recorded_by: actor.name.clone(),
        details: details.clone(),
    };
    store.add_evidence(&case.id, std::slice::from_ref(&evidence)).await?;
    let audit_details = serde_json::json!({ "case_id": case.id, "disk": disk.label(), "destruction": details });
    audit(store, actor, now, DisposalStep::DestructionRecorded, &host_id, audit_details).await?;
    settle(store, actor, &case, now).await?;
    status(store, &host_id).await
}

/// Stores a `muster-agent disposal verify` report for `host` (the CLI's `--host`, the API's path, the agent's
/// token), or for the host the report names when none is given.
pub async fn import_verification(
    store: &dyn Store,
    actor: &Actor,
    host: Option<&str>,
    report: &DisposalReport,
    now: DateTime<Utc>,
) -> Result<ImportOutcome, DisposalError> {
    if report.schema != DISPOSAL_SCHEMA {
        return Err(DisposalError::Invalid(format!(
            "not a verification report: schema {:?}, expected {DISPOSAL_SCHEMA}",
            report.schema
        )));
    }
    let report_id = text("report_id", &report.report_id, 128)?;
    let host = match (host, report.host_id.as_deref()) {
        (Some(given), Some(named)) => {
            let host_id = resolve_host(store, given).await?;
            if host_id != named {
                return Err(DisposalError::Invalid(format!(
                    "the report is for host {named}, not for {given} ({host_id})"
                )));
            }
            host_id
        }
        (Some(given), None) => resolve_host(store, given).await?,
        (None, Some(named)) => resolve_host(store, named).await?,
        (None, None) => {
            return Err(DisposalError::Invalid(
                "the report names no host (the agent was not enrolled); say which host it is for".to_owned(),
            ));
        }
    };
    let case = case_in_progress(store, &host, &host).await?;
    let disks = case_disks(store, &case).await?;
    let mut evidence = Vec::new();
    let mut matched = Vec::new();
    let mut ignored = Vec::new();
    for (index, medium) in report.media.iter().enumerate() {
        let device = &medium.device;
        if device.kind == MediumKind::ImageFile {
            ignored.push(format!("{}: an image file, not a disk of the host", medium.target));
            continue;
        }
        let Some(disk) = disks.iter().find(|d| d.matches(device.serial.as_deref(), Some(&device.name))) else {
            let serial = device.serial.as_deref().unwrap_or("no serial");
            ignored.push(format!("{} ({serial}): not a disk of this host's inventory", medium.target));
            continue;
        };
        matched.push(disk.label());
        evidence.push(Evidence {
            id: format!("{}:{report_id}:{index}", case.id),
            kind: EvidenceKind::Verification,
            disk_serial: disk.serial.clone(),
            disk_name: Some(disk.name.clone()),
            passed: medium.result == VerificationResult::Pass,
            recorded_at: now,
            recorded_by: actor.name.clone(),
            details: serde_json::json!({ "tool": report.tool, "medium": medium }),
        });
    }
    if evidence.is_empty() {
        let known: Vec<String> = disks.iter().map(KnownDisk::label).collect();
        return Err(DisposalError::Invalid(format!(
            "no medium of the report is a disk of host {host} (its disks: {}): {}",
            known.join(", "),
            ignored.join("; ")
        )));
    }
    let added = store.add_evidence(&case.id, &evidence).await?;
    if added > 0 {
        let results: Vec<serde_json::Value> = evidence
            .iter()
            .map(|e| serde_json::json!({ "disk": e.disk_serial.clone().or(e.disk_name.clone()), "passed": e.passed }))
            .collect();
        let details = serde_json::json!({ "case_id": case.id, "report_id": report_id, "results": results });
        audit(store, actor, now, DisposalStep::VerificationImported, &host, details).await?;
        settle(store, actor, &case, now).await?;
    }
    Ok(ImportOutcome { report_id, duplicate: added == 0, matched, ignored, status: status(store, &host).await? })
}

/// Moves the host to `sanitized` and issues the certificates once every disk is covered.
async fn settle(store: &dyn Store, actor: &Actor, case: &CaseRecord, now: DateTime<Utc>) -> Result<(), DisposalError> {
    let disks = case_disks(store, case).await?;
    let evidence = store.case_evidence(&case.id).await?;
    let coverage = lifecycle::coverage(&disks, &evidence);
    if !lifecycle::is_sanitized(&coverage) {
        return Ok(());
    }
    let host = store
        .get_host_summary(&case.host_id)
        .await?
        .ok_or_else(|| DisposalError::HostNotFound(case.host_id.clone()))?;
    let key = issue::signing_key(store, now).await?;
    let certificates = issue::certificates(&host, case, &coverage, &evidence, &key, now)?;
    let details = serde_json::json!({
        "case_id": case.id,
        "from": "decommissioning",
        "to": "sanitized",
        "certificates": certificates.iter().map(|c| &c.id).collect::<Vec<_>>(),
        "agent_token_revoked": case.revoke_token,
    });
    let change = crate::integrations::DisposalFacts {
        event_type: crate::integrations::DISPOSAL_SANITIZED,
        host_id: &case.host_id,
        from: "decommissioning",
        to: "sanitized",
        case_id: &case.id,
        actor: &actor.name,
        details: &details,
    };
    let outbox = crate::app::integrations::disposal_outbox(store, change, now).await?;
    if store.mark_sanitized(case, &certificates, now, outbox.as_ref()).await? {
        audit(store, actor, now, DisposalStep::Sanitized, &case.host_id, details).await?;
    }
    Ok(())
}

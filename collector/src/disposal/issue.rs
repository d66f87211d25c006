//! Issuing certificates: the collector's signing key (kept in the database) and one signed certificate per medium
//! built from the case and the evidence that settled each disk.
//!
//! The key lives in the database rather than the data directory because replicas share one PostgreSQL and nothing
//! else: every replica must sign with the same key, or a certificate would verify only against the replica that
//! issued it. The first replica to need a key stores it (`ON CONFLICT DO NOTHING`) and all read that one. The cost is
//! that whoever can read the database can sign certificates; the database already holds what an attacker would
//! forge certificates about.

use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use muster_shared::v1::{MediumVerification, Tool, VerificationMode};
use rand::TryRngCore;

use super::certificate::{
    self, CERTIFICATE_FORMAT, CertificatePayload, CertifiedHost, CertifiedMedia, CertifiedSanitization,
    CertifiedVerification, SignedCertificate,
};
use super::lifecycle::{DiskCoverage, Evidence, EvidenceKind};
use super::{DisposalError, same_person_warning};
use crate::store::disposal::{CaseRecord, StoredCertificate, StoredKey};
use crate::store::{Store, StoreError};
use crate::tokens;
use crate::views::HostSummary;

/// The `signing_keys` row of the certificate key.
pub const KEY_PURPOSE: &str = "sanitization-certificates";

fn decode_key(stored: &StoredKey) -> Result<SigningKey, StoreError> {
    let bytes: [u8; 32] = hex::decode(&stored.secret_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt("the certificate signing key is not 32 hex bytes".to_owned()))?;
    let key = SigningKey::from_bytes(&bytes);
    if hex::encode(key.verifying_key().as_bytes()) != stored.public_key {
        return Err(StoreError::Corrupt("the certificate signing key does not match its public key".to_owned()));
    }
    Ok(key)
}

/// The collector's certificate key, created on first use.
pub async fn signing_key(store: &dyn Store, now: DateTime<Utc>) -> Result<SigningKey, DisposalError> {
    if let Some(stored) = store.find_signing_key(KEY_PURPOSE).await? {
        return Ok(decode_key(&stored)?);
    }
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut seed).map_err(|e| DisposalError::Entropy(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    let candidate = StoredKey {
        algorithm: certificate::ALGORITHM.to_owned(),
        secret_key: hex::encode(seed),
        public_key: hex::encode(key.verifying_key().as_bytes()),
        created_at: now,
    };
    Ok(decode_key(&store.signing_key(KEY_PURPOSE, &candidate).await?)?)
}

/// The public half of the key this collector already has, without creating one (verification must not).
pub async fn existing_public_key(store: &dyn Store) -> Result<Option<VerifyingKey>, DisposalError> {
    match store.find_signing_key(KEY_PURPOSE).await? {
        Some(stored) => Ok(Some(decode_key(&stored)?.verifying_key())),
        None => Ok(None),
    }
}

/// The public half, for `certificate public-key` and offline checks.
pub async fn public_key(store: &dyn Store, now: DateTime<Utc>) -> Result<VerifyingKey, DisposalError> {
    Ok(signing_key(store, now).await?.verifying_key())
}

fn stated<T: serde::Serialize>(value: Option<T>) -> String {
    value
        .and_then(|v| serde_json::to_value(v).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "not stated".to_owned())
}

fn verification_method(medium: &MediumVerification, tool: &Tool) -> String {
    let expect = match &medium.expectation {
        muster_shared::v1::Expectation::Zero => "zeros".to_owned(),
        muster_shared::v1::Expectation::Pattern { hex } => format!("pattern {hex}"),
        muster_shared::v1::Expectation::Random { min_entropy_bits_per_byte } => {
            format!("high-entropy data (at least {min_entropy_bits_per_byte:.2} bits per byte)")
        }
    };
    let how = match (medium.mode, &medium.sample) {
        (VerificationMode::Full, _) => "full read".to_owned(),
        (VerificationMode::Sample, Some(plan)) => format!(
            "sampled read ({} subsections of {} bytes, first and last blocks included, seed {})",
            plan.subsections, plan.subsection_bytes, plan.seed
        ),
        (VerificationMode::Sample, None) => "sampled read".to_owned(),
    };
    format!(
        "{how} by {} {}: {:.1}% of the medium ({} bytes), expecting {expect}; {} finding(s)",
        tool.name, tool.version, medium.coverage_percent, medium.bytes_read, medium.findings_total
    )
}

/// One signed certificate per covered disk. Fails if a disk's settling evidence is missing or unreadable, so a
/// certificate is never issued on partial grounds.
pub fn certificates(
    host: &HostSummary,
    case: &CaseRecord,
    coverage: &[DiskCoverage],
    evidence: &[Evidence],
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<Vec<StoredCertificate>, DisposalError> {
    let mut out = Vec::new();
    for disk in coverage {
        let settled = disk
            .evidence_id
            .as_deref()
            .and_then(|id| evidence.iter().find(|e| e.id == id && e.passed))
            .ok_or_else(|| DisposalError::Invalid(format!("disk {} has no passing evidence", disk.disk.label())))?;
        let mut media = CertifiedMedia {
            manufacturer: disk.disk.vendor.clone(),
            model: disk.disk.model.clone(),
            serial: disk.disk.label(),
            media_type: disk.disk.media_type(),
            size_bytes: disk.disk.size_bytes,
        };
        let corrupt = |what: &str, e: serde_json::Error| {
            DisposalError::Store(StoreError::Corrupt(format!("evidence {}: {what}: {e}", settled.id)))
        };
        let (sanitization, verification, verifier) = match settled.kind {
            EvidenceKind::Verification => {
                let medium: MediumVerification =
                    serde_json::from_value(settled.details["medium"].clone()).map_err(|e| corrupt("medium", e))?;
                let tool: Tool =
                    serde_json::from_value(settled.details["tool"].clone()).map_err(|e| corrupt("tool", e))?;
                media.manufacturer = media.manufacturer.or(medium.device.vendor.clone());
                media.model = media.model.or(medium.device.model.clone());
                (
                    CertifiedSanitization {
                        method: stated(medium.method),
                        technique: stated(medium.technique),
                        tool: tool.name.clone(),
                        tool_version: tool.version.clone(),
                        date: medium.finished_at,
                    },
                    CertifiedVerification {
                        method: verification_method(&medium, &tool),
                        result: "pass".to_owned(),
                        summary: medium.summary.clone(),
                    },
                    case.verifier.clone(),
                )
            }
            EvidenceKind::Destruction => {
                let text = |field: &str| settled.details[field].as_str().unwrap_or("not stated").to_owned();
                let witness = text("witness");
                let date = serde_json::from_value(settled.details["destroyed_at"].clone())
                    .map_err(|e| corrupt("destroyed_at", e))?;
                (
                    CertifiedSanitization {
                        method: "destroy".to_owned(),
                        technique: text("technique"),
                        tool: "physical destruction".to_owned(),
                        tool_version: "not applicable".to_owned(),
                        date,
                    },
                    CertifiedVerification {
                        method: "destruction witnessed in person".to_owned(),
                        result: "pass".to_owned(),
                        summary: format!("destroyed ({}), witnessed by {witness}", text("technique")),
                    },
                    witness,
                )
            }
        };
        let payload = CertificatePayload {
            format: CERTIFICATE_FORMAT.to_owned(),
            id: tokens::new_id()?,
            issued_at: now,
            host: CertifiedHost {
                id: host.id.clone(),
                hostname: host.hostname.clone(),
                system_serial: host.system_serial.clone(),
            },
            media,
            sanitization,
            verification,
            warnings: same_person_warning(&case.operator, &verifier).into_iter().collect(),
            operator: case.operator.clone(),
            verifier,
            location: case.location.clone(),
            destination: case.planned_destination.as_str().to_owned(),
            case_id: case.id.clone(),
            reason: case.reason.clone(),
        };
        let signed: SignedCertificate = certificate::sign(payload, key)?;
        out.push(StoredCertificate {
            id: signed.certificate.id.clone(),
            case_id: case.id.clone(),
            host_id: host.id.clone(),
            disk_serial: signed.certificate.media.serial.clone(),
            issued_at: now,
            document: serde_json::to_string_pretty(&signed)
                .map_err(|e| DisposalError::Invalid(format!("certificate: {e}")))?,
        });
    }
    Ok(out)
}

/// A stored certificate's signed document.
pub async fn load(store: &dyn Store, id: &str) -> Result<(StoredCertificate, SignedCertificate), DisposalError> {
    let stored = store.certificate(id).await?.ok_or_else(|| DisposalError::CertificateNotFound(id.to_owned()))?;
    let signed: SignedCertificate =
        serde_json::from_str(&stored.document).map_err(|e| StoreError::Corrupt(format!("certificate {id}: {e}")))?;
    Ok((stored, signed))
}

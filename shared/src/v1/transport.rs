//! Messages of the agent–collector protocol: enrolment and the delta-encoded report envelope.
//!
//! Delta protocol: the agent hashes each section it collected ([`section_hashes`]) and sends in full only the
//! sections whose hash differs from what the collector last acknowledged; unchanged sections are sent as a hash
//! alone (content `None`). The collector answers which sections it still needs in full when its copy differs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Report, SectionName};

/// `POST /api/v1/agent/enroll` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The enrolment secret created by an administrator (`muster-collector enroll-secret create`).
    pub secret: String,
    pub hostname: String,
    /// `/etc/machine-id` when known: tells cloned VMs apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// Hardware identity used to recognise a reinstalled machine (junk values already removed by the agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_serial: Option<String>,
    pub agent_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The host token this agent holds now, when it enrols again: proves it is the record's own agent, so the
    /// collector hands the record over at once instead of holding the enrolment for an administrator's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_token: Option<String>,
}

/// `POST /api/v1/agent/enroll` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub host_id: String,
    /// 256-bit random bearer token, shown once; the collector keeps only its hash.
    pub host_token: String,
    /// True when an existing host record (same hardware identity) was taken over by this enrolment.
    pub reenrolled: bool,
    /// True (with HTTP 202) when the enrolment would take over a live host's record and waits for an
    /// administrator's approval: the token is kept, and reports are answered `enrolment_pending` until then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending_approval: bool,
}

/// `POST /api/v1/agent/report` body (optionally gzip- or zstd-compressed, per `Content-Encoding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportEnvelope {
    /// Random id chosen by the agent; a retry of the same report reuses it so ingest is idempotent.
    pub report_id: String,
    /// SHA-256 (hex) of every section the agent collected, see [`section_hashes`].
    pub section_hashes: BTreeMap<SectionName, String>,
    /// The report; sections unchanged since the last acknowledged report are `None` while listed in the hashes.
    pub report: Report,
}

/// Answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    pub report_id: String,
    pub status: ReportStatus,
    /// Sections the collector needs in full because its copy differs from the hash sent; resend them at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs_full: Vec<SectionName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Stored (sections in full replaced, hashed-only sections confirmed unchanged).
    Stored,
    /// This `report_id` was already stored; nothing changed.
    Duplicate,
    /// Nothing stored; send again with the sections in `needs_full` in full.
    NeedsSections,
}

/// Error body of every non-2xx API answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable machine-readable code, e.g. `payload_too_large`, `token_revoked`, `limit_exceeded`.
    pub error: String,
    pub message: String,
    /// For limit errors: which limit, e.g. `max_packages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// SHA-256 of the canonical JSON of each section present in `report`.
///
/// Canonical means serde_json's output of the wire type, whose field order is fixed by the struct definitions, so
/// both sides compute the same hash for the same content.
pub fn section_hashes(report: &Report) -> BTreeMap<SectionName, String> {
    let mut hashes = BTreeMap::new();
    let mut put = |name: SectionName, json: Result<Vec<u8>, serde_json::Error>| {
        if let Ok(bytes) = json {
            hashes.insert(name, hex::encode(Sha256::digest(&bytes)));
        }
    };
    if let Some(section) = &report.host {
        put(SectionName::Host, serde_json::to_vec(section));
    }
    if let Some(section) = &report.hardware {
        put(SectionName::Hardware, serde_json::to_vec(section));
    }
    if let Some(section) = &report.os {
        put(SectionName::Os, serde_json::to_vec(section));
    }
    if let Some(section) = &report.software {
        put(SectionName::Software, serde_json::to_vec(section));
    }
    if let Some(section) = &report.patches {
        put(SectionName::Patches, serde_json::to_vec(section));
    }
    if let Some(section) = &report.checks {
        put(SectionName::Checks, serde_json::to_vec(section));
    }
    hashes
}

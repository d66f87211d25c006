//! Wipe verification results: what `muster-agent disposal verify` found on each medium, as sent to the collector
//! (`POST /api/v1/agent/disposal`) or saved to a file for `muster-collector disposal import`.
//!
//! One [`DisposalReport`] holds one verification run over several media. The collector decides a host is
//! `sanitized` from these per-medium results (matched to its inventory by serial) and prints certificates from them,
//! so every field a NIST SP 800-88 certificate needs about the medium and the verification is carried here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The value of [`DisposalReport::schema`] for this version.
pub const DISPOSAL_SCHEMA: &str = "muster.v1.disposal";

/// Most findings kept per medium; [`MediumVerification::findings_total`] counts them all.
pub const MAX_FINDINGS_PER_MEDIUM: usize = 1000;

/// `POST /api/v1/agent/disposal` body, and the document `--report FILE` / `--json` write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisposalReport {
    /// Always [`DISPOSAL_SCHEMA`].
    pub schema: String,
    /// Random id chosen by the agent; sending the same file twice reuses it so the collector stores it once.
    pub report_id: String,
    /// The collector's id for this host when the agent is enrolled; absent for an unenrolled machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub tool: Tool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// True only when every medium passed.
    pub passed: bool,
    pub media: Vec<MediumVerification>,
}

/// The verifying program, for the certificate's "tool used (name and version)".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// `muster-agent`.
    pub name: String,
    pub version: String,
}

/// The verification of one medium.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediumVerification {
    /// The target as given on the command line, e.g. `/dev/nvme0n1` or `/srv/images/disk.img`.
    pub target: String,
    pub device: MediumIdentity,
    /// Sanitization method the operator says was applied (`--method`); absent when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<SanitizationMethod>,
    /// Sanitization technique the operator says was applied (`--technique`); absent when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technique: Option<SanitizationTechnique>,
    pub mode: VerificationMode,
    pub expectation: Expectation,
    /// Present in sample mode: how the samples were chosen, enough to repeat the run exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<SamplePlan>,
    /// Size of the blocks the checks run over (4096).
    pub block_size: u32,
    /// Blocks of `block_size` read and checked (the last block of a medium may be shorter).
    pub blocks_read: u64,
    pub bytes_read: u64,
    /// `bytes_read` as a share of the medium, 0–100.
    pub coverage_percent: f64,
    /// The first [`MAX_FINDINGS_PER_MEDIUM`] findings in medium order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// All findings, including those not listed.
    pub findings_total: u64,
    /// What the device itself reports of past sanitize/erase operations.
    pub device_erase_status: DeviceEraseStatus,
    pub result: VerificationResult,
    /// One sentence for people: why it passed or failed, e.g. `encrypted, not sanitized: LUKS2 header at offset 0`.
    pub summary: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// The medium's identity, from the agent's disk inventory (`/sys/block`) for block devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediumIdentity {
    pub kind: MediumKind,
    /// Kernel name (`sda`, `nvme0n1`) for a block device, file name for an image file.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What the collector matches against the host's inventoried disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wwn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
    /// `nvme`, `sata`, `sas`, `usb`, `virtio`… as in the inventory; `image file` for an image file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediumKind {
    BlockDevice,
    ImageFile,
}

/// NIST SP 800-88 sanitization methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SanitizationMethod {
    Clear,
    Purge,
    Destroy,
}

/// How the method was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SanitizationTechnique {
    Overwrite,
    BlockErase,
    CryptoErase,
    Degauss,
    Shred,
    Disintegrate,
    Pulverize,
    Incinerate,
    Melt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMode {
    /// NIST's sampling: pseudorandom subsections plus the first and last blocks.
    Sample,
    /// Every byte read sequentially.
    Full,
}

/// What a sanitized medium should contain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expectation {
    /// Every byte zero.
    Zero,
    /// A repeated byte pattern, e.g. `ff` or `deadbeef` (lower-case hex), aligned to the start of the medium.
    Pattern { hex: String },
    /// High-entropy data (random overwrite, crypto-erased media): every block's Shannon entropy at or above
    /// `min_entropy_bits_per_byte`.
    Random { min_entropy_bits_per_byte: f64 },
}

/// How sample mode chose what to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplePlan {
    /// Seed of the pseudorandom choice (`--seed`); the same seed, size and coverage read the same places.
    pub seed: u64,
    /// Share of the medium asked for (`--coverage`), 0–100.
    pub requested_coverage_percent: f64,
    /// Number of subsections read, at least 1,000 unless the medium is smaller, first and last block included.
    pub subsections: u64,
    /// Size of each subsection (the last may be shorter).
    pub subsection_bytes: u64,
    /// Chance that a contaminated region of a given size would have been read, for a few sizes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detection: Vec<DetectionProbability>,
}

/// The chance that sampling reads at least one byte of a contiguous contaminated region placed anywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionProbability {
    pub region_bytes: u64,
    /// 0–1.
    pub probability: f64,
}

/// Something a sanitized medium must not contain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Byte offset from the start of the medium.
    pub offset: u64,
    /// Bytes concerned: the signature's length, or the run of unexpected blocks.
    pub length: u64,
    pub kind: FindingKind,
    /// For signatures and encrypted headers: `ext4`, `gpt`, `mbr`, `luks2`, `xfs`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// For unexpected data under `--expect random`: the lowest block entropy in the run, bits per byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entropy_bits_per_byte: Option<f64>,
    /// For people, e.g. `ext4 superblock magic 0xEF53 at offset 1080`.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A partition table, filesystem or volume signature.
    Signature,
    /// Data that is neither the expected pattern nor (under `--expect random`) high-entropy.
    UnexpectedData,
    /// An intact encryption header (LUKS…): the medium is encrypted, not sanitized.
    EncryptedHeader,
}

/// What the device says of past sanitize/erase operations, where the kernel exposes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeviceEraseStatus {
    /// The kernel offers nothing to read (or the target is an image file); `reason` says which.
    NotExposed { reason: String },
    /// Read from `source` (e.g. a sysfs path); `state` as the device reports it.
    Reported { source: String, state: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationResult {
    Pass,
    Fail,
    /// The medium could not be read to the end; nothing is claimed about it.
    Error,
}

/// `POST /api/v1/agent/disposal` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisposalAck {
    pub report_id: String,
    /// True when this `report_id` was already stored.
    pub duplicate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire spelling the collector relies on.
    #[test]
    fn enums_and_findings_are_spelled_as_documented() {
        assert_eq!(json(&SanitizationTechnique::CryptoErase), r#""crypto-erase""#);
        assert_eq!(json(&SanitizationTechnique::BlockErase), r#""block-erase""#);
        assert_eq!(json(&SanitizationMethod::Purge), r#""purge""#);
        assert_eq!(json(&Expectation::Pattern { hex: "deadbeef".into() }), r#"{"kind":"pattern","hex":"deadbeef"}"#);
        assert_eq!(
            json(&DeviceEraseStatus::NotExposed { reason: "image file".into() }),
            r#"{"status":"not_exposed","reason":"image file"}"#
        );
        let finding = Finding {
            offset: 1080,
            length: 2,
            kind: FindingKind::Signature,
            signature: Some("ext4".into()),
            entropy_bits_per_byte: None,
            detail: "ext4 superblock magic 0xEF53 at offset 1080".into(),
        };
        assert_eq!(
            json(&finding),
            r#"{"offset":1080,"length":2,"kind":"signature","signature":"ext4","detail":"ext4 superblock magic 0xEF53 at offset 1080"}"#
        );
    }

    fn json(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap()
    }
}

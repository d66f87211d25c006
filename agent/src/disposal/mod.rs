//! Wipe verification (`muster-agent disposal verify`): reads a sanitized medium, read-only, and proves it holds
//! nothing but what the wipe leaves (NIST SP 800-88 verification, full or sampled).
//!
//! The checks ([`check`], [`signatures`], [`plan`]) are pure; [`reader`] and [`device`] are the only parts that
//! touch the system, and the clock is a parameter.

pub mod check;
pub mod command;
pub mod device;
pub mod plan;
pub mod progress;
pub mod reader;
pub mod signatures;

use std::path::Path;

use chrono::{DateTime, Utc};
use muster_shared::v1::{
    DISPOSAL_SCHEMA, DetectionProbability, DeviceEraseStatus, DisposalReport, FindingKind, MediumIdentity, MediumKind,
    MediumVerification, SamplePlan, SanitizationMethod, SanitizationTechnique, Tool, VerificationMode,
    VerificationResult,
};

use crate::root::SystemRoot;
use check::{BLOCK, Checker, Expect, Outcome};
use reader::Medium;

/// Contaminated-region sizes whose detection probability a sample reports (those smaller than the medium).
pub const DETECTION_REGIONS: [u64; 5] = [4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20];

/// How to verify.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyConfig {
    pub mode: Mode,
    pub expect: Expect,
    /// What the operator says was done; recorded, not checked.
    pub method: Option<SanitizationMethod>,
    pub technique: Option<SanitizationTechnique>,
    /// Draw a progress line on stderr when it is a terminal.
    pub progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Full,
    /// `coverage_percent` in (0, 100]; `seed` chosen by the caller (and recorded) so a run can be repeated.
    Sample {
        coverage_percent: f64,
        seed: u64,
    },
}

/// Verifies one medium. Never fails: a medium that cannot be read gets [`VerificationResult::Error`] and the reason.
pub fn verify_medium(
    root: &SystemRoot,
    target: &Path,
    config: &VerifyConfig,
    clock: &dyn Fn() -> DateTime<Utc>,
) -> MediumVerification {
    let started_at = clock();
    let shown = target.display().to_string();
    let mut result = MediumVerification {
        target: shown.clone(),
        device: unknown_identity(target),
        method: config.method,
        technique: config.technique,
        mode: match config.mode {
            Mode::Full => VerificationMode::Full,
            Mode::Sample { .. } => VerificationMode::Sample,
        },
        expectation: config.expect.to_wire(),
        sample: None,
        block_size: BLOCK as u32,
        blocks_read: 0,
        bytes_read: 0,
        coverage_percent: 0.0,
        findings: Vec::new(),
        findings_total: 0,
        device_erase_status: DeviceEraseStatus::NotExposed { reason: "the medium could not be opened".to_string() },
        result: VerificationResult::Error,
        summary: String::new(),
        started_at,
        finished_at: started_at,
    };
    let medium = match Medium::open(target) {
        Ok(medium) => medium,
        Err(err) => {
            result.summary = format!("error: {err}");
            result.finished_at = clock();
            return result;
        }
    };
    result.device = device::identity(root, target, medium.is_block_device, medium.size());
    result.device_erase_status = device::erase_status(root, &result.device);

    let mut checker = Checker::new(config.expect.clone());
    let plan = match config.mode {
        Mode::Full => None,
        Mode::Sample { coverage_percent, seed } => Some((plan::sample(medium.size(), coverage_percent, seed), seed)),
    };
    let total = plan.as_ref().map_or(medium.size(), |(p, _)| p.bytes());
    let mut progress = config.progress.then(|| progress::Progress::new(&shown, total));
    let mut done = 0u64;
    let mut sink = |offset: u64, data: &[u8]| {
        checker.check(offset, data);
        done += data.len() as u64;
        if let Some(p) = progress.as_mut() {
            p.update(done);
        }
    };
    let read = match &plan {
        None => medium.read_all(&mut sink),
        Some((p, _)) => medium.read_segments(&p.segments, &mut sink),
    };
    if let Some(p) = progress.as_mut() {
        p.finish();
    }
    let outcome = checker.finish();
    result.blocks_read = outcome.blocks_read;
    result.bytes_read = outcome.bytes_read;
    result.coverage_percent = percent(outcome.bytes_read, medium.size());
    if let (Mode::Sample { coverage_percent, .. }, Some((p, seed))) = (config.mode, &plan) {
        result.sample = Some(sample_record(p, *seed, coverage_percent));
    }
    let (verdict, summary) = match read {
        Err(err) => (VerificationResult::Error, format!("error: {err}")),
        Ok(()) => verdict(&outcome, &result),
    };
    result.result = verdict;
    result.summary = summary;
    result.findings = outcome.findings;
    result.findings_total = outcome.findings_total;
    result.finished_at = clock();
    result
}

/// The report over several media.
pub fn report(
    media: Vec<MediumVerification>,
    report_id: String,
    host_id: Option<String>,
    hostname: Option<String>,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
) -> DisposalReport {
    DisposalReport {
        schema: DISPOSAL_SCHEMA.to_string(),
        report_id,
        host_id,
        hostname,
        tool: Tool { name: "muster-agent".to_string(), version: env!("CARGO_PKG_VERSION").to_string() },
        started_at,
        finished_at,
        passed: !media.is_empty() && media.iter().all(|m| m.result == VerificationResult::Pass),
        media,
    }
}

/// Exit status of `disposal verify`: 0 when every medium passed, 2 when any could not be verified, else 1.
pub fn exit_code(report: &DisposalReport) -> u8 {
    if report.media.iter().any(|m| m.result == VerificationResult::Error) {
        2
    } else if report.passed {
        0
    } else {
        1
    }
}

/// Pure: pass or fail, and the sentence that says why.
pub fn verdict(outcome: &Outcome, medium: &MediumVerification) -> (VerificationResult, String) {
    let findings = &outcome.findings;
    if let Some(header) = findings.iter().find(|f| f.kind == FindingKind::EncryptedHeader) {
        let name = header.signature.as_deref().unwrap_or("encryption");
        return (
            VerificationResult::Fail,
            format!(
                "encrypted, not sanitized: {name} header at offset {} (crypto-erase needs the header and keyslots gone)",
                header.offset
            ),
        );
    }
    let mut names: Vec<String> = Vec::new();
    for f in findings.iter().filter(|f| f.kind == FindingKind::Signature) {
        let name = f.signature.clone().unwrap_or_default();
        if !names.iter().any(|n| n.starts_with(&format!("{name} "))) {
            names.push(format!("{name} at offset {}", f.offset));
        }
    }
    if !names.is_empty() {
        return (VerificationResult::Fail, format!("fail: found {}", names.join(", ")));
    }
    if let Some(first) = findings.iter().find(|f| f.kind == FindingKind::UnexpectedData) {
        let bytes: u64 = findings.iter().filter(|f| f.kind == FindingKind::UnexpectedData).map(|f| f.length).sum();
        let listed = if outcome.findings_total as usize > findings.len() { " in the findings listed" } else { "" };
        return (
            VerificationResult::Fail,
            format!(
                "fail: {bytes} bytes{listed} are not {}, first at offset {}",
                expectation_words(medium),
                first.offset
            ),
        );
    }
    let all = expectation_words(medium);
    let summary = match &medium.sample {
        None => format!("pass: all {all} ({} read in full)", progress::bytes(outcome.bytes_read as f64)),
        Some(sample) => {
            let small = sample.detection.first().map_or(String::new(), |d| {
                format!(
                    "; a {} region would be met with probability {:.1}%",
                    progress::bytes(d.region_bytes as f64),
                    d.probability * 100.0
                )
            });
            format!(
                "pass: all {all} in {} subsections ({:.1}% of the medium, seed {}){small}",
                sample.subsections, medium.coverage_percent, sample.seed
            )
        }
    };
    (VerificationResult::Pass, summary)
}

fn expectation_words(medium: &MediumVerification) -> String {
    match &medium.expectation {
        muster_shared::v1::Expectation::Zero => "zero".to_string(),
        muster_shared::v1::Expectation::Pattern { hex } => format!("the pattern {hex}"),
        muster_shared::v1::Expectation::Random { .. } => "high-entropy".to_string(),
    }
}

fn sample_record(plan: &plan::Plan, seed: u64, coverage_percent: f64) -> SamplePlan {
    SamplePlan {
        seed,
        requested_coverage_percent: coverage_percent,
        subsections: plan.subsections(),
        subsection_bytes: plan.subsection_bytes,
        detection: DETECTION_REGIONS
            .iter()
            .filter(|r| **r < plan.medium_bytes)
            .map(|r| DetectionProbability { region_bytes: *r, probability: plan.detection_probability(*r) })
            .collect(),
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

fn unknown_identity(target: &Path) -> MediumIdentity {
    MediumIdentity {
        kind: MediumKind::ImageFile,
        name: target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        vendor: None,
        model: None,
        serial: None,
        wwn: None,
        firmware: None,
        size_bytes: 0,
        rotational: None,
        transport: None,
    }
}

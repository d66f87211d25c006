//! The offline scan: advisories and one inventory report in, ranked findings out, with no database. The collector
//! matches through the same [`match_host`].

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use muster_shared::v1::Report;
use serde::Serialize;

use super::db::{AdvisoryDb, ImportSummary};
use super::finding::{Finding, HostFindings, match_host};
use super::host::HostProfile;
use super::matcher::Matcher;
use super::read::{ImportLimits, Progress, import_paths};

/// What `muster-collector scan --format json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ScanOutput {
    pub host: ScanHost,
    /// Active findings, ranked: KEV first, then severity, then age.
    pub vulnerabilities: Vec<VulnerabilityEntry>,
    /// Findings on installed kernels that are not running (and other kernel-source packages), ranked alike.
    pub not_running_kernel_vulnerabilities: Vec<VulnerabilityEntry>,
    pub packages_checked: usize,
    pub warnings: Vec<String>,
    /// Set by [`scan_paths`]: what was read from the advisory files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisories: Option<ImportSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanHost {
    pub hostname: Option<String>,
    pub os_id: Option<String>,
    pub os_version: Option<String>,
    pub kernel_release: Option<String>,
    pub ecosystems: Vec<String>,
}

/// One finding as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VulnerabilityEntry {
    pub id: String,
    pub aliases: Vec<String>,
    pub ecosystem: String,
    /// The package name the advisory uses (the source package on Debian, Ubuntu and Alpine).
    pub source_name: String,
    /// The version compared with the advisory.
    pub source_version: String,
    /// The installed (binary) package.
    pub package: String,
    pub arch: Option<String>,
    pub installed_version: String,
    /// `None` when no fix is known yet.
    pub fixed_version: Option<String>,
    pub fix_available: bool,
    pub severity: &'static str,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<String>,
    pub kev: bool,
    pub kev_date_added: Option<NaiveDate>,
    pub published: Option<DateTime<Utc>>,
    /// `running`, `not_running` or `unknown` for kernel packages.
    pub kernel: Option<&'static str>,
    pub remediation: Option<String>,
    pub summary: Option<String>,
}

impl VulnerabilityEntry {
    pub fn from_finding(f: &Finding<'_>) -> Self {
        let a = &f.advisory;
        Self {
            id: a.id.to_string(),
            aliases: a.aliases.iter().map(|s| s.to_string()).collect(),
            ecosystem: f.ecosystem.to_string(),
            source_name: f.source_name().to_owned(),
            source_version: f.compared_version().to_owned(),
            package: f.package.package.name.clone(),
            arch: f.package.package.arch.clone(),
            installed_version: f.package.package.version.clone(),
            fixed_version: f.fixed.as_ref().map(|s| s.to_string()),
            fix_available: f.fixed.is_some(),
            severity: a.severity.level.as_str(),
            cvss_score: a.severity.score,
            cvss_vector: a.severity.vector.as_ref().map(|s| s.to_string()),
            kev: f.kev(),
            kev_date_added: a.kev_added,
            published: a.published,
            kernel: f.kernel.map(|k| k.as_str()),
            remediation: f.remediation.as_ref().map(|s| s.to_string()),
            summary: a.summary.as_ref().map(|s| s.to_string()),
        }
    }
}

impl ScanOutput {
    pub fn new(host: &HostProfile, findings: &HostFindings<'_>) -> Self {
        Self {
            host: ScanHost {
                hostname: host.hostname.clone(),
                os_id: host.os_id.clone(),
                os_version: host.os_version.clone(),
                kernel_release: host.kernel_release.clone(),
                ecosystems: findings.ecosystems.iter().map(|e| e.to_string()).collect(),
            },
            vulnerabilities: findings.active.iter().map(VulnerabilityEntry::from_finding).collect(),
            not_running_kernel_vulnerabilities: findings
                .not_running_kernel
                .iter()
                .map(VulnerabilityEntry::from_finding)
                .collect(),
            packages_checked: findings.packages_checked,
            warnings: findings.warnings.clone(),
            advisories: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read inventory {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid inventory report {path}: {source}")]
    Report { path: String, source: serde_json::Error },
}

/// Parses an inventory report as the agent writes it.
pub fn load_report(path: &Path) -> Result<Report, ScanError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ScanError::Read { path: name.clone(), source })?;
    serde_json::from_slice(&bytes).map_err(|source| ScanError::Report { path: name, source })
}

/// Matches one report against an advisory set.
pub fn scan(db: &AdvisoryDb, report: &Report) -> ScanOutput {
    let host = HostProfile::from_report(report);
    let mut matcher = Matcher::new();
    let findings = match_host(db, &mut matcher, &host);
    ScanOutput::new(&host, &findings)
}

/// Imports advisory files (and a KEV catalog among them, if given) and scans one report. Inputs that could not be
/// read are listed in `advisories.errors` and in `warnings`.
pub fn scan_paths<P: AsRef<Path>>(
    advisory_paths: &[P],
    report: &Report,
    progress: &mut dyn FnMut(&Progress),
) -> ScanOutput {
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, advisory_paths, &ImportLimits::files(), progress);
    let mut output = scan(&db, report);
    output.warnings.extend(outcome.summary.errors.iter().map(|e| format!("advisories incomplete: {e}")));
    output.advisories = Some(outcome.summary);
    output
}

/// A plain-text table for `--format table`.
pub fn render_table(output: &ScanOutput) -> String {
    let mut out = String::new();
    let host = &output.host;
    let _ = writeln!(
        out,
        "{} ({} {}), kernel {}: {} vulnerabilities in {} packages; ecosystems {}",
        host.hostname.as_deref().unwrap_or("host"),
        host.os_id.as_deref().unwrap_or("?"),
        host.os_version.as_deref().unwrap_or("?"),
        host.kernel_release.as_deref().unwrap_or("unknown"),
        output.vulnerabilities.len(),
        output.packages_checked,
        if host.ecosystems.is_empty() { "none".to_owned() } else { host.ecosystems.join(", ") },
    );
    table(&mut out, &output.vulnerabilities);
    if !output.not_running_kernel_vulnerabilities.is_empty() {
        let _ = writeln!(
            out,
            "\n{} more on kernels installed but not running (and other kernel-source packages):",
            output.not_running_kernel_vulnerabilities.len()
        );
        table(&mut out, &output.not_running_kernel_vulnerabilities);
    }
    for w in &output.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

fn table(out: &mut String, entries: &[VulnerabilityEntry]) {
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            [
                e.id.clone(),
                e.aliases.iter().filter(|a| a.starts_with("CVE-")).take(3).cloned().collect::<Vec<_>>().join(","),
                if e.kev { "KEV".to_owned() } else { String::new() },
                e.severity.to_owned(),
                format!("{} ({})", e.package, e.source_name),
                e.installed_version.clone(),
                e.fixed_version.clone().unwrap_or_else(|| "no fix yet".to_owned()),
            ]
        })
        .collect();
    let header = ["ID", "CVE", "KEV", "SEVERITY", "PACKAGE (SOURCE)", "INSTALLED", "FIXED"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
}

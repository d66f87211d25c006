//! The offline scan: advisories and one inventory report in, ranked findings out, with no database. The collector
//! matches through the same [`match_host`].

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use muster_shared::v1::Report;
use serde::Serialize;

use super::db::{AdvisoryDb, ImportSummary};
use super::finding::{Finding, HostFindings, match_host};
use super::fix::FixState;
use super::fixes::{FixGroup, group_fixes};
use super::host::HostProfile;
use super::matcher::Matcher;
use super::read::{ImportLimits, Progress, import_paths};
use super::severity::{FindingPolicy, SeveritySource};

/// What `muster-collector scan --format json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ScanOutput {
    pub host: ScanHost,
    /// Active matches, ranked by priority: known exploited, then fix available, then severity, then age.
    pub vulnerabilities: Vec<VulnerabilityEntry>,
    /// One entry per (source package, fixable or not) among the active matches that open a finding, most urgent
    /// first: what to upgrade, to which version, and what it fixes.
    pub fixes: Vec<FixEntry>,
    /// Matches on installed kernel images that are not running, ranked alike.
    pub not_running_kernel_vulnerabilities: Vec<VulnerabilityEntry>,
    /// Kernel advisories matched through packages built from a kernel source that are not kernels
    /// (`linux-libc-dev`, `linux-perf`, headers, tools).
    pub not_a_kernel_vulnerabilities: Vec<VulnerabilityEntry>,
    pub packages_checked: usize,
    pub warnings: Vec<String>,
    /// Set by [`scan_paths`]: what was read from the advisory files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisories: Option<ImportSummary>,
    /// The host's container images (`software.container_images`), each matched as a machine of its own OS; one
    /// entry per image id however many engines hold it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageScan>,
}

/// One container image of the report and what matching its own packages found.
#[derive(Debug, Clone, Serialize)]
pub struct ImageScan {
    pub id: String,
    /// The engines holding it (`docker`, `podman`, `containerd`).
    pub engines: Vec<&'static str>,
    pub tags: Vec<String>,
    /// The containers created from it, by name.
    pub containers: Vec<String>,
    /// The scan of its packages; `host.hostname` is the image's first tag (or its id).
    pub scan: ScanOutput,
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
    /// Where a language package was found (`METADATA`, `package.json`, lockfile, binary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub installed_version: String,
    /// `None` when no fix is known yet.
    pub fixed_version: Option<String>,
    /// A fixed version is known (`fixed_version` is set); whether this host can install it is `fix_state`.
    pub fix_available: bool,
    /// `fix_available` (a pending update reaches the fix), `fix_unverified` (a fix exists, the host's pending
    /// updates are unknown), `fix_released` (a fix exists, the host's sources do not offer it), `no_fix`,
    /// `end_of_life`.
    pub fix_state: FixState,
    /// The match's severity: the vendor's rating, else CVSS; `critical` when KEV-listed.
    pub severity: &'static str,
    /// `vendor`, `cvss`, `kev`, or `None` when nothing rates it (`severity` is then `unknown`).
    pub severity_source: Option<SeveritySource>,
    /// The vendor's label as published for this package and release (`unimportant`, `low`, `Important`,
    /// `end-of-life`…), whether or not it decided `severity`.
    pub vendor_severity: Option<String>,
    /// Whether this match opens a finding: negligible ones (Debian `unimportant`, Ubuntu `negligible`) do not by
    /// default.
    pub opens_finding: bool,
    /// The priority as one number (see `vuln::priority`): 100000·KEV + 10000·fix rank + 1000·severity rank +
    /// 10·CVSS.
    pub priority_score: u32,
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

/// One fix group as JSON (see [`FixGroup`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixEntry {
    pub source_name: String,
    pub packages: Vec<String>,
    pub fix_state: FixState,
    /// The version to upgrade to; `None` for the group of matches without a fix.
    pub target_version: Option<String>,
    pub severity: &'static str,
    /// Advisory ids, most urgent first.
    pub advisories: Vec<String>,
    pub known_exploited: usize,
    pub priority_score: u32,
    pub title: String,
    pub remediation: Option<String>,
}

impl FixEntry {
    pub fn from_group(g: &FixGroup) -> Self {
        Self {
            source_name: g.source_name.clone(),
            packages: g.packages.clone(),
            fix_state: g.fix_state,
            target_version: g.target_version.clone(),
            severity: g.severity.as_str(),
            advisories: g.advisories.clone(),
            known_exploited: g.known_exploited,
            priority_score: g.priority.score(),
            title: g.title(),
            remediation: g.remediation.clone(),
        }
    }
}

impl VulnerabilityEntry {
    pub fn from_finding(f: &Finding<'_>, policy: &FindingPolicy) -> Self {
        let a = &f.advisory;
        Self {
            id: a.id.to_string(),
            aliases: a.aliases.iter().map(|s| s.to_string()).collect(),
            ecosystem: f.ecosystem.to_string(),
            source_name: f.source_name().to_owned(),
            source_version: f.compared_version().to_owned(),
            package: f.package.package.name.clone(),
            arch: f.package.package.arch.clone(),
            path: f.package.package.path.clone().filter(|_| f.package.ecosystem.is_some()),
            installed_version: f.package.package.version.clone(),
            fixed_version: f.fixed.as_ref().map(|s| s.to_string()),
            fix_available: f.fixed.is_some(),
            fix_state: f.fix_state,
            severity: f.rating.level.as_str(),
            severity_source: f.rating.source,
            vendor_severity: f.rating.vendor.as_ref().map(|s| s.to_string()),
            opens_finding: f.rating.opens_finding(policy),
            priority_score: f.priority.score(),
            cvss_score: f.rating.cvss_score,
            cvss_vector: f.rating.cvss_vector.as_ref().map(|s| s.to_string()),
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
    pub fn new(host: &HostProfile, findings: &HostFindings<'_>, policy: &FindingPolicy) -> Self {
        let entries = |list: &[Finding<'_>]| list.iter().map(|f| VulnerabilityEntry::from_finding(f, policy)).collect();
        Self {
            host: ScanHost {
                hostname: host.hostname.clone(),
                os_id: host.os_id.clone(),
                os_version: host.os_version.clone(),
                kernel_release: host.kernel_release.clone(),
                ecosystems: findings.ecosystems.iter().map(|e| e.to_string()).collect(),
            },
            vulnerabilities: entries(&findings.active),
            fixes: group_fixes(&findings.active, policy).iter().map(FixEntry::from_group).collect(),
            not_running_kernel_vulnerabilities: entries(&findings.not_running_kernel),
            not_a_kernel_vulnerabilities: entries(&findings.not_a_kernel),
            packages_checked: findings.packages_checked,
            warnings: findings.warnings.clone(),
            advisories: None,
            images: Vec::new(),
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

/// Matches one report against an advisory set with Muster's default policy.
pub fn scan(db: &AdvisoryDb, report: &Report) -> ScanOutput {
    scan_with(db, report, &FindingPolicy::default())
}

/// Matches one report against an advisory set; `policy` decides which matches open findings (and form fixes).
pub fn scan_with(db: &AdvisoryDb, report: &Report, policy: &FindingPolicy) -> ScanOutput {
    let host = HostProfile::from_report(report);
    let mut matcher = Matcher::new();
    let findings = match_host(db, &mut matcher, &host);
    let mut output = ScanOutput::new(&host, &findings, policy);
    output.images = scan_images(db, &mut matcher, report, policy);
    output
}

/// Matches each distinct container image of the report like a host of the image's OS (no kernel runs in it and
/// its pending updates are unknown); the matcher's cache is shared, so images built on one base cost little more
/// than one.
fn scan_images(db: &AdvisoryDb, matcher: &mut Matcher, report: &Report, policy: &FindingPolicy) -> Vec<ImageScan> {
    let Some(software) = &report.software else { return Vec::new() };
    let mut out: Vec<ImageScan> = Vec::new();
    for image in &software.container_images {
        if let Some(seen) = out.iter_mut().find(|i| i.id == image.id) {
            seen.engines.push(image.engine.as_str());
            seen.tags.extend(image.tags.iter().cloned());
            continue;
        }
        let name = muster_shared::v1::image_name(&image.id, &image.tags);
        let os = image.os.clone().unwrap_or_default();
        let profile = HostProfile::new(Some(name), &os, image.packages.clone());
        let findings = match_host(db, matcher, &profile);
        let mut scan = ScanOutput::new(&profile, &findings, policy);
        if image.sources.iter().any(|s| !s.complete) {
            scan.warnings.push("the image's package list is incomplete (see the report's errors)".to_owned());
        } else if image.sources.is_empty() {
            scan.warnings.push("no package database was read from the image's layers".to_owned());
        }
        out.push(ImageScan {
            id: image.id.clone(),
            engines: vec![image.engine.as_str()],
            tags: image.tags.clone(),
            containers: Vec::new(),
            scan,
        });
    }
    for image in &mut out {
        image.tags.sort();
        image.tags.dedup();
        image.engines.sort();
        image.engines.dedup();
        image.containers =
            software.containers.iter().filter(|c| c.image_id == image.id).map(|c| c.name.clone()).collect();
        image.containers.sort();
        image.containers.dedup();
    }
    out
}

/// Imports advisory files (and a KEV catalog among them, if given) and scans one report. Inputs that could not be
/// read are listed in `advisories.errors` and in `warnings`.
pub fn scan_paths<P: AsRef<Path>>(
    advisory_paths: &[P],
    report: &Report,
    progress: &mut dyn FnMut(&Progress),
) -> ScanOutput {
    scan_paths_with(advisory_paths, report, &FindingPolicy::default(), progress)
}

/// [`scan_paths`] with a policy deciding which matches open findings.
pub fn scan_paths_with<P: AsRef<Path>>(
    advisory_paths: &[P],
    report: &Report,
    policy: &FindingPolicy,
    progress: &mut dyn FnMut(&Progress),
) -> ScanOutput {
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, advisory_paths, &ImportLimits::files(), progress);
    let mut output = scan_with(&db, report, policy);
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
    if !output.fixes.is_empty() {
        let _ = writeln!(out, "\n{} fixes, most urgent first:", output.fixes.len());
        for f in &output.fixes {
            let _ = writeln!(out, "  [{}] {}", f.severity, f.title);
        }
        let _ = writeln!(out);
    }
    table(&mut out, &output.vulnerabilities);
    if !output.not_running_kernel_vulnerabilities.is_empty() {
        let _ = writeln!(
            out,
            "\n{} more on kernels installed but not running:",
            output.not_running_kernel_vulnerabilities.len()
        );
        table(&mut out, &output.not_running_kernel_vulnerabilities);
    }
    if !output.not_a_kernel_vulnerabilities.is_empty() {
        let _ = writeln!(
            out,
            "\n{} kernel advisories on packages built from a kernel source that are not kernels (headers, tools):",
            output.not_a_kernel_vulnerabilities.len()
        );
        table(&mut out, &output.not_a_kernel_vulnerabilities);
    }
    for w in &output.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for image in &output.images {
        image_summary(&mut out, image);
    }
    out
}

/// An image's line and its fixes, most urgent first; its full list is in `--format json`.
fn image_summary(out: &mut String, image: &ImageScan) {
    let scan = &image.scan;
    let _ = writeln!(
        out,
        "\nimage {} [{}] ({} {}; {}), containers: {}: {} vulnerabilities in {} packages",
        scan.host.hostname.as_deref().unwrap_or(&image.id),
        muster_shared::v1::short_image_id(&image.id),
        scan.host.os_id.as_deref().unwrap_or("?"),
        scan.host.os_version.as_deref().unwrap_or("?"),
        image.engines.join(", "),
        if image.containers.is_empty() { "none".to_owned() } else { image.containers.join(", ") },
        scan.vulnerabilities.len(),
        scan.packages_checked,
    );
    for f in &scan.fixes {
        let _ = writeln!(out, "  [{}] {}", f.severity, f.title);
    }
    for w in &scan.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
}

fn table(out: &mut String, entries: &[VulnerabilityEntry]) {
    let rows: Vec<[String; 8]> = entries
        .iter()
        .map(|e| {
            [
                e.id.clone(),
                e.aliases.iter().filter(|a| a.starts_with("CVE-")).take(3).cloned().collect::<Vec<_>>().join(","),
                if e.kev { "KEV".to_owned() } else { String::new() },
                severity_cell(e),
                format!("{} ({})", e.package, e.source_name),
                e.installed_version.clone(),
                e.fixed_version.clone().unwrap_or_else(|| "no fix yet".to_owned()),
                e.fix_state.as_str().to_owned(),
            ]
        })
        .collect();
    let header =
        ["ID", "CVE", "KEV", "SEVERITY", "PACKAGE (SOURCE)", "INSTALLED", "FIXED", "FIX STATE"].map(str::to_owned);
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

/// "negligible (vendor: unimportant · CVSS 9.8), no finding": the level and what it came from.
fn severity_cell(e: &VulnerabilityEntry) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &e.vendor_severity {
        parts.push(format!("vendor: {v}"));
    }
    if let Some(score) = e.cvss_score {
        parts.push(format!("CVSS {score:.1}"));
    }
    let mut cell = e.severity.to_owned();
    if !parts.is_empty() {
        cell.push_str(&format!(" ({})", parts.join(" · ")));
    }
    if !e.opens_finding {
        cell.push_str(", no finding");
    }
    cell
}

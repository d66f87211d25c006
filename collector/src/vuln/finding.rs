//! Joining cached match results to one host: its findings, ranked KEV first, then severity, then age.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use muster_shared::v1::PackageKind;

use super::advisory::Advisory;
use super::db::AdvisoryDb;
use super::ecosystem::{EcosystemSelector, osv_version_order, remediation_command};
use super::host::{HostProfile, InstalledPackage, KernelState};
use super::matcher::Matcher;

/// One advisory affecting one installed package of one host. Borrows the advisory and the host's package.
#[derive(Debug, Clone)]
pub struct Finding<'a> {
    pub advisory: &'a Advisory,
    pub package: &'a InstalledPackage,
    /// Which of the package's lookups matched: the advisory's package name and the version compared.
    pub lookup: usize,
    pub ecosystem: Arc<str>,
    pub fixed: Option<Arc<str>>,
    pub kernel: Option<KernelState>,
    /// The command upgrading every installed package built from the same source.
    pub remediation: Option<Arc<str>>,
}

impl Finding<'_> {
    pub fn source_name(&self) -> &str {
        self.package.lookups.get(self.lookup).map_or(self.package.package.name.as_str(), |(n, _)| n.as_str())
    }

    /// The version compared against the advisory (the source version for Debian-family packages).
    pub fn compared_version(&self) -> &str {
        self.package.lookups.get(self.lookup).map_or(self.package.package.version.as_str(), |(_, v)| v.as_str())
    }

    pub fn kev(&self) -> bool {
        self.advisory.kev_added.is_some()
    }
}

/// A host's findings: `active` ones, and those on kernels that are installed but not running.
#[derive(Debug, Clone, Default)]
pub struct HostFindings<'a> {
    /// The advisory ecosystems the host's OS maps to and that the advisory set contains.
    pub ecosystems: Vec<Arc<str>>,
    pub active: Vec<Finding<'a>>,
    pub not_running_kernel: Vec<Finding<'a>>,
    /// Packages checked against advisories.
    pub packages_checked: usize,
    /// Why some or all packages could not be checked (unsupported OS, no advisories for its ecosystem…).
    pub warnings: Vec<String>,
}

/// The advisory ecosystems (present in `db`) that apply to a host, in preference order.
pub fn resolve_ecosystems(db: &AdvisoryDb, selectors: &[EcosystemSelector]) -> Vec<Arc<str>> {
    let mut out = Vec::new();
    for selector in selectors {
        match selector {
            EcosystemSelector::Exact(name) => {
                if let Some(e) = db.ecosystems().get(name.as_str()) {
                    out.push(e.clone());
                }
            }
            EcosystemSelector::Prefix(prefix) => {
                out.extend(db.ecosystems().iter().filter(|e| e.starts_with(prefix.as_str())).cloned());
            }
        }
    }
    out
}

/// Matches one host against the advisory set through the shared cache and ranks the findings.
pub fn match_host<'a>(db: &'a AdvisoryDb, matcher: &mut Matcher, host: &'a HostProfile) -> HostFindings<'a> {
    let mut result = HostFindings::default();
    let selectors = match &host.ecosystems {
        Ok(s) => s.as_slice(),
        Err(e) => {
            result.warnings.push(format!("packages not checked: {e}"));
            return result;
        }
    };
    result.ecosystems = resolve_ecosystems(db, selectors);
    if result.ecosystems.is_empty() {
        let wanted: Vec<String> = selectors
            .iter()
            .map(|s| match s {
                EcosystemSelector::Exact(n) => n.clone(),
                EcosystemSelector::Prefix(p) => format!("{p}*"),
            })
            .collect();
        result.warnings.push(format!("no advisories imported for {}", wanted.join(", ")));
        return result;
    }
    let orders: Vec<_> = result.ecosystems.iter().map(|e| osv_version_order(e)).collect();

    let mut found: Vec<Finding<'a>> = Vec::new();
    for pkg in &host.packages {
        let Some(order) = pkg.order else { continue };
        result.packages_checked += 1;
        let first_for_package = found.len();
        for (eco, eco_order) in result.ecosystems.iter().zip(&orders) {
            if *eco_order != Some(order) {
                continue;
            }
            for (lookup, (name, version)) in pkg.lookups.iter().enumerate() {
                let hits = matcher.hits(db, eco, name, version);
                for hit in hits.iter() {
                    // The same advisory through a second ecosystem (Ubuntu Pro) or name (rpm source) is one finding.
                    if found[first_for_package..].iter().any(|f| f.advisory.id == hit.advisory) {
                        continue;
                    }
                    let Some(advisory) = db.get(&hit.advisory) else { continue };
                    found.push(Finding {
                        advisory,
                        package: pkg,
                        lookup,
                        ecosystem: eco.clone(),
                        fixed: hit.fixed.clone(),
                        kernel: pkg.kernel,
                        remediation: None,
                    });
                }
            }
        }
    }
    add_remediations(host, &mut found);
    let (mut active, mut inactive): (Vec<_>, Vec<_>) =
        found.into_iter().partition(|f| f.kernel != Some(KernelState::NotRunning));
    active.sort_by(rank);
    inactive.sort_by(rank);
    result.active = active;
    result.not_running_kernel = inactive;
    result
}

/// KEV first, then severity (level, then CVSS score), then age (oldest published first); ties by id and package.
pub fn rank(a: &Finding<'_>, b: &Finding<'_>) -> Ordering {
    let (x, y) = (a.advisory, b.advisory);
    y.kev_added
        .is_some()
        .cmp(&x.kev_added.is_some())
        .then_with(|| y.severity.level.cmp(&x.severity.level))
        .then_with(|| y.severity.score.partial_cmp(&x.severity.score).unwrap_or(Ordering::Equal))
        .then_with(|| match (x.published, y.published) {
            (Some(p), Some(q)) => p.cmp(&q),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| x.id.cmp(&y.id))
        .then_with(|| a.package.package.name.cmp(&b.package.package.name))
}

/// Fills in each finding's upgrade command, listing every installed package built from the same source; one pass
/// over the host's packages, whatever the number of findings.
fn add_remediations(host: &HostProfile, found: &mut [Finding<'_>]) {
    let mut by_source: HashMap<(PackageKind, &str), Vec<&str>> = HashMap::new();
    for f in found.iter() {
        by_source.entry((f.package.package.kind, f.package.source_name())).or_default();
    }
    if by_source.is_empty() {
        return;
    }
    for p in &host.packages {
        if let Some(names) = by_source.get_mut(&(p.package.kind, p.source_name())) {
            names.push(p.package.name.as_str());
        }
    }
    let commands: HashMap<(PackageKind, &str), Option<Arc<str>>> = by_source
        .into_iter()
        .map(|(key, mut names)| {
            names.sort_unstable();
            names.dedup();
            (key, remediation_command(key.0, &names).map(Arc::from))
        })
        .collect();
    for f in found.iter_mut() {
        f.remediation = commands.get(&(f.package.package.kind, f.package.source_name())).cloned().flatten();
    }
}

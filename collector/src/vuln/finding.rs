//! Joining cached match results to one host: each match rated (vendor first), given its fix state from the host's
//! pending updates, and ranked by [`Priority`] (known exploited, fix available, severity, age).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use muster_shared::v1::PackageKind;

use super::advisory::Advisory;
use super::db::AdvisoryDb;
use super::ecosystem::{EcosystemSelector, osv_version_order, remediation_command};
use super::fix::FixState;
use super::host::{HostProfile, InstalledPackage, KernelState};
use super::matcher::Matcher;
use super::priority::Priority;
use super::severity::Rating;

/// One advisory affecting one installed package of one host.
#[derive(Debug, Clone)]
pub struct Finding<'a> {
    pub advisory: Arc<Advisory>,
    /// The severity of this match: the vendor's rating of the matched entry, else CVSS; KEV-listed critical.
    pub rating: Rating,
    pub fix_state: FixState,
    pub priority: Priority,
    pub package: &'a InstalledPackage,
    /// Which of the package's lookups matched: the advisory's package name and the version compared.
    pub lookup: usize,
    pub ecosystem: &'a str,
    /// The first fixed version above the installed one; `None`: no fix yet.
    pub fixed: Option<Arc<str>>,
    pub kernel: Option<KernelState>,
    /// The command upgrading every installed package built from the same source; only when it helps
    /// ([`FixState::upgrade_helps`]).
    pub remediation: Option<Arc<str>>,
}

impl Finding<'_> {
    /// The source package (see [`InstalledPackage::source`]).
    pub fn source_name(&self) -> &str {
        self.package.source_name()
    }

    /// The package name the advisory names (the source, or for rpm possibly the binary).
    pub fn matched_name(&self) -> &str {
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

/// A host's findings: `active` ones, those on kernels that are installed but not running, and those on packages
/// built from a kernel source that are not kernels.
#[derive(Debug, Clone, Default)]
pub struct HostFindings<'a> {
    /// The advisory ecosystems the host's OS maps to and that the advisory set contains.
    pub ecosystems: Vec<&'a str>,
    pub active: Vec<Finding<'a>>,
    pub not_running_kernel: Vec<Finding<'a>>,
    /// Kernel advisories matched through headers and tools (`linux-libc-dev`, `linux-perf`…): shown apart, never
    /// counted as kernels or as active findings.
    pub not_a_kernel: Vec<Finding<'a>>,
    /// Packages checked against advisories.
    pub packages_checked: usize,
    /// Why some or all packages could not be checked (unsupported OS, no advisories for its ecosystem…).
    pub warnings: Vec<String>,
}

/// The advisory ecosystems (present in `db`) that apply to a host, in preference order.
pub fn resolve_ecosystems<'a>(db: &'a AdvisoryDb, selectors: &[EcosystemSelector]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for selector in selectors {
        match selector {
            EcosystemSelector::Exact(name) => out.extend(db.ecosystems().get(name.as_str()).map(|e| e.as_ref())),
            EcosystemSelector::Prefix(prefix) => {
                out.extend(db.ecosystems().iter().filter(|e| e.starts_with(prefix.as_str())).map(|e| e.as_ref()));
            }
        }
    }
    out
}

/// Matches one host against the advisory set through the shared cache and ranks the findings.
pub fn match_host<'a>(db: &'a AdvisoryDb, matcher: &mut Matcher, host: &'a HostProfile) -> HostFindings<'a> {
    let mut result = HostFindings::default();
    // A host whose OS maps to no advisory ecosystem still has its language packages matched.
    let selectors = match &host.ecosystems {
        Ok(s) => s.as_slice(),
        Err(e) => {
            result.warnings.push(format!("OS packages not checked: {e}"));
            &[]
        }
    };
    result.ecosystems = resolve_ecosystems(db, selectors);
    if host.ecosystems.is_ok() && result.ecosystems.is_empty() {
        let wanted: Vec<String> = selectors
            .iter()
            .map(|s| match s {
                EcosystemSelector::Exact(n) => n.clone(),
                EcosystemSelector::Prefix(p) => format!("{p}*"),
            })
            .collect();
        result.warnings.push(format!("no advisories imported for {}", wanted.join(", ")));
    }
    let languages = host.language_ecosystems();
    let missing: Vec<&str> = languages.iter().copied().filter(|e| !db.ecosystems().contains(*e)).collect();
    if !missing.is_empty() {
        result.warnings.push(format!("no advisories imported for {}", missing.join(", ")));
    }
    result.ecosystems.extend(db.ecosystems().iter().map(|e| e.as_ref()).filter(|e| languages.contains(e)));
    if result.ecosystems.is_empty() {
        return result;
    }
    let ecosystems: Vec<(&'a str, _)> = result.ecosystems.iter().map(|e| (*e, osv_version_order(e))).collect();

    let mut found: Vec<Finding<'a>> = Vec::new();
    // Ids already reported for the current package, kept only when it can match through several sources.
    let mut seen: HashSet<*const Advisory> = HashSet::new();
    let several_ecosystems = ecosystems.len() > 1;
    for pkg in host.checked_packages() {
        result.packages_checked += 1;
        let remember = several_ecosystems || pkg.lookups.len() > 1;
        seen.clear();
        for &(eco, eco_order) in &ecosystems {
            if !pkg.looked_up_in(eco, eco_order) {
                continue;
            }
            for (lookup, (name, version)) in pkg.lookups.iter().enumerate() {
                let hits = matcher.hits(db, eco, name, version);
                for hit in hits.iter() {
                    // The same advisory through a second ecosystem (Ubuntu Pro) or name (rpm source) is one finding.
                    if remember && !seen.insert(Arc::as_ptr(&hit.advisory)) {
                        continue;
                    }
                    let rating =
                        Rating::new(&hit.advisory.severity, hit.vendor.as_ref(), hit.advisory.kev_added.is_some());
                    let state = host.fix_state_of(pkg, version.as_str(), hit.fixed.as_deref(), hit.vendor.as_deref());
                    found.push(Finding {
                        priority: Priority::of(&rating, state, hit.advisory.published),
                        advisory: hit.advisory.clone(),
                        rating,
                        fix_state: state,
                        package: pkg,
                        lookup,
                        ecosystem: eco,
                        fixed: hit.fixed.clone(),
                        kernel: pkg.kernel,
                        remediation: None,
                    });
                }
            }
        }
    }
    add_remediations(host, &mut found);
    // Active first, then installed kernels not running, then kernel-source packages that are not kernels.
    let place = |f: &Finding<'_>| match f.kernel {
        Some(KernelState::NotRunning) => 1u8,
        Some(KernelState::NotAKernel) => 2,
        _ => 0,
    };
    found.sort_unstable_by(|a, b| place(a).cmp(&place(b)).then_with(|| rank(a, b)));
    let not_a_kernel = found.partition_point(|f| place(f) < 2);
    result.not_a_kernel = found.split_off(not_a_kernel);
    let not_running = found.partition_point(|f| place(f) < 1);
    result.not_running_kernel = found.split_off(not_running);
    result.active = found;
    result
}

/// By [`Priority::cmp_urgency`] (known exploited, fix state, severity, CVSS, oldest first); ties by advisory id,
/// then by the packages' order in the host's report.
pub fn rank(a: &Finding<'_>, b: &Finding<'_>) -> Ordering {
    a.priority
        .cmp_urgency(&b.priority)
        .then_with(|| {
            if Arc::ptr_eq(&a.advisory, &b.advisory) { Ordering::Equal } else { a.advisory.id.cmp(&b.advisory.id) }
        })
        .then_with(|| std::ptr::from_ref(a.package).cmp(&std::ptr::from_ref(b.package)))
}

/// Fills in each finding's upgrade command, listing every installed package built from the same source; one pass
/// over the host's packages, whatever the number of findings.
fn add_remediations(host: &HostProfile, found: &mut [Finding<'_>]) {
    let mut by_source: HashMap<(PackageKind, &str), Vec<&str>> = HashMap::new();
    let mut last: Option<*const InstalledPackage> = None;
    for f in found.iter() {
        if last != Some(f.package as *const _) {
            by_source.entry((f.package.package.kind, f.package.source_name())).or_default();
            last = Some(f.package as *const _);
        }
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
    // Findings of one package are contiguous: one lookup per package. The command is offered only where it helps.
    let mut i = 0;
    while i < found.len() {
        let pkg = found[i].package;
        let command = commands.get(&(pkg.package.kind, pkg.source_name())).cloned().flatten();
        while i < found.len() && std::ptr::eq(found[i].package, pkg) {
            found[i].remediation = command.clone().filter(|_| found[i].fix_state.upgrade_helps());
            i += 1;
        }
    }
}

//! One fix per (host, source package): the matches a single upgrade closes, grouped, instead of one finding per
//! binary package and advisory.
//!
//! "Upgrade glibc (libc6, libc-bin) to 2.36-9+deb12u10 — fixes 3 vulnerabilities, 1 known exploited": a group
//! holds the matches of one source package that have a fixed version; the ones without (no fix yet, end of life)
//! form a second group of their own. Only matches that open a finding
//! ([`super::severity::Rating::opens_finding`]) are grouped, and only active ones (not kernels that are not
//! running, not headers and tools).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use muster_shared::v1::PackageKind;

use super::ecosystem::{package_order, version_order};
use super::finding::Finding;
use super::fix::FixState;
use super::priority::Priority;
use super::severity::{FindingPolicy, SeverityLevel};

/// The matches of one source package on one host that one action settles.
#[derive(Debug, Clone, PartialEq)]
pub struct FixGroup {
    pub kind: PackageKind,
    pub source_name: String,
    /// The installed binary packages the matches were found in, sorted.
    pub packages: Vec<String>,
    /// `fix_available` only when the host's sources offer the target for every member; `fix_released` when any
    /// member's fix is not offered; `end_of_life` when any unfixed member is end of life.
    pub fix_state: FixState,
    /// The highest fixed version among the members (by the ecosystem's order); `None` for the unfixed group.
    pub target_version: Option<String>,
    /// The highest severity among the members.
    pub severity: SeverityLevel,
    /// Advisory ids, most urgent first, each once.
    pub advisories: Vec<String>,
    /// How many of the advisories are in CISA's KEV catalog.
    pub known_exploited: usize,
    /// The most urgent member's priority, with the group's own fix state.
    pub priority: Priority,
    /// The upgrade command, when it helps ([`FixState::upgrade_helps`]).
    pub remediation: Option<String>,
}

impl FixGroup {
    /// One line saying what to do and what it settles.
    pub fn title(&self) -> String {
        let packages = self.packages.join(", ");
        let n = self.advisories.len();
        let what = if n == 1 { "1 vulnerability".to_owned() } else { format!("{n} vulnerabilities") };
        let kev = match self.known_exploited {
            0 => String::new(),
            k => format!(", {k} known exploited"),
        };
        let target = self.target_version.as_deref().unwrap_or_default();
        match self.fix_state {
            FixState::FixAvailable | FixState::FixUnverified => {
                format!("Upgrade {} ({packages}) to {target} — fixes {what}{kev}", self.source_name)
            }
            FixState::FixReleased => format!(
                "{} {target} fixes {what}{kev}, but this host's package sources do not offer it ({packages})",
                self.source_name
            ),
            FixState::NoFix => format!("{} ({packages}): {what}{kev} without a fix yet", self.source_name),
            FixState::EndOfLife => {
                format!("{} ({packages}): {what}{kev}, no longer supported in this release", self.source_name)
            }
        }
    }
}

/// Groups a host's active matches per (package kind, source package, fixable or not), most urgent group first.
/// `active` must be in the host's ranked order ([`super::finding::rank`]), as [`super::match_host`] returns it.
pub fn group_fixes(active: &[Finding<'_>], policy: &FindingPolicy) -> Vec<FixGroup> {
    let mut groups: BTreeMap<(PackageKind, &str, bool), Vec<&Finding<'_>>> = BTreeMap::new();
    for f in active.iter().filter(|f| f.rating.opens_finding(policy)) {
        groups.entry((f.package.package.kind, f.source_name(), f.fix_state.fixable())).or_default().push(f);
    }
    let mut out: Vec<FixGroup> =
        groups.into_iter().map(|((kind, source, _), members)| group(kind, source, &members)).collect();
    out.sort_by(|a, b| {
        a.priority
            .cmp_urgency(&b.priority)
            .then_with(|| a.source_name.cmp(&b.source_name))
            .then_with(|| b.fix_state.fixable().cmp(&a.fix_state.fixable()))
    });
    out
}

fn group(kind: PackageKind, source: &str, members: &[&Finding<'_>]) -> FixGroup {
    // Members arrive in the host's ranked order, so the first is the most urgent.
    let packages: BTreeSet<&str> = members.iter().map(|f| f.package.package.name.as_str()).collect();
    let mut advisories: Vec<String> = Vec::new();
    let mut known_exploited = 0;
    for f in members {
        if !advisories.iter().any(|a| a.as_str() == f.advisory.id.as_ref()) {
            advisories.push(f.advisory.id.to_string());
            known_exploited += usize::from(f.rating.kev);
        }
    }
    let order = package_order(kind);
    let mut target: Option<&str> = None;
    for fixed in members.iter().filter_map(|f| f.fixed.as_deref()) {
        let higher = match (target, order) {
            (None, _) => true,
            (Some(t), Some(o)) => version_order(o, fixed, t) == Some(Ordering::Greater),
            (Some(_), None) => false,
        };
        if higher {
            target = Some(fixed);
        }
    }
    let states = || members.iter().map(|f| f.fix_state);
    let fix_state = if target.is_some() {
        if states().any(|s| s == FixState::FixReleased) {
            FixState::FixReleased
        } else if states().any(|s| s == FixState::FixUnverified) {
            FixState::FixUnverified
        } else {
            FixState::FixAvailable
        }
    } else if states().any(|s| s == FixState::EndOfLife) {
        FixState::EndOfLife
    } else {
        FixState::NoFix
    };
    let most_urgent = members.iter().map(|f| f.priority).min_by(Priority::cmp_urgency);
    let severity = members.iter().map(|f| f.rating.level).max().unwrap_or_default();
    let priority = match most_urgent {
        Some(p) => Priority { fix_state, ..p },
        None => Priority { known_exploited: false, fix_state, severity, cvss_score: None, published: None },
    };
    let remediation = if fix_state.upgrade_helps() {
        members.iter().find_map(|f| f.remediation.as_deref()).map(str::to_owned)
    } else {
        None
    };
    FixGroup {
        kind,
        source_name: source.to_owned(),
        packages: packages.into_iter().map(str::to_owned).collect(),
        fix_state,
        target_version: target.map(str::to_owned),
        severity,
        advisories,
        known_exploited,
        priority,
        remediation,
    }
}

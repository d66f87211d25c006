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

use super::ecosystem::{language_ecosystem, language_remediation, package_order, version_order};
use super::finding::Finding;
use super::fix::FixState;
use super::priority::Priority;
use super::severity::{FindingPolicy, SeverityLevel};

/// The matches of one source package on one host that one action settles.
#[derive(Debug, Clone, PartialEq)]
pub struct FixGroup {
    pub kind: PackageKind,
    pub source_name: String,
    /// The installed binary packages the matches were found in, sorted; for a language package, where its copies
    /// were found (`METADATA`, `package.json`, lockfile, binary).
    pub packages: Vec<String>,
    /// `fix_available` only when the host's sources offer the target for every member; `fix_released` when any
    /// member's fix is not offered; `end_of_life` when any unfixed member is end of life.
    pub fix_state: FixState,
    /// The highest fixed version among the members (by the ecosystem's order); `None` for the unfixed group.
    pub target_version: Option<String>,
    /// The highest severity among the members.
    pub severity: SeverityLevel,
    /// Advisory ids, most urgent first, each vulnerability once: of two records that name each other as aliases
    /// (GitHub's `GHSA-…` and the PyPA's `PYSEC-…` of one CVE), the more urgent.
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
        if let Some(ecosystem) = language_ecosystem(self.kind) {
            let name = &self.source_name;
            return match self.fix_state {
                FixState::NoFix | FixState::EndOfLife => {
                    format!("{ecosystem} package {name} ({packages}): {what}{kev} without a fix yet")
                }
                _ => format!("Upgrade {ecosystem} package {name} to {target} ({packages}) — fixes {what}{kev}"),
            };
        }
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

/// One match as grouping needs it: built from a [`Finding`] (offline scan) or from a stored match with its
/// [`super::severity::Rating`] (the collector).
#[derive(Debug, Clone)]
pub struct Member<'a> {
    pub kind: PackageKind,
    pub source_name: &'a str,
    /// The installed binary package; for a language package, where the copy was found.
    pub package: &'a str,
    pub advisory_id: &'a str,
    /// The advisory's aliases (its CVE, the other databases' ids).
    pub aliases: Vec<&'a str>,
    pub fixed: Option<&'a str>,
    pub fix_state: FixState,
    pub severity: SeverityLevel,
    pub kev: bool,
    /// Whether the match opens a finding ([`super::severity::Rating::opens_finding`]).
    pub opens_finding: bool,
    pub priority: Priority,
    pub remediation: Option<&'a str>,
}

impl<'a> Member<'a> {
    pub fn of(f: &'a Finding<'_>, policy: &FindingPolicy) -> Self {
        Self {
            kind: f.package.package.kind,
            source_name: f.source_name(),
            package: match (f.package.ecosystem, &f.package.package.path) {
                (Some(_), Some(path)) => path,
                _ => &f.package.package.name,
            },
            advisory_id: &f.advisory.id,
            aliases: f.advisory.aliases.iter().map(|a| a.as_ref()).collect(),
            fixed: f.fixed.as_deref(),
            fix_state: f.fix_state,
            severity: f.rating.level,
            kev: f.rating.kev,
            opens_finding: f.rating.opens_finding(policy),
            priority: f.priority,
            remediation: f.remediation.as_deref(),
        }
    }
}

/// Groups a host's active matches (from [`super::match_host`]) per source package and fixability.
pub fn group_fixes(active: &[Finding<'_>], policy: &FindingPolicy) -> Vec<FixGroup> {
    let members: Vec<Member<'_>> = active.iter().map(|f| Member::of(f, policy)).collect();
    group_members(&members)
}

/// Groups matches that open a finding per (package kind, source package, fixable or not), most urgent group first.
/// The caller passes only a host's active matches (not kernels that are not running, not headers and tools).
pub fn group_members(members: &[Member<'_>]) -> Vec<FixGroup> {
    let mut groups: BTreeMap<(PackageKind, &str, bool), Vec<&Member<'_>>> = BTreeMap::new();
    for m in members.iter().filter(|m| m.opens_finding) {
        groups.entry((m.kind, m.source_name, m.fix_state.fixable())).or_default().push(m);
    }
    let mut out: Vec<FixGroup> =
        groups.into_iter().map(|((kind, source, _), mut members)| group(kind, source, &mut members)).collect();
    out.sort_by(|a, b| {
        a.priority
            .cmp_urgency(&b.priority)
            .then_with(|| a.source_name.cmp(&b.source_name))
            .then_with(|| b.fix_state.fixable().cmp(&a.fix_state.fixable()))
    });
    out
}

fn group(kind: PackageKind, source: &str, members: &mut [&Member<'_>]) -> FixGroup {
    members.sort_by(|a, b| a.priority.cmp_urgency(&b.priority).then_with(|| a.advisory_id.cmp(b.advisory_id)));
    let packages: BTreeSet<&str> = members.iter().map(|m| m.package).collect();
    let mut listed: Vec<&Member<'_>> = Vec::new();
    let mut known_exploited = 0;
    for m in members.iter() {
        // Only records naming each other count as one: a Debian DSA lists the CVEs it fixes, which stay apart.
        let same = |l: &&Member<'_>| {
            l.advisory_id == m.advisory_id || (l.aliases.contains(&m.advisory_id) && m.aliases.contains(&l.advisory_id))
        };
        if !listed.iter().any(same) {
            listed.push(m);
            known_exploited += usize::from(m.kev);
        }
    }
    let advisories: Vec<String> = listed.iter().map(|m| m.advisory_id.to_owned()).collect();
    let order = package_order(kind);
    let mut target: Option<&str> = None;
    for fixed in members.iter().filter_map(|m| m.fixed) {
        let higher = match (target, order) {
            (None, _) => true,
            (Some(t), Some(o)) => version_order(o, fixed, t) == Some(Ordering::Greater),
            (Some(_), None) => false,
        };
        if higher {
            target = Some(fixed);
        }
    }
    let states = || members.iter().map(|m| m.fix_state);
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
    let most_urgent = members.first().map(|m| m.priority);
    let severity = members.iter().map(|m| m.severity).max().unwrap_or_default();
    let priority = match most_urgent {
        Some(p) => Priority { fix_state, ..p },
        None => {
            Priority { known_exploited: false, fix_state, severity, exposed: false, cvss_score: None, published: None }
        }
    };
    // A language package's copies are upgraded with its ecosystem's installer (or rebuilt), not the OS's.
    let remediation = if fix_state.upgrade_helps() {
        members.iter().find_map(|m| m.remediation).map(str::to_owned).or_else(|| {
            let paths: Vec<&str> = packages.iter().copied().collect();
            language_remediation(kind, source, target.unwrap_or_default(), &paths)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn member<'a>(
        id: &'a str,
        package: &'a str,
        fixed: Option<&'a str>,
        state: FixState,
        severity: SeverityLevel,
    ) -> Member<'a> {
        Member {
            kind: PackageKind::Deb,
            source_name: "glibc",
            package,
            advisory_id: id,
            aliases: Vec::new(),
            fixed,
            fix_state: state,
            severity,
            kev: false,
            opens_finding: severity != SeverityLevel::Negligible,
            priority: Priority {
                known_exploited: false,
                fix_state: state,
                severity,
                exposed: false,
                cvss_score: None,
                published: None,
            },
            remediation: state.upgrade_helps().then_some("apt-get install --only-upgrade libc-bin libc6"),
        }
    }

    #[test]
    fn target_is_the_highest_fix_by_version_order_and_states_combine() {
        use FixState::*;
        use SeverityLevel::*;
        // Real bookworm glibc fixes: by bytes u9 > u10, by dpkg order u10 > u9.
        let members = [
            member("CVE-2024-33599", "libc6", Some("2.36-9+deb12u7"), FixAvailable, High),
            member("CVE-2025-4802", "libc6", Some("2.36-9+deb12u10"), FixReleased, Medium),
            member("CVE-2025-0395", "libc-bin", Some("2.36-9+deb12u9"), FixAvailable, Low),
            member("CVE-2019-1010022", "libc6", None, NoFix, Negligible),
            member("CVE-2010-4756", "libc6", None, NoFix, Low),
        ];
        let groups = group_members(&members);
        assert_eq!(groups.len(), 2);
        let fix = &groups[0];
        assert_eq!((fix.target_version.as_deref(), fix.fix_state), (Some("2.36-9+deb12u10"), FixReleased));
        assert_eq!((fix.severity, fix.remediation.as_deref()), (High, None));
        assert_eq!(fix.packages, vec!["libc-bin", "libc6"]);
        assert_eq!(fix.advisories, vec!["CVE-2024-33599", "CVE-2025-0395", "CVE-2025-4802"]);
        let unfixed = &groups[1];
        assert_eq!((unfixed.advisories.clone(), unfixed.fix_state), (vec!["CVE-2010-4756".to_owned()], NoFix));
        assert_eq!(unfixed.title(), "glibc (libc6): 1 vulnerability without a fix yet");
    }
}

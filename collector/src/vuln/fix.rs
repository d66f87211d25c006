//! Whether a match can be fixed on this host: a pure function of the match and the host's pending updates.
//!
//! The advisory says which version fixes it; the agent's `patches.pending` says which candidate versions the host's
//! own package sources offer. Only the two together tell "run the upgrade" from "the fix exists but your sources do
//! not have it" — the remedy for the latter is the sources, not the upgrade command.

use std::cmp::Ordering;
use std::collections::HashMap;

use muster_shared::v1::{PackageKind, PendingUpdate};
use muster_shared::version::Ecosystem;
use serde::Serialize;

use super::ecosystem::version_order;
use super::severity::is_end_of_life;

/// What can be done about one match on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixState {
    /// No fixed version is known yet.
    NoFix,
    /// The vendor no longer supports the package in this release (Debian urgency `end-of-life`): no fix will come.
    EndOfLife,
    /// A fixed version exists, but the host's pending updates offer no candidate at or past it: its package sources
    /// lack the fix (a missing security suite, a pin); the remedy is the sources.
    FixReleased,
    /// A fixed version exists and the host's pending updates are unknown (the agent computes them for apt only, and
    /// not from every mounted root): the upgrade most likely installs it, but nothing confirms it.
    FixUnverified,
    /// A pending update of the host offers a version at or past the fix: the upgrade command fixes it.
    FixAvailable,
}

impl FixState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoFix => "no_fix",
            Self::EndOfLife => "end_of_life",
            Self::FixReleased => "fix_released",
            Self::FixUnverified => "fix_unverified",
            Self::FixAvailable => "fix_available",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::NoFix, Self::EndOfLife, Self::FixReleased, Self::FixUnverified, Self::FixAvailable]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// A fixed version exists (whether or not this host can install it yet).
    pub fn fixable(self) -> bool {
        matches!(self, Self::FixReleased | Self::FixUnverified | Self::FixAvailable)
    }

    /// Whether the package manager's upgrade command does something about it: not when no fix exists, and not when
    /// the host's sources do not offer it (the command would install nothing, or a version still vulnerable).
    pub fn upgrade_helps(self) -> bool {
        matches!(self, Self::FixUnverified | Self::FixAvailable)
    }
}

/// binary package name → (architecture, candidate version) of its pending updates.
type Candidates = HashMap<String, Vec<(Option<String>, String)>>;

/// The host's pending updates by binary package name; `None` inside when the agent could not compute them.
#[derive(Debug, Clone, Default)]
pub struct PendingUpdates {
    by_name: Option<Candidates>,
}

/// What the host's sources offer for one installed package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate<'a> {
    /// Pending updates are unknown.
    Unknown,
    /// Pending updates are known and none is for this package: its sources offer nothing newer.
    None,
    Version(&'a str),
}

impl PendingUpdates {
    /// From the agent's `patches.pending`: `None` when the report says pending updates could not be computed.
    pub fn new(pending: Option<&[PendingUpdate]>) -> Self {
        let by_name = pending.map(|list| {
            let mut map = Candidates::new();
            for u in list {
                map.entry(u.name.clone()).or_default().push((u.arch.clone(), u.candidate_version.clone()));
            }
            map
        });
        Self { by_name }
    }

    pub fn known(&self) -> bool {
        self.by_name.is_some()
    }

    /// The candidate for an installed package; when the update names no architecture (or the package has none),
    /// the name alone decides.
    pub fn candidate(&self, name: &str, arch: Option<&str>) -> Candidate<'_> {
        let Some(map) = &self.by_name else { return Candidate::Unknown };
        let Some(list) = map.get(name) else { return Candidate::None };
        let found = list.iter().find(|(a, _)| a.is_none() || arch.is_none() || a.as_deref() == arch);
        found.map_or(Candidate::None, |(_, v)| Candidate::Version(v))
    }
}

/// One match as fix-state evaluation needs it.
#[derive(Debug, Clone, Copy)]
pub struct FixInput<'a> {
    pub kind: PackageKind,
    /// The first fixed version above the compared one, in the advisory's terms (a source version on Debian).
    pub fixed: Option<&'a str>,
    /// The vendor's label on the matched entry (`end-of-life` decides [`FixState::EndOfLife`]).
    pub vendor: Option<&'a str>,
    /// The installed binary's version, and the version compared with the advisory (the source version on Debian).
    pub installed_version: &'a str,
    pub compared_version: &'a str,
}

/// Decides the fix state of one match from what the host's sources offer for its installed package.
///
/// A Debian candidate is a binary version while the fix is a source version; they are compared only when the
/// installed binary carries its source's version (possibly with a binNMU suffix `+bN`), so the candidate does too.
/// When they differ (a binary versioned on its own), the candidate proves nothing and the state is
/// [`FixState::FixUnverified`].
pub fn fix_state(input: &FixInput<'_>, candidate: Candidate<'_>) -> FixState {
    let Some(fixed) = input.fixed else {
        return if input.vendor.is_some_and(is_end_of_life) { FixState::EndOfLife } else { FixState::NoFix };
    };
    let Some(order) = super::ecosystem::package_order(input.kind) else { return FixState::FixUnverified };
    match candidate {
        Candidate::Unknown => FixState::FixUnverified,
        Candidate::None => FixState::FixReleased,
        Candidate::Version(_) if !aligned(order, input.installed_version, input.compared_version) => {
            FixState::FixUnverified
        }
        Candidate::Version(v) => match version_order(order, v, fixed) {
            Some(Ordering::Greater | Ordering::Equal) => FixState::FixAvailable,
            Some(Ordering::Less) => FixState::FixReleased,
            None => FixState::FixUnverified,
        },
    }
}

/// Whether the installed binary's version is its source's version, so its candidate can stand for the source's.
fn aligned(order: Ecosystem, installed: &str, compared: &str) -> bool {
    if order != Ecosystem::Deb || installed == compared {
        return true;
    }
    installed
        .strip_prefix(compared)
        .and_then(|rest| rest.strip_prefix("+b"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(name: &str, installed: &str, candidate: &str) -> PendingUpdate {
        PendingUpdate {
            name: name.into(),
            arch: Some("amd64".into()),
            installed_version: installed.into(),
            candidate_version: candidate.into(),
            security: false,
            origin: None,
        }
    }

    fn deb<'a>(fixed: Option<&'a str>, installed: &'a str, compared: &'a str) -> FixInput<'a> {
        FixInput {
            kind: PackageKind::Deb,
            fixed,
            vendor: None,
            installed_version: installed,
            compared_version: compared,
        }
    }

    #[test]
    fn candidate_at_or_past_the_fix_is_available() {
        // Real bookworm versions: libc6 2.36-9+deb12u9 with 2.36-9+deb12u14 pending (apt list --upgradable of
        // agent/testdata/apt/debian-12); bash 5.2.15-2+b7 is a binNMU of source 5.2.15-2.
        let pending =
            [update("libc6", "2.36-9+deb12u9", "2.36-9+deb12u14"), update("bash", "5.2.15-2+b7", "5.2.15-2+b13")];
        let p = PendingUpdates::new(Some(&pending));
        let glibc = |fixed| deb(Some(fixed), "2.36-9+deb12u9", "2.36-9+deb12u9");
        let libc6 = p.candidate("libc6", Some("amd64"));
        assert_eq!(fix_state(&glibc("2.36-9+deb12u10"), libc6), FixState::FixAvailable);
        assert_eq!(fix_state(&glibc("2.36-9+deb12u14"), libc6), FixState::FixAvailable);
        assert_eq!(fix_state(&glibc("2.36-9+deb12u15"), libc6), FixState::FixReleased);
        assert_eq!(fix_state(&glibc("2.36-9+deb12u10"), p.candidate("libc-bin", Some("amd64"))), FixState::FixReleased);
        assert_eq!(
            fix_state(&glibc("2.36-9+deb12u10"), PendingUpdates::new(None).candidate("libc6", None)),
            FixState::FixUnverified
        );
        // A binNMU rebuild of the same source does not reach a new source upload's fix.
        let bash = deb(Some("5.2.15-3"), "5.2.15-2+b7", "5.2.15-2");
        assert_eq!(fix_state(&bash, p.candidate("bash", Some("amd64"))), FixState::FixReleased);
        let bash = deb(Some("5.2.15-2+deb12u1"), "5.2.15-2+b7", "5.2.15-2");
        assert_eq!(fix_state(&bash, Candidate::Version("5.2.15-2+deb12u1")), FixState::FixAvailable);
        // A binary versioned apart from its source: the candidate proves nothing.
        let gcc = deb(Some("1.204"), "4:12.2.0-3", "1.203");
        assert_eq!(fix_state(&gcc, Candidate::Version("4:12.2.0-4")), FixState::FixUnverified);
    }

    #[test]
    fn no_fix_and_end_of_life() {
        let mut input = deb(None, "1.8.7+dfsg1-6", "1.8.7+dfsg1-6");
        assert_eq!(fix_state(&input, Candidate::None), FixState::NoFix);
        input.vendor = Some("end-of-life");
        assert_eq!(fix_state(&input, Candidate::Unknown), FixState::EndOfLife);
        assert!(!FixState::EndOfLife.fixable() && !FixState::FixReleased.upgrade_helps());
        assert!(FixState::FixUnverified.upgrade_helps() && FixState::FixAvailable.fixable());
    }
}

//! Security posture checks (the report's `checks` section): small probes read inputs, pure functions decide.
//!
//! Each check module exposes pure functions over file contents or values (tested against real configuration files)
//! and a thin probe that reads those inputs through [`SystemRoot`]. Facts that exist only on a running system
//! (processes, `/proc`, `/sys`, the live ruleset) come from [`runtime::Runtime`], which is empty in `--root` mode so
//! those checks report `not_applicable` instead of reading the host.

pub(crate) mod accounts;
pub mod defender;
mod disk;
mod firewall;
pub(crate) mod lockout;
mod pam;
mod pam_run;
mod runtime;
pub(crate) mod sshd;
pub(crate) mod sudo;
mod system;
mod updates;
#[cfg(target_os = "linux")]
mod world_writable;

use std::io;

use chrono::{DateTime, Utc};
use muster_shared::v1::{Check, CheckStatus, Patches, SectionName};

use crate::root::{ErrorLog, SystemRoot};

/// What the report knows of patch state, which the `updates.*` checks are decided from.
#[derive(Debug, Clone, Copy)]
pub enum PatchState<'a> {
    Collected(&'a Patches),
    /// The patches section was asked for but could not be collected; its errors are in the report.
    Failed,
    /// The patches section was not asked for (`--sections` without it).
    NotRequested,
}

/// A patches section that was asked for: collected, or failed when absent.
impl<'a> From<Option<&'a Patches>> for PatchState<'a> {
    fn from(patches: Option<&'a Patches>) -> PatchState<'a> {
        patches.map_or(PatchState::Failed, PatchState::Collected)
    }
}

/// The checks decided from the patches section alone (`updates.*`, `kernel.reboot_required`), for platforms whose
/// other checks are not read from `/etc` (Windows, macOS). `updates.lists_stale` only where the section knows its
/// last check (macOS's Software Update's, Windows Update's last successful search; the Windows agent reports no
/// pending updates without one).
pub fn patch_checks<'a>(patches: impl Into<PatchState<'a>>, now: DateTime<Utc>) -> Vec<Check> {
    let patches = patches.into();
    let checked = matches!(patches, PatchState::Collected(p) if p.lists_updated_at.is_some());
    let mut checks = updates::checks(patches, now);
    if !checked {
        checks.retain(|c| c.id != updates::LISTS_STALE);
    }
    checks
}

/// Runs every posture check against `root`; `now` decides the age of the package lists.
pub fn collect<'a>(
    root: &SystemRoot,
    patches: impl Into<PatchState<'a>>,
    now: DateTime<Utc>,
    errors: &mut ErrorLog,
) -> Vec<Check> {
    let patches = patches.into();
    let runtime = runtime::Runtime::probe(root);
    let mut checks = Vec::with_capacity(26);
    checks.extend(sshd::probe(root, errors));
    checks.extend(accounts::probe(root, errors));
    checks.push(firewall::probe(root, &runtime, errors));
    checks.push(disk::probe(root, &runtime, errors));
    checks.extend(updates::checks(patches, now));
    checks.extend(system::probe(root, &runtime, errors));
    // Defender's own health report needs its daemon: the running system only.
    if root.is_live() {
        checks.extend(defender::live(now));
    }
    checks.push(sudo::probe(root, errors));
    checks.push(world_writable_check(root, errors));
    checks
}

/// `files.world_writable`: the bounded walk uses Linux's statx and filesystem magic numbers, so elsewhere it is not
/// applicable yet.
#[cfg(target_os = "linux")]
fn world_writable_check(root: &SystemRoot, errors: &mut ErrorLog) -> Check {
    use std::time::{Duration, Instant};
    // The limits bound work; they are no input to any decision.
    let budget = world_writable::Budget {
        max_entries: world_writable::DEFAULT_MAX_ENTRIES,
        max_cpu: Duration::from_millis(world_writable::DEFAULT_MAX_CPU_MILLIS),
        deadline: Instant::now() + Duration::from_millis(world_writable::DEFAULT_MAX_WALL_MILLIS),
        threads: world_writable::DEFAULT_THREADS,
    };
    world_writable::probe(root, &budget, errors)
}

#[cfg(not(target_os = "linux"))]
fn world_writable_check(_: &SystemRoot, _: &mut ErrorLog) -> Check {
    not_applicable("files.world_writable", "the world-writable walk is implemented for Linux only")
}

pub(crate) fn pass(id: &str, evidence: Vec<String>) -> Check {
    Check { id: id.to_string(), status: CheckStatus::Pass, reason: None, evidence, remediation: None }
}

pub(crate) fn fail(id: &str, evidence: Vec<String>, remediation: &str) -> Check {
    Check {
        id: id.to_string(),
        status: CheckStatus::Fail,
        reason: None,
        evidence,
        remediation: Some(remediation.to_string()),
    }
}

pub(crate) fn not_applicable(id: &str, reason: impl Into<String>) -> Check {
    Check {
        id: id.to_string(),
        status: CheckStatus::NotApplicable,
        reason: Some(reason.into()),
        evidence: Vec::new(),
        remediation: None,
    }
}

pub(crate) fn unknown(id: &str, reason: impl Into<String>) -> Check {
    Check {
        id: id.to_string(),
        status: CheckStatus::Unknown,
        reason: Some(reason.into()),
        evidence: Vec::new(),
        remediation: None,
    }
}

/// The lines of a configuration file that carry settings: 1-based number and trimmed text, without blank lines and
/// lines whose first non-blank character is `#`.
fn setting_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

/// A file of the inspected system that may legitimately be absent.
enum Input {
    Present(String),
    Missing,
    /// Present but unreadable; the message says why (already recorded in the error log).
    Unreadable(String),
}

/// Reads a text file through the root. Missing files are an answer, not an error; other failures are recorded.
fn read_input(root: &SystemRoot, path: &str, errors: &mut ErrorLog) -> Input {
    match root.read(path) {
        Ok(bytes) => Input::Present(String::from_utf8_lossy(&bytes).into_owned()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Input::Missing,
        Err(err) => {
            errors.io(SectionName::Checks, path, &err);
            Input::Unreadable(format!("{path}: {err}"))
        }
    }
}

#[cfg(test)]
mod tests;

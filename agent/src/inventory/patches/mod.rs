//! The patches section: pending updates, security updates, reboot-required and automatic-update state.

pub mod apt;

use chrono::{DateTime, Utc};
use muster_shared::v1::{ErrorKind, Os, Patches, SectionName, Software};

use crate::root::{ErrorLog, SystemRoot};

/// Computes patch state offline from the package manager's own files.
pub fn collect(
    _root: &SystemRoot,
    _software: Option<&Software>,
    _os: Option<&Os>,
    _now: DateTime<Utc>,
    errors: &mut ErrorLog,
) -> Option<Patches> {
    errors.record(SectionName::Patches, "patches", ErrorKind::Unsupported, "patch state is not computed yet");
    None
}

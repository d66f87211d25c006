//! Security posture checks (the report's `checks` section).

use muster_shared::v1::{Check, ErrorKind, Patches, SectionName};

use crate::root::{ErrorLog, SystemRoot};

/// Runs every posture check against `root`.
pub fn collect(_root: &SystemRoot, _patches: Option<&Patches>, errors: &mut ErrorLog) -> Vec<Check> {
    errors.record(SectionName::Checks, "checks", ErrorKind::Unsupported, "posture checks are not implemented yet");
    Vec::new()
}

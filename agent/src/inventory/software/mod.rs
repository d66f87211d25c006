//! The software section: reads every package database present under the root.

use muster_shared::v1::{ErrorKind, SectionName, Software};

use crate::root::{ErrorLog, SystemRoot};

/// Reads every package database found under `root`.
pub fn collect(_root: &SystemRoot, errors: &mut ErrorLog) -> Software {
    errors.record(SectionName::Software, "software", ErrorKind::Unsupported, "package databases are not read yet");
    Software::default()
}

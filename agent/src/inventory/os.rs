//! The os section: os-release plus the running kernel.

use muster_shared::v1::Os;

use crate::root::{ErrorLog, SystemRoot};

pub fn collect(_root: &SystemRoot, _errors: &mut ErrorLog) -> Option<Os> {
    None
}

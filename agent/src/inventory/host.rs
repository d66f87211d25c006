//! The host section: hostname, machine-id, boot time and virtualization.

use muster_shared::v1::Host;

use crate::root::{ErrorLog, SystemRoot};

pub fn collect(_root: &SystemRoot, _errors: &mut ErrorLog) -> Host {
    Host::default()
}

//! Firmware identity: DMI values from sysfs and the raw SMBIOS tables (memory modules, processors).

use std::path::Path;

use muster_shared::v1::{Bios, Board, Chassis, ErrorKind, MemoryModule, Processor, SectionName, SystemInfo};

use crate::root::{ErrorLog, SystemRoot};

/// Everything the firmware says about the machine.
#[derive(Debug, Default)]
pub struct Firmware {
    pub system: Option<SystemInfo>,
    pub board: Option<Board>,
    pub bios: Option<Bios>,
    pub chassis: Option<Chassis>,
    pub memory_modules: Vec<MemoryModule>,
    pub processors: Vec<Processor>,
}

/// Reads the live DMI/SMBIOS data, or decodes `smbios_dump` instead when given.
pub fn collect(_root: &SystemRoot, _smbios_dump: Option<&Path>, errors: &mut ErrorLog) -> Firmware {
    errors.record(SectionName::Hardware, "smbios", ErrorKind::Unsupported, "firmware tables are not read yet");
    Firmware::default()
}

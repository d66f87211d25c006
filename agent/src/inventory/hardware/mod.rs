//! The hardware section: firmware identity plus what the running kernel sees (CPUs, memory, disks, mounts, NICs).

pub mod firmware;

use std::path::Path;

use muster_shared::v1::{Hardware, SectionName};

use crate::root::{ErrorLog, SystemRoot};

/// Collects the hardware section. On a mounted root only a given SMBIOS dump can be read: the live devices belong to
/// the machine the agent runs on, not to the inspected system.
pub fn collect(root: &SystemRoot, smbios_dump: Option<&Path>, errors: &mut ErrorLog) -> Hardware {
    let firmware = if root.is_live() || smbios_dump.is_some() {
        firmware::collect(root, smbios_dump, errors)
    } else {
        errors.not_live(SectionName::Hardware, "firmware");
        firmware::Firmware::default()
    };
    let mut hardware = Hardware {
        system: firmware.system,
        board: firmware.board,
        bios: firmware.bios,
        chassis: firmware.chassis,
        memory_modules: firmware.memory_modules,
        processors: firmware.processors,
        ..Hardware::default()
    };
    if !root.is_live() {
        for item in ["cpu", "memory", "disks", "filesystems", "network_interfaces"] {
            errors.not_live(SectionName::Hardware, item);
        }
        return hardware;
    }
    hardware.cpu = None;
    hardware
}

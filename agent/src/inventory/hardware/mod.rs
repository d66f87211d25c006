//! The hardware section: firmware identity plus what the running kernel sees (CPUs, memory, disks, mounts, NICs).

pub mod cpu;
pub mod disks;
pub mod filesystems;
pub mod firmware;
pub mod network;

use std::path::Path;

use muster_shared::v1::{ErrorKind, Hardware, SectionName};

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
    let (cpu, memory) = cpu::probe();
    if cpu.is_none() || memory.is_none() {
        errors.record(
            SectionName::Hardware,
            "cpu",
            ErrorKind::Io,
            "the kernel's processor and memory counters could not be read",
        );
    }
    hardware.cpu = cpu;
    hardware.memory = memory;
    hardware.disks = disks::probe(root, errors);
    hardware.filesystems = filesystems::probe(root, errors);
    hardware.network_interfaces = network::probe(root, errors);
    hardware
}

//! The hardware section: firmware identity plus what the running kernel sees (CPUs, memory, disks, mounts, NICs,
//! displays, the TPM and batteries).

pub mod cpu;
pub mod disks;
pub mod filesystems;
pub mod firmware;
pub mod monitors;
pub mod network;
pub mod power;

use std::path::Path;

use muster_shared::v1::{ErrorKind, Hardware, SectionName};

use crate::root::{ErrorLog, SystemRoot};

/// Collects the hardware section of the running system or of a mounted root. On a mounted root the firmware and the
/// live devices belong to the machine the agent runs on, not to the inspected system, so they are absent.
pub fn collect(root: &SystemRoot, errors: &mut ErrorLog) -> Hardware {
    let firmware = if root.is_live() {
        // A Mac has no SMBIOS table to read; its identity is in the I/O Registry.
        #[cfg(target_os = "macos")]
        let firmware = crate::inventory::macos::collect_firmware(errors);
        #[cfg(not(target_os = "macos"))]
        let firmware = firmware::collect(root, None, errors);
        firmware
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
        for item in ["cpu", "memory", "disks", "filesystems", "network_interfaces", "monitors", "tpm", "batteries"] {
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
    // Windows has no /sys or /proc: its volumes come from the system itself, its drives and adapters from CIM, its
    // screens' EDIDs from the registry (never from the paths Linux has, which Wine would even answer with the Linux
    // host's own devices).
    #[cfg(windows)]
    {
        use crate::inventory::windows;
        (hardware.disks, hardware.network_interfaces) = windows::collect_devices(errors);
        hardware.filesystems = windows::collect_filesystems(errors);
        hardware.monitors = windows::collect_monitors(errors);
        hardware.tpm = windows::collect_tpm(errors);
        hardware.batteries = windows::collect_batteries(errors);
    }
    #[cfg(not(windows))]
    {
        // A Mac has no /sys/block; system_profiler lists its drives.
        #[cfg(target_os = "macos")]
        {
            hardware.disks = crate::inventory::macos::collect_disks(errors);
        }
        #[cfg(not(target_os = "macos"))]
        {
            hardware.disks = disks::probe(root, errors);
        }
        hardware.filesystems = filesystems::probe(root, errors);
        hardware.network_interfaces = network::probe(root, errors);
        hardware.monitors = monitors::probe(root, errors);
        // A Mac has no /sys/class/power_supply: system_profiler describes its battery. It has no TPM either (its
        // Secure Enclave is not one, and is not read).
        #[cfg(target_os = "macos")]
        {
            hardware.batteries = crate::inventory::macos::collect_batteries(errors);
        }
        #[cfg(not(target_os = "macos"))]
        {
            hardware.tpm = power::probe_tpm(root, errors);
            hardware.batteries = power::probe_batteries(root, errors);
        }
    }
    hardware
}

/// The hardware section of a saved SMBIOS table: its firmware data only. The dump may come from another machine,
/// so nothing of the machine the agent runs on is mixed in, and what a dump cannot hold is listed as not available.
pub fn from_smbios_dump(dump: &Path, errors: &mut ErrorLog) -> Hardware {
    let firmware = firmware::collect(&SystemRoot::live(), Some(dump), errors);
    for item in ["cpu", "memory", "disks", "filesystems", "network_interfaces", "monitors", "tpm", "batteries"] {
        errors.record(
            SectionName::Hardware,
            item,
            ErrorKind::NotAvailable,
            "not in an SMBIOS dump, which holds the firmware tables only",
        );
    }
    Hardware {
        system: firmware.system,
        board: firmware.board,
        bios: firmware.bios,
        chassis: firmware.chassis,
        memory_modules: firmware.memory_modules,
        processors: firmware.processors,
        ..Hardware::default()
    }
}

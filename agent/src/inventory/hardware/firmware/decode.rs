//! Turns SMBIOS structures (types 0, 1, 2, 3, 4 and 17) into the report's firmware fields, as dmidecode reads them.
//!
//! Values come out trimmed but not yet checked for placeholders: `junk::scrub` does that once, after sysfs has
//! filled the gaps, so a placeholder seen in both sources is reported once.

use muster_shared::v1::{Bios, Board, Chassis, MemoryModule, Processor, SystemInfo};

use super::Firmware;
use super::entry_point::Version;
use super::error::SmbiosError;
use super::names;
use super::table::{self, Structure};

/// A located SMBIOS table with the version that decodes it, from whichever source held it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmbiosTable {
    pub version: Version,
    /// Announced by 2.x entry points; the walk stops there.
    pub structure_count: Option<u16>,
    pub bytes: Vec<u8>,
}

/// The decoded firmware and every problem met on the way; the firmware holds what was readable.
#[derive(Debug, Default)]
pub struct Decoded {
    pub firmware: Firmware,
    pub problems: Vec<SmbiosError>,
}

/// Decodes the first BIOS, system, board and chassis structure, every present processor and every memory device.
pub fn decode(smbios: &SmbiosTable) -> Decoded {
    let table = table::walk(&smbios.bytes, smbios.structure_count);
    let mut problems = Vec::new();
    let mut firmware = Firmware::default();
    for s in &table.structures {
        match s.kind {
            0 if firmware.bios.is_none() => firmware.bios = Some(bios(s, &mut problems)),
            1 if firmware.system.is_none() => firmware.system = Some(system(s, smbios.version, &mut problems)),
            2 if firmware.board.is_none() => firmware.board = Some(board(s, &mut problems)),
            3 if firmware.chassis.is_none() => firmware.chassis = Some(chassis(s, &mut problems)),
            4 => firmware.processors.extend(processor(s, &mut problems)),
            17 => firmware.memory_modules.extend(memory_device(s, &mut problems)),
            _ => {}
        }
    }
    problems.extend(table.problem);
    Decoded { firmware, problems }
}

fn bios(s: &Structure, problems: &mut Vec<SmbiosError>) -> Bios {
    // 0xFF in either half means the firmware does not give its release (SMBIOS 2.4+ field).
    let release = match (s.byte(0x14), s.byte(0x15)) {
        (Some(major), Some(minor)) if major != 0xFF && minor != 0xFF => Some(format!("{major}.{minor}")),
        _ => None,
    };
    Bios {
        vendor: s.string(0x04, problems),
        version: s.string(0x05, problems),
        date: s.string(0x08, problems),
        release,
    }
}

fn system(s: &Structure, version: Version, problems: &mut Vec<SmbiosError>) -> SystemInfo {
    SystemInfo {
        vendor: s.string(0x04, problems),
        product: s.string(0x05, problems),
        version: s.string(0x06, problems),
        serial: s.string(0x07, problems),
        uuid: s.bytes(0x08, 16).map(|bytes| format_uuid(bytes, version)),
        sku: s.string(0x19, problems),
        family: s.string(0x1A, problems),
    }
}

/// SMBIOS 2.6 and later store the first three UUID fields little-endian (RFC 4122 wire order before that).
/// All-zero and all-0xFF UUIDs are formatted too; the placeholder check drops and reports them.
fn format_uuid(bytes: &[u8], version: Version) -> String {
    let order: [usize; 16] = if version >= Version::new(2, 6) {
        [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15]
    } else {
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    };
    let mut out = String::with_capacity(36);
    for (position, index) in order.iter().enumerate() {
        if matches!(position, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let byte = bytes.get(*index).copied().unwrap_or(0);
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn board(s: &Structure, problems: &mut Vec<SmbiosError>) -> Board {
    Board {
        vendor: s.string(0x04, problems),
        product: s.string(0x05, problems),
        version: s.string(0x06, problems),
        serial: s.string(0x07, problems),
        asset_tag: s.string(0x08, problems),
    }
}

fn chassis(s: &Structure, problems: &mut Vec<SmbiosError>) -> Chassis {
    Chassis {
        chassis_type: s.byte(0x05).and_then(names::chassis_type).map(str::to_string),
        vendor: s.string(0x04, problems),
        serial: s.string(0x07, problems),
        asset_tag: s.string(0x08, problems),
    }
}

/// Sockets the firmware marks empty are left out, and so are those "disabled by BIOS" (status 3): VMware describes
/// 128 sockets and marks every one beyond the VM's vCPUs that way, which would otherwise read as 128 processors.
fn processor(s: &Structure, problems: &mut Vec<SmbiosError>) -> Option<Processor> {
    const POPULATED: u8 = 0x40;
    const DISABLED_BY_BIOS: u8 = 0x03;
    let status = s.byte(0x18)?;
    if status & POPULATED == 0 || status & 0x07 == DISABLED_BY_BIOS {
        return None;
    }
    // SMBIOS 3.0 moved counts above 254 to 16-bit fields, flagged by 0xFF in the old byte.
    let count = |old: usize, wide: usize| match s.byte(old) {
        Some(0) | None => None,
        Some(0xFF) => Some(s.word(wide).map_or(0xFF, u32::from)),
        Some(n) => Some(u32::from(n)),
    };
    Some(Processor {
        socket: s.string(0x04, problems),
        manufacturer: s.string(0x07, problems),
        version: s.string(0x10, problems),
        max_speed_mhz: s.word(0x14).filter(|mhz| *mhz != 0).map(u32::from),
        current_speed_mhz: s.word(0x16).filter(|mhz| *mhz != 0).map(u32::from),
        core_count: count(0x23, 0x2A),
        thread_count: count(0x25, 0x2E),
        serial: s.string(0x20, problems),
    })
}

/// One memory slot. An empty slot keeps its slot, bank, type and form factor; like dmidecode 3.4 the rest of an
/// empty slot is ignored, since firmware fills it with leftovers ("NO DIMM", stale part numbers).
fn memory_device(s: &Structure, problems: &mut Vec<SmbiosError>) -> Option<MemoryModule> {
    // Below 0x15 bytes (the SMBIOS 2.1 layout) not even the slot's name can be read.
    if s.length() < 0x15 {
        return None;
    }
    let size_code = s.word(0x0C)?;
    let mut module = MemoryModule {
        slot: s.string(0x10, problems),
        bank: s.string(0x11, problems),
        size_bytes: memory_size(size_code, s.dword(0x1C)),
        memory_type: s.byte(0x12).and_then(names::memory_type).map(str::to_string),
        form_factor: s.byte(0x0E).and_then(names::memory_form_factor).map(str::to_string),
        ..MemoryModule::default()
    };
    if size_code == 0 {
        return Some(module);
    }
    // The 32-bit speeds (SMBIOS 3.3) only count when the 16-bit field says 0xFFFF; they sit at 0x54 and 0x58.
    let wide = |offset| if s.length() >= 0x5C { s.dword(offset) } else { None };
    module.speed_mts = s.word(0x15).and_then(|code| memory_speed(code, wide(0x54)));
    module.manufacturer = s.string(0x17, problems);
    module.serial = s.string(0x18, problems);
    module.part_number = s.string(0x1A, problems);
    module.configured_speed_mts = s.word(0x20).and_then(|code| memory_speed(code, wide(0x58)));
    Some(module)
}

/// Size in bytes: 0 is an empty slot, 0xFFFF unknown, 0x7FFF points to the 32-bit extended size in MiB (2.7+),
/// and bit 15 switches the 15-bit value from MiB to KiB.
fn memory_size(code: u16, extended: Option<u32>) -> Option<u64> {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    match (code, extended) {
        (0 | 0xFFFF, _) => None,
        (0x7FFF, Some(mib)) => Some(u64::from(mib & 0x7FFF_FFFF) * MIB),
        (code, _) if code & 0x8000 != 0 => Some(u64::from(code & 0x7FFF) * KIB),
        (code, _) => Some(u64::from(code) * MIB),
    }
}

fn memory_speed(code: u16, extended: Option<u32>) -> Option<u32> {
    match code {
        0 => None,
        0xFFFF => extended.filter(|mts| *mts != 0),
        mts => Some(u32::from(mts)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: [u8; 16] =
        [0x81, 0xd8, 0xc3, 0xb4, 0x92, 0x51, 0xcb, 0x11, 0xaa, 0x19, 0xe6, 0x93, 0x26, 0x35, 0xbc, 0x8b];

    #[test]
    fn uuid_byte_order_follows_the_smbios_version() {
        assert_eq!(format_uuid(&UUID, Version::new(2, 7)), "b4c3d881-5192-11cb-aa19-e6932635bc8b");
        assert_eq!(format_uuid(&UUID, Version::new(3, 0)), "b4c3d881-5192-11cb-aa19-e6932635bc8b");
        assert_eq!(format_uuid(&UUID, Version::new(2, 5)), "81d8c3b4-9251-cb11-aa19-e6932635bc8b");
    }

    #[test]
    fn memory_sizes_cover_every_encoding() {
        assert_eq!(memory_size(0, None), None);
        assert_eq!(memory_size(0xFFFF, None), None);
        assert_eq!(memory_size(8192, None), Some(8 << 30));
        assert_eq!(memory_size(0x8000 | 512, None), Some(512 << 10));
        assert_eq!(memory_size(0x7FFF, Some(65536)), Some(64 << 30));
        assert_eq!(memory_size(0x7FFF, Some(0x8000_0000 | 32768)), Some(32 << 30));
        assert_eq!(memory_size(0x7FFF, None), Some(0x7FFF << 20));
    }

    #[test]
    fn memory_speeds_use_the_wide_field_only_when_flagged() {
        assert_eq!(memory_speed(0, Some(4800)), None);
        assert_eq!(memory_speed(2933, Some(4800)), Some(2933));
        assert_eq!(memory_speed(0xFFFF, Some(70_000)), Some(70_000));
        assert_eq!(memory_speed(0xFFFF, None), None);
    }
}

//! SMBIOS enumerations in words, spelled as dmidecode prints them so reports read like the tool admins know.
//!
//! The codes meaning "Unknown" map to `None`: an absent value says the same without pretending to be data.

/// Chassis type (type 3, offset 0x05); bit 7 is the lock flag, not part of the type.
pub fn chassis_type(code: u8) -> Option<&'static str> {
    const NAMES: [&str; 0x24] = [
        "Other",
        "Unknown",
        "Desktop",
        "Low Profile Desktop",
        "Pizza Box",
        "Mini Tower",
        "Tower",
        "Portable",
        "Laptop",
        "Notebook",
        "Hand Held",
        "Docking Station",
        "All In One",
        "Sub Notebook",
        "Space-saving",
        "Lunch Box",
        "Main Server Chassis",
        "Expansion Chassis",
        "Sub Chassis",
        "Bus Expansion Chassis",
        "Peripheral Chassis",
        "RAID Chassis",
        "Rack Mount Chassis",
        "Sealed-case PC",
        "Multi-system",
        "CompactPCI",
        "AdvancedTCA",
        "Blade",
        "Blade Enclosure",
        "Tablet",
        "Convertible",
        "Detachable",
        "IoT Gateway",
        "Embedded PC",
        "Mini PC",
        "Stick PC",
    ];
    lookup(&NAMES, code & 0x7F)
}

/// Memory device type (type 17, offset 0x12).
pub fn memory_type(code: u8) -> Option<&'static str> {
    const NAMES: [&str; 0x24] = [
        "Other",
        "Unknown",
        "DRAM",
        "EDRAM",
        "VRAM",
        "SRAM",
        "RAM",
        "ROM",
        "Flash",
        "EEPROM",
        "FEPROM",
        "EPROM",
        "CDRAM",
        "3DRAM",
        "SDRAM",
        "SGRAM",
        "RDRAM",
        "DDR",
        "DDR2",
        "DDR2 FB-DIMM",
        "Reserved",
        "Reserved",
        "Reserved",
        "DDR3",
        "FBD2",
        "DDR4",
        "LPDDR",
        "LPDDR2",
        "LPDDR3",
        "LPDDR4",
        "Logical non-volatile device",
        "HBM",
        "HBM2",
        "DDR5",
        "LPDDR5",
        "HBM3",
    ];
    lookup(&NAMES, code).filter(|name| *name != "Reserved")
}

/// Memory device form factor (type 17, offset 0x0E).
pub fn memory_form_factor(code: u8) -> Option<&'static str> {
    const NAMES: [&str; 0x11] = [
        "Other",
        "Unknown",
        "SIMM",
        "SIP",
        "Chip",
        "DIP",
        "ZIP",
        "Proprietary Card",
        "DIMM",
        "TSOP",
        "Row Of Chips",
        "RIMM",
        "SODIMM",
        "SRIMM",
        "FB-DIMM",
        "Die",
        "CAMM",
    ];
    lookup(&NAMES, code)
}

/// Codes start at 1; 0 and anything past the table are out of spec and read as absent, like "Unknown".
fn lookup(names: &[&'static str], code: u8) -> Option<&'static str> {
    let name = names.get(usize::from(code).checked_sub(1)?)?;
    (*name != "Unknown").then_some(*name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_dmidecode() {
        assert_eq!(chassis_type(0x0A), Some("Notebook"));
        assert_eq!(chassis_type(0x83), Some("Desktop"));
        assert_eq!(chassis_type(0x17), Some("Rack Mount Chassis"));
        assert_eq!(chassis_type(0x24), Some("Stick PC"));
        assert_eq!(chassis_type(0x02), None);
        assert_eq!(chassis_type(0x00), None);
        assert_eq!(chassis_type(0x25), None);
        assert_eq!(memory_type(0x18), Some("DDR3"));
        assert_eq!(memory_type(0x1A), Some("DDR4"));
        assert_eq!(memory_type(0x1E), Some("LPDDR4"));
        assert_eq!(memory_type(0x22), Some("DDR5"));
        assert_eq!(memory_type(0x15), None);
        assert_eq!(memory_form_factor(0x09), Some("DIMM"));
        assert_eq!(memory_form_factor(0x0D), Some("SODIMM"));
        assert_eq!(memory_form_factor(0x02), None);
        assert_eq!(memory_form_factor(0xFF), None);
    }
}

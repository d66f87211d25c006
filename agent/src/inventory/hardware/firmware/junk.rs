//! Placeholder values firmware vendors leave in DMI fields, recognised so they never pose as serials or identities.
//!
//! A placeholder is worse than no value: serials such as `To Be Filled By O.E.M.` or the AMI default UUID
//! `03000200-0400-0500-0006-000700080009` are shared by thousands of machines, and the collector would merge them
//! into one asset. Each discarded value is reported as `JunkValue`, naming the field and the value.

use muster_shared::v1::{ErrorKind, SectionName};

use super::Firmware;
use crate::root::ErrorLog;

/// Whole values (compared case-insensitively, inner whitespace collapsed) that only ever mean "not filled in".
const PLACEHOLDERS: &[&str] = &[
    "to be filled by o.e.m.",
    "to be filled by o.e.m",
    "to be filled by oem",
    "fill by oem",
    "default string",
    "default",
    "not specified",
    "not applicable",
    "not available",
    "not present",
    "not defined",
    "not settable",
    "none",
    "null",
    "n/a",
    "unknown",
    "undefined",
    "invalid",
    "empty",
    "oem",
    "o.e.m.",
    "x.x",
    "0123456789",
    "123456789",
    "1234567890",
    "9876543210",
    "system serial number",
    "system product name",
    "system manufacturer",
    "system version",
    "system name",
    "system sku",
    "chassis serial number",
    "chassis manufacture",
    "chassis manufacturer",
    "chassis version",
    "base board serial number",
    "board serial number",
    "serial number",
    "part number",
    "sku",
    "no asset information",
    "no asset tag",
    "asset tag",
    "asset-1234567890",
    "type1productconfigid",
    "type2 - board serial number",
    "type2 - board asset tag",
    // The UUID AMI firmware ships by default; boards that never got their own all report it.
    "03000200-0400-0500-0006-000700080009",
];

/// Words that AMI's memory templates number per slot (`SerNum0`, `PartNum3`, `Manufacturer01`).
const NUMBERED_PLACEHOLDERS: &[&str] = &["sernum", "partnum", "assettagnum", "manufacturer", "module manufacturer"];

/// True when `value` carries no information: a known placeholder, blank, or a run of one filler character.
///
/// Runs of filler are `0` of any length (erased or unprogrammed fields, `00000000`), `F` from four on (erased flash
/// reads as 0xFF; shorter runs could be a real revision such as `F`), and `X` from two on: `XXXXXXX` is how
/// vendors' templates and people sharing dumps mask a serial, and no vendor issues serials made of X alone.
/// Separators (`-`, `:`, `.`, spaces) are ignored so all-zero UUIDs and MACs count too.
pub fn is_junk(value: &str) -> bool {
    let normalized = value.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
    if normalized.is_empty() || PLACEHOLDERS.contains(&normalized.as_str()) {
        return true;
    }
    if NUMBERED_PLACEHOLDERS.iter().any(|word| {
        normalized
            .strip_prefix(word)
            .is_some_and(|rest| !rest.is_empty() && rest.trim_start().bytes().all(|b| b.is_ascii_digit()))
    }) {
        return true;
    }
    let filler: Vec<char> = normalized.chars().filter(|c| !matches!(c, '-' | ':' | '.' | ' ' | '_')).collect();
    let run_of = |c: char| filler.iter().all(|f| *f == c);
    match filler.first() {
        // Only separators, or only bytes that were not text (shown as U+FFFD).
        None => true,
        Some('\u{FFFD}') => run_of('\u{FFFD}'),
        Some('0') => run_of('0'),
        Some('f') => filler.len() >= 4 && run_of('f'),
        Some('x') => filler.len() >= 2 && run_of('x'),
        Some(_) => false,
    }
}

/// Drops every placeholder from `firmware` and reports it. Enumerated values (chassis and memory types, the BIOS
/// release) are the decoder's own words and are not checked.
pub fn scrub(firmware: &mut Firmware, errors: &mut ErrorLog) {
    let mut check = |item: String, field: &mut Option<String>| {
        if let Some(value) = field.take_if(|value| is_junk(value)) {
            errors.record(
                SectionName::Hardware,
                item,
                ErrorKind::JunkValue,
                format!("discarded placeholder value {value:?}"),
            );
        }
    };
    if let Some(s) = &mut firmware.system {
        check("system.vendor".into(), &mut s.vendor);
        check("system.product".into(), &mut s.product);
        check("system.version".into(), &mut s.version);
        check("system.serial".into(), &mut s.serial);
        check("system.uuid".into(), &mut s.uuid);
        check("system.sku".into(), &mut s.sku);
        check("system.family".into(), &mut s.family);
    }
    if let Some(b) = &mut firmware.board {
        check("board.vendor".into(), &mut b.vendor);
        check("board.product".into(), &mut b.product);
        check("board.version".into(), &mut b.version);
        check("board.serial".into(), &mut b.serial);
        check("board.asset_tag".into(), &mut b.asset_tag);
    }
    if let Some(b) = &mut firmware.bios {
        check("bios.vendor".into(), &mut b.vendor);
        check("bios.version".into(), &mut b.version);
        check("bios.date".into(), &mut b.date);
    }
    if let Some(c) = &mut firmware.chassis {
        check("chassis.vendor".into(), &mut c.vendor);
        check("chassis.serial".into(), &mut c.serial);
        check("chassis.asset_tag".into(), &mut c.asset_tag);
    }
    for (i, m) in firmware.memory_modules.iter_mut().enumerate() {
        check(format!("memory_modules[{i}].slot"), &mut m.slot);
        check(format!("memory_modules[{i}].bank"), &mut m.bank);
        check(format!("memory_modules[{i}].manufacturer"), &mut m.manufacturer);
        check(format!("memory_modules[{i}].serial"), &mut m.serial);
        check(format!("memory_modules[{i}].part_number"), &mut m.part_number);
    }
    for (i, p) in firmware.processors.iter_mut().enumerate() {
        check(format!("processors[{i}].socket"), &mut p.socket);
        check(format!("processors[{i}].manufacturer"), &mut p.manufacturer);
        check(format!("processors[{i}].version"), &mut p.version);
        check(format!("processors[{i}].serial"), &mut p.serial);
    }
}

#[cfg(test)]
mod tests {
    use muster_shared::v1::SystemInfo;

    use super::*;

    #[test]
    fn placeholders_are_junk() {
        for value in [
            "To Be Filled By O.E.M.",
            "To be filled by O.E.M.",
            "  to be  filled by o.e.m.  ",
            "Default string",
            "System Serial Number",
            "0123456789",
            "Not Specified",
            "None",
            "N/A",
            "Not Applicable",
            "Not Present",
            "Chassis Serial Number",
            "Base Board Serial Number",
            "OEM",
            "00000000",
            "0",
            "0000",
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "FFFFFFFF",
            "",
            "   ",
            "XXXXXXX",
            "xxxxxxxxxx",
            "XX",
            "Undefined",
            "Unknown",
            "SerNum0",
            "PartNum3",
            "Manufacturer01",
            "Fill By OEM",
            "No Asset Information",
            "x.x",
            "03000200-0400-0500-0006-000700080009",
            "\u{FFFD}\u{FFFD}\u{FFFD}",
            "----",
        ] {
            assert!(is_junk(value), "{value:?} should be junk");
        }
    }

    #[test]
    fn real_values_are_kept() {
        for value in [
            "PF01VVCA",
            "GJET75WW (2.25 )",
            "LENOVO",
            "F4",
            "FFF",
            "F8",
            "X",
            "X399 AORUS XTREME",
            "XPS 13 9365",
            "00000000-0000-0000-0000-0cc47a133878",
            "31433646-3635-3532-3445-3546ffffffff",
            "1.0",
            "00AD00B300AD",
            "Manufacturer Inc.",
            "None Such Ltd",
            "0DVT6M",
            "000000000001",
        ] {
            assert!(!is_junk(value), "{value:?} should be kept");
        }
    }

    #[test]
    fn scrub_drops_and_reports_each_placeholder() {
        let mut firmware = Firmware {
            system: Some(SystemInfo {
                vendor: Some("MSI".into()),
                serial: Some("To be filled by O.E.M.".into()),
                ..SystemInfo::default()
            }),
            ..Firmware::default()
        };
        let mut errors = ErrorLog::new();
        scrub(&mut firmware, &mut errors);
        let system = firmware.system.unwrap();
        assert_eq!(system.vendor.as_deref(), Some("MSI"));
        assert_eq!(system.serial, None);
        let [error] = errors.as_slice() else { panic!("one error expected: {errors:?}") };
        assert_eq!(error.item, "system.serial");
        assert_eq!(error.kind, ErrorKind::JunkValue);
        assert!(error.message.contains("\"To be filled by O.E.M.\""), "{}", error.message);
    }
}

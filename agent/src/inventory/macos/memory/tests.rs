//! The memory reader on four real Macs' `system_profiler` text (GLPI agent's captures, agent/testdata/README.md),
//! against what GLPI's own reader gets from the same files (t/tasks/inventory/macos/memory.t at the same commit:
//! slots, capacity in MiB, type, speed, serial and part number), with the differences named where they are.

use super::*;

fn read(name: &str) -> Vec<MemoryModule> {
    let path = format!("{}/testdata/macos/system_profiler-{name}.txt", env!("CARGO_MANIFEST_DIR"));
    memory_modules(&std::fs::read_to_string(path).unwrap())
}

const MIB: u64 = 1 << 20;

/// (slot, bank, MiB, type, speed, serial, part number) of each module.
type Row<'a> =
    (Option<&'a str>, Option<&'a str>, Option<u64>, Option<&'a str>, Option<u32>, Option<&'a str>, Option<&'a str>);

fn rows(modules: &[MemoryModule]) -> Vec<Row<'_>> {
    modules
        .iter()
        .map(|m| {
            (
                m.slot.as_deref(),
                m.bank.as_deref(),
                m.size_bytes.map(|b| b / MIB),
                m.memory_type.as_deref(),
                m.speed_mts,
                m.serial.as_deref(),
                m.part_number.as_deref(),
            )
        })
        .collect()
}

#[test]
fn a_power_mac_has_two_modules_and_six_empty_slots() {
    let modules = read("10.5-powerpc");
    // GLPI: slots 0–7, two of 1024 MiB DDR2 SDRAM with no speed (PC2-4200U-444 names a class), six `Empty`.
    assert_eq!(modules.len(), 8);
    let r = rows(&modules);
    assert_eq!(r[0], (Some("DIMM0/J6700"), None, Some(1024), Some("DDR2 SDRAM"), None, None, None));
    assert_eq!(r[1], (Some("DIMM1/J6800"), None, Some(1024), Some("DDR2 SDRAM"), None, None, None));
    for empty in &r[2..] {
        assert_eq!((empty.2, empty.3, empty.5), (None, None, None), "{empty:?}");
    }
    assert_eq!(modules.iter().filter_map(|m| m.size_bytes).sum::<u64>() / MIB, 2048, "GLPI's total");
}

#[test]
fn a_mac_mini_has_two_banks_of_ddr3() {
    // GLPI: two of 2048 MiB DDR3 at 1067 with serial `0x00000000` (kept by GLPI; all zeros is no serial here).
    assert_eq!(
        rows(&read("10.6-macmini")),
        [
            (Some("DIMM0"), Some("BANK 0"), Some(2048), Some("DDR3"), Some(1067), None, None),
            (Some("DIMM0"), Some("BANK 1"), Some(2048), Some("DDR3"), Some(1067), None, None),
        ]
    );
}

#[test]
fn an_intel_mac_decodes_its_part_numbers() {
    let modules = read("10.6-intel");
    // GLPI: 1024 MiB DDR2 SDRAM at 667 each; serial 0xD5289015; part numbers 8HTF12864HDY-667E1 and 1024636750S.
    assert_eq!(
        rows(&modules),
        [
            (
                Some("DIMM0"),
                Some("BANK 0"),
                Some(1024),
                Some("DDR2 SDRAM"),
                Some(667),
                Some("0xD5289015"),
                Some("8HTF12864HDY-667E1")
            ),
            (Some("DIMM1"), Some("BANK 1"), Some(1024), Some("DDR2 SDRAM"), Some(667), None, Some("1024636750S")),
        ]
    );
    // JEDEC's code, as printed (0x2C is Micron's); the all-zero one is none.
    assert_eq!(modules[0].manufacturer.as_deref(), Some("0x2C00000000000000"));
    assert_eq!(modules[1].manufacturer, None);
}

#[test]
fn apple_silicon_reports_one_block_of_integrated_memory() {
    // GLPI: one of 16384 MiB LPDDR4 ("Integrated memory").
    assert_eq!(rows(&read("11.0-apple-M1")), [(None, None, Some(16384), Some("LPDDR4"), None, None, None)]);
}

#[test]
fn output_without_a_memory_section_has_no_modules() {
    let text = std::fs::read_to_string(format!(
        "{}/testdata/macos/system_profiler-10.6-SPSoftwareDataType.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert!(memory_modules(&text).is_empty());
}

#[test]
fn a_field_with_nothing_after_it_is_no_slot() {
    // The Mac mini's first bank with its type emptied, as system_profiler prints a field it has no value for: the
    // fields after it (speed, status, …) stay in that slot instead of starting a new one.
    let path = format!("{}/testdata/macos/system_profiler-10.6-macmini.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let emptied = text.replacen("Type: DDR3", "Type:", 1);
    assert_ne!(emptied, text);
    let modules = memory_modules(&emptied);
    let r = rows(&modules);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0], (Some("DIMM0"), Some("BANK 0"), Some(2048), None, Some(1067), None, None));
}

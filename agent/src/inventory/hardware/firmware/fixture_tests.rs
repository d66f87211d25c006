//! Decodes every captured SMBIOS dump in `testdata/smbios` and compares it with dmidecode's decoding beside it.
//!
//! Expected values come from the dmidecode text with two rules of ours applied: placeholders (per `is_junk`) and
//! dmidecode's `Unknown`/`Not Specified`/`<BAD INDEX>` read as absent, and an empty memory slot has no speed,
//! manufacturer, serial or part number (dmidecode 3.4 stops there too; the 3.2 captures still print them).

use std::cell::Cell;
use std::path::{Path, PathBuf};

use muster_shared::v1::{ErrorKind, MemoryModule, Processor};

use super::dmidecode_text::{self, Block};
use super::entry_point::Version;
use super::{Firmware, collect, is_junk, source};
use crate::root::{ErrorLog, SystemRoot};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/smbios")
}

/// Every expected text listed in INDEX.tsv, with the dump it describes.
fn cases() -> Vec<(PathBuf, PathBuf)> {
    let index = std::fs::read_to_string(testdata().join("INDEX.tsv")).unwrap();
    let cases: Vec<_> = index
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let expected = testdata().join(line.split('\t').next().unwrap());
            (dump_for(&expected), expected)
        })
        .collect();
    assert_eq!(cases.len(), 22);
    cases
}

/// `dir/expected.dmidecode-3.4.txt` describes `dir/DMI`; `x.orig.txt` or `x.dmidecode-3.4.txt` describe `x.bin`,
/// `x.dat` or `x.smbios.dat`.
fn dump_for(expected: &Path) -> PathBuf {
    let dir = expected.parent().unwrap();
    let name = expected.file_name().unwrap().to_str().unwrap();
    if name == "expected.dmidecode-3.4.txt" {
        return dir.join("DMI");
    }
    let stem = name.strip_suffix(".dmidecode-3.4.txt").or_else(|| name.strip_suffix(".orig.txt")).unwrap();
    [".bin", ".dat", ".smbios.dat"]
        .iter()
        .map(|ext| dir.join(format!("{stem}{ext}")))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no dump for {}", expected.display()))
}

fn decode(dump: &Path) -> (Firmware, ErrorLog) {
    let mut errors = ErrorLog::new();
    let firmware = collect(&SystemRoot::mounted("/nonexistent"), Some(dump), &mut errors);
    (firmware, errors)
}

/// Expected values of one capture, counting the strings dmidecode found missing (`<BAD INDEX>`): the decoder
/// must report exactly as many.
#[derive(Default)]
struct Expect {
    bad_indexes: Cell<usize>,
}

impl Expect {
    /// A dmidecode string attribute as the decoder should report it.
    fn text(&self, block: Option<&Block>, key: &str) -> Option<String> {
        let value = block?.get(key)?.trim();
        if value == "<BAD INDEX>" {
            self.bad_indexes.set(self.bad_indexes.get() + 1);
            return None;
        }
        (value != "<OUT OF SPEC>" && !is_junk(value)).then(|| value.to_string())
    }
}

/// `8 GB`, `256 MB`, `512 kB`; `No Module Installed` and `Unknown` are absent.
fn size(value: Option<&str>) -> Option<u64> {
    let (number, unit) = value?.split_once(' ')?;
    let shift = match unit {
        "bytes" => 0,
        "kB" => 10,
        "MB" => 20,
        "GB" => 30,
        "TB" => 40,
        _ => return None,
    };
    Some(number.parse::<u64>().ok()? << shift)
}

/// `2400 MT/s`, `3300 MHz`; `Unknown` is absent.
fn number_with_unit(value: Option<&str>) -> Option<u32> {
    value?.split(' ').next()?.parse().ok()
}

fn expected_memory(x: &Expect, block: &Block) -> MemoryModule {
    let b = Some(block);
    let mut module = MemoryModule {
        slot: x.text(b, "Locator"),
        bank: x.text(b, "Bank Locator"),
        size_bytes: size(block.get("Size")),
        memory_type: x.text(b, "Type"),
        form_factor: x.text(b, "Form Factor"),
        ..MemoryModule::default()
    };
    if block.get("Size") == Some("No Module Installed") {
        return module;
    }
    module.speed_mts = number_with_unit(block.get("Speed"));
    module.configured_speed_mts =
        number_with_unit(block.get("Configured Memory Speed").or(block.get("Configured Clock Speed")));
    module.manufacturer = x.text(b, "Manufacturer");
    module.serial = x.text(b, "Serial Number");
    module.part_number = x.text(b, "Part Number");
    module
}

fn expected_processor(x: &Expect, block: &Block) -> Option<Processor> {
    let status = block.get("Status")?;
    if !status.starts_with("Populated") || status.contains("Disabled By BIOS") {
        return None;
    }
    let b = Some(block);
    Some(Processor {
        socket: x.text(b, "Socket Designation"),
        manufacturer: x.text(b, "Manufacturer"),
        version: x.text(b, "Version"),
        max_speed_mhz: number_with_unit(block.get("Max Speed")),
        current_speed_mhz: number_with_unit(block.get("Current Speed")),
        core_count: number_with_unit(block.get("Core Count")),
        thread_count: number_with_unit(block.get("Thread Count")),
        serial: x.text(b, "Serial Number"),
    })
}

/// Compares one field, collecting a readable line per mismatch so a failing fixture shows everything at once.
fn check<T: PartialEq + std::fmt::Debug>(mismatches: &mut Vec<String>, what: &str, actual: T, expected: T) {
    if actual != expected {
        mismatches.push(format!("{what}: decoded {actual:?}, dmidecode {expected:?}"));
    }
}

#[test]
fn every_dump_decodes_like_dmidecode() {
    let mut failures = Vec::new();
    for (dump, expected_path) in cases() {
        let x = Expect::default();
        let blocks = dmidecode_text::parse(&std::fs::read_to_string(&expected_path).unwrap());
        let first = |kind: u8| blocks.iter().find(|b| b.kind == kind);
        let (firmware, errors) = decode(&dump);
        let mut m = Vec::new();

        let (bios_t, system_t, board_t, chassis_t) = (first(0), first(1), first(2), first(3));
        let bios = firmware.bios.clone().unwrap_or_default();
        check(&mut m, "bios.vendor", bios.vendor, x.text(bios_t, "Vendor"));
        check(&mut m, "bios.version", bios.version, x.text(bios_t, "Version"));
        check(&mut m, "bios.date", bios.date, x.text(bios_t, "Release Date"));
        check(&mut m, "bios.release", bios.release, bios_t.and_then(|b| b.get("BIOS Revision")).map(str::to_string));
        let system = firmware.system.clone().unwrap_or_default();
        check(&mut m, "system.vendor", system.vendor, x.text(system_t, "Manufacturer"));
        check(&mut m, "system.product", system.product, x.text(system_t, "Product Name"));
        check(&mut m, "system.version", system.version, x.text(system_t, "Version"));
        check(&mut m, "system.serial", system.serial, x.text(system_t, "Serial Number"));
        check(&mut m, "system.uuid", system.uuid, x.text(system_t, "UUID"));
        check(&mut m, "system.sku", system.sku, x.text(system_t, "SKU Number"));
        check(&mut m, "system.family", system.family, x.text(system_t, "Family"));
        let board = firmware.board.clone().unwrap_or_default();
        check(&mut m, "board.vendor", board.vendor, x.text(board_t, "Manufacturer"));
        check(&mut m, "board.product", board.product, x.text(board_t, "Product Name"));
        check(&mut m, "board.version", board.version, x.text(board_t, "Version"));
        check(&mut m, "board.serial", board.serial, x.text(board_t, "Serial Number"));
        check(&mut m, "board.asset_tag", board.asset_tag, x.text(board_t, "Asset Tag"));
        let chassis = firmware.chassis.clone().unwrap_or_default();
        check(&mut m, "chassis.type", chassis.chassis_type, x.text(chassis_t, "Type"));
        check(&mut m, "chassis.vendor", chassis.vendor, x.text(chassis_t, "Manufacturer"));
        check(&mut m, "chassis.serial", chassis.serial, x.text(chassis_t, "Serial Number"));
        check(&mut m, "chassis.asset_tag", chassis.asset_tag, x.text(chassis_t, "Asset Tag"));

        let memory: Vec<_> = blocks.iter().filter(|b| b.kind == 17).map(|b| expected_memory(&x, b)).collect();
        check(&mut m, "memory module count", firmware.memory_modules.len(), memory.len());
        for (i, (actual, expected)) in firmware.memory_modules.iter().zip(&memory).enumerate() {
            check(&mut m, &format!("memory_modules[{i}]"), actual, expected);
        }
        let processors: Vec<_> =
            blocks.iter().filter(|b| b.kind == 4).filter_map(|b| expected_processor(&x, b)).collect();
        check(&mut m, "processors", &firmware.processors, &processors);

        // Besides placeholders, the only errors are the missing strings dmidecode shows as `<BAD INDEX>`.
        let unexpected: Vec<_> = errors.as_slice().iter().filter(|e| e.kind != ErrorKind::JunkValue).collect();
        let bad_indexes =
            unexpected.iter().filter(|e| e.kind == ErrorKind::Parse && e.message.contains("which does not exist"));
        check(&mut m, "bad string indexes", bad_indexes.count(), x.bad_indexes.get());
        check(&mut m, "other errors", unexpected.len(), x.bad_indexes.get());
        if !m.is_empty() {
            failures.push(format!("{} differs from {}:\n{}", dump.display(), expected_path.display(), m.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// INDEX.tsv summarises each capture independently of the text parser above: version, identity, populated slots.
#[test]
fn dumps_match_the_index_summary() {
    let index = std::fs::read_to_string(testdata().join("INDEX.tsv")).unwrap();
    for line in index.lines().filter(|line| !line.starts_with('#')) {
        let columns: Vec<&str> = line.split('\t').collect();
        let [text_file, version, vendor, product, serial, uuid, bios_vendor, bios_version, slots, populated, sizes] =
            columns[..]
        else {
            panic!("INDEX.tsv row has {} columns: {line:?}", columns.len());
        };
        let dump = dump_for(&testdata().join(text_file));
        let sibling = std::fs::read(dump.with_file_name("smbios_entry_point")).ok();
        let located = source::from_dump(&std::fs::read(&dump).unwrap(), sibling.as_deref()).unwrap();
        let mut parts = version.split('.').map(|n| n.parse::<u8>().unwrap());
        let want = Version::new(parts.next().unwrap(), parts.next().unwrap());
        assert_eq!(located.table.version, want, "{text_file}");

        let (firmware, _) = decode(&dump);
        let present = |value: &str| Some(value.trim().to_string()).filter(|v| !is_junk(v));
        let system = firmware.system.unwrap();
        assert_eq!(system.vendor, present(vendor), "{text_file}");
        assert_eq!(system.product, present(product), "{text_file}");
        assert_eq!(system.serial, present(serial), "{text_file}");
        assert_eq!(system.uuid, present(uuid), "{text_file}");
        let bios = firmware.bios.unwrap();
        assert_eq!(bios.vendor, present(bios_vendor), "{text_file}");
        assert_eq!(bios.version, present(bios_version), "{text_file}");
        assert_eq!(firmware.memory_modules.len(), slots.parse::<usize>().unwrap(), "{text_file}");
        let populated_sizes: Vec<u64> = firmware.memory_modules.iter().filter_map(|m| m.size_bytes).collect();
        assert_eq!(populated_sizes.len(), populated.parse::<usize>().unwrap(), "{text_file}");
        let want_sizes: Vec<u64> = sizes.split(';').filter_map(|s| size(Some(s))).collect();
        assert_eq!(populated_sizes, want_sizes, "{text_file}");
    }
}

/// Spot checks of values worth knowing by heart: trimmed versions, dropped placeholders and their reports.
#[test]
fn known_machines() {
    let (t430, _) = decode(&testdata().join("fwupd/tables/DMI"));
    assert_eq!(t430.bios.unwrap().version.as_deref(), Some("GJET75WW (2.25 )"));
    assert_eq!(t430.chassis.unwrap().chassis_type.as_deref(), Some("Notebook"));

    let (msi, errors) = decode(&testdata().join("u-root/MSI-MS-7816.bin"));
    let system = msi.system.unwrap();
    assert_eq!((system.serial, system.uuid), (None, None));
    let junk: Vec<(&str, &str)> = errors
        .as_slice()
        .iter()
        .map(|e| (e.item.as_str(), e.message.as_str()))
        .filter(|(i, _)| i.starts_with("system."))
        .collect();
    assert!(junk.contains(&("system.serial", "discarded placeholder value \"To be filled by O.E.M.\"")), "{junk:?}");
    assert!(junk.contains(&("system.uuid", "discarded placeholder value \"ffffffff-ffff-ffff-ffff-ffffffffffff\"")));

    let (x399, _) = decode(&testdata().join("u-root/GigaByte-X399.bin"));
    assert_eq!(x399.processors[0].core_count, Some(32));
    assert_eq!(x399.processors[0].thread_count, Some(64));
    assert_eq!(x399.memory_modules.iter().filter_map(|m| m.size_bytes).sum::<u64>(), 128 << 30);

    let (vmware, _) = decode(&testdata().join("u-root/VMWare.bin"));
    assert_eq!(vmware.processors.len(), 2);
    assert_eq!(vmware.chassis.unwrap().chassis_type.as_deref(), Some("Other"));

    let (gx110, _) = decode(&testdata().join("libsmbios/OptiPlex-GX110.smbios.dat"));
    // SMBIOS 2.3: the UUID is stored in RFC 4122 byte order.
    assert_eq!(gx110.system.unwrap().uuid.as_deref(), Some("44454c4c-00b4-1036-8045-80c04f475748"));
}

/// Cutting a real dump anywhere never panics: the decoder keeps what it read and reports why it stopped.
#[test]
fn truncated_dumps_are_reported() {
    for (dump, _) in cases() {
        let bytes = std::fs::read(&dump).unwrap();
        let sibling = std::fs::read(dump.with_file_name("smbios_entry_point")).ok();
        let whole = source::from_dump(&bytes, sibling.as_deref()).unwrap();
        let table_start = bytes.len() - whole.table.bytes.len().min(bytes.len());
        let full = super::decode::decode(&whole.table).firmware.memory_modules.len();
        for cut in (table_start + 1..bytes.len()).step_by(37) {
            let located = match source::from_dump(&bytes[..cut], sibling.as_deref()) {
                Ok(located) => located,
                Err(err) => panic!("{} cut at {cut}: the entry point was intact, got {err}", dump.display()),
            };
            let decoded = super::decode::decode(&located.table);
            let problems: Vec<_> = located.problem.iter().chain(&decoded.problems).collect();
            // 3.x tables have no length to miss, so a cut between two structures cannot be told from the end;
            // losing memory modules that way is still caught whenever the cut lands inside a structure.
            if whole.table.structure_count.is_some() {
                assert!(
                    problems.iter().any(|p| p.kind() == ErrorKind::Truncated),
                    "{} cut at {cut}: {problems:?}",
                    dump.display()
                );
            }
            assert!(decoded.firmware.memory_modules.len() <= full);
        }
    }
}

/// Flipping bytes of real tables (lengths, string numbers, string terminators) never panics, and every problem is a
/// typed error.
#[test]
fn corrupted_tables_never_panic() {
    for (dump, _) in cases() {
        let bytes = std::fs::read(&dump).unwrap();
        let sibling = std::fs::read(dump.with_file_name("smbios_entry_point")).ok();
        let whole = source::from_dump(&bytes, sibling.as_deref()).unwrap();
        // About 150 positions per dump, at an odd stride so they fall on every kind of byte.
        let stride = (whole.table.bytes.len() / 150).max(7) | 1;
        for position in (0..whole.table.bytes.len()).step_by(stride) {
            for value in [0x00, 0x03, 0xFF] {
                let mut table = whole.table.clone();
                table.bytes[position] = value;
                let decoded = super::decode::decode(&table);
                let mut errors = ErrorLog::new();
                let mut firmware = decoded.firmware;
                super::junk::scrub(&mut firmware, &mut errors);
                assert!(decoded.problems.iter().all(|p| !p.to_string().is_empty()));
            }
        }
    }
}

/// A table shorter than its 2.x entry point announces is reported as truncated, with the structures before the cut.
#[test]
fn a_cut_sysfs_table_keeps_what_it_read() {
    let table = std::fs::read(testdata().join("jcreekmore/sysfs-v2/DMI")).unwrap();
    let entry_point = std::fs::read(testdata().join("jcreekmore/sysfs-v2/smbios_entry_point")).unwrap();
    let located = source::from_sysfs(&entry_point, &table[..1200]).unwrap();
    let decoded = super::decode::decode(&located.table);
    assert_eq!(
        located.problem,
        Some(super::SmbiosError::TableShorterThanAnnounced { announced: 2736, available: 1200 })
    );
    assert!(decoded.problems.iter().any(|p| p.kind() == ErrorKind::Truncated), "{:?}", decoded.problems);
    assert_eq!(decoded.firmware.system.unwrap().serial.as_deref(), Some("PBKGNED"));
}

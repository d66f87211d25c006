//! Firmware identity: DMI values from sysfs and the raw SMBIOS tables (memory modules, processors).
//!
//! The raw table is preferred (it holds serials, memory modules and processors, but needs root); the kernel's
//! `/sys/class/dmi/id` files fill what it could not give. Placeholders are dropped once, at the end.

mod decode;
mod entry_point;
mod error;
pub mod junk;
mod names;
mod source;
mod sysfs;
mod table;
#[cfg(windows)]
mod windows;

#[cfg(test)]
mod dmidecode_text;
#[cfg(test)]
mod fixture_tests;

use std::path::Path;

use muster_shared::v1::{Bios, Board, Chassis, ErrorKind, MemoryModule, Processor, SectionName, SystemInfo};

use crate::root::{ErrorLog, SystemRoot};

pub use error::SmbiosError;
pub use junk::is_junk;

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

/// Where the running kernel exposes the raw SMBIOS table and its entry point.
const TABLES_DIR: &str = "/sys/firmware/dmi/tables";
const ENTRY_POINT_FILE: &str = "smbios_entry_point";
const TABLE_FILE: &str = "DMI";

/// Reads the live DMI/SMBIOS data, or decodes `smbios_dump` instead when given.
pub fn collect(root: &SystemRoot, smbios_dump: Option<&Path>, errors: &mut ErrorLog) -> Firmware {
    let mut firmware = match smbios_dump {
        Some(path) => from_dump_file(path, errors),
        None => from_live(root, errors),
    };
    junk::scrub(&mut firmware, errors);
    firmware
}

/// Decodes a saved table. The dump is a file of the machine the agent runs on, named on its command line, not a
/// file of the inspected system, so it is read directly and not through `SystemRoot`. It may describe another
/// machine, so sysfs is not mixed in.
fn from_dump_file(path: &Path, errors: &mut ErrorLog) -> Firmware {
    let item = format!("smbios_dump {}", path.display());
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            errors.io(SectionName::Hardware, item, &err);
            return Firmware::default();
        }
    };
    let sibling = path.parent().map(|dir| dir.join(ENTRY_POINT_FILE)).filter(|p| p != path);
    let entry_point = sibling.and_then(|p| std::fs::read(p).ok());
    decode_dump(&bytes, entry_point.as_deref(), &item, errors)
}

/// Decodes a saved table held in memory, with the `smbios_entry_point` file found beside it if there was one;
/// problems are recorded against `item`.
pub fn decode_dump(bytes: &[u8], sibling_entry_point: Option<&[u8]>, item: &str, errors: &mut ErrorLog) -> Firmware {
    match source::from_dump(bytes, sibling_entry_point) {
        Ok(located) => decode_located(located, item, errors),
        Err(err) => {
            errors.record(SectionName::Hardware, item, err.kind(), err.to_string());
            Firmware::default()
        }
    }
}

fn from_live(root: &SystemRoot, errors: &mut ErrorLog) -> Firmware {
    // Windows has no sysfs: the firmware table comes from the documented API.
    #[cfg(windows)]
    if root.is_live() {
        return from_windows(errors);
    }
    let has_tables = root.exists(TABLES_DIR);
    let has_ids = root.exists(sysfs::DMI_ID_DIR);
    if !has_tables && !has_ids {
        errors.record(
            SectionName::Hardware,
            "smbios",
            ErrorKind::NotFound,
            format!(
                "no DMI/SMBIOS data: neither {TABLES_DIR} nor {} exists (a virtual machine or platform without \
                 SMBIOS)",
                sysfs::DMI_ID_DIR
            ),
        );
        return Firmware::default();
    }
    let mut firmware = if has_tables { read_live_tables(root, errors) } else { Firmware::default() };
    if !has_tables {
        errors.record(
            SectionName::Hardware,
            "smbios",
            ErrorKind::NotFound,
            format!("{TABLES_DIR} does not exist: no memory modules or processors, identity from sysfs only"),
        );
    }
    if has_ids {
        sysfs::fill_gaps(&mut firmware, &mut |file| read_dmi_id(root, file, errors));
    }
    firmware
}

/// The live table of a Windows machine, read with `GetSystemFirmwareTable('RSMB')`.
#[cfg(windows)]
fn from_windows(errors: &mut ErrorLog) -> Firmware {
    let item = "GetSystemFirmwareTable(RSMB)";
    let bytes = match windows::read_rsmb() {
        Ok(bytes) => bytes,
        Err(err) => {
            errors.io(SectionName::Hardware, item, &err);
            return Firmware::default();
        }
    };
    match source::from_dump(&bytes, None) {
        Ok(located) => decode_located(located, item, errors),
        Err(err) => {
            errors.record(SectionName::Hardware, item, err.kind(), err.to_string());
            Firmware::default()
        }
    }
}

fn read_live_tables(root: &SystemRoot, errors: &mut ErrorLog) -> Firmware {
    let entry_point_path = format!("{TABLES_DIR}/{ENTRY_POINT_FILE}");
    let table_path = format!("{TABLES_DIR}/{TABLE_FILE}");
    let read = |path: &str, errors: &mut ErrorLog| {
        root.read(path)
            .inspect_err(|err| {
                // Without root the table cannot be read; sysfs still gives the non-secret fields.
                errors.io(SectionName::Hardware, path, err);
            })
            .ok()
    };
    let (Some(entry_point), Some(table)) = (read(&entry_point_path, errors), read(&table_path, errors)) else {
        return Firmware::default();
    };
    match source::from_sysfs(&entry_point, &table) {
        Ok(located) => decode_located(located, &table_path, errors),
        Err(err) => {
            errors.record(SectionName::Hardware, entry_point_path, err.kind(), err.to_string());
            Firmware::default()
        }
    }
}

/// Decodes a located table, recording every problem against `item` (the file it came from).
fn decode_located(located: source::Located, item: &str, errors: &mut ErrorLog) -> Firmware {
    let decoded = decode::decode(&located.table);
    for problem in located.problem.iter().chain(&decoded.problems) {
        errors.record(SectionName::Hardware, item, problem.kind(), problem.to_string());
    }
    decoded.firmware
}

/// One `/sys/class/dmi/id` file, trimmed; missing files are normal (older kernels lack some), other failures such
/// as the root-only serial files are recorded.
fn read_dmi_id(root: &SystemRoot, file: &str, errors: &mut ErrorLog) -> Option<String> {
    let path = format!("{}/{file}", sysfs::DMI_ID_DIR);
    match root.read(&path) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).trim().to_string()).filter(|v| !v.is_empty()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            errors.io(SectionName::Hardware, path, &err);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        fs::read(format!("{}/testdata/smbios/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn kinds(errors: &ErrorLog) -> Vec<(String, ErrorKind)> {
        errors.as_slice().iter().map(|e| (e.item.clone(), e.kind)).collect()
    }

    #[test]
    fn a_machine_without_dmi_gives_an_empty_firmware_and_a_not_found_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut errors = ErrorLog::new();
        let firmware = from_live(&SystemRoot::mounted(dir.path()), &mut errors);
        assert!(firmware.system.is_none() && firmware.memory_modules.is_empty());
        assert_eq!(kinds(&errors), vec![("smbios".to_string(), ErrorKind::NotFound)]);
    }

    #[test]
    fn live_tables_win_and_sysfs_fills_the_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let tables = dir.path().join("sys/firmware/dmi/tables");
        let ids = dir.path().join("sys/class/dmi/id");
        fs::create_dir_all(&tables).unwrap();
        fs::create_dir_all(&ids).unwrap();
        fs::write(tables.join("DMI"), fixture("fwupd/tables/DMI")).unwrap();
        fs::write(tables.join("smbios_entry_point"), fixture("fwupd/tables/smbios_entry_point")).unwrap();
        fs::write(ids.join("sys_vendor"), "sysfs vendor\n").unwrap();
        fs::write(ids.join("product_sku"), "LENOVO_MT_20AR\n").unwrap();
        fs::write(ids.join("board_asset_tag"), "Not Available\n").unwrap();
        let mut errors = ErrorLog::new();
        let firmware = collect(&SystemRoot::mounted(dir.path()), None, &mut errors);
        let system = firmware.system.unwrap();
        assert_eq!(system.vendor.as_deref(), Some("LENOVO"));
        assert_eq!(system.serial.as_deref(), Some("PF01VVCA"));
        assert_eq!(system.uuid.as_deref(), Some("0c535a01-520e-11cb-a6a1-9f061092dd4e"));
        assert_eq!(firmware.bios.unwrap().version.as_deref(), Some("GJET75WW (2.25 )"));
        assert_eq!(firmware.memory_modules.len(), 2);
        assert!(kinds(&errors).iter().all(|(_, kind)| *kind == ErrorKind::JunkValue), "{errors:?}");
    }

    #[test]
    fn sysfs_alone_gives_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        let ids = dir.path().join("sys/class/dmi/id");
        fs::create_dir_all(&ids).unwrap();
        for (file, value) in [
            ("sys_vendor", "Dell Inc.\n"),
            ("product_name", "XPS 13 9365\n"),
            ("product_serial", "System Serial Number\n"),
            ("chassis_type", "31\n"),
            ("bios_version", "99.01.21\n"),
        ] {
            fs::write(ids.join(file), value).unwrap();
        }
        let mut errors = ErrorLog::new();
        let firmware = collect(&SystemRoot::mounted(dir.path()), None, &mut errors);
        let system = firmware.system.unwrap();
        assert_eq!(system.vendor.as_deref(), Some("Dell Inc."));
        assert_eq!(system.product.as_deref(), Some("XPS 13 9365"));
        assert_eq!(system.serial, None);
        assert_eq!(firmware.chassis.unwrap().chassis_type.as_deref(), Some("Convertible"));
        assert_eq!(
            kinds(&errors),
            vec![("smbios".to_string(), ErrorKind::NotFound), ("system.serial".to_string(), ErrorKind::JunkValue)]
        );
    }

    #[test]
    fn a_dump_file_is_recognised_by_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("DMI");
        fs::write(&table, fixture("fwupd/tables64/DMI")).unwrap();
        let mut errors = ErrorLog::new();
        let firmware = collect(&SystemRoot::mounted("/nonexistent"), Some(&table), &mut errors);
        assert!(firmware.system.is_none());
        assert_eq!(errors.as_slice()[0].kind, ErrorKind::Parse);

        fs::write(dir.path().join("smbios_entry_point"), fixture("fwupd/tables64/smbios_entry_point")).unwrap();
        let mut errors = ErrorLog::new();
        let firmware = collect(&SystemRoot::mounted("/nonexistent"), Some(&table), &mut errors);
        assert_eq!(firmware.system.unwrap().serial.as_deref(), Some("2R0Q2G2"));

        let mut errors = ErrorLog::new();
        collect(&SystemRoot::mounted("/nonexistent"), Some(&dir.path().join("missing.bin")), &mut errors);
        assert_eq!(errors.as_slice()[0].kind, ErrorKind::NotFound);
    }
}

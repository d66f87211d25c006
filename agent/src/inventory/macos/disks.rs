//! A Mac's disks from `system_profiler -xml SPSerialATADataType SPNVMeDataType`, which on Linux come from
//! /sys/block: each controller's drives with their BSD name (`disk0`), model, serial, firmware revision, size,
//! medium and whether they are removable. A pure reading of the property list; the probe runs the command.
//! Drives without a size (an empty optical drive) are not disks here, as Linux lists none for them either.

use muster_shared::v1::Disk;
use plist::{Dictionary, Value};

fn text(d: &Dictionary, key: &str) -> Option<String> {
    let t = d.get(key)?.as_string()?.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn disk(d: &Dictionary, transport: &str) -> Option<Disk> {
    let name = text(d, "bsd_name")?;
    let size_bytes = d.get("size_in_bytes")?.as_unsigned_integer()?;
    let rotational = match text(d, "spsata_medium_type").as_deref() {
        Some("Rotational") => Some(true),
        Some("Solid State") => Some(false),
        // NVMe drives are solid state by what they are.
        _ => (transport == "nvme").then_some(false),
    };
    Some(Disk {
        name,
        vendor: text(d, "device_manufacturer"),
        // Where a drive names no model apart, its name (`_name`) is the model as system_profiler shows it.
        model: text(d, "device_model").or_else(|| text(d, "_name")),
        serial: text(d, "device_serial"),
        firmware: text(d, "device_revision"),
        size_bytes,
        rotational,
        transport: Some(transport.to_owned()),
        removable: text(d, "removable_media").as_deref() == Some("yes")
            || text(d, "detachable_drive").as_deref() == Some("yes"),
        ..Disk::default()
    })
}

/// The drives of a data type's controllers (`_items` of `_items`), by BSD name.
pub fn disks(xml: &[u8]) -> Result<Vec<Disk>, String> {
    let document = Value::from_reader_xml(xml).map_err(|e| format!("not a property list: {e}"))?;
    let mut out = Vec::new();
    for (data_type, transport) in [("SPSerialATADataType", "sata"), ("SPNVMeDataType", "nvme")] {
        let Some(controllers) = super::items(&document, data_type) else { continue };
        for controller in controllers.iter().filter_map(Value::as_dictionary) {
            let drives = controller.get("_items").and_then(Value::as_array).into_iter().flatten();
            out.extend(drives.filter_map(Value::as_dictionary).filter_map(|d| disk(d, transport)));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(file: &str) -> Vec<Disk> {
        let path = format!("{}/testdata/macos/{file}", env!("CARGO_MANIFEST_DIR"));
        disks(&std::fs::read(path).unwrap()).unwrap()
    }

    const MIB: u64 = 1 << 20;

    // GLPI's reading of the same files (t/tasks/inventory/macos/storages.t): name, serial, firmware, size in MiB.
    #[test]
    fn a_western_digital_hard_disk() {
        let d = read("SPSerialATADataType.xml");
        assert_eq!(d.len(), 1);
        let disk = &d[0];
        assert_eq!(
            (disk.name.as_str(), disk.serial.as_deref(), disk.firmware.as_deref(), disk.size_bytes / MIB),
            ("disk0", Some("WD-WCARY1264478"), Some("58.01D02"), 238_475)
        );
        assert_eq!(disk.model.as_deref(), Some("WDC WD2500AAJS-40VWA1"));
        assert_eq!((disk.rotational, disk.transport.as_deref(), disk.removable), (Some(true), Some("sata"), false));
    }

    #[test]
    fn an_apple_ssd() {
        let d = read("SPSerialATADataType2.xml");
        assert_eq!(d.len(), 1);
        let disk = &d[0];
        assert_eq!(
            (disk.name.as_str(), disk.serial.as_deref(), disk.firmware.as_deref(), disk.size_bytes / MIB),
            ("disk0", Some("1435NL400611"), Some("A222821"), 115_712)
        );
        // GLPI splits the model into maker and model (`Apple`, `SSD SD0128F`); the drive's own string is kept here.
        assert_eq!(disk.model.as_deref(), Some("APPLE SSD SD0128F"));
        assert_eq!(disk.rotational, Some(false));
    }

    #[test]
    fn a_virtual_machine_disk_and_no_empty_optical_drive() {
        // GLPI lists the VirtualBox CD-ROM too (no size); a drive without a size is no disk here.
        let d = read("SPSerialATADataType3.xml");
        assert_eq!(d.len(), 1, "{d:?}");
        let disk = &d[0];
        assert_eq!(
            (disk.name.as_str(), disk.serial.as_deref(), disk.firmware.as_deref(), disk.size_bytes / MIB),
            ("disk0", Some("VB52cb5022-c69e4cc4"), Some("1.0"), 40_000)
        );
        assert_eq!(disk.model.as_deref(), Some("VBOX HARDDISK"));
    }

    #[test]
    fn other_output_is_refused_or_empty() {
        assert!(disks(b"not xml").is_err());
        let apps = format!("{}/testdata/macos/sample5.SPApplicationsDataType.xml", env!("CARGO_MANIFEST_DIR"));
        assert!(disks(&std::fs::read(apps).unwrap()).unwrap().is_empty());
    }
}

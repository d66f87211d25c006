//! A Mac's disks from `system_profiler -xml` (SPSerialATADataType, SPNVMeDataType, SPUSBDataType), which on Linux come
//! from /sys/block: each controller's drives with their BSD name (`disk0`), model, serial, firmware revision, size,
//! medium and whether they are removable, and the USB storage devices anywhere in the USB tree. A pure reading of the
//! property list; the probe runs the command. Drives without a size (an empty optical drive) are not disks here, as
//! Linux lists none for them either.

use muster_shared::v1::Disk;
use plist::{Dictionary, Value};

fn text(d: &Dictionary, key: &str) -> Option<String> {
    let t = d.get(key)?.as_string()?.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// USB devices name their serial, revision and maker in keys of their own, which older releases prefix with a
/// letter that orders them (`d_serial_num`).
fn usb_disk(d: &Dictionary) -> Option<Disk> {
    let mut disk = disk(d, "usb")?;
    let either = |key: &str, prefixed: &str| text(d, key).or_else(|| text(d, prefixed));
    disk.serial = disk.serial.or_else(|| either("serial_num", "d_serial_num"));
    disk.firmware = disk.firmware.or_else(|| either("bcd_device", "c_bcd_device"));
    disk.vendor = disk.vendor.or_else(|| either("manufacturer", "f_manufacturer"));
    disk.removable = true;
    Some(disk)
}

/// The storage devices of a USB tree: any device with a BSD name and a size, at any depth of `_items`. Some
/// system_profiler versions repeat a drive's BSD name and size on the bus above it: the device itself is kept.
/// Newer releases put the BSD name and size in a `Media` list under the device (no capture of that form was at
/// hand: read by the same keys, with the device's serial, revision and maker).
fn usb_disks(items: &[Value], out: &mut Vec<Disk>) {
    for d in items.iter().filter_map(Value::as_dictionary) {
        let mut below = Vec::new();
        if let Some(children) = d.get("_items").and_then(Value::as_array) {
            usb_disks(children, &mut below);
        }
        for media in d.get("Media").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_dictionary) {
            let mut merged = d.clone();
            for (key, value) in media {
                merged.insert(key.clone(), value.clone());
            }
            below.extend(usb_disk(&merged));
        }
        if let Some(disk) = usb_disk(d).filter(|disk| below.iter().all(|b| b.name != disk.name)) {
            out.push(disk);
        }
        out.extend(below);
    }
}

/// A size as system_profiler prints it when it gives no byte count (older releases' USB devices): `7,34 GB`, in the
/// Mac's decimal separator and, there, binary units: the same Toshiba drive is `465,76 GB` in one capture and
/// 500,107,859,968 bytes (465.76 GiB) in another. Rounded, so approximate.
fn printed_size(text: &str) -> Option<u64> {
    let (number, unit) = text.trim().split_once(' ')?;
    let value: f64 = number.replace(',', ".").parse().ok()?;
    let factor: f64 = match unit {
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = (value * factor).round();
    // A size beyond u64 or negative is no size.
    (0.0..1.8e19).contains(&bytes).then_some(bytes as u64)
}

fn disk(d: &Dictionary, transport: &str) -> Option<Disk> {
    let name = text(d, "bsd_name")?;
    let size_bytes = match d.get("size_in_bytes").and_then(Value::as_unsigned_integer) {
        Some(bytes) => bytes,
        None => text(d, "size").as_deref().and_then(printed_size)?,
    };
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
    if let Some(tree) = super::items(&document, "SPUSBDataType") {
        usb_disks(tree, &mut out);
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

    /// (name, model, serial, firmware, vendor, MiB) of each disk.
    fn usb(file: &str) -> Vec<(String, String, String, String, String, u64)> {
        read(file)
            .into_iter()
            .map(|d| {
                assert_eq!((d.transport.as_deref(), d.removable), (Some("usb"), true));
                let s = |v: Option<String>| v.unwrap_or_default();
                (d.name, s(d.model), s(d.serial), s(d.firmware), s(d.vendor), d.size_bytes / MIB)
            })
            .collect()
    }

    fn row(
        name: &str,
        model: &str,
        serial: &str,
        fw: &str,
        vendor: &str,
        mib: u64,
    ) -> (String, String, String, String, String, u64) {
        (name.into(), model.into(), serial.into(), fw.into(), vendor.into(), mib)
    }

    // GLPI names the maker from its own table (Toshiba, Lexar); the device's own string is kept here.
    #[test]
    fn usb_drives_behind_hubs() {
        assert_eq!(
            usb("SPUSBDataType.xml"),
            [row("disk1", "External USB 3.0", "20150123045944", "1.07", "TOSHIBA", 476_940)]
        );
        // GLPI: disk1 JumpDrive, disk3 External USB 3.0, disk2 UDisk 2.0, sized from the rounded text (`7,34 GB`)
        // in binary units: 7516.16, 1925.12 and 476938.24 MiB.
        let three = usb("SPUSBDataType2.xml");
        let mib: Vec<f64> = read("SPUSBDataType2.xml").iter().map(|d| d.size_bytes as f64 / MIB as f64).collect();
        for (got, glpi) in mib.iter().zip([7516.16, 1925.12, 476_938.24]) {
            assert!((got - glpi).abs() < 0.01, "{mib:?}");
        }
        // The Toshiba drive's `465,76 GB` is within the rounding of the byte count another capture gives it.
        let toshiba = read("SPUSBDataType2.xml")[2].size_bytes as f64;
        assert!((toshiba - 500_107_859_968.0).abs() / 500_107_859_968.0 < 0.0001, "{toshiba}");
        let names: Vec<(&str, &str, &str, &str)> =
            three.iter().map(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str(), r.3.as_str())).collect();
        assert_eq!(
            names,
            [
                ("disk1", "JumpDrive", "AASOP1QMSZ0XG051", "11.00"),
                ("disk2", "UDisk 2.0", "1311141504461042257807", "1.00"),
                ("disk3", "External USB 3.0", "20150123045944", "1.07"),
            ]
        );
    }

    #[test]
    fn five_usb_drives_and_none() {
        // GLPI: disk3 Toshiba, disk1 UDisk, disk6 JumpDrive, disk5 and disk4 (sizes from the text, as above).
        let five: Vec<(String, String, String, u64)> =
            usb("SPUSBDataType3.xml").into_iter().map(|r| (r.0, r.2, r.3, r.5)).collect();
        let expected = [
            ("disk1", "1311141504461042257807", "1.00", 1925),
            ("disk3", "20150123045944", "1.07", 476_938),
            ("disk4", "024279000000034C", "1.00", 3819),
            ("disk5", "8CA13C74", "1.03", 3932),
            ("disk6", "AASOP1QMSZ0XG051", "11.00", 7516),
        ];
        let expected: Vec<(String, String, String, u64)> =
            expected.iter().map(|(n, s, f, m)| ((*n).into(), (*s).into(), (*f).into(), *m)).collect();
        assert_eq!(five, expected);
        assert_eq!(usb("SPUSBDataType4.xml"), []);
    }

    #[test]
    fn an_optical_drive_is_a_disk_only_with_a_disc_in() {
        // GLPI lists the drive either way; without a disc it has no size, and no disk here.
        assert_eq!(usb("SPUSBDataType_without_inserted_dvd.xml"), []);
        let with = usb("SPUSBDataType_with_inserted_dvd.xml");
        let found: Vec<(&str, &str, u64)> = with.iter().map(|r| (r.0.as_str(), r.2.as_str(), r.5)).collect();
        // The SD card in the built-in reader (on the USB bus) is a removable disk too: GLPI reports it with its
        // card readers, as disk2 of 15193 MiB.
        assert_eq!(found, [("disk2", "000000000820", 15_193), ("disk3", "DEF109C77CF6", 374)]);
    }

    #[test]
    fn other_output_is_refused_or_empty() {
        assert!(disks(b"not xml").is_err());
        let apps = format!("{}/testdata/macos/sample5.SPApplicationsDataType.xml", env!("CARGO_MANIFEST_DIR"));
        assert!(disks(&std::fs::read(apps).unwrap()).unwrap().is_empty());
    }
}

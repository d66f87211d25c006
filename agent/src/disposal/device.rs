//! Who the medium is: identity from the agent's disk inventory (`/sys/block`), and what the kernel exposes of the
//! device's own sanitize/erase history.

use std::path::Path;

use muster_shared::v1::{DeviceEraseStatus, Disk, MediumIdentity, MediumKind};

use crate::inventory::hardware::disks;
use crate::root::{ErrorLog, SystemRoot};

/// The transport given for an image file.
pub const IMAGE_FILE: &str = "image file";

/// The identity of `target`. For a block device, the inventory's record of the same kernel name; a partition or a
/// device the inventory skips (loop, device-mapper) keeps its name and size only.
pub fn identity(root: &SystemRoot, target: &Path, is_block_device: bool, size: u64) -> MediumIdentity {
    let file_name = || target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !is_block_device {
        return MediumIdentity {
            kind: MediumKind::ImageFile,
            name: file_name(),
            vendor: None,
            model: None,
            serial: None,
            wwn: None,
            firmware: None,
            size_bytes: size,
            rotational: None,
            transport: Some(IMAGE_FILE.to_string()),
        };
    }
    // `/dev/disk/by-id/…` links resolve to the kernel name.
    let name = std::fs::canonicalize(target)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(file_name);
    let mut errors = ErrorLog::new();
    let disk = disks::probe(root, &mut errors).into_iter().find(|d| d.name == name);
    from_disk(name, disk, size)
}

/// Pure: the identity carried over from an inventoried disk (or only name and size without one).
pub fn from_disk(name: String, disk: Option<Disk>, size: u64) -> MediumIdentity {
    match disk {
        Some(d) => MediumIdentity {
            kind: MediumKind::BlockDevice,
            name: d.name,
            vendor: d.vendor,
            model: d.model,
            serial: d.serial,
            wwn: d.wwn,
            firmware: d.firmware,
            size_bytes: size,
            rotational: d.rotational,
            transport: d.transport,
        },
        None => MediumIdentity {
            kind: MediumKind::BlockDevice,
            name,
            vendor: None,
            model: None,
            serial: None,
            wwn: None,
            firmware: None,
            size_bytes: size,
            rotational: None,
            transport: None,
        },
    }
}

/// What the kernel shows of past sanitize/erase operations of the device `name`.
///
/// Linux has no sysfs attribute for the NVMe sanitize log (log page 0x81) or the ATA security erase state; they are
/// read with admin commands (`nvme sanitize-log`, `hdparm -I`). So this reports a sanitize/erase/security attribute
/// only if the running kernel has one under the device, and otherwise says plainly that nothing is exposed.
pub fn erase_status(root: &SystemRoot, medium: &MediumIdentity) -> DeviceEraseStatus {
    if medium.kind == MediumKind::ImageFile {
        return DeviceEraseStatus::NotExposed { reason: "image file: no device to ask".to_string() };
    }
    let dir = root.path(format!("/sys/block/{}/device", medium.name));
    let mut found: Vec<(String, String)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.filter_map(Result::ok) {
            let attr = entry.file_name().to_string_lossy().into_owned();
            if is_erase_attribute(&attr)
                && let Ok(value) = std::fs::read_to_string(entry.path())
            {
                found.push((attr, value.trim().to_string()));
            }
        }
    }
    found.sort();
    erase_status_from(&dir.display().to_string(), &found, medium.transport.as_deref())
}

fn is_erase_attribute(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["sanitize", "erase", "security"].iter().any(|w| name.contains(w))
}

/// Pure: the status from the attributes found under `source`.
pub fn erase_status_from(source: &str, found: &[(String, String)], transport: Option<&str>) -> DeviceEraseStatus {
    if found.is_empty() {
        let how = match transport {
            Some("nvme") => " (the sanitize log is read with `nvme sanitize-log`, which needs root)",
            Some("sata" | "sas" | "scsi" | "usb") => " (ATA security state is read with `hdparm -I`, which needs root)",
            _ => "",
        };
        return DeviceEraseStatus::NotExposed {
            reason: format!("not exposed: the kernel offers no sanitize or erase status in {source}{how}"),
        };
    }
    let state = found.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
    DeviceEraseStatus::Reported { source: source.to_string(), state }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_exposed_is_said_plainly() {
        let status = erase_status_from("/sys/block/nvme0n1/device", &[], Some("nvme"));
        let DeviceEraseStatus::NotExposed { reason } = status else { panic!("nothing was found") };
        assert_eq!(
            reason,
            "not exposed: the kernel offers no sanitize or erase status in /sys/block/nvme0n1/device (the sanitize \
             log is read with `nvme sanitize-log`, which needs root)"
        );
        let found = [("sanitize_status".to_string(), "completed".to_string())];
        assert_eq!(
            erase_status_from("/sys/block/x/device", &found, None),
            DeviceEraseStatus::Reported {
                source: "/sys/block/x/device".to_string(),
                state: "sanitize_status=completed".to_string()
            }
        );
    }

    #[test]
    fn block_devices_take_the_inventory_identity() {
        let disk = Disk {
            name: "nvme0n1".into(),
            vendor: None,
            model: Some("Samsung SSD 980 PRO 1TB".into()),
            serial: Some("S5GXNF0R123456".into()),
            wwn: None,
            firmware: Some("5B2QGXA7".into()),
            size_bytes: 1_000_204_886_016,
            rotational: Some(false),
            transport: Some("nvme".into()),
            removable: false,
        };
        let id = from_disk("nvme0n1".into(), Some(disk), 1_000_204_886_016);
        assert_eq!(id.kind, MediumKind::BlockDevice);
        assert_eq!(id.serial.as_deref(), Some("S5GXNF0R123456"));
        assert_eq!(id.transport.as_deref(), Some("nvme"));
        let partition = from_disk("sda1".into(), None, 512);
        assert_eq!((partition.name.as_str(), partition.serial), ("sda1", None));
    }
}

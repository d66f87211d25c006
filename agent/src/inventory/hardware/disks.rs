//! Physical disks from `/sys/block`: model, serial, WWN, size, rotational, transport and removable.

use std::path::Path;

use muster_shared::v1::{Disk, SectionName};

use crate::root::{ErrorLog, SystemRoot};

/// The raw sysfs attributes of one block device, before interpretation.
#[derive(Debug, Default, Clone)]
pub struct BlockAttrs {
    pub name: String,
    /// `readlink -f /sys/block/<name>`: where the device hangs in the bus tree.
    pub device_path: String,
    /// `size`, in 512-byte sectors.
    pub sectors: Option<u64>,
    pub removable: Option<String>,
    pub rotational: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    /// `serial` (NVMe, virtio, MMC) or the SCSI unit serial number VPD page (0x80).
    pub serial: Option<String>,
    pub vpd_pg80: Option<Vec<u8>>,
    /// `wwid` (NVMe, SCSI) or `device/wwid`.
    pub wwid: Option<String>,
    pub firmware: Option<String>,
}

/// Reads every block device that is backed by hardware (not loop, ram, zram, device-mapper or md devices).
pub fn probe(root: &SystemRoot, errors: &mut ErrorLog) -> Vec<Disk> {
    let dir = root.path("/sys/block");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) => {
            errors.io(SectionName::Hardware, "disks", &err);
            return Vec::new();
        }
    };
    let mut disks: Vec<Disk> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| read_block_attrs(&entry.path()))
        .filter_map(|attrs| disk_from_attrs(&attrs))
        .collect();
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    disks
}

fn read_block_attrs(sys_path: &Path) -> Option<BlockAttrs> {
    let name = sys_path.file_name()?.to_string_lossy().into_owned();
    let read = |rel: &str| std::fs::read_to_string(sys_path.join(rel)).ok().map(|s| s.trim().to_string());
    let device_path = std::fs::canonicalize(sys_path).ok()?.to_string_lossy().into_owned();
    Some(BlockAttrs {
        device_path,
        sectors: read("size").and_then(|s| s.parse().ok()),
        removable: read("removable"),
        rotational: read("queue/rotational"),
        vendor: read("device/vendor"),
        model: read("device/model"),
        serial: read("device/serial").or_else(|| read("serial")),
        vpd_pg80: std::fs::read(sys_path.join("device/vpd_pg80")).ok(),
        wwid: read("wwid").or_else(|| read("device/wwid")),
        firmware: read("device/firmware_rev").or_else(|| read("device/rev")),
        name,
    })
}

/// Interprets one device's attributes; `None` for software devices and empty drives.
pub fn disk_from_attrs(attrs: &BlockAttrs) -> Option<Disk> {
    const SOFTWARE_PREFIXES: [&str; 6] = ["loop", "ram", "zram", "dm-", "md", "nbd"];
    if SOFTWARE_PREFIXES.iter().any(|p| attrs.name.starts_with(p)) || attrs.device_path.contains("/virtual/") {
        return None;
    }
    let sectors = attrs.sectors.filter(|s| *s > 0)?;
    let serial =
        attrs.serial.clone().filter(|s| !s.is_empty()).or_else(|| attrs.vpd_pg80.as_deref().and_then(vpd80_serial));
    Some(Disk {
        name: attrs.name.clone(),
        // virtio exposes the PCI vendor id (`0x1af4`) here, which names no manufacturer.
        vendor: clean(attrs.vendor.as_deref()).filter(|v| !v.starts_with("0x")),
        model: clean(attrs.model.as_deref()),
        serial: clean(serial.as_deref()),
        wwn: clean(attrs.wwid.as_deref()),
        firmware: clean(attrs.firmware.as_deref()),
        size_bytes: sectors.saturating_mul(512),
        rotational: attrs.rotational.as_deref().map(|r| r == "1"),
        transport: transport(&attrs.name, &attrs.device_path).map(str::to_string),
        removable: attrs.removable.as_deref() == Some("1"),
    })
}

/// SCSI VPD page 0x80: a 4-byte header (length in byte 3) followed by the unit serial number in ASCII.
pub fn vpd80_serial(page: &[u8]) -> Option<String> {
    let length = usize::from(*page.get(3)?);
    let serial = page.get(4..4 + length).or_else(|| page.get(4..))?;
    let text = String::from_utf8_lossy(serial).trim_matches(|c: char| c.is_whitespace() || c == '\0').to_string();
    (!text.is_empty()).then_some(text)
}

/// The bus a disk hangs on, read from its place in the sysfs device tree.
pub fn transport(name: &str, device_path: &str) -> Option<&'static str> {
    let path = device_path;
    if name.starts_with("nvme") || path.contains("/nvme/") {
        Some("nvme")
    } else if path.contains("/usb") {
        Some("usb")
    } else if path.contains("/virtio") {
        Some("virtio")
    } else if name.starts_with("mmcblk") || path.contains("/mmc_host/") {
        Some("mmc")
    } else if name.starts_with("xvd") || path.contains("/vbd-") {
        Some("xen")
    } else if path.contains("/end_device-") || path.contains("/sas_") {
        Some("sas")
    } else if path.contains("/ata") {
        Some("sata")
    } else if path.contains("/VMBUS") || path.contains("/hv_") {
        Some("hyperv")
    } else if path.contains("/target") {
        Some("scsi")
    } else {
        None
    }
}

fn clean(value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    (!value.is_empty()).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(name: &str, device_path: &str, sectors: u64) -> BlockAttrs {
        BlockAttrs {
            name: name.to_string(),
            device_path: device_path.to_string(),
            sectors: Some(sectors),
            removable: Some("0".into()),
            rotational: Some("0".into()),
            ..BlockAttrs::default()
        }
    }

    #[test]
    fn transport_follows_the_bus_path() {
        // Device paths as the kernel lays them out for each bus.
        let cases = [
            ("nvme0n1", "/sys/devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1", Some("nvme")),
            ("sda", "/sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda", Some("sata")),
            (
                "sdb",
                "/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb",
                Some("usb"),
            ),
            ("vda", "/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda", Some("virtio")),
            ("mmcblk0", "/sys/devices/platform/soc/fe340000.mmc/mmc_host/mmc0/mmc0:0001/block/mmcblk0", Some("mmc")),
            ("xvda", "/sys/devices/vbd-51712/block/xvda", Some("xen")),
            (
                "sdc",
                "/sys/devices/pci0000:00/0000:00:03.0/0000:02:00.0/host0/port-0:0/end_device-0:0/target0:0:0/0:0:0:0/block/sdc",
                Some("sas"),
            ),
        ];
        for (name, path, want) in cases {
            assert_eq!(transport(name, path), want, "{name}");
        }
    }

    #[test]
    fn software_and_empty_devices_are_not_disks() {
        assert!(disk_from_attrs(&attrs("loop0", "/sys/devices/virtual/block/loop0", 100)).is_none());
        assert!(disk_from_attrs(&attrs("zram0", "/sys/devices/virtual/block/zram0", 100)).is_none());
        assert!(disk_from_attrs(&attrs("dm-0", "/sys/devices/virtual/block/dm-0", 100)).is_none());
        assert!(
            disk_from_attrs(&attrs("sr0", "/sys/devices/pci0000:00/ata2/host1/target1:0:0/1:0:0:0/block/sr0", 0))
                .is_none()
        );
        let disk =
            disk_from_attrs(&attrs("vda", "/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda", 536_870_912))
                .unwrap();
        assert_eq!(disk.size_bytes, 274_877_906_944);
        assert_eq!(disk.rotational, Some(false));
    }

    #[test]
    fn reads_the_unit_serial_page() {
        let mut page = vec![0x00, 0x80, 0x00, 0x14];
        page.extend_from_slice(b"  S3Z9NB0K123456X   ");
        assert_eq!(vpd80_serial(&page).as_deref(), Some("S3Z9NB0K123456X"));
        assert_eq!(vpd80_serial(&[0, 0x80]), None);
    }

    /// The disks we find on this machine are the ones `lsblk` (util-linux, reading the same sysfs) lists, with the
    /// same sizes. Runs where lsblk exists.
    #[test]
    fn live_disks_match_lsblk() {
        let Ok(out) = std::process::Command::new("lsblk").args(["-b", "-d", "-n", "-o", "NAME,SIZE,RM"]).output()
        else {
            return;
        };
        let mut errors = ErrorLog::new();
        let ours = probe(&SystemRoot::live(), &mut errors);
        let theirs: Vec<(String, u64, bool)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let name = f.first()?.to_string();
                let size: u64 = f.get(1)?.parse().ok()?;
                let skip = ["loop", "ram", "zram", "dm-", "md", "nbd"].iter().any(|p| name.starts_with(p));
                (!skip && size > 0).then(|| (name, size, f.get(2) == Some(&"1")))
            })
            .collect();
        let ours: Vec<(String, u64, bool)> = ours.into_iter().map(|d| (d.name, d.size_bytes, d.removable)).collect();
        assert_eq!(ours, theirs);
    }
}

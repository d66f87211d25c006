//! The `disk.encryption` check: every non-removable data filesystem, root included, must sit on dm-crypt.
//!
//! Mounted filesystems come from `/proc/mounts`; each device is followed down its `slaves/` in sysfs (LVM on LUKS,
//! RAID, partitions) until a `CRYPT-` device-mapper target or a plain disk is found.

use std::path::{Path, PathBuf};

use muster_shared::v1::Check;

use super::runtime::Runtime;
use super::{fail, not_applicable, pass, unknown};
use crate::root::{ErrorLog, SystemRoot};

const DISK_ENCRYPTION: &str = "disk.encryption";
/// Boot and EFI partitions cannot be encrypted (the firmware must read them); they hold no data.
const BOOT_MOUNTS: [&str; 3] = ["/boot", "/boot/efi", "/efi"];
/// Read-only images, not data.
const IMAGE_TYPES: [&str; 3] = ["squashfs", "iso9660", "udf"];
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub source: String,
    pub mount_point: String,
    pub fstype: String,
}

/// How a filesystem's device is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Device {
    /// The chain down to the dm-crypt device, e.g. `dm-1 (debian--vg-root) <- dm-0 (vda5_crypt, CRYPT-LUKS2)`.
    Encrypted(String),
    /// The chain down to the plain device.
    Plain(String),
    Removable,
    Unknown(String),
}

/// Parses `/proc/mounts`, decoding the octal escapes the kernel writes for spaces, tabs and backslashes.
pub(crate) fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            Some(Mount {
                source: unescape(fields.next()?),
                mount_point: unescape(fields.next()?),
                fstype: fields.next()?.to_string(),
            })
        })
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if bytes[i] == b'\\'
            && let Some(digits) = octal
        {
            out.push(digits.iter().fold(0u8, |acc, d| acc.wrapping_mul(8).wrapping_add(d - b'0')));
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Filesystems on block devices that hold data: not boot partitions, loop-mounted images or repeated bind mounts.
pub(crate) fn data_filesystems(mounts: &[Mount]) -> Vec<&Mount> {
    let mut seen = std::collections::BTreeSet::new();
    mounts
        .iter()
        .filter(|m| m.source.starts_with("/dev/") && !m.source.starts_with("/dev/loop"))
        .filter(|m| !IMAGE_TYPES.contains(&m.fstype.as_str()) && !BOOT_MOUNTS.contains(&m.mount_point.as_str()))
        .filter(|m| seen.insert(m.source.clone()))
        .collect()
}

/// Pure: the decision over each data filesystem and what its device turned out to be.
pub(crate) fn evaluate(filesystems: &[(&Mount, Device)]) -> Check {
    if filesystems.is_empty() {
        return unknown(DISK_ENCRYPTION, "no filesystem on a block device is mounted (network or container root?)");
    }
    let mut evidence = Vec::new();
    let (mut plain, mut unknowns) = (false, Vec::new());
    for (mount, device) in filesystems {
        let at = format!("{} on {}", mount.mount_point, mount.source);
        match device {
            Device::Encrypted(chain) => evidence.push(format!("{at}: encrypted ({chain})")),
            Device::Plain(chain) => {
                plain = true;
                evidence.push(format!("{at}: not encrypted ({chain})"));
            }
            Device::Removable => evidence.push(format!("{at}: removable, not counted")),
            Device::Unknown(reason) => {
                unknowns.push(format!("{at}: {reason}"));
                evidence.push(format!("{at}: unknown ({reason})"));
            }
        }
    }
    if plain {
        fail(
            DISK_ENCRYPTION,
            evidence,
            "encrypt the data filesystems with LUKS (dm-crypt), e.g. reinstall with encrypted LVM",
        )
    } else if !unknowns.is_empty() {
        unknown(DISK_ENCRYPTION, unknowns.join("; "))
    } else {
        pass(DISK_ENCRYPTION, evidence)
    }
}

/// Finds the sysfs directory of a mounted device and classifies it.
pub(crate) fn classify(root: &SystemRoot, source: &str) -> Device {
    let Some(name) = device_name(root, source) else {
        return Device::Unknown(format!("no block device for {source} in /sys/class/block"));
    };
    let Some(dir) = sys_dir(root, &name) else {
        return Device::Unknown(format!("/sys/class/block/{name} not found"));
    };
    if removable(&dir) {
        return Device::Removable;
    }
    follow(root, &name, &dir, 0)
}

fn device_name(root: &SystemRoot, source: &str) -> Option<String> {
    if let Some(mapped) = source.strip_prefix("/dev/mapper/") {
        let entries = std::fs::read_dir(root.path("/sys/block")).ok()?;
        return entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).find(|name| {
            name.starts_with("dm-")
                && read_trimmed(&root.path(format!("/sys/block/{name}/dm/name"))).as_deref() == Some(mapped)
        });
    }
    // /dev/disk/by-uuid/... and similar links lead to the kernel's name.
    let path = root.path(source);
    let resolved = std::fs::canonicalize(&path).unwrap_or(path);
    resolved.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn sys_dir(root: &SystemRoot, name: &str) -> Option<PathBuf> {
    std::fs::canonicalize(root.path(format!("/sys/class/block/{name}"))).ok()
}

/// Partitions inherit the flag of their disk, the directory above them in sysfs.
fn removable(dir: &Path) -> bool {
    let disk = if dir.join("partition").exists() { dir.parent().unwrap_or(dir) } else { dir };
    read_trimmed(&disk.join("removable")).as_deref() == Some("1")
}

fn follow(root: &SystemRoot, name: &str, dir: &Path, depth: usize) -> Device {
    if depth > MAX_DEPTH {
        return Device::Unknown(format!("{name}: device stack deeper than {MAX_DEPTH}"));
    }
    let dm_name = read_trimmed(&dir.join("dm/name"));
    let crypt = read_trimmed(&dir.join("dm/uuid"))
        .filter(|uuid| uuid.starts_with("CRYPT-"))
        .map(|uuid| uuid.split('-').take(2).collect::<Vec<_>>().join("-"));
    let this = match (&dm_name, &crypt) {
        (Some(dm), Some(kind)) => format!("{name} ({dm}, {kind})"),
        (Some(dm), None) => format!("{name} ({dm})"),
        (None, _) => name.to_string(),
    };
    if crypt.is_some() {
        return Device::Encrypted(this);
    }
    let mut slaves: Vec<String> = std::fs::read_dir(dir.join("slaves"))
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    slaves.sort();
    if slaves.is_empty() {
        return Device::Plain(this);
    }
    let mut chains = Vec::new();
    for slave in slaves {
        let Some(slave_dir) = sys_dir(root, &slave) else {
            return Device::Unknown(format!("{this}: /sys/class/block/{slave} not found"));
        };
        match follow(root, &slave, &slave_dir, depth + 1) {
            Device::Encrypted(chain) => chains.push(chain),
            Device::Plain(chain) => return Device::Plain(format!("{this} <- {chain}")),
            other => return other,
        }
    }
    Device::Encrypted(format!("{this} <- {}", chains.join(" + ")))
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Reads the mounts and sysfs of `root`. Callers decide whether `root` describes a running machine.
pub(crate) fn scan(root: &SystemRoot) -> Check {
    let mounts = match root.read_to_string("/proc/mounts") {
        Ok(text) => parse_mounts(&text),
        Err(err) => return unknown(DISK_ENCRYPTION, format!("/proc/mounts: {err}")),
    };
    let filesystems = data_filesystems(&mounts);
    let classified: Vec<(&Mount, Device)> = filesystems.into_iter().map(|m| (m, classify(root, &m.source))).collect();
    evaluate(&classified)
}

pub(crate) fn probe(root: &SystemRoot, runtime: &Runtime, _errors: &mut ErrorLog) -> Check {
    match runtime {
        Runtime::NotLive => not_applicable(
            DISK_ENCRYPTION,
            "needs the running system's mounts and devices; not available in --root mode",
        ),
        Runtime::Live(facts) => match &facts.container {
            Some(marker) => not_applicable(
                DISK_ENCRYPTION,
                format!("running in a container ({marker}); the host's disks are its concern"),
            ),
            None => scan(root),
        },
    }
}

#[cfg(test)]
mod tests;

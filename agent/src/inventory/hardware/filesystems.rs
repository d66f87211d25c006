//! Mounted data filesystems from `/proc/self/mounts`, with usage from statvfs.

use muster_shared::v1::{Filesystem, SectionName};

use crate::root::{ErrorLog, SystemRoot};

/// One line of a mounts table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub read_only: bool,
}

/// Kernel and runtime filesystems that hold no user data; listing them would bury the disks that matter.
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "tmpfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "pstore",
    "efivarfs",
    "bpf",
    "debugfs",
    "tracefs",
    "configfs",
    "fusectl",
    "mqueue",
    "hugetlbfs",
    "autofs",
    "binfmt_misc",
    "rpc_pipefs",
    "nsfs",
    "ramfs",
    "squashfs",
    "overlay",
    "selinuxfs",
    "fuse.gvfsd-fuse",
    "fuse.portal",
    "nfsd",
    "rootfs",
];

/// Reads the live mount table and each filesystem's usage.
pub fn probe(root: &SystemRoot, errors: &mut ErrorLog) -> Vec<Filesystem> {
    let mounts = match root.read_to_string("/proc/self/mounts") {
        Ok(text) => parse_mounts(&text),
        Err(err) => {
            errors.io(SectionName::Hardware, "filesystems", &err);
            return Vec::new();
        }
    };
    data_filesystems(mounts)
        .into_iter()
        .map(|mount| {
            let usage = crate::platform::filesystem_usage(&mount.mount_point);
            let total = usage.map(|(block, blocks, _, _)| blocks.saturating_mul(block));
            let available = usage.map(|(block, _, _, avail)| avail.saturating_mul(block));
            let free = usage.map(|(block, _, free, _)| free.saturating_mul(block));
            let used = total.zip(free).map(|(t, f)| t.saturating_sub(f));
            Filesystem {
                used_bytes: used.zip(total).map(|(u, t)| round_to_percent(u, t)),
                total_bytes: total,
                available_bytes: available.zip(total).map(|(a, t)| round_to_percent(a, t)),
                device: mount.device,
                mount_point: mount.mount_point,
                fs_type: mount.fs_type,
                read_only: mount.read_only,
            }
        })
        .collect()
}

/// Rounds a usage figure to the nearest 1% of the filesystem's size.
///
/// Exact byte counts change on every report of an idle machine (logs, caches), which would make the hardware section
/// differ each time and defeat the delta protocol; 1% of capacity is precise enough to see a disk filling up.
pub fn round_to_percent(value: u64, total: u64) -> u64 {
    let step = (total / 100).max(1);
    value.saturating_add(step / 2) / step * step
}

/// Parses /proc/mounts format (fstab(5) fields, octal escapes such as `\040` for a space).
pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = unescape(fields.next()?);
            let mount_point = unescape(fields.next()?);
            let fs_type = fields.next()?.to_string();
            let options = fields.next().unwrap_or("");
            Some(MountEntry { device, mount_point, fs_type, read_only: options.split(',').any(|o| o == "ro") })
        })
        .collect()
}

/// Keeps filesystems that hold data, once per mount point (the last mount over a point is the visible one).
pub fn data_filesystems(mounts: Vec<MountEntry>) -> Vec<MountEntry> {
    let mut kept: Vec<MountEntry> = Vec::new();
    for mount in mounts {
        if PSEUDO_FILESYSTEMS.contains(&mount.fs_type.as_str()) || mount.mount_point.starts_with("/proc") {
            continue;
        }
        kept.retain(|m| m.mount_point != mount.mount_point);
        kept.push(mount);
    }
    kept
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let value = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from this project's build VM (Debian 12 on Firecracker), with a USB stick line from a laptop.
    const MOUNTS: &str = "proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=12334432k,nr_inodes=3083608,mode=755 0 0
/dev/vda / ext4 rw,relatime,discard 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
/dev/sdb1 /media/alice/MY\\040STICK vfat ro,nosuid,nodev,relatime 0 0
";

    #[test]
    fn keeps_data_filesystems_only() {
        let kept = data_filesystems(parse_mounts(MOUNTS));
        let points: Vec<&str> = kept.iter().map(|m| m.mount_point.as_str()).collect();
        assert_eq!(points, vec!["/", "/media/alice/MY STICK"]);
        assert!(kept[1].read_only);
        assert_eq!(kept[0].fs_type, "ext4");
    }

    #[test]
    fn usage_is_rounded_to_one_percent_of_capacity() {
        let total = 270_553_174_016;
        let step = total / 100;
        assert_eq!(round_to_percent(24_142_209_024, total), 9 * step);
        assert_eq!(round_to_percent(24_142_479_360, total), 9 * step);
        assert_eq!(round_to_percent(0, total), 0);
        assert_eq!(round_to_percent(5, 0), 5);
    }

    #[test]
    fn live_root_filesystem_has_usage() {
        let mut errors = ErrorLog::new();
        let filesystems = probe(&SystemRoot::live(), &mut errors);
        let root = filesystems.iter().find(|f| f.mount_point == "/").expect("/ is mounted");
        assert!(root.total_bytes.unwrap() > 0);
        assert!(root.used_bytes.unwrap() <= root.total_bytes.unwrap());
    }
}

//! Disk encryption over sysfs-shaped trees: Debian's guided "encrypted LVM" layout, the same without LUKS, and a
//! removable stick. The mounts use the kernel's `/proc/mounts` format.

use muster_shared::v1::CheckStatus::{Fail, NotApplicable, Pass, Unknown};

use super::*;
use crate::checks::runtime::LiveFacts;
use crate::checks::tests::{Tree, assert_check, assert_reason};

const PCI: &str = "/sys/devices/pci0000:00/0000:00:04.0/virtio1/block";

/// Debian installer layout: vda1 /boot, vda5 → LUKS (vda5_crypt) → LVM debian--vg-root and debian--vg-home.
fn debian_layout(encrypted: bool) -> Tree {
    let tree = Tree::new();
    tree.file(
        "/proc/mounts",
        "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n\
         proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n\
         /dev/mapper/debian--vg-root / ext4 rw,relatime,errors=remount-ro 0 0\n\
         tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=401852k,mode=755 0 0\n\
         /dev/vda1 /boot ext2 rw,relatime 0 0\n\
         /dev/mapper/debian--vg-home /home ext4 rw,relatime 0 0\n\
         /dev/mapper/debian--vg-home /srv/with\\040space ext4 rw,relatime 0 0\n\
         /dev/loop0 /snap/core22/1380 squashfs ro,nodev,relatime,errors=continue 0 0\n",
    );
    disk(&tree, "vda", &["vda1", "vda5"], "0");
    dm(&tree, "dm-0", "vda5_crypt", "CRYPT-LUKS2-3a1f0c3e9d6f4b7e8a2b5c4d1e0f9a8b-vda5_crypt", &["vda5"]);
    let pv = if encrypted { "dm-0" } else { "vda5" };
    dm(&tree, "dm-1", "debian--vg-root", "LVM-Qk3Y0b4xHq1cJ0yV7sR2eN5wT8uA6zD9fG1hK4mP3nL7oB2iC5vX8jE0tW6qS9r", &[pv]);
    dm(&tree, "dm-2", "debian--vg-home", "LVM-Qk3Y0b4xHq1cJ0yV7sR2eN5wT8uA6zD9fG1hK4mP3nL7oB2iC5vX8jE0tW6qSHOM", &[pv]);
    tree
}

fn disk(tree: &Tree, name: &str, partitions: &[&str], removable: &str) {
    let dir = format!("{PCI}/{name}");
    tree.file(&format!("{dir}/removable"), &format!("{removable}\n"));
    let in_sys = dir.trim_start_matches("/sys");
    tree.symlink(&format!("/sys/class/block/{name}"), &format!("../..{in_sys}"));
    tree.symlink(&format!("/sys/block/{name}"), &format!("..{in_sys}"));
    for (index, partition) in partitions.iter().enumerate() {
        tree.file(&format!("{dir}/{partition}/partition"), &format!("{}\n", index + 1));
        tree.symlink(&format!("/sys/class/block/{partition}"), &format!("../..{in_sys}/{partition}"));
    }
}

fn dm(tree: &Tree, name: &str, dm_name: &str, uuid: &str, slaves: &[&str]) {
    let dir = format!("/sys/devices/virtual/block/{name}");
    tree.file(&format!("{dir}/dm/name"), &format!("{dm_name}\n"))
        .file(&format!("{dir}/dm/uuid"), &format!("{uuid}\n"))
        .file(&format!("{dir}/removable"), "0\n")
        .symlink(&format!("/sys/class/block/{name}"), &format!("../../devices/virtual/block/{name}"))
        .symlink(&format!("/sys/block/{name}"), &format!("../devices/virtual/block/{name}"));
    for slave in slaves {
        tree.symlink(&format!("{dir}/slaves/{slave}"), &format!("../../../../../class/block/{slave}"));
    }
}

#[test]
fn lvm_on_luks_is_encrypted_boot_is_ignored() {
    let tree = debian_layout(true);
    assert_check(
        &scan(&tree.root()),
        Pass,
        &[
            "/ on /dev/mapper/debian--vg-root: encrypted (dm-1 (debian--vg-root) <- dm-0 (vda5_crypt, CRYPT-LUKS2))",
            "/home on /dev/mapper/debian--vg-home: encrypted (dm-2 (debian--vg-home) <- dm-0 (vda5_crypt, CRYPT-LUKS2))",
        ],
    );
}

#[test]
fn lvm_on_a_plain_partition_fails_naming_each_device() {
    let tree = debian_layout(false);
    assert_check(
        &scan(&tree.root()),
        Fail,
        &[
            "/ on /dev/mapper/debian--vg-root: not encrypted (dm-1 (debian--vg-root) <- vda5)",
            "/home on /dev/mapper/debian--vg-home: not encrypted (dm-2 (debian--vg-home) <- vda5)",
        ],
    );
}

#[test]
fn a_plain_data_partition_beside_an_encrypted_root_fails_and_sticks_do_not_count() {
    let tree = debian_layout(true);
    let mounts = std::fs::read_to_string(tree.host_path("/proc/mounts")).unwrap();
    tree.file(
        "/proc/mounts",
        &format!("{mounts}/dev/sdb1 /media/user/STICK vfat rw,nosuid,nodev,relatime 0 0\n/dev/disk/by-uuid/0b7c /data xfs rw,relatime 0 0\n"),
    );
    disk(&tree, "sdb", &["sdb1"], "1");
    disk(&tree, "sdc", &["sdc1"], "0");
    tree.symlink("/dev/disk/by-uuid/0b7c", "../../sdc1");
    let check = scan(&tree.root());
    assert_check(
        &check,
        Fail,
        &[
            "/ on /dev/mapper/debian--vg-root: encrypted (dm-1 (debian--vg-root) <- dm-0 (vda5_crypt, CRYPT-LUKS2))",
            "/home on /dev/mapper/debian--vg-home: encrypted (dm-2 (debian--vg-home) <- dm-0 (vda5_crypt, CRYPT-LUKS2))",
            "/media/user/STICK on /dev/sdb1: removable, not counted",
            "/data on /dev/disk/by-uuid/0b7c: not encrypted (sdc1)",
        ],
    );
}

#[test]
fn mounts_without_block_devices_are_unknown_and_escapes_decode() {
    let mounts =
        parse_mounts("overlay / overlay rw,relatime,lowerdir=/l 0 0\n/dev/sda1 /mnt/my\\040disk ext4 rw 0 0\n");
    assert_eq!(mounts[1].mount_point, "/mnt/my disk");
    assert_reason(&evaluate(&[]), Unknown, "no filesystem on a block device is mounted (network or container root?)");
}

#[test]
fn needs_a_live_host() {
    let tree = debian_layout(true);
    let mut errors = ErrorLog::new();
    assert_reason(
        &probe(&tree.root(), &Runtime::NotLive, &mut errors),
        NotApplicable,
        "needs the running system's mounts and devices; not available in --root mode",
    );
    let container = Runtime::Live(LiveFacts { container: Some("/.dockerenv".into()), ..LiveFacts::default() });
    assert_reason(
        &probe(&tree.root(), &container, &mut errors),
        NotApplicable,
        "running in a container (/.dockerenv); the host's disks are its concern",
    );
}

//! Partition-table, filesystem and volume signatures a wipe must remove, found at their real offsets.
//!
//! Volumes start on 512-byte boundaries of the medium (partitions, LVM extents, LUKS payloads all do), so each
//! signature's magic can only sit at `volume start + magic offset`: at one position per 512 bytes. The scan checks
//! exactly those positions in whatever was read, and validates the structure around the magic so that random data
//! (a `--expect random` wipe) does not produce false findings. No magic crosses a 512-byte boundary; the structure
//! around it may start up to [`LOOK_BEHIND`] bytes earlier, so the checker scans each buffer with that much of the
//! previous one.

/// Alignment of volume starts, and the step between candidate magic positions.
pub const SECTOR: u64 = 512;
/// How far before its magic a validator may read, rounded up to a 4 KiB block: swap's version sits at 1024 and its
/// magic at 4086. Every validator's other reads stay in the magic's own 512-byte sector, so a buffer scanned with
/// this many bytes of the one before it finds every signature whose magic it holds (see `Checker`).
pub const LOOK_BEHIND: usize = 4096;

/// One signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHit {
    /// Medium offset of the magic bytes.
    pub offset: u64,
    pub length: u64,
    /// Medium offset where the volume (or table) the magic belongs to starts.
    pub volume_start: u64,
    /// `ext4`, `gpt`, `luks2`, …
    pub name: &'static str,
    /// An encryption header: the medium is encrypted, not sanitized.
    pub encrypted: bool,
    /// What was matched, for people.
    pub what: &'static str,
}

/// How a signature is recognised: the magic at a fixed offset from the volume start, then a structural check.
struct Signature {
    magic_offset: u64,
    magic: &'static [u8],
    what: &'static str,
    /// Given the buffer and the index of the magic, the signature's name, or `None` when the structure is not valid.
    validate: fn(&[u8], usize) -> Option<&'static str>,
    encrypted: bool,
}

const SIGNATURES: &[Signature] = &[
    Signature { magic_offset: 510, magic: &[0x55, 0xAA], what: "MBR partition table", validate: mbr, encrypted: false },
    Signature { magic_offset: 0, magic: b"EFI PART", what: "GPT header", validate: gpt, encrypted: false },
    Signature {
        magic_offset: 1080,
        magic: &[0x53, 0xEF],
        what: "superblock magic 0xEF53",
        validate: ext,
        encrypted: false,
    },
    Signature { magic_offset: 0, magic: b"XFSB", what: "superblock magic XFSB", validate: xfs, encrypted: false },
    Signature {
        magic_offset: 0x10040,
        magic: b"_BHRfS_M",
        what: "superblock magic _BHRfS_M",
        validate: btrfs,
        encrypted: false,
    },
    Signature {
        magic_offset: 3,
        magic: b"NTFS    ",
        what: "boot sector OEM id NTFS",
        validate: ntfs,
        encrypted: false,
    },
    Signature {
        magic_offset: 3,
        magic: b"EXFAT   ",
        what: "boot sector OEM id EXFAT",
        validate: exfat,
        encrypted: false,
    },
    Signature {
        magic_offset: 54,
        magic: b"FAT1",
        what: "boot sector type FAT12/FAT16",
        validate: fat16,
        encrypted: false,
    },
    Signature {
        magic_offset: 82,
        magic: b"FAT32   ",
        what: "boot sector type FAT32",
        validate: fat32,
        encrypted: false,
    },
    Signature {
        magic_offset: 0,
        magic: b"LABELONE",
        what: "physical volume label LABELONE",
        validate: lvm2,
        encrypted: false,
    },
    Signature { magic_offset: 0, magic: b"LUKS\xba\xbe", what: "LUKS header", validate: luks, encrypted: true },
    Signature {
        magic_offset: 0,
        magic: b"SKUL\xba\xbe",
        what: "LUKS2 secondary header",
        validate: luks,
        encrypted: true,
    },
    Signature {
        magic_offset: 4086,
        magic: b"SWAPSPACE2",
        what: "swap signature SWAPSPACE2",
        validate: swap,
        encrypted: false,
    },
    Signature {
        magic_offset: 4086,
        magic: b"SWAP-SPACE",
        what: "swap signature SWAP-SPACE",
        validate: swap,
        encrypted: false,
    },
    Signature {
        magic_offset: 0,
        magic: &[0x0c, 0xb1, 0xba, 0, 0, 0, 0, 0],
        what: "uberblock magic 0x00bab10c",
        validate: zfs_le,
        encrypted: false,
    },
    Signature {
        magic_offset: 0,
        magic: &[0, 0, 0, 0, 0, 0xba, 0xb1, 0x0c],
        what: "uberblock magic 0x00bab10c",
        validate: zfs_be,
        encrypted: false,
    },
    Signature {
        magic_offset: 32769,
        magic: b"CD001",
        what: "volume descriptor CD001",
        validate: iso9660,
        encrypted: false,
    },
    Signature {
        magic_offset: 4096,
        magic: &[0xfc, 0x4e, 0x2b, 0xa9],
        what: "md superblock magic 0xa92b4efc",
        validate: md_raid,
        encrypted: false,
    },
];

/// Every signature in `data`, which holds the medium's bytes from offset `base` (a multiple of [`SECTOR`]).
pub fn scan(data: &[u8], base: u64) -> Vec<SignatureHit> {
    let mut hits = Vec::new();
    for sig in SIGNATURES {
        let phase = sig.magic_offset % SECTOR;
        let first = (phase + SECTOR - base % SECTOR) % SECTOR;
        let mut at = first as usize;
        while at + sig.magic.len() <= data.len() {
            let offset = base + at as u64;
            if offset >= sig.magic_offset
                && data[at..at + sig.magic.len()] == *sig.magic
                && let Some(name) = (sig.validate)(data, at)
            {
                hits.push(SignatureHit {
                    offset,
                    length: sig.magic.len() as u64,
                    volume_start: offset - sig.magic_offset,
                    name,
                    encrypted: sig.encrypted,
                    what: sig.what,
                });
            }
            at += SECTOR as usize;
        }
    }
    // A FAT or NTFS boot sector ends in 0x55AA too; name the filesystem, not a partition table.
    let boot_sectors: Vec<u64> = hits
        .iter()
        .filter(|h| matches!(h.name, "ntfs" | "exfat" | "fat12" | "fat16" | "fat32"))
        .map(|h| h.volume_start)
        .collect();
    hits.retain(|h| h.name != "mbr" || !boot_sectors.contains(&h.volume_start));
    hits.sort_by_key(|h| (h.offset, h.name));
    hits
}

/// `len` bytes at `rel` from the magic's index `at` (negative to look before the magic), if all in the buffer.
fn bytes(data: &[u8], at: usize, rel: i64, len: usize) -> Option<&[u8]> {
    let start = usize::try_from(i64::try_from(at).ok()?.checked_add(rel)?).ok()?;
    data.get(start..start.checked_add(len)?)
}

fn u32_le(data: &[u8], at: usize, rel: i64) -> Option<u32> {
    bytes(data, at, rel, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u32_be(data: &[u8], at: usize, rel: i64) -> Option<u32> {
    bytes(data, at, rel, 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_le(data: &[u8], at: usize, rel: i64) -> Option<u64> {
    bytes(data, at, rel, 8).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
}

/// Four partition entries at 446: each boot flag 0x00 or 0x80, at least one used entry with a type and a size.
fn mbr(data: &[u8], at: usize) -> Option<&'static str> {
    let table = bytes(data, at, 446 - 510, 64)?;
    let mut used = 0;
    for entry in table.chunks_exact(16) {
        if entry[0] != 0x00 && entry[0] != 0x80 {
            return None;
        }
        let kind = entry[4];
        let sectors = u32::from_le_bytes([entry[12], entry[13], entry[14], entry[15]]);
        match (kind, sectors) {
            (0, 0) => {}
            (0, _) | (_, 0) => return None,
            _ => used += 1,
        }
    }
    (used > 0).then_some("mbr")
}

/// Revision 1.0 and a header size between the 92 bytes defined and a 4 KiB sector.
fn gpt(data: &[u8], at: usize) -> Option<&'static str> {
    let revision = u32_le(data, at, 8)?;
    let header_size = u32_le(data, at, 12)?;
    (revision == 0x0001_0000 && (92..=4096).contains(&header_size)).then_some("gpt")
}

/// Superblock at 1024, magic at 1024+56; the name follows the features as blkid reads them.
fn ext(data: &[u8], at: usize) -> Option<&'static str> {
    const SB: i64 = -56;
    let inodes = u32_le(data, at, SB)?;
    let log_block_size = u32_le(data, at, SB + 24)?;
    let blocks_per_group = u32_le(data, at, SB + 32)?;
    let rev_level = u32_le(data, at, SB + 76)?;
    if inodes == 0 || log_block_size > 6 || blocks_per_group == 0 || rev_level > 1 {
        return None;
    }
    let compat = u32_le(data, at, SB + 92)?;
    let incompat = u32_le(data, at, SB + 96)?;
    const HAS_JOURNAL: u32 = 0x4;
    const EXT4_INCOMPAT: u32 = 0x40 | 0x80 | 0x200 | 0x10000; // extents, 64bit, flex_bg, inline_data
    Some(if incompat & EXT4_INCOMPAT != 0 {
        "ext4"
    } else if compat & HAS_JOURNAL != 0 {
        "ext3"
    } else {
        "ext2"
    })
}

fn xfs(data: &[u8], at: usize) -> Option<&'static str> {
    let block_size = u32_be(data, at, 4)?;
    (block_size.is_power_of_two() && (512..=65536).contains(&block_size)).then_some("xfs")
}

/// The superblock's own offset field (at 0x10030) says where this copy lives relative to the volume.
fn btrfs(data: &[u8], at: usize) -> Option<&'static str> {
    let bytenr = u64_le(data, at, 0x30 - 0x40)?;
    [0x10000u64, 0x400_0000, 0x40_0000_0000].contains(&bytenr).then_some("btrfs")
}

fn boot_signature(data: &[u8], at: usize, magic_offset: i64) -> bool {
    bytes(data, at, 510 - magic_offset, 2) == Some(&[0x55, 0xAA])
}

fn ntfs(data: &[u8], at: usize) -> Option<&'static str> {
    boot_signature(data, at, 3).then_some("ntfs")
}

fn exfat(data: &[u8], at: usize) -> Option<&'static str> {
    boot_signature(data, at, 3).then_some("exfat")
}

fn fat16(data: &[u8], at: usize) -> Option<&'static str> {
    let name = match bytes(data, at, 0, 8)? {
        b"FAT12   " => "fat12",
        b"FAT16   " => "fat16",
        _ => return None,
    };
    boot_signature(data, at, 54).then_some(name)
}

fn fat32(data: &[u8], at: usize) -> Option<&'static str> {
    boot_signature(data, at, 82).then_some("fat32")
}

fn lvm2(data: &[u8], at: usize) -> Option<&'static str> {
    (bytes(data, at, 24, 8)? == b"LVM2 001").then_some("lvm2")
}

fn luks(data: &[u8], at: usize) -> Option<&'static str> {
    let version = bytes(data, at, 6, 2).map(|b| u16::from_be_bytes([b[0], b[1]]))?;
    match version {
        1 => Some("luks1"),
        2 => Some("luks2"),
        _ => None,
    }
}

/// The swap header's version (1) follows the boot block at 1024.
fn swap(data: &[u8], at: usize) -> Option<&'static str> {
    let version = u32_le(data, at, 1024 - 4086)?;
    (version == 1 || version == 0x0100_0000).then_some("swap")
}

/// `ub_version`: 1 to 5000 (SPA_VERSION_FEATURES).
fn zfs_le(data: &[u8], at: usize) -> Option<&'static str> {
    let version = u64_le(data, at, 8)?;
    (1..=5000).contains(&version).then_some("zfs")
}

fn zfs_be(data: &[u8], at: usize) -> Option<&'static str> {
    let version = u64_le(data, at, 8)?.swap_bytes();
    (1..=5000).contains(&version).then_some("zfs")
}

/// Descriptor type (boot, primary, supplementary, partition, terminator) before the id, version 1 after it.
fn iso9660(data: &[u8], at: usize) -> Option<&'static str> {
    let kind = *bytes(data, at, -1, 1)?.first()?;
    let version = *bytes(data, at, 5, 1)?.first()?;
    (matches!(kind, 0..=3 | 255) && version == 1).then_some("iso9660")
}

/// md metadata 1.2 sits 4 KiB into the device; major version 1.
fn md_raid(data: &[u8], at: usize) -> Option<&'static str> {
    (u32_le(data, at, 4)? == 1).then_some("linux_raid_member")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zeroed buffer with `bytes` written at `at`.
    fn image(len: usize, writes: &[(usize, &[u8])]) -> Vec<u8> {
        let mut data = vec![0u8; len];
        for (at, bytes) in writes {
            data[*at..*at + bytes.len()].copy_from_slice(bytes);
        }
        data
    }

    fn names(hits: &[SignatureHit]) -> Vec<(&'static str, u64)> {
        hits.iter().map(|h| (h.name, h.offset)).collect()
    }

    // Headers laid out as the on-disk formats define them (XFS sb_blocksize big-endian at 4; Btrfs bytenr at
    // 0x10030; md 1.2 major_version at 4096+4; ZFS ub_version after the magic; ISO9660 type and version around
    // "CD001"): these tools are not installed here, so the layouts are written from their specifications.

    #[test]
    fn finds_each_signature_at_its_real_offset() {
        type Case = (&'static str, Vec<u8>, Vec<(&'static str, u64)>);
        let cases: Vec<Case> = vec![
            ("xfs", image(4096, &[(0, b"XFSB"), (4, &4096u32.to_be_bytes())]), vec![("xfs", 0)]),
            (
                "btrfs",
                image(0x11000, &[(0x10040, b"_BHRfS_M"), (0x10030, &0x10000u64.to_le_bytes())]),
                vec![("btrfs", 0x10040)],
            ),
            ("ntfs", image(512, &[(3, b"NTFS    "), (510, &[0x55, 0xAA])]), vec![("ntfs", 3)]),
            ("exfat", image(512, &[(3, b"EXFAT   "), (510, &[0x55, 0xAA])]), vec![("exfat", 3)]),
            ("fat16", image(512, &[(54, b"FAT16   "), (510, &[0x55, 0xAA])]), vec![("fat16", 54)]),
            ("fat32", image(512, &[(82, b"FAT32   "), (510, &[0x55, 0xAA])]), vec![("fat32", 82)]),
            ("lvm2", image(1024, &[(512, b"LABELONE"), (512 + 24, b"LVM2 001")]), vec![("lvm2", 512)]),
            ("luks1", image(512, &[(0, b"LUKS\xba\xbe\x00\x01")]), vec![("luks1", 0)]),
            (
                "zfs",
                image(0x21000, &[(0x20000, &0x00ba_b10cu64.to_le_bytes()), (0x20008, &5000u64.to_le_bytes())]),
                vec![("zfs", 0x20000)],
            ),
            ("iso9660", image(34816, &[(32768, &[1]), (32769, b"CD001"), (32774, &[1])]), vec![("iso9660", 32769)]),
            (
                "md",
                image(8192, &[(4096, &0xa92b_4efcu32.to_le_bytes()), (4100, &1u32.to_le_bytes())]),
                vec![("linux_raid_member", 4096)],
            ),
        ];
        for (what, data, want) in cases {
            assert_eq!(names(&scan(&data, 0)), want, "{what}");
        }
    }

    #[test]
    fn a_volume_anywhere_on_the_medium_is_found_and_a_boot_sector_is_not_an_mbr() {
        // An NTFS boot sector 1 MiB into the medium, seen in a buffer read from there.
        let data = image(4096, &[(3, b"NTFS    "), (510, &[0x55, 0xAA]), (446, &[0x80, 0, 0, 0, 7, 0, 0, 0])]);
        assert_eq!(names(&scan(&data, 1 << 20)), [("ntfs", (1 << 20) + 3)]);
        // The same bytes at an odd offset within the buffer's first sector are not on a sector boundary.
        let shifted = image(4096, &[(4, b"NTFS    "), (511, &[0x55, 0xAA])]);
        assert_eq!(names(&scan(&shifted, 0)), []);
    }

    #[test]
    fn structures_that_do_not_validate_are_not_findings() {
        // MBR signature with a bad boot flag, or with no used entry.
        let mut entry = [0u8; 16];
        entry[0] = 0x12;
        entry[4] = 0x83;
        entry[12] = 8;
        assert_eq!(names(&scan(&image(512, &[(446, &entry), (510, &[0x55, 0xAA])]), 0)), []);
        assert_eq!(names(&scan(&image(512, &[(510, &[0x55, 0xAA])]), 0)), []);
        entry[0] = 0x80;
        assert_eq!(names(&scan(&image(512, &[(446, &entry), (510, &[0x55, 0xAA])]), 0)), [("mbr", 510)]);
        // GPT with a wrong revision, XFS with an impossible block size, LUKS version 3.
        assert_eq!(names(&scan(&image(512, &[(0, b"EFI PART"), (8, &[0, 0, 2, 0]), (12, &[92])]), 0)), []);
        assert_eq!(names(&scan(&image(512, &[(0, b"XFSB"), (4, &3000u32.to_be_bytes())]), 0)), []);
        assert_eq!(names(&scan(&image(512, &[(0, b"LUKS\xba\xbe\x00\x03")]), 0)), []);
    }

    #[test]
    fn random_data_has_no_signatures() {
        // A fixed pseudorandom 64 MiB stream: every 512-byte position of every signature is tried.
        let mut rng = super::super::plan::SplitMix64::new(99);
        let data: Vec<u8> = (0..(64 << 20) / 8).flat_map(|_| rng.next_u64().to_le_bytes()).collect();
        assert_eq!(names(&scan(&data, 0)), []);
    }
}

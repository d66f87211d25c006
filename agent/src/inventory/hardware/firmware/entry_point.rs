//! The SMBIOS entry point: where the table is, how long it is and which spec version decodes it.

use super::error::SmbiosError;

/// The SMBIOS version the firmware claims; it decides how some fields (the UUID byte order) are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

impl Version {
    pub const fn new(major: u8, minor: u8) -> Version {
        Version { major, minor }
    }
}

/// A decoded `_SM_` (SMBIOS 2.x, 31 bytes) or `_SM3_` (SMBIOS 3.x, 24 bytes) entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryPoint {
    pub version: Version,
    /// Where the table is: a physical address in firmware, a file offset in a `dmidecode --dump-bin` image.
    pub table_address: u64,
    /// Exact length for 2.x; for 3.x only the maximum, the table ends at its type-127 structure.
    pub table_length: u32,
    /// 2.x entry points count the structures; 3.x ones do not.
    pub structure_count: Option<u16>,
    /// The entry point's own length, so a dump knows where its table could start at the earliest.
    pub length: usize,
}

const SM2_ANCHOR: &[u8] = b"_SM_";
const SM3_ANCHOR: &[u8] = b"_SM3_";
const SM2_LENGTH: usize = 0x1F;
const SM3_LENGTH: usize = 0x18;

/// Parses the entry point at the start of `bytes` (trailing bytes, such as a dump's table, are ignored).
pub fn parse(bytes: &[u8]) -> Result<EntryPoint, SmbiosError> {
    if bytes.starts_with(SM3_ANCHOR) {
        parse_sm3(bytes)
    } else if bytes.starts_with(SM2_ANCHOR) {
        parse_sm2(bytes)
    } else {
        Err(SmbiosError::NoEntryPoint)
    }
}

fn parse_sm2(bytes: &[u8]) -> Result<EntryPoint, SmbiosError> {
    const ANCHOR: &str = "_SM_";
    let ep = bytes.get(..SM2_LENGTH).ok_or(SmbiosError::EntryPointTooShort {
        anchor: ANCHOR,
        needed: SM2_LENGTH,
        found: bytes.len(),
    })?;
    // The checksum covers the length the entry point declares; some firmware says 0x1E for its 0x1F bytes, and
    // dmidecode accepts up to 0x20, so do we.
    let declared = usize::from(ep[5]).clamp(0x1E, 0x20);
    let checksummed = bytes.get(..declared).ok_or(SmbiosError::EntryPointTooShort {
        anchor: ANCHOR,
        needed: declared,
        found: bytes.len(),
    })?;
    if !sums_to_zero(checksummed) || &ep[0x10..0x15] != b"_DMI_" || !sums_to_zero(&ep[0x10..0x1F]) {
        return Err(SmbiosError::EntryPointChecksum { anchor: ANCHOR });
    }
    Ok(EntryPoint {
        version: fixup_version(Version::new(ep[6], ep[7])),
        table_address: u64::from(u32::from_le_bytes([ep[0x18], ep[0x19], ep[0x1A], ep[0x1B]])),
        table_length: u32::from(u16::from_le_bytes([ep[0x16], ep[0x17]])),
        structure_count: Some(u16::from_le_bytes([ep[0x1C], ep[0x1D]])),
        length: SM2_LENGTH,
    })
}

/// Some firmware (VMware's among it) announces versions that never existed; dmidecode (`dmi_fixup_version`) and the
/// Linux kernel read 2.31 and 2.33 as 2.3 and 2.51 as 2.6, and so must we: the version decides the UUID's byte
/// order, and a UUID that differs from dmidecode's and the hypervisor's breaks identity matching. Only 2.x entry
/// points get this treatment, as in dmidecode.
fn fixup_version(announced: Version) -> Version {
    match (announced.major, announced.minor) {
        (2, 31 | 33) => Version::new(2, 3),
        (2, 51) => Version::new(2, 6),
        _ => announced,
    }
}

fn parse_sm3(bytes: &[u8]) -> Result<EntryPoint, SmbiosError> {
    const ANCHOR: &str = "_SM3_";
    let ep = bytes.get(..SM3_LENGTH).ok_or(SmbiosError::EntryPointTooShort {
        anchor: ANCHOR,
        needed: SM3_LENGTH,
        found: bytes.len(),
    })?;
    let declared = usize::from(ep[6]).clamp(SM3_LENGTH, 0x20);
    let checksummed = bytes.get(..declared).ok_or(SmbiosError::EntryPointTooShort {
        anchor: ANCHOR,
        needed: declared,
        found: bytes.len(),
    })?;
    if !sums_to_zero(checksummed) {
        return Err(SmbiosError::EntryPointChecksum { anchor: ANCHOR });
    }
    let mut address = [0u8; 8];
    address.copy_from_slice(&ep[0x10..0x18]);
    Ok(EntryPoint {
        version: Version::new(ep[7], ep[8]),
        table_address: u64::from_le_bytes(address),
        table_length: u32::from_le_bytes([ep[0x0C], ep[0x0D], ep[0x0E], ep[0x0F]]),
        structure_count: None,
        length: SM3_LENGTH,
    })
}

fn sums_to_zero(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/smbios/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn reads_a_32_bit_entry_point() {
        let ep = parse(&fixture("fwupd/tables/smbios_entry_point")).unwrap();
        assert_eq!(ep.version, Version::new(2, 7));
        assert_eq!(ep.table_address, 0xBCD3_D000);
        assert_eq!(ep.table_length, 2523);
        assert_eq!(ep.structure_count, Some(62));
    }

    #[test]
    fn reads_a_64_bit_entry_point() {
        let ep = parse(&fixture("fwupd/tables64/smbios_entry_point")).unwrap();
        assert_eq!(ep.version, Version::new(3, 0));
        assert_eq!(ep.table_length, 5829);
        assert_eq!(ep.structure_count, None);
    }

    /// Sets the version bytes of a real 2.x entry point and repairs its checksum, as such firmware writes it.
    fn announcing(mut ep: Vec<u8>, minor: u8) -> Vec<u8> {
        ep[7] = minor;
        ep[4] = 0;
        ep[4] = 0u8.wrapping_sub(ep[..0x1F].iter().fold(0u8, |sum, b| sum.wrapping_add(*b)));
        ep
    }

    #[test]
    fn impossible_versions_are_fixed_up_as_dmidecode_does() {
        let ep = fixture("jcreekmore/sysfs-v2/smbios_entry_point");
        for (announced, read_as) in [(31, Version::new(2, 3)), (33, Version::new(2, 3)), (51, Version::new(2, 6))] {
            assert_eq!(parse(&announcing(ep.clone(), announced)).unwrap().version, read_as, "2.{announced}");
        }
        for kept in [3, 5, 6, 8, 30, 32, 50] {
            assert_eq!(parse(&announcing(ep.clone(), kept)).unwrap().version, Version::new(2, kept));
        }
        let mut sm3 = fixture("fwupd/tables64/smbios_entry_point");
        sm3[0x08] = 33;
        sm3[0x05] = sm3[0x05].wrapping_sub(33);
        assert_eq!(parse(&sm3).unwrap().version, Version::new(3, 33));
    }

    #[test]
    fn rejects_short_corrupt_and_foreign_entry_points() {
        let good = fixture("fwupd/tables64/smbios_entry_point");
        assert!(matches!(parse(&good[..20]), Err(SmbiosError::EntryPointTooShort { needed: 24, found: 20, .. })));
        let mut bad = good.clone();
        bad[0x10] ^= 0x01;
        assert_eq!(parse(&bad), Err(SmbiosError::EntryPointChecksum { anchor: "_SM3_" }));
        let good2 = fixture("jcreekmore/sysfs-v2/smbios_entry_point");
        let mut bad2 = good2.clone();
        bad2[0x16] ^= 0x01;
        assert_eq!(parse(&bad2), Err(SmbiosError::EntryPointChecksum { anchor: "_SM_" }));
        assert_eq!(parse(b""), Err(SmbiosError::NoEntryPoint));
        assert_eq!(parse(b"_DMI_ legacy only"), Err(SmbiosError::NoEntryPoint));
    }
}

//! Finds the SMBIOS table and its version in the forms it is saved in: sysfs, `dmidecode --dump-bin`, raw images.
//!
//! Supported layouts, all seen in real captures:
//! - sysfs: `/sys/firmware/dmi/tables/DMI` is the bare table, `smbios_entry_point` beside it says how to read it.
//! - `dmidecode --dump-bin`: the entry point at offset 0, the table at the offset it names (dmidecode writes 0x20).
//! - firmware images such as libsmbios' `smbios.dat`: the same, but the entry point keeps the physical address
//!   (e.g. 0xE0020) while the table follows at 0x20; an address outside the file therefore means 0x20.
//! - Windows `GetSystemFirmwareTable('RSMB')` blobs (smbios-lib's `.dat`): an 8-byte header (calling method,
//!   major, minor, DMI revision, u32 length) then the table.

use super::decode::SmbiosTable;
use super::entry_point::{self, EntryPoint, Version};
use super::error::SmbiosError;

/// Where a dump image's table starts when the entry point's address does not point inside the file.
const DUMP_TABLE_OFFSET: usize = 0x20;
const RSMB_HEADER: usize = 8;

/// A table ready to decode, and what was wrong with its container if something was (decoding still goes ahead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub table: SmbiosTable,
    pub problem: Option<SmbiosError>,
}

/// The live sysfs pair: the entry point file and the table file.
pub fn from_sysfs(entry_point: &[u8], table: &[u8]) -> Result<Located, SmbiosError> {
    let ep = entry_point::parse(entry_point)?;
    Ok(cut_table(&ep, table))
}

/// A file given with `--smbios-dump`: a dump image starting with an entry point, a sysfs table file whose
/// `smbios_entry_point` was found beside it (`sibling_entry_point`), or a Windows RSMB blob.
pub fn from_dump(bytes: &[u8], sibling_entry_point: Option<&[u8]>) -> Result<Located, SmbiosError> {
    match entry_point::parse(bytes) {
        Ok(ep) => return from_image(&ep, bytes),
        // A damaged entry point is reported as such rather than as an unknown format.
        Err(err @ (SmbiosError::EntryPointChecksum { .. } | SmbiosError::EntryPointTooShort { .. })) => {
            return Err(err);
        }
        Err(_) => {}
    }
    if let Some(entry_point) = sibling_entry_point {
        return from_sysfs(entry_point, bytes);
    }
    from_rsmb(bytes).ok_or(SmbiosError::UnknownDumpFormat)
}

fn from_image(ep: &EntryPoint, bytes: &[u8]) -> Result<Located, SmbiosError> {
    let address = usize::try_from(ep.table_address).ok().filter(|a| *a >= ep.length && *a < bytes.len());
    let offset = address.unwrap_or(DUMP_TABLE_OFFSET);
    let Some(table) = bytes.get(offset..).filter(|t| !t.is_empty()) else {
        return Err(SmbiosError::TableOutOfRange {
            offset: ep.table_address,
            length: u64::from(ep.table_length),
            available: bytes.len(),
        });
    };
    Ok(cut_table(ep, table))
}

/// Limits `table` to the announced length. Only 2.x gives an exact length; 3.x gives a maximum, and its table
/// ends at the end-of-table structure, so a shorter 3.x file is only wrong if the walk finds a cut structure.
fn cut_table(ep: &EntryPoint, table: &[u8]) -> Located {
    let announced = usize::try_from(ep.table_length).unwrap_or(usize::MAX);
    let bytes = table.get(..announced).unwrap_or(table).to_vec();
    let problem = (ep.structure_count.is_some() && bytes.len() < announced)
        .then_some(SmbiosError::TableShorterThanAnnounced { announced, available: bytes.len() });
    Located { table: SmbiosTable { version: ep.version, structure_count: ep.structure_count, bytes }, problem }
}

/// The RSMB header's first byte is the "used 2.0 calling method" flag, so 0 or 1, and the major version is 2 or 3;
/// its length must cover the rest of the file, and a file shorter than that length is reported as cut.
fn from_rsmb(bytes: &[u8]) -> Option<Located> {
    let header = bytes.get(..RSMB_HEADER)?;
    let announced = usize::try_from(u32::from_le_bytes([header[4], header[5], header[6], header[7]])).ok()?;
    let table = &bytes[RSMB_HEADER..];
    if header[0] > 1 || !(2..=3).contains(&header[1]) || table.is_empty() || announced < table.len() {
        return None;
    }
    let problem = (table.len() < announced)
        .then_some(SmbiosError::TableShorterThanAnnounced { announced, available: table.len() });
    Some(Located {
        table: SmbiosTable {
            version: Version::new(header[1], header[2]),
            structure_count: None,
            bytes: table.to_vec(),
        },
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/smbios/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn dump_bin_images_carry_their_table_at_0x20() {
        let bytes = fixture("jcreekmore/dmidecode.bin");
        let located = from_dump(&bytes, None).unwrap();
        assert_eq!(located.problem, None);
        assert_eq!(located.table.version, Version::new(2, 7));
        assert_eq!(located.table.bytes, bytes[0x20..0x20 + 0x0AB0]);
    }

    #[test]
    fn an_image_keeping_the_physical_address_reads_the_table_after_the_entry_point() {
        let bytes = fixture("libsmbios/OptiPlex-GX110.smbios.dat");
        let located = from_dump(&bytes, None).unwrap();
        assert_eq!(located.table.version, Version::new(2, 3));
        assert_eq!(located.table.bytes[..4], bytes[0x20..0x24]);
    }

    #[test]
    fn a_sysfs_table_is_read_with_its_entry_point() {
        let table = fixture("jcreekmore/sysfs-v2/DMI");
        let ep = fixture("jcreekmore/sysfs-v2/smbios_entry_point");
        let located = from_dump(&table, Some(&ep)).unwrap();
        assert_eq!(located, from_sysfs(&ep, &table).unwrap());
        assert_eq!(located.table.bytes, table);
        assert_eq!(from_dump(&table, None), Err(SmbiosError::UnknownDumpFormat));
    }

    #[test]
    fn rsmb_blobs_carry_their_version_in_the_header() {
        let bytes = fixture("smbios-lib/jeffgerlap_3_2_0.dat");
        let located = from_dump(&bytes, None).unwrap();
        assert_eq!(located.table.version, Version::new(3, 2));
        assert_eq!(located.table.bytes, bytes[8..]);
        let cut = from_dump(&bytes[..100], None).unwrap();
        assert_eq!(cut.problem, Some(SmbiosError::TableShorterThanAnnounced { announced: 1071, available: 92 }));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(from_dump(&longer, None), Err(SmbiosError::UnknownDumpFormat));
    }

    #[test]
    fn short_or_misplaced_tables_are_reported() {
        let bytes = fixture("jcreekmore/dmidecode.bin");
        let located = from_dump(&bytes[..1000], None).unwrap();
        assert_eq!(located.problem, Some(SmbiosError::TableShorterThanAnnounced { announced: 0x0AB0, available: 968 }));
        assert!(matches!(from_dump(&bytes[..0x20], None), Err(SmbiosError::TableOutOfRange { .. })));
    }
}

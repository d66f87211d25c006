//! Finds the package lists that Go and `cargo auditable` build into an ELF executable (the `.go.buildinfo` and
//! `.dep-v0` sections) without running it and without reading the whole file: the ELF header, the section headers
//! and their names, then the one section wanted (and, for Go before 1.18, the two strings it points to).

use std::fs::File;

use object::elf::{FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, ReadCache, ReadRef};

/// A section that lists the packages built into the executable.
#[derive(Debug, PartialEq, Eq)]
pub enum Embedded {
    /// The contents of `.go.buildinfo`.
    GoBuildInfo(Vec<u8>),
    /// The contents of `.dep-v0` (zlib-compressed JSON).
    CargoAuditable(Vec<u8>),
}

const GO_BUILDINFO: &[u8] = b".go.buildinfo";
const CARGO_AUDITABLE: &[u8] = b".dep-v0";

/// True when `start` (the first bytes of a file) is an ELF header's magic number.
pub fn is_elf(start: &[u8]) -> bool {
    start.starts_with(b"\x7fELF")
}

/// The embedded package list of the ELF file `file`, if it has one; an error when the file is not a readable ELF
/// file or the section is larger than `max_bytes`.
pub fn embedded_in_file(file: File, max_bytes: u64) -> Result<Option<Embedded>, String> {
    embedded(&ReadCache::new(file), max_bytes)
}

/// The same for an ELF file in any [`ReadRef`] (the file itself through a cache, or bytes in memory).
pub fn embedded<'data, R: ReadRef<'data>>(data: R, max_bytes: u64) -> Result<Option<Embedded>, String> {
    let ident = data.read_bytes_at(0, 16).map_err(|()| "shorter than an ELF header".to_string())?;
    if !is_elf(ident) {
        return Err("not an ELF file".to_string());
    }
    // EI_CLASS: 1 for 32-bit, 2 for 64-bit files.
    match ident[4] {
        2 => sections::<FileHeader64<Endianness>, R>(data, max_bytes),
        1 => sections::<FileHeader32<Endianness>, R>(data, max_bytes),
        class => Err(format!("unknown ELF class {class}")),
    }
}

fn sections<'data, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    data: R,
    max_bytes: u64,
) -> Result<Option<Embedded>, String> {
    let header = Elf::parse(data).map_err(|e| format!("ELF header: {e}"))?;
    let endian = header.endian().map_err(|e| format!("ELF header: {e}"))?;
    let table = header.sections(endian, data).map_err(|e| format!("ELF section headers: {e}"))?;
    for (_, section) in table.enumerate() {
        let name = table.section_name(endian, section).map_err(|e| format!("ELF section names: {e}"))?;
        let wrap: fn(Vec<u8>) -> Embedded = match name {
            GO_BUILDINFO => Embedded::GoBuildInfo,
            CARGO_AUDITABLE => Embedded::CargoAuditable,
            _ => continue,
        };
        let size: u64 = section.sh_size(endian).into();
        if size > max_bytes {
            return Err(format!("{} section of {size} bytes is over the limit of {max_bytes}", lossy(name)));
        }
        let bytes = section.data(endian, data).map_err(|e| format!("{} section: {e}", lossy(name)))?;
        if name == GO_BUILDINFO && super::gobuild::is_pointer_form(bytes) {
            let read = |address: u64, len: usize| read_at_address::<Elf, R>(&table, endian, data, address, len);
            return super::gobuild::inline_from_pointers(bytes, max_bytes, read)
                .map(|b| Some(Embedded::GoBuildInfo(b)));
        }
        return Ok(Some(wrap(bytes.to_vec())));
    }
    Ok(None)
}

/// `len` bytes of the memory image at `address`, from the section that holds them in the file (none for bytes
/// only in memory, such as `.bss`).
fn read_at_address<'data, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    table: &object::read::elf::SectionTable<'data, Elf, R>,
    endian: Endianness,
    data: R,
    address: u64,
    len: usize,
) -> Option<Vec<u8>> {
    let end = address.checked_add(len as u64)?;
    table.iter().find_map(|section| {
        let (start, size): (u64, u64) = (section.sh_addr(endian).into(), section.sh_size(endian).into());
        if section.sh_type(endian) == object::elf::SHT_NOBITS || address < start || end > start.checked_add(size)? {
            return None;
        }
        let offset: u64 = section.sh_offset(endian).into();
        data.read_bytes_at(offset.checked_add(address - start)?, len as u64).ok().map(<[u8]>::to_vec)
    })
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

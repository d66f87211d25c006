//! Walks the SMBIOS structure table: each structure's formatted area and its string set, bounds-checked.

use super::error::SmbiosError;

/// One SMBIOS structure. Offsets given to the accessors are those of the spec's tables (the header included), and
/// a field beyond the structure's length reads as absent, which is how older SMBIOS versions omit newer fields.
#[derive(Debug, Clone)]
pub struct Structure<'a> {
    pub kind: u8,
    pub handle: u16,
    data: &'a [u8],
    strings: Vec<&'a [u8]>,
}

/// The structures read before the table ended, and the reason it ended early when it did.
#[derive(Debug, Clone)]
pub struct Table<'a> {
    pub structures: Vec<Structure<'a>>,
    pub problem: Option<SmbiosError>,
}

/// The structure type that marks the end of the table.
const END_OF_TABLE: u8 = 127;

/// Walks `table` until the end-of-table structure, the announced structure count (2.x) or the end of the bytes.
pub fn walk(table: &[u8], structure_count: Option<u16>) -> Table<'_> {
    let mut structures = Vec::new();
    let mut offset = 0usize;
    let problem = loop {
        if structure_count.is_some_and(|count| structures.len() >= usize::from(count)) {
            break None;
        }
        let Some(header) = table.get(offset..offset + 4) else {
            break structure_count
                .map(|announced| SmbiosError::MissingStructures { announced, found: structures.len() });
        };
        let (kind, length) = (header[0], header[1]);
        let handle = u16::from_le_bytes([header[2], header[3]]);
        if length < 4 {
            break Some(SmbiosError::StructureTooShort { offset, length });
        }
        let formatted_end = offset + usize::from(length);
        let Some(data) = table.get(offset..formatted_end) else {
            break Some(SmbiosError::StructureTruncated { offset, kind });
        };
        // The string set ends with two NUL bytes; without strings it is just those two.
        let rest = table.get(formatted_end..).unwrap_or_default();
        let Some(strings_len) = memchr::memmem::find(rest, b"\0\0") else {
            break Some(SmbiosError::StructureTruncated { offset, kind });
        };
        let strings = rest[..strings_len].split(|b| *b == 0).filter(|s| !s.is_empty()).collect();
        structures.push(Structure { kind, handle, data, strings });
        offset = formatted_end + strings_len + 2;
        if kind == END_OF_TABLE {
            break None;
        }
    };
    Table { structures, problem }
}

impl<'a> Structure<'a> {
    /// The formatted area's length as the structure declares it.
    pub fn length(&self) -> usize {
        self.data.len()
    }

    pub fn byte(&self, offset: usize) -> Option<u8> {
        self.data.get(offset).copied()
    }

    pub fn word(&self, offset: usize) -> Option<u16> {
        let bytes = self.data.get(offset..offset + 2)?;
        Some(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    pub fn dword(&self, offset: usize) -> Option<u32> {
        let bytes = self.data.get(offset..offset + 4)?;
        Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub fn bytes(&self, offset: usize, len: usize) -> Option<&'a [u8]> {
        self.data.get(offset..offset + len)
    }

    /// The string the byte at `offset` refers to, trimmed. String number 0 means "no string"; a number beyond the
    /// string set is a corrupt structure, reported in `problems`.
    pub fn string(&self, offset: usize, problems: &mut Vec<SmbiosError>) -> Option<String> {
        let index = self.byte(offset)?;
        if index == 0 {
            return None;
        }
        let Some(raw) = self.strings.get(usize::from(index) - 1) else {
            problems.push(SmbiosError::BadStringIndex { handle: self.handle, kind: self.kind, index });
            return None;
        };
        Some(clean_string(raw))
    }
}

/// Control characters become `.` as dmidecode prints them; bytes that are not UTF-8 become U+FFFD.
fn clean_string(raw: &[u8]) -> String {
    let printable: Vec<u8> = raw.iter().map(|&b| if b < 0x20 || b == 0x7F { b'.' } else { b }).collect();
    String::from_utf8_lossy(&printable).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type-1 structure with two strings, then the end-of-table marker.
    const TWO: &[u8] = b"\x01\x08\x01\x00\x01\x02\x03\x00Acme\0Box 9  \0\0\x7f\x04\x02\x00\0\0";

    #[test]
    fn walks_structures_and_their_strings() {
        let table = walk(TWO, None);
        assert!(table.problem.is_none());
        assert_eq!(table.structures.len(), 2);
        let system = &table.structures[0];
        assert_eq!((system.kind, system.handle, system.length()), (1, 1, 8));
        let mut problems = Vec::new();
        assert_eq!(system.string(4, &mut problems).as_deref(), Some("Acme"));
        assert_eq!(system.string(5, &mut problems).as_deref(), Some("Box 9"));
        assert_eq!(system.string(7, &mut problems), None);
        assert!(problems.is_empty());
        assert_eq!(system.string(6, &mut problems), None);
        assert_eq!(problems, vec![SmbiosError::BadStringIndex { handle: 1, kind: 1, index: 3 }]);
        assert_eq!(system.byte(8), None);
        assert_eq!(system.word(7), None);
    }

    #[test]
    fn stops_at_the_end_of_table_marker() {
        let mut bytes = TWO.to_vec();
        bytes.extend_from_slice(b"\x01\x08\x03\x00\x01\x02\x03\x00\0\0");
        assert_eq!(walk(&bytes, None).structures.len(), 2);
    }

    #[test]
    fn every_truncation_is_reported_not_panicked_on() {
        for cut in 0..TWO.len() {
            let table = walk(&TWO[..cut], Some(2));
            assert!(table.problem.is_some(), "cut at {cut} went unnoticed");
            assert!(table.structures.len() < 2);
        }
        assert!(matches!(walk(&TWO[..6], None).problem, Some(SmbiosError::StructureTruncated { offset: 0, kind: 1 })));
        assert!(matches!(walk(&TWO[..20], None).problem, Some(SmbiosError::StructureTruncated { offset: 0, kind: 1 })));
        assert_eq!(walk(&TWO[..22], Some(2)).problem, Some(SmbiosError::MissingStructures { announced: 2, found: 1 }));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_walk_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let table = walk(&bytes, Some(8));
            let mut problems = Vec::new();
            for s in &table.structures {
                for offset in 0..s.length() + 2 {
                    let _ = (s.string(offset, &mut problems), s.word(offset), s.dword(offset));
                }
            }
        }
    }

    #[test]
    fn a_length_below_the_header_stops_the_walk() {
        let table = walk(b"\x01\x02\x00\x00\0\0", None);
        assert_eq!(table.problem, Some(SmbiosError::StructureTooShort { offset: 0, length: 2 }));
        assert!(table.structures.is_empty());
    }
}

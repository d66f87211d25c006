//! The ways SMBIOS input can be wrong, kept apart so every decoder stage reports the same typed problems.

use muster_shared::v1::ErrorKind;
use thiserror::Error;

/// A problem found while locating or walking the SMBIOS table. Decoding keeps what it could read before the problem.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SmbiosError {
    #[error("no SMBIOS entry point: the data starts with neither `_SM_` nor `_SM3_`")]
    NoEntryPoint,
    #[error("{anchor} entry point is {found} bytes, needs {needed}")]
    EntryPointTooShort { anchor: &'static str, needed: usize, found: usize },
    #[error("{anchor} entry point checksum does not add up to zero")]
    EntryPointChecksum { anchor: &'static str },
    #[error("the dump is neither a `dmidecode --dump-bin` image nor a DMI table with `smbios_entry_point` beside it")]
    UnknownDumpFormat,
    #[error("the table ({length} bytes at offset {offset}) lies outside the {available}-byte input")]
    TableOutOfRange { offset: u64, length: u64, available: usize },
    #[error("the table is {available} bytes, the entry point announces {announced}")]
    TableShorterThanAnnounced { announced: usize, available: usize },
    #[error("structure at offset {offset} declares length {length}, less than its 4-byte header")]
    StructureTooShort { offset: usize, length: u8 },
    #[error("structure at offset {offset} (type {kind}) runs past the end of the table")]
    StructureTruncated { offset: usize, kind: u8 },
    #[error("the entry point announces {announced} structures, the table holds {found} before its end")]
    MissingStructures { announced: u16, found: usize },
    #[error("structure 0x{handle:04x} (type {kind}) refers to string {index}, which does not exist")]
    BadStringIndex { handle: u16, kind: u8, index: u8 },
}

impl SmbiosError {
    /// How the report classifies the problem: an input that stops early is `Truncated`, anything malformed `Parse`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SmbiosError::TableShorterThanAnnounced { .. }
            | SmbiosError::StructureTruncated { .. }
            | SmbiosError::MissingStructures { .. } => ErrorKind::Truncated,
            SmbiosError::NoEntryPoint
            | SmbiosError::EntryPointTooShort { .. }
            | SmbiosError::EntryPointChecksum { .. }
            | SmbiosError::UnknownDumpFormat
            | SmbiosError::TableOutOfRange { .. }
            | SmbiosError::StructureTooShort { .. }
            | SmbiosError::BadStringIndex { .. } => ErrorKind::Parse,
        }
    }
}

//! rpm package headers: the tagged blob every rpmdb format stores per package, and the package it describes.
//!
//! Layout (all big-endian): entry count `il`, data length `dl`, `il` index entries of (tag, type, offset, count),
//! then `dl` bytes of data. Headers come from files that may be damaged, so every offset is checked against the data
//! store before it is used.

use chrono::DateTime;
use memchr::memchr;
use muster_shared::v1::{Package, PackageKind};

use crate::inventory::software::{DbError, lossy};

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_INSTALLTIME: u32 = 1008;
const TAG_SIZE: u32 = 1009;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;
const TAG_DIRINDEXES: u32 = 1116;
const TAG_BASENAMES: u32 = 1117;
const TAG_DIRNAMES: u32 = 1118;
const TAG_LONGSIZE: u32 = 5009;

const TYPE_INT16: u32 = 3;
const TYPE_INT32: u32 = 4;
const TYPE_INT64: u32 = 5;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm itself refuses headers beyond these sizes; anything larger is damage, not a package.
const MAX_ENTRIES: usize = 0xffff;
const MAX_DATA: usize = 256 << 20;

/// A header whose index and data store have been located inside the blob.
pub(super) struct Header<'a> {
    index: &'a [u8],
    store: &'a [u8],
}

impl<'a> Header<'a> {
    pub(super) fn parse(blob: &'a [u8]) -> Result<Header<'a>, DbError> {
        let (Some(il), Some(dl)) = (be32(blob, 0), be32(blob, 4)) else {
            return Err(DbError::Truncated(format!("rpm header of {} bytes has no size fields", blob.len())));
        };
        let (il, dl) = (il as usize, dl as usize);
        if il == 0 || il > MAX_ENTRIES || dl > MAX_DATA {
            return Err(DbError::Corrupt(format!("rpm header claims {il} entries and {dl} data bytes")));
        }
        let index_end = 8 + il * 16;
        let Some(store) = blob.get(index_end..index_end + dl) else {
            return Err(DbError::Truncated(format!("rpm header needs {} bytes, has {}", index_end + dl, blob.len())));
        };
        Ok(Header { index: &blob[8..index_end], store })
    }

    /// The type, data offset and count of `tag`'s entry; `Err` when the offset is negative.
    fn entry(&self, tag: u32) -> Result<Option<(u32, usize, usize)>, DbError> {
        let Some(e) = self.index.chunks_exact(16).find(|e| be32(e, 0) == Some(tag)) else { return Ok(None) };
        let field = |at| be32(e, at).ok_or_else(|| out_of_bounds(tag));
        let offset = usize::try_from(field(8)? as i32).map_err(|_| out_of_bounds(tag))?;
        Ok(Some((field(4)?, offset, field(12)? as usize)))
    }

    /// A string tag's value (the first element of an array), or `None` when the header lacks the tag.
    fn string(&self, tag: u32) -> Result<Option<&'a [u8]>, DbError> {
        let Some((kind, offset, _)) = self.entry(tag)? else { return Ok(None) };
        if !matches!(kind, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Err(DbError::Corrupt(format!("rpm tag {tag} has type {kind}, not a string")));
        }
        let rest = self.store.get(offset..).ok_or_else(|| out_of_bounds(tag))?;
        let end = memchr(0, rest).ok_or_else(|| out_of_bounds(tag))?;
        Ok(Some(&rest[..end]))
    }

    /// An integer tag's first value.
    fn int(&self, tag: u32) -> Result<Option<u64>, DbError> {
        let Some((kind, offset, count)) = self.entry(tag)? else { return Ok(None) };
        let width = match kind {
            TYPE_INT16 => 2,
            TYPE_INT32 => 4,
            TYPE_INT64 => 8,
            _ => return Err(DbError::Corrupt(format!("rpm tag {tag} has type {kind}, not an integer"))),
        };
        if count == 0 {
            return Err(out_of_bounds(tag));
        }
        let bytes = self.store.get(offset..offset + width).ok_or_else(|| out_of_bounds(tag))?;
        Ok(Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))))
    }

    /// Every element of a string-array tag; empty when the header lacks the tag.
    fn strings(&self, tag: u32) -> Result<Vec<&'a [u8]>, DbError> {
        let Some((kind, offset, count)) = self.entry(tag)? else { return Ok(Vec::new()) };
        if kind != TYPE_STRING_ARRAY {
            return Err(DbError::Corrupt(format!("rpm tag {tag} has type {kind}, not a string array")));
        }
        let mut rest = self.store.get(offset..).ok_or_else(|| out_of_bounds(tag))?;
        // Each element takes at least its NUL, which bounds a count read from damaged data.
        let mut out = Vec::with_capacity(count.min(rest.len()));
        for _ in 0..count {
            let end = memchr(0, rest).ok_or_else(|| out_of_bounds(tag))?;
            out.push(&rest[..end]);
            rest = &rest[end + 1..];
        }
        Ok(out)
    }

    /// Every element of an INT32-array tag; empty when the header lacks the tag.
    fn int32s(&self, tag: u32) -> Result<Vec<u32>, DbError> {
        let Some((kind, offset, count)) = self.entry(tag)? else { return Ok(Vec::new()) };
        if kind != TYPE_INT32 {
            return Err(DbError::Corrupt(format!("rpm tag {tag} has type {kind}, not INT32")));
        }
        let end = count.checked_mul(4).and_then(|len| offset.checked_add(len)).ok_or_else(|| out_of_bounds(tag))?;
        let bytes = self.store.get(offset..end).ok_or_else(|| out_of_bounds(tag))?;
        Ok(bytes.chunks_exact(4).filter_map(|b| be32(b, 0)).collect())
    }

    fn required(&self, tag: u32, what: &str) -> Result<&'a [u8], DbError> {
        self.string(tag)?.ok_or_else(|| DbError::Corrupt(format!("rpm header without {what}")))
    }
}

/// Calls `each(package name, path)` for every file an rpm header lists (`DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]`).
pub(super) fn files_from_header(blob: &[u8], each: &mut dyn FnMut(&str, &[u8])) -> Result<(), DbError> {
    let header = Header::parse(blob)?;
    let name = String::from_utf8_lossy(header.required(TAG_NAME, "a name")?);
    let (dirs, bases, indexes) =
        (header.strings(TAG_DIRNAMES)?, header.strings(TAG_BASENAMES)?, header.int32s(TAG_DIRINDEXES)?);
    if bases.len() != indexes.len() {
        return Err(DbError::Corrupt(format!(
            "rpm header lists {} file names and {} dir indexes",
            bases.len(),
            indexes.len()
        )));
    }
    let mut path = Vec::new();
    for (base, index) in bases.into_iter().zip(indexes) {
        let dir = dirs.get(index as usize).ok_or_else(|| out_of_bounds(TAG_DIRINDEXES))?;
        path.clear();
        path.extend_from_slice(dir);
        path.extend_from_slice(base);
        each(&name, &path);
    }
    Ok(())
}

/// The package an rpm header describes, with the version written the way `rpm -q` shows it plus the epoch.
pub(super) fn package_from_header(blob: &[u8]) -> Result<Package, DbError> {
    let header = Header::parse(blob)?;
    let name = lossy(header.required(TAG_NAME, "a name")?);
    let version = lossy(header.required(TAG_VERSION, "a version")?);
    let release = lossy(header.required(TAG_RELEASE, "a release")?);
    // An EPOCH tag is printed even when it is 0, as rpm's %{EVR} does; without the tag there is no epoch.
    let full_version = match header.int(TAG_EPOCH)? {
        Some(epoch) => format!("{epoch}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    let (source_name, source_version) = match header.string(TAG_SOURCERPM)? {
        Some(srpm) => split_source_rpm(&lossy(srpm)),
        None => (None, None),
    };
    let installed_at =
        header.int(TAG_INSTALLTIME)?.and_then(|t| i64::try_from(t).ok()).and_then(|t| DateTime::from_timestamp(t, 0));
    let size_bytes = match header.int(TAG_LONGSIZE)? {
        Some(size) => Some(size),
        None => header.int(TAG_SIZE)?,
    };
    Ok(Package {
        kind: PackageKind::Rpm,
        name,
        version: full_version,
        arch: header.string(TAG_ARCH)?.filter(|a| !a.is_empty()).map(lossy),
        source_name,
        source_version,
        installed_at,
        size_bytes,
        state: None,
        path: None,
        owner: None,
        publisher: None,
        channel: None,
    })
}

/// Splits `name-version-release.src.rpm` into the source name and `version-release`.
///
/// The file name carries no epoch, so neither does the source version.
fn split_source_rpm(srpm: &str) -> (Option<String>, Option<String>) {
    let stem = srpm.strip_suffix(".src.rpm").or_else(|| srpm.strip_suffix(".nosrc.rpm")).unwrap_or(srpm);
    let mut parts = stem.rsplitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(release), Some(version), Some(name)) if !name.is_empty() => {
            (Some(name.to_string()), Some(format!("{version}-{release}")))
        }
        _ => (Some(stem.to_string()), None),
    }
}

fn out_of_bounds(tag: u32) -> DbError {
    DbError::Corrupt(format!("rpm tag {tag} points outside the header data"))
}

pub(super) fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

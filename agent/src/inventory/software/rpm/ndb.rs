//! rpm's own "ndb" package store `Packages.db` (SUSE since SLES 15 SP3 / openSUSE).
//!
//! A 32-byte little-endian header (magic `RpmP`, version 0, generation, slot page count) is followed by slot pages of
//! 16-byte slots (`Slot`, package index, block offset, block count); each used slot points, in 16-byte blocks, at a
//! blob (`BlbS`, package index, checksum, length) followed by the package header. The layout is documented in rpm's
//! `lib/backend/ndb/rpmpkg.c`; go-rpmdb's reader was the reference.

use crate::inventory::software::DbError;

use super::bdb::Blobs;

const HEADER_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const BLOB_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
const SLOT_PAGE: usize = 4096;
const SLOT: usize = 16;
const BLOCK: usize = 16;
/// rpm caps the slot area far below this; a larger count is damage.
const MAX_SLOT_PAGES: usize = 2048;

pub(super) fn read(data: &[u8]) -> Result<Blobs, DbError> {
    let (Some(magic), Some(version), Some(slot_pages)) = (le32(data, 0), le32(data, 4), le32(data, 12)) else {
        return Err(DbError::Truncated("shorter than an ndb header".to_string()));
    };
    if magic != HEADER_MAGIC {
        return Err(DbError::Corrupt("not an rpm ndb database".to_string()));
    }
    if version != 0 {
        return Err(DbError::Corrupt(format!("ndb version {version} is not supported")));
    }
    let slot_pages = slot_pages as usize;
    if slot_pages == 0 || slot_pages > MAX_SLOT_PAGES {
        return Err(DbError::Corrupt(format!("ndb claims {slot_pages} slot pages")));
    }
    let mut out = Blobs { blobs: Vec::new(), problems: Vec::new() };
    let slot_area = slot_pages * SLOT_PAGE;
    if data.len() < slot_area {
        out.problems.push(DbError::Truncated(format!("the slot area needs {slot_area} bytes, has {}", data.len())));
    }
    // The first two slots' space holds the file header.
    let slots = data.get(2 * SLOT..slot_area.min(data.len())).unwrap_or_default();
    for slot in slots.chunks_exact(SLOT) {
        let (Some(slot_magic), Some(package), Some(block), Some(blocks)) =
            (le32(slot, 0), le32(slot, 4), le32(slot, 8), le32(slot, 12))
        else {
            continue;
        };
        if slot_magic != SLOT_MAGIC {
            out.problems.push(DbError::Corrupt("an ndb slot has a bad magic number".to_string()));
            break;
        }
        if package == 0 {
            continue;
        }
        match blob(data, package, block as usize * BLOCK, blocks as usize * BLOCK) {
            Ok(bytes) => out.blobs.push(bytes.to_vec()),
            Err(problem) => out.problems.push(problem),
        }
    }
    Ok(out)
}

/// The header blob of package `package`, stored in the `span` bytes from byte `at`.
fn blob(data: &[u8], package: u32, at: usize, span: usize) -> Result<&[u8], DbError> {
    // The blob's blocks end with a tail rpm writes; a file that ends before them was cut short.
    if at.saturating_add(span) > data.len() {
        return Err(DbError::Truncated(format!("the blocks of package {package} are past the end of the file")));
    }
    let (Some(magic), Some(owner), Some(len)) = (le32(data, at), le32(data, at + 4), le32(data, at + 12)) else {
        return Err(DbError::Truncated(format!("the blob of package {package} is past the end of the file")));
    };
    if magic != BLOB_MAGIC || owner != package {
        return Err(DbError::Corrupt(format!("the blob of package {package} has a bad header")));
    }
    let start = at + BLOCK;
    if BLOCK + len as usize > span {
        return Err(DbError::Corrupt(format!("the blob of package {package} is longer than its blocks")));
    }
    data.get(start..start + len as usize)
        .ok_or_else(|| DbError::Truncated(format!("the blob of package {package} is cut short")))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

//! The SQLite rpmdb `rpmdb.sqlite` (rpm ≥ 4.16: Fedora 33+, RHEL/Alma/Rocky 9, CBL-Mariner, Amazon Linux 2023).
//!
//! Header blobs live in the `Packages` table. The file is opened as `inventory::sqlite` opens others' databases:
//! read-only and, unless a write-ahead log beside it holds changes, `immutable`, so a running rpm is never disturbed.

use std::path::Path;

use crate::inventory::software::DbError;

use super::bdb::Blobs;

pub(super) fn read(path: &Path) -> Result<Blobs, DbError> {
    let mut out = Blobs { blobs: Vec::new(), problems: Vec::new() };
    let (conn, wal_unread) = crate::inventory::sqlite::open_read_only(path)?;
    if wal_unread {
        out.problems.push(DbError::Pending(
            "rpmdb.sqlite-wal holds changes that could not be merged on this read-only open".to_string(),
        ));
    }
    let mut statement = conn.prepare("SELECT blob FROM Packages ORDER BY hnum")?;
    let mut rows = statement.query([])?;
    loop {
        match rows.next() {
            Ok(Some(row)) => match row.get_ref(0).map(|v| v.as_blob().map(<[u8]>::to_vec)) {
                Ok(Ok(blob)) => out.blobs.push(blob),
                _ => out.problems.push(DbError::Corrupt("a Packages row holds no blob".to_string())),
            },
            Ok(None) => break,
            Err(err) => {
                out.problems.push(err.into());
                break;
            }
        }
    }
    Ok(out)
}

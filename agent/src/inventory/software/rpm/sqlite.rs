//! The SQLite rpmdb `rpmdb.sqlite` (rpm ≥ 4.16: Fedora 33+, RHEL/Alma/Rocky 9, CBL-Mariner, Amazon Linux 2023).
//!
//! Header blobs live in the `Packages` table. The file is opened read-only and, unless a write-ahead log beside it
//! holds changes, as `immutable` so SQLite neither locks nor creates files: that works on read-only mounts and
//! never disturbs a running rpm.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::inventory::software::DbError;

use super::bdb::Blobs;

pub(super) fn read(path: &Path) -> Result<Blobs, DbError> {
    let mut out = Blobs { blobs: Vec::new(), problems: Vec::new() };
    let wal = path.with_file_name(format!("{}-wal", path.file_name().unwrap_or_default().to_string_lossy()));
    let wal_pending = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    let conn = if wal_pending {
        // Only a non-immutable open merges the log; where that is impossible (read-only mount), read without it.
        match open(path, false) {
            Ok(conn) => conn,
            Err(_) => {
                out.problems.push(DbError::Pending(
                    "rpmdb.sqlite-wal holds changes that could not be merged on this read-only open".to_string(),
                ));
                open(path, true)?
            }
        }
    } else {
        open(path, true)?
    };
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

fn open(path: &Path, immutable: bool) -> Result<Connection, DbError> {
    let mut uri = String::from("file:");
    for &b in &crate::platform::path_bytes(path) {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str(if immutable { "?immutable=1" } else { "?mode=ro" });
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri, flags)?;
    // Opening is lazy; touching the schema makes "not a database" surface here.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    Ok(conn)
}

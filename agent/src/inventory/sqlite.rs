//! Opening another program's SQLite database for reading (rpm's rpmdb, wtmpdb, lastlog2) without disturbing it: a
//! read-only, `immutable` open where no write-ahead log holds changes, so SQLite neither locks nor creates files (it
//! works on read-only mounts and never blocks the owner's writes); where a log holds changes, an ordinary read-only
//! open that merges them, falling back to the immutable one when that is impossible.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// The database at `path` and whether changes in its write-ahead log could not be read (a read-only mount).
pub fn open_read_only(path: &Path) -> rusqlite::Result<(Connection, bool)> {
    let wal = path.with_file_name(format!("{}-wal", path.file_name().unwrap_or_default().to_string_lossy()));
    let wal_pending = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    if wal_pending {
        // Only a non-immutable open merges the log; where that is impossible (read-only mount), read without it.
        match open(path, false) {
            Ok(conn) => Ok((conn, false)),
            Err(_) => Ok((open(path, true)?, true)),
        }
    } else {
        Ok((open(path, true)?, false))
    }
}

fn open(path: &Path, immutable: bool) -> rusqlite::Result<Connection> {
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

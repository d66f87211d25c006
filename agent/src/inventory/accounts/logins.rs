//! Each account's last login, so an administrator account nobody has used for a year stands out: glibc's
//! `/var/log/lastlog` (one record per uid, what `lastlog` and login's "Last login:" show) and `/var/log/wtmp` (every
//! login, what `last` shows; `wtmp.1` is last month's after logrotate), the later of the two.
//!
//! Written by hand: the records are fixed C structs (`struct lastlog`, `struct utmp` of glibc's `<lastlog.h>` and
//! `<bits/utmp.h>`); no maintained crate reads them without also reading the running system's own files. glibc has
//! two layouts ([`Layout`]): 32-bit times on x86-64 (kept for its 32-bit programs) and 32-bit systems, 292-byte
//! lastlog and 384-byte utmp records; 64-bit times on aarch64, 296 and 400 bytes (glibc's other 64-bit ports keep
//! the 32-bit-time layout, `__WORDSIZE_TIME64_COMPAT32`). A file that divides into records of one layout only is
//! read in that one; a wtmp both divide is read in the one under which its first records all have valid types,
//! else in the agent's own; a record type no glibc writes means the file is not in the layout assumed, and it is
//! reported as unreadable rather than guessed at.
//!
//! Systems that replaced those files for the year-2038 problem (Debian 13, openSUSE, Fedora 40+ with util-linux's
//! lastlog2 and wtmpdb) keep the same facts in SQLite: `/var/lib/lastlog/lastlog2.db` (one row per user name) and
//! `/var/lib/wtmpdb/wtmp.db` (every login); both are read too, and the latest record of any of the four wins.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};

use chrono::DateTime;
use muster_shared::v1::{Account, ErrorKind, LastLogin, SectionName};

use crate::root::{ErrorLog, SystemRoot};

/// `sizeof(struct lastlog)` with 32-bit times: `int32_t ll_time; char ll_line[32]; char ll_host[256];`.
pub const LASTLOG_RECORD: usize = 292;
/// `sizeof(struct utmp)` with 32-bit times.
pub const UTMP_RECORD: usize = 384;
/// The least common multiple of the two utmp sizes: a wtmp of a multiple of it divides into both, and its first
/// this many bytes (25 or 24 records) tell them apart.
const UTMP_AMBIGUITY: usize = 9_600;

/// Which of glibc's two record layouts a login file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `__WORDSIZE_TIME64_COMPAT32`: x86-64 and the 32-bit systems.
    Time32,
    /// aarch64: `time_t` and `struct timeval` of 64 bits in the records.
    Time64,
}

impl Layout {
    /// The layout of the system the agent was built for.
    pub const fn native() -> Layout {
        if cfg!(target_arch = "aarch64") { Layout::Time64 } else { Layout::Time32 }
    }

    pub const fn lastlog_size(self) -> usize {
        match self {
            Layout::Time32 => LASTLOG_RECORD,
            Layout::Time64 => 296,
        }
    }

    pub const fn utmp_size(self) -> usize {
        match self {
            Layout::Time32 => UTMP_RECORD,
            Layout::Time64 => 400,
        }
    }

    /// The layout a file of `size` bytes is in: the one whose `record` size alone divides it, else the native one
    /// (an empty file, or one both divide: 9,600-byte multiples of utmp, 21,608-byte ones of lastlog).
    pub fn of_file(size: u64, record: fn(Layout) -> usize) -> Layout {
        Layout::by_size(size, record).unwrap_or_else(Layout::native)
    }

    fn by_size(size: u64, record: fn(Layout) -> usize) -> Option<Layout> {
        let fits = |l: Layout| size.is_multiple_of(record(l) as u64);
        match (fits(Layout::Time32), fits(Layout::Time64)) {
            (true, false) => Some(Layout::Time32),
            (false, true) => Some(Layout::Time64),
            _ => None,
        }
    }

    /// The layout of a wtmp file of `size` bytes starting with `head`: by size where that decides; else the one
    /// under which every whole record of `head` has a type glibc writes (read in the wrong layout, a record's type
    /// comes from the middle of another's fields); else the native one.
    pub fn of_utmp(size: u64, head: &[u8]) -> Layout {
        if let Some(layout) = Layout::by_size(size, Layout::utmp_size) {
            return layout;
        }
        let valid = |l: Layout| head.chunks_exact(l.utmp_size()).all(|r| wtmp_login(r, l).is_ok());
        match (valid(Layout::Time32), valid(Layout::Time64)) {
            (true, false) => Layout::Time32,
            (false, true) => Layout::Time64,
            _ => Layout::native(),
        }
    }
}

/// `ut_type` of a login (`USER_PROCESS`); types above `ACCOUNTING` (9) are not glibc's.
const USER_PROCESS: i16 = 7;
const ACCOUNTING: i16 = 9;

const LASTLOG: &str = "/var/log/lastlog";
const LASTLOG2: &str = "/var/lib/lastlog/lastlog2.db";
const WTMPDB: &str = "/var/lib/wtmpdb/wtmp.db";
/// wtmpdb's `Type` of a login (its `USER_PROCESS`; 1 is a boot, 2 a run level).
const WTMPDB_LOGIN: i64 = 3;
/// Newest first; logrotate keeps one old month by default.
const WTMP: [&str; 2] = ["/var/log/wtmp", "/var/log/wtmp.1"];

/// A record's bytes do not form the layout this reader knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LayoutError(String);

/// A NUL-padded C string field; empty is none.
fn text(field: &[u8]) -> Option<String> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let s = String::from_utf8_lossy(&field[..end]).trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn i32_at(record: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&record[at..at + 4]);
    i32::from_le_bytes(b)
}

fn i64_at(record: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&record[at..at + 8]);
    i64::from_le_bytes(b)
}

/// One lastlog record of `layout` (the uid is its index in the file); `None` when the account never logged in or
/// the record is not of the layout's size.
pub fn lastlog_record(record: &[u8], layout: Layout) -> Option<LastLogin> {
    if record.len() != layout.lastlog_size() {
        return None;
    }
    let (seconds, text_at) = match layout {
        Layout::Time32 => (i64::from(u32::from_le_bytes([record[0], record[1], record[2], record[3]])), 4),
        Layout::Time64 => (i64_at(record, 0), 8),
    };
    if seconds == 0 {
        return None;
    }
    Some(LastLogin {
        at: DateTime::from_timestamp(seconds, 0)?,
        line: text(&record[text_at..text_at + 32]),
        from: text(&record[text_at + 32..text_at + 288]),
        source: "lastlog".into(),
    })
}

/// One utmp/wtmp record of `layout` that is a login: the user name and the login. Other records (boot, run
/// level, logout) are `Ok(None)`; a type no glibc writes, or a record of another size, means the file is not in
/// this layout.
pub fn wtmp_login(record: &[u8], layout: Layout) -> Result<Option<(String, LastLogin)>, LayoutError> {
    if record.len() != layout.utmp_size() {
        return Err(LayoutError(format!("a record of {} bytes, not {}", record.len(), layout.utmp_size())));
    }
    let kind = i16::from_le_bytes([record[0], record[1]]);
    if !(0..=ACCOUNTING).contains(&kind) {
        return Err(LayoutError(format!("record type {kind} is not a utmp type")));
    }
    if kind != USER_PROCESS {
        return Ok(None);
    }
    let Some(user) = text(&record[44..76]) else { return Ok(None) };
    // `ut_session` is 4 bytes before `ut_tv` with 32-bit times, 8 (a long) with 64-bit ones.
    let (seconds, micros) = match layout {
        Layout::Time32 => (i64::from(i32_at(record, 340)), i64::from(i32_at(record, 344))),
        Layout::Time64 => (i64_at(record, 344), i64_at(record, 352)),
    };
    let micros = micros.clamp(0, 999_999) as u32;
    let Some(at) = DateTime::from_timestamp(seconds, micros * 1000) else { return Ok(None) };
    Ok(Some((user, LastLogin { at, line: text(&record[8..40]), from: text(&record[76..332]), source: "wtmp".into() })))
}

/// The latest login per user name in a wtmp stream, folded record by record so a year of logins costs no memory.
pub fn wtmp_latest(
    mut input: impl Read,
    layout: Layout,
    latest: &mut BTreeMap<String, LastLogin>,
) -> Result<(), WtmpError> {
    let size = layout.utmp_size();
    let mut buffer = [0u8; 400];
    let record = &mut buffer[..size];
    loop {
        let mut filled = 0;
        while filled < size {
            match input.read(&mut record[filled..]) {
                Ok(0) if filled == 0 => return Ok(()),
                Ok(0) => {
                    return Err(WtmpError::Layout(LayoutError(format!(
                        "ends inside a record ({filled} of {size} bytes)"
                    ))));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(WtmpError::Io(e)),
            }
        }
        if let Some((user, login)) = wtmp_login(record, layout).map_err(WtmpError::Layout)? {
            match latest.get_mut(&user) {
                Some(kept) => keep_later(kept, login),
                None => {
                    latest.insert(user, login);
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WtmpError {
    #[error(transparent)]
    Io(io::Error),
    #[error(transparent)]
    Layout(LayoutError),
}

fn keep_later(kept: &mut LastLogin, candidate: LastLogin) {
    if candidate.at > kept.at {
        *kept = candidate;
    }
}

/// Each user's lastlog2 row (`Lastlog2`: name, time in seconds, terminal, remote host).
pub fn lastlog2_logins(db: &rusqlite::Connection) -> rusqlite::Result<BTreeMap<String, LastLogin>> {
    let mut statement = db.prepare("SELECT Name, Time, TTY, RemoteHost FROM Lastlog2 WHERE Time > 0")?;
    let mut rows = statement.query([])?;
    let mut out = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let (name, seconds): (String, i64) = (row.get(0)?, row.get(1)?);
        let Some(at) = DateTime::from_timestamp(seconds, 0) else { continue };
        let login =
            LastLogin { at, line: nonempty(row.get(2)?), from: nonempty(row.get(3)?), source: "lastlog2".into() };
        out.insert(name, login);
    }
    Ok(out)
}

/// The latest login per user in wtmpdb's `wtmp` table (login times in microseconds), folded row by row.
pub fn wtmpdb_latest(db: &rusqlite::Connection) -> rusqlite::Result<BTreeMap<String, LastLogin>> {
    let mut statement =
        db.prepare("SELECT User, Login, TTY, RemoteHost FROM wtmp WHERE Type = ?1 AND Login IS NOT NULL")?;
    let mut rows = statement.query([WTMPDB_LOGIN])?;
    let mut out: BTreeMap<String, LastLogin> = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let (user, micros): (String, i64) = (row.get(0)?, row.get(1)?);
        let Some(at) = DateTime::from_timestamp_micros(micros) else { continue };
        let login = LastLogin { at, line: nonempty(row.get(2)?), from: nonempty(row.get(3)?), source: "wtmpdb".into() };
        match out.get_mut(&user) {
            Some(kept) => keep_later(kept, login),
            None => {
                out.insert(user, login);
            }
        }
    }
    Ok(out)
}

fn nonempty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Puts on each account the latest of its lastlog record (by uid) and its records in `by_name` (lastlog2, wtmp,
/// wtmpdb, in that order); on a tie the earlier source stays: lastlog's is the one `lastlog` and login's greeting
/// show.
pub fn resolve(accounts: &mut [Account], lastlog: &BTreeMap<u32, LastLogin>, by_name: &[&BTreeMap<String, LastLogin>]) {
    for account in accounts.iter_mut() {
        let candidates = std::iter::once(lastlog.get(&account.uid)).chain(by_name.iter().map(|m| m.get(&account.name)));
        account.last_login = candidates.flatten().reduce(|a, b| if b.at > a.at { b } else { a }).cloned();
    }
}

/// The logins of a lastlog2 or wtmpdb database under `root`: none when it is absent, an error logged when it
/// cannot be read.
fn read_database(
    root: &SystemRoot,
    path: &str,
    read: fn(&rusqlite::Connection) -> rusqlite::Result<BTreeMap<String, LastLogin>>,
    errors: &mut ErrorLog,
) -> BTreeMap<String, LastLogin> {
    let file = root.path(path);
    if !file.is_file() {
        return BTreeMap::new();
    }
    let found = crate::inventory::sqlite::open_read_only(&file).and_then(|(db, wal_unread)| {
        if wal_unread {
            let message = "its write-ahead log holds logins this read-only open cannot merge; they are left out";
            errors.record(SectionName::Host, path, ErrorKind::NotAvailable, message);
        }
        read(&db)
    });
    found.unwrap_or_else(|e| {
        errors.record(SectionName::Host, path, ErrorKind::Parse, format!("not a readable login database: {e}"));
        BTreeMap::new()
    })
}

/// Reads the logins of the system under `root` onto `accounts`. Missing files are normal (a minimal container, a
/// system with only the SQLite databases or only the legacy files); unreadable or foreign-layout ones are logged.
pub fn probe(root: &SystemRoot, accounts: &mut [Account], errors: &mut ErrorLog) {
    let lastlog = match read_lastlog(root, accounts) {
        Ok(found) => found,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                log(errors, LASTLOG, &e);
            }
            BTreeMap::new()
        }
    };
    let mut wtmp = BTreeMap::new();
    for path in WTMP {
        let file = match std::fs::File::open(root.path(path)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                errors.io(SectionName::Host, path, &e);
                continue;
            }
        };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut input = io::BufReader::with_capacity(UTMP_AMBIGUITY, file);
        // The buffer's first fill is the head the layout is told by; reading goes on from it.
        let layout = match io::BufRead::fill_buf(&mut input) {
            Ok(head) => Layout::of_utmp(size, head),
            Err(_) => Layout::native(),
        };
        match wtmp_latest(input, layout, &mut wtmp) {
            Ok(()) => {}
            Err(WtmpError::Io(e)) => errors.io(SectionName::Host, path, &e),
            Err(WtmpError::Layout(e)) => {
                errors.record(SectionName::Host, path, ErrorKind::Parse, format!("not a wtmp file of this layout: {e}"))
            }
        }
    }
    let lastlog2 = read_database(root, LASTLOG2, lastlog2_logins, errors);
    let wtmpdb = read_database(root, WTMPDB, wtmpdb_latest, errors);
    resolve(accounts, &lastlog, &[&lastlog2, &wtmp, &wtmpdb]);
}

fn log(errors: &mut ErrorLog, path: &str, e: &io::Error) {
    if e.kind() == io::ErrorKind::InvalidData {
        errors.record(SectionName::Host, path, ErrorKind::Parse, format!("not a lastlog file of this layout: {e}"));
    } else {
        errors.io(SectionName::Host, path, e);
    }
}

/// The lastlog records of `accounts`' uids, read by seeking (the file is sparse: its size is the highest uid that
/// logged in times the record size, easily gigabytes of holes for a uid near 2³²).
fn read_lastlog(root: &SystemRoot, accounts: &[Account]) -> io::Result<BTreeMap<u32, LastLogin>> {
    let mut file = std::fs::File::open(root.path(LASTLOG))?;
    let size = file.metadata()?.len();
    let layout = Layout::of_file(size, Layout::lastlog_size);
    let record_size = layout.lastlog_size();
    if !size.is_multiple_of(record_size as u64) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{size} bytes is not a whole number of 292- or 296-byte records"),
        ));
    }
    let mut found = BTreeMap::new();
    let mut buffer = [0u8; 296];
    let record = &mut buffer[..record_size];
    for uid in accounts.iter().map(|a| a.uid) {
        let at = u64::from(uid) * record_size as u64;
        if at + record_size as u64 > size {
            continue;
        }
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(record)?;
        if let Some(login) = lastlog_record(record, layout) {
            found.insert(uid, login);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    //! On the records Debian 12's sshd (openssh-server 1:9.2p1-2+deb12u10) wrote for three logins over loopback
    //! (testdata/logins/debian-12-sshd, see the README), checked against what util-linux's `last` and shadow's
    //! `lastlog` printed for the same files.

    use std::path::PathBuf;

    use super::*;
    use crate::inventory::accounts::parse_passwd;

    fn testdata(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/logins/debian-12-sshd").join(rel)
    }

    fn read(rel: &str) -> Vec<u8> {
        std::fs::read(testdata(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn lastlog_bytes() -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(read("lastlog.gz").as_slice()).read_to_end(&mut out).unwrap();
        out
    }

    /// `last -F -w -i` lines, newest first: (user, terminal, from, login time as `last` prints it).
    fn last_lines() -> Vec<(String, String, String, String)> {
        let text = String::from_utf8(read("expected.last.txt")).unwrap();
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with("wtmp begins"))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].into(), f[1].into(), f[2].into(), f[3..8].join(" "))
            })
            .collect()
    }

    #[test]
    fn wtmp_as_sshd_wrote_it_agrees_with_last() {
        let mut latest = BTreeMap::new();
        wtmp_latest(read("wtmp").as_slice(), Layout::Time32, &mut latest).unwrap();
        let lines = last_lines();
        assert_eq!(lines.len(), 3);
        let mut users: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        assert_eq!(latest.keys().map(String::as_str).collect::<Vec<_>>(), users);
        for (user, login) in &latest {
            // `last` lists newest first: a user's first line is the login kept.
            let (_, line, from, at) = lines.iter().find(|l| &l.0 == user).unwrap();
            assert_eq!(
                login.at.format("%a %b %e %H:%M:%S %Y").to_string().split_whitespace().collect::<Vec<_>>().join(" "),
                *at
            );
            assert_eq!((login.line.as_deref(), login.from.as_deref()), (Some(line.as_str()), Some(from.as_str())));
            assert_eq!(login.source, "wtmp");
        }
        // alice logged in from ::1, then from 127.0.0.1: the later one is kept, to the microsecond utmpdump shows.
        assert_eq!(latest["alice"].at.to_rfc3339(), "2026-12-03T21:55:05.966731+00:00");
    }

    #[test]
    fn lastlog_as_sshd_wrote_it_agrees_with_lastlog() {
        let bytes = lastlog_bytes();
        assert_eq!(bytes.len() % LASTLOG_RECORD, 0);
        let mut found = BTreeMap::new();
        for (uid, record) in bytes.chunks_exact(LASTLOG_RECORD).enumerate() {
            if let Some(login) = lastlog_record(record, Layout::Time32) {
                found.insert(uid as u32, login);
            }
        }
        let passwd = parse_passwd(&String::from_utf8(read("passwd")).unwrap());
        let uid = |name: &str| passwd.iter().find(|a| a.name == name).unwrap().uid;
        let text = String::from_utf8(read("expected.lastlog.txt")).unwrap();
        let logged: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .filter(|l| !l.contains("**Never logged in**"))
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(logged.len(), 2, "root and alice");
        assert_eq!(found.len(), logged.len(), "every record lastlog prints, and no other");
        for f in logged {
            let login = &found[&uid(f[0])];
            assert_eq!((login.line.as_deref(), login.from.as_deref()), (Some(f[1]), Some(f[2])));
            assert_eq!(
                login.at.format("%a %b %e %H:%M:%S %z %Y").to_string().split_whitespace().collect::<Vec<_>>(),
                f[3..]
            );
            assert_eq!(login.source, "lastlog");
        }
    }

    /// A mounted root holding the captured files: every account gets the later of its two records; without wtmp
    /// lastlog alone answers; a wtmp of another layout is reported, not guessed at.
    #[test]
    fn probe_takes_the_later_record_and_reports_a_foreign_layout() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("var/log")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), read("passwd")).unwrap();
        std::fs::write(dir.path().join("var/log/lastlog"), lastlog_bytes()).unwrap();
        std::fs::write(dir.path().join("var/log/wtmp"), read("wtmp")).unwrap();
        let root = SystemRoot::mounted(dir.path());
        let accounts = |errors: &mut ErrorLog| {
            let mut accounts = parse_passwd(&String::from_utf8(read("passwd")).unwrap());
            probe(&root, &mut accounts, errors);
            accounts.into_iter().map(|a| (a.name, a.last_login.unwrap())).collect::<BTreeMap<_, _>>()
        };
        let mut errors = ErrorLog::new();
        let both = accounts(&mut errors);
        assert!(errors.is_empty(), "{:?}", errors.as_slice());
        // wtmp keeps microseconds, lastlog whole seconds of the same login: the wtmp record is the later.
        assert_eq!(both["root"].at.to_rfc3339(), "2026-12-03T21:55:02.090272+00:00");
        assert_eq!((both["root"].source.as_str(), both["alice"].source.as_str()), ("wtmp", "wtmp"));

        std::fs::remove_file(dir.path().join("var/log/wtmp")).unwrap();
        let lastlog_only = accounts(&mut errors);
        assert!(errors.is_empty(), "a missing wtmp is normal: {:?}", errors.as_slice());
        assert_eq!(lastlog_only["alice"].at.to_rfc3339(), "2026-12-03T21:55:05+00:00");
        assert_eq!(lastlog_only["alice"].source, "lastlog");

        // lastlog's records are 292 bytes: read as wtmp they do not divide into utmp records.
        std::fs::write(dir.path().join("var/log/wtmp"), lastlog_bytes()).unwrap();
        let foreign = accounts(&mut errors);
        assert_eq!(foreign["alice"].source, "lastlog");
        let e = &errors.as_slice()[0];
        assert_eq!((e.item.as_str(), e.kind), ("/var/log/wtmp", ErrorKind::Parse));
        assert!(e.message.contains("not a wtmp file of this layout"), "{}", e.message);
    }

    #[test]
    fn a_record_type_glibc_never_writes_is_a_layout_error() {
        // The captured root login with its type replaced by a value no utmp record holds.
        let mut record: Vec<u8> = read("wtmp")[..UTMP_RECORD].to_vec();
        assert!(matches!(wtmp_login(&record, Layout::Time32), Ok(Some((ref user, _))) if user == "root"));
        record[..2].copy_from_slice(&300i16.to_le_bytes());
        assert!(wtmp_login(&record, Layout::Time32).is_err());
    }

    /// Debian 13's util-linux 2.41 `lastlog2 --import` and wtmpdb 0.73 `wtmpdb import` of the captured lastlog and
    /// wtmp (testdata/logins/debian-13-wtmpdb, see the README): each account's login as `wtmpdb last -F` and
    /// `lastlog2` print it, the later of the two (wtmpdb keeps microseconds) on the account.
    #[test]
    fn lastlog2_and_wtmpdb_databases_agree_with_their_tools() {
        let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/logins/debian-13-wtmpdb");
        let root = SystemRoot::mounted(&base);
        let open = |rel: &str| crate::inventory::sqlite::open_read_only(&base.join(rel)).unwrap().0;
        let lastlog2 = lastlog2_logins(&open("var/lib/lastlog/lastlog2.db")).unwrap();
        let text = std::fs::read_to_string(base.join("expected.lastlog2.txt")).unwrap();
        let printed: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(printed.len(), lastlog2.len());
        for f in &printed {
            let login = &lastlog2[f[0]];
            assert_eq!((login.line.as_deref(), login.from.as_deref()), (Some(f[1]), Some(f[2])));
            let shown = login.at.format("%a %b %e %H:%M:%S %z %Y").to_string();
            assert_eq!(shown.split_whitespace().collect::<Vec<_>>(), f[3..]);
            assert_eq!(login.source, "lastlog2");
        }

        let wtmpdb = wtmpdb_latest(&open("var/lib/wtmpdb/wtmp.db")).unwrap();
        let text = std::fs::read_to_string(base.join("expected.wtmpdb-last.txt")).unwrap();
        // `wtmpdb last` lists newest first: the first line of each user is the user's latest login.
        let mut latest: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for line in text.lines().take_while(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            latest.entry(f[0]).or_insert(f);
        }
        assert_eq!(latest.len(), 2, "root and alice");
        assert_eq!(wtmpdb.len(), latest.len());
        for (user, f) in &latest {
            let login = &wtmpdb[*user];
            assert_eq!((login.line.as_deref(), login.from.as_deref()), (Some(f[1]), Some(f[2])));
            assert_eq!(
                login.at.format("%a %b %e %H:%M:%S %Y").to_string().split_whitespace().collect::<Vec<_>>(),
                f[3..8]
            );
            assert_eq!(login.source, "wtmpdb");
        }

        let mut accounts = parse_passwd(&std::fs::read_to_string(base.join("etc/passwd")).unwrap());
        let mut errors = ErrorLog::new();
        probe(&root, &mut accounts, &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.as_slice());
        let got: Vec<(String, String, String)> = accounts
            .into_iter()
            .map(|a| {
                let l = a.last_login.unwrap();
                (a.name, l.at.to_rfc3339(), l.source)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("root".to_owned(), "2026-12-03T21:55:02.090272+00:00".to_owned(), "wtmpdb".to_owned()),
                ("alice".to_owned(), "2026-12-03T21:55:05.966731+00:00".to_owned(), "wtmpdb".to_owned()),
            ]
        );

        // A damaged database is an error naming it; the other one still answers.
        let dir = tempfile::tempdir().unwrap();
        for rel in ["etc/passwd", "var/lib/lastlog/lastlog2.db", "var/lib/wtmpdb/wtmp.db"] {
            std::fs::create_dir_all(dir.path().join(rel).parent().unwrap()).unwrap();
            std::fs::copy(base.join(rel), dir.path().join(rel)).unwrap();
        }
        std::fs::write(dir.path().join("var/lib/wtmpdb/wtmp.db"), b"not a database, 16 bytes or more").unwrap();
        let mut accounts = parse_passwd(&std::fs::read_to_string(base.join("etc/passwd")).unwrap());
        let mut errors = ErrorLog::new();
        probe(&SystemRoot::mounted(dir.path()), &mut accounts, &mut errors);
        let e = &errors.as_slice()[0];
        assert_eq!(
            (e.item.as_str(), e.kind, errors.as_slice().len()),
            ("/var/lib/wtmpdb/wtmp.db", ErrorKind::Parse, 1)
        );
        assert_eq!(accounts[1].last_login.as_ref().unwrap().source, "lastlog2");
    }

    /// The 64-bit-time layout as aarch64's glibc writes it (testdata/logins/debian-12-aarch64, see the README): the
    /// captured wtmp as Debian 12's arm64 `utmpdump -r` rewrote it and a lastlog its arm64 `lastlog -S` wrote, both
    /// run under qemu-user; read back as arm64's `last` and `lastlog` printed them, the layout told by the sizes.
    #[test]
    fn aarch64_records_read_as_aarch64s_tools_print_them() {
        let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/logins/debian-12-aarch64");
        let wtmp = std::fs::read(base.join("wtmp")).unwrap();
        assert_eq!(Layout::of_file(wtmp.len() as u64, Layout::utmp_size), Layout::Time64);
        let mut latest = BTreeMap::new();
        wtmp_latest(wtmp.as_slice(), Layout::Time64, &mut latest).unwrap();
        // The same logins as the x86-64 capture they were rewritten from (`last` printed the same lines).
        let mut x86 = BTreeMap::new();
        wtmp_latest(read("wtmp").as_slice(), Layout::Time32, &mut x86).unwrap();
        assert_eq!(latest, x86);
        // arm64's `last` printed exactly what x86-64's did for the original (its file was named `wtmp.aarch64`).
        let printed = std::fs::read_to_string(base.join("expected.last.txt")).unwrap();
        assert_eq!(
            printed.replace("wtmp.aarch64 begins", "wtmp begins"),
            String::from_utf8(read("expected.last.txt")).unwrap()
        );
        // Read in the other layout, the records are nonsense, and the first wrong type says so.
        assert!(wtmp_latest(wtmp.as_slice(), Layout::Time32, &mut BTreeMap::new()).is_err());

        let mut lastlog = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(base.join("lastlog.gz")).unwrap())
            .read_to_end(&mut lastlog)
            .unwrap();
        assert_eq!(Layout::of_file(lastlog.len() as u64, Layout::lastlog_size), Layout::Time64);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/log")).unwrap();
        std::fs::write(dir.path().join("var/log/lastlog"), &lastlog).unwrap();
        std::fs::write(dir.path().join("var/log/wtmp"), &wtmp).unwrap();
        let mut accounts = parse_passwd(&std::fs::read_to_string(base.join("passwd")).unwrap());
        let root = SystemRoot::mounted(dir.path());
        let by_uid = read_lastlog(&root, &accounts).unwrap();
        let text = std::fs::read_to_string(base.join("expected.lastlog.txt")).unwrap();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let uid = accounts.iter().find(|a| a.name == f[0]).unwrap().uid;
            let login = &by_uid[&uid];
            assert_eq!((login.line.as_deref(), login.from.as_deref()), (Some(f[1]), Some(f[2])));
            let shown = login.at.format("%a %b %e %H:%M:%S %z %Y").to_string();
            assert_eq!(shown.split_whitespace().collect::<Vec<_>>(), f[3..]);
        }
        assert_eq!(by_uid.len(), 2);
        let mut errors = ErrorLog::new();
        probe(&root, &mut accounts, &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.as_slice());
        // `lastlog -S` stamped both accounts a day after their wtmp logins: lastlog's records are the later.
        assert!(accounts.iter().all(|a| a.last_login.as_ref().unwrap().source == "lastlog"));
    }

    /// A wtmp of 9,600 bytes divides into records of both layouts (25 × 384, 24 × 400): the captured records of
    /// each layout, repeated to that size, are told apart by which reading gives only valid record types.
    #[test]
    fn a_wtmp_both_sizes_divide_is_told_by_its_record_types() {
        let aarch64 =
            std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/logins/debian-12-aarch64/wtmp"))
                .unwrap();
        let x86: Vec<u8> = read("wtmp").iter().copied().cycle().take(UTMP_AMBIGUITY).collect();
        let arm: Vec<u8> = aarch64.iter().copied().cycle().take(UTMP_AMBIGUITY).collect();
        assert_eq!(Layout::of_utmp(x86.len() as u64, &x86), Layout::Time32);
        assert_eq!(Layout::of_utmp(arm.len() as u64, &arm), Layout::Time64);
        // Sizes that decide alone are not second-guessed.
        assert_eq!(Layout::of_utmp(1152, &[]), Layout::Time32);
        assert_eq!(Layout::of_utmp(1200, &[]), Layout::Time64);
        assert_eq!(Layout::of_utmp(0, &[]), Layout::native());
    }
}

//! The log of an agent running without a console (the Windows service): one timestamped line per event appended to
//! a file, kept to two files of about 1 MiB so a long-running service never fills the disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

/// Past this size the log is moved to `<name>.1` (replacing the older one) and started afresh.
pub const ROTATE_BYTES: u64 = 1024 * 1024;

/// An open service log; lines that cannot be written are dropped (there is nowhere else to say so).
pub struct ServiceLog<C: Fn() -> DateTime<Utc>> {
    path: PathBuf,
    file: Option<File>,
    written: u64,
    now: C,
}

impl<C: Fn() -> DateTime<Utc>> ServiceLog<C> {
    /// Opens `path` for appending, creating its directory; `now` stamps each line.
    pub fn open(path: &Path, now: C) -> ServiceLog<C> {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let mut log = ServiceLog { path: path.to_path_buf(), file: None, written: 0, now };
        log.reopen();
        log
    }

    fn reopen(&mut self) {
        self.file = OpenOptions::new().create(true).append(true).open(&self.path).ok();
        self.written = self.file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
    }

    /// Appends one line, `2026-12-05T12:00:00Z muster-agent: <line>`, rotating first when the file is full.
    pub fn line(&mut self, line: &str) {
        if self.written >= ROTATE_BYTES {
            self.file = None;
            let mut old = self.path.clone().into_os_string();
            old.push(".1");
            let _ = std::fs::rename(&self.path, PathBuf::from(old));
            self.reopen();
        }
        let text = format!("{} muster-agent: {line}\n", (self.now)().to_rfc3339_opts(SecondsFormat::Secs, true));
        if let Some(file) = &mut self.file
            && file.write_all(text.as_bytes()).is_ok()
        {
            self.written += text.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_stamped_appended_and_rotated_at_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Muster").join("muster-agent.log");
        let at = DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z").unwrap().with_timezone(&Utc);
        let mut log = ServiceLog::open(&path, || at);
        log.line("reporting to https://collector:8443 as host h1 every 1h (±10%)");
        drop(log);
        // A restart appends.
        let mut log = ServiceLog::open(&path, || at);
        log.line("stopped");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "2026-12-05T12:00:00Z muster-agent: reporting to https://collector:8443 as host h1 every 1h (±10%)\n\
             2026-12-05T12:00:00Z muster-agent: stopped\n"
        );
        let long = "x".repeat(4096);
        for _ in 0..(ROTATE_BYTES / 4096 + 1) {
            log.line(&long);
        }
        log.line("after the rotation");
        let rotated = std::fs::read_to_string(dir.path().join("Muster").join("muster-agent.log.1")).unwrap();
        assert!(rotated.len() as u64 >= ROTATE_BYTES, "{}", rotated.len());
        assert!(rotated.starts_with(&text), "the rotated file holds the older lines");
        let fresh = std::fs::read_to_string(&path).unwrap();
        assert!((fresh.len() as u64) < ROTATE_BYTES, "{}", fresh.len());
        assert!(fresh.ends_with("2026-12-05T12:00:00Z muster-agent: after the rotation\n"));
        assert_eq!(rotated.lines().count() + fresh.lines().count(), 2 + (ROTATE_BYTES / 4096 + 1) as usize + 1);
    }
}

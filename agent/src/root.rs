//! The filesystem root the agent reads: `/` on a live system, or a mounted tree given with `--root`.
//!
//! Every file read by a collector goes through [`SystemRoot`] so that `--root` can never silently read the host's
//! own files: paths are always written as absolute paths of the inspected system and joined onto the root here.

use std::io;
use std::path::{Component, Path, PathBuf};

use muster_shared::v1::{CollectionError, ErrorKind, SectionName};

/// Where system files are read from, and whether the running kernel belongs to that system.
#[derive(Debug, Clone)]
pub struct SystemRoot {
    base: PathBuf,
    live: bool,
}

impl SystemRoot {
    /// The running system, read at `/`.
    pub fn live() -> SystemRoot {
        SystemRoot { base: PathBuf::from("/"), live: true }
    }

    /// A mounted filesystem tree; facts that only a running system has are not available.
    pub fn mounted(base: impl Into<PathBuf>) -> SystemRoot {
        SystemRoot { base: base.into(), live: false }
    }

    /// True when this root is the running system, so `/proc`, `/sys` and live interfaces describe it.
    pub fn is_live(&self) -> bool {
        self.live
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Maps an absolute path of the inspected system (e.g. `/var/lib/dpkg/status`) to a path on this machine.
    ///
    /// On a mounted root, symbolic links are resolved inside the root (an absolute link target such as
    /// `/usr/lib/os-release` means the root's copy, not the host's) and `..` never climbs above the root.
    pub fn path(&self, system_path: impl AsRef<Path>) -> PathBuf {
        if self.live {
            return lexical_join(&self.base, system_path.as_ref());
        }
        self.resolve_in_root(system_path.as_ref())
    }

    fn resolve_in_root(&self, system_path: &Path) -> PathBuf {
        const MAX_LINKS: usize = 40;
        let mut pending: Vec<std::ffi::OsString> = normal_parts(system_path).into_iter().rev().collect();
        let mut resolved: Vec<std::ffi::OsString> = Vec::new();
        let mut links_followed = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                resolved.pop();
                continue;
            }
            resolved.push(part);
            let host_path = self.base.join(resolved.iter().collect::<PathBuf>());
            let Ok(target) = std::fs::read_link(&host_path) else { continue };
            links_followed += 1;
            if links_followed > MAX_LINKS {
                // The last part is still a link, which the host would follow out of the root: a name no file can
                // have (a NUL byte) makes every use of the path fail instead.
                return self.base.join("too many symbolic links\0");
            }
            resolved.pop();
            if target.is_absolute() {
                resolved.clear();
            }
            for target_part in normal_parts(&target).into_iter().rev() {
                pending.push(target_part);
            }
        }
        self.base.join(resolved.iter().collect::<PathBuf>())
    }

    pub fn read(&self, system_path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(system_path))
    }

    pub fn read_to_string(&self, system_path: impl AsRef<Path>) -> io::Result<String> {
        std::fs::read_to_string(self.path(system_path))
    }

    /// The names in a directory of the inspected system, sorted; a directory that does not exist is empty (names
    /// that are not UTF-8 are left out).
    pub fn dir_names(&self, system_path: impl AsRef<Path>) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(self.path(system_path)) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let mut names: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
        names.sort();
        Ok(names)
    }

    pub fn exists(&self, system_path: impl AsRef<Path>) -> bool {
        self.path(system_path).exists()
    }

    /// A small file that someone other than root may control (a user's configuration, a receipt in a directory its
    /// user owns), read whole: `None` when it does not exist; an `InvalidData` error when it is not a regular file or
    /// holds more than `max` bytes. On Unix it is opened without blocking, so a FIFO, a device or a file such as
    /// `/proc/kmsg` linked into its place cannot stall the agent (links are followed: configuration is often one).
    pub fn read_regular(&self, system_path: impl AsRef<Path>, max: u64) -> io::Result<Option<Vec<u8>>> {
        use std::io::Read;
        let file = match open_non_blocking(&self.path(system_path)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not a regular file"));
        }
        let mut data = Vec::new();
        file.take(max.saturating_add(1)).read_to_end(&mut data)?;
        if data.len() as u64 > max {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {max} bytes")));
        }
        Ok(Some(data))
    }
}

#[cfg(unix)]
fn open_non_blocking(path: &Path) -> io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    Ok(std::fs::File::from(rustix::fs::open(path, flags, Mode::empty())?))
}

#[cfg(not(unix))]
fn open_non_blocking(path: &Path) -> io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// A file's time as a date, `None` when it is outside what a date can hold (a filesystem such as btrfs keeps 64-bit
/// seconds, and an image may say anything).
pub fn file_time(time: std::time::SystemTime) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, TimeDelta};
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => DateTime::UNIX_EPOCH.checked_add_signed(TimeDelta::from_std(after).ok()?),
        Err(before) => DateTime::UNIX_EPOCH.checked_sub_signed(TimeDelta::from_std(before.duration()).ok()?),
    }
}

/// When a file was last modified, from its metadata (`std::fs::metadata`, or `symlink_metadata` for a link's own
/// time); `None` when it cannot be read or the time is out of range.
pub fn modified_at(metadata: io::Result<std::fs::Metadata>) -> Option<chrono::DateTime<chrono::Utc>> {
    file_time(metadata.and_then(|m| m.modified()).ok()?)
}

/// Joins without touching the filesystem, dropping `..` so the result stays below `base`.
fn lexical_join(base: &Path, system_path: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for component in system_path.components() {
        if let Component::Normal(part) = component {
            out.push(part);
        }
    }
    out
}

/// The path's components with `.` and the root removed; `..` is kept for the resolver to apply.
pub(crate) fn normal_parts(path: &Path) -> Vec<std::ffi::OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Collects what could not be read, so one failing source never stops the others.
#[derive(Debug, Default)]
pub struct ErrorLog {
    errors: Vec<CollectionError>,
}

impl ErrorLog {
    pub fn new() -> ErrorLog {
        ErrorLog::default()
    }

    pub fn record(
        &mut self,
        section: SectionName,
        item: impl Into<String>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) {
        self.errors.push(CollectionError { section, item: item.into(), kind, message: message.into() });
    }

    /// Records an I/O failure, classifying missing files and permission problems so users can tell them apart.
    pub fn io(&mut self, section: SectionName, item: impl Into<String>, err: &io::Error) {
        let kind = io_error_kind(err);
        self.record(section, item, kind, err.to_string());
    }

    /// Records a fact that exists only on a running system while a mounted root is being read.
    pub fn not_live(&mut self, section: SectionName, item: impl Into<String>) {
        self.record(section, item, ErrorKind::NotAvailable, "only available on the running system, not in --root mode");
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn as_slice(&self) -> &[CollectionError] {
        &self.errors
    }

    pub fn into_vec(self) -> Vec<CollectionError> {
        self.errors
    }
}

pub fn io_error_kind(err: &io::Error) -> ErrorKind {
    match err.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        io::ErrorKind::InvalidData => ErrorKind::Parse,
        _ => ErrorKind::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = SystemRoot::mounted("/mnt/disk");
        assert_eq!(root.path("/var/lib/dpkg/status"), PathBuf::from("/mnt/disk/var/lib/dpkg/status"));
        assert_eq!(root.path("/../../etc/shadow"), PathBuf::from("/mnt/disk/etc/shadow"));
        assert_eq!(root.path("etc/../../passwd"), PathBuf::from("/mnt/disk/passwd"));
        assert!(!root.is_live());
        assert!(SystemRoot::live().is_live());
    }

    #[test]
    fn absolute_symlinks_resolve_inside_a_mounted_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("usr/lib/os-release"), "ID=inside\n").unwrap();
        std::os::unix::fs::symlink("/usr/lib/os-release", dir.path().join("etc/os-release")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/passwd", dir.path().join("etc/escape")).unwrap();
        let root = SystemRoot::mounted(dir.path());
        assert_eq!(root.read_to_string("/etc/os-release").unwrap(), "ID=inside\n");
        assert_eq!(root.path("/etc/escape"), dir.path().join("etc/passwd"));
    }

    /// A chain of links longer than the resolver follows fails to read; the host never follows the rest of it out of
    /// the root (here to a file in another directory, which the chain's last, absolute link names).
    #[cfg(unix)]
    #[test]
    fn a_chain_of_links_too_long_is_not_followed_out_of_the_root() {
        let dir = tempfile::tempdir().unwrap();
        // A file outside the root, named by an absolute link at the end of the chain.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "outside\n").unwrap();
        let target = outside.path().join("secret");
        std::fs::create_dir_all(dir.path().join(target.parent().unwrap().strip_prefix("/").unwrap())).unwrap();
        std::fs::write(dir.path().join(target.strip_prefix("/").unwrap()), "inside\n").unwrap();
        for i in 0..45 {
            std::os::unix::fs::symlink(format!("l{}", i + 1), dir.path().join(format!("l{i}"))).unwrap();
        }
        std::os::unix::fs::symlink(&target, dir.path().join("l45")).unwrap();
        std::os::unix::fs::symlink("l43", dir.path().join("short")).unwrap();
        let root = SystemRoot::mounted(dir.path());
        // Three links and the absolute one resolve inside the root, to the root's copy of that path.
        assert_eq!(root.read_to_string("/short").unwrap(), "inside\n");
        assert!(root.read("/l0").is_err());
        assert!(root.read_regular("/l0", 1 << 20).is_err());
    }

    #[test]
    fn file_times_outside_what_a_date_holds_are_none() {
        use std::time::{Duration, UNIX_EPOCH};
        let far = UNIX_EPOCH.checked_add(Duration::from_secs(1 << 62)).unwrap();
        assert_eq!(file_time(far), None);
        assert_eq!(
            file_time(UNIX_EPOCH + Duration::from_secs(1_734_857_580)).unwrap().to_rfc3339(),
            "2024-12-22T08:53:00+00:00"
        );
        let before = UNIX_EPOCH.checked_sub(Duration::from_millis(1_500)).unwrap();
        assert_eq!(file_time(before).unwrap().to_rfc3339(), "1969-12-31T23:59:58.500+00:00");
    }
}

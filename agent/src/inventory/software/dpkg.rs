//! dpkg's package database: `/var/lib/dpkg/status` and the distroless `status.d/` directory.
//!
//! The listing matches `dpkg-query -W`: every package whose state is anything but `not-installed`, which includes
//! packages removed with their configuration files kept (`rc`), since dpkg still lists them. This runs on every
//! collection over a file of a few megabytes, so the parser walks lines with `memchr` and only allocates for the
//! few fields it keeps.

use std::path::{Path, PathBuf};

use memchr::memchr;
use muster_shared::v1::{Package, PackageKind, PackageSource};

use super::{DbError, Listing, failed, lossy, source, trim};
use crate::root::SystemRoot;

const STATUS: &str = "/var/lib/dpkg/status";
const STATUS_D: &str = "/var/lib/dpkg/status.d";
/// A `status.d` file holds one package's stanza (a few KiB); one past this is not one.
const MAX_STATUS_D_FILE: u64 = 16 << 20;
const INFO: &str = "/var/lib/dpkg/info";
const UPDATES: &str = "/var/lib/dpkg/updates";

/// Which kind of file a dpkg stanza list comes from; they differ in what a missing `Status` field means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpkgFlavor {
    /// `/var/lib/dpkg/status`: a stanza without `Status` is one dpkg knows of but has not installed.
    Status,
    /// A distroless `status.d/*` file: image builders write each unpacked package's stanza without `Status`.
    StatusD,
}

/// Parses a dpkg status file (or one `status.d` file, which may hold several stanzas) into the listed packages.
///
/// Stanzas that cannot describe a package (no name, no version, an unknown state, a line that is not a field) are
/// skipped and reported, as is a file whose last line was cut off.
pub fn parse_dpkg_status(data: &[u8], flavor: DpkgFlavor) -> Listing {
    let mut listing = Listing::default();
    let mut malformed = Malformed::default();
    let mut stanza = Stanza::default();
    let mut pos = 0;
    let mut line_no = 0usize;
    while pos < data.len() {
        let end = memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
        let line = &data[pos..end];
        pos = end + 1;
        line_no += 1;
        if trim(line).is_empty() {
            stanza.finish(flavor, &mut listing.packages, &mut malformed);
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        if stanza.lines == 0 {
            stanza.first_line = line_no;
        }
        stanza.lines += 1;
        let Some(colon) = memchr(b':', line) else {
            stanza.broken = Some("a line that is not a field");
            continue;
        };
        stanza.set(&line[..colon], trim(&line[colon + 1..]));
    }
    stanza.finish(flavor, &mut listing.packages, &mut malformed);

    if let Some(problem) = malformed.into_error() {
        listing.problems.push(problem);
    }
    if data.last().is_some_and(|&b| b != b'\n') {
        listing.problems.push(DbError::Truncated("the last line has no end of line".to_string()));
    }
    listing
}

/// The fields of the stanza being read, as slices of the input.
#[derive(Default)]
struct Stanza<'a> {
    package: Option<&'a [u8]>,
    status: Option<&'a [u8]>,
    version: Option<&'a [u8]>,
    arch: Option<&'a [u8]>,
    source: Option<&'a [u8]>,
    installed_size: Option<&'a [u8]>,
    lines: usize,
    first_line: usize,
    broken: Option<&'static str>,
}

impl<'a> Stanza<'a> {
    fn set(&mut self, name: &[u8], value: &'a [u8]) {
        // Field names are case-insensitive in deb822; checking the length first keeps this cheap.
        let slot = match name.len() {
            6 if name.eq_ignore_ascii_case(b"Status") => &mut self.status,
            6 if name.eq_ignore_ascii_case(b"Source") => &mut self.source,
            7 if name.eq_ignore_ascii_case(b"Package") => &mut self.package,
            7 if name.eq_ignore_ascii_case(b"Version") => &mut self.version,
            12 if name.eq_ignore_ascii_case(b"Architecture") => &mut self.arch,
            14 if name.eq_ignore_ascii_case(b"Installed-Size") => &mut self.installed_size,
            _ => return,
        };
        *slot = Some(value);
    }

    /// Turns the stanza into a package when dpkg-query would list it, then starts a new one.
    fn finish(&mut self, flavor: DpkgFlavor, out: &mut Vec<Package>, malformed: &mut Malformed) {
        let stanza = std::mem::take(self);
        if stanza.lines == 0 {
            return;
        }
        match stanza.to_package(flavor) {
            Ok(Some(package)) => out.push(package),
            Ok(None) => {}
            Err(reason) => malformed.add(stanza.first_line, reason),
        }
    }

    fn to_package(&self, flavor: DpkgFlavor) -> Result<Option<Package>, &'static str> {
        if let Some(reason) = self.broken {
            return Err(reason);
        }
        let name = self.package.filter(|n| !n.is_empty()).ok_or("a stanza without a package name")?;
        match (self.status, flavor) {
            (None, DpkgFlavor::Status) => return Ok(None),
            (None, DpkgFlavor::StatusD) => {}
            (Some(status), _) => {
                if !is_listed_state(status)? {
                    return Ok(None);
                }
            }
        }
        let version = self.version.filter(|v| !v.is_empty()).ok_or("a listed package without a version")?;
        let version = lossy(printed_version(version));
        let name = lossy(name);
        let (source_name, source_version) = match self.source.filter(|s| !s.is_empty()) {
            None => (name.clone(), version.clone()),
            Some(source) => split_source(source, &version),
        };
        Ok(Some(Package {
            kind: PackageKind::Deb,
            name,
            version,
            arch: self.arch.filter(|a| !a.is_empty()).map(lossy),
            source_name: Some(source_name),
            source_version: Some(source_version),
            installed_at: None,
            size_bytes: self.installed_size.and_then(parse_u64).and_then(|kib| kib.checked_mul(1024)),
            state: self.status.and_then(not_installed_state),
            path: None,
            owner: None,
            publisher: None,
            channel: None,
        }))
    }
}

/// The state word of a `Status:` value when it is anything but `installed` (reported so that consumers can tell a
/// removed package whose configuration remains from one that is there).
fn not_installed_state(status: &[u8]) -> Option<String> {
    let state = status.rsplit(|&b| b == b' ').next().unwrap_or_default();
    (state != b"installed").then(|| lossy(state))
}

/// Whether a `Status: <want> <flag> <state>` value is a state `dpkg-query -W` lists.
fn is_listed_state(status: &[u8]) -> Result<bool, &'static str> {
    let state = status.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match state {
        b"not-installed" => Ok(false),
        b"installed" | b"config-files" | b"half-installed" | b"unpacked" | b"half-configured" | b"triggers-awaited"
        | b"triggers-pending" => Ok(true),
        _ => Err("an unknown package state"),
    }
}

/// The version as dpkg prints it: a zero epoch is dropped unless the rest of the version needs it to stay unambiguous.
fn printed_version(version: &[u8]) -> &[u8] {
    match version.strip_prefix(b"0:") {
        Some(rest) if memchr(b':', rest).is_none() => rest,
        _ => version,
    }
}

/// Splits `Source: name (version)`; without a version the source shares the binary package's version.
fn split_source(source: &[u8], version: &str) -> (String, String) {
    match memchr(b' ', source) {
        None => (lossy(source), version.to_string()),
        Some(space) => {
            let rest = trim(&source[space..]);
            let inner = rest.strip_prefix(b"(").and_then(|r| r.strip_suffix(b")")).map(trim);
            let source_version = inner.filter(|v| !v.is_empty()).map_or_else(|| version.to_string(), lossy);
            (lossy(&source[..space]), source_version)
        }
    }
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Counts skipped stanzas so a badly damaged file yields one clear error rather than thousands.
#[derive(Default)]
struct Malformed {
    count: usize,
    first: Option<(usize, &'static str)>,
}

impl Malformed {
    fn add(&mut self, line: usize, reason: &'static str) {
        self.count += 1;
        self.first.get_or_insert((line, reason));
    }

    fn into_error(self) -> Option<DbError> {
        let (line, reason) = self.first?;
        Some(DbError::Corrupt(format!("{} stanza(s) skipped; the first, at line {line}, has {reason}", self.count)))
    }
}

/// Reads `/var/lib/dpkg/status` and `/var/lib/dpkg/status.d/` when present.
pub(super) fn probe(root: &SystemRoot, found: &mut Vec<(PackageSource, Listing)>) {
    let status_path = root.path(STATUS);
    if status_path.is_file() {
        let mut listing = match std::fs::read(&status_path) {
            Ok(data) => parse_dpkg_status(&data, DpkgFlavor::Status),
            Err(err) => failed(err.into()),
        };
        add_install_times(&root.path(INFO), &mut listing.packages);
        if let Some(problem) = pending_journal(&root.path(UPDATES)) {
            listing.problems.push(problem);
        }
        found.push((source(PackageKind::Deb, STATUS, "dpkg-status"), listing));
    }
    let status_d = root.path(STATUS_D);
    if status_d.is_dir() {
        found.push((source(PackageKind::Deb, STATUS_D, "dpkg-status.d"), read_status_d(&status_d)));
    }
}

/// Reads every stanza file of a distroless `status.d` directory, in name order.
fn read_status_d(dir: &Path) -> Listing {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return failed(err.into()),
    };
    let files: Vec<(String, PathBuf)> =
        entries.filter_map(Result::ok).map(|e| (e.file_name().to_string_lossy().into_owned(), e.path())).collect();
    read_status_d_files(files)
}

/// Reads the stanza files of a `status.d` directory given as (name, where it is stored), in name order; the
/// checksum lists beside them and hidden files are not stanzas. A container image's directory is spread over its
/// layers, so its files are not all in one directory.
pub(crate) fn read_status_d_files(mut files: Vec<(String, PathBuf)>) -> Listing {
    files.retain(|(name, _)| !name.starts_with('.') && !name.ends_with(".md5sums"));
    files.sort();
    let mut listing = Listing::default();
    for (shown, path) in files {
        // Only regular files of a sane size: in a container image a link could name a file of the host, a device
        // or a FIFO, which the union filesystem would never show the image.
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() && meta.len() <= MAX_STATUS_D_FILE => {}
            Ok(meta) => {
                let what = if meta.is_file() { format!("{} bytes", meta.len()) } else { "not a regular file".into() };
                listing.problems.push(DbError::Corrupt(format!("{what}; not read")).in_file(&shown));
                continue;
            }
            Err(err) => {
                listing.problems.push(DbError::from(err).in_file(&shown));
                continue;
            }
        }
        match std::fs::read(&path) {
            Ok(data) => {
                let part = parse_dpkg_status(&data, DpkgFlavor::StatusD);
                listing.packages.extend(part.packages);
                listing.problems.extend(part.problems.into_iter().map(|p| p.in_file(&shown)));
            }
            Err(err) => listing.problems.push(DbError::from(err).in_file(&shown)),
        }
    }
    listing
}

/// Fills in install times from the mtime of each package's file list.
///
/// dpkg records no install time in its status file; `info/<package>.list` (`<package>:<arch>.list` for
/// `Multi-Arch: same` packages) is rewritten whenever the package is unpacked, so its mtime is the time the installed
/// version was put in place. Only file names are joined onto the directory resolved through the root, and links are
/// not followed, so a hostile name cannot reach outside it.
fn add_install_times(info_dir: &Path, packages: &mut [Package]) {
    if !info_dir.is_dir() {
        return;
    }
    for package in packages.iter_mut() {
        if package.name.contains('/') || package.name.starts_with('.') {
            continue;
        }
        let plain = info_dir.join(format!("{}.list", package.name));
        let qualified = package
            .arch
            .as_deref()
            .filter(|a| !a.contains('/'))
            .map(|a| info_dir.join(format!("{}:{a}.list", package.name)));
        package.installed_at = std::iter::once(plain)
            .chain(qualified)
            .find_map(|path| crate::root::modified_at(std::fs::symlink_metadata(path)));
    }
}

/// dpkg applies its journal (`updates/0000`, ...) on its next run; until then the status file is behind.
fn pending_journal(updates_dir: &Path) -> Option<DbError> {
    let pending = std::fs::read_dir(updates_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
        })
        .count();
    (pending > 0).then(|| {
        DbError::Pending(format!(
            "{pending} dpkg journal update(s) not yet merged into the status file; run dpkg --configure -a"
        ))
    })
}

//! The software section: reads every package database present under the root into one package list.
//!
//! Each database format has a pure parser over bytes (`dpkg`, `apk`, `pacman`, `rpm::header` and the rpmdb
//! container readers) and a thin probe here that finds the files through [`SystemRoot`]. A database that can only be
//! read in part still contributes what was read, but its [`PackageSource`] says `complete: false` and the error log
//! says why, so a partial list is never passed off as the whole truth.

mod apk;
mod dpkg;
pub mod flatpak;
pub mod homebrew;
pub mod language;
pub mod listeners;
mod owners;
mod pacman;
pub mod pkg_receipts;
mod rpm;
pub mod snap;

#[cfg(test)]
mod tests;

use std::io;

use muster_shared::v1::{ErrorKind, Package, PackageKind, PackageSource, SectionName, Software};

use crate::root::{ErrorLog, SystemRoot, io_error_kind};

pub use apk::parse_apk_installed;
pub(crate) use dpkg::read_status_d_files;
pub use dpkg::{DpkgFlavor, parse_dpkg_status};
pub use language::LanguageScan;
pub use pacman::parse_pacman_desc;
pub use rpm::{RpmDbFormat, parse_rpm_header, parse_rpmdb, read_rpmdb};

/// Why a package database could not be read, or could be read only in part.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The data ends before a record it announces; typically a file cut short.
    #[error("truncated: {0}")]
    Truncated(String),
    /// The data contradicts its own format.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// The database is mid-update: changes are recorded beside it that its readers have not merged yet.
    #[error("pending: {0}")]
    Pending(String),
    /// A bounded scan reached one of its limits before it had read everything.
    #[error("scan stopped at {0}")]
    Stopped(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl DbError {
    /// The same problem, naming the file of a multi-file database it was found in.
    fn in_file(self, file: &str) -> DbError {
        match self {
            DbError::Truncated(m) => DbError::Truncated(format!("{file}: {m}")),
            DbError::Corrupt(m) => DbError::Corrupt(format!("{file}: {m}")),
            DbError::Pending(m) => DbError::Pending(format!("{file}: {m}")),
            DbError::Stopped(m) => DbError::Stopped(m),
            DbError::Io(err) => DbError::Io(io::Error::new(err.kind(), format!("{file}: {err}"))),
            DbError::Sqlite(err) => DbError::Sqlite(err),
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            DbError::Io(err) => io_error_kind(err),
            DbError::Stopped(_) => ErrorKind::Truncated,
            DbError::Truncated(_) | DbError::Corrupt(_) | DbError::Pending(_) | DbError::Sqlite(_) => ErrorKind::Parse,
        }
    }
}

/// What one database yielded: the packages read and, when it could be read only in part, why.
#[derive(Debug, Default)]
pub struct Listing {
    pub packages: Vec<Package>,
    /// Empty when every record of the database was read.
    pub problems: Vec<DbError>,
}

impl Listing {
    pub fn is_complete(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads every package database found under `root`.
///
/// A database that is absent is simply not a source; only when no database at all exists is that recorded, so a
/// reader can tell "no package manager" from "nothing collected".
pub fn collect(root: &SystemRoot, errors: &mut ErrorLog) -> Software {
    // A live Windows has none of these databases; its installed programs are read from the registry
    // (`inventory::windows`).
    #[cfg(windows)]
    if root.is_live() {
        return super::windows::collect_software(errors);
    }
    // A live Mac's applications come from system_profiler (`inventory::macos`).
    #[cfg(target_os = "macos")]
    if root.is_live() {
        return super::macos::collect_software(errors);
    }
    let mut found: Vec<(PackageSource, Listing)> = Vec::new();
    dpkg::probe(root, &mut found);
    rpm::probe(root, &mut found);
    apk::probe(root, &mut found);
    pacman::probe(root, &mut found);

    if found.is_empty() {
        errors.record(
            SectionName::Software,
            "package databases",
            ErrorKind::NotFound,
            "no dpkg, rpm, apk or pacman database was found",
        );
    }
    assemble(found, errors)
}

/// Adds what other package managers installed under `root` to a software section read by [`collect`]: language
/// packages ([`language`]), snaps ([`snap`]), flatpaks ([`flatpak`]), Homebrew formulae ([`homebrew`]), macOS
/// installer packages ([`pkg_receipts`]) and container images and containers ([`crate::inventory::containers`]); and, on a running system, the listening
/// sockets and their programs ([`listeners`]), whose owners are looked up with the language packages'.
pub fn add_other_packages(root: &SystemRoot, scan: &LanguageScan, software: &mut Software, errors: &mut ErrorLog) {
    if cfg!(windows) && root.is_live() {
        return;
    }
    let mut found = language::probe(root, scan, errors);
    let mut listeners = listeners::probe(root, errors);
    language::assign_owners(root, &mut found, &mut listeners, errors);
    software.listeners = listeners;
    snap::probe(root, &mut found, errors);
    flatpak::probe(root, &mut found);
    homebrew::probe(root, &mut found);
    pkg_receipts::probe(root, &mut found);
    let containers = crate::inventory::containers::probe(root, errors);
    software.container_images = containers.images;
    software.containers = containers.containers;
    let more = assemble(found, errors);
    software.sources.extend(more.sources);
    software.packages.extend(more.packages);
    sort_packages(&mut software.packages);
}

/// The deb packages of a software section, for callers (patch state) that only care about dpkg systems.
pub fn deb_packages(software: Option<&Software>) -> impl Iterator<Item = &Package> {
    software.into_iter().flat_map(|s| s.packages.iter()).filter(|p| p.kind == PackageKind::Deb)
}

const MAX_PROBLEMS_PER_SOURCE: usize = 5;

/// Turns per-database listings into the section, logging every problem against its database path.
pub(crate) fn assemble(found: Vec<(PackageSource, Listing)>, errors: &mut ErrorLog) -> Software {
    assemble_labelled(found, errors, str::to_owned)
}

/// [`assemble`] for databases that are not the inspected system's own (a container image's): each problem is logged
/// under `label(database path)`.
pub(crate) fn assemble_labelled(
    found: Vec<(PackageSource, Listing)>,
    errors: &mut ErrorLog,
    label: impl Fn(&str) -> String,
) -> Software {
    let mut software = Software::default();
    for (mut source, listing) in found {
        let item = label(&source.path);
        // A badly damaged database can yield a problem per record; the first few say enough.
        for problem in listing.problems.iter().take(MAX_PROBLEMS_PER_SOURCE) {
            errors.record(SectionName::Software, item.clone(), problem.kind(), problem.to_string());
        }
        if let Some(more) = listing.problems.len().checked_sub(MAX_PROBLEMS_PER_SOURCE).filter(|&n| n > 0) {
            errors.record(SectionName::Software, item, ErrorKind::Parse, format!("{more} more problem(s)"));
        }
        source.packages = u32::try_from(listing.packages.len()).unwrap_or(u32::MAX);
        source.complete = listing.is_complete();
        software.sources.push(source);
        software.packages.extend(listing.packages);
    }
    sort_packages(&mut software.packages);
    software
}

/// Orders packages the same way on every run so section hashes only change when the packages do (two copies of
/// one language package differ only in their path).
fn sort_packages(packages: &mut [Package]) {
    packages.sort_by(|a, b| {
        (a.kind, &a.name, &a.arch, &a.version, &a.path).cmp(&(b.kind, &b.name, &b.arch, &b.version, &b.path))
    });
}

/// A source entry for a database at `path` (a path of the inspected system); counts are filled in by [`assemble`].
pub(crate) fn source(kind: PackageKind, path: &str, format: &str) -> PackageSource {
    PackageSource { kind, path: path.to_string(), format: format.to_string(), packages: 0, complete: false }
}

/// The listing of a database that could not be opened at all.
pub(crate) fn failed(err: DbError) -> Listing {
    Listing { packages: Vec::new(), problems: vec![err] }
}

/// Bytes as text, replacing invalid UTF-8 rather than dropping the record: package metadata is occasionally Latin-1.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Trims ASCII whitespace (including the `\r` of CRLF files) from both ends.
fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

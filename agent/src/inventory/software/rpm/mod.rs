//! rpm's package database in its three on-disk formats: SQLite, Berkeley DB hash and ndb.
//!
//! Each format is only a container of package header blobs; [`header`] turns a blob into a package.

mod bdb;
mod header;
mod ndb;
mod sqlite;

use std::path::PathBuf;

use muster_shared::v1::{PackageKind, PackageSource};

use super::{DbError, Listing, failed, source};
use crate::root::SystemRoot;

use bdb::Blobs;

/// Directories rpm keeps its database in: the historical one and the one newer distributions moved it to (often a
/// symlink to the other, so each real directory is read once).
const DIRS: [&str; 2] = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"];

/// Database files in the order rpm's backends superseded each other: a directory that holds an old format beside a
/// newer one was converted, and the newer file is the live one.
const FILES: [(&str, &str, RpmDbFormat); 3] = [
    ("rpmdb.sqlite", "rpmdb-sqlite", RpmDbFormat::Sqlite),
    ("Packages.db", "rpmdb-ndb", RpmDbFormat::Ndb),
    ("Packages", "rpmdb-bdb", RpmDbFormat::BerkeleyDb),
];

/// Which container format a database file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpmDbFormat {
    Sqlite,
    Ndb,
    BerkeleyDb,
}

/// Reads the packages of an ndb or Berkeley DB file held in memory.
pub fn parse_rpmdb(data: &[u8], format: RpmDbFormat) -> Listing {
    let blobs = match format {
        RpmDbFormat::Ndb => ndb::read(data),
        RpmDbFormat::BerkeleyDb => bdb::read(data),
        RpmDbFormat::Sqlite => {
            return failed(DbError::Corrupt("an SQLite rpmdb is read from its file, not from memory".to_string()));
        }
    };
    blobs.map_or_else(failed, packages_from_blobs)
}

/// Reads one package header blob, the form in which the SQLite format stores each package.
pub fn parse_rpm_header(blob: &[u8]) -> Listing {
    match header::package_from_header(blob) {
        Ok(package) => Listing { packages: vec![package], problems: Vec::new() },
        Err(problem) => failed(problem),
    }
}

/// Reads the packages of an rpm database file.
pub fn read_rpmdb(path: &std::path::Path, format: RpmDbFormat) -> Listing {
    match format {
        RpmDbFormat::Sqlite => sqlite::read(path).map_or_else(failed, packages_from_blobs),
        RpmDbFormat::Ndb | RpmDbFormat::BerkeleyDb => match std::fs::read(path) {
            Ok(data) => parse_rpmdb(&data, format),
            Err(err) => failed(err.into()),
        },
    }
}

fn packages_from_blobs(blobs: Blobs) -> Listing {
    let mut listing = Listing { packages: Vec::with_capacity(blobs.blobs.len()), problems: blobs.problems };
    for blob in &blobs.blobs {
        match header::package_from_header(blob) {
            Ok(package) => listing.packages.push(package),
            Err(problem) => listing.problems.push(problem),
        }
    }
    listing
}

pub(super) fn probe(root: &SystemRoot, found: &mut Vec<(PackageSource, Listing)>) {
    for (system, host, format_name, format) in databases(root) {
        let listing = read_rpmdb(&host, format);
        found.push((source(PackageKind::Rpm, &system, format_name), listing));
    }
}

/// The live database file of each real rpm database directory under `root`: system path, host path, format.
fn databases(root: &SystemRoot) -> Vec<(String, PathBuf, &'static str, RpmDbFormat)> {
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    for dir in DIRS {
        let host_dir = root.path(dir);
        let Ok(real) = std::fs::canonicalize(&host_dir) else { continue };
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        if let Some((file, format_name, format)) = FILES.into_iter().find(|(file, ..)| host_dir.join(file).is_file()) {
            out.push((format!("{dir}/{file}"), host_dir.join(file), format_name, format));
        }
    }
    out
}

/// Calls `each(package, path)` for every file of every package of an rpm database file.
pub fn for_each_file(path: &std::path::Path, format: RpmDbFormat, each: &mut dyn FnMut(&str, &[u8])) -> Vec<DbError> {
    let blobs = match format {
        RpmDbFormat::Sqlite => sqlite::read(path),
        RpmDbFormat::Ndb | RpmDbFormat::BerkeleyDb => match std::fs::read(path) {
            Ok(data) => match format {
                RpmDbFormat::Ndb => ndb::read(&data),
                _ => bdb::read(&data),
            },
            Err(err) => Err(err.into()),
        },
    };
    let blobs = match blobs {
        Ok(blobs) => blobs,
        Err(err) => return vec![err],
    };
    let mut problems = blobs.problems;
    for blob in &blobs.blobs {
        if let Err(problem) = header::files_from_header(blob, each) {
            problems.push(problem);
        }
    }
    problems
}

/// Calls `each(package, path)` for every file of every package in the rpm databases under `root`; returns the
/// problems met, each naming its database.
pub(super) fn for_each_installed_file(root: &SystemRoot, each: &mut dyn FnMut(&str, &[u8])) -> Vec<DbError> {
    let mut problems = Vec::new();
    for (system, host, _, format) in databases(root) {
        problems.extend(for_each_file(&host, format, each).into_iter().map(|p| p.in_file(&system)));
    }
    problems
}

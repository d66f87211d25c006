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
    let mut seen: Vec<PathBuf> = Vec::new();
    for dir in DIRS {
        let host_dir = root.path(dir);
        let Ok(real) = std::fs::canonicalize(&host_dir) else { continue };
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        let Some((file, format_name, format)) = FILES.into_iter().find(|(file, ..)| host_dir.join(file).is_file())
        else {
            continue;
        };
        let listing = read_rpmdb(&host_dir.join(file), format);
        found.push((source(PackageKind::Rpm, &format!("{dir}/{file}"), format_name), listing));
    }
}

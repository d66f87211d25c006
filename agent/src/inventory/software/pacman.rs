//! Arch Linux's pacman local database: `/var/lib/pacman/local/<name>-<version>/desc`, one directory per package.
//!
//! A `desc` file is a list of `%KEY%` lines each followed by value lines up to a blank line.

use chrono::DateTime;
use memchr::memchr;
use muster_shared::v1::{Package, PackageKind, PackageSource};

use super::{DbError, Listing, failed, lossy, source, trim};
use crate::root::SystemRoot;

const LOCAL: &str = "/var/lib/pacman/local";

/// Parses one package's `desc` file.
pub fn parse_pacman_desc(data: &[u8]) -> Result<Package, DbError> {
    if data.last().is_some_and(|&b| b != b'\n') {
        return Err(DbError::Truncated("the last line has no end of line".to_string()));
    }
    let mut fields = Fields::default();
    let mut key: Option<&[u8]> = None;
    let mut pos = 0;
    while pos < data.len() {
        let end = memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
        let line = trim(&data[pos..end]);
        pos = end + 1;
        if line.is_empty() {
            key = None;
        } else if line.len() > 2 && line.starts_with(b"%") && line.ends_with(b"%") {
            key = Some(line);
        } else if let Some(k) = key.take() {
            // Only the first value line matters for the fields read here; later ones belong to list fields.
            fields.set(k, line);
        }
    }
    let name = fields.name.filter(|n| !n.is_empty()).ok_or_else(|| missing("%NAME%"))?;
    let version = fields.version.filter(|v| !v.is_empty()).ok_or_else(|| missing("%VERSION%"))?;
    let name = lossy(name);
    let version = lossy(version);
    Ok(Package {
        kind: PackageKind::Pacman,
        source_name: Some(fields.base.filter(|b| !b.is_empty()).map_or_else(|| name.clone(), lossy)),
        source_version: Some(version.clone()),
        name,
        version,
        arch: fields.arch.filter(|a| !a.is_empty()).map(lossy),
        installed_at: fields.install_date.and_then(number).and_then(|t| DateTime::from_timestamp(t, 0)),
        size_bytes: fields.size.and_then(number).and_then(|s| u64::try_from(s).ok()),
        state: None,
        path: None,
        owner: None,
        publisher: None,
        channel: None,
    })
}

#[derive(Default)]
struct Fields<'a> {
    name: Option<&'a [u8]>,
    version: Option<&'a [u8]>,
    arch: Option<&'a [u8]>,
    base: Option<&'a [u8]>,
    install_date: Option<&'a [u8]>,
    size: Option<&'a [u8]>,
}

impl<'a> Fields<'a> {
    fn set(&mut self, key: &[u8], value: &'a [u8]) {
        let slot = match key {
            b"%NAME%" => &mut self.name,
            b"%VERSION%" => &mut self.version,
            b"%ARCH%" => &mut self.arch,
            b"%BASE%" => &mut self.base,
            b"%INSTALLDATE%" => &mut self.install_date,
            b"%SIZE%" => &mut self.size,
            _ => return,
        };
        *slot = Some(value);
    }
}

fn number(digits: &[u8]) -> Option<i64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn missing(key: &str) -> DbError {
    DbError::Corrupt(format!("desc without {key}"))
}

/// Reads every package directory of the local database, in name order.
pub(super) fn probe(root: &SystemRoot, found: &mut Vec<(PackageSource, Listing)>) {
    let dir = root.path(LOCAL);
    if !dir.is_dir() {
        return;
    }
    let listing = match std::fs::read_dir(&dir) {
        Err(err) => failed(err.into()),
        Ok(entries) => {
            let mut names: Vec<_> = entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name())
                .collect();
            names.sort();
            let mut listing = Listing::default();
            for name in names {
                let shown = name.to_string_lossy().into_owned();
                match std::fs::read(dir.join(&name).join("desc"))
                    .map_err(DbError::from)
                    .and_then(|d| parse_pacman_desc(&d))
                {
                    Ok(package) if shown == format!("{}-{}", package.name, package.version) => {
                        listing.packages.push(package)
                    }
                    // pacman names each directory after its package; a mismatch means a damaged desc.
                    Ok(package) => listing
                        .problems
                        .push(DbError::Corrupt(format!("{shown}/desc describes {}-{}", package.name, package.version))),
                    Err(err) => listing.problems.push(err.in_file(&format!("{shown}/desc"))),
                }
            }
            listing
        }
    };
    found.push((source(PackageKind::Pacman, LOCAL, "pacman-local"), listing));
}

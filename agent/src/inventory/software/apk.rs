//! Alpine's apk database `/lib/apk/db/installed`: one blank-line-separated stanza of `X:value` lines per package.
//!
//! apk records a build time (`t:`) but no install time, so packages carry none.

use memchr::memchr;
use muster_shared::v1::{Package, PackageKind, PackageSource};

use super::{DbError, Listing, failed, lossy, source, trim};
use crate::root::SystemRoot;

const INSTALLED: &str = "/lib/apk/db/installed";

/// Parses an apk `installed` database.
pub fn parse_apk_installed(data: &[u8]) -> Listing {
    let mut listing = Listing::default();
    let mut skipped = 0usize;
    let mut stanza = Stanza::default();
    let mut pos = 0;
    while pos < data.len() {
        let end = memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
        let line = trim(&data[pos..end]);
        pos = end + 1;
        if line.is_empty() {
            stanza.finish(&mut listing.packages, &mut skipped);
            continue;
        }
        stanza.lines += 1;
        match line {
            [key, b':', value @ ..] => match key {
                b'P' => stanza.name = Some(value),
                b'V' => stanza.version = Some(value),
                b'A' => stanza.arch = Some(value),
                b'o' => stanza.origin = Some(value),
                b'I' => stanza.size = Some(value),
                _ => {}
            },
            _ => stanza.broken = true,
        }
    }
    stanza.finish(&mut listing.packages, &mut skipped);
    if skipped > 0 {
        listing.problems.push(DbError::Corrupt(format!("{skipped} stanza(s) without a name and version skipped")));
    }
    if data.last().is_some_and(|&b| b != b'\n') {
        listing.problems.push(DbError::Truncated("the last line has no end of line".to_string()));
    }
    listing
}

#[derive(Default)]
struct Stanza<'a> {
    name: Option<&'a [u8]>,
    version: Option<&'a [u8]>,
    arch: Option<&'a [u8]>,
    origin: Option<&'a [u8]>,
    size: Option<&'a [u8]>,
    lines: usize,
    broken: bool,
}

impl Stanza<'_> {
    fn finish(&mut self, out: &mut Vec<Package>, skipped: &mut usize) {
        let stanza = std::mem::take(self);
        if stanza.lines == 0 {
            return;
        }
        let (Some(name), Some(version), false) =
            (stanza.name.filter(|n| !n.is_empty()), stanza.version.filter(|v| !v.is_empty()), stanza.broken)
        else {
            *skipped += 1;
            return;
        };
        let name = lossy(name);
        let version = lossy(version);
        out.push(Package {
            kind: PackageKind::Apk,
            // Subpackages share their origin's version, so the origin's version is the package's own.
            source_name: Some(stanza.origin.filter(|o| !o.is_empty()).map_or_else(|| name.clone(), lossy)),
            source_version: Some(version.clone()),
            name,
            version,
            arch: stanza.arch.filter(|a| !a.is_empty()).map(lossy),
            installed_at: None,
            size_bytes: stanza.size.and_then(|s| std::str::from_utf8(s).ok()?.parse().ok()),
            state: None,
            path: None,
            owner: None,
            publisher: None,
            channel: None,
        });
    }
}

pub(super) fn probe(root: &SystemRoot, found: &mut Vec<(PackageSource, Listing)>) {
    let path = root.path(INSTALLED);
    if !path.is_file() {
        return;
    }
    let listing = match std::fs::read(&path) {
        Ok(data) => parse_apk_installed(&data),
        Err(err) => failed(err.into()),
    };
    found.push((source(PackageKind::Apk, INSTALLED, "apk-installed"), listing));
}

//! Snaps: the `meta/snap.yaml` of each snap's current revision, mounted at `/snap/<name>/<revision>/` with a
//! `current` link to the active revision.
//!
//! The revision is kept in the package's `path` (`/snap/<name>/<revision>/meta/snap.yaml`). snapd's tracking channel
//! and the publisher live in `/var/lib/snapd/state.json` and the store assertions, which are not read yet. Snap files
//! in `/var/lib/snapd/snaps` whose squashfs is not mounted (an image or a disk read with `--root`) cannot be opened
//! without mounting; they are counted and reported as not available.

use muster_shared::v1::{ErrorKind, Package, PackageKind, PackageSource, SectionName};

use super::{DbError, Listing, source};
use crate::root::{ErrorLog, SystemRoot};

const SNAP_MOUNTS: &str = "/snap";
const SNAP_FILES: &str = "/var/lib/snapd/snaps";

/// A snap's name and version from its `snap.yaml`: the top-level `name:` and `version:` keys (a version may be
/// quoted to keep it a string).
pub fn parse_snap_yaml(data: &[u8]) -> Result<(String, String), String> {
    let text = String::from_utf8_lossy(data);
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        // Nested keys are indented; only the document's own keys count.
        if line.starts_with([' ', '\t', '#', '-']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = unquote(value.split(" #").next().unwrap_or(value).trim());
        match key.trim() {
            "name" if name.is_none() => name = Some(value.to_string()),
            "version" if version.is_none() => version = Some(value.to_string()),
            _ => {}
        }
    }
    match (name.filter(|n| !n.is_empty()), version.filter(|v| !v.is_empty())) {
        (Some(name), Some(version)) => Ok((name, version)),
        (None, _) => Err("no name".to_string()),
        (_, None) => Err("no version".to_string()),
    }
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner;
        }
    }
    value
}

pub(super) fn probe(root: &SystemRoot, found: &mut Vec<(PackageSource, Listing)>, errors: &mut ErrorLog) {
    let mounts = root.path(SNAP_MOUNTS);
    let mut listing = Listing::default();
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&mounts) {
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            // `/snap/bin` holds the command links, not a snap.
            let Ok(revision) = std::fs::read_link(entry.path().join("current")) else { continue };
            let revision = revision.to_string_lossy().into_owned();
            let path = format!("{SNAP_MOUNTS}/{name}/{revision}/meta/snap.yaml");
            names.push(name);
            match root.read(&path) {
                Ok(data) => match parse_snap_yaml(&data) {
                    Ok((name, version)) => listing.packages.push(snap_package(name, version, path)),
                    Err(reason) => listing.problems.push(DbError::Corrupt(format!("{path}: {reason}"))),
                },
                Err(err) => {
                    listing.problems.push(DbError::Io(std::io::Error::new(err.kind(), format!("{path}: {err}"))))
                }
            }
        }
    }
    let unmounted = unmounted_snaps(root, &names);
    if !unmounted.is_empty() {
        errors.record(
            SectionName::Software,
            SNAP_FILES,
            ErrorKind::NotAvailable,
            format!("{} snap file(s) not mounted under /snap, so not read: {}", unmounted.len(), unmounted.join(", ")),
        );
    }
    if !names.is_empty() {
        found.push((source(PackageKind::Snap, SNAP_MOUNTS, "snap-yaml"), listing));
    }
}

/// The `<name>_<revision>.snap` files whose snap has no mounted current revision.
fn unmounted_snaps(root: &SystemRoot, mounted: &[String]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.path(SNAP_FILES)) else { return Vec::new() };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|f| f.ends_with(".snap"))
        .filter(|f| f.rsplit_once('_').is_none_or(|(name, _)| !mounted.iter().any(|m| m == name)))
        .collect();
    out.sort();
    out
}

fn snap_package(name: String, version: String, path: String) -> Package {
    Package { path: Some(path), ..Package::new(PackageKind::Snap, name, version) }
}

//! macOS installer packages: every `.pkg` that macOS's Installer (or Software Update, or an MDM) installed leaves a
//! receipt `<identifier>.plist` in `/var/db/receipts`, or for Apple's own system components (the Command Line Tools,
//! Rosetta) in `/Library/Apple/System/Library/Receipts`: what `pkgutil --pkgs` lists. Agents, VPN clients and
//! drivers are installed this way and often have no application bundle for the application listing to find, and
//! Apple's own background updates (XProtect, MRT, Gatekeeper data) are receipts with versions too.
//!
//! The receipts are read as files (binary or XML property lists), not through `pkgutil`, so a mounted Mac volume
//! (`--root`) is listed the same way as the running Mac.

use chrono::{DateTime, Utc};
use muster_shared::v1::{Package, PackageKind, PackageSource};

use super::{DbError, Listing, failed, source};
use crate::root::SystemRoot;

/// Where receipts are kept, each directory a source of its own.
pub const RECEIPTS: [&str; 2] = ["/var/db/receipts", "/Library/Apple/System/Library/Receipts"];

/// A receipt holds a handful of keys; a few KiB at most. More is not a receipt Installer wrote.
const MAX_RECEIPT_BYTES: u64 = 1 << 20;

/// Entries looked at in one directory (receipts and the bills of materials beside them): far past a real Mac's (a
/// few hundred). A directory with more is not listed at all, and the listing says so.
const MAX_ENTRIES: usize = 40_000;

/// The package a receipt records (`PackageIdentifier`, `PackageVersion`, `InstallDate`), its receipt's path in
/// `path`. `Err` for a file that is not a receipt.
pub fn parse_receipt(data: &[u8], path: &str) -> Result<Package, String> {
    let value =
        plist::Value::from_reader(std::io::Cursor::new(data)).map_err(|e| format!("not an installer receipt: {e}"))?;
    let receipt = value.as_dictionary().ok_or("not an installer receipt: not a dictionary")?;
    let text = |key: &str| receipt.get(key).and_then(plist::Value::as_string).map(str::trim).filter(|s| !s.is_empty());
    let identifier = text("PackageIdentifier").ok_or("not an installer receipt: no PackageIdentifier")?;
    // To the second, as the other package databases give it (Installer's binary receipts hold a fraction too).
    let installed_at = receipt
        .get("InstallDate")
        .and_then(plist::Value::as_date)
        .and_then(|d| DateTime::from_timestamp(DateTime::<Utc>::from(std::time::SystemTime::from(d)).timestamp(), 0));
    Ok(Package {
        installed_at,
        path: Some(path.to_owned()),
        ..Package::new(PackageKind::MacosPkg, identifier, text("PackageVersion").unwrap_or_default())
    })
}

/// Lists the receipts under `root`; a receipts directory that is absent (not a Mac) is not a source, one that
/// cannot be read is a source that failed.
pub(super) fn probe(root: &SystemRoot, found: &mut Vec<(PackageSource, Listing)>) {
    for dir in RECEIPTS {
        let listing = match std::fs::read_dir(root.path(dir)) {
            Ok(entries) => read_receipts(root, dir, entries),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => failed(DbError::from(e).in_file(dir)),
        };
        found.push((source(PackageKind::MacosPkg, dir, "pkg-receipts"), listing));
    }
}

fn read_receipts(root: &SystemRoot, dir: &str, entries: std::fs::ReadDir) -> Listing {
    let mut listing = Listing::default();
    let mut budget = MAX_ENTRIES;
    let Some(names) = super::homebrew::names(entries, &mut budget) else {
        let why = format!("{dir}: {MAX_ENTRIES} entries looked at; the receipts were not listed");
        listing.problems.push(DbError::Stopped(why));
        return listing;
    };
    // Each receipt's `.bom` (the files it installed) lies beside it and is not read.
    for name in names.into_iter().filter(|n| n.ends_with(".plist")) {
        let path = format!("{dir}/{name}");
        let read = root.read_regular(&path, MAX_RECEIPT_BYTES).map_err(|e| match e.kind() {
            // Not a regular file, or too large: not a receipt Installer wrote.
            std::io::ErrorKind::InvalidData => DbError::Corrupt(e.to_string()),
            _ => DbError::from(e),
        });
        match read.and_then(|data| data.map(|d| parse_receipt(&d, &path).map_err(DbError::Corrupt)).transpose()) {
            Ok(Some(package)) => listing.packages.push(package),
            // Gone between the listing and the read.
            Ok(None) => {}
            Err(problem) => listing.problems.push(problem.in_file(&path)),
        }
    }
    listing
}

//! Homebrew formulae, the command-line software most Macs (and some Linux desktops) get from outside the vendor: each
//! keg `<Cellar>/<formula>/<version>/` is one installed formula, and its `INSTALL_RECEIPT.json` says when it was
//! installed, for which architecture and from which tap.
//!
//! The Cellar itself is the record of what is installed: Homebrew lists a keg without a receipt too, so one is listed
//! here, and an unreadable receipt is a problem of the listing, not a missing package. The version is the keg
//! directory's name, revision included (`3.3.2_1`), as `brew list --versions` prints it. Casks are not read: what a
//! cask installs is an application bundle, which the macOS application listing already has.

use chrono::{DateTime, Utc};
use muster_shared::v1::{Package, PackageKind, PackageSource};
use serde::Deserialize;

use super::{DbError, Listing, failed, source};
use crate::root::SystemRoot;

/// Homebrew's default prefixes: Apple silicon, Intel Macs, Linux. A Cellar elsewhere (a custom prefix) is not
/// searched.
pub const CELLARS: [&str; 3] = ["/opt/homebrew/Cellar", "/usr/local/Cellar", "/home/linuxbrew/.linuxbrew/Cellar"];

const RECEIPT: &str = "INSTALL_RECEIPT.json";

/// A receipt lists the files the install changed and every runtime dependency: a few KiB, tens of KiB for a large
/// toolchain. More than this is not a receipt Homebrew wrote.
const MAX_RECEIPT_BYTES: u64 = 1 << 20;

/// Directory entries looked at in one Cellar (formulae and their kegs): far past any real one (a heavily used Mac has
/// a few hundred kegs); past it the listing stops and says so.
const MAX_ENTRIES: usize = 20_000;

/// What a keg's receipt adds to its formula name and version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// When the keg was installed (`time`, seconds since the epoch; absent from receipts before Homebrew 1.x).
    pub installed_at: Option<DateTime<Utc>>,
    /// `arm64` or `x86_64` (absent before Homebrew 3.x).
    pub arch: Option<String>,
    /// The tap the formula came from, `homebrew/core` for most.
    pub tap: Option<String>,
}

#[derive(Deserialize)]
struct RawReceipt {
    time: Option<i64>,
    arch: Option<String>,
    source: Option<RawSource>,
}

#[derive(Deserialize)]
struct RawSource {
    tap: Option<String>,
}

/// Reads a keg's `INSTALL_RECEIPT.json`; every field is optional, since receipts gained them over Homebrew's releases.
pub fn parse_receipt(data: &[u8]) -> Result<Receipt, String> {
    let raw: RawReceipt = serde_json::from_slice(data).map_err(|e| format!("not a Homebrew receipt: {e}"))?;
    let installed_at = match raw.time {
        Some(seconds) => Some(
            DateTime::from_timestamp(seconds, 0).ok_or_else(|| format!("install time {seconds} is out of range"))?,
        ),
        None => None,
    };
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    Ok(Receipt { installed_at, arch: nonempty(raw.arch), tap: nonempty(raw.source.and_then(|s| s.tap)) })
}

/// The package of the keg `<cellar>/<formula>/<version>`: the receipt's path in `path` when its facts were read (the
/// keg's when it has none or it is damaged), its tap as `publisher`.
pub fn keg_package(cellar: &str, formula: &str, version: &str, receipt: Option<Receipt>) -> Package {
    let keg = format!("{cellar}/{formula}/{version}");
    let path = if receipt.is_some() { format!("{keg}/{RECEIPT}") } else { keg };
    let receipt = receipt.unwrap_or_default();
    Package {
        arch: receipt.arch,
        installed_at: receipt.installed_at,
        publisher: receipt.tap,
        path: Some(path),
        ..Package::new(PackageKind::Homebrew, formula, version)
    }
}

/// Lists every keg of every Cellar under `root`; a Cellar that is absent is not a source, one that cannot be read is
/// a source that failed.
pub(super) fn probe(root: &SystemRoot, found: &mut Vec<(PackageSource, Listing)>) {
    for cellar in CELLARS {
        let listing = match std::fs::read_dir(root.path(cellar)) {
            Ok(formulae) => read_cellar(root, cellar, formulae),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => failed(DbError::from(e).in_file(cellar)),
        };
        found.push((source(PackageKind::Homebrew, cellar, "homebrew-cellar"), listing));
    }
}

fn read_cellar(root: &SystemRoot, cellar: &str, formulae: std::fs::ReadDir) -> Listing {
    let mut listing = Listing::default();
    // Every name looked at counts, so a Cellar of empty or unreadable formula directories is bounded too.
    let mut budget = MAX_ENTRIES;
    let stopped = |listing: &mut Listing| {
        let why = format!("{cellar}: {MAX_ENTRIES} entries looked at; the rest were not listed");
        listing.problems.push(DbError::Stopped(why));
    };
    let Some(formulae) = names(formulae, &mut budget) else {
        stopped(&mut listing);
        return listing;
    };
    for formula in formulae {
        let dir = format!("{cellar}/{formula}");
        let versions = match std::fs::read_dir(root.path(&dir)) {
            Ok(versions) => versions,
            // A file beside the formulae, or a link to one, is not a formula.
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
            Err(e) => {
                listing.problems.push(DbError::from(e).in_file(&dir));
                continue;
            }
        };
        let Some(versions) = names(versions, &mut budget) else {
            stopped(&mut listing);
            return listing;
        };
        for version in versions {
            let keg = format!("{dir}/{version}");
            // Homebrew lists directories only; a link is followed (inside the root) to see whether it is one.
            if !root.path(&keg).is_dir() {
                continue;
            }
            let receipt_path = format!("{keg}/{RECEIPT}");
            let read = root.read_regular(&receipt_path, MAX_RECEIPT_BYTES).map_err(|e| match e.kind() {
                // Not a regular file, or too large: not a receipt Homebrew wrote.
                std::io::ErrorKind::InvalidData => DbError::Corrupt(e.to_string()),
                _ => DbError::from(e),
            });
            let receipt = read
                .and_then(|data| data.map(|d| parse_receipt(&d).map_err(DbError::Corrupt)).transpose())
                .unwrap_or_else(|problem| {
                    listing.problems.push(problem.in_file(&receipt_path));
                    None
                });
            listing.packages.push(keg_package(cellar, &formula, &version, receipt));
        }
    }
    listing
}

/// The names in a directory that can be a formula or a keg (or a receipt, [`super::pkg_receipts`]), in order (dot
/// files such as Homebrew's `.keepme` and Finder's `.DS_Store`, and names that are not UTF-8, are not); `None` when
/// the entries would pass the `budget` left.
pub(super) fn names(entries: std::fs::ReadDir, budget: &mut usize) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for entry in entries.flatten() {
        *budget = budget.checked_sub(1)?;
        if let Some(name) = entry.file_name().to_str().filter(|name| !name.starts_with('.')) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Some(names)
}

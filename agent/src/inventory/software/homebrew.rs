//! Homebrew formulae, the command-line software most Macs (and some Linux desktops) get from outside the vendor: each
//! keg `<Cellar>/<formula>/<version>/` is one installed formula, and its `INSTALL_RECEIPT.json` says when it was
//! installed, for which architecture and from which tap.
//!
//! The Cellar itself is the record of what is installed: Homebrew lists a keg without a receipt too, so one is listed
//! here, and an unreadable receipt is a problem of the listing, not a missing package. The version is the keg
//! directory's name, revision included (`3.3.2_1`), as `brew list --versions` prints it. Casks are not read: what a
//! cask installs is an application bundle, which the macOS application listing already has.

use std::io::Read;

use chrono::{DateTime, Utc};
use muster_shared::v1::{Package, PackageKind, PackageSource};
use serde::Deserialize;

use super::{DbError, Listing, source};
use crate::root::SystemRoot;

/// Homebrew's default prefixes: Apple silicon, Intel Macs, Linux. A Cellar elsewhere (a custom prefix) is not
/// searched.
pub const CELLARS: [&str; 3] = ["/opt/homebrew/Cellar", "/usr/local/Cellar", "/home/linuxbrew/.linuxbrew/Cellar"];

const RECEIPT: &str = "INSTALL_RECEIPT.json";

/// A receipt lists the files the install changed and every runtime dependency: a few KiB, tens of KiB for a large
/// toolchain. More than this is not a receipt Homebrew wrote.
const MAX_RECEIPT_BYTES: u64 = 1 << 20;

/// A Cellar of this many kegs is already far past any real one (a heavily used Mac has a few hundred); the rest are
/// not read and the listing says so.
const MAX_KEGS: usize = 10_000;

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

/// Lists every keg of every Cellar under `root`; a Cellar that is absent is not a source.
pub(super) fn probe(root: &SystemRoot, found: &mut Vec<(PackageSource, Listing)>) {
    for cellar in CELLARS {
        let Ok(formulae) = std::fs::read_dir(root.path(cellar)) else { continue };
        let mut listing = Listing::default();
        let mut kegs = 0usize;
        'formulae: for formula in sorted_names(formulae) {
            let dir = format!("{cellar}/{formula}");
            let versions = match std::fs::read_dir(root.path(&dir)) {
                Ok(versions) => sorted_names(versions),
                Err(e) => {
                    listing.problems.push(DbError::Io(std::io::Error::new(e.kind(), format!("{dir}: {e}"))));
                    continue;
                }
            };
            for version in versions {
                kegs += 1;
                if kegs > MAX_KEGS {
                    break 'formulae;
                }
                let receipt_path = format!("{dir}/{version}/{RECEIPT}");
                let receipt = match read_receipt(root, &receipt_path) {
                    Ok(data) => data.map(|d| parse_receipt(&d)).transpose().unwrap_or_else(|reason| {
                        listing.problems.push(DbError::Corrupt(format!("{receipt_path}: {reason}")));
                        None
                    }),
                    Err(e) => {
                        let problem = std::io::Error::new(e.kind(), format!("{receipt_path}: {e}"));
                        listing.problems.push(DbError::Io(problem));
                        None
                    }
                };
                listing.packages.push(keg_package(cellar, &formula, &version, receipt));
            }
        }
        if kegs > MAX_KEGS {
            listing.problems.push(DbError::Stopped(format!("{cellar}: {MAX_KEGS} kegs; the rest were not listed")));
        }
        found.push((source(PackageKind::Homebrew, cellar, "homebrew-cellar"), listing));
    }
}

/// The names in a directory that can be a formula or a keg, in order: Homebrew's own dot files (`.DS_Store`,
/// `.keepme`) and names that are not UTF-8 are not.
fn sorted_names(entries: std::fs::ReadDir) -> Vec<String> {
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir() || t.is_symlink()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// A keg's receipt, `None` when it has none; refused when it is not a regular file or is larger than any receipt.
fn read_receipt(root: &SystemRoot, path: &str) -> std::io::Result<Option<Vec<u8>>> {
    let file = match std::fs::File::open(root.path(path)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut data = Vec::new();
    file.take(MAX_RECEIPT_BYTES + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_RECEIPT_BYTES {
        return Err(std::io::Error::other(format!("larger than {MAX_RECEIPT_BYTES} bytes")));
    }
    Ok(Some(data))
}

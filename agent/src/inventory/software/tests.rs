//! Fixture-driven tests of the package database readers against listings made by the real tools.

mod apk_pacman;
mod bundles;
mod collect;
mod dpkg;
mod homebrew;
mod listeners;
mod pkg_receipts;
mod rpm;

use std::path::PathBuf;

use muster_shared::v1::Package;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/pkgdb").join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Decompresses an `.xz` fixture (the larger rpm databases are stored compressed to keep the repository small).
fn read_xz(rel: &str) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    liblzma::read::XzDecoder::new(&read(rel)[..]).read_to_end(&mut out).unwrap();
    out
}

/// The software section of a mounted root as the agent reads it (its package databases, then everything else), and
/// what could not be read.
fn read_root(root: &std::path::Path) -> (muster_shared::v1::Software, crate::root::ErrorLog) {
    let mut errors = crate::root::ErrorLog::new();
    let root = crate::root::SystemRoot::mounted(root);
    let mut software = super::collect(&root, &mut errors);
    super::add_other_packages(&root, &super::LanguageScan::default(), &mut software, &mut errors);
    (software, errors)
}

/// The rows of a tab-separated expected listing, without its `#` header line.
fn expected_rows(rel: &str) -> Vec<Vec<String>> {
    String::from_utf8(read(rel))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Name, version and arch of each package, sorted, for comparison with a tool's listing.
fn nva(packages: &[Package]) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> =
        packages.iter().map(|p| (p.name.clone(), p.version.clone(), p.arch.clone().unwrap_or_default())).collect();
    rows.sort();
    rows
}

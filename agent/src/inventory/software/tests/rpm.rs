//! rpmdb reading (SQLite, Berkeley DB, ndb) against `rpm -qa` and go-rpmdb listings of the same databases.

use chrono::DateTime;
use muster_shared::v1::{Package, PackageKind};

use super::{expected_rows, read, read_xz};
use crate::inventory::software::{DbError, Listing, RpmDbFormat, parse_rpmdb, read_rpmdb};

/// Name, version as printed, arch, source rpm name, source version, size and install time.
type Row = (String, String, String, String, String, Option<u64>, Option<i64>);

fn rows(packages: &[Package]) -> Vec<Row> {
    let mut rows: Vec<Row> = packages
        .iter()
        .map(|p| {
            assert_eq!(p.kind, PackageKind::Rpm);
            (
                p.name.clone(),
                p.version.clone(),
                p.arch.clone().unwrap_or_default(),
                p.source_name.clone().unwrap_or_default(),
                p.source_version.clone().unwrap_or_default(),
                p.size_bytes,
                p.installed_at.map(|t| t.timestamp()),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// `name-version-release.src.rpm` split the way the reader splits it, to compare with the tools' raw column.
fn split_srpm(srpm: &str) -> (String, String) {
    let stem = srpm.strip_suffix(".src.rpm").unwrap();
    let mut parts = stem.rsplitn(3, '-');
    let (release, version, name) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    (name.to_string(), format!("{version}-{release}"))
}

fn evr(epoch: &str, version: &str, release: &str) -> String {
    if epoch == "0" { format!("{version}-{release}") } else { format!("{epoch}:{version}-{release}") }
}

/// Rows of an `expected.rpm-qa.tsv`: name epoch version release arch vendor sourcerpm size installtime.
fn rpm_qa(rel: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = expected_rows(rel)
        .into_iter()
        .map(|r| {
            let (source_name, source_version) = split_srpm(&r[6]);
            (
                r[0].clone(),
                evr(&r[1], &r[2], &r[3]),
                r[4].clone(),
                source_name,
                source_version,
                Some(r[7].parse().unwrap()),
                Some(r[8].parse().unwrap()),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn complete(listing: Listing) -> Vec<Package> {
    assert!(listing.is_complete(), "{:?}", listing.problems);
    listing.packages
}

fn xz_to_file(rel: &str, name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, read_xz(rel)).unwrap();
    (dir, path)
}

#[test]
fn sqlite_rpmdb_matches_rpm_qa() {
    let (_dir, path) = xz_to_file("rpm/cbl-mariner-2.0/rpmdb.sqlite.xz", "rpmdb.sqlite");
    let packages = complete(read_rpmdb(&path, RpmDbFormat::Sqlite));
    assert_eq!(rows(&packages), rpm_qa("rpm/cbl-mariner-2.0/expected.rpm-qa.tsv"));
    let ca = packages.iter().find(|p| p.name == "ca-certificates-base").unwrap();
    assert_eq!(ca.version, "1:2.0.0-1.cm2");
    assert_eq!(ca.installed_at, DateTime::from_timestamp(1643279454, 0));
}

#[test]
fn berkeley_db_rpmdbs_match_rpm_qa() {
    let libuuid = complete(parse_rpmdb(&read_xz("rpm/libuuid/Packages.xz"), RpmDbFormat::BerkeleyDb));
    assert_eq!(rows(&libuuid), rpm_qa("rpm/libuuid/expected.rpm-qa.tsv"));
    let dive = complete(parse_rpmdb(&read("rpm/syft-bdb/Packages"), RpmDbFormat::BerkeleyDb));
    assert_eq!(rows(&dive), rpm_qa("rpm/syft-bdb/expected.rpm-qa.tsv"));
}

#[test]
fn ndb_rpmdb_matches_go_rpmdb() {
    let packages = complete(parse_rpmdb(&read_xz("rpm/sle15-bci/Packages.db.xz"), RpmDbFormat::Ndb));
    // epoch name version release arch sourcerpm size license vendor modularitylabel
    let mut expected: Vec<(String, String, String, String, String, Option<u64>)> =
        expected_rows("rpm/sle15-bci/expected.go-rpmdb.tsv")
            .into_iter()
            .map(|r| {
                let (source_name, source_version) = split_srpm(&r[5]);
                (r[1].clone(), evr(&r[0], &r[2], &r[3]), r[4].clone(), source_name, source_version, r[6].parse().ok())
            })
            .collect();
    expected.sort();
    let got: Vec<_> = rows(&packages).into_iter().map(|r| (r.0, r.1, r.2, r.3, r.4, r.5)).collect();
    assert_eq!(got, expected);
    assert!(packages.iter().all(|p| p.installed_at.is_some()));
}

#[test]
fn truncated_rpmdbs_are_incomplete_not_panics() {
    let cases = [
        (read_xz("rpm/sle15-bci/Packages.db.xz"), RpmDbFormat::Ndb),
        (read_xz("rpm/libuuid/Packages.xz"), RpmDbFormat::BerkeleyDb),
        (read("rpm/syft-bdb/Packages"), RpmDbFormat::BerkeleyDb),
    ];
    for (data, format) in cases {
        let full = complete(parse_rpmdb(&data, format)).len();
        for cut in [data.len() / 2, data.len() - 1, 100, 0] {
            let listing = parse_rpmdb(&data[..cut], format);
            assert!(!listing.is_complete(), "{format:?} cut at {cut}");
            assert!(listing.packages.len() <= full);
        }
    }
}

#[test]
fn flipped_bytes_in_rpmdbs_never_panic() {
    // Berkeley DB and ndb carry no checksum the reader verifies, so damage inside a string can go unnoticed; what
    // must hold is that damage never crashes the reader nor invents packages.
    let cases = [
        (read_xz("rpm/sle15-bci/Packages.db.xz"), RpmDbFormat::Ndb),
        (read_xz("rpm/libuuid/Packages.xz"), RpmDbFormat::BerkeleyDb),
        (read("rpm/syft-bdb/Packages"), RpmDbFormat::BerkeleyDb),
    ];
    for (data, format) in cases {
        let full = complete(parse_rpmdb(&data, format)).len();
        for step in [13usize, 511, 4093] {
            let mut damaged = data.clone();
            for i in (0..damaged.len()).step_by(step) {
                damaged[i] ^= 0xa5;
            }
            assert!(parse_rpmdb(&damaged, format).packages.len() <= full, "{format:?} step {step}");
        }
    }
}

#[test]
fn damaged_structures_are_reported() {
    // A Berkeley DB overflow page that is no longer marked as one.
    let mut bdb = read("rpm/syft-bdb/Packages");
    let page_size = u32::from_le_bytes(bdb[20..24].try_into().unwrap()) as usize;
    let overflow = (1..bdb.len() / page_size).find(|p| bdb[p * page_size + 25] == 7).unwrap();
    bdb[overflow * page_size + 25] = 0;
    let listing = parse_rpmdb(&bdb, RpmDbFormat::BerkeleyDb);
    assert!(listing.packages.is_empty());
    assert!(matches!(listing.problems.as_slice(), [DbError::Corrupt(m)] if m.contains("overflow page")));

    // An ndb slot whose magic number was overwritten stops the scan.
    let mut ndb = read_xz("rpm/sle15-bci/Packages.db.xz");
    ndb[32..36].copy_from_slice(b"XXXX");
    let listing = parse_rpmdb(&ndb, RpmDbFormat::Ndb);
    assert!(matches!(listing.problems.as_slice(), [DbError::Corrupt(m)] if m.contains("slot")));

    // Not an rpm database at all.
    let listing = parse_rpmdb(&read("rpm/libuuid/expected.rpm-qa.tsv"), RpmDbFormat::BerkeleyDb);
    assert!(listing.packages.is_empty() && !listing.is_complete());
}

#[test]
fn a_truncated_sqlite_rpmdb_is_reported() {
    let data = read_xz("rpm/cbl-mariner-2.0/rpmdb.sqlite.xz");
    let dir = tempfile::tempdir().unwrap();
    for cut in [data.len() / 2, 4096, 10] {
        let path = dir.path().join(format!("cut-{cut}.sqlite"));
        std::fs::write(&path, &data[..cut]).unwrap();
        let listing = read_rpmdb(&path, RpmDbFormat::Sqlite);
        assert!(!listing.is_complete(), "cut at {cut}");
    }
}

/// The file lists in the headers equal `rpm -qa --qf '[%{=NAME}\t%{FILENAMES}\n]'` on the same databases: each
/// file's owner is a package rpm lists it under (a directory two packages list goes to the first read).
#[test]
fn file_lists_equal_rpm_filenames() {
    use crate::inventory::software::owners::Owners;
    use crate::inventory::software::rpm::for_each_file;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("rpmdb.sqlite");
    std::fs::write(&sqlite, read_xz("rpm/cbl-mariner-2.0/rpmdb.sqlite.xz")).unwrap();
    let bdb = dir.path().join("Packages");
    std::fs::write(&bdb, read_xz("rpm/libuuid/Packages.xz")).unwrap();
    let cases = [
        (sqlite, RpmDbFormat::Sqlite, "rpm/cbl-mariner-2.0/expected.rpm-qa-filenames.tsv.xz", 7269),
        (bdb, RpmDbFormat::BerkeleyDb, "rpm/libuuid/expected.rpm-qa-filenames.tsv", 7),
    ];
    for (db, format, expected, count) in cases {
        let text = if expected.ends_with(".xz") { read_xz(expected) } else { read(expected) };
        let rows: Vec<(String, String)> = String::from_utf8(text)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_once('\t').map(|(n, p)| (n.to_string(), p.to_string())).unwrap())
            .collect();
        assert_eq!(rows.len(), count);

        let mut seen = Vec::new();
        let problems = for_each_file(&db, format, &mut |package, path| {
            seen.push((package.to_string(), String::from_utf8(path.to_vec()).unwrap()));
        });
        assert!(problems.is_empty(), "{problems:?}");
        seen.sort();
        assert_eq!(seen, rows, "{expected}");

        let mut owners = Owners::new(rows.iter().map(|(_, p)| p.as_str()));
        for_each_file(&db, format, &mut |package, path| owners.claim(path, package));
        assert!(owners.all_claimed());
        for (_, path) in &rows {
            let owner = owners.owner(path).unwrap();
            assert!(rows.contains(&(owner.to_string(), path.clone())), "{path} owned by {owner}");
        }
    }
}

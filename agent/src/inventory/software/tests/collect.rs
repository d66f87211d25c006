//! `collect()` over root-shaped fixture trees, as `--root` reads a mounted image.

use std::path::Path;

use muster_shared::v1::{ErrorKind, PackageKind, PackageSource, Software};

use super::{expected_rows, nva, read, read_xz, testdata};
use crate::inventory::software::{collect, deb_packages};
use crate::root::{ErrorLog, SystemRoot};

fn collect_at(root: &Path) -> (Software, ErrorLog) {
    let mut errors = ErrorLog::new();
    let software = collect(&SystemRoot::mounted(root), &mut errors);
    (software, errors)
}

fn one_source(kind: PackageKind, path: &str, format: &str, packages: u32) -> Vec<PackageSource> {
    vec![PackageSource { kind, path: path.into(), format: format.into(), packages, complete: true }]
}

fn sorted_like_collect(software: &Software) {
    let keys: Vec<_> = software.packages.iter().map(|p| (p.kind, &p.name, &p.arch, &p.version)).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn dpkg_roots_equal_dpkg_query() {
    for fixture in ["debian-12-python-image", "ubuntu-24.04-debootstrap"] {
        let (software, errors) = collect_at(&testdata(&format!("dpkg/{fixture}")));
        assert!(errors.is_empty(), "{:?}", errors.as_slice());
        let expected: Vec<_> = expected_rows(&format!("dpkg/{fixture}/expected.dpkg-query.tsv"))
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
            .collect();
        let count = u32::try_from(expected.len()).unwrap();
        assert_eq!(software.sources, one_source(PackageKind::Deb, "/var/lib/dpkg/status", "dpkg-status", count));
        let mut expected = expected;
        expected.sort();
        assert_eq!(nva(&software.packages), expected);
        sorted_like_collect(&software);
        assert_eq!(deb_packages(Some(&software)).count(), expected.len());
    }
    assert_eq!(deb_packages(None).count(), 0);
}

#[test]
fn distroless_status_d_root() {
    let (software, errors) = collect_at(&testdata("dpkg/distroless-status.d"));
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    assert_eq!(software.sources, one_source(PackageKind::Deb, "/var/lib/dpkg/status.d", "dpkg-status.d", 3));
    assert_eq!(
        nva(&software.packages),
        vec![
            ("dash".into(), "0.5.8-2.4".into(), "amd64".into()),
            ("libsqlite3-0".into(), "3.34.1-3".into(), "arm64".into()),
            ("netbase".into(), "5.4".into(), "all".into()),
        ]
    );
    let sqlite = software.packages.iter().find(|p| p.name == "libsqlite3-0").unwrap();
    assert_eq!(sqlite.source_name.as_deref(), Some("sqlite3"));
    assert_eq!(sqlite.size_bytes, Some(1490 * 1024));
}

#[test]
fn alpine_root_equals_its_database() {
    let (software, errors) = collect_at(&testdata("apk/alpine-3.14.0-minirootfs"));
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    assert_eq!(software.sources, one_source(PackageKind::Apk, "/lib/apk/db/installed", "apk-installed", 26));
    let mut expected: Vec<_> = expected_rows("apk/alpine-3.14.0-minirootfs/expected.awk.tsv")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    expected.sort();
    assert_eq!(nva(&software.packages), expected);
}

#[test]
fn pacman_root_equals_its_database() {
    let (software, errors) = collect_at(&testdata("pacman/syft-local"));
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    assert_eq!(software.sources, one_source(PackageKind::Pacman, "/var/lib/pacman/local", "pacman-local", 3));
    assert_eq!(
        nva(&software.packages),
        vec![
            ("emacs".into(), "29.3-3".into(), "x86_64".into()),
            ("gmp".into(), "6.2.1-2".into(), "x86_64".into()),
            ("tree-sitter".into(), "0.22.6-1".into(), "x86_64".into()),
        ]
    );
}

#[test]
fn rpm_root_reads_a_linked_database_directory_once() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("usr/lib/sysimage/rpm")).unwrap();
    std::fs::create_dir_all(root.path().join("var/lib")).unwrap();
    std::fs::write(
        root.path().join("usr/lib/sysimage/rpm/rpmdb.sqlite"),
        read_xz("rpm/cbl-mariner-2.0/rpmdb.sqlite.xz"),
    )
    .unwrap();
    // As on Fedora and openSUSE: /var/lib/rpm is an absolute link to the new location.
    std::os::unix::fs::symlink("/usr/lib/sysimage/rpm", root.path().join("var/lib/rpm")).unwrap();
    let (software, errors) = collect_at(root.path());
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    let expected = expected_rows("rpm/cbl-mariner-2.0/expected.rpm-qa.tsv");
    let count = u32::try_from(expected.len()).unwrap();
    assert_eq!(software.sources, one_source(PackageKind::Rpm, "/var/lib/rpm/rpmdb.sqlite", "rpmdb-sqlite", count));
    let mut names: Vec<_> = expected.iter().map(|r| r[0].clone()).collect();
    names.sort();
    assert_eq!(software.packages.iter().map(|p| p.name.clone()).collect::<Vec<_>>(), names);
}

#[test]
fn rpm_ndb_root() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("usr/lib/sysimage/rpm")).unwrap();
    std::fs::write(root.path().join("usr/lib/sysimage/rpm/Packages.db"), read_xz("rpm/sle15-bci/Packages.db.xz"))
        .unwrap();
    let (software, errors) = collect_at(root.path());
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    assert_eq!(software.sources, one_source(PackageKind::Rpm, "/usr/lib/sysimage/rpm/Packages.db", "rpmdb-ndb", 35));
}

#[test]
fn a_root_without_package_databases_reports_not_found() {
    let root = tempfile::tempdir().unwrap();
    let (software, errors) = collect_at(root.path());
    assert_eq!(software, Software::default());
    assert_eq!(errors.as_slice().len(), 1);
    assert_eq!(errors.as_slice()[0].kind, ErrorKind::NotFound);
}

#[test]
fn a_truncated_database_is_a_source_marked_incomplete() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("var/lib/dpkg")).unwrap();
    std::fs::create_dir_all(root.path().join("var/lib/rpm")).unwrap();
    let status = read("dpkg/debian-12-python-image/var/lib/dpkg/status");
    std::fs::write(root.path().join("var/lib/dpkg/status"), &status[..status.len() / 2]).unwrap();
    let bdb = read_xz("rpm/libuuid/Packages.xz");
    std::fs::write(root.path().join("var/lib/rpm/Packages"), &bdb[..bdb.len() / 2]).unwrap();
    let (software, errors) = collect_at(root.path());
    let summary: Vec<_> = software.sources.iter().map(|s| (s.format.as_str(), s.complete)).collect();
    assert_eq!(summary, vec![("dpkg-status", false), ("rpmdb-bdb", false)]);
    let items: Vec<_> = errors.as_slice().iter().map(|e| (e.item.as_str(), e.kind)).collect();
    assert!(items.contains(&("/var/lib/dpkg/status", ErrorKind::Parse)));
    assert!(items.contains(&("/var/lib/rpm/Packages", ErrorKind::Parse)));
    assert!(software.sources[0].packages > 0);
}

#[test]
fn install_times_come_from_dpkg_file_lists() {
    let root = tempfile::tempdir().unwrap();
    let info = root.path().join("var/lib/dpkg/info");
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(root.path().join("var/lib/dpkg/status"), read("dpkg/ubuntu-24.04-debootstrap/var/lib/dpkg/status"))
        .unwrap();
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    for file in ["bash.list", "libc6:amd64.list"] {
        let f = std::fs::File::create(info.join(file)).unwrap();
        f.set_modified(at).unwrap();
    }
    let (software, errors) = collect_at(root.path());
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    let time = |name: &str| software.packages.iter().find(|p| p.name == name).unwrap().installed_at;
    let expected = chrono::DateTime::from_timestamp(1_700_000_000, 0);
    assert_eq!(time("bash"), expected);
    assert_eq!(time("libc6"), expected);
    assert_eq!(time("apt"), None);
}

#[test]
fn a_pending_dpkg_journal_marks_the_list_incomplete() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("var/lib/dpkg/updates")).unwrap();
    std::fs::write(root.path().join("var/lib/dpkg/status"), read("dpkg/ubuntu-24.04-debootstrap/var/lib/dpkg/status"))
        .unwrap();
    std::fs::write(root.path().join("var/lib/dpkg/updates/0000"), "Package: x\n").unwrap();
    let (software, errors) = collect_at(root.path());
    assert!(!software.sources[0].complete);
    assert_eq!(software.sources[0].packages, 90);
    assert_eq!(errors.as_slice().len(), 1);
}

//! The language package readers on real metadata files, and the scan over a root where a distribution and pip, npm
//! and RubyGems installed the same libraries (agent/testdata/lang/, see the README there).

use std::path::{Path, PathBuf};
use std::time::Duration;

use muster_shared::v1::{ErrorKind, Package, PackageKind, PackageSource, SectionName, Software};

use super::{LanguageScan, Parsed, parse_gemspec, parse_package_json, parse_python_metadata};
use crate::inventory::software::owners::{Owners, claim_apk_installed, claim_dpkg_list};
use crate::inventory::software::{add_other_packages, collect};
use crate::root::{ErrorLog, SystemRoot};

const MIXED: &str = "lang/debian-12-mixed";

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn parsed(name: &str, version: &str) -> Parsed {
    Parsed { name: name.to_string(), version: version.to_string() }
}

fn scan_at(root: &Path, scan: &LanguageScan) -> (Software, ErrorLog) {
    let root = SystemRoot::mounted(root);
    let mut errors = ErrorLog::new();
    let mut software = collect(&root, &mut errors);
    add_other_packages(&root, scan, &mut software, &mut errors);
    (software, errors)
}

/// `(kind, name, version, path, owner)` of every package that is not an OS package.
fn language_rows(software: &Software) -> Vec<(PackageKind, String, String, String, Option<String>)> {
    software
        .packages
        .iter()
        .filter(|p| !p.kind.is_os_package())
        .map(|p| (p.kind, p.name.clone(), p.version.clone(), p.path.clone().unwrap_or_default(), p.owner.clone()))
        .collect()
}

fn row(
    kind: PackageKind,
    name: &str,
    version: &str,
    path: &str,
    owner: Option<&str>,
) -> (PackageKind, String, String, String, Option<String>) {
    (kind, name.into(), version.into(), path.into(), owner.map(str::to_string))
}

#[test]
fn python_metadata_of_a_wheel_a_debian_egg_info_dir_and_an_egg_info_file() {
    let site = format!("{MIXED}/usr/lib/python3/dist-packages");
    let cases = [
        (format!("{MIXED}/usr/local/lib/python3.11/dist-packages/idna-3.3.dist-info/METADATA"), parsed("idna", "3.3")),
        (format!("{site}/idna-3.3.egg-info/PKG-INFO"), parsed("idna", "3.3")),
        (format!("{site}/gpg-1.18.0-py3.11.egg-info"), parsed("gpg", "1.18.0")),
        (format!("{site}/cryptography-38.0.4.dist-info/METADATA"), parsed("cryptography", "38.0.4")),
        (format!("{site}/cryptography.egg-info/PKG-INFO"), parsed("cryptography", "38.0.4")),
    ];
    for (file, expected) in cases {
        assert_eq!(parse_python_metadata(&read(&file)), Ok(expected), "{file}");
    }
    // A file that is not core metadata (the wheel's own WHEEL file has neither header).
    let wheel = read(&format!("{MIXED}/usr/local/lib/python3.11/dist-packages/idna-3.3.dist-info/WHEEL"));
    assert_eq!(parse_python_metadata(&wheel), Err("no Name header".to_string()));
}

#[test]
fn package_json_of_npm_and_debian_packages() {
    let cases = [
        ("usr/local/lib/node_modules/semver/package.json", parsed("semver", "7.3.5")),
        ("usr/local/lib/node_modules/@types/semver/package.json", parsed("@types/semver", "7.3.9")),
        ("usr/share/nodejs/semver/package.json", parsed("semver", "7.3.5")),
        ("usr/share/nodejs/@types/semver/package.json", parsed("@types/semver", "7.3.9")),
    ];
    for (file, expected) in cases {
        assert_eq!(parse_package_json(&read(&format!("{MIXED}/{file}"))), Ok(Some(expected)), "{file}");
    }
    // Core metadata is not JSON.
    let metadata = read(&format!("{MIXED}/usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO"));
    assert!(parse_package_json(&metadata).is_err());
}

#[test]
fn gemspec_written_by_rubygems() {
    let file = format!("{MIXED}/usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec");
    assert_eq!(parse_gemspec(&read(&file)), Ok(parsed("rack", "2.2.22")));
    // Without the assignments the stub line still names the gem: the same file's first two lines.
    let data = read(&file);
    let head: Vec<u8> = data.split_inclusive(|&b| b == b'\n').take(2).flatten().copied().collect();
    assert_eq!(parse_gemspec(&head), Ok(parsed("rack", "2.2.22")));
    assert!(parse_gemspec(&data[..1]).is_err());
}

#[test]
fn dpkg_and_apk_file_lists_name_owners() {
    let mut owners = Owners::new([
        "/usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO",
        "/usr/lib/python3/dist-packages/gpg-1.18.0-py3.11.egg-info",
        "/usr/local/lib/python3.11/dist-packages/idna-3.3.dist-info/METADATA",
    ]);
    claim_dpkg_list("python3-idna", &read(&format!("{MIXED}/var/lib/dpkg/info/python3-idna.list")), &mut owners);
    claim_dpkg_list("python3-gpg", &read(&format!("{MIXED}/var/lib/dpkg/info/python3-gpg.list")), &mut owners);
    assert_eq!(owners.owner("/usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO"), Some("python3-idna"));
    assert_eq!(owners.owner("/usr/lib/python3/dist-packages/gpg-1.18.0-py3.11.egg-info"), Some("python3-gpg"));
    assert_eq!(owners.owner("/usr/local/lib/python3.11/dist-packages/idna-3.3.dist-info/METADATA"), None);
    assert!(!owners.all_claimed());

    // apk: `F:lib` then `R:ld-musl-armhf.so.1` in musl's stanza; the merged-/usr spelling is claimed too.
    let mut owners = Owners::new(["/lib/ld-musl-armhf.so.1", "/usr/lib/ld-musl-armhf.so.1", "/bin/busybox"]);
    claim_apk_installed(&read("pkgdb/apk/alpine-3.14.0-minirootfs/lib/apk/db/installed"), &mut owners);
    assert_eq!(owners.owner("/lib/ld-musl-armhf.so.1"), Some("musl"));
    assert_eq!(owners.owner("/usr/lib/ld-musl-armhf.so.1"), Some("musl"));
    assert_eq!(owners.owner("/bin/busybox"), Some("busybox"));
    assert!(owners.all_claimed());
}

/// The case: the distribution's idna (python3-idna) and pip's idna in /usr/local. The distribution's copy is
/// listed with its owner, so only pip's copy is left for PyPI advisories; the same for npm and the gem.
#[test]
fn distro_copies_carry_their_owner_and_pip_npm_copies_none() {
    let (software, errors) = scan_at(&testdata(MIXED), &LanguageScan::default());
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    use PackageKind::{Gem, Npm, Pypi};
    assert_eq!(
        language_rows(&software),
        vec![
            row(
                Pypi,
                "cryptography",
                "38.0.4",
                "/usr/lib/python3/dist-packages/cryptography-38.0.4.dist-info/METADATA",
                Some("python3-cryptography")
            ),
            row(
                Pypi,
                "gpg",
                "1.18.0",
                "/usr/lib/python3/dist-packages/gpg-1.18.0-py3.11.egg-info",
                Some("python3-gpg")
            ),
            row(Pypi, "idna", "3.3", "/usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO", Some("python3-idna")),
            row(Pypi, "idna", "3.3", "/usr/local/lib/python3.11/dist-packages/idna-3.3.dist-info/METADATA", None),
            row(Npm, "@types/semver", "7.3.9", "/usr/local/lib/node_modules/@types/semver/package.json", None),
            row(Npm, "@types/semver", "7.3.9", "/usr/share/nodejs/@types/semver/package.json", Some("node-semver")),
            row(Npm, "semver", "7.3.5", "/usr/local/lib/node_modules/semver/package.json", None),
            row(Npm, "semver", "7.3.5", "/usr/share/nodejs/semver/package.json", Some("node-semver")),
            row(
                Gem,
                "rack",
                "2.2.22",
                "/usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec",
                Some("ruby-rack")
            ),
        ]
    );
    // What the collector matches: OS packages through the distribution, language packages without owner through
    // their ecosystem. idna is one of each, never two PyPI matches.
    let idna: Vec<&Package> =
        software.packages.iter().filter(|p| p.name == "idna" || p.name == "python3-idna").collect();
    let distro = idna.iter().filter(|p| p.kind.is_os_package()).count();
    let pypi: Vec<_> = idna.iter().filter(|p| p.kind == Pypi && p.owner.is_none()).collect();
    assert_eq!((distro, pypi.len()), (1, 1));
    assert_eq!(pypi[0].path.as_deref(), Some("/usr/local/lib/python3.11/dist-packages/idna-3.3.dist-info/METADATA"));

    let source = |kind, path: &str, format: &str, packages| PackageSource {
        kind,
        path: path.into(),
        format: format.into(),
        packages,
        complete: true,
    };
    assert_eq!(
        software.sources,
        vec![
            source(PackageKind::Deb, "/var/lib/dpkg/status", "dpkg-status", 5),
            source(Pypi, "/usr/lib/python3/dist-packages", "python-dist-info", 1),
            source(Pypi, "/usr/lib/python3/dist-packages", "python-egg-info", 2),
            source(Pypi, "/usr/local/lib/python3.11/dist-packages", "python-dist-info", 1),
            source(Npm, "/usr/local/lib/node_modules", "node-package-json", 2),
            source(Npm, "/usr/share/nodejs", "node-package-json", 2),
            source(Gem, "/usr/share/rubygems-integration/all/specifications", "gemspec", 1),
        ]
    );
}

#[test]
fn a_configured_directory_is_searched_and_files_already_read_count_once() {
    // /usr/local holds two system locations: the walk finds them again and they are not listed twice.
    let scan = LanguageScan { paths: vec!["/usr/local".to_string(), "/usr".to_string()], ..LanguageScan::default() };
    let (software, errors) = scan_at(&testdata(MIXED), &scan);
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    let (all, _) = scan_at(&testdata(MIXED), &LanguageScan::default());
    assert_eq!(language_rows(&software), language_rows(&all));
    assert!(!software.sources.iter().any(|s| s.path == "/usr/local" || s.path == "/usr"), "system locations first");

    // A configured directory that is not there is reported, not silently skipped.
    let scan = LanguageScan { paths: vec!["/srv/none".to_string()], ..LanguageScan::default() };
    let (_, errors) = scan_at(&testdata(MIXED), &scan);
    let missing: Vec<_> = errors.as_slice().iter().map(|e| (e.item.as_str(), e.kind)).collect();
    assert_eq!(missing, [("/srv/none", ErrorKind::NotFound)]);
}

#[test]
fn a_scan_cut_short_says_so_and_is_never_complete() {
    let limited = LanguageScan { max_files: 5, ..LanguageScan::default() };
    let (software, errors) = scan_at(&testdata(MIXED), &limited);
    let language: Vec<_> = software.sources.iter().filter(|s| !s.kind.is_os_package()).collect();
    // Sorted walk: the two Python locations read five files (cryptography's two, gpg, idna twice), then the sixth
    // stops the scan in /usr/local/lib/node_modules.
    assert_eq!(
        language.iter().map(|s| (s.path.as_str(), s.complete)).collect::<Vec<_>>(),
        [
            ("/usr/lib/python3/dist-packages", true),
            ("/usr/lib/python3/dist-packages", true),
            ("/usr/local/lib/python3.11/dist-packages", true),
            ("/usr/local/lib/node_modules", false),
        ]
    );
    let truncated: Vec<_> = errors.as_slice().iter().filter(|e| e.kind == ErrorKind::Truncated).collect();
    let items: Vec<_> = truncated.iter().map(|e| (e.section, e.item.as_str(), e.message.as_str())).collect();
    assert_eq!(
        items,
        [
            (
                SectionName::Software,
                "language packages",
                "scan stopped at the limit of 5 metadata files; not scanned: /usr/share/nodejs, \
             /usr/share/rubygems-integration/all/specifications"
            ),
            (SectionName::Software, "/usr/local/lib/node_modules", "scan stopped at the limit of 5 metadata files"),
        ]
    );

    let no_time = LanguageScan { time_limit: Duration::ZERO, ..LanguageScan::default() };
    let (software, errors) = scan_at(&testdata(MIXED), &no_time);
    assert!(software.sources.iter().filter(|s| !s.kind.is_os_package()).all(|s| !s.complete));
    assert!(errors.as_slice().iter().any(|e| e.kind == ErrorKind::Truncated && e.message.contains("time limit")));
}

/// A project tree outside the system locations, with real metadata files where a virtualenv and npm put them.
#[test]
fn a_project_tree_is_found_within_the_depth_limit_only() {
    let dir = tempfile::tempdir().unwrap();
    let place = |from: &str, to: &str| {
        let target = dir.path().join(to);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(testdata(&format!("{MIXED}/{from}")), target).unwrap();
    };
    place(
        "usr/local/lib/python3.11/dist-packages/idna-3.3.dist-info/METADATA",
        "srv/app/venv/lib/python3.11/site-packages/idna-3.3.dist-info/METADATA",
    );
    place("usr/local/lib/node_modules/semver/package.json", "srv/app/web/node_modules/semver/package.json");
    let at_depth = |max_depth| {
        let scan = LanguageScan { paths: vec!["/srv/app".to_string()], max_depth, ..LanguageScan::default() };
        let (software, errors) = scan_at(dir.path(), &scan);
        assert!(errors.as_slice().iter().all(|e| e.item == "package databases"), "{:?}", errors.as_slice());
        (language_rows(&software), software.sources.iter().map(|s| s.format.clone()).collect::<Vec<_>>())
    };
    let (rows, formats) = at_depth(3);
    assert_eq!(
        rows,
        vec![
            row(
                PackageKind::Pypi,
                "idna",
                "3.3",
                "/srv/app/venv/lib/python3.11/site-packages/idna-3.3.dist-info/METADATA",
                None
            ),
            row(PackageKind::Npm, "semver", "7.3.5", "/srv/app/web/node_modules/semver/package.json", None),
        ]
    );
    assert_eq!(formats, ["node-package-json", "python-dist-info"]);
    // venv/lib/python3.11 is three levels down: at depth 2 only web/node_modules is reached.
    let (rows, _) = at_depth(2);
    assert_eq!(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["semver"]);
}

//! Patch state of real captured apt data, checked against what apt 2.6.1 itself printed for the same files.
//!
//! `testdata/apt/debian-12` is a root-shaped tree: a real Debian 12 image's dpkg status, this machine's Debian
//! sources and the real lists downloaded for them. Each `expected.*.txt` beside it is `apt list --upgradable`
//! run against that tree (the README says how).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeZone, Utc};
use muster_shared::v1::{ErrorKind, Package, PackageKind, Patches, SectionName, Software};

use super::collect;
use crate::root::{ErrorLog, SystemRoot};
use crate::testutil::copy_tree;

const TREE: &str = "testdata/apt/debian-12";
const MAIN_LIST: &str = "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages";
const SECURITY_RELEASE: &str = "deb.debian.org_debian-security_dists_bookworm-security_InRelease";
const LISTS: &str = "var/lib/apt/lists";

fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A just-enough dpkg status reader for tests: the software section owns the real parser. A package is installed
/// when dpkg has a current version for it, i.e. its state is neither `not-installed` nor `config-files`.
fn installed_from_status(text: &str) -> Software {
    let mut packages = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(str::trim))
        };
        let (Some(name), Some(version), Some(status)) = (field("Package"), field("Version"), field("Status")) else {
            continue;
        };
        if matches!(status.split_whitespace().nth(2), Some("not-installed" | "config-files")) {
            continue;
        }
        packages.push(Package {
            kind: PackageKind::Deb,
            name: name.to_string(),
            version: version.to_string(),
            arch: field("Architecture").map(str::to_string),
            source_name: None,
            source_version: None,
            installed_at: None,
            size_bytes: None,
            state: None,
            path: None,
            owner: None,
            publisher: None,
            channel: None,
        });
    }
    Software { sources: Vec::new(), packages, ..Software::default() }
}

/// A writable copy of the fixture tree, so cases can change one file.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&testdata(TREE), dir.path());
    dir
}

fn run(dir: &Path) -> (Option<Patches>, ErrorLog) {
    let status = std::fs::read_to_string(dir.join("var/lib/dpkg/status")).unwrap_or_default();
    let software = installed_from_status(&status);
    let mut errors = ErrorLog::new();
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 22, 0, 0).unwrap();
    let patches = collect(&SystemRoot::mounted(dir), Some(&software), None, now, &mut errors);
    (patches, errors)
}

/// (name, arch, installed, candidate, security) as apt prints them: `name/suites candidate arch [upgradable from:
/// installed]`, security when a suite the candidate comes from is a `-security` one.
type Row = (String, String, String, String, bool);

fn parse_apt_list(text: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = text
        .lines()
        .filter(|l| l.contains("[upgradable from: "))
        .map(|line| {
            let (name, rest) = line.split_once('/').unwrap();
            let mut words = rest.split_whitespace();
            let suites = words.next().unwrap();
            let candidate = words.next().unwrap();
            let arch = words.next().unwrap();
            let installed = line.rsplit_once("upgradable from: ").unwrap().1.trim_end_matches(']');
            let security = suites.split(',').any(|s| s.ends_with("-security"));
            (name.into(), arch.into(), installed.into(), candidate.into(), security)
        })
        .collect();
    rows.sort();
    rows
}

fn rows(patches: &Patches) -> Vec<Row> {
    let mut rows: Vec<Row> = patches
        .pending
        .as_ref()
        .unwrap()
        .iter()
        .map(|u| {
            let arch = u.arch.clone().unwrap_or_default();
            (u.name.clone(), arch, u.installed_version.clone(), u.candidate_version.clone(), u.security)
        })
        .collect();
    rows.sort();
    rows
}

fn expected(name: &str) -> Vec<Row> {
    parse_apt_list(&std::fs::read_to_string(testdata(&format!("{TREE}/{name}"))).unwrap())
}

fn check(dir: &Path, expected_file: &str) -> Patches {
    let (patches, errors) = run(dir);
    let patches = patches.unwrap();
    assert_eq!(rows(&patches), expected(expected_file));
    let pending_errors: Vec<_> =
        errors.as_slice().iter().filter(|e| e.item != "reboot_required.kernel").cloned().collect();
    assert!(pending_errors.is_empty(), "{pending_errors:?}");
    patches
}

#[test]
fn fixture_tree_gives_exactly_what_apt_lists() {
    let dir = tree();
    let patches = check(dir.path(), "expected.apt-list-upgradable.txt");
    assert_eq!(patches.manager.as_deref(), Some("apt"));
    assert_eq!(patches.pending_count, Some(56));
    let security = expected("expected.apt-list-upgradable.txt").iter().filter(|r| r.4).count() as u32;
    assert_eq!(patches.security_count, Some(security));
    let pending = patches.pending.as_ref().unwrap();
    let tzdata = pending.iter().find(|u| u.name == "tzdata").unwrap();
    assert_eq!(tzdata.origin.as_deref(), Some("Debian-Security/bookworm-security"));
    let base_files = pending.iter().find(|u| u.name == "base-files").unwrap();
    assert_eq!(base_files.origin.as_deref(), Some("Debian/bookworm"));
    assert!(!base_files.security);
}

#[test]
fn every_compression_of_the_main_list_reads_the_same() {
    for suffix in ["", ".gz", ".lz4"] {
        let dir = tree();
        let lists = dir.path().join(LISTS);
        std::fs::remove_file(lists.join(format!("{MAIN_LIST}.xz"))).unwrap();
        let variant = format!("{MAIN_LIST}{suffix}");
        std::fs::copy(testdata(&format!("testdata/apt/compressed/{variant}")), lists.join(&variant)).unwrap();
        check(dir.path(), "expected.apt-list-upgradable.txt");
    }
}

/// Adds header fields to the security suite's InRelease, as a repository that sets them would publish.
fn mark_security_release(dir: &Path, fields: &str) {
    let path = dir.join(LISTS).join(SECURITY_RELEASE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\nSuite: ", &format!("\n{fields}Suite: "), 1)).unwrap();
}

#[test]
fn not_automatic_suites_only_upgrade_what_came_from_them() {
    let dir = tree();
    mark_security_release(dir.path(), "NotAutomatic: yes\n");
    check(dir.path(), "expected.security-notautomatic.txt");

    let dir = tree();
    mark_security_release(dir.path(), "NotAutomatic: yes\nButAutomaticUpgrades: yes\n");
    check(dir.path(), "expected.security-butautomaticupgrades.txt");
}

#[test]
fn default_release_outranks_the_other_suites() {
    let dir = tree();
    std::fs::create_dir_all(dir.path().join("etc/apt/apt.conf.d")).unwrap();
    std::fs::write(dir.path().join("etc/apt/apt.conf.d/01release"), "APT::Default-Release \"bookworm\";\n").unwrap();
    check(dir.path(), "expected.default-release-bookworm.txt");
}

/// General, version, glob and origin pins, negative and 1000; `expected.preferences.txt` is apt's answer to it.
const PREFERENCES: &str = "Package: *\nPin: release l=Debian-Security\nPin-Priority: 50\n\n\
    # Hold the C library at the installed version.\nPackage: libc6 libc-bin\nPin: version 2.36-9+deb12u9\n\
    Pin-Priority: 1000\n\nPackage: tzdata\nPin: version 2026f*\nPin-Priority: 600\n\n\
    Package: libpam*\nPin: origin \"deb.debian.org\"\nPin-Priority: -1\n";

#[test]
fn preferences_pins_are_applied_as_apt_does() {
    let dir = tree();
    std::fs::create_dir_all(dir.path().join("etc/apt/preferences.d")).unwrap();
    std::fs::write(dir.path().join("etc/apt/preferences.d/muster-test.pref"), PREFERENCES).unwrap();
    let patches = check(dir.path(), "expected.preferences.txt");
    let tzdata = patches.pending.unwrap().into_iter().find(|u| u.name == "tzdata").unwrap();
    assert!(tzdata.security);
}

#[test]
fn pins_that_cannot_be_evaluated_make_pending_unknown() {
    let dir = tree();
    std::fs::create_dir_all(dir.path().join("etc/apt/preferences.d")).unwrap();
    std::fs::write(dir.path().join("etc/apt/preferences"), "Package: /^lib/\nPin: version *\nPin-Priority: 1\n")
        .unwrap();
    let (patches, errors) = run(dir.path());
    assert_eq!(patches.unwrap().pending, None);
    let error = errors.as_slice().iter().find(|e| e.item == "/etc/apt/preferences").unwrap();
    assert_eq!(error.kind, ErrorKind::Unsupported);
}

#[test]
fn lists_age_is_the_newest_release_file() {
    let dir = tree();
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let lists = dir.path().join(LISTS);
    for (offset, name) in [
        (0, SECURITY_RELEASE),
        (300, "deb.debian.org_debian_dists_bookworm-updates_InRelease"),
        (60, "deb.debian.org_debian_dists_bookworm_InRelease"),
    ] {
        let file = std::fs::File::options().write(true).open(lists.join(name)).unwrap();
        file.set_modified(base + Duration::from_secs(offset)).unwrap();
    }
    let (patches, _) = run(dir.path());
    let expected: DateTime<Utc> = (base + Duration::from_secs(300)).into();
    assert_eq!(patches.unwrap().lists_updated_at, Some(expected));
}

#[test]
fn an_unreadable_list_makes_pending_unknown_not_short() {
    let dir = tree();
    let lists = dir.path().join(LISTS);
    let xz = lists.join(format!("{MAIN_LIST}.xz"));
    let bytes = std::fs::read(&xz).unwrap();
    std::fs::write(&xz, &bytes[..bytes.len() / 2]).unwrap();
    let (patches, errors) = run(dir.path());
    let patches = patches.unwrap();
    assert_eq!((patches.pending, patches.pending_count), (None, None));
    let error = errors.as_slice().iter().find(|e| e.item.ends_with(&format!("{MAIN_LIST}.xz"))).unwrap();
    assert_eq!(error.kind, ErrorKind::Parse);

    std::fs::rename(&xz, lists.join(format!("{MAIN_LIST}.zst"))).unwrap();
    let (patches, errors) = run(dir.path());
    assert_eq!(patches.unwrap().pending, None);
    assert!(errors.as_slice().iter().any(|e| e.kind == ErrorKind::Unsupported && e.item.ends_with(".zst")));
}

#[test]
fn a_list_never_downloaded_is_reported_and_apt_view_kept() {
    let dir = tree();
    let updates = "deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages";
    std::fs::remove_file(dir.path().join(LISTS).join(format!("{updates}.lz4"))).unwrap();
    let (patches, errors) = run(dir.path());
    // No fixture package's candidate comes from bookworm-updates alone, so apt's answer is unchanged.
    assert_eq!(rows(&patches.unwrap()), expected("expected.apt-list-upgradable.txt"));
    let missing: Vec<_> = errors.as_slice().iter().filter(|e| e.kind == ErrorKind::NotFound).collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].item, format!("/var/lib/apt/lists/{updates}"));
}

#[test]
fn reboot_flag_and_automatic_updates_in_a_mounted_tree() {
    let dir = tree();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    std::fs::write(dir.path().join("run/reboot-required"), "*** System restart required ***\n").unwrap();
    std::fs::write(dir.path().join("run/reboot-required.pkgs"), "libc6\nlibssl3\nlibc6\n").unwrap();
    std::fs::create_dir_all(dir.path().join("etc/apt/apt.conf.d")).unwrap();
    std::fs::write(
        dir.path().join("etc/apt/apt.conf.d/20auto-upgrades"),
        "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
    )
    .unwrap();
    let (patches, errors) = run(dir.path());
    let patches = patches.unwrap();
    let reboot = patches.reboot_required.unwrap();
    assert!(reboot.required);
    assert_eq!(reboot.reasons, ["/run/reboot-required exists"]);
    assert_eq!(reboot.packages, ["libc6", "libssl3"]);
    assert!(errors.as_slice().iter().any(|e| e.item == "reboot_required.kernel" && e.kind == ErrorKind::NotAvailable));
    // The image has no unattended-upgrades, so the switches alone do nothing.
    let automatic = patches.automatic_updates.unwrap();
    assert!(!automatic.enabled);
    assert_eq!(automatic.evidence, ["unattended-upgrades is not installed"]);
}

#[test]
fn systems_without_a_known_package_manager_are_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let (patches, errors) = run(dir.path());
    assert_eq!(patches, None);
    let [error] = errors.as_slice() else { panic!("{:?}", errors.as_slice()) };
    assert_eq!((error.section, error.kind), (SectionName::Patches, ErrorKind::Unsupported));
    assert_eq!(
        error.message,
        "pending updates are computed for apt, dnf, yum, zypper, apk and macOS systems; this root has none of them"
    );
}

/// On a machine with apt, our offline answer must equal `apt list --upgradable` for this very machine.
#[test]
fn live_system_matches_apt_list_upgradable() {
    let Ok(output) = std::process::Command::new("apt").args(["list", "--upgradable"]).output() else {
        eprintln!("apt is not installed here; nothing to compare");
        return;
    };
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let apt_rows = parse_apt_list(&String::from_utf8_lossy(&output.stdout));
    let software = installed_from_status(&std::fs::read_to_string("/var/lib/dpkg/status").unwrap());
    let mut errors = ErrorLog::new();
    let patches = collect(&SystemRoot::live(), Some(&software), None, Utc::now(), &mut errors).unwrap();
    // A configured list that was never downloaded is reported, yet apt's own answer ignores it just the same.
    let unexpected: Vec<_> = errors.as_slice().iter().filter(|e| e.kind != ErrorKind::NotFound).collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    assert_eq!(rows(&patches), apt_rows);
}

//! Alpine patch state on real data: Alpine 3.16's own `main` index (APKINDEX.tar.gz as the mirror served it, as
//! `apk update` caches it unchanged) against a real Alpine 3.16 installed database.
//!
//! apk itself is not packaged for Debian, so its answer could not be captured here; the expected upgrades below are
//! read off the two files (each installed package's `V:` against the index's), and the version order they rely
//! on is `muster_shared::version::apk`, checked against apk-tools' own test vectors.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use muster_shared::v1::{ErrorKind, Patches};

use super::{cache_file_name, index, parse_repositories, parse_world};
use crate::inventory::patches::collect;
use crate::inventory::software;
use crate::root::{ErrorLog, SystemRoot};

const MIRROR: &str = "https://dl-cdn.alpinelinux.org/alpine/v3.16/main";

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/apk/alpine-3.16").join(rel)
}

/// A root with the installed database, the repositories file naming the mirror and the index in apk's cache.
fn root(world: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let at = |rel: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        path
    };
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/pkgdb/apk/alpine-3.16-syft/installed");
    std::fs::copy(installed, at("lib/apk/db/installed")).unwrap();
    std::fs::write(at("etc/apk/repositories"), format!("# main only\n{MIRROR}\n")).unwrap();
    std::fs::write(at("etc/apk/arch"), "x86_64\n").unwrap();
    std::fs::write(at("etc/apk/world"), world).unwrap();
    std::fs::copy(testdata("APKINDEX.tar.gz"), at(&format!("var/cache/apk/{}", cache_file_name(MIRROR)))).unwrap();
    dir
}

fn run(dir: &Path) -> (Patches, ErrorLog) {
    let root = SystemRoot::mounted(dir);
    let mut errors = ErrorLog::new();
    let software = software::collect(&root, &mut errors);
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    (collect(&root, Some(&software), None, now, &mut errors).unwrap(), errors)
}

fn rows(patches: &Patches) -> Vec<(String, String, String)> {
    patches
        .pending
        .iter()
        .flatten()
        .map(|u| (u.name.clone(), u.installed_version.clone(), u.candidate_version.clone()))
        .collect()
}

fn row(name: &str, installed: &str, candidate: &str) -> (String, String, String) {
    (name.into(), installed.into(), candidate.into())
}

#[test]
fn real_index_is_read_through_its_signature_and_tar() {
    let file = std::fs::File::open(testdata("APKINDEX.tar.gz")).unwrap();
    let all = index::read(file, |_| true).unwrap();
    // `tar -xzf APKINDEX.tar.gz && grep -c ^P: APKINDEX` on the same file.
    assert_eq!(all.len(), 4929);
    let musl: Vec<_> = all.iter().filter(|o| o.name == "musl").collect();
    assert_eq!(musl.len(), 1);
    // go-apk's README calls the file the aarch64 index, but every stanza (`grep ^A: APKINDEX`) says x86_64.
    assert_eq!((musl[0].version.as_str(), musl[0].arch.as_deref()), ("1.2.3-r2", Some("x86_64")));
}

#[test]
fn pending_upgrades_of_a_real_alpine_system() {
    let dir = root("alpine-baselayout\napk-tools\nbusybox\nca-certificates-bundle\nlibc-utils\n");
    let (patches, errors) = run(dir.path());
    assert_eq!(patches.manager.as_deref(), Some("apk"));
    assert_eq!(
        rows(&patches),
        [
            row("alpine-baselayout", "3.2.0-r22", "3.2.0-r23"),
            row("alpine-baselayout-data", "3.2.0-r22", "3.2.0-r23"),
            row("libcrypto1.1", "1.1.1q-r0", "1.1.1s-r0"),
            row("libssl1.1", "1.1.1q-r0", "1.1.1s-r0"),
            row("musl", "1.2.3-r0", "1.2.3-r2"),
            row("musl-utils", "1.2.3-r0", "1.2.3-r2"),
        ]
    );
    assert_eq!(patches.pending_count, Some(6));
    // APKINDEX has no advisories: unknown, not zero.
    assert_eq!(patches.security_count, None);
    assert!(errors.as_slice().iter().any(|e| e.item == "patches.security" && e.kind == ErrorKind::Unsupported));
    let cached = dir.path().join("var/cache/apk").join(cache_file_name(MIRROR));
    let modified = std::fs::metadata(cached).unwrap().modified().unwrap();
    assert_eq!(patches.lists_updated_at, Some(modified.into()));
    let auto = patches.automatic_updates.unwrap();
    assert!(!auto.enabled);
}

#[test]
fn world_constraints_and_tags_hold_packages_back() {
    // musl pinned to its installed version; libssl1.1 only from a tagged repository that has no index here.
    let dir = root("musl=1.2.3-r0\nlibssl1.1@edge\n");
    std::fs::write(dir.path().join("etc/apk/repositories"), format!("{MIRROR}\n@edge https://example.invalid/edge\n"))
        .unwrap();
    let (patches, errors) = run(dir.path());
    let names: Vec<String> = rows(&patches).into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["alpine-baselayout", "alpine-baselayout-data", "libcrypto1.1", "libssl1.1", "musl-utils"]);
    // The tagged repository was never fetched: reported, and libssl1.1 still upgrades from main, as apk would.
    assert!(errors.as_slice().iter().any(|e| e.kind == ErrorKind::NotFound && e.message.contains("example.invalid")));
}

#[test]
fn missing_index_and_cron_upgrades() {
    let dir = root("");
    std::fs::remove_file(dir.path().join("var/cache/apk").join(cache_file_name(MIRROR))).unwrap();
    let periodic = dir.path().join("etc/periodic/daily");
    std::fs::create_dir_all(&periodic).unwrap();
    std::fs::write(periodic.join("apk-upgrade"), "#!/bin/sh\n# nightly\napk update && apk upgrade --available\n")
        .unwrap();
    let (patches, errors) = run(dir.path());
    assert_eq!(rows(&patches), []);
    assert!(errors.as_slice().iter().any(|e| e.kind == ErrorKind::NotFound && e.message.contains("not cached")));
    let auto = patches.automatic_updates.unwrap();
    assert!(auto.enabled);
    assert_eq!(auto.evidence, ["/etc/periodic/daily/apk-upgrade:3: apk update && apk upgrade --available"]);
}

#[test]
fn repositories_and_world_syntax() {
    let repos = parse_repositories(
        "#x\n\n/media/cdrom/apks\n@testing https://dl-cdn.alpinelinux.org/alpine/edge/testing\n",
        "/etc/apk/repositories",
    );
    assert_eq!(repos.len(), 2);
    assert_eq!(repos[1].tag.as_deref(), Some("testing"));
    assert_eq!(repos[1].origin, "/etc/apk/repositories:4");
    let world = parse_world("busybox\nmusl>=1.2\nfoo@testing~1.0\n");
    assert_eq!(world[1].constraint.as_ref().map(|c| c.1.as_str()), Some("1.2"));
    assert_eq!((world[2].name.as_str(), world[2].tag.as_deref()), ("foo", Some("testing")));
}

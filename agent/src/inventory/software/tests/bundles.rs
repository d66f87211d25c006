//! Snaps and flatpaks over a root holding real `snap.yaml`s and a flatpak installation made by flatpak itself
//! (agent/testdata/bundles/, see the README there).

use std::path::PathBuf;

use muster_shared::v1::{ErrorKind, PackageKind, PackageSource};

use crate::inventory::software::flatpak::{self, Deployment};
use crate::inventory::software::snap::parse_snap_yaml;
use crate::root::SystemRoot;
use crate::testutil::copy_tree;

fn bundles(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/bundles").join(rel)
}

const HITORI: &str = "/home/alice/.local/share/flatpak/app/org.gnome.Hitori/x86_64/master/active";

#[test]
fn snap_yaml_of_real_snaps() {
    let cases = [
        ("hello-classic/29", "hello-classic", "0.1"),
        ("http/12", "http", "4.6692016"),
        ("canonical-pc/3", "canonical-pc", "3.2.u-i.1"),
    ];
    for (dir, name, version) in cases {
        let data = std::fs::read(bundles(&format!("root/snap/{dir}/meta/snap.yaml"))).unwrap();
        assert_eq!(parse_snap_yaml(&data), Ok((name.to_string(), version.to_string())), "{dir}");
    }
}

/// The deployment flatpak installed, read as `flatpak list` showed it (that listing has no version: the build had no
/// AppStream compose step, so flatpak kept none; the metainfo the application ships has its releases).
#[test]
fn flatpak_deployment_equals_flatpak_list() {
    let root = SystemRoot::mounted(bundles("root"));
    let expected = std::fs::read_to_string(bundles("expected.flatpak-list.tsv")).unwrap();
    let row: Vec<&str> = expected.lines().find(|l| !l.starts_with('#')).unwrap().split('\t').collect();
    let deployment = flatpak::read_deployment(&root, HITORI, "org.gnome.Hitori", "x86_64", "master").unwrap();
    let reference = format!("{}/{}/{}", deployment.id, deployment.arch, deployment.branch);
    assert_eq!(reference, row[0]);
    assert_eq!((deployment.id.as_str(), deployment.branch.as_str()), (row[1], row[3]));
    assert_eq!(deployment.origin.as_deref(), Some(row[4]));
    assert_eq!(deployment.runtime.as_deref(), Some(row[5]));
    assert_eq!(row[2], "");
    assert_eq!(
        deployment,
        Deployment {
            id: "org.gnome.Hitori".into(),
            arch: "x86_64".into(),
            branch: "master".into(),
            version: Some("3.38.4".into()),
            origin: Some("muster-local".into()),
            runtime: Some("org.gnome.Platform/x86_64/43".into()),
        }
    );
}

#[test]
fn snaps_and_flatpaks_of_a_root() {
    let (software, errors) = super::read_root(&bundles("root"));
    let unexpected: Vec<_> = errors
        .as_slice()
        .iter()
        .filter(|e| e.item != "package databases" && e.item != "/var/lib/snapd/state.json")
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    // This root has snaps mounted but no snapd state beside them, so what only snapd knows is missing, and said.
    let state: Vec<_> = errors.as_slice().iter().filter(|e| e.item == "/var/lib/snapd/state.json").collect();
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].kind, ErrorKind::NotAvailable);
    assert_eq!(
        state[0].message,
        "snapd's state could not be read (/var/lib/snapd/state.json: not found): snaps listed without publisher, \
         install time and channel"
    );
    assert!(software.packages.iter().all(|p| p.publisher.is_none() && p.channel.is_none()));
    let rows: Vec<_> = software
        .packages
        .iter()
        .map(|p| (p.kind, p.name.as_str(), p.version.as_str(), p.arch.as_deref(), p.path.as_deref().unwrap()))
        .collect();
    let metadata = format!("{HITORI}/metadata");
    assert_eq!(
        rows,
        [
            (PackageKind::Snap, "canonical-pc", "3.2.u-i.1", None, "/snap/canonical-pc/3/meta/snap.yaml"),
            (PackageKind::Snap, "hello-classic", "0.1", None, "/snap/hello-classic/29/meta/snap.yaml"),
            (PackageKind::Snap, "http", "4.6692016", None, "/snap/http/12/meta/snap.yaml"),
            (PackageKind::Flatpak, "org.gnome.Hitori", "3.38.4", Some("x86_64"), metadata.as_str()),
        ]
    );
    let source = |kind, path: &str, format: &str, packages| PackageSource {
        kind,
        path: path.into(),
        format: format.into(),
        packages,
        complete: true,
    };
    assert_eq!(
        software.sources,
        [
            source(PackageKind::Snap, "/snap", "snap-yaml", 3),
            source(PackageKind::Flatpak, "/home/alice/.local/share/flatpak", "flatpak-deploy", 1),
        ]
    );
}

#[test]
fn snap_files_not_mounted_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("var/lib/snapd/snaps")).unwrap();
    // snapd names each revision's file `<name>_<revision>.snap`; an image read with --root has them unmounted.
    std::fs::write(dir.path().join("var/lib/snapd/snaps/core22_1122.snap"), b"").unwrap();
    let (software, errors) = super::read_root(dir.path());
    let snap: Vec<_> = errors.as_slice().iter().filter(|e| e.item == "/var/lib/snapd/snaps").collect();
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].kind, ErrorKind::NotAvailable);
    assert_eq!(snap[0].message, "1 snap file(s) not mounted under /snap, so not read: core22_1122.snap");
    assert!(software.packages.is_empty());
}

/// snapd's real answer to `GET /v2/snaps` on a desktop (saltext-snap's test data, agent/testdata/bundles/snapd-api):
/// each snap's store account with its validation, its install time, its tracking channel.
#[test]
fn snapd_api_answer_of_a_real_desktop() {
    use crate::inventory::software::snap::{ApiSnap, parse_api_snaps};
    let body = std::fs::read(bundles("snapd-api/v2-snaps.json")).unwrap();
    let snaps = parse_api_snaps(&body).unwrap();
    assert_eq!(snaps.len(), 11);
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
    let of = |name: &str| snaps.iter().find(|s| s.name == name).unwrap().clone();
    assert_eq!(
        of("yubioath-desktop"),
        ApiSnap {
            name: "yubioath-desktop".into(),
            revision: "12".into(),
            publisher: Some("yubico-snap-store (unproven)".into()),
            installed_at: Some(at("2024-04-11T12:15:23.66083664+00:00")),
            tracking_channel: Some("latest/stable".into()),
        }
    );
    // Installed by file, not from a channel: no tracking channel.
    assert_eq!(of("bw").tracking_channel, None);
    assert_eq!(of("bw").publisher.as_deref(), Some("bitwarden (verified)"));
    // A disabled revision (`snap list` says "disabled") has no install time.
    assert_eq!(of("core18").installed_at, None);
    assert_eq!(of("core22").installed_at, Some(at("2024-04-12T22:32:01.926250097+02:00")));
    // An error answer gives its message.
    let error = br#"{"type":"error","status-code":401,"status":"Unauthorized","result":{"message":"access denied"}}"#;
    assert_eq!(parse_api_snaps(error), Err("access denied".to_owned()));
}

/// The snaps read from their mounts get snapd's publisher and install time for the revision mounted, not another's.
#[test]
fn snapd_api_fills_the_mounted_revision_only() {
    use crate::inventory::software::snap::{enrich, parse_api_snaps};
    use muster_shared::v1::Package;
    let snaps = parse_api_snaps(&std::fs::read(bundles("snapd-api/v2-snaps.json")).unwrap()).unwrap();
    let mounted = |name: &str, revision: &str, version: &str| Package {
        path: Some(format!("/snap/{name}/{revision}/meta/snap.yaml")),
        ..Package::new(PackageKind::Snap, name, version)
    };
    let mut packages = vec![mounted("hello-world", "28", "6.3"), mounted("yubioath-desktop", "11", "5.0.4")];
    // A parallel install (`snap install hello-world_alt`) at the same revision: its snap.yaml says `hello-world`,
    // its mount and snapd say `hello-world_alt`, which this answer does not list.
    let mut parallel = mounted("hello-world", "28", "6.3");
    parallel.path = Some("/snap/hello-world_alt/28/meta/snap.yaml".into());
    packages.push(parallel);
    enrich(&mut packages, &snaps);
    assert_eq!((packages[2].publisher.as_deref(), packages[2].channel.as_deref()), (None, None));
    assert_eq!(packages[0].publisher.as_deref(), Some("canonical (verified)"));
    assert_eq!(packages[0].channel.as_deref(), Some("latest/stable"));
    assert!(packages[0].installed_at.is_some());
    assert_eq!(
        (packages[1].publisher.as_deref(), packages[1].installed_at, packages[1].channel.as_deref()),
        (None, None, None)
    );
}

/// The request as snapd gets it and its answer read back, over a Unix socket served here with the real answer.
#[cfg(unix)]
#[test]
fn snapd_is_asked_over_its_socket() {
    use crate::inventory::software::snap::{parse_api_snaps, query_snapd};
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("snapd.socket");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let body = std::fs::read(bundles("snapd-api/v2-snaps.json")).unwrap();
    let served = body.clone();
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        // snapd's error answer as its API documents it.
        let denied =
            br#"{"type":"error","status-code":401,"status":"Unauthorized","result":{"message":"access denied"}}"#;
        for (status, answer) in [("200 OK", &served[..]), ("401 Unauthorized", &denied[..])] {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") {
                stream.read_exact(&mut byte).unwrap();
                request.push(byte[0]);
            }
            requests.push(String::from_utf8(request).unwrap());
            let head = format!("HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n");
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(answer).unwrap();
        }
        requests
    });
    let answer = query_snapd(&socket).unwrap();
    assert_eq!(answer, body);
    assert_eq!(parse_api_snaps(&answer).unwrap().len(), 11);
    assert_eq!(query_snapd(&socket), Err("answered HTTP/1.0 401 Unauthorized: access denied".to_owned()));
    let requests = server.join().unwrap();
    let asked = "GET /v2/snaps HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    assert!(requests.iter().all(|r| r == asked), "{requests:?}");
    // No snapd: the socket's absence is the reason.
    assert!(query_snapd(&dir.path().join("absent.socket")).unwrap_err().contains("absent.socket"));
}

/// snapd's `state.json` of a real server (agent/testdata/bundles/snapd-root, see the README): each snap's current
/// revision, its store id and the channel it tracks.
#[test]
fn snapd_state_of_a_real_server() {
    use crate::inventory::software::snap::{StateSnap, parse_state};
    let data = std::fs::read(bundles("snapd-root/var/lib/snapd/state.json")).unwrap();
    let snap = |instance: &str, revision: &str, id: &str| StateSnap {
        instance: instance.into(),
        revision: revision.into(),
        snap_id: Some(id.into()),
        tracking_channel: Some("latest/stable".into()),
    };
    assert_eq!(
        parse_state(&data).unwrap(),
        [
            snap("certbot", "4193", "wy7i66qPx4neXr6m9rTh7Y40h8EhtZFh"),
            snap("core24", "609", "dwTAh7MZZ01zyriOZErqd1JynQLiOGvM"),
            snap("snapd", "23258", "PMrrV4ml8uWuEUDBT8dSGnKUYbevVhc4"),
        ]
    );
    assert!(parse_state(b"<html>").unwrap_err().starts_with("not snapd's state: "));
    assert!(parse_state(br#"{"changes": {}}"#).unwrap_err().starts_with("not snapd's state: missing field `data`"));
}

/// The store's assertions on that server: the snap-declaration names the publisher's account id, the account
/// assertion its username and the store's validation; the store's own account is built into snapd.
#[test]
fn assertions_name_the_publisher() {
    use crate::inventory::software::snap::{assertion_headers, publisher};
    let read = |rel: &str| {
        assertion_headers(
            &std::fs::read(bundles(&format!("snapd-root/var/lib/snapd/assertions/asserts-v0/{rel}"))).unwrap(),
        )
    };
    let certbot = read("snap-declaration/16/wy7i66qPx4neXr6m9rTh7Y40h8EhtZFh/active.2");
    let core24 = read("snap-declaration/16/dwTAh7MZZ01zyriOZErqd1JynQLiOGvM/active");
    let eff = read("account/ZIxoYs0GGdmboAOXZ5p7MMrRHdx5ukFr/active");
    // Top-level headers only: the declaration's nested `plugs` rules and its signature are not headers.
    assert_eq!(certbot.get("snap-name").map(String::as_str), Some("certbot"));
    assert_eq!(certbot.get("publisher-id").map(String::as_str), Some("ZIxoYs0GGdmboAOXZ5p7MMrRHdx5ukFr"));
    assert!(!certbot.contains_key("plugs") && !certbot.contains_key("content"));
    assert_eq!(certbot.len(), 10, "{certbot:?}");
    assert_eq!(publisher(&certbot, Some(&eff)).as_deref(), Some("certbot-eff (verified)"));
    // Without its account assertion the publisher is unknown, never the opaque id.
    assert_eq!(publisher(&certbot, None), None);
    // Another publisher's account does not name this snap's.
    assert_eq!(publisher(&core24, Some(&eff)).as_deref(), Some("canonical (verified)"));
    assert_eq!(publisher(&core24, None).as_deref(), Some("canonical (verified)"));
}

/// A whole root as snapd left it: the mounted snaps read from their `snap.yaml`, with what snapd keeps of them.
/// snapd itself is listed in its state but not mounted in this capture, so it is not listed.
#[cfg(unix)]
#[test]
fn snaps_of_a_root_carry_what_snapd_keeps() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&bundles("snapd-root"), dir.path());
    // snapd's install date is the `current` link's time; a checkout gives links the time of the checkout.
    let installed = chrono::DateTime::parse_from_rfc3339("2024-12-22T08:53:00Z").unwrap().with_timezone(&chrono::Utc);
    let stamp = rustix::fs::Timespec { tv_sec: installed.timestamp(), tv_nsec: 0 };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        dir.path().join("snap/certbot/current"),
        &rustix::fs::Timestamps { last_access: stamp, last_modification: stamp },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
    let (software, errors) = super::read_root(dir.path());
    let unexpected: Vec<_> = errors.as_slice().iter().filter(|e| e.item != "package databases").collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let rows: Vec<_> = software
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.publisher.as_deref(), p.channel.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            ("certbot", "3.0.1", Some("certbot-eff (verified)"), Some("latest/stable")),
            ("core24", "20240920", Some("canonical (verified)"), Some("latest/stable")),
        ]
    );
    assert_eq!(software.packages[0].installed_at, Some(installed));
    assert!(software.packages[1].installed_at.is_some());
}

/// A hostile or damaged state file costs only what it would have added, and says why.
#[test]
fn a_damaged_snapd_state_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&bundles("snapd-root"), dir.path());
    std::fs::write(dir.path().join("var/lib/snapd/state.json"), b"{\"data\": ").unwrap();
    let (software, errors) = super::read_root(dir.path());
    let state: Vec<_> = errors.as_slice().iter().filter(|e| e.item == "/var/lib/snapd/state.json").collect();
    assert_eq!(state.len(), 1);
    assert!(
        state[0].message.starts_with("snapd's state could not be read (/var/lib/snapd/state.json: not snapd's state: "),
        "{}",
        state[0].message
    );
    let names: Vec<_> = software.packages.iter().map(|p| (p.name.as_str(), p.publisher.as_deref())).collect();
    assert_eq!(names, [("certbot", None), ("core24", None)]);
}

/// Of several files in one assertion directory the one with the highest revision for that id is in force; a file
/// naming another id is not read as this one's. Without the publisher's account assertion the publisher is unknown,
/// and said.
#[cfg(unix)]
#[test]
fn assertions_in_force_and_missing_ones_are_told() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&bundles("snapd-root"), dir.path());
    let db = dir.path().join("var/lib/snapd/assertions/asserts-v0");
    let certbot = db.join("snap-declaration/16/wy7i66qPx4neXr6m9rTh7Y40h8EhtZFh");
    // core24's declaration (revision 1, another snap id) placed beside certbot's (revision 2) as its `active`.
    std::fs::copy(db.join("snap-declaration/16/dwTAh7MZZ01zyriOZErqd1JynQLiOGvM/active"), certbot.join("active"))
        .unwrap();
    let (software, errors) = super::read_root(dir.path());
    assert_eq!(software.packages[0].publisher.as_deref(), Some("certbot-eff (verified)"));
    assert!(errors.as_slice().iter().all(|e| !e.item.contains("assertions")), "{:?}", errors.as_slice());
    let publisher = || super::read_root(dir.path()).0.packages[0].publisher.clone();
    let real = |rel: &str| std::fs::read_to_string(db.join(rel)).unwrap();
    // Derived from the real files: core24's declaration at a higher revision than certbot's, beside it, is still
    // another snap's.
    let core24 = real("snap-declaration/16/dwTAh7MZZ01zyriOZErqd1JynQLiOGvM/active");
    std::fs::write(certbot.join("active.3"), core24.replacen("revision: 1\n", "revision: 5\n", 1)).unwrap();
    assert_eq!(publisher().as_deref(), Some("certbot-eff (verified)"));
    // Certbot's own declaration re-issued at revision 3 in the older format (`active`), naming another publisher:
    // the revision decides, not the format.
    let reissued = real("snap-declaration/16/wy7i66qPx4neXr6m9rTh7Y40h8EhtZFh/active.2")
        .replacen("revision: 2\n", "revision: 3\n", 1)
        .replacen("publisher-id: ZIxoYs0GGdmboAOXZ5p7MMrRHdx5ukFr\n", "publisher-id: canonical\n", 1);
    std::fs::write(certbot.join("active"), reissued).unwrap();
    assert_eq!(publisher().as_deref(), Some("canonical (verified)"));
    std::fs::remove_file(certbot.join("active")).unwrap();
    // An assertion without a revision header is at revision 0 (snapd's default) and still read.
    let account = "account/ZIxoYs0GGdmboAOXZ5p7MMrRHdx5ukFr/active";
    std::fs::write(db.join(account), real(account).replacen("revision: 1\n", "", 1)).unwrap();
    assert_eq!(publisher().as_deref(), Some("certbot-eff (verified)"));

    std::fs::remove_dir_all(db.join("account")).unwrap();
    let (software, errors) = super::read_root(dir.path());
    let publishers: Vec<_> = software.packages.iter().map(|p| p.publisher.as_deref()).collect();
    assert_eq!(publishers, [None, Some("canonical (verified)")]);
    let told: Vec<_> = errors.as_slice().iter().filter(|e| e.item == "/var/lib/snapd/assertions/asserts-v0").collect();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].message, "no readable store assertion names the publisher of certbot: listed without it");
}

/// snapd refuses an assertion that repeats a header; so does this reader, rather than take either value.
#[test]
fn an_assertion_repeating_a_header_gives_none() {
    use crate::inventory::software::snap::assertion_headers;
    let path = "snapd-root/var/lib/snapd/assertions/asserts-v0/account/ZIxoYs0GGdmboAOXZ5p7MMrRHdx5ukFr/active";
    let real = std::fs::read_to_string(bundles(path)).unwrap();
    assert_eq!(assertion_headers(real.as_bytes()).get("username").map(String::as_str), Some("certbot-eff"));
    let repeated = real.replacen("username: certbot-eff\n", "username: certbot-eff\nusername: canonical\n", 1);
    assert!(assertion_headers(repeated.as_bytes()).is_empty());
}

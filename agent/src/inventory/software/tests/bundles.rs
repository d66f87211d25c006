//! Snaps and flatpaks over a root holding real `snap.yaml`s and a flatpak installation made by flatpak itself
//! (agent/testdata/bundles/, see the README there).

use std::path::PathBuf;

use muster_shared::v1::{ErrorKind, PackageKind, PackageSource};

use crate::inventory::software::flatpak::{self, Deployment};
use crate::inventory::software::snap::parse_snap_yaml;
use crate::root::SystemRoot;

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
    let unexpected: Vec<_> = errors.as_slice().iter().filter(|e| e.item != "package databases").collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
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

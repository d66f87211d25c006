//! Container state read from a real Docker 20.10 and Podman 4.3 host (captured under `testdata/containers/root`, see
//! the testdata README), and the union-filesystem rules of [`Layers`].

use std::path::{Path, PathBuf};

use muster_shared::v1::{ContainerEngine, PackageKind};

use super::*;

const WEB: &str = "sha256:32baa6c811482171039da93a04945483c0bab6d0c0d2a2d55e2c4ca4ab83dc66";
const DEBIAN: &str = "sha256:8d9941375cde0e1bf86a096627f0219c0ccaec22fd5b77c271a71762b3d795b6";

fn captured_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/containers/root")
}

fn captured() -> (Found, ErrorLog) {
    let mut errors = ErrorLog::new();
    let found = probe(&SystemRoot::mounted(captured_root()), &mut errors);
    (found, errors)
}

/// The note on the captured root's Podman store, whose libpod database was not captured.
fn no_podman_states() -> muster_shared::v1::CollectionError {
    muster_shared::v1::CollectionError {
        section: muster_shared::v1::SectionName::Software,
        item: "/var/lib/containers/storage/db.sql".into(),
        kind: muster_shared::v1::ErrorKind::NotFound,
        message: "libpod's state database is not there (no container made yet, or a transient store under the run \
                  directory): the containers are listed without a state"
            .into(),
    }
}

fn image(found: &Found, engine: ContainerEngine, id: &str) -> ContainerImage {
    found.images.iter().find(|i| i.engine == engine && i.id == id).cloned().unwrap()
}

#[test]
fn docker_images_carry_tags_digests_os_and_their_own_packages() {
    let (found, errors) = captured();
    // The capture kept containers/storage's files but not libpod's state database: its containers have no state,
    // and that is said.
    assert_eq!(errors.into_vec(), [no_podman_states()]);
    let docker: Vec<&str> =
        found.images.iter().filter(|i| i.engine == ContainerEngine::Docker).map(|i| i.id.as_str()).collect();
    // The build's intermediate image (untagged, no container) is not listed, as `docker images` does not list it.
    assert_eq!(docker, [WEB, DEBIAN]);

    let web = image(&found, ContainerEngine::Docker, WEB);
    assert_eq!(web.tags, ["127.0.0.1:5000/muster-test/web:1.0", "muster-test/web:1.0", "muster-test/web:latest"]);
    assert_eq!(
        web.digests,
        ["127.0.0.1:5000/muster-test/web@sha256:c1f41fe258837107af1300de36390644d4cc72521083e4dc82af34b0b0d63278"]
    );
    assert_eq!(web.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(web.created.unwrap().to_rfc3339(), "2026-12-04T10:22:50.827880435+00:00");
    let os = web.os.as_ref().unwrap();
    assert_eq!((os.id.as_deref(), os.version_id.as_deref()), (Some("debian"), Some("12")));
    // /etc/os-release is a link to ../usr/lib/os-release inside the bottom layer.
    assert_eq!(os.source.as_deref(), Some("/etc/os-release"));
    // `dpkg-query -W | wc -l` in each image gave 111 and 88; the second layer installed python3-idna.
    assert_eq!(web.packages.len(), 111);
    assert_eq!(web.sources.len(), 1);
    assert_eq!(
        (web.sources[0].path.as_str(), web.sources[0].packages, web.sources[0].complete),
        ("/var/lib/dpkg/status", 111, true)
    );
    let idna = web.packages.iter().find(|p| p.name == "python3-idna").unwrap();
    assert_eq!((idna.kind, idna.version.as_str()), (PackageKind::Deb, "3.3-1+deb12u1"));

    let debian = image(&found, ContainerEngine::Docker, DEBIAN);
    assert_eq!(debian.tags, ["muster-test/debian:12"]);
    assert!(debian.digests.is_empty());
    assert_eq!(debian.packages.len(), 88);
    assert!(!debian.packages.iter().any(|p| p.name == "python3-idna"));
}

#[test]
fn docker_containers_have_names_images_and_states() {
    let (found, _) = captured();
    let docker: Vec<(&str, &str, Option<&str>, Option<&str>)> = found
        .containers
        .iter()
        .filter(|c| c.engine == ContainerEngine::Docker)
        .map(|c| (c.name.as_str(), c.image_id.as_str(), c.image.as_deref(), c.state.as_deref()))
        .collect();
    assert_eq!(
        docker,
        [
            ("done", DEBIAN, Some("muster-test/debian:12"), Some("exited")),
            ("old", DEBIAN, Some("muster-test/debian:12"), Some("created")),
            ("web", WEB, Some("127.0.0.1:5000/muster-test/web:1.0"), Some("running")),
        ]
    );
}

#[test]
fn podman_images_and_containers_come_from_containers_storage() {
    let (found, _) = captured();
    let web = image(&found, ContainerEngine::Podman, WEB);
    assert_eq!(web.tags, ["localhost/muster-test/web:1.0"]);
    assert_eq!(
        web.digests,
        ["localhost/muster-test/web@sha256:604b69e8f13bcdf31e2ad03096e18e17f3641d25d1ce2d2c24b52bda6648b495"]
    );
    assert_eq!(web.packages.len(), 111);
    assert_eq!(web.os.as_ref().and_then(|o| o.pretty_name.as_deref()), Some("Debian GNU/Linux 12 (bookworm)"));
    let podman: Vec<(&str, &str, Option<&str>)> = found
        .containers
        .iter()
        .filter(|c| c.engine == ContainerEngine::Podman)
        .map(|c| (c.name.as_str(), c.image_id.as_str(), c.state.as_deref()))
        .collect();
    assert_eq!(podman, [("api", WEB, None), ("batch", WEB, None)]);
}

/// The layer directories Docker named for the captured image are the chain ids computed from its diff ids.
#[test]
fn chain_ids_name_the_captured_layerdb_directories() {
    let config =
        std::fs::read(captured_root().join(format!(
            "var/lib/docker/image/overlay2/imagedb/content/sha256/{}",
            WEB.trim_start_matches("sha256:")
        )))
        .unwrap();
    let chain = docker::chain_ids(&docker::parse_image_config(&config).unwrap().diff_ids);
    for id in &chain {
        let dir = captured_root().join("var/lib/docker/image/overlay2/layerdb").join(id.replace(':', "/"));
        assert!(dir.is_dir(), "{id}");
    }
    assert_eq!(chain.len(), 3);
}

#[test]
fn podman_config_file_name_is_the_captured_one() {
    let id = WEB.trim_start_matches("sha256:");
    let dir = captured_root().join("var/lib/containers/storage/overlay-images").join(id);
    assert!(dir.join(podman::config_file_name(id)).is_file());
}

#[test]
fn a_missing_layer_leaves_the_image_listed_without_packages_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&captured_root(), tmp.path());
    // The web image's middle layer, which holds its package database.
    std::fs::remove_dir_all(
        tmp.path().join("var/lib/docker/overlay2/63a3fd9eadcb4b9e85a95f9777954cf738a450863afcb698e2ff511134932a1c"),
    )
    .unwrap();
    let mut errors = ErrorLog::new();
    let found = probe(&SystemRoot::mounted(tmp.path()), &mut errors);
    let web = image(&found, ContainerEngine::Docker, WEB);
    assert!(web.packages.is_empty() && web.os.is_none());
    assert_eq!(web.tags.len(), 3);
    let mut errors = errors.into_vec();
    assert_eq!(errors.pop(), Some(no_podman_states()));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].item, "docker image 32baa6c81148");
    assert!(errors[0].message.starts_with("OS and packages not read: layer "), "{}", errors[0].message);
    // The other image and Podman's copy are read in full.
    assert_eq!(image(&found, ContainerEngine::Docker, DEBIAN).packages.len(), 88);
    assert_eq!(image(&found, ContainerEngine::Podman, WEB).packages.len(), 111);
}

#[test]
fn damaged_state_files_are_errors_not_silence() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&captured_root(), tmp.path());
    let containers = tmp.path().join("var/lib/containers/storage/overlay-containers/containers.json");
    let data = std::fs::read(&containers).unwrap();
    std::fs::write(&containers, &data[..data.len() / 2]).unwrap();
    let mut errors = ErrorLog::new();
    let found = probe(&SystemRoot::mounted(tmp.path()), &mut errors);
    let errors = errors.into_vec();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].item, "/var/lib/containers/storage/overlay-containers/containers.json");
    assert!(found.containers.iter().all(|c| c.engine == ContainerEngine::Docker));
    assert_eq!(found.images.len(), 3);
}

/// A deletion in an upper layer (an OCI `.wh.` file or an opaque directory) hides the lower layer's file, and a
/// link resolves inside the image.
#[test]
fn whiteouts_and_opaque_directories_hide_lower_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let (top, bottom) = (tmp.path().join("top"), tmp.path().join("bottom"));
    for dir in [&top, &bottom] {
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::create_dir_all(dir.join("var/lib/dpkg")).unwrap();
    }
    let release = captured_root()
        .join("var/lib/docker/overlay2/467bb404781b46dfaa1738fb609beca1eac3489570944f95590812162dbb7507/diff/usr/lib/os-release");
    std::fs::create_dir_all(bottom.join("usr/lib")).unwrap();
    std::fs::copy(&release, bottom.join("usr/lib/os-release")).unwrap();
    std::os::unix::fs::symlink("/usr/lib/os-release", top.join("etc/os-release")).unwrap();
    std::fs::write(bottom.join("var/lib/dpkg/status"), b"").unwrap();
    std::fs::write(bottom.join("etc/hostname"), b"x").unwrap();

    let layers = Layers::new(vec![top.clone(), bottom.clone()]);
    assert_eq!(layers.find("/etc/os-release"), Some(bottom.join("usr/lib/os-release")));
    assert_eq!(layers.find("/etc/hostname"), Some(bottom.join("etc/hostname")));
    assert!(layers.find("/var/lib/dpkg/status").is_some());

    std::fs::write(top.join("etc/.wh.hostname"), b"").unwrap();
    std::fs::write(top.join("var/lib/dpkg/.wh..wh..opq"), b"").unwrap();
    assert_eq!(layers.find("/etc/hostname"), None);
    assert_eq!(layers.find("/var/lib/dpkg/status"), None);
    assert!(image_os(&layers).is_some());
}

/// overlayfs stores a replaced directory as an attribute on the upper layer's directory, not a marker file (Docker's
/// overlay2, containerd's and Podman's overlay drivers): set here in the `user.` namespace, as rootless Podman's is.
#[test]
fn overlay_opaque_attribute_hides_lower_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let (top, bottom) = (tmp.path().join("top"), tmp.path().join("bottom"));
    for dir in [&top, &bottom] {
        std::fs::create_dir_all(dir.join("var/lib/dpkg/status.d")).unwrap();
    }
    let status_d = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/pkgdb/dpkg/distroless-status.d/var/lib/dpkg");
    std::fs::copy(status_d.join("status.d/dash"), bottom.join("var/lib/dpkg/status.d/dash")).unwrap();
    std::fs::copy(status_d.join("status.d/netbase"), top.join("var/lib/dpkg/status.d/netbase")).unwrap();
    std::fs::write(bottom.join("var/lib/dpkg/status"), b"").unwrap();
    let layers = Layers::new(vec![top.clone(), bottom.clone()]);
    let names =
        |layers: &Layers| -> Vec<String> { layers.list("/var/lib/dpkg/status.d").into_iter().map(|e| e.0).collect() };
    assert_eq!(names(&layers), ["dash", "netbase"]);
    assert!(layers.find("/var/lib/dpkg/status").is_some());

    let opaque = |dir: &Path| {
        rustix::fs::setxattr(dir, "user.overlay.opaque", b"y", rustix::fs::XattrFlags::empty()).unwrap();
    };
    opaque(&top.join("var/lib/dpkg/status.d"));
    assert_eq!(names(&layers), ["netbase"]);
    // The bottom layer's status file is still seen: only status.d was replaced.
    assert!(layers.find("/var/lib/dpkg/status").is_some());
    opaque(&top.join("var/lib/dpkg"));
    assert_eq!(layers.find("/var/lib/dpkg/status"), None);
}

pub(super) use crate::testutil::copy_tree;

/// Past the bound on image packages, the images no container uses lose their lists first, and say so.
#[test]
fn image_package_lists_are_bounded_images_in_use_first() {
    let (mut found, _) = captured();
    let mut errors = ErrorLog::new();
    // Docker's debian image (88 packages) is used by `done` and `old`; the web image by `web`: both fit in 200.
    let in_use = vec![DEBIAN.to_string()];
    bound_packages(&mut found, &in_use, 200, &mut errors);
    let kept: Vec<(ContainerEngine, &str, usize, bool)> = found
        .images
        .iter()
        .map(|i| (i.engine, i.id.as_str(), i.packages.len(), i.sources.iter().all(|s| s.complete)))
        .collect();
    assert_eq!(
        kept,
        [
            (ContainerEngine::Docker, WEB, 111, true),
            (ContainerEngine::Docker, DEBIAN, 88, true),
            (ContainerEngine::Podman, WEB, 0, false),
        ]
    );
    let errors = errors.into_vec();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].message, "111 packages of 1 images not listed: at most 200 image packages are reported");
}

/// A distroless image keeps one stanza file per package in `/var/lib/dpkg/status.d`, spread over its layers (syft's
/// real distroless files, testdata/pkgdb): the image's packages are the union as the container would see it, less
/// what an upper layer deleted, down to a layer that made the directory opaque.
#[test]
fn distroless_status_d_is_read_through_the_layers() {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/pkgdb/dpkg");
    let status_d = real.join("distroless-status.d/var/lib/dpkg/status.d");
    let tmp = tempfile::tempdir().unwrap();
    let layer = |name: &str, files: &[(&str, PathBuf)]| -> PathBuf {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(dir.join("var/lib/dpkg/status.d")).unwrap();
        for (to, from) in files {
            std::fs::copy(from, dir.join("var/lib/dpkg/status.d").join(to)).unwrap();
        }
        dir
    };
    let bottom = layer("bottom", &[("dash", status_d.join("dash")), ("netbase", status_d.join("netbase"))]);
    let middle = layer(
        "middle",
        &[
            ("libsqlite3-0", status_d.join("libsqlite3-0")),
            ("libsqlite3-0.md5sums", status_d.join("libsqlite3-0.md5sums")),
        ],
    );
    let top = layer("top", &[]);
    std::fs::write(top.join("var/lib/dpkg/status.d/.wh.netbase"), b"").unwrap();
    let layers = Layers::new(vec![top.clone(), middle, bottom]);

    // (source path, "name version") of every package read.
    let read = |layers: &Layers| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (source, listing) in image_packages(layers) {
            out.extend(listing.packages.iter().map(|p| (source.path.clone(), format!("{} {}", p.name, p.version))));
        }
        out
    };
    let d = "/var/lib/dpkg/status.d";
    assert_eq!(
        read(&layers),
        [(d.to_string(), "dash 0.5.8-2.4".to_string()), (d.to_string(), "libsqlite3-0 3.34.1-3".to_string())]
    );
    assert!(image_packages(&layers)[0].1.problems.is_empty());

    // An upper layer that replaced the directory (opaque) hides every lower stanza.
    std::fs::copy(real.join("syft-status.d-multiple/status.d/multiple"), top.join("var/lib/dpkg/status.d/multiple"))
        .unwrap();
    std::fs::write(top.join("var/lib/dpkg/status.d/.wh..wh..opq"), b"").unwrap();
    let got: Vec<String> = read(&layers).into_iter().map(|(_, nv)| nv).collect();
    assert_eq!(got, ["tzdata 2020a-0+deb10u1", "util-linux 2.33.1-0.1"]);

    // A link among the stanzas (here to the bottom layer's file, as one could name the host's status file) or a
    // FIFO is not read, and says so; the regular files still are.
    std::fs::remove_file(top.join("var/lib/dpkg/status.d/.wh..wh..opq")).unwrap();
    std::os::unix::fs::symlink(status_d.join("dash"), top.join("var/lib/dpkg/status.d/linked")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        top.join("var/lib/dpkg/status.d/pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let (_, listing) = &image_packages(&layers)[0];
    let problems: Vec<String> = listing.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        problems,
        [
            "corrupt: linked: not a regular file; not read",
            // syft's file holds a stanza without a name on purpose.
            "corrupt: multiple: 2 stanza(s) skipped; the first, at line 1, has a stanza without a package name",
            "corrupt: pipe: not a regular file; not read",
        ]
    );
    assert_eq!(listing.packages.len(), 4, "dash, libsqlite3-0, tzdata and util-linux");

    // An upper layer that deleted /var/lib/dpkg altogether (its parent made opaque in it) hides every lower layer's
    // stanzas, while its own still show.
    let cleaner = layer("cleaner", &[("dash", status_d.join("dash"))]);
    std::fs::write(cleaner.join("var/lib/.wh..wh..opq"), b"").unwrap();
    let layers = Layers::new(vec![cleaner, top.clone()]);
    let got: Vec<String> = read(&layers).into_iter().map(|(_, nv)| nv).collect();
    assert_eq!(got, ["dash 0.5.8-2.4"]);
    let gone = layer("gone", &[]);
    std::fs::remove_dir_all(gone.join("var/lib/dpkg")).unwrap();
    std::fs::write(gone.join("var/lib/.wh.dpkg"), b"").unwrap();
    assert!(image_packages(&Layers::new(vec![gone, top])).is_empty());
}

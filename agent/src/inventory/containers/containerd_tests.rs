//! The engines' bbolt databases, captured on a Debian 12 VM (see the testdata README): containerd 1.6's state
//! (`testdata/containers/containerd-root`), whose images and containers are those `ctr` listed there
//! (`testdata/containers/expected/ctr-*.txt`), Podman 4.3's libpod database (`podman-state-root`), and Podman 5.4's
//! SQLite one from a Debian 13 chroot (`podman5-state-root`).

use std::path::{Path, PathBuf};

use muster_shared::v1::{ContainerEngine, PackageKind};

use super::*;

const WEB: &str = "sha256:d4342f75a220239cf8c8bee4c873cbb9a19c152d37762787ca76825d857169b7";
const DEBIAN: &str = "sha256:f4a310bd3c99cb8a5269424e0eb49780c3f0d5b157c79a4ae3aae41057f10c5d";
const META_DB: &str = "var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db";

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/containers").join(rel)
}

fn read(root: &Path) -> (Found, Vec<muster_shared::v1::CollectionError>) {
    let mut errors = ErrorLog::new();
    let found = probe(&SystemRoot::mounted(root), &mut errors);
    (found, errors.into_vec())
}

/// The rows of a `ctr … ls` table, split on runs of spaces, without the header.
fn ctr_rows(file: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(testdata(&format!("expected/{file}"))).unwrap();
    text.lines().skip(1).map(|l| l.split_whitespace().map(str::to_owned).collect()).collect()
}

#[test]
fn images_and_containers_are_those_ctr_lists() {
    let (found, errors) = read(&testdata("containerd-root"));
    assert!(errors.is_empty(), "{errors:?}");
    let ids: Vec<(&str, ContainerEngine)> = found.images.iter().map(|i| (i.id.as_str(), i.engine)).collect();
    assert_eq!(ids, [(WEB, ContainerEngine::Containerd), (DEBIAN, ContainerEngine::Containerd)]);

    // Every name `ctr images ls` gave in either namespace is a tag of the image, but Kubernetes' reference by the
    // image's own id (`sha256:f4a310…`, added by the CRI plugin in `k8s.io`).
    // The web image is in `default` and in Docker's `moby` under the same name: one image, one tag.
    let mut names: Vec<String> = ["default", "k8s.io", "moby"]
        .iter()
        .flat_map(|ns| ctr_rows(&format!("ctr-{ns}-images-ls.txt")))
        .map(|row| row[0].clone())
        .collect();
    assert_eq!(names.len(), 4);
    names.retain(|n| n != DEBIAN);
    names.sort();
    names.dedup();
    let mut tags: Vec<String> = found.images.iter().flat_map(|i| i.tags.clone()).collect();
    tags.sort();
    assert_eq!(tags, names);

    let web = &found.images[0];
    assert_eq!(web.tags, ["localhost/muster-test/web:1.0"]);
    assert!(web.digests.is_empty());
    assert_eq!(web.platform.as_deref(), Some("linux/amd64"));
    // The `created` of the image configuration buildah wrote (the content store blob of the image id).
    assert_eq!(web.created.unwrap().to_rfc3339(), "2026-12-04T13:30:00.608442097+00:00");
    let os = web.os.as_ref().unwrap();
    assert_eq!((os.id.as_deref(), os.version_id.as_deref()), (Some("debian"), Some("12")));
    // The same package databases as the Docker capture: `dpkg-query -W | wc -l` gave 111 and 88 there.
    assert_eq!(web.packages.len(), 111);
    assert_eq!(
        (web.sources[0].path.as_str(), web.sources[0].packages, web.sources[0].complete),
        ("/var/lib/dpkg/status", 111, true)
    );
    let idna = web.packages.iter().find(|p| p.name == "python3-idna").unwrap();
    assert_eq!((idna.kind, idna.version.as_str()), (PackageKind::Deb, "3.3-1+deb12u1"));
    let debian = &found.images[1];
    assert_eq!(debian.packages.len(), 88);
    assert_eq!(debian.tags, ["localhost/muster-test/debian:12"]);

    let containers: Vec<(String, String, String)> =
        found.containers.iter().map(|c| (c.name.clone(), c.image.clone().unwrap(), c.image_id.clone())).collect();
    let listed: Vec<(String, String, String)> = ["k8s.io", "default"]
        .iter()
        .flat_map(|ns| ctr_rows(&format!("ctr-{ns}-containers-ls.txt")))
        .map(|row| {
            let id = if row[1].contains("/web:") { WEB } else { DEBIAN };
            (row[0].clone(), row[1].clone(), id.to_owned())
        })
        .collect();
    assert_eq!(containers, listed);
    // dockerd's container in `moby` is Docker's to report (from its own state, with its name and state), not again.
    let moby = ctr_rows("ctr-moby-containers-ls.txt");
    assert_eq!(moby.len(), 1);
    assert!(!found.containers.iter().any(|c| c.id == moby[0][0]), "{:?}", found.containers);
    // `ctr containers info web` showed this `CreatedAt`; whether a container runs is not in these files.
    let web = found.containers.iter().find(|c| c.id == "web").unwrap();
    assert_eq!(web.created.unwrap().to_rfc3339(), "2026-12-04T13:30:09.171712716+00:00");
    assert!(found.containers.iter().all(|c| c.state.is_none() && c.engine == ContainerEngine::Containerd));
}

/// The committed snapshots `ctr snapshots ls` listed in `default` are the web image's chain ids, bottom first.
#[test]
fn chain_ids_are_the_committed_snapshot_keys() {
    let config =
        std::fs::read(testdata(&format!("containerd-root/var/lib/containerd/{}", containerd::blob_path(WEB).unwrap())))
            .unwrap();
    let chain = docker::chain_ids(&docker::parse_image_config(&config).unwrap().diff_ids);
    let committed: Vec<String> = ctr_rows("ctr-default-snapshots-ls.txt")
        .into_iter()
        .filter(|row| row.last().map(String::as_str) == Some("Committed"))
        .map(|row| row[0].clone())
        .collect();
    assert_eq!(chain, committed);
}

#[test]
fn the_root_comes_from_containerds_own_default_configuration() {
    let text = std::fs::read_to_string(testdata("expected/containerd-config-default.toml")).unwrap();
    assert_eq!(containerd::parse_config_root(&text).as_deref(), Some("/var/lib/containerd"));
    assert_eq!(containerd::parse_config_root("root = \"relative\"\n"), None);
}

#[test]
fn digests_never_name_paths_outside_the_content_store() {
    assert_eq!(
        containerd::blob_path(WEB).as_deref(),
        Some(
            "io.containerd.content.v1.content/blobs/sha256/d4342f75a220239cf8c8bee4c873cbb9a19c152d37762787ca76825d857169b7"
        )
    );
    for hostile in ["sha256:../../../etc/shadow", "sha256:", "../x:ab", "sha256:ABCD", "sha256", "sha256:ab/cd"] {
        assert_eq!(containerd::blob_path(hostile), None, "{hostile}");
    }
}

#[test]
fn a_missing_snapshot_leaves_the_image_listed_without_packages_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    super::tests::copy_tree(&testdata("containerd-root"), tmp.path());
    // Snapshot 2 is the web image's top layer in `default`.
    std::fs::remove_dir_all(tmp.path().join("var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/2"))
        .unwrap();
    let (found, errors) = read(tmp.path());
    let web = found.images.iter().find(|i| i.id == WEB).unwrap();
    assert!(web.packages.is_empty() && web.os.is_none());
    assert_eq!(web.tags, ["localhost/muster-test/web:1.0"]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].item, "containerd image d4342f75a220");
    assert!(errors[0].message.contains("snapshots/2/fs"), "{}", errors[0].message);
    assert_eq!(found.images.iter().find(|i| i.id == DEBIAN).unwrap().packages.len(), 88);
}

#[test]
fn a_damaged_metadata_database_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    super::tests::copy_tree(&testdata("containerd-root"), tmp.path());
    let db = tmp.path().join(META_DB);
    let mut bytes = std::fs::read(&db).unwrap();
    // Both meta pages' magic numbers gone: no state of the database can be trusted.
    bytes[16] ^= 0xff;
    bytes[4096 + 16] ^= 0xff;
    std::fs::write(&db, &bytes).unwrap();
    let (found, errors) = read(tmp.path());
    assert!(found.images.is_empty() && found.containers.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].item, format!("/{META_DB}"));
    assert_eq!(errors[0].message, "not a bbolt database, or both of its meta pages are damaged");

    // A configuration blob gone (content garbage-collected under a name): that image is left out and said so,
    // the other is read.
    std::fs::copy(testdata(&format!("containerd-root/{META_DB}")), &db).unwrap();
    let blob = tmp.path().join("var/lib/containerd").join(containerd::blob_path(WEB).unwrap());
    std::fs::remove_file(&blob).unwrap();
    let (found, errors) = read(tmp.path());
    assert_eq!(found.images.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [DEBIAN]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].item.ends_with(WEB.trim_start_matches("sha256:")), "{}", errors[0].item);
}

/// Podman 4.3's own database on the same VM (`testdata/containers/podman-state-root`): the states `podman ps -a`
/// showed (`expected/podman-ps-a.txt`; both containers created, as that VM cannot start containers).
#[test]
fn podman_containers_carry_the_state_of_libpods_database() {
    let (found, errors) = read(&testdata("podman-state-root"));
    assert!(errors.is_empty(), "{errors:?}");
    let got: Vec<String> = found
        .containers
        .iter()
        .map(|c| {
            format!("{} {} {} {}", c.id, c.name, c.state.as_deref().unwrap_or("-"), c.image.as_deref().unwrap_or("-"))
        })
        .collect();
    let text = std::fs::read_to_string(testdata("expected/podman-ps-a.txt")).unwrap();
    let mut want: Vec<String> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {} {} {}", f[0], f[1], f[2].to_lowercase(), f[3])
        })
        .collect();
    want.sort_by(|a, b| a.split(' ').nth(1).cmp(&b.split(' ').nth(1)));
    assert_eq!(got, want);
    let ids: Vec<&str> = found.images.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, [WEB, DEBIAN]);
    assert_eq!(found.images.iter().map(|i| i.packages.len()).collect::<Vec<_>>(), [111, 88]);

    // Without a readable database the containers are still listed, without a state, and the error names it.
    let tmp = tempfile::tempdir().unwrap();
    super::tests::copy_tree(&testdata("podman-state-root"), tmp.path());
    let db = tmp.path().join("var/lib/containers/storage/libpod/bolt_state.db");
    std::fs::write(&db, b"not a database").unwrap();
    let (found, errors) = read(tmp.path());
    assert_eq!(found.containers.len(), 2);
    assert!(found.containers.iter().all(|c| c.state.is_none()));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].item, "/var/lib/containers/storage/libpod/bolt_state.db");
}

const MINI: &str = "sha256:6999d293c10cab3bb007e0953ce6bfc4f282f8948c1a6542bf4ac3356366e1e9";
const PODMAN5_DB: &str = "var/lib/containers/storage/db.sql";

/// Podman 5.4's SQLite database (`testdata/containers/podman5-state-root`, its store after containers were created,
/// run to completion, failed, left running, paused and stopped): the states `podman ps -a` showed
/// (`expected/podman5-ps-a.tsv`).
#[test]
fn podman_5_containers_carry_the_state_of_its_sqlite_database() {
    let (found, errors) = read(&testdata("podman5-state-root"));
    assert!(errors.is_empty(), "{errors:?}");
    let row = |c: &muster_shared::v1::Container| {
        [&c.id, &c.name, c.state.as_deref().unwrap_or("-"), c.image.as_deref().unwrap_or("-")].join("\t")
    };
    let mut got: Vec<String> = found.containers.iter().map(row).collect();
    got.sort();
    let text = std::fs::read_to_string(testdata("expected/podman5-ps-a.tsv")).unwrap();
    let mut want: Vec<&str> = text.lines().collect();
    want.sort();
    assert_eq!(got, want);
    let states: std::collections::BTreeSet<_> = found.containers.iter().filter_map(|c| c.state.as_deref()).collect();
    assert_eq!(states, ["created", "exited", "paused", "running"].into_iter().collect());
    assert_eq!(found.images.iter().map(|i| (i.id.as_str(), i.packages.len())).collect::<Vec<_>>(), [(MINI, 1)]);

    // One row whose document does not parse costs that container its state, not the others theirs.
    let tmp = tempfile::tempdir().unwrap();
    super::tests::copy_tree(&testdata("podman5-state-root"), tmp.path());
    let db = rusqlite::Connection::open(tmp.path().join(PODMAN5_DB)).unwrap();
    let changed = db.execute("UPDATE ContainerState SET JSON = x'7b' WHERE ID LIKE '8d369e%'", []).unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let (found, errors) = read(tmp.path());
    assert_eq!(found.containers.iter().filter(|c| c.state.is_some()).count(), 5);
    assert!(found.containers.iter().any(|c| c.name == "server" && c.state.is_none()));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].message, "the state of 1 containers could not be read");

    // A damaged database: the containers are still listed, without a state, and the error names it.
    let tmp = tempfile::tempdir().unwrap();
    super::tests::copy_tree(&testdata("podman5-state-root"), tmp.path());
    std::fs::write(tmp.path().join(PODMAN5_DB), b"not a database").unwrap();
    let (found, errors) = read(tmp.path());
    assert_eq!(found.containers.len(), 6);
    assert!(found.containers.iter().all(|c| c.state.is_none()));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].item, format!("/{PODMAN5_DB}"));
}

/// Which database holds the states is Podman's own choice: `database_backend` where set (the last file read
/// wins), else the BoltDB file a Podman 4 store keeps after an upgrade, else SQLite.
#[test]
fn the_state_database_is_the_one_podman_uses() {
    use podman::{StateBackend, state_backend};
    let set = |file: &str, name: &str| (file.to_string(), format!("[engine]\ndatabase_backend = \"{name}\"\n"));
    let other =
        ("/etc/containers/containers.conf".to_string(), "[engine]\ncgroup_manager = \"cgroupfs\"\n".to_string());
    let pick = |confs: &[(String, String)], bolt| state_backend(confs, bolt);
    assert_eq!(pick(&[], false), (StateBackend::Sqlite, vec![]));
    assert_eq!(pick(&[], true), (StateBackend::Bolt, vec![]));
    assert_eq!(pick(&[set("a", "sqlite")], true), (StateBackend::Sqlite, vec![]));
    assert_eq!(pick(&[set("a", "sqlite"), set("b", "boltdb")], false), (StateBackend::Bolt, vec![]));
    assert_eq!(pick(&[set("a", "sqlite"), other.clone()], true), (StateBackend::Sqlite, vec![]));
    // An empty value is Podman's default again, whatever an earlier file said.
    assert_eq!(pick(&[set("a", "sqlite"), set("b", "")], true), (StateBackend::Bolt, vec![]));
    // What Podman would refuse is passed over and said.
    let broken = ("/etc/containers/containers.conf.d/9.conf".to_string(), "[engine\n".to_string());
    let (backend, problems) = pick(&[set("a", "sqlite"), set("b", "leveldb"), broken], true);
    assert_eq!(backend, StateBackend::Sqlite);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0], ("b".to_string(), "database_backend \"leveldb\" is neither boltdb nor sqlite".to_string()));
    assert_eq!(problems[1].0, "/etc/containers/containers.conf.d/9.conf", "{problems:?}");

    // Podman 5's store with a leftover Podman 4 file: the file wins unless the configuration says sqlite.
    let tmp = tempfile::tempdir().unwrap();
    super::tests::copy_tree(&testdata("podman5-state-root"), tmp.path());
    let bolt = tmp.path().join("var/lib/containers/storage/libpod/bolt_state.db");
    std::fs::create_dir_all(bolt.parent().unwrap()).unwrap();
    std::fs::copy(testdata("podman-state-root/var/lib/containers/storage/libpod/bolt_state.db"), &bolt).unwrap();
    let (found, errors) = read(tmp.path());
    assert!(errors.is_empty(), "{errors:?}");
    assert!(found.containers.iter().all(|c| c.state.is_none()), "the Podman 4 file knows none of these containers");
    let conf = tmp.path().join("etc/containers/containers.conf.d/50-sqlite.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, set("-", "sqlite").1).unwrap();
    let (found, errors) = read(tmp.path());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(found.containers.iter().filter(|c| c.state.is_some()).count(), 6);
}

/// A user's rootless store: the rootless drop-ins for that user alone (named by the store owner's uid) and the
/// user's own `containers.conf` are read, later ones winning, as Podman reads them.
#[cfg(unix)]
#[test]
fn a_rootless_store_follows_its_users_drop_ins() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let system_store = tmp.path().join("var/lib/containers/storage");
    let user_store = tmp.path().join("home/alice/.local/share/containers/storage");
    std::fs::create_dir_all(user_store.parent().unwrap()).unwrap();
    super::tests::copy_tree(&testdata("podman5-state-root/var/lib/containers/storage"), &user_store);
    // A leftover Podman 4 file beside the SQLite database: without a setting, Podman (and the agent) would read it.
    std::fs::create_dir_all(user_store.join("libpod")).unwrap();
    std::fs::copy(
        testdata("podman-state-root/var/lib/containers/storage/libpod/bolt_state.db"),
        user_store.join("libpod/bolt_state.db"),
    )
    .unwrap();
    assert!(!system_store.exists());
    let states = |root: &Path| read(root).0.containers.iter().filter(|c| c.state.is_some()).count();
    assert_eq!(states(tmp.path()), 0);

    let uid = std::fs::metadata(&user_store).unwrap().uid();
    let per_user = tmp.path().join(format!("etc/containers/containers.rootless.conf.d/{uid}"));
    std::fs::create_dir_all(&per_user).unwrap();
    std::fs::write(per_user.join("50-db.conf"), "[engine]\ndatabase_backend = \"sqlite\"\n").unwrap();
    assert_eq!(states(tmp.path()), 6);

    // The user's own file comes later and wins.
    let own = tmp.path().join("home/alice/.config/containers");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join("containers.conf"), "[engine]\ndatabase_backend = \"boltdb\"\n").unwrap();
    assert_eq!(states(tmp.path()), 0);
}

/// A multi-platform index (as `docker buildx` and registries publish them, with attestation entries): the
/// manifest for this machine's platform among those stored, else any stored one that is not an attestation.
#[test]
fn an_index_picks_this_machines_platform() {
    let index = vec![
        ("sha256:att".to_owned(), Some("unknown/unknown".to_owned())),
        ("sha256:arm".to_owned(), Some("linux/arm64/v8".to_owned())),
        ("sha256:amd".to_owned(), Some("linux/amd64".to_owned())),
    ];
    let all = |_: &str| true;
    assert_eq!(containerd::preferred_manifest(&index, "x86_64", all).map(|m| m.0.as_str()), Some("sha256:amd"));
    assert_eq!(containerd::preferred_manifest(&index, "aarch64", all).map(|m| m.0.as_str()), Some("sha256:arm"));
    let arm_only = |d: &str| d != "sha256:amd";
    assert_eq!(containerd::preferred_manifest(&index, "x86_64", arm_only).map(|m| m.0.as_str()), Some("sha256:arm"));
    assert_eq!(containerd::preferred_manifest(&index, "x86_64", |d| d == "sha256:att"), None);
}

//! Container images and containers of the host's engines (Docker, Podman, containerd), read from their state on disk so a
//! mounted root (`--root`) is inventoried the same way as a running host and no daemon is ever asked.
//!
//! Each image is described as a machine of its own: its OS from the os-release its layers hold and its packages
//! from the package databases in them ([`layers`]). A layer that cannot be read makes the image's lists incomplete
//! and the error log says so; it never passes for a smaller image.

pub(crate) mod bolt;
pub mod containerd;
pub mod docker;
mod layers;
pub mod podman;

#[cfg(test)]
mod containerd_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use muster_shared::v1::{Container, ContainerEngine, ContainerImage, ErrorKind, SectionName, short_image_id};

pub use layers::{Layers, image_os, image_packages};

use crate::inventory::software::assemble_labelled;
use crate::root::{ErrorLog, SystemRoot};

const DOCKER_DATA_ROOT: &str = "/var/lib/docker";
const DOCKER_DAEMON_CONFIG: &str = "/etc/docker/daemon.json";
const PODMAN_GRAPH_ROOT: &str = "/var/lib/containers/storage";
const PODMAN_STORAGE_CONF: &str = "/etc/containers/storage.conf";
/// Where `database_backend` may be set (see [`podman::state_backend`]).
const PODMAN_VENDOR_CONF: &str = "/usr/share/containers/containers.conf";
const PODMAN_CONF: &str = "/etc/containers/containers.conf";
const PODMAN_ROOTLESS_DROP_INS: &str = "/etc/containers/containers.rootless.conf.d";
/// A rootless user's store, below the home directory.
const PODMAN_USER_STORE: &str = ".local/share/containers/storage";
/// containers/storage drivers whose layers are plain directories.
const PODMAN_DRIVERS: [&str; 2] = ["overlay", "vfs"];
/// A build host can hold thousands of images; past this many per store the rest are counted, not read.
const MAX_IMAGES_PER_STORE: usize = 1000;
/// Containers whose Podman state is read from one store's database; each is a small JSON document held at once.
const MAX_CONTAINERS_PER_STORE: usize = 10_000;
/// Package entries listed across all images of a report: a build host's hundreds of images would otherwise make a
/// report larger than a collector accepts (64 MiB decoded by default), and the whole report would be lost.
const MAX_IMAGE_PACKAGES: usize = 100_000;

/// What the engines hold.
#[derive(Debug, Default)]
pub struct Found {
    pub images: Vec<ContainerImage>,
    pub containers: Vec<Container>,
}

/// Reads every engine's state found under `root`; an engine that is not installed adds nothing and no error.
pub fn probe(root: &SystemRoot, errors: &mut ErrorLog) -> Found {
    let mut found = Found::default();
    let docker_root = root
        .read(DOCKER_DAEMON_CONFIG)
        .ok()
        .and_then(|d| docker::parse_data_root(&d))
        .unwrap_or_else(|| DOCKER_DATA_ROOT.to_string());
    read_docker(root, &docker_root, &mut found, errors);
    for store in podman_stores(root) {
        read_podman(root, &store, &mut found, errors);
    }
    let containerd_root = root
        .read_to_string(containerd::CONFIG)
        .ok()
        .and_then(|t| containerd::parse_config_root(&t))
        .unwrap_or_else(|| containerd::DATA_ROOT.to_string());
    // dockerd runs a containerd of its own when the system has none; with the containerd image store its images
    // are there.
    for data_root in [containerd_root, format!("{docker_root}/{}", containerd::DOCKER_PRIVATE_ROOT)] {
        read_containerd(root, &data_root, &mut found, errors);
    }
    found.images.sort_by(|a, b| (a.engine, &a.id).cmp(&(b.engine, &b.id)));
    found.containers.sort_by(|a, b| (a.engine, &a.name, &a.id).cmp(&(b.engine, &b.name, &b.id)));
    let in_use: Vec<String> = found.containers.iter().map(|c| c.image_id.clone()).collect();
    bound_packages(&mut found, &in_use, MAX_IMAGE_PACKAGES, errors);
    found
}

/// Keeps at most `max` package entries over all images, images that containers use first; an image left out keeps
/// its identity and OS, its sources say `complete: false` and one error counts what was left out.
fn bound_packages(found: &mut Found, in_use: &[String], max: usize, errors: &mut ErrorLog) {
    let mut order: Vec<usize> = (0..found.images.len()).collect();
    order.sort_by_key(|&i| !in_use.contains(&found.images[i].id));
    let (mut kept, mut dropped_images, mut dropped_packages) = (0usize, 0usize, 0usize);
    for i in order {
        let image = &mut found.images[i];
        if kept + image.packages.len() <= max {
            kept += image.packages.len();
            continue;
        }
        dropped_images += 1;
        dropped_packages += image.packages.len();
        image.packages.clear();
        for source in &mut image.sources {
            source.complete = false;
        }
    }
    if dropped_images > 0 {
        record(
            errors,
            "container images",
            ErrorKind::Truncated,
            format!(
                "{dropped_packages} packages of {dropped_images} images not listed: at most {max} image packages \
                 are reported"
            ),
        );
    }
}

fn record(errors: &mut ErrorLog, item: impl Into<String>, kind: ErrorKind, message: impl Into<String>) {
    errors.record(SectionName::Software, item, kind, message);
}

/// Reads a JSON state file with `parse`; a file that is absent yields `None` silently, one that cannot be read or
/// parsed yields `None` and an error naming it.
fn state_file<T, E: std::fmt::Display>(
    root: &SystemRoot,
    path: &str,
    errors: &mut ErrorLog,
    parse: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Option<T> {
    match root.read(path) {
        Ok(data) => match parse(&data) {
            Ok(value) => Some(value),
            Err(err) => {
                record(errors, path, ErrorKind::Parse, err.to_string());
                None
            }
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            errors.io(SectionName::Software, path, &err);
            None
        }
    }
}

fn dir_names(root: &SystemRoot, path: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.path(path))
        .map(|entries| entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn read_docker(root: &SystemRoot, data_root: &str, found: &mut Found, errors: &mut ErrorLog) {
    match std::fs::read_dir(root.path(data_root)) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
        Err(err) => return errors.io(SectionName::Software, data_root, &err),
    }
    let mut used: Vec<String> = Vec::new();
    for id in dir_names(root, &format!("{data_root}/containers")) {
        let path = format!("{data_root}/containers/{id}/config.v2.json");
        if let Some(container) = state_file(root, &path, errors, docker::parse_container) {
            used.push(container.image_id.clone());
            found.containers.push(container);
        }
    }
    for driver in dir_names(root, &format!("{data_root}/image")) {
        let store = format!("{data_root}/image/{driver}");
        let Some(mut images) =
            state_file(root, &format!("{store}/repositories.json"), errors, docker::parse_repositories)
        else {
            continue;
        };
        // An untagged image a container still runs from is as much on the host as a tagged one.
        for id in &used {
            if root.exists(format!("{store}/imagedb/content/{}", id.replace(':', "/"))) {
                images.entry(id.clone()).or_default();
            }
        }
        let total = images.len();
        for (id, (tags, digests)) in images.into_iter().take(MAX_IMAGES_PER_STORE) {
            let config_path = format!("{store}/imagedb/content/{}", id.replace(':', "/"));
            let config = state_file(root, &config_path, errors, docker::parse_image_config);
            let layers = config.as_ref().map_or(Err("its configuration could not be read".to_string()), |c| {
                docker_layers(root, data_root, &driver, &store, &c.diff_ids)
            });
            let image = ContainerImage {
                tags,
                digests,
                created: config.as_ref().and_then(|c| c.created),
                platform: config.and_then(|c| c.platform),
                ..ContainerImage::new(ContainerEngine::Docker, id)
            };
            found.images.push(describe(image, layers, errors));
        }
        truncated(errors, &store, total);
    }
}

fn truncated(errors: &mut ErrorLog, store: &str, total: usize) {
    if total > MAX_IMAGES_PER_STORE {
        record(
            errors,
            store,
            ErrorKind::Truncated,
            format!("{total} images; the first {MAX_IMAGES_PER_STORE} were read"),
        );
    }
}

/// The image's layer directories, top first, through `layerdb` (chain id → cache id → the driver's directory).
fn docker_layers(
    root: &SystemRoot,
    data_root: &str,
    driver: &str,
    store: &str,
    diff_ids: &[String],
) -> Result<Layers, String> {
    if diff_ids.is_empty() {
        return Err("its configuration lists no layers".to_string());
    }
    let mut dirs = Vec::with_capacity(diff_ids.len());
    for chain_id in docker::chain_ids(diff_ids).iter().rev() {
        let cache_path = format!("{store}/layerdb/{}/cache-id", chain_id.replace(':', "/"));
        let cache_id = root.read_to_string(&cache_path).map_err(|e| format!("{cache_path}: {e}"))?;
        let dir = docker::layer_dir(&root.path(data_root), driver, cache_id.trim())
            .ok_or_else(|| format!("layers of the {driver} storage driver are not read"))?;
        dirs.push(existing_dir(dir)?);
    }
    Ok(Layers::new(dirs))
}

fn existing_dir(dir: PathBuf) -> Result<PathBuf, String> {
    match std::fs::read_dir(&dir) {
        Ok(_) => Ok(dir),
        Err(err) => Err(format!("layer {}: {err}", dir.display())),
    }
}

/// Root's store (or the one `storage.conf` names) and every user's rootless store.
fn podman_stores(root: &SystemRoot) -> Vec<String> {
    let configured = root.read_to_string(PODMAN_STORAGE_CONF).ok().and_then(|t| podman::parse_storage_conf(&t).0);
    let mut stores = vec![configured.unwrap_or_else(|| PODMAN_GRAPH_ROOT.to_string())];
    stores.push(format!("/root/{PODMAN_USER_STORE}"));
    for user in dir_names(root, "/home") {
        stores.push(format!("/home/{user}/{PODMAN_USER_STORE}"));
    }
    stores.retain(|s| root.path(s).is_dir());
    stores.dedup();
    stores
}

fn read_podman(root: &SystemRoot, store: &str, found: &mut Found, errors: &mut ErrorLog) {
    let first_container = found.containers.len();
    for driver in PODMAN_DRIVERS {
        let images_path = format!("{store}/{driver}-images/images.json");
        let Some(images) = state_file(root, &images_path, errors, podman::parse_images) else { continue };
        let parents = state_file(root, &format!("{store}/{driver}-layers/layers.json"), errors, podman::parse_layers)
            .unwrap_or_default();
        let total = images.len();
        for stored in images.into_iter().take(MAX_IMAGES_PER_STORE) {
            let config_path = format!("{store}/{driver}-images/{}/{}", stored.id, podman::config_file_name(&stored.id));
            let config = state_file(root, &config_path, errors, docker::parse_image_config);
            let layers = podman_layers(root, store, driver, stored.layer.as_deref(), &parents);
            let digests = stored.repo_digests();
            let image = ContainerImage {
                digests,
                created: config.as_ref().and_then(|c| c.created).or(stored.created),
                platform: config.and_then(|c| c.platform),
                tags: stored.names,
                ..ContainerImage::new(ContainerEngine::Podman, podman::prefixed(&stored.id))
            };
            found.images.push(describe(image, layers, errors));
        }
        truncated(errors, store, total);
        let containers_path = format!("{store}/{driver}-containers/containers.json");
        if let Some(containers) = state_file(root, &containers_path, errors, podman::parse_containers) {
            found.containers.extend(containers);
        }
    }
    let bolt_path = format!("{store}/{}", podman::BOLT_STATE);
    let bolt_exists = root.exists(&bolt_path);
    let (backend, problems) = podman::state_backend(&containers_confs(root, store, errors), bolt_exists);
    for (path, why) in problems {
        record(errors, path, ErrorKind::Parse, why);
    }
    let listed = found.containers.len() > first_container;
    let (state_path, states) = match backend {
        podman::StateBackend::Bolt => {
            if !bolt_exists {
                return no_state_database(errors, &bolt_path, listed);
            }
            let Some(db) = open_bolt(root, &bolt_path, errors) else { return };
            match podman::parse_states(&db, MAX_CONTAINERS_PER_STORE) {
                Ok(states) => (bolt_path, states),
                Err(err) => return record(errors, bolt_path, ErrorKind::Parse, err.to_string()),
            }
        }
        podman::StateBackend::Sqlite => {
            let sqlite_path = format!("{store}/{}", podman::SQLITE_STATE);
            let path = root.path(&sqlite_path);
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => return record(errors, sqlite_path, ErrorKind::Parse, "not a regular file"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return no_state_database(errors, &sqlite_path, listed);
                }
                Err(e) => return errors.io(SectionName::Software, sqlite_path, &e),
            }
            let read = crate::inventory::sqlite::open_read_only(&path).and_then(|(db, wal_unread)| {
                Ok((podman::parse_sqlite_states(&db, MAX_CONTAINERS_PER_STORE)?, wal_unread))
            });
            match read {
                Ok((states, wal_unread)) => {
                    if wal_unread {
                        let why = "its write-ahead log holds changes this read-only open cannot merge: the states \
                                   may be older than Podman's";
                        record(errors, &sqlite_path, ErrorKind::NotAvailable, why);
                    }
                    (sqlite_path, states)
                }
                Err(err) => return record(errors, sqlite_path, ErrorKind::Parse, err.to_string()),
            }
        }
    };
    if states.unreadable > 0 {
        let message = format!("the state of {} containers could not be read", states.unreadable);
        record(errors, &state_path, ErrorKind::Parse, message);
    }
    if states.truncated {
        let message = format!("the first {MAX_CONTAINERS_PER_STORE} containers' states were read");
        record(errors, &state_path, ErrorKind::Truncated, message);
    }
    for container in &mut found.containers[first_container..] {
        container.state = states.states.get(&container.id).map(|s| s.to_string());
    }
}

#[cfg(unix)]
fn owner_uid(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.uid())
}

#[cfg(not(unix))]
fn owner_uid(_: &std::path::Path) -> Option<u32> {
    None
}

/// Containers listed without the database Podman keeps their states in (none made yet, a `transient_store` under
/// the run directory, a configured backend whose file is gone) have no state; say why.
fn no_state_database(errors: &mut ErrorLog, path: &str, listed: bool) {
    if listed {
        let why = "libpod's state database is not there (no container made yet, or a transient store under the run \
                   directory): the containers are listed without a state";
        record(errors, path, ErrorKind::NotFound, why);
    }
}

/// The `containers.conf` files Podman reads for `store` as `(path, text)`, in its order (a later one overrides): the
/// vendor's and the administrator's with their drop-ins; for a user's rootless store, the rootless drop-ins and the
/// user's own files (the per-uid rootless drop-ins by the store directory's owner). Each is read bounded,
/// since a user's is the user's to replace; one that cannot be read is an error and is left out.
fn containers_confs(root: &SystemRoot, store: &str, errors: &mut ErrorLog) -> Vec<(String, String)> {
    const MAX_CONF_BYTES: u64 = 1 << 20;
    let mut paths = Vec::new();
    // `dir_names` sorts, and Podman reads its drop-ins in name order.
    let drop_ins = |paths: &mut Vec<String>, dir: &str| {
        paths.extend(dir_names(root, dir).into_iter().filter(|n| n.ends_with(".conf")).map(|n| format!("{dir}/{n}")));
    };
    for file in [PODMAN_VENDOR_CONF, PODMAN_CONF] {
        paths.push(file.to_string());
        drop_ins(&mut paths, &format!("{file}.d"));
    }
    // Root's own store under /root is rootful Podman's too: it reads no user files.
    if let Some(home) = store.strip_suffix(PODMAN_USER_STORE).filter(|home| home.starts_with("/home/")) {
        drop_ins(&mut paths, PODMAN_ROOTLESS_DROP_INS);
        // Then the drop-ins for the store's user alone, named by uid: the store directory's owner.
        if let Some(uid) = owner_uid(&root.path(store)) {
            drop_ins(&mut paths, &format!("{PODMAN_ROOTLESS_DROP_INS}/{uid}"));
        }
        let user = format!("{home}.config/containers/containers.conf");
        paths.push(user.clone());
        drop_ins(&mut paths, &format!("{user}.d"));
    }
    let mut out = Vec::new();
    for path in paths {
        match root.read_regular(&path, MAX_CONF_BYTES) {
            Ok(Some(data)) => out.push((path, String::from_utf8_lossy(&data).into_owned())),
            Ok(None) => {}
            Err(e) => errors.io(SectionName::Software, path, &e),
        }
    }
    out
}

fn podman_layers(
    root: &SystemRoot,
    store: &str,
    driver: &str,
    top: Option<&str>,
    parents: &BTreeMap<String, Option<String>>,
) -> Result<Layers, String> {
    let top = top.ok_or_else(|| "images.json names no top layer".to_string())?;
    let (chain, whole) = podman::layer_chain(top, parents);
    if !whole {
        return Err(format!("the chain below layer {top} is not in layers.json"));
    }
    let dirs = chain
        .iter()
        .map(|id| {
            let rel =
                if driver == "vfs" { format!("{store}/vfs/dir/{id}") } else { format!("{store}/{driver}/{id}/diff") };
            existing_dir(root.path(rel))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Layers::new(dirs))
}

/// An image's names and namespaces in containerd, with what its configuration says.
struct ContainerdImage {
    image: ContainerImage,
    namespaces: Vec<String>,
    diff_ids: Vec<String>,
}

fn read_containerd(root: &SystemRoot, data_root: &str, found: &mut Found, errors: &mut ErrorLog) {
    let meta_path = format!("{data_root}/{}", containerd::META_DB);
    let Some(db) = open_bolt(root, &meta_path, errors) else { return };
    let state = match containerd::read_state(&db, MAX_IMAGES_PER_STORE) {
        Ok(state) => state,
        Err(err) => return record(errors, meta_path, ErrorKind::Parse, err.to_string()),
    };
    for namespace in &state.truncated {
        record(
            errors,
            format!("{meta_path} namespace {namespace}"),
            ErrorKind::Truncated,
            format!(
                "more than {MAX_IMAGES_PER_STORE} images or containers; the first {MAX_IMAGES_PER_STORE} were read"
            ),
        );
    }
    // Names are per namespace and many point at one image (tags, digests, Kubernetes' own id references): each
    // image is described once, under its configuration's digest as Docker and Podman name images.
    let mut resolved: BTreeMap<String, Option<(String, docker::ImageConfig)>> = BTreeMap::new();
    let mut images: BTreeMap<String, ContainerdImage> = BTreeMap::new();
    let mut by_name: BTreeMap<(String, String), String> = BTreeMap::new();
    for named in state.images {
        let target = resolved
            .entry(named.target.clone())
            .or_insert_with(|| containerd_config(root, data_root, &named.target, errors));
        let Some((id, config)) = target else { continue };
        by_name.insert((named.namespace.clone(), named.name.clone()), id.clone());
        let entry = images.entry(id.clone()).or_insert_with(|| ContainerdImage {
            image: ContainerImage {
                created: config.created,
                platform: config.platform.clone(),
                ..ContainerImage::new(ContainerEngine::Containerd, id.clone())
            },
            namespaces: Vec::new(),
            diff_ids: config.diff_ids.clone(),
        });
        if containerd::is_reference(&named.name) {
            let list = if named.name.contains('@') { &mut entry.image.digests } else { &mut entry.image.tags };
            if !list.contains(&named.name) {
                list.push(named.name);
            }
        }
        if !entry.namespaces.contains(&named.namespace) {
            entry.namespaces.push(named.namespace);
        }
        entry.image.created = entry.image.created.or(named.created);
    }
    // dockerd creates each of its containers in containerd's `moby` namespace too; Docker's own state lists them
    // with their names and states, so they are not listed a second time here.
    for stored in state.containers.into_iter().filter(|c| c.namespace != containerd::DOCKER_NAMESPACE) {
        let image_id = stored.image.as_ref().and_then(|name| {
            let known = by_name.get(&(stored.namespace.clone(), name.clone())).cloned();
            known.or_else(|| (!containerd::is_reference(name)).then(|| name.clone()))
        });
        found.containers.push(Container {
            engine: ContainerEngine::Containerd,
            name: stored.name.unwrap_or_else(|| stored.id.clone()),
            id: stored.id,
            image_id: image_id.unwrap_or_default(),
            image: stored.image,
            created: stored.created,
            state: None,
        });
    }
    let mut snapshotters: BTreeMap<&str, Option<bolt::Db<std::fs::File>>> = BTreeMap::new();
    for (_, entry) in images {
        let layers = containerd_layers(root, data_root, &db, &entry, &mut snapshotters, errors);
        found.images.push(describe(entry.image, layers, errors));
    }
}

/// A bbolt database another process owns, opened for reading; absent is silent, anything else an error naming it.
fn open_bolt(root: &SystemRoot, path: &str, errors: &mut ErrorLog) -> Option<bolt::Db<std::fs::File>> {
    let file = match std::fs::File::open(root.path(path)) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => {
            errors.io(SectionName::Software, path, &err);
            return None;
        }
    };
    match bolt::Db::open(Box::new(file)) {
        Ok(db) => Some(db),
        Err(err) => {
            record(errors, path, ErrorKind::Parse, err.to_string());
            None
        }
    }
}

/// The image's id (its configuration's digest) and configuration, from the manifest `target` names (or, for an
/// index, the first of its manifests the content store holds: containerd fetches only the platforms it unpacks).
fn containerd_config(
    root: &SystemRoot,
    data_root: &str,
    target: &str,
    errors: &mut ErrorLog,
) -> Option<(String, docker::ImageConfig)> {
    let manifest = blob(root, data_root, target, errors, containerd::parse_manifest)?;
    let manifest = match manifest {
        containerd::Manifest::Image { .. } => manifest,
        containerd::Manifest::Index(manifests) => {
            let stored = |digest: &str| {
                containerd::blob_path(digest).is_some_and(|rel| root.exists(format!("{data_root}/{rel}")))
            };
            let local = containerd::preferred_manifest(&manifests, std::env::consts::ARCH, stored);
            let Some((digest, _)) = local else {
                let item = format!("{data_root}/{}", containerd::blob_path(target).unwrap_or_default());
                record(errors, item, ErrorKind::NotAvailable, "none of the index's manifests is stored");
                return None;
            };
            blob(root, data_root, digest, errors, containerd::parse_manifest)?
        }
    };
    let containerd::Manifest::Image { config } = manifest else {
        let item = format!("{data_root}/{}", containerd::blob_path(target).unwrap_or_default());
        record(errors, item, ErrorKind::Parse, "an index inside an index");
        return None;
    };
    let parsed = blob(root, data_root, &config, errors, docker::parse_image_config)?;
    Some((config, parsed))
}

/// The content store's blob `digest` read and parsed with `parse`; a digest that is not one, a missing or unreadable
/// blob, or one `parse` refuses is an error naming it.
fn blob<T>(
    root: &SystemRoot,
    data_root: &str,
    digest: &str,
    errors: &mut ErrorLog,
    parse: fn(&[u8]) -> Result<T, serde_json::Error>,
) -> Option<T> {
    let Some(rel) = containerd::blob_path(digest) else {
        let item = format!("{data_root}/{}", containerd::META_DB);
        record(errors, item, ErrorKind::Parse, format!("not a digest: {digest}"));
        return None;
    };
    let path = format!("{data_root}/{rel}");
    match root.read(&path) {
        Ok(data) => parse(&data).map_err(|err| record(errors, path, ErrorKind::Parse, err.to_string())).ok(),
        Err(err) => {
            errors.io(SectionName::Software, path, &err);
            None
        }
    }
}

/// The image's layer directories, top first: each chain id is a committed snapshot of the namespace, whose
/// snapshotter names its directory. overlayfs keeps each layer's own files; native keeps each snapshot whole, so
/// its top snapshot alone is the image.
fn containerd_layers(
    root: &SystemRoot,
    data_root: &str,
    db: &bolt::Db<std::fs::File>,
    image: &ContainerdImage,
    snapshotters: &mut BTreeMap<&'static str, Option<bolt::Db<std::fs::File>>>,
    errors: &mut ErrorLog,
) -> Result<Layers, String> {
    if image.diff_ids.is_empty() {
        return Err("its configuration lists no layers".to_string());
    }
    let chain = docker::chain_ids(&image.diff_ids);
    let top = chain.last().map(String::as_str).unwrap_or_default();
    for snapshotter in containerd::SNAPSHOTTERS {
        let dir = format!("{data_root}/io.containerd.snapshotter.v1.{snapshotter}");
        let snapshots =
            snapshotters.entry(snapshotter).or_insert_with(|| open_bolt(root, &format!("{dir}/metadata.db"), errors));
        let Some(snapshots) = snapshots.as_ref() else { continue };
        let Some(namespace) = image
            .namespaces
            .iter()
            .find(|ns| containerd::snapshot_name(db, ns, snapshotter, top).is_ok_and(|name| name.is_some()))
        else {
            continue;
        };
        let wanted = if snapshotter == "native" { 1 } else { chain.len() };
        let mut dirs = Vec::with_capacity(wanted);
        for chain_id in chain.iter().rev().take(wanted) {
            let name = containerd::snapshot_name(db, namespace, snapshotter, chain_id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("layer {chain_id} is not a snapshot of namespace {namespace}"))?;
            let id = containerd::snapshot_id(snapshots, &name)
                .map_err(|e| format!("{dir}/metadata.db: {e}"))?
                .ok_or_else(|| format!("snapshot {name} is not in {dir}/metadata.db"))?;
            let sub = if snapshotter == "overlayfs" { "/fs" } else { "" };
            dirs.push(existing_dir(root.path(format!("{dir}/snapshots/{id}{sub}")))?);
        }
        return Ok(Layers::new(dirs));
    }
    Err(format!("not unpacked by a snapshotter read here ({})", containerd::SNAPSHOTTERS.join(", ")))
}

/// Fills in the image's OS and packages from its layers, or records why they could not be read.
fn describe(mut image: ContainerImage, layers: Result<Layers, String>, errors: &mut ErrorLog) -> ContainerImage {
    let item = format!("{} image {}", image.engine.as_str(), short_image_id(&image.id));
    let layers = match layers {
        Ok(layers) => layers,
        Err(reason) => {
            record(errors, item, ErrorKind::NotAvailable, format!("OS and packages not read: {reason}"));
            return image;
        }
    };
    image.os = image_os(&layers);
    let read = assemble_labelled(image_packages(&layers), errors, |path| format!("{item}: {path}"));
    image.sources = read.sources;
    image.packages = read.packages;
    image
}

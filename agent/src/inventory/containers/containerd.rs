//! containerd's own state under its root (`/var/lib/containerd`, or `root` of `/etc/containerd/config.toml`): the
//! images and containers of every namespace in the metadata database (`default` for `ctr` and nerdctl, `k8s.io`
//! for Kubernetes, `moby` for Docker's containerd image store), the manifests and configurations in the content
//! store, and each layer's directory through the snapshotter's own database.
//!
//! The layout is containerd's `metadata/buckets.go` (v1 schema, containerd 1.x and 2.x) and
//! `snapshots/storage/bolt.go`. Whether a container runs is known only to the daemon's runtime state under `/run`,
//! so containers carry no state.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::bolt::{BoltError, Bucket, Db, Source, Value};

pub const DATA_ROOT: &str = "/var/lib/containerd";
pub const CONFIG: &str = "/etc/containerd/config.toml";
/// Below Docker's data root: the root of the containerd dockerd starts for itself when the system runs none.
pub const DOCKER_PRIVATE_ROOT: &str = "containerd/daemon";
pub const META_DB: &str = "io.containerd.metadata.v1.bolt/meta.db";
/// The namespace dockerd keeps its containers (and, with the containerd image store, its images) in.
pub const DOCKER_NAMESPACE: &str = "moby";
/// Snapshotters whose layers are plain directories, in the order an image is looked for in them.
pub const SNAPSHOTTERS: [&str; 2] = ["overlayfs", "native"];

/// One image name in one namespace and the descriptor it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedImage {
    pub namespace: String,
    pub name: String,
    /// The digest of the manifest or index the name points at.
    pub target: String,
    pub created: Option<DateTime<Utc>>,
}

/// One container's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredContainer {
    pub namespace: String,
    pub id: String,
    /// The image name it was created from, as the namespace's images name it.
    pub image: Option<String>,
    pub created: Option<DateTime<Utc>>,
    /// The name a client gave it (nerdctl's or Kubernetes' label), when one did.
    pub name: Option<String>,
}

/// What the metadata database lists, at most `limit` images and containers per namespace (`truncated` names the
/// namespaces where there were more).
#[derive(Debug, Default)]
pub struct State {
    pub images: Vec<NamedImage>,
    pub containers: Vec<StoredContainer>,
    pub truncated: Vec<String>,
}

pub fn read_state<S: Source + ?Sized>(db: &Db<S>, limit: usize) -> Result<State, BoltError> {
    let mut state = State::default();
    let Some(v1) = db.bucket_at(&[b"v1"])? else { return Ok(state) };
    let (namespaces, _) = db.entries(&v1, limit)?;
    for (namespace, value) in namespaces {
        let Value::Bucket(ns) = value else { continue };
        let namespace = String::from_utf8_lossy(&namespace).into_owned();
        let mut more = false;
        if let Some(Value::Bucket(images)) = db.get(&ns, b"images")? {
            let (entries, cut) = db.entries(&images, limit)?;
            more |= cut;
            for (name, value) in entries {
                let Value::Bucket(image) = value else { continue };
                let Some(Value::Bucket(target)) = db.get(&image, b"target")? else { continue };
                let Some(digest) = db.data(&target, b"digest")? else { continue };
                state.images.push(NamedImage {
                    namespace: namespace.clone(),
                    name: String::from_utf8_lossy(&name).into_owned(),
                    target: String::from_utf8_lossy(&digest).into_owned(),
                    created: db.data(&image, b"createdat")?.as_deref().and_then(parse_time),
                });
            }
        }
        if let Some(Value::Bucket(containers)) = db.get(&ns, b"containers")? {
            let (entries, cut) = db.entries(&containers, limit)?;
            more |= cut;
            for (id, value) in entries {
                let Value::Bucket(container) = value else { continue };
                state.containers.push(StoredContainer {
                    namespace: namespace.clone(),
                    id: String::from_utf8_lossy(&id).into_owned(),
                    image: db.data(&container, b"image")?.map(|i| String::from_utf8_lossy(&i).into_owned()),
                    created: db.data(&container, b"createdat")?.as_deref().and_then(parse_time),
                    name: label_name(db, &container)?,
                });
            }
        }
        if more {
            state.truncated.push(namespace);
        }
    }
    Ok(state)
}

/// The labels clients name containers by: nerdctl's, then Kubernetes' (pod/container).
fn label_name<S: Source + ?Sized>(db: &Db<S>, container: &Bucket) -> Result<Option<String>, BoltError> {
    let Some(Value::Bucket(labels)) = db.get(container, b"labels")? else { return Ok(None) };
    let text = |v: Option<Vec<u8>>| v.map(|v| String::from_utf8_lossy(&v).into_owned());
    if let Some(name) = text(db.data(&labels, b"nerdctl/name")?) {
        return Ok(Some(name));
    }
    let pod = text(db.data(&labels, b"io.kubernetes.pod.name")?);
    let name = text(db.data(&labels, b"io.kubernetes.container.name")?);
    Ok(match (pod, name) {
        (Some(pod), Some(name)) => Some(format!("{pod}/{name}")),
        (None, name) => name,
        (pod, None) => pod,
    })
}

/// The snapshotter's name for the committed snapshot `key` (a chain id) of `namespace`, from the metadata database.
pub fn snapshot_name<S: Source + ?Sized>(
    db: &Db<S>,
    namespace: &str,
    snapshotter: &str,
    key: &str,
) -> Result<Option<String>, BoltError> {
    let path: [&[u8]; 5] = [b"v1", namespace.as_bytes(), b"snapshots", snapshotter.as_bytes(), key.as_bytes()];
    let Some(snapshot) = db.bucket_at(&path)? else { return Ok(None) };
    Ok(db.data(&snapshot, b"name")?.map(|n| String::from_utf8_lossy(&n).into_owned()))
}

/// The numeric id naming the snapshot's directory (`snapshots/<id>`), from the snapshotter's own database.
pub fn snapshot_id<S: Source + ?Sized>(db: &Db<S>, name: &str) -> Result<Option<u64>, BoltError> {
    let Some(snapshot) = db.bucket_at(&[b"v1", b"snapshots", name.as_bytes()])? else { return Ok(None) };
    let Some(id) = db.data(&snapshot, b"id")? else { return Ok(None) };
    Ok(uvarint(&id))
}

/// Go's `binary.Uvarint`.
fn uvarint(bytes: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Go's `time.Time.MarshalBinary`: a version byte (1, or 2 with a seconds part of the zone offset), seconds since
/// 1 January of year 1 and nanoseconds, big-endian, then the zone offset the instant does not depend on.
pub fn parse_time(bytes: &[u8]) -> Option<DateTime<Utc>> {
    /// Seconds from 0001-01-01 to 1970-01-01.
    const UNIX_FROM_GO: i64 = 62_135_596_800;
    if !matches!(bytes.first(), Some(1 | 2)) || bytes.len() < 15 {
        return None;
    }
    let seconds = i64::from_be_bytes(bytes[1..9].try_into().ok()?);
    let nanos = u32::from_be_bytes(bytes[9..13].try_into().ok()?);
    // Go writes the zero time for "never"; it is not a date anybody created an image on.
    if seconds == 0 && nanos == 0 {
        return None;
    }
    DateTime::from_timestamp(seconds.checked_sub(UNIX_FROM_GO)?, nanos)
}

/// Where the content store keeps the blob `digest`, relative to containerd's root; `None` for a digest that is not
/// an algorithm and lowercase hex (a damaged or hostile database must not name a path of its choosing).
pub fn blob_path(digest: &str) -> Option<String> {
    let (algorithm, hex) = digest.split_once(':')?;
    let valid = !algorithm.is_empty()
        && algorithm.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    valid.then(|| format!("io.containerd.content.v1.content/blobs/{algorithm}/{hex}"))
}

/// A manifest (the configuration's digest) or an index (its manifests, with their platforms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image { config: String },
    Index(Vec<(String, Option<String>)>),
}

/// An OCI or Docker manifest or index; which it is shows in its fields (`config` or `manifests`), as `mediaType`
/// is optional in OCI.
pub fn parse_manifest(data: &[u8]) -> Result<Manifest, serde_json::Error> {
    #[derive(Deserialize)]
    struct File {
        config: Option<Descriptor>,
        manifests: Option<Vec<Descriptor>>,
    }
    #[derive(Deserialize)]
    struct Descriptor {
        digest: String,
        platform: Option<Platform>,
    }
    #[derive(Deserialize)]
    struct Platform {
        os: String,
        architecture: String,
        variant: Option<String>,
    }
    let file: File = serde_json::from_slice(data)?;
    if let Some(config) = file.config {
        return Ok(Manifest::Image { config: config.digest });
    }
    let manifests = file.manifests.ok_or_else(|| serde::de::Error::missing_field("config or manifests"))?;
    Ok(Manifest::Index(
        manifests
            .into_iter()
            .map(|m| {
                let platform = m.platform.map(|p| match p.variant {
                    Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                });
                (m.digest, platform)
            })
            .collect(),
    ))
}

/// Which of an index's manifests describes the image as this machine unpacked it: among those the content store
/// holds (`stored`), the one for Linux on `arch` (Rust's name, e.g. `x86_64`), else the first that is not an
/// attestation or other `unknown/unknown` entry.
pub fn preferred_manifest<'a>(
    manifests: &'a [(String, Option<String>)],
    arch: &str,
    stored: impl Fn(&str) -> bool,
) -> Option<&'a (String, Option<String>)> {
    let oci_arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    let native = |platform: &Option<String>| {
        platform
            .as_deref()
            .is_some_and(|p| p == format!("linux/{oci_arch}") || p.starts_with(&format!("linux/{oci_arch}/")))
    };
    let held: Vec<&(String, Option<String>)> = manifests.iter().filter(|(digest, _)| stored(digest)).collect();
    held.iter()
        .find(|(_, platform)| native(platform))
        .or_else(|| held.iter().find(|(_, platform)| platform.as_deref() != Some("unknown/unknown")))
        .copied()
}

/// The `root` containerd's configuration sets (top-level key of `config.toml`, every schema version).
pub fn parse_config_root(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Config {
        root: Option<String>,
    }
    toml::from_str::<Config>(text).ok()?.root.filter(|r| r.starts_with('/'))
}

/// Image names that are really tags or digests; Kubernetes also names each image by its own id (`sha256:<hex>`),
/// which says nothing a user would look for.
pub fn is_reference(name: &str) -> bool {
    !name.starts_with("sha256:")
}

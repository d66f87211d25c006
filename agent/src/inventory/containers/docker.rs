//! Docker's state under its data root (`/var/lib/docker`, or `data-root` of `/etc/docker/daemon.json`): the tags of
//! `image/<driver>/repositories.json`, each image's configuration in `imagedb`, the layer chain in `layerdb`, and
//! each container's `containers/<id>/config.v2.json`.
//!
//! This is the classic image store (Docker up to 28, and later versions not switched to the containerd image store,
//! whose images live in containerd's database instead, namespace `moby`, read by `containerd.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use muster_shared::v1::{Container, ContainerEngine};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Where each storage driver keeps a layer's files, by the layer's cache id; drivers not listed (btrfs, zfs,
/// devicemapper) keep them in forms not read here.
pub fn layer_dir(data_root: &Path, driver: &str, cache_id: &str) -> Option<PathBuf> {
    match driver {
        "overlay2" | "fuse-overlayfs" => Some(data_root.join(driver).join(cache_id).join("diff")),
        "vfs" => Some(data_root.join("vfs/dir").join(cache_id)),
        _ => None,
    }
}

/// An image's tags and repository digests.
pub type References = (Vec<String>, Vec<String>);

/// Tags and digests per image id, from `repositories.json` (`{"Repositories": {repo: {reference: image id}}}`);
/// a reference holding `@` is a digest, any other a tag.
pub fn parse_repositories(data: &[u8]) -> Result<BTreeMap<String, References>, serde_json::Error> {
    #[derive(Deserialize)]
    struct File {
        #[serde(rename = "Repositories", default)]
        repositories: BTreeMap<String, BTreeMap<String, String>>,
    }
    let file: File = serde_json::from_slice(data)?;
    let mut images: BTreeMap<String, References> = BTreeMap::new();
    for references in file.repositories.into_values() {
        for (reference, id) in references {
            let entry = images.entry(id).or_default();
            if reference.contains('@') { entry.1.push(reference) } else { entry.0.push(reference) }
        }
    }
    Ok(images)
}

/// What an image's configuration (Docker's and the OCI image config alike) says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    pub created: Option<DateTime<Utc>>,
    pub platform: Option<String>,
    /// The uncompressed digests of its layers, bottom first.
    pub diff_ids: Vec<String>,
}

pub fn parse_image_config(data: &[u8]) -> Result<ImageConfig, serde_json::Error> {
    #[derive(Deserialize)]
    struct Config {
        created: Option<DateTime<Utc>>,
        os: Option<String>,
        architecture: Option<String>,
        variant: Option<String>,
        #[serde(default)]
        rootfs: RootFs,
    }
    #[derive(Deserialize, Default)]
    struct RootFs {
        #[serde(default)]
        diff_ids: Vec<String>,
    }
    let config: Config = serde_json::from_slice(data)?;
    let platform = match (config.os, config.architecture, config.variant) {
        (Some(os), Some(arch), Some(variant)) => Some(format!("{os}/{arch}/{variant}")),
        (Some(os), Some(arch), None) => Some(format!("{os}/{arch}")),
        (os, arch, _) => os.or(arch),
    };
    Ok(ImageConfig { created: config.created, platform, diff_ids: config.rootfs.diff_ids })
}

/// The chain ids naming each layer's directory in `layerdb`, bottom first: the first is the first diff id, each
/// next the SHA-256 of `"<chain id below> <diff id>"` (OCI image spec, "Layer ChainID").
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chain: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match chain.last() {
            None => diff_id.clone(),
            Some(below) => format!("sha256:{}", hex::encode(Sha256::digest(format!("{below} {diff_id}").as_bytes()))),
        };
        chain.push(next);
    }
    chain
}

/// One container from its `config.v2.json`.
pub fn parse_container(data: &[u8]) -> Result<Container, serde_json::Error> {
    #[derive(Deserialize)]
    struct File {
        #[serde(rename = "ID")]
        id: String,
        #[serde(rename = "Name", default)]
        name: String,
        #[serde(rename = "Image")]
        image: String,
        #[serde(rename = "Created")]
        created: Option<DateTime<Utc>>,
        #[serde(rename = "Config")]
        config: Option<Config>,
        #[serde(rename = "State")]
        state: Option<State>,
    }
    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "Image")]
        image: Option<String>,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct State {
        running: bool,
        paused: bool,
        restarting: bool,
        dead: bool,
        started_at: Option<String>,
    }
    let file: File = serde_json::from_slice(data)?;
    let state = file.state.map(|s| {
        // Docker writes Go's zero time for a container that was never started.
        let never_started = s.started_at.as_deref().is_none_or(|t| t.starts_with("0001-01-01"));
        match () {
            _ if s.dead => "dead",
            _ if s.restarting => "restarting",
            _ if s.paused => "paused",
            _ if s.running => "running",
            _ if never_started => "created",
            _ => "exited",
        }
        .to_string()
    });
    Ok(Container {
        engine: ContainerEngine::Docker,
        name: file.name.trim_start_matches('/').to_string(),
        id: file.id,
        image_id: file.image,
        image: file.config.and_then(|c| c.image).filter(|i| !i.is_empty()),
        created: file.created,
        state,
    })
}

/// The data root `/etc/docker/daemon.json` sets, if it sets one.
pub fn parse_data_root(daemon_json: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Daemon {
        #[serde(rename = "data-root")]
        data_root: Option<String>,
        /// The name before Docker 17.05, still accepted.
        graph: Option<String>,
    }
    let daemon: Daemon = serde_json::from_slice(daemon_json).ok()?;
    daemon.data_root.or(daemon.graph).filter(|p| p.starts_with('/'))
}

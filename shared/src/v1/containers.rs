//! Container engines' images and containers on a host: child assets of the host, each image with its own OS and
//! package list so it can be matched like a machine of its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Os, Package, PackageSource};

/// The engine whose state an image or container was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerEngine {
    Docker,
    Podman,
    Containerd,
    /// An engine a newer agent reads that this build does not know; kept rather than refusing the report.
    #[serde(other)]
    Other,
}

impl ContainerEngine {
    /// The wire name, `docker`, `podman` or `containerd`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerEngine::Docker => "docker",
            ContainerEngine::Podman => "podman",
            ContainerEngine::Containerd => "containerd",
            ContainerEngine::Other => "other",
        }
    }
}

/// One image an engine holds: tagged, pulled by digest, or used by a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerImage {
    pub engine: ContainerEngine,
    /// The image id, `sha256:<hex>` (the digest of its configuration).
    pub id: String,
    /// Names it is tagged with, e.g. `docker.io/library/nginx:1.27`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Repository digests it was pulled or pushed by, e.g. `registry.example/web@sha256:<hex>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digests: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// The image's platform as its configuration says, e.g. `linux/amd64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The image's own operating system, from the os-release file of its layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    /// The package databases read from the layers (paths inside the image); `complete: false` when a layer could not
    /// be read, so a partial list is never taken for the whole image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<PackageSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<Package>,
}

impl ContainerImage {
    /// An image known by engine and id only; readers add what they read with struct update syntax.
    pub fn new(engine: ContainerEngine, id: impl Into<String>) -> ContainerImage {
        ContainerImage {
            engine,
            id: id.into(),
            tags: Vec::new(),
            digests: Vec::new(),
            created: None,
            platform: None,
            os: None,
            sources: Vec::new(),
            packages: Vec::new(),
        }
    }
}

/// An image id as `docker images` shows it: the first 12 hex digits, without the `sha256:` prefix.
pub fn short_image_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

/// How an image is named to people: its first tag, else its short id.
pub fn image_name(id: &str, tags: &[String]) -> String {
    tags.first().cloned().unwrap_or_else(|| short_image_id(id).to_owned())
}

/// One container, running or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub engine: ContainerEngine,
    pub id: String,
    pub name: String,
    /// The id of the image it was created from ([`ContainerImage::id`]).
    pub image_id: String,
    /// The image as it was named when the container was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// `running`, `paused`, `restarting`, `removing`, `exited`, `created` or `dead`, as the engine last recorded it;
    /// absent where the engine keeps it outside the files read (Podman 5's SQLite database, containerd's runtime
    /// state under `/run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

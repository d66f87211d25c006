//! Domain types the store, the ingest logic and the HTTP layer share: roles, history events and time conversion.

pub mod console;
pub mod facts;
pub mod findings;
pub mod integrations;
pub mod risk;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an API token may do; each role includes the rights of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads inventory, software and history.
    Viewer,
    /// Viewer rights plus analysis features (vulnerability triage in later versions).
    Analyst,
    /// Everything, including enrolment secrets and the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Viewer, Role::Analyst, Role::Admin].into_iter().find(|r| r.as_str() == s)
    }
}

/// The kind of a history event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    PackageInstalled,
    PackageRemoved,
    /// A version change; `from`/`to` hold the versions.
    PackageUpgraded,
    /// A version change to a lower version, where the package kind's version order is known.
    PackageDowngraded,
    /// `details.change` says which: `disk_added`, `disk_removed`, `memory_changed`, `serial_changed`.
    HardwareChanged,
    OsUpgraded,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::PackageInstalled,
        EventKind::PackageRemoved,
        EventKind::PackageUpgraded,
        EventKind::PackageDowngraded,
        EventKind::HardwareChanged,
        EventKind::OsUpgraded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PackageInstalled => "package_installed",
            EventKind::PackageRemoved => "package_removed",
            EventKind::PackageUpgraded => "package_upgraded",
            EventKind::PackageDowngraded => "package_downgraded",
            EventKind::HardwareChanged => "hardware_changed",
            EventKind::OsUpgraded => "os_upgraded",
        }
    }
}

/// One change found by comparing a host's previous and new state.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub kind: EventKind,
    /// What changed: a package `name` (with `:arch` when known), a disk name, `memory`, `system.serial`, `os`.
    pub subject: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub details: serde_json::Value,
}

/// One installed package as stored (the fields that identify it), what the history diff compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPackage {
    pub kind: String,
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
}

/// Database times are milliseconds since the epoch on both backends.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH)
}

/// How bad a finding is; ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// 0 (info) to 4 (critical), stored beside the name so queries sort by it.
    pub fn rank(self) -> i32 {
        self as i32
    }
}

/// The stored JSON of a host's software section: its packages go to the shared catalogue, so only the package
/// sources, the count and the listening sockets stay here. Ingest writes it, matching and the host page read it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredSoftware {
    #[serde(default)]
    pub sources: Vec<muster_shared::v1::PackageSource>,
    #[serde(default)]
    pub package_count: usize,
    /// Absent from sections stored before sockets were kept, and from agents that do not report them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<muster_shared::v1::Listener>,
    /// The host's container images, the host's child assets. Absent from older sections and agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_images: Vec<StoredImage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<muster_shared::v1::Container>,
}

/// A container image as the host's section keeps it: the agent's record without its package list, and how many
/// packages that list held. The list is kept apart (`host_image_packages`, for matching the image): every rule
/// evaluation and match of the host decodes this section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredImage {
    /// Its `packages` are always empty here.
    #[serde(flatten)]
    pub image: muster_shared::v1::ContainerImage,
    #[serde(default)]
    pub package_count: usize,
}

impl StoredImage {
    pub fn of(image: &muster_shared::v1::ContainerImage) -> Self {
        let kept = muster_shared::v1::ContainerImage {
            tags: image.tags.clone(),
            digests: image.digests.clone(),
            created: image.created,
            platform: image.platform.clone(),
            os: image.os.clone(),
            sources: image.sources.clone(),
            ..muster_shared::v1::ContainerImage::new(image.engine, image.id.clone())
        };
        Self { image: kept, package_count: image.packages.len() }
    }

    /// Whether every package database of its layers was read in full (false when none was found).
    pub fn packages_complete(&self) -> bool {
        !self.image.sources.is_empty() && self.image.sources.iter().all(|s| s.complete)
    }
}

impl StoredSoftware {
    pub fn of(software: &muster_shared::v1::Software) -> Self {
        Self {
            sources: software.sources.clone(),
            package_count: software.packages.len(),
            listeners: software.listeners.clone(),
            container_images: software.container_images.iter().map(StoredImage::of).collect(),
            containers: software.containers.clone(),
        }
    }

    /// Whether two copies of a section agree on what the host's matches are made from, beside the packages and the
    /// images' lists (diffed apart): the sockets (exposure), the images as stored (OS, tags, completeness: their
    /// ecosystems and finding keys), and which container is made from which image (image findings name them). A
    /// container's state is not among them.
    pub fn same_matching_facts(&self, other: &Self) -> bool {
        fn made(s: &StoredSoftware) -> std::collections::BTreeSet<(&str, &str, &str)> {
            s.containers.iter().map(|c| (c.engine.as_str(), c.name.as_str(), c.image_id.as_str())).collect()
        }
        self.listeners == other.listeners
            && self.container_images == other.container_images
            && made(self) == made(other)
    }

    /// Each image id with every tag any engine holds it under, sorted.
    fn image_tags(&self) -> std::collections::HashMap<&str, Vec<String>> {
        let mut tags: std::collections::HashMap<&str, Vec<String>> = std::collections::HashMap::new();
        for i in &self.container_images {
            tags.entry(i.image.id.as_str()).or_default().extend(i.image.tags.iter().cloned());
        }
        for list in tags.values_mut() {
            list.sort();
            list.dedup();
        }
        tags
    }

    /// How each image is named to people, by id: its first tag over every engine holding it, or its id when it
    /// has none or another image of the host goes by the same name (names key an image's findings).
    pub fn image_names(&self) -> std::collections::HashMap<&str, String> {
        let names: std::collections::HashMap<&str, String> =
            self.image_tags().into_iter().map(|(id, tags)| (id, muster_shared::v1::image_name(id, &tags))).collect();
        let mut uses: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for name in names.values() {
            *uses.entry(name.as_str()).or_default() += 1;
        }
        let shared: std::collections::HashSet<String> =
            uses.into_iter().filter(|(_, n)| *n > 1).map(|(name, _)| name.to_owned()).collect();
        names.into_iter().map(|(id, name)| (id, if shared.contains(&name) { id.to_owned() } else { name })).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::{ContainerEngine, ContainerImage};

    #[test]
    fn image_names_are_unique_among_a_hosts_images() {
        let image = |engine, id: &str, tags: &[&str]| StoredImage {
            image: ContainerImage {
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                ..ContainerImage::new(engine, id)
            },
            package_count: 0,
        };
        let software = StoredSoftware {
            container_images: vec![
                // One image on two engines under two tags: its name is the first in order.
                image(ContainerEngine::Docker, "sha256:aa", &["web:1.0"]),
                image(ContainerEngine::Podman, "sha256:aa", &["localhost/web:1.0"]),
                // Two images that go by one tag on two engines: each is named by its id.
                image(ContainerEngine::Docker, "sha256:bb", &["db:16"]),
                image(ContainerEngine::Containerd, "sha256:cc", &["db:16"]),
                image(ContainerEngine::Docker, "sha256:dddddddddddddddd", &[]),
            ],
            ..StoredSoftware::default()
        };
        let mut names: Vec<(&str, String)> = software.image_names().into_iter().collect();
        names.sort();
        assert_eq!(
            names,
            [
                ("sha256:aa", "localhost/web:1.0".to_owned()),
                ("sha256:bb", "sha256:bb".to_owned()),
                ("sha256:cc", "sha256:cc".to_owned()),
                ("sha256:dddddddddddddddd", "dddddddddddd".to_owned()),
            ]
        );
    }
}

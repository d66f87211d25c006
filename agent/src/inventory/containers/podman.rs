//! Podman's (containers/storage) state under its graph root: `<driver>-images/images.json` with each image's
//! configuration beside it, `<driver>-layers/layers.json` for the layer chain, and
//! `<driver>-containers/containers.json`. Root's store is `/var/lib/containers/storage` (or `graphroot` of
//! `/etc/containers/storage.conf`); each user's rootless store is `~/.local/share/containers/storage`.
//!
//! Whether a container runs is kept in libpod's own database, not in these files: Podman 4's BoltDB state
//! ([`parse_states`]) or Podman 5's SQLite database ([`parse_sqlite_states`]), whichever Podman itself would use
//! ([`state_backend`]).

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use muster_shared::v1::{Container, ContainerEngine};
use serde::Deserialize;

use super::bolt::{BoltError, Db, Source, Value};

/// One image of `images.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StoredImage {
    pub id: String,
    /// The manifest digest it was pulled by.
    #[serde(default)]
    pub digest: Option<String>,
    /// Later versions list every manifest digest.
    #[serde(default)]
    pub digests: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    /// Its top layer's id.
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
}

impl StoredImage {
    /// The repository digests it is known by (`<repository>@<digest>` for each name's repository).
    pub fn repo_digests(&self) -> Vec<String> {
        let mut digests: Vec<&String> = self.digest.iter().chain(&self.digests).collect();
        digests.sort();
        digests.dedup();
        let mut out = Vec::new();
        for name in &self.names {
            let repo = repository(name);
            for digest in &digests {
                out.push(format!("{repo}@{digest}"));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// A reference's repository: everything before the tag (a `:` after the last `/`) or the digest.
fn repository(reference: &str) -> &str {
    let reference = reference.split('@').next().unwrap_or(reference);
    match reference.rfind(':') {
        Some(colon) if !reference[colon..].contains('/') => &reference[..colon],
        _ => reference,
    }
}

pub fn parse_images(data: &[u8]) -> Result<Vec<StoredImage>, serde_json::Error> {
    serde_json::from_slice(data)
}

/// Each layer's parent (`None` for a bottom layer), from `layers.json`.
pub fn parse_layers(data: &[u8]) -> Result<BTreeMap<String, Option<String>>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Layer {
        id: String,
        #[serde(default)]
        parent: Option<String>,
    }
    let layers: Vec<Layer> = serde_json::from_slice(data)?;
    Ok(layers.into_iter().map(|l| (l.id, l.parent.filter(|p| !p.is_empty()))).collect())
}

/// The chain from `top` down to the bottom layer; stops (returning what it has, and `false`) at a layer
/// `layers.json` does not list or at a loop.
pub fn layer_chain(top: &str, parents: &BTreeMap<String, Option<String>>) -> (Vec<String>, bool) {
    let mut chain = vec![top.to_string()];
    let mut current = top;
    loop {
        match parents.get(current) {
            None => return (chain, false),
            Some(None) => return (chain, true),
            Some(Some(parent)) => {
                if chain.iter().any(|l| l == parent) {
                    return (chain, false);
                }
                chain.push(parent.clone());
                current = parent;
            }
        }
    }
}

/// The file name an image's configuration is stored under beside `images.json`: `=` and the base64 of its key,
/// which for the configuration is `sha256:<image id>`.
pub fn config_file_name(image_id: &str) -> String {
    format!("={}", base64::engine::general_purpose::STANDARD.encode(format!("sha256:{image_id}")))
}

/// The containers of `containers.json`.
pub fn parse_containers(data: &[u8]) -> Result<Vec<Container>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Stored {
        id: String,
        #[serde(default)]
        names: Vec<String>,
        image: String,
        /// A JSON document inside the JSON, written by libpod.
        #[serde(default)]
        metadata: Option<String>,
        #[serde(default)]
        created: Option<DateTime<Utc>>,
    }
    #[derive(Deserialize, Default)]
    struct Metadata {
        #[serde(rename = "image-name")]
        image_name: Option<String>,
    }
    let stored: Vec<Stored> = serde_json::from_slice(data)?;
    Ok(stored
        .into_iter()
        .map(|c| {
            let metadata: Metadata =
                c.metadata.as_deref().and_then(|m| serde_json::from_str(m).ok()).unwrap_or_default();
            Container {
                engine: ContainerEngine::Podman,
                name: c.names.first().cloned().unwrap_or_else(|| c.id.chars().take(12).collect()),
                image_id: prefixed(&c.image),
                id: c.id,
                image: metadata.image_name.filter(|n| !n.is_empty()),
                created: c.created,
                state: None,
            }
        })
        .collect())
}

/// Podman 4's own database (libpod's BoltDB state) below a store's graph root: the containers' states are there,
/// not in containers/storage.
pub const BOLT_STATE: &str = "libpod/bolt_state.db";
/// The same states in SQLite, at the graph root itself: what Podman 5 makes for a new store.
pub const SQLITE_STATE: &str = "db.sql";

/// Which of libpod's databases holds the states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateBackend {
    Bolt,
    Sqlite,
}

/// The database Podman itself uses: the one `database_backend` of `containers.conf` names (`boltdb` or `sqlite`; the
/// files `(path, text)` given in the order Podman reads them, the last one setting it winning, an empty value meaning
/// Podman's default), else BoltDB when its file exists (a store made before SQLite became the default keeps it),
/// else SQLite. Files that do not parse, and values Podman does not know, are passed over and returned as problems
/// (`(path, why)`).
pub fn state_backend(
    containers_confs: &[(String, String)],
    bolt_exists: bool,
) -> (StateBackend, Vec<(String, String)>) {
    #[derive(Deserialize, Default)]
    struct Conf {
        #[serde(default)]
        engine: Engine,
    }
    #[derive(Deserialize, Default)]
    struct Engine {
        database_backend: Option<String>,
    }
    let mut problems = Vec::new();
    let mut configured = None;
    for (path, text) in containers_confs.iter().rev() {
        let setting = match toml::from_str::<Conf>(text) {
            Ok(conf) => conf.engine.database_backend,
            Err(e) => {
                problems.push((path.clone(), e.message().to_owned()));
                continue;
            }
        };
        match setting.as_deref() {
            None => continue,
            Some("boltdb") => configured = Some(StateBackend::Bolt),
            Some("sqlite") => configured = Some(StateBackend::Sqlite),
            Some("") => {}
            Some(other) => {
                problems.push((path.clone(), format!("database_backend {other:?} is neither boltdb nor sqlite")));
                continue;
            }
        }
        break;
    }
    problems.reverse();
    let backend = configured.unwrap_or(if bolt_exists { StateBackend::Bolt } else { StateBackend::Sqlite });
    (backend, problems)
}

/// Each container's state from Podman 5's `ContainerState` table, with the same meaning and limits as
/// [`parse_states`]. The state is read from each row's JSON document: the table's `State` column is not kept up to
/// date (Podman 5.4 left it at 1, configured, for running, paused and exited containers alike).
pub fn parse_sqlite_states(db: &rusqlite::Connection, limit: usize) -> rusqlite::Result<States> {
    let mut out = States::default();
    let mut query = db.prepare("SELECT ID, JSON FROM ContainerState ORDER BY ID LIMIT ?1")?;
    let rows = query.query_map([i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)], |row| {
        // libpod stores the document as a blob (Go bytes); text is read alike.
        Ok((row.get::<_, String>(0)?, row.get_ref(1)?.as_bytes()?.to_vec()))
    })?;
    for row in rows {
        if out.states.len() + out.unreadable == limit {
            out.truncated = true;
            break;
        }
        // A row that does not convert (an id that is not text, no document) is one container unread, not all.
        match row {
            Ok((id, json)) => out.add(id, Some(&json)),
            Err(_) => out.unreadable += 1,
        }
    }
    Ok(out)
}

/// Each container's state as Podman last recorded it, by container id (the `state` of each `ctr/<id>/state` JSON
/// document); `unreadable` counts containers whose state document would not parse, `truncated` says there were more
/// than the limit.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct States {
    pub states: BTreeMap<String, &'static str>,
    pub unreadable: usize,
    pub truncated: bool,
}

pub fn parse_states<S: Source + ?Sized>(db: &Db<S>, limit: usize) -> Result<States, BoltError> {
    let mut out = States::default();
    let Some(containers) = db.bucket_at(&[b"ctr"])? else { return Ok(out) };
    let (entries, truncated) = db.entries(&containers, limit)?;
    out.truncated = truncated;
    for (id, value) in entries {
        let Value::Bucket(container) = value else { continue };
        let json = db.data(&container, b"state")?;
        out.add(String::from_utf8_lossy(&id).into_owned(), json.as_deref());
    }
    Ok(out)
}

impl States {
    /// One container's state document (libpod's, in either database), counted as unreadable when it is missing or
    /// names no state.
    fn add(&mut self, id: String, json: Option<&[u8]>) {
        #[derive(Deserialize)]
        struct State {
            state: u8,
        }
        match json.and_then(|j| serde_json::from_slice::<State>(j).ok()).and_then(|s| state_name(s.state)) {
            Some(name) => {
                self.states.insert(id, name);
            }
            None => self.unreadable += 1,
        }
    }
}

/// libpod's `define.ContainerStatus` in the report's words (those Docker's states use): configured (created in
/// Podman only), created (in the OCI runtime too), running, stopped (exited, not cleaned up), paused, exited,
/// removing, stopping (still running). Unknown (0) and values past libpod's list are not a state.
fn state_name(code: u8) -> Option<&'static str> {
    Some(match code {
        1 | 2 => "created",
        3 | 8 => "running",
        4 | 6 => "exited",
        5 => "paused",
        7 => "removing",
        _ => return None,
    })
}

/// containers/storage writes image ids as bare hex; Docker and the report use `sha256:<hex>`.
pub fn prefixed(id: &str) -> String {
    if id.contains(':') { id.to_string() } else { format!("sha256:{id}") }
}

/// The graph root `/etc/containers/storage.conf` sets (`[storage] graphroot = "..."`) and its driver.
pub fn parse_storage_conf(text: &str) -> (Option<String>, Option<String>) {
    #[derive(Deserialize, Default)]
    struct Conf {
        #[serde(default)]
        storage: Storage,
    }
    #[derive(Deserialize, Default)]
    struct Storage {
        graphroot: Option<String>,
        driver: Option<String>,
    }
    let conf: Conf = toml::from_str(text).unwrap_or_default();
    (conf.storage.graphroot.filter(|p| p.starts_with('/')), conf.storage.driver.filter(|d| !d.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libpod's `define.ContainerStatus` values, in the order `containerstate.go` declares them.
    #[test]
    fn libpods_states_in_the_reports_words() {
        let names: Vec<Option<&str>> = (0..=9).map(state_name).collect();
        assert_eq!(
            names,
            [
                None,
                Some("created"),
                Some("created"),
                Some("running"),
                Some("exited"),
                Some("paused"),
                Some("exited"),
                Some("removing"),
                Some("running"),
                None
            ]
        );
    }
}

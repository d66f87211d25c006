//! Snaps: the `meta/snap.yaml` of each snap's current revision, mounted at `/snap/<name>/<revision>/` with a
//! `current` link to the active revision.
//!
//! The revision is kept in the package's `path` (`/snap/<name>/<revision>/meta/snap.yaml`). On a running system the
//! publisher (with the store's validation of it: `canonical (verified)`, `yubico-snap-store (unproven)`) and the
//! install time come from snapd's own API (`GET /v2/snaps` on `/run/snapd.socket`); under `--root` snapd's
//! `state.json` and store assertions would hold them, and are not read yet. The same answer gives the tracking
//! channel the host follows (`channel`). Snap files in `/var/lib/snapd/snaps` whose squashfs is not mounted
//! (an image or a disk read with `--root`) cannot be opened without mounting; they are counted and reported as not
//! available.

use chrono::{DateTime, Utc};
use muster_shared::v1::{ErrorKind, Package, PackageKind, PackageSource, SectionName};

use super::{DbError, Listing, source};
use crate::root::{ErrorLog, SystemRoot};

const SNAP_MOUNTS: &str = "/snap";
const SNAP_FILES: &str = "/var/lib/snapd/snaps";
/// snapd's API socket, on the running system only.
pub const SNAPD_SOCKET: &str = "/run/snapd.socket";

/// A snap's name and version from its `snap.yaml`: the top-level `name:` and `version:` keys (a version may be
/// quoted to keep it a string).
pub fn parse_snap_yaml(data: &[u8]) -> Result<(String, String), String> {
    let text = String::from_utf8_lossy(data);
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        // Nested keys are indented; only the document's own keys count.
        if line.starts_with([' ', '\t', '#', '-']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = unquote(value.split(" #").next().unwrap_or(value).trim());
        match key.trim() {
            "name" if name.is_none() => name = Some(value.to_string()),
            "version" if version.is_none() => version = Some(value.to_string()),
            _ => {}
        }
    }
    match (name.filter(|n| !n.is_empty()), version.filter(|v| !v.is_empty())) {
        (Some(name), Some(version)) => Ok((name, version)),
        (None, _) => Err("no name".to_string()),
        (_, None) => Err("no version".to_string()),
    }
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner;
        }
    }
    value
}

pub(super) fn probe(root: &SystemRoot, found: &mut Vec<(PackageSource, Listing)>, errors: &mut ErrorLog) {
    let mounts = root.path(SNAP_MOUNTS);
    let mut listing = Listing::default();
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&mounts) {
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            // `/snap/bin` holds the command links, not a snap.
            let Ok(revision) = std::fs::read_link(entry.path().join("current")) else { continue };
            let revision = revision.to_string_lossy().into_owned();
            let path = format!("{SNAP_MOUNTS}/{name}/{revision}/meta/snap.yaml");
            names.push(name);
            match root.read(&path) {
                Ok(data) => match parse_snap_yaml(&data) {
                    Ok((name, version)) => listing.packages.push(snap_package(name, version, path)),
                    Err(reason) => listing.problems.push(DbError::Corrupt(format!("{path}: {reason}"))),
                },
                Err(err) => {
                    listing.problems.push(DbError::Io(std::io::Error::new(err.kind(), format!("{path}: {err}"))))
                }
            }
        }
    }
    let unmounted = unmounted_snaps(root, &names);
    if !unmounted.is_empty() {
        errors.record(
            SectionName::Software,
            SNAP_FILES,
            ErrorKind::NotAvailable,
            format!("{} snap file(s) not mounted under /snap, so not read: {}", unmounted.len(), unmounted.join(", ")),
        );
    }
    if !names.is_empty() && root.is_live() {
        match query_snapd(std::path::Path::new(SNAPD_SOCKET)).and_then(|body| parse_api_snaps(&body)) {
            Ok(snaps) => enrich(&mut listing.packages, &snaps),
            Err(reason) => errors.record(
                SectionName::Software,
                SNAPD_SOCKET,
                ErrorKind::NotAvailable,
                format!(
                    "snapd's API did not answer ({reason}): snaps listed without publisher, install time and channel"
                ),
            ),
        }
    }
    if !names.is_empty() {
        found.push((source(PackageKind::Snap, SNAP_MOUNTS, "snap-yaml"), listing));
    }
}

/// One installed snap revision as snapd's `GET /v2/snaps` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSnap {
    pub name: String,
    pub revision: String,
    /// The publisher's store account and the store's validation of it: `canonical (verified)`.
    pub publisher: Option<String>,
    pub installed_at: Option<DateTime<Utc>>,
    pub tracking_channel: Option<String>,
}

/// Reads the answer of `GET /v2/snaps`: `{"type": "sync", "result": [...]}`; an error answer (`"type": "error"`)
/// gives its message.
pub fn parse_api_snaps(body: &[u8]) -> Result<Vec<ApiSnap>, String> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Some(result) = json.get("result").and_then(serde_json::Value::as_array) else {
        let message = json.pointer("/result/message").and_then(serde_json::Value::as_str).unwrap_or("no snap list");
        return Err(message.to_owned());
    };
    let text = |v: &serde_json::Value, key: &str| v.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
    Ok(result
        .iter()
        .filter_map(|snap| {
            let publisher = snap.get("publisher").and_then(|p| {
                let username = text(p, "username")?;
                Some(match text(p, "validation") {
                    Some(validation) => format!("{username} ({validation})"),
                    None => username,
                })
            });
            Some(ApiSnap {
                name: text(snap, "name")?,
                revision: text(snap, "revision")?,
                publisher,
                installed_at: text(snap, "install-date")
                    .and_then(|d| DateTime::parse_from_rfc3339(&d).ok())
                    .map(|d| d.with_timezone(&Utc)),
                tracking_channel: text(snap, "tracking-channel").filter(|c| !c.is_empty()),
            })
        })
        .collect())
}

/// Adds what snapd says of each listed snap's mounted revision (its path names the revision): publisher, install
/// time, tracking channel.
pub fn enrich(packages: &mut [Package], snaps: &[ApiSnap]) {
    for package in packages.iter_mut() {
        // Matched by the mount's directory and revision (`/snap/<instance>/<revision>/…`): snapd names a parallel
        // install by its instance (`foo_bar`), where its `snap.yaml` says `foo`.
        let mut parts = package.path.as_deref().unwrap_or_default().split('/').skip(2);
        let (Some(instance), Some(revision)) = (parts.next(), parts.next()) else { continue };
        let Some(snap) = snaps.iter().find(|s| s.name == instance && s.revision == revision) else {
            continue;
        };
        package.publisher.clone_from(&snap.publisher);
        package.installed_at = snap.installed_at;
        package.channel.clone_from(&snap.tracking_channel);
    }
}

/// The most of snapd's answer read: a few hundred snaps with their descriptions fit in well under this.
#[cfg(unix)]
const SNAPD_ANSWER_CAP: u64 = 16 << 20;

/// `GET /v2/snaps` on snapd's socket, its body. One HTTP/1.0 request whose answer ends when snapd closes the
/// connection (Go's server answers a 1.0 request unchunked and closes): written here rather than bringing an HTTP
/// client with Unix-socket support into the agent for one local request. Bounded in time (10 s in all) and size.
#[cfg(unix)]
pub fn query_snapd(socket: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    const LIMIT: Duration = Duration::from_secs(10);
    let deadline = Instant::now() + LIMIT;
    let mut stream =
        std::os::unix::net::UnixStream::connect(socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    stream.set_write_timeout(Some(LIMIT)).map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /v2/snaps HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(format!("no complete answer in {} s", LIMIT.as_secs()));
        }
        stream.set_read_timeout(Some(remaining)).map_err(|e| e.to_string())?;
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
        if answer.len() as u64 > SNAPD_ANSWER_CAP {
            return Err(format!("answer larger than {} MiB", SNAPD_ANSWER_CAP >> 20));
        }
    }
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no HTTP answer")?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head.lines().next().unwrap_or_default();
    let body = answer[split + 4..].to_vec();
    if status.split_whitespace().nth(1) != Some("200") {
        // snapd says why in its JSON error body.
        return Err(match parse_api_snaps(&body) {
            Err(message) if !message.starts_with("not JSON") => format!("answered {status}: {message}"),
            _ => format!("answered {status}"),
        });
    }
    Ok(body)
}

#[cfg(not(unix))]
pub fn query_snapd(_socket: &std::path::Path) -> Result<Vec<u8>, String> {
    Err("no Unix sockets on this system".to_owned())
}

/// The `<name>_<revision>.snap` files whose snap has no mounted current revision.
fn unmounted_snaps(root: &SystemRoot, mounted: &[String]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.path(SNAP_FILES)) else { return Vec::new() };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|f| f.ends_with(".snap"))
        .filter(|f| f.rsplit_once('_').is_none_or(|(name, _)| !mounted.iter().any(|m| m == name)))
        .collect();
    out.sort();
    out
}

fn snap_package(name: String, version: String, path: String) -> Package {
    Package { path: Some(path), ..Package::new(PackageKind::Snap, name, version) }
}

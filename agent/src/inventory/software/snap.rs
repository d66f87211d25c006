//! Snaps: the `meta/snap.yaml` of each snap's current revision, mounted at `/snap/<name>/<revision>/` with a
//! `current` link to the active revision.
//!
//! The revision is kept in the package's `path` (`/snap/<name>/<revision>/meta/snap.yaml`). On a running system the
//! publisher (with the store's validation of it: `canonical (verified)`, `yubico-snap-store (unproven)`) and the
//! install time come from snapd's own API (`GET /v2/snaps` on `/run/snapd.socket`), and the same answer gives the
//! tracking channel the host follows (`channel`). Under `--root`, or when snapd does not answer, they are read where
//! snapd keeps them: its `state.json` (each snap's current revision, store id and tracking channel), its assertion
//! database (the store's snap-declaration names the publisher's account; the account assertion its username and
//! validation), and the `current` link's time, which is what snapd itself reports as the install date. Snap files
//! in `/var/lib/snapd/snaps` whose squashfs is not mounted (an image or a disk read with `--root`) cannot be opened
//! without mounting; they are counted and reported as not available.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use muster_shared::v1::{ErrorKind, Package, PackageKind, PackageSource, SectionName};

use super::{DbError, Listing, source};
use crate::root::{ErrorLog, SystemRoot, modified_at};

const SNAP_MOUNTS: &str = "/snap";
const SNAP_FILES: &str = "/var/lib/snapd/snaps";
/// snapd's API socket, on the running system only.
pub const SNAPD_SOCKET: &str = "/run/snapd.socket";
const SNAPD_STATE: &str = "/var/lib/snapd/state.json";
const ASSERTIONS: &str = "/var/lib/snapd/assertions/asserts-v0";
/// snapd's state is tens of KB to a few MB (mostly its log of changes); a larger file is not read.
const STATE_CAP: u64 = 64 << 20;
/// An assertion is a few KB; a snap-declaration with many connection rules stays well under this.
const ASSERTION_CAP: u64 = 1 << 20;
/// The account snapd trusts without an assertion on disk (built into snapd): the store's own, which publishes the
/// base and core snaps. snapd's API shows it as `canonical (verified)`.
const BUILT_IN_ACCOUNT: (&str, &str) = ("canonical", "canonical (verified)");

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
            // The mount directory resolved inside the root, the link itself read, never followed by the host.
            let link = root.path(format!("{SNAP_MOUNTS}/{name}")).join("current");
            let Ok(revision) = std::fs::read_link(link) else { continue };
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
    if !names.is_empty() {
        add_snapd_facts(root, &names, &mut listing.packages, errors);
        found.push((source(PackageKind::Snap, SNAP_MOUNTS, "snap-yaml"), listing));
    }
}

/// Publisher, install time and tracking channel of the mounted snaps (`instances`): from snapd's API on a running
/// system, else from what snapd keeps on disk (a live snapd that does not answer costs nothing when its state says
/// the same); what neither gives is said in the errors.
fn add_snapd_facts(root: &SystemRoot, instances: &[String], packages: &mut [Package], errors: &mut ErrorLog) {
    let api = root.is_live().then(|| query_snapd(std::path::Path::new(SNAPD_SOCKET)).and_then(|b| parse_api_snaps(&b)));
    let api_error = match api {
        Some(Ok(snaps)) => return enrich(packages, &snaps),
        Some(Err(reason)) => Some(reason),
        None => None,
    };
    let (item, message) = match (state_snaps(root, instances), api_error) {
        (Ok((snaps, unknown)), _) => {
            enrich(packages, &snaps);
            if unknown.is_empty() {
                return;
            }
            let message = format!("no readable store assertion names the publisher of {}", unknown.join(", "));
            (ASSERTIONS, format!("{message}: listed without it"))
        }
        (Err(state), Some(api)) => (
            SNAPD_SOCKET,
            format!(
                "snapd's API did not answer ({api}) and its state could not be read ({state}): snaps listed without \
                 publisher, install time and channel"
            ),
        ),
        (Err(state), None) => (
            SNAPD_STATE,
            format!(
                "snapd's state could not be read ({state}): snaps listed without publisher, install time and channel"
            ),
        ),
    };
    errors.record(SectionName::Software, item, ErrorKind::NotAvailable, message);
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
            let publisher =
                snap.get("publisher").and_then(|p| Some(publisher_name(&text(p, "username")?, text(p, "validation"))));
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

/// One installed snap as snapd's `state.json` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSnap {
    /// The instance name (`foo`, or `foo_bar` for a parallel install), as the mount directory is named.
    pub instance: String,
    /// The current revision.
    pub revision: String,
    /// The store's id of the snap; none for a snap installed from a file.
    pub snap_id: Option<String>,
    pub tracking_channel: Option<String>,
}

/// Reads snapd's `state.json`: `{"data": {"snaps": {"<instance>": {"sequence": [<revision>...], "current": "<rev>",
/// "channel": "<tracking channel>"}}}}`. Only those fields are kept; the rest of the file (its change log, timings,
/// each revision's description) is skipped unparsed. A snap with no current revision is left out.
pub fn parse_state(data: &[u8]) -> Result<Vec<StateSnap>, String> {
    #[derive(serde::Deserialize)]
    struct State {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        #[serde(default)]
        snaps: BTreeMap<String, Snap>,
    }
    #[derive(serde::Deserialize)]
    struct Snap {
        #[serde(default)]
        sequence: Vec<SideInfo>,
        current: Option<String>,
        channel: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct SideInfo {
        revision: Option<String>,
        #[serde(rename = "snap-id")]
        snap_id: Option<String>,
    }
    let state: State = serde_json::from_slice(data).map_err(|e| format!("not snapd's state: {e}"))?;
    Ok(state
        .data
        .snaps
        .into_iter()
        .filter_map(|(instance, snap)| {
            let revision = snap.current.filter(|r| !r.is_empty())?;
            let snap_id = snap
                .sequence
                .into_iter()
                .find(|side| side.revision.as_deref() == Some(revision.as_str()))
                .and_then(|side| side.snap_id)
                .filter(|id| !id.is_empty());
            Some(StateSnap { instance, revision, snap_id, tracking_channel: snap.channel.filter(|c| !c.is_empty()) })
        })
        .collect())
}

/// The top-level headers of an assertion (`key: value` lines up to the blank line before its signature); headers
/// whose value is a list or map on the following indented lines are left out. snapd refuses an assertion that
/// repeats a header, so one that does gives none here.
pub fn assertion_headers(data: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(data);
    let head = text.split("\n\n").next().unwrap_or_default();
    let mut headers = BTreeMap::new();
    for (key, value) in
        head.lines().filter(|line| !line.starts_with([' ', '\t', '-'])).filter_map(|line| line.split_once(": "))
    {
        if headers.insert(key.to_owned(), value.trim().to_owned()).is_some() {
            return BTreeMap::new();
        }
    }
    headers
}

/// The publisher as snapd's API names it (`certbot-eff (verified)`) from a snap's store declaration and the
/// account assertion of the publisher it names, when present.
pub fn publisher(declaration: &BTreeMap<String, String>, account: Option<&BTreeMap<String, String>>) -> Option<String> {
    let id = declaration.get("publisher-id")?;
    if let Some(account) = account.filter(|a| a.get("account-id") == Some(id)) {
        return Some(publisher_name(account.get("username")?, account.get("validation").cloned()));
    }
    (id == BUILT_IN_ACCOUNT.0).then(|| BUILT_IN_ACCOUNT.1.to_owned())
}

/// A publisher as snapd's API shows it: the store account and the store's validation of it.
fn publisher_name(username: &str, validation: Option<String>) -> String {
    match validation {
        Some(validation) => format!("{username} ({validation})"),
        None => username.to_owned(),
    }
}

/// What snapd keeps on disk of the mounted snaps (`instances`), in the form its API gives: publisher, install time,
/// tracking channel; and the store's snaps among them whose publisher no readable assertion names (a snap installed
/// from a file has none to name). The assertions' signatures are not checked: under `--root` a publisher is what the
/// image says.
fn state_snaps(root: &SystemRoot, instances: &[String]) -> Result<(Vec<ApiSnap>, Vec<String>), String> {
    let data = root
        .read_regular(SNAPD_STATE, STATE_CAP)
        .map_err(|e| format!("{SNAPD_STATE}: {e}"))?
        .ok_or_else(|| format!("{SNAPD_STATE}: not found"))?;
    let snaps = parse_state(&data).map_err(|e| format!("{SNAPD_STATE}: {e}"))?;
    let mut unknown = Vec::new();
    let snaps: Vec<ApiSnap> = snaps
        .into_iter()
        .filter(|snap| instances.contains(&snap.instance))
        .map(|snap| {
            let publisher = snap.snap_id.as_deref().and_then(|id| {
                let declaration = active_assertion(root, "snap-declaration/16", "snap-id", id)?;
                let account =
                    declaration.get("publisher-id").and_then(|p| active_assertion(root, "account", "account-id", p));
                publisher(&declaration, account.as_ref())
            });
            if snap.snap_id.is_some() && publisher.is_none() {
                unknown.push(snap.instance.clone());
            }
            // snapd's own install date: when `current` was last pointed at a revision (the link itself, so the
            // directory is resolved and the link is not).
            let link = root.path(format!("{SNAP_MOUNTS}/{}", snap.instance)).join("current");
            let installed_at = modified_at(std::fs::symlink_metadata(link));
            ApiSnap {
                name: snap.instance,
                revision: snap.revision,
                publisher,
                installed_at,
                tracking_channel: snap.tracking_channel,
            }
        })
        .collect();
    Ok((snaps, unknown))
}

/// The headers of the assertion in force for `id` under one of the database's kinds (`account`,
/// `snap-declaration/16`). snapd keeps each format of an assertion in its own file (`active`, `active.<format>`) and
/// uses the one with the highest revision; a file that names another id than its directory is not one of them.
fn active_assertion(root: &SystemRoot, kind: &str, id_header: &str, id: &str) -> Option<BTreeMap<String, String>> {
    // Store ids are letters, digits and hyphens (snapd refuses others), so an id from the state or an assertion
    // never names another directory.
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let dir = format!("{ASSERTIONS}/{kind}/{id}");
    let mut names: Vec<String> = std::fs::read_dir(root.path(&dir))
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name == "active" || name.strip_prefix("active.").is_some_and(|n| n.parse::<u32>().is_ok()))
        .collect();
    // In a fixed order, so the same files give the same answer: `active` first, then by format.
    names.sort_by_key(|name| name.strip_prefix("active.").and_then(|n| n.parse::<u32>().ok()).unwrap_or(0));
    names
        .into_iter()
        // A handful of formats exist; more files than that is not a database snapd wrote.
        .take(8)
        .filter_map(|name| root.read_regular(format!("{dir}/{name}"), ASSERTION_CAP).ok().flatten())
        .map(|data| assertion_headers(&data))
        .filter(|headers| headers.get(id_header).map(String::as_str) == Some(id))
        // An assertion without a revision header is at revision 0, as snapd reads it.
        .filter_map(|headers| Some((headers.get("revision").map_or(Some(0), |r| r.parse::<u64>().ok())?, headers)))
        // On a tie the first (the lowest format) stays, as in snapd.
        .fold(None, |best: Option<(u64, BTreeMap<String, String>)>, candidate| match best {
            Some(best) if best.0 >= candidate.0 => Some(best),
            _ => Some(candidate),
        })
        .map(|(_, headers)| headers)
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

//! Flatpak applications and runtimes of the system installation (`/var/lib/flatpak`) and of each user's
//! (`~/.local/share/flatpak`): `<installation>/{app,runtime}/<id>/<arch>/<branch>/active/`.
//!
//! Each deployment's `metadata` key file names it (and an application's runtime), the first string of its `deploy`
//! file (a GVariant whose first member is the origin remote) says where it came from, and its AppStream metainfo,
//! when it ships one, gives the version. Without a metainfo version the branch stands in as the version (a runtime's
//! branch, e.g. `23.08`, is its version; an application's is usually `stable`).
//!
//! The package's `path` is the deployment's `metadata` file, which names the ref: `<installation>/<app|runtime>/<id>/
//! <arch>/<branch>/active/metadata`. Origin and runtime have no field in the v1 package yet; see [`Deployment`].

use memchr::memmem;
use muster_shared::v1::{Package, PackageKind, PackageSource};

use super::{DbError, Listing, source};
use crate::root::SystemRoot;

/// Installations: the system one and every user's.
const INSTALLATIONS: [&str; 3] = ["/var/lib/flatpak", "/root/.local/share/flatpak", "/home/*/.local/share/flatpak"];

/// What one deployment says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub id: String,
    pub arch: String,
    pub branch: String,
    pub version: Option<String>,
    pub origin: Option<String>,
    /// An application's runtime ref, e.g. `org.gnome.Platform/x86_64/43`.
    pub runtime: Option<String>,
}

/// The `name` and `runtime` keys of a deployment's `metadata` key file (`[Application]` or `[Runtime]` group).
pub fn parse_flatpak_metadata(data: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(data);
    let mut group = "";
    let (mut name, mut runtime) = (None, None);
    for line in text.lines().map(str::trim) {
        if let Some(g) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            group = if g == "Application" || g == "Runtime" { "main" } else { "" };
            continue;
        }
        let Some((key, value)) = line.split_once('=').filter(|_| group == "main") else { continue };
        match key.trim() {
            "name" => name = Some(value.trim().to_string()),
            "runtime" => runtime = Some(value.trim().to_string()),
            _ => {}
        }
    }
    (name, runtime)
}

/// The origin remote: the first member of the `deploy` GVariant, a NUL-terminated string at its start.
pub fn deploy_origin(data: &[u8]) -> Option<String> {
    let end = memchr::memchr(0, data)?;
    let origin = std::str::from_utf8(&data[..end]).ok()?;
    (!origin.is_empty() && origin.chars().all(|c| c.is_ascii_graphic())).then(|| origin.to_string())
}

/// The newest release's version in an AppStream metainfo: the first `<release version="...">` (AppStream lists
/// releases newest first).
pub fn metainfo_version(data: &[u8]) -> Option<String> {
    let mut at = 0;
    while let Some(found) = memmem::find(&data[at..], b"<release") {
        let start = at + found + b"<release".len();
        at = start;
        // `<releases>` is the container, not a release.
        if !data.get(start).is_some_and(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let end = memchr::memchr(b'>', &data[start..]).map_or(data.len(), |i| start + i);
        return attribute(&data[start..end], b"version");
    }
    None
}

fn attribute(tag: &[u8], name: &[u8]) -> Option<String> {
    let mut at = 0;
    while let Some(found) = memmem::find(&tag[at..], name) {
        let pos = at + found;
        at = pos + name.len();
        let preceded = pos == 0 || tag[pos - 1].is_ascii_whitespace();
        let rest = tag[at..].trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b"=").map(<[u8]>::trim_ascii_start).filter(|_| preceded) else { continue };
        let quote = *rest.first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let len = memchr::memchr(quote, &rest[1..])?;
        return Some(String::from_utf8_lossy(&rest[1..1 + len]).into_owned()).filter(|v| !v.is_empty());
    }
    None
}

pub(super) fn probe(root: &SystemRoot, found: &mut Vec<(PackageSource, Listing)>) {
    for pattern in INSTALLATIONS {
        for (system, host) in super::language::expand(root, pattern) {
            if !host.is_dir() {
                continue;
            }
            let mut listing = Listing::default();
            for kind in ["app", "runtime"] {
                read_kind(root, &format!("{system}/{kind}"), &mut listing);
            }
            found.push((source(PackageKind::Flatpak, &system, "flatpak-deploy"), listing));
        }
    }
}

/// Every `<id>/<arch>/<branch>/active` deployment below `<installation>/app` or `/runtime`.
fn read_kind(root: &SystemRoot, dir: &str, listing: &mut Listing) {
    for id in names(root, dir) {
        for arch in names(root, &format!("{dir}/{id}")) {
            for branch in names(root, &format!("{dir}/{id}/{arch}")) {
                let active = format!("{dir}/{id}/{arch}/{branch}/active");
                if !root.path(&active).is_dir() {
                    continue;
                }
                match read_deployment(root, &active, &id, &arch, &branch) {
                    Ok(deployment) => listing.packages.push(flatpak_package(deployment, format!("{active}/metadata"))),
                    Err(problem) => listing.problems.push(problem),
                }
            }
        }
    }
}

pub(super) fn read_deployment(
    root: &SystemRoot,
    active: &str,
    id: &str,
    arch: &str,
    branch: &str,
) -> Result<Deployment, DbError> {
    let metadata = root
        .read(format!("{active}/metadata"))
        .map_err(|e| DbError::Io(std::io::Error::new(e.kind(), format!("{active}/metadata: {e}"))))?;
    let (name, runtime) = parse_flatpak_metadata(&metadata);
    if name.as_deref().is_some_and(|n| n != id) {
        return Err(DbError::Corrupt(format!(
            "{active}/metadata names {} in the directory of {id}",
            name.unwrap_or_default()
        )));
    }
    let origin = root.read(format!("{active}/deploy")).ok().and_then(|d| deploy_origin(&d));
    let version = ["metainfo", "appdata"].iter().find_map(|dir| {
        ["metainfo.xml", "appdata.xml"].iter().find_map(|ext| {
            let data = root.read(format!("{active}/files/share/{dir}/{id}.{ext}")).ok()?;
            metainfo_version(&data)
        })
    });
    Ok(Deployment { id: id.to_string(), arch: arch.to_string(), branch: branch.to_string(), version, origin, runtime })
}

fn names(root: &SystemRoot, dir: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.path(dir)) else { return Vec::new() };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    out.sort();
    out
}

fn flatpak_package(deployment: Deployment, path: String) -> Package {
    let version = deployment.version.unwrap_or(deployment.branch);
    Package {
        arch: Some(deployment.arch),
        path: Some(path),
        ..Package::new(PackageKind::Flatpak, deployment.id, version)
    }
}

//! pnpm's `pnpm-lock.yaml`, for a project without an installed `node_modules` (see [`super::lockfile`] for npm's).
//!
//! Its three layouts name packages differently: lockfile version 5.x `/name/1.2.3_peer@1.0.0`, 6.x
//! `/name@1.2.3(peer@1.0.0)` and 9.x `name@1.2.3(peer@1.0.0)`; the peer-dependency suffix is not part of the version
//! and is dropped. Versions 5 and 6 mark packages only development dependencies need (`dev: true`), which are left
//! out. Version 9 no longer marks them: the packages listed are those reached through `snapshots` from every
//! importer's (workspace package's) `dependencies` and `optionalDependencies`, never from its `devDependencies`,
//! which is what `pnpm install --prod` installs. Entries that are not registry packages (`file:`, `link:`, git and
//! tarball addresses) are left out.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Deserialize;

use super::Parsed;

#[derive(Deserialize)]
struct Lockfile {
    #[serde(rename = "lockfileVersion")]
    version: Option<serde_norway::Value>,
    #[serde(default)]
    importers: BTreeMap<String, Importer>,
    #[serde(default)]
    packages: BTreeMap<String, Option<Package>>,
    #[serde(default)]
    snapshots: BTreeMap<String, Option<Snapshot>>,
}

#[derive(Deserialize)]
struct Importer {
    #[serde(default)]
    dependencies: BTreeMap<String, ImporterDependency>,
    #[serde(default, rename = "optionalDependencies")]
    optional: BTreeMap<String, ImporterDependency>,
}

/// Version 9: `{specifier, version}` (older versions' importers are not read).
#[derive(Deserialize)]
struct ImporterDependency {
    version: String,
}

#[derive(Deserialize)]
struct Package {
    dev: Option<bool>,
}

#[derive(Deserialize)]
struct Snapshot {
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default, rename = "optionalDependencies")]
    optional: BTreeMap<String, String>,
}

/// The packages a `pnpm-lock.yaml` pins, sorted and each name and version once.
pub fn parse_pnpm_lock(data: &[u8]) -> Result<Vec<Parsed>, String> {
    let lock: Lockfile = serde_norway::from_slice(data).map_err(|e| format!("not a pnpm lockfile: {e}"))?;
    let version = match &lock.version {
        Some(serde_norway::Value::String(text)) => text.clone(),
        Some(serde_norway::Value::Number(number)) => number.to_string(),
        _ => return Err("no lockfileVersion".to_string()),
    };
    let major = version.split('.').next().unwrap_or_default();
    let keys: Vec<String> = match major {
        "5" | "6" => {
            let runtime = lock.packages.into_iter().filter(|(_, p)| p.as_ref().and_then(|p| p.dev) != Some(true));
            runtime.filter_map(|(key, _)| key.strip_prefix('/').map(str::to_string)).collect()
        }
        "9" => reached(&lock.importers, &lock.snapshots),
        _ => return Err(format!("unsupported lockfileVersion {version}")),
    };
    let split = if major == "5" { split_v5 } else { split_v6 };
    let packages: BTreeSet<(String, String)> = keys.iter().filter_map(|key| split(key)).collect();
    Ok(packages.into_iter().map(|(name, version)| Parsed { name, version }).collect())
}

/// Version 9: the snapshot keys reached from the importers' runtime dependencies.
fn reached(importers: &BTreeMap<String, Importer>, snapshots: &BTreeMap<String, Option<Snapshot>>) -> Vec<String> {
    let mut stack: Vec<String> = importers
        .values()
        .flat_map(|importer| importer.dependencies.iter().chain(&importer.optional))
        .map(|(name, dependency)| snapshot_key(name, &dependency.version))
        .collect();
    let mut seen = HashSet::new();
    while let Some(key) = stack.pop() {
        let Some(snapshot) = snapshots.get(&key) else { continue };
        if !seen.insert(key) {
            continue;
        }
        if let Some(snapshot) = snapshot {
            stack.extend(snapshot.dependencies.iter().chain(&snapshot.optional).map(|(n, r)| snapshot_key(n, r)));
        }
    }
    seen.into_iter().collect()
}

/// A dependency's snapshot: `name@reference`, or the reference itself when it names another package (an alias,
/// `string-width-cjs: string-width@4.2.3`).
fn snapshot_key(name: &str, reference: &str) -> String {
    let bare = reference.split_once('(').map_or(reference, |(bare, _)| bare);
    if bare.get(1..).is_some_and(|rest| rest.contains('@')) {
        reference.to_string()
    } else {
        format!("{name}@{reference}")
    }
}

/// Versions 6 and 9: `name@1.2.3(peer@1.0.0)`.
fn split_v6(key: &str) -> Option<(String, String)> {
    let bare = key.split_once('(').map_or(key, |(bare, _)| bare);
    let at = bare.get(1..)?.rfind('@')? + 1;
    registry(&bare[..at], &bare[at + 1..])
}

/// Version 5: `name/1.2.3_peer@1.0.0` or `@scope/name/1.2.3`.
fn split_v5(key: &str) -> Option<(String, String)> {
    let skip = if key.starts_with('@') { key.find('/')? + 1 } else { 0 };
    let slash = skip + key[skip..].find('/')?;
    let version = &key[slash + 1..];
    registry(&key[..slash], version.split_once('_').map_or(version, |(version, _)| version))
}

fn registry(name: &str, version: &str) -> Option<(String, String)> {
    let plain = !name.is_empty() && !version.is_empty() && !version.contains([':', '/', ' ']);
    plain.then(|| (name.to_string(), version.to_string()))
}

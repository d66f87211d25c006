//! npm's lockfiles (`package-lock.json`, `npm-shrinkwrap.json`) in a project that has no `node_modules` installed
//! beside them (a checkout, a deployment bundle): what `npm ci` would install. An installed `node_modules` is read
//! instead when there is one, so a project's packages are not listed twice.
//!
//! Version 2 and 3 lockfiles list every installed path under `packages` (`node_modules/a/node_modules/b`); version
//! 1 nests `dependencies`. Development dependencies (`"dev": true`) are left out, as are links to workspace
//! directories and versions that are not registry versions (`git+…`, `file:…`, `npm:` aliases).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde::Deserialize;

use super::Parsed;

#[derive(Deserialize)]
struct Lockfile {
    /// Versions 2 and 3 (version 2 has both; `packages` is read).
    #[serde(default)]
    packages: Option<BTreeMap<String, PathEntry>>,
    /// Version 1.
    #[serde(default)]
    dependencies: Option<BTreeMap<String, NestedEntry>>,
}

#[derive(Deserialize)]
struct PathEntry {
    version: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    link: bool,
}

#[derive(Deserialize)]
struct NestedEntry {
    version: Option<String>,
    #[serde(default)]
    dev: bool,
    /// The packages installed below this one.
    #[serde(default)]
    dependencies: BTreeMap<String, NestedEntry>,
}

/// The packages a lockfile pins, sorted and each name and version once.
pub fn parse_package_lock(reader: impl Read) -> Result<Vec<Parsed>, String> {
    let lock: Lockfile =
        serde_json::from_reader(std::io::BufReader::new(reader)).map_err(|e| format!("not JSON: {e}"))?;
    let mut out = BTreeSet::new();
    match (lock.packages, lock.dependencies) {
        (Some(packages), _) => {
            for (key, entry) in packages {
                // "" is the project itself; keys without node_modules/ are its workspace directories.
                let Some((_, name)) = key.rsplit_once("node_modules/") else { continue };
                if !entry.dev && !entry.link {
                    insert(&mut out, name, entry.version.as_deref());
                }
            }
        }
        (None, Some(dependencies)) => nested(&mut out, &dependencies),
        (None, None) => return Err("neither packages nor dependencies".to_string()),
    }
    Ok(out.into_iter().map(|(name, version)| Parsed { name, version }).collect())
}

fn nested(out: &mut BTreeSet<(String, String)>, dependencies: &BTreeMap<String, NestedEntry>) {
    for (name, entry) in dependencies {
        if !entry.dev {
            insert(out, name, entry.version.as_deref());
        }
        nested(out, &entry.dependencies);
    }
}

fn insert(out: &mut BTreeSet<(String, String)>, name: &str, version: Option<&str>) {
    if let Some(version) = version.filter(|v| !v.is_empty() && !v.contains(':')) {
        out.insert((name.to_string(), version.to_string()));
    }
}

//! Yarn's `yarn.lock`, in both of its formats, for a project without an installed `node_modules` (see
//! [`super::lockfile`] for npm's): classic Yarn 1's own indented format, and Yarn 2+'s ("berry") YAML.
//!
//! Neither format marks development dependencies: Yarn 1 lists every resolved descriptor, and berry merges a
//! workspace's `devDependencies` into its `dependencies`. The project's `package.json` beside the lockfile says
//! which are which, so when it is given the packages listed are those reached from its `dependencies` and
//! `optionalDependencies` (in berry, also from every other workspace's entry, whose dev dependencies the lockfile
//! does not separate and which are therefore listed). Without a `package.json`, and for a Yarn 1 project declaring
//! `workspaces` (whose members' manifests are elsewhere), nothing tells development dependencies apart and every
//! package is listed: over-reporting a package beats missing a vulnerable one.
//!
//! Versions that are not registry versions are left out: Yarn 1 specifiers with a protocol or a path (`git+…`,
//! `file:…`, `user/repo`), berry resolutions other than `npm:` (`workspace:`, `link:`, `portal:`, `git…`). A berry
//! `patch:` entry is left out too: the package it patches always has its own `npm:` entry in the same lockfile
//! (Yarn resolves the original to patch it), which is listed. An alias (`foo@npm:bar@^1`) is listed under the
//! package it installs, `bar`.
//!
//! Yarn 1's format is not YAML (`key "value"` pairs, comma-separated keys), so it is read by the small parser
//! below; berry's is read with `serde_norway`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Deserialize;

use super::Parsed;

/// The packages a `yarn.lock` pins, sorted and each name and version once. `manifest` is the `package.json`
/// beside it, when there is one.
pub fn parse_yarn_lock(data: &[u8], manifest: Option<&Manifest>) -> Result<Vec<Parsed>, String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("not UTF-8: {e}"))?;
    let graph = if text.lines().any(|line| line.starts_with("__metadata:")) {
        berry(text, manifest)?
    } else if text.lines().take(8).any(|line| line.trim() == "# yarn lockfile v1") {
        classic(text, manifest)?
    } else {
        return Err("neither a yarn lockfile v1 nor a yarn 2+ lockfile".to_string());
    };
    Ok(graph.packages())
}

/// What a project's `package.json` says about its dependencies.
pub struct Manifest {
    /// `dependencies` and `optionalDependencies`: name to range.
    runtime: BTreeMap<String, String>,
    /// Names only in `devDependencies`.
    dev_only: HashSet<String>,
    /// Whether it declares workspaces (whose members' dependencies are in their own manifests).
    workspaces: bool,
}

impl Manifest {
    pub fn parse(data: &[u8]) -> Result<Manifest, String> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            dependencies: BTreeMap<String, String>,
            #[serde(default, rename = "optionalDependencies")]
            optional: BTreeMap<String, String>,
            #[serde(default, rename = "devDependencies")]
            dev: BTreeMap<String, String>,
            workspaces: Option<serde::de::IgnoredAny>,
        }
        let raw: Raw = serde_json::from_slice(data).map_err(|e| format!("not a package.json: {e}"))?;
        let mut runtime = raw.dependencies;
        runtime.extend(raw.optional);
        let dev_only = raw.dev.into_keys().filter(|name| !runtime.contains_key(name)).collect();
        Ok(Manifest { runtime, dev_only, workspaces: raw.workspaces.is_some() })
    }
}

/// The lockfile's entries by descriptor (each entry under every descriptor of its key), and the descriptors the
/// project's runtime dependencies start from (`None`: every entry counts).
#[derive(Default)]
struct Graph {
    /// Index into `entries` of each descriptor (`name@range`).
    by_descriptor: HashMap<String, usize>,
    entries: Vec<Entry>,
    roots: Option<Vec<String>>,
}

struct Entry {
    /// The installed package, when it is a registry one.
    package: Option<(String, String)>,
    /// The descriptors of its dependencies.
    dependencies: Vec<String>,
}

impl Graph {
    fn add(&mut self, descriptors: &[String], entry: Entry) {
        for descriptor in descriptors {
            self.by_descriptor.insert(descriptor.clone(), self.entries.len());
        }
        self.entries.push(entry);
    }

    /// The registry packages of the entries reached from the roots (or of every entry).
    fn packages(self) -> Vec<Parsed> {
        let reached: Vec<usize> = match &self.roots {
            None => (0..self.entries.len()).collect(),
            Some(roots) => {
                let mut seen = vec![false; self.entries.len()];
                let mut stack: Vec<usize> = roots.iter().filter_map(|d| self.by_descriptor.get(d).copied()).collect();
                while let Some(index) = stack.pop() {
                    if std::mem::replace(&mut seen[index], true) {
                        continue;
                    }
                    let next = self.entries[index].dependencies.iter();
                    stack.extend(next.filter_map(|d| self.by_descriptor.get(d).copied()));
                }
                (0..self.entries.len()).filter(|&i| seen[i]).collect()
            }
        };
        let packages: BTreeSet<(String, String)> =
            reached.into_iter().filter_map(|i| self.entries[i].package.clone()).collect();
        packages.into_iter().map(|(name, version)| Parsed { name, version }).collect()
    }
}

/// Yarn 1: blocks of `descriptor, descriptor:` at column 0, then `  version "1.2.3"` and `  dependencies:` with
/// `    name "range"` lines.
fn classic(text: &str, manifest: Option<&Manifest>) -> Result<Graph, String> {
    let mut graph = Graph {
        roots: manifest
            .filter(|m| !m.workspaces)
            .map(|m| m.runtime.iter().map(|(name, range)| format!("{name}@{range}")).collect()),
        ..Graph::default()
    };
    let mut block: Option<(Vec<String>, Option<String>, Vec<String>)> = None;
    let mut in_dependencies = false;
    for (number, line) in text.lines().enumerate() {
        let at = |reason: &str| format!("line {}: {reason}", number + 1);
        if line.starts_with("<<<<<<<") || line.starts_with(">>>>>>>") {
            return Err(at("merge conflict marker"));
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = line[indent..].trim_end();
        match indent {
            0 => {
                let keys = rest.strip_suffix(':').ok_or_else(|| at("an entry's key does not end with ':'"))?;
                let descriptors = tokens(keys, true).ok_or_else(|| at("bad quoting"))?;
                if let Some((descriptors, version, dependencies)) = block.take() {
                    graph.add(&descriptors, classic_entry(&descriptors, version, dependencies));
                }
                block = Some((descriptors, None, Vec::new()));
                in_dependencies = false;
            }
            2 => {
                let (_, version, _) = block.as_mut().ok_or_else(|| at("a field outside an entry"))?;
                let fields = tokens(rest, false).ok_or_else(|| at("bad quoting"))?;
                in_dependencies = matches!(rest, "dependencies:" | "optionalDependencies:");
                if let [key, value] = &fields[..]
                    && key == "version"
                {
                    *version = Some(value.clone());
                }
            }
            4 if in_dependencies => {
                let (_, _, dependencies) = block.as_mut().ok_or_else(|| at("a dependency outside an entry"))?;
                match &tokens(rest, false).ok_or_else(|| at("bad quoting"))?[..] {
                    [name, range] => dependencies.push(format!("{name}@{range}")),
                    _ => return Err(at("a dependency is not a name and a range")),
                }
            }
            _ => {}
        }
    }
    if let Some((descriptors, version, dependencies)) = block.take() {
        graph.add(&descriptors, classic_entry(&descriptors, version, dependencies));
    }
    Ok(graph)
}

/// A Yarn 1 entry's package: registry descriptors only (a range or a tag, or an `npm:` alias, named by the
/// package it installs).
fn classic_entry(descriptors: &[String], version: Option<String>, dependencies: Vec<String>) -> Entry {
    let registry_name = descriptors.iter().find_map(|descriptor| {
        let (name, range) = split_name(descriptor)?;
        let (name, range) = match range.strip_prefix("npm:") {
            Some(aliased) => split_name(aliased)?,
            None => (name, range),
        };
        (!range.contains(':') && !range.contains('/')).then(|| name.to_string())
    });
    let package = registry_name.zip(version.filter(|v| is_plain_version(v)));
    Entry { package, dependencies }
}

/// Splits `name@range` (the name may be scoped, `@scope/name`).
fn split_name(descriptor: &str) -> Option<(&str, &str)> {
    let at = descriptor.get(1..)?.find('@')? + 1;
    Some((&descriptor[..at], &descriptor[at + 1..]))
}

fn is_plain_version(version: &str) -> bool {
    !version.is_empty() && !version.contains([':', '/', ' '])
}

/// The tokens of a Yarn 1 line: quoted strings (JSON escapes) or bare words, separated by spaces, or by commas
/// when `commas` (a key line). `None` when a quote is not closed.
fn tokens(line: &str, commas: bool) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' || (commas && c == ',') {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut token = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => token.push(chars.next()?),
                    other => token.push(other),
                }
            }
            out.push(token);
        } else {
            let mut token = String::new();
            while let Some(&c) = chars.peek() {
                if c == ' ' || (commas && c == ',') {
                    break;
                }
                token.push(c);
                chars.next();
            }
            out.push(token.trim_end_matches(':').to_string());
        }
    }
    Some(out)
}

#[derive(Deserialize)]
struct BerryEntry {
    resolution: Option<String>,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
}

/// Yarn 2+: a YAML map from `descriptor, descriptor` to the entry, `__metadata` first.
fn berry(text: &str, manifest: Option<&Manifest>) -> Result<Graph, String> {
    let mut lock: BTreeMap<String, Option<BerryEntry>> =
        serde_norway::from_str(text).map_err(|e| format!("not a yarn 2+ lockfile: {e}"))?;
    lock.remove("__metadata").ok_or("no __metadata")?;
    let mut graph = Graph::default();
    let mut roots = Vec::new();
    for (key, entry) in lock {
        let Some(entry) = entry else { continue };
        let descriptors: Vec<String> = key.split(", ").map(str::to_string).collect();
        let resolution = entry.resolution.unwrap_or_default();
        let (name, reference) = split_name(&resolution).unwrap_or_default();
        let workspace = reference.starts_with("workspace:");
        // A package from another registry carries its address after `::` (`npm:1.2.3::__archiveUrl=…`).
        let package = reference
            .strip_prefix("npm:")
            .map(|version| version.split_once("::").map_or(version, |(version, _)| version))
            .filter(|version| is_plain_version(version))
            .map(|version| (name.to_string(), version.to_string()));
        let root_workspace = reference == "workspace:.";
        let mut dependencies = Vec::new();
        for (dependency, range) in entry.dependencies {
            // The project's own development dependencies, as its package.json names them.
            if root_workspace && manifest.is_some_and(|m| m.dev_only.contains(&dependency)) {
                continue;
            }
            dependencies.push(format!("{dependency}@{range}"));
        }
        if workspace {
            roots.extend(descriptors.iter().cloned());
        }
        graph.add(&descriptors, Entry { package, dependencies });
    }
    // A lockfile without its workspace's entry leaves nothing to start from: every entry counts.
    graph.roots = manifest.filter(|_| !roots.is_empty()).map(|_| roots);
    Ok(graph)
}

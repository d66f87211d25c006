//! Pending upgrades on Alpine, computed offline from the indexes `apk update` cached, the way `apk upgrade` picks.
//!
//! `/etc/apk/repositories` (and `repositories.d/*.list`) name the repositories; apk keeps each remote one's index
//! as `/var/cache/apk/APKINDEX.<first 4 bytes of SHA-1 of the URL, hex>.tar.gz` and reads local ones in place.
//! Each installed package's candidate is the highest version in apk's order among the untagged repositories (and
//! the repository its `/etc/apk/world` entry pins with `@tag`) that the world's version constraint allows.

pub mod index;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use muster_shared::v1::{AutomaticUpdates, ErrorKind, Package, PendingUpdate, RebootRequired, SectionName};
use muster_shared::version::apk::{self as apk_version, Constraint};
use sha1::{Digest, Sha1};

use crate::root::{ErrorLog, SystemRoot};

const SECTION: SectionName = SectionName::Patches;
pub const REPOSITORIES: &str = "/etc/apk/repositories";
const REPOSITORIES_D: &str = "/etc/apk/repositories.d";
pub const CACHE_DIR: &str = "/var/cache/apk";
const WORLD: &str = "/etc/apk/world";
const ARCH: &str = "/etc/apk/arch";

/// One line of the repositories file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// `@tag` without the `@`; tagged repositories serve only packages the world pins to them.
    pub tag: Option<String>,
    pub url: String,
    pub origin: String,
}

/// Parses a repositories file: one `[@tag] url` per line, `#` comments.
pub fn parse_repositories(text: &str, path: &str) -> Vec<Repository> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next();
        let (tag, url) = match first.and_then(|w| w.strip_prefix('@')) {
            Some(tag) => (Some(tag.to_string()), words.next()),
            None => (None, first),
        };
        if let Some(url) = url {
            out.push(Repository { tag, url: url.to_string(), origin: format!("{path}:{}", index + 1) });
        }
    }
    out
}

/// The cache file name apk-tools 2 gives a remote repository's index.
pub fn cache_file_name(url: &str) -> String {
    let digest = Sha1::digest(url.as_bytes());
    format!("APKINDEX.{}.tar.gz", hex::encode(&digest[..4]))
}

/// One `/etc/apk/world` entry: `name[@tag][op version]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldEntry {
    pub name: String,
    pub tag: Option<String>,
    pub constraint: Option<(Constraint, String)>,
}

pub fn parse_world(text: &str) -> Vec<WorldEntry> {
    text.split_whitespace()
        .filter(|w| !w.starts_with('!'))
        .map(|word| {
            let op_at = word.find(['<', '>', '=', '~']).unwrap_or(word.len());
            let (head, rest) = word.split_at(op_at);
            let version_at = rest.find(|c| !matches!(c, '<' | '>' | '=' | '~')).unwrap_or(rest.len());
            let (op, version) = rest.split_at(version_at);
            let constraint = Constraint::parse(op).ok().map(|c| (c, version.to_string()));
            let (name, tag) = match head.split_once('@') {
                Some((name, tag)) => (name.to_string(), Some(tag.to_string())),
                None => (head.to_string(), None),
            };
            WorldEntry { name, tag, constraint }
        })
        .collect()
}

/// Pure: the pending upgrades of `installed` given each repository's offers (`(tag, packages)`) and the world.
pub fn plan(
    installed: &[&Package],
    offers: &[(Option<&str>, Vec<index::Offered>)],
    world: &[WorldEntry],
) -> Vec<PendingUpdate> {
    let world: HashMap<&str, &WorldEntry> = world.iter().map(|w| (w.name.as_str(), w)).collect();
    let mut pending = Vec::new();
    for package in installed {
        let entry = world.get(package.name.as_str());
        let pinned_tag = entry.and_then(|e| e.tag.as_deref());
        let best = offers
            .iter()
            .filter(|(tag, _)| tag.is_none() || *tag == pinned_tag)
            .flat_map(|(_, offered)| offered.iter())
            .filter(|o| o.name == package.name)
            .filter(|o| match entry.and_then(|e| e.constraint.as_ref()) {
                Some((constraint, wanted)) => constraint.matches(&o.version, wanted),
                None => true,
            })
            .max_by(|a, b| apk_version::compare(&a.version, &b.version));
        if let Some(best) = best
            && apk_version::compare(&best.version, &package.version) == std::cmp::Ordering::Greater
        {
            pending.push(PendingUpdate {
                name: package.name.clone(),
                arch: package.arch.clone(),
                installed_version: package.version.clone(),
                candidate_version: best.version.clone(),
                security: false,
                origin: None,
            });
        }
    }
    pending.sort_by(|a, b| a.name.cmp(&b.name));
    pending
}

/// Pending upgrades and the newest index refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingState {
    pub pending: Option<Vec<PendingUpdate>>,
    pub lists_updated_at: Option<DateTime<Utc>>,
}

/// Reads the configured repositories' cached indexes and computes pending upgrades of `installed`.
pub fn pending(root: &SystemRoot, installed: &[&Package], errors: &mut ErrorLog) -> PendingState {
    let mut repositories = Vec::new();
    let mut files = vec![REPOSITORIES.to_string()];
    if let Ok(entries) = std::fs::read_dir(root.path(REPOSITORIES_D)) {
        let mut lists: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".list"))
            .map(|n| format!("{REPOSITORIES_D}/{n}"))
            .collect();
        lists.sort();
        files.extend(lists);
    }
    for path in &files {
        match root.read_to_string(path) {
            Ok(text) => repositories.extend(parse_repositories(&text, path)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && path != REPOSITORIES => {}
            Err(err) => errors.io(SECTION, path.clone(), &err),
        }
    }
    if repositories.is_empty() {
        errors.record(SECTION, REPOSITORIES, ErrorKind::NotFound, "no apk repository is configured");
        return PendingState { pending: None, lists_updated_at: None };
    }
    let arch = root.read_to_string(ARCH).ok().map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    let names: HashSet<&str> = installed.iter().map(|p| p.name.as_str()).collect();
    let mut offers = Vec::new();
    let mut newest: Option<chrono::DateTime<chrono::Utc>> = None;
    let mut complete = true;
    for repository in &repositories {
        let Some((path, display)) = index_path(root, repository, arch.as_deref()) else {
            errors.record(
                SECTION,
                format!("{CACHE_DIR}/{}", cache_file_name(&repository.url)),
                ErrorKind::NotFound,
                format!("{} is configured ({}) but its index is not cached", repository.url, repository.origin),
            );
            continue;
        };
        // Each file's time converted on its own: one out of range must not hide the others'.
        if let Some(modified) = crate::root::modified_at(std::fs::metadata(&path)) {
            newest = Some(newest.map_or(modified, |n| n.max(modified)));
        }
        let result = std::fs::File::open(&path)
            .map_err(index::IndexError::from)
            .and_then(|file| index::read(file, |name| names.contains(name)));
        match result {
            Ok(offered) => offers.push((repository.tag.as_deref(), offered)),
            Err(err) => {
                errors.record(SECTION, display, ErrorKind::Parse, err.to_string());
                complete = false;
            }
        }
    }
    let lists_updated_at = newest;
    if !complete {
        return PendingState { pending: None, lists_updated_at };
    }
    let world = root.read_to_string(WORLD).map(|t| parse_world(&t)).unwrap_or_default();
    PendingState { pending: Some(plan(installed, &offers, &world)), lists_updated_at }
}

/// Where apk reads a repository's index: in place for a local directory, from the cache for a remote one.
fn index_path(root: &SystemRoot, repository: &Repository, arch: Option<&str>) -> Option<(PathBuf, String)> {
    let local = repository
        .url
        .strip_prefix("file://")
        .or_else(|| repository.url.starts_with('/').then_some(&repository.url[..]));
    let display = match (local, arch) {
        (Some(dir), Some(arch)) => format!("{}/{arch}/APKINDEX.tar.gz", dir.trim_end_matches('/')),
        (Some(_), None) => return None,
        (None, _) => format!("{CACHE_DIR}/{}", cache_file_name(&repository.url)),
    };
    let path = root.path(&display);
    path.is_file().then_some((path, display))
}

/// Whether the running kernel is older than its installed package: Alpine's `linux-<flavour>` package
/// (`linux-lts 6.6.30-r0`) installs release `6.6.30-0-lts`. Live systems only.
pub fn reboot_required(running: &str, installed: &[&Package]) -> RebootRequired {
    let (version, rest) = running.split_once('-').unwrap_or((running, ""));
    let (revision, flavour) = rest.split_once('-').unwrap_or(("0", rest));
    let package_name = format!("linux-{flavour}");
    let running_version = format!("{version}-r{revision}");
    let newer = installed.iter().find(|p| {
        p.name == package_name && apk_version::compare(&p.version, &running_version) == std::cmp::Ordering::Greater
    });
    match newer {
        Some(package) => RebootRequired {
            required: true,
            reasons: vec![format!(
                "running kernel {running} is older than the installed {} {}",
                package.name, package.version
            )],
            packages: vec![package.name.clone()],
        },
        None => RebootRequired { required: false, reasons: Vec::new(), packages: Vec::new() },
    }
}

/// Alpine has no update service of its own; automatic upgrades are an `apk upgrade` in a periodic job.
pub fn automatic(jobs: &[(String, String)]) -> AutomaticUpdates {
    let found: Vec<String> = jobs
        .iter()
        .flat_map(|(path, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim_start().starts_with('#') && runs_apk_upgrade(l))
                .map(move |(i, l)| format!("{path}:{}: {}", i + 1, l.trim()))
        })
        .collect();
    if found.is_empty() {
        return AutomaticUpdates {
            enabled: false,
            mechanism: None,
            evidence: vec!["no periodic job or crontab runs apk upgrade".to_string()],
        };
    }
    AutomaticUpdates { enabled: true, mechanism: Some("cron (apk upgrade)".to_string()), evidence: found }
}

/// Where Alpine's busybox crond looks for jobs.
pub const JOB_PLACES: [&str; 6] = [
    "/etc/crontabs/root",
    "/etc/periodic/15min",
    "/etc/periodic/hourly",
    "/etc/periodic/daily",
    "/etc/periodic/weekly",
    "/etc/periodic/monthly",
];

fn runs_apk_upgrade(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.iter().enumerate().any(|(i, w)| (*w == "apk" || w.ends_with("/apk")) && words[i + 1..].contains(&"upgrade"))
}

#[cfg(test)]
mod tests;

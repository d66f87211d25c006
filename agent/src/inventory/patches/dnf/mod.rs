//! Pending updates on rpm systems (dnf, yum, zypper), computed offline from the repositories' cached rpm-md
//! metadata the way `dnf check-update` and `dnf updateinfo list` would, without touching the network.
//!
//! Reads the main configuration and `*.repo` files for the enabled repositories, each one's cached `repomd.xml`,
//! primary (XML, or yum's SQLite) and `updateinfo`, and compares them with the rpmdb's packages in rpm's order.

pub mod automatic;
pub mod cache;
pub mod ini;
pub mod metadata;
pub mod plan;
pub mod reboot;
pub mod repos;

use std::collections::HashSet;
use std::path::Path;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use muster_shared::v1::{ErrorKind, Package, PendingUpdate, SectionName, UpdateAdvisory};

use self::cache::RepoCache;
use self::metadata::{Advisory, MetadataError, Nevra};
use self::plan::Offer;
use self::repos::{MainConf, Manager, Repo};
use crate::root::{ErrorLog, SystemRoot};

const SECTION: SectionName = SectionName::Patches;

/// Pending updates, the advisories covering them, and how fresh the metadata is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingState {
    /// `None` when some enabled repository's metadata could not be read: a partial answer would hide updates.
    pub pending: Option<Vec<PendingUpdate>>,
    pub advisories: Vec<UpdateAdvisory>,
    /// When the package manager last found the metadata current (the newest of the repositories, as dnf reports).
    pub lists_updated_at: Option<DateTime<Utc>>,
}

/// The rpm package manager this root uses, by its configuration: dnf 5 or 4 before yum (RHEL 8 keeps
/// `/etc/yum.conf` as a link to dnf's), then zypper.
pub fn detect(root: &SystemRoot) -> Option<Manager> {
    if root.exists("/usr/bin/dnf5") {
        Some(Manager::Dnf5)
    } else if root.exists("/etc/dnf/dnf.conf") || root.exists("/usr/bin/dnf") {
        Some(Manager::Dnf)
    } else if root.exists("/etc/yum.conf") || root.exists("/usr/bin/yum") {
        Some(Manager::Yum)
    } else if root.exists("/etc/zypp/zypp.conf") || root.exists("/usr/bin/zypper") {
        Some(Manager::Zypper)
    } else {
        None
    }
}

/// The main configuration and every repository file, in the order the package manager reads them.
pub fn read_repos(root: &SystemRoot, manager: Manager, errors: &mut ErrorLog) -> (MainConf, Vec<Repo>) {
    let main = match manager.main_conf() {
        Some(path) => match root.read_to_string(path) {
            Ok(text) => repos::parse_main_conf(&text, path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => MainConf::default(),
            Err(err) => {
                errors.io(SECTION, path, &err);
                MainConf::default()
            }
        },
        None => MainConf::default(),
    };
    let mut all = main.repos.clone();
    let dirs: Vec<String> =
        main.repo_dirs.clone().unwrap_or_else(|| manager.default_repo_dirs().iter().map(|d| d.to_string()).collect());
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(root.path(&dir)) else { continue };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".repo"))
            .collect();
        names.sort();
        for name in names {
            let path = format!("{}/{name}", dir.trim_end_matches('/'));
            match root.read_to_string(&path) {
                Ok(text) => all.extend(repos::parse_repo_file(&text, &path)),
                Err(err) => errors.io(SECTION, path, &err),
            }
        }
    }
    (main, all)
}

/// Computes pending updates of `installed` (the rpm packages) from the enabled repositories' caches.
pub fn pending(root: &SystemRoot, manager: Manager, installed: &[&Package], errors: &mut ErrorLog) -> PendingState {
    let (main, repos) = read_repos(root, manager, errors);
    let enabled: Vec<&Repo> = repos.iter().filter(|r| r.enabled).collect();
    if enabled.is_empty() {
        errors.record(
            SECTION,
            "patches.repositories",
            ErrorKind::NotFound,
            format!("no enabled {} repository is configured, so no update can be known", manager.name()),
        );
        return PendingState { pending: None, advisories: Vec::new(), lists_updated_at: None };
    }
    let cache_dir = main.cache_dir.clone().unwrap_or_else(|| manager.default_cache_dir().to_string());
    let names: HashSet<&str> = installed.iter().map(|p| p.name.as_str()).collect();
    let mut ids = Vec::new();
    let mut offers = Vec::new();
    let mut advisories = Vec::new();
    let mut newest: Option<chrono::DateTime<chrono::Utc>> = None;
    let mut complete = true;
    for repo in enabled {
        let Some(cache) = cache::locate(root, manager, &cache_dir, &repo.id) else {
            errors.record(
                SECTION,
                format!("{cache_dir}/{}", repo.id),
                ErrorKind::NotFound,
                format!(
                    "repository {} is enabled ({}) but has no cached metadata; {} sees no packages from it until it \
                     refreshes",
                    repo.id,
                    repo.origin,
                    manager.name()
                ),
            );
            continue;
        };
        let index = ids.len();
        ids.push(repo.id.clone());
        match read_repo(manager, &cache, &names, errors) {
            Ok(data) => {
                offers.extend(data.packages.into_iter().map(|nevra| Offer { nevra, repo: index }));
                advisories.extend(data.advisories);
                if let Some(at) = data.checked_at.and_then(crate::root::file_time) {
                    newest = Some(newest.map_or(at, |n| n.max(at)));
                }
            }
            Err((display, err)) => {
                errors.record(SECTION, display, ErrorKind::Parse, err.to_string());
                complete = false;
            }
        }
    }
    let lists_updated_at = newest;
    if !complete {
        return PendingState { pending: None, advisories: Vec::new(), lists_updated_at };
    }
    let (pending, covering) = plan::plan(installed, &offers, &ids, &advisories);
    PendingState { pending: Some(pending), advisories: covering, lists_updated_at }
}

/// What one repository's cache holds for us.
struct RepoData {
    packages: Vec<Nevra>,
    advisories: Vec<Advisory>,
    checked_at: Option<SystemTime>,
}

type RepoError = (String, MetadataError);

fn read_repo(
    manager: Manager,
    cache: &RepoCache,
    names: &HashSet<&str>,
    errors: &mut ErrorLog,
) -> Result<RepoData, RepoError> {
    let missing =
        |display: String, what: &str| (display, MetadataError::Invalid(format!("{what} is not in the cache")));
    let (repomd_path, repomd_display) = cache.repomd().ok_or_else(|| missing(cache.display.clone(), "repomd.xml"))?;
    let refs =
        metadata::open(&repomd_path).and_then(metadata::parse_repomd).map_err(|err| (repomd_display.clone(), err))?;
    let href = |kind: &str| refs.iter().find(|r| r.kind == kind).map(|r| r.href.as_str());

    let mut packages = Vec::new();
    let wanted = |name: &str| names.contains(name);
    let primary_db = if manager == Manager::Yum { cache.yum_primary_db() } else { None };
    let primary_mtime = if let Some((path, display)) = primary_db {
        scan_primary_db(&path, wanted, |n| packages.push(n)).map_err(|err| (display, err))?;
        None
    } else {
        let href = href("primary").ok_or_else(|| missing(repomd_display.clone(), "a primary entry"))?;
        let (path, display) =
            cache.data_file(href).ok_or_else(|| missing(format!("{}/{href}", cache.display), href))?;
        metadata::open(&path)
            .and_then(|input| metadata::scan_primary(input, wanted, |n| packages.push(n)))
            .map_err(|err| (display, err))?;
        modified(&path)
    };
    let advisories = match href("updateinfo") {
        Some(href) => match cache.data_file(href) {
            Some((path, display)) => {
                metadata::open(&path).and_then(metadata::parse_updateinfo).map_err(|err| (display, err))?
            }
            None => {
                // yum downloads updateinfo only when a command needs it; security state is then unknown for this
                // repository, but its packages still count.
                errors.record(
                    SECTION,
                    format!("{}/{href}", cache.display),
                    ErrorKind::NotFound,
                    "the repository publishes updateinfo but it is not cached; its security updates are not known",
                );
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let checked_at = match manager {
        Manager::Dnf | Manager::Dnf5 => primary_mtime,
        Manager::Yum => cache.yum_cookie().or_else(|| modified(&repomd_path)),
        Manager::Zypper => modified(&repomd_path),
    };
    Ok(RepoData { packages, advisories, checked_at })
}

/// yum's primary database: the `packages` table createrepo writes beside the XML.
fn scan_primary_db(
    path: &Path,
    wanted: impl Fn(&str) -> bool,
    mut found: impl FnMut(Nevra),
) -> Result<(), MetadataError> {
    use rusqlite::{Connection, OpenFlags};
    let invalid = |err: rusqlite::Error| MetadataError::Invalid(err.to_string());
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(invalid)?;
    let mut statement = db.prepare("SELECT name, arch, epoch, version, release FROM packages").map_err(invalid)?;
    let mut rows = statement.query([]).map_err(invalid)?;
    while let Some(row) = rows.next().map_err(invalid)? {
        let text = |i: usize| -> Result<String, MetadataError> {
            row.get::<_, Option<String>>(i).map(Option::unwrap_or_default).map_err(invalid)
        };
        let name = text(0)?;
        if !wanted(&name) {
            continue;
        }
        let epoch = text(2)?;
        found(Nevra {
            name,
            arch: text(1)?,
            epoch: (!epoch.is_empty()).then_some(epoch),
            version: text(3)?,
            release: text(4)?,
        });
    }
    Ok(())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests;

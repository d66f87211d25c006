//! Where each package manager keeps a repository's downloaded metadata, and which files of it to read.
//!
//! - dnf 4: `/var/cache/dnf/<repoid>-<16 hex>/repodata/` (dnf 5: `/var/cache/libdnf5/…`), the hash being of the
//!   repository's URL; the primary file's modification time is when dnf last found the metadata current.
//! - yum 3: `/var/cache/yum/<basearch>/<releasever>/<repoid>/`, data files beside `repomd.xml`, primary usually only
//!   as SQLite (`gen/primary_db.sqlite`), and `cachecookie` touched at each check.
//! - zypper: `/var/cache/zypp/raw/<alias>/repodata/`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::repos::Manager;
use crate::root::SystemRoot;

/// One repository's cached metadata, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoCache {
    /// The cache directory as a path of the inspected system, for messages.
    pub display: String,
    /// The same directory on this machine.
    pub dir: PathBuf,
}

impl RepoCache {
    /// The file a `repomd.xml` `href` (`repodata/<hash>-primary.xml.gz`) is cached as, if present.
    pub fn data_file(&self, href: &str) -> Option<(PathBuf, String)> {
        let base = href.rsplit('/').next().unwrap_or(href);
        ["repodata/", ""].iter().find_map(|sub| {
            let path = self.dir.join(format!("{sub}{base}"));
            path.is_file().then(|| (path, format!("{}/{sub}{base}", self.display)))
        })
    }

    pub fn repomd(&self) -> Option<(PathBuf, String)> {
        self.data_file("repomd.xml")
    }

    /// yum's uncompressed primary database, which it reads instead of `primary.xml`.
    pub fn yum_primary_db(&self) -> Option<(PathBuf, String)> {
        let path = self.dir.join("gen/primary_db.sqlite");
        path.is_file().then(|| (path, format!("{}/gen/primary_db.sqlite", self.display)))
    }

    /// yum's `cachecookie`, touched whenever yum found the metadata current.
    pub fn yum_cookie(&self) -> Option<SystemTime> {
        std::fs::metadata(self.dir.join("cachecookie")).and_then(|m| m.modified()).ok()
    }
}

/// Finds the cache directory of repository `id` below `cache_dir` (a path of the inspected system whose `$var`
/// components, as in yum's default `/var/cache/yum/$basearch/$releasever`, match any directory).
///
/// Several candidates happen when a repository's URL or the release changed; the package manager only uses the
/// one of the current URL, which is the one refreshed last, so the newest `repomd.xml` wins.
pub fn locate(root: &SystemRoot, manager: Manager, cache_dir: &str, id: &str) -> Option<RepoCache> {
    let mut fixed = String::new();
    let mut wildcards = 0;
    for part in cache_dir.split('/').filter(|p| !p.is_empty()) {
        if part.contains('$') || wildcards > 0 {
            wildcards += 1;
        } else {
            fixed.push('/');
            fixed.push_str(part);
        }
    }
    let base = root.path(&fixed);
    let mut levels: Vec<(PathBuf, String)> = vec![(base, fixed)];
    for _ in 0..wildcards {
        levels = levels.iter().flat_map(|(dir, display)| subdirs(dir, display)).collect();
    }
    levels
        .iter()
        .flat_map(|(dir, display)| subdirs(dir, display))
        .filter(|(_, display)| display.rsplit('/').next().is_some_and(|name| names_repo(manager, name, id)))
        .map(|(dir, display)| RepoCache { display, dir })
        .filter_map(|cache| {
            let (path, _) = cache.repomd()?;
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
            Some((modified, cache))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.display.cmp(&a.1.display)))
        .map(|(_, cache)| cache)
}

/// Whether cache directory `name` belongs to repository `id`: exactly the id for yum and zypper, the id plus `-`
/// and 16 hexadecimal digits for dnf.
fn names_repo(manager: Manager, name: &str, id: &str) -> bool {
    match manager {
        Manager::Yum | Manager::Zypper => name == id,
        Manager::Dnf | Manager::Dnf5 => name
            .strip_prefix(id)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|hash| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())),
    }
}

fn subdirs(dir: &Path, display: &str) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(PathBuf, String)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (e.path(), format!("{}/{name}", display.trim_end_matches('/')))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_directory_names() {
        assert!(names_repo(Manager::Dnf, "baseos-b6fd4c2de9a8f7b1", "baseos"));
        assert!(!names_repo(Manager::Dnf, "baseos-debug-b6fd4c2de9a8f7b1", "baseos"));
        assert!(!names_repo(Manager::Dnf, "baseos", "baseos"));
        assert!(names_repo(Manager::Yum, "updates", "updates"));
    }

    #[test]
    fn yum_layout_is_found_below_arch_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("var/cache/yum/x86_64/7/updates");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("repomd.xml"), "<repomd/>").unwrap();
        let root = SystemRoot::mounted(dir.path());
        let found = locate(&root, Manager::Yum, "/var/cache/yum/$basearch/$releasever", "updates").unwrap();
        assert_eq!(found.display, "/var/cache/yum/x86_64/7/updates");
        assert_eq!(found.repomd().unwrap().1, "/var/cache/yum/x86_64/7/updates/repomd.xml");
        assert!(locate(&root, Manager::Yum, "/var/cache/yum/$basearch/$releasever", "base").is_none());
    }
}

//! The repositories a dnf, yum or zypper system is configured with: which are enabled, from which file and line.

use super::ini::{self, Section};

/// Which package manager's configuration and cache layout the system uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// dnf 4 (RHEL/Alma/Rocky 8–9, Fedora up to 40, Amazon Linux 2023).
    Dnf,
    /// dnf 5 (Fedora 41 on), whose cache is `/var/cache/libdnf5`.
    Dnf5,
    /// yum 3 (RHEL/CentOS 7, Amazon Linux 2).
    Yum,
    Zypper,
}

impl Manager {
    pub fn name(self) -> &'static str {
        match self {
            Manager::Dnf | Manager::Dnf5 => "dnf",
            Manager::Yum => "yum",
            Manager::Zypper => "zypper",
        }
    }

    /// The main configuration file, whose `[main]` may move `reposdir` and `cachedir`.
    pub fn main_conf(self) -> Option<&'static str> {
        match self {
            Manager::Dnf | Manager::Dnf5 => Some("/etc/dnf/dnf.conf"),
            Manager::Yum => Some("/etc/yum.conf"),
            Manager::Zypper => None,
        }
    }

    /// Where repository files are read from when the main configuration does not say.
    pub fn default_repo_dirs(self) -> &'static [&'static str] {
        match self {
            Manager::Dnf | Manager::Dnf5 | Manager::Yum => {
                &["/etc/yum.repos.d", "/etc/yum/repos.d", "/etc/distro.repos.d"]
            }
            Manager::Zypper => &["/etc/zypp/repos.d"],
        }
    }

    pub fn default_cache_dir(self) -> &'static str {
        match self {
            Manager::Dnf => "/var/cache/dnf",
            Manager::Dnf5 => "/var/cache/libdnf5",
            Manager::Yum => "/var/cache/yum/$basearch/$releasever",
            Manager::Zypper => "/var/cache/zypp/raw",
        }
    }
}

/// One configured repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// The section name: dnf's repo id, zypper's alias.
    pub id: String,
    pub enabled: bool,
    /// `file:line` of the section, for errors and evidence.
    pub origin: String,
}

/// The repositories of one file. Sections other than `[main]` are repositories; dnf and zypper treat a missing
/// `enabled` as enabled.
pub fn parse_repo_file(text: &str, path: &str) -> Vec<Repo> {
    ini::parse(text)
        .into_iter()
        .filter(|s| s.name != "main")
        .map(|s| Repo { enabled: enabled(&s), origin: format!("{path}:{}", s.line), id: s.name })
        .collect()
}

fn enabled(section: &Section) -> bool {
    section.value("enabled").and_then(ini::boolean).unwrap_or(true)
}

/// `reposdir` and `cachedir` of the main configuration's `[main]` section, when set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MainConf {
    pub repo_dirs: Option<Vec<String>>,
    pub cache_dir: Option<String>,
    /// yum and dnf also accept repository sections in the main file itself.
    pub repos: Vec<Repo>,
}

pub fn parse_main_conf(text: &str, path: &str) -> MainConf {
    let sections = ini::parse(text);
    let main = sections.iter().find(|s| s.name == "main");
    let repo_dirs = main.and_then(|m| m.value("reposdir")).map(|v| {
        v.split(|c: char| c == ',' || c.is_whitespace()).filter(|d| !d.is_empty()).map(str::to_string).collect()
    });
    let cache_dir = main.and_then(|m| m.value("cachedir")).filter(|v| !v.is_empty()).map(str::to_string);
    MainConf { repo_dirs, cache_dir, repos: parse_repo_file(text, path) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabled_defaults_to_true_and_main_is_no_repository() {
        let text = "[main]\nreposdir=/etc/a, /etc/b\ncachedir=/var/cache/yum/$basearch/$releasever\n\n\
                    [base]\nname=CentOS-$releasever - Base\n\n[extras]\nenabled=0\n";
        let repos = parse_repo_file(text, "/etc/yum.conf");
        assert_eq!(
            repos,
            [
                Repo { id: "base".into(), enabled: true, origin: "/etc/yum.conf:5".into() },
                Repo { id: "extras".into(), enabled: false, origin: "/etc/yum.conf:8".into() },
            ]
        );
        let main = parse_main_conf(text, "/etc/yum.conf");
        assert_eq!(main.repo_dirs, Some(vec!["/etc/a".to_string(), "/etc/b".to_string()]));
        assert_eq!(main.cache_dir.as_deref(), Some("/var/cache/yum/$basearch/$releasever"));
    }
}

//! The software section: installed packages of every package manager found, and where each list came from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// Every package database that was read, successfully or not, and how.
    pub sources: Vec<PackageSource>,
    pub packages: Vec<Package>,
}

/// One package database and how it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSource {
    pub kind: PackageKind,
    /// The database path relative to the root read, e.g. `/var/lib/dpkg/status`.
    pub path: String,
    /// e.g. `dpkg-status`, `dpkg-status.d`, `rpmdb-sqlite`, `rpmdb-bdb`, `rpmdb-ndb`, `rpm-cli`, `apk-installed`,
    /// `pacman-local`.
    pub format: String,
    pub packages: u32,
    /// False when the database could only be read in part; the errors section says why.
    pub complete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageKind {
    Deb,
    Rpm,
    Apk,
    Pacman,
}

impl PackageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageKind::Deb => "deb",
            PackageKind::Rpm => "rpm",
            PackageKind::Apk => "apk",
            PackageKind::Pacman => "pacman",
        }
    }
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Package {
    pub kind: PackageKind,
    pub name: String,
    /// The full version as the package manager prints it, epoch included where it has one.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The source package advisories are keyed by (dpkg `Source:`, rpm `SOURCERPM` name, apk origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// The package manager's state when the package is not fully installed, e.g. dpkg's `config-files` (removed,
    /// configuration kept) or `half-configured`. Absent when installed. Such packages are listed because the package
    /// manager lists them, but their programs may be gone: vulnerability matching ignores them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl Package {
    /// True unless the package manager says the package is only partly there (or only its configuration is).
    pub fn is_installed(&self) -> bool {
        self.state.is_none()
    }
}

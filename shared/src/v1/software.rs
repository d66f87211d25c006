//! The software section: installed packages of every package manager found, and where each list came from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// Every package database that was read, successfully or not, and how.
    pub sources: Vec<PackageSource>,
    pub packages: Vec<Package>,
    /// Sockets other machines can reach: TCP listening and UDP bound, unconnected, on an address that is not
    /// loopback. Read from a running Linux system only; absent from older agents and from a mounted root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<Listener>,
    /// Container images the host's engines hold (Docker, Podman), each with its own OS and packages. Absent from older
    /// agents and where no engine state exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_images: Vec<super::ContainerImage>,
    /// The containers of those engines, running or stopped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<super::Container>,
}

/// One listening socket and the program behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub protocol: SocketProtocol,
    /// The local address as text (`0.0.0.0` and `::` mean every address of the family).
    pub address: String,
    pub port: u16,
    /// The owning process's name (`/proc/<pid>/comm`), when it could be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// The owning process's executable, as a path of the system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    /// The OS package that ships the executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketProtocol {
    Tcp,
    Udp,
}

impl SocketProtocol {
    /// The wire name, `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketProtocol::Tcp => "tcp",
            SocketProtocol::Udp => "udp",
        }
    }
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
    /// A Python distribution (`*.dist-info`, `*.egg-info`).
    Pypi,
    /// A Node.js package (`node_modules/*/package.json`, lockfile entries).
    Npm,
    /// A Ruby gem (`specifications/*.gemspec`).
    Gem,
    /// A Go module compiled into a binary (its embedded build information).
    Go,
    /// A Rust crate compiled into a binary built with `cargo auditable`.
    Cargo,
    /// A Java archive's Maven coordinates (`pom.properties`).
    Maven,
    Snap,
    Flatpak,
    /// A Windows program from an Uninstall registry key (either registry view, or a user's hive).
    Windows,
    /// A Windows MSIX/AppX package.
    Msix,
    /// A macOS application bundle (`system_profiler`'s SPApplicationsDataType: /Applications, the system's, users').
    Macos,
    /// A Homebrew formula: a keg of a Cellar (`/opt/homebrew/Cellar`, `/usr/local/Cellar`, Linux's
    /// `/home/linuxbrew/.linuxbrew/Cellar`), its tap as the publisher.
    Homebrew,
    /// A macOS installer package (`.pkg`) by its receipt in `/var/db/receipts` (or, for Apple's system components,
    /// `/Library/Apple/System/Library/Receipts`), as `pkgutil --pkgs` lists it: its
    /// identifier as the name (`us.zoom.pkg.videomeeting`, `com.apple.pkg.XProtectPayloads_10_15.16U4325`).
    MacosPkg,
}

impl PackageKind {
    /// Every kind, in declaration order.
    pub const ALL: [PackageKind; 17] = [
        PackageKind::Deb,
        PackageKind::Rpm,
        PackageKind::Apk,
        PackageKind::Pacman,
        PackageKind::Pypi,
        PackageKind::Npm,
        PackageKind::Gem,
        PackageKind::Go,
        PackageKind::Cargo,
        PackageKind::Maven,
        PackageKind::Snap,
        PackageKind::Flatpak,
        PackageKind::Windows,
        PackageKind::Msix,
        PackageKind::Macos,
        PackageKind::Homebrew,
        PackageKind::MacosPkg,
    ];

    /// The kind a wire name (`deb`, `pypi`…) stands for.
    pub fn parse(name: &str) -> Option<PackageKind> {
        PackageKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PackageKind::Deb => "deb",
            PackageKind::Rpm => "rpm",
            PackageKind::Apk => "apk",
            PackageKind::Pacman => "pacman",
            PackageKind::Pypi => "pypi",
            PackageKind::Npm => "npm",
            PackageKind::Gem => "gem",
            PackageKind::Go => "go",
            PackageKind::Cargo => "cargo",
            PackageKind::Maven => "maven",
            PackageKind::Snap => "snap",
            PackageKind::Flatpak => "flatpak",
            PackageKind::Windows => "windows",
            PackageKind::Msix => "msix",
            PackageKind::Macos => "macos",
            PackageKind::Homebrew => "homebrew",
            PackageKind::MacosPkg => "macos_pkg",
        }
    }

    /// True for the kinds an operating system's package manager installs (their advisories are the
    /// distribution's); false for language packages, snaps, flatpaks and Windows programs.
    pub fn is_os_package(self) -> bool {
        matches!(self, PackageKind::Deb | PackageKind::Rpm | PackageKind::Apk | PackageKind::Pacman)
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
    /// Where the package was found when that is not the package database itself: the `METADATA` file of a Python
    /// distribution, the `package.json`, the binary a Go module is built into, the registry key of a Windows program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The operating-system package whose files include `path` (a distribution's own copy of a Python library):
    /// such a package is matched through the distribution's advisories only, never the language ecosystem's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The publisher or vendor the package names (Windows programs, snaps, flatpaks), a Homebrew formula's tap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// The channel the host follows for the package's updates (a snap's tracking channel, `latest/stable`): the
    /// host's choice, not the package's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl Package {
    /// A package known by kind, name and version only; readers set the facts their source gives with struct update
    /// syntax (`Package { path: Some(..), ..Package::new(..) }`).
    pub fn new(kind: PackageKind, name: impl Into<String>, version: impl Into<String>) -> Package {
        Package {
            kind,
            name: name.into(),
            version: version.into(),
            arch: None,
            source_name: None,
            source_version: None,
            installed_at: None,
            size_bytes: None,
            state: None,
            path: None,
            owner: None,
            publisher: None,
            channel: None,
        }
    }

    /// True unless the package manager says the package is only partly there (or only its configuration is).
    pub fn is_installed(&self) -> bool {
        self.state.is_none()
    }
}

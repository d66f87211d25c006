//! Which advisories concern a host: its OS as OSV ecosystem names, its packages as the names advisories use, and
//! the version order of each ecosystem.

use std::cmp::Ordering;

use muster_shared::v1::{Os, Package, PackageKind};
use muster_shared::version::{self, Ecosystem};

/// The version order of an OSV ecosystem name (`Debian:12`, `Alpine:v3.18`, `crates.io`…), or `None` for the
/// ecosystems Muster does not match (their packages never appear in an inventory).
pub fn osv_version_order(osv_ecosystem: &str) -> Option<Ecosystem> {
    let base = osv_ecosystem.split_once(':').map_or(osv_ecosystem, |(base, _)| base);
    match base {
        "Debian" | "Ubuntu" => Some(Ecosystem::Deb),
        "Alpine" => Some(Ecosystem::Apk),
        "AlmaLinux" | "Rocky Linux" | "Red Hat" => Some(Ecosystem::Rpm),
        "crates.io" | "npm" => Some(Ecosystem::Semver),
        "PyPI" => Some(Ecosystem::Pep440),
        _ => None,
    }
}

/// Compares two versions in `order`; `None` when a version is outside the order's grammar.
///
/// SemVer and PEP 440 use the lenient orders OSV tooling uses, since advisories carry versions such as `1.0` and
/// legacy Python versions.
pub fn version_order(order: Ecosystem, a: &str, b: &str) -> Option<Ordering> {
    match order {
        Ecosystem::Semver => version::semver::compare_lenient(a, b).ok(),
        Ecosystem::Pep440 => Some(version::pep440::compare_with_legacy(a, b)),
        _ => version::compare(order, a, b).ok(),
    }
}

/// The version order of an installed package kind; pacman has no OSV ecosystem.
pub fn package_order(kind: PackageKind) -> Option<Ecosystem> {
    match kind {
        PackageKind::Deb => Some(Ecosystem::Deb),
        PackageKind::Rpm => Some(Ecosystem::Rpm),
        PackageKind::Apk => Some(Ecosystem::Apk),
        PackageKind::Pypi => Some(Ecosystem::Pep440),
        PackageKind::Npm | PackageKind::Cargo => Some(Ecosystem::Semver),
        PackageKind::Pacman
        | PackageKind::Gem
        | PackageKind::Go
        | PackageKind::Maven
        | PackageKind::Snap
        | PackageKind::Flatpak
        | PackageKind::Windows
        | PackageKind::Msix => None,
    }
}

/// An OSV ecosystem a host's packages belong to: one exact name, or every name under a prefix (Red Hat scopes
/// advisories by product stream: `Red Hat:enterprise_linux:9::appstream`, `…::baseos`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcosystemSelector {
    Exact(String),
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostEcosystemError {
    #[error("the report has no os-release ID")]
    NoOsId,
    #[error("os-release of {id} has no usable VERSION_ID")]
    NoVersion { id: String },
    #[error("no advisory ecosystem is known for distribution {id} {version}")]
    Unsupported { id: String, version: String },
}

/// Maps os-release `ID` and `VERSION_ID` to the OSV ecosystems whose advisories apply, in preference order.
///
/// Ubuntu LTS releases also get `Ubuntu:Pro:X.Y:LTS`: packages covered only by ESM are vulnerable on every host,
/// and the finding's fix then needs Ubuntu Pro.
pub fn host_ecosystems(os: &Os) -> Result<Vec<EcosystemSelector>, HostEcosystemError> {
    let id = os.id.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or(HostEcosystemError::NoOsId)?;
    let version = os.version_id.as_deref().map(str::trim).unwrap_or_default();
    let no_version = || HostEcosystemError::NoVersion { id: id.to_owned() };
    let major = version.split('.').next().filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
    let exact = |s: String| EcosystemSelector::Exact(s);
    match id {
        "debian" => Ok(vec![exact(format!("Debian:{}", major.ok_or_else(no_version)?))]),
        "ubuntu" => {
            let mut parts = version.split('.');
            let (Some(year), Some(month)) = (parts.next(), parts.next()) else { return Err(no_version()) };
            let year_n: u32 = year.parse().map_err(|_| no_version())?;
            let lts = month == "04" && year_n.is_multiple_of(2);
            if lts {
                Ok(vec![exact(format!("Ubuntu:{year}.{month}:LTS")), exact(format!("Ubuntu:Pro:{year}.{month}:LTS"))])
            } else {
                Ok(vec![exact(format!("Ubuntu:{year}.{month}"))])
            }
        }
        "alpine" => {
            let mut parts = version.split('.');
            let (Some(major), Some(minor)) = (parts.next(), parts.next()) else { return Err(no_version()) };
            let minor: String = minor.chars().take_while(char::is_ascii_digit).collect();
            if minor.is_empty() {
                return Err(no_version());
            }
            Ok(vec![exact(format!("Alpine:v{major}.{minor}"))])
        }
        "almalinux" => Ok(vec![exact(format!("AlmaLinux:{}", major.ok_or_else(no_version)?))]),
        "rocky" => Ok(vec![exact(format!("Rocky Linux:{}", major.ok_or_else(no_version)?))]),
        "rhel" => {
            Ok(vec![EcosystemSelector::Prefix(format!("Red Hat:enterprise_linux:{}::", major.ok_or_else(no_version)?))])
        }
        _ => Err(HostEcosystemError::Unsupported { id: id.to_owned(), version: version.to_owned() }),
    }
}

/// The package names (and the version to compare for each) that advisories use for an installed package.
///
/// Debian, Ubuntu and Alpine advisories name source packages, so the source name and version are looked up
/// (falling back to the binary's). Signed kernel images are built from `linux-signed-*` sources whose versions
/// differ from the kernel's, while advisories name `linux`: they map to the kernel source with the binary version.
/// rpm-family advisories name binary packages (AlmaLinux, Red Hat) or sources, and an rpm source version lacks the
/// epoch, so both names are looked up with the binary's epoch-qualified version.
pub fn lookup_names(pkg: &Package, os_id: Option<&str>) -> Vec<(String, String)> {
    let source = pkg.source_name.as_deref().filter(|s| !s.is_empty());
    match pkg.kind {
        PackageKind::Deb => {
            if let Some(src) = source.filter(|s| s.starts_with("linux-signed")) {
                let kernel = match (os_id, src.strip_prefix("linux-signed")) {
                    (Some("ubuntu"), Some(rest)) => format!("linux{rest}"),
                    _ => "linux".to_owned(),
                };
                return vec![(kernel, pkg.version.clone())];
            }
            let version = pkg.source_version.as_deref().filter(|v| !v.is_empty()).unwrap_or(&pkg.version);
            vec![(source.unwrap_or(&pkg.name).to_owned(), version.to_owned())]
        }
        PackageKind::Apk => vec![(source.unwrap_or(&pkg.name).to_owned(), pkg.version.clone())],
        PackageKind::Rpm => {
            let mut names = vec![(pkg.name.clone(), pkg.version.clone())];
            if let Some(src) = source.filter(|s| *s != pkg.name) {
                names.push((src.to_owned(), pkg.version.clone()));
            }
            names
        }
        // pacman has no advisory ecosystem, and only OS packages are looked up in the host's distribution
        // ecosystems: a PyPI distribution named like a Debian source package must never match the Debian advisory.
        _ => Vec::new(),
    }
}

/// The command that upgrades the given installed packages with the host's package manager.
pub fn remediation_command(kind: PackageKind, packages: &[&str]) -> Option<String> {
    let list = packages.join(" ");
    match kind {
        PackageKind::Deb => Some(format!("apt-get install --only-upgrade {list}")),
        PackageKind::Rpm => Some(format!("dnf upgrade {list}")),
        PackageKind::Apk => Some(format!("apk upgrade {list}")),
        // No command is offered where the upgrade is not the host's package manager's to make.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(id: &str, version_id: &str) -> Os {
        Os { id: Some(id.into()), version_id: Some(version_id.into()), ..Os::default() }
    }

    #[test]
    fn maps_os_release_to_ecosystems() {
        let exact = |s: &str| EcosystemSelector::Exact(s.into());
        for (id, version, expected) in [
            ("debian", "12", vec![exact("Debian:12")]),
            ("ubuntu", "22.04", vec![exact("Ubuntu:22.04:LTS"), exact("Ubuntu:Pro:22.04:LTS")]),
            ("ubuntu", "24.10", vec![exact("Ubuntu:24.10")]),
            ("alpine", "3.18.4", vec![exact("Alpine:v3.18")]),
            ("almalinux", "9.4", vec![exact("AlmaLinux:9")]),
            ("rocky", "9.3", vec![exact("Rocky Linux:9")]),
            ("rhel", "9.4", vec![EcosystemSelector::Prefix("Red Hat:enterprise_linux:9::".into())]),
        ] {
            assert_eq!(host_ecosystems(&os(id, version)), Ok(expected), "{id} {version}");
        }
        assert_eq!(host_ecosystems(&os("debian", "")), Err(HostEcosystemError::NoVersion { id: "debian".into() }));
        assert!(matches!(host_ecosystems(&os("arch", "")), Err(HostEcosystemError::Unsupported { .. })));
    }
}

//! Which advisories concern a host: its OS as OSV ecosystem names, its packages as the names advisories use, and
//! the version order of each ecosystem.

use std::borrow::Cow;
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
        // Go module versions are SemVer; OSV writes them without the `v` the module system uses.
        "crates.io" | "npm" | "Go" => Some(Ecosystem::Semver),
        "PyPI" => Some(Ecosystem::Pep440),
        "RubyGems" => Some(Ecosystem::RubyGems),
        "Maven" => Some(Ecosystem::Maven),
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

/// The version order of an installed package kind; pacman has no OSV ecosystem. A language package's is its
/// ecosystem's, so the two mappings cannot disagree.
pub fn package_order(kind: PackageKind) -> Option<Ecosystem> {
    if let Some(ecosystem) = language_ecosystem(kind) {
        return osv_version_order(ecosystem);
    }
    match kind {
        PackageKind::Deb => Some(Ecosystem::Deb),
        PackageKind::Rpm => Some(Ecosystem::Rpm),
        PackageKind::Apk => Some(Ecosystem::Apk),
        _ => None,
    }
}

/// The OSV ecosystem whose advisories concern a language package, whatever the host's OS: one fixed name per kind.
pub fn language_ecosystem(kind: PackageKind) -> Option<&'static str> {
    match kind {
        PackageKind::Pypi => Some("PyPI"),
        PackageKind::Npm => Some("npm"),
        PackageKind::Cargo => Some("crates.io"),
        PackageKind::Go => Some("Go"),
        PackageKind::Gem => Some("RubyGems"),
        PackageKind::Maven => Some("Maven"),
        _ => None,
    }
}

/// A package name as advisories of `ecosystem` are indexed and looked up: PyPI names compare after PEP 503
/// normalisation (`PyYAML`, `pyyaml` and `Py_YAML` are one distribution; METADATA and advisories spell it either way);
/// every other ecosystem's names compare as written.
pub fn advisory_name<'a>(ecosystem: &str, name: &'a str) -> Cow<'a, str> {
    let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    if ecosystem != "PyPI" || (name.bytes().all(plain) && !name.contains("--")) {
        return Cow::Borrowed(name);
    }
    // `re.sub(r"[-_.]+", "-", name).lower()`, as PEP 503 defines it.
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            in_run = false;
            out.extend(c.to_lowercase());
        }
    }
    Cow::Owned(out)
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
        // A language package is looked up in its own ecosystem only, and not at all when a file of an OS package
        // provides it: the distribution's copy is matched through the distribution's advisories, which know its
        // backported fixes (issue 19). Go modules are written `v1.2.3`, OSV's Go versions `1.2.3`.
        kind if pkg.owner.is_none() => match language_ecosystem(kind) {
            Some(eco) => {
                let version = match kind {
                    PackageKind::Go => pkg.version.strip_prefix('v').unwrap_or(&pkg.version),
                    _ => pkg.version.as_str(),
                };
                vec![(advisory_name(eco, &pkg.name).into_owned(), version.to_owned())]
            }
            None => Vec::new(),
        },
        // pacman has no advisory ecosystem, and a PyPI distribution named like a Debian source package must never
        // match the Debian advisory: OS ecosystems see OS packages only.
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

/// What to run or do to move a language package (found at `paths`) to `target`: the ecosystem's own installer
/// where one upgrades the copy in place, a rebuild where the package is compiled into a program.
pub fn language_remediation(kind: PackageKind, name: &str, target: &str, paths: &[&str]) -> Option<String> {
    let at = paths.join(", ");
    match kind {
        PackageKind::Pypi => Some(format!("pip install --upgrade '{name}>={target}' in the environment of {at}")),
        // Whether a copy is global or a project's is not told reliably by its path: say both.
        PackageKind::Npm => Some(format!(
            "npm install {name}@{target} where {at} is installed (--global for a global package), and update the \
             lockfile that pins it"
        )),
        // Go's own advisories name the standard library `stdlib`: the remedy is a newer Go toolchain.
        PackageKind::Go if name == "stdlib" => Some(format!(
            "install a build of {at} made with Go {target} or later (from its vendor, or rebuild it with that Go)"
        )),
        PackageKind::Cargo | PackageKind::Go => Some(format!(
            "install a build of {at} made with {name} {target} or later (from its vendor, or rebuild it after \
             updating the dependency)"
        )),
        PackageKind::Gem => Some(format!("gem update {name} (to {target} or later) for {at}")),
        PackageKind::Maven => Some(format!("replace {at} with a build that bundles {name} {target} or later")),
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

    #[test]
    fn pypi_names_compare_normalised_and_others_as_written() {
        // Spellings of real distributions (PEP 503's examples and PyPI's display names).
        for (written, normalised) in [
            ("PyYAML", "pyyaml"),
            ("Jinja2", "jinja2"),
            ("zope.interface", "zope-interface"),
            ("typing_extensions", "typing-extensions"),
            ("friendly-bard", "friendly-bard"),
            ("Friendly-Bard", "friendly-bard"),
            ("FRIENDLY-BARD", "friendly-bard"),
            ("friendly.bard", "friendly-bard"),
            ("friendly_bard", "friendly-bard"),
            ("friendly--bard", "friendly-bard"),
            ("FrIeNdLy-._.-bArD", "friendly-bard"),
        ] {
            assert_eq!(advisory_name("PyPI", written), normalised, "{written}");
        }
        assert_eq!(advisory_name("npm", "@types/semver"), "@types/semver");
        assert_eq!(advisory_name("crates.io", "Inflector"), "Inflector");
    }

    #[test]
    fn a_language_package_is_looked_up_in_its_ecosystem_unless_an_os_package_provides_it() {
        let pip = Package {
            path: Some("/usr/local/lib/python3.11/dist-packages/idna-3.3.dist-info/METADATA".into()),
            ..Package::new(PackageKind::Pypi, "idna", "3.3")
        };
        assert_eq!(lookup_names(&pip, Some("debian")), vec![("idna".to_owned(), "3.3".to_owned())]);
        let distro = Package { owner: Some("python3-idna".into()), ..pip.clone() };
        assert_eq!(lookup_names(&distro, Some("debian")), Vec::new());
        let go = Package::new(PackageKind::Go, "stdlib", "v1.19.8");
        assert_eq!(lookup_names(&go, None), vec![("stdlib".to_owned(), "1.19.8".to_owned())]);
        assert_eq!(lookup_names(&Package::new(PackageKind::Gem, "rack", "2.2.4"), None).len(), 1);
        assert_eq!(package_order(PackageKind::Pacman), None, "Arch has no advisory ecosystem: not matched");
        let docker = ["/usr/libexec/docker/cli-plugins/docker-compose"];
        assert_eq!(
            language_remediation(PackageKind::Go, "stdlib", "1.22.7", &docker).as_deref(),
            Some(
                "install a build of /usr/libexec/docker/cli-plugins/docker-compose made with Go 1.22.7 or later (from \
                 its vendor, or rebuild it with that Go)"
            )
        );
    }
}

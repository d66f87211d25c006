//! Version order of each package ecosystem, exactly as its own package manager sorts versions.
//!
//! Pure functions over strings: the agent uses them for pending updates, the collector for advisory matching.
//! [`compare`] is the entry point; each module also offers its ecosystem's extras (apk validity and fuzzy
//! constraints, lenient SemVer, Python's legacy versions).

pub mod apk;
pub mod dpkg;
pub mod maven;
pub mod pep440;
pub mod rpm;
pub mod rubygems;
pub mod semver;

#[cfg(test)]
mod proptests;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A family of packages sharing one version order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecosystem {
    /// Debian and derivatives: `dpkg --compare-versions`.
    Deb,
    /// Red Hat family: rpm's EVR order.
    Rpm,
    /// Alpine: `apk version -t` of apk-tools 3 ([`apk::compare_v2`] gives apk-tools 2.x's order).
    Apk,
    /// SemVer 2.0.0 precedence (npm, crates.io, Go).
    Semver,
    /// Python: PEP 440.
    Pep440,
    /// Ruby gems: `Gem::Version`.
    RubyGems,
    /// Maven artifacts: the POM reference's version order.
    Maven,
}

/// Why two versions could not be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("unknown version ecosystem {0:?}")]
    UnknownEcosystem(String),
    #[error("invalid {ecosystem} version {version:?}: {reason}")]
    Invalid { ecosystem: Ecosystem, version: String, reason: String },
}

impl Ecosystem {
    /// Recognises an ecosystem by a tool, distribution or registry name, case-insensitively; an OSV ecosystem name
    /// with a release suffix such as `Debian:12` or `Alpine:v3.20` is accepted too.
    pub fn parse(name: &str) -> Result<Self, VersionError> {
        let base = name.split_once(':').map_or(name, |(base, _)| base).trim().to_ascii_lowercase();
        match base.as_str() {
            "deb" | "dpkg" | "debian" | "ubuntu" => Ok(Self::Deb),
            "rpm" | "redhat" | "red hat" | "almalinux" | "rocky linux" => Ok(Self::Rpm),
            "apk" | "alpine" => Ok(Self::Apk),
            "semver" | "npm" | "crates.io" | "cargo" | "go" => Ok(Self::Semver),
            "pep440" | "pypi" | "python" => Ok(Self::Pep440),
            "rubygems" | "gem" | "ruby" => Ok(Self::RubyGems),
            "maven" | "java" => Ok(Self::Maven),
            _ => Err(VersionError::UnknownEcosystem(name.to_owned())),
        }
    }

    /// The canonical short name, which [`Ecosystem::parse`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Rpm => "rpm",
            Self::Apk => "apk",
            Self::Semver => "semver",
            Self::Pep440 => "pep440",
            Self::RubyGems => "rubygems",
            Self::Maven => "maven",
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Ecosystem {
    type Err = VersionError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

/// Compares two versions of one ecosystem.
///
/// dpkg, rpm, apk and Maven order any string deterministically, as their tools do, so they never fail. SemVer (the 2.0.0
/// grammar, with a leading `v` allowed) and PEP 440 reject strings outside their grammar with
/// [`VersionError::Invalid`]; see
/// [`semver::compare_lenient`] and [`pep440::compare_with_legacy`] for the forgiving orders OSV tooling uses.
pub fn compare(eco: Ecosystem, a: &str, b: &str) -> Result<Ordering, VersionError> {
    match eco {
        Ecosystem::Deb => Ok(dpkg::compare(a, b)),
        Ecosystem::Rpm => Ok(rpm::compare(a, b)),
        Ecosystem::Apk => Ok(apk::compare(a, b)),
        // Each compare parses `a` first, so the error is about `a` when `a` is invalid, else about `b`.
        Ecosystem::Semver => {
            semver::compare(a, b).map_err(|e| invalid(eco, if semver::is_valid(a) { b } else { a }, e))
        }
        Ecosystem::Pep440 => {
            pep440::compare(a, b).map_err(|e| invalid(eco, if pep440::is_valid(a) { b } else { a }, e))
        }
        Ecosystem::Maven => Ok(maven::compare(a, b)),
        Ecosystem::RubyGems => {
            rubygems::compare(a, b).map_err(|e| invalid(eco, if rubygems::is_valid(a) { b } else { a }, e))
        }
    }
}

fn invalid(ecosystem: Ecosystem, version: &str, reason: impl fmt::Display) -> VersionError {
    VersionError::Invalid { ecosystem, version: version.to_owned(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ecosystem_names() {
        for (name, eco) in [
            ("deb", Ecosystem::Deb),
            ("dpkg", Ecosystem::Deb),
            ("Debian:12", Ecosystem::Deb),
            ("rpm", Ecosystem::Rpm),
            ("Red Hat:enterprise_linux:9", Ecosystem::Rpm),
            ("apk", Ecosystem::Apk),
            ("Alpine:v3.20", Ecosystem::Apk),
            ("semver", Ecosystem::Semver),
            ("npm", Ecosystem::Semver),
            ("crates.io", Ecosystem::Semver),
            ("pep440", Ecosystem::Pep440),
            ("PyPI", Ecosystem::Pep440),
            ("RubyGems", Ecosystem::RubyGems),
            ("Maven", Ecosystem::Maven),
        ] {
            assert_eq!(Ecosystem::parse(name), Ok(eco), "{name}");
            assert_eq!(eco.name().parse::<Ecosystem>(), Ok(eco));
        }
        assert_eq!(Ecosystem::parse("nuget"), Err(VersionError::UnknownEcosystem("nuget".to_owned())));
    }

    #[test]
    fn reports_the_invalid_side() {
        let err = compare(Ecosystem::Semver, "1.0.0", "1.0").err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("invalid semver version \"1.0\": version core must be MAJOR.MINOR.PATCH".to_owned())
        );
        let err = compare(Ecosystem::Pep440, "not a version", "1.0").err();
        assert!(
            matches!(err, Some(VersionError::Invalid { ecosystem: Ecosystem::Pep440, ref version, .. }) if version == "not a version")
        );
        assert_eq!(compare(Ecosystem::Deb, "1.0", "1.0-1"), Ok(Ordering::Less));
    }
}

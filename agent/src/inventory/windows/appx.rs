//! MSIX and AppX packages (Microsoft Store apps, the new Teams and Outlook, Company Portal, and the frameworks they
//! run on such as `Microsoft.VCLibs`) as `software.packages` of kind `msix`. They have no Uninstall key, so the
//! Uninstall listing ([`super::packages`]) never sees them; Windows records them in the registry's package
//! repositories instead, one subkey per package named by its full name:
//!
//! - [`MACHINE_REPOSITORY`] below HKEY_LOCAL_MACHINE: every package on the machine, for whichever users it is
//!   registered, signed in or not;
//! - [`USER_REPOSITORY`] below each loaded user hive: the packages registered for that user.
//!
//! The subkeys' names are all that is read. A package full name is Windows' own identity of the package
//! (`Name_Version_Architecture_ResourceId_PublisherId`, Microsoft's "package identity overview"), the same text
//! `Get-AppxPackage` prints as `PackageFullName`; the tests check [`parse_full_name`] against that cmdlet's own
//! split of the same package. The `DisplayName` values beside them are mostly resource references
//! (`@{...?ms-resource://...}`) that only the package's resource file resolves, so the identity's name is the
//! package's name, as `Get-AppxPackage` shows it.
//!
//! Pure: the probe reads each repository's subkey names; [`listings`] turns them into package sources.

use std::collections::BTreeSet;

use muster_shared::v1::{Package, PackageKind, PackageSource};

use crate::inventory::software::{DbError, Listing};

use super::packages::short_key;

/// The machine-wide package repository, below HKEY_LOCAL_MACHINE.
pub const MACHINE_REPOSITORY: &str =
    r"SOFTWARE\Classes\Local Settings\Software\Microsoft\Windows\CurrentVersion\AppModel\PackageRepository\Packages";
/// A user's package repository, below the user's hive (`HKEY_USERS\<sid>`; `HKEY_CURRENT_USER` for the user).
pub const USER_REPOSITORY: &str =
    r"Software\Classes\Local Settings\Software\Microsoft\Windows\CurrentVersion\AppModel\Repository\Packages";

/// `PackageSource.format` of a package repository.
pub const FORMAT: &str = "windows-appmodel";

/// A package's identity as its full name spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageIdentity<'a> {
    /// `Microsoft.WindowsCalculator`.
    pub name: &'a str,
    /// Four dot-separated numbers, `11.2210.0.0`.
    pub version: &'a str,
    /// `x86`, `x64`, `arm`, `arm64`, `x86a64` or `neutral`.
    pub architecture: &'a str,
    /// Empty for an application or framework; `~` for a bundle; `split.scale-100`, `split.language-de` for the
    /// resource packages of a bundle.
    pub resource_id: &'a str,
    /// The 13-character hash of the publisher's name, `8wekyb3d8bbwe` for Microsoft's Store packages.
    pub publisher_id: &'a str,
}

impl PackageIdentity<'_> {
    /// Whether the identity is a package someone installed and uses: not a bundle (a container whose application
    /// package is listed on its own) nor a bundle's resource package (its images or one language's strings).
    pub fn is_listed(&self) -> bool {
        self.resource_id != "~" && !self.resource_id.starts_with("split.")
    }
}

const ARCHITECTURES: [&str; 6] = ["x86", "x64", "arm", "arm64", "x86a64", "neutral"];

/// Splits a package full name into its identity; `None` for text that is not one. Names hold only letters, digits,
/// `.` and `-`, so the four `_` separators are unambiguous.
pub fn parse_full_name(full_name: &str) -> Option<PackageIdentity<'_>> {
    let mut parts = full_name.split('_');
    let (name, version, architecture, resource_id, publisher_id) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let name_ok =
        (3..=50).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let version_ok = version.split('.').count() == 4
        && version
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u16>().is_ok());
    let arch_ok = ARCHITECTURES.iter().any(|a| a.eq_ignore_ascii_case(architecture));
    let resource_ok = resource_id == "~"
        || (resource_id.len() <= 30
            && resource_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    // Crockford's base32, lower case as Windows writes it: digits and letters but i, l, o and u.
    let publisher_ok = publisher_id.len() == 13
        && publisher_id.bytes().all(|b| b.is_ascii_digit() || (b.is_ascii_alphabetic() && !b"iloulOUIL".contains(&b)));
    (name_ok && version_ok && arch_ok && resource_ok && publisher_ok).then_some(PackageIdentity {
        name,
        version,
        architecture,
        resource_id,
        publisher_id,
    })
}

/// The package a repository's subkey is, or `None` for a bundle or resource package. `key` is the subkey's full
/// path, kept as the package's `path`.
pub fn package(identity: &PackageIdentity<'_>, key: &str) -> Option<Package> {
    if !identity.is_listed() {
        return None;
    }
    let arch = identity.architecture.to_ascii_lowercase();
    Some(Package {
        // A neutral package runs on every architecture: it has none of its own, as a noarch rpm.
        arch: (arch != "neutral").then_some(arch),
        path: Some(short_key(key)),
        ..Package::new(PackageKind::Msix, identity.name, identity.version)
    })
}

/// What the probe read of one repository: its full key, its subkeys' names, and the error that stopped the read,
/// if one did (what was read before it is kept).
#[derive(Debug)]
pub struct RepositoryRead {
    pub key: String,
    pub names: Vec<String>,
    pub problem: Option<DbError>,
}

/// One package source per repository read, machine-wide first. A package in more than one repository (the
/// machine's and each user's it is registered for) is listed once, from the first that holds it, so a user's
/// source lists only what the machine's did not. A subkey name that is not a package full name is a problem of its
/// source, not a package.
pub fn listings(reads: Vec<RepositoryRead>) -> Vec<(PackageSource, Listing)> {
    let mut seen = BTreeSet::new();
    reads
        .into_iter()
        .map(|read| {
            let mut listing = Listing::default();
            for name in &read.names {
                match parse_full_name(name) {
                    Some(identity) => {
                        if seen.insert(name.to_ascii_lowercase()) {
                            listing.packages.extend(package(&identity, &format!(r"{}\{name}", read.key)));
                        }
                    }
                    None => listing.problems.push(DbError::Corrupt(format!("`{name}` is not a package full name"))),
                }
            }
            listing.problems.extend(read.problem);
            let source = PackageSource {
                kind: PackageKind::Msix,
                path: short_key(&read.key),
                format: FORMAT.to_string(),
                packages: 0,
                complete: false,
            };
            (source, listing)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// One record of `Get-AppxPackage`'s list output: `Key : Value` lines, a long value continued on indented
    /// lines.
    fn record(name: &str) -> BTreeMap<String, String> {
        let path = format!("{}/testdata/windows/appx/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        let mut fields = BTreeMap::new();
        let mut last = String::new();
        for line in text.lines() {
            match line.split_once(':') {
                Some((key, value)) if !key.trim().contains(' ') => {
                    last = key.trim().to_string();
                    fields.insert(last.clone(), value.trim().to_string());
                }
                _ => fields.get_mut(&last).unwrap().push_str(line.trim()),
            }
        }
        fields
    }

    #[test]
    fn full_names_split_as_get_appx_package_splits_them() {
        for capture in ["Get-AppxPackage-calculator.txt", "Get-AppxPackage-store.txt"] {
            let fields = record(capture);
            let full_name = &fields["PackageFullName"];
            let identity = parse_full_name(full_name).unwrap();
            assert_eq!(identity.name, fields["Name"], "{capture}");
            assert_eq!(identity.version, fields["Version"], "{capture}");
            assert!(identity.architecture.eq_ignore_ascii_case(&fields["Architecture"]), "{capture}");
            assert_eq!(identity.resource_id, fields["ResourceId"], "{capture}");
            assert_eq!(identity.publisher_id, fields["PublisherId"], "{capture}");
            assert_eq!(format!("{}_{}", identity.name, identity.publisher_id), fields["PackageFamilyName"]);
            assert!(identity.is_listed());
            let package = package(&identity, &format!(r"HKEY_LOCAL_MACHINE\{MACHINE_REPOSITORY}\{full_name}")).unwrap();
            assert_eq!(
                (package.kind, package.name.as_str(), package.version.as_str(), package.arch.as_deref()),
                (PackageKind::Msix, fields["Name"].as_str(), fields["Version"].as_str(), Some("x64"))
            );
            assert_eq!(package.path, Some(format!(r"HKLM\{MACHINE_REPOSITORY}\{full_name}")));
        }
    }

    #[test]
    fn the_frameworks_an_app_depends_on_are_packages_too() {
        let dependencies = &record("Get-AppxPackage-store.txt")["Dependencies"];
        let names: Vec<&str> =
            dependencies.trim_start_matches('{').trim_end_matches('}').trim_end_matches("...").split(',').collect();
        let identities: Vec<(&str, &str, &str)> = names
            .iter()
            .map(|n| parse_full_name(n.trim()).unwrap())
            .map(|i| (i.name, i.version, i.publisher_id))
            .collect();
        assert_eq!(
            identities,
            [
                ("Microsoft.NET.Native.Framework.2.2", "2.2.29512.0", "8wekyb3d8bbwe"),
                ("Microsoft.NET.Native.Runtime.2.2", "2.2.28604.0", "8wekyb3d8bbwe"),
                ("Microsoft.VCLibs.140.00.UWPDesktop", "14.0.33728.0", "8wekyb3d8bbwe"),
                ("Microsoft.VCLibs.140.00", "14.0.33519.0", "8wekyb3d8bbwe"),
            ]
        );
    }

    #[test]
    fn names_at_the_documented_limits_are_full_names() {
        let name = "a".repeat(50);
        for text in [
            format!("{name}_65535.0.0.1_arm64__8wekyb3d8bbwe"),
            "Abc_1.0.0.0_neutral_split.scale-100_8wekyb3d8bbwe".to_string(),
            "Abc_1.0.0.0_X64__8WEKYB3D8BBWE".to_string(),
        ] {
            assert!(parse_full_name(&text).is_some(), "{text}");
        }
        assert_eq!(parse_full_name(&format!("a{name}_1.0.0.0_x64__8wekyb3d8bbwe")), None);
    }

    #[test]
    fn what_is_not_a_full_name_is_refused() {
        for text in [
            "Microsoft.WindowsStore_8wekyb3d8bbwe",
            "Microsoft.WindowsStore_22405.1401.9_x64__8wekyb3d8bbwe",
            "Microsoft.WindowsStore_22405.1401.9.70000_x64__8wekyb3d8bbwe",
            "Microsoft.WindowsStore_22405.1401.9.0_mips__8wekyb3d8bbwe",
            "Microsoft.WindowsStore_+22405.1401.9.0_x64__8wekyb3d8bbwe",
            "Microsoft.WindowsStore_22405.1401.9.0_x64__8wekyb3d8bbwi",
            "Microsoft.WindowsStore_22405.1401.9.0_x64_split scale_8wekyb3d8bbwe",
            "Microsoft.WindowsStore_22405.1401.9.0_x64_split.language-de-de-and-thirty-more_8wekyb3d8bbwe",
            "Mi_22405.1401.9.0_x64__8wekyb3d8bbwe",
            "Microsoft.WindowsStore_22405.1401.9.0_x64___8wekyb3d8bbwe",
            "Microsoft Store_22405.1401.9.0_x64__8wekyb3d8bbwe",
            "",
        ] {
            assert_eq!(parse_full_name(text), None, "{text}");
        }
    }

    #[test]
    fn each_package_once_machine_first_without_bundles_or_resources() {
        let store = "Microsoft.WindowsStore_22405.1401.9.0_x64__8wekyb3d8bbwe";
        let calculator = "Microsoft.WindowsCalculator_11.2210.0.0_x64__8wekyb3d8bbwe";
        let vclibs = "Microsoft.VCLibs.140.00_14.0.33519.0_x64__8wekyb3d8bbwe";
        let machine = format!(r"HKEY_LOCAL_MACHINE\{MACHINE_REPOSITORY}");
        let user = format!(r"HKEY_USERS\S-1-5-21-1004336348-1177238915-682003330-1001\{USER_REPOSITORY}");
        let reads = vec![
            RepositoryRead {
                key: machine.clone(),
                names: vec![
                    store.to_string(),
                    "Microsoft.WindowsStore_22405.1401.9.0_neutral_~_8wekyb3d8bbwe".to_string(),
                    "Microsoft.WindowsStore_22405.1401.9.0_neutral_split.scale-100_8wekyb3d8bbwe".to_string(),
                    vclibs.to_string(),
                ],
                problem: None,
            },
            RepositoryRead {
                key: user.clone(),
                names: vec![
                    store.to_uppercase().replace("8WEKYB3D8BBWE", "8wekyb3d8bbwe"),
                    calculator.to_string(),
                    "Deleted".to_string(),
                ],
                problem: Some(DbError::Io(std::io::Error::from(std::io::ErrorKind::PermissionDenied))),
            },
        ];
        // Each source: its path, its packages' names and paths, how many problems.
        type Listed = (String, Vec<(String, String)>, usize);
        let listed: Vec<Listed> = listings(reads)
            .into_iter()
            .map(|(source, listing)| {
                assert_eq!((source.kind, source.format.as_str()), (PackageKind::Msix, FORMAT));
                let packages = listing.packages.iter().map(|p| (p.name.clone(), p.path.clone().unwrap())).collect();
                (source.path, packages, listing.problems.len())
            })
            .collect();
        let short = |key: &str, name: &str| short_key(&format!(r"{key}\{name}"));
        assert_eq!(
            listed,
            [
                (
                    short_key(&machine),
                    vec![
                        ("Microsoft.WindowsStore".to_string(), short(&machine, store)),
                        ("Microsoft.VCLibs.140.00".to_string(), short(&machine, vclibs)),
                    ],
                    0
                ),
                (short_key(&user), vec![("Microsoft.WindowsCalculator".to_string(), short(&user, calculator))], 2),
            ]
        );
    }
}

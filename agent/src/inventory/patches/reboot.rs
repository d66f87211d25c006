//! Whether the machine waits for a reboot: the flag file Debian-family packages drop, and a running kernel older
//! than the newest installed one.

use std::cmp::Ordering;

use muster_shared::v1::{Package, RebootRequired};
use muster_shared::version::dpkg;

/// Flag files in the order they are looked for; `/var/run` is normally a link to `/run`.
pub const FLAG_FILES: [&str; 2] = ["/run/reboot-required", "/var/run/reboot-required"];

/// What the flag file said, if it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub path: String,
    /// Lines of `<flag>.pkgs`, the packages that asked for the reboot.
    pub packages: Vec<String>,
}

/// The verdict from the flag file and, on a live system, the running kernel against the installed kernel packages.
pub fn decide(flag: Option<&Flag>, running_kernel: Option<&str>, installed: &[&Package]) -> RebootRequired {
    let mut reasons = Vec::new();
    let mut packages = Vec::new();
    if let Some(flag) = flag {
        reasons.push(format!("{} exists", flag.path));
        for package in &flag.packages {
            if !packages.contains(package) {
                packages.push(package.clone());
            }
        }
    }
    if let Some(running) = running_kernel
        && let Some((newest, package)) = newer_kernel(running, installed)
    {
        reasons.push(format!("running kernel {running} is older than the installed {newest}"));
        if !packages.contains(&package) {
            packages.push(package);
        }
    }
    RebootRequired { required: !reasons.is_empty(), reasons, packages }
}

/// The newest installed kernel of the running kernel's flavour (`amd64`, `cloud-amd64`, `generic`) when it is
/// newer than the running one, with its package name.
///
/// Kernels of another flavour, and systems with no kernel package of that flavour (containers run the host's
/// kernel), prove nothing and give `None`.
pub fn newer_kernel(running: &str, installed: &[&Package]) -> Option<(String, String)> {
    let flavour = flavour(running)?;
    let kernels: Vec<(&str, &Package)> = installed
        .iter()
        .filter_map(|p| kernel_release(&p.name).map(|release| (release, *p)))
        .filter(|(release, _)| flavour_matches(release, flavour))
        .collect();
    let (newest_release, newest) = kernels
        .iter()
        .copied()
        .max_by(|a, b| dpkg::compare(&a.1.version, &b.1.version).then_with(|| dpkg::compare(a.0, b.0)))?;
    if newest_release == running {
        return None;
    }
    let older = match kernels.iter().find(|(release, _)| *release == running) {
        Some((_, running_package)) => dpkg::compare(&running_package.version, &newest.version) == Ordering::Less,
        // The running kernel's package is gone, as after an upgrade removed it; compare the releases themselves.
        None => dpkg::compare(running, newest_release) == Ordering::Less,
    };
    older.then(|| (newest_release.to_string(), newest.name.clone()))
}

/// The kernel release a `linux-image-*` package installs (`linux-image-6.1.0-13-amd64` → `6.1.0-13-amd64`;
/// Ubuntu's `linux-image-unsigned-…` and Debian's `…-unsigned` too). Meta and debug packages have none.
fn kernel_release(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("linux-image-")?;
    let rest = rest.strip_prefix("unsigned-").unwrap_or(rest);
    let rest = rest.strip_suffix("-unsigned").unwrap_or(rest);
    if !rest.starts_with(|c: char| c.is_ascii_digit()) || rest.ends_with("-dbg") || rest.ends_with("-dbgsym") {
        return None;
    }
    Some(rest)
}

/// The part of a release after its numbers: `6.1.0-13-cloud-amd64` → `cloud-amd64`, `5.15.0-91-generic` → `generic`.
fn flavour(release: &str) -> Option<&str> {
    let mut offset = 0;
    for part in release.split('-') {
        if offset > 0 && !part.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(&release[offset..]);
        }
        offset += part.len() + 1;
    }
    None
}

fn flavour_matches(release: &str, wanted: &str) -> bool {
    flavour(release) == Some(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::PackageKind;

    fn deb(name: &str, version: &str) -> Package {
        Package {
            kind: PackageKind::Deb,
            name: name.into(),
            version: version.into(),
            arch: Some("amd64".into()),
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

    #[test]
    fn newer_kernel_of_the_same_flavour() {
        let pkgs = [
            deb("linux-image-6.1.0-13-amd64", "6.1.55-1"),
            deb("linux-image-6.1.0-15-amd64", "6.1.66-1"),
            deb("linux-image-6.1.0-16-cloud-amd64", "6.1.67-1"),
            deb("linux-image-amd64", "6.1.66-1"),
        ];
        let refs: Vec<&Package> = pkgs.iter().collect();
        assert_eq!(
            newer_kernel("6.1.0-13-amd64", &refs),
            Some(("6.1.0-15-amd64".into(), "linux-image-6.1.0-15-amd64".into()))
        );
        assert_eq!(newer_kernel("6.1.0-15-amd64", &refs), None);
        // A container on a host kernel nobody installed here.
        assert_eq!(newer_kernel("6.18.44-fc-v769", &refs), None);
        let verdict = decide(None, Some("6.1.0-13-amd64"), &refs);
        assert!(verdict.required);
        assert_eq!(verdict.packages, ["linux-image-6.1.0-15-amd64"]);
    }

    #[test]
    fn removed_running_kernel_compares_releases() {
        let pkgs = [deb("linux-image-5.15.0-91-generic", "5.15.0-91.101")];
        let refs: Vec<&Package> = pkgs.iter().collect();
        assert!(newer_kernel("5.15.0-88-generic", &refs).is_some());
        assert_eq!(newer_kernel("5.15.0-92-generic", &refs), None);
    }

    #[test]
    fn flag_file_with_packages() {
        let flag = Flag { path: "/run/reboot-required".into(), packages: vec!["libc6".into(), "libc6".into()] };
        let verdict = decide(Some(&flag), None, &[]);
        assert_eq!(
            verdict,
            RebootRequired {
                required: true,
                reasons: vec!["/run/reboot-required exists".into()],
                packages: vec!["libc6".into()]
            }
        );
        assert!(!decide(None, None, &[]).required);
    }
}

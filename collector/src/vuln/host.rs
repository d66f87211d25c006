//! A host as matching sees it: its advisory ecosystems, its packages under the names advisories use, and which
//! installed kernel is the running one.

use muster_shared::v1::{Package, PackageKind, PendingUpdate, Report};
use muster_shared::version::Ecosystem;

use super::ecosystem::{
    EcosystemSelector, HostEcosystemError, host_ecosystems, language_ecosystem, lookup_names, package_order,
};
use super::fix::{FixInput, FixState, PendingUpdates, fix_state};

/// Kernel source packages whose advisories concern the kernel, before adding the sources of installed images.
const KERNEL_SOURCES: [&str; 7] =
    ["linux", "kernel", "kernel-rt", "linux-lts", "linux-virt", "linux-edge", "linux-rpi"];

/// Whether a finding's package is the kernel the host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelState {
    /// The running kernel's package: its advisories are active findings.
    Running,
    /// An installed kernel image that is not running: reported apart, since the running kernel is what is exposed.
    NotRunning,
    /// A kernel image on a host whose running kernel is unknown (a report read from a mounted root); kept active
    /// rather than hidden.
    Unknown,
    /// Built from a kernel source but not a kernel (`linux-libc-dev`, `linux-perf`, headers, tools): kernel
    /// advisories name the source, but the code they concern is not in these packages. Reported apart, never as a
    /// kernel.
    NotAKernel,
}

impl KernelState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::NotRunning => "not_running",
            Self::Unknown => "unknown",
            Self::NotAKernel => "not_a_kernel",
        }
    }

    /// Whether a stored kernel label keeps a match out of the active list (and so out of findings): an installed
    /// kernel image that is not running, or a package built from a kernel source that is not a kernel. One rule for
    /// every place that splits stored matches.
    pub fn is_inactive_label(label: Option<&str>) -> bool {
        matches!(label, Some("not_running" | "not_a_kernel"))
    }
}

#[derive(Debug, Clone)]
pub struct InstalledPackage {
    pub package: Package,
    /// `(name, version)` pairs to look up, see [`lookup_names`]; the first is the source shown in findings.
    pub lookups: Vec<(String, String)>,
    /// The version order of the package's advisories; `None` when it is not matched at all (no advisory ecosystem,
    /// no version order yet, or a language package an OS package provides).
    pub order: Option<Ecosystem>,
    /// A language package's own advisory ecosystem (`PyPI`, `npm`…); `None` for OS packages, which are looked up
    /// in the host's distribution ecosystems.
    pub ecosystem: Option<&'static str>,
    /// The source package shown in findings and grouping upgrades: the first lookup name for Debian-family and
    /// Alpine packages, the source rpm name for rpm packages (which may match through their binary name).
    pub source: String,
    /// `None` for packages unrelated to the kernel.
    pub kernel: Option<KernelState>,
}

impl InstalledPackage {
    pub fn source_name(&self) -> &str {
        &self.source
    }

    /// Whether advisories of `ecosystem` (whose version order is `order`) concern this package: a language
    /// package's own ecosystem only, an OS package's distribution ecosystems of its order.
    pub fn looked_up_in(&self, ecosystem: &str, order: Option<Ecosystem>) -> bool {
        match self.ecosystem {
            Some(own) => self.order.is_some() && own == ecosystem,
            None => self.order.is_some() && order == self.order,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HostProfile {
    pub hostname: Option<String>,
    pub os_id: Option<String>,
    pub os_version: Option<String>,
    pub ecosystems: Result<Vec<EcosystemSelector>, HostEcosystemError>,
    pub kernel_release: Option<String>,
    pub packages: Vec<InstalledPackage>,
    /// What the host's package sources offer (the agent's `patches.pending`), to tell fixes it can install.
    pub pending: PendingUpdates,
}

impl HostProfile {
    pub fn from_report(report: &Report) -> Self {
        let os = report.os.clone().unwrap_or_default();
        let packages = report.software.as_ref().map(|s| s.packages.clone()).unwrap_or_default();
        let pending = report.patches.as_ref().and_then(|p| p.pending.as_deref());
        Self::new(report.host.as_ref().and_then(|h| h.hostname.clone()), &os, packages).with_pending(pending)
    }

    /// The fix state of one advisory's match on one installed package, from what this host's sources offer for
    /// it; one place for the offline scan and the keyed (stored) matcher.
    pub fn fix_state_of(
        &self,
        pkg: &InstalledPackage,
        compared_version: &str,
        fixed: Option<&str>,
        vendor: Option<&str>,
    ) -> FixState {
        let input = FixInput {
            kind: pkg.package.kind,
            fixed,
            vendor,
            installed_version: pkg.package.version.as_str(),
            compared_version,
        };
        // Pending updates are the OS package manager's: they say nothing of a PyPI or npm copy of the same name.
        let candidate = if pkg.ecosystem.is_some() {
            super::fix::Candidate::Unknown
        } else {
            self.pending.candidate(&pkg.package.name, pkg.package.arch.as_deref())
        };
        fix_state(&input, candidate)
    }

    /// The packages matching checks: those with a version order, and OS packages only when the host's OS maps to
    /// advisory ecosystems. One rule for the offline scan and the collector's count.
    pub fn checked_packages(&self) -> impl Iterator<Item = &InstalledPackage> {
        let os_checked = self.ecosystems.is_ok();
        self.packages.iter().filter(move |p| p.order.is_some() && (os_checked || p.ecosystem.is_some()))
    }

    /// The language ecosystems whose advisories concern this host's own (not OS-provided) language packages.
    pub fn language_ecosystems(&self) -> std::collections::BTreeSet<&'static str> {
        self.packages.iter().filter(|p| p.order.is_some()).filter_map(|p| p.ecosystem).collect()
    }

    /// Sets the host's pending updates; `None` when they are unknown (the default).
    pub fn with_pending(mut self, pending: Option<&[PendingUpdate]>) -> Self {
        self.pending = PendingUpdates::new(pending);
        self
    }

    pub fn new(hostname: Option<String>, os: &muster_shared::v1::Os, packages: Vec<Package>) -> Self {
        let os_id = os.id.clone();
        let release = os.kernel_release.clone().filter(|r| !r.trim().is_empty());
        let mut installed: Vec<InstalledPackage> = packages
            .into_iter()
            // A removed package whose configuration files remain has no code left to be vulnerable.
            .filter(Package::is_installed)
            .map(|package| {
                let lookups = lookup_names(&package, os_id.as_deref());
                let source = match package.kind {
                    PackageKind::Rpm => package.source_name.clone().filter(|s| !s.is_empty()),
                    _ => lookups.first().map(|(n, _)| n.clone()),
                };
                let ecosystem = language_ecosystem(package.kind);
                InstalledPackage {
                    source: source.unwrap_or_else(|| package.name.clone()),
                    order: package_order(package.kind).filter(|_| ecosystem.is_none() || !lookups.is_empty()),
                    ecosystem,
                    lookups,
                    kernel: None,
                    package,
                }
            })
            .collect();

        let mut kernel_sources: Vec<String> = KERNEL_SOURCES.iter().map(|s| (*s).to_owned()).collect();
        for p in installed.iter().filter(|p| is_kernel_image(&p.package)) {
            kernel_sources.extend(p.lookups.iter().map(|(n, _)| n.clone()));
        }
        for p in &mut installed {
            let image = is_kernel_image(&p.package);
            if !image && !p.lookups.iter().any(|(n, _)| kernel_sources.contains(n)) {
                continue;
            }
            p.kernel = Some(match (&release, image) {
                (_, false) => KernelState::NotAKernel,
                (None, true) => KernelState::Unknown,
                (Some(r), true) if is_running_kernel(&p.package, r) => KernelState::Running,
                (Some(_), true) => KernelState::NotRunning,
            });
        }
        Self {
            hostname,
            os_id,
            os_version: os.version_id.clone(),
            ecosystems: host_ecosystems(os),
            kernel_release: release,
            packages: installed,
            pending: PendingUpdates::default(),
        }
    }
}

/// A bootable kernel package (not headers, tools, `linux-libc-dev`, `linux-perf` or metapackages of other names).
pub fn is_kernel_image(pkg: &Package) -> bool {
    let n = pkg.name.as_str();
    match pkg.kind {
        PackageKind::Deb => n.starts_with("linux-image-"),
        PackageKind::Rpm => {
            n == "kernel"
                || n == "kernel-core"
                || (n.starts_with("kernel-") && n.ends_with("-core"))
                || n == "kernel-uek"
        }
        PackageKind::Apk => {
            matches!(n, "linux-lts" | "linux-virt" | "linux-edge" | "linux-rpi" | "linux-rpi4" | "linux-stable")
        }
        // Arch kernels are not matched (no advisory ecosystem); language packages, snaps and programs are no kernels.
        _ => false,
    }
}

/// Whether a kernel image package provides the running kernel `release` (`uname -r`).
pub fn is_running_kernel(pkg: &Package, release: &str) -> bool {
    match pkg.kind {
        // linux-image-6.1.0-18-amd64, Ubuntu's linux-image-unsigned-6.8.0-45-generic, Debian's …-unsigned.
        PackageKind::Deb => {
            let rest = pkg.name.strip_prefix("linux-image-").unwrap_or_default();
            let rest = rest.strip_prefix("unsigned-").unwrap_or(rest);
            rest.strip_suffix("-unsigned").unwrap_or(rest) == release
        }
        // kernel-core 5.14.0-362.8.1.el9_3 x86_64 runs as 5.14.0-362.8.1.el9_3.x86_64.
        PackageKind::Rpm => {
            let evr = pkg.version.split_once(':').map_or(pkg.version.as_str(), |(_, vr)| vr);
            match &pkg.arch {
                Some(arch) => release == format!("{evr}.{arch}"),
                None => release == evr || release.strip_prefix(evr).is_some_and(|r| r.starts_with('.')),
            }
        }
        // linux-lts 6.6.58-r0 runs as 6.6.58-0-lts.
        PackageKind::Apk => {
            let flavor = pkg.name.strip_prefix("linux-").unwrap_or_default();
            match pkg.version.rsplit_once("-r") {
                Some((v, r)) => release == format!("{v}-{r}-{flavor}"),
                None => false,
            }
        }
        // Arch kernels are not matched (no advisory ecosystem); language packages, snaps and programs are no kernels.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(kind: PackageKind, name: &str, version: &str, arch: Option<&str>) -> Package {
        Package {
            kind,
            name: name.into(),
            version: version.into(),
            arch: arch.map(Into::into),
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
    fn recognises_the_running_kernel_package() {
        let deb = pkg(PackageKind::Deb, "linux-image-6.1.0-18-amd64", "6.1.76-1", Some("amd64"));
        assert!(is_running_kernel(&deb, "6.1.0-18-amd64"));
        assert!(!is_running_kernel(&deb, "6.1.0-28-amd64"));
        let rpm = pkg(PackageKind::Rpm, "kernel-core", "5.14.0-362.8.1.el9_3", Some("x86_64"));
        assert!(is_kernel_image(&rpm));
        assert!(is_running_kernel(&rpm, "5.14.0-362.8.1.el9_3.x86_64"));
        let apk = pkg(PackageKind::Apk, "linux-lts", "6.6.58-r0", Some("x86_64"));
        assert!(is_running_kernel(&apk, "6.6.58-0-lts"));
        assert!(!is_kernel_image(&pkg(PackageKind::Deb, "linux-libc-dev", "6.1.76-1", None)));
    }

    #[test]
    fn stored_labels_that_keep_a_match_out_of_findings() {
        // The store splits stored matches by this rule: headers and tools were kept out of findings as
        // "not-running kernels" before they had a label of their own, and must stay out under it.
        for (state, inactive) in [
            (KernelState::Running, false),
            (KernelState::Unknown, false),
            (KernelState::NotRunning, true),
            (KernelState::NotAKernel, true),
        ] {
            assert_eq!(KernelState::is_inactive_label(Some(state.as_str())), inactive, "{state:?}");
        }
        assert!(!KernelState::is_inactive_label(None));
    }

    #[test]
    fn kernel_source_packages_that_are_not_kernels_are_labelled_so() {
        let os = muster_shared::v1::Os {
            id: Some("debian".into()),
            version_id: Some("12".into()),
            kernel_release: Some("6.1.0-18-amd64".into()),
            ..Default::default()
        };
        let source = |mut p: Package| {
            p.source_name = Some("linux".into());
            p
        };
        let mut image = pkg(PackageKind::Deb, "linux-image-6.1.0-18-amd64", "6.1.76-1", Some("amd64"));
        image.source_name = Some("linux-signed-amd64".into());
        let packages = vec![
            image,
            source(pkg(PackageKind::Deb, "linux-libc-dev", "6.1.76-1", Some("amd64"))),
            source(pkg(PackageKind::Deb, "linux-perf", "6.1.76-1", Some("amd64"))),
            source(pkg(PackageKind::Deb, "linux-headers-6.1.0-18-common", "6.1.76-1", Some("all"))),
        ];
        let host = HostProfile::new(None, &os, packages.clone());
        let states: Vec<(&str, Option<KernelState>)> =
            host.packages.iter().map(|p| (p.package.name.as_str(), p.kernel)).collect();
        assert_eq!(
            states,
            vec![
                ("linux-image-6.1.0-18-amd64", Some(KernelState::Running)),
                ("linux-libc-dev", Some(KernelState::NotAKernel)),
                ("linux-perf", Some(KernelState::NotAKernel)),
                ("linux-headers-6.1.0-18-common", Some(KernelState::NotAKernel)),
            ]
        );
        // From a mounted root the running kernel is unknown; headers and tools are still not kernels.
        let host = HostProfile::new(None, &muster_shared::v1::Os { kernel_release: None, ..os }, packages);
        assert_eq!(host.packages[0].kernel, Some(KernelState::Unknown));
        assert_eq!(host.packages[1].kernel, Some(KernelState::NotAKernel));
    }
}

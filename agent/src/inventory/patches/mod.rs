//! The patches section: pending updates, security updates, reboot-required and automatic-update state.
//!
//! Everything is computed offline from the package manager's own files (no `apt update`, no `dnf makecache`, no
//! network), so the answer is as fresh as the last list refresh, which the report states in `lists_updated_at`:
//! apt from its lists, dnf, yum and zypper from their cached rpm-md metadata, apk from its cached indexes, macOS
//! from what Software Update's last check stored (`softwareupdate`).

pub mod apk;
pub mod apt;
pub mod automatic;
pub mod dnf;
mod probe;
pub mod reboot;
pub mod softwareupdate;

use chrono::{DateTime, Utc};
use muster_shared::v1::{ErrorKind, Os, Package, PackageKind, Patches, PendingUpdate, SectionName, Software};

use crate::root::{ErrorLog, SystemRoot};

const SECTION: SectionName = SectionName::Patches;

/// Computes patch state offline from the package manager's own files.
pub fn collect(
    root: &SystemRoot,
    software: Option<&Software>,
    os: Option<&Os>,
    _now: DateTime<Utc>,
    errors: &mut ErrorLog,
) -> Option<Patches> {
    // A live Windows: the registry's reboot flags (`inventory::windows::reboot`).
    #[cfg(windows)]
    if root.is_live() {
        return Some(crate::inventory::windows::collect_patches(errors));
    }
    let installed = |kind: PackageKind| -> Vec<&Package> {
        software.map(|s| s.packages.iter().filter(|p| p.kind == kind).collect()).unwrap_or_default()
    };
    if is_apt_system(root) {
        return Some(apt_patches(root, &installed(PackageKind::Deb), os, errors));
    }
    if root.exists(probe::APK_INSTALLED) && root.exists(apk::REPOSITORIES) {
        return Some(probe::apk_patches(root, &installed(PackageKind::Apk), os, errors));
    }
    if let Some(manager) = dnf::detect(root)
        && probe::RPMDB_DIRS.iter().any(|d| root.exists(d))
    {
        return Some(probe::rpm_patches(root, manager, &installed(PackageKind::Rpm), errors));
    }
    if root.exists(softwareupdate::PREFERENCES) || root.exists(softwareupdate::INSTALL_HISTORY) {
        return Some(probe::macos_patches(root, errors));
    }
    errors.record(
        SECTION,
        "patches.pending",
        ErrorKind::Unsupported,
        "pending updates are computed for apt, dnf, yum, zypper, apk and macOS systems; this root has none of them",
    );
    None
}

/// How many updates are pending and how many of them are security updates; both unknown when the list is.
pub(crate) fn pending_counts(pending: Option<&[PendingUpdate]>) -> (Option<u32>, Option<u32>) {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    match pending {
        Some(p) => (Some(count(p.len())), Some(count(p.iter().filter(|u| u.security).count()))),
        None => (None, None),
    }
}

fn apt_patches(root: &SystemRoot, installed: &[&Package], os: Option<&Os>, errors: &mut ErrorLog) -> Patches {
    let conf = apt::read_conf(root, errors);
    let known = !installed.is_empty();
    let state = if known {
        apt::pending(root, installed, &conf, errors)
    } else {
        errors.record(
            SECTION,
            "patches.pending",
            ErrorKind::NotAvailable,
            "the installed deb packages are unknown, so pending updates cannot be computed",
        );
        apt::PendingState { pending: None, lists_updated_at: None }
    };
    let (pending_count, security_count) = pending_counts(state.pending.as_deref());
    Patches {
        manager: Some("apt".to_string()),
        pending_count,
        security_count,
        pending: state.pending,
        lists_updated_at: state.lists_updated_at,
        last_update_installed_at: None,
        reboot_required: Some(reboot_required(root, os, installed, known, errors)),
        automatic_updates: known.then(|| automatic::decide(installed, &conf)),
        advisories: Vec::new(),
        installed_updates: Vec::new(),
    }
}

/// apt systems have dpkg's database and apt's configuration; distroless images carry neither apt nor a status file.
fn is_apt_system(root: &SystemRoot) -> bool {
    root.exists("/var/lib/dpkg/status") && root.exists("/etc/apt")
}

fn reboot_required(
    root: &SystemRoot,
    os: Option<&Os>,
    installed: &[&Package],
    installed_known: bool,
    errors: &mut ErrorLog,
) -> muster_shared::v1::RebootRequired {
    let flag = reboot::FLAG_FILES.iter().find(|path| root.exists(path)).map(|path| {
        let list = format!("{path}.pkgs");
        let packages = match root.read_to_string(&list) {
            Ok(text) => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => {
                errors.io(SECTION, list, &err);
                Vec::new()
            }
        };
        reboot::Flag { path: path.to_string(), packages }
    });
    let running = if !root.is_live() {
        errors.not_live(SECTION, "reboot_required.kernel");
        None
    } else if !installed_known {
        None
    } else {
        running_kernel(root, os, errors)
    };
    reboot::decide(flag.as_ref(), running.as_deref(), installed)
}

/// The running kernel's release on a live system: the os section's, else `/proc/sys/kernel/osrelease`.
fn running_kernel(root: &SystemRoot, os: Option<&Os>, errors: &mut ErrorLog) -> Option<String> {
    match os.and_then(|o| o.kernel_release.clone()) {
        Some(release) => Some(release),
        None => match root.read_to_string("/proc/sys/kernel/osrelease") {
            Ok(text) => Some(text.trim().to_string()),
            Err(err) => {
                errors.io(SECTION, "/proc/sys/kernel/osrelease", &err);
                None
            }
        },
    }
}

#[cfg(test)]
mod tests;

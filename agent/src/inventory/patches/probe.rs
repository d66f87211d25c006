//! The thin I/O around the rpm-family, Alpine and macOS patch state: which files to read, what only a running
//! system can tell (boot time, running kernel), and assembling the section from the pure parts in `dnf/`, `apk/`
//! and `softwareupdate`.

use muster_shared::v1::{ErrorKind, Os, Package, Patches, PendingUpdate, RebootRequired};

use super::dnf::repos::Manager;
use super::dnf::{automatic as dnf_automatic, reboot as dnf_reboot};
use super::{SECTION, apk, dnf, running_kernel, softwareupdate};
use crate::root::{ErrorLog, SystemRoot};

pub const APK_INSTALLED: &str = "/lib/apk/db/installed";
/// rpm's database directories, as the software section reads them.
pub const RPMDB_DIRS: [&str; 2] = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"];
/// zypper's flag file, written when an installed package asks for a reboot (`zypper needs-rebooting`).
const ZYPPER_REBOOT_FLAG: &str = "/run/reboot-needed";

/// The patches section of a dnf, yum or zypper system.
pub fn rpm_patches(root: &SystemRoot, manager: Manager, installed: &[&Package], errors: &mut ErrorLog) -> Patches {
    let name = manager.name().to_string();
    if installed.is_empty() {
        errors.record(
            SECTION,
            "patches.pending",
            ErrorKind::NotAvailable,
            "the installed rpm packages are unknown, so pending updates cannot be computed",
        );
        return Patches { manager: Some(name), ..Patches::default() };
    }
    let state = dnf::pending(root, manager, installed, errors);
    let automatic = if manager == Manager::Zypper {
        errors.record(
            SECTION,
            "patches.automatic_updates",
            ErrorKind::Unsupported,
            "automatic updates are not determined for zypper systems yet",
        );
        None
    } else {
        Some(dnf_automatic::decide(installed, &automatic_facts(root)))
    };
    let (pending_count, security_count) = counts(state.pending.as_deref());
    Patches {
        manager: Some(name),
        pending_count,
        security_count,
        pending: state.pending,
        lists_updated_at: state.lists_updated_at,
        last_update_installed_at: None,
        reboot_required: rpm_reboot(root, manager, installed, errors),
        automatic_updates: automatic,
        advisories: state.advisories,
        installed_updates: Vec::new(),
    }
}

/// The patches section of an Alpine system. APKINDEX carries no advisories, so which updates fix security issues
/// is not known here and `security_count` stays absent rather than claiming none.
pub fn apk_patches(root: &SystemRoot, installed: &[&Package], os: Option<&Os>, errors: &mut ErrorLog) -> Patches {
    let manager = Some("apk".to_string());
    if installed.is_empty() {
        errors.record(
            SECTION,
            "patches.pending",
            ErrorKind::NotAvailable,
            "the installed apk packages are unknown, so pending updates cannot be computed",
        );
        return Patches { manager, ..Patches::default() };
    }
    let state = apk::pending(root, installed, errors);
    errors.record(
        SECTION,
        "patches.security",
        ErrorKind::Unsupported,
        "Alpine's repository indexes carry no advisories, so security updates are not told apart",
    );
    let reboot_required = if root.is_live() {
        running_kernel(root, os, errors).map(|running| apk::reboot_required(&running, installed))
    } else {
        errors.not_live(SECTION, "reboot_required.kernel");
        None
    };
    Patches {
        manager,
        pending_count: state.pending.as_ref().map(|p| p.len() as u32),
        security_count: None,
        pending: state.pending,
        lists_updated_at: state.lists_updated_at,
        last_update_installed_at: None,
        reboot_required,
        automatic_updates: Some(apk::automatic(&cron_jobs(root))),
        advisories: Vec::new(),
        installed_updates: Vec::new(),
    }
}

fn counts(pending: Option<&[PendingUpdate]>) -> (Option<u32>, Option<u32>) {
    let Some(pending) = pending else { return (None, None) };
    (Some(pending.len() as u32), Some(pending.iter().filter(|u| u.security).count() as u32))
}

/// needs-restarting's verdict on a live system (boot time is the start of process 1, as the plugin takes it);
/// zypper's flag file otherwise.
fn rpm_reboot(
    root: &SystemRoot,
    manager: Manager,
    installed: &[&Package],
    errors: &mut ErrorLog,
) -> Option<RebootRequired> {
    if manager == Manager::Zypper {
        if !root.is_live() {
            errors.not_live(SECTION, "reboot_required");
            return None;
        }
        let required = root.exists(ZYPPER_REBOOT_FLAG);
        return Some(RebootRequired {
            required,
            reasons: if required { vec![format!("{ZYPPER_REBOOT_FLAG} exists")] } else { Vec::new() },
            packages: Vec::new(),
        });
    }
    if !root.is_live() {
        errors.not_live(SECTION, "reboot_required");
        return None;
    }
    let boot = match std::fs::metadata(root.path("/proc/1")).and_then(|m| m.modified()) {
        Ok(at) => match crate::root::file_time(at) {
            Some(at) => at,
            None => {
                errors.record(SECTION, "/proc/1", ErrorKind::Parse, "its start time is out of range".to_owned());
                return None;
            }
        },
        Err(err) => {
            errors.io(SECTION, "/proc/1", &err);
            return None;
        }
    };
    let extra = dnf_reboot::extra_names(&conf_files(root, dnf_reboot::EXTRA_DIR, ".conf"));
    Some(dnf_reboot::decide(manager, installed, boot, &extra))
}

fn automatic_facts(root: &SystemRoot) -> dnf_automatic::Facts {
    let wants = |dir: &str, unit: &str| root.exists(format!("{dir}/{unit}"));
    dnf_automatic::Facts {
        enabled_timers: dnf_automatic::DNF_TIMERS
            .iter()
            .filter(|(timer, _)| wants(dnf_automatic::TIMERS_WANTS, timer))
            .map(|(timer, _)| timer.to_string())
            .collect(),
        dnf_conf: root.read_to_string(dnf_automatic::DNF_AUTOMATIC_CONF).ok(),
        yum_cron_enabled: wants(dnf_automatic::SERVICES_WANTS, "yum-cron.service"),
        yum_cron_conf: root.read_to_string(dnf_automatic::YUM_CRON_CONF).ok(),
    }
}

/// The texts of a directory's files ending in `suffix`, in name order.
fn conf_files(root: &SystemRoot, dir: &str, suffix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.path(dir)) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names.iter().filter_map(|n| root.read_to_string(format!("{dir}/{n}")).ok()).collect()
}

/// busybox crond's root crontab and every periodic script, as `(path, text)`.
fn cron_jobs(root: &SystemRoot) -> Vec<(String, String)> {
    let mut jobs = Vec::new();
    for place in apk::JOB_PLACES {
        if let Ok(text) = root.read_to_string(place) {
            jobs.push((place.to_string(), text));
            continue;
        }
        let Ok(entries) = std::fs::read_dir(root.path(place)) else { continue };
        let mut names: Vec<String> =
            entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for name in names {
            let path = format!("{place}/{name}");
            if let Ok(text) = root.read_to_string(&path) {
                jobs.push((path, text));
            }
        }
    }
    jobs
}

/// One of Software Update's files, bounded; `None` (recorded) when absent, unreadable or not a plist.
fn software_update_file<T>(
    root: &SystemRoot,
    path: &str,
    parse: impl Fn(&[u8]) -> Result<T, softwareupdate::PlistError>,
    errors: &mut ErrorLog,
) -> Option<T> {
    let read = root
        .read_regular(path, softwareupdate::MAX_BYTES)
        .and_then(|bytes| bytes.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not found")));
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(err) => {
            errors.io(SECTION, path, &err);
            return None;
        }
    };
    parse(&bytes).map_err(|e| errors.record(SECTION, path, ErrorKind::Parse, e.to_string())).ok()
}

/// The patches section of a Mac, from Software Update's preferences and the installation history.
pub fn macos_patches(root: &SystemRoot, errors: &mut ErrorLog) -> Patches {
    let managed = if root.exists(softwareupdate::MANAGED_PREFERENCES) {
        software_update_file(root, softwareupdate::MANAGED_PREFERENCES, softwareupdate::read_switches, errors)
    } else {
        None
    };
    let read = |bytes: &[u8]| softwareupdate::read_preferences(bytes, managed.as_ref());
    let preferences = software_update_file(root, softwareupdate::PREFERENCES, read, errors);
    let history = if root.exists(softwareupdate::INSTALL_HISTORY) {
        software_update_file(root, softwareupdate::INSTALL_HISTORY, softwareupdate::read_install_history, errors)
    } else {
        None
    };
    let last_update = history.iter().flatten().filter(|i| i.is_system_update()).map(|i| i.at).max();
    let Some(preferences) = preferences else {
        return Patches {
            manager: Some(softwareupdate::MANAGER.to_owned()),
            last_update_installed_at: last_update,
            // A configuration profile's switches still say whether updates install themselves.
            automatic_updates: managed
                .as_ref()
                .and_then(|m| softwareupdate::automatic_updates(&[(softwareupdate::MANAGED_PREFERENCES, m)])),
            ..Patches::default()
        };
    };
    if preferences.automatic.is_none() {
        errors.record(
            SECTION,
            "patches.automatic_updates",
            ErrorKind::NotFound,
            "neither Software Update's preferences nor a configuration profile set any of its automatic-update \
             switches",
        );
    }
    Patches {
        manager: Some(softwareupdate::MANAGER.to_owned()),
        pending_count: Some(preferences.pending.len() as u32),
        // Apple's catalogue does not say which offered updates fix security issues.
        security_count: None,
        pending: Some(preferences.pending),
        lists_updated_at: preferences.last_check,
        last_update_installed_at: last_update,
        reboot_required: None,
        automatic_updates: preferences.automatic,
        advisories: Vec::new(),
        installed_updates: Vec::new(),
    }
}

//! Whether an rpm system waits for a reboot, decided as `dnf needs-restarting -r` (and yum-utils' before it) does:
//! a core package installed after the system booted.

use chrono::{DateTime, Utc};
use muster_shared::v1::{Package, RebootRequired};

use super::repos::Manager;

/// dnf-plugins-core's `NEED_REBOOT` (4.3), plus `kernel-core` and `microcode_ctl`, which later releases added.
const DNF_CORE: [&str; 10] = [
    "kernel",
    "kernel-core",
    "kernel-rt",
    "glibc",
    "linux-firmware",
    "systemd",
    "dbus",
    "dbus-broker",
    "dbus-daemon",
    "microcode_ctl",
];

/// yum-utils' `needs-restarting -r` list (RHEL/CentOS 7).
const YUM_CORE: [&str; 8] = ["kernel", "glibc", "linux-firmware", "systemd", "udev", "openssl-libs", "gnutls", "dbus"];

/// Where dnf's plugin reads more package names, one per line, from `*.conf` files.
pub const EXTRA_DIR: &str = "/etc/dnf/plugins/needs-restarting.d";

/// The verdict for `installed` given the boot time; `extra` are names from [`EXTRA_DIR`].
pub fn decide(manager: Manager, installed: &[&Package], boot_time: DateTime<Utc>, extra: &[String]) -> RebootRequired {
    let core: &[&str] = if manager == Manager::Yum { &YUM_CORE } else { &DNF_CORE };
    let mut packages: Vec<String> = installed
        .iter()
        .filter(|p| core.contains(&p.name.as_str()) || extra.contains(&p.name))
        .filter(|p| p.installed_at.is_some_and(|at| at > boot_time))
        .map(|p| p.name.clone())
        .collect();
    packages.sort();
    packages.dedup();
    let reasons = if packages.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "core libraries or services were updated after boot ({})",
            boot_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )]
    };
    RebootRequired { required: !packages.is_empty(), reasons, packages }
}

/// Package names of the `*.conf` files' lines (the plugin takes each line as it is, without its end of line).
pub fn extra_names(files: &[String]) -> Vec<String> {
    files
        .iter()
        .flat_map(|text| text.lines().map(str::trim_end).filter(|l| !l.is_empty()).map(str::to_string))
        .collect()
}

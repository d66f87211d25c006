//! Host-level checks: auditd, time sync, malware scanner, USB storage, ASLR and Secure Boot.

use muster_shared::v1::Check;

use super::pam::Named;
use super::runtime::{LiveFacts, Runtime};
use super::{Input, fail, not_applicable, pass, read_input, setting_lines, unknown};
use crate::root::{ErrorLog, SystemRoot};

const AUDITD: &str = "audit.auditd";
const TIME_SYNC: &str = "time.sync";
const MALWARE: &str = "malware.scanner";
const USB_STORAGE: &str = "usb.storage_disabled";
const ASLR: &str = "kernel.aslr";
const SECURE_BOOT: &str = "boot.secure_boot";

const NOT_LIVE: &str = "needs the running system; not available in --root mode";
const RANDOMIZE_VA_SPACE: &str = "/proc/sys/kernel/randomize_va_space";
/// The EFI global-variable GUID under which firmware publishes `SecureBoot`.
const SECURE_BOOT_VAR: &str = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e39400e0c6fb";
/// modprobe.d directories, highest precedence first: a file name in an earlier directory hides the same name later.
const MODPROBE_DIRS: [&str; 5] =
    ["/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d"];

/// Processes and files of common scanners: ClamAV, Microsoft Defender, CrowdStrike Falcon, Sophos, ESET, Trend
/// Micro Deep Security, SentinelOne.
const SCANNER_PROCESSES: [&str; 9] = [
    "clamd",
    "freshclam",
    "wdavdaemon",
    "falcon-sensor",
    "sophos_threat_d",
    "esets_daemon",
    "oneav",
    "ds_agent",
    "sentinelone-a",
];
const SCANNER_FILES: [&str; 8] = [
    "/usr/sbin/clamd",
    "/usr/bin/clamscan",
    "/opt/microsoft/mdatp/sbin/wdavdaemon",
    "/opt/CrowdStrike/falcond",
    "/opt/sophos-spl/bin/sophos_watchdog",
    "/opt/eset/efs/sbin/startd",
    "/opt/ds_agent/ds_agent",
    "/opt/sentinelone/bin/sentinelctl",
];

pub(crate) fn probe(root: &SystemRoot, runtime: &Runtime, errors: &mut ErrorLog) -> Vec<Check> {
    vec![
        service(
            runtime,
            AUDITD,
            &["auditd"],
            &["auditd.service"],
            "install and enable auditd (`systemctl enable --now auditd`)",
        ),
        service(
            runtime,
            TIME_SYNC,
            &["chronyd", "systemd-timesyn", "ntpd"],
            &[
                "chrony.service",
                "chronyd.service",
                "systemd-timesyncd.service",
                "ntp.service",
                "ntpd.service",
                "ntpsec.service",
            ],
            "enable a time service (chrony or systemd-timesyncd)",
        ),
        malware_scanner(root, runtime),
        usb_storage_probe(root, runtime, errors),
        aslr_probe(root, runtime),
        secure_boot_probe(root, runtime),
    ]
}

/// The live facts, or the check that explains why they do not apply.
fn live<'a>(runtime: &'a Runtime, id: &str) -> Result<&'a LiveFacts, Check> {
    match runtime {
        Runtime::NotLive => Err(not_applicable(id, NOT_LIVE)),
        Runtime::Live(facts) => Ok(facts),
    }
}

/// Host-only facts (kernel modules, firmware, the host's daemons) do not describe a container.
fn host<'a>(runtime: &'a Runtime, id: &str) -> Result<&'a LiveFacts, Check> {
    let facts = live(runtime, id)?;
    match &facts.container {
        Some(marker) => {
            Err(not_applicable(id, format!("running in a container ({marker}); this is the host's concern")))
        }
        None => Ok(facts),
    }
}

fn service(runtime: &Runtime, id: &str, processes: &[&str], units: &[&str], remediation: &str) -> Check {
    let facts = match host(runtime, id) {
        Ok(facts) => facts,
        Err(check) => return check,
    };
    match facts.running(processes, units) {
        Some(evidence) => pass(id, vec![evidence]),
        None => fail(id, vec![format!("none of {} running", processes.join(", "))], remediation),
    }
}

/// Informational: any known scanner installed (or, on a live system, running).
fn malware_scanner(root: &SystemRoot, runtime: &Runtime) -> Check {
    if let Runtime::Live(facts) = runtime
        && let Some(evidence) = facts.running(&SCANNER_PROCESSES, &[])
    {
        return pass(MALWARE, vec![evidence]);
    }
    match SCANNER_FILES.iter().find(|path| root.exists(path)) {
        Some(path) => pass(MALWARE, vec![format!("{path} installed")]),
        None => fail(
            MALWARE,
            vec!["no known malware scanner installed (ClamAV, Defender, Falcon, Sophos, ESET, Deep Security, SentinelOne)".into()],
            "install the organisation's endpoint protection if policy requires one",
        ),
    }
}

/// What modprobe configuration says about usb-storage: `install usb-storage /bin/false` (or `true`) makes loading
/// impossible; `blacklist usb-storage` stops the automatic loading that plugging a stick triggers.
pub(crate) fn usb_storage_config(files: &[Named<'_>]) -> Vec<String> {
    let mut evidence = Vec::new();
    for file in files {
        for (number, line) in setting_lines(file.text) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let module_is_usb_storage = words.get(1).is_some_and(|m| m.replace('-', "_") == "usb_storage");
            let disables = match words.first() {
                Some(&"blacklist") => true,
                Some(&"install") => {
                    words.get(2).is_some_and(|cmd| matches!(cmd.rsplit('/').next(), Some("false" | "true")))
                }
                _ => false,
            };
            if module_is_usb_storage && disables {
                evidence.push(format!("{}:{number}: {line}", file.path));
            }
        }
    }
    evidence
}

pub(crate) fn usb_storage(config: &[String], loaded: Option<bool>) -> Check {
    let remediation =
        "add `install usb-storage /bin/false` and `blacklist usb-storage` to /etc/modprobe.d/usb-storage.conf";
    if loaded == Some(true) {
        let mut evidence = vec!["usb_storage module loaded (/sys/module/usb_storage)".to_string()];
        evidence.extend(config.iter().cloned());
        return fail(USB_STORAGE, evidence, remediation);
    }
    if config.is_empty() {
        return fail(USB_STORAGE, vec!["no modprobe rule disables usb-storage".into()], remediation);
    }
    let mut evidence = config.to_vec();
    if loaded == Some(false) {
        evidence.push("usb_storage module not loaded".into());
    }
    pass(USB_STORAGE, evidence)
}

fn usb_storage_probe(root: &SystemRoot, runtime: &Runtime, errors: &mut ErrorLog) -> Check {
    let loaded = match runtime {
        Runtime::NotLive => None,
        Runtime::Live(_) => match host(runtime, USB_STORAGE) {
            Ok(_) => Some(root.exists("/sys/module/usb_storage")),
            Err(check) => return check,
        },
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut texts = Vec::new();
    for dir in MODPROBE_DIRS {
        let Ok(entries) = std::fs::read_dir(root.path(dir)) else { continue };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".conf"))
            .collect();
        names.sort();
        for name in names {
            if !seen.insert(name.clone()) {
                continue;
            }
            let path = format!("{dir}/{name}");
            if let Input::Present(text) = read_input(root, &path, errors) {
                texts.push((path, text));
            }
        }
    }
    let named: Vec<Named<'_>> = texts.iter().map(|(path, text)| Named { path, text }).collect();
    usb_storage(&usb_storage_config(&named), loaded)
}

/// `randomize_va_space`: 2 randomises stack, mmap, VDSO and heap; 1 leaves the heap; 0 disables ASLR.
pub(crate) fn aslr(value: &str) -> Check {
    let evidence = vec![format!("{RANDOMIZE_VA_SPACE} = {}", value.trim())];
    match value.trim() {
        "2" => pass(ASLR, evidence),
        "0" | "1" => {
            fail(ASLR, evidence, "set `kernel.randomize_va_space = 2` in /etc/sysctl.d/ and run `sysctl --system`")
        }
        other => unknown(ASLR, format!("unexpected value in {RANDOMIZE_VA_SPACE}: {other:?}")),
    }
}

fn aslr_probe(root: &SystemRoot, runtime: &Runtime) -> Check {
    if let Err(check) = live(runtime, ASLR) {
        return check;
    }
    match root.read_to_string(RANDOMIZE_VA_SPACE) {
        Ok(value) => aslr(&value),
        Err(err) => unknown(ASLR, format!("{RANDOMIZE_VA_SPACE}: {err}")),
    }
}

/// The `SecureBoot` EFI variable: 4 attribute bytes, then 1 when Secure Boot is enforcing.
pub(crate) fn secure_boot(variable: Option<&[u8]>) -> Check {
    let remediation = "enable Secure Boot in the firmware setup (with a signed bootloader and kernel)";
    match variable {
        None => fail(
            SECURE_BOOT,
            vec!["EFI boot without a SecureBoot variable: the firmware does not offer it".into()],
            remediation,
        ),
        Some([_, _, _, _, 1]) => pass(SECURE_BOOT, vec!["SecureBoot EFI variable = 1".into()]),
        Some([_, _, _, _, 0]) => fail(SECURE_BOOT, vec!["SecureBoot EFI variable = 0".into()], remediation),
        Some(other) => unknown(SECURE_BOOT, format!("SecureBoot EFI variable has unexpected content {other:02x?}")),
    }
}

fn secure_boot_probe(root: &SystemRoot, runtime: &Runtime) -> Check {
    if let Err(check) = host(runtime, SECURE_BOOT) {
        return check;
    }
    if !root.exists("/sys/firmware/efi") {
        return not_applicable(SECURE_BOOT, "booted in legacy BIOS mode (no /sys/firmware/efi)");
    }
    match root.read(SECURE_BOOT_VAR) {
        Ok(bytes) => secure_boot(Some(&bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => secure_boot(None),
        Err(err) => unknown(SECURE_BOOT, format!("{SECURE_BOOT_VAR}: {err}")),
    }
}

#[cfg(test)]
mod tests;

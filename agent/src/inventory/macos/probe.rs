//! The live side of the macOS inventory: runs `system_profiler` (applications, software, memory, power, storage, USB),
//! `ioreg -rd1 -c IOPlatformExpertDevice` and the posture tools (`fdesetup`, `socketfilterfw`, `spctl`, `csrutil`,
//! `systemsetup`) and hands their output to the same pure readers the tests run on captured output.

use std::time::Duration;

use muster_shared::v1::{ErrorKind, Os, PackageKind, PackageSource, SectionName, Software};

use crate::command::run;
use crate::inventory::software::{Listing, assemble};
use crate::root::ErrorLog;

const SYSTEM_PROFILER: &str = "/usr/sbin/system_profiler";
const IOREG: &str = "/usr/sbin/ioreg";

/// The `os` section of a live Mac, from `system_profiler SPSoftwareDataType`; `None` with an error when unreadable.
pub fn collect_os(errors: &mut ErrorLog) -> Option<Os> {
    match run(SYSTEM_PROFILER, &["SPSoftwareDataType"], Duration::from_secs(30)) {
        Ok(out) if out.ok => {
            let os = super::os::os(&String::from_utf8_lossy(&out.stdout)).map(|mut os| {
                os.architecture = Some(std::env::consts::ARCH.to_owned());
                os
            });
            if os.is_none() {
                errors.record(SectionName::Os, SYSTEM_PROFILER, ErrorKind::Parse, "no System Version in its output");
            }
            os
        }
        Ok(out) => {
            errors.record(SectionName::Os, SYSTEM_PROFILER, ErrorKind::Io, format!("{}: {}", out.status, out.stderr));
            None
        }
        Err(e) => {
            errors.io(SectionName::Os, SYSTEM_PROFILER, &e);
            None
        }
    }
}

/// The firmware part of a live Mac's hardware section: its identity (maker, model, serial, UUID) from the I/O
/// Registry, its enclosure and memory modules from `system_profiler SPHardwareDataType SPMemoryDataType`. Macs have no SMBIOS table to read.
pub fn collect_firmware(errors: &mut ErrorLog) -> crate::inventory::hardware::firmware::Firmware {
    let system = match run(IOREG, &["-rd1", "-c", "IOPlatformExpertDevice"], Duration::from_secs(30)) {
        Ok(out) if out.ok => {
            let system = super::hardware::system_info(&String::from_utf8_lossy(&out.stdout));
            if system.is_none() {
                errors.record(
                    SectionName::Hardware,
                    IOREG,
                    ErrorKind::Parse,
                    "no IOPlatformExpertDevice in its output",
                );
            }
            system
        }
        Ok(out) => {
            errors.record(SectionName::Hardware, IOREG, ErrorKind::Io, format!("{}: {}", out.status, out.stderr));
            None
        }
        Err(e) => {
            errors.io(SectionName::Hardware, IOREG, &e);
            None
        }
    };
    // One run for both: the memory reader skips the hardware overview, which names the model.
    let overview = hardware_output(errors, SYSTEM_PROFILER, &["SPHardwareDataType", "SPMemoryDataType"])
        .map(|out| String::from_utf8_lossy(&out).into_owned())
        .unwrap_or_default();
    let memory_modules = super::memory::memory_modules(&overview);
    let chassis = super::hardware::chassis(&overview);
    crate::inventory::hardware::firmware::Firmware { system, chassis, memory_modules, ..Default::default() }
}

/// A live Mac's battery, from `system_profiler SPPowerDataType`: none on a desktop.
pub fn collect_batteries(errors: &mut ErrorLog) -> Vec<muster_shared::v1::Battery> {
    hardware_output(errors, SYSTEM_PROFILER, &["SPPowerDataType"])
        .map(|out| super::power::batteries(&String::from_utf8_lossy(&out)))
        .unwrap_or_default()
}

/// A live Mac's drives: SATA, NVMe and USB, from system_profiler (Thunderbolt drives are not read yet).
pub fn collect_disks(errors: &mut ErrorLog) -> Vec<muster_shared::v1::Disk> {
    // USB on its own: newer macOS releases drop or rename its data type, which must not cost the internal drives.
    let mut disks = Vec::new();
    for args in [&["-xml", "SPSerialATADataType", "SPNVMeDataType"][..], &["-xml", "SPUSBDataType"][..]] {
        let Some(out) = hardware_output(errors, SYSTEM_PROFILER, args) else { continue };
        match super::disks::disks(&out) {
            Ok(found) => disks.extend(found),
            Err(e) => errors.record(SectionName::Hardware, SYSTEM_PROFILER, ErrorKind::Parse, e),
        }
    }
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    disks
}

/// What a hardware probe printed within a minute, or `None` with the failure recorded in the hardware section.
fn hardware_output(errors: &mut ErrorLog, program: &str, args: &[&str]) -> Option<Vec<u8>> {
    match run(program, args, Duration::from_secs(60)) {
        Ok(out) if out.ok => Some(out.stdout),
        Ok(out) => {
            errors.record(SectionName::Hardware, program, ErrorKind::Io, format!("{}: {}", out.status, out.stderr));
            None
        }
        Err(e) => {
            errors.io(SectionName::Hardware, program, &e);
            None
        }
    }
}

/// The software section of a live Mac: its application bundles, as one package source.
pub fn collect_software(errors: &mut ErrorLog) -> Software {
    let args = ["-xml", "-detailLevel", "full", "SPApplicationsDataType"];
    let output = run(SYSTEM_PROFILER, &args, Duration::from_secs(300));
    let mut found = Vec::new();
    match output {
        Ok(out) if out.ok => match super::applications(&out.stdout) {
            Ok(packages) => found.push((
                PackageSource {
                    kind: PackageKind::Macos,
                    path: SYSTEM_PROFILER.to_owned(),
                    format: "system_profiler-xml".to_owned(),
                    packages: 0,
                    complete: false,
                },
                Listing { packages, problems: Vec::new() },
            )),
            Err(e) => errors.record(SectionName::Software, SYSTEM_PROFILER, ErrorKind::Parse, e),
        },
        Ok(out) => errors.record(
            SectionName::Software,
            SYSTEM_PROFILER,
            ErrorKind::Io,
            format!("{}: {}", out.status, out.stderr),
        ),
        Err(e) => errors.io(SectionName::Software, SYSTEM_PROFILER, &e),
    }
    assemble(found, errors)
}

/// What a posture tool printed, whatever its exit status (`spctl --status` exits 1 when assessments are off): its
/// standard output, or its standard error when that is all it printed (some answer there); the parsers know the
/// answers' words, so an error message read as output only ever gives `unknown`.
fn posture_output(program: &str, args: &[&str]) -> super::posture::Output {
    match run(program, args, Duration::from_secs(30)) {
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            if !stdout.trim().is_empty() {
                Ok(stdout)
            } else if !out.stderr.is_empty() {
                Ok(out.stderr)
            } else {
                Err(out.status)
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

/// `defaults read` of a preferences domain, `None` when the domain has no file.
fn defaults_read(domain: &str) -> Result<Option<String>, String> {
    if !std::path::Path::new(&format!("{domain}.plist")).exists() {
        return Ok(None);
    }
    posture_output(super::posture::DEFAULTS, &["read", domain]).map(Some)
}

/// A preference or bundle file's bytes, `None` when absent.
fn posture_file(path: &str) -> super::posture::FileRead {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The checks section of a live Mac: the update checks decided from the patches section, then the posture checks.
pub fn collect_checks(
    mut checks: Vec<muster_shared::v1::Check>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<muster_shared::v1::Check> {
    use super::posture::{self, GUEST_DOMAINS, XPROTECT};
    let snapshot = posture::Snapshot {
        filevault: posture_output(posture::FDESETUP, &["status"]),
        firewall: posture_output(posture::SOCKETFILTERFW, &["--getglobalstate"]),
        stealth: posture_output(posture::SOCKETFILTERFW, &["--getstealthmode"]),
        gatekeeper: posture_output(posture::SPCTL, &["--status"]),
        sip: posture_output(posture::CSRUTIL, &["status"]),
        remote_login: posture_output(posture::SYSTEMSETUP, &["-getremotelogin"]),
        guest: GUEST_DOMAINS.map(|(domain, _)| defaults_read(domain)),
        xprotect: XPROTECT.map(posture_file),
    };
    checks.extend(posture::checks(&snapshot));
    checks.extend(crate::checks::defender::live(now));
    checks
}

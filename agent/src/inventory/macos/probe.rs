//! The live side of the macOS inventory: runs `system_profiler -xml SPApplicationsDataType` and `ioreg -rd1 -c
//! IOPlatformExpertDevice` and hands their output to the same pure readers the tests run on captured output.

use std::process::Command;

use muster_shared::v1::{ErrorKind, Os, PackageKind, PackageSource, SectionName, Software};

use crate::inventory::software::{Listing, assemble};
use crate::root::ErrorLog;

const SYSTEM_PROFILER: &str = "/usr/sbin/system_profiler";
const IOREG: &str = "/usr/sbin/ioreg";

/// The `os` section of a live Mac, from `system_profiler SPSoftwareDataType`; `None` with an error when unreadable.
pub fn collect_os(errors: &mut ErrorLog) -> Option<Os> {
    match Command::new(SYSTEM_PROFILER).arg("SPSoftwareDataType").output() {
        Ok(out) if out.status.success() => {
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
            errors.record(SectionName::Os, SYSTEM_PROFILER, ErrorKind::Io, format!("exited with {}", out.status));
            None
        }
        Err(e) => {
            errors.io(SectionName::Os, SYSTEM_PROFILER, &e);
            None
        }
    }
}

/// The firmware part of a live Mac's hardware section: its identity (maker, model, serial, UUID) from the I/O
/// Registry. Macs have no SMBIOS table to read; memory modules and the rest are not read yet.
pub fn collect_firmware(errors: &mut ErrorLog) -> crate::inventory::hardware::firmware::Firmware {
    let system = match Command::new(IOREG).args(["-rd1", "-c", "IOPlatformExpertDevice"]).output() {
        Ok(out) if out.status.success() => {
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
            errors.record(SectionName::Hardware, IOREG, ErrorKind::Io, format!("exited with {}", out.status));
            None
        }
        Err(e) => {
            errors.io(SectionName::Hardware, IOREG, &e);
            None
        }
    };
    crate::inventory::hardware::firmware::Firmware { system, ..Default::default() }
}

/// The software section of a live Mac: its application bundles, as one package source.
pub fn collect_software(errors: &mut ErrorLog) -> Software {
    let output =
        Command::new(SYSTEM_PROFILER).args(["-xml", "-detailLevel", "full", "SPApplicationsDataType"]).output();
    let mut found = Vec::new();
    match output {
        Ok(out) if out.status.success() => match super::applications(&out.stdout) {
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
            format!("exited with {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
        ),
        Err(e) => errors.io(SectionName::Software, SYSTEM_PROFILER, &e),
    }
    assemble(found, errors)
}

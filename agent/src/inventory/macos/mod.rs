//! macOS inventory: the installed applications from `system_profiler -xml` (SPApplicationsDataType), the
//! machine's identity from the I/O Registry ([`hardware`]), its memory modules from `system_profiler
//! SPMemoryDataType` ([`memory`]), its battery from `system_profiler SPPowerDataType` ([`power`]) and its drives
//! from `system_profiler -xml` SPSerialATADataType, SPNVMeDataType and SPUSBDataType ([`disks`]), each a pure
//! reading shared by the live probe and the tests on real captured output.
//!
//! system_profiler finds application bundles wherever Launch Services and Spotlight know them (/Applications, the
//! system's own, users' ~/Applications, helpers inside other bundles), which is what GLPI's agent and osquery's
//! `apps` table list too; on a Mac with Spotlight indexing off the list is shorter. Each bundle is one package of
//! kind `macos` with its path, so two copies of one application stay two.

pub mod disks;
pub mod hardware;
pub mod memory;
pub mod os;
pub mod posture;
pub mod power;
#[cfg(target_os = "macos")]
mod probe;
#[cfg(test)]
mod tests;

#[cfg(target_os = "macos")]
pub use probe::{collect_batteries, collect_checks, collect_disks, collect_firmware, collect_os, collect_software};

use muster_shared::v1::{Package, PackageKind};
use plist::Value;

/// system_profiler's `-xml` output is an array of data types, each a dictionary whose `_items` are the records.
fn items<'a>(document: &'a Value, data_type: &str) -> Option<&'a Vec<Value>> {
    document.as_array()?.iter().find_map(|t| {
        let t = t.as_dictionary()?;
        (t.get("_dataType")?.as_string()? == data_type).then(|| t.get("_items")?.as_array())?
    })
}

/// An application's architecture as its `arch_kind` tells it, in the names packages use elsewhere; `None` for
/// `arch_other` (scripts, web apps), `arch_ios` (an iPhone or iPad app, whose kind names no CPU) and kinds
/// system_profiler may add.
fn arch(kind: &str) -> Option<&'static str> {
    match kind {
        "arch_arm_i64" => Some("universal"),
        "arch_arm" => Some("arm64"),
        "arch_i64" => Some("x86_64"),
        "arch_i32" => Some("i386"),
        _ => None,
    }
}

/// Who signed it, from the first certificate of `signed_by`: Apple's own signing identities, or the developer a
/// Developer ID or Mac App Store certificate names (`Developer ID Application: Microsoft Corporation (UBF8T346G9)`).
fn publisher(signed_by: Option<&Value>) -> Option<String> {
    let first = signed_by?.as_array()?.first()?.as_string()?;
    if matches!(first, "Software Signing" | "Apple Mac OS Application Signing" | "Apple iPhone OS Application Signing")
    {
        return Some("Apple".to_owned());
    }
    let (_, named) = first.split_once(": ")?;
    let name = match named.rsplit_once(" (") {
        Some((name, team)) if team.ends_with(')') => name,
        _ => named,
    };
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// A bundle's version as its Info.plist gives it, without the spaces some put around the dots (Adobe's `1 . 2 . 2`),
/// so it compares with the same version written plainly.
fn version(text: &str) -> String {
    text.trim().split('.').map(str::trim).collect::<Vec<_>>().join(".")
}

/// The applications of a `system_profiler -xml SPApplicationsDataType` document: name, version (empty when the
/// bundle has none), architecture, path, signer and modification time (macOS keeps no install date per bundle;
/// `lastModified` is the time the bundle last changed, which an install or update sets).
pub fn applications(xml: &[u8]) -> Result<Vec<Package>, String> {
    let document = Value::from_reader_xml(xml).map_err(|e| format!("not a property list: {e}"))?;
    let items = items(&document, "SPApplicationsDataType").ok_or("no SPApplicationsDataType items")?;
    let mut packages = Vec::new();
    for item in items.iter().filter_map(Value::as_dictionary) {
        let Some(name) = item.get("_name").and_then(Value::as_string).filter(|n| !n.trim().is_empty()) else {
            continue;
        };
        let version = item.get("version").and_then(Value::as_string).map(version).unwrap_or_default();
        let installed_at = item
            .get("lastModified")
            .and_then(Value::as_date)
            .and_then(|d| crate::root::file_time(std::time::SystemTime::from(d)));
        packages.push(Package {
            arch: item.get("arch_kind").and_then(Value::as_string).and_then(arch).map(str::to_owned),
            installed_at,
            path: item.get("path").and_then(Value::as_string).map(str::to_owned),
            publisher: publisher(item.get("signed_by")),
            ..Package::new(PackageKind::Macos, name, version)
        });
    }
    Ok(packages)
}

//! Windows' edition, version, build and update revision from `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`,
//! interpreted purely so that the live probe and the tests on exports share it.
//!
//! The update revision (`UBR`) is the patch level: build 19045 is every Windows 10 22H2, 19045.3803 is the one with
//! December 2023's cumulative update. Without it, no patch state can be judged.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use muster_shared::v1::Os;
use serde::Serialize;

use super::RegValue;

/// The key the values come from.
pub const CURRENT_VERSION_KEY: &str = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion";

/// What the CurrentVersion key says, as read (names as in the registry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WindowsVersion {
    /// `ProductName`, e.g. "Windows 10 Pro" (Windows 11 still writes "Windows 10" here; see [`os_from_version`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// `EditionID`, e.g. "Professional", "Enterprise", "ServerStandard".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edition_id: Option<String>,
    /// `DisplayVersion` (20H2 and later) or `ReleaseId` (1507 to 2009), e.g. "22H2".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_version: Option<String>,
    /// `CurrentMajorVersionNumber`.`CurrentMinorVersionNumber` (Windows 10 and later), else `CurrentVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_version: Option<String>,
    /// `CurrentBuild`, e.g. "19045".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_build: Option<String>,
    /// `UBR`, the update build revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ubr: Option<u32>,
    /// `InstallDate` (seconds since 1970, UTC): the installation of this build, which a feature update resets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install_date: Option<DateTime<Utc>>,
}

/// Reads the CurrentVersion values.
pub fn windows_version(values: &BTreeMap<String, RegValue>) -> WindowsVersion {
    let text = |name: &str| values.get(name).and_then(RegValue::text).map(str::trim).filter(|s| !s.is_empty());
    let dword = |name: &str| match values.get(name) {
        Some(RegValue::Dword(n)) => Some(*n),
        _ => None,
    };
    let kernel_version = match (dword("CurrentMajorVersionNumber"), dword("CurrentMinorVersionNumber")) {
        (Some(major), Some(minor)) => Some(format!("{major}.{minor}")),
        _ => text("CurrentVersion").map(str::to_string),
    };
    WindowsVersion {
        product_name: text("ProductName").map(str::to_string),
        edition_id: text("EditionID").map(str::to_string),
        display_version: text("DisplayVersion").or_else(|| text("ReleaseId")).map(str::to_string),
        kernel_version,
        current_build: text("CurrentBuild").or_else(|| text("CurrentBuildNumber")).map(str::to_string),
        ubr: dword("UBR"),
        install_date: dword("InstallDate").and_then(|s| DateTime::from_timestamp(i64::from(s), 0)),
    }
}

/// The report's `os` section for Windows: `id` "windows", `version_id` the full build ("10.0.19045.3803") and
/// `build_id` build.UBR. Windows 11 keeps "Windows 10" in ProductName; builds from 22000 on are Windows 11, so the
/// name is corrected from the build, as Microsoft documents for telling them apart. The running architecture is
/// the probe's to add.
pub fn os_from_version(version: &WindowsVersion) -> Os {
    let build: Option<u32> = version.current_build.as_deref().and_then(|b| b.parse().ok());
    let is_workstation = !version.edition_id.as_deref().is_some_and(|e| e.starts_with("Server"));
    let name = version.product_name.as_deref().map(|name| match build {
        Some(b) if b >= 22000 && is_workstation && name.contains("Windows 10") => {
            name.replacen("Windows 10", "Windows 11", 1)
        }
        _ => name.to_string(),
    });
    let build_id = version.current_build.as_deref().map(|build| match version.ubr {
        Some(ubr) => format!("{build}.{ubr}"),
        None => build.to_string(),
    });
    let version_id = match (&version.kernel_version, &build_id) {
        (Some(kernel), Some(build)) => Some(format!("{kernel}.{build}")),
        (kernel, build) => kernel.clone().or_else(|| build.clone()),
    };
    let pretty_name = name.as_ref().map(|name| {
        let mut pretty = name.clone();
        if let Some(display) = &version.display_version {
            pretty.push_str(&format!(" {display}"));
        }
        if let Some(build) = &build_id {
            pretty.push_str(&format!(" (build {build})"));
        }
        pretty
    });
    Os {
        id: Some("windows".to_string()),
        name,
        version: version.display_version.clone(),
        version_id,
        pretty_name,
        build_id,
        variant_id: version.edition_id.as_deref().map(str::to_ascii_lowercase),
        source: Some(CURRENT_VERSION_KEY.to_string()),
        ..Os::default()
    }
}

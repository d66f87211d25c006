//! Windows inventory from the registry: installed programs from every Uninstall key (both registry views and every
//! loaded user hive), with a pure interpretation shared by the live probe and the tests on real regedit exports.
//!
//! Per-user installs (Teams, Zoom, VS Code) live only under `HKEY_USERS\<sid>\Software\...\Uninstall`, which is why
//! every loaded hive is read, not only HKEY_LOCAL_MACHINE. 32-bit programs on 64-bit Windows register under
//! `SOFTWARE\WOW6432Node\...`; each entry says which view and hive it came from and its full key.
//!
//! Not yet on the wire: `muster_shared::v1::PackageKind` has no Windows kind and `Package` no publisher or key, and
//! adding either breaks the collector's exhaustive matches and struct literals, so until the collector takes them
//! these entries are printed by `muster-agent inventory` under a top-level `windows` object only.

pub mod regfile;
pub mod version;

#[cfg(windows)]
mod probe;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

#[cfg(windows)]
pub use probe::{collect, collect_os};

/// A registry value as the Uninstall and version keys use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    Sz(String),
    ExpandSz(String),
    MultiSz(Vec<String>),
    Dword(u32),
    Qword(u64),
    Binary(Vec<u8>),
}

impl RegValue {
    /// The text of a string value; numbers and binary data are not text.
    pub fn text(&self) -> Option<&str> {
        match self {
            RegValue::Sz(s) | RegValue::ExpandSz(s) => Some(s),
            _ => None,
        }
    }
}

/// Where an Uninstall key lives: the hive and the registry view.
pub const UNINSTALL_64: &str = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
pub const UNINSTALL_32: &str = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall";

/// Which registry view a key belongs to: 32-bit programs on 64-bit Windows are registered under WOW6432Node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum RegistryView {
    #[serde(rename = "64")]
    Bits64,
    #[serde(rename = "32")]
    Bits32,
}

/// One installed program as its Uninstall key describes it ("Apps & features").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledProgram {
    /// `DisplayName`.
    pub name: String,
    /// `DisplayVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// `InstallDate` (`YYYYMMDD`); absent when missing or not a date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install_date: Option<NaiveDate>,
    /// `HKEY_LOCAL_MACHINE` or `HKEY_USERS\<sid>` (`HKEY_CURRENT_USER` in an export of that hive).
    pub hive: String,
    pub view: RegistryView,
    /// The full key, e.g. `HKEY_LOCAL_MACHINE\SOFTWARE\...\Uninstall\{GUID}`.
    pub key: String,
    /// The key's name under Uninstall: the MSI product code for Windows Installer packages.
    pub key_name: String,
    /// `WindowsInstaller` = 1: installed by an MSI, so `key_name` is its product code.
    pub msi: bool,
    /// `SystemComponent` = 1: hidden from "Apps & features" (runtimes, parts of larger products).
    pub system_component: bool,
}

/// One Uninstall key read (or not), so an unreadable hive is reported rather than silently missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UninstallSource {
    pub key: String,
    pub programs: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The Windows part of `muster-agent inventory`'s output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WindowsInventory {
    /// The CurrentVersion key as read (the `os` section holds what the wire types can carry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<version::WindowsVersion>,
    pub uninstall_sources: Vec<UninstallSource>,
    pub programs: Vec<InstalledProgram>,
}

/// Splits a full key path into (hive, view, name under Uninstall) when it is an entry directly below an Uninstall
/// key; `None` for the Uninstall key itself, deeper keys and anything else.
pub fn classify_uninstall_key(path: &str) -> Option<(String, RegistryView, String)> {
    let (hive, rest) = path.split_once('\\')?;
    let (hive, rest) = if hive.eq_ignore_ascii_case("HKEY_USERS") {
        let (sid, rest) = rest.split_once('\\')?;
        (format!(r"HKEY_USERS\{sid}"), rest)
    } else {
        (hive.to_string(), rest)
    };
    for (prefix, view) in [(UNINSTALL_64, RegistryView::Bits64), (UNINSTALL_32, RegistryView::Bits32)] {
        let Some(head) = rest.get(..prefix.len()) else { continue };
        if !head.eq_ignore_ascii_case(prefix) {
            continue;
        }
        let name = rest[prefix.len()..].strip_prefix('\\')?;
        if name.is_empty() || name.contains('\\') {
            return None;
        }
        return Some((hive, view, name.to_string()));
    }
    None
}

/// The program an Uninstall entry describes; `None` without a `DisplayName`, as "Apps & features" shows nothing
/// for such keys (updates' leftovers, components registered by a parent product).
pub fn program_from_key(path: &str, values: &BTreeMap<String, RegValue>) -> Option<InstalledProgram> {
    let (hive, view, key_name) = classify_uninstall_key(path)?;
    let text = |name: &str| values.get(name).and_then(RegValue::text).map(str::trim).filter(|s| !s.is_empty());
    let flag = |name: &str| matches!(values.get(name), Some(RegValue::Dword(1)));
    Some(InstalledProgram {
        name: text("DisplayName")?.to_string(),
        version: text("DisplayVersion").map(str::to_string),
        publisher: text("Publisher").map(str::to_string),
        install_date: text("InstallDate").and_then(parse_install_date),
        hive,
        view,
        key: path.to_string(),
        key_name,
        msi: flag("WindowsInstaller"),
        system_component: flag("SystemComponent"),
    })
}

/// `InstallDate` as installers write it: `YYYYMMDD` (MSI and most others); anything else is not a date we trust.
pub fn parse_install_date(text: &str) -> Option<NaiveDate> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y%m%d").ok()
}

/// The programs of a regedit export of Uninstall keys, in file order.
pub fn programs_from_export(keys: &[regfile::RegKeyExport]) -> Vec<InstalledProgram> {
    keys.iter().filter_map(|key| program_from_key(&key.path, &key.values)).collect()
}

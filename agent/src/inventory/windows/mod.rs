//! Windows inventory: installed programs from every Uninstall key (both registry views and every loaded user hive),
//! and beside them ([`probe`]'s other reads) the OS, patches, posture and hardware, each with a pure interpretation
//! shared by the live probe and the tests on real regedit exports and WMI captures.
//!
//! Per-user installs (Teams, Zoom, VS Code) live only under `HKEY_USERS\<sid>\Software\...\Uninstall`, which is why
//! every loaded hive is read, not only HKEY_LOCAL_MACHINE. 32-bit programs on 64-bit Windows register under
//! `SOFTWARE\WOW6432Node\...`; each entry says which view and hive it came from and its full key.
//!
//! MSIX and AppX packages have no Uninstall key; [`appx`] reads the package repositories' full names instead.
//!
//! The programs go on the wire as `software.packages` of kind `windows` ([`packages`]); the CurrentVersion values
//! the `os` section has no field for (edition) are printed by `muster-agent inventory` under a top-level `windows`
//! object only ([`WindowsInventory`]).

pub mod admins;
pub mod appx;
pub mod battery;
pub mod bitlocker;
pub mod devices;
pub mod directory;
pub mod guest;
pub mod monitors;
pub mod packages;
pub mod password;
pub mod posture;
pub mod reboot;
pub mod regfile;
pub mod tpm;
pub mod updates;
pub mod version;
pub mod wua;

#[cfg(windows)]
mod probe;
#[cfg(test)]
mod tests;
#[cfg(windows)]
mod update_agent;
#[cfg(test)]
mod wmic;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

#[cfg(windows)]
pub use probe::{
    collect, collect_batteries, collect_checks, collect_devices, collect_directory, collect_filesystems, collect_host,
    collect_monitors, collect_os, collect_patches, collect_software, collect_tpm,
};

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

/// The strings of REG_MULTI_SZ data decoded as text: each string ends with a NUL and the list with one more.
/// Empty strings inside the list are kept (a pending deletion's destination is one); a list missing its final NUL,
/// as some writers leave it, loses nothing.
pub fn multi_sz(text: &str) -> Vec<String> {
    let body = text.strip_suffix("\0\0").map_or(text, |b| &text[..b.len() + 1]);
    let strings: Vec<String> = body.split_terminator('\0').map(str::to_string).collect();
    // A lone NUL (or two) is how an empty list is written, not a list of one empty string.
    if strings.iter().all(String::is_empty) { Vec::new() } else { strings }
}

/// A FILETIME (100 ns ticks since 1601-01-01 UTC, how Windows stores times in the registry) as a time; `None` for a
/// zero or pre-1970 time, which is an unset value rather than a real one.
pub fn filetime(ticks: u64) -> Option<DateTime<Utc>> {
    // Seconds between 1601-01-01 and 1970-01-01.
    const EPOCH_DIFFERENCE: i64 = 11_644_473_600;
    let secs = i64::try_from(ticks / 10_000_000).ok()? - EPOCH_DIFFERENCE;
    let nanos = u32::try_from(ticks % 10_000_000).ok()? * 100;
    (secs > 0).then(|| DateTime::from_timestamp(secs, nanos)).flatten()
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
    /// `ParentKeyName`: an update of another entry (a hotfix of the operating system, a product's patch), listed by
    /// Windows under "Installed updates", not as a program.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_key_name: Option<String>,
    /// `EstimatedSize`, in KiB as installers write it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_size_kib: Option<u32>,
}

impl InstalledProgram {
    /// True for the entries "Apps & features" (and "Programs and Features" before it) does not list as programs:
    /// `SystemComponent` = 1 and updates naming a `ParentKeyName`. Entries without a `DisplayName` never become an
    /// [`InstalledProgram`] at all. Listing them would report each MSI product's components and every hotfix as
    /// installed software (the Windows XP fixture has 418 named entries, of which Windows shows 64).
    pub fn is_hidden(&self) -> bool {
        self.system_component || self.parent_key_name.is_some()
    }
}

/// The Windows facts of `muster-agent inventory`'s output that the v1 wire types cannot carry yet. The installed
/// programs are not here: they are `software.packages` of kind `windows`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WindowsInventory {
    /// The CurrentVersion key as read (the `os` section holds what the wire types can carry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<version::WindowsVersion>,
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
        let Some(below) = strip_prefix_ignore_case(rest, prefix) else { continue };
        let name = below.strip_prefix('\\')?;
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
    let dword = |name: &str| match values.get(name) {
        Some(RegValue::Dword(n)) => Some(*n),
        _ => None,
    };
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
        parent_key_name: text("ParentKeyName").map(str::to_string),
        estimated_size_kib: dword("EstimatedSize"),
    })
}

/// `text` without `prefix`, compared as the registry compares names (ASCII case-insensitive).
pub(crate) fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// Where Windows keeps the installation's own id (`MachineGuid`), set at setup and changed by sysprep: what
/// `/etc/machine-id` is on Linux.
pub const CRYPTOGRAPHY_KEY: &str = r"SOFTWARE\Microsoft\Cryptography";

/// `MachineGuid` (`3d1219c7-c4c5-404a-aa1f-6d2a48adfda4`, braces tolerated) as a machine id: its 32 hex digits in
/// lower case, the form Linux's `/etc/machine-id` has, so both compare alike in the collector.
pub fn machine_id_from_guid(text: &str) -> Option<String> {
    let digits: String =
        text.trim().trim_start_matches('{').trim_end_matches('}').chars().filter(|c| *c != '-').collect();
    crate::inventory::host::parse_machine_id(&digits)
}

/// A string property as WMI gives it, without the spaces and NULs fixed-width firmware fields are padded with;
/// `None` when nothing is left.
pub(crate) fn text(value: Option<&str>) -> Option<&str> {
    value.map(|v| v.trim_matches(|c: char| c == '\0' || c.is_whitespace())).filter(|s| !s.is_empty())
}

/// Four bytes of a numeric WMI property that hold letters (a TPM's vendor id, a battery's chemistry) as text, up
/// to the first NUL and without padding spaces; `None` when they are not printable ASCII.
pub(crate) fn letters(bytes: [u8; 4]) -> Option<String> {
    let letters: String = bytes.iter().take_while(|b| **b != 0).map(|b| char::from(*b)).collect();
    let letters = letters.trim();
    (!letters.is_empty() && letters.chars().all(|c| c.is_ascii_graphic())).then(|| letters.to_string())
}

/// A WMI failure as the wmi crate prints it (`HRESULT Call failed with: 0x8004100E`), with what its WBEM code
/// means where it is one a reader meets: the class or namespace missing (a Windows without the feature, Wine),
/// access denied (not an administrator), or the provider refusing the query.
pub fn describe_wmi_error(text: &str) -> String {
    const MEANINGS: [(&str, &str); 5] = [
        ("0x80041003", "access denied"),
        ("0x8004100C", "not supported by the provider"),
        ("0x8004100E", "no such namespace"),
        ("0x80041010", "no such class"),
        ("0x80041013", "the provider could not be loaded"),
    ];
    let upper = text.to_ascii_uppercase();
    match MEANINGS.iter().find(|(code, _)| upper.contains(&code.to_ascii_uppercase())) {
        Some((_, meaning)) => format!("{text} ({meaning})"),
        None => text.to_string(),
    }
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

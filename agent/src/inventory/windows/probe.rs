//! The live registry reads behind [`super::WindowsInventory`]: opens each Uninstall key and hands its subkeys'
//! values to the same pure [`super::program_from_key`] the tests run on regedit exports.

use std::collections::BTreeMap;

use winreg::enums::{HKEY_LOCAL_MACHINE, HKEY_USERS, KEY_READ, KEY_WOW64_64KEY, RegType};
use winreg::{RegKey, RegValue as WinValue};

use muster_shared::v1::{Os, SectionName};

use super::version::{CURRENT_VERSION_KEY, os_from_version, windows_version};
use super::{InstalledProgram, RegValue, UNINSTALL_32, UNINSTALL_64, UninstallSource, WindowsInventory};
use crate::root::ErrorLog;

/// The CurrentVersion key below HKEY_LOCAL_MACHINE.
const CURRENT_VERSION: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";

/// The `os` section of a live Windows, from the registry's CurrentVersion key; `None` with an error when unreadable.
pub fn collect_os(errors: &mut ErrorLog) -> Option<Os> {
    match RegKey::predef(HKEY_LOCAL_MACHINE).open_subkey_with_flags(CURRENT_VERSION, KEY_READ | KEY_WOW64_64KEY) {
        Ok(key) => {
            let mut os = os_from_version(&windows_version(&values(&key)));
            os.architecture = Some(std::env::consts::ARCH.to_string());
            Some(os)
        }
        Err(err) => {
            errors.io(SectionName::Os, CURRENT_VERSION_KEY, &err);
            None
        }
    }
}

/// Reads the Uninstall keys of HKEY_LOCAL_MACHINE and of every hive loaded under HKEY_USERS (a signed-in or
/// service user's), in both views. Always the 64-bit view of the registry itself (`KEY_WOW64_64KEY`), so the
/// WOW6432Node path is read literally and nothing is redirected.
pub fn collect() -> WindowsInventory {
    let mut inventory = WindowsInventory::default();
    let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
    inventory.version = hklm
        .open_subkey_with_flags(CURRENT_VERSION, KEY_READ | KEY_WOW64_64KEY)
        .ok()
        .map(|k| windows_version(&values(&k)));
    for path in [UNINSTALL_64, UNINSTALL_32] {
        read_uninstall(&hklm, "HKEY_LOCAL_MACHINE", path, &mut inventory);
    }
    let users = RegKey::predef(HKEY_USERS);
    // `.DEFAULT` is LocalSystem's profile again (S-1-5-18); `<sid>_Classes` hold file associations, not software.
    let sids: Vec<String> = users
        .enum_keys()
        .filter_map(Result::ok)
        .filter(|sid| !sid.eq_ignore_ascii_case(".DEFAULT") && !sid.ends_with("_Classes"))
        .collect();
    for sid in sids {
        for path in [UNINSTALL_64, UNINSTALL_32] {
            let hive = format!(r"HKEY_USERS\{sid}");
            read_uninstall(&users, &hive, &format!(r"{sid}\{path}"), &mut inventory);
        }
    }
    inventory
}

/// One Uninstall key: every subkey with a DisplayName becomes a program. A key that does not exist is normal (no
/// per-user installs, a 32-bit Windows) and is not listed; any other failure is, with its error.
fn read_uninstall(base: &RegKey, hive_name: &str, path: &str, inventory: &mut WindowsInventory) {
    let hive_root = hive_name.split('\\').next().unwrap_or(hive_name);
    let full = format!(r"{hive_root}\{path}");
    let key = match base.open_subkey_with_flags(path, KEY_READ | KEY_WOW64_64KEY) {
        Ok(key) => key,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
        Err(err) => {
            inventory.uninstall_sources.push(UninstallSource { key: full, programs: 0, error: Some(err.to_string()) });
            return;
        }
    };
    let mut found: Vec<InstalledProgram> = Vec::new();
    let mut error = None;
    for name in key.enum_keys() {
        let name = match name {
            Ok(name) => name,
            Err(err) => {
                error = Some(err.to_string());
                break;
            }
        };
        let Ok(sub) = key.open_subkey_with_flags(&name, KEY_READ | KEY_WOW64_64KEY) else { continue };
        if let Some(program) = super::program_from_key(&format!(r"{full}\{name}"), &values(&sub)) {
            found.push(program);
        }
    }
    inventory.uninstall_sources.push(UninstallSource { key: full, programs: found.len() as u32, error });
    inventory.programs.extend(found);
}

/// Every value of a key by name (values that cannot be read are left out).
fn values(key: &RegKey) -> BTreeMap<String, RegValue> {
    key.enum_values().filter_map(Result::ok).filter_map(|(n, v)| convert(&v).map(|v| (n, v))).collect()
}

/// winreg's raw value (bytes and a type) as the pure code's [`RegValue`].
fn convert(value: &WinValue) -> Option<RegValue> {
    let utf16 = || {
        let units: Vec<u16> = value.bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let text = String::from_utf16_lossy(&units);
        text.split('\0').next().unwrap_or_default().to_string()
    };
    Some(match value.vtype {
        RegType::REG_SZ => RegValue::Sz(utf16()),
        RegType::REG_EXPAND_SZ => RegValue::ExpandSz(utf16()),
        RegType::REG_DWORD => RegValue::Dword(u32::from_le_bytes(value.bytes.get(..4)?.try_into().ok()?)),
        RegType::REG_QWORD => RegValue::Qword(u64::from_le_bytes(value.bytes.get(..8)?.try_into().ok()?)),
        _ => RegValue::Binary(value.bytes.to_vec()),
    })
}

//! Uninstall entries as the report's `software.packages` of kind `windows`: the pure step between
//! [`super::InstalledProgram`] (what a key says) and the wire's [`Package`], shared by the live probe and the tests.
//!
//! MSI product codes travel in `source_name`: for an entry with `WindowsInstaller` = 1 the key's name is the
//! product's `ProductCode`, the identifier Windows Installer (and every MSI-aware advisory or deployment tool) keys
//! the product by, as a source package keys a distribution's binaries. Nothing else is put there for Windows.

use chrono::{DateTime, Utc};
use muster_shared::v1::{Package, PackageKind, PackageSource};

use super::{InstalledProgram, RegistryView};

/// `PackageSource.format` of an Uninstall key.
pub const FORMAT: &str = "windows-uninstall";

/// The package an Uninstall entry is, or `None` for the entries Windows hides ([`InstalledProgram::is_hidden`]).
/// `native_arch` names the 64-bit registry view's architecture (`x64` for an x86_64 Windows); `None` where that view
/// mixes architectures (ARM64 Windows keeps x64 and ARM64 programs in it).
pub fn package_from_program(program: &InstalledProgram, native_arch: Option<&str>) -> Option<Package> {
    if program.is_hidden() {
        return None;
    }
    Some(Package {
        kind: PackageKind::Windows,
        name: program.name.clone(),
        // An entry without DisplayVersion is still installed; the wire's version is text, so empty says unknown.
        version: program.version.clone().unwrap_or_default(),
        arch: arch(program, native_arch),
        source_name: program.msi.then(|| product_code(&program.key_name)).flatten(),
        source_version: None,
        installed_at: program
            .install_date
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| DateTime::<Utc>::from_naive_utc_and_offset(t, Utc)),
        size_bytes: program.estimated_size_kib.map(|kib| u64::from(kib) * 1024),
        state: None,
        path: Some(short_key(&program.key)),
        owner: None,
        publisher: program.publisher.clone(),
        channel: None,
    })
}

/// The source entry of one Uninstall key (full or short spelling); counts are filled in when the packages are.
pub fn source(key: &str) -> PackageSource {
    PackageSource {
        kind: PackageKind::Windows,
        path: short_key(key),
        format: FORMAT.to_string(),
        packages: 0,
        complete: false,
    }
}

/// What the registry view says of a program's architecture. Only HKEY_LOCAL_MACHINE's views say it: a user's
/// `Software` key is shared by 32- and 64-bit programs (not redirected since Windows 7), so per-user entries have
/// none.
fn arch(program: &InstalledProgram, native_arch: Option<&str>) -> Option<String> {
    if !program.hive.eq_ignore_ascii_case("HKEY_LOCAL_MACHINE") {
        return None;
    }
    match program.view {
        RegistryView::Bits32 => Some("x86".to_string()),
        RegistryView::Bits64 => native_arch.map(str::to_string),
    }
}

/// A key's name when it is an MSI product code, `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`, upper-cased as Windows
/// Installer writes product codes; `None` for anything else (an installer that set `WindowsInstaller` on a key of
/// its own naming).
pub fn product_code(key_name: &str) -> Option<String> {
    let inner = key_name.strip_prefix('{')?.strip_suffix('}')?;
    let groups: Vec<&str> = inner.split('-').collect();
    let lengths_ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]);
    let hex_ok = groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    (lengths_ok && hex_ok).then(|| key_name.to_ascii_uppercase())
}

/// A key path with its root spelled as `reg.exe` and PowerShell's registry drive abbreviations spell it (`HKLM`,
/// `HKU`, `HKCU`), which is how administrators paste them.
pub fn short_key(key: &str) -> String {
    let (root, rest) = key.split_once('\\').unwrap_or((key, ""));
    let short = match root.to_ascii_uppercase().as_str() {
        "HKEY_LOCAL_MACHINE" => "HKLM",
        "HKEY_USERS" => "HKU",
        "HKEY_CURRENT_USER" => "HKCU",
        _ => root,
    };
    if rest.is_empty() { short.to_string() } else { format!(r"{short}\{rest}") }
}

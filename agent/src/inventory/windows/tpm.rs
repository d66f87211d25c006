//! The Trusted Platform Module on Windows, from CIM's `Win32_Tpm` (what `Get-Tpm` and `tpm.msc` show), turned into
//! the wire's [`Tpm`]. Pure: the probe queries WMI into [`Win32Tpm`], the tests read a real machine's
//! `Get-CimInstance` output into the same.
//!
//! The interpretation is ours because the class's answers need it: `SpecVersion` is a list (`2.0, 0, 1.59`: the
//! family, then the level and revision), and `ManufacturerIdTxt` exists only from Windows 10 on, where older systems
//! give the TCG vendor id as a number whose four bytes are its letters.

use serde::Deserialize;

use muster_shared::v1::Tpm;

use super::{letters, text};

/// Where the class lives; present on every Windows since Vista, readable by administrators only.
pub const NAMESPACE: &str = r"ROOT\CIMV2\Security\MicrosoftTpm";

/// The `Win32_Tpm` properties read, named as WMI spells them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "Win32_Tpm")]
pub struct Win32Tpm {
    #[serde(rename = "SpecVersion")]
    pub spec_version: Option<String>,
    /// The TCG vendor id, e.g. 1314145024 = `0x4E544300` = `NTC\0`.
    #[serde(rename = "ManufacturerId")]
    pub manufacturer_id: Option<u32>,
    /// The same id as text (Windows 10 and later).
    #[serde(rename = "ManufacturerIdTxt")]
    pub manufacturer_id_txt: Option<String>,
    #[serde(rename = "ManufacturerVersion")]
    pub manufacturer_version: Option<String>,
    #[serde(rename = "IsEnabled_InitialValue")]
    pub is_enabled: Option<bool>,
    #[serde(rename = "IsActivated_InitialValue")]
    pub is_activated: Option<bool>,
    #[serde(rename = "IsOwned_InitialValue")]
    pub is_owned: Option<bool>,
}

/// The module the rows describe: the first (Windows has one TPM at most); `None` when there are none, which is how
/// the class says there is no TPM (or it is switched off in the firmware, where Windows cannot see it).
pub fn tpm(rows: &[Win32Tpm]) -> Option<Tpm> {
    let row = rows.first()?;
    let manufacturer = text(row.manufacturer_id_txt.as_deref())
        .map(str::to_string)
        .or_else(|| row.manufacturer_id.and_then(vendor_from_id));
    Some(Tpm {
        spec_version: row.spec_version.as_deref().and_then(spec_family),
        manufacturer,
        firmware_version: text(row.manufacturer_version.as_deref()).map(str::to_string),
        enabled: row.is_enabled,
        activated: row.is_activated,
        owned: row.is_owned,
    })
}

/// The family of a `SpecVersion` list: `2.0, 0, 1.59` → `2.0`, `1.2, 2, 3` → `1.2`.
fn spec_family(list: &str) -> Option<String> {
    let family = list.split(',').next()?.trim();
    let valid = !family.is_empty() && family.chars().all(|c| c.is_ascii_digit() || c == '.');
    valid.then(|| family.to_string())
}

/// The TCG vendor id's letters: its four bytes, big-endian (`NTC\0`, `IFX\0`, `INTC`).
fn vendor_from_id(id: u32) -> Option<String> {
    letters(id.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::windows::wmic;

    fn capture(name: &str) -> Vec<Win32Tpm> {
        wmic::format_list(&format!("cim/{name}"))
            .into_iter()
            .map(|row| Win32Tpm {
                spec_version: row.get("SpecVersion").cloned(),
                manufacturer_id: row.get("ManufacturerId").map(|v| v.parse().unwrap()),
                manufacturer_id_txt: row.get("ManufacturerIdTxt").cloned(),
                manufacturer_version: row.get("ManufacturerVersion").cloned(),
                is_enabled: row.get("IsEnabled_InitialValue").map(|v| wmic::power_shell_boolean(v)),
                is_activated: row.get("IsActivated_InitialValue").map(|v| wmic::power_shell_boolean(v)),
                is_owned: row.get("IsOwned_InitialValue").map(|v| wmic::power_shell_boolean(v)),
            })
            .collect()
    }

    #[test]
    fn a_nuvoton_tpm_2_0_as_windows_reports_it() {
        let rows = capture("Win32_Tpm-nuvoton-npct75x.txt");
        assert_eq!(rows.len(), 1);
        let found = tpm(&rows).unwrap();
        assert_eq!(
            found,
            Tpm {
                spec_version: Some("2.0".into()),
                manufacturer: Some("NTC".into()),
                firmware_version: Some("7.2.3.1".into()),
                enabled: Some(true),
                activated: Some(true),
                owned: Some(true),
            }
        );
    }

    #[test]
    fn before_windows_10_the_vendor_comes_from_its_numeric_id() {
        // Windows 8.1 and older have no ManufacturerIdTxt: the same machine's numeric id must give the same letters.
        let mut rows = capture("Win32_Tpm-nuvoton-npct75x.txt");
        rows[0].manufacturer_id_txt = None;
        assert_eq!(tpm(&rows).unwrap().manufacturer.as_deref(), Some("NTC"));
        // Four-letter ids have no padding; an id that is not text names no vendor.
        assert_eq!(vendor_from_id(u32::from_be_bytes(*b"INTC")).as_deref(), Some("INTC"));
        assert_eq!(vendor_from_id(0), None);
        assert_eq!(vendor_from_id(0x0102_0300), None);
    }

    #[test]
    fn no_row_is_no_tpm_and_odd_spec_lists_give_no_family() {
        assert_eq!(tpm(&[]), None);
        assert_eq!(spec_family("1.2, 2, 3").as_deref(), Some("1.2"));
        assert_eq!(text(Some("IFX\0")), Some("IFX"));
        assert_eq!(spec_family("Not Supported"), None);
        assert_eq!(spec_family(""), None);
        let bare = tpm(&[Win32Tpm::default()]).unwrap();
        assert_eq!(bare, Tpm::default(), "a row without values claims nothing");
    }
}

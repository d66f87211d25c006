//! The TPM and the batteries of a running Linux system, from the kernel's sysfs classes (`/sys/class/tpm`,
//! `/sys/class/power_supply`), into the same wire types Windows fills from CIM.
//!
//! The interpretation is ours because the kernel's answers need it: a battery reports its capacities either as
//! energy (µWh) or as charge (µAh, to be multiplied by the design voltage), a peripheral's battery (a mouse, a
//! headset: `scope` is `Device`) is not the machine's, and packs that do not count cycles say 0.

use std::collections::BTreeMap;

use muster_shared::v1::{Battery, ErrorKind, SectionName, Tpm};

use crate::root::{ErrorLog, SystemRoot};

const POWER_SUPPLY: &str = "/sys/class/power_supply";
const TPM: &str = "/sys/class/tpm";

/// The attributes of one power supply directory, by file name, trimmed; unreadable or empty files left out.
pub type Attributes = BTreeMap<String, String>;

/// The machine's battery a power supply describes; `None` for mains, USB and other supplies, and for the
/// batteries of peripherals.
pub fn battery(attributes: &Attributes) -> Option<Battery> {
    let get = |name: &str| attributes.get(name).map(String::as_str);
    if get("type") != Some("Battery") || get("scope") == Some("Device") || get("present") == Some("0") {
        return None;
    }
    let number = |name: &str| get(name).and_then(|v| v.parse::<u64>().ok());
    let text = |name: &str| get(name).filter(|v| !v.is_empty()).map(str::to_string);
    // µWh → mWh directly; µAh × µV (the design voltage) → mWh.
    let energy = |energy: &str, charge: &str| {
        number(energy).filter(|uwh| *uwh > 0).map(|uwh| uwh / 1000).or_else(|| {
            let uah = number(charge)?;
            let uv = number("voltage_min_design")?;
            Some(uah.checked_mul(uv)? / 1_000_000_000)
        })
    };
    let mwh = |v: Option<u64>| v.filter(|v| *v > 0).and_then(|v| u32::try_from(v).ok());
    Some(Battery {
        model: text("model_name"),
        manufacturer: text("manufacturer"),
        serial: text("serial_number"),
        chemistry: text("technology").filter(|t| t != "Unknown"),
        design_capacity_mwh: mwh(energy("energy_full_design", "charge_full_design")),
        full_charge_capacity_mwh: mwh(energy("energy_full", "charge_full")),
        cycle_count: number("cycle_count").filter(|n| *n > 0).and_then(|n| u32::try_from(n).ok()),
        ..Battery::default()
    })
}

/// The TPM of a `tpmN` class directory. Its `tpm_version_major` (kernels since 5.6) gives the family. A TPM 1.2
/// also has `caps`, its own answers as the driver asked them (`Manufacturer: 0x49465800`, `TCG version: 1.2`,
/// `Firmware version: 6.40`): the vendor and firmware that TPM firmware advisories (ROCA's) name. A TPM 2.0 has no
/// such file, so its vendor stays unknown here (TPM2_GetCapability through `/dev/tpmrm0` would tell; not asked).
/// Older kernels and TPMs whose driver says nothing give a TPM with nothing known but its presence.
pub fn tpm(version_major: Option<&str>, caps: Option<&str>) -> Tpm {
    let caps: Vec<(&str, &str)> =
        caps.unwrap_or_default().lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim(), v.trim())).collect();
    let cap = |key: &str| caps.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).filter(|v| !v.is_empty());
    let spec_version = match version_major.map(str::trim) {
        Some("2") => Some("2.0".to_string()),
        Some("1") => Some("1.2".to_string()),
        _ => cap("TCG version").map(str::to_owned),
    };
    Tpm {
        spec_version,
        manufacturer: cap("Manufacturer").and_then(vendor_id),
        firmware_version: cap("Firmware version").map(str::to_owned),
        ..Tpm::default()
    }
}

/// A TCG vendor id as `caps` prints it, four ASCII bytes in hex (`0x49465800`), as text (`IFX`, `STM`), read as
/// Windows's TPM vendor id is.
fn vendor_id(hex: &str) -> Option<String> {
    let value = u32::from_str_radix(hex.strip_prefix("0x")?, 16).ok()?;
    crate::inventory::windows::letters(value.to_be_bytes())
}

/// The attributes [`battery`] reads. A supply's other files are not opened: on a peripheral's battery some of them
/// (`capacity`, `status`) ask the device itself, which can take seconds over Bluetooth.
const BATTERY_ATTRIBUTES: [&str; 11] = [
    "present",
    "model_name",
    "manufacturer",
    "serial_number",
    "technology",
    "energy_full_design",
    "energy_full",
    "charge_full_design",
    "charge_full",
    "voltage_min_design",
    "cycle_count",
];

/// The batteries under `/sys/class/power_supply`, by supply name. No directory is no battery (a kernel without
/// power supplies); one that cannot be listed is recorded.
pub fn probe_batteries(root: &SystemRoot, errors: &mut ErrorLog) -> Vec<Battery> {
    let names = match root.dir_names(POWER_SUPPLY) {
        Ok(names) => names,
        Err(err) => {
            errors.record(SectionName::Hardware, "batteries", ErrorKind::Io, format!("{POWER_SUPPLY}: {err}"));
            return Vec::new();
        }
    };
    let mut found = Vec::new();
    for name in names {
        let read = |attribute: &str| {
            let value = root.read(format!("{POWER_SUPPLY}/{name}/{attribute}")).ok()?;
            let value = String::from_utf8_lossy(&value).trim().to_string();
            (!value.is_empty()).then_some(value)
        };
        // Mains, USB and wireless chargers are skipped before anything else of theirs is read.
        let Some(kind) = read("type") else { continue };
        if kind != "Battery" {
            continue;
        }
        // A peripheral's battery (`scope` Device) is not the machine's: nothing more of it is read.
        let scope = read("scope");
        if scope.as_deref() == Some("Device") {
            continue;
        }
        let mut attributes = Attributes::from([("type".to_string(), kind)]);
        attributes.extend(scope.map(|v| ("scope".to_string(), v)));
        for attribute in BATTERY_ATTRIBUTES {
            attributes.extend(read(attribute).map(|v| (attribute.to_string(), v)));
        }
        found.extend(battery(&attributes));
    }
    found
}

/// The first TPM under `/sys/class/tpm` (`tpm0`; `tpmrm0` is its resource manager, in another class). No
/// directory is no TPM, or a kernel without the driver; one that cannot be listed is recorded.
pub fn probe_tpm(root: &SystemRoot, errors: &mut ErrorLog) -> Option<Tpm> {
    let names = match root.dir_names(TPM) {
        Ok(names) => names,
        Err(err) => {
            errors.record(SectionName::Hardware, "tpm", ErrorKind::Io, format!("{TPM}: {err}"));
            return None;
        }
    };
    // Sorted by name, so `tpm0` comes first.
    let name = names
        .iter()
        .find(|n| n.strip_prefix("tpm").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())))?;
    let text = |path: String| root.read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
    let version = text(format!("{TPM}/{name}/tpm_version_major"));
    // A TPM 1.2's attributes sit on the class device on newer kernels, on its parent device on older ones.
    let caps = text(format!("{TPM}/{name}/caps")).or_else(|| text(format!("{TPM}/{name}/device/caps")));
    Some(tpm(version.as_deref(), caps.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str) -> SystemRoot {
        SystemRoot::mounted(format!("{}/testdata/sysfs-power/{name}", env!("CARGO_MANIFEST_DIR")))
    }

    #[test]
    fn an_hp_pack_reporting_charge_is_converted_to_energy() {
        let mut errors = ErrorLog::default();
        let found = probe_batteries(&case("rust-battery-issue-28"), &mut errors);
        // 3.6 Ah and 3.424 Ah at the 11.4 V design voltage.
        assert_eq!(
            found,
            vec![Battery {
                model: Some("PABAS0241231".into()),
                manufacturer: Some("Hewlett-Packard".into()),
                serial: Some("41167".into()),
                chemistry: Some("Li-ion".into()),
                design_capacity_mwh: Some(41040),
                full_charge_capacity_mwh: Some(39033),
                cycle_count: None,
                ..Battery::default()
            }]
        );
        assert!(errors.is_empty());
        assert_eq!(found[0].health_percent(), Some(95));
    }

    #[test]
    fn a_pack_without_design_values_is_listed_with_what_it_gives() {
        let mut errors = ErrorLog::default();
        let found = probe_batteries(&case("rust-battery-issue-30"), &mut errors);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].design_capacity_mwh, found[0].full_charge_capacity_mwh), (None, Some(39033)));
        let bare = probe_batteries(&case("rust-battery-issue-40"), &mut errors);
        assert_eq!(bare, vec![Battery { chemistry: Some("Li-ion".into()), ..Battery::default() }]);
    }

    #[test]
    fn mains_peripherals_and_absent_packs_are_not_batteries() {
        let attributes = |pairs: &[(&str, &str)]| -> Attributes {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(battery(&attributes(&[("type", "Mains"), ("online", "1")])), None);
        assert_eq!(battery(&attributes(&[("type", "Battery"), ("scope", "Device"), ("model_name", "MX")])), None);
        assert_eq!(battery(&attributes(&[("type", "Battery"), ("present", "0")])), None);
        assert!(battery(&attributes(&[("type", "Battery"), ("scope", "System")])).is_some());
    }

    #[test]
    fn the_tpm_family_comes_from_its_major_version() {
        assert_eq!(tpm(Some("2\n"), None).spec_version.as_deref(), Some("2.0"));
        assert_eq!(tpm(Some("1"), None).spec_version.as_deref(), Some("1.2"));
        assert_eq!(tpm(None, None), Tpm::default());
        let mut errors = ErrorLog::default();
        assert_eq!(probe_tpm(&case("rust-battery-issue-28"), &mut errors), None, "no tpm class: no TPM");
        assert!(errors.is_empty());
    }

    fn tpm_case(name: &str) -> Option<Tpm> {
        let root = SystemRoot::mounted(format!("{}/testdata/sysfs-tpm/{name}", env!("CARGO_MANIFEST_DIR")));
        let mut errors = ErrorLog::default();
        let found = probe_tpm(&root, &mut errors);
        assert!(errors.is_empty(), "{name}");
        found
    }

    /// TPM 1.2 chips as their `caps` describe them (fwupd's and SIMP's captures): an Infineon with firmware 6.40
    /// (a version ROCA's advisory names), its file on the class device; an STMicro, its file on the parent device
    /// as older kernels placed it. A TPM 2.0 (an ST chip, fwupd's capture) has its family and nothing more.
    #[test]
    fn a_tpm_1_2_names_its_vendor_and_firmware() {
        let tpm12 = |vendor: &str, firmware: &str| Tpm {
            spec_version: Some("1.2".into()),
            manufacturer: Some(vendor.into()),
            firmware_version: Some(firmware.into()),
            ..Tpm::default()
        };
        assert_eq!(tpm_case("fwupd-tpm12-infineon"), Some(tpm12("IFX", "6.40")));
        assert_eq!(tpm_case("simp-tpm12-stmicro"), Some(tpm12("STM", "8.28")));
        assert_eq!(tpm_case("fwupd-tpm20-stmicro"), Some(Tpm { spec_version: Some("2.0".into()), ..Tpm::default() }));
    }
}

//! Batteries on Windows: which packs there are from CIM's `Win32_Battery`, and how worn each is from the battery
//! driver's own classes in `ROOT\WMI` (`BatteryStaticData`, `BatteryFullChargedCapacity`, `BatteryCycleCount`: the
//! data `powercfg /batteryreport` prints), turned into the wire's [`Battery`]. Pure: the probe queries WMI into the
//! types below, the tests read real machines' outputs into the same.
//!
//! `Win32_Battery` alone is not enough: its `DesignCapacity` and `FullChargeCapacity` are empty on nearly every
//! machine, and it has no serial. It is read first all the same because it is the cheap, always-present answer to
//! "is there a battery at all": a desktop has no instance, where `ROOT\WMI`'s classes may refuse the query instead.

use std::collections::BTreeMap;

use serde::Deserialize;

use muster_shared::v1::Battery;

use super::letters;

/// Where the battery driver's classes live.
pub const DRIVER_NAMESPACE: &str = r"ROOT\WMI";

/// The `Win32_Battery` properties read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "Win32_Battery")]
pub struct Win32Battery {
    #[serde(rename = "Name")]
    pub name: Option<String>,
    /// CIM's chemistry code: 3 lead acid … 6 lithium-ion, 8 lithium polymer; 1 and 2 say nothing.
    #[serde(rename = "Chemistry")]
    pub chemistry: Option<u16>,
    #[serde(rename = "DesignCapacity")]
    pub design_capacity: Option<u32>,
    #[serde(rename = "FullChargeCapacity")]
    pub full_charge_capacity: Option<u32>,
}

/// `BatteryStaticData`: one instance per battery, named by `InstanceName` (`ACPI\PNP0C0A\1_0`) as the two classes
/// below are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "BatteryStaticData")]
pub struct StaticData {
    #[serde(rename = "InstanceName")]
    pub instance_name: Option<String>,
    #[serde(rename = "DeviceName")]
    pub device_name: Option<String>,
    #[serde(rename = "ManufactureName")]
    pub manufacture_name: Option<String>,
    #[serde(rename = "SerialNumber")]
    pub serial_number: Option<String>,
    /// `BATTERY_INFORMATION.Capabilities`: with `BATTERY_CAPACITY_RELATIVE` the capacities are in the driver's own
    /// relative units, not mWh.
    #[serde(rename = "Capabilities")]
    pub capabilities: Option<u32>,
    /// The driver's four chemistry characters (`BATTERY_INFORMATION.Chemistry`) as a little-endian number.
    #[serde(rename = "Chemistry")]
    pub chemistry: Option<u32>,
    /// mWh.
    #[serde(rename = "DesignedCapacity")]
    pub designed_capacity: Option<u32>,
}

/// `BatteryFullChargedCapacity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "BatteryFullChargedCapacity")]
pub struct FullChargedCapacity {
    #[serde(rename = "InstanceName")]
    pub instance_name: Option<String>,
    /// mWh.
    #[serde(rename = "FullChargedCapacity")]
    pub full_charged_capacity: Option<u32>,
}

/// `BatteryCycleCount`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "BatteryCycleCount")]
pub struct CycleCount {
    #[serde(rename = "InstanceName")]
    pub instance_name: Option<String>,
    #[serde(rename = "CycleCount")]
    pub cycle_count: Option<u32>,
}

/// The `Capabilities` flag of drivers that report capacities as relative units (`batclass.h`).
const BATTERY_CAPACITY_RELATIVE: u32 = 0x4000_0000;

/// What the driver's classes answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverData {
    pub statics: Vec<StaticData>,
    pub full: Vec<FullChargedCapacity>,
    pub cycles: Vec<CycleCount>,
}

/// The batteries: none when `Win32_Battery` lists none; otherwise one per battery the driver describes, or, when its
/// classes could not be read (`None`) or describe none, what `Win32_Battery` itself says of each.
pub fn batteries(present: &[Win32Battery], driver: Option<&DriverData>) -> Vec<Battery> {
    if present.is_empty() {
        return Vec::new();
    }
    match driver.filter(|d| !d.statics.is_empty()) {
        Some(driver) => from_driver(driver),
        None => present.iter().map(from_cim).collect(),
    }
}

/// One battery per `BatteryStaticData` instance in instance order, with the capacity and count of the same instance.
fn from_driver(driver: &DriverData) -> Vec<Battery> {
    let key = |name: &Option<String>| name.clone().unwrap_or_default();
    let full: BTreeMap<String, u32> =
        driver.full.iter().filter_map(|f| Some((key(&f.instance_name), f.full_charged_capacity?))).collect();
    let cycles: BTreeMap<String, u32> =
        driver.cycles.iter().filter_map(|c| Some((key(&c.instance_name), c.cycle_count?))).collect();
    let mut statics: Vec<&StaticData> = driver.statics.iter().collect();
    statics.sort_by(|a, b| a.instance_name.cmp(&b.instance_name));
    statics
        .into_iter()
        .map(|s| {
            let name = key(&s.instance_name);
            // Relative units would read as a false mWh figure; such a pack is listed without capacities.
            let in_mwh = s.capabilities.is_none_or(|c| c & BATTERY_CAPACITY_RELATIVE == 0);
            let mwh = |v: Option<u32>| v.filter(|_| in_mwh).and_then(capacity);
            Battery {
                model: text(s.device_name.as_deref()),
                manufacturer: text(s.manufacture_name.as_deref()),
                serial: text(s.serial_number.as_deref()),
                chemistry: s.chemistry.and_then(chemistry_letters),
                design_capacity_mwh: mwh(s.designed_capacity),
                full_charge_capacity_mwh: mwh(full.get(&name).copied()),
                // Packs that do not count cycles report 0 (ACPI's older _BIF has no field for it), so 0 is unknown.
                cycle_count: cycles.get(&name).copied().filter(|n| *n > 0),
                ..Battery::default()
            }
        })
        .collect()
}

fn from_cim(row: &Win32Battery) -> Battery {
    Battery {
        model: text(row.name.as_deref()),
        chemistry: row.chemistry.and_then(chemistry_name).map(str::to_string),
        design_capacity_mwh: row.design_capacity.and_then(capacity),
        full_charge_capacity_mwh: row.full_charge_capacity.and_then(capacity),
        ..Battery::default()
    }
}

/// A capacity in mWh; 0 and `BATTERY_UNKNOWN_CAPACITY` (all ones) are how drivers say they do not know it.
fn capacity(mwh: u32) -> Option<u32> {
    (mwh != 0 && mwh != u32::MAX).then_some(mwh)
}

/// The driver's chemistry characters (`LIon`, `LiP`, `PbAc`): the number's bytes, little-endian.
fn chemistry_letters(code: u32) -> Option<String> {
    letters(code.to_le_bytes())
}

/// CIM's chemistry code as a name; `Other` (1) and `Unknown` (2) are none.
fn chemistry_name(code: u16) -> Option<&'static str> {
    match code {
        3 => Some("Lead Acid"),
        4 => Some("Nickel Cadmium"),
        5 => Some("Nickel Metal Hydride"),
        6 => Some("Lithium-ion"),
        7 => Some("Zinc air"),
        8 => Some("Lithium Polymer"),
        _ => None,
    }
}

/// [`super::text`], owned.
fn text(value: Option<&str>) -> Option<String> {
    super::text(value).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::windows::wmic;

    /// The `<Battery>` elements of a `powercfg /batteryreport /xml` report, as `ROOT\WMI`'s rows: powercfg reads the
    /// same driver information (`IOCTL_BATTERY_QUERY_INFORMATION`) the three classes expose. Its chemistry is the
    /// driver's four characters printed as text, so it goes back into the number the class gives.
    fn powercfg(name: &str) -> DriverData {
        let path = format!("{}/testdata/windows/powercfg/{name}", env!("CARGO_MANIFEST_DIR"));
        let xml = std::fs::read_to_string(&path).unwrap();
        let mut driver = DriverData::default();
        for (i, element) in xml.split("<Battery>").skip(1).enumerate() {
            let element = element.split("</Battery>").next().unwrap();
            let field = |tag: &str| {
                let start = element.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
                element[start..].split("</").next().unwrap().to_string()
            };
            let instance_name = Some(format!(r"ACPI\PNP0C0A\{}_0", i + 1));
            let mut chemistry = [0u8; 4];
            chemistry[..field("Chemistry").len()].copy_from_slice(field("Chemistry").as_bytes());
            let relative = field("RelativeCapacity") == "1";
            driver.statics.push(StaticData {
                instance_name: instance_name.clone(),
                capabilities: Some(if relative { BATTERY_CAPACITY_RELATIVE } else { 0 }),
                device_name: Some(field("Id")),
                manufacture_name: Some(field("Manufacturer")),
                serial_number: Some(field("SerialNumber")),
                chemistry: Some(u32::from_le_bytes(chemistry)),
                designed_capacity: Some(field("DesignCapacity").parse().unwrap()),
            });
            let full_charged_capacity = Some(field("FullChargeCapacity").parse().unwrap());
            driver.full.push(FullChargedCapacity { instance_name: instance_name.clone(), full_charged_capacity });
            driver.cycles.push(CycleCount { instance_name, cycle_count: Some(field("CycleCount").parse().unwrap()) });
        }
        driver
    }

    fn one_present() -> Vec<Win32Battery> {
        vec![Win32Battery::default()]
    }

    #[test]
    fn a_thinkpad_with_two_packs_reports_both_and_their_wear() {
        let driver = powercfg("windows-10-notebook.xml");
        // The second pack's instance is listed first: the join is by instance name, not by position.
        let mut shuffled = driver;
        shuffled.full.reverse();
        shuffled.cycles.reverse();
        let found = batteries(&one_present(), Some(&shuffled));
        assert_eq!(
            found,
            vec![
                Battery {
                    model: Some("00HW023".into()),
                    manufacturer: Some("SMP".into()),
                    serial: Some("541".into()),
                    chemistry: Some("LiP".into()),
                    design_capacity_mwh: Some(23540),
                    full_charge_capacity_mwh: Some(19450),
                    cycle_count: Some(173),
                    ..Battery::default()
                },
                Battery {
                    model: Some("01AV406".into()),
                    manufacturer: Some("SMP".into()),
                    serial: Some("3319".into()),
                    chemistry: Some("LiP".into()),
                    design_capacity_mwh: Some(26060),
                    full_charge_capacity_mwh: Some(17860),
                    cycle_count: Some(143),
                    ..Battery::default()
                },
            ]
        );
    }

    #[test]
    fn a_dell_pack_that_counts_no_cycles_has_no_count() {
        let found = batteries(&one_present(), Some(&powercfg("win10-dell-xps.xml")));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].model.as_deref(), Some("DELL JHXPY53"));
        assert_eq!((found[0].design_capacity_mwh, found[0].full_charge_capacity_mwh), (Some(57532), Some(48807)));
        assert_eq!(found[0].cycle_count, None, "the report says 0: not counted");
    }

    #[test]
    fn the_driver_classes_as_an_asus_laptop_answered_them() {
        // A Super User answer's Get-WmiObject output of the three classes (only some properties selected, so no
        // InstanceName: the three rows join on the same empty name).
        let records = wmic::format_list("cim/root-wmi-battery-asus-k52f.txt");
        let of = |class: &str| records.iter().find(|r| r["__CLASS"] == class).unwrap();
        let statics = of("BatteryStaticData");
        let driver = DriverData {
            statics: vec![StaticData {
                instance_name: None,
                capabilities: None,
                device_name: statics.get("DeviceName").cloned(),
                manufacture_name: statics.get("ManufactureName").cloned(),
                serial_number: statics.get("SerialNumber").cloned(),
                chemistry: statics.get("Chemistry").map(|v| v.parse().unwrap()),
                designed_capacity: statics.get("DesignedCapacity").map(|v| v.parse().unwrap()),
            }],
            full: vec![FullChargedCapacity {
                instance_name: None,
                full_charged_capacity: Some(of("BatteryFullChargedCapacity")["FullChargedCapacity"].parse().unwrap()),
            }],
            cycles: vec![CycleCount {
                instance_name: None,
                cycle_count: Some(of("BatteryCycleCount")["CycleCount"].parse().unwrap()),
            }],
        };
        assert_eq!(
            batteries(&one_present(), Some(&driver)),
            vec![Battery {
                model: Some("K52F-44".into()),
                manufacturer: Some("ASUSTek".into()),
                serial: None,
                chemistry: Some("LIon".into()),
                design_capacity_mwh: Some(48400),
                full_charge_capacity_mwh: Some(47157),
                cycle_count: None,
                ..Battery::default()
            }]
        );
    }

    fn simulated() -> Vec<Win32Battery> {
        wmic::format_list("cim/Win32_Battery-simbatt.txt")
            .into_iter()
            .map(|row| Win32Battery {
                name: row.get("Name").cloned(),
                chemistry: row.get("Chemistry").map(|v| v.parse().unwrap()),
                design_capacity: row.get("DesignCapacity").map(|v| v.parse().unwrap()),
                full_charge_capacity: row.get("FullChargeCapacity").map(|v| v.parse().unwrap()),
            })
            .collect()
    }

    #[test]
    fn without_the_driver_classes_win32_battery_still_lists_each_pack() {
        let present = simulated();
        assert_eq!(present.len(), 2);
        let expected = Battery { model: Some("SimulatedBattery".into()), ..Battery::default() };
        // Its capacities are empty and its chemistry code is 2 (Unknown): only the name is known.
        assert_eq!(batteries(&present, None), vec![expected.clone(), expected.clone()]);
        // The driver's classes answering with no instance change nothing.
        assert_eq!(batteries(&present, Some(&DriverData::default())), vec![expected.clone(), expected]);
    }

    #[test]
    fn capacities_in_relative_units_are_not_taken_for_mwh() {
        // The ThinkPad's packs as a driver reporting relative capacities would give them (powercfg's
        // RelativeCapacity 1): the same packs, without figures that would read as watt-hours.
        let mut driver = powercfg("windows-10-notebook.xml");
        for s in &mut driver.statics {
            s.capabilities = Some(s.capabilities.unwrap() | BATTERY_CAPACITY_RELATIVE);
        }
        let found = batteries(&one_present(), Some(&driver));
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|b| b.design_capacity_mwh.is_none() && b.full_charge_capacity_mwh.is_none()));
        assert_eq!((found[0].model.as_deref(), found[0].cycle_count), (Some("00HW023"), Some(173)));
    }

    #[test]
    fn no_win32_battery_is_no_battery_whatever_the_driver_says() {
        assert_eq!(batteries(&[], Some(&powercfg("win10-dell-xps.xml"))), Vec::new());
        assert_eq!(batteries(&[], None), Vec::new());
    }

    #[test]
    fn unknown_capacities_and_codes_are_left_out() {
        assert_eq!(capacity(u32::MAX), None);
        assert_eq!(capacity(0), None);
        assert_eq!(capacity(48400), Some(48400));
        assert_eq!(chemistry_name(6), Some("Lithium-ion"));
        assert_eq!(chemistry_name(2), None);
        assert_eq!(chemistry_letters(0), None);
        assert_eq!(chemistry_letters(u32::from_le_bytes(*b"PbAc")).as_deref(), Some("PbAc"));
    }
}

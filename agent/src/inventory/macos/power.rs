//! A Mac's battery from the `Power:` section of `system_profiler SPPowerDataType` (text), which on a PC comes from
//! ACPI: the pack's identity, its cycle count, and macOS's own verdict on its wear (`Condition`, and on recent
//! releases `Maximum Capacity` in percent). A pure reading of the text; the probe runs the command.
//!
//! system_profiler gives the full charge in mAh and no design capacity, so no capacity in mWh is made up from
//! them (the voltage changes with the charge): the health a Mac reports is its own percentage.

use muster_shared::v1::Battery;

/// `Maximum Capacity: 89 %`; macOS may put a no-break space before the sign, or none.
fn percent(text: &str) -> Option<u32> {
    text.trim().strip_suffix('%')?.trim_end_matches([' ', '\u{a0}']).parse().ok()
}

/// What system_profiler prints for a value it does not know.
fn value(text: &str) -> Option<String> {
    let t = text.trim();
    (!(t.is_empty() || t == "Unknown" || t == "0")).then(|| t.to_owned())
}

/// The battery of the `Power:` section (of the whole report, or of `SPPowerDataType` alone): none on a Mac without
/// one (a desktop's section has only its power settings), and none when it says `Battery Installed: No`.
pub fn batteries(text: &str) -> Vec<Battery> {
    let mut lines = text.lines().skip_while(|l| l.trim_end() != "Power:");
    if lines.next().is_none() {
        return Vec::new();
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    // The section's lines up to the next top-level section, blank ones dropped.
    let section: Vec<&str> = lines
        .take_while(|l| l.chars().next().is_none_or(char::is_whitespace))
        .filter(|l| !l.trim().is_empty())
        .collect();
    let Some(start) = section.iter().position(|l| l.trim() == "Battery Information:") else { return Vec::new() };
    let depth = indent(section[start]);
    // Its fields, at any depth below it (`Model Information:`, `Health Information:` …), up to its next sibling.
    let fields: Vec<(&str, &str)> = section[start + 1..]
        .iter()
        .take_while(|l| indent(l) > depth)
        .filter_map(|l| l.trim().split_once(": "))
        .collect();
    let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    if get("Battery Installed") == Some("No") {
        return Vec::new();
    }
    vec![Battery {
        // The fuel gauge's name (`bq20z451`), which is what Macs report as the pack's device name.
        model: get("Device Name").and_then(value),
        manufacturer: get("Manufacturer").and_then(value),
        serial: get("Serial Number").and_then(value),
        cycle_count: get("Cycle Count").and_then(|c| c.trim().parse().ok()),
        condition: get("Condition").and_then(value),
        maximum_capacity_percent: get("Maximum Capacity").and_then(percent),
        ..Battery::default()
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(format!("{}/testdata/macos/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// An Intel MacBook on OS X 10.11 (glpi-agent's capture): identity, cycles and condition; no percentage yet.
    #[test]
    fn an_intel_macbook_on_10_11() {
        assert_eq!(
            batteries(&testdata("SPPowerDataType-10.11.txt")),
            vec![Battery {
                model: Some("bq20z451".into()),
                manufacturer: Some("DP".into()),
                serial: Some("C01437408B3F90MA2".into()),
                cycle_count: Some(552),
                condition: Some("Normal".into()),
                ..Battery::default()
            }]
        );
    }

    /// A USB-C MacBook charging: the same fields, whatever the charger and charge state lines around them.
    #[test]
    fn a_usb_c_macbook_charging() {
        let found = batteries(&testdata("SPPowerDataType-charging.txt"));
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].manufacturer.as_deref(), found[0].serial.as_deref(), found[0].cycle_count),
            (Some("SMP"), Some("HD2J77"), Some(125))
        );
        assert_eq!(found[0].condition.as_deref(), Some("Normal"));
    }

    /// An M1 MacBook Air on macOS 11 (the whole system_profiler report): no serial or maker, but macOS's own
    /// percentage, which is the health the console shows.
    #[test]
    fn an_apple_silicon_macbook_reports_its_maximum_capacity() {
        let found = batteries(&testdata("system_profiler-11.0-apple-M1.txt"));
        assert_eq!(
            found,
            vec![Battery {
                model: Some("bq20z451".into()),
                cycle_count: Some(1),
                condition: Some("Normal".into()),
                maximum_capacity_percent: Some(100),
                ..Battery::default()
            }]
        );
        assert_eq!(found[0].health_percent(), Some(100));
    }

    /// Desktops (an iMac on 10.6, a Power Mac G5 on 10.5, a Mac mini on 10.6): a `Power:` section with settings
    /// only, no battery.
    #[test]
    fn desktops_have_none() {
        for name in
            ["system_profiler-10.6-intel.txt", "system_profiler-10.5-powerpc.txt", "system_profiler-10.6-macmini.txt"]
        {
            assert_eq!(batteries(&testdata(name)), Vec::new(), "{name}");
        }
    }
}

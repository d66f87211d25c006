//! A Mac's identity from the I/O Registry's platform device (`ioreg -rd1 -c IOPlatformExpertDevice`): maker,
//! model, serial number and hardware UUID, which on a PC come from SMBIOS. A pure reading of ioreg's text, either
//! the one node `-rd1` prints or the first such node of a whole tree (`ioreg -l`). And its kind of enclosure, from
//! the model name `system_profiler SPHardwareDataType` prints, in SMBIOS's words, which decides whether it is a
//! laptop (the collector's `host.laptop`, so an unencrypted MacBook ranks as a laptop's disk does).

use muster_shared::v1::{Chassis, SystemInfo};

/// A property's value as ioreg prints it: `"text"`, or data `<"text">` holding a NUL-terminated string; other data
/// (`<0900…>`) and collections are not text.
fn text(value: &str) -> Option<String> {
    let value = value.trim();
    let inner = value.strip_prefix('<').and_then(|v| v.strip_suffix('>')).unwrap_or(value);
    let s = inner.strip_prefix('"')?.strip_suffix('"')?;
    let s = s.trim_end_matches('\0').trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// The properties of the first IOPlatformExpertDevice node, as (key, raw value).
fn properties(ioreg: &str) -> Vec<(String, String)> {
    let mut lines = ioreg.lines().skip_while(|l| !l.contains("<class IOPlatformExpertDevice"));
    if lines.next().is_none() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for line in lines {
        // Nested output prefixes each line with the tree's `|` guides.
        let line = line.trim_start_matches([' ', '|']).trim_end();
        if line == "{" {
            continue;
        }
        if line == "}" || line.starts_with("+-o") {
            break;
        }
        let Some((key, value)) = line.split_once(" = ") else { continue };
        if let Some(key) = key.trim().strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
            out.push((key.to_owned(), value.to_owned()));
        }
    }
    out
}

/// The system's maker, model, serial number and UUID (lower case, as the SMBIOS reader gives it); `None` when the
/// output has no platform device.
pub fn system_info(ioreg: &str) -> Option<SystemInfo> {
    let props = properties(ioreg);
    if props.is_empty() {
        return None;
    }
    let get = |key: &str| props.iter().find(|(k, _)| k == key).and_then(|(_, v)| text(v));
    Some(SystemInfo {
        vendor: get("manufacturer"),
        product: get("model"),
        serial: get("IOPlatformSerialNumber"),
        uuid: get("IOPlatformUUID").map(|u| u.to_ascii_lowercase()),
        // The board id names the logic board's model (`Mac-E43C1C25D4880AD6`), SMBIOS's SKU field for Macs.
        sku: get("board-id"),
        ..SystemInfo::default()
    })
}

/// The SMBIOS chassis type of a Mac, from the `Model Name:` of `system_profiler SPHardwareDataType`'s text (`MacBook
/// Air`, `iMac`, `Mac mini`). The model identifier cannot say it: Apple silicon laptops since 2022 are `Mac14,2` and
/// the like. `None` for a model name not listed here.
pub fn chassis(system_profiler: &str) -> Option<Chassis> {
    let name = system_profiler.lines().find_map(|l| l.trim().strip_prefix("Model Name:"))?.trim();
    let kind = [
        ("MacBook", "Notebook"),
        ("iMac", "All in One"),
        ("Mac mini", "Mini PC"),
        ("Mac Studio", "Desktop"),
        ("Mac Pro", "Tower"),
        ("Power Mac", "Tower"),
        ("Xserve", "Rack Mount Chassis"),
    ]
    .into_iter()
    .find_map(|(prefix, kind)| name.starts_with(prefix).then_some(kind))?;
    Some(Chassis { chassis_type: Some(kind.to_owned()), vendor: Some("Apple Inc.".to_owned()), ..Chassis::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(format!("{}/testdata/macos/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn a_macbook_pro_reads_its_identity() {
        let system = system_info(&testdata("ioreg-IOPlatformExpertDevice-MacBookPro12,1.txt")).unwrap();
        assert_eq!(system.vendor.as_deref(), Some("Apple Inc."));
        assert_eq!(system.product.as_deref(), Some("MacBookPro12,1"));
        assert_eq!(system.serial.as_deref(), Some("C02QM3FSFVH8"));
        assert_eq!(system.uuid.as_deref(), Some("ce3a2773-af9e-515b-918b-5ee5c09372d7"));
        assert_eq!(system.sku.as_deref(), Some("Mac-E43C1C25D4880AD6"));
    }

    #[test]
    fn the_first_platform_device_of_a_whole_tree_is_read() {
        let system = system_info(&testdata("ioreg-IOPlatformExpertDevice-full.txt")).unwrap();
        assert_eq!(system.product.as_deref(), Some("MacBook2,1"));
        assert_eq!(system.serial.as_deref(), Some("W87305UMYA8"));
        assert_eq!(system.uuid.as_deref(), Some("00000000-0000-1000-8000-001b633026b1"));
        assert_eq!(system.vendor.as_deref(), Some("Apple Inc."));
        assert_eq!(system.sku.as_deref(), Some("Mac-F4208CAA"));
    }

    #[test]
    fn the_model_name_gives_the_enclosure() {
        let kind = |file: &str| chassis(&testdata(file)).and_then(|c| c.chassis_type);
        // An Apple silicon MacBook Air, an Intel iMac, a Mac mini and a PowerPC Power Mac G5.
        assert_eq!(kind("system_profiler-11.0-apple-M1.txt").as_deref(), Some("Notebook"));
        assert_eq!(kind("system_profiler-10.6-intel.txt").as_deref(), Some("All in One"));
        assert_eq!(kind("system_profiler-10.6-macmini.txt").as_deref(), Some("Mini PC"));
        assert_eq!(kind("system_profiler-10.5-powerpc.txt").as_deref(), Some("Tower"));
        // The software overview alone names no model.
        assert_eq!(chassis(&testdata("system_profiler-10.6-SPSoftwareDataType.txt")), None);
    }

    #[test]
    fn output_without_a_platform_device_has_no_identity() {
        assert_eq!(system_info("+-o Root  <class IORegistryEntry, id 0x100000100, retain 13>\n"), None);
        assert_eq!(system_info(""), None);
    }
}

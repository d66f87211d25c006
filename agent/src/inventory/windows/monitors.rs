//! Monitors on Windows: the EDID Windows saves for every display it has seen, under
//! `HKLM\SYSTEM\CurrentControlSet\Enum\DISPLAY\<model>\<instance>\Device Parameters\EDID`, decoded by the same
//! [`parse_edid`] Linux uses, so a workstation's screens are inventoried with their serials on both.
//!
//! Windows keeps those keys after a display is unplugged; a device that is present now has the volatile `Control`
//! subkey Plug and Play creates while it runs it, so only those count (a laptop docked at five desks would
//! otherwise report every screen it ever met). Pure: the probe lists the instance keys into [`DisplayDevice`]s.

use muster_shared::v1::Monitor;

use crate::inventory::hardware::monitors::parse_edid;

/// The display devices' key below HKEY_LOCAL_MACHINE.
pub const DISPLAY_ENUM: &str = r"SYSTEM\CurrentControlSet\Enum\DISPLAY";

/// One instance key below [`DISPLAY_ENUM`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisplayDevice {
    /// `DISPLAY\<model>\<instance>`, the device instance id Device Manager shows, e.g.
    /// `DISPLAY\DEL4109\5&2a1b3c4d&0&UID4352`.
    pub instance: String,
    /// The `Control` subkey exists: the display is attached now.
    pub present: bool,
    /// `Device Parameters\EDID`, when Windows saved one (a generic "Default Monitor" has none).
    pub edid: Option<Vec<u8>>,
}

/// The attached displays with an EDID, by instance id, and for each EDID that does not decode, its instance and why.
pub fn monitors(devices: &[DisplayDevice]) -> (Vec<Monitor>, Vec<(String, String)>) {
    let mut devices: Vec<&DisplayDevice> = devices.iter().filter(|d| d.present).collect();
    devices.sort_by(|a, b| a.instance.cmp(&b.instance));
    let mut monitors = Vec::new();
    let mut errors = Vec::new();
    for device in devices {
        let Some(edid) = device.edid.as_deref() else { continue };
        match parse_edid(&device.instance, edid) {
            Ok(monitor) => monitors.push(monitor),
            Err(err) => errors.push((device.instance.clone(), err.to_string())),
        }
    }
    (monitors, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edid(name: &str) -> Vec<u8> {
        let path = format!("{}/testdata/edid/glpi-agent/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn attached_displays_are_decoded_and_unplugged_ones_left_out() {
        let devices = [
            DisplayDevice {
                instance: r"DISPLAY\ENC2911\5&2a1b3c4d&0&UID4352".into(),
                present: true,
                edid: Some(edid("EV2785")),
            },
            DisplayDevice {
                instance: r"DISPLAY\ACR06B4\5&2a1b3c4d&0&UID4353".into(),
                present: true,
                edid: Some(edid("acer-al1716")),
            },
            // A screen of another desk, met once: Windows kept its key.
            DisplayDevice {
                instance: r"DISPLAY\IMP2262\4&11aa22bb&0&UID0".into(),
                present: false,
                edid: Some(edid("IMP2262")),
            },
            // A display Windows drives without an EDID.
            DisplayDevice { instance: r"DISPLAY\Default_Monitor\1&8713bca&0&UID0".into(), present: true, edid: None },
        ];
        let (monitors, errors) = monitors(&devices);
        assert!(errors.is_empty(), "{errors:?}");
        let found: Vec<String> = monitors
            .iter()
            .map(|m| {
                format!("{} {} {} {:?} {:?}", m.connector, m.manufacturer_id, m.product_code, m.model, m.serial_number)
            })
            .collect();
        // The values edid-decode prints for these two files (testdata/edid/expected.edid-decode.tsv).
        assert_eq!(
            found,
            [
                r#"DISPLAY\ACR06B4\5&2a1b3c4d&0&UID4353 ACR 1716 Some("AL1716") Some(45137)"#,
                r#"DISPLAY\ENC2911\5&2a1b3c4d&0&UID4352 ENC 10513 Some("EV2785") Some(68056070)"#,
            ]
        );
        assert_eq!((monitors[1].width_cm, monitors[1].height_cm), (Some(60), Some(34)));
    }

    #[test]
    fn a_saved_edid_that_does_not_decode_is_reported_with_its_device() {
        let mut truncated = edid("EV2785");
        truncated.truncate(100);
        let devices = [DisplayDevice { instance: r"DISPLAY\ENC2911\x".into(), present: true, edid: Some(truncated) }];
        let (monitors, errors) = monitors(&devices);
        assert!(monitors.is_empty());
        assert_eq!(
            errors,
            [(r"DISPLAY\ENC2911\x".to_string(), "EDID length 100 is not a multiple of 128".to_string())]
        );
    }
}

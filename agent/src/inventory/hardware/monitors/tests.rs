//! The EDID decoder on 129 EDIDs of real displays (glpi-agent's collection) against edid-decode's reading of each.

use std::path::PathBuf;

use muster_shared::v1::Monitor;

use super::{EdidError, parse_edid};

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/edid").join(rel)
}

/// A row of `expected.edid-decode.tsv` as the monitor it describes.
fn expected(row: &[&str]) -> Monitor {
    // edid-decode prints a descriptor's text up to its line feed, blanks included (one display here pads its serial
    // with a space before it); the decoder drops trailing blanks, which no label shows.
    let opt = |s: &str| Some(s.trim_end().to_string()).filter(|s| !s.is_empty());
    let num = |s: &str| (!s.is_empty()).then(|| s.parse::<u64>().unwrap());
    Monitor {
        connector: row[0].to_string(),
        manufacturer_id: row[1].to_string(),
        product_code: row[2].parse().unwrap(),
        serial_number: num(row[3]).map(|n| u32::try_from(n).unwrap()),
        manufactured_week: num(row[4]).map(|n| u8::try_from(n).unwrap()),
        manufactured_year: num(row[5]).map(|n| u16::try_from(n).unwrap()),
        model_year: num(row[6]).map(|n| u16::try_from(n).unwrap()),
        width_cm: num(row[7]).map(|n| u8::try_from(n).unwrap()),
        height_cm: num(row[8]).map(|n| u8::try_from(n).unwrap()),
        model: opt(row[9]),
        serial: opt(row[10]),
    }
}

#[test]
fn every_real_edid_reads_as_edid_decode_reads_it() {
    let table = std::fs::read_to_string(testdata("expected.edid-decode.tsv")).unwrap();
    let mut checked = 0;
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let row: Vec<&str> = line.split('\t').collect();
        assert_eq!(row.len(), 11, "{line}");
        let data = std::fs::read(testdata(&format!("glpi-agent/{}", row[0]))).unwrap();
        if row[1].is_empty() {
            // edid-decode refuses it: "EDID length 129 is not a multiple of 128."
            assert_eq!(parse_edid(row[0], &data), Err(EdidError::Length(129)), "{}", row[0]);
            continue;
        }
        assert_eq!(parse_edid(row[0], &data), Ok(expected(&row)), "{}", row[0]);
        checked += 1;
    }
    assert_eq!(checked, 128);
}

#[test]
fn data_that_is_not_an_edid_is_refused() {
    let data = std::fs::read(testdata("glpi-agent/acer-al1716")).unwrap();
    assert_eq!(parse_edid("x", &[]), Err(EdidError::Length(0)));
    assert_eq!(parse_edid("x", &data[..100]), Err(EdidError::Length(100)));
    let mut shifted = data.clone();
    shifted.rotate_left(1);
    assert_eq!(parse_edid("x", &shifted), Err(EdidError::Header));
}

/// The probe over a sysfs-shaped tree: a connected display, a connector without one (empty `edid`) and the card
/// itself (no `edid`).
#[test]
fn probe_reads_connected_displays_only() {
    let dir = tempfile::tempdir().unwrap();
    let drm = dir.path().join("sys/class/drm");
    for connector in ["card0", "card0-DP-1", "card0-HDMI-A-1"] {
        std::fs::create_dir_all(drm.join(connector)).unwrap();
    }
    std::fs::write(drm.join("card0-DP-1/edid"), b"").unwrap();
    std::fs::copy(testdata("glpi-agent/lcd.dell-2001fp"), drm.join("card0-HDMI-A-1/edid")).unwrap();
    let mut errors = crate::root::ErrorLog::new();
    let monitors = super::probe(&crate::root::SystemRoot::mounted(dir.path()), &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    let found: Vec<_> =
        monitors.iter().map(|m| (m.connector.as_str(), m.model.as_deref(), m.serial.as_deref())).collect();
    assert_eq!(found, [("card0-HDMI-A-1", Some("DELL 2001FP"), Some("C064652L3KTL"))]);
}

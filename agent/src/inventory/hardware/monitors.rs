//! Monitors: the EDID each connected display hands the graphics driver, read from `/sys/class/drm/<connector>/edid`
//! on a running system, so a workstation's screens are inventoried with their manufacturer, model and serial.
//!
//! [`parse_edid`] is pure: it reads the 128-byte base block (VESA E-EDID 1.3/1.4) the same way `edid-decode` does
//! and ignores extension blocks. A block with a wrong checksum is still decoded, as `edid-decode` does: displays with
//! a miscomputed checksum exist and their identity fields are usually right.

use muster_shared::v1::{ErrorKind, Monitor, SectionName};

use crate::root::{ErrorLog, SystemRoot};

const DRM: &str = "/sys/class/drm";
const HEADER: [u8; 8] = [0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];

/// Why an EDID could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdidError {
    #[error("EDID length {0} is not a multiple of 128")]
    Length(usize),
    #[error("no EDID header")]
    Header,
}

/// Decodes the identity of a display from its EDID; `connector` names where it is attached.
pub fn parse_edid(connector: &str, data: &[u8]) -> Result<Monitor, EdidError> {
    if data.is_empty() || !data.len().is_multiple_of(128) {
        return Err(EdidError::Length(data.len()));
    }
    let base = &data[..128];
    if base[..8] != HEADER {
        return Err(EdidError::Header);
    }
    // Three 5-bit letters, 1 = 'A', big-endian in bytes 8-9.
    let id = u16::from_be_bytes([base[8], base[9]]);
    let letter = |shift: u16| char::from(b'@' + ((id >> shift) & 0x1f) as u8);
    let manufacturer_id: String = [letter(10), letter(5), letter(0)].into_iter().collect();
    let product_code = u16::from_le_bytes([base[10], base[11]]);
    let serial_number = Some(u32::from_le_bytes([base[12], base[13], base[14], base[15]])).filter(|&s| s != 0);
    let (week, year) = (base[16], 1990 + u16::from(base[17]));
    let (manufactured_week, manufactured_year, model_year) = match week {
        0xff => (None, None, Some(year)),
        0 => (None, Some(year), None),
        w => (Some(w), Some(year), None),
    };
    let mut monitor = Monitor {
        connector: connector.to_string(),
        manufacturer_id,
        product_code,
        serial_number,
        manufactured_week,
        manufactured_year,
        model_year,
        width_cm: Some(base[21]).filter(|&w| w != 0 && base[22] != 0),
        height_cm: Some(base[22]).filter(|&h| h != 0 && base[21] != 0),
        ..Monitor::default()
    };
    // Four 18-byte descriptors; display descriptors start with 0x0000 and a tag.
    for descriptor in base[54..126].chunks_exact(18) {
        if descriptor[..3] != [0, 0, 0] {
            continue;
        }
        let slot = match descriptor[3] {
            0xfc => &mut monitor.model,
            0xff => &mut monitor.serial,
            _ => continue,
        };
        if slot.is_none() {
            *slot = descriptor_text(&descriptor[5..18]);
        }
    }
    Ok(monitor)
}

/// A descriptor's text: up to the line feed that ends it, trailing padding removed.
fn descriptor_text(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
    let text: String = bytes[..end].iter().map(|&b| char::from(b)).collect();
    let text = text.trim_end();
    (!text.is_empty()).then(|| text.to_string())
}

/// The connected displays of the running system. A connector without a display has an empty `edid` file.
pub fn probe(root: &SystemRoot, errors: &mut ErrorLog) -> Vec<Monitor> {
    let Ok(entries) = std::fs::read_dir(root.path(DRM)) else { return Vec::new() };
    let mut connectors: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
    connectors.sort();
    let mut monitors = Vec::new();
    for connector in connectors {
        let path = format!("{DRM}/{connector}/edid");
        let data = match root.read(&path) {
            Ok(data) if data.is_empty() => continue,
            Ok(data) => data,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                errors.io(SectionName::Hardware, path, &err);
                continue;
            }
        };
        match parse_edid(&connector, &data) {
            Ok(monitor) => monitors.push(monitor),
            Err(err) => errors.record(SectionName::Hardware, path, ErrorKind::Parse, err.to_string()),
        }
    }
    monitors
}

#[cfg(test)]
mod tests;

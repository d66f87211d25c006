//! The kernel's copy of the DMI identity in `/sys/class/dmi/id`: readable without root, serials and UUID excepted.
//!
//! It only fills what the raw table did not give, so its reader is asked for exactly the missing files (and the
//! root-only ones are not touched when the table was readable).

use muster_shared::v1::{Bios, Board, Chassis, SystemInfo};

use super::Firmware;
use super::names;

/// The directory the kernel exports DMI values to.
pub const DMI_ID_DIR: &str = "/sys/class/dmi/id";

/// Fills every absent identity field of `firmware` with `read(file)`, where `file` names a file in
/// [`DMI_ID_DIR`] and `read` returns its trimmed content, or `None` when it is missing, unreadable or empty.
pub fn fill_gaps(firmware: &mut Firmware, read: &mut dyn FnMut(&str) -> Option<String>) {
    let mut fill = |field: &mut Option<String>, file: &str| {
        if field.is_none() {
            *field = read(file);
        }
    };

    let mut system = firmware.system.take().unwrap_or_default();
    fill(&mut system.vendor, "sys_vendor");
    fill(&mut system.product, "product_name");
    fill(&mut system.version, "product_version");
    fill(&mut system.serial, "product_serial");
    fill(&mut system.uuid, "product_uuid");
    fill(&mut system.sku, "product_sku");
    fill(&mut system.family, "product_family");
    firmware.system = (system != SystemInfo::default()).then_some(system);

    let mut board = firmware.board.take().unwrap_or_default();
    fill(&mut board.vendor, "board_vendor");
    fill(&mut board.product, "board_name");
    fill(&mut board.version, "board_version");
    fill(&mut board.serial, "board_serial");
    fill(&mut board.asset_tag, "board_asset_tag");
    firmware.board = (board != Board::default()).then_some(board);

    let mut bios = firmware.bios.take().unwrap_or_default();
    fill(&mut bios.vendor, "bios_vendor");
    fill(&mut bios.version, "bios_version");
    fill(&mut bios.date, "bios_date");
    fill(&mut bios.release, "bios_release");
    firmware.bios = (bios != Bios::default()).then_some(bios);

    let mut chassis = firmware.chassis.take().unwrap_or_default();
    if chassis.chassis_type.is_none() {
        // The kernel exports the chassis type as its SMBIOS number.
        let mut code = None;
        fill(&mut code, "chassis_type");
        chassis.chassis_type =
            code.and_then(|c| c.parse::<u8>().ok()).and_then(names::chassis_type).map(str::to_string);
    }
    fill(&mut chassis.vendor, "chassis_vendor");
    fill(&mut chassis.serial, "chassis_serial");
    fill(&mut chassis.asset_tag, "chassis_asset_tag");
    firmware.chassis = (chassis != Chassis::default()).then_some(chassis);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn fills_only_what_is_missing() {
        let files: BTreeMap<&str, &str> = [
            ("sys_vendor", "LENOVO"),
            ("product_name", "20ARS19C0C"),
            ("product_serial", "PF01VVCA"),
            ("chassis_type", "10"),
            ("bios_release", "2.25"),
        ]
        .into();
        let mut asked = Vec::new();
        let mut firmware = Firmware {
            system: Some(SystemInfo { vendor: Some("from table".into()), ..SystemInfo::default() }),
            ..Firmware::default()
        };
        fill_gaps(&mut firmware, &mut |file| {
            asked.push(file.to_string());
            files.get(file).map(|v| v.to_string())
        });
        let system = firmware.system.unwrap();
        assert_eq!(system.vendor.as_deref(), Some("from table"));
        assert_eq!(system.product.as_deref(), Some("20ARS19C0C"));
        assert_eq!(system.serial.as_deref(), Some("PF01VVCA"));
        assert!(!asked.contains(&"sys_vendor".to_string()));
        assert_eq!(firmware.chassis.unwrap().chassis_type.as_deref(), Some("Notebook"));
        assert_eq!(firmware.bios.unwrap().release.as_deref(), Some("2.25"));
        assert_eq!(firmware.board, None);
    }
}

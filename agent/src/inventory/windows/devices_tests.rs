//! The disk and adapter interpretation on real machines' `wmic` captures (glpi-agent's test resources; see
//! `testdata/README.md`), read into the rows the probe's WMI queries fill.

use std::collections::BTreeMap;

use muster_shared::v1::{Disk, NetworkInterface};

use super::super::wmic::{array, boolean, records};
use super::*;

fn drives(name: &str) -> Vec<DiskDrive> {
    records(name)
        .iter()
        .map(|r| {
            let get = |k: &str| r.get(k).cloned();
            DiskDrive {
                device_id: get("DeviceID"),
                index: get("Index").map(|v| v.parse().unwrap()),
                model: get("Model"),
                serial_number: get("SerialNumber"),
                firmware_revision: get("FirmwareRevision"),
                size: get("Size").map(|v| v.parse().unwrap()),
                interface_type: get("InterfaceType"),
                media_type: get("MediaType"),
                pnp_device_id: get("PNPDeviceID"),
            }
        })
        .collect()
}

fn adapters(name: &str) -> Vec<NetworkAdapter> {
    records(name)
        .iter()
        .map(|r| {
            let get = |k: &str| r.get(k).cloned();
            NetworkAdapter {
                index: get("Index").map(|v| v.parse().unwrap()),
                name: get("Name"),
                net_connection_id: get("NetConnectionID"),
                net_connection_status: get("NetConnectionStatus").map(|v| v.parse().unwrap()),
                net_enabled: get("NetEnabled").map(|v| boolean(&v)),
                physical_adapter: get("PhysicalAdapter").map(|v| boolean(&v)),
                mac_address: get("MACAddress"),
                pnp_device_id: get("PNPDeviceID"),
                service_name: get("ServiceName"),
                speed: get("Speed").map(|v| v.parse().unwrap()),
            }
        })
        .collect()
}

fn configurations(name: &str) -> Vec<AdapterConfiguration> {
    records(name)
        .iter()
        .map(|r| {
            let get = |k: &str| r.get(k).cloned();
            AdapterConfiguration {
                index: get("Index").map(|v| v.parse().unwrap()),
                ip_enabled: get("IPEnabled").map(|v| boolean(&v)),
                ip_address: get("IPAddress").map(|v| array(&v)),
                ip_subnet: get("IPSubnet").map(|v| array(&v)),
                mtu: get("MTU").map(|v| v.parse().unwrap()),
            }
        })
        .collect()
}

#[test]
fn an_nvme_laptop_drive_keeps_its_eui_as_the_wwn_not_as_a_serial() {
    // Windows 10 on a Dell Latitude 7480: the SK hynix drive's serial field holds the namespace's EUI-64.
    let disks = disks(&drives("latitude-7480-Win32_DiskDrive.wmi"));
    assert_eq!(
        disks,
        [Disk {
            name: "PHYSICALDRIVE0".into(),
            vendor: None,
            model: Some("PC300 NVMe SK hynix 512GB".into()),
            serial: None,
            wwn: Some("eui.ace42e6190007804".into()),
            firmware: Some("20007A00".into()),
            size_bytes: 512_105_932_800,
            rotational: None,
            transport: Some("nvme".into()),
            removable: false,
        }]
    );
    // A 128-bit NGUID in the same place (a Toshiba drive with BitLocker on, French Windows 10).
    let disks = super::disks(&drives("win10-crypt-Win32_DiskDrive.wmi"));
    assert_eq!(disks.len(), 1);
    assert_eq!(
        (disks[0].serial.as_deref(), disks[0].wwn.as_deref()),
        (None, Some("eui.0000a5b00000001000080e020037e465"))
    );
    assert_eq!(disks[0].model.as_deref(), Some("KXG50ZNV512G NVMe TOSHIBA 512GB"));
    assert_eq!((disks[0].firmware.as_deref(), disks[0].transport.as_deref()), (Some("AACA4100"), Some("nvme")));
}

#[test]
fn windows_7_s_hex_encoded_ata_serial_is_decoded_and_the_bus_taken_off_the_model() {
    let disks = disks(&drives("win7-sp1-x64-Win32_DiskDrive.wmi"));
    assert_eq!(disks.len(), 2);
    // VirtualBox's disk: its ATA serial field, hex-encoded with each byte pair swapped.
    assert_eq!(disks[0].name, "PHYSICALDRIVE0");
    assert_eq!(disks[0].model.as_deref(), Some("VBOX HARDDISK"));
    assert_eq!(disks[0].serial.as_deref(), Some("VB2cff0f95-b2f7db11"));
    assert_eq!((disks[0].transport.as_deref(), disks[0].vendor.as_deref()), (Some("sata"), None));
    assert_eq!(disks[0].size_bytes, 107_372_805_120);
    // An attached virtual disk without a serial.
    assert_eq!(disks[1].model.as_deref(), Some("Msft Virtual Disk"));
    assert_eq!((disks[1].serial.as_deref(), disks[1].vendor.as_deref()), (None, Some("MSFT")));
    assert_eq!((disks[1].transport.as_deref(), disks[1].size_bytes), (Some("scsi"), 98_703_360));
}

#[test]
fn a_server_s_sixteen_vmware_disks_come_in_index_order_with_their_serials() {
    let disks = disks(&drives("2008-Enterprise-Win32_DiskDrive.wmi"));
    let names: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
    let expected: Vec<String> = (0..16).map(|i| format!("PHYSICALDRIVE{i}")).collect();
    assert_eq!(names, expected);
    let first = &disks[0];
    assert_eq!(first.vendor.as_deref(), Some("VMWARE"));
    assert_eq!(first.model.as_deref(), Some("VMware Virtual disk"));
    // 32 hex digits that are no ATA field: kept as written.
    assert_eq!(first.serial.as_deref(), Some("6177c3800071a573d412dbd2e9a6f956"));
    assert_eq!((first.firmware.as_deref(), first.size_bytes), (Some("1.0"), 53_686_402_560));
    assert!(disks.iter().all(|d| d.transport.as_deref() == Some("scsi") && !d.removable && d.wwn.is_none()));
    let total: u64 = disks.iter().map(|d| d.size_bytes).sum();
    assert_eq!(
        total,
        53_686_402_560 + 16_105_098_240 + 2 * 21_467_980_800 + 6 * 10_733_990_400 + 5 * 5_362_882_560 + 5_362_882_650
    );
}

#[test]
fn drives_without_media_or_id_and_removable_ones_are_told_apart() {
    let stick = DiskDrive {
        device_id: Some(r"\\.\PHYSICALDRIVE2".into()),
        index: Some(2),
        model: Some("SanDisk Cruzer Blade USB Device".into()),
        serial_number: Some("4C530001230101117415".into()),
        size: Some(15_631_122_432),
        interface_type: Some("USB".into()),
        media_type: Some("Removable Media".into()),
        pnp_device_id: Some(r"USBSTOR\DISK&VEN_SANDISK&PROD_CRUZER_BLADE&REV_1.00\4C530001230101117415&0".into()),
        ..Default::default()
    };
    let reader =
        DiskDrive { device_id: Some(r"\\.\PHYSICALDRIVE3".into()), index: Some(3), size: None, ..stick.clone() };
    let unnamed = DiskDrive { device_id: None, index: Some(4), ..stick.clone() };
    // Wine 8's answer for its C: drive, as its WMI returned it here (every backslash of the id doubled).
    let wine = DiskDrive {
        device_id: Some(r"\\\\.\\PHYSICALDRIVE0".into()),
        index: Some(0),
        model: Some("Wine Disk Drive".into()),
        serial_number: Some("WINEHDISK".into()),
        size: Some(82_252_800_000),
        interface_type: Some("IDE".into()),
        media_type: Some("Fixed hard disk".into()),
        pnp_device_id: Some(r"IDE\Disk\VEN_WINE".into()),
        ..Default::default()
    };
    // A USB hard disk: on the USB bus, but no removable media, as Linux's flag has it.
    let external = DiskDrive {
        device_id: Some(r"\\.\PHYSICALDRIVE5".into()),
        index: Some(5),
        media_type: Some("External hard disk media".into()),
        ..stick.clone()
    };
    let disks = disks(&[stick, reader, unnamed, wine, external]);
    assert_eq!(disks.len(), 3);
    assert_eq!(
        (disks[0].name.as_str(), disks[0].serial.as_deref(), disks[0].removable),
        ("PHYSICALDRIVE0", Some("WINEHDISK"), false)
    );
    assert_eq!(
        (disks[2].name.as_str(), disks[2].transport.as_deref(), disks[2].removable),
        ("PHYSICALDRIVE5", Some("usb"), false)
    );
    let disk = &disks[1];
    assert_eq!((disk.model.as_deref(), disk.vendor.as_deref()), (Some("SanDisk Cruzer Blade"), Some("SANDISK")));
    // 20 hex digits are not the 40 of a swapped ATA field.
    assert_eq!(disk.serial.as_deref(), Some("4C530001230101117415"));
    assert_eq!((disk.transport.as_deref(), disk.removable), (Some("usb"), true));
}

fn by_name<'a>(interfaces: &'a [NetworkInterface], name: &str) -> &'a NetworkInterface {
    interfaces.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no {name} in {interfaces:?}"))
}

#[test]
fn a_windows_10_laptop_lists_the_adapters_network_connections_shows() {
    let interfaces = network_interfaces(
        &adapters("10-net-Win32_NetworkAdapter.wmi"),
        &configurations("10-net-Win32_NetworkAdapterConfiguration.wmi"),
    );
    let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
    // The five named connections of its 18 adapters; the WAN miniports, the kernel debugger's and Wi-Fi Direct's
    // adapters are left out.
    assert_eq!(
        names,
        ["Connexion réseau Bluetooth 3", "Ethernet 4", "Ethernet 9", "Wi-Fi", "vEthernet (Default Switch)"]
    );
    assert_eq!(adapters("10-net-Win32_NetworkAdapter.wmi").len(), 18);
    let dock = by_name(&interfaces, "Ethernet 4");
    assert_eq!(
        dock,
        &NetworkInterface {
            name: "Ethernet 4".into(),
            mac: Some("00:50:00:00:f3:6d".into()),
            addresses: vec!["192.168.0.2/24".into(), "fe80::2c1f:9a1f:dedd:699c/64".into()],
            up: true,
            is_virtual: false,
            mtu: None,
            speed_mbps: Some(1000),
            driver: Some("dlcdcncm".into()),
        }
    );
    let wifi = by_name(&interfaces, "Wi-Fi");
    // Switched on without a network (media disconnected): up as Linux means it, no speed (the driver says
    // i64::MAX), no address.
    assert_eq!((wifi.up, wifi.speed_mbps, wifi.addresses.len()), (true, None, 0));
    assert_eq!((wifi.mac.as_deref(), wifi.driver.as_deref()), (Some("44:85:00:00:00:5b"), Some("Netwtw06")));
    // A VPN client's TAP adapter claims to be physical; its software-enumerated device says otherwise.
    let tap = by_name(&interfaces, "Ethernet 9");
    assert!(tap.is_virtual);
    // So does Hyper-V's switch port, with the machine's address on it.
    let switch = by_name(&interfaces, "vEthernet (Default Switch)");
    assert!(switch.is_virtual && !switch.addresses.is_empty(), "{switch:?}");
    assert!(!wifi.is_virtual);
}

#[test]
fn a_connected_vpn_and_windows_7_s_adapters() {
    let interfaces = network_interfaces(
        &adapters("vpn-up-Win32_NetworkAdapter.wmi"),
        &configurations("vpn-up-Win32_NetworkAdapterConfiguration.wmi"),
    );
    let configured: Vec<(&str, &[String])> =
        interfaces.iter().filter(|i| !i.addresses.is_empty()).map(|i| (i.name.as_str(), &i.addresses[..])).collect();
    assert_eq!(
        configured,
        [
            ("Ethernet 3", &["10.177.0.17/32".to_string(), "fe80::485a:6ef8:5cc4:45e1/64".to_string()][..]),
            ("Wi-Fi", &["192.168.0.254/24".to_string(), "fe80::3a27:1bd1:1148:d87/64".to_string()][..]),
        ]
    );
    // Windows wrote that address `fe80::3a27:1bd1:1148:0d87`; it is kept in the canonical form Linux's have.
    let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["Connexion réseau Bluetooth", "Ethernet 2", "Ethernet 3", "Ethernet 4", "Wi-Fi"]);
    // Fortinet's SSL VPN adapter, software-enumerated.
    assert!(by_name(&interfaces, "Ethernet 3").is_virtual);
    let wifi = by_name(&interfaces, "Wi-Fi");
    assert!(!wifi.is_virtual && wifi.up, "{wifi:?}");

    let interfaces = network_interfaces(
        &adapters("7-Win32_NetworkAdapter.wmi"),
        &configurations("7-Win32_NetworkAdapterConfiguration.wmi"),
    );
    let lan = by_name(&interfaces, "Connexion au réseau local");
    assert_eq!((lan.mac.as_deref(), lan.up, lan.speed_mbps), (Some("f4:6d:04:97:2d:3e"), true, Some(100)));
    assert!(!lan.is_virtual);
    // ISATAP and Teredo pseudo-interfaces have no connection name and no IP of their own here.
    assert!(!interfaces.iter().any(|i| i.name.contains("ISATAP") || i.name.contains("Teredo")), "{interfaces:?}");
}

#[test]
fn an_adapter_with_ip_but_no_connection_name_goes_by_its_product_name() {
    // As Wine lists an adapter when it gives no connection name; a disabled adapter (status 0) is not up.
    let adapter = NetworkAdapter {
        index: Some(1),
        name: Some("Intel(R) Ethernet Connection I219-LM".into()),
        net_connection_status: Some(0),
        mac_address: Some("02:FC:00:00:00:01".into()),
        pnp_device_id: Some(r"PCI\VEN_8086&DEV_15BB".into()),
        ..Default::default()
    };
    let configuration = AdapterConfiguration {
        index: Some(1),
        ip_enabled: Some(true),
        ip_address: Some(vec!["192.0.2.2".into()]),
        ip_subnet: Some(vec!["255.255.255.0".into()]),
        mtu: Some(1500),
    };
    let hidden = NetworkAdapter { index: Some(2), name: Some("WAN Miniport (IP)".into()), ..Default::default() };
    let interfaces = network_interfaces(&[adapter, hidden], &[configuration]);
    assert_eq!(interfaces.len(), 1);
    assert_eq!(interfaces[0].name, "Intel(R) Ethernet Connection I219-LM");
    assert_eq!(
        (interfaces[0].up, interfaces[0].mtu, &interfaces[0].addresses[..]),
        (false, Some(1500), &["192.0.2.2/24".to_string()][..])
    );
    assert_eq!(interfaces[0].mac.as_deref(), Some("02:fc:00:00:00:01"));
}

#[test]
fn a_bridge_s_placeholder_eui_is_no_identity() {
    let drive = DiskDrive {
        device_id: Some(r"\\.\PHYSICALDRIVE1".into()),
        size: Some(500_107_862_016),
        serial_number: Some("0000_0000_0000_0001.".into()),
        ..Default::default()
    };
    let disks = disks(&[drive]);
    assert_eq!((disks[0].serial.as_deref(), disks[0].wwn.as_deref()), (None, None));
}

#[test]
fn a_link_local_address_loses_the_zone_wine_appends() {
    // This machine's eth0 under Wine 8: the addresses as its WMI returned them here, with their subnets.
    let configuration = AdapterConfiguration {
        index: Some(1),
        ip_enabled: Some(true),
        ip_address: Some(vec!["192.0.2.2".into(), "fd00::2".into(), "fe80::fc:ff:fe00:1%4".into()]),
        ip_subnet: Some(vec!["255.255.255.0".into(), "64".into(), "64".into()]),
        mtu: None,
    };
    assert_eq!(addresses(&configuration), ["192.0.2.2/24", "fd00::2/64", "fe80::fc:ff:fe00:1/64"]);
}

#[test]
fn masks_become_prefix_lengths() {
    let cases = BTreeMap::from([
        ("255.255.255.0", Some(24)),
        ("255.255.255.255", Some(32)),
        ("0.0.0.0", Some(0)),
        ("255.0.255.0", None),
        ("64", Some(64)),
        ("129", None),
    ]);
    for (mask, want) in cases {
        assert_eq!(prefix_length(mask), want, "{mask}");
    }
}

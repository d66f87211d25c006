//! Disks and network adapters on Windows, from CIM's `Win32_DiskDrive`, `Win32_NetworkAdapter` and
//! `Win32_NetworkAdapterConfiguration` (what Device Manager, `Get-Disk` and `ipconfig /all` show), turned into the
//! same wire types Linux fills from `/sys`. Pure: the probe queries WMI into the types below, the tests read real
//! machines' `wmic` output into the same.
//!
//! The interpretation is ours because Windows' answers need it: disk models carry the bus in their name
//! (`VBOX HARDDISK ATA Device`), Windows 7 hex-encodes ATA serials with their bytes swapped, Windows 10 reports an
//! NVMe namespace's EUI-64 where the drive's serial belongs, and the adapter list holds a dozen hidden miniports for
//! every adapter a person would recognise.

use std::collections::BTreeMap;

use serde::Deserialize;

use muster_shared::v1::{Disk, NetworkInterface};

use super::text;
use crate::inventory::hardware::network::normalize_mac;

/// The `Win32_DiskDrive` properties read, named as WMI spells them. The probe asks for every property (`SELECT *`)
/// and keeps these, so a Windows (or Wine) that lacks one still answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "Win32_DiskDrive")]
pub struct DiskDrive {
    /// `\\.\PHYSICALDRIVE0`.
    #[serde(rename = "DeviceID", alias = "DeviceId")]
    pub device_id: Option<String>,
    #[serde(rename = "Index")]
    pub index: Option<u32>,
    #[serde(rename = "Model")]
    pub model: Option<String>,
    #[serde(rename = "SerialNumber")]
    pub serial_number: Option<String>,
    #[serde(rename = "FirmwareRevision")]
    pub firmware_revision: Option<String>,
    #[serde(rename = "Size")]
    pub size: Option<u64>,
    /// `IDE`, `SCSI`, `USB`, `HDC`, `1394`.
    #[serde(rename = "InterfaceType")]
    pub interface_type: Option<String>,
    /// `Fixed hard disk media`, `Removable Media`, `External hard disk media`.
    #[serde(rename = "MediaType")]
    pub media_type: Option<String>,
    /// The Plug and Play instance, e.g. `SCSI\DISK&VEN_VMWARE&PROD_VIRTUAL_DISK\5&22BE343F&0&000500`.
    #[serde(rename = "PNPDeviceID")]
    pub pnp_device_id: Option<String>,
}

/// The physical disks, by index. A drive without an id is left out; one without media (an empty card reader)
/// has no size and is left out, as Linux leaves out a zero-sized block device.
pub fn disks(drives: &[DiskDrive]) -> Vec<Disk> {
    let mut drives: Vec<&DiskDrive> = drives.iter().collect();
    drives.sort_by_key(|d| d.index);
    drives.into_iter().filter_map(disk).collect()
}

fn disk(drive: &DiskDrive) -> Option<Disk> {
    let id = text(drive.device_id.as_deref())?;
    let size_bytes = drive.size.filter(|s| *s > 0)?;
    let pnp = drive.pnp_device_id.as_deref().unwrap_or_default().to_ascii_uppercase();
    let interface = drive.interface_type.as_deref().unwrap_or_default().to_ascii_uppercase();
    let media = drive.media_type.as_deref().unwrap_or_default().to_ascii_lowercase();
    let (serial, wwn) = match drive.serial_number.as_deref().map(serial_or_eui) {
        Some(Identity::Serial(serial)) => (Some(serial), None),
        Some(Identity::Eui(wwn)) => (None, Some(wwn)),
        Some(Identity::None) | None => (None, None),
    };
    Some(Disk {
        // `\\.\PHYSICALDRIVE0` on Windows; Wine 8 doubles every backslash. The device's name is the last part.
        name: id.rsplit('\\').next().unwrap_or(id).to_string(),
        vendor: pnp_vendor(&pnp),
        model: text(drive.model.as_deref()).map(strip_bus_suffix),
        serial,
        wwn,
        firmware: text(drive.firmware_revision.as_deref()).map(str::to_string),
        size_bytes,
        // Win32_DiskDrive does not say; MSFT_PhysicalDisk's MediaType would, in another namespace.
        rotational: None,
        transport: transport(&pnp, &interface).map(str::to_string),
        // As Linux's sysfs flag: removable media (sticks, card readers), not a USB hard disk, whose bus says it.
        removable: media.starts_with("removable"),
    })
}

/// Windows names disks after their bus (`… SCSI Disk Device`, `… ATA Device`, `… USB Device`); the model is
/// what comes before, as Linux's sysfs has it.
fn strip_bus_suffix(model: &str) -> String {
    const SUFFIXES: [&str; 5] = [" SCSI Disk Device", " ATA Device", " USB Device", " IDE Device", " Disk Device"];
    let stripped = SUFFIXES.iter().find_map(|s| model.strip_suffix(s)).unwrap_or(model).trim();
    if stripped.is_empty() { model.to_string() } else { stripped.to_string() }
}

/// The vendor a SCSI or USB storage id names (`…&VEN_VMWARE&…`), upper case as the id has it; none for the bus
/// names NVMe and ATA drives get there instead of a vendor, and none for an empty field (Intel RST's SATA drives).
fn pnp_vendor(pnp: &str) -> Option<String> {
    let vendor = pnp.split(['&', '\\']).find_map(|part| part.strip_prefix("VEN_"))?.replace('_', " ");
    let vendor = vendor.trim();
    (!vendor.is_empty() && vendor != "NVME" && vendor != "ATA").then(|| vendor.to_string())
}

/// The bus, in the words Linux's disks use: NVMe sits behind Windows' SCSI port driver, so its id says it, not
/// `InterfaceType`; `IDE` is also how Windows lists SATA drives in AHCI mode (Linux's libata, `sata`). A
/// `Msft Virtual Disk` may be a Hyper-V guest's disk or a VHD file attached locally, so it stays `scsi`.
fn transport(pnp: &str, interface: &str) -> Option<&'static str> {
    if pnp.contains("VEN_NVME") || pnp.starts_with(r"NVME\") {
        Some("nvme")
    } else if pnp.starts_with(r"USBSTOR\") || pnp.starts_with(r"UASPSTOR\") || interface == "USB" {
        Some("usb")
    } else if pnp.starts_with(r"SD\") || pnp.starts_with(r"SDBUS\") {
        Some("mmc")
    } else {
        match interface {
            "IDE" | "HDC" => Some("sata"),
            "SCSI" => Some("scsi"),
            "1394" => Some("ieee1394"),
            _ => None,
        }
    }
}

/// What `SerialNumber` holds.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    Serial(String),
    /// An NVMe namespace's EUI-64 or NGUID, which Windows 10 puts where the serial belongs (`ACE4_2E61_9000_7804.`):
    /// an identifier like a WWN, not the serial on the drive's label, so it is kept as the WWN in Linux's form.
    Eui(String),
    None,
}

fn serial_or_eui(raw: &str) -> Identity {
    let serial = raw.trim().trim_end_matches('.').trim();
    if serial.is_empty() {
        return Identity::None;
    }
    let groups: Vec<&str> = serial.split('_').collect();
    if groups.len() >= 4 && groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_hexdigit())) {
        let digits = groups.concat().to_ascii_lowercase();
        // Some USB-to-NVMe bridges report a zero or placeholder id (`0000_0000_0000_0001.`): it identifies nothing.
        if digits.trim_start_matches('0').len() <= 1 {
            return Identity::None;
        }
        return Identity::Eui(format!("eui.{digits}"));
    }
    Identity::Serial(decode_swapped_hex(serial).unwrap_or_else(|| serial.to_string()))
}

/// Windows Vista and 7 return an ATA drive's 20-byte serial field hex-encoded, each pair of bytes swapped
/// (`42566332…` for `VB2cff0f95-…`). Decoded only when it is exactly that field (40 hex digits) and decodes to
/// printable ASCII, so a serial that merely looks like hex is kept as it is.
fn decode_swapped_hex(serial: &str) -> Option<String> {
    if serial.len() != 40 || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..serial.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&serial[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let swapped: Vec<u8> = bytes.chunks(2).flat_map(|pair| pair.iter().rev().copied()).collect();
    if !swapped.iter().all(|b| (0x20..0x7f).contains(b)) {
        return None;
    }
    let text = String::from_utf8(swapped).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The `Win32_NetworkAdapter` properties read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "Win32_NetworkAdapter")]
pub struct NetworkAdapter {
    #[serde(rename = "Index")]
    pub index: Option<u32>,
    /// The adapter's product name, e.g. `Intel(R) Dual Band Wireless-AC 8260`.
    #[serde(rename = "Name")]
    pub name: Option<String>,
    /// The connection's name people know it by (`Ethernet 4`, `Wi-Fi`); empty for hidden adapters.
    #[serde(rename = "NetConnectionID")]
    pub net_connection_id: Option<String>,
    /// 2 connected, 7 media disconnected, 0 disconnected (a disabled adapter), 4 to 6 hardware absent, disabled or
    /// failing, ….
    #[serde(rename = "NetConnectionStatus")]
    pub net_connection_status: Option<u16>,
    #[serde(rename = "NetEnabled")]
    pub net_enabled: Option<bool>,
    #[serde(rename = "PhysicalAdapter")]
    pub physical_adapter: Option<bool>,
    #[serde(rename = "MACAddress")]
    pub mac_address: Option<String>,
    #[serde(rename = "PNPDeviceID")]
    pub pnp_device_id: Option<String>,
    /// The driver's service, e.g. `Netwtw06`.
    #[serde(rename = "ServiceName")]
    pub service_name: Option<String>,
    /// Bits per second; `i64::MAX` when the driver does not know (a disconnected Wi-Fi adapter).
    #[serde(rename = "Speed")]
    pub speed: Option<u64>,
}

/// The `Win32_NetworkAdapterConfiguration` properties read: the IP side of the adapter with the same `Index`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "Win32_NetworkAdapterConfiguration")]
pub struct AdapterConfiguration {
    #[serde(rename = "Index")]
    pub index: Option<u32>,
    #[serde(rename = "IPEnabled")]
    pub ip_enabled: Option<bool>,
    /// IPv4 and IPv6 addresses, in the order of `IPSubnet`.
    #[serde(rename = "IPAddress")]
    pub ip_address: Option<Vec<String>>,
    /// For each address: an IPv4 mask (`255.255.255.0`) or an IPv6 prefix length (`64`).
    #[serde(rename = "IPSubnet")]
    pub ip_subnet: Option<Vec<String>>,
    #[serde(rename = "MTU")]
    pub mtu: Option<u32>,
}

/// The adapters a person would recognise: those with a connection name (what "Network Connections" lists) or with
/// IP configured. The WAN miniports, the kernel debugger's adapter and Wi-Fi Direct's virtual ones, which Windows
/// itself hides, are left out. Ordered by name, as on Linux.
pub fn network_interfaces(
    adapters: &[NetworkAdapter],
    configurations: &[AdapterConfiguration],
) -> Vec<NetworkInterface> {
    let by_index: BTreeMap<u32, &AdapterConfiguration> =
        configurations.iter().filter_map(|c| Some((c.index?, c))).collect();
    let mut interfaces: Vec<NetworkInterface> = adapters
        .iter()
        .filter_map(|adapter| {
            let configuration = adapter.index.and_then(|i| by_index.get(&i).copied());
            interface(adapter, configuration)
        })
        .collect();
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    interfaces
}

fn interface(adapter: &NetworkAdapter, configuration: Option<&AdapterConfiguration>) -> Option<NetworkInterface> {
    let connection = text(adapter.net_connection_id.as_deref());
    let ip_enabled = configuration.and_then(|c| c.ip_enabled) == Some(true);
    if connection.is_none() && !ip_enabled {
        return None;
    }
    let name = connection.or(text(adapter.name.as_deref()))?.to_string();
    let pnp = adapter.pnp_device_id.as_deref().unwrap_or_default().to_ascii_uppercase();
    // Software-enumerated devices (ROOT\, SWD\, a {GUID}\ bus) are virtual even when they claim to be physical, as
    // the TAP adapters of VPN clients do.
    let software = pnp.starts_with(r"ROOT\") || pnp.starts_with(r"SWD\") || pnp.starts_with('{');
    let mut addresses: Vec<String> = configuration.map(addresses).unwrap_or_default();
    addresses.sort();
    Some(NetworkInterface {
        name,
        mac: adapter.mac_address.as_deref().and_then(normalize_mac),
        addresses,
        // Switched on, as Linux's IFF_UP means, not connected: a Wi-Fi adapter without a network (7, media
        // disconnected) is up; a disabled one (0), one whose hardware is gone, disabled or failing (4 to 6) is not.
        up: match adapter.net_connection_status {
            Some(status) => !matches!(status, 0 | 4..=6),
            None => adapter.net_enabled == Some(true) || ip_enabled,
        },
        is_virtual: adapter.physical_adapter == Some(false) || software,
        mtu: configuration.and_then(|c| c.mtu).filter(|m| *m > 0),
        speed_mbps: adapter
            .speed
            .filter(|s| *s > 0 && *s < i64::MAX as u64)
            .and_then(|s| u32::try_from(s / 1_000_000).ok()),
        driver: text(adapter.service_name.as_deref()).map(str::to_string),
    })
}

/// Each address with its prefix length, in CIDR form as Linux's are.
fn addresses(configuration: &AdapterConfiguration) -> Vec<String> {
    let subnets = configuration.ip_subnet.as_deref().unwrap_or_default();
    configuration
        .ip_address
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, address)| {
            // Wine appends an IPv6 link-local address's zone (`fe80::1%4`), which Windows leaves out here and
            // Linux's addresses do not carry.
            let address = address.trim().split('%').next().unwrap_or_default();
            if address.is_empty() {
                return None;
            }
            // Canonical text (`…:d87`, not Windows' `…:0d87`), so the same address reads alike from every OS.
            let address = address.parse::<std::net::IpAddr>().map_or_else(|_| address.to_string(), |ip| ip.to_string());
            Some(match subnets.get(i).and_then(|s| prefix_length(s)) {
                Some(prefix) => format!("{address}/{prefix}"),
                None => address.to_string(),
            })
        })
        .collect()
}

/// `255.255.255.0` → 24, `64` → 64; a mask with holes in it is no prefix.
fn prefix_length(subnet: &str) -> Option<u32> {
    let subnet = subnet.trim();
    if let Ok(mask) = subnet.parse::<std::net::Ipv4Addr>() {
        let bits = u32::from(mask);
        let ones = bits.leading_ones();
        return (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones);
    }
    subnet.parse::<u32>().ok().filter(|p| *p <= 128)
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;

//! The hardware section: firmware identity (DMI/SMBIOS), CPUs, memory, disks, filesystems and network interfaces.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<Board>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bios: Option<Bios>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chassis: Option<Chassis>,
    /// From SMBIOS type 17; empty when the tables could not be read (see errors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memory_modules: Vec<MemoryModule>,
    /// From SMBIOS type 4 (sockets as the firmware describes them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processors: Vec<Processor>,
    /// What the running kernel sees; live systems only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<Disk>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filesystems: Vec<Filesystem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<NetworkInterface>,
    /// Displays connected to the running system, from their EDID; live systems only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitors: Vec<Monitor>,
    /// The Trusted Platform Module the system reports; absent when there is none or it could not be read (an
    /// entry in the report's errors says which). BitLocker, Windows 11 and measured boot depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<Tpm>,
    /// The system's batteries: a laptop's packs (and on Windows a UPS it manages), not a mouse's or a headset's;
    /// live systems only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batteries: Vec<Battery>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Absent when the firmware holds a placeholder (`To Be Filled By O.E.M.`, `0123456789`, all zeros…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Lower-case canonical form, e.g. `4c4c4544-0042-3510-8052-b2c04f4e3732`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_tag: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bios {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// As the firmware writes it, usually `MM/DD/YYYY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chassis {
    /// The SMBIOS chassis type in words, e.g. `Notebook`, `Desktop`, `Rack Mount Chassis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chassis_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_tag: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryModule {
    /// Slot name (`Locator`), e.g. `DIMM A1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<String>,
    /// Absent for an empty slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// e.g. `DDR4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_factor: Option<String>,
    /// MT/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_speed_mts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_number: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// The model string (`Version` in SMBIOS), e.g. `Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_speed_mhz: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_speed_mhz: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Physical cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    /// Logical processors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_mhz: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    pub total_bytes: u64,
    pub swap_total_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// Kernel name, e.g. `sda`, `nvme0n1`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wwn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
    /// `nvme`, `sata`, `sas`, `scsi`, `usb`, `virtio`, `mmc`, `xen`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    pub removable: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filesystem {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInterface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// CIDR notation, e.g. `192.0.2.10/24`, `fe80::1/64`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    pub up: bool,
    /// True for loopback, bridges, veth, tun/tap, bonds and other software devices.
    #[serde(rename = "virtual")]
    pub is_virtual: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mbps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
}

/// A display as its EDID describes itself (VESA E-EDID base block).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitor {
    /// Where it is connected, e.g. the DRM connector `card0-HDMI-A-1`.
    pub connector: String,
    /// The three-letter PNP manufacturer id, e.g. `DEL`, `ACR`.
    pub manufacturer_id: String,
    /// The manufacturer's product code.
    pub product_code: u16,
    /// The numeric serial number; absent when the EDID leaves it 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<u32>,
    /// The serial number descriptor's text, which is what the label on the display shows when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The product name descriptor, e.g. `DELL U2720Q`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufactured_week: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufactured_year: Option<u16>,
    /// Set instead of the manufacture date when the EDID gives the model year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_year: Option<u16>,
    /// Maximum image size; absent for projectors and displays of variable size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_cm: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_cm: Option<u8>,
}

/// A Trusted Platform Module as the operating system reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tpm {
    /// The TCG specification family it implements: `2.0` or `1.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<String>,
    /// The TCG vendor id as text, e.g. `NTC` (Nuvoton), `IFX` (Infineon), `INTC` (Intel's firmware TPM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// The vendor's firmware version, e.g. `7.2.3.1`: what TPM firmware advisories (such as ROCA's) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
    /// Enabled in the firmware settings; absent when the system does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated: Option<bool>,
    /// Taken ownership of (provisioned) by the operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned: Option<bool>,
}

/// A battery: what identifies it and how worn it is (the full-charge capacity against the design capacity).
/// The charge level is left out on purpose: it changes by the minute and says nothing about the asset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Battery {
    /// The model name the pack reports, e.g. `K52F-44`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// As the pack names it, e.g. `LION`, `Li-ion`, `LiP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chemistry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design_capacity_mwh: Option<u32>,
    /// What a full charge holds today; below the design capacity as the cells wear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_charge_capacity_mwh: Option<u32>,
    /// Charge cycles; absent where the pack does not count them (many report 0 for that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_count: Option<u32>,
    /// The system's own verdict on the pack, as it words it: macOS says `Normal`, `Service Recommended`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// What is left of the design capacity as the system itself reports it, in percent, where it gives no
    /// capacities in energy to compute it from (macOS's "Maximum Capacity").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_capacity_percent: Option<u32>,
}

impl Battery {
    /// What is left of the design capacity, in whole percent: `full_charge / design`, rounded, when both are known;
    /// else the percentage the system reports ([`Self::maximum_capacity_percent`]); else `None`. Above 100 is
    /// possible for a new pack and kept as reported.
    pub fn health_percent(&self) -> Option<u32> {
        let computed = || {
            let design = u64::from(self.design_capacity_mwh.filter(|d| *d > 0)?);
            let full = u64::from(self.full_charge_capacity_mwh?);
            u32::try_from((full * 100 + design / 2) / design).ok()
        };
        computed().or(self.maximum_capacity_percent)
    }
}

#[cfg(test)]
mod tests {
    use super::Battery;

    #[test]
    fn health_is_the_full_charge_against_the_design_capacity() {
        // A ThinkPad's pack as powercfg reported it (glpi-agent's windows-10-notebook capture): 19450 of 23540 mWh.
        let pack =
            Battery { design_capacity_mwh: Some(23540), full_charge_capacity_mwh: Some(19450), ..Battery::default() };
        assert_eq!(pack.health_percent(), Some(83));
        assert_eq!(Battery { full_charge_capacity_mwh: None, ..pack.clone() }.health_percent(), None);
        assert_eq!(Battery { design_capacity_mwh: Some(0), ..pack.clone() }.health_percent(), None);
        // A Mac reports no capacities in energy, only its percentage (glpi-agent's macOS 11 capture: 100 %); where
        // both are known the capacities decide.
        let mac = Battery { maximum_capacity_percent: Some(100), ..Battery::default() };
        assert_eq!(mac.health_percent(), Some(100));
        assert_eq!(Battery { maximum_capacity_percent: Some(100), ..pack }.health_percent(), Some(83));
    }
}

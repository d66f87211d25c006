//! Network interfaces from `/sys/class/net` (state, MAC, MTU, speed, driver) with addresses from the kernel.

use std::collections::BTreeMap;
use std::path::Path;

use muster_shared::v1::{NetworkInterface, SectionName};

use crate::root::{ErrorLog, SystemRoot};

/// Reads every interface of the running system.
pub fn probe(root: &SystemRoot, errors: &mut ErrorLog) -> Vec<NetworkInterface> {
    let dir = root.path("/sys/class/net");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) => {
            errors.io(SectionName::Hardware, "network_interfaces", &err);
            return Vec::new();
        }
    };
    let addresses = interface_addresses();
    let mut interfaces: Vec<NetworkInterface> =
        entries.filter_map(Result::ok).map(|entry| read_interface(&entry.path(), &addresses)).collect();
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    interfaces
}

/// Addresses with prefix length per interface (getifaddrs through sysinfo).
fn interface_addresses() -> BTreeMap<String, Vec<String>> {
    let Ok(networks) = sysinfo::Networks::new_with_refreshed_list() else { return BTreeMap::new() };
    networks
        .iter()
        .map(|(name, data)| {
            (
                name.to_string_lossy().into_owned(),
                data.ip_networks().iter().map(|n| format!("{}/{}", n.addr, n.prefix)).collect(),
            )
        })
        .collect()
}

fn read_interface(sys_path: &Path, addresses: &BTreeMap<String, Vec<String>>) -> NetworkInterface {
    let name = sys_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let read = |rel: &str| std::fs::read_to_string(sys_path.join(rel)).ok().map(|s| s.trim().to_string());
    let device_path = std::fs::canonicalize(sys_path).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let driver = std::fs::read_link(sys_path.join("device/driver"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let mut addrs = addresses.get(&name).cloned().unwrap_or_default();
    addrs.sort();
    NetworkInterface {
        mac: read("address").and_then(|mac| normalize_mac(&mac)),
        addresses: addrs,
        up: read("flags").and_then(|f| parse_flags(&f)).is_some_and(|flags| flags & IFF_UP != 0),
        is_virtual: device_path.contains("/devices/virtual/"),
        mtu: read("mtu").and_then(|m| m.parse().ok()),
        // The kernel reports -1 or fails with EINVAL when the link is down or the driver does not know.
        speed_mbps: read("speed").and_then(|s| s.parse::<i64>().ok()).and_then(|s| u32::try_from(s).ok()),
        driver,
        name,
    }
}

const IFF_UP: u32 = 0x1;

/// `/sys/class/net/<if>/flags` is hexadecimal (`0x1003`).
pub fn parse_flags(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// Lower-case colon form; an all-zero address (loopback, tunnels) is no hardware address.
pub fn normalize_mac(mac: &str) -> Option<String> {
    let mac = mac.trim().to_ascii_lowercase();
    let valid = mac.len() == 17 && mac.split(':').all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
    (valid && mac != "00:00:00:00:00:00").then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_macs() {
        assert_eq!(parse_flags("0x1003\n"), Some(0x1003));
        assert_eq!(parse_flags("0x1002").map(|f| f & IFF_UP), Some(0));
        assert_eq!(normalize_mac("02:FC:00:00:00:01\n").as_deref(), Some("02:fc:00:00:00:01"));
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac("garbage"), None);
    }

    /// The interfaces and IPv4/IPv6 addresses we report are the ones iproute2 shows. Runs where `ip` exists.
    #[test]
    fn live_interfaces_match_iproute2() {
        let Ok(out) = std::process::Command::new("ip").args(["-o", "addr", "show"]).output() else { return };
        let mut theirs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let (Some(name), Some(addr)) = (f.get(1), f.get(3)) {
                theirs.entry(name.trim_end_matches(':').to_string()).or_default().push(addr.to_string());
            }
        }
        let mut errors = ErrorLog::new();
        let ours = probe(&SystemRoot::live(), &mut errors);
        assert!(ours.iter().any(|i| i.name == "lo" && i.is_virtual && i.up));
        for (name, mut addrs) in theirs {
            addrs.sort();
            let iface = ours.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(iface.addresses, addrs, "{name}");
        }
    }
}

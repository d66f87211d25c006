//! Listening sockets other machines can reach, and the program behind each: the kernel's socket tables
//! (`/proc/net/tcp`, `tcp6`, `udp`, `udp6`), then the processes whose file descriptors hold those sockets
//! (`/proc/<pid>/fd/*` links `socket:[<inode>]`), their name and executable. The executable's OS package is filled
//! in with the language packages' owners ([`super::owners`]), so the collector can tell which package is exposed.
//!
//! Only a running system has these tables: a mounted root has none and gets no listeners. Processes whose
//! descriptors cannot be read (another user's, when not run as root) leave their sockets without a process, and
//! the error log says how many.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use muster_shared::v1::{ErrorKind, Listener, SectionName, SocketProtocol};

use crate::root::{ErrorLog, SystemRoot};

/// One line of a socket table that is a reachable listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEntry {
    pub address: IpAddr,
    pub port: u16,
    pub inode: u64,
}

/// TCP `LISTEN` state in the tables' `st` column.
const TCP_LISTEN: &str = "0A";
/// UDP sockets that are bound and not connected show `TCP_CLOSE` (`07`) and a zero remote port.
const UDP_UNCONNECTED: &str = "07";

/// The reachable listeners of one socket table (`protocol` says which state means listening); loopback addresses
/// are left out. An error names the first line that is not a table row.
pub fn parse_socket_table(text: &str, protocol: SocketProtocol) -> Result<Vec<TableEntry>, String> {
    let mut out = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("not a socket table row: {line:?}");
        let (Some(local), Some(remote), Some(state), Some(inode)) =
            (fields.get(1), fields.get(2), fields.get(3), fields.get(9))
        else {
            return Err(bad());
        };
        let listening = match protocol {
            SocketProtocol::Tcp => *state == TCP_LISTEN,
            SocketProtocol::Udp => *state == UDP_UNCONNECTED && remote.ends_with(":0000"),
        };
        if !listening {
            continue;
        }
        let (address, port) = socket_address(local).ok_or_else(bad)?;
        let inode = inode.parse().map_err(|_| bad())?;
        if !is_loopback(address) {
            out.push(TableEntry { address, port, inode });
        }
    }
    Ok(out)
}

/// `0100007F:1F90` (IPv4, the address as the kernel's 32-bit word in host order, here little-endian) or 32 hex
/// digits (four such words) for IPv6, and the port in hex.
fn socket_address(text: &str) -> Option<(IpAddr, u16)> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..address.len() / 8)
        .map(|i| address.get(i * 8..i * 8 + 8).and_then(|w| u32::from_str_radix(w, 16).ok()))
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.swap_bytes().to_be_bytes()).collect();
    match (address.len(), bytes.len()) {
        (8, 4) => Some((IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])), port)),
        (32, 16) => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            Some((IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        _ => None,
    }
}

fn is_loopback(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

const TABLES: &[(&str, SocketProtocol)] = &[
    ("/proc/net/tcp", SocketProtocol::Tcp),
    ("/proc/net/tcp6", SocketProtocol::Tcp),
    ("/proc/net/udp", SocketProtocol::Udp),
    ("/proc/net/udp6", SocketProtocol::Udp),
];

/// The reachable listeners of the running system, sorted, each with its process where it could be found. The
/// owners are left for the caller to fill in.
pub fn probe(root: &SystemRoot, errors: &mut ErrorLog) -> Vec<Listener> {
    if !root.is_live() || cfg!(not(target_os = "linux")) {
        return Vec::new();
    }
    let mut entries = Vec::new();
    for (table, protocol) in TABLES {
        match std::fs::read_to_string(table) {
            Ok(text) => match parse_socket_table(&text, *protocol) {
                Ok(found) => entries.extend(found.into_iter().map(|e| (*protocol, e))),
                Err(reason) => errors.record(SectionName::Software, *table, ErrorKind::Parse, reason),
            },
            // A kernel without IPv6 has no tcp6/udp6.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => errors.io(SectionName::Software, *table, &err),
        }
    }
    if entries.is_empty() {
        return Vec::new();
    }
    let processes = socket_processes(entries.iter().map(|(_, e)| e.inode).collect(), errors);
    let mut listeners: Vec<Listener> = entries
        .into_iter()
        .map(|(protocol, entry)| {
            let process = processes.get(&entry.inode);
            Listener {
                protocol,
                address: entry.address.to_string(),
                port: entry.port,
                process: process.and_then(|p| p.name.clone()),
                executable: process.and_then(|p| p.executable.clone()),
                owner: None,
            }
        })
        .collect();
    listeners.sort_by(|a, b| (a.protocol, a.port, &a.address).cmp(&(b.protocol, b.port, &b.address)));
    listeners.dedup();
    listeners
}

#[derive(Debug, Clone, Default)]
struct Process {
    name: Option<String>,
    executable: Option<String>,
}

/// The process holding each of `wanted` socket inodes, found by reading `/proc/<pid>/fd` until all are found.
fn socket_processes(mut wanted: Vec<u64>, errors: &mut ErrorLog) -> HashMap<u64, Process> {
    wanted.sort_unstable();
    wanted.dedup();
    let mut found = HashMap::new();
    let mut unreadable = 0usize;
    let Ok(proc_dir) = std::fs::read_dir("/proc") else { return found };
    let mut pids: Vec<u32> = proc_dir.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    for pid in pids {
        if found.len() == wanted.len() {
            break;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            unreadable += 1;
            continue;
        };
        let mut process: Option<Process> = None;
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else { continue };
            let Some(inode) = target.to_str().and_then(socket_inode) else { continue };
            if wanted.binary_search(&inode).is_ok() && !found.contains_key(&inode) {
                let process = process.get_or_insert_with(|| describe(pid));
                found.insert(inode, process.clone());
            }
        }
    }
    // A socket no readable process holds: another user's process, or one outside this PID namespace.
    if found.len() < wanted.len() {
        let kind = if unreadable > 0 { ErrorKind::PermissionDenied } else { ErrorKind::NotFound };
        errors.record(
            SectionName::Software,
            "/proc/*/fd",
            kind,
            format!(
                "{} listening socket(s) without a process ({unreadable} process(es)' descriptors not readable)",
                wanted.len() - found.len()
            ),
        );
    }
    found
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

fn describe(pid: u32) -> Process {
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok().map(|n| n.trim_end().to_string());
    let executable = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| p.to_str().map(|s| s.trim_end_matches(" (deleted)").to_string()));
    Process { name, executable }
}

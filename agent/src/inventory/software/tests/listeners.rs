//! The socket table reader on this build machine's real `/proc/net/{tcp,tcp6,udp,udp6}`, captured while Python
//! servers listened, compared with what `ss -Hltun` printed at the same moment (testdata/proc-net/, see README).

use std::collections::BTreeSet;
use std::path::PathBuf;

use muster_shared::v1::SocketProtocol;

use crate::inventory::software::listeners::parse_socket_table;

fn table(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/proc-net/debian-12").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(protocol, address, port)` of the non-loopback listeners `ss` printed (`*` is its IPv6 any address).
fn from_ss() -> BTreeSet<(SocketProtocol, String, u16)> {
    table("expected.ss-ltun.txt")
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let protocol = if fields[0] == "tcp" { SocketProtocol::Tcp } else { SocketProtocol::Udp };
            let (address, port) = fields[4].rsplit_once(':').unwrap();
            let address = match address {
                "*" => "::".to_string(),
                other => other.trim_start_matches('[').trim_end_matches(']').to_string(),
            };
            (protocol, address, port.parse().unwrap())
        })
        .filter(|(_, address, _)| !address.starts_with("127.") && address != "::1")
        .collect()
}

#[test]
fn listeners_of_the_real_socket_tables_are_those_ss_printed() {
    let mut found = BTreeSet::new();
    for (name, protocol) in [
        ("tcp", SocketProtocol::Tcp),
        ("tcp6", SocketProtocol::Tcp),
        ("udp", SocketProtocol::Udp),
        ("udp6", SocketProtocol::Udp),
    ] {
        for entry in parse_socket_table(&table(name), protocol).unwrap() {
            found.insert((protocol, entry.address.to_string(), entry.port));
        }
    }
    assert_eq!(found, from_ss());
    assert_eq!(found.len(), 5, "tcp 0.0.0.0:2024, 0.0.0.0:18765, [::]:18769; udp 0.0.0.0:18767, [::]:18766");
    // The inode ties a socket to the descriptors that hold it: /proc/<pid>/fd/3 -> socket:[123137] was the
    // IPv6 UDP socket.
    let udp6 = parse_socket_table(&table("udp6"), SocketProtocol::Udp).unwrap();
    assert_eq!(udp6.iter().map(|e| (e.port, e.inode)).collect::<Vec<_>>(), [(18766, 123137)]);
}

#[test]
fn a_table_cut_inside_a_row_is_an_error() {
    let text = table("tcp");
    let cut = &text[..text.find('\n').unwrap() + 40];
    assert!(parse_socket_table(cut, SocketProtocol::Tcp).unwrap_err().starts_with("not a socket table row"));
    // Connected TCP sockets (state 01, 06) are not listeners; the loopback ones are left out.
    let all = text.lines().count() - 1;
    assert_eq!(all, 14);
    assert_eq!(parse_socket_table(&text, SocketProtocol::Tcp).unwrap().len(), 2);
}

#[test]
fn a_mounted_root_has_no_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let mut errors = crate::root::ErrorLog::new();
    let root = crate::root::SystemRoot::mounted(dir.path());
    assert_eq!(crate::inventory::software::listeners::probe(&root, &mut errors), []);
    assert!(errors.is_empty());
}

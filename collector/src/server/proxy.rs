//! Behind a load balancer: which peers may say who the client is (`trusted_proxies`), and what they say — a PROXY
//! protocol header (v1 text or v2 binary, as HAProxy, nginx's `proxy_protocol on` and cloud load balancers send it)
//! before TLS, or `X-Forwarded-For` from an HTTP proxy. Without it every client behind the shipped proxy has the
//! proxy's address, so one client's wrong guesses lock every client out of sign-in and enrolment.
//!
//! The header itself is parsed by the `ppp` crate. Written here: deciding whether a trusted peer's connection starts
//! with a header at all (a proxy's own health check, or a client on the proxy's machine, connects without one), and
//! consuming exactly the header's bytes so TLS starts on the byte after it.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use ipnet::IpNet;
use ppp::{HeaderResult, PartialResult};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The v2 header's fixed start; a v1 header starts `PROXY `.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8; 6] = b"PROXY ";
/// The longest v1 header, line end included (the protocol's own bound).
const V1_MAX: usize = 107;
/// The longest header accepted. A v1 header is at most 107 bytes; a v2 header may carry up to 64 KiB of TLVs, but
/// the load balancers in use send well under 1 KiB (an AWS endpoint id, an Azure link id), and a connection that
/// declares more is refused rather than buffered.
pub const MAX_HEADER: usize = 4096;

/// The address ranges whose connections may name the client. Empty (the default) trusts no one: the peer address
/// is the client.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(ranges: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(ranges.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether `ip` is one of them; an IPv4 address seen as IPv6 (`::ffff:a.b.c.d`) counts as itself.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|range| range.contains(&ip))
    }

    /// The client behind `peer` by `X-Forwarded-For` (`forwarded_for`: the header's values in order). Only a
    /// trusted peer's header counts; it is read from the right, past every trusted hop, so a client cannot put an
    /// address of its choosing in front of what the proxies appended. An entry that is not an address ends the walk
    /// at the last hop known.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let mut client = peer;
        if !self.contains(peer) {
            return client;
        }
        for entry in forwarded_for.iter().rev().flat_map(|value| value.rsplit(',')) {
            let Some(hop) = parse_hop(entry.trim()) else { return client };
            client = hop.to_canonical();
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, an IPv4 address with a port, or a bracketed IPv6 address with one.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// A trusted-proxy range as configured: `10.0.0.0/8`, `2001:db8::/32`, or one address (`192.0.2.7`).
pub fn parse_range(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or a range such as 10.0.0.0/8"))
}

/// The peer of a connection as the request handlers see it: the client named by a trusted proxy's PROXY header, or
/// the socket's peer; with the ranges trusted to name another in `X-Forwarded-For`. Every connection's requests
/// carry it as an extension (`server::connections`).
#[derive(Debug, Clone)]
pub struct Peer {
    pub ip: IpAddr,
    pub trusted: TrustedProxies,
}

impl Peer {
    /// The client's address for this request's limits, lockouts and audit rows.
    pub fn client(&self, headers: &HeaderMap) -> IpAddr {
        if !self.trusted.contains(self.ip) {
            return self.ip;
        }
        // Bytes a client put into its own part of the header must not hide the entries the proxies appended: an
        // entry that is not text is replaced, and ends the walk only when it is reached.
        let values: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        self.trusted.client(self.ip, &values)
    }
}

/// What the first bytes of a trusted peer's connection are.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// Not a PROXY header: TLS (or HTTP) starts at the first byte.
    Direct,
    /// A prefix of a header; wait for more.
    NeedMore,
    /// A complete header of `len` bytes naming `client` (none for a proxy's own connection: v2 `LOCAL`, v1
    /// `UNKNOWN`, or a Unix socket).
    Header { len: usize, client: Option<SocketAddr> },
    /// A header that is not valid; the connection is closed.
    Invalid(String),
}

/// Classifies the bytes a connection has sent so far (they may run past the header).
pub fn classify(bytes: &[u8]) -> Start {
    let is_prefix = |signature: &[u8]| {
        let n = bytes.len().min(signature.len());
        bytes[..n] == signature[..n]
    };
    let v2 = is_prefix(V2_SIGNATURE);
    if !v2 && !is_prefix(V1_PREFIX) {
        return Start::Direct;
    }
    if bytes.len() < if v2 { V2_SIGNATURE.len() } else { V1_PREFIX.len() } {
        return Start::NeedMore;
    }
    // A v1 header is one line. `ppp` judges a line cut before its end (say, inside the last port) invalid, and a
    // complete line missing a part incomplete; so a v1 header is parsed once its line end has arrived, and then
    // whatever `ppp` says is final.
    let header = if v2 {
        let header = HeaderResult::V2(ppp::v2::Header::try_from(bytes));
        if header.is_incomplete() {
            return if bytes.len() >= MAX_HEADER {
                Start::Invalid(format!("a PROXY header longer than {MAX_HEADER} bytes"))
            } else {
                Start::NeedMore
            };
        }
        header
    } else {
        match bytes.windows(2).position(|w| w == b"\r\n") {
            Some(end) => HeaderResult::V1(ppp::v1::Header::try_from(&bytes[..end + 2])),
            None if bytes.len() >= V1_MAX => {
                return Start::Invalid(format!("a PROXY v1 header without a line end in {V1_MAX} bytes"));
            }
            None => return Start::NeedMore,
        }
    };
    match header {
        HeaderResult::V1(Ok(header)) => {
            let client = match header.addresses {
                ppp::v1::Addresses::Tcp4(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
                ppp::v1::Addresses::Tcp6(a) => Some(SocketAddr::new(a.source_address.into(), a.source_port)),
                ppp::v1::Addresses::Unknown => None,
            };
            Start::Header { len: header.header.len(), client }
        }
        HeaderResult::V2(Ok(header)) => {
            if header.len() > MAX_HEADER {
                return Start::Invalid(format!("a PROXY header of {} bytes (at most {MAX_HEADER})", header.len()));
            }
            let client = match (header.command, header.addresses) {
                (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                _ => None,
            };
            Start::Header { len: header.len(), client }
        }
        HeaderResult::V1(Err(e)) => Start::Invalid(format!("an invalid PROXY v1 header: {e}")),
        HeaderResult::V2(Err(e)) => Start::Invalid(format!("an invalid PROXY v2 header: {e}")),
    }
}

/// Reads a PROXY header off `stream` if it starts with one, leaving the stream at the byte after it; `Ok(None)`
/// when there is none or it names no client. Bytes are peeked until they decide, and only the header is consumed.
/// The caller bounds the time.
pub async fn read_header(stream: &mut TcpStream) -> io::Result<Option<SocketAddr>> {
    let mut buf = vec![0u8; MAX_HEADER];
    let mut seen = 0;
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before its first request"));
        }
        match classify(&buf[..n]) {
            Start::Direct => return Ok(None),
            Start::Invalid(why) => return Err(io::Error::new(io::ErrorKind::InvalidData, why)),
            Start::Header { len, client } => {
                stream.read_exact(&mut buf[..len]).await?;
                return Ok(client);
            }
            Start::NeedMore => {
                // A peek returns at once while the bytes it saw are still unread; wait before looking again rather
                // than spin. Proxies send the header in one write, so this is the rare case of a split segment.
                if n == seen {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen = n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(name: &str) -> Vec<u8> {
        let path = format!("{}/testdata/proxy/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// What the capture client sent after each proxy's header (testdata/README.md).
    const AFTER: &[u8] = b"\x16\x03\x01hello";

    fn header_of(name: &str) -> (usize, Option<SocketAddr>) {
        let bytes = capture(name);
        match classify(&bytes) {
            Start::Header { len, client } => {
                assert_eq!(&bytes[len..], AFTER, "{name}: the header ends where the client's bytes begin");
                (len, client)
            }
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn real_proxies_headers_name_the_client_and_end_where_tls_begins() {
        let v4: IpAddr = "127.0.0.2".parse().unwrap();
        let (len, client) = header_of("haproxy-v2-tcp4.bin");
        assert_eq!((len, client.map(|c| c.ip())), (28, Some(v4)));
        let (len, client) = header_of("haproxy-v2-tcp6.bin");
        assert_eq!((len, client.map(|c| c.ip())), (52, Some("::1".parse().unwrap())));
        let (_, client) = header_of("haproxy-v1-tcp4.bin");
        assert_eq!(client, Some("127.0.0.2:35433".parse().unwrap()));
        let (_, client) = header_of("nginx-v1-tcp4.bin");
        assert_eq!(client, Some("127.0.0.2:49215".parse().unwrap()));
    }

    #[test]
    fn a_health_check_header_names_no_client() {
        let bytes = capture("haproxy-v2-local-healthcheck.bin");
        assert_eq!(classify(&bytes), Start::Header { len: 16, client: None });
    }

    #[test]
    fn a_header_split_anywhere_waits_for_the_rest() {
        for name in ["haproxy-v2-tcp4.bin", "haproxy-v2-tcp6.bin", "haproxy-v1-tcp4.bin", "nginx-v1-tcp4.bin"] {
            let bytes = capture(name);
            let (len, _) = header_of(name);
            for cut in 1..len {
                assert_eq!(classify(&bytes[..cut]), Start::NeedMore, "{name} cut at {cut}");
            }
        }
    }

    #[test]
    fn tls_and_http_start_directly() {
        assert_eq!(classify(AFTER), Start::Direct);
        assert_eq!(classify(b"\x16"), Start::Direct);
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Start::Direct);
        assert_eq!(classify(b"PRI * HTTP/2.0\r\n"), Start::Direct);
        assert_eq!(classify(b"POST /api/v1/agent/report HTTP/1.1\r\n"), Start::Direct);
    }

    #[test]
    fn a_damaged_or_endless_header_is_invalid() {
        let mut bytes = capture("haproxy-v1-tcp4.bin");
        bytes[6] = b'X'; // TCP4 → XCP4
        assert!(matches!(classify(&bytes), Start::Invalid(_)), "{:?}", classify(&bytes));
        // A whole line with a part missing or wrong is final, not a prefix to wait on.
        for line in [&b"PROXY TCP4 not-an-address\r\n"[..], b"PROXY TCP4 127.0.0.2\r\n\x16", b"PROXY \r\n"] {
            assert!(matches!(classify(line), Start::Invalid(_)), "{:?}: {:?}", line, classify(line));
        }
        let endless = [V1_PREFIX.as_slice(), &[b'1'; V1_MAX]].concat();
        assert!(matches!(classify(&endless[..V1_MAX]), Start::Invalid(_)), "{:?}", classify(&endless));
        let mut long_v2 = capture("haproxy-v2-tcp4.bin")[..16].to_vec();
        long_v2[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        long_v2.resize(16 + usize::from(u16::MAX), 0);
        assert!(matches!(classify(&long_v2), Start::Invalid(_)), "{:?}", classify(&long_v2));
        // What a peek of the most the collector reads shows of it.
        assert!(matches!(classify(&long_v2[..MAX_HEADER]), Start::Invalid(_)), "{:?}", classify(&long_v2));
    }

    fn trusted(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| parse_range(r).unwrap()).collect())
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_peer_read_from_the_right() {
        let proxies = trusted(&["10.0.0.0/8", "192.0.2.1"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An untrusted peer's header is ignored.
        assert_eq!(proxies.client(ip("198.51.100.9"), &["203.0.113.5"]), ip("198.51.100.9"));
        // The nearest untrusted hop is the client, whatever the client wrote further left.
        assert_eq!(proxies.client(ip("192.0.2.1"), &["1.1.1.1, 203.0.113.5"]), ip("203.0.113.5"));
        assert_eq!(proxies.client(ip("192.0.2.1"), &["1.1.1.1", "203.0.113.5, 10.1.2.3"]), ip("203.0.113.5"));
        // Ports and IPv6 brackets are dropped; an IPv4 peer seen as IPv6 is still trusted.
        assert_eq!(proxies.client(ip("::ffff:192.0.2.1"), &["203.0.113.5:4431"]), ip("203.0.113.5"));
        assert_eq!(proxies.client(ip("192.0.2.1"), &["[2001:db8::7]:443"]), ip("2001:db8::7"));
        // Garbage ends the walk at the last hop known; all-trusted chains give the farthest.
        assert_eq!(proxies.client(ip("192.0.2.1"), &["203.0.113.5, unknown, 10.0.0.2"]), ip("10.0.0.2"));
        assert_eq!(proxies.client(ip("192.0.2.1"), &["10.9.9.9, 10.0.0.2"]), ip("10.9.9.9"));
        assert_eq!(proxies.client(ip("192.0.2.1"), &[]), ip("192.0.2.1"));
        // Trusting no one is the default.
        assert_eq!(TrustedProxies::default().client(ip("192.0.2.1"), &["203.0.113.5"]), ip("192.0.2.1"));
    }

    #[test]
    fn a_clients_garbage_in_forwarded_for_does_not_hide_what_the_proxy_appended() {
        let peer = Peer { ip: "192.0.2.1".parse().unwrap(), trusted: trusted(&["192.0.2.1"]) };
        let mut headers = HeaderMap::new();
        let value = axum::http::HeaderValue::from_bytes(b"\x80\xff, 203.0.113.5").unwrap();
        headers.insert("x-forwarded-for", value);
        assert_eq!(peer.client(&headers), "203.0.113.5".parse::<IpAddr>().unwrap());
        headers.insert("x-forwarded-for", axum::http::HeaderValue::from_static("::ffff:203.0.113.5"));
        assert_eq!(peer.client(&headers), "203.0.113.5".parse::<IpAddr>().unwrap(), "one client, one form");
    }

    #[test]
    fn ranges_are_networks_or_single_addresses() {
        assert_eq!(parse_range("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_range(" 192.0.2.7 ").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(parse_range("::1").unwrap().to_string(), "::1/128");
        assert!(parse_range("proxy.example").unwrap_err().contains("not an address"));
        assert!(parse_range("10.0.0.0/33").is_err());
    }
}

//! What a client without credentials can hold: a bounded number of connections in all and per source address, each
//! counted from accept to close, so a flood of idle or trickling connections cannot exhaust the collector's file
//! descriptors (the timeouts that end such connections are set where the server is built, in `server/mod.rs`).
//! A trusted proxy's connections count against the client its PROXY header names (`server::proxy`), not the proxy.
//!
//! Written here rather than taken from a crate: the limit must sit in axum-server's acceptor chain, before TLS, so a
//! refused connection costs no handshake; tower's concurrency limits act per request, after the connection exists.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower_http::add_extension::AddExtension;

use super::proxy::{self, Peer, TrustedProxies};

/// Connection bounds and timeouts; `Default` is what `serve` uses unless told otherwise.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once, all clients together.
    pub max_connections: usize,
    /// Connections open at once from one source address (behind a NAT or proxy, many agents share one).
    pub max_per_address: usize,
    /// Time to complete the TLS handshake.
    pub tls_handshake: Duration,
    /// Time to send a request's headers, counted from the connection's start or from the end of the previous
    /// answer (so an idle keep-alive connection is closed after it too).
    pub header_read: Duration,
    /// Peers that may name the client: by a PROXY header before TLS (within `tls_handshake`), or by
    /// `X-Forwarded-For`. Their own connections are bounded only in total; the client's count per address.
    pub trusted_proxies: TrustedProxies,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            max_per_address: 256,
            tls_handshake: Duration::from_secs(10),
            header_read: Duration::from_secs(15),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Total,
    PerAddress,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Total => "max_connections",
            Refusal::PerAddress => "max_per_address",
        }
    }
}

/// The open-connection counts, shared by every accept.
#[derive(Debug)]
pub struct Slots {
    limits: ConnectionLimits,
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    /// When a refusal was last logged: a flood logs one line per second, not one per connection.
    last_logged: Option<Instant>,
}

impl Slots {
    pub fn new(limits: ConnectionLimits) -> Arc<Slots> {
        Arc::new(Slots { limits, inner: Mutex::new(Counts::default()) })
    }

    /// Takes a slot for a connection from `address`, or says which bound refuses it. A trusted proxy's connection
    /// (`per_address` false) is bounded only in total until its header names the client ([`Slot::move_to`]).
    pub fn take(self: &Arc<Self>, address: IpAddr, per_address: bool) -> Result<Slot, Refusal> {
        let mut counts = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if counts.total >= self.limits.max_connections {
            return Err(Refusal::Total);
        }
        let from_address = counts.by_address.get(&address).copied().unwrap_or(0);
        if per_address && from_address >= self.limits.max_per_address {
            return Err(Refusal::PerAddress);
        }
        counts.total += 1;
        *counts.by_address.entry(address).or_default() += 1;
        Ok(Slot { slots: Arc::clone(self), address })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// Whether a refusal at `now` should be logged (at most one line a second).
    fn log_refusal(&self, now: Instant) -> bool {
        let mut counts = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let due = counts.last_logged.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
        if due {
            counts.last_logged = Some(now);
        }
        due
    }
}

/// One open connection's place in the counts, given back when the connection closes.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    address: IpAddr,
}

impl Slot {
    /// Counts this connection against `client` instead (named by a trusted proxy), if `client` is under its bound.
    pub fn move_to(&mut self, client: IpAddr) -> Result<(), Refusal> {
        let mut counts = self.slots.inner.lock().unwrap_or_else(|e| e.into_inner());
        if counts.by_address.get(&client).copied().unwrap_or(0) >= self.slots.limits.max_per_address {
            return Err(Refusal::PerAddress);
        }
        release(&mut counts, self.address);
        *counts.by_address.entry(client).or_default() += 1;
        self.address = client;
        Ok(())
    }
}

fn release(counts: &mut Counts, address: IpAddr) {
    if let Some(n) = counts.by_address.get_mut(&address) {
        *n -= 1;
        if *n == 0 {
            counts.by_address.remove(&address);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.inner.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        release(&mut counts, self.address);
    }
}

/// A connection holding its slot; it counts whether anything was ever answered on it.
#[derive(Debug)]
pub struct Counted<S> {
    stream: S,
    _slot: Slot,
    answered: bool,
}

impl<S> Drop for Counted<S> {
    fn drop(&mut self) {
        // Closed before a byte was answered: a TLS handshake or a request's headers never completed in time (or the
        // client gave up). The signature of a slow-loris client when it rises.
        crate::metrics::connection_closed(self.answered);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.answered = true;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The acceptor in front of the others (plain or TLS): a connection over a bound is closed at once; a trusted
/// proxy's PROXY header is read off before TLS; every request carries the connection's [`Peer`].
#[derive(Debug, Clone)]
pub struct Limited<A> {
    pub inner: A,
    pub slots: Arc<Slots>,
}

impl<A> Limited<A> {
    fn refuse(&self, address: IpAddr, refusal: Refusal) -> io::Error {
        crate::metrics::connection_refused(refusal.as_str());
        if self.slots.log_refusal(Instant::now()) {
            tracing::warn!(%address, bound = refusal.as_str(), open = self.slots.open(),
                "connection refused: too many open connections");
        }
        io::Error::other(format!("connection refused: {}", refusal.as_str()))
    }
}

impl<A, S> Accept<TcpStream, S> for Limited<A>
where
    A: Accept<Counted<TcpStream>, AddExtension<S, Peer>> + Clone + Send + Sync + 'static,
    A::Future: Send + 'static,
    S: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let address = match stream.peer_addr() {
            Ok(peer) => peer.ip(),
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let trusted = self.slots.limits.trusted_proxies.clone();
        let from_proxy = trusted.contains(address);
        let slot = match self.slots.take(address, !from_proxy) {
            Ok(slot) => slot,
            // Dropping the stream closes it before TLS: a refused client costs no handshake.
            Err(refusal) => {
                let error = self.refuse(address, refusal);
                return Box::pin(async move { Err(error) });
            }
        };
        // Answers are small and written in pieces (TLS records, headers, body): with Nagle's algorithm a piece
        // waits for the client's delayed ACK, ~40 ms per request (BENCHMARKS.md, ingest).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%address, error = %e, "cannot set TCP_NODELAY");
        }
        crate::metrics::connection_accepted();
        // Counted from here: whatever ends the connection (a bad header, a refusal, shutdown) gives back its slot
        // and its place in `muster_connections_open`.
        let mut counted = Counted { stream, _slot: slot, answered: false };
        if !from_proxy {
            let peer = Peer { ip: address, trusted };
            return Box::pin(self.inner.accept(counted, AddExtension::new(service, peer)));
        }
        let this = self.clone();
        Box::pin(async move {
            let deadline = this.slots.limits.tls_handshake;
            let client = match tokio::time::timeout(deadline, proxy::read_header(&mut counted.stream)).await {
                Ok(Ok(Some(client))) => {
                    crate::metrics::proxy_header("accepted");
                    client.ip().to_canonical()
                }
                Ok(Ok(None)) => {
                    crate::metrics::proxy_header("absent");
                    address
                }
                // Connected and closed without a byte: a load balancer's TCP health check.
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    crate::metrics::proxy_header("absent");
                    return Err(e);
                }
                Ok(Err(e)) => {
                    crate::metrics::proxy_header("invalid");
                    // A misconfigured proxy shows in the log, at most a line a second.
                    if e.kind() == io::ErrorKind::InvalidData && this.slots.log_refusal(Instant::now()) {
                        tracing::warn!(%address, error = %e, "connection from a trusted proxy closed");
                    }
                    return Err(e);
                }
                Err(_) => {
                    crate::metrics::proxy_header("timeout");
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no PROXY header or request in time"));
                }
            };
            if client != address
                && let Err(refusal) = counted._slot.move_to(client)
            {
                return Err(this.refuse(client, refusal));
            }
            let peer = Peer { ip: client, trusted };
            this.inner.accept(counted, AddExtension::new(service, peer)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_bound_the_total_and_each_address_and_come_back_on_close() {
        let slots = Slots::new(ConnectionLimits { max_connections: 3, max_per_address: 2, ..Default::default() });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = slots.take(a, true).unwrap();
        let second = slots.take(a, true).unwrap();
        assert_eq!(slots.take(a, true).unwrap_err(), Refusal::PerAddress);
        let third = slots.take(b, true).unwrap();
        assert_eq!(slots.take(b, true).unwrap_err(), Refusal::Total);
        assert_eq!(slots.open(), 3);
        drop(first);
        assert_eq!(slots.open(), 2);
        let again = slots.take(a, true).unwrap();
        drop((second, third, again));
        assert_eq!(slots.open(), 0);
        assert!(
            slots.inner.lock().unwrap().by_address.is_empty(),
            "no address is remembered once its connections close"
        );
    }

    #[test]
    fn a_proxys_connections_count_against_the_clients_they_name() {
        let slots = Slots::new(ConnectionLimits { max_connections: 10, max_per_address: 2, ..Default::default() });
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(slots.take(proxy, false).expect("a proxy is bounded only in total"));
        }
        held[0].move_to(a).unwrap();
        held[1].move_to(a).unwrap();
        assert_eq!(held[2].move_to(a).unwrap_err(), Refusal::PerAddress, "a's bound holds behind the proxy");
        held[2].move_to(b).expect("another client behind the same proxy is not refused");
        assert_eq!(slots.take(a, true).unwrap_err(), Refusal::PerAddress, "direct and proxied count together");
        assert_eq!(slots.open(), 3);
        drop(held);
        assert_eq!(slots.open(), 0);
        assert!(slots.inner.lock().unwrap().by_address.is_empty());
    }

    #[test]
    fn refusals_are_logged_once_a_second() {
        let slots = Slots::new(ConnectionLimits::default());
        let t0 = Instant::now();
        assert!(slots.log_refusal(t0));
        assert!(!slots.log_refusal(t0 + Duration::from_millis(500)));
        assert!(slots.log_refusal(t0 + Duration::from_millis(1500)));
    }
}

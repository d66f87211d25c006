//! What a client without credentials can hold, against the real server on 127.0.0.1 (issue 15, defect 1): a
//! slow-loris client trickling header bytes, an idle kept-alive connection and a silent TLS client are closed after
//! their timeouts; connections over the per-address bound are closed at accept while another address is served; the
//! bounds show in `/metrics`. The store plays no part, so this runs on SQLite only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use muster_collector::server::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::{Backend, Harness};

const HEADER: Duration = Duration::from_millis(1500);
const HANDSHAKE: Duration = Duration::from_millis(1500);

/// How long a test waits for the server to close a connection it should close: the timeout plus scheduling slack
/// on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(5);

struct Server {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

fn start(h: &Harness, tls: bool, limits: ConnectionLimits) -> Server {
    use muster_collector::tls as mtls;
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = tls.then(|| {
        let files = mtls::TlsFiles::new(dir.path());
        mtls::ensure_managed(&files, &mtls::server_names(addr, None), h.now()).unwrap();
        mtls::server_config(&files.server_chain(), &files.server_key()).unwrap()
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(muster_collector::server::serve_with(listener, h.app.clone(), config, limits, async {
        let _ = stopped.await;
    }));
    Server { addr, stop, _dir: dir }
}

fn limits(max_per_address: usize) -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 1000,
        max_per_address,
        tls_handshake: HANDSHAKE,
        header_read: HEADER,
        ..Default::default()
    }
}

/// Connects from `source` (any 127.0.0.0/8 address is this machine's loopback).
async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads until the server closes the connection (or resets it); the time that took and what was read.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(within.saturating_sub(start.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (start.elapsed(), got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {within:?}"),
        }
    }
}

async fn healthz(from: &str, to: SocketAddr) -> String {
    let mut stream = connect_from(from, to).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
    let (_, body) = until_closed(&mut stream, SLACK).await;
    String::from_utf8_lossy(&body).into_owned()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

async fn metrics_text(to: SocketAddr) -> String {
    let mut stream = connect_from("127.0.0.3", to).await;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
    let (_, body) = until_closed(&mut stream, SLACK).await;
    String::from_utf8_lossy(&body).into_owned()
}

async fn slow_and_idle_clients_are_closed(h: Harness) {
    let server = start(&h, false, limits(64));
    let unanswered_before = metric(&metrics_text(server.addr).await, "muster_connections_unanswered_total");

    // A slow-loris client: a header byte every 200 ms, never the end of the headers.
    let mut loris = connect_from("127.0.0.1", server.addr).await;
    let trickle = async {
        for b in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if loris.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let started = Instant::now();
    trickle.await;
    let (_, answer) = until_closed(&mut loris, SLACK).await;
    let held = started.elapsed();
    assert!(held < HEADER + SLACK, "the trickling client was held {held:?}");
    // hyper answers a header timeout with nothing or a bare 408; never a served request.
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "{answer:?}");

    // An idle kept-alive connection after one answer is closed after the header timeout too.
    let mut idle = connect_from("127.0.0.1", server.addr).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut first = [0u8; 512];
    let n = idle.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200 OK"));
    let (waited, _) = until_closed(&mut idle, HEADER + SLACK).await;
    assert!(waited >= HEADER - Duration::from_millis(200), "closed after {waited:?}, before the header timeout");

    // A connection that says nothing at all.
    let mut silent = connect_from("127.0.0.1", server.addr).await;
    let (waited, _) = until_closed(&mut silent, HEADER + SLACK).await;
    assert!(waited >= HEADER - Duration::from_millis(200), "closed after {waited:?}");

    let text = metrics_text(server.addr).await;
    let unanswered = metric(&text, "muster_connections_unanswered_total") - unanswered_before;
    assert!(unanswered >= 2.0, "the trickling and the silent connection count as unanswered: {unanswered}");
    assert!(healthz("127.0.0.1", server.addr).await.starts_with("HTTP/1.1 200 OK"), "still serving");
    let _ = server.stop.send(());
}

async fn a_silent_tls_client_is_closed_after_the_handshake_timeout(h: Harness) {
    let server = start(&h, true, limits(64));
    let mut silent = connect_from("127.0.0.1", server.addr).await;
    let (waited, answer) = until_closed(&mut silent, HANDSHAKE + SLACK).await;
    assert!(waited >= HANDSHAKE - Duration::from_millis(200), "closed after {waited:?}");
    assert!(answer.is_empty(), "nothing is sent to a client that never said hello");
    let _ = server.stop.send(());
}

async fn connections_over_the_per_address_bound_are_closed_at_accept(h: Harness) {
    let server = start(&h, false, limits(4));
    let refused_before =
        metric(&metrics_text(server.addr).await, "muster_connections_refused_total{bound=\"max_per_address\"}");
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from("127.0.0.1", server.addr).await);
    }
    // Give the server a moment to accept the four before the fifth arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = connect_from("127.0.0.1", server.addr).await;
    let (waited, answer) = until_closed(&mut fifth, SLACK).await;
    assert!(waited < HEADER, "the fifth connection was closed at accept, not after a timeout: {waited:?}");
    assert!(answer.is_empty(), "{answer:?}");

    // Another address is served meanwhile.
    assert!(healthz("127.0.0.2", server.addr).await.starts_with("HTTP/1.1 200 OK"));
    let text = metrics_text(server.addr).await;
    let refused = metric(&text, "muster_connections_refused_total{bound=\"max_per_address\"}") - refused_before;
    assert!(refused >= 1.0, "{refused}");

    // Once the four close, the address is served again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(healthz("127.0.0.1", server.addr).await.starts_with("HTTP/1.1 200 OK"));
    let _ = server.stop.send(());
}

macro_rules! sqlite_only {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::common::run(super::Backend::Sqlite, super::$name).await
            }
        }
    )*};
}

sqlite_only!(
    slow_and_idle_clients_are_closed,
    a_silent_tls_client_is_closed_after_the_handshake_timeout,
    connections_over_the_per_address_bound_are_closed_at_accept,
);

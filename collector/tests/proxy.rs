//! Behind a load balancer (issue 15, defect 6), with the real proxies: nginx running the shipped
//! `deploy/compose/nginx.conf` (TCP pass-through, `proxy_protocol on`) and HAProxy with `send-proxy-v2`, in front of
//! a TLS collector on 127.0.0.1 that trusts 127.0.0.1; clients connect from other loopback addresses with curl.
//! Before, every client had the proxy's address, so one client's ten wrong passwords locked every client out. Also:
//! an HTTP proxy's `X-Forwarded-For` (nginx `proxy_pass`), a PROXY header from an untrusted peer not believed, and
//! the per-address bound counting the named client. SQLite only: the store holds nothing here but sign-in counts.
//!
//! Needs Debian's `nginx`, `libnginx-mod-stream`, `haproxy` and `curl` (`.ci/prepare.d/50-proxies.sh`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use muster_collector::model::Role;
use muster_collector::server::ConnectionLimits;
use muster_collector::server::proxy::{TrustedProxies, parse_range};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

use crate::common::{Backend, Harness};
use crate::console::{PASSWORD, add_user};

/// A proxy process, stopped when dropped.
struct Proxy {
    child: Child,
    port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `program args` and waits until `port` on 127.0.0.1 accepts.
fn spawn(program: &str, args: &[&str], port: u16, log: &Path) -> Proxy {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap_or_else(|e| panic!("{program} (see .ci/prepare.d/50-proxies.sh) cannot start: {e}"));
    let mut proxy = Proxy { child, port };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            panic!("{program} exited {status}: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{program} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    proxy
}

/// The shipped compose proxy configuration, pointed at `collector` and listening on `port`, plus (for the
/// `X-Forwarded-For` case) an HTTP reverse proxy on `http_port` that terminates the client's request and forwards
/// it over TLS, as a TLS-terminating ingress does.
fn nginx(dir: &Path, collector: SocketAddr, port: u16, http_port: u16) -> Proxy {
    let shipped_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/compose/nginx.conf");
    let shipped = std::fs::read_to_string(&shipped_path).unwrap();
    let mut upstream_written = false;
    let mut conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\npid {d}/nginx.pid;\ndaemon off;\n\
         error_log {d}/nginx-error.log;\n",
        d = dir.display()
    );
    for line in shipped.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("server collector-") {
            if !upstream_written {
                conf.push_str(&format!("        server {collector};\n"));
                upstream_written = true;
            }
        } else if trimmed == "listen 8443;" {
            conf.push_str(&format!("        listen 127.0.0.1:{port};\n"));
        } else {
            conf.push_str(line);
            conf.push('\n');
        }
    }
    assert!(upstream_written && conf.contains(&format!(":{port};")), "the shipped nginx.conf changed shape: {conf}");
    conf.push_str(&format!(
        "http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         server {{\n    listen 127.0.0.1:{http_port};\n    location / {{\n      proxy_pass https://{collector};\n      \
         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n  }}\n}}\n",
        d = dir.display()
    ));
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let (prefix, error_log) = (dir.display().to_string(), dir.join("nginx-early.log").display().to_string());
    let proxy = spawn(
        "nginx",
        &["-p", &prefix, "-e", &error_log, "-c", &path.display().to_string()],
        port,
        &dir.join("nginx.out"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", http_port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "nginx did not listen on {http_port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    proxy
}

fn haproxy(dir: &Path, collector: SocketAddr, port: u16) -> Proxy {
    let conf = format!(
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend agents\n  bind 127.0.0.1:{port}\n  default_backend collectors\n\
         backend collectors\n  server c1 {collector} send-proxy-v2\n"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, conf).unwrap();
    spawn("haproxy", &["-db", "-f", &path.display().to_string()], port, &dir.join("haproxy.out"))
}

/// One request with curl from the loopback address `from`; the status and the body.
async fn curl(from: &str, url: String, ca: PathBuf, args: &[&str]) -> (u16, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let from = from.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "--max-time", "20", "--interface", &from, "--cacert"])
            .arg(&ca)
            .args(&args)
            .args(["-w", "\n%{http_code}", &url])
            .output()
            .expect("curl (Debian package curl) runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    (status.trim().parse().unwrap_or(0), format!("{body}{}", String::from_utf8_lossy(&out.stderr)))
}

async fn sign_in(from: &str, port: u16, ca: &Path, password: &str) -> u16 {
    let form = format!("user=bob&password={}&next=%2F", password.replace(' ', "+"));
    curl(from, format!("https://127.0.0.1:{port}/login"), ca.to_owned(), &["--data", &form]).await.0
}

async fn sign_in_failures_from(h: &Harness) -> Vec<String> {
    let rows = h.store.search_audit(None, Some("console.sign_in_failed"), 100).await.unwrap();
    rows.into_iter().filter_map(|row| row.source_ip).collect()
}

async fn each_client_behind_a_proxy_keeps_its_own_lockout(h: Harness) {
    use muster_collector::tls as mtls;
    add_user(&h, "bob", Role::Analyst).await;
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let collector = listener.local_addr().unwrap();
    let files = mtls::TlsFiles::new(dir.path());
    mtls::ensure_managed(&files, &mtls::server_names(collector, None), h.now()).unwrap();
    let tls = mtls::server_config(&files.server_chain(), &files.server_key()).unwrap();
    let limits = ConnectionLimits {
        max_per_address: 3,
        trusted_proxies: TrustedProxies::new(vec![parse_range("127.0.0.1").unwrap()]),
        ..Default::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(muster_collector::server::serve_with(listener, h.app.clone(), Some(tls), limits, async {
            let _ = stopped.await;
        }));
    let http_port = free_port();
    let nginx = nginx(dir.path(), collector, free_port(), http_port);
    let haproxy = haproxy(dir.path(), collector, free_port());
    let ca = files.ca_cert();

    // Ten wrong passwords from 127.0.0.2 through nginx lock 127.0.0.2 out, through either proxy.
    for _ in 0..10 {
        assert_eq!(sign_in("127.0.0.2", nginx.port, &ca, "nope").await, 401);
    }
    assert_eq!(sign_in("127.0.0.2", nginx.port, &ca, PASSWORD).await, 429);
    assert_eq!(sign_in("127.0.0.2", haproxy.port, &ca, PASSWORD).await, 429);
    let failures = sign_in_failures_from(&h).await;
    assert_eq!(failures.len(), 10);
    assert!(failures.iter().all(|ip| ip == "127.0.0.2"), "the audit names the client, not the proxy: {failures:?}");
    // Another client behind the same proxies is not locked out (before: 429, every client was 127.0.0.1).
    assert_eq!(sign_in("127.0.0.3", nginx.port, &ca, PASSWORD).await, 303);
    assert_eq!(sign_in("127.0.0.4", haproxy.port, &ca, PASSWORD).await, 303);

    // An HTTP proxy's X-Forwarded-For names the client; what the client put there itself does not count.
    let form = "user=bob&password=nope&next=%2F";
    let url = format!("http://127.0.0.1:{http_port}/login");
    let spoof = "X-Forwarded-For: 127.0.0.9";
    let (status, body) = curl("127.0.0.5", url, ca.clone(), &["--data", form, "-H", spoof]).await;
    assert_eq!(status, 401, "{body}");
    let failures = sign_in_failures_from(&h).await;
    assert_eq!(failures.iter().filter(|ip| *ip == "127.0.0.5").count(), 1, "{failures:?}");
    assert!(!failures.iter().any(|ip| ip == "127.0.0.9"), "a client's own X-Forwarded-For is not believed");

    // A peer that is not trusted cannot name a client: its PROXY header is not read, so TLS fails on it.
    let mut stream = connect_from("127.0.0.6", collector.port()).await;
    stream.write_all(b"PROXY TCP4 127.0.0.3 127.0.0.1 40000 8443\r\n").await.unwrap();
    assert_eq!(status_after_header(&mut stream).await, None, "the connection is closed without an answer");

    // The per-address bound (3 here) counts the client a proxy names, not the proxy: three idle connections of
    // 127.0.0.7 through HAProxy fill its place, a fourth is closed, while 127.0.0.8 through the same proxy is served.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.7", haproxy.port).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = curl("127.0.0.7", format!("https://127.0.0.1:{}/healthz", haproxy.port), ca.clone(), &[]).await;
    assert_eq!(status, 0, "the fourth connection of one client is closed at accept");
    let (status, _) = curl("127.0.0.8", format!("https://127.0.0.1:{}/healthz", haproxy.port), ca.clone(), &[]).await;
    assert_eq!(status, 200);
    drop(held);

    // A trusted peer may still connect without a header (a health check, a client on the proxy's host).
    let (status, _) = curl("127.0.0.1", format!("https://{collector}/healthz"), ca.clone(), &[]).await;
    assert_eq!(status, 200);
    // A load balancer's TCP check connects and closes; a broken header from a trusted peer is closed unanswered.
    drop(connect_from("127.0.0.1", collector.port()).await);
    let mut broken = connect_from("127.0.0.1", collector.port()).await;
    broken.write_all(b"PROXY TCP4 not-an-address\r\n").await.unwrap();
    assert_eq!(status_after_header(&mut broken).await, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, metrics) = curl("127.0.0.1", format!("https://{collector}/metrics"), ca.clone(), &[]).await;
    let count = |result: &str| -> f64 {
        let name = format!("muster_proxy_headers_total{{result=\"{result}\"}}");
        metrics.lines().find(|l| l.starts_with(&name)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
    };
    assert!(count("accepted") >= 17.0, "{metrics}");
    assert!(count("absent") >= 3.0, "{metrics}");
    assert!(count("invalid") >= 1.0, "{metrics}");

    drop((nginx, haproxy));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Connects from `source` to the local `port` and leaves the connection open, sending nothing.
async fn connect_from(source: &str, port: u16) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await.unwrap()
}

/// After a hand-written PROXY header on a TLS port: the HTTP status answered, if any, before the server closed.
async fn status_after_header(stream: &mut tokio::net::TcpStream) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    // The server may already have closed on the header; writing into a reset connection is that same answer.
    if let Err(e) = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await {
        assert!(
            matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
            "writing the request: {e}"
        );
        return None;
    }
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    let text = String::from_utf8_lossy(&got);
    text.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)).and_then(|s| s.parse().ok())
}

mod each_client_behind_a_proxy_keeps_its_own_lockout {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        crate::common::run(super::Backend::Sqlite, super::each_client_behind_a_proxy_keeps_its_own_lockout).await
    }
}

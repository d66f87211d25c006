//! End to end: a real `muster-collector` on 127.0.0.1 (embedded SQLite in a temporary directory) and the real
//! `muster-loadgen` binary replaying a tiny first wave, unchanged reports (closed and open loop) and a patch day;
//! the collector's API must then list every simulated host, its packages and the upgrades as history.
//!
//! The collector binary is `MUSTER_COLLECTOR_BIN` when set, else built here with `cargo test --workspace
//! --no-run`: a collector that does not build fails this test instead of skipping it, and the load generator's
//! own unit tests never wait for the collector to compile. The same selection as the README's test command
//! resolves the same dependency features, so under it the binary is already built (`cargo build -p
//! muster-collector` would rebuild every dependency with the collector's features alone: minutes on a clean clone).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn collector_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("MUSTER_COLLECTOR_BIN") {
        return PathBuf::from(path);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut nested = Command::new(cargo);
    // Cargo gives this test process its package's variables (name, version, manifest, …). Passed on, they differ
    // from those of the cargo that ran the README's command, and build scripts that declare them (ring's) would
    // rebuild ring and everything above it, twice: here, and again in the next outer build.
    for (name, _) in std::env::vars_os() {
        let Some(text) = name.to_str() else { continue };
        let set_for_tests = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"].iter().any(|p| text.starts_with(p))
            || matches!(
                text,
                "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_BIN_NAME"
                    | "OUT_DIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
            );
        if set_for_tests {
            nested.env_remove(&name);
        }
    }
    let out = nested
        .args(["test", "--workspace", "--no-run", "--message-format=json"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo test --workspace --no-run");
    assert!(out.status.success(), "the collector does not build");
    // The binary itself, not its unit tests' harness (which has the same target name).
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["name"] == "muster-collector"
                && m["target"]["kind"] == serde_json::json!(["bin"])
                && m["profile"]["test"] == false
        })
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo named the collector executable")
}

/// A collector process with its data directory; killed when dropped.
struct Collector {
    bin: PathBuf,
    data: tempfile::TempDir,
    child: Child,
    url: String,
    fingerprint: String,
}

impl Collector {
    fn start() -> Collector {
        Collector::start_in(tempfile::tempdir().unwrap(), &[])
    }

    /// `serve` on `data` (a new or an earlier collector's data directory) with `serve_args` added.
    fn start_in(data: tempfile::TempDir, serve_args: &[&str]) -> Collector {
        let bin = collector_bin();
        let mut child = Command::new(&bin)
            .arg("--data-dir")
            .arg(data.path())
            .args(["--format", "json", "serve", "--listen", "127.0.0.1:0"])
            .args(serve_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the collector");
        // `serve --format json` prints one JSON document once it listens: its URL and CA.
        let mut text = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let started = loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "the collector exited before listening: {text}");
            text.push_str(&line);
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                break v;
            }
        };
        let url = started["url"].as_str().unwrap().to_string();
        let fingerprint = started["ca"]["sha256_fingerprint"].as_str().unwrap().to_string();
        Collector { bin, data, child, url, fingerprint }
    }

    /// A collector command on the same data directory, its JSON output.
    fn cli(&self, args: &[&str]) -> Value {
        let out = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(self.data.path())
            .args(["--format", "json"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Collector {
    /// `kill -9`: no shutdown path runs. The data directory is kept for the next collector.
    fn kill(mut self) -> tempfile::TempDir {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data, data)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn loadgen(c: &Collector, secret: &str, state: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_muster-loadgen"))
        .args(["--collector", &c.url, "--ca-fingerprint", &c.fingerprint, "--format", "json"])
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env("MUSTER_ENROLL_SECRET", secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON object: {text}");
    serde_json::from_str(&text).unwrap()
}

fn assert_clean(result: &Value, requests: u64) {
    assert_eq!(result["requests"], requests, "{result}");
    assert_eq!(result["ok"], requests, "{result}");
    assert_eq!(result["needs_sections"], 0, "the collector agreed with every hash: {result}");
    assert_eq!(result["errors"], serde_json::json!({}), "{result}");
    for key in ["p50_ms", "p90_ms", "p99_ms", "max_ms", "rate_ok_per_s"] {
        assert!(result[key].as_f64().unwrap() > 0.0, "{key}: {result}");
    }
    assert!(result["p50_ms"].as_f64() <= result["p99_ms"].as_f64());
}

async fn get(c: &Collector, token: &str, path: &str) -> Vec<u8> {
    let ca = muster_agent::transport::fingerprint::Fingerprint::parse(&c.fingerprint).unwrap();
    let (tls, _) = muster_agent::transport::tls::client_config_for_fingerprint(ca).unwrap();
    let client = reqwest::Client::builder().use_preconfigured_tls(tls).build().unwrap();
    let response = client.get(format!("{}{path}", c.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().await.unwrap().to_vec()
}

async fn api(c: &Collector, token: &str, path: &str) -> Value {
    serde_json::from_slice(&get(c, token, path).await).unwrap()
}

/// The value of one unlabelled metric in `/metrics`.
async fn metric(c: &Collector, token: &str, name: &str) -> f64 {
    let text = String::from_utf8(get(c, token, "/metrics").await).unwrap();
    let line = text.lines().find(|l| l.split(' ').next() == Some(name)).unwrap_or_else(|| panic!("{name}: {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Findings per (host id, kind).
async fn findings_by_host(c: &Collector, token: &str) -> std::collections::BTreeMap<(String, String), usize> {
    let page = api(c, token, "/api/v1/findings?limit=1000").await;
    assert!(page["next_offset"].is_null(), "one page holds them: {}", page["total"]);
    let mut by_host = std::collections::BTreeMap::new();
    for f in page["findings"].as_array().unwrap() {
        let key = (f["host_id"].as_str().unwrap().to_string(), f["kind"].as_str().unwrap().to_string());
        *by_host.entry(key).or_default() += 1;
    }
    by_host
}

/// Reports are acknowledged once stored and their evaluation waits in the database: a collector killed with the
/// evaluation of every report still queued loses none of it. The first collector has no evaluation worker, so
/// the work is certainly queued when it dies; the next one, on the same data directory, evaluates all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_killed_with_evaluation_queued_loses_no_report_and_no_evaluation() {
    let c = Collector::start_in(tempfile::tempdir().unwrap(), &["--evaluation-workers", "0"]);
    let secret = c.cli(&["enroll-secret", "create", "--label", "loadgen-kill"])["secret"].as_str().unwrap().to_string();
    let token =
        c.cli(&["token", "create", "--name", "kill", "--role", "viewer"])["token"].as_str().unwrap().to_string();
    // Real Debian advisories, imported before any host exists: only the queued matching records a match on a host
    // (the scheduled evaluation at start evaluates rules, it does not match packages).
    let advisories =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../collector/testdata/advisories/debian/debian-osv-subset.jsonl");
    c.cli(&["advisories", "import", advisories.to_str().unwrap()]);
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("fleet");
    let first = loadgen(&c, &secret, &state, &["--hosts", "9", "--concurrency", "3", "--scenario", "first-wave"]);
    assert_clean(&first, 9);
    // Every report stored, none evaluated: the nine hosts wait in the queue (published every second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while metric(&c, &token, "muster_evaluation_queue_hosts").await != 9.0 {
        assert!(std::time::Instant::now() < deadline, "the backlog never showed the nine hosts");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(findings_by_host(&c, &token).await, Default::default(), "nothing is evaluated without a worker");
    let page = api(&c, &token, "/api/v1/hosts?limit=100").await;
    for host in page["hosts"].as_array().unwrap() {
        let vulns = api(&c, &token, &format!("/api/v1/hosts/{}/vulnerabilities", host["id"].as_str().unwrap())).await;
        assert!(vulns["matched_at"].is_null(), "nothing is matched without a worker: {vulns}");
    }

    let data = c.kill();
    let c = Collector::start_in(data, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while metric(&c, &token, "muster_evaluation_queue_hosts").await != 0.0 {
        assert!(std::time::Instant::now() < deadline, "hosts still queued after two minutes");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Every report survived the kill with its packages.
    let page = api(&c, &token, "/api/v1/hosts?limit=100").await;
    let hosts = page["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 9, "{page}");
    for host in hosts {
        let id = host["id"].as_str().unwrap();
        let software = api(&c, &token, &format!("/api/v1/hosts/{id}/software")).await;
        assert!(!software.as_array().unwrap().is_empty(), "{host}: no packages stored");
    }
    // Every host's packages were matched against the advisories, which only the queued work does, and every
    // host was evaluated.
    for host in hosts {
        let id = host["id"].as_str().unwrap();
        let vulns = api(&c, &token, &format!("/api/v1/hosts/{id}/vulnerabilities")).await;
        assert!(vulns["matched_at"].is_string(), "{host}: never matched: {vulns}");
        // The imported advisories are Debian's: those hosts' packages were checked against them (the other
        // images' matching ran too, and says which of their ecosystems have no advisories).
        if host["os_id"] == "debian" {
            assert!(vulns["packages_checked"].as_u64().unwrap() > 0, "{vulns}");
            assert!(!vulns["ecosystems"].as_array().unwrap().is_empty(), "{vulns}");
        }
    }
    let by_host = findings_by_host(&c, &token).await;
    let evaluated: std::collections::BTreeSet<&String> =
        by_host.keys().filter(|(_, kind)| kind == "rule").map(|(host, _)| host).collect();
    assert_eq!(evaluated.len(), 9, "{by_host:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_replays_every_scenario_against_a_real_collector() {
    let c = Collector::start();
    let secret = c.cli(&["enroll-secret", "create", "--label", "loadgen-e2e"])["secret"].as_str().unwrap().to_string();
    let token = c.cli(&["token", "create", "--name", "e2e", "--role", "viewer"])["token"].as_str().unwrap().to_string();
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("fleet");
    // Nine hosts cover the default mix once: four debian-12-server, one of each other image.
    let hosts = ["--hosts", "9", "--concurrency", "3"];

    let first = loadgen(&c, &secret, &state, &[&hosts[..], &["--scenario", "first-wave"]].concat());
    assert_clean(&first, 9);
    assert_eq!((first["scenario"].as_str(), first["mode"].as_str()), (Some("first-wave"), Some("closed_loop")));
    assert_eq!(first["preparation"]["enrolled_now"], 9);
    assert_eq!(first["by_kind"]["full"]["ok"], 9);

    // The same fleet again: nothing to enrol, every section sent as its hash and confirmed.
    let unchanged = loadgen(&c, &secret, &state, &[&hosts[..], &["--scenario", "unchanged"]].concat());
    assert_clean(&unchanged, 9);
    assert_eq!(
        (unchanged["preparation"]["enrolled_before"].as_u64(), unchanged["preparation"]["warmed_up"].as_u64()),
        (Some(9), Some(0))
    );
    assert_eq!(unchanged["by_kind"]["unchanged"]["ok"], 9);
    let unchanged_bytes = unchanged["body_bytes"].as_u64().unwrap() / 9;
    let full_bytes = first["body_bytes"].as_u64().unwrap() / 9;
    assert!(unchanged_bytes < 1_500 && unchanged_bytes * 10 < full_bytes, "{unchanged_bytes} vs {full_bytes} bytes");

    let patch =
        loadgen(&c, &secret, &state, &[&hosts[..], &["--scenario", "patch-day", "--patch-packages", "3"]].concat());
    assert_clean(&patch, 9);
    assert_eq!(patch["by_kind"]["changed"]["ok"], 9);

    // Open loop at 20/s for one second, after the patch: the stored hashes are the patched ones.
    let open = loadgen(
        &c,
        &secret,
        &state,
        &[&hosts[..], &["--scenario", "unchanged", "--rate", "20", "--duration", "1"]].concat(),
    );
    assert_clean(&open, 20);
    assert_eq!((open["mode"].as_str(), open["latency_from"].as_str()), (Some("open_loop"), Some("intended_send_time")));
    assert!(open["service_latency"]["p50_ms"].as_f64().unwrap() > 0.0);

    // The collector holds every host with its packages, and each patched package as an upgrade.
    let page = api(&c, &token, "/api/v1/hosts?limit=100").await;
    let listed: Vec<&Value> = page["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["hostname"].as_str().unwrap().starts_with("lg-"))
        .collect();
    assert_eq!(listed.len(), 9, "{page}");
    let server = listed.iter().find(|h| h["hostname"].as_str().unwrap().ends_with("-debian-12-server-000000")).unwrap();
    let id = server["id"].as_str().unwrap();
    let software = api(&c, &token, &format!("/api/v1/hosts/{id}/software")).await;
    let captured = first["images"].as_array().unwrap().iter().find(|i| i["name"] == "debian-12-server").unwrap();
    assert_eq!(software.as_array().unwrap().len() as u64, captured["packages"].as_u64().unwrap());
    let history = api(&c, &token, &format!("/api/v1/hosts/{id}/history?limit=200")).await.to_string();
    assert_eq!(history.matches("package_upgraded").count(), 3, "{history}");
}

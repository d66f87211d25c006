//! Storage faults (issue 15's fault suite): the database's disk filling up, and PostgreSQL restarted under load.
//! Each must end in the documented 503 with `Retry-After` (which the agent honours, keeping its report in its
//! spool), never a 500; nothing half-written; and the collector carrying on without a restart once the fault ends.
//!
//! Both are real: the SQLite file sits on a tmpfs of a fixed size that is filled with a file, and PostgreSQL is a
//! private cluster of the installed server (initdb, pg_ctl as the `postgres` user) on a port of its own, so stopping
//! it disturbs no other test. Both need root, as CI has. A request caught mid-transaction by the restart depends on
//! timing, so the error such a request meets (the server ending its connection) is produced on its own as well.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use muster_collector::ServicePolicy;
use muster_collector::model::Role;
use muster_collector::store::{PgStore, SqliteStore, Store};
use muster_shared::v1::{ReportEnvelope, SectionName};
use serde_json::Value;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnectOptions;

use crate::common::{Backend, Harness, Machine, debian, delta, full, ubuntu};

/// Sends `envelope` as the agent does and returns the status, the `Retry-After` header and the body.
async fn report(h: &Harness, token: &str, envelope: &ReportEnvelope) -> (StatusCode, Option<String>, Value) {
    let (status, headers, body) = h.report_answer(token, envelope).await;
    let retry_after = headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, retry_after, body)
}

async fn package_count(h: &Harness, token: &str, host_id: &str) -> usize {
    let (status, body) = h.get(&format!("/api/v1/hosts/{host_id}/software"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().map_or(0, Vec::len)
}

fn packages_in(report: &muster_shared::v1::Report) -> usize {
    report.software.as_ref().map_or(0, |s| s.packages.len())
}

/// A tmpfs of `size_mib` mounted on a new temporary directory; unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size_mib: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m,mode=0700"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount(8)");
        assert!(status.success(), "mounting a tmpfs needs root (CI runs as root): {status}");
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk has no space left; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        for chunk in [1 << 20, 4 << 10, 512] {
            let block = vec![0x5a_u8; chunk];
            while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
        }
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_reports_with_503_and_loses_nothing() {
    muster_collector::install_crypto_provider();
    let disk = SmallDisk::mount(48);
    let db = disk.path().join("muster.db");
    let sqlite = Arc::new(SqliteStore::open(&format!("sqlite://{}", db.display())).await.unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    let h = Harness::with_policy(store.clone(), Backend::Sqlite, ServicePolicy::default());
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let thinkpad = Machine::thinkpad("5d0c0b1c2a3e4f5061728394a5b6c7d8");
    let vmware = Machine::vmware("6e1d1c2d3b4f5a6172839405b6c7d8e9");
    let (first_id, first_token) = h.enrolled(&secret, &thinkpad).await;
    let (second_id, second_token) = h.enrolled(&secret, &vmware).await;
    let first = debian(&thinkpad);
    h.stored(&first_token, &full(&first)).await;
    let stored_packages = package_count(&h, &viewer, &first_id).await;
    assert_eq!(stored_packages, packages_in(&first));
    // Empty the write-ahead log so the next write must grow a file rather than reuse the log's old space.
    store.vacuum().await.unwrap();

    let filler = disk.fill();
    let second = full(&ubuntu(&vmware));
    for (token, envelope) in [(&second_token, &second), (&first_token, &full(&first))] {
        let (status, retry_after, body) = report(&h, token, envelope).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"], "storage_full", "{body}");
        assert!(body["message"].as_str().unwrap().contains("space"), "{body}");
        let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
        assert!(secs >= 30, "a full disk is not cleared in seconds: {secs}");
    }
    // Enrolments meet the full disk the same way, also arriving together: SQLite's group commit puts them in one
    // transaction, which the full disk ends for all of them, and each is told the disk is full (not busy, not 500).
    let newcomers: Vec<Machine> = (1..=4).map(|i| Machine::vmware(&format!("{i:032x}"))).collect();
    let answers = futures_util::future::join_all(newcomers.iter().map(|m| h.enroll(&secret, m))).await;
    for (status, body) in answers {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"], "storage_full", "{body}");
    }
    // Reading still works, and the first host is exactly as it was; the second has nothing half-written.
    assert_eq!(package_count(&h, &viewer, &first_id).await, stored_packages);
    assert_eq!(package_count(&h, &viewer, &second_id).await, 0);

    // No pooled connection kept the write lock of a transaction the full disk ended. One did (sqlx counted it as
    // still open after its ROLLBACK failed), and every writer then waited out the 30 s busy timeout.
    let probe = SqliteConnectOptions::new().filename(&db).busy_timeout(Duration::from_secs(5));
    let mut probe = sqlx::SqliteConnection::connect_with(&probe).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut probe).await.expect("the write lock is free");
    sqlx::query("ROLLBACK").execute(&mut probe).await.unwrap();
    probe.close().await.unwrap();

    // Space comes back: the same collector (no restart) stores the report the agent kept and resends.
    std::fs::remove_file(filler).unwrap();
    h.stored(&second_token, &second).await;
    assert_eq!(package_count(&h, &viewer, &second_id).await, packages_in(&second.report));
    h.stored(&first_token, &delta(&first, &[SectionName::Software])).await;
    assert_eq!(package_count(&h, &viewer, &first_id).await, stored_packages);

    let mut check = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut check).await.unwrap();
    assert_eq!(integrity, "ok");
    drop(check);
    drop((h, store));
    sqlite.close().await;
}

/// A PostgreSQL cluster of its own: the installed server's initdb and pg_ctl, run as `postgres`, on a free port.
struct PrivateCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivateCluster {
    fn start() -> PrivateCluster {
        let versions = std::fs::read_dir("/usr/lib/postgresql").expect("the PostgreSQL server is installed");
        let bin = versions.flatten().map(|v| v.path().join("bin")).find(|b| b.join("initdb").exists()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let chown = Command::new("chown").arg("postgres:postgres").arg(dir.path()).status().unwrap();
        assert!(chown.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = PrivateCluster { dir, bin, port };
        cluster.as_postgres("initdb", &["-A", "trust", "-U", "postgres", "--no-sync", "-D"], true);
        cluster.pg_ctl("start");
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(&self, tool: &str, args: &[&str], with_data: bool) {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(self.bin.join(tool)).args(args);
        if with_data {
            command.arg(self.data());
        }
        let out = command.output().expect("run a PostgreSQL tool as postgres");
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn pg_ctl(&self, action: &str) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log");
        let log = log.to_str().unwrap();
        self.as_postgres("pg_ctl", &[action, "-w", "-m", "fast", "-l", log, "-o", &options, "-D"], true);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(self.data())
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_is_survived_without_a_restart() {
    muster_collector::install_crypto_provider();
    let cluster = PrivateCluster::start();
    let pg = Arc::new(PgStore::open(&cluster.url()).await.unwrap());
    let store: Arc<dyn Store> = pg.clone();
    let h = Arc::new(Harness::with_policy(store.clone(), Backend::Postgres, ServicePolicy::default()));
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad("7f2e2d3e4c5a6b7283940516c7d8e9fa");
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    let base = debian(&machine);
    h.stored(&token, &full(&base)).await;
    let stored_packages = package_count(&h, &viewer, &host_id).await;
    // Recovery is probed by a second host: a probe from the loaded host would meet its own report in flight
    // (`report_in_progress`, 429), which says nothing about the database.
    let probe_machine = Machine::thinkpad("0a1b2c3d4e5f60718293a4b5c6d7e8f9");
    let (_, probe_token) = h.enrolled(&secret, &probe_machine).await;
    let probe_base = debian(&probe_machine);
    h.stored(&probe_token, &full(&probe_base)).await;

    // Load: the host reports its software again and again while the database goes away and comes back.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let load = {
        let h = h.clone();
        let token = token.clone();
        let envelope = delta(&base, &[SectionName::Software]);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let sent = Instant::now();
                let (status, retry_after, body) = report(&h, &token, &envelope).await;
                seen.push((sent, Instant::now(), status, retry_after, body));
                if stopped.try_recv().is_ok() {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = Instant::now();
    cluster.pg_ctl("stop");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let starting = Instant::now();
    cluster.pg_ctl("start");
    // The collector is not restarted: within a few seconds its pool reconnects and reports are stored again.
    let mut recovered = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, _, _) = report(&h, &probe_token, &delta(&probe_base, &[SectionName::Software])).await;
        if status == StatusCode::OK {
            recovered = true;
            break;
        }
    }
    let _ = stop.send(());
    let seen = load.await.unwrap();
    assert!(recovered, "the collector did not recover: {:?}", seen.last());

    // Reports met the outage (were refused or waited through it), and every one was either stored or refused with
    // 503 and a time to retry.
    let met = seen.iter().filter(|(sent, answered, ..)| *sent < starting && *answered > stopping).count();
    assert!(met > 0, "no report met the outage: {} sent", seen.len());
    for (_, _, status, retry_after, body) in &seen {
        if *status == StatusCode::OK {
            continue;
        }
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(retry_after.is_some(), "{body}");
        assert!(matches!(body["error"].as_str(), Some("database_unavailable" | "busy")), "{body}");
    }
    assert_eq!(package_count(&h, &viewer, &host_id).await, stored_packages);
    drop((h, store));
    pg.close().await;
}

/// What a PostgreSQL restart or failover does to a connection in use: the server ends it (here
/// `pg_terminate_backend`, as `pg_ctl stop -m fast` does to every session). The next statement's error must be
/// classed as the database being unreachable, answered 503 `database_unavailable` with `Retry-After`, not as a
/// defect answered 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_ended_is_unreachable_not_a_defect() {
    use axum::response::IntoResponse;
    use muster_collector::error::AppError;
    use muster_collector::store::{Fault, StoreError};

    let url = "postgres://postgres@127.0.0.1:5432/postgres";
    let mut victim = sqlx::PgConnection::connect(url).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut victim).await.unwrap();
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let ended: bool =
        sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&mut admin).await.unwrap();
    assert!(ended);

    let error = StoreError::from(sqlx::query("SELECT 1").execute(&mut victim).await.unwrap_err());
    assert_eq!(error.fault(), Some(Fault::Unreachable), "{error:?}");
    let response = AppError::from(error).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "10");
    let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "database_unavailable", "{body}");
}

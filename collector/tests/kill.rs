//! `kill -9` of the collector's own processes at the worst moment (issue 15's fault tests), on both stores: an
//! advisory import killed after its transaction committed, while it re-matches the hosts, and `serve` killed while
//! it writes a report of 100,000 packages. Afterwards the database is consistent (SQLite's `integrity_check`; the
//! host exactly as it was before the report) and running the work again finishes it: the next import finishes the
//! re-match, and the real agent sends its spooled report to the restarted `serve`.
//!
//! The kills are aimed, not timed: the test watches the database (the advisories version, SQLite's write-ahead log
//! growing, PostgreSQL's `pg_stat_activity`) and kills once the moment it wants has come, then checks that it did.

use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use muster_agent::transport::deliver::{Agent, Delivery};
use muster_agent::transport::enroll::{self, CaPin, EnrollConfig, HostIdentity};
use muster_agent::transport::fingerprint::Fingerprint;
use muster_collector::model::Role;
use muster_shared::v1::ReportStatus;
use rand::SeedableRng;
use serde_json::Value;
use sqlx::Connection;

use crate::common::process::{Serve, assert_consistent, collector, free_port, sqlite_path};
use crate::common::{Harness, Machine, debian};
use crate::vulnerabilities::vuln_findings;

both!(
    an_advisory_import_killed_while_rematching_is_finished_by_the_next,
    serve_killed_while_storing_a_report_loses_nothing,
    a_stopped_serve_leaves_a_complete_database,
    a_stop_amid_queued_evaluation_gives_back_the_work_and_writes_nothing_after_the_fold
);

fn testdata(path: &str) -> String {
    format!("{}/testdata/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Hosts whose matches include `advisory`.
async fn affected(h: &Harness, viewer: &str, advisory: &str) -> u64 {
    let (status, body) = h.get(&format!("/api/v1/vulnerabilities/{advisory}"), viewer).await;
    assert_eq!(status, 200, "{body}");
    body["affected_hosts"].as_u64().unwrap()
}

const HOSTS: usize = 40;

async fn an_advisory_import_killed_while_rematching_is_finished_by_the_next(h: Harness) {
    let url = h.database_url.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (_, secret) = h.enroll_secret(None).await;
    let mut hosts = Vec::new();
    for i in 0..HOSTS {
        let machine = Machine::thinkpad(&format!("m-kill-{i:02}"));
        // glibc before DSA-5611-1's fix, so every host has a match that only the import brings.
        let report = crate::vulnerabilities::with_source(debian(&machine), "glibc", "2.36-9+deb12u3");
        let (host, token) = h.enrolled(&secret, &machine).await;
        h.stored(&token, &crate::common::full(&report)).await;
        hosts.push(host);
    }
    let viewer = h.api_token(Role::Viewer).await;
    let (dir, database) = (data.path().to_owned(), url.clone());
    let import = move || {
        let mut command = collector(&dir, &database);
        command.args(["advisories", "import"]).arg(testdata("advisories/debian/debian-osv-subset.jsonl"));
        command.arg(testdata("advisories/kev/known_exploited_vulnerabilities.json"));
        command
    };

    let mut child = import().stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    // The advisories version is bumped inside the import's transaction, so it is seen once that committed.
    while h.store.rematch_state().await.unwrap().version == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("the import ended ({status}) before its write was seen: {err}");
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the import's write was not seen");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let state = h.store.rematch_state().await.unwrap();
    let matched = affected(&h, &viewer, "DSA-5611-1").await;
    assert!(
        state.rematched < state.version && matched < HOSTS as u64,
        "the kill must come while hosts are re-matched ({matched} of {HOSTS} done, {state:?})"
    );
    assert_consistent(&url).await;

    let out = tokio::task::spawn_blocking(move || import().output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["imported"].as_u64(), summary["unchanged"].as_u64()), (Some(0), Some(11)), "{summary}");
    assert_eq!(summary["rematch"]["hosts_rematched"], HOSTS, "{summary}");
    assert_eq!(affected(&h, &viewer, "DSA-5611-1").await, HOSTS as u64);
    let state = h.store.rematch_state().await.unwrap();
    assert_eq!(state.rematched, state.version);
    // Every host ends with the same findings (they sent the same report), the glibc fix among them.
    let first = vuln_findings(&h, &viewer, &hosts[0], "open").await.0;
    assert!(first.iter().any(|(rule, source, _)| rule == "vuln.fix" && source == "glibc"), "{first:?}");
    for host in &hosts[1..] {
        assert_eq!(vuln_findings(&h, &viewer, host, "open").await.0, first, "{host}");
    }
}

const BIG: usize = 100_000;

/// True once the report's write transaction is under way and not committed: SQLite's write-ahead log has grown by
/// megabytes (its page cache spilled), or a PostgreSQL session holds a transaction id while writing software rows.
async fn writing(database_url: &str, wal_before: u64) -> bool {
    match sqlite_path(database_url) {
        Some(path) => {
            let wal = PathBuf::from(format!("{}-wal", path.display()));
            std::fs::metadata(wal).map_or(0, |m| m.len()) > wal_before + (4 << 20)
        }
        None => {
            let mut pg = sqlx::PgConnection::connect(database_url).await.unwrap();
            let busy: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL AND query ILIKE 'INSERT INTO %software%'",
            )
            .fetch_one(&mut pg)
            .await
            .unwrap();
            pg.close().await.unwrap();
            busy > 0
        }
    }
}

/// The real agent enrolled with `serve` as `machine`, its state in `state_dir`: the host id and the agent.
async fn enrolled_agent(h: &Harness, serve: &Serve, state_dir: &std::path::Path, machine: &Machine) -> (String, Agent) {
    let (_, secret) = h.enroll_secret(None).await;
    let identity = HostIdentity {
        hostname: machine.hostname.clone(),
        machine_id: machine.machine_id.clone(),
        system_uuid: machine.uuid.clone(),
        system_serial: machine.serial.clone(),
    };
    let config = EnrollConfig {
        collector_url: serve.url.clone(),
        secret,
        ca: CaPin::Fingerprint(Fingerprint::parse(&serve.ca_fingerprint).unwrap()),
        tags: Vec::new(),
        state_dir: state_dir.to_path_buf(),
    };
    let host = enroll::enroll(&config, &identity, chrono::Utc::now()).await.unwrap().host_id;
    (host, Agent::load(state_dir, 64 << 20).unwrap())
}

async fn serve_killed_while_storing_a_report_loses_nothing(h: Harness) {
    let url = h.database_url.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let serve = Serve::start(data.path(), &url, port, &[]);
    let machine = Machine::thinkpad("m-killed-serve");
    let (host, agent) = enrolled_agent(&h, &serve, &data.path().join("agent"), &machine).await;
    let agent = Arc::new(agent);
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let report = debian(&machine);
    let first = agent.deliver(Some(report.clone()), &mut rng).await.unwrap();
    assert!(matches!(first.delivery, Delivery::Delivered { status: ReportStatus::Stored, .. }), "{first:?}");

    let viewer = h.api_token(Role::Viewer).await;
    let host_before = h.get(&format!("/api/v1/hosts/{host}"), &viewer).await;
    let software_before = h.get(&format!("/api/v1/hosts/{host}/software"), &viewer).await;
    let history_before = h.get(&format!("/api/v1/hosts/{host}/history"), &viewer).await;
    let listed = |software: &Value| software.as_array().or_else(|| software["items"].as_array()).unwrap().len();
    assert_eq!(listed(&software_before.1), report.software.as_ref().unwrap().packages.len());

    // The same machine with 100,000 packages (the default limit): copies of its real ones under new names.
    let mut big = report.clone();
    let software = big.software.as_mut().unwrap();
    let real = software.packages.clone();
    for i in 0..BIG - real.len() {
        let mut p = real[i % real.len()].clone();
        p.name = format!("{}-copy-{i}", p.name);
        software.packages.push(p);
    }
    let wal_before =
        sqlite_path(&url).and_then(|p| std::fs::metadata(format!("{}-wal", p.display())).ok()).map_or(0, |m| m.len());
    let sending = tokio::spawn({
        let agent = agent.clone();
        async move { agent.deliver(Some(big), &mut rand::rngs::StdRng::seed_from_u64(16)).await }
    });
    let start = Instant::now();
    while !writing(&url, wal_before).await {
        assert!(!sending.is_finished(), "the report was answered before its write was seen");
        assert!(start.elapsed() < Duration::from_secs(300), "the report's write was not seen");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    serve.kill();
    let deferred = tokio::time::timeout(Duration::from_secs(60), sending).await.unwrap().unwrap().unwrap();
    let Delivery::Deferred { report_id, spooled: true, .. } = deferred.delivery else {
        panic!("the agent must keep the report it could not deliver: {deferred:?}")
    };

    // Nothing of the report was stored.
    assert_consistent(&url).await;
    assert_eq!(h.get(&format!("/api/v1/hosts/{host}"), &viewer).await, host_before);
    assert_eq!(h.get(&format!("/api/v1/hosts/{host}/software"), &viewer).await, software_before);
    assert_eq!(h.get(&format!("/api/v1/hosts/{host}/history"), &viewer).await, history_before);

    // The restarted collector gets the spooled report, whole.
    let serve = Serve::start(data.path(), &url, port, &[]);
    let resent = agent.deliver(None, &mut rng).await.unwrap();
    let Delivery::Delivered { report_id: delivered, status: ReportStatus::Stored, .. } = resent.delivery else {
        panic!("the spooled report was not delivered: {resent:?}")
    };
    assert_eq!(delivered, report_id);
    let (status, software) = h.get(&format!("/api/v1/hosts/{host}/software"), &viewer).await;
    assert_eq!(status, 200);
    assert_eq!(listed(&software), BIG);
    assert!(matches!(agent.deliver(None, &mut rng).await.unwrap().delivery, Delivery::NothingToSend));
    assert_consistent(&url).await;
    drop(serve);
}

/// `serve` stopped as systemd stops it (SIGTERM) after storing a report exits cleanly, and on SQLite leaves no
/// write-ahead log beside the file: what the report wrote is in `muster.db` itself, so a backup copying that one
/// file after a stop has it. Before, serve exited with the log as it was, its last writes not in the file.
async fn a_stopped_serve_leaves_a_complete_database(h: Harness) {
    let url = h.database_url.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    let serve = Serve::start(data.path(), &url, free_port(), &[]);
    let machine = Machine::thinkpad("m-stopped-serve");
    let (host, agent) = enrolled_agent(&h, &serve, &data.path().join("agent"), &machine).await;
    let sent = agent.deliver(Some(debian(&machine)), &mut rand::rngs::StdRng::seed_from_u64(17)).await.unwrap();
    assert!(matches!(sent.delivery, Delivery::Delivered { status: ReportStatus::Stored, .. }), "{sent:?}");
    let wal = sqlite_path(&url).map(|p| PathBuf::from(format!("{}-wal", p.display())));
    let wal_size = |wal: &PathBuf| std::fs::metadata(wal).map_or(0, |m| m.len());
    if let Some(wal) = &wal {
        assert!(wal_size(wal) > 0, "the report's pages are in the log while serve runs");
    }
    // The report's evaluation, queued by the report, is done before the stop (a stop amid evaluation is the next
    // test's).
    let start = Instant::now();
    while h.store.work_backlog().await.unwrap().hosts > 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "the report's evaluation did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let status = serve.terminate();
    assert!(status.success(), "serve ended with {status}");
    let log = std::fs::read_to_string(data.path().join("serve.log")).unwrap();
    assert!(log.contains("collector stopped"), "{log}");
    if let Some(wal) = &wal {
        assert_eq!(wal_size(wal), 0, "the log was folded into the file at the stop");
        let file = sqlite_path(&url).unwrap();
        // Only the database file, as a backup would take it.
        let copy = data.path().join("backup.db");
        std::fs::copy(&file, &copy).unwrap();
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", copy.display())).await.unwrap();
        let packages: i64 = sqlx::query_scalar("SELECT count(*) FROM host_software WHERE host_id = ?")
            .bind(&host)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(packages as usize, debian(&machine).software.unwrap().packages.len());
        conn.close().await.unwrap();
    }
    assert_consistent(&url).await;
}

/// More than a worker's batch (16), so work is left whatever the machine's speed.
const STOP_HOSTS: usize = 24;

/// One count from the test's database (`url`, a `sqlite://` file or PostgreSQL).
async fn count(url: &str, query: &str) -> i64 {
    if sqlite_path(url).is_some() {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let n = sqlx::query_scalar(query).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        n
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let n = sqlx::query_scalar(query).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        n
    }
}

/// `serve` stopped (SIGTERM) while its evaluation worker is busy with a queue of first reports: the worker finishes
/// the host in hand and gives back the rest of its claim (free at once for a replica, not at the lease's end), and
/// nothing writes after SQLite's log is folded into the file. Every host's work is either done or still queued
/// in the copy of the file alone. Before, the workers ran on until the process exited, their claims held, and an
/// evaluation finishing after the fold left its pages in the log.
async fn a_stop_amid_queued_evaluation_gives_back_the_work_and_writes_nothing_after_the_fold(h: Harness) {
    let url = h.database_url.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // The reports are stored by a collector without workers, so all of their work waits for the next one.
    let storing = Serve::start(data.path(), &url, port, &["--evaluation-workers", "0"]);
    let mut sending = tokio::task::JoinSet::new();
    let mut hosts = Vec::new();
    for i in 0..STOP_HOSTS {
        let machine = Machine::thinkpad(&format!("m-stop-{i:02}"));
        let (host, agent) = enrolled_agent(&h, &storing, &data.path().join(format!("agent-{i}")), &machine).await;
        hosts.push(host);
        sending.spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
            agent.deliver(Some(debian(&machine)), &mut rng).await.unwrap()
        });
    }
    while let Some(sent) = sending.join_next().await {
        let sent = sent.unwrap();
        assert!(matches!(sent.delivery, Delivery::Delivered { status: ReportStatus::Stored, .. }), "{sent:?}");
    }
    assert!(storing.terminate().success());
    assert_eq!(h.store.work_backlog().await.unwrap().hosts as usize, STOP_HOSTS);

    let serve = Serve::start(data.path(), &url, port, &["--evaluation-workers", "1"]);
    let claimed = "SELECT count(*) FROM host_work WHERE claimed_by IS NOT NULL";
    let start = Instant::now();
    while count(&url, claimed).await == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "the worker claimed nothing");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let status = serve.terminate();
    assert!(status.success(), "serve ended with {status}");
    let log = std::fs::read_to_string(data.path().join("serve.log")).unwrap();
    assert!(log.contains("background work stopped") && log.contains("collector stopped"), "{log}");

    // Only the database file, as a backup would take it.
    let copy = match sqlite_path(&url) {
        Some(file) => {
            let wal = PathBuf::from(format!("{}-wal", file.display()));
            assert_eq!(std::fs::metadata(wal).map_or(0, |m| m.len()), 0, "something wrote after the fold");
            let copy = data.path().join("backup.db");
            std::fs::copy(&file, &copy).unwrap();
            format!("sqlite://{}?mode=ro", copy.display())
        }
        None => url.clone(),
    };
    assert_eq!(count(&copy, claimed).await, 0, "the stopping worker gave back every claim");
    let left = count(&copy, "SELECT count(*) FROM host_work").await as usize;
    assert!((1..STOP_HOSTS).contains(&left), "the stop came amid the work ({left} of {STOP_HOSTS} hosts left)");
    // Nothing lost: a host's work is done (its findings are stored) or it still waits. (The scheduled run at the
    // start may have evaluated a host whose work is still queued.)
    let ids = hosts.iter().map(|h| format!("'{h}'")).collect::<Vec<_>>().join(",");
    let accounted = count(
        &copy,
        &format!(
            "SELECT count(*) FROM hosts h WHERE h.id IN ({ids}) AND (EXISTS (SELECT 1 FROM findings f \
             WHERE f.host_id = h.id) OR EXISTS (SELECT 1 FROM host_work w WHERE w.host_id = h.id))"
        ),
    )
    .await;
    assert_eq!(accounted as usize, STOP_HOSTS, "every host evaluated or still queued");
    assert_consistent(&url).await;
}

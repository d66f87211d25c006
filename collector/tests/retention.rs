//! Retention (issue 15, defect 5): what `app::retention::prune` deletes on each store (audit rows and host history
//! past their age, a coalesced audit row by its last repeat, catalogue rows of versions no host has) and what it
//! keeps; batches; the audit row it leaves; and `vacuum` on a pruned database.

use muster_collector::app::retention::{self, Retention};
use muster_collector::model::Role;
use muster_collector::store::{AuditRecord, FleetSize, Pruned};
use muster_shared::v1::{Report, SectionName};

use crate::common::{Harness, Machine, debian, delta, full};

both!(
    old_audit_history_and_unused_software_go_and_the_rest_stays,
    statistics_are_refreshed_on_both_stores,
    a_prune_cut_short_audits_what_went
);

fn with_openssl(report: &Report, version: &str) -> Report {
    let mut changed = report.clone();
    for p in &mut changed.software.as_mut().unwrap().packages {
        if p.name == "openssl" || p.name == "libssl3" {
            p.version = version.to_owned();
            p.source_version = Some(version.to_owned());
        }
    }
    changed
}

/// A host enrolled with a full report of the Debian laptop: its id, token and report.
async fn one_host(h: &Harness) -> (String, String, Report) {
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    let report = debian(&machine);
    h.stored(&token, &full(&report)).await;
    (host_id, token, report)
}

/// openssl and libssl3 upgraded an hour later and again 401 days after that: the first upgrade's two history rows
/// and both older versions' catalogue rows are then past keeping.
async fn upgraded_401_days_apart(h: &Harness, token: &str, report: &Report) {
    h.advance(chrono::Duration::hours(1));
    h.stored(token, &delta(&with_openssl(report, "3.0.16-1~deb12u1"), &[SectionName::Software])).await;
    h.advance(chrono::Duration::days(401));
    h.stored(token, &delta(&with_openssl(report, "3.0.17-1~deb12u1"), &[SectionName::Software])).await;
}

fn audit_row(action: &str, at: chrono::DateTime<chrono::Utc>) -> AuditRecord {
    AuditRecord {
        at,
        actor: "test".into(),
        action: action.into(),
        target: None,
        source_ip: Some("192.0.2.1".into()),
        details: serde_json::json!({}),
    }
}

async fn old_audit_history_and_unused_software_go_and_the_rest_stays(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (host_id, token, report) = one_host(&h).await;
    let t0 = h.now();
    h.store.audit(&audit_row("test.old", t0)).await.unwrap();
    // A client repeating an event: one row, first at t0, repeated 401 days later; kept by its last repeat.
    let window = chrono::Duration::days(1000);
    h.store.audit_coalesced(&audit_row("test.repeated", t0), t0 - window).await.unwrap();

    upgraded_401_days_apart(&h, &token, &report).await;
    let now = h.now();
    h.store.audit_coalesced(&audit_row("test.repeated", now), t0 - window).await.unwrap();
    h.store.audit(&audit_row("test.recent", now)).await.unwrap();

    let cutoff = retention::cutoffs(&Retention::default(), now).audit_before;
    let before = h.store.list_audit(10_000).await.unwrap();
    let expected_audit = before.iter().filter(|e| e.at < cutoff && e.last_at.unwrap_or(e.at) < cutoff).count();
    assert!(expected_audit >= 2, "the enrolment's rows and test.old are old: {before:?}");
    let history_before = h.store.host_history(&host_id, 100, 0).await.unwrap();
    assert_eq!(history_before.len(), 4, "{history_before:?}");

    let pruned = retention::prune(h.store.as_ref(), &Retention::default(), now, &|| true).await.unwrap();
    assert_eq!(pruned.audit, expected_audit as u64);
    assert_eq!(pruned.history, 2, "the first upgrade's two entries");
    assert_eq!(pruned.software, 4, "openssl and libssl3 at 3.0.15 and 3.0.16: no host has them");

    let after = h.store.list_audit(10_000).await.unwrap();
    assert!(after.iter().all(|e| e.at >= cutoff || e.last_at.is_some_and(|l| l >= cutoff)), "{after:?}");
    let actions: Vec<&str> = after.iter().map(|e| e.action.as_str()).collect();
    assert!(!actions.contains(&"test.old"));
    assert!(actions.contains(&"test.recent") && actions.contains(&"test.repeated"), "{actions:?}");
    let record = after.iter().find(|e| e.action == "retention.pruned").expect("the prune is audited");
    assert_eq!(record.details["history"], 2);
    assert_eq!(record.details["software"], 4);

    let history = h.store.host_history(&host_id, 100, 0).await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|e| e.at == now), "{history:?}");
    // What the host has is untouched.
    let (_, software) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
    let software = software.as_array().unwrap();
    assert_eq!(software.len(), 140);
    let openssl = software.iter().find(|p| p["name"] == "openssl").unwrap();
    assert_eq!(openssl["version"], "3.0.17-1~deb12u1");
    // By name or source name: openssl and libssl3, each only at the version the host has.
    let versions = h.store.software_by_name("openssl").await.unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions.iter().all(|v| v.version == "3.0.17-1~deb12u1"), "{versions:?}");

    // Nothing more to delete: nothing deleted, nothing audited.
    let again = retention::prune(h.store.as_ref(), &Retention::default(), now, &|| true).await.unwrap();
    assert_eq!(again.total(), 0);
    let audited = h.store.search_audit(None, Some("retention.pruned"), 10).await.unwrap();
    assert_eq!(audited.len(), 1);

    // Batches of one: every old row still goes.
    for _ in 0..3 {
        h.store.audit(&audit_row("test.old", t0)).await.unwrap();
    }
    let cutoffs = retention::cutoffs(&Retention::default(), now);
    let mut pruned = Pruned::default();
    assert!(h.store.prune(&cutoffs, 1, &mut pruned, &|| true).await.unwrap(), "went to the end");
    assert_eq!((pruned.audit, pruned.history, pruned.software), (3, 0, 0));

    h.store.vacuum().await.unwrap();
    assert_eq!(h.store.host_history(&host_id, 100, 0).await.unwrap().len(), 2, "vacuum keeps every row");
}

/// A prune ended early still audits every row it deleted: one stopped after its first batch (the collector stopping;
/// the rest goes at the next run), and one failed midway (here on a catalogue table another program renamed), whose
/// audit row also says why it failed. The store counts each batch as it commits.
async fn a_prune_cut_short_audits_what_went(h: Harness) {
    let (host_id, token, report) = one_host(&h).await;
    let t0 = h.now();
    for _ in 0..3 {
        h.store.audit(&audit_row("test.old", t0)).await.unwrap();
    }
    upgraded_401_days_apart(&h, &token, &report).await;
    let now = h.now();
    let cutoff = retention::cutoffs(&Retention::default(), now).audit_before;
    let old_audit = h.store.list_audit(10_000).await.unwrap().iter().filter(|e| e.at < cutoff).count() as u64;
    assert!(old_audit >= 3, "the enrolment's rows and test.old are old");
    let audited = || async { h.store.search_audit(None, Some("retention.pruned"), 10).await.unwrap() };

    // Stopped after its first batch: the old audit rows went (one batch holds them all), the history stays.
    let asked = std::sync::atomic::AtomicUsize::new(0);
    let first_batch_only = || asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
    let pruned = retention::prune(h.store.as_ref(), &Retention::default(), now, &first_batch_only).await.unwrap();
    assert_eq!((pruned.audit, pruned.history, pruned.software, pruned.events), (old_audit, 0, 0, 0));
    assert_eq!(h.store.host_history(&host_id, 100, 0).await.unwrap().len(), 4, "left for the next run");
    let records = audited().await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].details["audit"], old_audit);
    assert_eq!(records[0].details["history"], 0);
    assert_eq!(records[0].details["stopped"], true, "{records:?}");
    assert!(records[0].details.get("error").is_none(), "{records:?}");

    // Failed at the catalogue, after the history went: the history's rows are audited, with the failure.
    h.execute("ALTER TABLE software RENAME TO software_elsewhere").await;
    let failed = retention::prune(h.store.as_ref(), &Retention::default(), now, &|| true).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(h.store.host_history(&host_id, 100, 0).await.unwrap().len(), 2, "the old history went");
    let records = audited().await;
    assert_eq!(records.len(), 2, "{records:?}");
    let last = records.iter().find(|r| r.details.get("error").is_some()).expect("the failed prune is audited");
    assert_eq!(last.details["history"], 2, "{last:?}");
    assert_eq!(last.details["software"], 0, "{last:?}");
    assert!(last.details["error"].as_str().unwrap().contains("software"), "{last:?}");
    assert!(last.details.get("stopped").is_none(), "{last:?}");

    // The table back, the next run deletes the rest.
    h.execute("ALTER TABLE software_elsewhere RENAME TO software").await;
    let pruned = retention::prune(h.store.as_ref(), &Retention::default(), now, &|| true).await.unwrap();
    assert_eq!((pruned.history, pruned.software), (0, 4), "openssl and libssl3 at 3.0.15 and 3.0.16");

    // Counted batch by batch within a table: batches of one, stopped after two of three old rows.
    for _ in 0..3 {
        h.store.audit(&audit_row("test.old", t0)).await.unwrap();
    }
    let asked = std::sync::atomic::AtomicUsize::new(0);
    let two_batches = || asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2;
    let mut done = Pruned::default();
    let cutoffs = retention::cutoffs(&Retention::default(), now);
    let complete = h.store.prune(&cutoffs, 1, &mut done, &two_batches).await.unwrap();
    assert!(!complete);
    assert_eq!(done, Pruned { audit: 2, ..Pruned::default() });
}

/// `muster-collector prune --vacuum` on a SQLite file after an audit flood: the rows go and the file shrinks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_command_deletes_old_rows_and_vacuum_shrinks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("muster.db");
    let url = format!("sqlite://{}", path.display());
    let store = muster_collector::store::SqliteStore::open(&url).await.unwrap();
    // 2,000 rows of 8 KiB, 500 days old (the command prunes by the wall clock), and one from today.
    let old = chrono::Utc::now() - chrono::Duration::days(500);
    let mut flood = audit_row("console.sign_in_blocked", old);
    flood.details = serde_json::json!({ "name": "x".repeat(8 << 10) });
    for _ in 0..2_000 {
        muster_collector::store::Store::audit(&store, &flood).await.unwrap();
    }
    muster_collector::store::Store::audit(&store, &audit_row("test.recent", chrono::Utc::now())).await.unwrap();
    store.close().await;
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
    let before = size(&path);
    assert!(before > 16 << 20, "{before} bytes");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_muster-collector"))
        .args(["--data-dir", dir.path().to_str().unwrap(), "--database-url", &url])
        .args(["prune", "--vacuum", "--format", "json"])
        .env_remove("MUSTER_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let counts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(counts["audit"], 2_000, "{counts}");
    let after = size(&path);
    assert!(after < before / 8, "{before} → {after} bytes");

    let store = muster_collector::store::SqliteStore::open(&url).await.unwrap();
    let left = muster_collector::store::Store::list_audit(&store, 100).await.unwrap();
    let actions: Vec<&str> = left.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(actions.contains(&"test.recent") && actions.contains(&"retention.pruned"), "{actions:?}");
}

/// `muster-collector enroll-secret create` on the database at `url`: a command that writes.
fn create_secret(dir: &std::path::Path, url: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_muster-collector"))
        .args(["--data-dir", dir.to_str().unwrap(), "--database-url", url])
        .args(["enroll-secret", "create", "--label", "laptops"])
        .env_remove("MUSTER_CONFIG")
        .output()
        .unwrap()
}

/// A command other than `serve` leaves what it wrote in the SQLite file itself, not only in the write-ahead log: a
/// backup that copies `muster.db` alone right after the command holds the secret it created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_leaves_its_writes_in_the_database_file() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("muster.db");
    let url = format!("sqlite://{}", path.display());
    // Migrated, then held open by an idle connection: the command's is never the last to close, which would fold
    // the log by itself.
    muster_collector::store::SqliteStore::open(&url).await.unwrap().close().await;
    let mut idle = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let out = create_secret(dir.path(), &url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let wal = dir.path().join("muster.db-wal");
    let left = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(left, 0, "{} still holds {left} bytes", wal.display());
    sqlx::query("SELECT 1").execute(&mut idle).await.unwrap();

    let backup = tempfile::tempdir().unwrap();
    let copy = backup.path().join("muster.db");
    std::fs::copy(&path, &copy).unwrap();
    let store = muster_collector::store::SqliteStore::open(&format!("sqlite://{}", copy.display())).await.unwrap();
    let secrets = muster_collector::store::Store::list_enroll_secrets(&store).await.unwrap();
    assert_eq!(secrets.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(), ["laptops"]);
    store.close().await;
}

/// Beside another process reading the database (a running collector), a command does not wait for it to fold the
/// log: it ends at once and leaves the log to that process. Folding as `serve` does at its stop would have waited
/// up to 20 tries of a second each for the reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_beside_a_reader_leaves_the_log_to_it_without_waiting() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("muster.db");
    let url = format!("sqlite://{}", path.display());
    muster_collector::store::SqliteStore::open(&url).await.unwrap().close().await;
    let mut reader = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    let hosts: i64 = sqlx::query_scalar("SELECT count(*) FROM hosts").fetch_one(&mut reader).await.unwrap();
    assert_eq!(hosts, 0);

    let started = std::time::Instant::now();
    let out = create_secret(dir.path(), &url);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(took < std::time::Duration::from_secs(5), "the command waited {took:?} for the reader");
    let wal = std::fs::metadata(dir.path().join("muster.db-wal")).map_or(0, |m| m.len());
    assert!(wal > 0, "the secret is in the log, left to the reader's process");
    sqlx::query("ROLLBACK").execute(&mut reader).await.unwrap();
}

/// The fleet's size, and the planner's statistics after `refresh_statistics` (the daily job's and the growing
/// fleet's): SQLite's `sqlite_stat1` rows for the host's package links, PostgreSQL's row estimate of the table,
/// which is -1 until a table is first analyzed (autovacuum is switched off for it here).
async fn statistics_are_refreshed_on_both_stores(h: Harness) {
    let url = h.database_url.clone().unwrap();
    if url.starts_with("postgres:") {
        // So the server's autovacuum cannot analyze the table first, however its schedule falls.
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
        sqlx::query("ALTER TABLE host_software SET (autovacuum_enabled = false)").execute(&mut conn).await.unwrap();
    }
    let machine = Machine::thinkpad("m-stats");
    let (_, secret) = h.enroll_secret(None).await;
    let size = || async { h.store.fleet_size().await.unwrap() };
    assert_eq!(size().await, FleetSize { hosts: 0, reported: 0 });
    let (_, token) = h.enrolled(&secret, &machine).await;
    assert_eq!(size().await, FleetSize { hosts: 1, reported: 0 }, "enrolled, not reported");
    h.stored(&token, &full(&debian(&machine))).await;
    let quiet = Machine::vmware("m-stats-quiet");
    h.enrolled(&secret, &quiet).await;
    // What the growing fleet's refresh counts (app::statistics): hosts enrolled, and those that reported.
    assert_eq!(size().await, FleetSize { hosts: 2, reported: 1 });
    let stats = || async {
        if url.starts_with("sqlite:") {
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
            let exists: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            if exists == 0 {
                return -1;
            }
            sqlx::query_scalar("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'host_software'")
                .fetch_one(&mut conn)
                .await
                .unwrap()
        } else {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
            let tuples: f32 = sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE relname = 'host_software'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            tuples as i64
        }
    };
    assert_eq!(stats().await, -1, "no statistics before the refresh");
    h.store.refresh_statistics().await.unwrap();
    assert!(stats().await > 0, "statistics of host_software after the refresh");
}

/// PostgreSQL keeps host history by month (migration 0025). Retention drops the months wholly past its cutoff
/// (the table an upgrade found included), makes the coming months, and moves rows that waited in the default
/// partition, their month not made yet, into it when it is. What is left reads as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_goes_by_whole_months_on_postgres() {
    crate::common::run(crate::common::Backend::Postgres, history_goes_by_whole_months).await
}

async fn pg(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap()
}

/// The history's partitions: name and bound as PostgreSQL prints it.
async fn partitions(c: &mut sqlx::PgConnection) -> std::collections::BTreeMap<String, String> {
    sqlx::query_as::<_, (String, String)>(
        "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'history'::regclass",
    )
    .fetch_all(c)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

async fn rows(c: &mut sqlx::PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(c).await.unwrap()
}

/// The end of the partition an upgrade made of the old table (`… TO ('1798761600000')`).
fn upgraded_until(bounds: &std::collections::BTreeMap<String, String>) -> chrono::DateTime<chrono::Utc> {
    let bound = &bounds["history_before_months"];
    assert!(bound.starts_with("FOR VALUES FROM (MINVALUE) TO ('"), "{bound}");
    let ms: i64 = bound.rsplit("TO ('").next().unwrap().trim_end_matches("')").parse().unwrap();
    chrono::DateTime::from_timestamp_millis(ms).unwrap()
}

fn month_of(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("history_y%Ym%m").to_string()
}

async fn history_goes_by_whole_months(h: Harness) {
    use chrono::Duration;
    let (host_id, token, report) = one_host(&h).await;
    let upgrade = |version: &str| delta(&with_openssl(&report, version), &[SectionName::Software]);
    // Each upgrade of openssl and libssl3 is two history rows. The first lands in the partition an upgrade makes of
    // the old table: the whole past up to the end of the month the migration ran in (a fresh database's too).
    h.advance(Duration::hours(1));
    h.stored(&token, &upgrade("3.0.16-1~deb12u1")).await;
    let mut c = pg(h.database_url.as_deref().unwrap()).await;
    let bounds = partitions(&mut c).await;
    assert_eq!(bounds.len(), 2, "the old table and the default: {bounds:?}");
    assert_eq!(bounds["history_default"], "DEFAULT");
    let until = upgraded_until(&bounds);
    assert!(until > h.now(), "{until}");
    assert_eq!(rows(&mut c, "history_before_months").await, 2);

    // Ten days into the first month after it, the daily run makes that month and the next two.
    h.advance(until + Duration::days(10) - h.now());
    let first = h.now();
    retention::prune(h.store.as_ref(), &Retention::default(), first, &|| true).await.unwrap();
    let made: Vec<String> = (0..3).map(|m| month_of(first + Duration::days(31 * m) - Duration::days(9))).collect();
    let bounds = partitions(&mut c).await;
    assert!(made.iter().all(|m| bounds.contains_key(m)), "{made:?} in {bounds:?}");
    assert_eq!(bounds.len(), 5, "{bounds:?}");

    h.stored(&token, &upgrade("3.0.17-1~deb12u1")).await;
    assert_eq!(rows(&mut c, &made[0]).await, 2);
    h.advance(Duration::days(40));
    h.stored(&token, &upgrade("3.0.18-1~deb12u1")).await;
    assert_eq!(rows(&mut c, &made[1]).await, 2);
    // 105 days on, the month is one nobody made yet: the rows wait in the default partition.
    h.advance(Duration::days(65));
    h.stored(&token, &upgrade("3.0.19-1~deb12u1")).await;
    assert_eq!(rows(&mut c, "history_default").await, 2);
    assert_eq!(rows(&mut c, "history").await, 8);

    // Kept 45 days: the cutoff falls in the third month made, after the first two and the old table ended.
    let now = h.now();
    let retention = Retention { history: std::time::Duration::from_secs(45 * 86_400), ..Retention::default() };
    let pruned = retention::prune(h.store.as_ref(), &retention, now, &|| true).await.unwrap();
    assert_eq!(pruned.history, 6, "three partitions of two rows each, dropped whole");
    let bounds = partitions(&mut c).await;
    for gone in ["history_before_months", &made[0], &made[1]] {
        assert!(!bounds.contains_key(gone), "{gone} in {bounds:?}");
    }
    assert!(bounds.contains_key(&made[2]), "{bounds:?}");
    // The month that waited was made, its rows moved in from the default partition.
    let this_month = month_of(now);
    assert!(!made.contains(&this_month));
    assert_eq!(rows(&mut c, &this_month).await, 2);
    assert_eq!(rows(&mut c, "history_default").await, 0);
    assert_eq!(rows(&mut c, "history").await, 2);

    let history = h.store.host_history(&host_id, 100, 0).await.unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert!(history.iter().all(|e| e.at == now && e.to.as_deref() == Some("3.0.19-1~deb12u1")), "{history:?}");
    let audited = h.store.search_audit(None, Some("retention.pruned"), 10).await.unwrap();
    assert_eq!(audited[0].details["history"], 6);

    // The ids go on without the old table that first held their sequence.
    h.advance(Duration::hours(1));
    h.stored(&token, &upgrade("3.0.20-1~deb12u1")).await;
    assert_eq!(h.store.host_history(&host_id, 100, 0).await.unwrap().len(), 4);
}

/// A collector upgraded to migration 0025 keeps the history it finds: the old table becomes one partition, read
/// as before, ids going on from its sequence; retention later drops it whole, and the sequence stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_keeps_the_history_it_finds_and_later_drops_it_whole() {
    use chrono::TimeZone;
    use sqlx::Connection;
    muster_collector::install_crypto_provider();
    let name = format!("muster_test_{}", muster_collector::tokens::new_id().unwrap());
    let mut admin = sqlx::PgConnection::connect(crate::common::PG_ADMIN_URL).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");

    // The schema as a collector before 0025 left it, from the migrations it ran.
    let before = tempfile::tempdir().unwrap();
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    for entry in std::fs::read_dir(&migrations).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_str().unwrap() < "0025" {
            std::fs::copy(&path, before.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut c = pg(&url).await;
    sqlx::migrate::Migrator::new(before.path()).await.unwrap().run(&mut c).await.unwrap();
    let at = |d: u32| chrono::Utc.with_ymd_and_hms(2025, 6, d, 9, 0, 0).unwrap().timestamp_millis();
    sqlx::query("INSERT INTO hosts (id, hostname, first_seen, last_seen) VALUES ('h1', 'old-laptop', $1, $1)")
        .bind(at(1))
        .execute(&mut c)
        .await
        .unwrap();
    for (day, version) in [(2, "3.0.11"), (9, "3.0.13"), (16, "3.0.15")] {
        sqlx::query(
            "INSERT INTO history (host_id, at, kind, subject, to_value) VALUES ('h1', $1, 'package_upgraded', 'openssl', $2)",
        )
        .bind(at(day))
        .bind(version)
        .execute(&mut c)
        .await
        .unwrap();
    }
    // And one written while the server's clock was years ahead.
    let ahead = chrono::Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap().timestamp_millis();
    sqlx::query(
        "INSERT INTO history (host_id, at, kind, subject, to_value) VALUES ('h1', $1, 'package_upgraded', 'curl', '9')",
    )
    .bind(ahead)
    .execute(&mut c)
    .await
    .unwrap();
    let old_max: i64 = sqlx::query_scalar("SELECT max(id) FROM history").fetch_one(&mut c).await.unwrap();

    let store = muster_collector::store::PgStore::open(&url).await.unwrap();
    let history = muster_collector::store::Store::host_history(&store, "h1", 100, 0).await.unwrap();
    let versions: Vec<&str> = history.iter().filter_map(|e| e.to.as_deref()).collect();
    assert_eq!(versions, ["9", "3.0.15", "3.0.13", "3.0.11"], "newest first, as before: {history:?}");
    let bounds = partitions(&mut c).await;
    assert_eq!(rows(&mut c, "history_before_months").await, 3, "{bounds:?}");
    // The old table ends with the upgrade's month, not with the row from the clock set ahead, which waits in the
    // default partition: the months between still get made.
    let until = upgraded_until(&bounds);
    assert!(until <= chrono::Utc::now() + chrono::Duration::days(31), "{until}");
    assert_eq!(rows(&mut c, "history_default").await, 1);
    let insert = "INSERT INTO history (host_id, at, kind, subject, to_value) \
                  VALUES ('h1', $1, 'package_upgraded', 'openssl', '3.0.17') RETURNING id";
    let id: i64 = sqlx::query_scalar(insert).bind(until.timestamp_millis() + 1).fetch_one(&mut c).await.unwrap();
    assert!(id > old_max, "{id} after {old_max}");

    // A year and more after the old table's end: it goes whole with its three rows, and the row written after the
    // upgrade, as old by then, goes by batch from the default partition it waited in.
    let now = until + chrono::Duration::days(401);
    let pruned = retention::prune(&store, &Retention::default(), now, &|| true).await.unwrap();
    assert_eq!(pruned.history, 4);
    assert_eq!(rows(&mut c, "history_default").await, 1, "the row from the clock set ahead is not old");
    let bounds = partitions(&mut c).await;
    assert!(!bounds.contains_key("history_before_months"), "{bounds:?}");
    assert!(bounds.contains_key(&month_of(now)), "the months after the old table are made: {bounds:?}");
    let next: i64 = sqlx::query_scalar(insert).bind(now.timestamp_millis()).fetch_one(&mut c).await.unwrap();
    assert!(next > id, "{next} after {id}");
    let history = muster_collector::store::Store::host_history(&store, "h1", 100, 0).await.unwrap();
    let versions: Vec<&str> = history.iter().filter_map(|e| e.to.as_deref()).collect();
    assert_eq!(versions, ["9", "3.0.17"], "{history:?}");
    assert_eq!(history[1].id, next);

    store.close().await;
    drop(c);
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
}

/// Making a month locks `hosts` and `history` in the order a report's transaction takes them (its host, then its
/// history), so a report under way and the making wait for each other in turn instead of deadlocking. A row that
/// the report wrote in the month meanwhile (into the default partition) leaves that month to the next run, which
/// moves the row in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_is_made_beside_a_report_writing_history_on_postgres() {
    crate::common::run(crate::common::Backend::Postgres, a_month_is_made_beside_a_report_writing_history).await
}

async fn a_month_is_made_beside_a_report_writing_history(h: Harness) {
    use sqlx::Connection;
    let (_, secret) = h.enroll_secret(None).await;
    let (host_id, _) = h.enrolled(&secret, &Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f")).await;
    let url = h.database_url.clone().unwrap();
    let mut c = pg(&url).await;
    let now = upgraded_until(&partitions(&mut c).await) + chrono::Duration::days(10);

    // A report's transaction, in the order `store/tx.rs` writes: its host first.
    let mut report = pg(&url).await;
    let mut tx = report.begin().await.unwrap();
    sqlx::query("UPDATE hosts SET last_seen = $2 WHERE id = $1")
        .bind(&host_id)
        .bind(now.timestamp_millis())
        .execute(&mut *tx)
        .await
        .unwrap();
    let store = h.store.clone();
    let making = tokio::spawn(async move { store.prepare_partitions(now).await });
    // The making waits for the report's host.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the making never waited for the report");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The report goes on to its history and commits: nothing it needs is held by the making.
    sqlx::query(
        "INSERT INTO history (host_id, at, kind, subject, to_value) VALUES ($1, $2, 'package_upgraded', 'openssl', '3')",
    )
    .bind(&host_id)
    .bind(now.timestamp_millis())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // The two months ahead are made; this month's row arrived while it waited, so this month is left to the next run.
    assert_eq!(making.await.unwrap().unwrap(), 2);
    assert_eq!(rows(&mut c, "history_default").await, 1);
    assert!(!partitions(&mut c).await.contains_key(&month_of(now)));
    assert_eq!(h.store.prepare_partitions(now).await.unwrap(), 1);
    assert_eq!(rows(&mut c, "history_default").await, 0);
    assert_eq!(rows(&mut c, &month_of(now)).await, 1);
}

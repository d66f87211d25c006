//! Benchmark: the built-in policy against 10,000 hosts made from the real reports in `testdata/reports`, first as
//! pure rule evaluation, then (with `--store`) through a SQLite store: ingest, a first evaluation that opens the
//! findings, a steady-state evaluation that changes nothing, and a day of scheduled runs that evaluate only the
//! hosts due (`rules::timing`).
//!
//! `cargo run --release -p muster-collector --example rules_bench -- [HOSTS] [--store]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use muster_collector::app::enrol::{EnrollInput, enrol_host};
use muster_collector::app::ingest::{IngestInput, store_report};
use muster_collector::app::{evaluation, findings};
use muster_collector::identity::Windows;
use muster_collector::rules::{HostFacts, Rules};
use muster_collector::store::SqliteStore;
use muster_collector::store::findings::FindingsStore;
use muster_shared::v1::{CheckStatus, PendingUpdate, Report, section_hashes};

const CHECKS_TO_VARY: [&str; 8] = [
    "ssh.permit_root_login",
    "ssh.password_authentication",
    "accounts.empty_password",
    "firewall.active",
    "disk.encryption",
    "kernel.aslr",
    "sudo.nopasswd",
    "time.sync",
];

/// Host `i`: one of the two real reports, some checks flipped to fail, some with a pending security update, and
/// every fifth on an older OS release so end-of-life rules match too.
fn host_report(i: usize, bases: &[Report]) -> Report {
    let mut r = bases[i % bases.len()].clone();
    let host = r.host.get_or_insert_with(Default::default);
    host.hostname = Some(format!("host-{i:05}"));
    host.machine_id = Some(format!("{i:032x}"));
    for (bit, id) in CHECKS_TO_VARY.iter().enumerate() {
        if let Some(c) = r.checks.as_mut().unwrap().iter_mut().find(|c| c.id == *id) {
            let fail = (i >> bit) & 1 == 1;
            c.status = if fail { CheckStatus::Fail } else { CheckStatus::Pass };
            c.evidence = vec![format!("benchmark host {i}: {id} {}", if fail { "fails" } else { "passes" })];
        }
    }
    if i.is_multiple_of(3) {
        r.patches = Some(muster_shared::v1::Patches {
            manager: Some("apt".into()),
            pending: Some(vec![PendingUpdate {
                name: "libssl3".into(),
                arch: Some("amd64".into()),
                installed_version: "3.0.15-1~deb12u1".into(),
                candidate_version: "3.0.16-1~deb12u1".into(),
                security: true,
                origin: Some("Debian-Security/bookworm-security".into()),
            }]),
            ..Default::default()
        });
    }
    if i.is_multiple_of(5)
        && let Some(os) = r.os.as_mut()
    {
        os.version_id = Some(if os.id.as_deref() == Some("debian") { "10" } else { "20.04" }.into());
    }
    r
}

fn load(file: &str) -> Report {
    let path = format!("{}/testdata/reports/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hosts: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let with_store = args.iter().any(|a| a == "--store");
    let bases = [load("debian12-thinkpad-t480s.json"), load("ubuntu2404-vmware.json")];
    let policy = Rules::builtin().unwrap().current();
    let seen = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let now = seen + Duration::days(20);

    let t = Instant::now();
    let facts: Vec<HostFacts> = (0..hosts)
        .map(|i| {
            let mut f = HostFacts::from_report(&format!("h{i:05}"), &host_report(i, &bases), seen, seen);
            // Most hosts reported recently; one in ten has been away for 9 days.
            f.last_seen = if i.is_multiple_of(10) { now - Duration::days(9) } else { now - Duration::hours(1) };
            f
        })
        .collect();
    let built = t.elapsed();

    let t = Instant::now();
    let mut matches: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = 0;
    for f in &facts {
        let e = policy.evaluate(f, now);
        failures += e.failures.len();
        for m in e.matches {
            *matches.entry(m.rule_id).or_default() += 1;
        }
    }
    let evaluated = t.elapsed();
    println!("{hosts} hosts x {} rules (built-in policy)", policy.rules.len());
    println!("  facts built from reports: {built:.2?}");
    println!(
        "  rule evaluation:          {evaluated:.2?} ({:.1} µs/host), {} matches, {failures} rule failures",
        evaluated.as_secs_f64() * 1e6 / hosts as f64,
        matches.values().sum::<usize>()
    );
    for (rule, n) in &matches {
        println!("    {rule:<28} {n}");
    }
    if !with_store {
        return;
    }

    muster_collector::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("muster-rules-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&format!("sqlite://{}", dir.join("bench.db").display())).await.unwrap();
    let t = Instant::now();
    for i in 0..hosts {
        let mut report = host_report(i, &bases);
        report.software = None;
        let outcome = enrol_host(
            &store,
            &EnrollInput {
                hostname: format!("host-{i:05}"),
                machine_id: Some(format!("{i:032x}")),
                hardware_identity: None,
                agent_version: "0.1.0".into(),
                tags: Vec::new(),
                token_hash: format!("bench-token-{i}"),
                new_host_id: format!("h{i:05}"),
                proven_host: None,
                source_ip: None,
            },
            "none",
            seen,
            Windows { live_since: seen, not_stale_since: seen },
        )
        .await
        .unwrap();
        let input = IngestInput {
            report_id: format!("r{i}"),
            hashes: section_hashes(&report),
            report,
            received_at: seen,
            forget_reports_before: seen - Duration::days(30),
        };
        store_report(&store, &outcome.host_id, &input).await.unwrap();
        // As the queue does before evaluating: when each pending security update was first seen.
        let facts = store.host_facts(&outcome.host_id).await.unwrap().unwrap();
        if let (_, Some(changes)) = findings::with_pending(facts, seen) {
            let mut tx = store.begin_findings_tx().await.unwrap();
            findings::record_pending_in(tx.as_mut(), &outcome.host_id, &changes).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
    println!("  SQLite: {hosts} hosts stored in {:.2?}", t.elapsed());
    use evaluation::Scope;
    let runs = [
        ("first evaluation (opens findings)", Scope::All),
        ("steady-state evaluation of every host (each scheduled run before issue 14)", Scope::All),
        ("scheduled run of the hosts due", Scope::Due),
    ];
    for (run, scope) in runs {
        let t = Instant::now();
        let summary = evaluation::evaluate_all(&store, &policy, now, scope).await.unwrap();
        println!(
            "  SQLite {run}: {:.2?} ({} hosts, {} not due, {} opened, {} resolved)",
            t.elapsed(),
            summary.hosts,
            summary.not_due,
            summary.changes.opened,
            summary.changes.resolved
        );
    }
    // A day of the default schedule: a run every 15 minutes, each evaluating the hosts whose counts moved.
    let (t, mut evaluated, mut changed) = (Instant::now(), 0, 0);
    for quarter in 1..=96 {
        let at = now + Duration::minutes(15 * quarter);
        let summary = evaluation::evaluate_all(&store, &policy, at, Scope::Due).await.unwrap();
        evaluated += summary.hosts;
        changed += summary.changes.opened + summary.changes.resolved;
    }
    println!(
        "  SQLite a day of scheduled runs (96, one per 15 min): {:.2?} ({evaluated} host evaluations, {:.1} per host; \
         {changed} findings opened or resolved)",
        t.elapsed(),
        evaluated as f64 / hosts as f64
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

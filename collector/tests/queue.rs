//! Evaluation off the request path (issue 14), on both stores: a report is answered once stored and its
//! evaluation and matching wait in the queue; drained, they give exactly the findings the inline path gives for
//! the same reports; repeated reports of one host coalesce; and a hash-only report from a host seen lately queues
//! nothing.

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::http::StatusCode;
use muster_collector::app::advisory_sync;
use muster_collector::app::queue;
use muster_collector::model::Role;
use muster_collector::store::work::WorkItem;
use muster_collector::store::{Store, StoreError};
use muster_collector::vuln::{AdvisoryDb, ImportLimits, import_paths};
use muster_shared::v1::{CheckStatus, Report, SectionName};

use crate::common::{Backend, Harness, Machine, debian, delta, full, ubuntu};

both!(
    queued_evaluation_gives_the_inline_findings,
    a_hash_only_report_queues_nothing_unless_the_host_was_silent,
    claims_are_leased_and_newer_work_survives_a_finish,
    a_failing_match_leaves_the_rules_findings_written_and_the_host_queued,
);

/// (kind, rule or advisory, subject, severity, status, priority) of a host's findings.
type Finding = (String, String, String, String, String, i64);

async fn findings(h: &Harness, token: &str, host_id: &str) -> BTreeSet<Finding> {
    let (status, body) = h.get(&format!("/api/v1/hosts/{host_id}/findings?limit=1000"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let s = |f: &serde_json::Value, k: &str| f[k].as_str().unwrap_or_default().to_owned();
    body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let priority = f["priority"].as_i64().unwrap_or_default();
            (s(f, "kind"), s(f, "rule_id"), s(f, "subject"), s(f, "severity"), s(f, "status"), priority)
        })
        .collect()
}

async fn import_debian(h: &Harness) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/advisories/debian/debian-osv-subset.jsonl");
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, &[path], &ImportLimits::files(), &mut |_| {});
    assert_eq!(outcome.summary.errors, Vec::<String>::new());
    advisory_sync::store_import(h.store.as_ref(), &db, outcome.summary, h.now(), &Default::default()).await.unwrap();
}

/// The real ThinkPad report of `machine` with glibc at an earlier real version (2.36-9+deb12u3, which the Debian
/// advisories name).
fn old_glibc(machine: &Machine) -> Report {
    let mut r = debian(machine);
    for p in r.software.as_mut().unwrap().packages.iter_mut().filter(|p| p.source_name.as_deref() == Some("glibc")) {
        p.version = "2.36-9+deb12u3".into();
        p.source_version = Some("2.36-9+deb12u3".into());
    }
    r
}

/// The same with root SSH logins allowed.
fn weak(machine: &Machine) -> Report {
    let mut r = old_glibc(machine);
    let check = r.checks.as_mut().unwrap().iter_mut().find(|c| c.id == "ssh.permit_root_login").unwrap();
    check.status = CheckStatus::Fail;
    check.evidence = vec!["/etc/ssh/sshd_config:32: PermitRootLogin yes".to_owned()];
    check.reason = None;
    r
}

async fn queued_evaluation_gives_the_inline_findings(h: Harness) {
    import_debian(&h).await;
    let queued = h.queued();
    let (_, secret) = h.enroll_secret(None).await;
    let viewer = h.api_token(Role::Viewer).await;
    let inline_machine = Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732");
    let queued_machine = Machine::thinkpad("0b6c8c44c7a04f3c9c1e2d7a5b3f9e01");
    let (inline_host, inline_token) = h.enrolled(&secret, &inline_machine).await;
    let (queued_host, queued_token) = queued.enrolled(&secret, &queued_machine).await;

    // The inline path answers after evaluating: the findings are there.
    h.stored(&inline_token, &full(&weak(&inline_machine))).await;
    let expected = findings(&h, &viewer, &inline_host).await;
    assert!(expected.iter().any(|f| f.0 == "vulnerability"), "the Debian advisories match: {expected:?}");
    assert!(expected.iter().any(|f| f.1 == "ssh.permit_root_login"), "{expected:?}");

    // The queued path answers once the report is stored; nothing is evaluated until the queue is drained.
    queued.stored(&queued_token, &full(&weak(&queued_machine))).await;
    assert_eq!(findings(&queued, &viewer, &queued_host).await, BTreeSet::new());
    let backlog = h.store.work_backlog().await.unwrap();
    assert_eq!((backlog.hosts, backlog.oldest), (1, Some(h.now())));
    // A second report before the worker ran (the checks fixed) coalesces into the same queued work.
    let mut fixed = old_glibc(&queued_machine);
    fixed.collected_at += chrono::Duration::minutes(5);
    queued.stored(&queued_token, &delta(&fixed, &[SectionName::Checks])).await;
    assert_eq!(h.store.work_backlog().await.unwrap().hosts, 1);
    assert_eq!(queue::drain(&queued.state).await.unwrap(), 1, "one host's work, done once");
    assert_eq!(h.store.work_backlog().await.unwrap(), Default::default());

    // The inline host gets the same two reports: both paths end with the same findings, but for the one the
    // inline host saw open and resolved between the two.
    let mut fixed_inline = old_glibc(&inline_machine);
    fixed_inline.collected_at += chrono::Duration::minutes(5);
    h.stored(&inline_token, &delta(&fixed_inline, &[SectionName::Checks])).await;
    let inline_after = findings(&h, &viewer, &inline_host).await;
    let queued_after = findings(&queued, &viewer, &queued_host).await;
    // Coalesced, the queued host never saw the weak configuration: its finding was never opened, where the inline
    // host's was opened and then resolved.
    let root_login = |set: &BTreeSet<Finding>| set.iter().find(|f| f.1 == "ssh.permit_root_login").map(|f| f.4.clone());
    assert_eq!(root_login(&inline_after).as_deref(), Some("resolved"));
    assert_eq!(root_login(&queued_after), None);
    assert_eq!(
        inline_after.iter().filter(|f| f.1 != "ssh.permit_root_login").collect::<Vec<_>>(),
        queued_after.iter().collect::<Vec<_>>()
    );
    assert!(queued_after.iter().any(|f| f.0 == "vulnerability"));
}

async fn a_hash_only_report_queues_nothing_unless_the_host_was_silent(h: Harness) {
    let queued = h.queued();
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732");
    let (_host, token) = queued.enrolled(&secret, &machine).await;
    let report = debian(&machine);
    queued.stored(&token, &full(&report)).await;
    assert_eq!(queue::drain(&queued.state).await.unwrap(), 1);

    // An hour later the same inventory as hashes only: stored (last seen moves), nothing queued.
    h.advance(chrono::Duration::hours(1));
    let mut again = report.clone();
    again.collected_at += chrono::Duration::hours(1);
    queued.stored(&token, &delta(&again, &[])).await;
    assert_eq!(h.store.work_backlog().await.unwrap().hosts, 0);

    // After two days of silence the same hash-only report is evaluated: the days since it was last seen changed.
    h.advance(chrono::Duration::days(2));
    again.collected_at += chrono::Duration::days(2);
    queued.stored(&token, &delta(&again, &[])).await;
    assert_eq!(h.store.work_backlog().await.unwrap().hosts, 1);

    assert_eq!(queue::drain(&queued.state).await.unwrap(), 1);
    assert_eq!(h.store.work_backlog().await.unwrap(), Default::default());
}

/// The store's side of the queue: a claim is a lease other workers skip, a report arriving during the work keeps
/// the host queued, a failure waits for its retry time, and a dead process's claims come free.
async fn claims_are_leased_and_newer_work_survives_a_finish(h: Harness) {
    let queued = h.queued();
    let (_, secret) = h.enroll_secret(None).await;
    let thinkpad = Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732");
    let vmware = Machine::vmware("0b6c8c44c7a04f3c9c1e2d7a5b3f9e01");
    let (first, first_token) = queued.enrolled(&secret, &thinkpad).await;
    queued.stored(&first_token, &full(&debian(&thinkpad))).await;
    h.advance(chrono::Duration::seconds(1));
    let (second, second_token) = queued.enrolled(&secret, &vmware).await;
    queued.stored(&second_token, &full(&ubuntu(&vmware))).await;
    let store = h.store.as_ref();
    let now = h.now();
    let lease = now + chrono::Duration::minutes(2);

    // Oldest first, one host per claim; a leased host is skipped.
    let a = store.claim_work("a", now, lease, 1, None).await.unwrap();
    assert_eq!(
        a.iter().map(|i| (i.host_id.as_str(), i.work, i.seq, i.attempts)).collect::<Vec<_>>(),
        [(first.as_str(), queue::EVALUATE | queue::MATCH, 1, 1)]
    );
    let b = store.claim_work("b", now, lease, 10, None).await.unwrap();
    assert_eq!(b.iter().map(|i| i.host_id.as_str()).collect::<Vec<_>>(), [second.as_str()]);
    assert!(store.claim_work("c", now, lease, 10, None).await.unwrap().is_empty());

    // A checks-only report of the first host while "a" works on it: finishing the older state leaves the newer.
    let mut later = debian(&thinkpad);
    later.collected_at += chrono::Duration::minutes(1);
    queued.stored(&first_token, &delta(&later, &[SectionName::Checks])).await;
    assert!(!finish(store, &a[0]).await.unwrap());
    let again = store.claim_work("c", now, lease, 10, None).await.unwrap();
    assert_eq!(again.iter().map(|i| (i.host_id.as_str(), i.seq)).collect::<Vec<_>>(), [(first.as_str(), 2)]);
    assert_eq!(again[0].work, queue::EVALUATE | queue::MATCH, "the kinds of work coalesce");
    assert!(finish(store, &again[0]).await.unwrap());

    // A failure waits for its retry time.
    store.retry_work(&b[0], now + chrono::Duration::seconds(10)).await.unwrap();
    assert!(store.claim_work("c", now, lease, 10, None).await.unwrap().is_empty());
    let retried = store.claim_work("c", now + chrono::Duration::seconds(10), lease, 10, None).await.unwrap();
    assert_eq!(retried.iter().map(|i| (i.host_id.as_str(), i.attempts)).collect::<Vec<_>>(), [(second.as_str(), 2)]);

    // "c" dies holding it. On SQLite (one process per file) the next process frees it at start; on PostgreSQL
    // other replicas' claims are live, so it comes free when its lease ends.
    let freed = store.release_dead_claims("d").await.unwrap();
    match h.backend {
        Backend::Sqlite => {
            assert_eq!(freed, 1);
            assert_eq!(store.claim_work("d", now, lease, 10, None).await.unwrap().len(), 1);
        }
        Backend::Postgres => {
            assert_eq!(freed, 0);
            assert!(store.claim_work("d", now, lease, 10, None).await.unwrap().is_empty());
            assert_eq!(store.claim_work("d", lease, lease, 10, None).await.unwrap().len(), 1);
        }
    }

    // A worker that outlives its lease: "late" claims the first host, its lease runs out, "e" claims the host,
    // finishes it, and a newer report queues it again. Late, "late" finishes (or fails): the newer work stays.
    let mut newer = debian(&thinkpad);
    newer.collected_at += chrono::Duration::minutes(2);
    queued.stored(&first_token, &delta(&newer, &[SectionName::Checks])).await;
    let late = store.claim_work("late", now, lease, 10, Some(first.as_str())).await.unwrap();
    assert_eq!(late.len(), 1);
    let taken = store.claim_work("e", lease, lease + chrono::Duration::minutes(2), 10, Some(first.as_str()));
    let taken = taken.await.unwrap();
    assert_eq!(taken.iter().map(|i| i.seq).collect::<Vec<_>>(), [late[0].seq], "the lease ran out");
    assert!(finish(store, &taken[0]).await.unwrap());
    newer.collected_at += chrono::Duration::minutes(1);
    queued.stored(&first_token, &delta(&newer, &[SectionName::Checks])).await;
    assert_eq!(late[0].seq, 1, "the new row's seq repeats the late claim's");
    assert!(!finish(store, &late[0]).await.unwrap());
    store.retry_work(&late[0], lease + chrono::Duration::hours(1)).await.unwrap();
    let left = store.claim_work("f", now, lease, 10, Some(first.as_str())).await.unwrap();
    assert_eq!(
        left.iter().map(|i| (i.host_id.as_str(), i.work, i.attempts)).collect::<Vec<_>>(),
        [(first.as_str(), queue::EVALUATE, 1)],
        "the newest report's work is queued and free"
    );
}

/// Matching that fails (here on advisory rows the store cannot read) does not hold back the rules' findings: they
/// are written with the rest of the host's work, and the claim is left for the retry of the whole work.
async fn a_failing_match_leaves_the_rules_findings_written_and_the_host_queued(h: Harness) {
    import_debian(&h).await;
    h.execute("UPDATE advisories SET aliases = 'not a JSON list'").await;
    let queued = h.queued();
    let (_, secret) = h.enroll_secret(None).await;
    let viewer = h.api_token(Role::Viewer).await;
    let machine = Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732");
    let (host, token) = queued.enrolled(&secret, &machine).await;
    queued.stored(&token, &full(&weak(&machine))).await;

    assert_eq!(queue::drain(&queued.state).await.unwrap(), 0, "the host's work failed");
    let found = findings(&queued, &viewer, &host).await;
    assert!(found.iter().any(|f| f.1 == "ssh.permit_root_login" && f.4 == "open"), "{found:?}");
    assert!(!found.iter().any(|f| f.0 == "vulnerability"), "{found:?}");
    let backlog = h.store.work_backlog().await.unwrap();
    assert_eq!(backlog.hosts, 1, "the host stays queued for the retry");
}

/// Ends a claim as a queue worker does: in a findings transaction of its own here, with nothing else written.
async fn finish(store: &dyn Store, item: &WorkItem) -> Result<bool, StoreError> {
    let mut tx = store.begin_findings_tx().await?;
    let done = tx.finish_work(item).await?;
    tx.commit().await?;
    Ok(done)
}

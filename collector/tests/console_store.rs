//! The console's storage on both stores: users and sign-in sessions, sign-in failure counting, the dashboard's
//! numbers and the host list over a fleet built from the real fixture reports, and the daily findings trend.
//!
//! Over 600 lines: one scenario per store query on both backends, sharing the fleet builder at the top.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use muster_collector::app::advisory_sync as sync;
use muster_collector::app::evaluation as schedule;
use muster_collector::app::findings as app_findings;
use muster_collector::findings::actions::TransitionRequest;
use muster_collector::findings::{Action, FindingFilter, FindingKind};
use muster_collector::model::Role;
use muster_collector::store::console::{
    ConsoleHostFilter, ConsoleHostRow, DashboardCounts, HostAges, HostSort, HostStatus, KevPresent, TrendPoint,
    VulnerablePackage,
};
use muster_collector::store::users::{NewSession, NewUser, SessionUser, SsoLogin, UserRecord};
use muster_collector::vuln::{AdvisoryDb, ImportLimits, import_paths};
use muster_collector::{AppState, ServicePolicy};
use muster_shared::v1::{CheckStatus, EnrollRequest, Report};

use crate::common::{self, Harness, Machine, full};

both!(
    users_roles_and_disabling,
    password_change_keeps_only_the_current_session,
    sessions_expire_by_the_clock,
    login_failures_count_forget_and_prune,
    dashboard_counts_a_triaged_fleet,
    host_list_filters,
    host_list_sorts_and_pages,
    trend_snapshots_replace_and_read_by_range,
    the_last_admin_stays_even_under_concurrent_changes,
    software_sample_keeps_full_counts,
    sso_logins_work_once_expire_and_are_capped,
    sso_users_are_keyed_by_issuer_and_subject,
);

fn sso_login(state: &str, at: DateTime<Utc>) -> SsoLogin {
    SsoLogin {
        state_hash: format!("state-{state}"),
        browser_hash: format!("browser-{state}"),
        nonce: format!("nonce-{state}"),
        verifier: format!("verifier-{state}"),
        next: "/findings?severity=high".to_owned(),
        created_at: at,
        expires_at: at + Duration::minutes(10),
    }
}

/// A state is taken once; an expired one is refused (and removed); unauthenticated starts cannot pile up past
/// the cap, and expired rows make room again.
async fn sso_logins_work_once_expire_and_are_capped(h: Harness) {
    let t0 = h.now();
    let s = h.store.as_ref();
    let a = sso_login("a", t0);
    assert!(s.begin_sso_login(&a, 3, t0).await.unwrap());
    assert_eq!(s.take_sso_login("state-a", t0 + Duration::minutes(1)).await.unwrap(), Some(a.clone()));
    assert_eq!(s.take_sso_login("state-a", t0 + Duration::minutes(1)).await.unwrap(), None, "used once");
    assert_eq!(s.take_sso_login("state-unknown", t0).await.unwrap(), None);

    assert!(s.begin_sso_login(&sso_login("b", t0), 3, t0).await.unwrap());
    assert_eq!(s.take_sso_login("state-b", t0 + Duration::minutes(10)).await.unwrap(), None, "expired");
    assert_eq!(s.take_sso_login("state-b", t0).await.unwrap(), None, "and gone");

    for state in ["c", "d", "e"] {
        assert!(s.begin_sso_login(&sso_login(state, t0), 3, t0).await.unwrap());
    }
    assert!(!s.begin_sso_login(&sso_login("f", t0), 3, t0).await.unwrap(), "the cap holds");
    let later = t0 + Duration::minutes(11);
    assert!(s.begin_sso_login(&sso_login("g", later), 3, later).await.unwrap(), "expired ones made room");
    assert_eq!(s.take_sso_login("state-c", later).await.unwrap(), None, "pruned");
    assert_eq!(s.take_sso_login("state-g", later).await.unwrap().map(|l| l.nonce), Some("nonce-g".to_owned()));
}

/// Provider users are found by issuer and subject, never by name; a local name is never taken over; the
/// provider's disabling is undone by the provider, an admin's is not.
async fn sso_users_are_keyed_by_issuer_and_subject(h: Harness) {
    let t0 = h.now();
    let s = h.store.as_ref();
    const IDP: &str = "https://login.example.com/realms/corp";
    assert!(s.create_user(&new_user("u-local", "ann", Role::Admin, false, t0)).await.unwrap());
    let ann = NewUser { password_hash: String::new(), ..new_user("u-sso-ann", "ann", Role::Viewer, false, t0) };
    assert!(!s.create_sso_user(&ann, IDP, "sub-ann").await.unwrap(), "the local ann keeps her name");
    let kim = NewUser { password_hash: String::new(), ..new_user("u-kim", "kim", Role::Viewer, false, t0) };
    assert!(s.create_sso_user(&kim, IDP, "sub-kim").await.unwrap());
    assert!(
        !s.create_sso_user(&NewUser { id: "u-kim2".into(), name: "kim2".into(), ..kim.clone() }, IDP, "sub-kim")
            .await
            .unwrap(),
        "one user per subject"
    );
    let found = s.sso_user(IDP, "sub-kim").await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.name.as_str(), found.role), ("u-kim", "kim", Role::Viewer));
    assert_eq!((found.sso_issuer.as_deref(), found.password_hash.as_str()), (Some(IDP), ""));
    assert_eq!(s.sso_user("https://other.example", "sub-kim").await.unwrap(), None, "subjects are per issuer");
    assert_eq!(s.sso_user(IDP, "sub-ann").await.unwrap(), None);
    assert!(s.user_by_name("ann").await.unwrap().unwrap().sso_issuer.is_none());

    s.create_session(&session_for("kim-session", "u-kim", t0, Duration::hours(8))).await.unwrap();
    assert!(s.disable_sso_user("u-kim", t0).await.unwrap());
    assert!(!s.disable_sso_user("u-kim", t0).await.unwrap(), "disabled already");
    assert!(!s.disable_sso_user("u-local", t0).await.unwrap(), "only provider users");
    assert_eq!(s.session("kim-session", t0).await.unwrap(), None, "sessions ended");
    let kim_now = s.user_by_id("u-kim").await.unwrap().unwrap();
    assert_eq!((kim_now.disabled_at, kim_now.disabled_reason.as_deref()), (Some(t0), Some("sso")));

    s.update_sso_user("u-kim", Role::Analyst).await.unwrap();
    let kim_now = s.user_by_id("u-kim").await.unwrap().unwrap();
    assert_eq!((kim_now.role, kim_now.disabled_at, kim_now.disabled_reason), (Role::Analyst, None, None));

    // An admin's disabling stays whatever the provider says.
    assert!(s.disable_user("u-kim", t0).await.unwrap());
    s.update_sso_user("u-kim", Role::Admin).await.unwrap();
    let kim_now = s.user_by_id("u-kim").await.unwrap().unwrap();
    assert_eq!((kim_now.role, kim_now.disabled_at), (Role::Admin, Some(t0)));
    assert!(s.enable_user("u-kim").await.unwrap());
    s.update_sso_user("u-local", Role::Viewer).await.unwrap();
    assert_eq!(
        s.user_by_id("u-local").await.unwrap().unwrap().role,
        Role::Admin,
        "local accounts are not the provider's"
    );
}

/// Five hosts with the Debian image and one with Ubuntu: the sampled listing has the full per-version counts of
/// the complete one, and its hosts are the first ones by id.
async fn software_sample_keeps_full_counts(h: Harness) {
    let (_, secret) = h.enroll_secret(None).await;
    for (i, name) in ["d1", "d2", "d3", "d4", "d5", "u1"].iter().enumerate() {
        let (_, token) = enrol(&h, &secret, name, &[]).await;
        let report = if i < 5 { crate::common::debian(&machine(name)) } else { crate::common::ubuntu(&machine(name)) };
        h.stored(&token, &crate::common::full(&report)).await;
    }
    for package in ["libc6", "openssl", "glibc"] {
        let full = h.store.software_by_name(package).await.unwrap();
        let sample = h.store.software_by_name_sample(package, 2).await.unwrap();
        assert!(!full.is_empty(), "{package}");
        assert_eq!(full.len(), sample.len(), "{package}: the same versions");
        for (f, s) in full.iter().zip(&sample) {
            assert_eq!((&f.name, &f.version, &f.arch), (&s.name, &s.version, &s.arch));
            assert_eq!(f.host_count, s.host_count, "{package} {}: the full count", f.version);
            let mut ids: Vec<&str> = f.hosts.iter().map(|h| h.id.as_str()).collect();
            ids.sort();
            let mut first: Vec<&str> = ids.into_iter().take(2).collect();
            first.sort();
            let mut got: Vec<&str> = s.hosts.iter().map(|h| h.id.as_str()).collect();
            got.sort();
            assert_eq!(got, first, "{package} {}: the first hosts by id", f.version);
        }
    }
    let libc6 = h.store.software_by_name_sample("libc6", 2).await.unwrap();
    assert!(libc6.iter().any(|v| v.host_count == 5 && v.hosts.len() == 2), "{libc6:?}");
}

async fn the_last_admin_stays_even_under_concurrent_changes(h: Harness) {
    let s = h.store.clone();
    let t0 = h.now();
    for (id, name) in [("u-a", "a"), ("u-b", "b")] {
        assert!(s.create_user(&new_user(id, name, Role::Admin, false, t0)).await.unwrap());
    }
    // The store itself refuses to remove the last enabled admin.
    assert!(s.set_user_role("u-a", Role::Viewer).await.unwrap());
    assert!(!s.set_user_role("u-b", Role::Analyst).await.unwrap(), "b is the last admin");
    assert!(!s.disable_user("u-b", t0).await.unwrap());
    assert!(s.set_user_role("u-b", Role::Admin).await.unwrap(), "an admin may stay admin");
    assert!(s.set_user_role("u-a", Role::Admin).await.unwrap());
    // Two admins demoted and disabled at the same time, many times over: one admin always remains.
    for round in 0..10 {
        let (x, y) = (s.clone(), s.clone());
        let (first, second) =
            tokio::join!(x.set_user_role("u-a", Role::Viewer), y.disable_user("u-b", t0 + Duration::seconds(round)));
        let done = [first.unwrap(), second.unwrap()];
        assert_eq!(done.iter().filter(|d| **d).count(), 1, "round {round}: {done:?}");
        assert_eq!(s.count_admins().await.unwrap(), 1, "round {round}");
        assert!(s.set_user_role("u-a", Role::Admin).await.unwrap());
        assert!(
            s.enable_user("u-b").await.unwrap() || s.user_by_id("u-b").await.unwrap().unwrap().disabled_at.is_none()
        );
        assert!(s.set_user_role("u-b", Role::Admin).await.unwrap());
    }
}

// ---- fleet helpers ----

/// A machine of the lab fleet: its own machine id, no hardware identity at enrolment.
fn machine(hostname: &str) -> Machine {
    Machine { hostname: hostname.to_owned(), machine_id: Some(format!("mid-{hostname}")), uuid: None, serial: None }
}

/// Enrols `hostname` with `tags` at the harness clock; returns (host id, host token).
async fn enrol(h: &Harness, secret: &str, hostname: &str, tags: &[&str]) -> (String, String) {
    let m = machine(hostname);
    let request = EnrollRequest {
        secret: secret.to_owned(),
        hostname: m.hostname.clone(),
        machine_id: m.machine_id.clone(),
        system_uuid: None,
        system_serial: None,
        agent_version: "0.1.0".to_owned(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        previous_token: None,
    };
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/agent/enroll")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&request).unwrap()))
        .unwrap();
    let (status, _, body) = h.send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body["host_id"].as_str().unwrap().to_owned(), body["host_token"].as_str().unwrap().to_owned())
}

fn set_check(report: &mut Report, id: &str, status: CheckStatus) {
    let check = report.checks.as_mut().unwrap().iter_mut().find(|c| c.id == id).unwrap();
    check.status = status;
    check.evidence = vec![format!("{id} failed on this host")];
    check.reason = None;
}

/// The real ThinkPad report of `hostname` failing `checks`: `accounts.empty_password` opens a critical finding,
/// `ssh.permit_root_login` and `disk.encryption` high ones. Every Debian and Ubuntu fixture also opens one low
/// (`usb.storage_disabled`) and one info (`malware.scanner`) finding.
fn debian_failing(hostname: &str, checks: &[&str]) -> Report {
    let mut report = common::debian(&machine(hostname));
    for id in checks {
        set_check(&mut report, id, CheckStatus::Fail);
    }
    report
}

/// The same report claiming Debian 10, whose security support has ended: one high `os.end_of_life` finding.
fn debian_10(hostname: &str) -> Report {
    let mut report = common::debian(&machine(hostname));
    report.os.as_mut().unwrap().version_id = Some("10".into());
    report
}

fn with_serial(mut report: Report, serial: &str) -> Report {
    report.hardware.as_mut().unwrap().system.as_mut().unwrap().serial = Some(serial.to_owned());
    report
}

/// Every binary of `source` at `version`, an earlier real Debian version.
fn with_source(mut report: Report, source: &str, version: &str) -> Report {
    let packages = &mut report.software.as_mut().unwrap().packages;
    for p in packages.iter_mut().filter(|p| p.source_name.as_deref() == Some(source)) {
        p.version = version.into();
        p.source_version = Some(version.into());
    }
    report
}

/// Imports the Debian advisory subset and the KEV catalog from `testdata`.
async fn import_advisories(h: &Harness) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/advisories");
    let paths = [dir.join("debian/debian-osv-subset.jsonl"), dir.join("kev/known_exploited_vulnerabilities.json")];
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, &paths, &ImportLimits::files(), &mut |_| {});
    assert_eq!(outcome.summary.errors, Vec::<String>::new());
    sync::store_import(h.store.as_ref(), &db, outcome.summary, h.now(), &Default::default()).await.unwrap();
}

/// Ids of the findings on `host_id` for `rule_id` (one per subject), by subject.
async fn finding_ids(h: &Harness, host_id: &str, kind: FindingKind, rule_id: &str) -> Vec<String> {
    let filter = FindingFilter {
        severity: None,
        status: None,
        rule_id: Some(rule_id.to_owned()),
        host_id: Some(host_id.to_owned()),
        kind: Some(kind),
        overdue: None,
        now: h.now(),
        limit: 100,
        offset: 0,
        ..Default::default()
    };
    let mut found: Vec<(String, String)> =
        h.store.list_findings(&filter).await.unwrap().findings.into_iter().map(|f| (f.subject, f.id)).collect();
    found.sort();
    assert!(!found.is_empty(), "no {rule_id} finding on {host_id}");
    found.into_iter().map(|(_, id)| id).collect()
}

async fn triage(h: &Harness, finding_id: &str, action: Action) {
    let accept = action == Action::AcceptRisk;
    let request = TransitionRequest {
        finding_id: finding_id.to_owned(),
        action,
        actor: "cli".to_owned(),
        source_ip: None,
        at: h.now(),
        comment: Some("triaged in the console store test".to_owned()),
        expires_at: accept.then(|| h.now() + Duration::days(30)),
    };
    app_findings::act(h.store.as_ref(), request).await.unwrap();
}

/// Active findings of `severity` as the findings API counts them (open + acknowledged + reopened).
async fn api_active(h: &Harness, token: &str, severity: &str) -> i64 {
    let mut n = 0;
    for status in ["open", "acknowledged", "reopened"] {
        let (code, body) = h.get(&format!("/api/v1/findings?severity={severity}&status={status}&limit=1"), token).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        n += body["total"].as_i64().unwrap();
    }
    n
}

fn ages(now: DateTime<Utc>) -> HostAges {
    HostAges { now, stale_before: now - Duration::days(2), missing_before: now - Duration::days(7) }
}

fn severities(counts: [i64; 5]) -> Vec<(String, i64)> {
    ["critical", "high", "medium", "low", "info"].iter().zip(counts).map(|(s, n)| ((*s).to_owned(), n)).collect()
}

// ---- users and sessions ----

fn new_user(id: &str, name: &str, role: Role, must_change_password: bool, at: DateTime<Utc>) -> NewUser {
    NewUser {
        id: id.to_owned(),
        name: name.to_owned(),
        role,
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt-of-{id}$hash-of-{id}"),
        must_change_password,
        created_at: at,
    }
}

fn session_for(id_hash: &str, user_id: &str, at: DateTime<Utc>, lifetime: Duration) -> NewSession {
    NewSession {
        id_hash: id_hash.to_owned(),
        user_id: user_id.to_owned(),
        csrf_token: format!("csrf-{id_hash}"),
        created_at: at,
        expires_at: at + lifetime,
    }
}

async fn live(h: &Harness, id_hash: &str) -> bool {
    h.store.session(id_hash, h.now()).await.unwrap().is_some()
}

async fn users_roles_and_disabling(h: Harness) {
    let t0 = h.now();
    let s = h.store.as_ref();
    assert!(s.create_user(&new_user("u-alice", "alice", Role::Admin, false, t0)).await.unwrap());
    assert!(s.create_user(&new_user("u-bob", "bob", Role::Viewer, true, t0)).await.unwrap());
    // A taken name is refused whatever the rest; names are case-sensitive.
    assert!(!s.create_user(&new_user("u-alice2", "alice", Role::Viewer, false, t0)).await.unwrap());
    assert!(s.create_user(&new_user("u-alice-upper", "Alice", Role::Analyst, false, t0)).await.unwrap());

    let alice = UserRecord {
        id: "u-alice".to_owned(),
        name: "alice".to_owned(),
        role: Role::Admin,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$salt-of-u-alice$hash-of-u-alice".to_owned(),
        must_change_password: false,
        created_at: t0,
        last_login_at: None,
        disabled_at: None,
        sso_issuer: None,
        disabled_reason: None,
    };
    assert_eq!(s.user_by_name("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(s.user_by_id("u-alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(s.user_by_name("ALICE").await.unwrap(), None);
    assert_eq!(s.user_by_id("u-nobody").await.unwrap(), None);
    let bob = s.user_by_name("bob").await.unwrap().unwrap();
    assert_eq!((bob.role, bob.must_change_password), (Role::Viewer, true));
    let names: Vec<String> = s.list_users().await.unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["Alice", "alice", "bob"]);

    h.advance(Duration::minutes(5));
    s.record_login("u-alice", h.now()).await.unwrap();
    assert_eq!(s.user_by_id("u-alice").await.unwrap().unwrap().last_login_at, Some(t0 + Duration::minutes(5)));

    assert_eq!(s.count_admins().await.unwrap(), 1);
    assert!(s.set_user_role("u-bob", Role::Admin).await.unwrap());
    assert!(!s.set_user_role("u-nobody", Role::Admin).await.unwrap());
    assert_eq!(s.user_by_id("u-bob").await.unwrap().unwrap().role, Role::Admin);
    assert_eq!(s.count_admins().await.unwrap(), 2);

    // Disabling ends every session of that user, and only theirs.
    let day = Duration::hours(24);
    for (hash, user) in [("bob-laptop", "u-bob"), ("bob-phone", "u-bob"), ("alice-laptop", "u-alice")] {
        s.create_session(&session_for(hash, user, h.now(), day)).await.unwrap();
    }
    assert!(live(&h, "bob-laptop").await && live(&h, "bob-phone").await);
    h.advance(Duration::minutes(1));
    assert!(s.disable_user("u-bob", h.now()).await.unwrap());
    assert!(!live(&h, "bob-laptop").await && !live(&h, "bob-phone").await);
    assert!(live(&h, "alice-laptop").await);
    let disabled = s.user_by_id("u-bob").await.unwrap().unwrap();
    assert_eq!(disabled.disabled_at, Some(t0 + Duration::minutes(6)));
    assert!(!s.disable_user("u-bob", h.now()).await.unwrap(), "already disabled");
    assert!(!s.disable_user("u-nobody", h.now()).await.unwrap());
    assert_eq!(s.count_admins().await.unwrap(), 1, "a disabled admin does not count");
    // A session created for a disabled user (a race with disabling) is not honoured either.
    s.create_session(&session_for("bob-late", "u-bob", h.now(), day)).await.unwrap();
    assert!(!live(&h, "bob-late").await);
}

async fn password_change_keeps_only_the_current_session(h: Harness) {
    let s = h.store.as_ref();
    assert!(s.create_user(&new_user("u-carol", "carol", Role::Analyst, true, h.now())).await.unwrap());
    assert!(s.create_user(&new_user("u-dave", "dave", Role::Viewer, false, h.now())).await.unwrap());
    let day = Duration::hours(24);
    for (hash, user) in [("carol-1", "u-carol"), ("carol-2", "u-carol"), ("carol-3", "u-carol"), ("dave-1", "u-dave")] {
        s.create_session(&session_for(hash, user, h.now(), day)).await.unwrap();
    }
    assert!(s.session("carol-1", h.now()).await.unwrap().unwrap().must_change_password);

    assert!(s.set_user_password("u-carol", "$argon2id$new", false, Some("carol-2")).await.unwrap());
    assert_eq!(
        (live(&h, "carol-1").await, live(&h, "carol-2").await, live(&h, "carol-3").await, live(&h, "dave-1").await),
        (false, true, false, true)
    );
    let carol = s.user_by_id("u-carol").await.unwrap().unwrap();
    assert_eq!((carol.password_hash.as_str(), carol.must_change_password), ("$argon2id$new", false));
    assert!(!s.session("carol-2", h.now()).await.unwrap().unwrap().must_change_password);

    // An admin resetting the password (no session of the user's to keep) ends them all.
    assert!(s.set_user_password("u-carol", "$argon2id$reset", true, None).await.unwrap());
    assert!(!live(&h, "carol-2").await);
    assert!(live(&h, "dave-1").await);
    assert!(s.user_by_id("u-carol").await.unwrap().unwrap().must_change_password);
    assert!(!s.set_user_password("u-nobody", "$argon2id$x", false, None).await.unwrap());
}

async fn sessions_expire_by_the_clock(h: Harness) {
    let s = h.store.as_ref();
    let t0 = h.now();
    assert!(s.create_user(&new_user("u-erin", "erin", Role::Analyst, false, t0)).await.unwrap());
    s.create_session(&session_for("short", "u-erin", t0, Duration::hours(1))).await.unwrap();
    s.create_session(&session_for("long", "u-erin", t0, Duration::hours(8))).await.unwrap();
    let expected = SessionUser {
        user_id: "u-erin".to_owned(),
        name: "erin".to_owned(),
        role: Role::Analyst,
        csrf_token: "csrf-short".to_owned(),
        must_change_password: false,
        expires_at: t0 + Duration::hours(1),
        sso: false,
    };
    assert_eq!(s.session("short", t0).await.unwrap(), Some(expected.clone()));
    assert_eq!(s.session("unknown", t0).await.unwrap(), None);
    // The role is read at each request: a role change applies to live sessions.
    assert!(s.set_user_role("u-erin", Role::Viewer).await.unwrap());
    let last_ms = t0 + Duration::hours(1) - Duration::milliseconds(1);
    assert_eq!(s.session("short", last_ms).await.unwrap(), Some(SessionUser { role: Role::Viewer, ..expected }));
    h.advance(Duration::hours(1));
    assert_eq!(s.session("short", h.now()).await.unwrap(), None, "over at its expiry instant");
    assert!(live(&h, "long").await);

    assert_eq!(s.prune_sessions(h.now()).await.unwrap(), 1);
    assert_eq!(s.prune_sessions(h.now()).await.unwrap(), 0);
    s.delete_session("long").await.unwrap();
    assert!(!live(&h, "long").await);
    s.delete_session("long").await.unwrap();
    h.advance(Duration::hours(8));
    assert_eq!(s.prune_sessions(h.now()).await.unwrap(), 0, "both are gone already");
}

async fn login_failures_count_forget_and_prune(h: Harness) {
    let s = h.store.as_ref();
    let t0 = h.now();
    let ip = "ip:198.51.100.7";
    s.record_login_failure("user:bob@198.51.100.7", t0).await.unwrap();
    for minutes in [0, 1, 10, 10] {
        s.record_login_failure(ip, t0 + Duration::minutes(minutes)).await.unwrap();
    }
    assert_eq!(s.count_login_failures(ip, t0).await.unwrap(), 4);
    assert_eq!(s.count_login_failures("user:BOB@198.51.100.7", t0).await.unwrap(), 0, "keys are exact");
    // One of two identical rows is forgotten (an attempt whose password turned out right), not both.
    s.forget_login_failure(ip, t0 + Duration::minutes(10)).await.unwrap();
    assert_eq!(s.count_login_failures(ip, t0).await.unwrap(), 3);
    assert_eq!(s.count_login_failures(ip, t0 + Duration::minutes(1)).await.unwrap(), 2);
    // Rows before that window were pruned, for every key: a wider window no longer sees them.
    assert_eq!(s.count_login_failures(ip, t0).await.unwrap(), 2);
    assert_eq!(s.count_login_failures("user:bob@198.51.100.7", t0).await.unwrap(), 0);
    assert_eq!(s.count_login_failures(ip, t0 + Duration::minutes(11)).await.unwrap(), 0);
    assert_eq!(s.count_login_failures(ip, t0).await.unwrap(), 0);
}

// ---- dashboard ----

async fn dashboard_counts_a_triaged_fleet(h: Harness) {
    let empty = h.store.dashboard(&ages(h.now())).await.unwrap();
    assert_eq!(empty, DashboardCounts { active_by_severity: severities([0; 5]), ..DashboardCounts::default() });

    let t0 = h.now();
    import_advisories(&h).await;
    let (_, secret) = h.enroll_secret(None).await;
    // alpha: three failed checks and glibc 2.36-9+deb12u2, which CVE-2023-4911 and DSA-5514-1 (both KEV-listed, so
    // critical), CVE-2023-4806 (CVSS 5.9, Debian's urgency "not yet assigned") and DSA-5611-1 (unrated) affect in
    // libc6 and libc-bin, all fixed in 2.36-9+deb12u4 at the latest: one finding, "upgrade glibc", critical.
    // openssh-client has CVE-2023-51767 on every host of this image, which Debian rates "unimportant": shown in the
    // vulnerability views, no finding (its CVSS 7.0 would have made it high).
    let weak = ["accounts.empty_password", "ssh.permit_root_login", "disk.encryption"];
    let alpha_report = with_source(debian_failing("alpha", &weak), "glibc", "2.36-9+deb12u2");
    let (alpha, alpha_token) = enrol(&h, &secret, "alpha", &[]).await;
    h.stored(&alpha_token, &full(&alpha_report)).await;
    let foxtrot_report = with_source(debian_failing("foxtrot", &[]), "glibc", "2.36-9+deb12u2");
    let (foxtrot, foxtrot_token) = enrol(&h, &secret, "foxtrot", &[]).await;
    h.stored(&foxtrot_token, &full(&foxtrot_report)).await;
    let (_, charlie_token) = enrol(&h, &secret, "charlie", &[]).await;
    h.stored(&charlie_token, &full(&debian_10("charlie"))).await;

    triage(&h, &finding_ids(&h, &alpha, FindingKind::Rule, "ssh.permit_root_login").await[0], Action::Acknowledge)
        .await;
    triage(&h, &finding_ids(&h, &alpha, FindingKind::Rule, "disk.encryption").await[0], Action::AcceptRisk).await;
    let foxtrot_glibc = finding_ids(&h, &foxtrot, FindingKind::Vulnerability, "vuln.fix").await;
    assert_eq!(foxtrot_glibc.len(), 1, "one fix finding for glibc, not one per package and advisory");
    triage(&h, &foxtrot_glibc[0], Action::AcceptRisk).await;

    // bravo: the fixed glibc, only openssh-client's CVE.
    h.advance(Duration::days(4));
    let (_, bravo_token) = enrol(&h, &secret, "bravo", &[]).await;
    h.stored(&bravo_token, &full(&with_source(debian_failing("bravo", &[]), "glibc", "2.36-9+deb12u4"))).await;

    // A week and a day after t0: alpha and foxtrot report again unchanged, delta (Ubuntu) reports for the first
    // time, echo has only enrolled. charlie (t0) is missing, bravo (t0 + 4 days) stale.
    h.advance(Duration::days(4));
    h.stored(&alpha_token, &full(&alpha_report)).await;
    h.stored(&foxtrot_token, &full(&foxtrot_report)).await;
    let (_, delta_token) = enrol(&h, &secret, "delta", &[]).await;
    h.stored(&delta_token, &full(&common::ubuntu(&machine("delta")))).await;
    enrol(&h, &secret, "echo", &[]).await;

    let dashboard = h.store.dashboard(&ages(h.now())).await.unwrap();
    let package = |name: &str, hosts: i64, fixable_hosts: i64, worst: &str| VulnerablePackage {
        package: name.to_owned(),
        hosts,
        fixable_hosts,
        worst_severity: worst.to_owned(),
    };
    let kev = |id: &str, summary: Option<&str>, hosts: i64| KevPresent {
        advisory_id: id.to_owned(),
        summary: summary.map(str::to_owned),
        kev_added: Some("2023-11-21".to_owned()),
        hosts,
    };
    let expected = DashboardCounts {
        // critical: alpha's empty password and its glibc fix (foxtrot's accepted); high: alpha's acknowledged root
        // login (its disk encryption accepted), charlie's end of life; no medium (glibc's medium advisories are part
        // of its critical fix); low and info: one per reporting host.
        active_by_severity: severities([2, 2, 0, 5, 5]),
        // The 2 critical ones are due 7 days after t0; the high ones have 30 days.
        overdue: 2,
        hosts_total: 6,
        hosts_reporting: 4,
        hosts_in_disposal: 0,
        hosts_stale: 1,
        hosts_missing: 1,
        hosts_end_of_life: 1,
        top_vulnerable_packages: vec![package("glibc", 1, 1, "critical")],
        // Present on alpha and foxtrot whatever their triage says.
        kev_total: 2,
        kev_present: vec![kev("CVE-2023-4911", None, 2), kev("DSA-5514-1", Some("glibc - security update"), 2)],
    };
    assert_eq!(dashboard, expected);

    // The findings API, counting on its own, agrees.
    let viewer = h.api_token(Role::Viewer).await;
    for (severity, n) in &expected.active_by_severity {
        assert_eq!(api_active(&h, &viewer, severity).await, *n, "{severity}");
    }
    let (_, overdue) = h.get("/api/v1/findings?overdue=true&limit=1", &viewer).await;
    assert_eq!(overdue["total"], 2);

    // Accepting alpha's glibc fix too leaves no vulnerability to work on; the KEV advisories are still present.
    for id in finding_ids(&h, &alpha, FindingKind::Vulnerability, "vuln.fix").await {
        triage(&h, &id, Action::AcceptRisk).await;
    }
    let dashboard = h.store.dashboard(&ages(h.now())).await.unwrap();
    assert_eq!(
        dashboard,
        DashboardCounts {
            active_by_severity: severities([1, 2, 0, 5, 5]),
            overdue: 1,
            top_vulnerable_packages: vec![],
            ..expected
        }
    );
    assert_eq!(t0 + Duration::days(8), h.now());
}

// ---- host list ----

/// alpha..echo as of t0 + 8 days: statuses by last report, counts by failed checks, tags and serials chosen to
/// tell the filters apart. Returns the host ids by hostname.
async fn host_fleet(h: &Harness) -> std::collections::BTreeMap<&'static str, String> {
    let (_, secret) = h.enroll_secret(None).await;
    let mut ids = std::collections::BTreeMap::new();
    // alpha (t0, missing): critical 1, high 2.
    let (id, token) = enrol(h, &secret, "alpha", &["lab", "web"]).await;
    let weak = ["accounts.empty_password", "ssh.permit_root_login", "disk.encryption"];
    h.stored(&token, &full(&with_serial(debian_failing("alpha", &weak), "PF1ALPHA"))).await;
    ids.insert("alpha", id);
    // bravo (t0 + 3 days, stale): high 1.
    h.advance(Duration::days(3));
    let (id, token) = enrol(h, &secret, "bravo", &["lab"]).await;
    h.stored(&token, &full(&with_serial(debian_failing("bravo", &["ssh.permit_root_login"]), "PF2BRAVO"))).await;
    ids.insert("bravo", id);
    // charlie (Ubuntu): nothing above low. One tag holds `"web"` inside its JSON text.
    h.advance(Duration::days(5));
    let (id, token) = enrol(h, &secret, "charlie", &["web-frontend", "x\",\"web"]).await;
    h.stored(&token, &full(&common::ubuntu(&machine("charlie")))).await;
    ids.insert("charlie", id);
    // delta (Debian 10): critical 1, high 1 (end of life).
    h.advance(Duration::minutes(1));
    let (id, token) = enrol(h, &secret, "delta", &[]).await;
    let mut report = with_serial(debian_10("delta"), "PF4DELTA");
    set_check(&mut report, "accounts.empty_password", CheckStatus::Fail);
    h.stored(&token, &full(&report)).await;
    ids.insert("delta", id);
    // echo: enrolled, never reported (no OS, no findings).
    h.advance(Duration::minutes(1));
    let (id, _) = enrol(h, &secret, "echo", &["lab"]).await;
    ids.insert("echo", id);
    ids
}

fn all_hosts(now: DateTime<Utc>) -> ConsoleHostFilter {
    ConsoleHostFilter {
        search: None,
        os: None,
        status: None,
        tag: None,
        has_critical: false,
        sort: HostSort::Hostname,
        descending: false,
        ages: ages(now),
        limit: 50,
        offset: 0,
    }
}

/// Hostnames of one page, and the total.
async fn listed(h: &Harness, filter: ConsoleHostFilter) -> (Vec<String>, i64) {
    let page = h.store.console_hosts(&filter).await.unwrap();
    (page.rows.into_iter().map(|r| r.host.hostname).collect(), page.total)
}

fn names(list: &[&str]) -> (Vec<String>, i64) {
    (list.iter().map(|s| (*s).to_owned()).collect(), list.len() as i64)
}

async fn host_list_filters(h: Harness) {
    let ids = host_fleet(&h).await;
    let all = all_hosts(h.now());

    // Rows carry the host, its status and its active findings by severity.
    let page = h.store.console_hosts(&all).await.unwrap();
    let counts: Vec<(String, HostStatus, [i64; 5])> = page
        .rows
        .iter()
        .map(|r: &ConsoleHostRow| (r.host.hostname.clone(), r.status, [r.critical, r.high, r.medium, r.low, r.info]))
        .collect();
    let row = |name: &str, status: HostStatus, c: [i64; 5]| (name.to_owned(), status, c);
    assert_eq!(
        counts,
        vec![
            row("alpha", HostStatus::Missing, [1, 2, 0, 1, 1]),
            row("bravo", HostStatus::Stale, [0, 1, 0, 1, 1]),
            row("charlie", HostStatus::Reporting, [0, 0, 0, 1, 1]),
            row("delta", HostStatus::Reporting, [1, 1, 0, 1, 1]),
            row("echo", HostStatus::Reporting, [0, 0, 0, 0, 0]),
        ]
    );
    assert_eq!(page.total, 5);
    let alpha = &page.rows[0].host;
    assert_eq!(
        (alpha.id.as_str(), alpha.tags.clone(), alpha.system_serial.as_deref()),
        (ids["alpha"].as_str(), vec!["lab".to_owned(), "web".to_owned()], Some("PF1ALPHA"))
    );
    assert_eq!(page.rows[4].host.os_pretty_name, None);

    let with = |f: ConsoleHostFilter| listed(&h, f);
    let search = |s: &str| ConsoleHostFilter { search: Some(s.to_owned()), ..all.clone() };
    assert_eq!(with(search("ALP")).await, names(&["alpha"]));
    assert_eq!(with(search("pf2")).await, names(&["bravo"]), "system serial");
    assert_eq!(with(search("vmware-56")).await, names(&["charlie"]), "the Ubuntu fixture's serial");
    assert_eq!(with(search("MID-DELTA")).await, names(&["delta"]), "machine id");
    assert_eq!(with(search(&ids["echo"].to_uppercase())).await, names(&["echo"]), "host id");
    assert_eq!(with(search("pf")).await, names(&["alpha", "bravo", "delta"]));
    assert_eq!(with(search("%")).await, names(&[]), "LIKE characters are literal");
    assert_eq!(with(search("_")).await, names(&[]));
    assert_eq!(with(search("")).await, names(&["alpha", "bravo", "charlie", "delta", "echo"]));

    let os = |s: &str| ConsoleHostFilter { os: Some(s.to_owned()), ..all.clone() };
    assert_eq!(with(os("UBUNTU")).await, names(&["charlie"]));
    assert_eq!(with(os("bookworm")).await, names(&["alpha", "bravo", "delta"]));

    let status = |s: HostStatus| ConsoleHostFilter { status: Some(s), ..all.clone() };
    assert_eq!(with(status(HostStatus::Missing)).await, names(&["alpha"]));
    assert_eq!(with(status(HostStatus::Stale)).await, names(&["bravo"]));
    assert_eq!(with(status(HostStatus::Reporting)).await, names(&["charlie", "delta", "echo"]));
    // Time alone moves hosts along: four days later nobody is reporting.
    let later = ConsoleHostFilter { ages: ages(h.now() + Duration::days(4)), ..all.clone() };
    let later_status = |s: HostStatus| ConsoleHostFilter { status: Some(s), ..later.clone() };
    assert_eq!(with(later_status(HostStatus::Missing)).await, names(&["alpha", "bravo"]));
    assert_eq!(with(later_status(HostStatus::Stale)).await, names(&["charlie", "delta", "echo"]));
    assert_eq!(with(later_status(HostStatus::Reporting)).await, names(&[]));

    let tag = |s: &str| ConsoleHostFilter { tag: Some(s.to_owned()), ..all.clone() };
    assert_eq!(with(tag("web")).await, names(&["alpha"]), "neither web-frontend nor a tag quoting \"web\"");
    assert_eq!(with(tag("lab")).await, names(&["alpha", "bravo", "echo"]));
    assert_eq!(with(tag("Lab")).await, names(&[]), "tags are exact");
    assert_eq!(with(tag("x\",\"web")).await, names(&["charlie"]));
    assert_eq!(with(tag("we")).await, names(&[]));

    let critical = ConsoleHostFilter { has_critical: true, ..all.clone() };
    assert_eq!(with(critical.clone()).await, names(&["alpha", "delta"]));
    assert_eq!(with(ConsoleHostFilter { tag: Some("lab".to_owned()), ..critical.clone() }).await, names(&["alpha"]));
    assert_eq!(
        with(ConsoleHostFilter { status: Some(HostStatus::Reporting), os: Some("debian".to_owned()), ..all.clone() })
            .await,
        names(&["delta"])
    );

    // Once alpha's critical finding is accepted, it no longer counts.
    triage(
        &h,
        &finding_ids(&h, &ids["alpha"], FindingKind::Rule, "accounts.empty_password").await[0],
        Action::AcceptRisk,
    )
    .await;
    assert_eq!(with(critical).await, names(&["delta"]));

    assert_eq!(h.store.host_tags().await.unwrap(), ["lab", "web", "web-frontend", "x\",\"web"]);
}

async fn host_list_sorts_and_pages(h: Harness) {
    host_fleet(&h).await;
    let all = all_hosts(h.now());
    let sorted = |sort: HostSort, descending: bool| listed(&h, ConsoleHostFilter { sort, descending, ..all.clone() });

    assert_eq!(sorted(HostSort::Hostname, false).await, names(&["alpha", "bravo", "charlie", "delta", "echo"]));
    assert_eq!(sorted(HostSort::Hostname, true).await, names(&["echo", "delta", "charlie", "bravo", "alpha"]));
    // Debian before Ubuntu, hostname within; echo has no OS yet and stays last either way.
    assert_eq!(sorted(HostSort::Os, false).await, names(&["alpha", "bravo", "delta", "charlie", "echo"]));
    assert_eq!(sorted(HostSort::Os, true).await, names(&["charlie", "alpha", "bravo", "delta", "echo"]));
    assert_eq!(sorted(HostSort::LastSeen, false).await, names(&["alpha", "bravo", "charlie", "delta", "echo"]));
    assert_eq!(sorted(HostSort::LastSeen, true).await, names(&["echo", "delta", "charlie", "bravo", "alpha"]));
    // By risk score (`model::risk`): alpha (1 critical, 2 high) before delta (1, 1) before bravo (0, 1) before
    // charlie (nothing above low, but low findings count 1 each) before echo (no finding).
    assert_eq!(sorted(HostSort::Risk, false).await, names(&["alpha", "delta", "bravo", "charlie", "echo"]));
    assert_eq!(sorted(HostSort::Risk, true).await, names(&["echo", "charlie", "bravo", "delta", "alpha"]));

    // Pages of two: every host once, the total on each page, counts matching the host on every page.
    for sort in HostSort::ALL {
        for descending in [false, true] {
            let (whole, _) = sorted(sort, descending).await;
            let mut paged = Vec::new();
            for offset in [0, 2, 4] {
                let filter = ConsoleHostFilter { sort, descending, limit: 2, offset, ..all.clone() };
                let page = h.store.console_hosts(&filter).await.unwrap();
                assert_eq!(page.total, 5);
                assert_eq!(page.rows.len(), if offset == 4 { 1 } else { 2 });
                paged.extend(page.rows);
            }
            assert_eq!(paged.iter().map(|r| r.host.hostname.clone()).collect::<Vec<_>>(), whole, "{sort:?}");
            let full_page =
                h.store.console_hosts(&ConsoleHostFilter { sort, descending, ..all.clone() }).await.unwrap();
            let mut by_name = full_page.rows.clone();
            by_name.sort_by(|a, b| a.host.hostname.cmp(&b.host.hostname));
            paged.sort_by(|a, b| a.host.hostname.cmp(&b.host.hostname));
            assert_eq!(paged, by_name);
        }
    }
    let critical_page =
        ConsoleHostFilter { has_critical: true, sort: HostSort::Risk, limit: 1, offset: 1, ..all.clone() };
    assert_eq!(listed(&h, critical_page.clone()).await, (vec!["delta".to_owned()], 2));
    assert_eq!(listed(&h, ConsoleHostFilter { offset: 2, ..critical_page }).await, (vec![], 2));
}

// ---- trend ----

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn points(d: NaiveDate, counts: [i64; 5]) -> Vec<TrendPoint> {
    severities(counts).into_iter().map(|(severity, active)| TrendPoint { day: d, severity, active }).collect()
}

async fn trend_snapshots_replace_and_read_by_range(h: Harness) {
    let s = h.store.as_ref();
    s.snapshot_trend(day(1), h.now()).await.unwrap();
    assert_eq!(s.trend(day(1), day(1)).await.unwrap(), points(day(1), [0; 5]));

    // The scheduled evaluation snapshots the day it runs (the harness clock: 2026-03-02).
    let (_, secret) = h.enroll_secret(None).await;
    let weak = ["accounts.empty_password", "ssh.permit_root_login", "disk.encryption"];
    let (_, token) = enrol(&h, &secret, "alpha", &[]).await;
    h.stored(&token, &full(&debian_failing("alpha", &weak))).await;
    let clock_now = h.now.clone();
    let state = AppState {
        store: h.store.clone(),
        policy: Arc::new(ServicePolicy::default()),
        clock: Arc::new(move || *clock_now.lock().unwrap()),
        rules: Arc::new(muster_collector::rules::Rules::builtin().unwrap()),
        ingest: muster_collector::app::gate::IngestGate::new(4),
        work: muster_collector::app::queue::WorkQueue::new(muster_collector::app::queue::Mode::Inline),
    };
    schedule::run_once(&state, schedule::Scope::Due).await.unwrap();
    assert_eq!(s.trend(day(2), day(2)).await.unwrap(), points(day(2), [1, 2, 0, 1, 1]));

    // Later the same day the fix arrives: the day's snapshot is replaced, not added to.
    h.advance(Duration::hours(6));
    h.stored(&token, &full(&debian_failing("alpha", &["ssh.permit_root_login"]))).await;
    schedule::run_once(&state, schedule::Scope::Due).await.unwrap();
    assert_eq!(s.trend(day(2), day(2)).await.unwrap(), points(day(2), [0, 1, 0, 1, 1]));

    h.advance(Duration::days(2));
    s.snapshot_trend(h.now().date_naive(), h.now()).await.unwrap();
    let mut expected = points(day(1), [0; 5]);
    expected.extend(points(day(2), [0, 1, 0, 1, 1]));
    expected.extend(points(day(4), [0, 1, 0, 1, 1]));
    assert_eq!(s.trend(day(1), day(4)).await.unwrap(), expected);
    assert_eq!(s.trend(day(2), day(3)).await.unwrap(), points(day(2), [0, 1, 0, 1, 1]));
    assert_eq!(s.trend(day(5), day(31)).await.unwrap(), vec![]);
    assert_eq!(s.trend(day(4), day(1)).await.unwrap(), vec![], "an empty range");
}

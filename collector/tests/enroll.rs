//! Enrolment: secrets (good, unknown, revoked, expired), rate limiting, reinstall and cloned-VM identity, and a
//! take-over of a live host held for an administrator.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use muster_collector::ServicePolicy;
use muster_collector::app::admin::{self, Actor};
use muster_collector::model::Role;
use muster_shared::v1::ReportEnvelope;
use muster_shared::v1::SectionName;
use serde_json::{Value, json};

use crate::common::{Harness, Machine, debian, delta, full, history};

both!(secrets_good_unknown_revoked_expired, failed_enrolments_are_rate_limited);
both!(reinstall_keeps_host_and_history, same_installation_reenrols_in_place, cloned_vm_is_flagged_not_merged);
both!(a_machine_id_is_bound_once_and_never_taken);
both!(a_take_over_of_a_live_host_waits_for_an_administrator, held_enrolments_are_bounded_per_host);

async fn secrets_good_unknown_revoked_expired(h: Harness) {
    let (_, secret) = h.enroll_secret(None).await;
    let (status, body) = h.enroll(&secret, &Machine::thinkpad("m1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reenrolled"], false);
    assert_eq!(body["host_token"].as_str().unwrap().len(), 4 + 64);

    let (status, body) = h.enroll("mes_not-a-secret", &Machine::vmware("m2")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_secret")));

    let (id, revoked) = h.enroll_secret(None).await;
    assert!(admin::revoke_enroll_secret(h.store.as_ref(), &Actor::cli(), &id, h.now()).await.unwrap());
    let (status, body) = h.enroll(&revoked, &Machine::vmware("m2")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("secret_revoked")));

    let (_, expiring) = h.enroll_secret(Some(Duration::from_secs(3600))).await;
    h.advance(chrono::Duration::minutes(59));
    assert_eq!(h.enroll(&expiring, &Machine::vmware("m2")).await.0, StatusCode::OK);
    h.advance(chrono::Duration::minutes(2));
    let (status, body) = h.enroll(&expiring, &Machine::vmware("m3")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("secret_expired")));

    // Failures are audited with their reason and source address; secrets never appear.
    let admin = h.api_token(Role::Admin).await;
    let (status, audit) = h.get("/api/v1/admin/audit", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let failed: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "host.enroll_failed")
        .map(|e| (e["details"]["reason"].as_str().unwrap(), e["source_ip"].as_str().unwrap()))
        .collect();
    assert_eq!(
        failed,
        [("secret_expired", "192.0.2.10"), ("secret_revoked", "192.0.2.10"), ("invalid_secret", "192.0.2.10")]
    );
    assert!(!audit.to_string().contains(&secret));

    let mut uses: Vec<i64> = h.store.list_enroll_secrets().await.unwrap().iter().map(|s| s.uses).collect();
    uses.sort();
    assert_eq!(uses, [0, 1, 1]);
}

async fn failed_enrolments_are_rate_limited(h: Harness) {
    let mut policy = ServicePolicy::default();
    policy.enrolment.max_failures = 3;
    policy.enrolment.failure_window = Duration::from_secs(600);
    let h = h.reconfigure(policy);
    let (_, secret) = h.enroll_secret(None).await;
    for _ in 0..3 {
        assert_eq!(h.enroll("mes_guess", &Machine::thinkpad("m1")).await.0, StatusCode::UNAUTHORIZED);
    }
    // Even the right secret is refused while the address is blocked.
    let request = axum::http::Request::post("/api/v1/agent/enroll")
        .body(axum::body::Body::from(
            serde_json::json!({ "secret": secret, "hostname": "x", "agent_version": "0.1.0" }).to_string(),
        ))
        .unwrap();
    let (status, headers, body) = h.send(request).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    assert_eq!(headers.get("retry-after").unwrap(), "600");
    h.advance(chrono::Duration::minutes(11));
    assert_eq!(h.enroll(&secret, &Machine::thinkpad("m1")).await.0, StatusCode::OK);
}

async fn reinstall_keeps_host_and_history(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let before = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (host_id, old_token) = h.enrolled(&secret, &before).await;
    let report = debian(&before);
    h.stored(&old_token, &full(&report)).await;
    let mut upgraded = report.clone();
    for p in &mut upgraded.software.as_mut().unwrap().packages {
        if p.name == "tar" {
            p.version = "1.34+dfsg-1.2+deb12u2".to_owned();
        }
    }
    h.stored(&old_token, &delta(&upgraded, &[SectionName::Software])).await;
    assert_eq!(history(&h, &viewer, &host_id).await.len(), 1);

    // The disk is wiped and the OS reinstalled: new machine id, same hardware, old installation silent past the
    // stale window (7 days): taken over at once. (Within it, an administrator approves: the take-over test.)
    h.advance(chrono::Duration::days(8));
    let after = Machine::thinkpad("7a6b5c4d3e2f41a0b9c8d7e6f5a4b3c2");
    let (status, body) = h.enroll(&secret, &after).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["host_id"], host_id.as_str());
    assert_eq!(body["reenrolled"], true);
    let new_token = body["host_token"].as_str().unwrap().to_owned();

    let (status, body) = h.report(&old_token, &full(&report)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_replaced")));
    h.stored(&new_token, &full(&debian(&after))).await;

    let (_, host) = h.get(&format!("/api/v1/hosts/{host_id}"), &viewer).await;
    assert_eq!(host["machine_id"], "7a6b5c4d3e2f41a0b9c8d7e6f5a4b3c2");
    assert_eq!(host["duplicate_identity"], false);
    assert_eq!(host["first_seen"], "2026-03-02T09:00:00Z");
    // The fresh install has tar at the old version again: history goes on in the same record.
    let events = history(&h, &viewer, &host_id).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].0, "package_downgraded");
    assert_eq!(h.get("/api/v1/hosts", &viewer).await.1["total"], 1);
}

async fn same_installation_reenrols_in_place(h: Harness) {
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&debian(&machine))).await;
    // `muster-agent enroll` run again: the agent proves it holds the record's token and takes it over at once.
    let (status, body) = h.enroll_with(&secret, &machine, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["host_id"].as_str(), &body["reenrolled"]), (Some(host_id.as_str()), &serde_json::json!(true)));
    let (status, answer) = h.report(&token, &full(&debian(&machine))).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_replaced")), "{answer}");
    h.stored(body["host_token"].as_str().unwrap(), &full(&debian(&machine))).await;
    // A machine without hardware identity is recognised by its machine id alone.
    let bare =
        Machine { hostname: "container-1".into(), machine_id: Some("c0ffee".repeat(5)), uuid: None, serial: None };
    let (first, first_token) = h.enrolled(&secret, &bare).await;
    let (status, body) = h.enroll_with(&secret, &bare, Some(&first_token)).await;
    assert_eq!((status, body["host_id"].as_str()), (StatusCode::OK, Some(first.as_str())));
    // Junk hardware identity is no identity: two different machines stay two hosts.
    let junk = |id: &str| Machine {
        hostname: format!("oem-{id}"),
        machine_id: Some(id.repeat(32)),
        uuid: Some("03000200-0400-0500-0006-000700080009".into()),
        serial: Some("To Be Filled By O.E.M.".into()),
    };
    let (a, _) = h.enrolled(&secret, &junk("a")).await;
    let (b, _) = h.enrolled(&secret, &junk("b")).await;
    assert_ne!(a, b);
}

async fn cloned_vm_is_flagged_not_merged(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let original = Machine::thinkpad("11111111111111111111111111111111");
    let (a, token_a) = h.enrolled(&secret, &original).await;
    h.stored(&token_a, &full(&debian(&original))).await;

    h.advance(chrono::Duration::minutes(20));
    let clone = Machine { hostname: "lab-t480s-clone".into(), ..Machine::thinkpad("22222222222222222222222222222222") };
    let (status, body) = h.enroll(&secret, &clone).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["reenrolled"], false);
    let b = body["host_id"].as_str().unwrap().to_owned();
    let token_b = body["host_token"].as_str().unwrap().to_owned();
    assert_ne!(a, b);

    // Both keep reporting with their own tokens; neither takes the other over. The clone enrolling again (with
    // its token) finds its own record, not the original's.
    h.stored(&token_a, &full(&debian(&original))).await;
    let (status, body) = h.enroll_with(&secret, &clone, Some(&token_b)).await;
    assert_eq!((status, body["host_id"].as_str()), (StatusCode::OK, Some(b.as_str())));
    let (_, page) = h.get("/api/v1/hosts", &viewer).await;
    let flags: Vec<(String, bool)> = page["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["hostname"].as_str().unwrap().to_owned(), h["duplicate_identity"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, [("lab-t480s".to_owned(), true), ("lab-t480s-clone".to_owned(), true)]);
}

/// A host enrolled without a machine-id cannot take a victim's by reporting it (issue 15, defect 4): the report is
/// refused 409 and nothing is stored; the first machine-id nobody else holds binds it, and a later report of
/// another machine-id is refused like a report from another machine.
async fn a_machine_id_is_bound_once_and_never_taken(h: Harness) {
    let (_, secret) = h.enroll_secret(None).await;
    let victim = Machine::thinkpad("11111111111111111111111111111111");
    let (victim_id, victim_token) = h.enrolled(&secret, &victim).await;
    h.stored(&victim_token, &full(&debian(&victim))).await;

    // Enrolled with no machine-id and other hardware: a new host.
    let blank = Machine { hostname: "no-id".into(), machine_id: None, uuid: None, serial: None };
    let (attacker_id, attacker_token) = h.enrolled(&secret, &blank).await;
    assert_ne!(attacker_id, victim_id);
    let mut claim = debian(&Machine { hostname: "no-id".into(), ..victim.clone() });
    claim.hardware = None;
    let (status, body) = h.report(&attacker_token, &full(&claim)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("machine_id_taken")), "{body}");
    let viewer = h.api_token(Role::Viewer).await;
    let (_, attacker) = h.get(&format!("/api/v1/hosts/{attacker_id}"), &viewer).await;
    assert_eq!((attacker["machine_id"].as_str(), &attacker["sections"]), (None, &serde_json::json!({})));
    let (_, victim_host) = h.get(&format!("/api/v1/hosts/{victim_id}"), &viewer).await;
    assert_eq!(victim_host["duplicate_identity"], false, "the victim is left alone");

    // Its own machine-id binds it; another one later is refused.
    let own =
        Machine { hostname: "no-id".into(), machine_id: Some("22222222222222222222222222222222".into()), ..blank };
    let mut report = debian(&own);
    report.hardware = None;
    h.stored(&attacker_token, &full(&report)).await;
    let (_, bound) = h.get(&format!("/api/v1/hosts/{attacker_id}"), &viewer).await;
    assert_eq!(bound["machine_id"], "22222222222222222222222222222222");
    let mut other = debian(&Machine { machine_id: Some("33333333333333333333333333333333".into()), ..own });
    other.hardware = None;
    let (status, body) = h.report(&attacker_token, &full(&other)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("host_mismatch")), "{body}");
}

/// Holding cannot fill the table or the administrator's list: five requests per host wait at most, the sixth is
/// told to retry once they are decided, and the host's agent goes on.
async fn held_enrolments_are_bounded_per_host(h: Harness) {
    let (_, secret) = h.enroll_secret(None).await;
    let victim = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (_, token) = h.enrolled(&secret, &victim).await;
    h.stored(&token, &full(&debian(&victim))).await;
    for _ in 0..5 {
        assert_eq!(h.enroll(&secret, &victim).await.0, StatusCode::ACCEPTED);
    }
    let request = Request::post("/api/v1/agent/enroll")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "secret": secret, "hostname": "lab-t480s", "machine_id": victim.machine_id,
                "system_uuid": victim.uuid, "system_serial": victim.serial, "agent_version": "0.1.0" })
            .to_string(),
        ))
        .unwrap();
    let (status, headers, body) = h.send(request).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("enrolments_waiting")), "{body}");
    assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "300");
    assert_eq!(h.store.list_enrolment_requests(false, 100).await.unwrap().len(), 5);
    h.stored(&token, &delta(&debian(&victim), &[])).await;
}

fn report_request(token: &str, envelope: &ReportEnvelope) -> Request<Body> {
    Request::post("/api/v1/agent/report")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(envelope).unwrap()))
        .unwrap()
}

async fn post(h: &Harness, uri: &str, token: &str) -> (StatusCode, Value) {
    let request =
        Request::post(uri).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap();
    let (status, _, body) = h.send(request).await;
    (status, body)
}

/// Issue 15, defect 3: anyone holding the enrolment secret and a victim's machine-id (every viewer can read it)
/// became that host, and the victim's agent was told an administrator revoked it. A take-over of a live host's
/// record now waits for an administrator; the victim keeps working meanwhile; the waiting agent's token works once
/// approved and never once rejected; each step is audited.
async fn a_take_over_of_a_live_host_waits_for_an_administrator(h: Harness) {
    let admin = h.api_token(Role::Admin).await;
    let (_, secret) = h.enroll_secret(None).await;
    let victim = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (host_id, victim_token) = h.enrolled(&secret, &victim).await;
    h.stored(&victim_token, &full(&debian(&victim))).await;

    // The attacker claims the victim's identity under another name: held, not taken over.
    h.advance(chrono::Duration::minutes(10));
    let attacker = Machine { hostname: "evil".into(), ..victim.clone() };
    let (status, held) = h.enroll(&secret, &attacker).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    assert_eq!((held["host_id"].as_str(), &held["pending_approval"]), (Some(host_id.as_str()), &json!(true)));
    let attacker_token = held["host_token"].as_str().unwrap().to_owned();
    let (status, headers, body) = h.send(report_request(&attacker_token, &full(&debian(&attacker)))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("enrolment_pending")), "{body}");
    assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "300");
    // The victim goes on; its record keeps its name.
    h.advance(chrono::Duration::minutes(10));
    h.stored(&victim_token, &delta(&debian(&victim), &[])).await;
    let (_, host) = h.get(&format!("/api/v1/hosts/{host_id}"), &admin).await;
    assert_eq!(host["hostname"], "lab-t480s");

    // The administrator sees what is claimed next to the record, and rejects it.
    let (status, list) = h.get("/api/v1/admin/enrolments", &admin).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0]["hostname"].as_str(), list[0]["host_hostname"].as_str(), list[0]["state"].as_str()),
        (Some("evil"), Some("lab-t480s"), Some("pending"))
    );
    let first_request = list[0]["id"].as_str().unwrap().to_owned();
    let viewer = h.api_token(Role::Viewer).await;
    let (status, _) = post(&h, &format!("/api/v1/admin/enrolments/{first_request}/approve"), &viewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "viewers decide nothing");
    let (status, body) = post(&h, &format!("/api/v1/admin/enrolments/{first_request}/reject"), &admin).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("rejected")), "{body}");
    let (status, body) = post(&h, &format!("/api/v1/admin/enrolments/{first_request}/approve"), &admin).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("not_pending")), "{body}");
    let (status, body) = h.report(&attacker_token, &full(&debian(&attacker))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("enrolment_rejected")), "{body}");
    h.stored(&victim_token, &delta(&debian(&victim), &[])).await;

    // The machine really was reinstalled (state directory lost): approved, the new agent takes over and the old
    // one is told the truth. A second attacker's request meanwhile does not push the genuine one out; approving
    // the genuine one closes it.
    let (status, held) = h.enroll(&secret, &victim).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let new_token = held["host_token"].as_str().unwrap().to_owned();
    let (_, list) = h.get("/api/v1/admin/enrolments", &admin).await;
    let request = list[0]["id"].as_str().unwrap().to_owned();
    assert_ne!(request, first_request);
    h.advance(chrono::Duration::seconds(1));
    let (status, late) = h.enroll(&secret, &attacker).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{late}");
    let (_, list) = h.get("/api/v1/admin/enrolments", &admin).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let late_request = list[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = post(&h, &format!("/api/v1/admin/enrolments/{request}/approve"), &admin).await;
    assert_eq!((status, body["host_id"].as_str()), (StatusCode::OK, Some(host_id.as_str())), "{body}");
    let (status, body) = h.report(&victim_token, &full(&debian(&victim))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_replaced")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("replaced by a new enrolment"), "{body}");
    h.stored(&new_token, &full(&debian(&victim))).await;
    let (_, all) = h.get("/api/v1/admin/enrolments?all=true", &admin).await;
    let states: Vec<&str> = all.as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["superseded", "approved", "rejected"]);
    let (status, body) = post(&h, &format!("/api/v1/admin/enrolments/{late_request}/approve"), &admin).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("not_pending")), "{body}");
    let (_, _, body) = h.send(report_request(late["host_token"].as_str().unwrap(), &full(&debian(&attacker)))).await;
    assert_eq!(body["error"], "enrolment_rejected");
    assert_eq!(h.get("/api/v1/admin/enrolments", &admin).await.1, json!([]));

    let (_, log) = h.get("/api/v1/admin/audit?limit=1000", &admin).await;
    let mut actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("host.enroll"))
        .collect();
    actions.reverse();
    assert_eq!(
        actions,
        [
            "host.enrolled",
            "host.enroll_held",
            "host.enroll_rejected",
            "host.enroll_held",
            "host.enroll_held",
            "host.enroll_approved"
        ]
    );
    let approved = log.as_array().unwrap().iter().find(|e| e["action"] == "host.enroll_approved").unwrap();
    assert!(approved["actor"].as_str().unwrap().starts_with("api-token:"), "{approved}");
    let (_, hosts) = h.get("/api/v1/hosts", &admin).await;
    assert_eq!(hosts["total"], 1);
}

/// The CLI's `enrolment list | approve | reject` over a SQLite database the test can name: the same decision as
/// the API, audited as `cli`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_lists_approves_and_rejects_held_enrolments() {
    muster_collector::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("muster.db").display());
    let store: std::sync::Arc<dyn muster_collector::store::Store> =
        std::sync::Arc::new(muster_collector::store::SqliteStore::open(&url).await.unwrap());
    let h = Harness::with_policy(store, crate::common::Backend::Sqlite, ServicePolicy::default());
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_muster-collector"))
            .args(["--data-dir", dir.path().to_str().unwrap(), "--database-url", &url])
            .args(args)
            .env_remove("MUSTER_CONFIG")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (_, secret) = h.enroll_secret(None).await;
    let a = Machine::thinkpad("11111111111111111111111111111111");
    // Known by its machine-id alone (no hardware identity), like a container.
    let b = Machine { hostname: "bare".into(), machine_id: Some("2".repeat(32)), uuid: None, serial: None };
    let mut report_b = debian(&b);
    report_b.hardware = None;
    let (host_a, token_a) = h.enrolled(&secret, &a).await;
    let (host_b, token_b) = h.enrolled(&secret, &b).await;
    h.stored(&token_a, &full(&debian(&a))).await;
    h.stored(&token_b, &full(&report_b)).await;
    let (ok, out, err) = cli(&["enrolment", "list"]);
    assert!(ok, "{err}");
    assert_eq!(out, "no enrolment waits for approval\n");

    let (status, held_a) = h.enroll(&secret, &a).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, held_b) = h.enroll(&secret, &b).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (ok, out, err) = cli(&["--format", "json", "enrolment", "list"]);
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let by_host = |host: &str| list.as_array().unwrap().iter().find(|r| r["host_id"] == host).unwrap()["id"].clone();
    let (request_a, request_b) = (by_host(&host_a), by_host(&host_b));
    let (ok, out, err) = cli(&["enrolment", "list"]);
    assert!(ok, "{err}");
    assert!(out.contains(request_a.as_str().unwrap()) && out.contains("claims hostname lab-t480s"), "{out}");

    let (ok, _, err) = cli(&["enrolment", "approve", request_a.as_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("approved"), "{err}");
    let (ok, _, err) = cli(&["enrolment", "reject", request_b.as_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&["enrolment", "approve", request_b.as_str().unwrap()]);
    assert!(!ok && err.contains("no pending enrolment request"), "{err}");

    h.stored(held_a["host_token"].as_str().unwrap(), &full(&debian(&a))).await;
    assert_eq!(h.report(&token_a, &full(&debian(&a))).await.0, StatusCode::UNAUTHORIZED);
    h.stored(&token_b, &delta(&report_b, &[])).await;
    let (status, body) = h.report(held_b["host_token"].as_str().unwrap(), &full(&report_b)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("enrolment_rejected")));
    let audit = h.store.list_audit(100).await.unwrap();
    let decided: Vec<(&str, &str)> = audit
        .iter()
        .filter(|e| e.action.starts_with("host.enroll_") && e.action != "host.enroll_held")
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(decided, [("host.enroll_rejected", "cli"), ("host.enroll_approved", "cli")]);
}

//! Enrolment: secrets (good, unknown, revoked, expired), rate limiting, reinstall and cloned-VM identity.

use std::time::Duration;

use axum::http::StatusCode;
use muster_collector::ServicePolicy;
use muster_collector::app::admin::{self, Actor};
use muster_collector::model::Role;
use muster_shared::v1::SectionName;

use crate::common::{Harness, Machine, debian, delta, full, history};

both!(secrets_good_unknown_revoked_expired, failed_enrolments_are_rate_limited);
both!(reinstall_keeps_host_and_history, same_installation_reenrols_in_place, cloned_vm_is_flagged_not_merged);
both!(a_machine_id_is_bound_once_and_never_taken);

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

    // The disk is wiped and the OS reinstalled: new machine id, same hardware, old installation silent for a day.
    h.advance(chrono::Duration::days(1));
    let after = Machine::thinkpad("7a6b5c4d3e2f41a0b9c8d7e6f5a4b3c2");
    let (status, body) = h.enroll(&secret, &after).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["host_id"], host_id.as_str());
    assert_eq!(body["reenrolled"], true);
    let new_token = body["host_token"].as_str().unwrap().to_owned();

    let (status, body) = h.report(&old_token, &full(&report)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_revoked")));
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
    // The agent lost its state directory and enrols again at once.
    let (status, body) = h.enroll(&secret, &machine).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["host_id"].as_str(), &body["reenrolled"]), (Some(host_id.as_str()), &serde_json::json!(true)));
    // A machine without hardware identity is recognised by its machine id alone.
    let bare =
        Machine { hostname: "container-1".into(), machine_id: Some("c0ffee".repeat(5)), uuid: None, serial: None };
    let (first, _) = h.enrolled(&secret, &bare).await;
    let (status, body) = h.enroll(&secret, &bare).await;
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
    assert_ne!(a, b);

    // Both keep reporting with their own tokens; neither takes the other over.
    h.stored(&token_a, &full(&debian(&original))).await;
    let (status, body) = h.enroll(&secret, &clone).await;
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

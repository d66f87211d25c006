//! Hardware disposal: lifecycle transitions and their audit entries, the refusal to dispose of a host whose disks
//! lack evidence, verification results made by the real agent over image files, witnessed destruction, redeploy,
//! and signed certificates (tampering, public-key-only checks, HTML escaping, the offline CLI check).
//!
//! The host is the ThinkPad of `testdata/reports/debian12-thinkpad-t480s.json`; that capture has no disk list (it was
//! made with `--root`), so the tests add the two disks a live agent would list, as `ingest.rs` does.

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use muster_agent::disposal::check::Expect;
use muster_agent::disposal::{self as agent_disposal, Mode, VerifyConfig};
use muster_agent::root::SystemRoot;
use muster_collector::disposal::certificate::{self, CertificateError};
use muster_collector::model::Role;
use muster_shared::v1::{
    Disk, DisposalReport, MediumIdentity, MediumKind, Report, SanitizationMethod, SanitizationTechnique,
};
use serde_json::{Value, json};

use crate::common::{Harness, Machine, debian, full};
use crate::integrations::{CONSOLE, Receiver, drain, peer_check, request};

both!(disposal_needs_evidence_for_every_disk, agent_sends_results_and_token_is_revoked);
both!(redeploy_returns_to_service, certificates_are_signed_and_escaped, roles_and_states_are_enforced);
both!(a_retired_host_is_frozen_never_taken_over_and_its_token_ends_at_disposal);

const NVME_SERIAL: &str = "S4EWNX0R123456A";
const HDD_SERIAL: &str = "WD-WCC4N7KJ2X9P";

fn machine() -> Machine {
    Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f")
}

/// The real ThinkPad report with the disks its agent would list; `model` lets a test plant a hostile string.
fn report_with_disks(nvme_model: &str) -> Report {
    let mut report = debian(&machine());
    let disks = &mut report.hardware.as_mut().unwrap().disks;
    disks.push(Disk {
        name: "nvme0n1".into(),
        model: Some(nvme_model.into()),
        serial: Some(format!("{NVME_SERIAL}    ")),
        size_bytes: 512_110_190_592,
        rotational: Some(false),
        transport: Some("nvme".into()),
        ..Disk::default()
    });
    disks.push(Disk {
        name: "sda".into(),
        vendor: Some("ATA".into()),
        model: Some("WDC WD10EZEX-08W".into()),
        serial: Some(HDD_SERIAL.into()),
        size_bytes: 1_000_204_886_016,
        rotational: Some(true),
        transport: Some("sata".into()),
        ..Disk::default()
    });
    report
}

/// Enrols the ThinkPad and stores its report; returns (host id, host token).
async fn laptop(h: &Harness, nvme_model: &str) -> (String, String) {
    let (_, secret) = h.enroll_secret(None).await;
    let (host_id, token) = h.enrolled(&secret, &machine()).await;
    h.stored(&token, &full(&report_with_disks(nvme_model))).await;
    (host_id, token)
}

async fn post(h: &Harness, uri: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, body) = h.send(request).await;
    (status, body)
}

async fn get_text(h: &Harness, uri: &str, token: &str) -> (StatusCode, String, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty());
    let response = h.app.clone().oneshot(request.unwrap()).await.unwrap();
    let status = response.status();
    let content_type =
        response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, String::from_utf8(bytes.to_vec()).unwrap())
}

fn start_body(operator: &str, verifier: &str, revoke_token: bool) -> Value {
    json!({
        "reason": "end of lease",
        "operator": operator,
        "verifier": verifier,
        "location": "Lisbon office, room 2.14",
        "destination": "resale",
        "revoke_token": revoke_token,
    })
}

/// An image file of `size` bytes: zeros, with `text` written at `text_at` when given.
fn image(dir: &Path, name: &str, size: u64, text: Option<(u64, &[u8])>) -> std::path::PathBuf {
    use std::io::{Seek, SeekFrom, Write};
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    file.set_len(size).unwrap();
    if let Some((offset, bytes)) = text {
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.write_all(bytes).unwrap();
    }
    path
}

/// The real agent's full verification of an image file, reported as if the image were the inventoried disk
/// (`/dev/nvme0n1` with its serial): what `muster-agent disposal verify --report` writes on the machine itself.
fn verification(
    image: &Path,
    as_disk: (&str, &str),
    host_id: Option<&str>,
    now: DateTime<Utc>,
    report_id: &str,
) -> DisposalReport {
    let config = VerifyConfig {
        mode: Mode::Full,
        expect: Expect::Zero,
        method: Some(SanitizationMethod::Purge),
        technique: Some(SanitizationTechnique::CryptoErase),
        progress: false,
    };
    let clock = move || now;
    let mut medium = agent_disposal::verify_medium(&SystemRoot::live(), image, &config, &clock);
    medium.target = format!("/dev/{}", as_disk.0);
    medium.device = MediumIdentity {
        kind: MediumKind::BlockDevice,
        name: as_disk.0.to_owned(),
        vendor: None,
        model: Some("SAMSUNG MZVLB512HAJQ-000L7".to_owned()),
        serial: Some(as_disk.1.to_owned()),
        wwn: None,
        firmware: None,
        size_bytes: medium.device.size_bytes,
        rotational: Some(false),
        transport: Some("nvme".to_owned()),
    };
    agent_disposal::report(vec![medium], report_id.to_owned(), host_id.map(str::to_owned), None, now, now)
}

/// `(action, target)` of the audit log, oldest first, disposal entries only.
async fn disposal_audit(h: &Harness) -> Vec<(String, Value)> {
    let admin = h.api_token(Role::Admin).await;
    let (status, body) = h.get("/api/v1/admin/audit?limit=1000", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let mut out: Vec<(String, Value)> = body
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("disposal."))
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["details"].clone()))
        .collect();
    out.reverse();
    out
}

async fn disposal_needs_evidence_for_every_disk(h: Harness) {
    use muster_collector::app::{audit::Actor, integrations as uc};
    // Each step reaches the integrations that asked for it, written with the step.
    let disposal_events = ["disposal.started", "disposal.sanitized", "disposal.completed", "disposal.redeployed"];
    let (receiver, url) = Receiver::start().await;
    let (_, secret) =
        uc::add(h.store.as_ref(), &Actor::cli(), request("assets", &url, &disposal_events, None), h.now())
            .await
            .unwrap();
    let (slack, slack_url) = Receiver::start().await;
    let chat = muster_collector::integrations::IntegrationRequest {
        kind: muster_collector::model::integrations::IntegrationKind::Slack,
        ..request("chat", &slack_url, &disposal_events, None)
    };
    uc::add(h.store.as_ref(), &Actor::cli(), chat, h.now()).await.unwrap();
    let analyst = h.api_token(Role::Analyst).await;
    let (host_id, _) = laptop(&h, "SAMSUNG MZVLB512HAJQ-000L7").await;
    let base = format!("/api/v1/disposal/hosts/{host_id}");

    // By hostname as well as by id.
    let (status, body) =
        post(&h, "/api/v1/disposal/hosts/lab-t480s/start", &analyst, start_body("Ana", "Bo", false)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "decommissioning");
    assert_eq!(body["case"]["planned_destination"], "resale");
    let disks: Vec<&str> =
        body["disks"].as_array().unwrap().iter().map(|d| d["disk"]["serial"].as_str().unwrap()).collect();
    assert_eq!(disks, [NVME_SERIAL, HDD_SERIAL]);
    assert_eq!(body["warnings"], json!([]));

    // Nothing recorded: refused, naming both disks.
    let complete = json!({ "destination": "resale", "reference": "invoice 2026-118" });
    let (status, body) = post(&h, &format!("{base}/complete"), &analyst, complete.clone()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("disposal_incomplete")), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(NVME_SERIAL) && message.contains(HDD_SERIAL), "{message}");

    // A failing verification (text left mid-medium) is recorded but settles nothing.
    let dir = tempfile::tempdir().unwrap();
    let dirty = image(dir.path(), "dirty.img", 8 << 20, Some((4 << 20, b"quarterly payroll, do not share")));
    let failing = verification(&dirty, ("nvme0n1", NVME_SERIAL), Some(&host_id), h.now(), "r-fail");
    assert!(!failing.passed);
    let (status, body) =
        post(&h, &format!("{base}/verification"), &analyst, serde_json::to_value(&failing).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["matched"], json!([NVME_SERIAL]));
    assert_eq!(body["status"]["disks"][0]["state"], "failed");
    assert_eq!(
        body["status"]["missing"],
        json!([
            format!("{NVME_SERIAL} (nvme0n1, SAMSUNG MZVLB512HAJQ-000L7): its verification failed"),
            format!("{HDD_SERIAL} (sda, WDC WD10EZEX-08W): no passing verification or destruction record"),
        ])
    );

    // A passing verification for the SSD: only the hard disk is still missing.
    let clean = image(dir.path(), "clean.img", 8 << 20, None);
    let passing = verification(&clean, ("nvme0n1", NVME_SERIAL), Some(&host_id), h.now(), "r-pass");
    assert!(passing.passed);
    let (status, body) =
        post(&h, &format!("{base}/verification"), &analyst, serde_json::to_value(&passing).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"]["state"], "decommissioning");
    let (status, body) = post(&h, &format!("{base}/complete"), &analyst, complete.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(HDD_SERIAL) && !message.contains(NVME_SERIAL), "{message}");

    // The hard disk is shredded before a witness: sanitized, one certificate per medium.
    let destroy = json!({ "disk": "wd-wcc4n7kj2x9p", "method": "shred", "witness": "Carla Dias" });
    let (status, body) = post(&h, &format!("{base}/destruction"), &analyst, destroy).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "sanitized");
    let states: Vec<&str> = body["disks"].as_array().unwrap().iter().map(|d| d["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["verified", "destroyed"]);
    let certificates: Vec<&str> =
        body["certificates"].as_array().unwrap().iter().map(|c| c["disk_serial"].as_str().unwrap()).collect();
    assert_eq!(certificates, [NVME_SERIAL, HDD_SERIAL]);

    // The planned destination is on the certificates; another one is refused, the planned one accepted.
    let (status, body) =
        post(&h, &format!("{base}/complete"), &analyst, json!({ "destination": "donation", "reference": "x" })).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let (status, body) = post(&h, &format!("{base}/complete"), &analyst, complete).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "disposed");
    assert_eq!(body["case"]["outcome"], "disposed");
    assert_eq!(body["case"]["reference"], "invoice 2026-118");

    let audit = disposal_audit(&h).await;
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "disposal.started",
            "disposal.verification_imported",
            "disposal.verification_imported",
            "disposal.destruction_recorded",
            "disposal.sanitized",
            "disposal.completed"
        ]
    );
    assert_eq!(audit[0].1["reason"], "end of lease");
    assert_eq!(audit[1].1["results"], json!([{ "disk": NVME_SERIAL, "passed": false }]));
    assert_eq!(audit[4].1["certificates"].as_array().unwrap().len(), 2);
    assert_eq!((audit[5].1["from"].as_str(), audit[5].1["to"].as_str()), (Some("sanitized"), Some("disposed")));

    assert_eq!(drain(&h, "w1").await, 6, "three steps, to two subscriptions");
    let got = receiver.verified(&secret);
    let steps: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|b| (b["type"].as_str().unwrap(), b["data"]["from"].as_str().unwrap(), b["data"]["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("disposal.started", "in_service", "decommissioning"),
            ("disposal.sanitized", "decommissioning", "sanitized"),
            ("disposal.completed", "sanitized", "disposed"),
        ]
    );
    let data = &got[2]["data"];
    assert_eq!((data["hostname"].as_str(), data["title"].as_str()), (Some("lab-t480s"), Some("lab-t480s disposed")));
    assert_eq!(data["path"], format!("/disposal/{host_id}"));
    assert_eq!(data["details"]["reference"], "invoice 2026-118");
    assert_eq!(got[1]["data"]["details"]["certificates"].as_array().unwrap().len(), 2);
    assert!(got[0]["data"]["actor"].as_str().unwrap().starts_with("api-token:"), "{}", got[0]);
    let messages: Vec<Value> = slack.got().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let (valid, text) = peer_check("slack", &messages).await;
    assert!(valid, "{text}");
    assert_eq!(messages[1]["text"], "Disks sanitized: Every disk of lab-t480s sanitized; certificates issued");
    assert_eq!(messages[2]["blocks"][3]["elements"][0]["url"], format!("{CONSOLE}/disposal/{host_id}"));

    // Disposed hosts leave the queue's "in service" population; the column says so.
    let viewer = h.api_token(Role::Viewer).await;
    let (_, queue) = h.get("/api/v1/disposal", &viewer).await;
    assert_eq!(queue.as_array().unwrap().len(), 1);
    assert_eq!(queue[0]["state"], "disposed");
}

async fn agent_sends_results_and_token_is_revoked(h: Harness) {
    let analyst = h.api_token(Role::Analyst).await;
    let (host_id, token) = laptop(&h, "SAMSUNG MZVLB512HAJQ-000L7").await;
    let dir = tempfile::tempdir().unwrap();
    let clean = image(dir.path(), "clean.img", 4 << 20, None);
    let report = verification(&clean, ("nvme0n1", NVME_SERIAL), Some(&host_id), h.now(), "agent-1");
    let body = serde_json::to_value(&report).unwrap();

    // No disposal under way: refused.
    let (status, answer) = post(&h, "/api/v1/agent/disposal", &token, body.clone()).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::CONFLICT, Some("wrong_lifecycle_state")), "{answer}");

    let base = format!("/api/v1/disposal/hosts/{host_id}");
    assert_eq!(post(&h, &format!("{base}/start"), &analyst, start_body("Ana", "Bo", true)).await.0, StatusCode::OK);
    let (status, answer) = post(&h, "/api/v1/agent/disposal", &token, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({ "report_id": "agent-1", "duplicate": false }));
    let (_, answer) = post(&h, "/api/v1/agent/disposal", &token, body).await;
    assert_eq!(answer["duplicate"], true);

    // The hard disk's destruction completes the case; the agent's token is then revoked.
    let destroy = json!({ "disk": HDD_SERIAL, "method": "pulverize", "witness": "Carla Dias",
        "destroyed_at": "2026-03-02T08:30:00Z" });
    let (status, status_body) = post(&h, &format!("{base}/destruction"), &analyst, destroy).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_body["state"], "sanitized");
    let (status, answer) = h.report(&token, &full(&report_with_disks("x"))).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("host_retired")));
    let audit = disposal_audit(&h).await;
    let sanitized = audit.iter().find(|(a, _)| a == "disposal.sanitized").unwrap();
    assert_eq!(sanitized.1["agent_token_revoked"], true);
    // The import by the agent is audited as the agent's.
    let admin = h.api_token(Role::Admin).await;
    let (_, log) = h.get("/api/v1/admin/audit?limit=1000", &admin).await;
    let imported = log.as_array().unwrap().iter().find(|e| e["action"] == "disposal.verification_imported").unwrap();
    assert_eq!(imported["actor"], "agent");
}

/// Issue 15, defect 3: a disposed host re-enrolled by anyone with the secret kept reporting a new, unverified disk
/// while staying `disposed`. A host leaving service accepts no inventory report and no enrolment takes its record
/// over, even one proving it holds the token; disposal revokes the token even when sanitization did not.
async fn a_retired_host_is_frozen_never_taken_over_and_its_token_ends_at_disposal(h: Harness) {
    let analyst = h.api_token(Role::Analyst).await;
    let (host_id, token) = laptop(&h, "SAMSUNG MZVLB512HAJQ-000L7").await;
    let (_, secret) = h.enroll_secret(None).await;
    // Two take-overs of the live record wait for an administrator when the disposal starts.
    for _ in 0..2 {
        assert_eq!(h.enroll(&secret, &machine()).await.0, StatusCode::ACCEPTED);
        h.advance(chrono::Duration::seconds(1));
    }
    let base = format!("/api/v1/disposal/hosts/{host_id}");
    assert_eq!(post(&h, &format!("{base}/start"), &analyst, start_body("Ana", "Bo", false)).await.0, StatusCode::OK);

    // Decommissioning: a report with another disk is refused and nothing of it is stored.
    h.advance(chrono::Duration::minutes(5));
    let swapped = report_with_disks("UNVERIFIED SSD");
    let (status, body) = h.report(&token, &full(&swapped)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("host_retired")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("decommissioning"), "{body}");
    let (_, host) = h.get(&format!("/api/v1/hosts/{host_id}"), &analyst).await;
    let models: Vec<&str> = host["sections"]["hardware"]["content"]["disks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["model"].as_str())
        .collect();
    assert!(models.contains(&"SAMSUNG MZVLB512HAJQ-000L7") && !models.contains(&"UNVERIFIED SSD"), "{models:?}");
    // No enrolment takes the record over, with or without the record's own token.
    for proof in [None, Some(token.as_str())] {
        let (status, body) = h.enroll_with(&secret, &machine(), proof).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("host_retired")), "{body}");
    }
    // A take-over held before the disposal started is never handed over: approving it closes it with the reason.
    let admin = h.api_token(Role::Admin).await;
    let held_before: Vec<String> =
        h.store.list_enrolment_requests(false, 10).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(held_before.len(), 2, "held in the setup above");
    let approve = format!("/api/v1/admin/enrolments/{}/approve", held_before[0]);
    let (status, body) = post(&h, &approve, &admin, json!({})).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("host_retired")), "{body}");
    let (_, all) = h.get("/api/v1/admin/enrolments?all=true", &admin).await;
    let closed = all.as_array().unwrap().iter().find(|r| r["id"] == held_before[0].as_str()).unwrap();
    assert_eq!((closed["state"].as_str(), closed["decided_by"].as_str()), (Some("rejected"), Some("lifecycle")));
    // The verification the agent sends for its disposal is still accepted: that is how the evidence arrives.
    let dir = tempfile::tempdir().unwrap();
    let clean = image(dir.path(), "clean.img", 4 << 20, None);
    let result = verification(&clean, ("nvme0n1", NVME_SERIAL), Some(&host_id), h.now(), "agent-1");
    let (status, body) = post(&h, "/api/v1/agent/disposal", &token, serde_json::to_value(&result).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Sanitized without revoking the token, then disposed: the token ends there.
    let destroy = json!({ "disk": HDD_SERIAL, "method": "shred", "witness": "Carla Dias" });
    assert_eq!(post(&h, &format!("{base}/destruction"), &analyst, destroy).await.1["state"], "sanitized");
    let (status, body) = h.report(&token, &full(&swapped)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("host_retired")), "{body}");
    let complete = json!({ "destination": "resale", "reference": "invoice 2026-119" });
    assert_eq!(post(&h, &format!("{base}/complete"), &analyst, complete).await.1["state"], "disposed");
    // Disposal closes what was still held for the host.
    let (_, all) = h.get("/api/v1/admin/enrolments?all=true", &admin).await;
    let other = all.as_array().unwrap().iter().find(|r| r["id"] == held_before[1].as_str()).unwrap();
    assert_eq!((other["state"].as_str(), other["decided_by"].as_str()), (Some("rejected"), Some("disposal")));
    let (status, body) = h.report(&token, &full(&swapped)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("host_retired")), "{body}");
    let (status, body) = h.enroll(&secret, &machine()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("host_retired")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("disposed"), "{body}");
    let (_, log) = h.get("/api/v1/admin/audit?limit=1000", &admin).await;
    let refused = log.as_array().unwrap().iter().filter(|e| e["action"] == "host.enroll_refused").count();
    assert_eq!(refused, 3);
    let (_, hosts) = h.get("/api/v1/hosts", &admin).await;
    assert_eq!(hosts["total"], 1, "no new host either");
}

async fn redeploy_returns_to_service(h: Harness) {
    use muster_collector::app::{audit::Actor, integrations as uc};
    let (receiver, url) = Receiver::start().await;
    let (_, secret) =
        uc::add(h.store.as_ref(), &Actor::cli(), request("assets", &url, &["disposal.redeployed"], None), h.now())
            .await
            .unwrap();
    // A subscription for production hosts hears nothing of this lab laptop.
    let (prod, prod_url) = Receiver::start().await;
    let prod_only = muster_collector::integrations::IntegrationRequest {
        tags: vec!["prod".to_owned()],
        ..request("prod", &prod_url, &["disposal.redeployed", "disposal.started"], None)
    };
    uc::add(h.store.as_ref(), &Actor::cli(), prod_only, h.now()).await.unwrap();
    let analyst = h.api_token(Role::Analyst).await;
    let (host_id, token) = laptop(&h, "SAMSUNG MZVLB512HAJQ-000L7").await;
    let base = format!("/api/v1/disposal/hosts/{host_id}");
    assert_eq!(post(&h, &format!("{base}/start"), &analyst, start_body("Ana", "Bo", false)).await.0, StatusCode::OK);
    let (status, body) = post(&h, &format!("{base}/redeploy"), &analyst, json!({ "note": "lease extended" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "in_service");
    assert_eq!(body["case"]["outcome"], "redeployed");
    // Nothing left to redeploy; the queue is empty; the host reports as before (its token was kept).
    assert_eq!(post(&h, &format!("{base}/redeploy"), &analyst, json!({})).await.0, StatusCode::CONFLICT);
    let (_, queue) = h.get("/api/v1/disposal", &analyst).await;
    assert_eq!(queue, json!([]));
    h.stored(&token, &full(&report_with_disks("SAMSUNG MZVLB512HAJQ-000L7"))).await;
    // A new decommissioning opens a fresh case.
    let (status, body) = post(&h, &format!("{base}/start"), &analyst, start_body("Ana", "Bo", false)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["case"]["closed_at"].is_null());
    let actions: Vec<String> = disposal_audit(&h).await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(actions, ["disposal.started", "disposal.redeployed", "disposal.started"]);
    // Only the step the subscription asked for.
    assert_eq!(drain(&h, "w1").await, 1);
    let got = receiver.verified(&secret);
    assert_eq!(
        (got[0]["type"].as_str(), got[0]["data"]["from"].as_str()),
        (Some("disposal.redeployed"), Some("decommissioning"))
    );
    assert_eq!(got[0]["data"]["details"]["note"], "lease extended");
    assert!(prod.got().is_empty());
}

async fn roles_and_states_are_enforced(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let analyst = h.api_token(Role::Analyst).await;
    let (host_id, _) = laptop(&h, "SAMSUNG MZVLB512HAJQ-000L7").await;
    let base = format!("/api/v1/disposal/hosts/{host_id}");
    let (status, body) = post(&h, &format!("{base}/start"), &viewer, start_body("Ana", "Bo", false)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("insufficient_role")));
    let (status, body) = h.get(&base, &viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "in_service");
    // Not decommissioning: no evidence, no completion.
    let destroy = json!({ "disk": HDD_SERIAL, "method": "shred", "witness": "C" });
    assert_eq!(post(&h, &format!("{base}/destruction"), &analyst, destroy).await.0, StatusCode::CONFLICT);
    let complete = json!({ "destination": "recycler", "reference": "r" });
    assert_eq!(post(&h, &format!("{base}/complete"), &analyst, complete).await.0, StatusCode::CONFLICT);
    // Same person as operator and verifier: a warning, not a refusal. Starting twice is refused.
    let (status, body) = post(&h, &format!("{base}/start"), &analyst, start_body("Ana Lima", "ana  lima", false)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(post(&h, &format!("{base}/start"), &analyst, start_body("A", "B", false)).await.0, StatusCode::CONFLICT);
    // A disk the inventory does not list.
    let unknown = json!({ "disk": "NOPE123", "method": "shred", "witness": "C" });
    let (status, body) = post(&h, &format!("{base}/destruction"), &analyst, unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains(HDD_SERIAL));
    assert_eq!(h.get("/api/v1/disposal/hosts/nope", &viewer).await.0, StatusCode::NOT_FOUND);
}

async fn certificates_are_signed_and_escaped(h: Harness) {
    let hostile = "<script>alert('x')</script>&\"";
    let analyst = h.api_token(Role::Analyst).await;
    let viewer = h.api_token(Role::Viewer).await;
    let (host_id, _) = laptop(&h, hostile).await;
    let base = format!("/api/v1/disposal/hosts/{host_id}");
    let (status, _) = post(&h, &format!("{base}/start"), &analyst, start_body("Ana Lima", "Ana Lima", false)).await;
    assert_eq!(status, StatusCode::OK);
    for (disk, witness) in [(NVME_SERIAL, "Bo <b>Chen</b>"), (HDD_SERIAL, "Carla Dias")] {
        let destroy = json!({ "disk": disk, "method": "shred", "witness": witness });
        assert_eq!(post(&h, &format!("{base}/destruction"), &analyst, destroy).await.0, StatusCode::OK);
    }
    let (_, status_body) = h.get(&base, &viewer).await;
    assert_eq!(status_body["state"], "sanitized");
    let id = status_body["certificates"][0]["id"].as_str().unwrap().to_owned();

    let (status, content_type, document) = get_text(&h, &format!("/api/v1/disposal/certificates/{id}"), &viewer).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/json"));
    let (_, key) = h.get("/api/v1/disposal/public-key", &viewer).await;
    let public = certificate::parse_public_key(key["public_key"].as_str().unwrap()).unwrap();
    let payload = certificate::verify(&document, &public).unwrap();
    assert_eq!(payload.media.serial, NVME_SERIAL);
    assert_eq!(payload.media.model.as_deref(), Some(hostile));
    assert_eq!(payload.media.media_type, "flash memory (NVMe SSD)");
    assert_eq!(payload.sanitization.method, "destroy");
    assert_eq!(payload.sanitization.technique, "shred");
    assert_eq!((payload.operator.as_str(), payload.verifier.as_str()), ("Ana Lima", "Bo <b>Chen</b>"));
    assert_eq!(payload.destination, "resale");
    assert_eq!(payload.location, "Lisbon office, room 2.14");
    assert_eq!(payload.host.system_serial.as_deref(), Some("PC131TBF"));
    // The hard disk's operator and witness differ; the SSD's as well: no warning on either certificate.
    assert!(payload.warnings.is_empty());

    // One changed field, or a changed signature, or another key: refused.
    let mut tampered: Value = serde_json::from_str(&document).unwrap();
    tampered["certificate"]["media"]["serial"] = json!("S4EWNX0R999999Z");
    assert!(matches!(certificate::verify(&tampered.to_string(), &public), Err(CertificateError::BadSignature)));
    let mut added: Value = serde_json::from_str(&document).unwrap();
    added["certificate"]["note"] = json!("added later");
    assert!(matches!(certificate::verify(&added.to_string(), &public), Err(CertificateError::BadSignature)));
    let mut resigned: Value = serde_json::from_str(&document).unwrap();
    let signature = resigned["signature"]["value"].as_str().unwrap().to_owned();
    let flipped = format!("{}{}", if signature.starts_with('0') { "1" } else { "0" }, &signature[1..]);
    resigned["signature"]["value"] = json!(flipped);
    assert!(matches!(certificate::verify(&resigned.to_string(), &public), Err(CertificateError::BadSignature)));
    let other = ed25519_verifying_key_of_seed(9);
    assert!(matches!(certificate::verify(&document, &other), Err(CertificateError::OtherKey { .. })));

    // Offline, with the public key alone: the collector binary, no database.
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    let bad = dir.path().join("bad.json");
    std::fs::write(&good, &document).unwrap();
    std::fs::write(&bad, tampered.to_string()).unwrap();
    let cli = |file: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_muster-collector"))
            .args(["--data-dir", "/nonexistent/muster", "certificate", "verify"])
            .arg(file)
            .args(["--public-key", key["public_key"].as_str().unwrap()])
            .output()
            .unwrap()
    };
    let ok = cli(&good);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(
        String::from_utf8_lossy(&ok.stdout).starts_with(&format!("valid: certificate {id} for medium {NVME_SERIAL}"))
    );
    let refused = cli(&bad);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("signature does not match"));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("(the key given)"));

    // Without --public-key and no collector database here, it says what to do and creates nothing (it used to
    // create a database with a new key, and then called the genuine certificate forged).
    let elsewhere = dir.path().join("not-a-data-dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_muster-collector"))
        .args(["--data-dir", elsewhere.to_str().unwrap(), "certificate", "verify"])
        .arg(&good)
        .env_remove("MUSTER_DATABASE_URL")
        .env_remove("MUSTER_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no collector database at") && err.contains("--public-key"), "{err}");
    assert!(!elsewhere.exists(), "verification created {}", elsewhere.display());

    // The printable page escapes every value.
    let (status, content_type, page) = get_text(&h, &format!("/api/v1/disposal/certificates/{id}/html"), &viewer).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "text/html; charset=utf-8"));
    assert!(!page.contains("<script>") && !page.contains("<b>Chen"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    assert!(page.contains("Bo &lt;b&gt;Chen&lt;/b&gt;"));
    // Operator and verifier of the case are one person: the status warns (each witness here is someone else).
    assert_eq!(status_body["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(h.get("/api/v1/disposal/certificates/nope", &viewer).await.0, StatusCode::NOT_FOUND);
}

fn ed25519_verifying_key_of_seed(seed: u8) -> ed25519_dalek::VerifyingKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key()
}

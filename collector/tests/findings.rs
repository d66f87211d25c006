//! Rules and findings end to end, on both stores with a controlled clock: a weak configuration reported by the real
//! ThinkPad report opens findings, fixing it resolves them, people triage them (roles enforced), risk acceptances
//! expire, time alone makes hosts stale, missing and past end of life, and operators override the policy.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::Duration;
use muster_collector::app::evaluation;
use muster_collector::model::Role;
use muster_collector::rules::{PolicySource, Rules};
use muster_shared::v1::{CheckStatus, PendingUpdate, Report};
use serde_json::{Value, json};

use crate::common::{Harness, Machine, debian, full};

both!(
    accounts_and_listeners_reach_rules_from_the_store,
    weak_configuration_opens_findings_and_the_fix_resolves_them,
    triage_with_roles_and_risk_acceptance_expiry,
    stale_missing_and_end_of_life_by_clock,
    overdue_security_updates_and_duplicate_identity,
    policy_dir_overrides_and_invalid_reload,
    scheduled_runs_evaluate_the_hosts_whose_time_based_facts_moved,
    a_run_of_replaced_rules_stops_before_its_next_host,
);

pub(crate) const MACHINE_ID: &str = "4c4c4544004d3510804bb2c04f4e3732";

fn set(report: &mut Report, id: &str, status: CheckStatus, evidence: &[&str]) {
    let check = report.checks.as_mut().unwrap().iter_mut().find(|c| c.id == id).unwrap();
    check.status = status;
    check.evidence = evidence.iter().map(|e| (*e).to_owned()).collect();
    check.reason = None;
}

/// The real ThinkPad report with an SSH server allowing root, an account without password and unencrypted disks.
pub(crate) fn weak(machine: &Machine) -> Report {
    let mut r = debian(machine);
    set(&mut r, "ssh.permit_root_login", CheckStatus::Fail, &["/etc/ssh/sshd_config:32: PermitRootLogin yes"]);
    set(&mut r, "accounts.empty_password", CheckStatus::Fail, &["/etc/shadow: guest has an empty password"]);
    set(&mut r, "disk.encryption", CheckStatus::Fail, &["/dev/nvme0n1p2 mounted on / is not on dm-crypt"]);
    r
}

/// The same machine after the administrator fixed the three problems.
pub(crate) fn fixed(machine: &Machine) -> Report {
    let mut r = debian(machine);
    set(&mut r, "ssh.permit_root_login", CheckStatus::Pass, &["/etc/ssh/sshd_config:32: PermitRootLogin no"]);
    set(&mut r, "accounts.empty_password", CheckStatus::Pass, &[]);
    set(&mut r, "disk.encryption", CheckStatus::Pass, &["/dev/mapper/nvme0n1p2_crypt mounted on / (dm-crypt)"]);
    r
}

/// (rule, severity, status) of the findings the API lists for `query`.
async fn listed(h: &Harness, token: &str, query: &str) -> Vec<(String, String, String)> {
    let (status, body) = h.get(&format!("/api/v1/findings?{query}"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn triple(rule: &str, severity: &str, status: &str) -> (String, String, String) {
    (rule.to_owned(), severity.to_owned(), status.to_owned())
}

async fn finding_id(h: &Harness, token: &str, rule: &str) -> String {
    let (_, body) = h.get(&format!("/api/v1/findings?rule={rule}"), token).await;
    body["findings"][0]["id"].as_str().unwrap().to_owned()
}

async fn post(h: &Harness, uri: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, body) = h.send(request).await;
    (status, body)
}

/// Enrols the ThinkPad and stores `report`; returns (host id, host token).
async fn enrolled_with(h: &Harness, report: &Report) -> (String, String) {
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(report)).await;
    (host, token)
}

async fn run_schedule(h: &Harness) {
    let policy = Rules::builtin().unwrap().current();
    evaluation::evaluate_all(h.store.as_ref(), &policy, h.now(), muster_collector::app::evaluation::Scope::Due)
        .await
        .unwrap();
}

async fn weak_configuration_opens_findings_and_the_fix_resolves_them(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (host, token) = enrolled_with(&h, &weak(&machine)).await;

    let open = vec![
        triple("accounts.empty_password", "critical", "open"),
        triple("disk.encryption", "high", "open"),
        triple("ssh.permit_root_login", "high", "open"),
        triple("usb.storage_disabled", "low", "open"),
        triple("malware.scanner", "info", "open"),
    ];
    assert_eq!(listed(&h, &viewer, "status=open").await, open);
    assert_eq!(listed(&h, &viewer, "severity=high&status=open").await, open[1..3].to_vec());
    let (status, body) = h.get(&format!("/api/v1/hosts/{host}/findings?severity=critical"), &viewer).await;
    assert_eq!(status, StatusCode::OK);
    let f = &body["findings"][0];
    assert_eq!(f["title"], "Account with an empty password");
    assert_eq!(f["evidence"], json!(["/etc/shadow: guest has an empty password"]));
    assert_eq!(f["hostname"], "lab-t480s");
    assert_eq!(f["first_seen"], "2026-03-02T09:00:00Z");
    assert_eq!(f["due_at"], "2026-03-09T09:00:00Z", "critical: 7 days");
    assert_eq!(f["overdue"], false);
    let (_, body) = h.get("/api/v1/findings?rule=disk.encryption", &viewer).await;
    assert_eq!(
        body["findings"][0]["evidence"],
        json!(["/dev/nvme0n1p2 mounted on / is not on dm-crypt", "chassis: Notebook"])
    );

    // A week and a day later the critical one is overdue; paging and CSV see the same list.
    h.advance(Duration::days(8));
    assert_eq!(listed(&h, &viewer, "overdue=true").await, vec![triple("accounts.empty_password", "critical", "open")]);
    let (_, page) = h.get("/api/v1/findings?limit=2&offset=2", &viewer).await;
    assert_eq!((page["total"].as_i64(), page["next_offset"].as_i64()), (Some(5), Some(4)));
    let request = Request::get("/api/v1/findings?format=csv&severity=high")
        .header(header::AUTHORIZATION, format!("Bearer {viewer}"))
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(h.app.clone(), request).await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let csv = String::from_utf8(bytes.to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("id,host_id,hostname,kind,rule_id,subject,severity,status,title,"));
    assert!(lines[1].contains(",lab-t480s,rule,disk.encryption,,high,open,Laptop disk not encrypted,"), "{csv}");
    assert!(lines[1].ends_with(",/dev/nvme0n1p2 mounted on / is not on dm-crypt | chassis: Notebook"), "{csv}");

    // The administrator fixes the machine; the next report resolves the three findings by itself.
    let envelope = full(&fixed(&machine));
    h.stored(&token, &envelope).await;
    assert_eq!(
        listed(&h, &viewer, "status=resolved").await,
        vec![
            triple("accounts.empty_password", "critical", "resolved"),
            triple("disk.encryption", "high", "resolved"),
            triple("ssh.permit_root_login", "high", "resolved"),
        ]
    );
    let (_, body) = h.get("/api/v1/findings?rule=ssh.permit_root_login", &viewer).await;
    assert_eq!(body["findings"][0]["resolved_report_id"], envelope.report_id.as_str());
    assert_eq!(body["findings"][0]["resolved_at"], "2026-03-10T09:00:00Z");
    assert_eq!(listed(&h, &viewer, "status=open").await, open[3..].to_vec());

    // The weakness comes back: the same finding reopens with a new first-seen time and due date.
    h.advance(Duration::days(1));
    h.stored(&token, &full(&weak(&machine))).await;
    let id = finding_id(&h, &viewer, "ssh.permit_root_login").await;
    let (_, detail) = h.get(&format!("/api/v1/findings/{id}"), &viewer).await;
    assert_eq!(
        (detail["status"].as_str(), detail["first_seen"].as_str()),
        (Some("reopened"), Some("2026-03-11T09:00:00Z"))
    );
    let steps: Vec<(&str, &str, Value)> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["to_status"].as_str().unwrap(), e["report_id"].clone()))
        .collect();
    assert_eq!(steps.len(), 3);
    assert_eq!((steps[0].0, steps[0].1), ("opened", "open"));
    assert_eq!(steps[1], ("resolved", "resolved", json!(envelope.report_id)));
    assert_eq!((steps[2].0, steps[2].1), ("recurred", "reopened"));
}

async fn triage_with_roles_and_risk_acceptance_expiry(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let analyst = h.api_token(Role::Analyst).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = enrolled_with(&h, &weak(&machine)).await;
    let id = finding_id(&h, &viewer, "ssh.permit_root_login").await;
    let uri = |action: &str| format!("/api/v1/findings/{id}/{action}");

    let (status, body) = post(&h, &uri("acknowledge"), &viewer, json!({ "comment": "mine" })).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("insufficient_role")));
    let (status, body) = post(&h, &uri("acknowledge"), &analyst, json!({ "comment": "ticket OPS-12" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "acknowledged");
    assert_eq!(body["ack_comment"], "ticket OPS-12");
    assert!(body["acknowledged_by"].as_str().unwrap().starts_with("api-token:"), "{body}");
    let (status, body) = post(&h, &uri("acknowledge"), &analyst, json!({})).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_transition")));

    let (status, body) = post(&h, &uri("accept-risk"), &analyst, json!({ "reason": "jump host" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "accepting a risk needs an expiry (expires_at)");
    let (status, _) = post(&h, &uri("accept-risk"), &viewer, json!({ "reason": "x", "expires_in": "30d" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) =
        post(&h, &uri("accept-risk"), &analyst, json!({ "reason": "jump host, replaced in Q2", "expires_in": "30d" }))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "risk_accepted");
    assert_eq!(body["risk_expires_at"], "2026-04-01T09:00:00Z");
    assert_eq!(body["risk_reason"], "jump host, replaced in Q2");

    // Reports and the schedule keep it accepted until the expiry; then it reopens by itself.
    h.advance(Duration::days(29));
    h.stored(&token, &full(&weak(&machine))).await;
    run_schedule(&h).await;
    let (_, f) = h.get(&format!("/api/v1/findings/{id}"), &viewer).await;
    assert_eq!(f["status"], "risk_accepted");
    h.advance(Duration::hours(25));
    run_schedule(&h).await;
    run_schedule(&h).await;
    let (_, f) = h.get(&format!("/api/v1/findings/{id}"), &viewer).await;
    assert_eq!(f["status"], "reopened");
    assert_eq!(f["overdue"], true, "due 30 days after 2026-03-02");
    let history: Vec<(String, String, String)> = f["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let actor = e["actor"].as_str().unwrap();
            let who = if actor.starts_with("api-token:") { "analyst" } else { actor };
            (e["action"].as_str().unwrap().to_owned(), e["to_status"].as_str().unwrap().to_owned(), who.to_owned())
        })
        .collect();
    let step = |a: &str, s: &str, w: &str| (a.to_owned(), s.to_owned(), w.to_owned());
    assert_eq!(
        history,
        vec![
            step("opened", "open", "evaluator"),
            step("acknowledged", "acknowledged", "analyst"),
            step("risk_accepted", "risk_accepted", "analyst"),
            step("risk_acceptance_expired", "reopened", "evaluator"),
            // Reopened past its due date: escalated in the same run, once (the schedule ran twice).
            step("overdue", "reopened", "evaluator"),
        ]
    );
    assert_eq!(f["history"][1]["source_ip"], "192.0.2.10");

    // A person can reopen what was acknowledged; every step is in the audit log with who and from where.
    post(&h, &uri("acknowledge"), &analyst, json!({})).await;
    let (status, body) = post(&h, &uri("reopen"), &analyst, json!({ "comment": "not fixed after all" })).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("reopened")));
    let admin = h.api_token(Role::Admin).await;
    let (_, audit) = h.get("/api/v1/admin/audit?limit=1000", &admin).await;
    let actions: Vec<(String, Value)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == id.as_str())
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["source_ip"].clone()))
        .rev()
        .collect();
    let ip = json!("192.0.2.10");
    assert_eq!(
        actions,
        vec![
            ("finding.opened".to_owned(), Value::Null),
            ("finding.acknowledged".to_owned(), ip.clone()),
            ("finding.risk_accepted".to_owned(), ip.clone()),
            ("finding.risk_acceptance_expired".to_owned(), Value::Null),
            ("finding.acknowledged".to_owned(), ip.clone()),
            ("finding.reopened".to_owned(), ip),
        ]
    );
    let (status, _) = post(&h, "/api/v1/findings/nope/acknowledge", &analyst, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The findings of rules that change with time alone.
async fn time_rules(h: &Harness, token: &str) -> Vec<(String, String, String)> {
    listed(h, token, "limit=100")
        .await
        .into_iter()
        .filter(|(r, _, _)| r.starts_with("host.") || r.starts_with("os."))
        .collect()
}

async fn stale_missing_and_end_of_life_by_clock(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = enrolled_with(&h, &debian(&machine)).await;
    run_schedule(&h).await;
    assert_eq!(time_rules(&h, &viewer).await, vec![]);
    h.advance(Duration::days(7));
    run_schedule(&h).await;
    assert_eq!(time_rules(&h, &viewer).await, vec![triple("host.stale", "low", "open")]);
    h.advance(Duration::days(23));
    run_schedule(&h).await;
    assert_eq!(
        time_rules(&h, &viewer).await,
        vec![triple("host.missing", "medium", "open"), triple("host.stale", "low", "resolved")]
    );
    // The machine comes back on 2026-04-12, 90 days before Debian 12's end of security support (2026-07-11).
    h.advance(Duration::days(11));
    h.stored(&token, &full(&debian(&machine))).await;
    assert_eq!(
        time_rules(&h, &viewer).await,
        vec![
            triple("host.missing", "medium", "resolved"),
            triple("os.end_of_life_soon", "medium", "open"),
            triple("host.stale", "low", "resolved"),
        ]
    );
    let (_, body) = h.get("/api/v1/findings?rule=os.end_of_life_soon", &viewer).await;
    assert_eq!(
        body["findings"][0]["evidence"],
        json!(["Debian GNU/Linux 12 (bookworm): debian 12 security support ends 2026-07-11 (in 90 days)"])
    );
    // Regular support ends; Debian LTS carries it to 2028-06-30: a low "extended support" finding, no high "end of
    // life" one.
    h.advance(Duration::days(90));
    h.stored(&token, &full(&debian(&machine))).await;
    let (_, body) = h.get("/api/v1/findings?rule=os.extended_support&status=open", &viewer).await;
    assert_eq!(body["findings"][0]["severity"], "low");
    assert_eq!(
        body["findings"][0]["evidence"],
        json!([
            "Debian GNU/Linux 12 (bookworm): debian 12 regular security support ended 2026-07-11; extended support \
             until 2028-06-30"
        ])
    );
    let (_, body) = h.get("/api/v1/findings?rule=os.end_of_life", &viewer).await;
    assert_eq!(body["total"], 0, "{body}");
    assert_eq!(listed(&h, &viewer, "rule=os.end_of_life_soon").await[0].2, "resolved");
}

async fn overdue_security_updates_and_duplicate_identity(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let mut report = debian(&machine);
    // libssl3 of this image (3.0.15-1~deb12u1) with the later bookworm-security release pending.
    report.patches = Some(muster_shared::v1::Patches {
        manager: Some("apt".to_owned()),
        pending: Some(vec![PendingUpdate {
            name: "libssl3".to_owned(),
            arch: Some("amd64".to_owned()),
            installed_version: "3.0.15-1~deb12u1".to_owned(),
            candidate_version: "3.0.16-1~deb12u1".to_owned(),
            security: true,
            origin: Some("Debian-Security/bookworm-security".to_owned()),
        }]),
        pending_count: Some(1),
        security_count: Some(1),
        ..Default::default()
    });
    let (_, token) = enrolled_with(&h, &report).await;
    h.advance(Duration::days(14));
    h.stored(&token, &full(&report)).await;
    assert!(listed(&h, &viewer, "rule=patch.security_overdue").await.is_empty());
    h.advance(Duration::days(1));
    h.stored(&token, &full(&report)).await;
    let (_, body) = h.get("/api/v1/findings?rule=patch.security_overdue", &viewer).await;
    assert_eq!(body["findings"][0]["severity"], "high");
    assert_eq!(
        body["findings"][0]["evidence"],
        json!(["libssl3 3.0.15-1~deb12u1 -> 3.0.16-1~deb12u1 pending for 15 days"])
    );
    // Installed: the pending list empties and the finding resolves.
    report.patches.as_mut().unwrap().pending = Some(Vec::new());
    h.stored(&token, &full(&report)).await;
    assert_eq!(listed(&h, &viewer, "rule=patch.security_overdue").await[0].2, "resolved");

    // A clone of the disk image enrols as a second host with the same hardware identity: both are flagged.
    let (_, secret) = h.enroll_secret(None).await;
    let clone = Machine { hostname: "lab-t480s-clone".into(), ..Machine::thinkpad("22222222222222222222222222222222") };
    let (_, clone_token) = h.enrolled(&secret, &clone).await;
    h.stored(&clone_token, &full(&debian(&clone))).await;
    run_schedule(&h).await;
    let (_, body) = h.get("/api/v1/findings?rule=identity.duplicate", &viewer).await;
    let mut hosts: Vec<&str> =
        body["findings"].as_array().unwrap().iter().map(|f| f["hostname"].as_str().unwrap()).collect();
    // Equal in the worklist's order (same rule, priority and age), they come in host id order: compare as a set.
    hosts.sort_unstable();
    assert_eq!(hosts, ["lab-t480s", "lab-t480s-clone"]);
}

/// The app over `h`'s store and clock with the policy of `dir`.
async fn policy_dir_overrides_and_invalid_reload(h: Harness) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("10-site.toml"),
        r#"[params]
stale_days = 3

# Root logins are worse here, and nobody runs a malware scanner on Linux.
[[rule]]
id = "ssh.permit_root_login"
severity = "critical"
sla_days = 2

[[rule]]
id = "malware.scanner"
enabled = false

[[rule]]
id = "site.lab_laptop"
title = "Laptop in the lab"
severity = "low"
sla_days = 60
match = 'host.laptop && "lab" in host.tags'
evidence = '["chassis " + host.chassis_type]'
"#,
    )
    .unwrap();
    let source = PolicySource { policy_dir: Some(dir.path().to_owned()), eol_file: None, eol_text: None };
    let h = h.with_rules(Rules::load(source).unwrap());
    let viewer = h.api_token(Role::Viewer).await;
    let admin = h.api_token(Role::Admin).await;

    let (_, list) = h.get("/api/v1/rules", &viewer).await;
    let by_id: BTreeMap<&str, &Value> =
        list["rules"].as_array().unwrap().iter().map(|r| (r["id"].as_str().unwrap(), r)).collect();
    assert_eq!(by_id.len(), 44);
    assert!(!by_id.contains_key("malware.scanner"));
    assert_eq!(by_id["ssh.permit_root_login"]["severity"], "critical");
    assert_eq!(by_id["ssh.permit_root_login"]["title"], "SSH server allows root login", "kept from the built-in");
    assert!(by_id["site.lab_laptop"]["origin"].as_str().unwrap().ends_with("10-site.toml"));
    assert_eq!(list["params"]["stale_days"], 3);
    let fingerprint = list["fingerprint"].clone();

    let machine = Machine::thinkpad(MACHINE_ID);
    enrolled_with(&h, &weak(&machine)).await;
    assert_eq!(
        listed(&h, &viewer, "status=open").await,
        vec![
            triple("ssh.permit_root_login", "critical", "open"),
            triple("accounts.empty_password", "critical", "open"),
            triple("disk.encryption", "high", "open"),
            triple("site.lab_laptop", "low", "open"),
            triple("usb.storage_disabled", "low", "open"),
        ]
    );
    let (_, body) = h.get("/api/v1/findings?rule=site.lab_laptop", &viewer).await;
    assert_eq!(body["findings"][0]["evidence"], json!(["chassis Notebook"]));

    // A broken file is refused with its file, rule and position; the rules in force stay.
    std::fs::write(
        dir.path().join("20-broken.toml"),
        "[[rule]]\nid = \"site.broken\"\ntitle = \"Broken\"\nseverity = \"low\"\nsla_days = 1\nmatch = 'host.laptop && && true'\n",
    )
    .unwrap();
    let (status, _) = post(&h, "/api/v1/rules/reload", &viewer, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = post(&h, "/api/v1/rules/reload", &admin, json!({})).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_policy")));
    let path = dir.path().join("20-broken.toml").display().to_string();
    let message = body["message"].as_str().unwrap();
    // Line 6 is `match = 'host.laptop && && true'`: the second `&&` is at column 25.
    assert!(
        message.starts_with(&format!("{path}:6:25: rule site.broken: match: Syntax error: extraneous input '&&'")),
        "{message}"
    );
    let (_, list) = h.get("/api/v1/rules", &viewer).await;
    assert_eq!(list["fingerprint"], fingerprint);

    // Fixed and reloaded: every host is evaluated with the new rules at once.
    std::fs::write(dir.path().join("20-broken.toml"), "[[rule]]\nid = \"usb.storage_disabled\"\nenabled = false\n")
        .unwrap();
    let (status, body) = post(&h, "/api/v1/rules/reload", &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["rules"].as_u64(), body["evaluation"]["hosts"].as_u64()), (Some(43), Some(1)));
    assert_eq!(body["evaluation"]["resolved"], 1);
    assert_eq!(listed(&h, &viewer, "rule=usb.storage_disabled").await[0].2, "resolved");

    // The same mistakes at start-up: an unknown severity names its position too.
    std::fs::write(
        dir.path().join("20-broken.toml"),
        "[[rule]]\nid = \"site.sev\"\ntitle = \"t\"\nseverity = \"urgent\"\nsla_days = 1\nmatch = 'true'\n",
    )
    .unwrap();
    let err = Rules::load(PolicySource { policy_dir: Some(dir.path().to_owned()), eol_file: None, eol_text: None })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{path}:4:12: rule site.sev: severity \"urgent\" is not one of critical, high, medium, low, info")
    );
}

/// The CLI over a SQLite database the test can name: list (JSON, CSV, table), acknowledge, accept-risk, and
/// `rules validate` refusing a broken file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_lists_and_triages() {
    muster_collector::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("muster.db");
    let url = format!("sqlite://{}", db.display());
    let store: Arc<dyn muster_collector::store::Store> =
        Arc::new(muster_collector::store::SqliteStore::open(&url).await.unwrap());
    let h = Harness::with_policy(store, crate::common::Backend::Sqlite, muster_collector::ServicePolicy::default());
    let viewer = h.api_token(Role::Viewer).await;
    enrolled_with(&h, &weak(&Machine::thinkpad(MACHINE_ID))).await;

    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_muster-collector"))
            .args(["--data-dir", dir.path().to_str().unwrap(), "--database-url", &url])
            .args(args)
            .env_remove("MUSTER_CONFIG")
            .env("USER", "alice")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (ok, out, err) = cli(&["--format", "json", "findings", "list", "--severity", "high", "--status", "open"]);
    assert!(ok, "{err}");
    let page: Value = serde_json::from_str(&out).unwrap();
    let rules: Vec<&str> =
        page["findings"].as_array().unwrap().iter().map(|f| f["rule_id"].as_str().unwrap()).collect();
    assert_eq!(rules, ["disk.encryption", "ssh.permit_root_login"]);

    let (ok, out, _) = cli(&["--format", "csv", "findings", "list", "--severity", "critical"]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].contains(",rule,accounts.empty_password,,critical,open,Account with an empty password,"));

    let (ok, out, _) = cli(&["--format", "table", "findings", "list", "--status", "open"]);
    assert!(ok);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().take(3).collect()).collect();
    assert_eq!(rows[0], ["ID", "SEVERITY", "STATUS"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header[5..], ["HOST", "RULE", "SUBJECT", "TITLE"]);
    assert_eq!(rows.len(), 6, "{out}");
    assert_eq!(&rows[1][1..], ["critical", "open"]);

    let id = finding_id(&h, &viewer, "ssh.permit_root_login").await;
    let (ok, _, err) = cli(&["findings", "acknowledge", &id, "--comment", "ticket OPS-7"]);
    assert!(ok, "{err}");
    assert_eq!(err.trim(), format!("finding {id} is now acknowledged"));
    let (ok, _, err) = cli(&["findings", "accept-risk", &id, "--reason", "bastion", "--expires-in", "7d"]);
    assert!(ok, "{err}");
    let (_, f) = h.get(&format!("/api/v1/findings/{id}"), &viewer).await;
    assert_eq!((f["status"].as_str(), f["acknowledged_by"].as_str()), (Some("risk_accepted"), Some("cli:alice")));
    assert_eq!(f["risk_reason"], "bastion");
    let (ok, _, err) = cli(&["findings", "reopen", "no-such-finding"]);
    assert!(!ok);
    assert_eq!(err.trim(), "error: finding no-such-finding not found");

    let policy = dir.path().join("policy");
    std::fs::create_dir(&policy).unwrap();
    std::fs::write(policy.join("site.toml"), "[[rule]]\nid = \"ssh.permit_root_login\"\nseverity = \"severe\"\n")
        .unwrap();
    let (ok, _, err) = cli(&["rules", "validate", "--policy-dir", policy.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        format!(
            "error: loading the rules: {}:3:12: rule ssh.permit_root_login: severity \"severe\" is not one of \
             critical, high, medium, low, info",
            policy.join("site.toml").display()
        )
    );
    // A typo in a variable or a field is refused with file, rule and position, not loaded to never match.
    let rule = |id: &str, condition: &str| {
        format!("[[rule]]\nid = \"{id}\"\ntitle = \"T\"\nseverity = \"low\"\nsla_days = 30\nmatch = '{condition}'\n")
    };
    let site = policy.join("site.toml");
    std::fs::write(&site, rule("site.lab_laptop", "hots.laptop")).unwrap();
    let (ok, _, err) = cli(&["rules", "validate", "--policy-dir", policy.to_str().unwrap()]);
    assert!(!ok);
    let prefix = format!(
        "error: loading the rules: {}:6:10: rule site.lab_laptop: match: unknown variable `hots` (the variables are ",
        site.display()
    );
    assert!(err.trim().starts_with(&prefix), "{err}");
    assert!(err.contains("host, last_seen_days, now, os, params, patches, software"), "{err}");
    std::fs::write(&site, rule("site.stale", "last_seen_days >= params.stale_dayz")).unwrap();
    let (ok, _, err) = cli(&["rules", "validate", "--policy-dir", policy.to_str().unwrap()]);
    assert!(!ok);
    let prefix = format!(
        "error: loading the rules: {}:6:35: rule site.stale: match: `params` has no field `stale_dayz` (it has ",
        site.display()
    );
    assert!(err.trim().starts_with(&prefix), "{err}");
    std::fs::remove_file(&site).unwrap();
    let (ok, out, _) = cli(&["rules", "validate"]);
    assert!(ok);
    assert!(out.starts_with("policy valid: 44 rules, 17 end-of-life products, fingerprint "), "{out}");
}

/// Accounts and listening sockets reach the rules as the store keeps them: the development VM's real report (sshd
/// from openssh-server on port 2222; alice logged in on 2026-12-03, here in the sudo group as the agent reports her
/// after `adduser alice sudo`), evaluated again on schedule from either database, with an operator rule over
/// `software.listeners` beside the built-in `account.admin_dormant`.
async fn accounts_and_listeners_reach_rules_from_the_store(h: Harness) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("10-net.toml"),
        r#"[[rule]]
id = "site.ssh_listening"
title = "SSH server reachable"
severity = "low"
sla_days = 30
match = 'software.listeners.exists(l, l.owner == "openssh-server")'
evidence = 'software.listeners.filter(l, l.owner == "openssh-server").map(l, l.address + ":" + string(l.port))'
"#,
    )
    .unwrap();
    let source = PolicySource { policy_dir: Some(dir.path().to_owned()), eol_file: None, eol_text: None };
    let rules = Rules::load(source).unwrap();
    let policy = rules.current();
    let h = h.with_rules(rules);
    let viewer = h.api_token(Role::Viewer).await;
    let machine = Machine { hostname: "vm".into(), machine_id: Some("vm-sshd".into()), uuid: None, serial: None };
    let mut report = crate::common::report("debian12-sshd-listening.json", &machine);
    let alice = report.host.as_mut().unwrap().accounts.iter_mut().find(|a| a.name == "alice").unwrap();
    alice.groups.push("sudo".into());
    alice.admin = true;
    alice.admin_evidence = vec!["group sudo".into()];
    // 2027-03-01, 87 days after alice's login: not yet dormant.
    h.advance(chrono::DateTime::parse_from_rfc3339("2027-03-01T09:00:00Z").unwrap().to_utc() - h.now());
    let (_, secret) = h.enroll_secret(None).await;
    let (_, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;
    let rules_of = |rows: Vec<(String, String, String)>| -> Vec<String> { rows.into_iter().map(|r| r.0).collect() };
    let open = rules_of(listed(&h, &viewer, "status=open").await);
    assert!(open.contains(&"site.ssh_listening".to_owned()) && !open.contains(&"account.admin_dormant".to_owned()));

    h.advance(Duration::days(4));
    evaluation::evaluate_all(h.store.as_ref(), &policy, h.now(), muster_collector::app::evaluation::Scope::Due)
        .await
        .unwrap();
    let open = rules_of(listed(&h, &viewer, "status=open").await);
    assert!(open.contains(&"account.admin_dormant".to_owned()), "{open:?}");
    assert!(open.contains(&"site.ssh_listening".to_owned()), "the stored listeners are facts: {open:?}");
    let (_, body) = h.get("/api/v1/findings?rule=account.admin_dormant", &viewer).await;
    assert_eq!(
        body["findings"][0]["evidence"],
        json!(["alice (group sudo): last login 2026-12-03 21:55 UTC from 127.0.0.1, 91 days ago"])
    );
    let (_, body) = h.get("/api/v1/findings?rule=site.ssh_listening", &viewer).await;
    assert_eq!(body["findings"][0]["evidence"], json!(["0.0.0.0:2222", ":::2222"]));
}

/// Issue 14: every 15 minutes the schedule evaluated every host again, though a host's answer changes with time only
/// when one of its whole-day counts does (or at midnight, for end-of-life dates). Over one day of quarter-hour runs
/// the ThinkPad is evaluated a few times, not 96; a rule that reads `now` itself makes it due at every run; a
/// re-enrolment makes it due at once.
async fn scheduled_runs_evaluate_the_hosts_whose_time_based_facts_moved(h: Harness) {
    let machine = Machine::thinkpad(MACHINE_ID);
    let report = debian(&machine);
    let (host, token) = enrolled_with(&h, &report).await;
    let policy = Rules::builtin().unwrap().current();
    assert!(!policy.reads_now);
    let run = |scope| {
        let policy = policy.clone();
        let h = &h;
        async move { evaluation::evaluate_all(h.store.as_ref(), &policy, h.now(), scope).await.unwrap() }
    };
    // The report's own evaluation scheduled the next one.
    let first = run(evaluation::Scope::Due).await;
    assert_eq!((first.hosts, first.not_due), (0, 1));
    let all = run(evaluation::Scope::All).await;
    assert_eq!((all.hosts, all.not_due), (1, 0));

    // The instants the host's facts count days from, and midnight: a day of quarter-hour runs crosses each once.
    let facts = h.store.host_facts(&host).await.unwrap().unwrap();
    let logins = facts.host.iter().flat_map(|h| &h.accounts).filter_map(|a| a.last_login.as_ref()).count();
    let lists = facts.patches.iter().filter_map(|p| p.lists_updated_at).count();
    let mut evaluated = Vec::new();
    for quarter in 1..=96 {
        h.advance(Duration::minutes(15));
        let run = run(evaluation::Scope::Due).await;
        assert_eq!(run.hosts + run.not_due, 1);
        if run.hosts == 1 {
            evaluated.push(quarter);
            // Evaluated exactly when a count moved: the next is after now, and the run just before saw none.
            let next = policy.next_evaluation(&facts, h.now() - Duration::minutes(15));
            assert!(next <= h.now(), "run {quarter}: due at {next}, evaluated at {}", h.now());
        }
    }
    // last_seen, the logins, the package lists' refresh, the pending updates, and midnight.
    let distinct_anchors = 1 + logins + lists + facts.security_pending.len() + 1;
    assert!(
        !evaluated.is_empty() && evaluated.len() <= distinct_anchors,
        "evaluated at quarters {evaluated:?} of 96 ({distinct_anchors} instants at most)"
    );

    // An evaluation that read the facts before a change landed leaves the host due, not scheduled from stale
    // facts: a change without a report (here vulnerability findings applied), then a report.
    let stale = h.store.host_facts(&host).await.unwrap().unwrap();
    let mut tx = h.store.begin_findings_tx().await.unwrap();
    tx.mark_evaluation_due(&host).await.unwrap();
    tx.commit().await.unwrap();
    h.store.schedule_evaluation(&stale, h.now() + Duration::days(1)).await.unwrap();
    assert_eq!(run(evaluation::Scope::Due).await.hosts, 1, "marked while evaluated: still due");
    let stale = h.store.host_facts(&host).await.unwrap().unwrap();
    h.advance(Duration::minutes(1));
    h.stored(&token, &full(&report)).await;
    h.store.schedule_evaluation(&stale, h.now() + Duration::days(1)).await.unwrap();
    assert_eq!(run(evaluation::Scope::Due).await.hosts, 1, "reported while evaluated: still due");
    assert_eq!(run(evaluation::Scope::Due).await.hosts, 0);

    // The collector's scheduled run evaluates every host until a run of every host with these rules has finished
    // in this process (at start, or after a reload whose run failed).
    let scheduled = muster_collector::app::evaluation::run_once(&h.state, evaluation::Scope::Due).await.unwrap();
    assert_eq!((scheduled.hosts, scheduled.not_due), (1, 0));
    let scheduled = muster_collector::app::evaluation::run_once(&h.state, evaluation::Scope::Due).await.unwrap();
    assert_eq!((scheduled.hosts, scheduled.not_due), (0, 1));

    // A re-enrolment (tags can change) is a change without a report: due at once.
    let (_, secret) = h.enroll_secret(None).await;
    let (status, body) = h.enroll_with(&secret, &machine, Some(&token)).await;
    assert_eq!((status, body["reenrolled"].as_bool()), (axum::http::StatusCode::OK, Some(true)), "{body}");
    let run = run(evaluation::Scope::Due).await;
    assert_eq!(run.hosts, 1, "re-enrolled: due at once");

    // A site rule that reads the clock itself can change at any moment: every host at every run.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("10-site.toml"),
        r#"[[rule]]
id = "site.business_hours"
title = "Seen outside business hours"
severity = "info"
sla_days = 30
match = 'now.getHours() >= 18 && last_seen_days == 0'
"#,
    )
    .unwrap();
    let source = PolicySource { policy_dir: Some(dir.path().to_owned()), eol_file: None, eol_text: None };
    let clocked = Rules::load(source).unwrap().current();
    assert!(clocked.reads_now);
    // Loading rules is a reload: every host, once.
    evaluation::evaluate_all(h.store.as_ref(), &clocked, h.now(), evaluation::Scope::All).await.unwrap();
    for _ in 0..3 {
        h.advance(Duration::minutes(15));
        let run = evaluation::evaluate_all(h.store.as_ref(), &clocked, h.now(), evaluation::Scope::Due).await.unwrap();
        assert_eq!((run.hosts, run.not_due), (1, 0));
    }
}

/// A reload replaces the rules while a run of the old ones is under way: that run stops before its next host (the new
/// rules' run covers every host), and what it had not reached is still due for the next scheduled run, not lost.
async fn a_run_of_replaced_rules_stops_before_its_next_host(h: Harness) {
    let (_, secret) = h.enroll_secret(None).await;
    for id in ["m-replaced-1", "m-replaced-2", "m-replaced-3"] {
        let machine = Machine::thinkpad(id);
        let (_, token) = h.enrolled(&secret, &machine).await;
        h.stored(&token, &full(&debian(&machine))).await;
    }
    let policy = Rules::builtin().unwrap().current();
    let store = h.store.as_ref();
    // Two days' silence moves every host's `last_seen_days`: all three are due.
    h.advance(Duration::days(2));
    let checked = std::sync::atomic::AtomicUsize::new(0);
    let replaced_after_one = || checked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 1;
    for scope in [evaluation::Scope::Due, evaluation::Scope::All] {
        checked.store(0, std::sync::atomic::Ordering::SeqCst);
        let run = evaluation::evaluate_while(store, &policy, h.now(), scope, &replaced_after_one).await.unwrap();
        assert!(run.superseded, "{scope:?}");
        assert_eq!(run.hosts, 1, "{scope:?}: one host evaluated, then the run stopped");
    }
    // The stopped runs evaluated the first host by id (twice); the other two are still due.
    let next = evaluation::evaluate_all(store, &policy, h.now(), evaluation::Scope::Due).await.unwrap();
    assert!(!next.superseded);
    assert_eq!((next.hosts, next.not_due), (2, 1));
}

//! ServiceNow: findings become incidents that follow them (work notes, resolved with a resolution code, back in
//! progress when they return, a new incident once the old one is closed), against a Table API stand-in
//! (tests/peers/servicenow/server.mjs) that follows ServiceNow's Table API reference and the base incident table,
//! and logs every field or query a real instance would silently ignore.

use muster_collector::model::Role;
use muster_collector::model::integrations::ServiceNowSettings;

use super::*;

both!(
    findings_become_servicenow_incidents_that_follow_them,
    servicenow_is_managed_from_the_api_the_cli_and_the_console,
);

const USER: &str = "muster.integration";
/// Spaces within and around it: ServiceNow passwords may have them, and every path keeps them.
const PASSWORD: &str = " correct horse battery ";
const GROUP: &str = "287ebd7da9fe198100f92cc8d1d2154e";

/// The ServiceNow stand-in, with the integration user the tests use.
fn start_instance() -> NodePeer {
    NodePeer::start("servicenow", &[("SN_USER", USER), ("SN_PASSWORD", PASSWORD)])
}

async fn sn_incidents(sn: &NodePeer) -> Vec<Value> {
    sn.get("/__test/incidents").await.as_array().unwrap().clone()
}

fn servicenow_request(url: &str, password: &str) -> IntegrationRequest {
    IntegrationRequest {
        kind: IntegrationKind::ServiceNow,
        servicenow: Some(ServiceNowSettings {
            user: USER.to_owned(),
            assignment_group: Some(GROUP.to_owned()),
            priorities: [("high".to_owned(), 3)].into(),
            close_code: None,
        }),
        token: Some(password.to_owned()),
        ..request("incidents", url, &[], Some(Severity::High))
    }
}

async fn findings_become_servicenow_incidents_that_follow_them(h: Harness) {
    let sn = start_instance();
    let cli = Actor::cli();
    // The password crosses the network in every request: plain http only to this machine.
    let far = uc::add(h.store.as_ref(), &cli, servicenow_request("http://acme.service-now.com", PASSWORD), h.now());
    assert!(far.await.unwrap_err().to_string().contains("https"));
    let pathed = servicenow_request(&format!("{}/api/now", sn.url), PASSWORD);
    assert!(uc::add(h.store.as_ref(), &cli, pathed, h.now()).await.unwrap_err().to_string().contains("address alone"));
    let host_events =
        IntegrationRequest { events: vec!["host.enrolled".to_owned()], ..servicenow_request(&sn.url, PASSWORD) };
    let refused = uc::add(h.store.as_ref(), &cli, host_events, h.now()).await.unwrap_err();
    assert!(refused.to_string().contains("not a finding event"), "{refused}");

    // A wrong password: the test send says so with ServiceNow's own answer.
    let (i, secret) = uc::add(h.store.as_ref(), &cli, servicenow_request(&sn.url, "wrong"), h.now()).await.unwrap();
    let i_id = i.id.clone();
    assert_eq!(secret, None, "the password is never shown back");
    assert_eq!(i.events.len(), 8, "an incident follows every finding event: {:?}", i.events);
    credential_is_tested_and_replaced(&h, "incidents", "User Not Authenticated", PASSWORD).await;
    let calls = sn.calls().await;
    assert_eq!(calls.last().unwrap(), &("GET".to_owned(), format!("/api/now/table/sys_user_group/{GROUP}")));

    // A weak machine opens three findings at high or worse. The instance creates the first incident, but its
    // answer is lost: the retry finds it by its correlation ID instead of opening a second one.
    reqwest::get(format!("{}/__test/lose-next-create", sn.url)).await.unwrap();
    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;
    drain(&h, "w1").await;
    let (_, log) = uc::deliveries(h.store.as_ref(), "incidents", 10).await.unwrap();
    let lost: Vec<_> = log.iter().filter(|d| d.attempts == 1 && d.status != DeliveryStatus::Delivered).collect();
    assert_eq!(lost.len(), 1, "{log:#?}");
    assert!(lost[0].response_code.is_none() && lost[0].error.is_some(), "no answer: {:?}", lost[0]);
    h.advance(TimeDelta::seconds(10));
    drain(&h, "w1").await;
    let incidents = sn_incidents(&sn).await;
    assert_eq!(incidents.len(), 3, "one incident per finding, none twice: {incidents:#?}");
    let creates = sn.calls().await.iter().filter(|(m, p)| m == "POST" && p == "/api/now/table/incident").count();
    assert_eq!(creates, 3, "the lost one was found by its correlation ID, not made again");
    let opened = h.store.list_findings(&FindingFilter { limit: 100, ..Default::default() }).await.unwrap();
    for f in opened.findings.iter().filter(|f| f.severity >= Severity::High) {
        let incident = incidents.iter().find(|i| i["correlation_id"] == format!("muster-{}-{}", f.id, i_id)).unwrap();
        // Priority as the instance computed it from impact and urgency: critical 1 by default, high mapped to 3.
        let priority = if f.severity == Severity::Critical { "1" } else { "3" };
        assert_eq!(incident["priority"], priority, "{f:?}: {incident}");
        assert_eq!(incident["assignment_group"], GROUP);
        assert_eq!(incident["state"], "1");
    }
    let root = opened.findings.iter().find(|f| f.rule_id == "ssh.permit_root_login").unwrap().clone();
    let incident = |all: &[Value]| {
        all.iter()
            .find(|i| i["correlation_id"] == format!("muster-{}-{}", root.id, i_id) && i["active"] == "true")
            .cloned()
    };
    let first = incident(&incidents).unwrap();
    let (number, sys_id) = (first["number"].as_str().unwrap().to_owned(), first["sys_id"].as_str().unwrap().to_owned());
    assert!(first["short_description"].as_str().unwrap().contains(&machine.hostname), "{first}");

    // The finding's API and console page show its incident, linked into the instance.
    let viewer = h.api_token(Role::Viewer).await;
    let (status, detail) = h.get(&format!("/api/v1/findings/{}", root.id), &viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["tickets"][0]["ticket"], number.as_str());
    assert_eq!(detail["tickets"][0]["url"], format!("{}/incident.do?sys_id={sys_id}", sn.url));
    // The incident says what to do: the finding's remediation as the collector had it when opening.
    let remediation = detail["remediation"].as_str().unwrap();
    assert!(!remediation.is_empty());
    let description = first["description"].as_str().unwrap();
    assert!(description.contains(&format!("Remediation: {remediation}")), "{description}");
    assert!(description.contains("Rule: ssh.permit_root_login"), "{description}");
    let alice = crate::console::user(&h, "alice", Role::Viewer).await;
    let page = crate::console::get(&h, &format!("/findings/{}", root.id), &alice).await;
    assert!(page.body.contains(&format!("{}/incident.do?sys_id={sys_id}", sn.url)), "{}", page.body);

    // Someone acknowledges it: a work note with who and why, the state untouched.
    let request = TransitionRequest {
        finding_id: root.id.clone(),
        action: Action::Acknowledge,
        actor: "alice".to_owned(),
        source_ip: None,
        at: h.now(),
        comment: Some("patching tonight".to_owned()),
        expires_at: None,
    };
    muster_collector::app::findings::act(h.store.as_ref(), request).await.unwrap();
    assert_eq!(drain(&h, "w1").await, 1);
    let acknowledged = incident(&sn_incidents(&sn).await).unwrap();
    assert_eq!(acknowledged["journal"].as_array().unwrap().len(), 1);
    assert!(acknowledged["journal"][0]["text"].as_str().unwrap().contains("patching tonight"));
    assert_eq!(acknowledged["journal"][0]["kind"], "work_notes");
    assert_eq!(acknowledged["state"], "1");

    // Fixed: every incident is resolved with a code and notes (the data policy refuses it without).
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&fixed(&machine))).await;
    drain(&h, "w1").await;
    let incidents = sn_incidents(&sn).await;
    assert!(incidents.iter().all(|i| i["state"] == "6" && i["close_code"] == "Solution provided"), "{incidents:#?}");

    // It comes back: the same incident goes back in progress, not a new one.
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&weak(&machine))).await;
    drain(&h, "w1").await;
    let incidents = sn_incidents(&sn).await;
    assert_eq!(incidents.len(), 3, "{incidents:#?}");
    assert!(incidents.iter().all(|i| i["state"] == "2"), "{incidents:#?}");
    assert_eq!(incident(&incidents).unwrap()["states"], serde_json::json!(["6", "2"]));

    // Someone closes one in ServiceNow (closed incidents are read-only): the finding's resolution has nothing left
    // to say there; when the finding comes back, it gets a new incident.
    reqwest::get(format!("{}/__test/close?number={number}", sn.url)).await.unwrap();
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&fixed(&machine))).await;
    drain(&h, "w1").await;
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&weak(&machine))).await;
    drain(&h, "w1").await;
    let incidents = sn_incidents(&sn).await;
    assert_eq!(incidents.len(), 4, "{incidents:#?}");
    let renewed = incident(&incidents).unwrap();
    assert_ne!(renewed["number"], number.as_str());
    let (_, detail) = h.get(&format!("/api/v1/findings/{}", root.id), &viewer).await;
    assert_eq!(detail["tickets"][0]["ticket"], renewed["number"]);
    // And one deleted there: likewise.
    let renewed_number = renewed["number"].as_str().unwrap().to_owned();
    reqwest::get(format!("{}/__test/delete?number={renewed_number}", sn.url)).await.unwrap();
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&fixed(&machine))).await;
    drain(&h, "w1").await;
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&weak(&machine))).await;
    drain(&h, "w1").await;
    let again = incident(&sn_incidents(&sn).await).unwrap();
    assert!(again["number"] != renewed_number.as_str() && again["number"] != number.as_str(), "{again}");

    // Every request was one the Table API documents, with fields the incident table has, and none was refused
    // bar the wrong password's and the reads of the deleted incident.
    let refused = sn.refusals().await;
    let unexpected: Vec<_> = refused.iter().filter(|r| r["status"] != 401 && r["status"] != 404).collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert_eq!(refused.iter().filter(|r| r["status"] == 404).count(), 2, "{refused:#?}");
    let (_, log) = uc::deliveries(h.store.as_ref(), "incidents", 100).await.unwrap();
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Delivered), "{log:#?}");
}

async fn servicenow_is_managed_from_the_api_the_cli_and_the_console(h: Harness) {
    use axum::http::Method;

    use crate::console::{encode, get, request as page_request, user};
    let sn = start_instance();
    let admin = h.api_token(Role::Admin).await;
    let settings = serde_json::json!({ "user": USER, "priorities": { "critical": 1 } });
    let new = serde_json::json!({ "name": "api-snow", "kind": "servicenow", "url": sn.url, "servicenow": settings,
        "token": PASSWORD });
    let (status, created) = call(&h, "POST", "/api/v1/integrations", &admin, Some(new)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created.get("secret").is_none(), "the password is never answered back: {created}");
    assert_eq!(created["integration"]["servicenow"]["user"], USER);
    assert_eq!(created["integration"]["kind"], "servicenow");
    let (_, all) = call(&h, "GET", "/api/v1/integrations", &admin, None).await;
    assert!(!all.to_string().contains(PASSWORD), "{all}");
    call(&h, "POST", "/api/v1/integrations/api-snow/test", &admin, None).await;
    drain(&h, "w").await;
    let (_, log) = call(&h, "GET", "/api/v1/integrations/api-snow/deliveries", &admin, None).await;
    assert_eq!(log[0]["response_code"], 200, "{log}");
    for (bad, why) in [
        (serde_json::json!({ "name": "x", "kind": "servicenow", "url": sn.url, "servicenow": settings }), "password"),
        (serde_json::json!({ "name": "x", "kind": "servicenow", "url": sn.url, "token": PASSWORD }), "password"),
        (
            serde_json::json!({ "name": "x", "kind": "servicenow", "url": sn.url, "token": PASSWORD,
                "servicenow": { "user": USER, "assignment_group": "Service Desk" } }),
            "sys_id",
        ),
        (
            serde_json::json!({ "name": "x", "kind": "servicenow", "url": sn.url, "token": PASSWORD,
                "servicenow": { "user": USER, "priorities": { "high": 9 } } }),
            "1 (Critical) to 5",
        ),
        (
            serde_json::json!({ "name": "x", "url": sn.url, "servicenow": settings, "token": PASSWORD }),
            "no ServiceNow settings",
        ),
    ] {
        let (status, body) = call(&h, "POST", "/api/v1/integrations", &admin, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["message"].as_str().unwrap().contains(why), "{why}: {body}");
    }
    let (status, body) = call(
        &h,
        "PUT",
        "/api/v1/integrations/api-snow/token",
        &admin,
        Some(serde_json::json!({ "token": "new password" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    call(&h, "POST", "/api/v1/integrations/api-snow/test", &admin, None).await;
    drain(&h, "w").await;
    let (_, log) = call(&h, "GET", "/api/v1/integrations/api-snow/deliveries", &admin, None).await;
    assert_eq!(log[0]["response_code"], 401, "the replaced password is the one used: {log}");

    // The command line: the password from a file (its spaces kept), a test that reaches the group.
    let database = h.database_url.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    let password_file = data.path().join("servicenow-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let out = collector(data.path(), &database)
        .args(["integrations", "add", "--kind", "servicenow", "--url", &sn.url, "--name", "cli-snow"])
        .args(["--servicenow-user", USER, "--servicenow-assignment-group", GROUP])
        .args(["--servicenow-priority", "critical=1,high=2", "--servicenow-close-code", "Solved (Permanently)"])
        .arg("--token-file")
        .arg(&password_file)
        .output_off_runtime()
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["integration"]["servicenow"]["priorities"]["high"], 2);
    assert_eq!(added["integration"]["servicenow"]["close_code"], "Solved (Permanently)");
    let out = collector(data.path(), &database).args(["integrations", "test", "cli-snow"]).output_off_runtime().await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((record["status"].as_str(), record["response_code"].as_u64()), (Some("delivered"), Some(200)));
    let missing = collector(data.path(), &database)
        .args(["integrations", "add", "--kind", "servicenow", "--url", &sn.url, "--servicenow-user", USER])
        .output_off_runtime()
        .await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--token-file"));
    let mixed = collector(data.path(), &database)
        .args(["integrations", "add", "--kind", "servicenow", "--url", &sn.url, "--jira-project", "SEC"])
        .output_off_runtime()
        .await;
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("--jira-… options are for --kind jira"));

    // The console: added from the form, the password never shown, replaced from its own form.
    let alice = user(&h, "alice", Role::Admin).await;
    let csrf = get(&h, "/admin/integrations", &alice).await.csrf();
    let form = format!(
        "csrf={csrf}&op=add&name=console-snow&kind=servicenow&url={}&servicenow_user={USER}&token={}\
         &servicenow_assignment_group={GROUP}&servicenow_priorities={}&events=&min_severity=",
        encode(&sn.url),
        encode(PASSWORD),
        encode("critical=1")
    );
    let page = page_request(&h, Method::POST, "/admin/integrations", Some(&alice), Some(&form)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Integration console-snow added"), "{}", page.body);
    assert!(!page.body.contains(PASSWORD) && !page.body.contains("whsec_"), "{}", page.body);
    assert!(
        page.body.contains("Replace console-snow&#39;s password")
            || page.body.contains("Replace console-snow's password"),
        "{}",
        page.body
    );
    let added = uc::found(h.store.as_ref(), "console-snow").await.unwrap();
    assert_eq!(added.servicenow.as_ref().unwrap().assignment_group.as_deref(), Some(GROUP));
    let audit = format!("{:?}", h.store.list_audit(1000).await.unwrap());
    assert!(audit.contains("integration.created") && !audit.contains(PASSWORD), "{audit}");
}

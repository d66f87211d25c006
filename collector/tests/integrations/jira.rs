//! Jira: findings become tickets that follow them (comments, Done on resolve, To Do when they come back), against
//! a Jira Cloud stand-in (tests/peers/jira/server.mjs) that checks every request with jira.js's schemas, generated
//! from Atlassian's published REST v3 description, and Atlassian's own ADF validator, and refuses what Jira
//! refuses.

use muster_collector::model::Role;
use muster_collector::model::integrations::JiraSettings;

use super::*;

both!(findings_become_jira_tickets_that_follow_them, jira_is_managed_from_the_api_the_cli_and_the_console,);

const USER: &str = "muster@example.com";
const TOKEN: &str = "ATATT3xFfGF0-test-token";

/// The Jira Cloud stand-in, with the account the tests use.
fn start_jira() -> NodePeer {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/jira");
    assert!(
        dir.join("node_modules/jira.js").is_dir() && dir.join("node_modules/@atlaskit/adf-utils").is_dir(),
        "the Jira stand-in's packages are not installed (.ci/prepare.d/86-jira-peer.sh installs them)"
    );
    NodePeer::start("jira", &[("JIRA_USER", USER), ("JIRA_TOKEN", TOKEN)])
}

async fn jira_issues(jira: &NodePeer) -> Vec<Value> {
    jira.get("/__test/issues").await.as_array().unwrap().clone()
}

fn jira_request(url: &str, token: &str) -> IntegrationRequest {
    IntegrationRequest {
        kind: IntegrationKind::Jira,
        jira: Some(JiraSettings {
            project: "SEC".to_owned(),
            issue_type: "Bug".to_owned(),
            user: USER.to_owned(),
            priorities: [("critical", "Highest"), ("high", "High")]
                .into_iter()
                .map(|(s, p)| (s.to_owned(), p.to_owned()))
                .collect(),
            done_transition: None,
            reopen_transition: None,
        }),
        token: Some(token.to_owned()),
        ..request("tickets", url, &[], Some(Severity::High))
    }
}

async fn findings_become_jira_tickets_that_follow_them(h: Harness) {
    let jira = start_jira();
    let cli = Actor::cli();
    // The token crosses the network in every request: plain http only to this machine.
    let far = uc::add(h.store.as_ref(), &cli, jira_request("http://jira.example.com", TOKEN), h.now()).await;
    assert!(far.unwrap_err().to_string().contains("https"));
    let webhook_events =
        IntegrationRequest { events: vec!["host.enrolled".to_owned()], ..jira_request(&jira.url, TOKEN) };
    let refused = uc::add(h.store.as_ref(), &cli, webhook_events, h.now()).await.unwrap_err();
    assert!(refused.to_string().contains("not a finding event"), "{refused}");

    // A wrong token: the test send says so with Jira's own answer.
    let (i, secret) = uc::add(h.store.as_ref(), &cli, jira_request(&jira.url, "wrong"), h.now()).await.unwrap();
    assert_eq!(secret, None, "Jira's token is never shown back");
    assert_eq!(i.events.len(), 8, "a ticket follows every finding event: {:?}", i.events);
    credential_is_tested_and_replaced(&h, "tickets", "You are not authenticated", TOKEN).await;
    let calls = jira.calls().await;
    assert_eq!(calls.last().unwrap(), &("GET".to_owned(), "/rest/api/3/project/SEC".to_owned()));

    // A weak machine opens three findings at high or worse. Jira creates the first ticket, but its answer is lost:
    // the retry finds that ticket by its label instead of opening a second one.
    reqwest::get(format!("{}/__test/lose-next-create", jira.url)).await.unwrap();
    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;
    drain(&h, "w1").await;
    let (_, log) = uc::deliveries(h.store.as_ref(), "tickets", 10).await.unwrap();
    let lost: Vec<_> = log.iter().filter(|d| d.attempts == 1 && d.status != DeliveryStatus::Delivered).collect();
    assert_eq!(lost.len(), 1, "{log:#?}");
    assert_eq!((lost[0].status, lost[0].event_type.as_str()), (DeliveryStatus::Pending, "finding.opened"));
    assert!(lost[0].response_code.is_none() && lost[0].error.is_some(), "no answer: {:?}", lost[0]);
    h.advance(TimeDelta::seconds(10));
    drain(&h, "w1").await;
    let issues = jira_issues(&jira).await;
    assert_eq!(issues.len(), 3, "one ticket per finding, none twice: {issues:#?}");
    let creates = jira.calls().await.iter().filter(|(m, p)| m == "POST" && p == "/rest/api/3/issue").count();
    assert_eq!(creates, 3, "the lost one was found by its label, not made again");
    assert_eq!(jira.refusals().await.iter().filter(|r| r["status"] != 401).count(), 0, "{:#?}", jira.refusals().await);
    let opened = h.store.list_findings(&FindingFilter { limit: 100, ..Default::default() }).await.unwrap();
    let root = opened.findings.iter().find(|f| f.rule_id == "ssh.permit_root_login").unwrap().clone();
    let ticket = issues.iter().find(|i| i["labels"][1] == format!("muster-{}", root.id)).unwrap();
    assert_eq!(ticket["issuetype"], "Bug");
    assert_eq!(ticket["priority"], if root.severity == Severity::Critical { "Highest" } else { "High" });
    assert_eq!(ticket["labels"][0], "muster");
    let key = ticket["key"].as_str().unwrap().to_owned();

    // The finding's API shows its ticket, linked into Jira.
    let viewer = h.api_token(Role::Viewer).await;
    let (status, detail) = h.get(&format!("/api/v1/findings/{}", root.id), &viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["tickets"][0]["ticket"], key.as_str());
    assert_eq!(detail["tickets"][0]["integration"], "tickets");
    assert_eq!(detail["tickets"][0]["url"], format!("{}/browse/{key}", jira.url));
    // So does its console page.
    let alice = crate::console::user(&h, "alice", Role::Viewer).await;
    let page = crate::console::get(&h, &format!("/findings/{}", root.id), &alice).await;
    assert!(page.body.contains(&format!("href=\"{}/browse/{key}\"", jira.url)), "{}", page.body);
    assert!(page.body.contains("Ticket (tickets)"), "{}", page.body);

    // Someone acknowledges it: a comment with who and why, no transition.
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
    let issue = |issues: &[Value]| issues.iter().find(|i| i["key"] == key.as_str()).unwrap().clone();
    let acknowledged = issue(&jira_issues(&jira).await);
    assert_eq!(acknowledged["comments"].as_array().unwrap().len(), 1);
    assert!(acknowledged["comments"][0].to_string().contains("patching tonight"));
    assert_eq!(acknowledged["status"], "11", "still To Do");

    // Fixed: every ticket gets a comment and moves to Done, also those the subscription's filters would no longer
    // open a ticket for (a ticket hears its finding's whole life).
    let only_critical = muster_collector::integrations::SettingsChange {
        min_severity: Some(Some(Severity::Critical)),
        ..Default::default()
    };
    uc::update(h.store.as_ref(), &cli, "tickets", only_critical, h.now()).await.unwrap();
    let severities: Vec<Severity> = opened.findings.iter().map(|f| f.severity).collect();
    assert!(severities.contains(&Severity::High), "a high finding's ticket is among them: {severities:?}");
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&fixed(&machine))).await;
    drain(&h, "w1").await;
    let issues = jira_issues(&jira).await;
    assert!(issues.iter().all(|i| i["status"] == "31"), "{issues:#?}");
    assert!(issue(&issues)["comments"].as_array().unwrap().len() == 2);

    // It comes back: the same ticket is reopened (to To Do), not a new one. (The filters decide which findings get,
    // or get back, a ticket: with the bar at critical, the high ones would stay closed.)
    let any = muster_collector::integrations::SettingsChange { min_severity: Some(None), ..Default::default() };
    uc::update(h.store.as_ref(), &cli, "tickets", any, h.now()).await.unwrap();
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&weak(&machine))).await;
    drain(&h, "w1").await;
    let issues = jira_issues(&jira).await;
    assert_eq!(issues.len(), 3, "{issues:#?}");
    assert_eq!(issue(&issues)["transitions"], serde_json::json!(["Done", "To Do"]));
    assert!(issues.iter().all(|i| i["status"] == "11"));

    // Someone deletes a ticket in Jira: its finding's next change finds it gone; when the finding needs a ticket
    // again, it gets a new one.
    reqwest::get(format!("{}/__test/delete?key={key}", jira.url)).await.unwrap();
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&fixed(&machine))).await;
    drain(&h, "w1").await;
    assert_eq!(jira_issues(&jira).await.len(), 2, "a resolved finding gets no new ticket");
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&weak(&machine))).await;
    drain(&h, "w1").await;
    let issues = jira_issues(&jira).await;
    assert_eq!(issues.len(), 3, "{issues:#?}");
    let (_, detail) = h.get(&format!("/api/v1/findings/{}", root.id), &viewer).await;
    let new_key = detail["tickets"][0]["ticket"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert!(issues.iter().any(|i| i["key"] == new_key.as_str() && i["labels"][1] == format!("muster-{}", root.id)));
    let gone = jira.refusals().await.into_iter().filter(|r| r["status"] == 404).count();
    assert_eq!(gone, 2, "the two comments on the deleted ticket");

    // Every request was one Jira documents, and none was refused (bar the wrong token's and the deleted ticket's).
    let refused = jira.refusals().await;
    assert_eq!(refused.iter().filter(|r| r["status"] != 401 && r["status"] != 404).count(), 0, "{refused:#?}");
    let (_, log) = uc::deliveries(h.store.as_ref(), "tickets", 100).await.unwrap();
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Delivered), "{log:#?}");
}

async fn jira_is_managed_from_the_api_the_cli_and_the_console(h: Harness) {
    use axum::http::Method;

    use crate::console::{encode, get, request as page_request, user};
    let jira = start_jira();
    let admin = h.api_token(Role::Admin).await;
    let settings = serde_json::json!({ "project": "SEC", "issue_type": "Task", "user": USER });
    let new = serde_json::json!({ "name": "api-jira", "kind": "jira", "url": jira.url, "jira": settings,
        "token": TOKEN });
    let (status, created) = call(&h, "POST", "/api/v1/integrations", &admin, Some(new.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created.get("secret").is_none(), "the token is never answered back: {created}");
    assert_eq!(created["integration"]["jira"]["project"], "SEC");
    assert!(!created.to_string().contains(TOKEN));
    let (_, listed) = call(&h, "GET", "/api/v1/integrations/api-jira", &admin, None).await;
    assert!(!listed.to_string().contains(TOKEN), "{listed}");
    let (_, all) = call(&h, "GET", "/api/v1/integrations", &admin, None).await;
    assert!(!all.to_string().contains(TOKEN), "{all}");
    // Changing what it receives keeps its token and its rule: finding events only.
    let change = serde_json::json!({ "events": ["finding.opened", "finding.resolved"] });
    let (status, body) = call(&h, "PATCH", "/api/v1/integrations/api-jira", &admin, Some(change)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let change = serde_json::json!({ "events": ["host.enrolled"] });
    let (status, body) = call(&h, "PATCH", "/api/v1/integrations/api-jira", &admin, Some(change)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    call(&h, "POST", "/api/v1/integrations/api-jira/test", &admin, None).await;
    drain(&h, "w").await;
    let (_, log) = call(&h, "GET", "/api/v1/integrations/api-jira/deliveries", &admin, None).await;
    assert_eq!(log[0]["response_code"], 200, "the stored token still works: {log}");
    for (bad, why) in [
        (serde_json::json!({ "name": "x", "kind": "jira", "url": jira.url, "jira": settings }), "API token"),
        (
            serde_json::json!({ "name": "x", "kind": "jira", "url": jira.url, "jira": settings, "token": " " }),
            "API token",
        ),
        (
            serde_json::json!({ "name": "x", "kind": "jira", "url": jira.url, "token": TOKEN,
                "jira": { "project": "SEC" } }),
            "user",
        ),
        (serde_json::json!({ "name": "x", "kind": "jira", "url": jira.url, "token": TOKEN }), "project"),
        (serde_json::json!({ "name": "x", "url": jira.url, "jira": settings, "token": TOKEN }), "no Jira settings"),
        (
            serde_json::json!({ "name": "x", "kind": "jira", "url": jira.url, "token": TOKEN,
                "jira": { "project": "sec", "issue_type": "Task", "user": USER } }),
            "project key",
        ),
    ] {
        let (status, body) = call(&h, "POST", "/api/v1/integrations", &admin, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["message"].as_str().unwrap().contains(why), "{why}: {body}");
    }
    let analyst = h.api_token(Role::Analyst).await;
    let new_token = serde_json::json!({ "token": "other" });
    let (status, _) = call(&h, "PUT", "/api/v1/integrations/api-jira/token", &analyst, Some(new_token.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(&h, "PUT", "/api/v1/integrations/api-jira/token", &admin, Some(new_token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    call(&h, "POST", "/api/v1/integrations/api-jira/test", &admin, None).await;
    drain(&h, "w").await;
    let (_, log) = call(&h, "GET", "/api/v1/integrations/api-jira/deliveries", &admin, None).await;
    assert_eq!(log[0]["response_code"], 401, "the replaced token is the one used: {log}");

    // The command line: the token from a file, a test that reaches the project.
    let database = h.database_url.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    let token_file = data.path().join("jira-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let out = collector(data.path(), &database)
        .args(["integrations", "add", "--kind", "jira", "--url", &jira.url, "--name", "cli-jira"])
        .args(["--jira-project", "SEC", "--jira-user", USER, "--jira-priority", "critical=Highest,high=High"])
        .arg("--token-file")
        .arg(&token_file)
        .output_off_runtime()
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(added.get("secret").is_none(), "{added}");
    assert_eq!(added["integration"]["jira"]["priorities"]["critical"], "Highest");
    let out = collector(data.path(), &database).args(["integrations", "test", "cli-jira"]).output_off_runtime().await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((record["status"].as_str(), record["response_code"].as_u64()), (Some("delivered"), Some(200)));
    std::fs::write(&token_file, "Zq9-new-cli-token\n").unwrap();
    let out = collector(data.path(), &database)
        .args(["integrations", "set-token", "cli-jira", "--token-file"])
        .arg(&token_file)
        .output_off_runtime()
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = collector(data.path(), &database).args(["integrations", "test", "cli-jira"]).output_off_runtime().await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"), "{}", String::from_utf8_lossy(&out.stderr));
    let missing = collector(data.path(), &database)
        .args(["integrations", "add", "--kind", "jira", "--url", &jira.url, "--jira-project", "SEC"])
        .output_off_runtime()
        .await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--token-file"));

    // The console: added from the form, nothing secret shown, its token replaced from its own form.
    let alice = user(&h, "alice", Role::Admin).await;
    let csrf = get(&h, "/admin/integrations", &alice).await.csrf();
    let form = format!(
        "csrf={csrf}&op=add&name=console-jira&kind=jira&url={}&jira_project=SEC&jira_user={}&token={TOKEN}\
         &jira_priorities={}&events=&min_severity=",
        encode(&jira.url),
        encode(USER),
        encode("critical=Highest")
    );
    let page = page_request(&h, Method::POST, "/admin/integrations", Some(&alice), Some(&form)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Integration console-jira added"), "{}", page.body);
    assert!(!page.body.contains("whsec_") && !page.body.contains(TOKEN), "{}", page.body);
    assert!(
        page.body.contains("Replace console-jira&#39;s API token")
            || page.body.contains("Replace console-jira's API token")
    );
    let added = uc::found(h.store.as_ref(), "console-jira").await.unwrap();
    assert_eq!(added.jira.as_ref().unwrap().issue_type, "Task");
    let replace = format!("csrf={csrf}&op=token&id={}&token=other", added.id);
    let page = page_request(&h, Method::POST, "/admin/integrations", Some(&alice), Some(&replace)).await;
    assert!(page.body.contains("token is replaced"), "{}", page.body);
    let page = get(&h, "/admin/integrations", &alice).await;
    assert!(page.body.contains("console-jira") && !page.body.contains(TOKEN) && !page.body.contains("other\""));

    // Nowhere does a token show: not in the audit log, the CLI's list, nor the delivery log.
    let audit = format!("{:?}", h.store.list_audit(1000).await.unwrap());
    assert!(
        audit.contains("integration.created") && !audit.contains(TOKEN) && !audit.contains("Zq9-new-cli-token"),
        "{audit}"
    );
    let out = collector(data.path(), &database).args(["integrations", "list"]).output_off_runtime().await;
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("cli-jira") && !listed.contains(TOKEN) && !listed.contains("Zq9-new-cli-token"),
        "{listed}"
    );
    let out =
        collector(data.path(), &database).args(["integrations", "deliveries", "cli-jira"]).output_off_runtime().await;
    assert!(!String::from_utf8_lossy(&out.stdout).contains(TOKEN));
}

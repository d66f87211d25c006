//! Managing subscriptions: the API and the CLI, the console, and retention of delivered events.

use super::*;

both!(
    the_api_and_the_cli_manage_integrations,
    retention_forgets_delivered_events_and_keeps_the_rest,
    the_console_adds_tests_and_replays,
);

async fn the_api_and_the_cli_manage_integrations(h: Harness) {
    use muster_collector::model::Role;
    let (receiver, url) = Receiver::start().await;
    let admin = h.api_token(Role::Admin).await;
    let analyst = h.api_token(Role::Analyst).await;
    let new = serde_json::json!({ "name": "soc", "url": url, "events": ["finding.opened"], "min_severity": "high" });

    let (status, body) = call(&h, "POST", "/api/v1/integrations", &analyst, Some(new.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, created) = call(&h, "POST", "/api/v1/integrations", &admin, Some(new.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["integration"]["events"], serde_json::json!(["finding.opened"]));
    assert_eq!(created["integration"]["min_severity"], "high");
    assert!(created["integration"].get("secret").is_none());
    let (status, body) = call(&h, "POST", "/api/v1/integrations", &admin, Some(new.clone())).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("integration_exists")));
    for (bad, why) in [
        (serde_json::json!({ "name": "x", "url": "ftp://a.example/" }), "url"),
        (serde_json::json!({ "name": "x", "url": url, "events": ["host.exploded"] }), "unknown event type"),
        (serde_json::json!({ "name": "x y", "url": url }), "name"),
        (serde_json::json!({ "name": "x", "url": url, "secret": "mine" }), "unknown field"),
    ] {
        let (status, body) = call(&h, "POST", "/api/v1/integrations", &admin, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");
    }
    let (status, list) = call(&h, "GET", "/api/v1/integrations", &admin, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (status, queued) = call(&h, "POST", "/api/v1/integrations/soc/test", &admin, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(drain(&h, "w").await, 1);
    let (status, log) = call(&h, "GET", "/api/v1/integrations/soc/deliveries?limit=5", &admin, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log[0]["event_seq"], queued["event_seq"]);
    assert_eq!((log[0]["status"].as_str(), log[0]["response_code"].as_u64()), (Some("delivered"), Some(204)));
    let (status, body) =
        call(&h, "POST", &format!("/api/v1/integrations/soc/deliveries/{}/replay", queued["event_seq"]), &admin, None)
            .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("not_dead")));

    // After a rotation both secrets verify for a day, then only the new one signs.
    let (status, rotated) = call(&h, "POST", "/api/v1/integrations/soc/rotate-secret", &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    call(&h, "POST", "/api/v1/integrations/soc/test", &admin, None).await;
    drain(&h, "w").await;
    assert_eq!(receiver.accepts(&secret), [true, true]);
    assert_eq!(receiver.accepts(&new_secret), [false, true], "the first test was signed before the rotation");
    assert_eq!(receiver.got()[1].signature.split(' ').count(), 2);
    h.advance(TimeDelta::hours(25));
    call(&h, "POST", "/api/v1/integrations/soc/test", &admin, None).await;
    drain(&h, "w").await;
    assert_eq!(receiver.got()[2].signature.split(' ').count(), 1);
    assert_eq!(receiver.accepts(&secret), [true, true, false], "the previous secret's day is over");
    assert_eq!(receiver.accepts(&new_secret), [false, true, true]);

    // What it sends changes in place: only the fields given; null clears the least severity.
    let change = serde_json::json!({ "tags": [" prod ", "prod"], "rules": ["ssh.*"], "min_severity": null });
    let (status, body) = call(&h, "PATCH", "/api/v1/integrations/soc", &analyst, Some(change.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, updated) = call(&h, "PATCH", "/api/v1/integrations/soc", &admin, Some(change)).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (&updated["tags"], &updated["rules"], &updated["min_severity"], &updated["events"]),
        (
            &serde_json::json!(["prod"]),
            &serde_json::json!(["ssh.*"]),
            &Value::Null,
            &serde_json::json!(["finding.opened"])
        )
    );
    let (_, stored) = call(&h, "GET", "/api/v1/integrations/soc", &admin, None).await;
    assert_eq!(stored, updated);
    for (bad, status, why) in [
        (serde_json::json!({ "digest_minutes": 15 }), StatusCode::BAD_REQUEST, "only slack and teams"),
        (serde_json::json!({ "url": "https://elsewhere.example" }), StatusCode::BAD_REQUEST, "unknown field"),
        (serde_json::json!({ "events": ["host.exploded"] }), StatusCode::BAD_REQUEST, "unknown event type"),
    ] {
        let (got, body) = call(&h, "PATCH", "/api/v1/integrations/soc", &admin, Some(bad)).await;
        assert_eq!(got, status, "{body}");
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");
    }
    let (status, _) = call(&h, "PATCH", "/api/v1/integrations/nope", &admin, Some(serde_json::json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = call(&h, "POST", "/api/v1/integrations/soc/disable", &admin, None).await;
    assert_eq!((status, body["enabled"].as_bool()), (StatusCode::OK, Some(false)));
    let (status, body) = call(&h, "POST", "/api/v1/integrations/soc/test", &admin, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("integration_disabled")), "{body}");
    let (status, _) = call(&h, "DELETE", "/api/v1/integrations/soc", &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(&h, "GET", "/api/v1/integrations/soc", &admin, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (_, audit) = h.get("/api/v1/admin/audit?limit=1000", &admin).await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"integration.created") && actions.contains(&"integration.removed"), "{audit}");
    assert!(actions.contains(&"integration.updated"), "{audit}");

    // The command line: add, then a test that waits for the answer and says what it was.
    let database = h.database_url.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = collector(data.path(), &database)
        .args([
            "integrations",
            "add",
            "--kind",
            "webhook",
            "--url",
            &url,
            "--events",
            "finding.opened,finding.resolved",
        ])
        .output_off_runtime()
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = added["integration"]["name"].as_str().unwrap().to_owned();
    assert_eq!(name, "webhook-127.0.0.1");
    let cli_secret = added["secret"].as_str().unwrap().to_owned();
    let out = collector(data.path(), &database).args(["integrations", "test", &name]).output_off_runtime().await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((record["status"].as_str(), record["response_code"].as_u64()), (Some("delivered"), Some(204)));
    assert_eq!(receiver.accepts(&cli_secret), [false, false, false, true], "the CLI's test, signed with its secret");
    receiver.set(Answer::Status(410));
    let out = collector(data.path(), &database).args(["integrations", "test", &name]).output_off_runtime().await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 410"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = collector(data.path(), &database).args(["integrations", "list"]).output_off_runtime().await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["events"], serde_json::json!(["finding.opened", "finding.resolved"]));
    let out = collector(data.path(), &database)
        .args(["integrations", "update", &name, "--events", "finding.overdue", "--min-severity", "critical"])
        .args(["--tags", "lab,prod"])
        .output_off_runtime()
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let updated: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&updated["events"], &updated["min_severity"], &updated["tags"]),
        (&serde_json::json!(["finding.overdue"]), &Value::from("critical"), &serde_json::json!(["lab", "prod"]))
    );
    let out = collector(data.path(), &database)
        .args(["integrations", "update", &name, "--min-severity", "any", "--tags", ""])
        .output_off_runtime()
        .await;
    let updated: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&updated["min_severity"], &updated["tags"]), (&Value::Null, &serde_json::json!([])));
    assert_eq!(updated["events"], serde_json::json!(["finding.overdue"]), "what was not given stays");
}

async fn retention_forgets_delivered_events_and_keeps_the_rest(h: Harness) {
    use muster_collector::app::retention::{self, Retention};
    let (up, up_url) = Receiver::start().await;
    let (down, down_url) = Receiver::start().await;
    down.set(Answer::Status(503));
    let cli = Actor::cli();
    uc::add(h.store.as_ref(), &cli, request("up", &up_url, &[], None), h.now()).await.unwrap();
    uc::add(h.store.as_ref(), &cli, request("down", &down_url, &[], None), h.now()).await.unwrap();
    let sent = uc::send_test(h.store.as_ref(), &cli, "up", h.now()).await.unwrap();
    let waiting = uc::send_test(h.store.as_ref(), &cli, "down", h.now()).await.unwrap();
    assert_eq!(drain(&h, "w").await, 2);
    assert_eq!((up.got().len(), down.got().len()), (1, 1));

    let retention =
        Retention { audit: std::time::Duration::from_secs(86_400), history: std::time::Duration::from_secs(86_400) };
    let pruned = retention::prune(h.store.as_ref(), &retention, h.now(), &|| true).await.unwrap();
    assert_eq!(pruned.events, 0, "a day has not passed");
    h.advance(TimeDelta::days(2));
    let pruned = retention::prune(h.store.as_ref(), &retention, h.now(), &|| true).await.unwrap();
    assert_eq!(pruned.events, 1, "the delivered one");
    let (_, log) = uc::deliveries(h.store.as_ref(), "up", 10).await.unwrap();
    assert!(log.iter().all(|d| d.event_seq != sent));
    let (_, log) = uc::deliveries(h.store.as_ref(), "down", 10).await.unwrap();
    assert_eq!((log[0].event_seq, log[0].status), (waiting, DeliveryStatus::Pending), "still to send");
    down.set(Answer::Status(200));
    assert_eq!(drain(&h, "w").await, 1);
    assert_eq!(down.got().len(), 2);
}

async fn the_console_adds_tests_and_replays(h: Harness) {
    use axum::http::Method;
    use muster_collector::model::Role;

    use crate::console::{PASSWORD, encode, get, request, sign_in, user};
    let (receiver, url) = Receiver::start().await;
    let admin = user(&h, "alice", Role::Admin).await;
    let csrf = get(&h, "/admin/integrations", &admin).await.csrf();
    let form = format!(
        "csrf={csrf}&op=add&name=soc&url={}&events={}&min_severity=high",
        encode(&url),
        encode("finding.opened, finding.resolved")
    );
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&form)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Integration soc added"), "{}", page.body);
    let at = page.body.find("whsec_").expect("the secret shown once");
    let secret: String =
        page.body[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "_+/=".contains(*c)).collect();
    let soc = uc::found(h.store.as_ref(), "soc").await.unwrap();
    assert_eq!(soc.events, ["finding.opened", "finding.resolved"]);
    assert_eq!(soc.min_severity, Some(Severity::High));

    // A bad URL is the page's error, and nothing is added.
    let bad = format!("csrf={csrf}&op=add&name=other&url=ftp%3A%2F%2Fx&events=");
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&bad)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.store.list_integrations().await.unwrap().len(), 1);

    // Changing what it receives: the form shows the current settings, and what it sends is what the subscription
    // gets (an emptied field clears that filter).
    let page = get(&h, "/admin/integrations", &admin).await;
    assert!(page.body.contains("Change what soc receives"), "{}", page.body);
    assert!(page.body.contains("value=\"finding.opened,finding.resolved\""), "{}", page.body);
    assert!(page.body.contains("<option value=\"high\" selected>high</option>"), "{}", page.body);
    let change = format!(
        "csrf={csrf}&op=update&id={}&events={}&min_severity=&rules={}&tags=prod&digest_minutes=",
        soc.id,
        encode("finding.opened, finding.overdue"),
        encode("ssh.*")
    );
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&change)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("soc now receives: severity ≥ any; rules ssh.*; tags prod."), "{}", page.body);
    let changed = uc::found(h.store.as_ref(), "soc").await.unwrap();
    assert_eq!(changed.events, ["finding.opened", "finding.overdue"]);
    assert_eq!(
        (changed.min_severity, changed.rules.as_slice(), changed.tags.as_slice()),
        (None, ["ssh.*".to_owned()].as_slice(), ["prod".to_owned()].as_slice())
    );
    assert_eq!(changed.digest_minutes, None);
    let updated = h.store.search_audit(None, Some("integration.updated"), 10).await.unwrap();
    assert_eq!(updated.len(), 1, "{updated:?}");
    // A bad value is the page's error, and nothing changes (a digest is for chat, not a webhook).
    for bad in ["events=finding.nonsense&digest_minutes=", "events=finding.opened&digest_minutes=15"] {
        let form = format!("csrf={csrf}&op=update&id={}&min_severity=high&rules=&tags=&{bad}", soc.id);
        let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&form)).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}: {}", page.body);
    }
    assert_eq!(uc::found(h.store.as_ref(), "soc").await.unwrap().events, changed.events);

    receiver.set(Answer::Status(500));
    let test = format!("csrf={csrf}&op=test&id={}", soc.id);
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&test)).await;
    assert!(page.body.contains("queued"), "{}", page.body);
    for _ in 0..MAX_ATTEMPTS {
        drain(&h, "w").await;
        h.advance(TimeDelta::hours(1));
    }
    // Twelve hours on, the session has lapsed.
    let admin = sign_in(&h, "alice", PASSWORD).await;
    let csrf = get(&h, "/admin/integrations", &admin).await.csrf();
    let page = get(&h, "/admin/integrations", &admin).await;
    assert!(page.body.contains("status-dead"), "{}", page.body);
    let seq = uc::deliveries(h.store.as_ref(), "soc", 1).await.unwrap().1[0].event_seq;
    assert!(page.body.contains(&format!("Replay event {seq}")));
    receiver.set(Answer::Status(200));
    let replay = format!("csrf={csrf}&op=replay&id={}", encode(&format!("{}:{seq}", soc.id)));
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&replay)).await;
    assert!(page.body.contains("will be sent again"), "{}", page.body);
    drain(&h, "w").await;
    let page = get(&h, "/admin/integrations", &admin).await;
    assert!(page.body.contains("status-delivered"), "{}", page.body);
    assert_eq!(receiver.accepts(&secret).last(), Some(&true));
    let remove = format!("csrf={csrf}&op=remove&id={}", soc.id);
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&remove)).await;
    assert!(page.body.contains("soc removed"), "{}", page.body);
    assert!(h.store.list_integrations().await.unwrap().is_empty());
}

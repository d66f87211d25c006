//! Slack and Teams: every message checked by the services' own libraries.

use super::*;

both!(findings_reach_slack_and_teams_as_messages_their_own_libraries_accept, digests_hold_events_then_send_one_message,);

async fn findings_reach_slack_and_teams_as_messages_their_own_libraries_accept(h: Harness) {
    let (slack_receiver, slack_url) = Receiver::start().await;
    slack_receiver.set(Answer::Status(200));
    let (teams_receiver, teams_url) = Receiver::start().await;
    teams_receiver.set(Answer::Status(202));
    let events = ["finding.opened", "finding.acknowledged", "finding.resolved"];
    for (name, kind, url) in
        [("chat", IntegrationKind::Slack, &slack_url), ("channel", IntegrationKind::Teams, &teams_url)]
    {
        let req = IntegrationRequest { kind, ..request(name, url, &events, Some(Severity::High)) };
        uc::add(h.store.as_ref(), &Actor::cli(), req, h.now()).await.unwrap();
    }
    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;
    let page = h.store.list_findings(&FindingFilter { limit: 100, ..Default::default() }).await.unwrap();
    let root = page.findings.iter().find(|f| f.rule_id == "ssh.permit_root_login").unwrap().id.clone();
    uc::send_test(h.store.as_ref(), &Actor::cli(), "chat", h.now()).await.unwrap();
    uc::send_test(h.store.as_ref(), &Actor::cli(), "channel", h.now()).await.unwrap();
    // 3 opened (critical and high) and a test to each.
    assert_eq!(drain(&h, "w1").await, 8);

    for (receiver, validator) in [(&slack_receiver, "slack"), (&teams_receiver, "teams")] {
        let got = receiver.got();
        assert!(got.iter().all(|r| r.signature.is_empty() && r.id.is_empty()), "chat messages go unsigned");
        let messages: Vec<Value> = got.iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
        assert_eq!(messages.len(), 4);
        let (valid, text) = peer_check(validator, &messages).await;
        assert!(valid, "{validator}: {text}");
        let link = format!("{CONSOLE}/findings/{root}");
        let linked = messages.iter().filter(|m| m.to_string().contains(&format!("\"{link}\""))).count();
        assert_eq!(linked, 1, "{validator}: one message links to the finding");
        // The validators do refuse what the services refuse (so their passing means something).
        let mut broken = messages[0].clone();
        match validator {
            "slack" => broken["blocks"][0]["text"]["text"] = Value::from("x".repeat(151)),
            _ => broken["attachments"][0]["content"]["body"][0]["weight"] = Value::from("Heaviest"),
        }
        let (valid, text) = peer_check(validator, &[broken]).await;
        assert!(!valid && (text.contains("150") || text.contains("weight")), "{validator} accepted it: {text}");
    }
    let slack: Vec<Value> = slack_receiver.got().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let texts: Vec<&str> = slack.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(texts.iter().filter(|t| t.starts_with("New finding: ")).count() == 3, "{texts:?}");
    assert_eq!(texts[3], "Muster: A test from the Muster collector: this endpoint receives its events.");

    // A change by a person reaches both, with who and why.
    let request = TransitionRequest {
        finding_id: root.clone(),
        action: Action::Acknowledge,
        actor: "alice".to_owned(),
        source_ip: None,
        at: h.now(),
        comment: Some("patching tonight".to_owned()),
        expires_at: None,
    };
    muster_collector::app::findings::act(h.store.as_ref(), request).await.unwrap();
    assert_eq!(drain(&h, "w1").await, 2);
    let last: Value = serde_json::from_str(&slack_receiver.got().last().unwrap().body).unwrap();
    assert_eq!(last["blocks"][2]["elements"][0]["text"], "By alice: “patching tonight”");
    let last: Value = serde_json::from_str(&teams_receiver.got().last().unwrap().body).unwrap();
    let card = &last["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], "Finding acknowledged");
    assert_eq!(card["body"][3]["text"], "By alice: “patching tonight”");
    let (_, log) = uc::deliveries(h.store.as_ref(), "channel", 50).await.unwrap();
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Delivered && d.response_code == Some(202)));

    // The Slack channel was archived: Slack answers 410 `channel_is_archived` (api.slack.com/changelog/2016-05-17-
    // changes-to-errors-for-incoming-webhooks), and the delivery log says so.
    slack_receiver.set(Answer::Refuse(410, "channel_is_archived"));
    uc::send_test(h.store.as_ref(), &Actor::cli(), "chat", h.now()).await.unwrap();
    assert_eq!(drain(&h, "w1").await, 1);
    let (_, log) = uc::deliveries(h.store.as_ref(), "chat", 1).await.unwrap();
    assert_eq!((log[0].status, log[0].response_code), (DeliveryStatus::Pending, Some(410)));
    assert_eq!(log[0].error.as_deref(), Some("HTTP 410: channel_is_archived"));
}

/// A digest subscription holds events until the oldest has waited its minutes, then sends them as one message the
/// services' libraries accept; a test goes out at once meanwhile.
async fn digests_hold_events_then_send_one_message(h: Harness) {
    let (slack_receiver, slack_url) = Receiver::start().await;
    slack_receiver.set(Answer::Status(200));
    let (teams_receiver, teams_url) = Receiver::start().await;
    teams_receiver.set(Answer::Status(202));
    for (name, kind, url) in
        [("chat", IntegrationKind::Slack, &slack_url), ("channel", IntegrationKind::Teams, &teams_url)]
    {
        let req = IntegrationRequest {
            kind,
            digest_minutes: Some(15),
            ..request(name, url, &["finding.opened", "finding.resolved"], None)
        };
        let (i, _) = uc::add(h.store.as_ref(), &Actor::cli(), req, h.now()).await.unwrap();
        assert_eq!(i.digest_minutes, Some(15));
    }
    // A webhook takes each event: no digest for it.
    let hook = IntegrationRequest { digest_minutes: Some(15), ..request("hook", &slack_url, &[], None) };
    let err = uc::add(h.store.as_ref(), &Actor::cli(), hook, h.now()).await.unwrap_err();
    assert!(err.to_string().contains("only slack and teams"), "{err}");

    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;
    let opened = h.store.list_findings(&FindingFilter { limit: 100, ..Default::default() }).await.unwrap().total;
    assert!(opened >= 5, "{opened}");
    assert_eq!(drain(&h, "w1").await, 0, "held for 15 minutes");
    // A stored event that cannot be read (a corrupt row) is a dead letter on its own; the digest still goes out.
    let chat = uc::found(h.store.as_ref(), "chat").await.unwrap();
    let corrupt = muster_collector::model::integrations::NewEvent {
        id: "msg_corrupt".to_owned(),
        event_type: "finding.opened".to_owned(),
        at: h.now(),
        body: "{not json".to_owned(),
    };
    h.store.enqueue_event(&corrupt, std::slice::from_ref(&chat.id)).await.unwrap();
    h.advance(TimeDelta::minutes(10));
    uc::send_test(h.store.as_ref(), &Actor::cli(), "chat", h.now()).await.unwrap();
    assert_eq!(drain(&h, "w1").await, 1, "the test goes out at once, the findings stay held");
    assert_eq!(slack_receiver.got().len(), 1);
    h.advance(TimeDelta::minutes(4));
    assert_eq!(drain(&h, "w1").await, 0, "14 minutes: still held");
    h.advance(TimeDelta::minutes(1));
    let sent = drain(&h, "w1").await;
    assert_eq!(sent as i64, 2 * opened + 1, "every opened finding, to both, and the corrupt one tried once");
    let (_, chat_log) = uc::deliveries(h.store.as_ref(), "chat", 100).await.unwrap();
    let dead: Vec<_> = chat_log.iter().filter(|d| d.status == DeliveryStatus::Dead).collect();
    assert_eq!(dead.len(), 1, "{chat_log:#?}");
    assert_eq!((dead[0].attempts, dead[0].error.as_deref()), (1, Some("the stored event is not readable")));

    let slack: Value = serde_json::from_str(&slack_receiver.got()[1].body).unwrap();
    let teams: Value = serde_json::from_str(&teams_receiver.got()[0].body).unwrap();
    assert_eq!((slack_receiver.got().len(), teams_receiver.got().len()), (2, 1), "one message each");
    for (validator, message) in [("slack", &slack), ("teams", &teams)] {
        let (valid, text) = peer_check(validator, std::slice::from_ref(message)).await;
        assert!(valid, "{validator}: {text}");
    }
    let count = format!("{opened} Muster events");
    assert_eq!(slack["blocks"][0]["text"]["text"], format!("🔴 {count}"));
    assert_eq!(slack["blocks"][1]["text"]["text"], format!("{opened} × New finding"));
    let lines = slack["blocks"][2]["text"]["text"].as_str().unwrap();
    assert_eq!(lines.lines().count() as i64, opened.min(10));
    assert!(lines.lines().all(|l| l.starts_with(&format!("• <{CONSOLE}/findings/"))), "{lines}");
    assert_eq!(
        slack["blocks"].as_array().unwrap().last().unwrap()["elements"][0]["url"],
        format!("{CONSOLE}/findings")
    );
    let card = &teams["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], count);
    assert_eq!(card["actions"][0]["url"], format!("{CONSOLE}/findings"));
    let (_, log) = uc::deliveries(h.store.as_ref(), "channel", 50).await.unwrap();
    assert_eq!(log.len() as i64, opened);
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Delivered && d.response_code == Some(202)));

    // Nothing is left: the next findings start a new window.
    h.stored(&token, &full(&fixed(&machine))).await;
    assert_eq!(drain(&h, "w1").await, 0);
    h.advance(TimeDelta::minutes(15));
    assert!(drain(&h, "w1").await > 0);
    let resolved: Value = serde_json::from_str(&slack_receiver.got()[2].body).unwrap();
    assert!(resolved["blocks"][0]["text"]["text"].as_str().unwrap().starts_with("✅ "), "{resolved}");
}

//! The pure side of integrations: signatures checked by the specification's own Rust library (the
//! `standardwebhooks` crate, MIT, from github.com/standard-webhooks/standard-webhooks), filters, checks, retries.

use chrono::TimeZone;

use super::*;
use crate::model::integrations::{IntegrationKind, PayloadFormat};

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 9, 30, 0).unwrap()
}

fn headers(id: &str, ts: i64, sig: &str) -> axum::http::HeaderMap {
    let mut h = axum::http::HeaderMap::new();
    h.insert("webhook-id", id.parse().unwrap());
    h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
    h.insert("webhook-signature", sig.parse().unwrap());
    h
}

/// The reference library's own vector (`test_sign` in standardwebhooks 1.0.1's src/lib.rs): secret, id,
/// timestamp, body and the signature it expects.
#[test]
fn signature_matches_the_reference_vector() {
    let sig = signature(
        &["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"],
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1649367553,
        br#"{"email":"test@example.com","username":"test_user"}"#,
    )
    .unwrap();
    assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
}

/// The reference library accepts what we sign now, with one secret and with both during a rotation; it refuses a
/// body changed after signing and a secret that is not the receiver's.
#[test]
fn the_reference_library_verifies_our_signatures() {
    let current = new_secret([7; 32]);
    let previous = new_secret([9; 32]);
    let body = finding_body(
        "finding.opened",
        at(),
        "f1",
        "h1",
        "debian.security_updates_pending",
        &FindingBrief {
            hostname: "web-01".to_owned(),
            kind: "rule".to_owned(),
            subject: String::new(),
            title: "Security updates pending".to_owned(),
            severity: Severity::High,
            due_at: at(),
            tags: vec!["prod".to_owned()],
        },
        None,
        Status::Open,
        "evaluator",
        None,
    );
    let ts = Utc::now().timestamp();
    let both = signature(&[current.as_str(), previous.as_str()], "msg_1", ts, body.as_bytes()).unwrap();
    for receiver in [&current, &previous] {
        let wh = standardwebhooks::Webhook::new(receiver).unwrap();
        wh.verify(body.as_bytes(), &headers("msg_1", ts, &both)).unwrap();
    }
    let one = signature(&[current.as_str()], "msg_1", ts, body.as_bytes()).unwrap();
    let wh = standardwebhooks::Webhook::new(&current).unwrap();
    wh.verify(body.as_bytes(), &headers("msg_1", ts, &one)).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed["data"]["tags"], serde_json::json!(["prod"]));
    let tampered = body.replace("web-01", "web-02");
    assert!(wh.verify(tampered.as_bytes(), &headers("msg_1", ts, &one)).is_err());
    let stranger = standardwebhooks::Webhook::new(&previous).unwrap();
    assert!(stranger.verify(body.as_bytes(), &headers("msg_1", ts, &one)).is_err());
}

#[test]
fn a_secret_that_is_not_base64_is_an_error() {
    assert!(signature(&["whsec_not base64!"], "msg", 1, b"{}").is_err());
}

#[test]
fn the_previous_secret_signs_only_during_its_grace() {
    let until = at() + PREVIOUS_SECRET_GRACE;
    assert_eq!(signing_secrets("a", Some("b"), Some(until), at()), vec!["a", "b"]);
    assert_eq!(signing_secrets("a", Some("b"), Some(until), until), vec!["a"]);
    assert_eq!(signing_secrets("a", None, None, at()), vec!["a"]);
}

#[test]
fn the_body_is_type_timestamp_and_data() {
    let body: serde_json::Value =
        serde_json::from_str(&body("integration.test", at(), &serde_json::json!({"version": 1}))).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"type": "integration.test", "timestamp": "2026-12-04T09:30:00.000Z", "data": {"version": 1}})
    );
}

#[test]
fn subscriptions_filter_by_type_and_least_severity() {
    let sub = Subscription {
        kind: IntegrationKind::Webhook,
        id: "i".to_owned(),
        events: vec!["finding.opened".to_owned(), "finding.resolved".to_owned()],
        min_severity: Some(Severity::High),
        rules: Vec::new(),
        tags: Vec::new(),
    };
    let wants = |sub: &Subscription, event: &str, severity| wants(sub, event, &About { severity, ..About::default() });
    let cases = [
        ("finding.opened", Some(Severity::Critical), true),
        ("finding.opened", Some(Severity::High), true),
        ("finding.opened", Some(Severity::Medium), false),
        ("finding.acknowledged", Some(Severity::Critical), false),
        ("finding.resolved", Some(Severity::High), true),
        // An event without a severity (none yet besides findings) passes the severity filter.
        ("finding.resolved", None, true),
    ];
    for (event, severity, expected) in cases {
        assert_eq!(wants(&sub, event, severity), expected, "{event} {severity:?}");
    }
    let all = Subscription { min_severity: None, ..sub };
    assert!(wants(&all, "finding.opened", Some(Severity::Info)));
}

/// Rules match an id or a prefix ending in `*` in any case; tags match when the host has one of them; an event
/// without a rule or a host passes those filters.
#[test]
fn subscriptions_filter_by_rule_and_host_tag() {
    let sub = Subscription {
        kind: IntegrationKind::Webhook,
        id: "i".to_owned(),
        events: vec!["finding.opened".to_owned(), "host.enrolled".to_owned(), ADVISORIES_UPDATE_FAILED.to_owned()],
        min_severity: None,
        rules: vec!["ssh.*".to_owned(), "cve-2024-6387".to_owned()],
        tags: vec!["prod".to_owned(), "pci".to_owned()],
    };
    let prod = ["web".to_owned(), "prod".to_owned()];
    let lab = ["lab".to_owned()];
    let finding = |rule, tags| About { severity: Some(Severity::High), rule_id: Some(rule), tags: Some(tags) };
    assert!(wants(&sub, "finding.opened", &finding("ssh.permit_root_login", &prod)));
    assert!(wants(&sub, "finding.opened", &finding("CVE-2024-6387", &prod)));
    assert!(!wants(&sub, "finding.opened", &finding("CVE-2024-63870", &prod)));
    assert!(!wants(&sub, "finding.opened", &finding("disk.encryption", &prod)));
    assert!(!wants(&sub, "finding.opened", &finding("ssh.permit_root_login", &lab)));
    assert!(!wants(&sub, "finding.opened", &finding("ssh.permit_root_login", &[])));
    let host = |tags| About { tags: Some(tags), ..About::default() };
    assert!(wants(&sub, "host.enrolled", &host(&prod)));
    assert!(!wants(&sub, "host.enrolled", &host(&lab)));
    assert!(wants(&sub, ADVISORIES_UPDATE_FAILED, &About::default()));
}

#[test]
fn every_action_has_a_known_event_type() {
    use crate::model::findings::Action;
    let actions = [
        Action::Open,
        Action::Acknowledge,
        Action::AcceptRisk,
        Action::Reopen,
        Action::Resolve,
        Action::Recur,
        Action::Expire,
    ];
    let types: Vec<String> = actions.into_iter().map(finding_event_type).collect();
    assert_eq!(types, EVENT_TYPES[..7].to_vec());
    assert_eq!(EVENT_TYPES[7], FINDING_OVERDUE);
    assert!(EVENT_TYPES[8..].iter().all(|t| !t.starts_with("finding.")));
    assert_eq!(
        EVENT_TYPES.iter().filter(|t| t.starts_with("disposal.")).copied().collect::<Vec<_>>(),
        [DISPOSAL_STARTED, DISPOSAL_SANITIZED, DISPOSAL_COMPLETED, DISPOSAL_REDEPLOYED]
    );
}

#[test]
fn requests_are_checked() {
    let req = |name: &str, url: &str, events: &[&str]| IntegrationRequest {
        name: name.to_owned(),
        kind: IntegrationKind::Webhook,
        url: url.to_owned(),
        format: PayloadFormat::Json,
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        min_severity: None,
        rules: Vec::new(),
        tags: Vec::new(),
        digest_minutes: None,
        jira: None,
        servicenow: None,
        token: None,
    };
    let ok = check(req("soc", "https://hooks.example.com/muster", &["finding.resolved", "finding.opened"])).unwrap();
    // Filters are trimmed and deduplicated; a control character or an endless entry is refused.
    let filtered = IntegrationRequest {
        rules: vec![" ssh.* ".to_owned(), "".to_owned(), "ssh.*".to_owned()],
        tags: vec!["prod".to_owned()],
        ..req("f", "https://a.example", &[])
    };
    let checked = check(filtered).unwrap();
    assert_eq!((checked.rules, checked.tags), (vec!["ssh.*".to_owned()], vec!["prod".to_owned()]));
    let bad = IntegrationRequest { tags: vec!["a\nb".to_owned()], ..req("f", "https://a.example", &[]) };
    assert!(matches!(check(bad), Err(IntegrationError::Filter(_))));
    let long = IntegrationRequest { rules: vec!["x".repeat(129)], ..req("f", "https://a.example", &[]) };
    assert!(matches!(check(long), Err(IntegrationError::Filter(_))));
    // Digests are for chat, from a minute to a day.
    let digest = |kind, minutes| IntegrationRequest {
        kind,
        digest_minutes: Some(minutes),
        ..req("d", "https://a.example", &[])
    };
    assert!(check(digest(IntegrationKind::Slack, 15)).is_ok());
    assert!(check(digest(IntegrationKind::Teams, MAX_DIGEST_MINUTES)).is_ok());
    for (kind, minutes) in [(IntegrationKind::Webhook, 15), (IntegrationKind::Slack, 0), (IntegrationKind::Teams, 1441)]
    {
        assert!(matches!(check(digest(kind, minutes)), Err(IntegrationError::Digest(_))), "{kind:?} {minutes}");
    }
    assert_eq!(ok.events, ["finding.opened", "finding.resolved"]);
    assert_eq!(ok.url, "https://hooks.example.com/muster");
    assert_eq!(check(req("soc", "http://127.0.0.1:9/x", &[])).unwrap().events, DEFAULT_EVENTS.to_vec());
    assert!(matches!(check(req("", "https://a.example", &[])), Err(IntegrationError::Name)));
    assert!(matches!(check(req("a b", "https://a.example", &[])), Err(IntegrationError::Name)));
    assert!(matches!(check(req("a", "ftp://a.example/", &[])), Err(IntegrationError::Url(_))));
    assert!(matches!(check(req("a", "hooks.example.com", &[])), Err(IntegrationError::Url(_))));
    assert!(matches!(check(req("a", "https://u:p@a.example/", &[])), Err(IntegrationError::Url(_))));
    let syslog = |url: &str, format| IntegrationRequest { kind: IntegrationKind::Syslog, format, ..req("s", url, &[]) };
    assert!(check(syslog("tls://siem.example.com?facility=authpriv", PayloadFormat::Cef)).is_ok());
    assert!(matches!(
        check(syslog("https://siem.example.com", PayloadFormat::Json)),
        Err(IntegrationError::SyslogUrl(_))
    ));
    let cef_hook = IntegrationRequest { format: PayloadFormat::Cef, ..req("a", "https://a.example", &[]) };
    assert!(matches!(check(cef_hook), Err(IntegrationError::Format(_))));
    let chat = |kind, url: &str| IntegrationRequest { kind, ..req("c", url, &[]) };
    assert!(check(chat(IntegrationKind::Slack, "https://hooks.slack.com/services/T0/B0/x")).is_ok());
    assert!(matches!(check(chat(IntegrationKind::Teams, "udp://siem.example")), Err(IntegrationError::Url(_))));
    let cef_chat =
        IntegrationRequest { format: PayloadFormat::Cef, ..chat(IntegrationKind::Teams, "https://a.example") };
    assert!(matches!(check(cef_chat), Err(IntegrationError::Format(_))));
    assert!(matches!(
        check(req("a", "https://a.example", &["finding.opened", "host.exploded"])),
        Err(IntegrationError::Event(e)) if e == "host.exploded"
    ));
}

#[test]
fn retries_back_off_to_an_hour() {
    let waits: Vec<i64> = (1..=MAX_ATTEMPTS).map(|a| retry_after(a).num_seconds()).collect();
    assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]);
    // The last failure is final, so the retries span the waits before it.
    let span: i64 = waits[..waits.len() - 1].iter().sum();
    assert_eq!(span, 12_310);
}

#[test]
fn answers_deliver_retry_or_give_up() {
    let now = at();
    let delivered = attempt_outcome(3, Ok(Some(HttpAnswer::new(204, b""))), now);
    assert_eq!(
        (delivered.status, delivered.response_code, delivered.retry_at),
        (DeliveryStatus::Delivered, Some(204), None)
    );
    let refused = attempt_outcome(0, Ok(Some(HttpAnswer::new(500, b""))), now);
    assert_eq!(refused.status, DeliveryStatus::Pending);
    assert_eq!(refused.response_code, Some(500));
    assert_eq!(refused.retry_at, Some(now + TimeDelta::seconds(10)));
    // A redirect is not followed: the receiver's URL is what an administrator configured.
    assert_eq!(attempt_outcome(0, Ok(Some(HttpAnswer::new(301, b""))), now).status, DeliveryStatus::Pending);
    let unreachable = attempt_outcome(2, Err(Failure::Retry("connection refused".to_owned())), now);
    assert_eq!(unreachable.error.as_deref(), Some("connection refused"));
    assert_eq!(unreachable.retry_at, Some(now + TimeDelta::seconds(40)));
    // Syslog has no status: taken by the socket is delivered.
    let sent = attempt_outcome(0, Ok(None), now);
    assert_eq!((sent.status, sent.response_code), (DeliveryStatus::Delivered, None));
    // What a refusing receiver said is kept, on one line and short.
    let said = format!("invalid_blocks\r\n\tat block 2{}", " more".repeat(100));
    let refused = attempt_outcome(0, Ok(Some(HttpAnswer::new(400, said.as_bytes()))), now);
    let error = refused.error.unwrap();
    assert!(error.starts_with("HTTP 400: invalid_blocks at block 2 more more"), "{error}");
    assert_eq!(error.chars().count(), "HTTP 400: ".len() + HttpAnswer::SAID_CHARS);
    let last = attempt_outcome(MAX_ATTEMPTS - 1, Ok(Some(HttpAnswer::new(503, b""))), now);
    assert_eq!((last.status, last.retry_at), (DeliveryStatus::Dead, None));
    // What no retry can change (an event a destination cannot carry, settings lost) is dead at once.
    let never = attempt_outcome(0, Err(Failure::Never("a host.enrolled event is not a finding".to_owned())), now);
    assert_eq!((never.status, never.retry_at, never.response_code), (DeliveryStatus::Dead, None, None));
    assert_eq!(never.error.as_deref(), Some("a host.enrolled event is not a finding"));
}

fn brief(kind: &str, subject: &str, title: &str, severity: Severity) -> FindingBrief {
    FindingBrief {
        hostname: "web-01".to_owned(),
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        title: title.to_owned(),
        severity,
        due_at: at(),
        tags: Vec::new(),
    }
}

#[test]
fn chat_messages_link_to_the_finding_and_say_what_changed() {
    let body = finding_body(
        "finding.acknowledged",
        at(),
        "f1",
        "h1",
        "vuln.fix",
        &brief("vulnerability", "openssh-server", "regreSSHion <remote> & root", Severity::Critical),
        Some(Status::Open),
        Status::Acknowledged,
        "alice",
        Some("patch window Friday"),
    );
    // The fix's advisories and remediation, as the finding's details and remediation give them at delivery.
    let details = serde_json::json!({ "advisories": [{ "id": "CVE-2024-6387" }, { "id": "DSA-5724-1" }] });
    let known = tickets::Facts::of(&details, "upgrade openssh-server to 1:9.2p1-2+deb12u3");
    let slack: serde_json::Value =
        serde_json::from_str(&chat::slack(&body, Some("https://muster.example.com/"), Some(&known)).unwrap()).unwrap();
    assert_eq!(slack["text"], "Finding acknowledged: regreSSHion <remote> & root on web-01 (critical)");
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"], "🔴 Finding acknowledged");
    // mrkdwn's reserved characters are escaped; the title links to the finding.
    assert_eq!(
        blocks[1]["text"]["text"],
        "*<https://muster.example.com/findings/f1|regreSSHion &lt;remote&gt; &amp; root>*"
    );
    let fields: Vec<&str> =
        blocks[1]["fields"].as_array().unwrap().iter().map(|f| f["text"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "*Host*\nweb-01",
            "*Severity*\nCritical",
            "*Status*\nopen → acknowledged",
            "*Advisories*\nCVE-2024-6387, DSA-5724-1",
            "*Package*\nopenssh-server",
            "*Remediation*\nupgrade openssh-server to 1:9.2p1-2+deb12u3",
            "*Due*\n2026-12-04"
        ]
    );
    assert_eq!(blocks[2]["elements"][0]["text"], "By alice: “patch window Friday”");
    assert_eq!(blocks[3]["elements"][0]["url"], "https://muster.example.com/findings/f1");

    let teams: serde_json::Value =
        serde_json::from_str(&chat::teams(&body, Some("https://muster.example.com"), None).unwrap()).unwrap();
    assert_eq!(teams["type"], "message");
    let attachment = &teams["attachments"][0];
    assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &attachment["content"];
    assert_eq!(card["body"][0]["text"], "Finding acknowledged");
    assert_eq!(card["body"][0]["color"], "Attention");
    assert_eq!(card["body"][1]["text"], "regreSSHion <remote> & root");
    assert_eq!(card["body"][2]["facts"][2], serde_json::json!({ "title": "Status", "value": "open → acknowledged" }));
    // Without the finding (pruned since), the fix is named by its rule, not as an advisory.
    assert_eq!(card["body"][2]["facts"][3], serde_json::json!({ "title": "Fix", "value": "vuln.fix" }));
    assert_eq!(card["actions"][0]["url"], "https://muster.example.com/findings/f1");
}

/// An escalation: the status stays, the due date has passed; for a critical finding, syslog's critical priority.
#[test]
fn overdue_findings_say_the_due_date_passed() {
    let body = finding_body(
        FINDING_OVERDUE,
        at(),
        "f1",
        "h1",
        "accounts.empty_password",
        &brief("rule", "", "Account without a password", Severity::Critical),
        Some(Status::Reopened),
        Status::Reopened,
        "evaluator",
        None,
    );
    let slack: serde_json::Value = serde_json::from_str(&chat::slack(&body, None, None).unwrap()).unwrap();
    assert_eq!(slack["text"], "Finding overdue: Account without a password on web-01 (critical)");
    let fields: Vec<&str> =
        slack["blocks"][1]["fields"].as_array().unwrap().iter().map(|f| f["text"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "*Host*\nweb-01",
            "*Severity*\nCritical",
            "*Status*\nreopened",
            "*Rule*\naccounts.empty_password",
            "*Due*\n2026-12-04 (passed)"
        ]
    );
    let teams: serde_json::Value = serde_json::from_str(&chat::teams(&body, None, None).unwrap()).unwrap();
    assert_eq!(teams["attachments"][0]["content"]["body"][0]["text"], "Finding overdue");
    // local0 × 8 + critical (2).
    let line = syslog::message("msg_1", FINDING_OVERDUE, at(), &body, "collector", 16, syslog::Text::Body);
    assert!(line.starts_with("<130>1 ") && line.contains(" finding.overdue "), "{line}");
}

#[test]
fn chat_messages_fit_the_services_limits_and_go_without_a_link_when_there_is_no_console() {
    let long = "x".repeat(5000);
    let body = finding_body(
        "finding.resolved",
        at(),
        "f2",
        "h1",
        "ssh.permit_root_login",
        &brief("rule", "", &long, Severity::Low),
        Some(Status::Open),
        Status::Resolved,
        "evaluator",
        None,
    );
    let slack: serde_json::Value = serde_json::from_str(&chat::slack(&body, None, None).unwrap()).unwrap();
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"], "✅ Finding resolved");
    let title = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(title.chars().count() <= 3000 && title.ends_with("…*"), "{title}");
    assert!(slack["text"].as_str().unwrap().chars().count() <= 3000);
    assert!(blocks.iter().all(|b| b["type"] != "actions"), "no console, no button");
    let teams: serde_json::Value = serde_json::from_str(&chat::teams(&body, None, None).unwrap()).unwrap();
    assert_eq!(teams["attachments"][0]["content"]["actions"], serde_json::json!([]));
    assert_eq!(teams["attachments"][0]["content"]["body"][0]["color"], "Good");

    let test = body_of_test();
    let slack: serde_json::Value =
        serde_json::from_str(&chat::slack(&test, Some("https://m.example"), None).unwrap()).unwrap();
    assert_eq!(slack["blocks"][0]["text"]["text"], "Test message");
    assert_eq!(slack["blocks"][3]["elements"][0]["url"], "https://m.example/admin/integrations");
    assert!(chat::slack("not json", None, None).unwrap_err().contains("not readable"));
}

fn body_of_test() -> String {
    let data = serde_json::json!({ "version": 1, "integration": "team-chat", "message": "hello", "actor": "cli" });
    body(TEST_EVENT, at(), &data)
}

#[test]
fn host_events_say_who_enrolled_and_where_to_act() {
    let tags = vec!["linux".to_owned(), "dc-1".to_owned()];
    let duplicates = vec!["h0".to_owned()];
    let facts = HostFacts {
        host_id: "h1",
        hostname: "web-01",
        agent_version: "0.1.0",
        tags: &tags,
        duplicates: &duplicates,
        request_id: None,
        actor: "enrolment",
    };
    let enrolled = host_body(HostChange::Enrolled, at(), &facts);
    let doc: serde_json::Value = serde_json::from_str(&enrolled).unwrap();
    assert_eq!(doc["type"], "host.enrolled");
    assert_eq!(doc["data"]["title"], "New host web-01 enrolled with the identity of 1 other record(s)");
    assert_eq!(doc["data"]["path"], "/hosts/h1");
    let slack: serde_json::Value =
        serde_json::from_str(&chat::slack(&enrolled, Some("https://m.example"), None).unwrap()).unwrap();
    assert_eq!(slack["blocks"][0]["text"]["text"], "🟠 New host enrolled", "a duplicate identity is worth a look");
    let fields: Vec<&str> =
        slack["blocks"][1]["fields"].as_array().unwrap().iter().map(|f| f["text"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        ["*Host*\nweb-01", "*Host id*\nh1", "*Agent*\n0.1.0", "*Tags*\nlinux, dc-1", "*Same identity as*\nh0"]
    );

    let held = HostFacts { duplicates: &[], request_id: Some("r1"), ..facts };
    let held = host_body(HostChange::EnrolmentHeld, at(), &held);
    let teams: serde_json::Value =
        serde_json::from_str(&chat::teams(&held, Some("https://m.example"), None).unwrap()).unwrap();
    let card = &teams["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], "Enrolment waiting for approval");
    assert_eq!(card["actions"][0]["url"], "https://m.example/admin/enrolments");
    // Syslog: a record claimed by another agent is a warning (local0 × 8 + 4), a new host a notice.
    let line = syslog::message("msg_1", HOST_ENROLMENT_HELD, at(), &held, "collector", 16, syslog::Text::Body);
    assert!(line.starts_with("<132>1 "), "{line}");
    let line = syslog::message("msg_2", HOST_ENROLLED, at(), &enrolled, "collector", 16, syslog::Text::Cef);
    assert!(line.starts_with("<133>1 ") && line.contains("|New host web-01 enrolled with the identity"), "{line}");
}

#[test]
fn advisory_sources_are_named_without_their_keys() {
    assert_eq!(source_label("https://u:p@mirror.example/osv/all.zip?key=k#x"), "https://mirror.example/osv/all.zip");
    assert_eq!(source_label("/srv/advisories"), "/srv/advisories");
    let failures = [SourceFailure { source: "https://mirror.example/a.zip".to_owned(), error: "HTTP 503".to_owned() }];
    let body = advisory_failure_body(at(), 3, &failures, "advisory-update");
    let slack: serde_json::Value =
        serde_json::from_str(&chat::slack(&body, Some("https://m.example"), None).unwrap()).unwrap();
    assert_eq!(slack["text"], "Muster: Advisory update failed for 1 of 3 source(s)");
    assert_eq!(slack["blocks"][1]["fields"][0]["text"], "*Source*\nhttps://mirror.example/a.zip\nHTTP 503");
    let line = syslog::message("msg_1", ADVISORIES_UPDATE_FAILED, at(), &body, "collector", 16, syslog::Text::Body);
    assert!(line.starts_with("<131>1 "), "an error: {line}");
}

/// A digest counts every event by kind, lists the first ten linked, and says how many more; the most urgent event
/// sets its tone.
#[test]
fn digests_count_list_and_link() {
    let finding = |event: &str, id: &str, severity| {
        finding_body(
            event,
            at(),
            id,
            "h1",
            "ssh.permit_root_login",
            &brief("rule", "", "Root may log in over SSH [sshd]", severity),
            None,
            Status::Open,
            "evaluator",
            None,
        )
    };
    let mut bodies: Vec<String> =
        (0..11).map(|i| finding("finding.opened", &format!("f{i}"), Severity::High)).collect();
    bodies.push(finding("finding.resolved", "f99", Severity::Low));
    let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
    let slack: serde_json::Value =
        serde_json::from_str(&chat::slack_digest(&bodies, Some("https://m.example/")).unwrap()).unwrap();
    assert_eq!(slack["text"], "12 Muster events: 11 × New finding, 1 × Finding resolved");
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"], "🔴 12 Muster events");
    let lines: Vec<&str> = blocks[2]["text"]["text"].as_str().unwrap().lines().collect();
    assert_eq!(lines.len(), 10);
    assert_eq!(
        lines[0],
        "• <https://m.example/findings/f0|New finding: Root may log in over SSH [sshd] on web-01 (high)>"
    );
    assert_eq!(blocks[3]["elements"][0]["text"], "…and 2 more");
    assert_eq!(blocks[4]["elements"][0]["url"], "https://m.example/findings");

    let teams: serde_json::Value = serde_json::from_str(&chat::teams_digest(&bodies, None).unwrap()).unwrap();
    let card = &teams["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], "12 Muster events");
    assert_eq!(card["body"][0]["color"], "Attention");
    // Without a console address: no links, no button; brackets cannot break the Markdown.
    assert_eq!(card["body"][2]["text"], "- New finding: Root may log in over SSH (sshd) on web-01 (high)");
    assert_eq!(card["body"][12]["text"], "…and 2 more");
    assert_eq!(card["actions"], serde_json::json!([]));

    let resolved = [bodies[11]];
    let only_good: serde_json::Value = serde_json::from_str(&chat::slack_digest(&resolved, None).unwrap()).unwrap();
    assert_eq!(only_good["blocks"][0]["text"]["text"], "✅ 1 Muster event");
}

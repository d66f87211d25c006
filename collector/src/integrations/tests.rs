//! The pure side of integrations: signatures checked by the specification's own Rust library (the
//! `standardwebhooks` crate, MIT, from github.com/standard-webhooks/standard-webhooks), filters, checks, retries.

use chrono::TimeZone;

use super::*;

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
        id: "i".to_owned(),
        events: vec!["finding.opened".to_owned(), "finding.resolved".to_owned()],
        min_severity: Some(Severity::High),
    };
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
    assert_eq!(types, EVENT_TYPES.to_vec());
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
    };
    let ok = check(req("soc", "https://hooks.example.com/muster", &["finding.resolved", "finding.opened"])).unwrap();
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
    let delivered = attempt_outcome(3, Ok(Some(204)), now);
    assert_eq!(
        (delivered.status, delivered.response_code, delivered.retry_at),
        (DeliveryStatus::Delivered, Some(204), None)
    );
    let refused = attempt_outcome(0, Ok(Some(500)), now);
    assert_eq!(refused.status, DeliveryStatus::Pending);
    assert_eq!(refused.response_code, Some(500));
    assert_eq!(refused.retry_at, Some(now + TimeDelta::seconds(10)));
    // A redirect is not followed: the receiver's URL is what an administrator configured.
    assert_eq!(attempt_outcome(0, Ok(Some(301)), now).status, DeliveryStatus::Pending);
    let unreachable = attempt_outcome(2, Err("connection refused".to_owned()), now);
    assert_eq!(unreachable.error.as_deref(), Some("connection refused"));
    assert_eq!(unreachable.retry_at, Some(now + TimeDelta::seconds(40)));
    // Syslog has no status: taken by the socket is delivered.
    let sent = attempt_outcome(0, Ok(None), now);
    assert_eq!((sent.status, sent.response_code), (DeliveryStatus::Delivered, None));
    let last = attempt_outcome(MAX_ATTEMPTS - 1, Ok(Some(503)), now);
    assert_eq!((last.status, last.retry_at), (DeliveryStatus::Dead, None));
}

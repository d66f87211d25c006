//! The ServiceNow bodies, priority mapping and settings checks, on event bodies made by `finding_body` as the outbox
//! stores them. What an instance accepts is checked end to end against a Table API stand-in
//! (tests/integrations/servicenow.rs).

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::integrations::finding_body;
use crate::integrations::tickets::finding_event;
use crate::model::findings::Status;
use crate::model::integrations::FindingBrief;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap()
}

fn event(event_type: &str, severity: Severity, title: &str, comment: Option<&str>) -> EventData {
    let brief = FindingBrief {
        hostname: "web-01".to_owned(),
        kind: "vulnerability".to_owned(),
        subject: "openssh-server".to_owned(),
        title: title.to_owned(),
        severity,
        due_at: at(),
        tags: vec![],
    };
    let body =
        finding_body(event_type, at(), "f1", "h1", "CVE-2024-6387", &brief, None, Status::Open, "alice", comment);
    finding_event(&body).unwrap().1
}

fn settings() -> ServiceNowSettings {
    ServiceNowSettings { user: "muster.integration".to_owned(), ..Default::default() }
}

#[test]
fn an_incident_carries_the_finding_its_correlation_and_the_severitys_priority() {
    let d = event("finding.opened", Severity::Critical, "regreSSHion: remote code execution in sshd", None);
    let details = json!({ "advisories": [{ "id": "CVE-2024-6387" }, { "id": "DSA-5724-1" }] });
    let facts = Facts::of(&details, "upgrade openssh-server to 1:9.2p1-2+deb12u3");
    let body = create_body(&settings(), &d, Some("https://muster.example.com/"), "muster-f1", &facts);
    assert_eq!(
        body["short_description"],
        "[critical] regreSSHion: remote code execution in sshd (openssh-server) on web-01"
    );
    assert_eq!((body["impact"].as_str(), body["urgency"].as_str()), (Some("1"), Some("1")), "priority 1");
    assert_eq!(body["correlation_id"], "muster-f1");
    assert_eq!(body["correlation_display"], "Muster");
    let description = body["description"].as_str().unwrap();
    assert!(description.contains("Advisories: CVE-2024-6387, DSA-5724-1"), "{description}");
    assert!(description.contains("Package: openssh-server"), "{description}");
    assert!(description.contains("Remediation: upgrade openssh-server to 1:9.2p1-2+deb12u3"), "{description}");
    // Without its details (pruned since), the fix is named by its rule, not as an advisory.
    let bare = create_body(&settings(), &d, None, "muster-f1", &Facts::default());
    assert!(bare["description"].as_str().unwrap().contains("Fix: CVE-2024-6387"), "{bare}");
    assert!(description.ends_with("Open the finding in Muster: https://muster.example.com/findings/f1"));
    assert!(body.get("assignment_group").is_none(), "left to the instance's assignment rules");

    let group = "287ebd7da9fe198100f92cc8d1d2154e";
    let mapped = ServiceNowSettings {
        assignment_group: Some(group.to_owned()),
        priorities: [("medium".to_owned(), 1)].into(),
        ..settings()
    };
    let medium = event("finding.opened", Severity::Medium, "weak cipher", None);
    let body = create_body(&mapped, &medium, None, "muster-f1", &Facts::default());
    assert_eq!((body["impact"].as_str(), body["urgency"].as_str()), (Some("1"), Some("1")));
    assert_eq!(body["assignment_group"], group);
    let body = create_body(&settings(), &medium, None, "muster-f1", &Facts::default());
    assert_eq!((body["impact"].as_str(), body["urgency"].as_str()), (Some("2"), Some("2")), "priority 3");
}

#[test]
fn each_priority_has_the_impact_and_urgency_the_base_lookup_turns_into_it() {
    // The base system's priority lookup: priority = f(impact, urgency) with 1+1 → 1, 1+2 → 2, 2+2 → 3,
    // 2+3 → 4, 3+3 → 5 (impact and urgency 1 High, 2 Medium, 3 Low).
    let lookup = |impact: &str, urgency: &str| match (impact, urgency) {
        ("1", "1") => 1,
        ("1", "2") | ("2", "1") => 2,
        ("1", "3") | ("2", "2") | ("3", "1") => 3,
        ("2", "3") | ("3", "2") => 4,
        _ => 5,
    };
    for p in 1..=5u8 {
        let (impact, urgency) = impact_urgency(p);
        assert_eq!(lookup(impact, urgency), p);
    }
    let defaults: Vec<u8> = Severity::ALL.iter().map(|s| default_priority(*s)).collect();
    assert_eq!(defaults, [5, 4, 3, 2, 1], "info … critical");
}

#[test]
fn a_short_description_is_one_line_within_the_fields_length() {
    let d = event("finding.opened", Severity::High, &format!("line one\nline two {}", "x".repeat(300)), None);
    let short = create_body(&settings(), &d, None, "muster-f1", &Facts::default())["short_description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(short.chars().count(), 160);
    assert!(!short.contains('\n') && short.ends_with('…'), "{short}");
}

#[test]
fn a_change_is_a_work_note_and_resolving_sets_the_resolution() {
    let ack = event("finding.acknowledged", Severity::High, "regreSSHion", Some("patching tonight"));
    let body = update_body(&settings(), "finding.acknowledged", &ack, None, None, "1");
    assert_eq!(body, json!({ "work_notes": "Acknowledged in Muster. By alice.\n\n\"patching tonight\"" }));

    let fixed = event("finding.resolved", Severity::High, "regreSSHion", None);
    let body = update_body(&settings(), "finding.resolved", &fixed, None, Some(Goal::Done), "2");
    assert_eq!(body["state"], "6");
    assert_eq!(body["close_code"], DEFAULT_CLOSE_CODE);
    assert_eq!(body["close_notes"], "Muster no longer finds this on web-01.");
    let older = ServiceNowSettings { close_code: Some("Solved (Permanently)".to_owned()), ..settings() };
    assert_eq!(
        update_body(&older, "finding.resolved", &fixed, None, Some(Goal::Done), "2")["close_code"],
        "Solved (Permanently)"
    );
    // Already resolved (by someone in ServiceNow): the note only.
    let again = update_body(&settings(), "finding.resolved", &fixed, None, Some(Goal::Done), "6");
    assert!(again.get("state").is_none(), "{again}");

    let back = event("finding.recurred", Severity::High, "regreSSHion", None);
    let body = update_body(&settings(), "finding.recurred", &back, None, Some(Goal::Reopen), "6");
    assert_eq!(body["state"], "2", "back in progress");
    // Still being worked on: nothing to reopen.
    let open = update_body(&settings(), "finding.recurred", &back, None, Some(Goal::Reopen), "2");
    assert!(open.get("state").is_none(), "{open}");
    assert!(is_final("7") && is_final("8") && !is_final("6"));
}

#[test]
fn answers_give_the_number_and_sys_id() {
    // The shapes of the Table API reference's sample answers (POST: one record under "result"; GET: a list).
    let answer = created(br#"{"result":{"sys_id":"d977b66a4f411200adf9f8e18110c7b2","number":"INC0010002"}}"#);
    let t = answer.unwrap();
    assert_eq!((t.key.as_str(), t.reference.as_str()), ("INC0010002", "d977b66a4f411200adf9f8e18110c7b2"));
    assert_eq!(found(br#"{"result":[]}"#).unwrap(), None);
    let one = found(br#"{"result":[{"sys_id":"a9e30c7dc61122760116894de7bcc7bd","number":"INC0000060","state":"6"}]}"#);
    assert_eq!(one.unwrap().unwrap().key, "INC0000060");
    assert_eq!(current_state(br#"{"result":{"sys_id":"a","number":"INC1","state":"7"}}"#).unwrap(), "7");
    assert!(created(b"<html>login</html>").is_err());
}

#[test]
fn the_query_finds_the_findings_active_incident() {
    assert_eq!(search_query("muster-f1-i1"), "correlation_id=muster-f1-i1^active=true^ORDERBYDESCsys_created_on");
}

#[test]
fn settings_are_checked_as_servicenow_names_them() {
    let ok = check_settings(ServiceNowSettings {
        user: " muster.integration ".to_owned(),
        assignment_group: Some("287EBD7DA9FE198100F92CC8D1D2154E".to_owned()),
        priorities: [("HIGH".to_owned(), 1)].into(),
        close_code: Some(" Solved (Permanently) ".to_owned()),
    })
    .unwrap();
    assert_eq!(ok.user, "muster.integration");
    assert_eq!(ok.assignment_group.as_deref(), Some("287ebd7da9fe198100f92cc8d1d2154e"));
    assert_eq!(ok.priorities.get("high"), Some(&1));
    assert_eq!(ok.close_code.as_deref(), Some("Solved (Permanently)"));
    for bad in ["", "a b", "user:pass"] {
        assert!(check_settings(ServiceNowSettings { user: bad.to_owned(), ..settings() }).is_err(), "{bad:?}");
    }
    let named_group = ServiceNowSettings { assignment_group: Some("Service Desk".to_owned()), ..settings() };
    assert!(check_settings(named_group).unwrap_err().to_string().contains("sys_id"));
    for p in [0, 6] {
        let out_of_range = ServiceNowSettings { priorities: [("high".to_owned(), p)].into(), ..settings() };
        assert!(check_settings(out_of_range).is_err(), "{p}");
    }
    let unknown = ServiceNowSettings { priorities: [("urgent".to_owned(), 1)].into(), ..settings() };
    assert!(check_settings(unknown).is_err());
}

#[test]
fn priorities_are_read_as_people_write_them() {
    let pairs = priority_pairs(["critical=1", " high = 2 ", ""]).unwrap();
    assert_eq!(pairs, [("critical".to_owned(), 1), ("high".to_owned(), 2)].into());
    assert!(priority_pairs(["critical=P1"]).unwrap_err().to_string().contains("severity=priority"));
}

#[test]
fn the_user_and_password_go_as_basic_authentication() {
    // base64("muster.integration:pa ss")
    assert_eq!(authorization(&settings(), "pa ss"), "Basic bXVzdGVyLmludGVncmF0aW9uOnBhIHNz");
}

#[test]
fn code_tags_in_text_are_broken_up() {
    let d = event("finding.acknowledged", Severity::High, "t", Some("see [CODE]<img src=x>[/code]"));
    let note = update_body(&settings(), "finding.acknowledged", &d, None, None, "1")["work_notes"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(note.contains("[ CODE]<img src=x>[ /code]"), "{note}");
}

#[test]
fn the_correlation_is_the_findings_and_the_subscriptions() {
    let id = "0123456789abcdef0123456789abcdef";
    assert_eq!(correlation_id("f1", id).as_deref(), Some("muster-f1-0123456789abcdef0123456789abcdef"));
    assert!(correlation_id("f1^active=false", id).is_none(), "nothing that changes the query");
    assert!(correlation_id(&"a".repeat(33), id).is_none());
}

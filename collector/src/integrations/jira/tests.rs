//! The Jira plan, bodies and settings checks, on event bodies made by `finding_body` as the outbox stores them.
//! What Jira itself accepts is checked end to end against a stand-in validating with Atlassian's published
//! schemas (tests/integrations/jira.rs).

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::integrations::finding_body;
use crate::model::findings::Status;
use crate::model::integrations::FindingBrief;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap()
}

fn event(event_type: &str, subject: &str, title: &str, comment: Option<&str>) -> String {
    let brief = FindingBrief {
        hostname: "web-01".to_owned(),
        kind: "vulnerability".to_owned(),
        subject: subject.to_owned(),
        title: title.to_owned(),
        severity: Severity::Critical,
        due_at: at(),
        tags: vec!["prod".to_owned()],
    };
    finding_body(event_type, at(), "f1", "h1", "CVE-2024-6387", &brief, None, Status::Open, "alice", comment)
}

/// A fix's advisories and remediation as the finding's details and remediation give them.
fn facts() -> Facts {
    let details = json!({ "advisories": [{ "id": "CVE-2024-6387" }, { "id": "DSA-5724-1" }] });
    Facts::of(&details, "upgrade openssh-server to 1:9.2p1-2+deb12u3")
}

fn settings() -> JiraSettings {
    JiraSettings {
        project: "SEC".to_owned(),
        issue_type: "Bug".to_owned(),
        user: "bot@example.com".to_owned(),
        ..Default::default()
    }
}

/// Every text node of an ADF document, which Jira refuses when empty.
fn texts(node: &Value, out: &mut Vec<String>) {
    if node["type"] == "text" {
        out.push(node["text"].as_str().unwrap().to_owned());
    }
    for child in node["content"].as_array().into_iter().flatten() {
        texts(child, out);
    }
}

#[test]
fn an_opening_makes_a_ticket_later_changes_comment_and_move_it() {
    assert_eq!(plan("finding.opened", None), Plan::Create);
    assert_eq!(plan("finding.overdue", None), Plan::Create);
    assert_eq!(plan("finding.recurred", None), Plan::Create);
    // Nothing to close or acknowledge when no ticket was ever opened.
    assert_eq!(plan("finding.resolved", None), Plan::Nothing);
    assert_eq!(plan("finding.acknowledged", None), Plan::Nothing);
    // A retried opening after its ticket was recorded opens nothing more.
    assert_eq!(plan("finding.opened", Some("SEC-1")), Plan::Nothing);
    let comment = |goal| Plan::Comment { ticket: "SEC-1".to_owned(), goal };
    assert_eq!(plan("finding.resolved", Some("SEC-1")), comment(Some(Goal::Done)));
    assert_eq!(plan("finding.recurred", Some("SEC-1")), comment(Some(Goal::Reopen)));
    assert_eq!(plan("finding.risk_acceptance_expired", Some("SEC-1")), comment(Some(Goal::Reopen)));
    assert_eq!(plan("finding.acknowledged", Some("SEC-1")), comment(None));
    assert_eq!(plan("finding.overdue", Some("SEC-1")), comment(Some(Goal::Reopen)));
}

#[test]
fn a_ticket_carries_the_finding_its_label_and_the_mapped_priority() {
    let body = event("finding.opened", "openssh-server", "regreSSHion: remote code execution in sshd", None);
    let (event_type, data) = finding_event(&body).unwrap();
    assert_eq!(event_type, "finding.opened");
    let created = create_body(&settings(), &data, Some("https://muster.example.com/"), &facts());
    let f = &created["fields"];
    assert_eq!(f["project"]["key"], "SEC");
    assert_eq!(f["issuetype"]["name"], "Bug");
    assert_eq!(f["summary"], "[critical] regreSSHion: remote code execution in sshd (openssh-server) on web-01");
    assert_eq!(f["labels"], json!(["muster", "muster-f1"]));
    // No priority unless one is mapped: a create screen without the field refuses it.
    assert!(f.get("priority").is_none());
    let mut all = Vec::new();
    texts(&f["description"], &mut all);
    assert!(all.iter().all(|t| !t.is_empty()), "{all:?}");
    assert!(all.contains(&"openssh-server".to_owned()), "{all:?}");
    // The fix's advisories and what to do, not the fix group's rule id.
    assert!(
        all.contains(&"Advisories: ".to_owned()) && all.contains(&"CVE-2024-6387, DSA-5724-1".to_owned()),
        "{all:?}"
    );
    assert!(all.contains(&"upgrade openssh-server to 1:9.2p1-2+deb12u3".to_owned()), "{all:?}");
    let link = f["description"]["content"].as_array().unwrap().last().unwrap()["content"][0]["marks"][0].clone();
    assert_eq!(link["attrs"]["href"], "https://muster.example.com/findings/f1");

    let mut mapped = settings();
    mapped.priorities.insert("critical".to_owned(), "Highest".to_owned());
    assert_eq!(create_body(&mapped, &data, None, &Facts::default())["fields"]["priority"]["name"], "Highest");
}

#[test]
fn a_summary_is_one_line_within_jiras_limit() {
    let body = event("finding.opened", "", &format!("line one\nline two {}", "x".repeat(400)), None);
    let (_, data) = finding_event(&body).unwrap();
    let summary =
        create_body(&settings(), &data, None, &Facts::default())["fields"]["summary"].as_str().unwrap().to_owned();
    assert_eq!(summary.chars().count(), 255);
    assert!(!summary.contains('\n') && summary.ends_with('…'), "{summary}");
}

#[test]
fn a_comment_says_what_happened_by_whom_and_quotes_them() {
    let body = event("finding.acknowledged", "openssh-server", "regreSSHion", Some("patching tonight"));
    let (event_type, data) = finding_event(&body).unwrap();
    let comment = comment_body(&event_type, &data, None);
    let mut all = Vec::new();
    texts(&comment["body"], &mut all);
    assert_eq!(all, ["Acknowledged in Muster.", " By alice.", "patching tonight"]);
    assert_eq!(comment["body"]["content"][1]["type"], "blockquote");
}

#[test]
fn events_without_a_finding_are_refused() {
    let test = crate::integrations::body(crate::integrations::TEST_EVENT, at(), &json!({ "message": "hi" }));
    assert!(finding_event(&test).unwrap_err().contains("carries no finding"));
}

#[test]
fn the_transition_is_the_named_one_or_the_first_into_the_goals_category() {
    let answer = json!({ "fields": { "status": { "statusCategory": { "key": "done" } } }, "transitions": [
        { "id": "11", "name": "To Do", "to": { "statusCategory": { "key": "new" } } },
        { "id": "21", "name": "In Progress", "to": { "statusCategory": { "key": "indeterminate" } } },
        { "id": "31", "name": "Done", "to": { "statusCategory": { "key": "done" } } },
        { "id": "41", "name": "Won't fix", "to": { "statusCategory": { "key": "done" } } },
    ]})
    .to_string();
    let s = settings();
    assert_eq!(pick_transition(answer.as_bytes(), Goal::Done, &s).unwrap().as_deref(), Some("31"));
    assert_eq!(pick_transition(answer.as_bytes(), Goal::Reopen, &s).unwrap().as_deref(), Some("11"));
    let named = JiraSettings { done_transition: Some("won't FIX".to_owned()), ..settings() };
    assert_eq!(pick_transition(answer.as_bytes(), Goal::Done, &named).unwrap().as_deref(), Some("41"));
    let missing = JiraSettings { reopen_transition: Some("Reopen".to_owned()), ..settings() };
    assert_eq!(pick_transition(answer.as_bytes(), Goal::Reopen, &missing).unwrap(), None);
    assert!(pick_transition(b"<html>", Goal::Done, &s).is_err());
    // A ticket someone is working on (or that was never closed) is not reopened: an overdue finding's ticket in
    // progress stays in progress. Closing it still works from there.
    let mut working: serde_json::Value = serde_json::from_str(&answer).unwrap();
    working["fields"]["status"]["statusCategory"]["key"] = json!("indeterminate");
    let working = working.to_string();
    assert_eq!(pick_transition(working.as_bytes(), Goal::Reopen, &s).unwrap(), None);
    assert_eq!(pick_transition(working.as_bytes(), Goal::Done, &s).unwrap().as_deref(), Some("31"));
}

#[test]
fn settings_are_checked_as_jira_names_them() {
    let ok = check_settings(JiraSettings {
        project: " SEC_2 ".to_owned(),
        priorities: [("CRITICAL".to_owned(), "Highest".to_owned())].into(),
        ..settings()
    })
    .unwrap();
    assert_eq!(ok.project, "SEC_2");
    assert_eq!(ok.priorities.get("critical").map(String::as_str), Some("Highest"));
    for bad in ["sec", "1SEC", "SE C", ""] {
        assert!(check_settings(JiraSettings { project: bad.to_owned(), ..settings() }).is_err(), "{bad:?}");
    }
    assert!(check_settings(JiraSettings { issue_type: " ".to_owned(), ..settings() }).is_err());
    for bad in ["bot:secret", "", "bot"] {
        assert!(check_settings(JiraSettings { user: bad.to_owned(), ..settings() }).is_err(), "{bad:?}");
    }
    let unknown = JiraSettings { priorities: [("urgent".to_owned(), "P1".to_owned())].into(), ..settings() };
    assert!(check_settings(unknown).is_err());
}

#[test]
fn the_account_and_its_api_token_go_as_basic_authentication() {
    // base64("bot@example.com:t0ken")
    assert_eq!(authorization(&settings(), "t0ken"), "Basic Ym90QGV4YW1wbGUuY29tOnQwa2Vu");
}

#[test]
fn the_search_is_kept_to_the_subscriptions_project() {
    assert_eq!(search_jql("SEC", &label("f1")), "project = \"SEC\" AND labels = \"muster-f1\"");
}

#[test]
fn priorities_are_read_as_people_write_them() {
    let pairs = priority_pairs(["critical=Highest", " high = High ", ""]).unwrap();
    assert_eq!(pairs.get("critical").map(String::as_str), Some("Highest"));
    assert_eq!(pairs.get("high").map(String::as_str), Some("High"));
    assert_eq!(pairs.len(), 2);
    assert!(priority_pairs(["critical"]).unwrap_err().to_string().contains("severity=priority"));
}

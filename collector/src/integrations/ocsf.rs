//! OCSF (Open Cybersecurity Schema Framework) for the security lakes and SIEMs that speak it: a finding event as an
//! OCSF 1.8.0 Vulnerability Finding (class 2002) or Compliance Finding (2003), a test send as a Base Event, built
//! at delivery from the stored body without I/O. What OCSF has no attribute for (the due date, the host's tags, the
//! console's path, who acted) goes in `unmapped.muster`.

use chrono::DateTime;
use serde_json::{Value, json};

use super::{EventData, StoredEvent, TEST_EVENT};

/// The OCSF release the events follow (`metadata.version`).
pub const VERSION: &str = "1.8.0";

const CATEGORY_FINDINGS: u32 = 2;
const VULNERABILITY_FINDING: u32 = 2002;
const COMPLIANCE_FINDING: u32 = 2003;

/// The events an OCSF subscription can carry: finding events (each becomes a finding class); the rest have no
/// finding to describe.
pub fn takes(event_type: &str) -> bool {
    super::tickets::takes(event_type)
}

/// OCSF's `severity_id` and its caption for a Muster severity.
fn severity(s: &str) -> (u32, &'static str) {
    match s {
        "critical" => (5, "Critical"),
        "high" => (4, "High"),
        "medium" => (3, "Medium"),
        "low" => (2, "Low"),
        "info" => (1, "Informational"),
        _ => (0, "Unknown"),
    }
}

/// The finding's status as OCSF names it: open and reopened are New, acknowledged In Progress, a risk accepted
/// Suppressed.
fn status(s: &str) -> (u32, &'static str) {
    match s {
        "open" | "reopened" => (1, "New"),
        "acknowledged" => (2, "In Progress"),
        "risk_accepted" => (3, "Suppressed"),
        "resolved" => (4, "Resolved"),
        _ => (0, "Unknown"),
    }
}

/// Create when a finding opens, Close when it is resolved, Update for every other change.
fn activity(event_type: &str) -> (u32, &'static str) {
    match event_type {
        "finding.opened" => (1, "Create"),
        "finding.resolved" => (3, "Close"),
        _ => (2, "Update"),
    }
}

fn millis(timestamp: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(timestamp)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("the stored event's timestamp {timestamp:?}: {e}"))
}

fn metadata(event_id: &str, profiles: &[&str]) -> Value {
    json!({
        "version": VERSION,
        "uid": event_id,
        "product": { "name": "Muster", "vendor_name": "Muster", "version": env!("CARGO_PKG_VERSION") },
        "profiles": profiles,
    })
}

fn unmapped(d: &EventData, event_type: &str, console: Option<&str>) -> Value {
    let mut muster = json!({ "event_type": event_type, "status": d.status, "due_at": d.due_at, "tags": d.tags });
    if !d.actor.is_empty() {
        muster["actor"] = json!(d.actor);
    }
    if let Some(from) = &d.from_status {
        muster["from_status"] = json!(from);
    }
    if let Some(base) = console {
        muster["url"] = json!(format!("{}{}", base.trim_end_matches('/'), d.path));
    }
    json!({ "muster": muster })
}

/// OCSF's severity caption for an advisory's rating (`critical` … `low`, `negligible`), as in the finding's details.
fn caption(level: &str) -> &'static str {
    match level {
        "negligible" | "unimportant" => "Informational",
        other => severity(other).1,
    }
}

/// One OCSF vulnerability per advisory of a vulnerability finding's details (a finding is a fix: the advisories one
/// upgrade closes): a CVE by its id, any other advisory (DSA, GHSA, …) by its own with the CVEs it names as related.
/// `None` when the details hold no advisories (read from the store at delivery; gone when the finding was pruned).
fn vulnerabilities(details: Option<&Value>, d: &EventData) -> Option<Vec<Value>> {
    let advisories = details?.get("advisories")?.as_array()?;
    let fixable = details?.get("fix_state").and_then(Value::as_str) == Some("fix_available");
    let list: Vec<Value> = advisories
        .iter()
        .filter_map(|a| {
            let id = a.get("id")?.as_str()?;
            let mut v = json!({ "is_fix_available": fixable });
            if id.starts_with("CVE-") {
                v["cve"] = json!({ "uid": id });
            } else {
                v["advisory"] = json!({ "uid": id });
                let related: Vec<&str> = a
                    .get("aliases")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|alias| alias.starts_with("CVE-"))
                    .collect();
                if !related.is_empty() {
                    v["related_vulnerabilities"] = json!(related);
                }
            }
            let summary = a.get("summary").and_then(Value::as_str).filter(|t| !t.is_empty());
            v["title"] = json!(summary.unwrap_or(&d.title));
            if let Some(level) = a.get("severity").and_then(Value::as_str) {
                v["severity"] = json!(caption(level));
            }
            if !d.subject.is_empty() {
                v["desc"] = json!(format!("{} on {}", d.subject, d.hostname));
            }
            Some(v)
        })
        .collect();
    (!list.is_empty()).then_some(list)
}

/// The event as OCSF: a test as a Base Event (class 0, activity Other), a finding event as its finding class;
/// `details` are the finding's (its advisories), read at delivery.
pub fn event(body: &str, event_id: &str, console: Option<&str>, details: Option<&Value>) -> Result<Value, String> {
    let stored = StoredEvent::parse(body)?;
    let time = millis(&stored.timestamp)?;
    if stored.event_type == TEST_EVENT {
        return Ok(json!({
            "category_uid": 0, "class_uid": 0, "activity_id": 99, "activity_name": "Other", "type_uid": 99,
            "severity_id": 1, "severity": "Informational", "time": time,
            "message": stored.data.message, "metadata": metadata(event_id, &[]),
        }));
    }
    let d = &stored.data;
    if d.finding_id.is_empty() || !takes(&stored.event_type) {
        return Err(format!("a {} event is not a finding: OCSF subscriptions carry finding events", stored.event_type));
    }
    let (class_uid, class_name) = if d.kind == "vulnerability" {
        (VULNERABILITY_FINDING, "Vulnerability Finding")
    } else {
        (COMPLIANCE_FINDING, "Compliance Finding")
    };
    let (activity_id, activity_name) = activity(&stored.event_type);
    let (severity_id, severity_name) = severity(&d.severity);
    let (status_id, status_name) = status(&d.status);
    let mut finding_info = json!({ "uid": d.finding_id, "title": d.title, "types": [d.kind] });
    if let Some(base) = console {
        finding_info["src_url"] = json!(format!("{}{}", base.trim_end_matches('/'), d.path));
    }
    let mut event = json!({
        "category_uid": CATEGORY_FINDINGS,
        "category_name": "Findings",
        "class_uid": class_uid,
        "class_name": class_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": u64::from(class_uid) * 100 + u64::from(activity_id),
        "type_name": format!("{class_name}: {activity_name}"),
        "time": time,
        "severity_id": severity_id,
        "severity": severity_name,
        "status_id": status_id,
        "status": status_name,
        "message": format!("{}: {} on {}", super::tickets::what_happened(&stored.event_type), d.title, d.hostname),
        "metadata": metadata(event_id, &["host"]),
        "finding_info": finding_info,
        "device": { "hostname": d.hostname, "uid": d.host_id, "type_id": 0, "type": "Unknown" },
        "unmapped": unmapped(d, &stored.event_type, console),
    });
    if let Some(comment) = d.comment.as_deref().filter(|c| !c.trim().is_empty()) {
        event["comment"] = json!(comment);
    }
    if class_uid == VULNERABILITY_FINDING {
        // Without its advisories (the finding pruned since), the finding itself: the fix group Muster names by its
        // rule (`vuln.fix`, `vuln.no_fix`).
        let fallback = || {
            let mut v = json!({ "title": d.title, "severity": severity_name, "advisory": { "uid": d.rule_id } });
            if !d.subject.is_empty() {
                v["desc"] = json!(format!("{} on {}", d.subject, d.hostname));
            }
            vec![v]
        };
        event["vulnerabilities"] = json!(vulnerabilities(details, d).unwrap_or_else(fallback));
    } else {
        let (compliance_id, compliance_name) = if d.status == "resolved" { (1, "Pass") } else { (3, "Fail") };
        event["compliance"] = json!({
            "control": d.rule_id,
            "standards": ["Muster policy"],
            "status_id": compliance_id,
            "status": compliance_name,
        });
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::integrations::finding_body;
    use crate::model::Severity;
    use crate::model::findings::Status;
    use crate::model::integrations::FindingBrief;

    fn body(event_type: &str, kind: &str, rule: &str, to: Status) -> String {
        let brief = FindingBrief {
            hostname: "web-01".to_owned(),
            kind: kind.to_owned(),
            subject: if kind == "vulnerability" { "openssh-server".to_owned() } else { String::new() },
            title: "regreSSHion".to_owned(),
            severity: Severity::High,
            due_at: Utc.with_ymd_and_hms(2026, 12, 12, 9, 0, 0).unwrap(),
            tags: vec!["prod".to_owned()],
        };
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
        finding_body(event_type, at, "f1", "h1", rule, &brief, Some(Status::Open), to, "alice", Some("tonight"))
    }

    /// A fix group's details as `findings::vulnerability` writes them (the fields read here).
    fn details() -> Value {
        json!({ "fix_state": "fix_available", "advisories": [
            { "id": "CVE-2024-6387", "aliases": [], "summary": "", "severity": "high" },
            { "id": "DSA-5724-1", "aliases": ["CVE-2024-6387"], "summary": "openssh security update",
              "severity": "high" },
        ]})
    }

    #[test]
    fn a_vulnerability_finding_names_its_cves_and_advisories() {
        let e =
            event(&body("finding.opened", "vulnerability", "vuln.fix", Status::Open), "msg_1", None, Some(&details()))
                .unwrap();
        assert_eq!((e["class_uid"].as_u64(), e["type_uid"].as_u64()), (Some(2002), Some(200201)));
        assert_eq!((e["severity_id"].as_u64(), e["status_id"].as_u64()), (Some(4), Some(1)));
        assert_eq!(e["time"], 1_796_461_200_000_i64);
        let v = e["vulnerabilities"].as_array().unwrap();
        assert_eq!(v.len(), 2, "one per advisory of the fix");
        assert_eq!(v[0]["cve"]["uid"], "CVE-2024-6387");
        assert!(v[0].get("advisory").is_none());
        assert_eq!((v[0]["severity"].as_str(), v[0]["is_fix_available"].as_bool()), (Some("High"), Some(true)));
        assert_eq!(v[1]["advisory"]["uid"], "DSA-5724-1");
        assert_eq!(v[1]["related_vulnerabilities"], json!(["CVE-2024-6387"]));
        assert_eq!(v[1]["title"], "openssh security update");
        assert_eq!(e["metadata"]["uid"], "msg_1");
        assert_eq!(e["comment"], "tonight");
        // Pruned since: the fix group itself.
        let pruned =
            event(&body("finding.opened", "vulnerability", "vuln.fix", Status::Open), "m", None, None).unwrap();
        assert_eq!(
            pruned["vulnerabilities"],
            json!([{ "title": "regreSSHion", "severity": "High",
            "advisory": { "uid": "vuln.fix" }, "desc": "openssh-server on web-01" }])
        );
    }

    #[test]
    fn a_rule_finding_is_a_compliance_finding_that_passes_when_resolved() {
        let open = event(
            &body("finding.acknowledged", "rule", "ssh.permit_root_login", Status::Acknowledged),
            "m",
            None,
            None,
        );
        let open = open.unwrap();
        assert_eq!((open["class_uid"].as_u64(), open["activity_id"].as_u64()), (Some(2003), Some(2)));
        assert_eq!((open["compliance"]["status_id"].as_u64(), open["status"].as_str()), (Some(3), Some("In Progress")));
        let fixed =
            event(&body("finding.resolved", "rule", "ssh.permit_root_login", Status::Resolved), "m", None, None);
        let fixed = fixed.unwrap();
        assert_eq!((fixed["type_uid"].as_u64(), fixed["compliance"]["status"].as_str()), (Some(200303), Some("Pass")));
    }

    #[test]
    fn events_without_a_finding_are_refused() {
        let host = crate::integrations::body("host.enrolled", Utc::now(), &json!({ "host_id": "h1" }));
        assert!(event(&host, "m", None, None).unwrap_err().contains("not a finding"));
    }
}

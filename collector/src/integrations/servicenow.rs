//! ServiceNow incidents from finding events, decided without I/O: the Table API request bodies (create an incident,
//! a work note on each change, resolved with a resolution code, back in progress when the finding returns), the
//! impact and urgency that give each severity its priority, and the checks on a subscription's settings. The calls
//! are made by `app::integrations`; each finding gets one incident per subscription, remembered in
//! `integration_tickets` (number and sys_id), and carries the correlation ID `muster-<finding id>` so a create whose
//! answer was lost is found again instead of made twice.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::tickets::{Facts, Goal, what_happened};
use super::{EventData, IntegrationError};
use crate::model::Severity;
use crate::model::integrations::{ServiceNowSettings, Ticket};

/// The incident's `state` values in the base system.
pub mod state {
    pub const IN_PROGRESS: &str = "2";
    pub const RESOLVED: &str = "6";
    pub const CLOSED: &str = "7";
    pub const CANCELED: &str = "8";
}

/// The resolution code when none is configured: the base system's choice since the Utah release (older instances
/// use `Solved (Permanently)`; set it with the subscription).
pub const DEFAULT_CLOSE_CODE: &str = "Solution provided";

/// The base system's `incident.short_description` holds 160 characters.
const SHORT_DESCRIPTION_MAX: usize = 160;

/// Text fields (`description`, `close_notes`, a work note) are kept well inside the base system's 4,000.
const TEXT_MAX: usize = 3_900;

/// ServiceNow's priority when a severity has none configured: critical is 1 (Critical), high 2, medium 3, low 4,
/// info 5 (Planning).
pub fn default_priority(severity: Severity) -> u8 {
    match severity {
        Severity::Critical => 1,
        Severity::High => 2,
        Severity::Medium => 3,
        Severity::Low => 4,
        Severity::Info => 5,
    }
}

/// Priority is computed by the instance from impact and urgency (the base system's priority lookup: 1+1 → 1,
/// 1+2 → 2, 2+2 → 3, 2+3 → 4, 3+3 → 5), and cannot be set itself; these pairs reach each priority.
pub fn impact_urgency(priority: u8) -> (&'static str, &'static str) {
    match priority {
        1 => ("1", "1"),
        2 => ("1", "2"),
        3 => ("2", "2"),
        4 => ("2", "3"),
        _ => ("3", "3"),
    }
}

fn priority(s: &ServiceNowSettings, severity: &str) -> u8 {
    s.priorities.get(severity).copied().or_else(|| Severity::parse(severity).map(default_priority)).unwrap_or(3)
}

/// The incident's correlation ID: the finding's label and the subscription's id, so two subscriptions on one
/// instance (two assignment groups, say) each keep their own incident. At most 7 + 32 + 1 + 32 characters of the
/// field's 100; `None` for an id that is not the hex Muster makes (it goes into an encoded query, where `^` joins
/// conditions).
pub fn correlation_id(finding_id: &str, integration_id: &str) -> Option<String> {
    let ok = |id: &str| !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (ok(finding_id) && ok(integration_id)).then(|| format!("{}-{integration_id}", super::tickets::label(finding_id)))
}

/// The encoded query that finds the incident of a correlation ID while it is active (resolved incidents stay
/// active until closed; a closed one is history, and a finding back after that gets a new incident).
pub fn search_query(correlation_id: &str) -> String {
    format!("correlation_id={correlation_id}^active=true^ORDERBYDESCsys_created_on")
}

/// Journal and text fields render `[code]…[/code]` as HTML on instances that allow it: a finding's comment or
/// title is text, so the tag is broken up.
fn plain(text: &str) -> String {
    let tag = |tail: &str, t: &str| tail.get(..t.len()).is_some_and(|h| h.eq_ignore_ascii_case(t));
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        out.push(c);
        if c == '[' && (tag(&text[i..], "[code]") || tag(&text[i..], "[/code]")) {
            out.push(' ');
        }
    }
    out
}

fn one_line(text: &str, max: usize) -> String {
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    cut(&line, max)
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn short_description(d: &EventData) -> String {
    let text = if d.subject.is_empty() || d.title.contains(&d.subject) {
        format!("[{}] {} on {}", d.severity, d.title, d.hostname)
    } else {
        format!("[{}] {} ({}) on {}", d.severity, d.title, d.subject, d.hostname)
    };
    one_line(&plain(&text), SHORT_DESCRIPTION_MAX)
}

fn console_line(d: &EventData, console: Option<&str>) -> Option<String> {
    let base = console?.trim_end_matches('/');
    Some(format!("Open the finding in Muster: {base}{}", d.path))
}

/// `POST /api/now/table/incident`'s body: the summary, a plain-text description of the finding with a link back,
/// impact and urgency for the severity's priority, the correlation that finds it again, and the assignment group
/// when configured.
pub fn create_body(
    s: &ServiceNowSettings,
    d: &EventData,
    console: Option<&str>,
    correlation_id: &str,
    facts: &Facts,
) -> Value {
    let (what, which) = facts.subject_line(d);
    let mut lines = vec![
        format!("Muster found this on {}.", d.hostname),
        String::new(),
        format!("Finding: {}", d.title),
        format!("{what}: {which}"),
    ];
    if !d.subject.is_empty() {
        lines.push(format!("Package: {}", d.subject));
    }
    lines.push(format!("Severity: {}", d.severity));
    lines.push(format!("Due: {}", d.due_at));
    if !facts.remediation.is_empty() {
        lines.push(format!("Remediation: {}", facts.remediation));
    }
    if let Some(link) = console_line(d, console) {
        lines.push(String::new());
        lines.push(link);
    }
    let (impact, urgency) = impact_urgency(priority(s, &d.severity));
    let mut body = json!({
        "short_description": short_description(d),
        "description": cut(&plain(&lines.join("\n")), TEXT_MAX),
        "impact": impact,
        "urgency": urgency,
        "correlation_id": correlation_id,
        "correlation_display": "Muster",
    });
    if let Some(group) = &s.assignment_group {
        body["assignment_group"] = json!(group);
    }
    body
}

/// `PATCH /api/now/table/incident/{sys_id}`'s body for an event on an incident now in `current_state`: a work note
/// saying what happened and by whom (with their comment), and the state change the goal asks for when the incident
/// is not there yet: resolved with the resolution code and notes, or from resolved back to in progress.
pub fn update_body(
    s: &ServiceNowSettings,
    event_type: &str,
    d: &EventData,
    console: Option<&str>,
    goal: Option<Goal>,
    current_state: &str,
) -> Value {
    let mut note = format!("{}.", what_happened(event_type));
    if !d.actor.is_empty() {
        note.push_str(&format!(" By {}.", d.actor));
    }
    if let Some(comment) = d.comment.as_deref().filter(|c| !c.trim().is_empty()) {
        note.push_str(&format!("\n\n\"{}\"", comment.trim()));
    }
    if let Some(link) = console_line(d, console) {
        note.push_str(&format!("\n\n{link}"));
    }
    let mut body = json!({ "work_notes": cut(&plain(&note), TEXT_MAX) });
    match goal {
        Some(Goal::Done) if current_state != state::RESOLVED => {
            body["state"] = json!(state::RESOLVED);
            body["close_code"] = json!(s.close_code.as_deref().unwrap_or(DEFAULT_CLOSE_CODE));
            body["close_notes"] = json!(cut(&format!("Muster no longer finds this on {}.", d.hostname), TEXT_MAX));
        }
        Some(Goal::Reopen) if current_state == state::RESOLVED => {
            body["state"] = json!(state::IN_PROGRESS);
        }
        _ => {}
    }
    body
}

/// Whether an incident in this state can no longer be changed: closed or canceled incidents are read-only in the
/// base system; a finding that needs one again gets a new incident.
pub fn is_final(state: &str) -> bool {
    state == state::CLOSED || state == state::CANCELED
}

#[derive(Debug, Deserialize)]
struct Record {
    sys_id: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    state: String,
}

#[derive(Debug, Deserialize)]
struct One {
    result: Record,
}

#[derive(Debug, Deserialize)]
struct Many {
    result: Vec<Record>,
}

fn ticket(r: Record) -> Ticket {
    Ticket { key: if r.number.is_empty() { r.sys_id.clone() } else { r.number }, reference: r.sys_id }
}

/// The incident a `POST` created (its number and sys_id).
pub fn created(answer: &[u8]) -> Result<Ticket, String> {
    let one: One = serde_json::from_slice(answer).map_err(|e| format!("ServiceNow's answer has no incident: {e}"))?;
    Ok(ticket(one.result))
}

/// The first incident of a query's answer.
pub fn found(answer: &[u8]) -> Result<Option<Ticket>, String> {
    let many: Many =
        serde_json::from_slice(answer).map_err(|e| format!("ServiceNow's query answer is not readable: {e}"))?;
    Ok(many.result.into_iter().next().map(ticket))
}

/// Whether a query's answer is the Table API's (`{"result": [...]}`): a sign-in page or a hibernating developer
/// instance answers 200 with HTML.
pub fn is_query_answer(answer: &[u8]) -> bool {
    serde_json::from_slice::<Many>(answer).is_ok()
}

/// The state an update asks for, if any (to check the instance took it: business rules can keep a state).
pub fn asked_state(body: &Value) -> Option<&str> {
    body.get("state").and_then(Value::as_str)
}

/// The state of the incident a `GET` of one record answered.
pub fn current_state(answer: &[u8]) -> Result<String, String> {
    let one: One = serde_json::from_slice(answer).map_err(|e| format!("ServiceNow's incident is not readable: {e}"))?;
    Ok(one.result.state)
}

/// A Table API path on the instance.
pub fn api_url(instance: &str, path: &str) -> String {
    format!("{}/api/now/table/{path}", instance.trim_end_matches('/'))
}

/// The incident's form on the instance.
pub fn record_url(instance: &str, sys_id: &str) -> String {
    format!("{}/incident.do?sys_id={sys_id}", instance.trim_end_matches('/'))
}

/// A sys_id: 32 hexadecimal digits (anything else is refused rather than sent into a URL or a query).
pub fn is_sys_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn bad(what: &str) -> IntegrationError {
    IntegrationError::ServiceNow(what.to_owned())
}

/// The settings trimmed and checked: a user ID, an assignment group given by its sys_id, priorities 1 to 5 only for
/// known severities, and a resolution code that fits the field.
pub fn check_settings(s: ServiceNowSettings) -> Result<ServiceNowSettings, IntegrationError> {
    let user = s.user.trim().to_owned();
    if user.is_empty() || user.chars().count() > 40 || user.contains(':') || !user.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(bad("the user is the integration user's user ID (up to 40 characters, no spaces or ':')"));
    }
    let assignment_group = match s.assignment_group.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        Some(g) if is_sys_id(g) => Some(g.to_ascii_lowercase()),
        Some(g) => {
            return Err(bad(&format!(
                "assignment group {g:?}: give the group's sys_id (32 hexadecimal digits; on the group's record, \
                 Copy sys_id)"
            )));
        }
        None => None,
    };
    let mut priorities = BTreeMap::new();
    for (severity, p) in &s.priorities {
        let Some(sev) = Severity::parse(&severity.trim().to_ascii_lowercase()) else {
            return Err(bad(&format!("priority for {severity:?}: not a severity")));
        };
        if !(1..=5).contains(p) {
            return Err(bad(&format!("priority {p} for {severity}: give 1 (Critical) to 5 (Planning)")));
        }
        priorities.insert(sev.as_str().to_owned(), *p);
    }
    let close_code = match s.close_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) if c.chars().count() <= 40 && !c.chars().any(char::is_control) => Some(c.to_owned()),
        Some(_) => return Err(bad("the resolution code is at most 40 printable characters")),
        None => None,
    };
    Ok(ServiceNowSettings { user, assignment_group, priorities, close_code })
}

/// `severity=priority` entries as a person writes them (`critical=1,high=2`), empty ones skipped.
pub fn priority_pairs<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, u8>, IntegrationError> {
    let mut priorities = BTreeMap::new();
    for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry.split_once('=').and_then(|(s, p)| Some((s.trim(), p.trim().parse::<u8>().ok()?)));
        let Some((severity, p)) = parsed else {
            return Err(bad(&format!("priority {entry:?}: give severity=priority (critical=1)")));
        };
        priorities.insert(severity.to_owned(), p);
    }
    Ok(priorities)
}

/// The `Authorization` header: basic authentication with the integration user's ID and password.
pub fn authorization(s: &ServiceNowSettings, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", s.user)))
}

#[cfg(test)]
mod tests;

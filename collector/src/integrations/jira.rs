//! Jira tickets from finding events, decided without I/O: whether an event opens a ticket, comments on it or moves
//! it, the request bodies (Jira REST API v3, rich text as Atlassian Document Format), which workflow transition
//! closes or reopens a ticket, and the checks on a subscription's settings. The calls are made by
//! `app::integrations`; each finding gets one ticket per subscription, remembered in `integration_tickets`, and
//! carries a `muster-<finding id>` label so a create whose answer was lost is found again instead of made twice.

use serde::Deserialize;
use serde_json::{Value, json};

use super::tickets::what_happened;
pub use super::tickets::{Facts, Goal, Plan, finding_event, label, opens, plan, takes};
use super::{EventData, IntegrationError};
use crate::model::Severity;
use crate::model::integrations::JiraSettings;

/// The JQL that finds the ticket carrying `label` in the subscription's project (another subscription on the same
/// site, into another project, keeps its own tickets).
pub fn search_jql(project: &str, label: &str) -> String {
    format!("project = \"{project}\" AND labels = \"{label}\"")
}

/// Jira refuses a summary over 255 characters or with a line break.
fn summary(d: &EventData) -> String {
    let text = if d.subject.is_empty() || d.title.contains(&d.subject) {
        format!("[{}] {} on {}", d.severity, d.title, d.hostname)
    } else {
        format!("[{}] {} ({}) on {}", d.severity, d.title, d.subject, d.hostname)
    };
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() <= 255 {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(254).collect();
    cut.push('…');
    cut
}

fn text(s: &str) -> Value {
    json!({ "type": "text", "text": s })
}

fn strong(s: &str) -> Value {
    json!({ "type": "text", "text": s, "marks": [{ "type": "strong" }] })
}

fn paragraph(content: Vec<Value>) -> Value {
    json!({ "type": "paragraph", "content": content })
}

fn link(label: &str, href: &str) -> Value {
    json!({ "type": "text", "text": label, "marks": [{ "type": "link", "attrs": { "href": href } }] })
}

/// ADF refuses empty text nodes: a paragraph of label and value, the value left out when empty.
fn fact(label: &str, value: &str) -> Value {
    let mut content = vec![strong(&format!("{label}: "))];
    content.push(text(if value.is_empty() { "-" } else { value }));
    paragraph(content)
}

fn console_link(d: &EventData, console: Option<&str>) -> Option<Value> {
    let base = console?.trim_end_matches('/');
    Some(paragraph(vec![link("Open the finding in Muster", &format!("{base}{}", d.path))]))
}

fn doc(content: Vec<Value>) -> Value {
    json!({ "type": "doc", "version": 1, "content": content })
}

/// `POST /rest/api/3/issue`'s body: the project, type, summary, a description of the finding with a link back,
/// the labels `muster` and [`label`], and the priority mapped from the severity when one is configured.
pub fn create_body(s: &JiraSettings, d: &EventData, console: Option<&str>, facts: &Facts) -> Value {
    let (what, which) = facts.subject_line(d);
    let mut description = vec![
        paragraph(vec![text(&format!("Muster found this on {}.", d.hostname))]),
        fact("Finding", &d.title),
        fact(what, &which),
    ];
    if !d.subject.is_empty() {
        description.push(fact("Package", &d.subject));
    }
    description.push(fact("Severity", &d.severity));
    description.push(fact("Due", &d.due_at));
    if !facts.remediation.is_empty() {
        description.push(fact("Remediation", &facts.remediation));
    }
    description.extend(console_link(d, console));
    let mut fields = json!({
        "project": { "key": s.project },
        "issuetype": { "name": s.issue_type },
        "summary": summary(d),
        "description": doc(description),
        "labels": ["muster", label(&d.finding_id)],
    });
    if let Some(priority) = s.priorities.get(&d.severity) {
        fields["priority"] = json!({ "name": priority });
    }
    json!({ "fields": fields })
}

/// `POST /rest/api/3/issue/{key}/comment`'s body: what happened, by whom, with their comment.
pub fn comment_body(event_type: &str, d: &EventData, console: Option<&str>) -> Value {
    let mut content = vec![strong(&format!("{}.", what_happened(event_type)))];
    if !d.actor.is_empty() {
        content.push(text(&format!(" By {}.", d.actor)));
    }
    let mut blocks = vec![paragraph(content)];
    if let Some(comment) = d.comment.as_deref().filter(|c| !c.trim().is_empty()) {
        blocks.push(json!({ "type": "blockquote", "content": [paragraph(vec![text(comment)])] }));
    }
    blocks.extend(console_link(d, console));
    json!({ "body": doc(blocks) })
}

/// `POST /rest/api/3/issue/{key}/transitions`' body.
pub fn transition_body(id: &str) -> Value {
    json!({ "transition": { "id": id } })
}

/// `GET /rest/api/3/issue/{key}?fields=status&expand=transitions`: the ticket's status and the transitions the
/// workflow offers from it.
#[derive(Debug, Deserialize)]
struct Transitions {
    transitions: Vec<Transition>,
    #[serde(default)]
    fields: Option<IssueFields>,
}

#[derive(Debug, Deserialize)]
struct IssueFields {
    status: Option<Target>,
}

#[derive(Debug, Deserialize)]
struct Transition {
    id: String,
    name: String,
    #[serde(default)]
    to: Option<Target>,
}

#[derive(Debug, Deserialize)]
struct Target {
    #[serde(rename = "statusCategory")]
    status_category: Option<Category>,
}

#[derive(Debug, Deserialize)]
struct Category {
    key: String,
}

/// The transition (of the issue's answer with its transitions expanded) that reaches `goal`: the configured one by
/// name (any case), else the first into a status of the goal's category. `None` when there is nothing to do: a
/// reopening of a ticket that is not closed (an overdue finding's ticket someone is working on stays where it is),
/// or a workflow that offers no such transition from where the ticket is. The comment is made either way.
pub fn pick_transition(answer: &[u8], goal: Goal, s: &JiraSettings) -> Result<Option<String>, String> {
    let list: Transitions =
        serde_json::from_slice(answer).map_err(|e| format!("Jira's list of transitions is not readable: {e}"))?;
    let current = list.fields.and_then(|f| f.status).and_then(|s| s.status_category).map(|c| c.key);
    if goal == Goal::Reopen && current.as_deref() != Some("done") {
        return Ok(None);
    }
    let (named, category) = match goal {
        Goal::Done => (s.done_transition.as_deref(), "done"),
        Goal::Reopen => (s.reopen_transition.as_deref(), "new"),
    };
    let found = match named {
        Some(name) => list.transitions.iter().find(|t| t.name.eq_ignore_ascii_case(name)),
        None => list
            .transitions
            .iter()
            .find(|t| t.to.as_ref().and_then(|to| to.status_category.as_ref()).is_some_and(|c| c.key == category)),
    };
    Ok(found.map(|t| t.id.clone()))
}

/// The key of the ticket `POST /rest/api/3/issue` created.
pub fn created_key(answer: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Created {
        key: String,
    }
    let created: Created =
        serde_json::from_slice(answer).map_err(|e| format!("Jira's answer has no issue key: {e}"))?;
    Ok(created.key)
}

/// The first ticket of a `GET /rest/api/3/search/jql` answer.
pub fn found_key(answer: &[u8]) -> Result<Option<String>, String> {
    #[derive(Deserialize)]
    struct Found {
        issues: Vec<Issue>,
    }
    #[derive(Deserialize)]
    struct Issue {
        key: String,
    }
    let found: Found =
        serde_json::from_slice(answer).map_err(|e| format!("Jira's search answer is not readable: {e}"))?;
    Ok(found.issues.into_iter().next().map(|i| i.key))
}

/// A ticket's page in Jira's web interface.
pub fn browse_url(site: &str, ticket: &str) -> String {
    format!("{}/browse/{ticket}", site.trim_end_matches('/'))
}

/// A REST path on the site (`url` is the site's base, which may sit under a context path on Data Center).
pub fn api_url(site: &str, path: &str) -> String {
    format!("{}/rest/api/3/{path}", site.trim_end_matches('/'))
}

fn bad(what: &str) -> IntegrationError {
    IntegrationError::Jira(what.to_owned())
}

/// The settings trimmed and checked: a project key as Jira makes them (a capital letter, then capitals, digits or
/// `_`), an issue type, an account that looks like an e-mail address, priorities only for known severities, and
/// names short enough to be Jira's.
pub fn check_settings(s: JiraSettings) -> Result<JiraSettings, IntegrationError> {
    let project = s.project.trim().to_owned();
    let key_ok = project.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && project.len() <= 255
        && project.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !key_ok {
        return Err(bad("the project is a Jira project key: a capital letter, then capitals, digits or '_' (SEC)"));
    }
    let name = |what: &str, v: &str| -> Result<String, IntegrationError> {
        let v = v.trim();
        if v.is_empty() || v.chars().count() > 255 || v.chars().any(char::is_control) {
            return Err(bad(&format!("{what} is 1 to 255 printable characters")));
        }
        Ok(v.to_owned())
    };
    let issue_type = name("the issue type", &s.issue_type)?;
    let user = s.user.trim().to_owned();
    if !(user.contains('@') && !user.contains(':') && user.chars().all(|c| c.is_ascii_graphic())) {
        return Err(bad("the user is the Atlassian account's e-mail address (Jira Cloud)"));
    }
    let mut priorities = std::collections::BTreeMap::new();
    for (severity, priority) in &s.priorities {
        let Some(sev) = Severity::parse(&severity.trim().to_ascii_lowercase()) else {
            return Err(bad(&format!("priority for {severity:?}: not a severity")));
        };
        priorities.insert(sev.as_str().to_owned(), name("a priority", priority)?);
    }
    let done_transition = s.done_transition.as_deref().map(|t| name("the done transition", t)).transpose()?;
    let reopen_transition = s.reopen_transition.as_deref().map(|t| name("the reopen transition", t)).transpose()?;
    Ok(JiraSettings { project, issue_type, user, priorities, done_transition, reopen_transition })
}

/// `severity=priority` entries as a person writes them (`critical=Highest`), empty ones skipped; which severities
/// and names are valid is [`check_settings`]'s.
pub fn priority_pairs<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<std::collections::BTreeMap<String, String>, IntegrationError> {
    let mut priorities = std::collections::BTreeMap::new();
    for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
        let (severity, priority) = entry
            .split_once('=')
            .ok_or_else(|| bad(&format!("priority {entry:?}: give severity=priority (critical=Highest)")))?;
        priorities.insert(severity.trim().to_owned(), priority.trim().to_owned());
    }
    Ok(priorities)
}

/// The `Authorization` header: Jira Cloud's basic authentication with the account and its API token. (Jira Data
/// Center speaks REST v2 with wiki-markup text and is not supported.)
pub fn authorization(s: &JiraSettings, token: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{token}", s.user)))
}

#[cfg(test)]
mod tests;

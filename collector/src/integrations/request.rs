//! A subscription as a person asks for it, checked: its name, destination and payload format for its kind, the
//! event types and filters it takes, a ticket tracker's settings and credential, and the errors a refusal names.
//! Pure; `app::integrations` stores what passes.

use super::{DEFAULT_EVENTS, EVENT_TYPES, jira, ocsf, servicenow, syslog, tickets};
use crate::model::Severity;
use crate::model::integrations::{Integration, IntegrationKind, JiraSettings, PayloadFormat, ServiceNowSettings};

#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("name must be 1 to 64 letters, digits, '.', '_' or '-'")]
    Name,
    #[error("the url is an absolute http:// or https:// URL without credentials: {0}")]
    Url(String),
    #[error("unknown event type {0:?}; known: {known}", known = EVENT_TYPES.join(", "))]
    Event(String),
    #[error("format: {0}")]
    Format(String),
    #[error("digest: {0}")]
    Digest(String),
    #[error("filter: {0}")]
    Filter(String),
    #[error("jira: {0}")]
    Jira(String),
    #[error("servicenow: {0}")]
    ServiceNow(String),
    #[error("{0}")]
    Token(String),
    #[error("syslog destination {0}")]
    SyslogUrl(String),
    #[error("{0} is disabled: enable it to send")]
    Disabled(String),
    #[error("an integration named {0:?} exists")]
    Exists(String),
    #[error("no integration {0:?}")]
    NotFound(String),
    #[error("no dead delivery of event {seq} for {integration:?}")]
    NotDead { integration: String, seq: i64 },
    #[error(transparent)]
    Random(#[from] crate::tokens::RandomError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A subscription as a person asked for it, before checking.
#[derive(Debug, Clone)]
pub struct IntegrationRequest {
    pub name: String,
    pub kind: IntegrationKind,
    pub url: String,
    /// JSON for webhooks; JSON or CEF for syslog.
    pub format: PayloadFormat,
    /// Empty: [`DEFAULT_EVENTS`] (for Jira: every finding event).
    pub events: Vec<String>,
    pub min_severity: Option<Severity>,
    /// Only finding events of these rules or advisories (an id, or a prefix ending in `*`); empty: all.
    pub rules: Vec<String>,
    /// Only events about hosts with one of these tags; empty: all.
    pub tags: Vec<String>,
    /// Slack and Teams only: one message per this many minutes instead of one per event.
    pub digest_minutes: Option<u32>,
    /// Jira only (and required there): the project, issue type, account and mapping.
    pub jira: Option<JiraSettings>,
    /// ServiceNow only (and required there): the user, assignment group and mapping.
    pub servicenow: Option<ServiceNowSettings>,
    /// Ticket trackers only (and required there): Jira's API token or the ServiceNow user's password, kept as the
    /// subscription's secret.
    pub token: Option<String>,
}

/// A change to what a subscription sends: each `Some` replaces that setting (`Some(None)` clears an optional one);
/// the rest stay. The name, kind, URL and payload format do not change (remove and add for those).
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    pub events: Option<Vec<String>>,
    pub min_severity: Option<Option<Severity>>,
    pub rules: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub digest_minutes: Option<Option<u32>>,
}

/// The subscription's settings after `change`, checked as a new subscription's are.
pub fn changed(current: &Integration, change: SettingsChange) -> Result<IntegrationRequest, IntegrationError> {
    check_with(
        IntegrationRequest {
            name: current.name.clone(),
            kind: current.kind,
            url: current.url.clone(),
            format: current.format,
            events: change.events.unwrap_or_else(|| current.events.clone()),
            min_severity: change.min_severity.unwrap_or(current.min_severity),
            rules: change.rules.unwrap_or_else(|| current.rules.clone()),
            tags: change.tags.unwrap_or_else(|| current.tags.clone()),
            digest_minutes: change.digest_minutes.unwrap_or(current.digest_minutes),
            jira: current.jira.clone(),
            servicenow: current.servicenow.clone(),
            token: None,
        },
        StoredToken::Kept,
    )
}

/// Whether a tracker subscription's token comes with the request (a new one) or stays as stored (a change of filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoredToken {
    Given,
    Kept,
}

/// A tracker's credential as the rule wants it: `Some(Some(token))` when a new one must come with the request,
/// `Some(None)` when the stored one stays and none came; `None` when the request breaks the rule.
fn tracker_token(given: Option<String>, rule: StoredToken) -> Option<Option<String>> {
    match (given, rule) {
        (Some(token), StoredToken::Given) => Some(Some(token)),
        (None, StoredToken::Kept) => Some(None),
        _ => None,
    }
}

/// A token as Jira takes it in a header: printable ASCII, no spaces, not empty.
pub fn check_token(token: &str) -> Result<String, IntegrationError> {
    let token = token.trim();
    if token.is_empty() || !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(IntegrationError::Jira(
            "the API token is one line of printable characters without spaces".to_owned(),
        ));
    }
    Ok(token.to_owned())
}

/// A ServiceNow password as basic authentication carries it: one line, not empty, at most 255 characters
/// (spaces are allowed in ServiceNow passwords; surrounding ones are kept).
pub fn check_password(password: &str) -> Result<String, IntegrationError> {
    let line = password.trim_end_matches(['\r', '\n']);
    if line.is_empty() || line.chars().count() > 255 || line.chars().any(char::is_control) {
        return Err(IntegrationError::ServiceNow(
            "the password is one line of 1 to 255 printable characters".to_owned(),
        ));
    }
    Ok(line.to_owned())
}

/// The longest a digest may hold events: a day (anything longer is a report, not a notification).
pub const MAX_DIGEST_MINUTES: u32 = 24 * 60;

/// The request checked: a name fit for a command line, an http(s) URL, known event types (deduplicated, in the
/// order of [`EVENT_TYPES`]).
pub fn check(req: IntegrationRequest) -> Result<IntegrationRequest, IntegrationError> {
    check_with(req, StoredToken::Given)
}

fn check_with(req: IntegrationRequest, token_rule: StoredToken) -> Result<IntegrationRequest, IntegrationError> {
    let name_ok = !req.name.is_empty()
        && req.name.len() <= 64
        && req.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !name_ok {
        return Err(IntegrationError::Name);
    }
    let url = url::Url::parse(req.url.trim()).map_err(|e| IntegrationError::Url(e.to_string()))?;
    // Credentials in a URL end up in logs and listings; the signature (or TLS) is the receiver's proof.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(IntegrationError::Url("remove the user and password from it".to_owned()));
    }
    match req.kind {
        IntegrationKind::Webhook | IntegrationKind::Slack | IntegrationKind::Teams => {
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(IntegrationError::Url(format!("{url} is not http(s)")));
            }
            let ocsf_ok = req.kind == IntegrationKind::Webhook && req.format == PayloadFormat::Ocsf;
            if req.format != PayloadFormat::Json && !ocsf_ok {
                return Err(IntegrationError::Format(format!(
                    "a {} body is JSON{}",
                    req.kind.as_str(),
                    if req.kind == IntegrationKind::Webhook { " or OCSF" } else { "" }
                )));
            }
        }
        IntegrationKind::Syslog => {
            syslog::target(url.as_str())?;
        }
        IntegrationKind::Jira => {
            // The token goes in every request's header: never in clear text off this machine.
            if !crate::tls::https_or_loopback(&url) || url.host_str().is_none() {
                return Err(IntegrationError::Url(format!("{url}: Jira is reached over https")));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(IntegrationError::Url("the Jira site's address has no query or fragment".to_owned()));
            }
            if req.format != PayloadFormat::Json {
                return Err(IntegrationError::Format("Jira takes JSON".to_owned()));
            }
        }
        IntegrationKind::ServiceNow => {
            // The password goes in every request's header: never in clear text off this machine.
            if !crate::tls::https_or_loopback(&url) || url.host_str().is_none() {
                return Err(IntegrationError::Url(format!("{url}: ServiceNow is reached over https")));
            }
            if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
                return Err(IntegrationError::Url(
                    "give the instance's address alone (https://example.service-now.com)".to_owned(),
                ));
            }
            if req.format != PayloadFormat::Json {
                return Err(IntegrationError::Format("ServiceNow takes JSON".to_owned()));
            }
        }
    }
    let (jira, servicenow, token) = match req.kind {
        IntegrationKind::Jira => {
            if req.servicenow.is_some() {
                return Err(IntegrationError::ServiceNow("a jira subscription has no ServiceNow settings".to_owned()));
            }
            let (Some(settings), Some(token)) = (req.jira, tracker_token(req.token, token_rule)) else {
                return Err(IntegrationError::Jira("give the project, the issue type and the API token".to_owned()));
            };
            (Some(jira::check_settings(settings)?), None, token.as_deref().map(check_token).transpose()?)
        }
        IntegrationKind::ServiceNow => {
            if req.jira.is_some() {
                return Err(IntegrationError::Jira("a servicenow subscription has no Jira settings".to_owned()));
            }
            let (Some(settings), Some(password)) = (req.servicenow, tracker_token(req.token, token_rule)) else {
                return Err(IntegrationError::ServiceNow("give the user and its password".to_owned()));
            };
            (None, Some(servicenow::check_settings(settings)?), password.as_deref().map(check_password).transpose()?)
        }
        kind => {
            if req.jira.is_some() {
                return Err(IntegrationError::Jira(format!("a {} subscription has no Jira settings", kind.as_str())));
            }
            if req.servicenow.is_some() {
                return Err(IntegrationError::ServiceNow(format!(
                    "a {} subscription has no ServiceNow settings",
                    kind.as_str()
                )));
            }
            if req.token.is_some() {
                return Err(IntegrationError::Token(format!(
                    "a {} subscription takes no token: only Jira and ServiceNow do",
                    kind.as_str()
                )));
            }
            (None, None, None)
        }
    };
    let asked: Vec<String> = if req.events.is_empty() && (req.kind.tickets() || req.format == PayloadFormat::Ocsf) {
        // A ticket follows its finding's whole life.
        EVENT_TYPES.iter().filter(|e| tickets::takes(e)).map(|e| (*e).to_owned()).collect()
    } else if req.events.is_empty() {
        DEFAULT_EVENTS.iter().map(|e| (*e).to_owned()).collect()
    } else {
        req.events.iter().map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect()
    };
    if let Some(minutes) = req.digest_minutes {
        if !matches!(req.kind, IntegrationKind::Slack | IntegrationKind::Teams) {
            return Err(IntegrationError::Digest(format!(
                "only slack and teams subscriptions send digests; a {} receiver takes each event",
                req.kind.as_str()
            )));
        }
        if !(1..=MAX_DIGEST_MINUTES).contains(&minutes) {
            return Err(IntegrationError::Digest(format!("{minutes} minutes: give 1 to {MAX_DIGEST_MINUTES}")));
        }
    }
    if let Some(unknown) = asked.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(IntegrationError::Event(unknown.clone()));
    }
    if req.kind.tickets()
        && let Some(other) = asked.iter().find(|e| !tickets::takes(e))
    {
        let why = format!("a ticket follows a finding; {other} is not a finding event");
        return Err(if req.kind == IntegrationKind::Jira {
            IntegrationError::Jira(why)
        } else {
            IntegrationError::ServiceNow(why)
        });
    }
    if req.format == PayloadFormat::Ocsf
        && let Some(other) = asked.iter().find(|e| !ocsf::takes(e))
    {
        return Err(IntegrationError::Format(format!("OCSF carries finding events; {other} is not one")));
    }
    let events = EVENT_TYPES.iter().filter(|t| asked.iter().any(|e| e == *t)).map(|t| (*t).to_owned()).collect();
    let rules = filter_list("rule", &req.rules)?;
    let tags = filter_list("tag", &req.tags)?;
    Ok(IntegrationRequest { url: url.to_string(), events, rules, tags, jira, servicenow, token, ..req })
}

/// A filter's entries trimmed, empty ones dropped, duplicates removed (first kept); each at most 128 characters
/// of printable text, at most 100 of them.
fn filter_list(what: &str, list: &[String]) -> Result<Vec<String>, IntegrationError> {
    let mut out: Vec<String> = Vec::new();
    for entry in list.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        if entry.chars().count() > 128 || entry.chars().any(char::is_control) {
            return Err(IntegrationError::Filter(format!("{what} {entry:?}: at most 128 printable characters")));
        }
        if !out.iter().any(|e| e == entry) {
            out.push(entry.to_owned());
        }
    }
    if out.len() > 100 {
        return Err(IntegrationError::Filter(format!("at most 100 {what}s")));
    }
    Ok(out)
}

//! The integrations' vocabulary shared by the layers: subscriptions, outbox events and their deliveries as the
//! store keeps them. Data only; what is sent, to whom and when lives in `crate::integrations` (pure) and
//! `crate::app::integrations` (the use cases and the delivery worker).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Severity;

/// Where events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// Any HTTPS endpoint, each event one POST signed per the Standard Webhooks specification.
    Webhook,
    /// A SIEM's syslog receiver: RFC 5424 over UDP, TCP or TLS (RFC 5425).
    Syslog,
    /// A Slack incoming webhook: each event one Block Kit message.
    Slack,
    /// A Microsoft Teams workflow webhook ("when a Teams webhook request is received"): each event one Adaptive
    /// Card.
    Teams,
    /// A Jira project (REST API v3): an issue per finding, a comment on each change, transitions on resolve and
    /// reopen.
    Jira,
    /// A ServiceNow instance (Table API): an incident per finding, a work note on each change, resolved and put
    /// back in progress with it.
    #[serde(rename = "servicenow")]
    #[value(name = "servicenow")]
    ServiceNow,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Webhook => "webhook",
            IntegrationKind::Syslog => "syslog",
            IntegrationKind::Slack => "slack",
            IntegrationKind::Teams => "teams",
            IntegrationKind::Jira => "jira",
            IntegrationKind::ServiceNow => "servicenow",
        }
    }

    pub const ALL: [IntegrationKind; 6] = [
        IntegrationKind::Webhook,
        IntegrationKind::Syslog,
        IntegrationKind::Slack,
        IntegrationKind::Teams,
        IntegrationKind::Jira,
        IntegrationKind::ServiceNow,
    ];

    pub fn parse(s: &str) -> Option<IntegrationKind> {
        IntegrationKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether deliveries carry a Standard Webhooks signature (chat services take the message as it is: their URL
    /// is their secret).
    pub fn signed(self) -> bool {
        self == IntegrationKind::Webhook
    }

    /// Whether the destination is a ticket tracker: a ticket per finding that follows the finding's life, the
    /// tracker's credentials kept as the secret.
    pub fn tickets(self) -> bool {
        matches!(self, IntegrationKind::Jira | IntegrationKind::ServiceNow)
    }
}

/// What an event's text is: the versioned JSON body, or (syslog) an ArcSight CEF line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    #[default]
    Json,
    Cef,
    /// OCSF 1.8.0 finding classes (webhook and syslog; finding events only).
    Ocsf,
}

impl PayloadFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::Json => "json",
            PayloadFormat::Cef => "cef",
            PayloadFormat::Ocsf => "ocsf",
        }
    }

    pub fn parse(s: &str) -> Option<PayloadFormat> {
        [PayloadFormat::Json, PayloadFormat::Cef, PayloadFormat::Ocsf].into_iter().find(|k| k.as_str() == s)
    }
}

/// A Jira subscription's settings, checked by `integrations::jira::check_settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JiraSettings {
    /// The project's key (`SEC`).
    pub project: String,
    /// The issue type created (`Task`, `Bug`, …), by name; `Task` when not given.
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    /// The Atlassian account's e-mail address; the token is its API token (Jira Cloud's basic authentication).
    pub user: String,
    /// Jira's priority name per severity (`critical` → `Highest`). Empty: no priority is set, since not every
    /// project's create screen has one and Jira refuses a field its screen lacks.
    #[serde(default)]
    pub priorities: std::collections::BTreeMap<String, String>,
    /// The transition, by name, that closes a ticket when its finding is resolved; `None`: the first into a status
    /// of Jira's `done` category.
    #[serde(default)]
    pub done_transition: Option<String>,
    /// The transition, by name, that reopens a ticket when its finding comes back; `None`: the first into a status
    /// of the `new` category (To Do).
    #[serde(default)]
    pub reopen_transition: Option<String>,
}

impl JiraSettings {
    /// The issue type when none is given (Jira's default projects all have one).
    pub const DEFAULT_ISSUE_TYPE: &'static str = "Task";
}

fn default_issue_type() -> String {
    JiraSettings::DEFAULT_ISSUE_TYPE.to_owned()
}

/// A ServiceNow subscription's settings, checked by `integrations::servicenow::check_settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowSettings {
    /// The integration user's user ID (basic authentication; the secret is its password).
    pub user: String,
    /// The group incidents are assigned to, by its sys_id; `None`: the instance's assignment rules decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_group: Option<String>,
    /// ServiceNow's priority (1 Critical … 5 Planning) per severity, reached through impact and urgency as the
    /// base system's priority lookup computes it. Severities left out take `integrations::servicenow`'s default.
    #[serde(default)]
    pub priorities: std::collections::BTreeMap<String, u8>,
    /// The resolution code set when the finding is resolved; `None`: `Solution provided`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_code: Option<String>,
}

/// A finding's ticket in a tracker: the key people read (`SEC-42`, `INC0010001`) and the tracker's own reference
/// the API addresses it by (the same key for Jira, the record's sys_id for ServiceNow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub key: String,
    pub reference: String,
}

/// A ticket a subscription opened for a finding, as the finding's page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FindingTicket {
    /// The subscription's name.
    pub integration: String,
    /// The ticket's key (`SEC-42`).
    pub ticket: String,
    /// The ticket in the tracker's own web interface.
    pub url: String,
}

/// A subscription as people see it: never its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Integration {
    pub id: String,
    pub name: String,
    pub kind: IntegrationKind,
    pub url: String,
    pub format: PayloadFormat,
    /// Event types sent (`finding.opened`, …).
    pub events: Vec<String>,
    /// Finding events below this severity are not sent; `None` sends all.
    pub min_severity: Option<Severity>,
    /// Only finding events of these rules or advisories (an id, or a prefix ending in `*`, any case); empty: all.
    pub rules: Vec<String>,
    /// Only events about hosts with one of these tags; empty: all.
    pub tags: Vec<String>,
    /// Slack and Teams: events are held until the oldest has waited this many minutes, then sent as one message;
    /// `None` sends each event as it comes.
    pub digest_minutes: Option<u32>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Until then deliveries are signed with the previous secret too (after a rotation).
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// A Jira subscription's project, issue type, account and mapping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jira: Option<JiraSettings>,
    /// A ServiceNow subscription's user, assignment group and mapping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servicenow: Option<ServiceNowSettings>,
}

/// A subscription to create; the use case checked it and chose its id and secret.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub id: String,
    pub name: String,
    pub kind: IntegrationKind,
    pub url: String,
    pub format: PayloadFormat,
    pub secret: String,
    pub events: Vec<String>,
    pub min_severity: Option<Severity>,
    pub rules: Vec<String>,
    pub tags: Vec<String>,
    pub digest_minutes: Option<u32>,
    pub jira: Option<JiraSettings>,
    pub servicenow: Option<ServiceNowSettings>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// What a subscription sends and to whom it is filtered, as an update writes it (checked by the use case).
#[derive(Debug, Clone)]
pub struct IntegrationSettings {
    pub events: Vec<String>,
    pub min_severity: Option<Severity>,
    pub rules: Vec<String>,
    pub tags: Vec<String>,
    pub digest_minutes: Option<u32>,
}

/// What deciding which subscriptions want an event needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    /// A ticket tracker's filters choose which findings get a ticket; a ticketed finding's later events always
    /// reach it (see `integrations::wants`).
    pub kind: IntegrationKind,
    pub events: Vec<String>,
    pub min_severity: Option<Severity>,
    pub rules: Vec<String>,
    pub tags: Vec<String>,
}

/// An event for the outbox; its body is the JSON document receivers get.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `msg_…`: the `webhook-id`, the same in every attempt.
    pub id: String,
    pub event_type: String,
    pub at: DateTime<Utc>,
    pub body: String,
}

/// An event and the subscriptions it goes to, for a store method to write in the transaction of the change it
/// tells.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub event: NewEvent,
    pub integration_ids: Vec<String>,
}

/// What the evaluation wrote about a finding, read in the transaction that changed it, for its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingBrief {
    pub hostname: String,
    pub kind: String,
    pub subject: String,
    pub title: String,
    pub severity: Severity,
    pub due_at: DateTime<Utc>,
    /// The host's.
    pub tags: Vec<String>,
}

/// A subscription claimed by one worker for delivery, with what signing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedIntegration {
    pub id: String,
    pub name: String,
    pub kind: IntegrationKind,
    pub url: String,
    pub format: PayloadFormat,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<DateTime<Utc>>,
    /// Held events are sent as one message once the oldest is this old (see [`Integration::digest_minutes`]).
    pub digest_minutes: Option<u32>,
    pub jira: Option<JiraSettings>,
    pub servicenow: Option<ServiceNowSettings>,
    /// The claim, unique to one worker (a process's worker names are random): writes of its attempts count only
    /// while the row still holds it. Renewed before each delivery, so it lapses soon after its worker dies.
    pub claimed_by: String,
    pub claimed_until: DateTime<Utc>,
}

/// One event waiting for one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDelivery {
    pub event_seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub at: DateTime<Utc>,
    pub body: String,
    /// Failed attempts so far.
    pub attempts: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Failed too often; kept, and sent again only when someone replays it.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Dead].into_iter().find(|k| k.as_str() == s)
    }
}

/// One attempt's result, as the worker writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The delivery's status after it.
    pub status: DeliveryStatus,
    pub response_code: Option<u16>,
    pub error: Option<String>,
    /// When the subscription may try again (after a failure that is not final).
    pub retry_at: Option<DateTime<Utc>>,
}

impl DeliveryRecord {
    /// The last attempt's answer as the log shows it: its HTTP status, or why there was none.
    pub fn answer(&self) -> Option<String> {
        self.response_code.map(|c| c.to_string()).or_else(|| self.error.clone())
    }
}

/// A line of a subscription's delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryRecord {
    pub event_seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub event_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub response_code: Option<u16>,
    pub error: Option<String>,
}

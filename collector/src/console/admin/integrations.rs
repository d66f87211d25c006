//! The console's integrations page (admins only): subscribe a webhook, change what a subscription receives, send a
//! test, see each subscription's delivery log and replay dead letters, rotate a secret, disable or remove; the
//! decisions are `app::integrations`.

use super::*;
use crate::app::integrations as uc;
use crate::integrations::{EVENT_TYPES, IntegrationError, IntegrationRequest, SettingsChange, jira, servicenow};
use crate::model::Severity;
use crate::model::integrations::{
    DeliveryStatus, Integration, IntegrationKind, JiraSettings, PayloadFormat, ServiceNowSettings,
};

/// Delivery log lines shown per subscription.
const LOG_LINES: i64 = 20;

fn integration_error(e: IntegrationError) -> PageError {
    PageError(e.into())
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',').map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect()
}

/// The form's least severity: empty for any.
fn form_severity(text: &str) -> Result<Option<Severity>, PageError> {
    match text.trim() {
        "" => Ok(None),
        s => Severity::parse(s).map(Some).ok_or_else(|| bad(format!("unknown severity {s:?}"))),
    }
}

/// The form's digest interval in minutes: empty for one message per event.
fn form_digest(text: &str) -> Result<Option<u32>, PageError> {
    match text.trim() {
        "" => Ok(None),
        m => m.parse::<u32>().map(Some).map_err(|_| bad(format!("digest minutes: {m:?} is not a whole number"))),
    }
}

fn token_field(label: &str) -> Field {
    Field {
        name: "token".to_owned(),
        label: label.to_owned(),
        kind: crate::console::view::FieldKind::Password,
        required: false,
    }
}

/// The add form's Jira settings and token, when the kind is Jira.
fn form_jira(f: &IntegrationForm) -> Result<(Option<JiraSettings>, Option<String>), PageError> {
    let priorities = jira::priority_pairs(f.jira_priorities.split(',')).map_err(integration_error)?;
    let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let settings = JiraSettings {
        project: f.jira_project.clone(),
        issue_type: optional(&f.jira_issue_type).unwrap_or_else(|| JiraSettings::DEFAULT_ISSUE_TYPE.to_owned()),
        user: f.jira_user.clone(),
        priorities,
        done_transition: optional(&f.jira_done_transition),
        reopen_transition: optional(&f.jira_reopen_transition),
    };
    Ok((Some(settings), Some(f.token.clone())))
}

/// The add form's ServiceNow settings and password, when the kind is ServiceNow.
fn form_servicenow(f: &IntegrationForm) -> Result<(Option<ServiceNowSettings>, Option<String>), PageError> {
    let priorities = servicenow::priority_pairs(f.servicenow_priorities.split(',')).map_err(integration_error)?;
    let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let settings = ServiceNowSettings {
        user: f.servicenow_user.clone(),
        assignment_group: optional(&f.servicenow_assignment_group),
        priorities,
        close_code: optional(&f.servicenow_close_code),
    };
    Ok((Some(settings), Some(f.token.clone())))
}

/// The least severity, rules and tags of a subscription in one cell.
fn filters_text(i: &Integration) -> String {
    let mut parts = vec![format!("severity ≥ {}", i.min_severity.map_or("any", Severity::as_str))];
    if !i.rules.is_empty() {
        parts.push(format!("rules {}", i.rules.join(", ")));
    }
    if !i.tags.is_empty() {
        parts.push(format!("tags {}", i.tags.join(", ")));
    }
    parts.join("; ")
}

fn severity_options() -> Vec<(&'static str, &'static str)> {
    Severity::ALL.iter().map(|s| (s.as_str(), s.as_str())).collect()
}

/// What a subscription receives, filled in with its current settings; every field is sent, so what the form shows
/// is what the subscription gets.
fn change_form(viewer: &Viewer, i: &Integration) -> FormBlock {
    let digest = i.digest_minutes.map(|m| m.to_string()).unwrap_or_default();
    form(
        viewer,
        &format!("change-{}", super::super::view::css_token(&i.name)),
        "/admin/integrations",
        &format!("Change what {} receives", i.name),
        vec![
            Field::hidden("op", "update"),
            Field::hidden("id", &i.id),
            Field::text("events", "Events (comma-separated)", Some(&i.events.join(",")), &EVENT_TYPES.join(",")),
            Field::select(
                "min_severity",
                "Least severity",
                "any",
                &severity_options(),
                i.min_severity.map(Severity::as_str),
            ),
            Field::text("rules", "Rules or advisories (empty: all)", Some(&i.rules.join(",")), "ssh.*,CVE-2024-6387"),
            Field::text("tags", "Host tags (empty: all)", Some(&i.tags.join(",")), "prod"),
            Field::text("digest_minutes", "Digest every (minutes; empty: each event)", Some(&digest), "15"),
        ],
        "Save",
    )
}

async fn integrations_page(state: &AppState, viewer: &Viewer, mut top: Vec<Block>) -> PageResult {
    let list = state.store.list_integrations().await?;
    let mut blocks = vec![Block::Heading {
        text: "Integrations".into(),
        sub: Some(
            "Finding changes POSTed to your endpoints, signed per the Standard Webhooks specification, posted to a \
             Slack or Teams channel, or sent to a SIEM over syslog; see deploy/README.md for the body and how to \
             verify it."
                .into(),
        ),
        badge: None,
    }];
    blocks.append(&mut top);
    blocks.push(Block::Form(form(
        viewer,
        "add-integration",
        "/admin/integrations",
        "Add an integration",
        vec![
            Field::hidden("op", "add"),
            Field::text("name", "Name", None, "soc").required(),
            Field::select(
                "kind",
                "Kind",
                "webhook",
                &[
                    ("webhook", "webhook"),
                    ("slack", "Slack"),
                    ("teams", "Microsoft Teams"),
                    ("syslog", "syslog"),
                    ("jira", "Jira"),
                    ("servicenow", "ServiceNow"),
                ],
                None,
            ),
            Field::text(
                "url",
                "URL (https://…: the webhook, Slack incoming webhook or Teams workflow URL; Jira: the site; \
                 ServiceNow: the instance; syslog: udp://, tcp:// or tls://host:port)",
                None,
                "https://soar.example.com/hooks/muster",
            )
            .required(),
            Field::select(
                "format",
                "Format",
                "json",
                &[("json", "json"), ("cef", "CEF (syslog)"), ("ocsf", "OCSF findings (webhook, syslog)")],
                None,
            ),
            Field::text(
                "events",
                "Events (comma-separated; empty for findings opened, reopened, recurred, risk expired, overdue, held \
                 enrolments, failed advisory updates; for Jira and ServiceNow, every finding event)",
                None,
                &EVENT_TYPES.join(","),
            ),
            Field::select("min_severity", "Least severity", "any", &severity_options(), None),
            Field::text(
                "rules",
                "Rules or advisories (comma-separated; prefix*; empty: all)",
                None,
                "ssh.*,CVE-2024-6387",
            ),
            Field::text("tags", "Host tags (comma-separated; empty: all)", None, "prod"),
            Field::text(
                "digest_minutes",
                "Digest every (minutes; Slack and Teams; empty: one message per event)",
                None,
                "15",
            ),
            Field::text("jira_project", "Jira: project key", None, "SEC"),
            Field::text("jira_issue_type", "Jira: issue type (empty: Task)", None, "Task"),
            Field::text("jira_user", "Jira: the account's e-mail (the token's owner)", None, "muster-bot@example.com"),
            token_field("Jira: API token; ServiceNow: the user's password"),
            Field::text(
                "jira_priorities",
                "Jira: priority per severity (empty: none set)",
                None,
                "critical=Highest,high=High,medium=Medium,low=Low",
            ),
            Field::text("jira_done_transition", "Jira: transition on resolve (empty: into Done)", None, "Done"),
            Field::text("jira_reopen_transition", "Jira: transition on reopen (empty: into To Do)", None, "Reopen"),
            Field::text("servicenow_user", "ServiceNow: the integration user's user ID", None, "muster.integration"),
            Field::text(
                "servicenow_assignment_group",
                "ServiceNow: assignment group's sys_id (empty: the instance's assignment rules)",
                None,
                "287ebd7da9fe198100f92cc8d1d2154e",
            ),
            Field::text(
                "servicenow_priorities",
                "ServiceNow: priority 1-5 per severity (empty: critical 1, high 2, medium 3, low 4, info 5)",
                None,
                "critical=1,high=2",
            ),
            Field::text(
                "servicenow_close_code",
                "ServiceNow: resolution code (empty: Solution provided)",
                None,
                "Solved (Permanently)",
            ),
        ],
        "Add",
    )));
    blocks.push(table(
        "integrations",
        &["Name", "Kind", "URL", "Format", "Events", "Filters", "Digest", "State"],
        list.iter()
            .map(|i| {
                vec![
                    Cell::text(&i.name),
                    Cell::text(i.kind.as_str()),
                    Cell::mono(&i.url),
                    Cell::text(i.format.as_str()),
                    Cell::text(i.events.join(", ")),
                    Cell::text(filters_text(i)),
                    Cell::text(i.digest_minutes.map_or_else(|| "each event".to_owned(), |m| format!("every {m} min"))),
                    Cell::badge(Badge::status(if i.enabled { "enabled" } else { "disabled" })),
                ]
            })
            .collect(),
        "No integration yet.",
    ));
    for i in &list {
        let log = state.store.list_deliveries(&i.id, LOG_LINES).await?;
        blocks.push(Block::Heading { text: format!("{}: deliveries", i.name), sub: None, badge: None });
        blocks.push(table(
            &format!("deliveries-{}", super::super::view::css_token(&i.name)),
            &["Event", "Type", "Happened", "Status", "Attempts", "Last attempt", "Answer"],
            log.iter()
                .map(|d| {
                    vec![
                        Cell::mono(d.event_seq.to_string()),
                        Cell::text(&d.event_type),
                        Cell::text(when(d.event_at)),
                        Cell::badge(Badge::status(d.status.as_str())),
                        Cell::text(d.attempts.to_string()),
                        Cell::text(when_opt(d.last_attempt_at)),
                        Cell::text(d.answer().unwrap_or_default()),
                    ]
                })
                .collect(),
            "Nothing sent yet.",
        ));
        for d in log.iter().filter(|d| d.status == DeliveryStatus::Dead) {
            blocks.push(row_action(
                viewer,
                "/admin/integrations",
                "replay",
                &format!("{}:{}", i.id, d.event_seq),
                &format!("Replay event {}", d.event_seq),
                "Send this event again?",
            ));
        }
        blocks.push(Block::Form(change_form(viewer, i)));
        blocks.push(row_action(
            viewer,
            "/admin/integrations",
            "test",
            &i.id,
            &format!("Send a test to {}", i.name),
            "Send a test event now?",
        ));
        let (op, label) = if i.enabled { ("disable", "Disable") } else { ("enable", "Enable") };
        blocks.push(row_action(
            viewer,
            "/admin/integrations",
            op,
            &i.id,
            &format!("{label} {}", i.name),
            &format!("{label} this integration?"),
        ));
        if i.kind.tickets() {
            let what = if i.kind == IntegrationKind::Jira { "API token" } else { "password" };
            blocks.push(Block::Form(form(
                viewer,
                &format!("token-{}", super::super::view::css_token(&i.name)),
                "/admin/integrations",
                &format!("Replace {}'s {what}", i.name),
                vec![
                    Field::hidden("op", "token"),
                    Field::hidden("id", &i.id),
                    token_field(&format!("New {what}")).required(),
                ],
                "Replace",
            )));
        } else {
            blocks.push(row_action(
                viewer,
                "/admin/integrations",
                "rotate",
                &i.id,
                &format!("Rotate {}'s secret", i.name),
                "Make a new signing secret? The old one keeps signing beside it for 24 hours.",
            ));
        }
        blocks.push(row_action(
            viewer,
            "/admin/integrations",
            "remove",
            &i.id,
            &format!("Remove {}", i.name),
            "Remove this integration and its delivery log?",
        ));
    }
    Ok(page(viewer, "integrations", "Integrations", blocks))
}

pub async fn integrations(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Admin)?;
    integrations_page(&state, &viewer, vec![]).await
}

#[derive(Debug, Deserialize)]
pub struct IntegrationForm {
    csrf: String,
    op: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    events: String,
    #[serde(default)]
    min_severity: String,
    #[serde(default)]
    rules: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    digest_minutes: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    jira_project: String,
    #[serde(default)]
    jira_issue_type: String,
    #[serde(default)]
    jira_user: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    jira_priorities: String,
    #[serde(default)]
    jira_done_transition: String,
    #[serde(default)]
    jira_reopen_transition: String,
    #[serde(default)]
    servicenow_user: String,
    #[serde(default)]
    servicenow_assignment_group: String,
    #[serde(default)]
    servicenow_priorities: String,
    #[serde(default)]
    servicenow_close_code: String,
}

pub async fn integrations_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Form(f): Form<IntegrationForm>,
) -> PageResult {
    viewer.check_form(&f.csrf)?;
    viewer.require(Role::Admin)?;
    let now = (state.clock)();
    let actor = viewer.actor(ip);
    let store = state.store.as_ref();
    let secret_block = |text: String, secret: String| {
        vec![
            Block::Notice { kind: "ok", text },
            Block::Secret { label: "Signing secret (give it to the receiver; shown only now)".into(), value: secret },
        ]
    };
    let top = match f.op.as_str() {
        "add" => {
            let min_severity = form_severity(&f.min_severity)?;
            let kind = match f.kind.trim() {
                "" => IntegrationKind::Webhook,
                k => IntegrationKind::parse(k).ok_or_else(|| bad(format!("unknown kind {k:?}")))?,
            };
            let format = PayloadFormat::parse(f.format.trim()).unwrap_or_default();
            let digest_minutes = form_digest(&f.digest_minutes)?;
            let (jira, servicenow, token) = match kind {
                IntegrationKind::Jira => {
                    let (jira, token) = form_jira(&f)?;
                    (jira, None, token)
                }
                IntegrationKind::ServiceNow => {
                    let (servicenow, token) = form_servicenow(&f)?;
                    (None, servicenow, token)
                }
                _ => (None, None, None),
            };
            let request = IntegrationRequest {
                name: f.name.trim().to_owned(),
                kind,
                url: f.url.clone(),
                format,
                events: comma_list(&f.events),
                min_severity,
                rules: comma_list(&f.rules),
                tags: comma_list(&f.tags),
                digest_minutes,
                jira,
                servicenow,
                token,
            };
            let (i, secret) = uc::add(store, &actor, request, now).await.map_err(integration_error)?;
            match secret {
                Some(secret) if i.kind.signed() => {
                    secret_block(format!("Integration {} added; send it a test below.", i.name), secret)
                }
                _ => vec![Block::Notice {
                    kind: "ok",
                    text: format!("Integration {} added; send it a test below.", i.name),
                }],
            }
        }
        "update" => {
            let change = SettingsChange {
                events: Some(comma_list(&f.events)),
                min_severity: Some(form_severity(&f.min_severity)?),
                rules: Some(comma_list(&f.rules)),
                tags: Some(comma_list(&f.tags)),
                digest_minutes: Some(form_digest(&f.digest_minutes)?),
            };
            let i = uc::update(store, &actor, &f.id, change, now).await.map_err(integration_error)?;
            vec![Block::Notice { kind: "ok", text: format!("{} now receives: {}.", i.name, filters_text(&i)) }]
        }
        "test" => {
            let seq = uc::send_test(store, &actor, &f.id, now).await.map_err(integration_error)?;
            vec![Block::Notice {
                kind: "ok",
                text: format!("Test event {seq} queued; reload in a few seconds to see the answer in the log."),
            }]
        }
        "enable" | "disable" => {
            let i = uc::set_enabled(store, &actor, &f.id, f.op == "enable", now).await.map_err(integration_error)?;
            vec![Block::Notice { kind: "ok", text: format!("{} {}d.", i.name, f.op) }]
        }
        "rotate" => {
            let (i, secret) = uc::rotate_secret(store, &actor, &f.id, now).await.map_err(integration_error)?;
            secret_block(format!("New secret for {}; the previous one signs beside it for 24 hours.", i.name), secret)
        }
        "token" => {
            let i = uc::set_token(store, &actor, &f.id, &f.token, now).await.map_err(integration_error)?;
            let what = if i.kind == IntegrationKind::ServiceNow { "password" } else { "token" };
            vec![Block::Notice { kind: "ok", text: format!("{}'s {what} is replaced; send it a test.", i.name) }]
        }
        "remove" => {
            let i = uc::remove(store, &actor, &f.id, now).await.map_err(integration_error)?;
            vec![Block::Notice { kind: "ok", text: format!("{} removed.", i.name) }]
        }
        "replay" => {
            let (id, seq) = f.id.rsplit_once(':').ok_or_else(|| bad("which delivery?"))?;
            let seq: i64 = seq.parse().map_err(|_| bad("which delivery?"))?;
            uc::replay(store, &actor, id, seq, now).await.map_err(integration_error)?;
            vec![Block::Notice { kind: "ok", text: format!("Event {seq} will be sent again within seconds.") }]
        }
        other => return Err(bad(format!("unknown action {other:?}"))),
    };
    integrations_page(&state, &viewer, top).await
}

//! `muster-collector integrations …`: subscriptions that push events to webhooks, from the command line.

use std::time::Duration;

use chrono::Utc;
use clap::Subcommand;
use serde::Serialize;

use crate::app::audit::Actor;
use crate::app::integrations as uc;
use crate::cli::{Format, emit};
use crate::integrations::IntegrationRequest;
use crate::model::Severity;
use crate::model::integrations::{
    DeliveryRecord, DeliveryStatus, Integration, IntegrationKind, JiraSettings, PayloadFormat, ServiceNowSettings,
};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// Subscribe a destination to events; prints the signing secret once.
    Add {
        #[arg(long, value_enum, default_value_t = IntegrationKind::Webhook)]
        kind: IntegrationKind,
        /// Webhook, slack (an incoming webhook's URL), teams (a workflow's "When a Teams webhook request is
        /// received" URL): where events are POSTed (http:// or https://). Syslog: udp://, tcp:// or
        /// tls://HOST[:PORT][?facility=local0…local7|auth|authpriv|security][&ca=/path/to/ca.pem for tls]. Jira: the
        /// site (https://your-site.atlassian.net). ServiceNow: the instance (https://example.service-now.com).
        #[arg(long)]
        url: String,
        /// The text of each event: json (the webhook body), cef (syslog), or ocsf (webhook and syslog: OCSF 1.8.0
        /// Vulnerability and Compliance Findings; finding events only). (`--format` is the output's.)
        #[arg(long, value_enum, default_value_t = PayloadFormat::Json)]
        payload: PayloadFormat,
        /// Event types, comma-separated (default: finding.opened, finding.reopened, finding.recurred,
        /// finding.risk_acceptance_expired, finding.overdue, host.enrolment_held, advisories.update_failed).
        /// `integrations events` lists them.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// Only findings at least this severe.
        #[arg(long, value_enum)]
        min_severity: Option<Severity>,
        /// Only finding events of these rules or advisories, comma-separated: ids or prefixes ending in `*`
        /// (`ssh.*,CVE-2024-6387`).
        #[arg(long, value_delimiter = ',')]
        rules: Vec<String>,
        /// Only events about hosts with one of these tags, comma-separated.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Slack and Teams: hold events until the oldest has waited this many minutes (1 to 1440), then send them
        /// as one message (default: one message per event).
        #[arg(long)]
        digest_minutes: Option<u32>,
        /// How commands name it (default: the kind and the URL's host).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        tracker: Box<TrackerArgs>,
    },
    /// Subscriptions, by name.
    List,
    /// The event types a subscription can ask for.
    Events,
    /// Send a test event now and show the answer.
    Test {
        name: String,
    },
    /// The delivery log: each event's status, attempts and last answer, newest first.
    Deliveries {
        name: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Send a dead delivery again (its event number from `deliveries`).
    Replay {
        name: String,
        event: i64,
    },
    /// A new signing secret, printed once; the old one signs beside it for 24 hours.
    RotateSecret {
        name: String,
    },
    Enable {
        name: String,
    },
    /// Change what it sends: only the options given change.
    Update {
        name: String,
        /// Event types, comma-separated (empty: the default ones).
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
        /// Only findings at least this severe; `any` sends all.
        #[arg(long)]
        min_severity: Option<String>,
        /// Rules or advisories, comma-separated; an empty value sends all.
        #[arg(long, value_delimiter = ',')]
        rules: Option<Vec<String>>,
        /// Host tags, comma-separated; an empty value sends all.
        #[arg(long, value_delimiter = ',')]
        tags: Option<Vec<String>>,
        /// Slack and Teams: minutes a digest holds events; `0` sends each event as it comes.
        #[arg(long)]
        digest_minutes: Option<u32>,
    },
    /// Replace a Jira subscription's API token or a ServiceNow subscription's password (read from a file, `-` for
    /// standard input).
    SetToken {
        name: String,
        #[arg(long)]
        token_file: String,
    },
    /// Stop sending; events are not queued for it meanwhile.
    Disable {
        name: String,
    },
    /// Remove it and its delivery log.
    Remove {
        name: String,
    },
}

/// `--kind jira`: the site is `--url` (https://your-site.atlassian.net; Jira Cloud only). `--kind servicenow`: the
/// instance is `--url` (https://example.service-now.com).
#[derive(Debug, Clone, clap::Args)]
pub struct TrackerArgs {
    /// Jira: the project key tickets are opened in (SEC).
    #[arg(long)]
    jira_project: Option<String>,
    /// Jira: the issue type of a new ticket.
    #[arg(long, default_value = JiraSettings::DEFAULT_ISSUE_TYPE)]
    jira_issue_type: String,
    /// Jira: the Atlassian account's e-mail address the API token belongs to (Jira Cloud).
    #[arg(long)]
    jira_user: Option<String>,
    /// Jira and ServiceNow: a file holding Jira's API token or the ServiceNow user's password (`-`: standard input);
    /// never on the command line, where `ps` shows it.
    #[arg(long)]
    token_file: Option<String>,
    /// Jira: priority per severity, comma-separated (`critical=Highest,high=High`); none set by default.
    #[arg(long, value_delimiter = ',')]
    jira_priority: Vec<String>,
    /// Jira: the transition that closes a ticket when its finding is resolved (default: the first into a done
    /// status).
    #[arg(long)]
    jira_done_transition: Option<String>,
    /// Jira: the transition that reopens a ticket when its finding comes back (default: the first into a to-do
    /// status).
    #[arg(long)]
    jira_reopen_transition: Option<String>,
    /// ServiceNow: the integration user's user ID (basic authentication; its password is in --token-file).
    #[arg(long)]
    servicenow_user: Option<String>,
    /// ServiceNow: the sys_id of the group incidents are assigned to (default: the instance's assignment rules).
    #[arg(long)]
    servicenow_assignment_group: Option<String>,
    /// ServiceNow: priority (1 Critical to 5 Planning) per severity, comma-separated (`critical=1,high=2`); default
    /// critical 1, high 2, medium 3, low 4, info 5.
    #[arg(long, value_delimiter = ',')]
    servicenow_priority: Vec<String>,
    /// ServiceNow: the resolution code set when a finding is resolved (default: `Solution provided`; instances
    /// before Utah use `Solved (Permanently)`).
    #[arg(long)]
    servicenow_close_code: Option<String>,
}

/// The token's file (or standard input) read, its line ending dropped (a password may begin or end with a space).
fn read_token(path: &str) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the token from standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading the token from {path}"))?
    };
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

type TrackerSettings = (Option<JiraSettings>, Option<ServiceNowSettings>, Option<String>);

fn tracker_request(kind: IntegrationKind, a: &TrackerArgs) -> anyhow::Result<TrackerSettings> {
    let jira_given = a.jira_project.is_some()
        || a.jira_user.is_some()
        || !a.jira_priority.is_empty()
        || a.jira_done_transition.is_some()
        || a.jira_reopen_transition.is_some();
    let servicenow_given = a.servicenow_user.is_some()
        || a.servicenow_assignment_group.is_some()
        || !a.servicenow_priority.is_empty()
        || a.servicenow_close_code.is_some();
    match kind {
        IntegrationKind::Jira => {
            if servicenow_given {
                anyhow::bail!("the --servicenow-… options are for --kind servicenow");
            }
            let project =
                a.jira_project.clone().ok_or_else(|| anyhow::anyhow!("--kind jira needs --jira-project KEY"))?;
            let file = a.token_file.as_deref().ok_or_else(|| anyhow::anyhow!("--kind jira needs --token-file FILE"))?;
            let priorities = crate::integrations::jira::priority_pairs(a.jira_priority.iter().map(String::as_str))?;
            let settings = JiraSettings {
                project,
                issue_type: a.jira_issue_type.clone(),
                user: a.jira_user.clone().ok_or_else(|| anyhow::anyhow!("--kind jira needs --jira-user EMAIL"))?,
                priorities,
                done_transition: a.jira_done_transition.clone(),
                reopen_transition: a.jira_reopen_transition.clone(),
            };
            Ok((Some(settings), None, Some(read_token(file)?)))
        }
        IntegrationKind::ServiceNow => {
            if jira_given {
                anyhow::bail!("the --jira-… options are for --kind jira");
            }
            let user = a
                .servicenow_user
                .clone()
                .ok_or_else(|| anyhow::anyhow!("--kind servicenow needs --servicenow-user USER_ID"))?;
            let file = a
                .token_file
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("--kind servicenow needs --token-file FILE (the user's password)"))?;
            let priorities =
                crate::integrations::servicenow::priority_pairs(a.servicenow_priority.iter().map(String::as_str))?;
            let settings = ServiceNowSettings {
                user,
                assignment_group: a.servicenow_assignment_group.clone(),
                priorities,
                close_code: a.servicenow_close_code.clone(),
            };
            Ok((None, Some(settings), Some(read_token(file)?)))
        }
        _ if jira_given || servicenow_given || a.token_file.is_some() => {
            anyhow::bail!("the --jira-…, --servicenow-… options and --token-file are for --kind jira or servicenow")
        }
        _ => Ok((None, None, None)),
    }
}

fn describe(i: &Integration) -> String {
    let severity = i.min_severity.map(|s| format!(" (≥ {})", s.as_str())).unwrap_or_default();
    let digest = i.digest_minutes.map(|m| format!("  digest every {m} min")).unwrap_or_default();
    let rules = if i.rules.is_empty() { String::new() } else { format!("  rules {}", i.rules.join(",")) };
    let tags = if i.tags.is_empty() { String::new() } else { format!("  tags {}", i.tags.join(",")) };
    let state = if i.enabled { "" } else { "  [disabled]" };
    let jira = match (&i.jira, &i.servicenow) {
        (Some(j), _) => format!("  project {} ({})", j.project, j.issue_type),
        (_, Some(s)) => format!("  as {}", s.user),
        _ => String::new(),
    };
    format!(
        "{}  {}  {}  {}{jira}{severity}{rules}{tags}{digest}{state}\n",
        i.name,
        i.kind.as_str(),
        i.url,
        i.events.join(",")
    )
}

fn log_text(list: &[DeliveryRecord]) -> String {
    let mut text = String::new();
    for d in list {
        let answer = d.answer().unwrap_or_else(|| "-".to_owned());
        text.push_str(&format!(
            "{}  {}  {}  {}  attempts {}  {}\n",
            d.event_seq,
            d.event_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            d.event_type,
            d.status.as_str(),
            d.attempts,
            answer
        ));
    }
    text
}

fn default_name(kind: IntegrationKind, url: &str) -> String {
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let host: String = host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
    format!("{}-{host}", kind.as_str()).chars().take(64).collect()
}

#[derive(Serialize)]
struct Added<'a> {
    integration: &'a Integration,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

/// `console`: the console's address for the links of chat messages sent from here (`integrations test`).
pub async fn run(cmd: &IntegrationsCommand, store: &dyn Store, format: Format, console: &str) -> anyhow::Result<()> {
    let now = Utc::now();
    let actor = Actor::cli();
    match cmd {
        IntegrationsCommand::Add {
            kind,
            url,
            payload,
            events,
            min_severity,
            rules,
            tags,
            digest_minutes,
            name,
            tracker,
        } => {
            let name = name.clone().unwrap_or_else(|| default_name(*kind, url));
            let (jira, servicenow, token) = tracker_request(*kind, tracker)?;
            let request = IntegrationRequest {
                name,
                kind: *kind,
                url: url.clone(),
                format: *payload,
                events: events.clone(),
                min_severity: *min_severity,
                rules: rules.clone(),
                tags: tags.clone(),
                digest_minutes: *digest_minutes,
                jira,
                servicenow,
                token,
            };
            let (i, secret) = uc::add(store, &actor, request, now).await?;
            match secret.as_deref() {
                Some(secret) if i.kind.signed() => {
                    eprintln!(
                        "integration {} added; its signing secret, shown only now (receivers verify with it):",
                        i.name
                    );
                    emit(format, &Added { integration: &i, secret: Some(secret) }, &format!("{secret}\n"))
                }
                // Chat services take messages unsigned (the secret only matters if it becomes a webhook); Jira's
                // secret is the token it was given.
                secret => {
                    eprintln!("integration {} added; send it a test with `integrations test {}`", i.name, i.name);
                    emit(format, &Added { integration: &i, secret }, &describe(&i))
                }
            }
        }
        IntegrationsCommand::List => {
            let list = store.list_integrations().await?;
            emit(format, &list, &list.iter().map(describe).collect::<String>())
        }
        IntegrationsCommand::Events => {
            let types = crate::integrations::EVENT_TYPES;
            emit(format, &types, &types.iter().map(|t| format!("{t}\n")).collect::<String>())
        }
        IntegrationsCommand::Test { name } => {
            let seq = uc::send_test(store, &actor, name, now).await?;
            let i = uc::found(store, name).await?;
            // Delivered here, so the answer is printed; a running `serve` may take it first, so wait for it.
            let sender = uc::Sender::new(Some(console.to_owned()))?;
            let clock = crate::system_clock();
            let worker = format!("cli-{}", crate::tokens::new_id()?);
            uc::drain(store, &sender, &clock, &worker, Some(&i.id)).await?;
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let record = loop {
                let (_, list) = uc::deliveries(store, &i.id, 50).await?;
                let record = list.into_iter().find(|d| d.event_seq == seq);
                let settled = record.as_ref().is_some_and(|d| d.status != DeliveryStatus::Pending || d.attempts > 0);
                if settled || std::time::Instant::now() >= deadline {
                    break record;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            let Some(record) = record else {
                anyhow::bail!("the test event's delivery is gone (integration removed?)")
            };
            let text = log_text(std::slice::from_ref(&record));
            emit(format, &record, &text)?;
            if record.status != DeliveryStatus::Delivered {
                match (record.attempts, record.error.as_deref()) {
                    (0, _) => anyhow::bail!(
                        "the test event {seq} is queued but not sent yet: earlier events of {name} wait for a retry \
                         (see `integrations deliveries {name}`); it goes out after them"
                    ),
                    (_, error) => anyhow::bail!(
                        "the test event was not delivered{}",
                        error.map(|e| format!(": {e}")).unwrap_or_default()
                    ),
                }
            }
            Ok(())
        }
        IntegrationsCommand::Deliveries { name, limit } => {
            let (_, list) = uc::deliveries(store, name, *limit).await?;
            emit(format, &list, &log_text(&list))
        }
        IntegrationsCommand::Replay { name, event } => {
            uc::replay(store, &actor, name, *event, now).await?;
            eprintln!("event {event} is pending again for {name}; a running collector sends it within seconds");
            emit(format, &serde_json::json!({ "integration": name, "event_seq": event, "status": "pending" }), "")
        }
        IntegrationsCommand::RotateSecret { name } => {
            let (i, secret) = uc::rotate_secret(store, &actor, name, now).await?;
            eprintln!(
                "new signing secret for {}, shown only now; the previous one signs beside it until {}:",
                i.name,
                i.previous_secret_until.map(|t| t.to_rfc3339()).unwrap_or_default()
            );
            emit(format, &Added { integration: &i, secret: Some(&secret) }, &format!("{secret}\n"))
        }
        IntegrationsCommand::SetToken { name, token_file } => {
            let i = uc::set_token(store, &actor, name, &read_token(token_file)?, now).await?;
            eprintln!("the token of {} is replaced; `integrations test {}` checks it", i.name, i.name);
            emit(format, &i, &describe(&i))
        }
        IntegrationsCommand::Update { name, events, min_severity, rules, tags, digest_minutes } => {
            let min_severity = match min_severity.as_deref().map(str::trim) {
                None => None,
                Some("any") => Some(None),
                Some(s) => Some(Some(Severity::parse(s).ok_or_else(|| {
                    anyhow::anyhow!("--min-severity: {s:?} is not critical, high, medium, low, info or any")
                })?)),
            };
            let change = crate::integrations::SettingsChange {
                events: events.clone(),
                min_severity,
                rules: rules.clone(),
                tags: tags.clone(),
                digest_minutes: digest_minutes.map(|m| (m > 0).then_some(m)),
            };
            let i = uc::update(store, &actor, name, change, now).await?;
            eprintln!("integration {} updated", i.name);
            emit(format, &i, &describe(&i))
        }
        IntegrationsCommand::Enable { name } | IntegrationsCommand::Disable { name } => {
            let enabled = matches!(cmd, IntegrationsCommand::Enable { .. });
            let i = uc::set_enabled(store, &actor, name, enabled, now).await?;
            emit(format, &i, &describe(&i))
        }
        IntegrationsCommand::Remove { name } => {
            let i = uc::remove(store, &actor, name, now).await?;
            eprintln!("integration {} removed", i.name);
            emit(format, &i, "")
        }
    }
}

//! The console's admin pages: users, enrolment secrets, held enrolments, API tokens, rules, advisory imports and
//! the audit log.
//! Every page needs the admin role; every change goes through the same audited functions as the CLI and API.
//! Users, secrets and tokens are in `access.rs`; the helpers they share are here.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum_extra::extract::{Form, Query};
use serde::Deserialize;

use super::export::{self, Format};
use super::view::{Badge, Block, Cell, Column, Field, Filters, Form as FormBlock, Pair, Row, Tab, Table, table};
use super::{PageError, PageResult, Viewer, when, when_opt};
use crate::AppState;
use crate::api::auth::ClientIp;
use crate::app::admin;
use crate::app::users::{self, UserError};
use crate::error::AppError;
use crate::model::Role;

mod access;
mod enrolments;
mod integrations;

pub use access::{secrets, secrets_post, tokens, tokens_post, users, users_post};
pub use enrolments::{enrolments, enrolments_post};
pub use integrations::{integrations, integrations_post};

const TABS: [(&str, &str); 8] = [
    ("users", "Users"),
    ("secrets", "Enrolment secrets"),
    ("enrolments", "Enrolments"),
    ("tokens", "API tokens"),
    ("integrations", "Integrations"),
    ("rules", "Rules"),
    ("advisories", "Advisories"),
    ("audit", "Audit log"),
];

fn tabs(current: &str) -> Vec<Tab> {
    TABS.iter()
        .map(|(key, label)| Tab { label: (*label).to_owned(), href: format!("/admin/{key}"), current: *key == current })
        .collect()
}

fn page(viewer: &Viewer, tab: &str, title: &str, blocks: Vec<Block>) -> Response {
    viewer.page_with_tabs("admin", title.to_owned(), tabs(tab), blocks)
}

fn bad(message: impl Into<String>) -> PageError {
    PageError(AppError::bad_request("invalid_request", message))
}

fn role_options() -> [(&'static str, &'static str); 3] {
    [("viewer", "viewer"), ("analyst", "analyst"), ("admin", "admin")]
}

fn form(viewer: &Viewer, id: &str, action: &str, title: &str, fields: Vec<Field>, button: &str) -> FormBlock {
    FormBlock {
        id: id.to_owned(),
        action: action.to_owned(),
        title: title.to_owned(),
        fields,
        buttons: vec![(String::new(), button.to_owned(), "primary".to_owned())],
        csrf: viewer.user.csrf_token.clone(),
        confirm: None,
        inline: false,
    }
}

/// A one-row form that acts on one record (revoke, disable…).
fn row_action(viewer: &Viewer, action: &str, op: &str, id: &str, label: &str, confirm: &str) -> Block {
    Block::Form(FormBlock {
        id: format!("{op}-{}", super::view::css_token(id)),
        action: action.to_owned(),
        title: String::new(),
        fields: vec![Field::hidden("id", id)],
        buttons: vec![(op.to_owned(), label.to_owned(), "danger".to_owned())],
        csrf: viewer.user.csrf_token.clone(),
        confirm: Some(confirm.to_owned()),
        inline: true,
    })
}

fn user_error(e: UserError) -> PageError {
    match e {
        UserError::Exists(_) | UserError::Invalid(_) | UserError::LastAdmin | UserError::Password(_) => {
            bad(e.to_string())
        }
        UserError::NotFound => PageError(AppError::NotFound("user".to_owned())),
        other => PageError(AppError::internal(other)),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Users

#[derive(Debug, Deserialize, Default)]
pub struct FormatQuery {
    format: Option<String>,
}

async fn rules_page(state: &AppState, viewer: &Viewer, mut top: Vec<Block>) -> PageResult {
    let policy = state.rules.current();
    let mut blocks = vec![Block::Heading {
        text: "Rules".into(),
        sub: Some(format!("{} rules in force, fingerprint {}", policy.rules.len(), policy.fingerprint)),
        badge: None,
    }];
    blocks.append(&mut top);
    let mut actions = form(viewer, "rules-actions", "/admin/rules", "", vec![], "");
    actions.buttons = vec![
        ("validate".into(), "Validate policy files".into(), String::new()),
        ("reload".into(), "Reload and re-evaluate all hosts".into(), "primary".into()),
    ];
    actions.inline = true;
    blocks.push(Block::Form(actions));
    blocks.push(table(
        "rules",
        &["Rule", "Severity", "SLA", "Title", "Condition", "Origin"],
        policy
            .rules
            .iter()
            .map(|r| {
                vec![
                    Cell::link(&r.id, super::link("/findings", &[("rule", r.id.clone()), ("active", "true".into())])),
                    Cell::badge(Badge::severity(r.severity.as_str())),
                    Cell::text(format!("{} d", r.sla_days)),
                    Cell::text(&r.title),
                    Cell::mono(&r.condition),
                    Cell::text(&r.origin),
                ]
            })
            .collect(),
        "No rule.",
    ));
    Ok(page(viewer, "rules", "Rules", blocks))
}

pub async fn rules(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Admin)?;
    rules_page(&state, &viewer, vec![]).await
}

#[derive(Debug, Deserialize)]
pub struct RulesForm {
    csrf: String,
    op: String,
}

pub async fn rules_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Form(f): Form<RulesForm>,
) -> PageResult {
    viewer.check_form(&f.csrf)?;
    viewer.require(Role::Admin)?;
    let top = match f.op.as_str() {
        "validate" => match crate::rules::Rules::load(state.rules.source().clone()) {
            Ok(rules) => {
                let p = rules.current();
                vec![Block::Notice {
                    kind: "ok",
                    text: format!(
                        "The policy is valid: {} rules, fingerprint {}. Reload to apply it.",
                        p.rules.len(),
                        p.fingerprint
                    ),
                }]
            }
            Err(e) => vec![Block::Notice {
                kind: "error",
                text: format!("The policy is invalid; the rules in force stay: {e}"),
            }],
        },
        "reload" => {
            let notice = match crate::app::rules::reload(&state, &viewer.actor(ip)).await? {
                Ok(run) => Block::Notice {
                    kind: "ok",
                    text: format!(
                        "Reloaded; {} hosts evaluated: {} opened, {} resolved, {} reopened.",
                        run.evaluation.hosts,
                        run.evaluation.changes.opened,
                        run.evaluation.changes.resolved,
                        run.evaluation.changes.reopened
                    ),
                },
                Err(e) => Block::Notice { kind: "error", text: format!("Not reloaded; the rules in force stay: {e}") },
            };
            vec![notice]
        }
        other => return Err(bad(format!("unknown action {other:?}"))),
    };
    rules_page(&state, &viewer, top).await
}

// ---------------------------------------------------------------------------------------------------------------
// Advisories and audit

pub async fn advisories(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Admin)?;
    let recent = state.store.search_audit(None, Some("advisories.imported"), 1).await?;
    let last = recent.iter().find(|e| e.action == "advisories.imported");
    let mut blocks = vec![Block::Heading {
        text: "Advisories".into(),
        sub: Some("Offline OSV advisories and the CISA KEV catalog that vulnerability matching uses.".into()),
        badge: None,
    }];
    match last {
        Some(e) => {
            let d = &e.details;
            // Counts, or for lists (the errors) how many there are.
            let n = |k: &str| match d.get(k) {
                Some(serde_json::Value::Array(items)) => items.len().to_string(),
                Some(v) => v.to_string(),
                None => "—".into(),
            };
            blocks.push(Block::Section { title: "Last import".into(), anchor: "last".into() });
            blocks.push(Block::Pairs(vec![
                Pair::new("When", when(e.at)),
                Pair::new("By", e.actor.clone()),
                Pair::new("File", e.target.clone().unwrap_or_default()),
                Pair::new("Records read", n("records_read")),
                Pair::new(
                    "New / updated / unchanged",
                    format!("{} / {} / {}", n("imported"), n("updated"), n("unchanged")),
                ),
                Pair::new("KEV entries", n("kev_entries")),
                Pair::new("Errors", n("errors")),
                Pair::new("Hosts re-matched", n("hosts_rematched")),
            ]));
        }
        None => blocks
            .push(Block::Notice { kind: "info", text: "No advisory import through the API or console yet.".into() }),
    }
    blocks.push(Block::Upload { csrf: viewer.user.csrf_token.clone() });
    Ok(page(&viewer, "advisories", "Advisories", blocks))
}

#[derive(Debug, Deserialize, Default)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    format: Option<String>,
}

pub async fn audit(State(state): State<AppState>, viewer: Viewer, Query(q): Query<AuditQuery>) -> PageResult {
    viewer.require(Role::Admin)?;
    let format = Format::parse(q.format.as_deref())?;
    let limit = if format == Format::Html { 500 } else { export::MAX_EXPORT_ROWS };
    let actor = q.actor.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
    let action = q.action.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
    let entries = state.store.search_audit(actor.as_deref(), action.as_deref(), limit).await?;
    match format {
        Format::Csv => {
            let rows = entries.iter().map(|e| {
                vec![
                    e.id.to_string(),
                    e.at.to_rfc3339(),
                    e.actor.clone(),
                    e.action.clone(),
                    e.target.clone().unwrap_or_default(),
                    e.source_ip.clone().unwrap_or_default(),
                    e.details.to_string(),
                    e.repeats.to_string(),
                    e.last_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                ]
            });
            return Ok(export::csv(
                "audit",
                &["id", "at", "actor", "action", "target", "source_ip", "details", "repeats", "last_at"],
                rows,
            ));
        }
        Format::Json => return Ok(export::json("audit", &entries)?),
        Format::Html => {}
    }
    let pairs = vec![("actor", q.actor.clone().unwrap_or_default()), ("action", q.action.clone().unwrap_or_default())];
    let exports = ["csv", "json"]
        .iter()
        .map(|f| {
            let mut p = pairs.clone();
            p.push(("format", (*f).to_owned()));
            (f.to_uppercase(), super::link("/admin/audit", &p))
        })
        .collect();
    let blocks = vec![
        Block::Heading {
            text: "Audit log".into(),
            sub: Some("Every change, who made it, when and from where; newest first.".into()),
            badge: None,
        },
        Block::Filters(Filters {
            action: "/admin/audit".into(),
            fields: vec![
                Field::text("actor", "Actor", q.actor.as_deref(), "user:alice"),
                Field::text("action", "Action", q.action.as_deref(), "finding, sign_in…"),
            ],
            exports,
        }),
        table(
            "audit",
            &["When", "Actor", "Action", "Target", "From", "Details"],
            entries
                .iter()
                .map(|e| {
                    vec![
                        Cell::text(when(e.at)),
                        Cell::text(&e.actor),
                        Cell::text(match e.last_at {
                            Some(last) if e.repeats > 1 => {
                                format!("{} × {} (last {})", e.action, e.repeats, when(last))
                            }
                            _ => e.action.clone(),
                        }),
                        Cell::text(e.target.clone().unwrap_or_default()),
                        Cell::mono(e.source_ip.clone().unwrap_or_default()),
                        Cell::mono(e.details.to_string()),
                    ]
                })
                .collect(),
            "Nothing recorded yet.",
        ),
    ];
    Ok(page(&viewer, "audit", "Audit log", blocks))
}

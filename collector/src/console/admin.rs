//! The console's admin pages: users, enrolment secrets, API tokens, rules, advisory imports and the audit log.
//! Every page needs the admin role; every change goes through the same audited functions as the CLI and API.
//!
//! Over 600 lines: a view and a change handler per admin resource; the next step is `console/admin/` with one
//! module and router per resource (issue 13).

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

const TABS: [(&str, &str); 6] = [
    ("users", "Users"),
    ("secrets", "Enrolment secrets"),
    ("tokens", "API tokens"),
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

async fn users_page(state: &AppState, viewer: &Viewer, mut top: Vec<Block>) -> PageResult {
    let list = state.store.list_users().await?;
    let mut blocks =
        vec![Block::Heading { text: "Users".into(), sub: Some(format!("{} users", list.len())), badge: None }];
    blocks.append(&mut top);
    blocks.push(table(
        "users",
        &["User", "Role", "Created", "Last sign-in", "State"],
        list.iter()
            .map(|u| {
                vec![
                    Cell::text(&u.name),
                    Cell::text(u.role.as_str()),
                    Cell::text(when(u.created_at)),
                    Cell::text(when_opt(u.last_login_at)),
                    Cell::badge(Badge::status(if u.disabled_at.is_some() {
                        "disabled"
                    } else if u.must_change_password {
                        "one-time password"
                    } else {
                        "active"
                    })),
                ]
            })
            .collect(),
        "No user.",
    ));
    blocks.push(export_links("/admin/users"));
    blocks.push(Block::Form(form(
        viewer,
        "add-user",
        "/admin/users",
        "Add a user",
        vec![
            Field::hidden("op", "add"),
            Field::text("name", "User name", None, "alice").required(),
            Field::select("role", "Role", "choose…", &role_options(), None).required(),
        ],
        "Add user",
    )));
    let names: Vec<(&str, &str)> = list.iter().map(|u| (u.name.as_str(), u.name.as_str())).collect();
    let mut change = form(
        viewer,
        "change-user",
        "/admin/users",
        "Change a user",
        vec![
            Field::select("name", "User", "choose…", &names, None).required(),
            Field::select("role", "New role", "(unchanged)", &role_options(), None),
        ],
        "",
    );
    change.confirm = Some("Apply this change to the user?".to_owned());
    change.buttons = vec![
        ("role".into(), "Set role".into(), "primary".into()),
        ("reset".into(), "New one-time password".into(), String::new()),
        ("disable".into(), "Disable".into(), "danger".into()),
        ("enable".into(), "Enable".into(), String::new()),
    ];
    blocks.push(Block::Form(change));
    Ok(page(viewer, "users", "Users", blocks))
}

/// `?format=csv|json` on an admin list.
#[derive(Debug, Deserialize, Default)]
pub struct FormatQuery {
    format: Option<String>,
}

fn export_links(path: &str) -> Block {
    Block::Pairs(vec![
        Pair { label: "Export".into(), value: "CSV".into(), href: Some(format!("{path}?format=csv")) },
        Pair { label: "Export".into(), value: "JSON".into(), href: Some(format!("{path}?format=json")) },
    ])
}

pub async fn users(State(state): State<AppState>, viewer: Viewer, Query(q): Query<FormatQuery>) -> PageResult {
    viewer.require(Role::Admin)?;
    let format = Format::parse(q.format.as_deref())?;
    if format != Format::Html {
        let list = state.store.list_users().await?;
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|u| {
                serde_json::json!({
                    "id": u.id, "name": u.name, "role": u.role, "created_at": u.created_at,
                    "last_login_at": u.last_login_at, "disabled_at": u.disabled_at,
                    "must_change_password": u.must_change_password,
                })
            })
            .collect();
        return Ok(export::list(
            format,
            "users",
            &["id", "name", "role", "created_at", "last_login_at", "disabled_at"],
            list.iter().map(|u| {
                vec![
                    u.id.clone(),
                    u.name.clone(),
                    u.role.as_str().to_owned(),
                    u.created_at.to_rfc3339(),
                    export::time(u.last_login_at),
                    export::time(u.disabled_at),
                ]
            }),
            &rows,
        )?);
    }
    users_page(&state, &viewer, vec![]).await
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    csrf: String,
    op: String,
    name: String,
    #[serde(default)]
    role: String,
}

pub async fn users_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Form(f): Form<UserForm>,
) -> PageResult {
    viewer.check_form(&f.csrf)?;
    viewer.require(Role::Admin)?;
    let now = (state.clock)();
    let actor = viewer.actor(ip);
    let store = state.store.as_ref();
    let role = || Role::parse(&f.role).ok_or_else(|| bad("choose a role"));
    let top = match f.op.as_str() {
        "add" => {
            let (user, password) =
                users::add_user(store, &actor, f.name.trim(), role()?, now).await.map_err(user_error)?;
            vec![
                Block::Notice {
                    kind: "ok",
                    text: format!("User {} created with the {} role.", user.name, user.role.as_str()),
                },
                Block::Secret {
                    label: "One-time password (shown only now; the user chooses their own at first sign-in)".into(),
                    value: password.expose().to_owned(),
                },
            ]
        }
        "role" => {
            users::set_role(store, &actor, &f.name, role()?, now).await.map_err(user_error)?;
            vec![Block::Notice { kind: "ok", text: format!("{} now has the {} role.", f.name, f.role) }]
        }
        "reset" => {
            let password = users::reset_password(store, &actor, &f.name, now).await.map_err(user_error)?;
            vec![
                Block::Notice {
                    kind: "ok",
                    text: format!("{} was signed out and has a new one-time password.", f.name),
                },
                Block::Secret {
                    label: "One-time password (shown only now)".into(),
                    value: password.expose().to_owned(),
                },
            ]
        }
        "disable" => {
            users::disable(store, &actor, &f.name, now).await.map_err(user_error)?;
            vec![Block::Notice { kind: "ok", text: format!("{} is disabled and signed out.", f.name) }]
        }
        "enable" => {
            users::enable(store, &actor, &f.name, now).await.map_err(user_error)?;
            vec![Block::Notice { kind: "ok", text: format!("{} can sign in again.", f.name) }]
        }
        other => return Err(bad(format!("unknown action {other:?}"))),
    };
    users_page(&state, &viewer, top).await
}

// ---------------------------------------------------------------------------------------------------------------
// Enrolment secrets

async fn secrets_page(state: &AppState, viewer: &Viewer, mut top: Vec<Block>) -> PageResult {
    let now = (state.clock)();
    let list = state.store.list_enroll_secrets().await?;
    let mut blocks = vec![Block::Heading {
        text: "Enrolment secrets".into(),
        sub: Some("Agents enrol with a secret once, then use their own host token.".into()),
        badge: None,
    }];
    blocks.append(&mut top);
    blocks.push(Block::Form(form(
        viewer,
        "create-secret",
        "/admin/secrets",
        "Create a secret",
        vec![
            Field::hidden("op", "create"),
            Field::text("label", "Label", None, "office laptops").required(),
            Field::text("expires_in", "Expires in", None, "30d (empty: never)"),
        ],
        "Create",
    )));
    blocks.push(Block::Table(Table {
        id: "secrets".into(),
        columns: ["Id", "Label", "Created", "Expires", "Uses", "State"].iter().map(|c| Column::plain(c)).collect(),
        rows: list
            .iter()
            .map(|s| {
                let state = match (s.revoked_at, s.expires_at) {
                    (Some(_), _) => "revoked",
                    (None, Some(at)) if at <= now => "expired",
                    _ => "valid",
                };
                Row {
                    select: None,
                    cells: vec![
                        Cell::mono(&s.id),
                        Cell::text(&s.label),
                        Cell::text(when(s.created_at)),
                        Cell::text(when_opt(s.expires_at)),
                        Cell::text(s.uses.to_string()),
                        Cell::badge(Badge::status(state)),
                    ],
                }
            })
            .collect(),
        empty: "No enrolment secret yet.".into(),
        select_form: None,
    }));
    blocks.push(export_links("/admin/secrets"));
    for s in list.iter().filter(|s| s.revoked_at.is_none()) {
        blocks.push(row_action(
            viewer,
            "/admin/secrets",
            "revoke",
            &s.id,
            &format!("Revoke {}", s.label),
            "Revoke this enrolment secret?",
        ));
    }
    Ok(page(viewer, "secrets", "Enrolment secrets", blocks))
}

pub async fn secrets(State(state): State<AppState>, viewer: Viewer, Query(q): Query<FormatQuery>) -> PageResult {
    viewer.require(Role::Admin)?;
    let format = Format::parse(q.format.as_deref())?;
    if format != Format::Html {
        let list = state.store.list_enroll_secrets().await?;
        return Ok(export::list(
            format,
            "enrolment-secrets",
            &["id", "label", "created_at", "expires_at", "revoked_at", "uses"],
            list.iter().map(|s| {
                vec![
                    s.id.clone(),
                    s.label.clone(),
                    s.created_at.to_rfc3339(),
                    export::time(s.expires_at),
                    export::time(s.revoked_at),
                    s.uses.to_string(),
                ]
            }),
            &list,
        )?);
    }
    secrets_page(&state, &viewer, vec![]).await
}

#[derive(Debug, Deserialize)]
pub struct SecretForm {
    csrf: String,
    op: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    expires_in: String,
    #[serde(default)]
    id: String,
}

pub async fn secrets_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Form(f): Form<SecretForm>,
) -> PageResult {
    viewer.check_form(&f.csrf)?;
    viewer.require(Role::Admin)?;
    let now = (state.clock)();
    let actor = viewer.actor(ip);
    let top = match f.op.as_str() {
        "create" => {
            let expires_in = Some(f.expires_in.trim())
                .filter(|s| !s.is_empty())
                .map(crate::config::parse_duration)
                .transpose()
                .map_err(bad)?;
            let (info, secret) =
                admin::create_enroll_secret(state.store.as_ref(), &actor, f.label.trim(), expires_in, now).await?;
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| uri.authority().map(|a| a.as_str()))
                .unwrap_or("COLLECTOR:8443");
            let scheme = if state.policy.console.tls { "https" } else { "http" };
            let pin = match &state.policy.console.ca_fingerprint {
                Some(f) => format!(" --ca-fingerprint {f}"),
                None => String::new(),
            };
            vec![
                Block::Notice {
                    kind: "ok",
                    text: format!("Secret {} ({}) created; it is shown only now.", info.id, info.label),
                },
                Block::Secret {
                    label: "Enrol an agent with (run as root on the machine)".into(),
                    value: format!(
                        "muster-agent enroll --collector {scheme}://{host} --secret {}{pin}",
                        secret.expose()
                    ),
                },
            ]
        }
        "revoke" => {
            if !admin::revoke_enroll_secret(state.store.as_ref(), &actor, &f.id, now).await? {
                return Err(PageError(AppError::NotFound("active enrolment secret".to_owned())));
            }
            vec![Block::Notice { kind: "ok", text: format!("Secret {} revoked.", f.id) }]
        }
        other => return Err(bad(format!("unknown action {other:?}"))),
    };
    secrets_page(&state, &viewer, top).await
}

// ---------------------------------------------------------------------------------------------------------------
// API tokens

async fn tokens_page(state: &AppState, viewer: &Viewer, mut top: Vec<Block>) -> PageResult {
    let list = state.store.list_api_tokens().await?;
    let mut blocks = vec![Block::Heading {
        text: "API tokens".into(),
        sub: Some("For scripts and integrations; a token has the same rights as a user of its role.".into()),
        badge: None,
    }];
    blocks.append(&mut top);
    blocks.push(Block::Form(form(
        viewer,
        "create-token",
        "/admin/tokens",
        "Create a token",
        vec![
            Field::hidden("op", "create"),
            Field::text("name", "Name", None, "siem-export").required(),
            Field::select("role", "Role", "choose…", &role_options(), None).required(),
        ],
        "Create",
    )));
    blocks.push(table(
        "tokens",
        &["Id", "Name", "Role", "Created", "Revoked"],
        list.iter()
            .map(|t| {
                vec![
                    Cell::mono(&t.id),
                    Cell::text(&t.name),
                    Cell::text(t.role.as_str()),
                    Cell::text(when(t.created_at)),
                    Cell::text(when_opt(t.revoked_at)),
                ]
            })
            .collect(),
        "No API token yet.",
    ));
    blocks.push(export_links("/admin/tokens"));
    for t in list.iter().filter(|t| t.revoked_at.is_none()) {
        blocks.push(row_action(
            viewer,
            "/admin/tokens",
            "revoke",
            &t.id,
            &format!("Revoke {}", t.name),
            "Revoke this API token?",
        ));
    }
    Ok(page(viewer, "tokens", "API tokens", blocks))
}

pub async fn tokens(State(state): State<AppState>, viewer: Viewer, Query(q): Query<FormatQuery>) -> PageResult {
    viewer.require(Role::Admin)?;
    let format = Format::parse(q.format.as_deref())?;
    if format != Format::Html {
        let list = state.store.list_api_tokens().await?;
        return Ok(export::list(
            format,
            "api-tokens",
            &["id", "name", "role", "created_at", "revoked_at"],
            list.iter().map(|t| {
                vec![
                    t.id.clone(),
                    t.name.clone(),
                    t.role.as_str().to_owned(),
                    t.created_at.to_rfc3339(),
                    export::time(t.revoked_at),
                ]
            }),
            &list,
        )?);
    }
    tokens_page(&state, &viewer, vec![]).await
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    csrf: String,
    op: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    id: String,
}

pub async fn tokens_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Form(f): Form<TokenForm>,
) -> PageResult {
    viewer.check_form(&f.csrf)?;
    viewer.require(Role::Admin)?;
    let now = (state.clock)();
    let actor = viewer.actor(ip);
    let top = match f.op.as_str() {
        "create" => {
            let role = Role::parse(&f.role).ok_or_else(|| bad("choose a role"))?;
            let (info, token) = admin::create_api_token(state.store.as_ref(), &actor, f.name.trim(), role, now).await?;
            vec![
                Block::Notice {
                    kind: "ok",
                    text: format!("Token {} ({}) created; it is shown only now.", info.id, info.name),
                },
                Block::Secret {
                    label: "API token (send as `Authorization: Bearer …`)".into(),
                    value: token.expose().to_owned(),
                },
            ]
        }
        "revoke" => {
            if !admin::revoke_api_token(state.store.as_ref(), &actor, &f.id, now).await? {
                return Err(PageError(AppError::NotFound("active API token".to_owned())));
            }
            vec![Block::Notice { kind: "ok", text: format!("Token {} revoked.", f.id) }]
        }
        other => return Err(bad(format!("unknown action {other:?}"))),
    };
    tokens_page(&state, &viewer, top).await
}

// ---------------------------------------------------------------------------------------------------------------
// Rules

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
                ]
            });
            return Ok(export::csv("audit", &["id", "at", "actor", "action", "target", "source_ip", "details"], rows));
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
                        Cell::text(&e.action),
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

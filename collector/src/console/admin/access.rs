//! The console's access administration: users, enrolment secrets and API tokens (admins only), each a page with
//! its forms; the decisions are `app::users` and `app::admin`.

use super::*;

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
                    checked: false,
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
                    // In the environment, not the arguments: other users can read a process's arguments (`ps`),
                    // not its environment.
                    label: "Enrol an agent with (run as root on the machine)".into(),
                    value: format!(
                        "MUSTER_ENROLL_SECRET={} muster-agent enroll --collector {scheme}://{host}{pin}",
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

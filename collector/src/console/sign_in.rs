//! Signing in and out of the console, and choosing a password: rate-limited, every failure audited.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;

use super::view::{Block, Field, FieldKind, Form as FormBlock, Page};
use super::{PageError, PageResult, Viewer, render, safe_next, session};
use crate::AppState;
use crate::api::auth::ClientIp;
use crate::app::sign_in::{self, SignInOutcome};
use crate::app::users;
use crate::error::AppError;

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_page(next: &str, error: Option<String>, user: &str) -> Response {
    render(&Page {
        nav: None,
        title: "Sign in".to_owned(),
        blocks: vec![Block::Login { next: next.to_owned(), error, user: user.to_owned() }],
        tabs: vec![],
    })
}

pub async fn form(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NextQuery>) -> PageResult {
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    if session::current(&headers, &state).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    Ok(login_page(&next, None, ""))
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    user: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    _: session::SameOrigin,
    Form(form): Form<SignIn>,
) -> PageResult {
    let now = (state.clock)();
    let next = safe_next(&form.next);
    let name = sign_in::clean_name(&form.user);
    let ttl = state.policy.console.session_ttl;
    let outcome = sign_in::sign_in(state.store.as_ref(), &name, &form.password, &ip, ttl, now)
        .await
        .map_err(AppError::internal)?;
    match outcome {
        SignInOutcome::Blocked => {
            let minutes = sign_in::FAILURE_WINDOW.num_minutes();
            let message = format!("Too many failed sign-ins; try again in {minutes} minutes.");
            let mut page = login_page(&next, Some(message), &name);
            *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            Ok(page)
        }
        SignInOutcome::Refused => {
            let mut page = login_page(&next, Some("Unknown user or wrong password.".to_owned()), &name);
            *page.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(page)
        }
        SignInOutcome::SignedIn { cookie, expires_at, must_change_password } => {
            let target = if must_change_password { "/account/password".to_owned() } else { next };
            let cookie = session::session_cookie(cookie.expose(), state.policy.console.tls, expires_at, now);
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&target)).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Form(form): Form<CsrfOnly>,
) -> PageResult {
    viewer.check_form(&form.csrf)?;
    let now = (state.clock)();
    sign_in::sign_out(state.store.as_ref(), &viewer.actor(ip), &viewer.user.name, &viewer.session_hash, now).await?;
    let cookie = session::cleared_cookie(state.policy.console.tls);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

fn password_page(viewer: &Viewer, error: Option<String>) -> Response {
    let mut blocks = vec![Block::Heading {
        text: "Choose a password".to_owned(),
        sub: Some(format!(
            "At least {} characters. Changing it signs you out everywhere else.",
            users::MIN_PASSWORD_CHARS
        )),
        badge: None,
    }];
    if viewer.user.must_change_password {
        blocks.push(Block::Notice {
            kind: "warn",
            text: "You signed in with a one-time password; choose your own to continue.".to_owned(),
        });
    }
    if let Some(e) = error {
        blocks.push(Block::Notice { kind: "error", text: e });
    }
    let password = |name: &str, label: &str| Field {
        name: name.to_owned(),
        label: label.to_owned(),
        kind: FieldKind::Password,
        required: true,
    };
    blocks.push(Block::Form(FormBlock {
        id: "password".to_owned(),
        action: "/account/password".to_owned(),
        title: String::new(),
        fields: vec![
            password(
                "current",
                if viewer.user.must_change_password { "One-time password" } else { "Current password" },
            ),
            password("password", "New password"),
            password("confirm", "Repeat it"),
        ],
        buttons: vec![(String::new(), "Save password".to_owned(), "primary".to_owned())],
        csrf: viewer.user.csrf_token.clone(),
        confirm: None,
        inline: false,
    }));
    viewer.page("account", "Password", blocks)
}

pub async fn password_form(viewer: Viewer) -> PageResult {
    Ok(password_page(&viewer, None))
}

#[derive(Debug, Deserialize)]
pub struct NewPassword {
    csrf: String,
    current: String,
    password: String,
    confirm: String,
}

pub async fn password_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Form(form): Form<NewPassword>,
) -> PageResult {
    viewer.check_form(&form.csrf)?;
    if form.password != form.confirm {
        return Ok(password_page(&viewer, Some("The two passwords differ.".to_owned())));
    }
    if let Err(e) = users::check_password(&form.password) {
        return Ok(password_page(&viewer, Some(e.to_string())));
    }
    let now = (state.clock)();
    let changed = users::change_own_password(
        state.store.as_ref(),
        &viewer.actor(ip),
        &viewer.user.user_id,
        &form.current,
        &form.password,
        &viewer.session_hash,
        now,
    )
    .await;
    match changed {
        Ok(()) => Ok(Redirect::to("/").into_response()),
        Err(users::UserError::Invalid(message)) => Ok(password_page(&viewer, Some(message))),
        Err(users::UserError::Password(e)) => Ok(password_page(&viewer, Some(e.to_string()))),
        Err(e) => Err(PageError(AppError::internal(e))),
    }
}

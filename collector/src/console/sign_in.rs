//! Signing in and out of the console (with a password, or through the OpenID provider), and choosing a
//! password: rate-limited, every failure audited.

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
use crate::app::sso::{self, Begun, Callback, Finished};
use crate::app::users;
use crate::error::AppError;

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_page(state: &AppState, next: &str, error: Option<String>, user: &str) -> Response {
    let console = &state.policy.console;
    let sso = console.sso.as_ref().map(|p| {
        let next = url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
        (format!("/login/sso?next={next}"), p.settings.label.clone())
    });
    render(&Page {
        nav: None,
        title: "Sign in".to_owned(),
        blocks: vec![Block::Login {
            next: next.to_owned(),
            error,
            user: user.to_owned(),
            sso,
            local: console.local_sign_in,
        }],
        tabs: vec![],
    })
}

fn with_status(mut page: Response, status: StatusCode) -> Response {
    *page.status_mut() = status;
    page
}

pub async fn form(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NextQuery>) -> PageResult {
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    if session::current(&headers, &state).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    Ok(login_page(&state, &next, None, ""))
}

/// The cookie that ties the provider's answer to the browser that asked (login CSRF, RFC 6749 §10.12). Lax, not
/// Strict: it must come back on the provider's top-level redirect to the callback, a cross-site navigation.
fn sso_cookie_name(tls: bool) -> &'static str {
    if tls { "__Host-muster_sso" } else { "muster_sso" }
}

fn sso_cookie(value: &str, tls: bool, max_age: i64) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!("{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}", sso_cookie_name(tls))
}

fn sso_unavailable(state: &AppState, next: &str, e: &sso::SsoError) -> Response {
    tracing::warn!(error = %e, "single sign-on could not reach the identity provider");
    let message = "The identity provider could not be reached; try again, or ask an administrator (the collector's \
                   log says why).";
    with_status(login_page(state, next, Some(message.to_owned()), ""), StatusCode::BAD_GATEWAY)
}

/// Sends the browser to the OpenID provider.
pub async fn sso_start(State(state): State<AppState>, Query(q): Query<NextQuery>) -> PageResult {
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    let console = &state.policy.console;
    let Some(provider) = console.sso.as_ref() else {
        return Err(PageError(AppError::NotFound("single sign-on (not configured)".to_owned())));
    };
    let now = (state.clock)();
    match sso::begin(state.store.as_ref(), provider, &next, now).await {
        Ok(Begun::Redirect { url, binding }) => {
            let max_age = crate::sso::LOGIN_TTL.num_seconds();
            let cookie = sso_cookie(binding.expose(), console.tls, max_age);
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response())
        }
        Ok(Begun::Busy) => {
            let message = "Too many sign-ins are under way; try again in a few minutes.".to_owned();
            Ok(with_status(login_page(&state, &next, Some(message), ""), StatusCode::TOO_MANY_REQUESTS))
        }
        Err(e @ sso::SsoError::Provider(_)) => Ok(sso_unavailable(&state, &next, &e)),
        Err(e) => Err(PageError(AppError::internal(e))),
    }
}

/// The provider's answer: signed in, or back to the sign-in page saying why not.
pub async fn sso_callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(cb): Query<Callback>,
) -> PageResult {
    let console = &state.policy.console;
    let Some(provider) = console.sso.as_ref() else {
        return Err(PageError(AppError::NotFound("single sign-on (not configured)".to_owned())));
    };
    let now = (state.clock)();
    let binding = session::cookie_value(&headers, sso_cookie_name(console.tls));
    let finished = sso::finish(state.store.as_ref(), provider, &cb, binding, &ip, console.session_ttl, now).await;
    let forget = sso_cookie("", console.tls, 0);
    match finished {
        Ok(Finished::SignedIn { cookie, expires_at, next }) => {
            let session = session::session_cookie(cookie.expose(), console.tls, expires_at, now);
            // The session cookie is SameSite=Strict, and this request came from the provider's site: a redirect
            // from here would still count as cross-site and arrive without it. A page that moves on by itself
            // makes the next request the console's own.
            let mut page = render(&Page {
                nav: None,
                title: "Signed in".to_owned(),
                blocks: vec![Block::Notice { kind: "ok", text: "Signed in; opening the console…".to_owned() }],
                tabs: vec![],
            });
            let h = page.headers_mut();
            h.append(header::SET_COOKIE, header_value(&session)?);
            h.append(header::SET_COOKIE, header_value(&forget)?);
            h.insert(header::REFRESH, header_value(&format!("0;url={next}"))?);
            Ok(page)
        }
        Ok(Finished::Refused { message }) => {
            let mut page = with_status(login_page(&state, "/", Some(message), ""), StatusCode::FORBIDDEN);
            page.headers_mut().append(header::SET_COOKIE, header_value(&forget)?);
            Ok(page)
        }
        Err(e @ sso::SsoError::Provider(_)) => Ok(sso_unavailable(&state, "/", &e)),
        Err(e) => Err(PageError(AppError::internal(e))),
    }
}

fn header_value(text: &str) -> Result<axum::http::HeaderValue, PageError> {
    axum::http::HeaderValue::from_str(text).map_err(|e| PageError(AppError::internal(e)))
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
    let console = &state.policy.console;
    let outcome = sign_in::sign_in(
        state.store.as_ref(),
        &name,
        &form.password,
        &ip,
        console.session_ttl,
        console.local_sign_in,
        now,
    )
    .await
    .map_err(AppError::internal)?;
    match outcome {
        SignInOutcome::Blocked => {
            let minutes = sign_in::FAILURE_WINDOW.num_minutes();
            let message = format!("Too many failed sign-ins; try again in {minutes} minutes.");
            Ok(with_status(login_page(&state, &next, Some(message), &name), StatusCode::TOO_MANY_REQUESTS))
        }
        SignInOutcome::Refused => {
            let message = "Unknown user or wrong password.".to_owned();
            Ok(with_status(login_page(&state, &next, Some(message), &name), StatusCode::UNAUTHORIZED))
        }
        SignInOutcome::LocalOff => {
            let message = "Local accounts are switched off here; use single sign-on.".to_owned();
            Ok(with_status(login_page(&state, &next, Some(message), &name), StatusCode::FORBIDDEN))
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
    let provider = match (&state.policy.console.sso, viewer.user.sso) {
        // An unreachable provider must not hold the sign-out up: the console's own session is already gone.
        (Some(provider), true) => {
            tokio::time::timeout(std::time::Duration::from_secs(3), sso::sign_out_url(provider)).await.ok().flatten()
        }
        _ => None,
    };
    let Some(at_provider) = provider else {
        return Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response());
    };
    // The console's CSP allows forms to go only to itself (`form-action 'self'`), which browsers apply to a
    // form's redirect too: a page that moves on by itself takes the browser to the provider instead.
    let mut page = render(&Page {
        nav: None,
        title: "Signed out".to_owned(),
        blocks: vec![Block::Notice {
            kind: "ok",
            text: "Signed out; signing out at the identity provider…".to_owned(),
        }],
        tabs: vec![],
    });
    let h = page.headers_mut();
    h.append(header::SET_COOKIE, header_value(&cookie)?);
    h.insert(header::REFRESH, header_value(&format!("0;url={at_provider}"))?);
    Ok(page)
}

fn password_page(viewer: &Viewer, error: Option<String>) -> Response {
    if viewer.user.sso {
        let text = "You sign in through the identity provider; your password is kept there, not here.".to_owned();
        return viewer.page("account", "Password", vec![Block::Notice { kind: "warn", text }]);
    }
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

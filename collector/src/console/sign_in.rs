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
use crate::error::AppError;
use crate::store::AuditRecord;
use crate::store::console::NewSession;
use crate::{tokens, users};

/// Failed sign-ins allowed per source address, and per user name, in [`FAILURE_WINDOW`].
pub const MAX_FAILURES: i64 = 10;
pub const FAILURE_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

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

async fn audit(state: &AppState, actor: String, action: &str, target: &str, ip: &str) -> Result<(), AppError> {
    state
        .store
        .audit(&AuditRecord {
            at: (state.clock)(),
            actor,
            action: action.to_owned(),
            target: Some(target.to_owned()),
            source_ip: Some(ip.to_owned()),
            details: serde_json::json!({}),
        })
        .await?;
    Ok(())
}

pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    _: session::SameOrigin,
    Form(form): Form<SignIn>,
) -> PageResult {
    let now = (state.clock)();
    let next = safe_next(&form.next);
    // Capped: the name goes into the audit log and a rate-limit key, and nobody's name is longer.
    let name: String = form.user.trim().chars().take(64).collect();
    let name = name.as_str();
    let source = address_group(&ip);
    // Per address, and per user name from that address: a user name alone would let anyone lock its owner out.
    let ip_key = format!("ip:{source}");
    let user_key = format!("user:{name}@{source}");
    let since = now - FAILURE_WINDOW;
    let failures = state
        .store
        .count_login_failures(&ip_key, since)
        .await?
        .max(state.store.count_login_failures(&user_key, since).await?);
    if failures >= MAX_FAILURES {
        audit(&state, format!("sign-in:{name}"), "console.sign_in_blocked", name, &ip).await?;
        let mut page = login_page(
            &next,
            Some(format!("Too many failed sign-ins; try again in {} minutes.", FAILURE_WINDOW.num_minutes())),
            name,
        );
        *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return Ok(page);
    }
    // Counted as failed before the password is checked, so parallel guesses cannot all pass the count above;
    // a right password takes the mark back.
    state.store.record_login_failure(&ip_key, now).await?;
    state.store.record_login_failure(&user_key, now).await?;
    let user = state.store.user_by_name(name).await?;
    let password = form.password.clone();
    let phc = user.as_ref().filter(|u| u.disabled_at.is_none()).map(|u| u.password_hash.clone());
    let verified = users::verify_bounded(password, phc).await.map_err(AppError::internal)?;
    let Some(user) = user.filter(|_| verified) else {
        audit(&state, format!("sign-in:{name}"), "console.sign_in_failed", name, &ip).await?;
        let mut page = login_page(&next, Some("Unknown user or wrong password.".to_owned()), name);
        *page.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(page);
    };
    state.store.forget_login_failure(&ip_key, now).await?;
    state.store.forget_login_failure(&user_key, now).await?;
    let cookie_value = tokens::generate("").map_err(AppError::internal)?;
    let csrf = tokens::generate("").map_err(AppError::internal)?;
    let ttl = chrono::Duration::from_std(state.policy.console.session_ttl).unwrap_or(chrono::Duration::hours(8));
    let expires_at = now + ttl;
    state
        .store
        .create_session(&NewSession {
            id_hash: tokens::hash(cookie_value.expose()),
            user_id: user.id.clone(),
            csrf_token: csrf.expose().to_owned(),
            created_at: now,
            expires_at,
        })
        .await?;
    state.store.record_login(&user.id, now).await?;
    let _ = state.store.prune_sessions(now).await?;
    audit(&state, format!("user:{} ({})", user.name, user.role.as_str()), "console.signed_in", &user.name, &ip).await?;
    let target = if user.must_change_password { "/account/password".to_owned() } else { next };
    let cookie = session::session_cookie(cookie_value.expose(), state.policy.console.tls, expires_at, now);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&target)).into_response())
}

/// The rate-limit key of a client address: IPv6 clients get a /64 each (one subscriber's allocation), so changing
/// the low bits buys no new attempts.
fn address_group(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        _ => ip.to_owned(),
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
    state.store.delete_session(&viewer.session_hash).await?;
    audit(&state, viewer.actor_name(), "console.signed_out", &viewer.user.name, &ip).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        assert_eq!(address_group("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_group("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_group("::ffff:192.0.2.10"), "192.0.2.10");
        assert_eq!(address_group("192.0.2.10"), "192.0.2.10");
        assert_eq!(address_group("unknown"), "unknown");
    }
}

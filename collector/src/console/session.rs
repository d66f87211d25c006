//! Console sign-in sessions: the cookie, the session lookup shared by console pages and the API, and the CSRF and
//! same-origin checks every state change passes.

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri, header};
use chrono::{DateTime, Utc};
use subtle_compare::constant_time_eq;

use crate::AppState;
use crate::error::AppError;
use crate::store::users::SessionUser;
use crate::tokens;

/// Over TLS the `__Host-` prefix makes the browser refuse the cookie unless it is Secure, host-only and `Path=/`.
pub fn cookie_name(tls: bool) -> &'static str {
    if tls { "__Host-muster_session" } else { "muster_session" }
}

/// The session cookie: HttpOnly (no script reads it), SameSite=Strict (no cross-site request carries it), Secure
/// under TLS, and expiring with the session. The value is hex, so it needs no quoting.
pub fn session_cookie(value: &str, tls: bool, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let max_age = (expires_at - now).num_seconds().max(0);
    let secure = if tls { "; Secure" } else { "" };
    format!("{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}", cookie_name(tls))
}

/// A cookie that makes the browser forget the session.
pub fn cleared_cookie(tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", cookie_name(tls))
}

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

/// The live session named by the request's cookie, and its stored hash.
pub async fn current(headers: &HeaderMap, state: &AppState) -> Result<Option<(SessionUser, String)>, AppError> {
    let Some(value) = cookie_value(headers, cookie_name(state.policy.console.tls)) else {
        return Ok(None);
    };
    let hash = tokens::hash(value);
    Ok(state.store.session(&hash, (state.clock)()).await?.map(|user| (user, hash)))
}

/// Refuses a state change that a browser sent on behalf of another site. Browsers always send `Origin` on POST;
/// when present it must name this host. `Sec-Fetch-Site` (sent by current browsers) must not be `cross-site`.
/// The host comes from `Host` (HTTP/1.1) or the URI authority (HTTP/2's `:authority`).
pub fn check_same_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), AppError> {
    let refuse = || AppError::Forbidden {
        code: "cross_origin",
        message: "this request came from another site and was refused".to_owned(),
    };
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_some_and(|v| v == "cross-site") {
        return Err(refuse());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| refuse())?;
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()))
            .ok_or_else(refuse)?;
        let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        if origin_host != host {
            return Err(refuse());
        }
    }
    Ok(())
}

/// Extracts only if the request passes [`check_same_origin`].
pub struct SameOrigin;

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SameOrigin {
    type Rejection = super::PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<SameOrigin, super::PageError> {
        check_same_origin(&parts.headers, &parts.uri)?;
        Ok(SameOrigin)
    }
}

/// The form's (or header's) CSRF token must equal the session's.
pub fn check_csrf(session: &SessionUser, sent: Option<&str>) -> Result<(), AppError> {
    match sent {
        Some(sent) if constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) => Ok(()),
        _ => Err(AppError::Forbidden {
            code: "csrf",
            message: "the form was stale or not sent from the console; reload the page and try again".to_owned(),
        }),
    }
}

/// Session authentication for the API: a signed-in console user may call the API with the same role; state
/// changes need the `X-CSRF-Token` header and a same-origin request.
pub async fn api_session(parts: &Parts, state: &AppState) -> Result<Option<SessionUser>, AppError> {
    let Some((user, _)) = current(&parts.headers, state).await? else {
        return Ok(None);
    };
    if user.must_change_password {
        return Err(AppError::Forbidden {
            code: "password_change_required",
            message: "choose your own password in the console (/account/password) first".to_owned(),
        });
    }
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        check_same_origin(&parts.headers, &parts.uri)?;
        check_csrf(&user, parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    }
    Ok(Some(user))
}

/// Compares secrets in time independent of where they differ.
mod subtle_compare {
    pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn same_origin_rules() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("muster.example:8443"));
        let uri = Uri::from_static("/");
        assert!(check_same_origin(&h, &uri).is_ok(), "no Origin: a non-browser client");
        h.insert(header::ORIGIN, HeaderValue::from_static("https://muster.example:8443"));
        assert!(check_same_origin(&h, &uri).is_ok());
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(check_same_origin(&h, &uri).is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("https://muster.example:8443"));
        let h2 = Uri::from_static("https://muster.example:8443/findings/bulk");
        let mut no_host = h.clone();
        no_host.remove(header::HOST);
        assert!(check_same_origin(&no_host, &h2).is_ok(), "HTTP/2: the authority names the host");
        assert!(check_same_origin(&no_host, &uri).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check_same_origin(&h, &uri).is_err());
    }

    #[test]
    fn cookie_lookup_takes_the_named_cookie_only() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; __Host-muster_session=abc; b=2"));
        assert_eq!(cookie_value(&h, "__Host-muster_session"), Some("abc"));
        assert_eq!(cookie_value(&h, "muster_session"), None);
        assert!(
            constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"a", b"ab")
        );
    }
}

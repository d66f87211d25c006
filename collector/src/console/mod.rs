//! The web console for security managers: server-rendered pages over the same store and roles as the API, with
//! sign-in sessions, CSRF checks and strict security headers. Reading works without JavaScript.

pub mod admin;
pub mod chart;
pub mod disposal;
pub mod export;
pub mod pages;
pub mod session;
pub mod sign_in;
pub mod view;

use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::AppState;
use crate::error::AppError;
use crate::model::Role;
use crate::store::users::SessionUser;
use view::{Block, Nav, Page, Tab};

/// How the console is served.
#[derive(Debug, Clone)]
pub struct ConsolePolicy {
    /// Served over TLS: cookies are `Secure` and responses carry HSTS.
    pub tls: bool,
    /// A session ends this long after sign-in.
    pub session_ttl: Duration,
    /// Shown in the enrol command when an admin creates an enrolment secret.
    pub ca_fingerprint: Option<String>,
    /// Single sign-on through the company's OpenID provider (`app::sso`), when configured.
    pub sso: Option<std::sync::Arc<crate::app::sso::Provider>>,
    /// Local accounts may sign in with a password; off only beside single sign-on.
    pub local_sign_in: bool,
}

impl Default for ConsolePolicy {
    fn default() -> ConsolePolicy {
        ConsolePolicy {
            tls: false,
            session_ttl: Duration::from_secs(8 * 3600),
            ca_fingerprint: None,
            sso: None,
            local_sign_in: true,
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::dashboard))
        .route("/login", get(sign_in::form).post(sign_in::submit))
        .route("/login/sso", get(sign_in::sso_start))
        .route("/login/sso/callback", get(sign_in::sso_callback))
        .route("/logout", post(sign_in::logout))
        .route("/account/password", get(sign_in::password_form).post(sign_in::password_submit))
        .route("/hosts", get(pages::hosts))
        .route("/hosts/{id}", get(pages::host))
        .route("/monitors", get(pages::monitors))
        .route("/batteries", get(pages::batteries))
        .route("/tpms", get(pages::tpms))
        .route("/findings", get(pages::findings))
        .route("/findings/bulk", post(pages::findings_bulk))
        .route("/findings/{id}", get(pages::finding))
        .route("/vulnerabilities", get(pages::vulnerabilities))
        .route("/vulnerabilities/{id}", get(pages::vulnerability))
        .route("/software", get(pages::software))
        .route("/disposal", get(disposal::queue))
        .route("/disposal/{id}", get(disposal::host).post(disposal::act))
        .route("/admin/users", get(admin::users).post(admin::users_post))
        .route("/admin/secrets", get(admin::secrets).post(admin::secrets_post))
        .route("/admin/enrolments", get(admin::enrolments).post(admin::enrolments_post))
        .route("/admin/tokens", get(admin::tokens).post(admin::tokens_post))
        .route("/admin/integrations", get(admin::integrations).post(admin::integrations_post))
        .route("/admin/rules", get(admin::rules).post(admin::rules_post))
        .route("/admin/advisories", get(admin::advisories))
        .route("/admin/audit", get(admin::audit))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .layer(axum::middleware::from_fn(error_pages))
}

const CSS: &str = include_str!("../../static/console.css");
const JS: &str = include_str!("../../static/console.js");

async fn stylesheet() -> Response {
    static_asset("text/css; charset=utf-8", CSS)
}

async fn script() -> Response {
    static_asset("text/javascript; charset=utf-8", JS)
}

fn static_asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// No inline script or style anywhere: the console's own files only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response (API responses too: they cost nothing there).
pub async fn security_headers(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(headers, "content-security-policy", CONTENT_SECURITY_POLICY);
    set(headers, "x-frame-options", "DENY");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "cross-origin-opener-policy", "same-origin");
    if state.policy.console.tls {
        set(headers, "strict-transport-security", "max-age=31536000");
    }
    // Pages, exports and API answers hold inventory and tokens: never kept by a browser or proxy.
    if !is_static {
        set(headers, "cache-control", "no-store");
    }
    response
}

/// An error shown as a console page; the status comes from the one error mapping in [`AppError`].
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, body) = self.0.status_and_body();
        if status.is_server_error() {
            tracing::error!(cause = %self.0, "console request failed");
        }
        error_page(status, body.message)
    }
}

/// The console's error page: status, message, the way back.
fn error_page(status: StatusCode, message: String) -> Response {
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("Error"));
    let page = Page {
        nav: None,
        title: title.clone(),
        blocks: vec![
            Block::Heading { text: title, sub: None, badge: None },
            Block::Notice { kind: "error", text: message },
            Block::Pairs(vec![view::Pair { label: "Back".into(), value: "Dashboard".into(), href: Some("/".into()) }]),
        ],
        tabs: vec![],
    };
    (status, render(&page)).into_response()
}

/// Longest rejection text shown on an error page.
const MAX_REJECTION_TEXT: usize = 1024;

/// Middleware: an error answer of a console route that is not already a page (axum's plain-text rejections, such as
/// a form missing a field or a wrong method) becomes the console's error page with the same status and headers, so
/// people never see a bare text response (issue 15, defect 8).
pub async fn error_pages(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() || status.is_server_error() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut page = error_page(status, message);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            page.headers_mut().insert(name.clone(), value.clone());
        }
    }
    page
}

pub type PageResult = Result<Response, PageError>;

/// Renders a template; a template error is an internal error (logged, never shown).
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error, see the collector log").into_response()
        }
    }
}

/// The signed-in user of a console page. Without a session the browser is sent to the sign-in page; with a
/// one-time password it is sent to choose a new one first.
pub struct Viewer {
    pub user: SessionUser,
    pub session_hash: String,
    /// Whether the request came from this console's own pages (see [`session::check_same_origin`]).
    same_origin: bool,
}

impl Viewer {
    pub fn require(&self, role: Role) -> Result<(), PageError> {
        if self.user.role >= role {
            Ok(())
        } else {
            Err(PageError(AppError::Forbidden {
                code: "insufficient_role",
                message: format!("this needs the {} role; you have {}", role.as_str(), self.user.role.as_str()),
            }))
        }
    }

    pub fn can(&self, role: Role) -> bool {
        self.user.role >= role
    }

    pub fn nav(&self, section: &'static str) -> Nav {
        Nav {
            user: self.user.name.clone(),
            role: self.user.role,
            csrf: self.user.csrf_token.clone(),
            section,
            password: !self.user.sso,
        }
    }

    /// A POST from a console form: same origin and the session's CSRF token.
    pub fn check_form(&self, csrf: &str) -> Result<(), PageError> {
        if !self.same_origin {
            return Err(PageError(AppError::Forbidden {
                code: "cross_origin",
                message: "this request came from another site and was refused".to_owned(),
            }));
        }
        session::check_csrf(&self.user, Some(csrf))?;
        Ok(())
    }

    pub fn actor(&self, ip: String) -> crate::app::admin::Actor {
        crate::app::admin::Actor { name: self.actor_name(), source_ip: Some(ip) }
    }

    pub fn actor_name(&self) -> String {
        format!("user:{} ({})", self.user.name, self.user.role.as_str())
    }

    pub fn page(&self, section: &'static str, title: impl Into<String>, blocks: Vec<Block>) -> Response {
        render(&Page { nav: Some(self.nav(section)), title: title.into(), blocks, tabs: vec![] })
    }

    pub fn page_with_tabs(
        &self,
        section: &'static str,
        title: impl Into<String>,
        tabs: Vec<Tab>,
        blocks: Vec<Block>,
    ) -> Response {
        render(&Page { nav: Some(self.nav(section)), title: title.into(), blocks, tabs })
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Viewer, Response> {
        let found = session::current(&parts.headers, state).await.map_err(|e| PageError(e).into_response())?;
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        match found {
            None => Err(Redirect::to(&format!("/login?next={}", encode(path))).into_response()),
            Some((user, _))
                if user.must_change_password && !matches!(parts.uri.path(), "/account/password" | "/logout") =>
            {
                Err(Redirect::to("/account/password").into_response())
            }
            Some((user, session_hash)) => {
                let same_origin = session::check_same_origin(&parts.headers, &parts.uri).is_ok();
                Ok(Viewer { user, session_hash, same_origin })
            }
        }
    }
}

/// Characters left as is in query values and path segments; everything else is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE).to_string()
}

/// `path?k=v&…` from the non-empty pairs.
pub fn link(path: &str, pairs: &[(&str, String)]) -> String {
    let query: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect();
    if query.is_empty() { path.to_owned() } else { format!("{path}?{}", query.join("&")) }
}

/// A sign-in redirect target must be a path of this console, never another site (`//evil`, `https:`).
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") && next.len() <= 2000;
    if ok && !next.chars().any(|c| c.is_control()) { next.to_owned() } else { "/".to_owned() }
}

pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn when_opt(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(when).unwrap_or_else(|| "—".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_redirects_stay_on_this_console() {
        assert_eq!(safe_next("/findings?severity=high"), "/findings?severity=high");
        assert_eq!(safe_next("//evil.example/"), "/");
        assert_eq!(safe_next("https://evil.example/"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next("/a\r\nSet-Cookie: x"), "/");
    }

    #[test]
    fn links_encode_values() {
        assert_eq!(link("/hosts", &[("q", "a b&c".into()), ("os", String::new())]), "/hosts?q=a%20b%26c");
        assert_eq!(encode("javascript:alert(1)"), "javascript%3Aalert%281%29");
    }
}

//! The web console over HTTP, on both stores: sign-in, sessions and their expiry, rate limiting and its audit,
//! CSRF and cross-origin refusal, roles in pages and in the API, the security headers, advisory upload and
//! disposal records, and the request and sign-in helpers the other console tests share. (What the pages show of
//! the hosts' reports is in `console_pages.rs`, the real-browser tests in `console_browser.rs`.)
//!
//! Over 600 lines: one scenario per test on both stores over the shared helpers above them.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::Duration;
use http_body_util::BodyExt;
use muster_collector::ServicePolicy;
use muster_collector::console::ConsolePolicy;
use muster_collector::model::Role;
use muster_collector::store::users::NewUser;
use muster_shared::v1::{CheckStatus, Report};
use tower::ServiceExt;

use crate::common::{Harness, Machine, debian, full};

both!(
    sign_in_session_expiry_and_sign_out,
    failed_sign_ins_are_audited_and_rate_limited,
    forged_and_cross_origin_changes_are_refused,
    roles_hold_in_pages_and_in_the_api,
    one_time_passwords_must_be_replaced,
    security_headers_and_hsts,
    advisory_upload_through_the_session_and_admin_exports,
    analysts_manage_disposal_records,
    provider_users_have_no_password_or_role_here,
);

pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const HOSTILE: &str = "<script>window.__pwned=1</script>\"><img src=x onerror=\"window.__pwned=1\">";

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The CSRF token the page's forms carry.
    pub(crate) fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        self.body[at..at + 64].to_owned()
    }
}

pub(crate) async fn request(h: &Harness, method: Method, uri: &str, cookie: Option<&str>, form: Option<&str>) -> Page {
    request_with(h, method, uri, cookie, form, &[]).await
}

async fn request_with(
    h: &Harness,
    method: Method,
    uri: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    extra: &[(&str, &str)],
) -> Page {
    let mut builder = Request::builder().method(method).uri(uri).header(header::HOST, "muster.test");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    if form.is_some() && !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    for (k, v) in extra {
        builder = builder.header(*k, *v);
    }
    let body = form.map(|f| Body::from(f.to_owned())).unwrap_or_else(Body::empty);
    let response = h.app.clone().oneshot(builder.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Page { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

pub(crate) async fn get(h: &Harness, uri: &str, cookie: &str) -> Page {
    request(h, Method::GET, uri, Some(cookie), None).await
}

pub(crate) async fn add_user(h: &Harness, name: &str, role: Role) {
    let created = h
        .store
        .create_user(&NewUser {
            id: muster_collector::tokens::new_id().unwrap(),
            name: name.to_owned(),
            role,
            password_hash: muster_collector::app::users::hash_password(PASSWORD).unwrap(),
            must_change_password: false,
            created_at: h.now(),
        })
        .await
        .unwrap();
    assert!(created);
}

pub(crate) fn encode(s: &str) -> String {
    muster_collector::console::encode(s)
}

/// Signs in and returns the `Cookie` header value.
pub(crate) async fn sign_in(h: &Harness, name: &str, password: &str) -> String {
    let form = format!("user={}&password={}&next=%2F", encode(name), encode(password));
    let page = request(h, Method::POST, "/login", None, Some(&form)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cookie = page.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    cookie.split(';').next().unwrap().to_owned()
}

pub(crate) async fn user(h: &Harness, name: &str, role: Role) -> String {
    add_user(h, name, role).await;
    sign_in(h, name, PASSWORD).await
}

/// Every finding, up to 1,000, as of the harness clock; tests narrow it with struct update syntax.
pub(crate) fn findings_filter(h: &Harness) -> muster_collector::findings::FindingFilter {
    muster_collector::findings::FindingFilter {
        severity: None,
        status: None,
        rule_id: None,
        host_id: None,
        kind: None,
        overdue: None,
        now: h.now(),
        limit: 1000,
        offset: 0,
        ..Default::default()
    }
}

pub(crate) async fn audit_actions(h: &Harness) -> Vec<(String, String, Option<String>)> {
    h.store.list_audit(1000).await.unwrap().into_iter().map(|e| (e.action, e.actor, e.source_ip)).collect()
}

/// The ThinkPad report with failing SSH and empty-password checks: opens a high and a critical finding.
pub(crate) fn weak(machine: &Machine) -> Report {
    let mut r = debian(machine);
    for (id, evidence) in [
        ("ssh.permit_root_login", "/etc/ssh/sshd_config:32: PermitRootLogin yes"),
        ("accounts.empty_password", "/etc/shadow: guest has an empty password"),
    ] {
        let check = r.checks.as_mut().unwrap().iter_mut().find(|c| c.id == id).unwrap();
        check.status = CheckStatus::Fail;
        check.evidence = vec![evidence.to_owned()];
        check.reason = None;
    }
    r
}

pub(crate) async fn enrolled_weak_host(h: &Harness, machine: &Machine) -> String {
    let (_, secret) = h.enroll_secret(None).await;
    let (host_id, token) = h.enrolled(&secret, machine).await;
    h.stored(&token, &full(&weak(machine))).await;
    host_id
}

async fn sign_in_session_expiry_and_sign_out(h: Harness) {
    add_user(&h, "alice", Role::Viewer).await;
    let anonymous = request(&h, Method::GET, "/findings?severity=high", None, None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location(), "/login?next=%2Ffindings%3Fseverity%3Dhigh");

    let form = format!("user=alice&password={}&next=%2Ffindings", encode(PASSWORD));
    let page = request(&h, Method::POST, "/login", None, Some(&form)).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/findings"));
    let set_cookie = page.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain-HTTP harness: no Secure flag");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let dashboard = get(&h, "/", &cookie).await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(dashboard.body.contains("<h1>Dashboard"), "{}", dashboard.body);
    assert!(dashboard.body.contains("<span class=\"user\">alice</span>"));

    // An external redirect target is ignored.
    let form = format!("user=alice&password={}&next=%2F%2Fevil.example", encode(PASSWORD));
    let page = request(&h, Method::POST, "/login", None, Some(&form)).await;
    assert_eq!(page.location(), "/");

    // Sessions end after 8 hours.
    h.advance(Duration::hours(8) + Duration::seconds(1));
    assert_eq!(get(&h, "/", &cookie).await.location(), "/login?next=%2F");

    let cookie = sign_in(&h, "alice", PASSWORD).await;
    let csrf = get(&h, "/", &cookie).await.csrf();
    let out = request(&h, Method::POST, "/logout", Some(&cookie), Some(&format!("csrf={csrf}"))).await;
    assert_eq!((out.status, out.location()), (StatusCode::SEE_OTHER, "/login"));
    assert!(out.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(get(&h, "/", &cookie).await.status, StatusCode::SEE_OTHER, "the session is gone server-side too");
    let actions: Vec<String> = audit_actions(&h).await.into_iter().map(|a| a.0).collect();
    assert_eq!(actions.iter().filter(|a| *a == "console.signed_in").count(), 3);
    assert!(actions.contains(&"console.signed_out".to_owned()));
}

async fn failed_sign_ins_are_audited_and_rate_limited(h: Harness) {
    add_user(&h, "bob", Role::Analyst).await;
    let wrong = request(&h, Method::POST, "/login", None, Some("user=bob&password=nope&next=%2F")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Unknown user or wrong password."));
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    let unknown = request(&h, Method::POST, "/login", None, Some("user=mallory&password=nope&next=%2F")).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED, "same answer for an unknown user");
    assert!(unknown.body.contains("Unknown user or wrong password."));
    let failed: Vec<_> = audit_actions(&h).await.into_iter().filter(|a| a.0 == "console.sign_in_failed").collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|a| a.2.as_deref() == Some("192.0.2.10")), "{failed:?}");

    for _ in 0..8 {
        request(&h, Method::POST, "/login", None, Some("user=bob&password=nope&next=%2F")).await;
    }
    // Ten failures from this address: even the right password is refused until the window passes.
    let form = format!("user=bob&password={}&next=%2F", encode(PASSWORD));
    let blocked = request(&h, Method::POST, "/login", None, Some(&form)).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.headers.get(header::SET_COOKIE).is_none());
    // A client that keeps trying while blocked is counted into one audit row, not one row per attempt.
    for _ in 0..49 {
        let again = request(&h, Method::POST, "/login", None, Some(&form)).await;
        assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    }
    let blocked_rows = h.store.search_audit(None, Some("console.sign_in_blocked"), 100).await.unwrap();
    assert_eq!(blocked_rows.len(), 1, "{blocked_rows:?}");
    assert_eq!((blocked_rows[0].repeats, blocked_rows[0].last_at), (50, Some(h.now())));
    h.advance(Duration::minutes(16));
    let page = request(&h, Method::POST, "/login", None, Some(&form)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

async fn forged_and_cross_origin_changes_are_refused(h: Harness) {
    let host_id = enrolled_weak_host(&h, &Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732")).await;
    let cookie = user(&h, "ana", Role::Analyst).await;
    let page = get(&h, &format!("/findings?host={host_id}"), &cookie).await;
    let csrf = page.csrf();
    let finding = h
        .store
        .list_findings(&muster_collector::findings::FindingFilter {
            rule_id: Some("ssh.permit_root_login".into()),
            host_id: Some(host_id.clone()),
            ..findings_filter(&h)
        })
        .await
        .unwrap()
        .findings
        .remove(0);
    let status = |h: &Harness, id: String| {
        let store = h.store.clone();
        let now = h.now();
        async move { store.get_finding(&id, now).await.unwrap().unwrap().status.as_str().to_owned() }
    };

    let forged = format!("csrf={}&op=acknowledge&ids={}", "0".repeat(64), finding.id);
    let page = request(&h, Method::POST, "/findings/bulk", Some(&cookie), Some(&forged)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let cross = format!("csrf={csrf}&op=acknowledge&ids={}", finding.id);
    let page = request_with(
        &h,
        Method::POST,
        "/findings/bulk",
        Some(&cookie),
        Some(&cross),
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(status(&h, finding.id.clone()).await, "open");

    // The API with a session cookie: state changes need the CSRF header.
    let api = format!("/api/v1/findings/{}/acknowledge", finding.id);
    let json = [("content-type", "application/json")];
    let page = request_with(&h, Method::POST, &api, Some(&cookie), None, &json).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert_eq!(status(&h, finding.id.clone()).await, "open");

    let ok = format!("csrf={csrf}&op=acknowledge&ids={}&back=%2Ffindings%3Fhost%3D{host_id}", finding.id);
    let page = request(&h, Method::POST, "/findings/bulk", Some(&cookie), Some(&ok)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), format!("/findings?host={host_id}&done=1&failed=0"));
    assert_eq!(status(&h, finding.id.clone()).await, "acknowledged");
    let history = h.store.finding_history(&finding.id).await.unwrap();
    assert_eq!(history.last().unwrap().actor, "user:ana (analyst)");
    assert_eq!(history.last().unwrap().source_ip.as_deref(), Some("192.0.2.10"));

    let reopen = format!("/api/v1/findings/{}/reopen", finding.id);
    let page = request_with(
        &h,
        Method::POST,
        &reopen,
        Some(&cookie),
        Some("{}"),
        &[("x-csrf-token", csrf.as_str()), ("content-type", "application/json")],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(status(&h, finding.id.clone()).await, "reopened");
}

async fn roles_hold_in_pages_and_in_the_api(h: Harness) {
    let host_id = enrolled_weak_host(&h, &Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732")).await;
    let viewer = user(&h, "vic", Role::Viewer).await;
    let analyst = user(&h, "ana", Role::Analyst).await;
    let admin = user(&h, "root-admin", Role::Admin).await;

    let page = get(&h, "/findings", &viewer).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("id=\"bulk\""), "no triage form for a viewer");
    assert!(!page.body.contains("name=\"ids\""));
    assert!(!page.body.contains("href=\"/admin/users\""), "no admin link for a viewer");
    let page = get(&h, "/findings", &analyst).await;
    assert!(page.body.contains("id=\"bulk\"") && page.body.contains("name=\"ids\""));
    assert!(!page.body.contains("href=\"/admin/users\""));
    assert!(get(&h, "/findings", &admin).await.body.contains("href=\"/admin/users\""));

    let all = h
        .store
        .list_findings(&muster_collector::findings::FindingFilter { host_id: Some(host_id), ..findings_filter(&h) })
        .await
        .unwrap();
    let id = &all.findings[0].id;
    let csrf = get(&h, "/", &viewer).await.csrf();
    let page = request(
        &h,
        Method::POST,
        "/findings/bulk",
        Some(&viewer),
        Some(&format!("csrf={csrf}&op=acknowledge&ids={id}")),
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let api = request_with(
        &h,
        Method::POST,
        &format!("/api/v1/findings/{id}/acknowledge"),
        Some(&viewer),
        None,
        &[("x-csrf-token", csrf.as_str()), ("content-type", "application/json")],
    )
    .await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "{}", api.body);
    assert!(api.body.contains("insufficient_role"));

    for path in [
        "/admin/users",
        "/admin/secrets",
        "/admin/enrolments",
        "/admin/tokens",
        "/admin/integrations",
        "/admin/rules",
        "/admin/advisories",
        "/admin/audit",
    ] {
        assert_eq!(get(&h, path, &analyst).await.status, StatusCode::FORBIDDEN, "{path}");
        let page = get(&h, path, &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    }
    let csrf = get(&h, "/", &analyst).await.csrf();
    let page = request(
        &h,
        Method::POST,
        "/admin/tokens",
        Some(&analyst),
        Some(&format!("csrf={csrf}&op=create&name=x&role=admin")),
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(h.store.list_api_tokens().await.unwrap().is_empty());

    // An admin creates an enrolment secret: the page shows the enrol command once, with the secret.
    let csrf = get(&h, "/", &admin).await.csrf();
    let page = request(
        &h,
        Method::POST,
        "/admin/secrets",
        Some(&admin),
        Some(&format!("csrf={csrf}&op=create&label=branch+office&expires_in=30d")),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // The secret travels in the environment, never in the agent's arguments.
    assert!(page.body.contains("MUSTER_ENROLL_SECRET=mes_"), "{}", page.body);
    assert!(page.body.contains(" muster-agent enroll --collector http://muster.test"), "{}", page.body);
    assert!(!page.body.contains("--secret"), "{}", page.body);
    let secrets = h.store.list_enroll_secrets().await.unwrap();
    assert!(secrets.iter().any(|s| s.label == "branch office" && s.expires_at == Some(h.now() + Duration::days(30))));
    let audit = audit_actions(&h).await;
    assert!(audit.iter().any(|a| a.0 == "enroll_secret.created" && a.1 == "user:root-admin (admin)"), "{audit:?}");
    // The audit page filters in the query, before its row limit; the export holds the same rows.
    let csv = get(&h, "/admin/audit?action=ENROLL_SECRET&actor=root-admin&format=csv", &admin).await;
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], "id,at,actor,action,target,source_ip,details,repeats,last_at");
    assert_eq!(lines.len(), 2, "{}", csv.body);
    assert!(lines[1].contains(",user:root-admin (admin),enroll_secret.created,"), "{}", lines[1]);
}

async fn one_time_passwords_must_be_replaced(h: Harness) {
    let admin = user(&h, "root-admin", Role::Admin).await;
    let csrf = get(&h, "/", &admin).await.csrf();
    let page = request(
        &h,
        Method::POST,
        "/admin/users",
        Some(&admin),
        Some(&format!("csrf={csrf}&op=add&name=carol&role=analyst")),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let at = page.body.find("<pre class=\"copyable\"").unwrap();
    let start = page.body[at..].find('>').unwrap() + at + 1;
    let end = page.body[start..].find('<').unwrap() + start;
    let otp = page.body[start..end].to_owned();
    assert_eq!(otp.len(), 20, "{otp}");

    let carol = sign_in(&h, "carol", &otp).await;
    let page = get(&h, "/findings", &carol).await;
    assert_eq!(page.location(), "/account/password", "a one-time password only lets the user choose a new one");
    let page = get(&h, "/account/password", &carol).await;
    let csrf = page.csrf();
    // The API refuses the session too until the password is chosen.
    let api = get(&h, "/api/v1/findings", &carol).await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    assert!(api.body.contains("password_change_required"), "{}", api.body);
    let change = |current: &str, new: &str| {
        format!("csrf={csrf}&current={}&password={}&confirm={}", encode(current), encode(new), encode(new))
    };
    let post = |form: String| {
        let h = &h;
        let carol = carol.clone();
        async move { request(h, Method::POST, "/account/password", Some(&carol), Some(&form)).await }
    };
    let short = post(change(&otp, "short")).await;
    assert!(short.body.contains("at least 12 characters"), "{}", short.body);
    let wrong = post(change("not the one-time password", "a much longer passphrase")).await;
    assert!(wrong.body.contains("the current password is wrong"), "{}", wrong.body);
    assert!(audit_actions(&h).await.iter().any(|a| a.0 == "user.password_change_refused"));
    let same = post(change(&otp, &otp)).await;
    assert!(same.body.contains("must differ"), "{}", same.body);
    let done = post(change(&otp, "a much longer passphrase")).await;
    assert_eq!(done.location(), "/");
    assert_eq!(get(&h, "/findings", &carol).await.status, StatusCode::OK, "the same session goes on");
    let again =
        request(&h, Method::POST, "/login", None, Some(&format!("user=carol&password={}&next=%2F", encode(&otp))))
            .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "the one-time password is spent");

    // The last enabled admin cannot be disabled.
    let csrf = get(&h, "/", &admin).await.csrf();
    let page = request(
        &h,
        Method::POST,
        "/admin/users",
        Some(&admin),
        Some(&format!("csrf={csrf}&op=disable&name=root-admin")),
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("last enabled admin"));
    let page =
        request(&h, Method::POST, "/admin/users", Some(&admin), Some(&format!("csrf={csrf}&op=disable&name=carol")))
            .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(get(&h, "/", &carol).await.status, StatusCode::SEE_OTHER, "disabling ends the user's sessions");
    let form = format!("user=carol&password={}&next=%2F", encode("a much longer passphrase"));
    assert_eq!(request(&h, Method::POST, "/login", None, Some(&form)).await.status, StatusCode::UNAUTHORIZED);
    let again =
        request(&h, Method::POST, "/admin/users", Some(&admin), Some(&format!("csrf={csrf}&op=disable&name=carol")))
            .await;
    assert!(again.body.contains("carol is already disabled"), "{}", again.body);
    let page =
        request(&h, Method::POST, "/admin/users", Some(&admin), Some(&format!("csrf={csrf}&op=enable&name=carol")))
            .await;
    assert!(page.body.contains("carol can sign in again."), "{}", page.body);
    assert_eq!(request(&h, Method::POST, "/login", None, Some(&form)).await.status, StatusCode::SEE_OTHER);
    let actions: Vec<String> = audit_actions(&h).await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"user.disabled".to_owned()) && actions.contains(&"user.enabled".to_owned()));
}

async fn security_headers_and_hsts(h: Harness) {
    let page = request(&h, Method::GET, "/login", None, None).await;
    let header = |page: &Page, name: &str| page.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        header(&page, "content-security-policy").as_deref(),
        Some(muster_collector::console::CONTENT_SECURITY_POLICY)
    );
    assert!(muster_collector::console::CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
    assert!(!muster_collector::console::CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
    assert_eq!(header(&page, "x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(header(&page, "x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header(&page, "referrer-policy").as_deref(), Some("same-origin"));
    assert_eq!(header(&page, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&page, "strict-transport-security"), None, "no HSTS over plain HTTP");
    let css = request(&h, Method::GET, "/static/console.css", None, None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(header(&css, "content-type").as_deref(), Some("text/css; charset=utf-8"));

    let tls = h.reconfigure(ServicePolicy {
        console: ConsolePolicy { tls: true, ..ConsolePolicy::default() },
        ..ServicePolicy::default()
    });
    let page = request(&tls, Method::GET, "/login", None, None).await;
    assert_eq!(header(&page, "strict-transport-security").as_deref(), Some("max-age=31536000"));
    add_user(&tls, "alice", Role::Viewer).await;
    let form = format!("user=alice&password={}&next=%2F", encode(PASSWORD));
    let page = request(&tls, Method::POST, "/login", None, Some(&form)).await;
    let cookie = header(&page, "set-cookie").unwrap();
    assert!(cookie.starts_with("__Host-muster_session=") && cookie.ends_with("; Secure"), "{cookie}");
}

async fn advisory_upload_through_the_session_and_admin_exports(h: Harness) {
    let host_id = enrolled_weak_host(&h, &Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732")).await;
    let admin = user(&h, "root-admin", Role::Admin).await;
    let analyst = user(&h, "ana", Role::Analyst).await;
    let body = std::fs::read_to_string(format!(
        "{}/testdata/advisories/debian/debian-osv-subset.jsonl",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();

    // console.js posts the file to the API with the session cookie and the page's CSRF token.
    let upload = |cookie: String, csrf: String| {
        let h = &h;
        let body = body.clone();
        async move {
            request_with(
                h,
                Method::POST,
                "/api/v1/advisories?name=debian-osv-subset.jsonl",
                Some(&cookie),
                Some(&body),
                &[("x-csrf-token", csrf.as_str()), ("content-type", "application/octet-stream")],
            )
            .await
        }
    };
    let analyst_csrf = get(&h, "/", &analyst).await.csrf();
    assert_eq!(upload(analyst.clone(), analyst_csrf).await.status, StatusCode::FORBIDDEN, "admins only");
    let page = get(&h, "/admin/advisories", &admin).await;
    assert!(page.body.contains("No advisory import"), "{}", page.body);
    let csrf = page.csrf();
    assert_eq!(upload(admin.clone(), "f".repeat(64)).await.status, StatusCode::FORBIDDEN, "CSRF header checked");
    let done = upload(admin.clone(), csrf.clone()).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let summary: serde_json::Value = serde_json::from_str(&done.body).unwrap();
    let imported = summary["imported"].as_u64().unwrap();
    assert!(imported > 0, "{summary}");
    let page = get(&h, "/admin/advisories", &admin).await;
    assert!(
        page.body.contains("debian-osv-subset.jsonl") && page.body.contains("user:root-admin (admin)"),
        "{}",
        page.body
    );

    // The host now has vulnerabilities; an advisory id or alias opens the advisory.
    let vulns = h.store.host_vulnerabilities(&host_id).await.unwrap().unwrap();
    let first = &vulns.vulnerabilities[0];
    let page = get(&h, &format!("/vulnerabilities?id={}", encode(&first.id)), &admin).await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, format!("/vulnerabilities/{}", encode(&first.id)).as_str())
    );
    let page = get(&h, &format!("/vulnerabilities/{}", encode(&first.id)), &admin).await;
    assert!(page.body.contains("lab-t480s") && page.body.contains(&first.installed_version), "{}", page.body);
    let page = get(&h, "/vulnerabilities?id=CVE-1999-0000", &admin).await;
    assert!(page.body.contains("No imported advisory is named CVE-1999-0000."));

    // Admin lists and the host's software export.
    let users = get(&h, "/admin/users?format=csv", &admin).await;
    let lines: Vec<&str> = users.body.lines().collect();
    assert_eq!(lines[0], "id,name,role,created_at,last_login_at,disabled_at");
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().any(|l| l.contains(",ana,analyst,")));
    let software = get(&h, &format!("/hosts/{host_id}?software=openssh&format=csv"), &admin).await;
    let names: Vec<&str> = software.body.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    let expected: Vec<String> = h
        .store
        .host_software(&host_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.name.contains("openssh"))
        .map(|p| p.name)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(names, expected);
}

async fn analysts_manage_disposal_records(h: Harness) {
    let host_id = enrolled_weak_host(&h, &Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732")).await;
    let viewer = user(&h, "vic", Role::Viewer).await;
    let analyst = user(&h, "ana", Role::Analyst).await;
    let path = format!("/disposal/{host_id}");
    let page = get(&h, &path, &viewer).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("status status-in_service") && !page.body.contains("id=\"disposal-start\""));
    let csrf = page.csrf();
    let start = format!(
        "csrf={csrf}&op=start&reason=end+of+lease&operator=A.+Smith&verifier=B.+Jones&location=&destination=resale&revoke_token=true"
    );
    assert_eq!(request(&h, Method::POST, &path, Some(&viewer), Some(&start)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(h.store.lifecycle_state(&host_id).await.unwrap().unwrap().as_str(), "in_service");

    let page = get(&h, &path, &analyst).await;
    assert!(page.body.contains("id=\"disposal-start\""));
    let start = start.replace(&csrf, &page.csrf());
    let done = request(&h, Method::POST, &path, Some(&analyst), Some(&start)).await;
    assert_eq!((done.status, done.location()), (StatusCode::SEE_OTHER, path.as_str()), "{}", done.body);
    assert_eq!(h.store.lifecycle_state(&host_id).await.unwrap().unwrap().as_str(), "decommissioning");
    let page = get(&h, &path, &analyst).await;
    assert!(page.body.contains("Still missing:") && page.body.contains("end of lease"), "{}", page.body);
    let queue = get(&h, "/disposal?format=csv", &viewer).await;
    let lines: Vec<&str> = queue.body.lines().collect();
    assert_eq!(lines[0], "host_id,hostname,state,reason,destination,disks_done,missing");
    assert!(
        lines[1].starts_with(&format!("{host_id},lab-t480s,decommissioning,end of lease,resale,0 / ")),
        "{}",
        lines[1]
    );
    let dashboard = get(&h, "/", &viewer).await;
    assert!(dashboard.body.contains("<span class=\"value\">1</span><span class=\"label\">in disposal</span>"));

    let redeploy = format!("csrf={}&op=redeploy&note=lease+extended", page.csrf());
    let done = request(&h, Method::POST, &path, Some(&analyst), Some(&redeploy)).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(h.store.lifecycle_state(&host_id).await.unwrap().unwrap().as_str(), "in_service");
    let audit = audit_actions(&h).await;
    assert!(audit.iter().any(|a| a.0.starts_with("disposal.") && a.1 == "user:ana (analyst)"), "{audit:?}");
}

/// A user the OpenID provider vouches for signs in only through it: no password works, an admin cannot reset one
/// nor change the role the provider's groups give. Without `[sso]` its routes do not exist; with a provider that
/// cannot be reached the sign-in page says so.
async fn provider_users_have_no_password_or_role_here(h: Harness) {
    use muster_collector::app::audit::Actor;
    use muster_collector::app::users::{self, UserError};
    let kim = NewUser {
        id: "u-kim".to_owned(),
        name: "kim".to_owned(),
        role: Role::Analyst,
        password_hash: String::new(),
        must_change_password: false,
        created_at: h.now(),
    };
    assert!(h.store.create_sso_user(&kim, "https://login.example.com", "sub-kim").await.unwrap());
    for password in ["", PASSWORD] {
        let form = format!("user=kim&password={}&next=%2F", encode(password));
        let page = request(&h, Method::POST, "/login", None, Some(&form)).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{password:?}");
        assert!(page.headers.get(header::SET_COOKIE).is_none());
    }
    let cli = Actor::cli();
    let err = users::reset_password(h.store.as_ref(), &cli, "kim", h.now()).await.unwrap_err();
    assert!(matches!(&err, UserError::Invalid(m) if m.contains("identity provider")), "{err}");
    let err = users::set_role(h.store.as_ref(), &cli, "kim", Role::Admin, h.now()).await.unwrap_err();
    assert!(matches!(&err, UserError::Invalid(m) if m.contains("identity provider")), "{err}");
    assert_eq!(h.store.user_by_name("kim").await.unwrap().unwrap().role, Role::Analyst);

    for path in ["/login/sso", "/login/sso/callback?code=x&state=y"] {
        assert_eq!(request(&h, Method::GET, path, None, None).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let login = request(&h, Method::GET, "/login", None, None).await;
    assert!(!login.body.contains("sso-sign-in"), "no single sign-on button without [sso]");

    // Local sign-in switched off: refused without a password check, and a client that keeps trying is one
    // counted audit row, not a row per request.
    let off = h.reconfigure(ServicePolicy {
        console: ConsolePolicy { local_sign_in: false, ..ConsolePolicy::default() },
        ..ServicePolicy::default()
    });
    add_user(&h, "lou", Role::Admin).await;
    let form = format!("user=lou&password={}&next=%2F", encode(PASSWORD));
    for _ in 0..5 {
        let page = request(&off, Method::POST, "/login", None, Some(&form)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.body.contains("Local accounts are switched off here"));
        assert!(page.headers.get(header::SET_COOKIE).is_none());
    }
    let failed = h.store.search_audit(None, Some("console.sign_in_failed"), 10).await.unwrap();
    let lou: Vec<_> = failed.iter().filter(|r| r.target.as_deref() == Some("lou")).collect();
    assert_eq!(lou.len(), 1, "{failed:?}");
    assert_eq!(lou[0].repeats, 5);

    // A provider nobody answers for (a closed port): the page says so, and nothing is left behind.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let settings = muster_collector::sso::SsoSettings {
        issuer,
        client_id: "muster".to_owned(),
        client_secret: muster_collector::config::Secret::new("s"),
        redirect_uri: "https://muster.example.com/login/sso/callback".to_owned(),
        scopes: vec![],
        role_claim: "groups".to_owned(),
        name_claim: "preferred_username".to_owned(),
        roles: muster_collector::sso::RoleMap { viewer: vec!["staff".to_owned()], ..Default::default() },
        label: "Corp".to_owned(),
        clock_skew: std::time::Duration::from_secs(60),
        ca_file: None,
        sign_out_at_provider: false,
        post_logout_redirect_uri: "https://muster.example.com/login".to_owned(),
    };
    let provider = muster_collector::app::sso::Provider::new(settings).unwrap();
    let h2 = h.reconfigure(ServicePolicy {
        console: ConsolePolicy { sso: Some(std::sync::Arc::new(provider)), ..ConsolePolicy::default() },
        ..ServicePolicy::default()
    });
    let login = request(&h2, Method::GET, "/login?next=%2Ffindings", None, None).await;
    assert!(login.body.contains("href=\"/login/sso?next=%2Ffindings\""), "{}", login.body);
    let page = request(&h2, Method::GET, "/login/sso?next=%2Ffindings", None, None).await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(page.body.contains("The identity provider could not be reached"), "{}", page.body);
    assert!(page.headers.get(header::SET_COOKIE).is_none());
    // An answer nobody asked for is refused and audited, whatever it carries; a flood of them is one counted row.
    for _ in 0..20 {
        let page = request(&h2, Method::GET, "/login/sso/callback?code=x&state=forged", None, None).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.body.contains("This sign-in has expired or was already used"));
    }
    let refused = h.store.search_audit(None, Some("console.sso_refused"), 10).await.unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].details["reason"], "unknown, expired or replayed state");
    assert_eq!(refused[0].repeats, 20);
}

//! The web console in a real browser: Debian's headless Chromium, driven through chromedriver (WebDriver), against
//! the real server over TLS. Sign-in, roles, filters, bulk triage, exports and screenshots here; hostile agent text
//! in `console_browser/hostile.rs`, the worklist in `console_browser/worklist.rs`. SQLite only: the store itself is
//! covered on both backends elsewhere.
//!
//! Over 600 lines: the browser tests share one WebDriver session helper set; each scenario needs its seeded fleet.

use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use muster_collector::ServicePolicy;
use muster_collector::console::{CONTENT_SECURITY_POLICY, ConsolePolicy};
use muster_collector::findings::{FindingFilter, FindingView, Status};
use muster_collector::model::Role;
use muster_collector::rules::Severity;
use muster_collector::store::users::NewUser;
use muster_shared::v1::{CheckStatus, Package, Report};
use serde_json::{Value, json};

use crate::common::{self, Backend, Harness, Machine, TlsServer, full};

mod hostile;
mod sso;
mod worklist;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PASSWORD: &str = "correct horse battery staple";
const THINKPAD: &str = "4c4c4544004d3510804bb2c04f4e3732";
const VMWARE: &str = "564de2c3c3c0e1e24622554dc5eb6ba1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_sign_out() {
    browser(sign_in_and_sign_out_test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_cannot_triage() {
    browser(a_viewer_cannot_triage_test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_and_export_findings() {
    browser(filter_and_export_findings_test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_acknowledge_and_accept_risk() {
    browser(bulk_acknowledge_and_accept_risk_test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_agent_text_stays_text() {
    browser(hostile::hostile_agent_text_stays_text_test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advisory_upload_through_the_page() {
    browser(worklist::advisory_upload_through_the_page_test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_a_worklist() {
    browser(worklist::the_dashboard_is_a_worklist_test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_through_a_real_provider() {
    sso::browser_with_idp(true, sso::single_sign_on_test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_refuses_forged_tokens() {
    sso::browser_with_idp(false, sso::forged_tokens_are_refused_test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_signs_out_at_the_provider_when_asked() {
    sso::browser_with_idp_signing_out(sso::provider_sign_out_test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots() {
    browser(screenshots_test).await
}

// ---------------------------------------------------------------------------------------------------------------
// The tests

async fn sign_in_and_sign_out_test(c: Console) {
    c.user("ann", Role::Analyst).await;
    c.goto("/").await;
    assert_eq!(c.location().await, "/login?next=%2F", "no session: the dashboard sends the browser to sign in");

    c.sign_in("ann", "not the password").await;
    assert_eq!(c.location().await, "/login");
    assert_eq!(c.text("p.notice-error").await, "Unknown user or wrong password.");
    assert_eq!(c.count("header.top").await, 0, "no navigation before signing in");
    assert!(c.session_cookie().await.is_none());

    c.sign_in("ann", PASSWORD).await;
    assert_eq!(c.location().await, "/", "back to where the browser wanted to go");
    assert_eq!(c.text("h1").await, "Dashboard");
    assert_eq!(c.text("header.top .user").await, "ann");
    assert_eq!(c.text("header.top .role").await, "analyst");

    let cookie = c.session_cookie().await.expect("the session cookie is set");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    let visible = c.js("return document.cookie", vec![]).await;
    assert!(!visible.as_str().unwrap().contains("muster_session"), "a script can read the session: {visible}");

    let response = c.fetch("/", json!({})).await;
    assert_eq!(response["status"], 200, "{response}");
    let headers = &response["headers"];
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["strict-transport-security"], "max-age=31536000");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(response["body"].as_str().unwrap().contains("<h1>Dashboard"));

    c.click_and_wait("button#sign-out").await;
    assert_eq!(c.location().await, "/login");
    assert!(c.session_cookie().await.is_none(), "signing out clears the cookie");
    c.goto("/").await;
    assert_eq!(c.location().await, "/login?next=%2F");
    c.goto("/findings?severity=high").await;
    assert_eq!(c.location().await, "/login?next=%2Ffindings%3Fseverity%3Dhigh");

    let actions: Vec<(String, String)> =
        c.h.store.list_audit(100).await.unwrap().into_iter().map(|e| (e.actor, e.action)).rev().collect();
    let console: Vec<(&str, &str)> =
        actions.iter().filter(|(_, a)| a.starts_with("console.")).map(|(u, a)| (u.as_str(), a.as_str())).collect();
    assert_eq!(
        console,
        vec![
            ("sign-in:ann", "console.sign_in_failed"),
            ("user:ann (analyst)", "console.signed_in"),
            ("user:ann (analyst)", "console.signed_out"),
        ]
    );
}

async fn a_viewer_cannot_triage_test(c: Console) {
    let fleet = fleet(&c.h).await;
    c.user("vic", Role::Viewer).await;
    c.user("ann", Role::Analyst).await;
    let id = fleet.finding(&c.h, "ssh.permit_root_login").await.id;

    c.goto("/login").await;
    c.sign_in("vic", PASSWORD).await;
    c.goto("/findings").await;
    let all = c.h.store.list_findings(&filter(&c.h)).await.unwrap();
    assert!(all.total >= 5, "the fleet has findings");
    assert_eq!(c.count("table#findings tbody tr").await, all.total as usize);
    assert_eq!(c.count("form#bulk").await, 0, "a viewer gets no triage form");
    assert_eq!(c.count("input[name=ids]").await, 0, "a viewer gets no selection boxes");
    c.goto(&format!("/findings/{id}")).await;
    assert_eq!(c.count("form#triage").await, 0);

    let acknowledge = format!("/api/v1/findings/{id}/acknowledge");
    let refused = c.fetch(&acknowledge, post_json(&c.csrf().await)).await;
    assert_eq!(refused["status"], 403, "{refused}");
    assert_eq!(body_json(&refused)["error"], "insufficient_role");
    assert_eq!(c.h.store.get_finding(&id, c.h.now()).await.unwrap().unwrap().status, Status::Open);

    c.click_and_wait("button#sign-out").await;
    c.sign_in("ann", PASSWORD).await;
    c.goto("/findings").await;
    assert_eq!(c.count("form#bulk").await, 1);
    assert_eq!(c.count("input[name=ids]").await, all.total as usize);
    // The same call without the CSRF header is refused for that reason, and with it the analyst's role suffices:
    // the viewer's 403 was the role.
    let no_csrf = c
        .fetch(&acknowledge, json!({"method": "POST", "headers": {"Content-Type": "application/json"}, "body": "{}"}))
        .await;
    assert_eq!((no_csrf["status"].as_i64(), body_json(&no_csrf)["error"].as_str()), (Some(403), Some("csrf")));
    let done = c.fetch(&acknowledge, post_json(&c.csrf().await)).await;
    assert_eq!(done["status"], 200, "{done}");
    let f = c.h.store.get_finding(&id, c.h.now()).await.unwrap().unwrap();
    assert_eq!(f.status, Status::Acknowledged);
    assert_eq!(f.acknowledged_by.as_deref(), Some("user:ann (analyst)"));
}

async fn filter_and_export_findings_test(c: Console) {
    fleet(&c.h).await;
    c.user("vic", Role::Viewer).await;
    c.goto("/login").await;
    c.sign_in("vic", PASSWORD).await;
    c.goto("/findings").await;

    c.mark_page().await;
    c.b.find(Locator::Css("form.filters select[name=severity]")).await.unwrap().select_by_value("high").await.unwrap();
    c.wait_new_page().await;
    assert!(c.location().await.starts_with("/findings?severity=high&"), "{}", c.location().await);
    let high =
        c.h.store.list_findings(&FindingFilter { severity: Some(Severity::High), ..filter(&c.h) }).await.unwrap();
    assert!(high.total >= 2, "the weak ThinkPad alone has two high findings");
    let badges = c
        .js("return Array.from(document.querySelectorAll('table#findings tbody tr')).map(tr => tr.querySelector('td .sev').textContent)", vec![])
        .await;
    let badges: Vec<&str> = badges.as_array().unwrap().iter().map(|b| b.as_str().unwrap()).collect();
    assert_eq!(badges, vec!["high"; high.total as usize]);
    assert_eq!(c.text(".heading .sub").await, format!("{} matching", high.total));
    let linked = c
        .js("return Array.from(document.querySelectorAll('table#findings tbody tr td:nth-child(2) a')).map(a => a.getAttribute('href'))", vec![])
        .await;
    let expected: Vec<String> = high.findings.iter().map(|f| format!("/findings/{}", f.id)).collect();
    assert_eq!(linked, json!(expected), "the rows are the store's high findings, in its order");

    let href = c
        .js("return Array.from(document.querySelectorAll('a.export')).find(a => a.textContent.trim() === 'CSV').getAttribute('href')", vec![])
        .await;
    let href = href.as_str().unwrap();
    assert!(href.starts_with("/findings?severity=high&") && href.ends_with("format=csv"), "{href}");
    let csv = c.fetch(href, json!({})).await;
    assert_eq!(csv["status"], 200, "{csv}");
    assert_eq!(csv["headers"]["content-type"], "text/csv; charset=utf-8");
    assert_eq!(csv["headers"]["content-disposition"], "attachment; filename=\"muster-findings.csv\"");
    let body = csv["body"].as_str().unwrap();
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some(muster_collector::export::FINDINGS_HEADER));
    let ids: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    let expected: Vec<&str> = high.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, expected, "the export holds exactly the filtered findings:\n{body}");
}

async fn bulk_acknowledge_and_accept_risk_test(c: Console) {
    let fleet = fleet(&c.h).await;
    c.user("ann", Role::Analyst).await;
    let disk = fleet.finding(&c.h, "disk.encryption").await.id;
    let ssh = fleet.finding(&c.h, "ssh.permit_root_login").await.id;
    let usb = fleet.finding(&c.h, "usb.storage_disabled").await.id;
    let malware = fleet.finding(&c.h, "malware.scanner").await.id;
    let status = |id: String| {
        let h = &c.h;
        async move { h.store.get_finding(&id, h.now()).await.unwrap().unwrap() }
    };

    c.goto("/login").await;
    c.sign_in("ann", PASSWORD).await;
    c.goto("/findings?status=open").await;
    c.tick(&disk).await;
    c.tick(&ssh).await;
    c.click_and_wait("form#bulk button[name=op][value=acknowledge]").await;
    assert_eq!(c.location().await, "/findings?status=open&done=2&failed=0");
    assert_eq!(c.text("p.notice.notice-ok").await, "2 finding(s) updated.");
    for id in [&disk, &ssh] {
        let f = status(id.clone()).await;
        assert_eq!((f.status, f.acknowledged_by.as_deref()), (Status::Acknowledged, Some("user:ann (analyst)")));
        assert_eq!(f.acknowledged_at, Some(c.h.now()));
        assert_eq!(c.count(&format!("input[name=ids][value=\"{id}\"]")).await, 0, "no longer listed as open");
    }
    assert_eq!(status(usb.clone()).await.status, Status::Open, "only the ticked ones changed");

    // Accepting a risk needs a reason and holds through the chosen day.
    let until = (c.h.now() + Duration::days(30)).date_naive();
    c.tick(&usb).await;
    c.b.find(Locator::Css("form#bulk textarea[name=comment]"))
        .await
        .unwrap()
        .send_keys("USB ports are epoxied on this fleet")
        .await
        .unwrap();
    c.set_value("form#bulk input[name=expires]", &until.format("%Y-%m-%d").to_string()).await;
    c.click_and_wait("form#bulk button[name=op][value=accept-risk]").await;
    assert_eq!(c.text("p.notice.notice-ok").await, "1 finding(s) updated.");
    let f = status(usb.clone()).await;
    assert_eq!(f.status, Status::RiskAccepted);
    assert_eq!(f.risk_reason.as_deref(), Some("USB ports are epoxied on this fleet"));
    assert_eq!(f.risk_accepted_by.as_deref(), Some("user:ann (analyst)"));
    assert_eq!(f.risk_expires_at, Some(until.and_hms_opt(23, 59, 59).unwrap().and_utc()));

    // Without a reason the list comes back with the error, the ticked finding still ticked and the date kept.
    c.tick(&malware).await;
    c.set_value("form#bulk textarea[name=comment]", "").await;
    let later = (c.h.now() + Duration::days(45)).date_naive().format("%Y-%m-%d").to_string();
    c.set_value("form#bulk input[name=expires]", &later).await;
    c.click_and_wait("form#bulk button[name=op][value=accept-risk]").await;
    assert_eq!(c.text("h1").await, "Findings");
    assert_eq!(c.text("p.notice-error").await, "accepting a risk needs a reason");
    let ticked =
        c.js(&format!("return document.querySelector('input[name=ids][value=\"{malware}\"]').checked"), vec![]).await;
    assert_eq!(ticked, json!(true), "the selection survives the refusal");
    let kept = c.js("return document.querySelector('form#bulk input[name=expires]').value", vec![]).await;
    assert_eq!(kept, json!(later));
    let f = status(malware.clone()).await;
    assert_eq!((f.status, f.risk_reason, f.risk_expires_at), (Status::Open, None, None));
    // Giving the reason now is enough: nothing else has to be chosen again.
    c.b.find(Locator::Css("form#bulk textarea[name=comment]"))
        .await
        .unwrap()
        .send_keys("kiosk, no network")
        .await
        .unwrap();
    c.click_and_wait("form#bulk button[name=op][value=accept-risk]").await;
    assert_eq!(c.text("p.notice.notice-ok").await, "1 finding(s) updated.");
    assert_eq!(status(malware).await.status, Status::RiskAccepted);
}

async fn screenshots_test(c: Console) {
    let fleet = fleet(&c.h).await;
    c.user("root", Role::Admin).await;
    c.goto("/login").await;
    c.sign_in("root", PASSWORD).await;
    assert_eq!(c.location().await, "/");
    for (name, path, heading) in [
        ("dashboard", "/".to_owned(), "Dashboard"),
        ("host", format!("/hosts/{}", fleet.thinkpad), "lab-t480s reporting"),
        ("findings", "/findings".into(), "Findings"),
    ] {
        c.goto(&path).await;
        c.settle().await;
        assert_eq!(c.text("h1").await, heading, "{path}");
        let file = c.screenshot(name).await;
        let png = std::fs::read(&file).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", file.display());
        assert!(png.len() > 10 * 1024, "{} is only {} bytes", file.display(), png.len());
        println!("console screenshot: {}", file.display());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Data

/// Two hosts from the real fixture reports: the ThinkPad with a weak configuration and the Ubuntu VMware guest.
struct Fleet {
    thinkpad: String,
}

impl Fleet {
    async fn finding(&self, h: &Harness, rule: &str) -> FindingView {
        let page = h
            .store
            .list_findings(&FindingFilter {
                rule_id: Some(rule.to_owned()),
                host_id: Some(self.thinkpad.clone()),
                ..filter(h)
            })
            .await
            .unwrap();
        assert_eq!(page.total, 1, "one {rule} finding on the ThinkPad");
        page.findings.into_iter().next().unwrap()
    }
}

async fn fleet(h: &Harness) -> Fleet {
    let (_, secret) = h.enroll_secret(None).await;
    let thinkpad = Machine::thinkpad(THINKPAD);
    let (host, token) = h.enrolled(&secret, &thinkpad).await;
    h.stored(&token, &full(&weak(&thinkpad))).await;
    let vmware = Machine::vmware(VMWARE);
    let (_, token) = h.enrolled(&secret, &vmware).await;
    h.stored(&token, &full(&common::ubuntu(&vmware))).await;
    Fleet { thinkpad: host }
}

/// The real ThinkPad report with an SSH server allowing root, an account without password and unencrypted disks.
fn weak(machine: &Machine) -> Report {
    let mut r = common::debian(machine);
    for (id, evidence) in [
        ("ssh.permit_root_login", "/etc/ssh/sshd_config:32: PermitRootLogin yes"),
        ("accounts.empty_password", "/etc/shadow: guest has an empty password"),
        ("disk.encryption", "/dev/nvme0n1p2 mounted on / is not on dm-crypt"),
    ] {
        let check = r.checks.as_mut().unwrap().iter_mut().find(|c| c.id == id).unwrap();
        check.status = CheckStatus::Fail;
        check.evidence = vec![evidence.to_owned()];
        check.reason = None;
    }
    r
}

fn filter(h: &Harness) -> FindingFilter {
    FindingFilter {
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

fn post_json(csrf: &str) -> Value {
    json!({"method": "POST", "headers": {"Content-Type": "application/json", "X-CSRF-Token": csrf}, "body": "{}"})
}

fn body_json(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------------------------
// The browser

/// One test's world: a fresh SQLite store behind the real HTTPS server, and a browser session on it.
struct Console {
    h: Harness,
    b: Client,
    base: String,
}

impl Console {
    async fn user(&self, name: &str, role: Role) {
        let created = self
            .h
            .store
            .create_user(&NewUser {
                id: muster_collector::tokens::new_id().unwrap(),
                name: name.to_owned(),
                role,
                password_hash: muster_collector::app::users::hash_password(PASSWORD).unwrap(),
                must_change_password: false,
                created_at: self.h.now(),
            })
            .await
            .unwrap();
        assert!(created, "user {name} created");
    }

    async fn goto(&self, path: &str) {
        self.b.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// Path and query of the page shown.
    async fn location(&self) -> String {
        let url = self.b.current_url().await.unwrap();
        assert_eq!(url.origin().ascii_serialization(), self.base, "the browser left the console: {url}");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.b.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    async fn text(&self, css: &str) -> String {
        let element = self.b.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
        element.text().await.unwrap()
    }

    async fn count(&self, css: &str) -> usize {
        self.js("return document.querySelectorAll(arguments[0]).length", vec![json!(css)]).await.as_u64().unwrap()
            as usize
    }

    async fn set_value(&self, css: &str, value: &str) {
        let found = self
            .js(
                "const e = document.querySelector(arguments[0]); if (!e) return false; e.value = arguments[1]; return true",
                vec![json!(css), json!(value)],
            )
            .await;
        assert_eq!(found, json!(true), "no {css} on the page");
    }

    /// Ticks a finding's selection box for the bulk form.
    async fn tick(&self, finding: &str) {
        let box_ = self.b.find(Locator::Css(&format!("input[name=ids][value=\"{finding}\"]"))).await.unwrap();
        box_.click().await.unwrap();
        assert!(box_.is_selected().await.unwrap());
    }

    /// Marks the current document, so that [`Console::wait_new_page`] can tell when another one has replaced it.
    async fn mark_page(&self) {
        self.js("window.__muster_old_page = true", vec![]).await;
    }

    async fn wait_new_page(&self) {
        let deadline = Instant::now() + StdDuration::from_secs(15);
        while Instant::now() < deadline {
            // Mid-navigation a script may fail for want of a document; that is "not yet".
            let state =
                self.b.execute("return window.__muster_old_page === true ? 'old' : document.readyState", vec![]).await;
            if matches!(&state, Ok(Value::String(s)) if s == "complete") {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!("no new page within 15 s");
    }

    async fn click_and_wait(&self, css: &str) {
        self.mark_page().await;
        let element = self.b.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
        element.click().await.unwrap();
        self.wait_new_page().await;
    }

    /// Fills the sign-in form of the page shown and submits it.
    async fn sign_in(&self, user: &str, password: &str) {
        let name = self.b.find(Locator::Css("form.login input[name=user]")).await.unwrap();
        name.clear().await.unwrap();
        name.send_keys(user).await.unwrap();
        self.b.find(Locator::Css("form.login input[name=password]")).await.unwrap().send_keys(password).await.unwrap();
        self.click_and_wait("form.login button[type=submit]").await;
    }

    /// Waits for the deferred script and a frame after load, so what is checked is what a person sees.
    async fn settle(&self) {
        let done = self
            .b
            .execute_async("const done = arguments[0]; requestAnimationFrame(() => setTimeout(() => done(document.readyState), 0));", vec![])
            .await
            .unwrap();
        assert_eq!(done, "complete");
    }

    async fn session_cookie(&self) -> Option<fantoccini::cookies::Cookie<'static>> {
        self.b.get_all_cookies().await.unwrap().into_iter().find(|c| c.name() == "__Host-muster_session")
    }

    /// The page's CSRF token, as console.js would send it.
    async fn csrf(&self) -> String {
        let token = self.js("return document.querySelector('input[name=csrf]').value", vec![]).await;
        let token = token.as_str().unwrap().to_owned();
        assert!(token.len() >= 32, "{token:?}");
        token
    }

    /// `fetch(url, init)` from the page, with its cookies and origin: {status, headers, body}.
    async fn fetch(&self, url: &str, init: Value) -> Value {
        const FETCH: &str = "const [url, init, done] = arguments; fetch(url, init).then(async r => done({status: \
             r.status, headers: Object.fromEntries(r.headers.entries()), body: await r.text()}), e => done({error: \
             String(e)}));";
        let response = self.b.execute_async(FETCH, vec![json!(url), init]).await.unwrap();
        assert!(response.get("error").is_none(), "fetch {url}: {response}");
        response
    }

    /// Saves a PNG of the window to `<target tmp>/console-screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, self.b.screenshot().await.unwrap()).unwrap();
        file
    }
}

/// Runs `test` against a fresh SQLite store served over HTTPS with the console's TLS policy (`__Host-` cookie,
/// HSTS), in its own browser session; the session is closed even when the test fails.
async fn browser<F, Fut>(test: F)
where
    F: FnOnce(Console) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    browser_with(|_| ConsolePolicy { tls: true, ..ConsolePolicy::default() }, test).await
}

/// [`browser`] with the console policy `console` gives for the address the server will listen on.
async fn browser_with<P, F, Fut>(console: P, test: F)
where
    P: FnOnce(std::net::SocketAddr) -> ConsolePolicy + Send + 'static,
    F: FnOnce(Console) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    common::run(Backend::Sqlite, move |h| async move {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let h = h.reconfigure(ServicePolicy { console: console(addr), ..ServicePolicy::default() });
        let server = TlsServer::start_on(&h, listener);
        let driver = shared_driver();
        driver.ready().await;
        let b = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities())
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e} (log: {})", driver.log.display()));
        let console = Console { h, b: b.clone(), base: format!("https://{}", server.addr) };
        let outcome = tokio::spawn(test(console)).await;
        let closed = b.close().await;
        server.stop().await;
        drop(driver);
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
        closed.unwrap();
    })
    .await
}

fn capabilities() -> serde_json::Map<String, Value> {
    let capabilities = json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,900"],
        },
    });
    capabilities.as_object().unwrap().clone()
}

/// A chromedriver process on a free loopback port, shared by the tests that run at the same time and stopped when
/// the last of them drops it.
struct Driver {
    url: String,
    port: u16,
    log: PathBuf,
    child: Child,
}

static DRIVER: Mutex<Weak<Driver>> = Mutex::new(Weak::new());

fn shared_driver() -> Arc<Driver> {
    let mut slot = DRIVER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(driver) = slot.upgrade() {
        return driver;
    }
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: the console's browser tests need Debian's headless Chromium; \
             run `apt-get install chromium chromium-driver` (.ci/run installs them)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chromedriver.log");
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .arg("--log-level=WARNING")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
    let driver = Arc::new(Driver { url: format!("http://127.0.0.1:{port}"), port, log, child });
    *slot = Arc::downgrade(&driver);
    driver
}

impl Driver {
    /// Waits until chromedriver answers `/status` with `ready`.
    async fn ready(&self) {
        let port = self.port;
        let deadline = Instant::now() + StdDuration::from_secs(20);
        loop {
            let status = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
                let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
                stream.set_read_timeout(Some(StdDuration::from_secs(5)))?;
                stream.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
                // chromedriver keeps the connection open whatever the request says: read up to the answer.
                let (mut response, mut chunk) = (Vec::new(), [0u8; 4096]);
                while !String::from_utf8_lossy(&response).contains("\"ready\":") {
                    let n = stream.read(&mut chunk)?;
                    if n == 0 {
                        break;
                    }
                    response.extend_from_slice(&chunk[..n]);
                }
                Ok(String::from_utf8_lossy(&response).into_owned())
            })
            .await
            .unwrap();
            if status.as_deref().is_ok_and(|s| s.contains("\"ready\":true")) {
                return;
            }
            assert!(Instant::now() < deadline, "chromedriver is not ready after 20 s: {status:?}");
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

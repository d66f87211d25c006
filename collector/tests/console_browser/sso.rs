//! Single sign-on in a real browser through a real, certified OpenID provider (panva's `oidc-provider` from npm,
//! `tests/peers/oidc/provider.mjs`) on loopback: the mapped role, users created, changed and disabled by the
//! provider's groups, a replayed `state`, an answer delivered to another browser, and ID tokens tampered with,
//! issued for another client or expired.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::Utc;
use fantoccini::Locator;
use muster_collector::app::sso::Provider;
use muster_collector::config::Secret;
use muster_collector::console::ConsolePolicy;
use muster_collector::model::Role;
use muster_collector::sso::{RoleMap, SsoSettings};
use serde_json::{Value, json};

use super::Console;

const CLIENT_SECRET: &str = "test-client-secret-4f1c";

/// The provider process, stopped when dropped.
pub struct Idp {
    pub issuer: String,
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    stdout: Mutex<BufReader<ChildStdout>>,
    http: reqwest::Client,
}

impl Idp {
    pub fn start() -> Arc<Idp> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed: run .ci/prepare.d/85-oidc-provider.sh"
        );
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs the OpenID provider");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let first = read_json(&mut stdout);
        let issuer = first["issuer"].as_str().unwrap().to_owned();
        Arc::new(Idp {
            issuer,
            child: Mutex::new(child),
            stdin: Mutex::new(Some(stdin)),
            stdout: Mutex::new(stdout),
            http: reqwest::Client::new(),
        })
    }

    /// Registers the client whose console listens on `addr`, with the accounts and their groups.
    fn configure(&self, addr: SocketAddr, accounts: Value) {
        let config = json!({
            "redirect_uri": format!("https://{addr}/login/sso/callback"),
            "client_id": "muster",
            "client_secret": CLIENT_SECRET,
            "accounts": accounts,
        });
        let mut stdin = self.stdin.lock().unwrap().take().unwrap();
        writeln!(stdin, "{config}").unwrap();
        stdin.flush().unwrap();
        assert_eq!(read_json(&mut self.stdout.lock().unwrap())["ready"], true);
    }

    async fn control(&self, path: &str, body: Value) {
        let url = format!("{}/__test/{path}", self.issuer);
        let answer = self.http.post(url).body(body.to_string()).send().await.unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.text().await.unwrap());
    }

    async fn groups(&self, sub: &str, groups: &[&str]) {
        self.control("groups", json!({"sub": sub, "groups": groups})).await;
    }

    async fn mode(&self, mode: Option<&str>) {
        self.control("mode", json!({ "mode": mode })).await;
    }

    async fn last_callback(&self) -> String {
        self.http.get(format!("{}/__test/last-callback", self.issuer)).send().await.unwrap().text().await.unwrap()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn read_json(from: &mut BufReader<ChildStdout>) -> Value {
    let mut line = String::new();
    from.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("the provider said {line:?}: {e}"))
}

/// Runs `test` in a browser against a console that signs in through a provider of its own, with local sign-in on
/// or off.
pub async fn browser_with_idp<F, Fut>(local_sign_in: bool, test: F)
where
    F: FnOnce(Console, Arc<Idp>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let idp = Idp::start();
    let setup = idp.clone();
    super::browser_with(move |addr| policy(&setup, addr, accounts(), local_sign_in, false), move |c| test(c, idp)).await
}

/// As [`browser_with_idp`] with local sign-in, for a console whose sign-out signs out at the provider too.
pub async fn browser_with_idp_signing_out<F, Fut>(test: F)
where
    F: FnOnce(Console, Arc<Idp>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let idp = Idp::start();
    let setup = idp.clone();
    super::browser_with(move |addr| policy(&setup, addr, accounts(), true, true), move |c| test(c, idp)).await
}

/// The console policy of a collector on `addr` signing in through `idp`.
fn policy(idp: &Idp, addr: SocketAddr, accounts: Value, local_sign_in: bool, sign_out: bool) -> ConsolePolicy {
    idp.configure(addr, accounts);
    let settings = SsoSettings {
        issuer: idp.issuer.clone(),
        client_id: "muster".to_owned(),
        client_secret: Secret::new(CLIENT_SECRET),
        redirect_uri: format!("https://{addr}/login/sso/callback"),
        scopes: vec!["profile".to_owned(), "groups".to_owned()],
        role_claim: "groups".to_owned(),
        name_claim: "preferred_username".to_owned(),
        roles: RoleMap {
            admin: vec!["muster-admins".to_owned()],
            analyst: vec!["security".to_owned()],
            viewer: vec!["it-staff".to_owned()],
        },
        label: "Test IdP".to_owned(),
        clock_skew: StdDuration::from_secs(60),
        ca_file: None,
        sign_out_at_provider: sign_out,
        post_logout_redirect_uri: format!("https://{addr}/login"),
    };
    ConsolePolicy {
        tls: true,
        sso: Some(Arc::new(Provider::new(settings).unwrap())),
        local_sign_in,
        ..ConsolePolicy::default()
    }
}

impl Console {
    /// Waits until the browser shows `path` (the sign-in ends on a page that moves on by itself).
    async fn wait_location(&self, path: &str) {
        let deadline = Instant::now() + StdDuration::from_secs(15);
        loop {
            let url = self.b.current_url().await.unwrap();
            let here = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_owned(),
            };
            if url.origin().ascii_serialization() == self.base && here == path {
                let state = self.js("return document.readyState", vec![]).await;
                if state == "complete" {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the browser is at {url}, not {path}");
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
    }

    /// From the console's sign-in page, through the provider's, as `login`. The provider's own session is
    /// forgotten first (cookies are per host, not per port, so this forgets every cookie): a provider that
    /// remembers its user answers at once, as a real one does.
    async fn sso_sign_in(&self, login: &str) {
        self.b.delete_all_cookies().await.unwrap();
        self.click_and_wait("a#sso-sign-in").await;
        let at = self.b.current_url().await.unwrap();
        assert!(at.as_str().starts_with(&self.idp_prefix()), "at the provider's sign-in page: {at}");
        self.b.find(Locator::Css("input#login")).await.unwrap().send_keys(login).await.unwrap();
        self.mark_page().await;
        self.b.find(Locator::Css("button#submit")).await.unwrap().click().await.unwrap();
    }

    fn idp_prefix(&self) -> String {
        "http://127.0.0.1:".to_owned()
    }

    async fn audit_since(&self, from: usize) -> Vec<(String, String, Option<String>, Value)> {
        let mut all: Vec<_> = self.h.store.list_audit(1000).await.unwrap();
        all.reverse();
        all.into_iter().skip(from).map(|e| (e.actor, e.action, e.target, e.details)).collect()
    }

    async fn audit_len(&self) -> usize {
        self.h.store.list_audit(1000).await.unwrap().len()
    }
}

fn accounts() -> Value {
    json!({"alice": ["staff", "muster-admins"], "carol": ["security"], "bob": ["it-staff"]})
}

pub async fn single_sign_on_test(c: Console, idp: Arc<Idp>) {
    // ID tokens carry the real time; the collector's clock must agree within the skew.
    *c.h.now.lock().unwrap() = Utc::now();
    c.goto("/findings").await;
    assert_eq!(c.location().await, "/login?next=%2Ffindings");
    assert_eq!(c.text("a#sso-sign-in").await, "Sign in with Test IdP");
    assert_eq!(c.count("form.login input[name=password]").await, 1, "local accounts stay beside single sign-on");

    // First sign-in: the user is created with the role the groups map to, and lands where it wanted to go.
    let before = c.audit_len().await;
    c.sso_sign_in("alice").await;
    c.wait_location("/findings").await;
    assert_eq!(c.text("header.top .user").await, "alice");
    assert_eq!(c.text("header.top .role").await, "admin");
    let alice = c.h.store.user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(alice.sso_issuer.as_deref(), Some(idp.issuer.as_str()));
    assert_eq!((alice.role, alice.password_hash.as_str()), (Role::Admin, ""), "no password to guess");
    let cookie = c.session_cookie().await.expect("signed in");
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    assert_eq!(c.count("header.top a[href='/account/password']").await, 0, "no password here to change");
    c.goto("/account/password").await;
    assert_eq!(c.count("input[type=password]").await, 0);
    assert_eq!(
        c.text("p.notice-warn").await,
        "You sign in through the identity provider; your password is kept there, not here."
    );
    let audit = c.audit_since(before).await;
    let actions: Vec<(&str, &str)> = audit.iter().map(|(a, b, ..)| (a.as_str(), b.as_str())).collect();
    assert_eq!(actions, [("sso", "user.created"), ("user:alice (admin)", "console.signed_in")]);
    assert_eq!(audit[0].3, json!({"role": "admin"}));

    // Replaying the provider's answer: the state was used.
    let answer = idp.last_callback().await;
    assert!(answer.contains("code=") && answer.contains("state="), "{answer}");
    c.click_and_wait("button#sign-out").await;
    let before = c.audit_len().await;
    c.b.goto(&answer).await.unwrap();
    assert_eq!(c.text("p.notice-error").await, "This sign-in has expired or was already used; sign in again.");
    assert!(c.session_cookie().await.is_none());
    let audit = c.audit_since(before).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].1.as_str(), &audit[0].3),
        ("console.sso_refused", &json!({"reason": "unknown, expired or replayed state"}))
    );

    // The provider drops alice from every mapped group: refused, and disabled here.
    idp.groups("alice", &["staff"]).await;
    c.goto("/login").await;
    c.sso_sign_in("alice").await;
    c.wait_new_page().await;
    assert_eq!(
        c.text("p.notice-error").await,
        "Your account at the identity provider is in no group that gives access to Muster; ask an administrator."
    );
    assert!(c.session_cookie().await.is_none());
    let alice = c.h.store.user_by_name("alice").await.unwrap().unwrap();
    assert!(alice.disabled_at.is_some());
    assert_eq!(alice.disabled_reason.as_deref(), Some("sso"));

    // Back in a group (a lesser one): enabled again with that role.
    idp.groups("alice", &["security"]).await;
    let before = c.audit_len().await;
    c.goto("/login").await;
    c.sso_sign_in("alice").await;
    c.wait_location("/").await;
    assert_eq!(c.text("header.top .role").await, "analyst");
    let audit = c.audit_since(before).await;
    let actions: Vec<&str> = audit.iter().map(|(_, b, ..)| b.as_str()).collect();
    assert_eq!(actions, ["user.enabled", "user.role_changed", "console.signed_in"]);
    assert_eq!(audit[1].3, json!({"from": "admin", "to": "analyst"}));
    c.click_and_wait("button#sign-out").await;

    // A provider user whose name a local account has: never linked to it.
    c.user("bob", Role::Admin).await;
    c.goto("/login").await;
    c.sso_sign_in("bob").await;
    c.wait_new_page().await;
    assert!(c.text("p.notice-error").await.contains("A console account named \"bob\" exists already"));
    assert!(c.session_cookie().await.is_none());
    assert!(c.h.store.user_by_name("bob").await.unwrap().unwrap().sso_issuer.is_none());

    // An answer that reaches a browser other than the one that asked (login CSRF): refused.
    c.goto("/login").await;
    c.b.delete_all_cookies().await.unwrap();
    c.click_and_wait("a#sso-sign-in").await;
    let at_idp = c.b.current_url().await.unwrap();
    c.goto("/login").await;
    c.b.delete_cookie("__Host-muster_sso").await.unwrap();
    c.b.goto(at_idp.as_str()).await.unwrap();
    c.b.find(Locator::Css("input#login")).await.unwrap().send_keys("carol").await.unwrap();
    c.mark_page().await;
    c.b.find(Locator::Css("button#submit")).await.unwrap().click().await.unwrap();
    c.wait_new_page().await;
    assert_eq!(c.text("p.notice-error").await, "This sign-in was started in another browser; sign in again.");
    assert!(c.h.store.user_by_name("carol").await.unwrap().is_none(), "nobody was created");
}

pub async fn forged_tokens_are_refused_test(c: Console, idp: Arc<Idp>) {
    *c.h.now.lock().unwrap() = Utc::now();
    c.goto("/login").await;
    assert_eq!(c.count("form.login input[name=password]").await, 0, "local sign-in is switched off");
    c.user("ann", Role::Admin).await;
    let csrf_free_post = json!({"method": "POST", "headers": {"content-type": "application/x-www-form-urlencoded"},
                                "body": "user=ann&password=correct+horse+battery+staple&next=%2F"});
    let answer = c.fetch("/login", csrf_free_post).await;
    assert_eq!(answer["status"], 403, "{answer}");
    assert!(answer["body"].as_str().unwrap().contains("Local accounts are switched off here"));

    for (mode, reason) in [
        ("tamper", "the ID token's signature does not verify"),
        ("audience", "the ID token is for another client (audience [\"another-app\"])"),
        ("expired", "the ID token expired at"),
    ] {
        idp.mode(Some(mode)).await;
        let before = c.audit_len().await;
        c.goto("/login").await;
        c.sso_sign_in("alice").await;
        c.wait_new_page().await;
        assert_eq!(
            c.text("p.notice-error").await,
            "The identity provider's answer could not be verified; sign in again.",
            "{mode}"
        );
        assert!(c.session_cookie().await.is_none(), "{mode}");
        let audit = c.audit_since(before).await;
        assert_eq!(audit.len(), 1, "{mode}: {audit:?}");
        assert_eq!(audit[0].1, "console.sso_refused");
        let said = audit[0].3["reason"].as_str().unwrap();
        assert!(said.starts_with(reason), "{mode}: {said}");
    }
    assert!(c.h.store.user_by_name("alice").await.unwrap().is_none(), "no forged token created anyone");

    // The same provider, tokens as issued: in.
    idp.mode(None).await;
    c.goto("/login").await;
    c.sso_sign_in("alice").await;
    c.wait_location("/").await;
    assert_eq!(c.text("header.top .role").await, "admin");
}

/// Signing out of the console ends the provider's session too when `sign_out_at_provider` is set: the provider asks
/// to confirm (no ID token is sent as a hint), then sends the browser back to the console's sign-in page, and the
/// next single sign-on asks for the user again instead of answering from a remembered session.
pub async fn provider_sign_out_test(c: Console, idp: Arc<Idp>) {
    *c.h.now.lock().unwrap() = Utc::now();
    c.goto("/findings").await;
    c.sso_sign_in("bob").await;
    c.wait_location("/findings").await;
    assert_eq!(c.text("header.top .role").await, "viewer");
    // The provider remembers bob: with only the console's session gone, single sign-on answers at once.
    c.b.delete_cookie("__Host-muster_session").await.unwrap();
    c.goto("/login").await;
    c.click_and_wait("a#sso-sign-in").await;
    c.wait_location("/").await;
    assert_eq!(c.text("header.top .user").await, "bob");

    let before = c.audit_len().await;
    c.click_and_wait("button#sign-out").await;
    // The console's "Signed out" page moves on to the provider by itself.
    let deadline = Instant::now() + StdDuration::from_secs(15);
    let at = loop {
        let at = c.b.current_url().await.unwrap();
        if at.as_str().starts_with(&idp.issuer) && c.count("button[name=logout][value=yes]").await == 1 {
            break at;
        }
        assert!(Instant::now() < deadline, "not at the provider's sign-out page: {at}");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    };
    assert!(at.path().ends_with("/session/end"), "at the provider: {at}");
    let query: Vec<(String, String)> = at.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    assert!(query.contains(&("client_id".to_owned(), "muster".to_owned())), "{query:?}");
    assert!(query.contains(&("post_logout_redirect_uri".to_owned(), format!("{}/login", c.base))), "{query:?}");
    assert!(c.session_cookie().await.is_none(), "signed out of the console before leaving it");
    let audit = c.audit_since(before).await;
    assert_eq!(audit.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(), ["console.signed_out"], "{audit:?}");
    // The provider's own confirmation, then back to the console.
    c.mark_page().await;
    c.b.find(Locator::Css("button[name=logout][value=yes]")).await.unwrap().click().await.unwrap();
    c.wait_location("/login").await;

    // The provider forgot bob: single sign-on asks who is there.
    c.click_and_wait("a#sso-sign-in").await;
    let at = c.b.current_url().await.unwrap();
    assert!(at.as_str().starts_with(&c.idp_prefix()), "at the provider's sign-in page: {at}");
    assert_eq!(c.count("input#login").await, 1);
    assert!(c.session_cookie().await.is_none());
}

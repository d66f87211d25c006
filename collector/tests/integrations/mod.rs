//! Integrations end to end on both stores (issue 18), one file per concept: delivery (signed webhooks in order,
//! backoff and dead letters, two workers, a killed `serve`, a hanging receiver), managing subscriptions (API, CLI,
//! console, retention), syslog to a real rsyslogd, chat messages checked by Slack's and Microsoft's own libraries,
//! and the events beyond findings (enrolments, failed advisory updates). Here: the loopback webhook receiver and
//! the helpers they share.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::TimeDelta;
use muster_collector::app::audit::Actor;
use muster_collector::app::integrations::{self as uc, Sender};
use muster_collector::findings::actions::TransitionRequest;
use muster_collector::integrations::{IntegrationRequest, MAX_ATTEMPTS};
use muster_collector::model::Severity;
use muster_collector::model::findings::{Action, FindingFilter};
use muster_collector::model::integrations::{DeliveryStatus, IntegrationKind, PayloadFormat};
use serde_json::Value;

use crate::common::process::{Serve, collector, free_port};
use crate::common::{Harness, Machine, full};
use crate::findings::{MACHINE_ID, fixed, weak};

mod chat;
mod delivery;
mod events;
mod jira;
mod manage;
mod servicenow;
mod syslog;

/// What the receiver does with the next request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    Status(u16),
    /// A refusal with a reason in the body, as Slack's and Teams' webhooks answer.
    Refuse(u16, &'static str),
    /// Never answers (the collector's timeout or death ends the request).
    Hang,
}

#[derive(Debug, Clone)]
pub(crate) struct Received {
    id: String,
    timestamp: String,
    signature: String,
    pub(crate) body: String,
}

impl Received {
    /// The signature headers as the receiver got them.
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", self.id.parse().unwrap());
        headers.insert("webhook-timestamp", self.timestamp.parse().unwrap());
        headers.insert("webhook-signature", self.signature.parse().unwrap());
        headers
    }
}

#[derive(Clone)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
}

impl Receiver {
    /// A webhook endpoint on 127.0.0.1; returns it and its URL.
    pub(crate) async fn start() -> (Receiver, String) {
        let r = Receiver { got: Arc::default(), answer: Arc::new(Mutex::new(Answer::Status(204))) };
        async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: String) -> (StatusCode, &'static str) {
            let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            r.got.lock().unwrap().push(Received {
                id: h("webhook-id"),
                timestamp: h("webhook-timestamp"),
                signature: h("webhook-signature"),
                body,
            });
            let answer = *r.answer.lock().unwrap();
            match answer {
                Answer::Status(code) => (StatusCode::from_u16(code).unwrap(), ""),
                Answer::Refuse(code, reason) => (StatusCode::from_u16(code).unwrap(), reason),
                Answer::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    (StatusCode::OK, "")
                }
            }
        }
        let app = axum::Router::new().route("/hook", post(hook)).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub(crate) fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Whether the reference library accepts each request's signature with `secret`.
    fn accepts(&self, secret: &(impl SigningSecret + ?Sized)) -> Vec<bool> {
        let wh = standardwebhooks::Webhook::new(secret.text()).unwrap();
        self.got().iter().map(|r| wh.verify(r.body.as_bytes(), &r.headers()).is_ok()).collect()
    }

    /// Checks each request's signature with the reference library and returns the bodies.
    pub(crate) fn verified(&self, secret: &(impl SigningSecret + ?Sized)) -> Vec<Value> {
        let wh = standardwebhooks::Webhook::new(secret.text()).unwrap();
        self.got()
            .iter()
            .map(|r| {
                wh.verify(r.body.as_bytes(), &r.headers()).unwrap_or_else(|e| panic!("{e:?}: {r:?}"));
                serde_json::from_str(&r.body).unwrap()
            })
            .collect()
    }
}

/// A signing secret as `add` (an `Option`: none for Jira) and `rotate_secret` return it.
pub(crate) trait SigningSecret {
    fn text(&self) -> &str;
}

impl SigningSecret for str {
    fn text(&self) -> &str {
        self
    }
}

impl SigningSecret for String {
    fn text(&self) -> &str {
        self
    }
}

impl SigningSecret for Option<String> {
    fn text(&self) -> &str {
        self.as_deref().expect("a webhook subscription has a signing secret")
    }
}

/// A tracker's stand-in (tests/peers/NAME/server.mjs) run by Node.js on a port of its own choosing, which it
/// prints as `{"port": N}` on its first line; its request log and refusals under `/__test/log`. Stopped when
/// dropped.
pub(crate) struct NodePeer {
    child: std::process::Child,
    pub(crate) url: String,
}

impl NodePeer {
    pub(crate) fn start(name: &str, env: &[(&str, &str)]) -> NodePeer {
        use std::io::BufRead;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers").join(name);
        let mut child = std::process::Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("node runs the {name} stand-in: {e}"));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let first: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        NodePeer { child, url: format!("http://127.0.0.1:{}", first["port"]) }
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        let text = reqwest::get(format!("{}{path}", self.url)).await.unwrap().text().await.unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Every request the collector made: (method, path).
    pub(crate) async fn calls(&self) -> Vec<(String, String)> {
        let log = self.get("/__test/log").await;
        log["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["method"].as_str().unwrap().to_owned(), r["path"].as_str().unwrap().to_owned()))
            .collect()
    }

    /// What the stand-in refused (and, for ServiceNow, what a real instance would have ignored).
    pub(crate) async fn refusals(&self) -> Vec<Value> {
        self.get("/__test/log").await["errors"].as_array().unwrap().clone()
    }
}

impl Drop for NodePeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tracker subscription added with a wrong credential: its test send fails with the tracker's own answer
/// (`said`), `rotate-secret` is refused (the secret is the tracker's, not ours), and after `set-token` with `good`
/// the test is delivered (the failed one again first).
pub(crate) async fn credential_is_tested_and_replaced(h: &Harness, name: &str, said: &str, good: &str) {
    let cli = Actor::cli();
    uc::send_test(h.store.as_ref(), &cli, name, h.now()).await.unwrap();
    assert_eq!(drain(h, "w1").await, 1);
    let (_, log) = uc::deliveries(h.store.as_ref(), name, 1).await.unwrap();
    assert_eq!(log[0].response_code, Some(401));
    assert!(log[0].error.as_deref().unwrap().contains(said), "{log:?}");
    let rotate = uc::rotate_secret(h.store.as_ref(), &cli, name, h.now()).await.unwrap_err();
    assert!(rotate.to_string().contains("set-token"), "{rotate}");
    uc::set_token(h.store.as_ref(), &cli, name, good, h.now()).await.unwrap();
    h.advance(TimeDelta::seconds(10));
    uc::send_test(h.store.as_ref(), &cli, name, h.now()).await.unwrap();
    assert_eq!(drain(h, "w1").await, 2, "the failed test again, then the new one");
    let (_, log) = uc::deliveries(h.store.as_ref(), name, 1).await.unwrap();
    assert_eq!((log[0].status, log[0].response_code), (DeliveryStatus::Delivered, Some(200)));
}

/// The console's address as chat messages link to it.
pub(crate) const CONSOLE: &str = "https://muster.example.com";

pub(crate) fn request(name: &str, url: &str, events: &[&str], min_severity: Option<Severity>) -> IntegrationRequest {
    IntegrationRequest {
        name: name.to_owned(),
        kind: IntegrationKind::Webhook,
        url: url.to_owned(),
        format: PayloadFormat::Json,
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        min_severity,
        rules: Vec::new(),
        tags: Vec::new(),
        digest_minutes: None,
        jira: None,
        servicenow: None,
        token: None,
    }
}

pub(crate) async fn drain(h: &Harness, worker: &str) -> usize {
    let sender = Sender::new(Some(CONSOLE.to_owned())).unwrap();
    uc::drain(h.store.as_ref(), &sender, &h.state.clock, worker, None).await.unwrap()
}

/// (type, rule, severity, status) of each body.
fn summary(bodies: &[Value]) -> Vec<(String, String, String, String)> {
    bodies
        .iter()
        .map(|b| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&b["type"]), s(&b["data"]["rule_id"]), s(&b["data"]["severity"]), s(&b["data"]["status"]))
        })
        .collect()
}

fn row(t: &str, rule: &str, severity: &str, status: &str) -> (String, String, String, String) {
    (t.to_owned(), rule.to_owned(), severity.to_owned(), status.to_owned())
}

/// The collector's CLI run off the runtime's workers: the test's own receiver must keep answering meanwhile.
trait OffRuntime {
    async fn output_off_runtime(&mut self) -> std::process::Output;
}

impl OffRuntime for std::process::Command {
    async fn output_off_runtime(&mut self) -> std::process::Output {
        let mut command = std::mem::replace(self, std::process::Command::new("true"));
        tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
    }
}

async fn call(h: &Harness, method: &str, uri: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(axum::body::Body::empty, |b| axum::body::Body::from(b.to_string())))
        .unwrap();
    let (status, _, body) = h.send(request).await;
    (status, body)
}

/// Runs one of the chat services' own validators (tests/peers/chat: Slack's `slack_sdk` for Python, Microsoft's
/// `adaptivecards` for Node.js) over `messages`; its verdict and what it printed.
pub(crate) async fn peer_check(validator: &str, messages: &[Value]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("messages.json");
    std::fs::write(&file, serde_json::to_vec(messages).unwrap()).unwrap();
    let peers = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/chat");
    let (program, script) = match validator {
        "slack" => ("python3", peers.join("check_slack.py")),
        _ => ("node", peers.join("check_teams.js")),
    };
    let out = std::process::Command::new(program).arg(&script).arg(&file).output_off_runtime().await;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        !text.contains("No module named 'slack_sdk'") && !text.contains("Cannot find module"),
        "the chat validators are not installed (.ci/prepare.d/80-chat-peers.sh installs them): {text}"
    );
    (out.status.success(), text)
}

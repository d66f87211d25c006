//! Integrations end to end on both stores (issue 18): a generic webhook receiver on loopback gets the findings'
//! changes signed per the Standard Webhooks specification (verified with the specification's own Rust library),
//! in order, each acknowledged delivery once; failures are retried with backoff, become dead letters and are
//! replayed; two workers share the subscriptions without sending anything twice; `serve` killed while a delivery
//! is in flight sends it after its restart, once.

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

both!(
    findings_reach_a_signed_webhook_in_order,
    failures_back_off_then_dead_letters_are_replayed,
    two_workers_deliver_each_event_once,
    serve_killed_mid_delivery_sends_it_once_after_restart,
    the_api_and_the_cli_manage_integrations,
    retention_forgets_delivered_events_and_keeps_the_rest,
    the_console_adds_tests_and_replays,
    findings_reach_a_real_rsyslog_over_udp_tcp_and_tls,
    findings_reach_slack_and_teams_as_messages_their_own_libraries_accept,
    a_hanging_receiver_delays_only_its_own_events,
    enrolments_reach_subscribers_as_host_events,
    a_failing_scheduled_advisory_update_is_told,
);

/// What the receiver does with the next request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Never answers (the collector's timeout or death ends the request).
    Hang,
}

#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
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
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
}

impl Receiver {
    /// A webhook endpoint on 127.0.0.1; returns it and its URL.
    async fn start() -> (Receiver, String) {
        let r = Receiver { got: Arc::default(), answer: Arc::new(Mutex::new(Answer::Status(204))) };
        async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
            let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            r.got.lock().unwrap().push(Received {
                id: h("webhook-id"),
                timestamp: h("webhook-timestamp"),
                signature: h("webhook-signature"),
                body,
            });
            let answer = *r.answer.lock().unwrap();
            match answer {
                Answer::Status(code) => StatusCode::from_u16(code).unwrap(),
                Answer::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    StatusCode::OK
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

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Whether the reference library accepts each request's signature with `secret`.
    fn accepts(&self, secret: &str) -> Vec<bool> {
        let wh = standardwebhooks::Webhook::new(secret).unwrap();
        self.got().iter().map(|r| wh.verify(r.body.as_bytes(), &r.headers()).is_ok()).collect()
    }

    /// Checks each request's signature with the reference library and returns the bodies.
    fn verified(&self, secret: &str) -> Vec<Value> {
        let wh = standardwebhooks::Webhook::new(secret).unwrap();
        self.got()
            .iter()
            .map(|r| {
                wh.verify(r.body.as_bytes(), &r.headers()).unwrap_or_else(|e| panic!("{e:?}: {r:?}"));
                serde_json::from_str(&r.body).unwrap()
            })
            .collect()
    }
}

/// The console's address as chat messages link to it.
const CONSOLE: &str = "https://muster.example.com";

fn request(name: &str, url: &str, events: &[&str], min_severity: Option<Severity>) -> IntegrationRequest {
    IntegrationRequest {
        name: name.to_owned(),
        kind: IntegrationKind::Webhook,
        url: url.to_owned(),
        format: PayloadFormat::Json,
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        min_severity,
    }
}

async fn drain(h: &Harness, worker: &str) -> usize {
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

async fn findings_reach_a_signed_webhook_in_order(h: Harness) {
    let (receiver, url) = Receiver::start().await;
    let (soc, secret) = uc::add(
        h.store.as_ref(),
        &Actor::cli(),
        request("soc", &url, &["finding.opened", "finding.resolved", "finding.recurred"], Some(Severity::High)),
        h.now(),
    )
    .await
    .unwrap();
    assert_eq!(soc.events, ["finding.opened", "finding.resolved", "finding.recurred"]);

    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (host, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;
    assert_eq!(drain(&h, "w1").await, 3);
    let opened = receiver.verified(&secret);
    // Critical and high only (the low and info findings the report also opened are not sent).
    let mut got = summary(&opened);
    got.sort();
    assert_eq!(
        got,
        [
            row("finding.opened", "accounts.empty_password", "critical", "open"),
            row("finding.opened", "disk.encryption", "high", "open"),
            row("finding.opened", "ssh.permit_root_login", "high", "open"),
        ]
    );
    let first = &opened[0]["data"];
    assert_eq!(first["version"], 1);
    assert_eq!(first["host_id"], host.as_str());
    assert_eq!(first["hostname"], "lab-t480s");
    assert_eq!(first["actor"], "evaluator");
    assert_eq!(first["path"], format!("/findings/{}", first["finding_id"].as_str().unwrap()));
    assert_eq!(opened[0]["timestamp"], "2026-03-02T09:00:00.000Z");

    h.advance(TimeDelta::hours(1));
    h.stored(&token, &full(&fixed(&machine))).await;
    assert_eq!(drain(&h, "w1").await, 3);
    let all = receiver.verified(&secret);
    assert_eq!(all.len(), 6, "each event once");
    let kinds: Vec<&str> = all.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "finding.opened",
            "finding.opened",
            "finding.opened",
            "finding.resolved",
            "finding.resolved",
            "finding.resolved"
        ]
    );
    let ids: std::collections::BTreeSet<String> = receiver.got().into_iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 6, "every event has its own webhook-id");

    let (_, log) = uc::deliveries(h.store.as_ref(), "soc", 50).await.unwrap();
    assert_eq!(log.len(), 6);
    assert!(
        log.iter().all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1 && d.response_code == Some(204))
    );
    assert!(log.windows(2).all(|w| w[0].event_seq > w[1].event_seq), "newest first");

    // A disabled subscription gets no events queued (the findings recur): nothing else is sent.
    uc::set_enabled(h.store.as_ref(), &Actor::cli(), "soc", false, h.now()).await.unwrap();
    h.advance(TimeDelta::hours(1));
    h.stored(&token, &full(&weak(&machine))).await;
    assert_eq!(drain(&h, "w1").await, 0);
    assert_eq!(receiver.got().len(), 6);
    let (_, log) = uc::deliveries(h.store.as_ref(), "soc", 50).await.unwrap();
    assert_eq!(log.len(), 6, "nothing queued while disabled");
}

async fn failures_back_off_then_dead_letters_are_replayed(h: Harness) {
    let (receiver, url) = Receiver::start().await;
    receiver.set(Answer::Status(503));
    let (_, secret) = uc::add(h.store.as_ref(), &Actor::cli(), request("ops", &url, &[], None), h.now()).await.unwrap();
    let first = uc::send_test(h.store.as_ref(), &Actor::cli(), "ops", h.now()).await.unwrap();
    let second = uc::send_test(h.store.as_ref(), &Actor::cli(), "ops", h.now()).await.unwrap();

    // The first fails; the second waits behind it (in order), and nothing is tried before the backoff ends, not
    // even after a refused replay of a delivery that is not dead.
    assert_eq!(drain(&h, "w").await, 1);
    assert_eq!(drain(&h, "w").await, 0);
    assert!(uc::replay(h.store.as_ref(), &Actor::cli(), "ops", first, h.now()).await.is_err(), "pending, not dead");
    assert_eq!(drain(&h, "w").await, 0);
    h.advance(TimeDelta::seconds(9));
    assert_eq!(drain(&h, "w").await, 0, "10 s after the first failure");
    h.advance(TimeDelta::seconds(1));
    assert_eq!(drain(&h, "w").await, 1);
    // Until the last attempt, each waiting its backoff.
    for attempt in 3..MAX_ATTEMPTS {
        h.advance(TimeDelta::hours(1));
        assert_eq!(drain(&h, "w").await, 1, "attempt {attempt}");
    }
    // The last attempt makes it a dead letter, which no longer holds the next back: tried at once.
    h.advance(TimeDelta::hours(1));
    assert_eq!(drain(&h, "w").await, 2);
    let (_, log) = uc::deliveries(h.store.as_ref(), "ops", 10).await.unwrap();
    let dead = log.iter().find(|d| d.event_seq == first).unwrap();
    assert_eq!((dead.status, dead.attempts, dead.response_code), (DeliveryStatus::Dead, MAX_ATTEMPTS, Some(503)));
    assert_eq!(dead.error.as_deref(), Some("HTTP 503"));
    receiver.set(Answer::Status(200));
    h.advance(TimeDelta::seconds(10));
    assert_eq!(drain(&h, "w").await, 1);
    let (_, log) = uc::deliveries(h.store.as_ref(), "ops", 10).await.unwrap();
    let next = log.iter().find(|d| d.event_seq == second).unwrap();
    assert_eq!((next.status, next.attempts, next.response_code), (DeliveryStatus::Delivered, 2, Some(200)));

    // Replayed, the dead letter goes out once more with its own id and body.
    assert!(uc::replay(h.store.as_ref(), &Actor::cli(), "ops", second, h.now()).await.is_err(), "not dead");
    uc::replay(h.store.as_ref(), &Actor::cli(), "ops", first, h.now()).await.unwrap();
    assert_eq!(drain(&h, "w").await, 1);
    let got = receiver.got();
    assert_eq!(got.len() as i64, MAX_ATTEMPTS + 3);
    assert_eq!(got.last().unwrap().id, got[0].id);
    assert_eq!(got.last().unwrap().body, got[0].body);
    let bodies = receiver.verified(&secret);
    assert!(bodies.iter().all(|b| b["type"] == "integration.test" && b["data"]["integration"] == "ops"));
    let (_, log) = uc::deliveries(h.store.as_ref(), "ops", 10).await.unwrap();
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Delivered));
    // Operators see failures in /metrics (process-wide counters: other tests add to them, never take away).
    let metrics = muster_collector::metrics::render().await;
    let text =
        String::from_utf8(http_body_util::BodyExt::collect(metrics.into_body()).await.unwrap().to_bytes().to_vec())
            .unwrap();
    for outcome in ["delivered", "failed", "dead"] {
        let line = format!("muster_integration_deliveries_total{{kind=\"webhook\",outcome=\"{outcome}\"}} ");
        let value: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("{line} in {text}"))
            .parse()
            .unwrap();
        assert!(value >= 1, "{outcome}: {value}");
    }

    // Connection refused is a failure with its reason, not an answer.
    let closed = format!("http://127.0.0.1:{}/hook", free_port());
    uc::add(h.store.as_ref(), &Actor::cli(), request("gone", &closed, &[], None), h.now()).await.unwrap();
    let seq = uc::send_test(h.store.as_ref(), &Actor::cli(), "gone", h.now()).await.unwrap();
    assert_eq!(drain(&h, "w").await, 1);
    let (_, log) = uc::deliveries(h.store.as_ref(), "gone", 10).await.unwrap();
    let d = log.iter().find(|d| d.event_seq == seq).unwrap();
    assert_eq!((d.status, d.response_code), (DeliveryStatus::Pending, None));
    assert!(d.error.as_deref().unwrap().contains("onnection refused"), "{:?}", d.error);
    assert!(!d.error.as_deref().unwrap().contains("127.0.0.1"), "no URL in the log: {:?}", d.error);
    // Removed with a delivery pending: it and its log go.
    uc::remove(h.store.as_ref(), &Actor::cli(), "gone", h.now()).await.unwrap();
    assert!(uc::deliveries(h.store.as_ref(), "gone", 10).await.is_err());
}

async fn two_workers_deliver_each_event_once(h: Harness) {
    const SUBSCRIPTIONS: usize = 4;
    const EVENTS: usize = 60;
    let (receiver, url) = Receiver::start().await;
    let mut names = Vec::new();
    for i in 0..SUBSCRIPTIONS {
        let name = format!("sub-{i}");
        uc::add(h.store.as_ref(), &Actor::cli(), request(&name, &url, &[], None), h.now()).await.unwrap();
        names.push(name);
    }
    let mut expected = 0;
    for n in 0..EVENTS {
        uc::send_test(h.store.as_ref(), &Actor::cli(), &names[n % SUBSCRIPTIONS], h.now()).await.unwrap();
        expected += 1;
    }
    // Two workers, as two replicas would run them, racing for the same subscriptions.
    let store = h.store.clone();
    let clock = h.state.clock.clone();
    let workers = ["replica-a", "replica-b"].map(|w| {
        let (store, clock) = (store.clone(), clock.clone());
        tokio::spawn(async move {
            let sender = Sender::new(Some(CONSOLE.to_owned())).unwrap();
            let mut n = 0;
            for _ in 0..50 {
                n += uc::run_batch(store.as_ref(), &sender, &clock, w, None).await.unwrap();
            }
            n
        })
    });
    let mut attempted = 0;
    for w in workers {
        attempted += w.await.unwrap();
    }
    assert_eq!(attempted, expected);
    let got = receiver.got();
    assert_eq!(got.len(), expected, "nothing sent twice");
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), expected);
    for name in &names {
        let (_, log) = uc::deliveries(h.store.as_ref(), name, 100).await.unwrap();
        assert_eq!(log.len(), EVENTS / SUBSCRIPTIONS);
        assert!(log.iter().all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1));
        // In order per subscription: the receiver saw its events oldest first.
        let sent: Vec<&str> =
            got.iter().filter(|r| log.iter().any(|d| d.event_id == r.id)).map(|r| r.id.as_str()).collect();
        let oldest_first: Vec<&str> = log.iter().rev().map(|d| d.event_id.as_str()).collect();
        assert_eq!(sent, oldest_first, "{name}");
    }
}

async fn serve_killed_mid_delivery_sends_it_once_after_restart(h: Harness) {
    let url = h.database_url.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (receiver, hook) = Receiver::start().await;
    receiver.set(Answer::Hang);
    let (_, secret) =
        uc::add(h.store.as_ref(), &Actor::cli(), request("siem", &hook, &[], None), h.now()).await.unwrap();
    // Committed before any collector runs.
    let seq = uc::send_test(h.store.as_ref(), &Actor::cli(), "siem", h.now()).await.unwrap();

    let port = free_port();
    // Started off the runtime's workers (it blocks until `serve` prints), so the receiver keeps answering.
    let start = |data: std::path::PathBuf, url: String| {
        tokio::task::spawn_blocking(move || Serve::start(&data, &url, port, &[]))
    };
    let serve = start(data.path().to_owned(), url.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.got().is_empty() {
        assert!(Instant::now() < deadline, "serve never sent the event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The request is in flight and unanswered: the worst moment.
    serve.kill();
    let (_, log) = uc::deliveries(h.store.as_ref(), "siem", 10).await.unwrap();
    assert_eq!((log[0].event_seq, log[0].status, log[0].attempts), (seq, DeliveryStatus::Pending, 0));

    receiver.set(Answer::Status(200));
    let serve = start(data.path().to_owned(), url.clone()).await.unwrap();
    // SQLite: the restarted process frees its dead predecessor's claim. PostgreSQL: replicas' claims are live
    // until their lease (30 s, renewed per delivery) lapses.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, log) = uc::deliveries(h.store.as_ref(), "siem", 10).await.unwrap();
        if log[0].status == DeliveryStatus::Delivered {
            assert_eq!((log[0].attempts, log[0].response_code), (1, Some(200)));
            break;
        }
        assert!(Instant::now() < deadline, "not delivered after the restart: {log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Some polls later, nothing more went out: the acknowledged delivery is not sent again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    serve.kill();
    let got = receiver.got();
    assert_eq!(got.len(), 2, "the unanswered attempt and the acknowledged one");
    assert_eq!(got[0].id, got[1].id, "the same webhook-id, so a receiver can drop the repeat");
    let bodies = receiver.verified(&secret);
    assert_eq!(bodies[1]["type"], "integration.test");
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

async fn the_api_and_the_cli_manage_integrations(h: Harness) {
    use muster_collector::model::Role;
    let (receiver, url) = Receiver::start().await;
    let admin = h.api_token(Role::Admin).await;
    let analyst = h.api_token(Role::Analyst).await;
    let new = serde_json::json!({ "name": "soc", "url": url, "events": ["finding.opened"], "min_severity": "high" });

    let (status, body) = call(&h, "POST", "/api/v1/integrations", &analyst, Some(new.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, created) = call(&h, "POST", "/api/v1/integrations", &admin, Some(new.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["integration"]["events"], serde_json::json!(["finding.opened"]));
    assert_eq!(created["integration"]["min_severity"], "high");
    assert!(created["integration"].get("secret").is_none());
    let (status, body) = call(&h, "POST", "/api/v1/integrations", &admin, Some(new.clone())).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("integration_exists")));
    for (bad, why) in [
        (serde_json::json!({ "name": "x", "url": "ftp://a.example/" }), "url"),
        (serde_json::json!({ "name": "x", "url": url, "events": ["host.exploded"] }), "unknown event type"),
        (serde_json::json!({ "name": "x y", "url": url }), "name"),
        (serde_json::json!({ "name": "x", "url": url, "secret": "mine" }), "unknown field"),
    ] {
        let (status, body) = call(&h, "POST", "/api/v1/integrations", &admin, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");
    }
    let (status, list) = call(&h, "GET", "/api/v1/integrations", &admin, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (status, queued) = call(&h, "POST", "/api/v1/integrations/soc/test", &admin, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(drain(&h, "w").await, 1);
    let (status, log) = call(&h, "GET", "/api/v1/integrations/soc/deliveries?limit=5", &admin, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log[0]["event_seq"], queued["event_seq"]);
    assert_eq!((log[0]["status"].as_str(), log[0]["response_code"].as_u64()), (Some("delivered"), Some(204)));
    let (status, body) =
        call(&h, "POST", &format!("/api/v1/integrations/soc/deliveries/{}/replay", queued["event_seq"]), &admin, None)
            .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("not_dead")));

    // After a rotation both secrets verify for a day, then only the new one signs.
    let (status, rotated) = call(&h, "POST", "/api/v1/integrations/soc/rotate-secret", &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    call(&h, "POST", "/api/v1/integrations/soc/test", &admin, None).await;
    drain(&h, "w").await;
    assert_eq!(receiver.accepts(&secret), [true, true]);
    assert_eq!(receiver.accepts(&new_secret), [false, true], "the first test was signed before the rotation");
    assert_eq!(receiver.got()[1].signature.split(' ').count(), 2);
    h.advance(TimeDelta::hours(25));
    call(&h, "POST", "/api/v1/integrations/soc/test", &admin, None).await;
    drain(&h, "w").await;
    assert_eq!(receiver.got()[2].signature.split(' ').count(), 1);
    assert_eq!(receiver.accepts(&secret), [true, true, false], "the previous secret's day is over");
    assert_eq!(receiver.accepts(&new_secret), [false, true, true]);

    let (status, body) = call(&h, "POST", "/api/v1/integrations/soc/disable", &admin, None).await;
    assert_eq!((status, body["enabled"].as_bool()), (StatusCode::OK, Some(false)));
    let (status, body) = call(&h, "POST", "/api/v1/integrations/soc/test", &admin, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("integration_disabled")), "{body}");
    let (status, _) = call(&h, "DELETE", "/api/v1/integrations/soc", &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(&h, "GET", "/api/v1/integrations/soc", &admin, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (_, audit) = h.get("/api/v1/admin/audit?limit=1000", &admin).await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"integration.created") && actions.contains(&"integration.removed"), "{audit}");

    // The command line: add, then a test that waits for the answer and says what it was.
    let database = h.database_url.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = collector(data.path(), &database)
        .args([
            "integrations",
            "add",
            "--kind",
            "webhook",
            "--url",
            &url,
            "--events",
            "finding.opened,finding.resolved",
        ])
        .output_off_runtime()
        .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = added["integration"]["name"].as_str().unwrap().to_owned();
    assert_eq!(name, "webhook-127.0.0.1");
    let cli_secret = added["secret"].as_str().unwrap().to_owned();
    let out = collector(data.path(), &database).args(["integrations", "test", &name]).output_off_runtime().await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((record["status"].as_str(), record["response_code"].as_u64()), (Some("delivered"), Some(204)));
    assert_eq!(receiver.accepts(&cli_secret), [false, false, false, true], "the CLI's test, signed with its secret");
    receiver.set(Answer::Status(410));
    let out = collector(data.path(), &database).args(["integrations", "test", &name]).output_off_runtime().await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 410"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = collector(data.path(), &database).args(["integrations", "list"]).output_off_runtime().await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["events"], serde_json::json!(["finding.opened", "finding.resolved"]));
}

async fn retention_forgets_delivered_events_and_keeps_the_rest(h: Harness) {
    use muster_collector::app::retention::{self, Retention};
    let (up, up_url) = Receiver::start().await;
    let (down, down_url) = Receiver::start().await;
    down.set(Answer::Status(503));
    let cli = Actor::cli();
    uc::add(h.store.as_ref(), &cli, request("up", &up_url, &[], None), h.now()).await.unwrap();
    uc::add(h.store.as_ref(), &cli, request("down", &down_url, &[], None), h.now()).await.unwrap();
    let sent = uc::send_test(h.store.as_ref(), &cli, "up", h.now()).await.unwrap();
    let waiting = uc::send_test(h.store.as_ref(), &cli, "down", h.now()).await.unwrap();
    assert_eq!(drain(&h, "w").await, 2);
    assert_eq!((up.got().len(), down.got().len()), (1, 1));

    let retention =
        Retention { audit: std::time::Duration::from_secs(86_400), history: std::time::Duration::from_secs(86_400) };
    let pruned = retention::prune(h.store.as_ref(), &retention, h.now()).await.unwrap();
    assert_eq!(pruned.events, 0, "a day has not passed");
    h.advance(TimeDelta::days(2));
    let pruned = retention::prune(h.store.as_ref(), &retention, h.now()).await.unwrap();
    assert_eq!(pruned.events, 1, "the delivered one");
    let (_, log) = uc::deliveries(h.store.as_ref(), "up", 10).await.unwrap();
    assert!(log.iter().all(|d| d.event_seq != sent));
    let (_, log) = uc::deliveries(h.store.as_ref(), "down", 10).await.unwrap();
    assert_eq!((log[0].event_seq, log[0].status), (waiting, DeliveryStatus::Pending), "still to send");
    down.set(Answer::Status(200));
    assert_eq!(drain(&h, "w").await, 1);
    assert_eq!(down.got().len(), 2);
}

async fn the_console_adds_tests_and_replays(h: Harness) {
    use axum::http::Method;
    use muster_collector::model::Role;

    use crate::console::{PASSWORD, encode, get, request, sign_in, user};
    let (receiver, url) = Receiver::start().await;
    let admin = user(&h, "alice", Role::Admin).await;
    let csrf = get(&h, "/admin/integrations", &admin).await.csrf();
    let form = format!(
        "csrf={csrf}&op=add&name=soc&url={}&events={}&min_severity=high",
        encode(&url),
        encode("finding.opened, finding.resolved")
    );
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&form)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Integration soc added"), "{}", page.body);
    let at = page.body.find("whsec_").expect("the secret shown once");
    let secret: String =
        page.body[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "_+/=".contains(*c)).collect();
    let soc = uc::found(h.store.as_ref(), "soc").await.unwrap();
    assert_eq!(soc.events, ["finding.opened", "finding.resolved"]);
    assert_eq!(soc.min_severity, Some(Severity::High));

    // A bad URL is the page's error, and nothing is added.
    let bad = format!("csrf={csrf}&op=add&name=other&url=ftp%3A%2F%2Fx&events=");
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&bad)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.store.list_integrations().await.unwrap().len(), 1);

    receiver.set(Answer::Status(500));
    let test = format!("csrf={csrf}&op=test&id={}", soc.id);
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&test)).await;
    assert!(page.body.contains("queued"), "{}", page.body);
    for _ in 0..MAX_ATTEMPTS {
        drain(&h, "w").await;
        h.advance(TimeDelta::hours(1));
    }
    // Twelve hours on, the session has lapsed.
    let admin = sign_in(&h, "alice", PASSWORD).await;
    let csrf = get(&h, "/admin/integrations", &admin).await.csrf();
    let page = get(&h, "/admin/integrations", &admin).await;
    assert!(page.body.contains("status-dead"), "{}", page.body);
    let seq = uc::deliveries(h.store.as_ref(), "soc", 1).await.unwrap().1[0].event_seq;
    assert!(page.body.contains(&format!("Replay event {seq}")));
    receiver.set(Answer::Status(200));
    let replay = format!("csrf={csrf}&op=replay&id={}", encode(&format!("{}:{seq}", soc.id)));
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&replay)).await;
    assert!(page.body.contains("will be sent again"), "{}", page.body);
    drain(&h, "w").await;
    let page = get(&h, "/admin/integrations", &admin).await;
    assert!(page.body.contains("status-delivered"), "{}", page.body);
    assert_eq!(receiver.accepts(&secret).last(), Some(&true));
    let remove = format!("csrf={csrf}&op=remove&id={}", soc.id);
    let page = request(&h, Method::POST, "/admin/integrations", Some(&admin), Some(&remove)).await;
    assert!(page.body.contains("soc removed"), "{}", page.body);
    assert!(h.store.list_integrations().await.unwrap().is_empty());
}

/// A real `rsyslogd` (Debian's rsyslog and rsyslog-gnutls) on loopback: UDP (imudp), plain TCP (imptcp) and TLS
/// (imtcp with GnuTLS, its certificate from a CA the test makes), writing what it parsed of each message to a file.
struct Rsyslog {
    child: std::process::Child,
    dir: tempfile::TempDir,
    udp: u16,
    tcp: u16,
    tls: u16,
    ca: std::path::PathBuf,
}

impl Rsyslog {
    fn start() -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let tls_files = muster_collector::tls::TlsFiles::new(dir.path());
        let ca = muster_collector::tls::ensure_managed(&tls_files, &["127.0.0.1".to_owned()], chrono::Utc::now())
            .unwrap()
            .ca_cert_path;
        let (udp, tcp, tls) = (free_port(), free_port(), free_port());
        let d = dir.path().display();
        let config = format!(
            r#"global(workDirectory="{d}" defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}" defaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
module(load="imptcp")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imptcp" address="127.0.0.1" port="{tcp}")
input(type="imtcp" address="127.0.0.1" port="{tls}")
template(name="fields" type="list") {{
  property(name="inputname") constant(value="\t")
  property(name="syslogfacility") constant(value="\t")
  property(name="syslogseverity") constant(value="\t")
  property(name="hostname") constant(value="\t")
  property(name="app-name") constant(value="\t")
  property(name="msgid") constant(value="\t")
  property(name="timereported" dateFormat="rfc3339") constant(value="\t")
  property(name="msg" droplastlf="on") constant(value="\n")
}}
action(type="omfile" file="{d}/received.log" template="fields")
"#,
            ca = ca.display(),
            cert = tls_files.server_chain().display(),
            key = tls_files.server_key().display(),
        );
        std::fs::write(dir.path().join("rsyslog.conf"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("rsyslogd.out")).unwrap();
        let child = std::process::Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(dir.path().join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("rsyslogd (Debian packages rsyslog and rsyslog-gnutls; .ci/prepare.d/70-rsyslog.sh installs them)");
        let r = Rsyslog { child, dir, udp, tcp, tls, ca };
        let deadline = Instant::now() + Duration::from_secs(20);
        while [r.tcp, r.tls].iter().any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_err()) {
            let out = std::fs::read_to_string(r.dir.path().join("rsyslogd.out")).unwrap_or_default();
            assert!(Instant::now() < deadline, "rsyslogd did not listen: {out}");
            std::thread::sleep(Duration::from_millis(100));
        }
        r
    }

    /// Each line rsyslog wrote: input, facility, severity, hostname, app, msgid, time, message.
    fn received(&self, at_least: usize) -> Vec<Vec<String>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(self.dir.path().join("received.log")).unwrap_or_default();
            let lines: Vec<Vec<String>> =
                text.lines().map(|l| l.splitn(8, '\t').map(str::to_owned).collect()).collect();
            if lines.len() >= at_least || Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn findings_reach_a_real_rsyslog_over_udp_tcp_and_tls(h: Harness) {
    let rsyslog = Rsyslog::start();
    let cli = Actor::cli();
    let syslog = |name: &str, url: String, format| IntegrationRequest {
        kind: IntegrationKind::Syslog,
        format,
        ..request(name, &url, &["finding.opened"], Some(Severity::Critical))
    };
    let ca = rsyslog.ca.display().to_string();
    for (name, url, format) in [
        ("udp", format!("udp://127.0.0.1:{}", rsyslog.udp), PayloadFormat::Json),
        ("tcp", format!("tcp://127.0.0.1:{}?facility=authpriv", rsyslog.tcp), PayloadFormat::Cef),
        ("tls", format!("tls://127.0.0.1:{}?facility=local3&ca={ca}", rsyslog.tls), PayloadFormat::Json),
    ] {
        uc::add(h.store.as_ref(), &cli, syslog(name, url, format), h.now()).await.unwrap();
    }
    // A receiver whose certificate this CA did not sign is refused, and the delivery waits with the reason.
    let stranger = tempfile::tempdir().unwrap();
    let other_ca = muster_collector::tls::ensure_managed(
        &muster_collector::tls::TlsFiles::new(stranger.path()),
        &["127.0.0.1".to_owned()],
        chrono::Utc::now(),
    )
    .unwrap()
    .ca_cert_path;
    let wrong = format!("tls://127.0.0.1:{}?ca={}", rsyslog.tls, other_ca.display());
    uc::add(h.store.as_ref(), &cli, syslog("wrong-ca", wrong, PayloadFormat::Json), h.now()).await.unwrap();

    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (host, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;
    // The one critical finding (an account without a password), to four subscriptions.
    assert_eq!(drain(&h, "w").await, 4);
    let lines = rsyslog.received(3);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned();
    let by_input = |input: &str| lines.iter().find(|l| l[0] == input).unwrap_or_else(|| panic!("{input}: {lines:?}"));
    // imudp: local0 (16), critical (2); the webhook's JSON body as the message.
    let udp = by_input("imudp");
    assert_eq!(&udp[1..7], ["16", "2", hostname.as_str(), "muster", "finding.opened", "2026-03-02T09:00:00.000Z"]);
    let body: Value = serde_json::from_str(&udp[7]).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["data"]["host_id"].as_str()),
        (Some("finding.opened"), Some(host.as_str()))
    );
    assert_eq!(body["data"]["rule_id"], "accounts.empty_password");
    // imptcp: authpriv (10), a CEF line.
    let tcp = by_input("imptcp");
    assert_eq!(&tcp[1..6], ["10", "2", hostname.as_str(), "muster", "finding.opened"]);
    assert!(tcp[7].starts_with("CEF:0|Muster|Muster Collector|"), "{}", tcp[7]);
    assert!(tcp[7].contains("|finding.opened|Account with an empty password|10|"), "{}", tcp[7]);
    assert!(tcp[7].contains("cs2Label=rule_id cs2=accounts.empty_password") && tcp[7].contains("dhost=lab-t480s"));
    // imtcp over TLS: local3 (19).
    let tls = by_input("imtcp");
    assert_eq!(&tls[1..3], ["19", "2"]);
    assert_eq!(serde_json::from_str::<Value>(&tls[7]).unwrap(), body);

    let (_, log) = uc::deliveries(h.store.as_ref(), "wrong-ca", 5).await.unwrap();
    assert_eq!(log[0].status, DeliveryStatus::Pending);
    assert!(log[0].error.as_deref().unwrap().contains("TLS handshake"), "{:?}", log[0].error);
    for name in ["udp", "tcp", "tls"] {
        let (_, log) = uc::deliveries(h.store.as_ref(), name, 5).await.unwrap();
        assert_eq!((log[0].status, log[0].response_code), (DeliveryStatus::Delivered, None), "{name}");
    }
}

/// Runs one of the chat services' own validators (tests/peers/chat: Slack's `slack_sdk` for Python, Microsoft's
/// `adaptivecards` for Node.js) over `messages`; its verdict and what it printed.
async fn peer_check(validator: &str, messages: &[Value]) -> (bool, String) {
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

async fn findings_reach_slack_and_teams_as_messages_their_own_libraries_accept(h: Harness) {
    let (slack_receiver, slack_url) = Receiver::start().await;
    slack_receiver.set(Answer::Status(200));
    let (teams_receiver, teams_url) = Receiver::start().await;
    teams_receiver.set(Answer::Status(202));
    let events = ["finding.opened", "finding.acknowledged", "finding.resolved"];
    for (name, kind, url) in
        [("chat", IntegrationKind::Slack, &slack_url), ("channel", IntegrationKind::Teams, &teams_url)]
    {
        let req = IntegrationRequest { kind, ..request(name, url, &events, Some(Severity::High)) };
        uc::add(h.store.as_ref(), &Actor::cli(), req, h.now()).await.unwrap();
    }
    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;
    let page = h.store.list_findings(&FindingFilter { limit: 100, ..Default::default() }).await.unwrap();
    let root = page.findings.iter().find(|f| f.rule_id == "ssh.permit_root_login").unwrap().id.clone();
    uc::send_test(h.store.as_ref(), &Actor::cli(), "chat", h.now()).await.unwrap();
    uc::send_test(h.store.as_ref(), &Actor::cli(), "channel", h.now()).await.unwrap();
    // 3 opened (critical and high) and a test to each.
    assert_eq!(drain(&h, "w1").await, 8);

    for (receiver, validator) in [(&slack_receiver, "slack"), (&teams_receiver, "teams")] {
        let got = receiver.got();
        assert!(got.iter().all(|r| r.signature.is_empty() && r.id.is_empty()), "chat messages go unsigned");
        let messages: Vec<Value> = got.iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
        assert_eq!(messages.len(), 4);
        let (valid, text) = peer_check(validator, &messages).await;
        assert!(valid, "{validator}: {text}");
        let link = format!("{CONSOLE}/findings/{root}");
        let linked = messages.iter().filter(|m| m.to_string().contains(&format!("\"{link}\""))).count();
        assert_eq!(linked, 1, "{validator}: one message links to the finding");
        // The validators do refuse what the services refuse (so their passing means something).
        let mut broken = messages[0].clone();
        match validator {
            "slack" => broken["blocks"][0]["text"]["text"] = Value::from("x".repeat(151)),
            _ => broken["attachments"][0]["content"]["body"][0]["weight"] = Value::from("Heaviest"),
        }
        let (valid, text) = peer_check(validator, &[broken]).await;
        assert!(!valid && (text.contains("150") || text.contains("weight")), "{validator} accepted it: {text}");
    }
    let slack: Vec<Value> = slack_receiver.got().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let texts: Vec<&str> = slack.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(texts.iter().filter(|t| t.starts_with("New finding: ")).count() == 3, "{texts:?}");
    assert_eq!(texts[3], "Muster: A test from the Muster collector: this endpoint receives its events.");

    // A change by a person reaches both, with who and why.
    let request = TransitionRequest {
        finding_id: root.clone(),
        action: Action::Acknowledge,
        actor: "alice".to_owned(),
        source_ip: None,
        at: h.now(),
        comment: Some("patching tonight".to_owned()),
        expires_at: None,
    };
    muster_collector::app::findings::act(h.store.as_ref(), request).await.unwrap();
    assert_eq!(drain(&h, "w1").await, 2);
    let last: Value = serde_json::from_str(&slack_receiver.got().last().unwrap().body).unwrap();
    assert_eq!(last["blocks"][2]["elements"][0]["text"], "By alice: “patching tonight”");
    let last: Value = serde_json::from_str(&teams_receiver.got().last().unwrap().body).unwrap();
    let card = &last["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], "Finding acknowledged");
    assert_eq!(card["body"][3]["text"], "By alice: “patching tonight”");
    let (_, log) = uc::deliveries(h.store.as_ref(), "channel", 50).await.unwrap();
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Delivered && d.response_code == Some(202)));
}

async fn a_hanging_receiver_delays_only_its_own_events(h: Harness) {
    let (stuck, stuck_url) = Receiver::start().await;
    stuck.set(Answer::Hang);
    let (ok, ok_url) = Receiver::start().await;
    for (name, url) in [("stuck", &stuck_url), ("ok", &ok_url)] {
        let req = request(name, url, &["finding.opened"], Some(Severity::High));
        uc::add(h.store.as_ref(), &Actor::cli(), req, h.now()).await.unwrap();
    }
    // Its oldest event is the oldest waiting, so the stuck subscription is claimed, and would be sent, first.
    uc::send_test(h.store.as_ref(), &Actor::cli(), "stuck", h.now()).await.unwrap();
    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;

    let (store, clock) = (Arc::clone(&h.store), h.state.clock.clone());
    let batch = tokio::spawn(async move {
        let sender = Sender::new(None).unwrap();
        uc::run_batch(store.as_ref(), &sender, &clock, "w1", None).await
    });
    // Well inside the 10-second request timeout the stuck receiver is holding its request to.
    let deadline = Instant::now() + Duration::from_secs(8);
    while ok.got().len() < 3 || stuck.got().is_empty() {
        let (sent, stuck_got) = (ok.got().len(), stuck.got().len());
        assert!(Instant::now() < deadline, "the other subscription waited: {sent} of 3 sent ({stuck_got} stuck)");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!batch.is_finished(), "the stuck request is still open");
    assert_eq!(stuck.got().len(), 1, "the stuck subscription's later events wait behind its first");
    batch.abort();
}

/// Enrolment tells subscribers about records: a new host, a live host's identity claimed by another agent (held),
/// the approval that hands it over, and a reinstall taking over a quiet record; each in its enrolment's transaction.
async fn enrolments_reach_subscribers_as_host_events(h: Harness) {
    let (receiver, url) = Receiver::start().await;
    let host_events = ["host.enrolled", "host.taken_over", "host.enrolment_held"];
    let (_, secret) =
        uc::add(h.store.as_ref(), &Actor::cli(), request("ops", &url, &host_events, Some(Severity::Critical)), h.now())
            .await
            .unwrap();
    let (slack, slack_url) = Receiver::start().await;
    slack.set(Answer::Status(200));
    let req = IntegrationRequest { kind: IntegrationKind::Slack, ..request("chat", &slack_url, &host_events, None) };
    uc::add(h.store.as_ref(), &Actor::cli(), req, h.now()).await.unwrap();
    // A subscription to findings only hears nothing of this.
    uc::add(h.store.as_ref(), &Actor::cli(), request("findings", &url, &["finding.resolved"], None), h.now())
        .await
        .unwrap();

    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (host_id, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&fixed(&machine))).await;
    // Another agent claims the live host's identity: held for an administrator.
    let (status, held) = h.enroll(&enrol_secret, &Machine { hostname: "imposter".to_owned(), ..machine.clone() }).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let request_id = h.store.list_enrolment_requests(false, 10).await.unwrap()[0].id.clone();
    let admin = Actor { name: "user:root (admin)".to_owned(), ..Actor::cli() };
    muster_collector::app::enrol::decide_held(
        h.store.as_ref(),
        &admin,
        &request_id,
        muster_collector::app::enrol::Verdict::Approve,
        h.now(),
    )
    .await
    .unwrap();
    // A reinstall after the record went stale (7 days without a report) takes it over at once.
    h.advance(TimeDelta::days(8));
    let (status, body) = h.enroll(&enrol_secret, &machine).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["host_id"], host_id.as_str());

    assert_eq!(drain(&h, "w1").await, 8, "four events to each host subscriber, none to the findings one");
    let got = receiver.verified(&secret);
    let seen: Vec<(&str, &str, &str, &str)> = got
        .iter()
        .map(|b| {
            let d = &b["data"];
            let s = |k: &str| d[k].as_str().unwrap_or("-");
            (b["type"].as_str().unwrap(), s("hostname"), s("actor"), s("path"))
        })
        .collect();
    let host_path = format!("/hosts/{host_id}");
    assert_eq!(
        seen,
        [
            ("host.enrolled", "lab-t480s", "enrolment", host_path.as_str()),
            ("host.enrolment_held", "imposter", "enrolment", "/admin/enrolments"),
            ("host.taken_over", "imposter", "user:root (admin)", host_path.as_str()),
            ("host.taken_over", "lab-t480s", "enrolment", host_path.as_str()),
        ],
        "the least severity filters finding events only"
    );
    assert!(got.iter().all(|b| b["data"]["host_id"] == host_id.as_str() && b["data"]["version"] == 1));
    assert_eq!(got[1]["data"]["request_id"], request_id.as_str());
    assert_eq!(got[1]["data"]["title"], "Enrolment of imposter held for approval");

    let messages: Vec<Value> = slack.got().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let (valid, text) = peer_check("slack", &messages).await;
    assert!(valid, "{text}");
    assert_eq!(messages[1]["text"], "Enrolment waiting for approval: Enrolment of imposter held for approval");
    assert_eq!(messages[1]["blocks"][3]["elements"][0]["url"], format!("{CONSOLE}/admin/enrolments"));
}

/// `serve`'s scheduled advisory update tells subscribers when a source cannot be fetched (matching goes on with old
/// advisories meanwhile); the source is named without its query, where a mirror's key may sit.
async fn a_failing_scheduled_advisory_update_is_told(h: Harness) {
    let (receiver, url) = Receiver::start().await;
    // The defaults include it.
    let (_, secret) = uc::add(h.store.as_ref(), &Actor::cli(), request("ops", &url, &[], None), h.now()).await.unwrap();
    let (teams, teams_url) = Receiver::start().await;
    let req = IntegrationRequest { kind: IntegrationKind::Teams, ..request("channel", &teams_url, &[], None) };
    uc::add(h.store.as_ref(), &Actor::cli(), req, h.now()).await.unwrap();
    // Nothing listens on port 9 of the loopback: refused at once.
    let source = "http://127.0.0.1:9/osv/all.zip?key=sekrit";
    let cache = tempfile::tempdir().unwrap();
    muster_collector::app::advisory_update::spawn(
        h.state.clone(),
        muster_collector::app::advisory_update::Fetcher::new(None).unwrap(),
        vec![muster_collector::app::advisory_update::Source::parse(source).unwrap()],
        cache.path().to_owned(),
        Duration::from_secs(24 * 3600),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.got().is_empty() {
        assert!(Instant::now() < deadline, "no advisories.update_failed event within 30 s");
        drain(&h, "w1").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = receiver.verified(&secret);
    assert_eq!(got.len(), 1);
    let data = &got[0]["data"];
    assert_eq!(got[0]["type"], "advisories.update_failed");
    assert_eq!(data["title"], "Advisory update failed for 1 of 1 source(s)");
    assert_eq!(data["failures"][0]["source"], "http://127.0.0.1:9/osv/all.zip");
    assert!(!got[0].to_string().contains("sekrit"), "{}", got[0]);
    assert!(data["failures"][0]["error"].as_str().unwrap().contains("onnect"), "{data}");
    assert_eq!(data["actor"], "advisory-update");

    let messages: Vec<Value> = teams.got().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let (valid, text) = peer_check("teams", &messages).await;
    assert!(valid, "{text}");
    let card = &messages[0]["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], "Advisory update failed");
    assert_eq!(card["actions"][0]["url"], format!("{CONSOLE}/admin/advisories"));
}

//! Delivery: signed, in order, each acknowledged event once; backoff, dead letters and replay; two workers; a
//! `serve` killed mid-delivery; a hanging receiver delaying only its own subscription.

use super::*;

both!(
    findings_reach_a_signed_webhook_in_order,
    failures_back_off_then_dead_letters_are_replayed,
    two_workers_deliver_each_event_once,
    serve_killed_mid_delivery_sends_it_once_after_restart,
    a_hanging_receiver_delays_only_its_own_events,
);

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

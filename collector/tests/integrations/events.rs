//! Events beyond findings: enrolments and failed scheduled advisory updates.

use super::*;

both!(enrolments_reach_subscribers_as_host_events, a_failing_scheduled_advisory_update_is_told,);

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

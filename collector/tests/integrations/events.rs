//! Events beyond a finding's own steps: its escalation when overdue, enrolments and failed scheduled advisory
//! updates.

use super::*;
use crate::common::Backend;

both!(
    findings_passing_their_due_date_escalate_once_per_due_date,
    findings_overdue_at_the_upgrade_are_not_announced,
    subscriptions_filter_by_rule_and_host_tag,
    enrolments_reach_subscribers_as_host_events,
    a_failing_scheduled_advisory_update_is_told,
);

/// The scheduled evaluation escalates an active finding once its due date passes (the critical one after its 7-day
/// SLA, the high one after 30 days), once per due date however often it runs, to subscribers of its severity; a
/// risk-accepted finding is not escalated; a finding that recurs has a new due date and escalates again. Each escalation is in the history.
async fn findings_passing_their_due_date_escalate_once_per_due_date(h: Harness) {
    let (receiver, url) = Receiver::start().await;
    let (_, secret) = uc::add(
        h.store.as_ref(),
        &Actor::cli(),
        request("soc", &url, &["finding.overdue"], Some(Severity::High)),
        h.now(),
    )
    .await
    .unwrap();
    let policy = muster_collector::rules::Rules::builtin().unwrap().current();
    let evaluate = || async {
        muster_collector::app::evaluation::evaluate_all(
            h.store.as_ref(),
            &policy,
            h.now(),
            muster_collector::app::evaluation::Scope::Due,
        )
        .await
        .unwrap()
    };
    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;
    let page = h.store.list_findings(&FindingFilter { limit: 100, ..Default::default() }).await.unwrap();
    let id_of = |rule: &str| page.findings.iter().find(|f| f.rule_id == rule).unwrap().id.clone();
    let (empty_password, root_login) = (id_of("accounts.empty_password"), id_of("ssh.permit_root_login"));
    h.advance(TimeDelta::hours(1));
    let accept = TransitionRequest {
        finding_id: root_login.clone(),
        action: Action::AcceptRisk,
        actor: "alice".to_owned(),
        source_ip: None,
        at: h.now(),
        comment: Some("jump host, replaced in Q2".to_owned()),
        expires_at: Some(h.now() + TimeDelta::days(90)),
    };
    muster_collector::app::findings::act(h.store.as_ref(), accept).await.unwrap();
    assert_eq!(evaluate().await.overdue, 0);
    assert_eq!(drain(&h, "w1").await, 0, "nothing is due yet");

    // 2026-03-09 11:00: the critical finding (due 03-09 09:00) is overdue.
    h.advance(TimeDelta::days(7) + TimeDelta::hours(1));
    assert_eq!(evaluate().await.overdue, 1);
    assert_eq!(drain(&h, "w1").await, 1);
    h.advance(TimeDelta::hours(1));
    assert_eq!(evaluate().await.overdue, 0, "once per due date");
    assert_eq!(drain(&h, "w1").await, 0);
    let got = receiver.verified(&secret);
    let data = &got[0]["data"];
    assert_eq!(got[0]["type"], "finding.overdue");
    assert_eq!(data["finding_id"], empty_password.as_str());
    assert_eq!((&data["from_status"], &data["status"]), (&Value::from("open"), &Value::from("open")));
    assert_eq!(data["due_at"], "2026-03-09T09:00:00Z");
    assert_eq!(data["actor"], "evaluator");
    let history = h.store.finding_history(&empty_password).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!((last.action.as_str(), last.actor.as_str(), last.to_status.as_str()), ("overdue", "evaluator", "open"));
    assert_eq!(last.details["due_at"], "2026-03-09T09:00:00Z");

    // 2026-03-20: the low host.stale finding opened on 03-09 is overdue, below the subscription's least severity.
    h.advance(TimeDelta::days(11));
    assert_eq!(evaluate().await.overdue, 1);
    assert_eq!(drain(&h, "w1").await, 0);
    // 2026-04-01: the high disk finding is overdue; the accepted root login is not.
    h.advance(TimeDelta::days(12));
    assert_eq!(evaluate().await.overdue, 1);
    assert_eq!(drain(&h, "w1").await, 1);
    let got = receiver.verified(&secret);
    assert_eq!(summary(&got[1..]), [row("finding.overdue", "disk.encryption", "high", "open")]);

    // Fixed, then weak again: the findings recur with new due dates, and the critical one escalates again.
    h.stored(&token, &full(&fixed(&machine))).await;
    h.advance(TimeDelta::hours(1));
    h.stored(&token, &full(&weak(&machine))).await;
    h.advance(TimeDelta::days(8));
    assert_eq!(evaluate().await.overdue, 1);
    assert_eq!(drain(&h, "w1").await, 1);
    let got = receiver.verified(&secret);
    assert_eq!(got.len(), 3);
    assert_eq!(got[2]["data"]["finding_id"], empty_password.as_str());
    assert_eq!(got[2]["data"]["status"], "reopened");
    assert_ne!(got[2]["data"]["due_at"], got[0]["data"]["due_at"]);
    let ids: std::collections::BTreeSet<String> = receiver.got().into_iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 3, "every escalation has its own webhook-id");
}

/// Enrolment tells subscribers about records: a new host, a live host's identity claimed by another agent (held),
/// the approval that hands it over, and a reinstall taking over a quiet record; each in its enrolment's transaction.
/// Migration 0015 counts findings already overdue when a collector is upgraded to it as escalated, so subscribers
/// are not flooded with the backlog. Its statement runs here on findings due in March 2026 (before the wall clock)
/// as the upgrade would have found them, not yet marked.
async fn findings_overdue_at_the_upgrade_are_not_announced(h: Harness) {
    use sqlx::Connection;
    let (receiver, url) = Receiver::start().await;
    uc::add(h.store.as_ref(), &Actor::cli(), request("soc", &url, &["finding.overdue"], None), h.now()).await.unwrap();
    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;
    h.advance(TimeDelta::days(40));
    h.stored(&token, &full(&weak(&machine))).await;

    let migration = match h.backend {
        Backend::Sqlite => include_str!("../../migrations/sqlite/0015_overdue_escalation.sql"),
        Backend::Postgres => include_str!("../../migrations/postgres/0015_overdue_escalation.sql"),
    };
    let code: String = migration.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    let backfill = code.split(';').map(str::trim).find(|s| s.starts_with("UPDATE")).unwrap();
    let db = h.database_url.clone().unwrap();
    let marked = match h.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db).await.unwrap();
            sqlx::query("UPDATE findings SET overdue_sent_for = NULL").execute(&mut c).await.unwrap();
            sqlx::query(backfill).execute(&mut c).await.unwrap().rows_affected()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db).await.unwrap();
            sqlx::query("UPDATE findings SET overdue_sent_for = NULL").execute(&mut c).await.unwrap();
            sqlx::query(backfill).execute(&mut c).await.unwrap().rows_affected()
        }
    };
    // The active findings due before the wall clock (the migration's "now"): all but those with a long SLA.
    let page = h.store.list_findings(&FindingFilter { limit: 100, ..Default::default() }).await.unwrap();
    let wall_clock = chrono::Utc::now();
    let due: Vec<&str> = page
        .findings
        .iter()
        .filter(|f| f.status.is_active() && f.due_at < wall_clock)
        .map(|f| f.rule_id.as_str())
        .collect();
    assert!(due.contains(&"accounts.empty_password") && due.contains(&"disk.encryption"), "{due:?}");
    assert_eq!(marked, due.len() as u64, "{due:?}");

    let policy = muster_collector::rules::Rules::builtin().unwrap().current();
    let run = muster_collector::app::evaluation::evaluate_all(
        h.store.as_ref(),
        &policy,
        h.now(),
        muster_collector::app::evaluation::Scope::Due,
    )
    .await
    .unwrap();
    assert_eq!(run.overdue, 0);
    assert_eq!(drain(&h, "w1").await, 0);
    assert!(receiver.got().is_empty());
}

/// Rule and tag filters: the lab host's SSH and password findings reach the subscription for them, nothing about
/// it reaches the one for production hosts; bodies carry the host's tags for routing on the receiver's side.
async fn subscriptions_filter_by_rule_and_host_tag(h: Harness) {
    let (lab, lab_url) = Receiver::start().await;
    let lab_request = IntegrationRequest {
        rules: vec!["SSH.*".to_owned(), "accounts.empty_password".to_owned()],
        tags: vec!["lab".to_owned()],
        ..request("lab", &lab_url, &["finding.opened"], None)
    };
    let (_, lab_secret) = uc::add(h.store.as_ref(), &Actor::cli(), lab_request, h.now()).await.unwrap();
    let (prod, prod_url) = Receiver::start().await;
    let prod_request = IntegrationRequest {
        tags: vec!["prod".to_owned()],
        ..request("prod", &prod_url, &["finding.opened", "host.enrolled"], None)
    };
    let (listed, _) = uc::add(h.store.as_ref(), &Actor::cli(), prod_request, h.now()).await.unwrap();
    assert_eq!((listed.tags.as_slice(), listed.rules.len()), (&["prod".to_owned()][..], 0));

    let (_, enrol_secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let (_, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&weak(&machine))).await;
    assert_eq!(drain(&h, "w1").await, 2);
    let got = lab.verified(&lab_secret);
    let mut rules: Vec<&str> = got.iter().map(|b| b["data"]["rule_id"].as_str().unwrap()).collect();
    rules.sort();
    assert_eq!(rules, ["accounts.empty_password", "ssh.permit_root_login"]);
    assert_eq!(got[0]["data"]["tags"], serde_json::json!(["lab"]));
    assert!(prod.got().is_empty());
}

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
    let background = muster_collector::app::background::Background::new();
    muster_collector::app::advisory_update::spawn(
        &background,
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

//! Syslog to a real rsyslogd on loopback over UDP, TCP and TLS.

use super::*;

both!(
    findings_reach_a_real_rsyslog_over_udp_tcp_and_tls,
    findings_reach_rsyslog_and_a_webhook_as_ocsf_the_schema_accepts,
);

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

/// Runs tests/peers/ocsf/check_ocsf.py (OCSF 1.8.0 as OCSF's own compiler builds it) over `events`; its verdict.
fn ocsf_check(events: &[Value]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    std::fs::write(&file, serde_json::to_vec(events).unwrap()).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ocsf/check_ocsf.py");
    let out = std::process::Command::new("python3").arg(script).arg(&file).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// An OCSF subscription over syslog and one as a signed webhook: each finding event arrives as the OCSF class it
/// is (Vulnerability Finding for advisories, Compliance Finding for posture rules, Create/Update/Close), every one
/// accepted by the schema, and a test send as a Base Event.
async fn findings_reach_rsyslog_and_a_webhook_as_ocsf_the_schema_accepts(h: Harness) {
    let rsyslog = Rsyslog::start();
    let (hook, hook_url) = Receiver::start().await;
    let cli = Actor::cli();
    let lake = IntegrationRequest {
        kind: IntegrationKind::Syslog,
        format: PayloadFormat::Ocsf,
        ..request("lake", &format!("tcp://127.0.0.1:{}", rsyslog.tcp), &[], None)
    };
    let (i, _) = uc::add(h.store.as_ref(), &cli, lake.clone(), h.now()).await.unwrap();
    assert_eq!(i.events.len(), 8, "every finding event by default: {:?}", i.events);
    let hooked = IntegrationRequest { format: PayloadFormat::Ocsf, ..request("lake-hook", &hook_url, &[], None) };
    let (_, secret) = uc::add(h.store.as_ref(), &cli, hooked, h.now()).await.unwrap();
    // OCSF describes findings: host events and chat services are refused.
    let host_events = IntegrationRequest { name: "x".to_owned(), events: vec!["host.enrolled".to_owned()], ..lake };
    let refused = uc::add(h.store.as_ref(), &cli, host_events, h.now()).await.unwrap_err();
    assert!(refused.to_string().contains("OCSF carries finding events"), "{refused}");
    let slack = IntegrationRequest {
        kind: IntegrationKind::Slack,
        format: PayloadFormat::Ocsf,
        ..request("y", "https://hooks.slack.com/services/T/B/X", &[], None)
    };
    assert!(uc::add(h.store.as_ref(), &cli, slack, h.now()).await.unwrap_err().to_string().contains("JSON"));

    crate::worklist::import_advisories(&h).await;
    let machine = Machine::thinkpad(MACHINE_ID);
    let old = crate::worklist::with_source(crate::common::debian(&machine), "glibc", "2.36-9+deb12u2");
    let (_, enrol_secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&enrol_secret, &machine).await;
    h.stored(&token, &full(&old)).await;
    uc::send_test(h.store.as_ref(), &cli, "lake", h.now()).await.unwrap();
    drain(&h, "w").await;
    h.advance(TimeDelta::minutes(5));
    h.stored(&token, &full(&crate::common::debian(&machine))).await;
    drain(&h, "w").await;

    let (_, log) = uc::deliveries(h.store.as_ref(), "lake", 1000).await.unwrap();
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Delivered), "{log:#?}");
    let lines = rsyslog.received(log.len());
    assert_eq!(lines.len(), log.len());
    let from_syslog: Vec<Value> = lines.iter().map(|l| serde_json::from_str(&l[7]).unwrap()).collect();
    let from_hook = hook.verified(&secret);
    // Each subscription sends in event order, but what rsyslog writes is not always what it was sent in that order
    // (a clean-clone run once saw one event four lines later); what must match is the events themselves, compared
    // by their message ids.
    let uid = |e: &&Value| e["metadata"]["uid"].as_str().map(str::to_owned);
    let mut hooked: Vec<&Value> = from_hook.iter().collect();
    hooked.sort_by_key(uid);
    let mut logged: Vec<&Value> = from_syslog.iter().filter(|e| e["class_uid"] != 0).collect();
    logged.sort_by_key(uid);
    assert_eq!(hooked.len(), 7, "{hooked:#?}");
    assert_eq!(hooked, logged, "the same events, bar the test send");
    let (ok, said) = ocsf_check(&[from_syslog.clone(), from_hook].concat());
    assert!(ok, "{said}");
    let classes = |uid: u64| from_syslog.iter().filter(|e| e["class_uid"] == uid).count();
    assert_eq!(classes(0), 1, "the test send as a Base Event");
    assert!(classes(2002) > 0 && classes(2003) > 0, "{from_syslog:#?}");
    // glibc has two findings, its fix and its advisories without a fix, whose events rsyslog writes in either order:
    // the fix's is the one that closes.
    let glibc = from_syslog
        .iter()
        .find(|e| {
            e["type_uid"] == 200201
                && e["vulnerabilities"][0]["desc"].as_str().is_some_and(|d| d.starts_with("glibc"))
                && e["finding_info"]["title"].as_str().is_some_and(|t| t.starts_with("Upgrade glibc"))
        })
        .unwrap_or_else(|| panic!("{from_syslog:#?}"));
    assert_eq!(glibc["device"]["uid"], host.as_str());
    // The finding's advisories come from the store (the event names only the fix group's rule): CVE ids as `cve`,
    // never the rule standing in for an advisory.
    let vulnerabilities = glibc["vulnerabilities"].as_array().unwrap();
    assert!(
        vulnerabilities.iter().any(|v| v["cve"]["uid"].as_str().is_some_and(|id| id.starts_with("CVE-"))),
        "{vulnerabilities:#?}"
    );
    assert!(vulnerabilities.iter().all(|v| v["advisory"]["uid"] != "vuln.fix"), "{vulnerabilities:#?}");
    assert_eq!(
        glibc["finding_info"]["src_url"].as_str().unwrap(),
        format!("{CONSOLE}/findings/{}", glibc["finding_info"]["uid"].as_str().unwrap())
    );
    // The newer glibc fixes it: the same finding closes.
    let closed = from_syslog
        .iter()
        .find(|e| e["type_uid"] == 200203 && e["finding_info"]["uid"] == glibc["finding_info"]["uid"])
        .unwrap_or_else(|| panic!("{from_syslog:#?}"));
    assert_eq!((closed["status_id"].as_u64(), closed["status"].as_str()), (Some(4), Some("Resolved")));
}

//! The agent's transport against a small TLS collector on 127.0.0.1: pinned-CA enrolment, state directory rules,
//! delta reports, `needs_full` resends, `Retry-After`, revoked tokens and the spool across an outage.
//!
//! Over 600 lines: one scenario per transport rule against the in-memory collector below; the collector and its
//! scripted answers are shared by every test.
//!
//! The test collector is deliberately simple: an in-memory implementation of the protocol in
//! `muster_shared::v1::transport` (it keeps the acknowledged section hashes per host and asks for sections whose hash
//! it does not hold), plus a queue of scripted answers to force busy and failure cases.

// The whole file is test code (the helpers too, which clippy's in-test exemption does not see): a failed unwrap is a
// failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use muster_agent::transport::daemon::{self, ReportNowConfig, RunConfig, RunExit};
use muster_agent::transport::deliver::{Agent, Delivery};
use muster_agent::transport::enroll::{self, CaPin, EnrollConfig, EnrollError, HostIdentity};
use muster_agent::transport::fingerprint::Fingerprint;
use muster_agent::transport::spool::{self, Spool};
use muster_agent::transport::state::StateError;
use muster_shared::v1::{
    AgentInfo, ApiError, CollectionMode, EnrollRequest, EnrollResponse, Host, Os, Report, ReportAck, ReportEnvelope,
    ReportStatus, SCHEMA, SectionName,
};
use rand::SeedableRng;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

const SECRET: &str = "enrol-me";
const TOKEN: &str = "host-token-1";

// ---------------------------------------------------------------------------------------------------------------
// A certificate authority and a server certificate for 127.0.0.1, made fresh for each test.

struct Pki {
    ca: CertificateDer<'static>,
    ca_pem: String,
    server: CertificateDer<'static>,
    server_key: Vec<u8>,
}

fn pki(common_name: &str) -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

    let mut server_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    server_params.distinguished_name.push(rcgen::DnType::CommonName, "muster collector");
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = server_params.signed_by(&server_key, &ca).unwrap();
    Pki { ca: ca.der().clone(), ca_pem: ca.pem(), server: server.der().clone(), server_key: server_key.serialize_der() }
}

// ---------------------------------------------------------------------------------------------------------------
// The test collector.

/// A second server of the same deployment: the same CA and server certificate.
fn pki_of(server: &TestServer) -> Pki {
    Pki {
        ca: server.pki.ca.clone(),
        ca_pem: server.pki.ca_pem.clone(),
        server: server.pki.server.clone(),
        server_key: server.pki.server_key.clone(),
    }
}

/// An answer forced on the next report request instead of the protocol logic.
#[derive(Debug, Clone)]
struct Scripted {
    status: StatusCode,
    retry_after: Option<&'static str>,
    body: String,
}

#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    authorization: Option<String>,
    content_encoding: Option<String>,
    envelope: ReportEnvelope,
}

#[derive(Debug, Default)]
struct Collector {
    enrolments: Vec<EnrollRequest>,
    reports: Vec<Received>,
    script: VecDeque<Scripted>,
    /// Section hashes stored for the one host.
    stored: BTreeMap<SectionName, String>,
    seen_ids: BTreeSet<String>,
    revoked: bool,
}

type Shared = Arc<Mutex<Collector>>;

struct TestServer {
    addr: SocketAddr,
    collector: Shared,
    pki: Arc<Pki>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    async fn start(pki: Pki) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut server = TestServer { addr, collector: Shared::default(), pki: Arc::new(pki), task: None };
        server.task = Some(tokio::spawn(serve(listener, server.pki.clone(), server.collector.clone())));
        server
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_der(&self.pki.ca)
    }

    /// Stops accepting and drops every open connection: the collector is down.
    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Comes back on the same address with the same state.
    async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.task = Some(tokio::spawn(serve(listener, self.pki.clone(), self.collector.clone())));
    }

    fn script(&self, status: StatusCode, retry_after: Option<&'static str>, body: &str) {
        self.collector.lock().unwrap().script.push_back(Scripted { status, retry_after, body: body.to_string() });
    }

    fn reports(&self) -> Vec<Received> {
        self.collector.lock().unwrap().reports.clone()
    }

    fn enrolments(&self) -> Vec<EnrollRequest> {
        self.collector.lock().unwrap().enrolments.clone()
    }
}

async fn serve(listener: TcpListener, pki: Arc<Pki>, collector: Shared) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // The collector sends its CA after its own certificate, which is what fingerprint pinning relies on.
    let chain = vec![pki.server.clone(), pki.ca.clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    // Owned here so that aborting this task closes every connection too.
    let mut connections = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let acceptor = acceptor.clone();
        let collector = collector.clone();
        connections.spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service = hyper::service::service_fn(move |request| handle(request, collector.clone()));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
        });
    }
}

async fn handle(request: Request<Incoming>, collector: Shared) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = request.uri().path().to_string();
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let authorization = header("authorization");
    let content_encoding = header("content-encoding");
    let body = request.into_body().collect().await?.to_bytes();
    let mut collector = collector.lock().unwrap();
    Ok(match path.as_str() {
        "/api/v1/agent/enroll" => {
            let enrol: EnrollRequest = serde_json::from_slice(&body).unwrap();
            let accepted = enrol.secret == SECRET;
            collector.enrolments.push(enrol);
            if accepted {
                let answer = EnrollResponse {
                    host_id: "h-1".to_string(),
                    host_token: TOKEN.to_string(),
                    reenrolled: false,
                    pending_approval: false,
                };
                json(StatusCode::OK, &answer)
            } else {
                api_error(StatusCode::UNAUTHORIZED, "invalid_secret")
            }
        }
        "/api/v1/agent/report" => {
            assert_eq!(content_encoding.as_deref(), Some("zstd"));
            let envelope: ReportEnvelope = serde_json::from_slice(&zstd::decode_all(&body[..]).unwrap()).unwrap();
            collector.reports.push(Received {
                at: Instant::now(),
                authorization: authorization.clone(),
                content_encoding,
                envelope: envelope.clone(),
            });
            if let Some(scripted) = collector.script.pop_front() {
                let mut response = Response::builder().status(scripted.status);
                if let Some(after) = scripted.retry_after {
                    response = response.header("retry-after", after);
                }
                return Ok(response.body(Full::new(Bytes::from(scripted.body))).unwrap());
            }
            if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
                return Ok(api_error(StatusCode::UNAUTHORIZED, "invalid_token"));
            }
            if collector.revoked {
                return Ok(api_error(StatusCode::UNAUTHORIZED, "token_revoked"));
            }
            ingest(&mut collector, &envelope)
        }
        _ => api_error(StatusCode::NOT_FOUND, "not_found"),
    })
}

/// The delta protocol's collector side: hash-only sections must match what is stored.
fn ingest(collector: &mut Collector, envelope: &ReportEnvelope) -> Response<Full<Bytes>> {
    let report_id = envelope.report_id.clone();
    if collector.seen_ids.contains(&report_id) {
        return json(StatusCode::OK, &ReportAck { report_id, status: ReportStatus::Duplicate, needs_full: vec![] });
    }
    let needs_full: Vec<SectionName> = envelope
        .section_hashes
        .iter()
        .filter(|(name, hash)| !has(&envelope.report, **name) && collector.stored.get(*name) != Some(*hash))
        .map(|(name, _)| *name)
        .collect();
    if !needs_full.is_empty() {
        return json(StatusCode::OK, &ReportAck { report_id, status: ReportStatus::NeedsSections, needs_full });
    }
    collector.stored = envelope.section_hashes.clone();
    collector.seen_ids.insert(report_id.clone());
    json(StatusCode::OK, &ReportAck { report_id, status: ReportStatus::Stored, needs_full: vec![] })
}

fn has(report: &Report, name: SectionName) -> bool {
    match name {
        SectionName::Host => report.host.is_some(),
        SectionName::Os => report.os.is_some(),
        other => panic!("the test reports carry no {other} section"),
    }
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(value).unwrap())))
        .unwrap()
}

fn api_error(status: StatusCode, code: &str) -> Response<Full<Bytes>> {
    json(status, &ApiError { error: code.to_string(), message: format!("test collector says {code}"), limit: None })
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers on the agent side.

fn identity() -> HostIdentity {
    HostIdentity {
        hostname: "web1".to_string(),
        machine_id: Some("5f1c0a3f7b4d4b0e9a4b2f6c8d1e0a9b".to_string()),
        system_uuid: Some("4c4c4544-0042-3510-8052-b2c04f4e3732".to_string()),
        system_serial: Some("B5RV4J2".to_string()),
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().with_timezone(&Utc)
}

fn report(hostname: &str, os_version: Option<&str>) -> Report {
    Report {
        schema: SCHEMA.to_string(),
        agent: AgentInfo {
            version: "0.1.0".to_string(),
            mode: CollectionMode::Live,
            root: None,
            sections: vec![SectionName::Host, SectionName::Os],
        },
        host: Some(Host { hostname: Some(hostname.to_string()), ..Host::default() }),
        hardware: None,
        os: os_version.map(|v| Os { id: Some("debian".to_string()), version_id: Some(v.to_string()), ..Os::default() }),
        software: None,
        patches: None,
        checks: None,
        errors: Vec::new(),
        collected_at: now(),
    }
}

fn state_dir(parent: &tempfile::TempDir) -> PathBuf {
    parent.path().join("agent-state")
}

fn config(server: &TestServer, dir: &Path, ca: CaPin) -> EnrollConfig {
    EnrollConfig {
        collector_url: server.url(),
        secret: SECRET.to_string(),
        ca,
        tags: vec!["lab".to_string()],
        state_dir: dir.to_path_buf(),
    }
}

/// Enrolled by fingerprint, loaded as `run` and `report-now` load it.
async fn enrolled_agent(server: &TestServer, parent: &tempfile::TempDir) -> Agent {
    let dir = state_dir(parent);
    enroll::enroll(&config(server, &dir, CaPin::Fingerprint(server.fingerprint())), &identity(), now()).await.unwrap();
    Agent::load(&dir, spool::DEFAULT_CAP).unwrap()
}

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(42)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn full_sections(envelope: &ReportEnvelope) -> Vec<SectionName> {
    [SectionName::Host, SectionName::Os].into_iter().filter(|s| has(&envelope.report, *s)).collect()
}

fn quiet() -> impl FnMut(&str) {
    |_line: &str| {}
}

// ---------------------------------------------------------------------------------------------------------------
// Enrolment and trust.

#[tokio::test]
async fn pinned_fingerprint_is_accepted_and_the_ca_is_kept_for_later_runs() {
    let server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let dir = state_dir(&parent);
    // Operators paste fingerprints in every spelling: colons and upper case here.
    let colons: Vec<String> = server.fingerprint().as_bytes().iter().map(|b| format!("{b:02X}")).collect();
    let pin = Fingerprint::parse(&colons.join(":")).unwrap();
    assert_eq!(pin, server.fingerprint());
    let outcome = enroll::enroll(&config(&server, &dir, CaPin::Fingerprint(pin)), &identity(), now()).await.unwrap();

    assert_eq!(outcome.host_id, "h-1");
    assert_eq!(outcome.collector, server.url());
    assert_eq!(outcome.ca_fingerprint, server.fingerprint().to_hex());
    let sent = server.enrolments();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].hostname, "web1");
    assert_eq!(sent[0].system_uuid.as_deref(), Some("4c4c4544-0042-3510-8052-b2c04f4e3732"));
    assert_eq!(sent[0].system_serial.as_deref(), Some("B5RV4J2"));
    assert_eq!(sent[0].tags, ["lab"]);

    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("host-token")), 0o600);
    assert_eq!(std::fs::read_to_string(dir.join("host-token")).unwrap(), TOKEN);
    let stored_ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    assert_eq!(muster_agent::transport::tls::parse_ca_pem(stored_ca.as_bytes()).unwrap(), vec![server.pki.ca.clone()]);

    // Later runs trust the stored CA certificate alone.
    let agent = Agent::load(&dir, spool::DEFAULT_CAP).unwrap();
    assert_eq!(agent.enrolment().host_id, "h-1");
    let result = agent.deliver(Some(report("web1", Some("12"))), &mut rng()).await.unwrap();
    assert!(matches!(result.delivery, Delivery::Delivered { status: ReportStatus::Stored, .. }), "{result:?}");
    assert_eq!(server.reports()[0].authorization.as_deref(), Some("Bearer host-token-1"));
    assert_eq!(server.reports()[0].content_encoding.as_deref(), Some("zstd"));
}

/// Issue 15: enrolling again in an enrolled state directory proves the agent holds the record's token, so the
/// collector hands the record over at once instead of holding it for an administrator; a first enrolment has
/// nothing to prove, and a token is never shown to another collector.
#[tokio::test]
async fn enrolling_again_presents_the_token_it_holds_to_the_same_collector_only() {
    let server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let dir = state_dir(&parent);
    let pin = CaPin::Fingerprint(server.fingerprint());
    enroll::enroll(&config(&server, &dir, pin.clone()), &identity(), now()).await.unwrap();
    enroll::enroll(&config(&server, &dir, pin.clone()), &identity(), now()).await.unwrap();
    let sent = server.enrolments();
    assert_eq!(sent[0].previous_token, None);
    assert_eq!(sent[1].previous_token.as_deref(), Some(TOKEN));

    // The same state directory enrolled with another collector: no token travels.
    let other = TestServer::start(pki("Another CA")).await;
    enroll::enroll(&config(&other, &dir, CaPin::Fingerprint(other.fingerprint())), &identity(), now()).await.unwrap();
    assert_eq!(other.enrolments()[0].previous_token, None);
    // Another address of the same deployment (its CA is the one the enrolment trusts): the token goes along, so a
    // changed URL does not turn the agent's own re-enrolment into a take-over waiting for approval.
    let replica = TestServer::start(pki_of(&other)).await;
    enroll::enroll(&config(&replica, &dir, CaPin::Fingerprint(other.fingerprint())), &identity(), now()).await.unwrap();
    assert_eq!(replica.enrolments()[0].previous_token.as_deref(), Some(TOKEN));
}

#[tokio::test]
async fn ca_certificate_file_is_accepted() {
    let server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let ca_file = parent.path().join("ca.pem");
    std::fs::write(&ca_file, &server.pki.ca_pem).unwrap();
    let ca = enroll::read_ca_cert(&ca_file).unwrap();
    let dir = state_dir(&parent);
    let outcome = enroll::enroll(&config(&server, &dir, CaPin::Certificate(ca)), &identity(), now()).await.unwrap();
    assert_eq!(outcome.ca_fingerprint, server.fingerprint().to_hex());
    assert_eq!(server.enrolments().len(), 1);
}

#[tokio::test]
async fn wrong_fingerprint_is_refused_before_the_secret_is_sent() {
    let server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let dir = state_dir(&parent);
    let impostor = pki("Someone else's CA");
    let wrong = Fingerprint::of_der(&impostor.ca);
    let err = enroll::enroll(&config(&server, &dir, CaPin::Fingerprint(wrong)), &identity(), now()).await.unwrap_err();

    let EnrollError::FingerprintMismatch { expected, ref offered, .. } = err else { panic!("{err:?}") };
    assert_eq!(expected, wrong);
    assert_eq!(offered, &[Fingerprint::of_der(&server.pki.server), server.fingerprint()]);
    let message = err.to_string();
    assert!(message.contains(&format!("did not present the CA certificate with fingerprint {wrong}")), "{message}");
    assert!(message.contains(&server.fingerprint().to_string()), "{message}");
    assert!(message.contains("nothing was sent"), "{message}");
    assert!(server.enrolments().is_empty());
    assert!(!dir.join("agent.toml").exists());
}

#[tokio::test]
async fn a_server_certificate_not_issued_by_the_pinned_ca_is_refused() {
    // The impostor presents the real CA certificate (public) in its chain, but its server certificate is signed by
    // its own CA: matching the fingerprint is not enough, the chain must verify.
    let real = pki("Muster test CA");
    let impostor = pki("Impostor CA");
    let pinned = Fingerprint::of_der(&real.ca);
    let forged = Pki { ca: real.ca.clone(), ca_pem: real.ca_pem.clone(), ..impostor };
    let server = TestServer::start(forged).await;
    let parent = tempfile::tempdir().unwrap();
    let dir = state_dir(&parent);
    let err = enroll::enroll(&config(&server, &dir, CaPin::Fingerprint(pinned)), &identity(), now()).await.unwrap_err();
    assert!(matches!(err, EnrollError::Client(_)), "{err:?}");
    assert!(err.to_string().contains("invalid peer certificate"), "{err}");
    assert!(server.enrolments().is_empty());

    // Likewise with --ca-cert naming a CA that did not issue the collector's certificate.
    let other = pki("Unrelated CA");
    let err =
        enroll::enroll(&config(&server, &dir, CaPin::Certificate(other.ca)), &identity(), now()).await.unwrap_err();
    assert!(err.to_string().contains("invalid peer certificate"), "{err}");
    assert!(server.enrolments().is_empty());
}

#[tokio::test]
async fn state_directory_open_to_others_is_refused_with_instructions() {
    let server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let dir = state_dir(&parent);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = enroll::enroll(&config(&server, &dir, CaPin::Fingerprint(server.fingerprint())), &identity(), now())
        .await
        .unwrap_err();
    assert!(matches!(err, EnrollError::State(StateError::DirTooOpen { mode: 0o755, .. })), "{err:?}");
    assert!(err.to_string().contains(&format!("run `chmod 700 {}`", dir.display())), "{err}");
    assert!(server.enrolments().is_empty(), "a refused state directory must not use up the secret");

    // The binary says the same and exits with status 2, before collecting anything.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_muster-agent"))
        .args(["report-now", "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has mode 0755") && stderr.contains("chmod 700"), "{stderr}");

    // A private but never enrolled directory names the command to run.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = Agent::load(&dir, spool::DEFAULT_CAP).unwrap_err();
    assert!(err.to_string().contains("this agent is not enrolled"), "{err}");
    assert!(err.to_string().contains("muster-agent enroll --collector https://HOST:8443"), "{err}");

    // A token file others can read is refused too.
    enroll::enroll(&config(&server, &dir, CaPin::Fingerprint(server.fingerprint())), &identity(), now()).await.unwrap();
    std::fs::set_permissions(dir.join("host-token"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Agent::load(&dir, spool::DEFAULT_CAP).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

// ---------------------------------------------------------------------------------------------------------------
// Reports.

#[tokio::test]
async fn unchanged_sections_travel_as_hashes_after_the_first_report() {
    let server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let agent = enrolled_agent(&server, &parent).await;
    let mut rng = rng();

    let first = agent.deliver(Some(report("web1", Some("12"))), &mut rng).await.unwrap().delivery;
    let second = agent.deliver(Some(report("web1", Some("12"))), &mut rng).await.unwrap().delivery;
    let third = agent.deliver(Some(report("web1", Some("13"))), &mut rng).await.unwrap().delivery;

    let Delivery::Delivered { sections_in_full: full_1, wire_bytes: bytes_1, .. } = first else { panic!("{first:?}") };
    let Delivery::Delivered { sections_in_full: full_2, wire_bytes: bytes_2, .. } = second else {
        panic!("{second:?}")
    };
    let Delivery::Delivered { sections_in_full: full_3, .. } = third else { panic!("{third:?}") };
    assert_eq!(full_1, [SectionName::Host, SectionName::Os]);
    assert!(full_2.is_empty());
    assert_eq!(full_3, [SectionName::Os]);
    assert!(bytes_2 < bytes_1, "an unchanged report is smaller: {bytes_2} vs {bytes_1}");

    let received = server.reports();
    assert_eq!(received.len(), 3);
    assert_eq!(full_sections(&received[1].envelope), Vec::<SectionName>::new());
    assert_eq!(received[1].envelope.section_hashes, received[0].envelope.section_hashes);
    assert_eq!(full_sections(&received[2].envelope), [SectionName::Os]);
    let ids: BTreeSet<&str> = received.iter().map(|r| r.envelope.report_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "every report has its own id");
    assert!(!Spool::new(agent.state().path(), spool::DEFAULT_CAP).path().exists());
}

#[tokio::test]
async fn needs_full_sections_are_resent_at_once() {
    let server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let agent = enrolled_agent(&server, &parent).await;
    let mut rng = rng();
    agent.deliver(Some(report("web1", Some("12"))), &mut rng).await.unwrap();
    // The collector lost its copy of the host section (restored from a backup, say).
    server.collector.lock().unwrap().stored.insert(SectionName::Host, "0".repeat(64));

    let result = agent.deliver(Some(report("web1", Some("12"))), &mut rng).await.unwrap();
    let Delivery::Delivered { requests, sections_in_full, status, .. } = result.delivery else { panic!("{result:?}") };
    assert_eq!((requests, status), (2, ReportStatus::Stored));
    assert_eq!(sections_in_full, [SectionName::Host]);
    let received = server.reports();
    assert_eq!(received.len(), 3);
    assert_eq!(full_sections(&received[1].envelope), Vec::<SectionName>::new());
    assert_eq!(full_sections(&received[2].envelope), [SectionName::Host]);
    assert_eq!(received[1].envelope.report_id, received[2].envelope.report_id, "a resend is the same report");
}

#[tokio::test]
async fn retry_after_on_503_is_honoured() {
    let server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let agent = enrolled_agent(&server, &parent).await;
    server.script(StatusCode::SERVICE_UNAVAILABLE, Some("1"), r#"{"error":"busy","message":"ingest queue full"}"#);

    let mut lines = Vec::new();
    let mut log = |line: &str| lines.push(line.to_string());
    let config = ReportNowConfig { max_wait: Duration::from_secs(5), ..ReportNowConfig::DEFAULT };
    let result = daemon::report_now(&agent, &config, report("web1", Some("12")), &mut rng(), &mut log).await.unwrap();
    assert!(matches!(result.delivery, Delivery::Delivered { status: ReportStatus::Stored, .. }), "{result:?}");
    assert!(lines[0].contains("HTTP 503: ingest queue full (busy)"), "{lines:?}");

    let received = server.reports();
    assert_eq!(received.len(), 2);
    let waited = received[1].at - received[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, before the collector's Retry-After");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}, far beyond Retry-After + 10%");
    assert_eq!(received[0].envelope.report_id, received[1].envelope.report_id, "a retry reuses the report id");

    // A Retry-After longer than report-now is willing to wait leaves the report to `run`, spooled.
    server.script(StatusCode::TOO_MANY_REQUESTS, Some("3600"), "");
    let result = daemon::report_now(&agent, &config, report("web1", Some("13")), &mut rng(), &mut quiet()).await;
    let Delivery::Deferred { retry_after, spooled, .. } = result.unwrap().delivery else { panic!() };
    assert_eq!((retry_after.as_deref(), spooled), (Some("3600"), true));
    assert_eq!(server.reports().len(), 3);
}

#[tokio::test]
async fn run_waits_for_retry_after_then_delivers_and_stops_on_shutdown() {
    let server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let agent = enrolled_agent(&server, &parent).await;
    server.script(StatusCode::TOO_MANY_REQUESTS, Some("1"), "");

    let config = RunConfig { shutdown_grace: Duration::from_secs(1), ..RunConfig::new(Duration::from_secs(3600)) };
    let collector = server.collector.clone();
    // Shut down once the collector has stored a report.
    let shutdown = async move {
        while collector.lock().unwrap().seen_ids.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let mut collected = 0;
    let collect = || {
        collected += 1;
        report("web1", Some("12"))
    };
    let exit = daemon::run(&agent, &config, collect, shutdown, &mut rng(), &mut quiet()).await;
    assert_eq!(exit, RunExit::Shutdown);
    assert_eq!(collected, 1, "the retry resends the spooled report; nothing new is collected before the interval");
    let received = server.reports();
    assert_eq!(received.len(), 2);
    assert!(received[1].at - received[0].at >= Duration::from_secs(1));
    assert_eq!(received[0].envelope.report_id, received[1].envelope.report_id);
}

#[tokio::test]
async fn a_revoked_token_stops_the_agent_with_a_reenrolment_instruction() {
    let server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let agent = enrolled_agent(&server, &parent).await;
    server.collector.lock().unwrap().revoked = true;

    let result =
        daemon::report_now(&agent, &ReportNowConfig::DEFAULT, report("web1", Some("12")), &mut rng(), &mut quiet())
            .await
            .unwrap();
    let Delivery::TokenRejected { status: 401, error: Some(error) } = result.delivery else { panic!("{result:?}") };
    assert_eq!(error.error, "token_revoked");
    assert_eq!(server.reports().len(), 1, "report-now does not retry a refused token");

    let config = RunConfig::new(Duration::from_secs(10));
    let never = std::future::pending::<()>();
    let exit = tokio::time::timeout(
        Duration::from_secs(20),
        daemon::run(&agent, &config, || report("web1", Some("12")), never, &mut rng(), &mut quiet()),
    )
    .await
    .expect("run must stop by itself on a revoked token");
    let RunExit::TokenRejected(instruction) = exit else { panic!("{exit:?}") };
    assert!(instruction.starts_with("the host token was revoked by an administrator"), "{instruction}");
    assert!(
        instruction.contains(&format!(
            "muster-agent enroll --collector {} --secret SECRET --ca-fingerprint {} --state-dir {}",
            server.url(),
            server.fingerprint().to_hex(),
            agent.state().path().display()
        )),
        "{instruction}"
    );
    assert_eq!(server.reports().len(), 2, "run stops at the first refusal");
    // The report is kept: after enrolling again it is delivered.
    assert!(Spool::new(agent.state().path(), spool::DEFAULT_CAP).load().unwrap().is_some());
}

#[tokio::test]
async fn the_spool_survives_an_outage_and_a_restart_and_is_delivered_later() {
    let mut server = TestServer::start(pki("Muster test CA")).await;
    let parent = tempfile::tempdir().unwrap();
    let agent = enrolled_agent(&server, &parent).await;
    let mut rng = rng();
    agent.deliver(Some(report("web1", Some("12"))), &mut rng).await.unwrap();
    server.stop().await;

    // Two reports during the outage: the OS upgrade, then a report whose OS section failed to collect.
    let during = agent.deliver(Some(report("web1", Some("13"))), &mut rng).await.unwrap().delivery;
    let Delivery::Deferred { report_id: first_id, spooled: true, .. } = during else { panic!("{during:?}") };
    let during = agent.deliver(Some(report("web1-renamed", None)), &mut rng).await.unwrap().delivery;
    let Delivery::Deferred { report_id: merged_id, spooled: true, reason, .. } = during else { panic!("{during:?}") };
    assert!(reason.contains("could not reach") || reason.contains("connect"), "{reason}");
    assert_ne!(first_id, merged_id);
    assert_eq!(server.reports().len(), 1);

    // The agent restarts (a new process reads the state directory) and the collector comes back.
    drop(agent);
    server.restart().await;
    let agent = Agent::load(&state_dir(&parent), spool::DEFAULT_CAP).unwrap();
    let retried = agent.deliver(None, &mut rng).await.unwrap().delivery;
    let Delivery::Delivered { report_id, sections_in_full, .. } = retried else { panic!("{retried:?}") };
    assert_eq!(report_id, merged_id);
    assert_eq!(sections_in_full, [SectionName::Host, SectionName::Os], "both sections changed since the last ack");

    let received = server.reports();
    assert_eq!(received.len(), 2);
    let delivered = &received[1].envelope.report;
    assert_eq!(delivered.host.as_ref().unwrap().hostname.as_deref(), Some("web1-renamed"));
    assert_eq!(delivered.os.as_ref().unwrap().version_id.as_deref(), Some("13"), "the OS upgrade was not lost");
    assert!(!Spool::new(agent.state().path(), spool::DEFAULT_CAP).path().exists());
    assert_eq!(agent.deliver(None, &mut rng).await.unwrap().delivery, Delivery::NothingToSend);
}

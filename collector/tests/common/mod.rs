//! Test harness: a fresh store per backend, the app driven in-process, a controllable clock, and helpers that build
//! enrolment requests and report envelopes from the real reports in `testdata/`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use muster_collector::app::admin::{self, Actor};
use muster_collector::app::queue::{Mode, WorkQueue};
use muster_collector::model::Role;
use muster_collector::store::{PgStore, SqliteStore, Store};
use muster_collector::{AppState, ServicePolicy};
use muster_shared::v1::{EnrollRequest, Report, ReportEnvelope, SectionName, section_hashes};
use serde_json::Value;
use tower::ServiceExt;

pub mod process;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `$name(h: Harness)` once per backend, as `$name::sqlite` and `$name::postgres`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::common::run(crate::common::Backend::Sqlite, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::common::run(crate::common::Backend::Postgres, super::$name).await
            }
        }
    )*};
}

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub now: Arc<Mutex<DateTime<Utc>>>,
    pub app: Router,
    pub backend: Backend,
    /// What `app` serves, for tests that call the use cases or the schedule directly.
    pub state: AppState,
    /// The database's URL, for tests that run the collector's binary on it (set by [`run`]).
    pub database_url: Option<String>,
}

/// Creates a fresh database for `backend`, runs `test` on it, drops the database, then reports the test's outcome.
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    muster_collector::install_crypto_provider();
    let outcome = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("muster.db").display());
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
            let mut h = Harness::new(store, backend);
            h.database_url = Some(url);
            let outcome = tokio::spawn(test(h)).await;
            drop(dir);
            outcome
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let name = format!("muster_test_{}", muster_collector::tokens::new_id().unwrap());
            let mut admin = sqlx::PgConnection::connect(PG_ADMIN_URL).await.expect(
                "PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`",
            );
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
            let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
            let store = Arc::new(PgStore::open(&url).await.unwrap());
            let mut h = Harness::new(store.clone(), backend);
            h.database_url = Some(url);
            let outcome = tokio::spawn(test(h)).await;
            store.close().await;
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
            outcome
        }
    };
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

impl Harness {
    fn new(store: Arc<dyn Store>, backend: Backend) -> Harness {
        Harness::with_policy(store, backend, ServicePolicy::default())
    }

    pub fn with_policy(store: Arc<dyn Store>, backend: Backend, policy: ServicePolicy) -> Harness {
        let now = Arc::new(Mutex::new(start_time()));
        let rules = muster_collector::rules::Rules::builtin().unwrap();
        Harness::build(store, now, backend, policy, rules, Mode::Inline)
    }

    fn build(
        store: Arc<dyn Store>,
        now: Arc<Mutex<DateTime<Utc>>>,
        backend: Backend,
        policy: ServicePolicy,
        rules: muster_collector::rules::Rules,
        work: Mode,
    ) -> Harness {
        let clock_now = now.clone();
        let state = AppState {
            store: store.clone(),
            policy: Arc::new(policy),
            clock: Arc::new(move || *clock_now.lock().unwrap()),
            rules: Arc::new(rules),
            ingest: muster_collector::app::gate::IngestGate::new(4),
            work: WorkQueue::new(work),
        };
        let app =
            muster_collector::app(state.clone()).layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 10], 40_000))));
        Harness { store, now, app, backend, state, database_url: None }
    }

    /// The same database and clock with other policy settings.
    pub fn reconfigure(&self, policy: ServicePolicy) -> Harness {
        let rules = muster_collector::rules::Rules::builtin().unwrap();
        self.derived(policy, rules, self.state.work.mode())
    }

    fn derived(&self, policy: ServicePolicy, rules: muster_collector::rules::Rules, work: Mode) -> Harness {
        let h = Harness::build(self.store.clone(), self.now.clone(), self.backend, policy, rules, work);
        Harness { database_url: self.database_url.clone(), ..h }
    }

    /// The same database and clock with another rule set (an operator's policy directory).
    pub fn with_rules(&self, rules: muster_collector::rules::Rules) -> Harness {
        let policy = (*self.state.policy).clone();
        self.derived(policy, rules, self.state.work.mode())
    }

    /// The same database, clock and policy with the built-in rules, as `serve` runs: reports are answered once
    /// stored and their evaluation waits in the queue; no worker runs, so the test drains it (`app::queue::drain`).
    pub fn queued(&self) -> Harness {
        let rules = muster_collector::rules::Rules::builtin().unwrap();
        let policy = (*self.state.policy).clone();
        self.derived(policy, rules, Mode::Background)
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    /// Runs `statement` on the database on a connection of its own, as another program would: to break what the
    /// store reads or writes next.
    pub async fn execute(&self, statement: &str) {
        use sqlx::Connection;
        let url = self.database_url.clone().unwrap();
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query(statement).execute(&mut c).await.unwrap();
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query(statement).execute(&mut c).await.unwrap();
            }
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap();
        *now += by;
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, headers, value)
    }

    pub async fn get(&self, uri: &str, token: &str) -> (StatusCode, Value) {
        let request = Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty());
        let (status, _, body) = self.send(request.unwrap()).await;
        (status, body)
    }

    pub async fn api_token(&self, role: Role) -> String {
        let (_, token) =
            admin::create_api_token(self.store.as_ref(), &Actor::cli(), "test", role, self.now()).await.unwrap();
        token.expose().to_owned()
    }

    /// Creates an enrolment secret; returns (id, secret).
    pub async fn enroll_secret(&self, expires_in: Option<std::time::Duration>) -> (String, String) {
        let (info, secret) =
            admin::create_enroll_secret(self.store.as_ref(), &Actor::cli(), "lab", expires_in, self.now())
                .await
                .unwrap();
        (info.id, secret.expose().to_owned())
    }

    pub async fn enroll(&self, secret: &str, machine: &Machine) -> (StatusCode, Value) {
        self.enroll_with(secret, machine, None).await
    }

    /// Enrols presenting `previous_token`, as `muster-agent enroll` does in an enrolled state directory.
    pub async fn enroll_with(
        &self,
        secret: &str,
        machine: &Machine,
        previous_token: Option<&str>,
    ) -> (StatusCode, Value) {
        let request = EnrollRequest {
            secret: secret.to_owned(),
            hostname: machine.hostname.clone(),
            machine_id: machine.machine_id.clone(),
            system_uuid: machine.uuid.clone(),
            system_serial: machine.serial.clone(),
            agent_version: "0.1.0".to_owned(),
            tags: vec!["lab".to_owned()],
            previous_token: previous_token.map(str::to_owned),
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/agent/enroll")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&request).unwrap()))
            .unwrap();
        let (status, _, body) = self.send(request).await;
        (status, body)
    }

    /// Enrols and returns (host id, host token).
    pub async fn enrolled(&self, secret: &str, machine: &Machine) -> (String, String) {
        let (status, body) = self.enroll(secret, machine).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (body["host_id"].as_str().unwrap().to_owned(), body["host_token"].as_str().unwrap().to_owned())
    }

    pub async fn report_raw(
        &self,
        token: &str,
        body: Vec<u8>,
        encoding: Option<&str>,
        extra: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/agent/report")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(encoding) = encoding {
            request = request.header(header::CONTENT_ENCODING, encoding);
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let (status, _, body) = self.send(request.body(Body::from(body)).unwrap()).await;
        (status, body)
    }

    /// Sends `envelope` zstd-compressed, as the agent does.
    pub async fn report(&self, token: &str, envelope: &ReportEnvelope) -> (StatusCode, Value) {
        let (status, _, body) = self.report_answer(token, envelope).await;
        (status, body)
    }

    /// [`Harness::report`], with the answer's headers (`Retry-After`).
    pub async fn report_answer(&self, token: &str, envelope: &ReportEnvelope) -> (StatusCode, HeaderMap, Value) {
        let json = serde_json::to_vec(envelope).unwrap();
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/agent/report")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, "zstd")
            .body(Body::from(zstd::encode_all(json.as_slice(), 3).unwrap()))
            .unwrap();
        self.send(request).await
    }

    /// Sends and expects `stored`.
    pub async fn stored(&self, token: &str, envelope: &ReportEnvelope) {
        let (status, body) = self.report(token, envelope).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "stored", "{body}");
    }
}

/// What an agent knows about its machine at enrolment.
#[derive(Debug, Clone)]
pub struct Machine {
    pub hostname: String,
    pub machine_id: Option<String>,
    pub uuid: Option<String>,
    pub serial: Option<String>,
}

impl Machine {
    /// The ThinkPad T480s of `debian12-thinkpad-t480s.json` (identity from its SMBIOS dump).
    pub fn thinkpad(machine_id: &str) -> Machine {
        Machine {
            hostname: "lab-t480s".to_owned(),
            machine_id: Some(machine_id.to_owned()),
            uuid: Some("161674cc-2a1e-11b2-a85c-e121881d01b9".to_owned()),
            serial: Some("PC131TBF".to_owned()),
        }
    }

    /// The VMware guest of `ubuntu2404-vmware.json`.
    pub fn vmware(machine_id: &str) -> Machine {
        Machine {
            hostname: "vm-noble".to_owned(),
            machine_id: Some(machine_id.to_owned()),
            uuid: Some("c3e24d56-c0c3-e2e1-4622-554dc5eb6ba1".to_owned()),
            serial: Some("VMware-56 4d e2 c3 c3 c0 e1 e2-46 22 55 4d c5 eb 6b a1".to_owned()),
        }
    }
}

/// A real report from `testdata/reports`, completed with what a live agent reads about `machine`.
pub fn report(file: &str, machine: &Machine) -> Report {
    let path = format!("{}/testdata/reports/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut report: Report = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let host = report.host.get_or_insert_with(Default::default);
    host.hostname = Some(machine.hostname.clone());
    host.machine_id = machine.machine_id.clone();
    report
}

pub fn debian(machine: &Machine) -> Report {
    report("debian12-thinkpad-t480s.json", machine)
}

pub fn ubuntu(machine: &Machine) -> Report {
    report("ubuntu2404-vmware.json", machine)
}

/// An envelope with every section in full.
pub fn full(report: &Report) -> ReportEnvelope {
    delta(report, &SectionName::ALL)
}

/// An envelope sending only `in_full` in full; the other collected sections go as hashes.
pub fn delta(report: &Report, in_full: &[SectionName]) -> ReportEnvelope {
    let hashes = section_hashes(report);
    let mut sent = report.clone();
    let keep = |s: SectionName| in_full.contains(&s);
    if !keep(SectionName::Host) {
        sent.host = None;
    }
    if !keep(SectionName::Hardware) {
        sent.hardware = None;
    }
    if !keep(SectionName::Os) {
        sent.os = None;
    }
    if !keep(SectionName::Software) {
        sent.software = None;
    }
    if !keep(SectionName::Patches) {
        sent.patches = None;
    }
    if !keep(SectionName::Checks) {
        sent.checks = None;
    }
    ReportEnvelope { report_id: muster_collector::tokens::new_id().unwrap(), section_hashes: hashes, report: sent }
}

/// (kind, subject, from, to, details.change) of a host's history, oldest first.
pub async fn history(h: &Harness, token: &str, host_id: &str) -> Vec<(String, String, Value, Value, Value)> {
    let (status, body) = h.get(&format!("/api/v1/hosts/{host_id}/history?limit=1000"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut out: Vec<_> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["subject"].as_str().unwrap().to_owned(),
                e["from"].clone(),
                e["to"].clone(),
                e["details"]["change"].clone(),
            )
        })
        .collect();
    out.reverse();
    out
}

/// The real server on 127.0.0.1:0 over TLS with a freshly made private CA, serving `h.app`.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub ca: muster_collector::tls::CaInfo,
    pub files: muster_collector::tls::TlsFiles,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    pub fn start(h: &Harness) -> TlsServer {
        TlsServer::start_on(h, std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// Serves on a listener bound already (a test that must know the address before it configures the policy).
    pub fn start_on(h: &Harness, listener: std::net::TcpListener) -> TlsServer {
        use muster_collector::tls;
        let dir = tempfile::tempdir().unwrap();
        let files = tls::TlsFiles::new(dir.path());
        let addr = listener.local_addr().unwrap();
        let ca = tls::ensure_managed(&files, &tls::server_names(addr, None), h.now()).unwrap();
        let config = tls::server_config(&files.server_chain(), &files.server_key()).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(muster_collector::server::serve(listener, h.app.clone(), Some(config), async {
            let _ = stopped.await;
        }));
        TlsServer { addr, ca, files, stop, task, _dir: dir }
    }

    /// Stops the server and checks it shut down cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// The real agent's software section of a root under `agent/testdata` (e.g. `lang/debian-12-mixed`).
pub fn agent_software(root_in_agent_testdata: &str) -> muster_shared::v1::Software {
    use muster_agent::inventory::{self, InventoryConfig};
    let root =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../agent/testdata").join(root_in_agent_testdata);
    let config = InventoryConfig {
        root: muster_agent::root::SystemRoot::mounted(&root),
        sections: [SectionName::Software].into_iter().collect(),
        ..InventoryConfig::live()
    };
    inventory::collect(&config, Utc::now()).software.expect("the software section was requested")
}

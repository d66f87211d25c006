//! Command line: parsing (clap) and the commands, which all work on the configured data directory and database.

pub mod disposal;
pub mod findings;
pub mod integrations;
pub mod users;
pub mod vuln;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::app::admin::{self, Actor};
use crate::config::{Overrides, Secret, Settings, TlsMode, parse_duration};
use crate::model::Role;
use crate::store::{self, Store};
use crate::tls::{self, TlsFiles};
use crate::{AppState, ServicePolicy};

#[derive(Debug, Parser)]
#[command(name = "muster-collector", version, about = "Muster collector: enrols agents and stores their inventory")]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "MUSTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the SQLite database and TLS material live (default ./muster-data).
    #[arg(long, global = true, env = "MUSTER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://…` (default: SQLite in the data directory).
    #[arg(long, global = true, env = "MUSTER_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Output of commands that print data: text, or one JSON document on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Log lines as text, or one JSON object per event (for log pipelines).
    #[arg(long, global = true, value_enum, env = "MUSTER_LOG_FORMAT", default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[value(alias = "table")]
    Text,
    Json,
    /// Comma-separated values; lists only (e.g. `findings list`).
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector (HTTPS with its own CA unless told otherwise).
    Serve(ServeArgs),
    /// Secrets agents enrol with.
    #[command(subcommand)]
    EnrollSecret(EnrollSecretCommand),
    /// Enrolments held because they would take over a live host's record: list, approve, reject.
    #[command(subcommand, alias = "enrollment")]
    Enrolment(EnrolmentCommand),
    /// API tokens for people and scripts.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The collector's private CA.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Decommissioning hosts: lifecycle, sanitization evidence, disposal.
    #[command(subcommand)]
    Disposal(crate::cli::disposal::DisposalCommand),
    /// Sanitization certificates: show, export, verify offline.
    #[command(subcommand)]
    Certificate(crate::cli::disposal::CertificateCommand),
    /// Vulnerabilities: `version compare`, offline `scan`, `advisories import`.
    #[command(flatten)]
    Vuln(crate::cli::vuln::VulnCommand),
    /// Findings of the rules and their lifecycle: list, show, acknowledge, accept-risk, reopen.
    #[command(subcommand)]
    Findings(crate::cli::findings::FindingsCommand),
    /// The rule policy: validate or list the built-in and --policy-dir rules.
    #[command(subcommand)]
    Rules(crate::cli::findings::RulesCommand),
    /// Web console users: add (with a one-time password), list, reset-password, set-role, disable.
    #[command(subcommand)]
    User(crate::cli::users::UserCommand),
    /// Push events to other tools: signed webhooks (add, list, test, deliveries, replay, remove).
    #[command(subcommand, alias = "integration")]
    Integrations(crate::cli::integrations::IntegrationsCommand),
    /// Delete audit rows and host history past their retention (audit_retention, history_retention) and software
    /// no host has; `serve` does this daily.
    Prune {
        /// Then give the space back: SQLite `VACUUM` (the file shrinks; the database is held meanwhile, so run it
        /// while the collector is stopped), PostgreSQL `VACUUM ANALYZE`.
        #[arg(long)]
        vacuum: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on (default 127.0.0.1:8443).
    #[arg(long, env = "MUSTER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Your own certificate chain (PEM) instead of the collector's CA.
    #[arg(long, env = "MUSTER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert.
    #[arg(long, env = "MUSTER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP (tokens travel in clear); loopback only unless --i-know.
    #[arg(long)]
    pub insecure_http: bool,
    /// Allow --insecure-http on a non-loopback address.
    #[arg(long, requires = "insecure_http")]
    pub i_know: bool,
    #[command(flatten)]
    pub rules: crate::cli::findings::RulesArgs,
    #[command(flatten)]
    pub schedule: crate::cli::findings::ScheduleArgs,
    #[command(flatten)]
    pub connections: ConnectionArgs,
}

/// What a client without credentials can hold (`server::connections`): defaults sized for a fleet behind NAT on a
/// machine with the usual 65,536 open files.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Connections open at once, all clients together; more are closed at accept.
    #[arg(long, env = "MUSTER_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Connections open at once from one address (agents behind one NAT or proxy share it).
    #[arg(long, env = "MUSTER_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256)]
    pub max_connections_per_address: usize,
    /// Time to complete the TLS handshake, e.g. 10s.
    #[arg(long, env = "MUSTER_TLS_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = crate::config::parse_duration)]
    pub tls_handshake_timeout: std::time::Duration,
    /// Time to send a request's headers, from the connection's start or the previous answer (idle keep-alive
    /// connections close after it), e.g. 15s.
    #[arg(long, env = "MUSTER_HEADER_TIMEOUT", default_value = "15s", value_parser = crate::config::parse_duration)]
    pub header_timeout: std::time::Duration,
    /// Addresses or ranges (10.0.0.0/8) of load balancers that may name the client: by a PROXY protocol header
    /// (v1 or v2, before TLS) or by X-Forwarded-For. Repeat it, or comma-separate the variable. Without it the peer
    /// is the client, and behind a proxy every client shares the proxy's lockouts and connection bound.
    #[arg(long = "trusted-proxy", env = "MUSTER_TRUSTED_PROXIES", value_delimiter = ',',
        value_parser = crate::server::proxy::parse_range)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Agent reports handled at once by this collector (default 4 on SQLite, 16 on PostgreSQL); more are answered
    /// 503 with a time to retry. A host's second report while its first is in flight is answered 429.
    #[arg(long, env = "MUSTER_MAX_REPORTS_IN_FLIGHT")]
    pub max_reports_in_flight: Option<usize>,
    /// Small reports handled at once besides those: a body of at most 16 KiB (an unchanged agent's hash-only report
    /// is under 1 KiB) decoding to at most 256 KiB takes a place of its own, so a fleet's unchanged reports are not
    /// turned away while large ones are stored.
    #[arg(long, env = "MUSTER_MAX_SMALL_REPORTS_IN_FLIGHT", default_value_t = crate::app::gate::DEFAULT_SMALL_MAX)]
    pub max_small_reports_in_flight: usize,
}

impl ConnectionArgs {
    pub fn limits(&self) -> crate::server::ConnectionLimits {
        crate::server::ConnectionLimits {
            max_connections: self.max_connections.max(1),
            max_per_address: self.max_connections_per_address.max(1),
            tls_handshake: self.tls_handshake_timeout,
            header_read: self.header_timeout,
            trusted_proxies: crate::server::proxy::TrustedProxies::new(self.trusted_proxies.clone()),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum EnrollSecretCommand {
    /// Create a secret; it is printed once.
    Create {
        #[arg(long)]
        label: String,
        /// e.g. 30d, 12h; no expiry when absent.
        #[arg(long)]
        expires_in: Option<String>,
    },
    List,
    Revoke {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnrolmentCommand {
    /// Held enrolments, newest first (pending only unless --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Hand the host's record to the waiting agent; the record's current agent stops working.
    Approve { id: String },
    /// Refuse it: its token never works; the host's agent goes on as before.
    Reject { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; it is printed once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: Role,
    },
    List,
    Revoke {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// The CA certificate path and its SHA-256 fingerprint (what agents pin).
    Show,
}

impl Cli {
    fn settings(&self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
            None => None,
        };
        let mut overrides = Overrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone().map(Secret::new),
            ..Overrides::default()
        };
        if let Command::Serve(serve) = &self.command {
            overrides.listen = serve.listen;
            overrides.tls_cert = serve.tls_cert.clone();
            overrides.tls_key = serve.tls_key.clone();
            overrides.insecure_http = serve.insecure_http;
            overrides.i_know = serve.i_know;
        }
        let env = |name: &str| std::env::var(name).ok();
        Ok(Settings::resolve(file.as_deref(), &env, &overrides)?)
    }
}

/// Prints `value` as one JSON document, or `text` lines, on stdout. Lists that offer CSV print it before calling this.
pub(crate) fn emit<T: Serialize>(format: Format, value: &T, text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, value)?;
            writeln!(out)?;
        }
        Format::Text => write!(out, "{text}")?,
        Format::Csv => anyhow::bail!("--format csv is for lists such as `findings list`; use text or json here"),
    }
    Ok(())
}

/// A database URL fit for logs: the scheme and host or file, never credentials.
fn describe_database(url: &Secret) -> String {
    let url = url.expose();
    if let Some(path) = url.strip_prefix("sqlite://") {
        return format!("SQLite {}", path.split('?').next().unwrap_or(path));
    }
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or("");
    let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    format!("PostgreSQL {}", host.split('?').next().unwrap_or(host))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings()?;
    crate::install_crypto_provider();
    // Every database a command opened, so its write-ahead log is folded into the file once the command is done.
    let opened = tokio::sync::Mutex::new(Vec::<Arc<dyn Store>>::new());
    let (url, record) = (&settings.database_url, &opened);
    let open = move || async move {
        let store = store::open(url).await.with_context(|| format!("opening {}", describe_database(url)))?;
        record.lock().await.push(store.clone());
        Ok::<_, anyhow::Error>(store)
    };
    let result = run_command(&cli, &settings, open).await;
    // SQLite's write-ahead log, folded whether the command succeeded or not: a backup that copies only the database
    // file after a command (a migration at its first open, `prune`, a user added) then holds what it wrote. Only
    // when no other connection uses the log: beside a running `serve` it is left to `serve`.
    for store in opened.into_inner() {
        store.fold_log_if_idle().await;
    }
    result
}

async fn run_command<F, Fut>(cli: &Cli, settings: &Settings, open: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Arc<dyn Store>>>,
{
    match &cli.command {
        Command::Serve(args) => serve(settings.clone(), cli.format, args).await,
        Command::Findings(cmd) => crate::cli::findings::run_findings(cmd, open().await?.as_ref(), cli.format).await,
        Command::Rules(cmd) => crate::cli::findings::run_rules(cmd, cli.format),
        Command::EnrollSecret(cmd) => enroll_secret(cmd, open().await?.as_ref(), cli.format).await,
        Command::Token(cmd) => token(cmd, open().await?.as_ref(), cli.format).await,
        Command::Enrolment(cmd) => enrolment(cmd, open().await?.as_ref(), cli.format).await,
        Command::User(cmd) => crate::cli::users::run(cmd, open().await?.as_ref(), cli.format).await,
        Command::Integrations(cmd) => {
            // What `serve` links to with its default settings; a test message sent from here shows the same.
            let console = crate::config::console_url(
                settings.public_url.as_deref(),
                settings.listen,
                !matches!(settings.tls, TlsMode::InsecureHttp),
                crate::local_hostname().as_deref(),
            );
            crate::cli::integrations::run(cmd, open().await?.as_ref(), cli.format, &console).await
        }
        Command::Prune { vacuum } => prune(open().await?.as_ref(), &settings.retention, *vacuum, cli.format).await,
        Command::Disposal(cmd) => crate::cli::disposal::run_disposal(cmd, open().await?.as_ref(), cli.format).await,
        Command::Certificate(cmd) => {
            // Verifying must never create a database (and a new key) where there is none.
            let sqlite = settings
                .database_url
                .expose()
                .strip_prefix("sqlite://")
                .map(|p| std::path::PathBuf::from(p.split('?').next().unwrap_or(p)));
            crate::cli::disposal::run_certificate(cmd, open, cli.format, sqlite.as_deref()).await
        }
        Command::Vuln(cmd) => crate::cli::vuln::run(cmd, open, cli.format, &settings.data_dir).await,
        Command::Ca(CaCommand::Show) => {
            let files = TlsFiles::new(&settings.data_dir);
            let info = tls::ca_info(&files).context("no CA yet: run `muster-collector serve` once to create it")?;
            let text = format!(
                "CA certificate: {}\nSHA-256 fingerprint: {}\n",
                info.ca_cert_path.display(),
                info.sha256_fingerprint
            );
            emit(cli.format, &info, &text)
        }
    }
}

#[derive(Serialize)]
struct Started<'a> {
    listen: SocketAddr,
    url: String,
    database: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca: Option<&'a tls::CaInfo>,
}

async fn serve(settings: Settings, format: Format, args: &ServeArgs) -> anyhow::Result<()> {
    let rules = Arc::new(args.rules.load()?);
    let database = describe_database(&settings.database_url);
    let store = store::open(&settings.database_url).await.with_context(|| format!("opening {database}"))?;
    tracing::info!(%database, "database ready");
    let (tls_config, ca) = match &settings.tls {
        TlsMode::Managed => {
            let files = TlsFiles::new(&settings.data_dir);
            let names = tls::server_names(settings.listen, crate::local_hostname().as_deref());
            let ca = tls::ensure_managed(&files, &names, Utc::now()).context("preparing the collector's CA")?;
            (Some(tls::server_config(&files.server_chain(), &files.server_key())?), Some(ca))
        }
        TlsMode::Files { cert, key } => (Some(tls::server_config(cert, key)?), None),
        TlsMode::InsecureHttp => {
            tracing::warn!("serving plain HTTP: tokens and inventories travel unencrypted");
            (None, None)
        }
    };
    let listener =
        std::net::TcpListener::bind(settings.listen).with_context(|| format!("listening on {}", settings.listen))?;
    let listen = listener.local_addr()?;
    let scheme = if tls_config.is_some() { "https" } else { "http" };
    let started = Started { listen, url: format!("{scheme}://{listen}"), database, ca: ca.as_ref() };
    let mut text = format!("Muster collector listening on {}\n", started.url);
    if let Some(ca) = &ca {
        text.push_str(&format!(
            "CA certificate: {}\nCA SHA-256 fingerprint: {}\n",
            ca.ca_cert_path.display(),
            ca.sha256_fingerprint
        ));
    }
    // From here a SIGTERM is kept until the server listens, and ends it cleanly; before, during a start-up that may
    // wait (a migration lock, a busy database), it ends the process as by default.
    let shutdown = crate::server::shutdown_signal();
    emit(format, &started, &text)?;
    tracing::info!(url = %started.url, "collector started");

    let postgres = !settings.database_url.expose().starts_with("sqlite:");
    let ingest = crate::app::gate::IngestGate::with_small_lane(
        args.connections.max_reports_in_flight.unwrap_or(crate::app::gate::IngestGate::default_max(postgres)),
        args.connections.max_small_reports_in_flight,
    );
    tracing::info!(
        max_reports_in_flight = ingest.max(),
        max_small_reports_in_flight = ingest.small_max(),
        "ingest bound"
    );
    let sso = match settings.sso.clone() {
        Some(s) => {
            tracing::info!(issuer = %s.issuer, redirect_uri = %s.redirect_uri, "single sign-on to the console");
            Some(Arc::new(crate::app::sso::Provider::new(s).context("preparing single sign-on")?))
        }
        None => None,
    };
    let state = AppState {
        ingest,
        store: Arc::clone(&store),
        policy: Arc::new(ServicePolicy {
            limits: settings.limits.clone(),
            enrolment: settings.enrolment.clone(),
            report_id_retention: settings.report_id_retention,
            console: crate::console::ConsolePolicy {
                tls: tls_config.is_some(),
                ca_fingerprint: ca.as_ref().map(|ca| ca.sha256_fingerprint.clone()),
                sso: sso.clone(),
                local_sign_in: settings.local_sign_in,
                ..crate::console::ConsolePolicy::default()
            },
        }),
        clock: crate::system_clock(),
        rules,
        work: crate::app::queue::WorkQueue::new(crate::app::queue::Mode::Background),
    };
    // End-of-life data an advisory update or import stored replaces the built-in data (not an --eol-file).
    if let Err(e) = crate::app::evaluation::reload_rules(&state).await {
        tracing::warn!(error = %e, "the stored end-of-life data is not used; the policy loaded at start stays");
    }
    crate::app::queue::publish_backlog(&state).await;
    let console = crate::config::console_url(
        settings.public_url.as_deref(),
        listen,
        tls_config.is_some(),
        crate::local_hostname().as_deref(),
    );
    tracing::info!(%console, "links in chat messages lead to the console here (set MUSTER_PUBLIC_URL to change)");
    let sender =
        crate::app::integrations::Sender::new(Some(console)).context("preparing the integrations' HTTP client")?;
    let advisory_updates = if args.schedule.advisory_sources.is_empty() {
        None
    } else {
        use crate::app::advisory_update::{Fetcher, Source};
        let sources = args.schedule.advisory_sources.iter().map(|s| Source::parse(s)).collect::<Result<Vec<_>, _>>()?;
        Some((sources, Fetcher::new(args.schedule.advisory_ca_file.as_deref())?))
    };
    // Nothing fails from here to the stop, which ends the background work before the log is folded.
    let background = crate::app::background::Background::new();
    crate::app::evaluation::spawn(&background, state.clone(), args.schedule.evaluation_interval);
    crate::app::retention::spawn(&background, state.clone(), settings.retention);
    crate::app::statistics::spawn(&background, state.clone());
    crate::app::queue::spawn(&background, state.clone(), args.schedule.evaluation_workers);
    crate::app::integrations::spawn(&background, Arc::clone(&store), state.clock.clone(), sender);
    if let Some((sources, fetcher)) = advisory_updates {
        crate::app::advisory_update::spawn(
            &background,
            state.clone(),
            fetcher,
            sources,
            settings.data_dir.join("advisories"),
            args.schedule.advisory_update_interval,
        );
    }
    let limits = args.connections.limits();
    tracing::info!(
        max_connections = limits.max_connections,
        max_per_address = limits.max_per_address,
        tls_handshake_s = limits.tls_handshake.as_secs_f64(),
        header_timeout_s = limits.header_read.as_secs_f64(),
        trusted_proxies = %limits.trusted_proxies.ranges().iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        "connection limits"
    );
    let served = crate::server::serve_with(listener, crate::app(state), tls_config, limits, shutdown).await;
    // Requests are done; the background work ends next, so nothing writes after SQLite's log is folded into its
    // file and a copy of the file alone is complete.
    let stopped = background.stop(crate::app::background::STOP_LIMIT).await;
    tracing::info!(ended = stopped.ended, cancelled = stopped.cancelled, "background work stopped");
    store.fold_log().await;
    served?;
    tracing::info!("collector stopped");
    Ok(())
}

async fn prune(
    store: &dyn Store,
    retention: &crate::app::retention::Retention,
    vacuum: bool,
    format: Format,
) -> anyhow::Result<()> {
    let pruned = crate::app::retention::prune(store, retention, Utc::now(), &|| true).await?;
    if vacuum {
        eprintln!("vacuuming the database…");
        store.vacuum().await.context("vacuum")?;
    }
    let text = format!(
        "deleted {} audit rows, {} history entries, {} unused software versions, {} delivered integration events{}\n",
        pruned.audit,
        pruned.history,
        pruned.software,
        pruned.events,
        if vacuum { "; database vacuumed" } else { "" }
    );
    emit(format, &pruned, &text)
}

async fn enroll_secret(cmd: &EnrollSecretCommand, store: &dyn Store, format: Format) -> anyhow::Result<()> {
    let now = Utc::now();
    match cmd {
        EnrollSecretCommand::Create { label, expires_in } => {
            let expires_in = expires_in.as_deref().map(parse_duration).transpose().map_err(anyhow::Error::msg)?;
            let (info, secret) = admin::create_enroll_secret(store, &Actor::cli(), label, expires_in, now).await?;
            let expiry = info.expires_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "never".to_owned());
            let text = format!("{}\n", secret.expose());
            eprintln!("enrolment secret {} ({label}) created, expires {expiry}; shown only now:", info.id);
            #[derive(Serialize)]
            struct Created<'a> {
                #[serde(flatten)]
                info: &'a crate::views::EnrollSecretInfo,
                secret: &'a str,
            }
            emit(format, &Created { info: &info, secret: secret.expose() }, &text)
        }
        EnrollSecretCommand::List => {
            let list = store.list_enroll_secrets().await?;
            let mut text = String::new();
            for s in &list {
                let state = match (s.revoked_at, s.expires_at) {
                    (Some(_), _) => "revoked".to_owned(),
                    (None, Some(at)) if at <= now => "expired".to_owned(),
                    (None, Some(at)) => format!("valid until {}", at.to_rfc3339()),
                    (None, None) => "valid".to_owned(),
                };
                text.push_str(&format!("{}  {}  uses={}  {state}\n", s.id, s.label, s.uses));
            }
            emit(format, &list, &text)
        }
        EnrollSecretCommand::Revoke { id } => {
            anyhow::ensure!(
                admin::revoke_enroll_secret(store, &Actor::cli(), id, now).await?,
                "no active enrolment secret with id {id}"
            );
            eprintln!("enrolment secret {id} revoked");
            emit(format, &serde_json::json!({ "id": id, "revoked": true }), "")
        }
    }
}

async fn enrolment(cmd: &EnrolmentCommand, store: &dyn Store, format: Format) -> anyhow::Result<()> {
    use crate::app::enrol::{Verdict, decide_held};
    let now = Utc::now();
    let (id, verdict) = match cmd {
        EnrolmentCommand::List { all } => {
            let list = store.list_enrolment_requests(*all, 1000).await?;
            let mut text = String::new();
            if list.is_empty() {
                text.push_str(if *all { "no held enrolments\n" } else { "no enrolment waits for approval\n" });
            }
            for r in &list {
                text.push_str(&format!(
                    "{}  {}  host {} ({}, last seen {})  claims hostname {}  machine-id {}  from {}  at {}\n",
                    r.id,
                    r.state,
                    r.host_id,
                    r.host_hostname,
                    r.host_last_seen.to_rfc3339(),
                    r.hostname,
                    r.machine_id.as_deref().unwrap_or("-"),
                    r.source_ip.as_deref().unwrap_or("-"),
                    r.requested_at.to_rfc3339(),
                ));
            }
            return emit(format, &list, &text);
        }
        EnrolmentCommand::Approve { id } => (id, Verdict::Approve),
        EnrolmentCommand::Reject { id } => (id, Verdict::Reject),
    };
    let held = decide_held(store, &Actor::cli(), id, verdict, now).await?;
    let state = if verdict == Verdict::Approve { "approved" } else { "rejected" };
    eprintln!("enrolment {id} {state}: host {} ({})", held.host_id, held.hostname);
    emit(format, &serde_json::json!({ "id": id, "host_id": held.host_id, "state": state }), "")
}

async fn token(cmd: &TokenCommand, store: &dyn Store, format: Format) -> anyhow::Result<()> {
    let now = Utc::now();
    match cmd {
        TokenCommand::Create { name, role } => {
            let (info, token) = admin::create_api_token(store, &Actor::cli(), name, *role, now).await?;
            eprintln!("API token {} ({name}, {}) created; shown only now:", info.id, role.as_str());
            #[derive(Serialize)]
            struct Created<'a> {
                #[serde(flatten)]
                info: &'a crate::views::ApiTokenInfo,
                token: &'a str,
            }
            emit(format, &Created { info: &info, token: token.expose() }, &format!("{}\n", token.expose()))
        }
        TokenCommand::List => {
            let list = store.list_api_tokens().await?;
            let mut text = String::new();
            for t in &list {
                let state = if t.revoked_at.is_some() { "revoked" } else { "active" };
                text.push_str(&format!("{}  {}  {}  {state}\n", t.id, t.name, t.role.as_str()));
            }
            emit(format, &list, &text)
        }
        TokenCommand::Revoke { id } => {
            anyhow::ensure!(
                admin::revoke_api_token(store, &Actor::cli(), id, now).await?,
                "no active API token with id {id}"
            );
            eprintln!("API token {id} revoked");
            emit(format, &serde_json::json!({ "id": id, "revoked": true }), "")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_descriptions_hide_credentials() {
        assert_eq!(
            describe_database(&Secret::new("postgres://muster:hunter2@db:5432/muster?sslmode=require")),
            "PostgreSQL db:5432/muster"
        );
        assert_eq!(
            describe_database(&Secret::new("sqlite://./muster-data/muster.db")),
            "SQLite ./muster-data/muster.db"
        );
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "muster-collector",
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "viewer",
            "--format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.format, Format::Json);
        assert!(Cli::try_parse_from(["muster-collector", "serve", "--i-know"]).is_err());
    }
}

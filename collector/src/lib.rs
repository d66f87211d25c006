//! Muster collector library: configuration, storage, ingest logic and the HTTP API; `main.rs` only boots it.
//!
//! Tests build an [`AppState`] over a fresh store and drive [`app`] in-process or on port 0.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod disposal;
pub mod error;
pub mod export;
pub mod findings;
pub mod identity;
pub mod ingest;
pub mod integrations;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod rules;
pub mod server;
pub mod sso;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod views;
pub mod vuln;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::{DateTime, Utc};

use crate::config::{EnrolmentPolicy, Limits};
use crate::store::Store;

/// Where request handlers get the time; tests substitute a controllable clock.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// This machine's host name (the TLS certificate's names, syslog's HOSTNAME); `None` when neither file names it.
pub fn local_hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// The policy part of the settings that request handling needs.
#[derive(Debug, Clone)]
pub struct ServicePolicy {
    pub limits: Limits,
    pub enrolment: EnrolmentPolicy,
    /// Report ids are remembered this long to answer retries with `duplicate`.
    pub report_id_retention: Duration,
    pub console: console::ConsolePolicy,
}

impl Default for ServicePolicy {
    fn default() -> ServicePolicy {
        ServicePolicy {
            limits: Limits::default(),
            enrolment: EnrolmentPolicy::default(),
            report_id_retention: Duration::from_secs(30 * 86_400),
            console: console::ConsolePolicy::default(),
        }
    }
}

/// Shared by every request. Holds no host state: everything lives in the store, so replicas can share a database.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub policy: Arc<ServicePolicy>,
    pub clock: Clock,
    /// The rule set in force; replaced as a whole on reload, never host state.
    pub rules: Arc<rules::Rules>,
    /// Reports in flight in this process (`app::gate`): one per host, a bounded number in all.
    pub ingest: Arc<app::gate::IngestGate>,
    /// Where the work a stored report leaves (evaluation, matching) runs (`app::queue`).
    pub work: Arc<app::queue::WorkQueue>,
}

/// The whole HTTP API.
pub fn app(state: AppState) -> Router {
    api::router(state)
}

/// Selects ring as rustls' process-wide provider (for sqlx's PostgreSQL TLS); harmless when already set.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

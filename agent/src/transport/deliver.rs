//! One delivery cycle: merge the new report into the spool, send the delta, resend what the collector asks for,
//! and record what it acknowledged.
//!
//! The pending report is written to the spool *before* it is sent, so a crash, a signal or a network failure at any
//! point leaves it on disk; it leaves the spool only once acknowledged. Acknowledged hashes and the spool are updated
//! together with no `.await` between them, so cancelling a delivery (shutdown) can never leave one without the other.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use muster_shared::v1::{ApiError, Report, ReportStatus, SectionName};
use rand::RngCore;
use serde::Serialize;

use super::client::{ClientError, CollectorClient, SendOutcome};
use super::delta::{build_envelope, sections_in_full};
use super::fingerprint::Fingerprint;
use super::spool::{PendingReport, Spool, SpoolError, merge};
use super::state::{Enrolment, StateDir, StateError, StateLock};
use super::tls::{self, TlsError};

/// How many `needs_full` answers one delivery follows before giving up until the next attempt.
const MAX_RESENDS: usize = 2;

/// An enrolled agent, ready to deliver reports.
#[derive(Debug)]
pub struct Agent {
    state: StateDir,
    enrolment: Enrolment,
    client: CollectorClient,
    spool: Spool,
}

/// The result of one delivery cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Delivery {
    /// Nothing new and nothing spooled.
    NothingToSend,
    /// The collector stored the report (or had stored it already).
    Delivered {
        report_id: String,
        status: ReportStatus,
        /// Sections sent in full in the last, accepted, request (the others went as hashes).
        sections_in_full: Vec<SectionName>,
        /// Compressed size of the last, accepted, request.
        wire_bytes: u64,
        /// Requests made, including resends asked for with `needs_full`.
        requests: usize,
    },
    /// Not delivered now; kept in the spool for a later attempt (unless `spooled` is false, see the warnings).
    Deferred {
        report_id: String,
        reason: String,
        /// The collector's raw `Retry-After` header, if it sent one.
        retry_after: Option<String>,
        spooled: bool,
    },
    /// The collector refused the host token: the agent must be enrolled again.
    TokenRejected { status: u16, error: Option<ApiError> },
    /// The collector refused this report for good (e.g. over a limit); it was dropped from the spool.
    Refused { report_id: String, status: u16, error: Option<ApiError>, body: String },
}

/// A delivery and the problems met on the way that did not stop it (a damaged spool, an oversized report).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryResult {
    pub delivery: Delivery,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the stored CA certificate: {0}")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

impl Agent {
    /// Opens an enrolled state directory and prepares a client trusting only the stored CA.
    pub fn load(state_dir: &Path, spool_cap: u64) -> Result<Agent, AgentError> {
        let state = StateDir::open(state_dir)?;
        let enrolment = state.load_enrolment()?;
        let cas = tls::parse_ca_pem(enrolment.ca_pem.as_bytes())?;
        let client = CollectorClient::new(&enrolment.collector_url, tls::client_config_for_cas(&cas)?)?;
        let spool = Spool::new(state.path(), spool_cap);
        Ok(Agent { state, enrolment, client, spool })
    }

    pub fn enrolment(&self) -> &Enrolment {
        &self.enrolment
    }

    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// The fingerprint of the CA this agent trusts (for messages that tell how to enrol again).
    pub fn ca_fingerprint(&self) -> Option<Fingerprint> {
        let cas = tls::parse_ca_pem(self.enrolment.ca_pem.as_bytes()).ok()?;
        cas.first().map(|ca| Fingerprint::of_der(ca))
    }

    /// Waits (up to `patience`) for the state directory's lock, held by a concurrent `run` or `report-now`.
    pub async fn lock(&self, patience: Duration) -> Result<StateLock, AgentError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match self.state.try_lock() {
                Err(StateError::Busy(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Delivers `report` (merged with whatever is spooled) or, with `None`, retries the spooled report.
    ///
    /// The caller holds [`Agent::lock`]. `rng` draws the new report id.
    pub async fn deliver(
        &self,
        report: Option<Report>,
        rng: &mut (dyn RngCore + Send),
    ) -> Result<DeliveryResult, AgentError> {
        let mut warnings = Vec::new();
        let spooled = match self.spool.load() {
            Ok(spooled) => spooled,
            Err(err @ SpoolError::Corrupt { .. }) => {
                warnings.push(err.to_string());
                None
            }
            Err(err) => return Err(err.into()),
        };
        let pending = match (spooled, report) {
            (None, None) => return Ok(DeliveryResult { delivery: Delivery::NothingToSend, warnings }),
            (Some(spooled), None) => spooled,
            (None, Some(report)) => PendingReport { report_id: new_report_id(rng), report },
            (Some(spooled), Some(report)) => merge(&spooled, PendingReport { report_id: new_report_id(rng), report }),
        };
        // A report that cannot be spooled (too large, disk full) is still worth sending now.
        let spooled = match self.spool.store(&pending) {
            Ok(_) => true,
            Err(err) => {
                warnings.push(err.to_string());
                false
            }
        };

        let mut acked = self.state.load_acked()?;
        let mut force_full = BTreeSet::new();
        let mut requests = 0;
        loop {
            let envelope = build_envelope(&pending.report_id, &pending.report, &acked, &force_full);
            let sent = self.client.send_report(&self.enrolment.host_id, &self.enrolment.token, &envelope).await?;
            requests += 1;
            let report_id = pending.report_id.clone();
            let delivery = match sent.outcome {
                SendOutcome::Acknowledged(status) => {
                    acked = envelope.section_hashes.clone();
                    self.state.save_acked(&acked)?;
                    self.spool.clear()?;
                    Delivery::Delivered {
                        report_id,
                        status,
                        sections_in_full: sections_in_full(&envelope),
                        wire_bytes: sent.wire_bytes,
                        requests,
                    }
                }
                SendOutcome::NeedsSections(needed) => {
                    let fresh: Vec<SectionName> = needed
                        .into_iter()
                        .filter(|name| envelope.section_hashes.contains_key(name) && !force_full.contains(name))
                        .collect();
                    if !fresh.is_empty() && requests <= MAX_RESENDS {
                        // The collector's copy of these differs from what we believed acknowledged.
                        for name in &fresh {
                            acked.remove(name);
                        }
                        force_full.extend(fresh);
                        continue;
                    }
                    Delivery::Deferred {
                        report_id,
                        reason: "the collector kept asking for sections already sent in full".to_string(),
                        retry_after: None,
                        spooled,
                    }
                }
                SendOutcome::Retry { reason, retry_after } => {
                    Delivery::Deferred { report_id, reason, retry_after, spooled }
                }
                SendOutcome::TokenRejected { status, error } => Delivery::TokenRejected { status, error },
                SendOutcome::Refused { status, error, body } => {
                    self.spool.clear()?;
                    Delivery::Refused { report_id, status, error, body }
                }
            };
            return Ok(DeliveryResult { delivery, warnings });
        }
    }
}

/// 128 random bits, hex: unique per report, reused by every retry of it.
pub fn new_report_id(rng: &mut dyn RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The message logged when the collector refuses the host token: what happened and the command that fixes it.
pub fn reenrol_instruction(
    status: u16,
    error: Option<&ApiError>,
    collector: &str,
    ca: Option<Fingerprint>,
    state_dir: &Path,
) -> String {
    let why = match error {
        Some(e) if e.error == "token_revoked" => "the host token was revoked by an administrator".to_string(),
        Some(e) if e.error == "token_replaced" => "the host token was replaced by a new enrolment of this host \
             (this machine enrolled again, or another machine took its record over with an administrator's \
             approval; if neither should have happened, tell the collector's administrator)"
            .to_string(),
        Some(e) if e.error == "enrolment_rejected" => {
            "an administrator rejected this machine's enrolment (or a newer enrolment replaced it)".to_string()
        }
        Some(e) => format!("the collector refused the host token: {} ({})", e.message, e.error),
        None => format!("the collector refused the host token (HTTP {status})"),
    };
    if error.is_some_and(|e| e.error == "host_retired") {
        // Enrolling again is refused for a host that left service: nothing to run but the uninstall.
        return "this host left service on the collector (sanitized or disposed of); this agent will not report \
                again: uninstall it (apt purge muster-agent, or remove its state directory)"
            .to_string();
    }
    let state_dir_arg = if state_dir == Path::new(super::state::DEFAULT_STATE_DIR) {
        String::new()
    } else {
        format!(" --state-dir {}", state_dir.display())
    };
    format!(
        "{why}; this agent will not report again until it is enrolled again: \
         muster-agent enroll --collector {collector} --secret SECRET --ca-fingerprint {ca}{state_dir_arg} \
         (a new enrolment secret comes from `muster-collector enroll-secret create`)",
        ca = ca.map_or_else(|| "FINGERPRINT".to_string(), |f| f.to_hex())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn report_ids_are_random_hex() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = new_report_id(&mut rng);
        let b = new_report_id(&mut rng);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn reenrolment_instruction_names_the_command() {
        let revoked = ApiError { error: "token_revoked".to_string(), message: "revoked".to_string(), limit: None };
        let ca = Fingerprint::of_der(b"test");
        let text = reenrol_instruction(401, Some(&revoked), "https://c:8443", Some(ca), Path::new("/srv/agent"));
        assert!(text.starts_with("the host token was revoked"), "{text}");
        assert!(
            text.contains("muster-agent enroll --collector https://c:8443 --secret SECRET --ca-fingerprint 9f86d0"),
            "{text}"
        );
        assert!(text.contains("--state-dir /srv/agent"), "{text}");
        let default = reenrol_instruction(401, None, "https://c:8443", None, Path::new("/var/lib/muster-agent"));
        assert!(default.contains("(HTTP 401)") && !default.contains("--state-dir"), "{default}");
        assert!(default.contains("--ca-fingerprint FINGERPRINT"), "{default}");
        // The collector's codes since issue 15: a take-over is not an administrator's revocation.
        let replaced = ApiError { error: "token_replaced".to_string(), message: "m".to_string(), limit: None };
        let text = reenrol_instruction(401, Some(&replaced), "https://c:8443", None, Path::new("/srv/agent"));
        assert!(text.starts_with("the host token was replaced by a new enrolment"), "{text}");
        assert!(!text.contains("revoked by an administrator"), "{text}");
        let retired = ApiError { error: "host_retired".to_string(), message: "m".to_string(), limit: None };
        let text = reenrol_instruction(401, Some(&retired), "https://c:8443", None, Path::new("/srv/agent"));
        assert!(text.contains("left service") && !text.contains("muster-agent enroll"), "{text}");
    }
}

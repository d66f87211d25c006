//! `muster-agent run`: report on start and every interval (±10%), retry undelivered reports with backoff, and stop
//! cleanly on a shutdown signal.
//!
//! One task, no threads: a wake-up time, a sleep, and a `select!` with the shutdown signal. While a retry is
//! scheduled nothing is sent before it (so a collector's `Retry-After` holds even across a report interval); a report
//! that falls due meanwhile is collected at the retry and merged into the spooled one.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use muster_shared::v1::Report;
use rand::{Rng, RngCore};
use tokio::time::Instant;

use super::backoff::{BackoffPolicy, jittered_interval, parse_retry_after, retry_delay};
use super::deliver::{Agent, AgentError, Delivery, DeliveryResult, reenrol_instruction};

/// How `run` paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunConfig {
    /// Time between reports, before ±10% jitter.
    pub interval: Duration,
    pub backoff: BackoffPolicy,
    /// How long to wait for a concurrent `report-now` to release the state directory.
    pub lock_patience: Duration,
    /// On shutdown, how long an in-flight request may still take before it is abandoned (it is spooled already).
    pub shutdown_grace: Duration,
}

impl RunConfig {
    pub fn new(interval: Duration) -> RunConfig {
        RunConfig {
            interval,
            backoff: BackoffPolicy::DEFAULT,
            lock_patience: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Why `run` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunExit {
    /// The shutdown signal arrived.
    Shutdown,
    /// The collector refused the host token; the message says how to enrol again.
    TokenRejected(String),
}

/// The report loop. `collect` produces a fresh full report; `shutdown` completes on SIGTERM/SIGINT; `log` receives
/// one line per event (the binary writes them to stderr, where journald picks them up).
pub async fn run(
    agent: &Agent,
    config: &RunConfig,
    mut collect: impl FnMut() -> Report,
    shutdown: impl Future<Output = ()>,
    rng: &mut (dyn RngCore + Send),
    log: &mut dyn FnMut(&str),
) -> RunExit {
    tokio::pin!(shutdown);
    let mut next_report = Instant::now();
    let mut retry_at: Option<Instant> = None;
    let mut attempt: u32 = 0;
    loop {
        let wake = retry_at.unwrap_or(next_report);
        tokio::select! {
            () = &mut shutdown => return RunExit::Shutdown,
            () = tokio::time::sleep_until(wake) => {}
        }
        let report = if Instant::now() >= next_report {
            next_report = Instant::now() + jittered_interval(config.interval, rng.random());
            Some(collect())
        } else {
            None
        };

        let lock = tokio::select! {
            () = &mut shutdown => return RunExit::Shutdown,
            lock = agent.lock(config.lock_patience) => lock,
        };
        let (result, stopping) = match lock {
            Err(err) => (Err(err), false),
            Ok(_lock) => {
                let delivery = agent.deliver(report, rng);
                tokio::pin!(delivery);
                tokio::select! {
                    result = &mut delivery => (result, false),
                    () = &mut shutdown => {
                        // The report is in the spool already; give the request a moment to finish, no more.
                        match tokio::time::timeout(config.shutdown_grace, delivery).await {
                            Ok(result) => (result, true),
                            Err(_) => {
                                log("shutting down: the report in flight stays in the spool for the next start");
                                return RunExit::Shutdown;
                            }
                        }
                    }
                }
            }
        };

        match handle(agent, result, log) {
            Next::Continue => {
                attempt = 0;
                retry_at = None;
            }
            Next::Retry(retry_after) => {
                attempt = attempt.saturating_add(1);
                let delay = retry_delay(&config.backoff, attempt, retry_after, rng.random());
                log(&format!("next attempt in {}", pretty(delay)));
                retry_at = Some(Instant::now() + delay);
            }
            Next::Stop(message) => return RunExit::TokenRejected(message),
        }
        if stopping {
            return RunExit::Shutdown;
        }
    }
}

enum Next {
    Continue,
    /// Retry, after the collector's `Retry-After` if it gave one.
    Retry(Option<Duration>),
    Stop(String),
}

fn handle(agent: &Agent, result: Result<DeliveryResult, AgentError>, log: &mut dyn FnMut(&str)) -> Next {
    let result = match result {
        Ok(result) => result,
        Err(err) => {
            log(&format!("report not delivered: {err}"));
            return Next::Retry(None);
        }
    };
    for warning in &result.warnings {
        log(&format!("warning: {warning}"));
    }
    match result.delivery {
        Delivery::NothingToSend => Next::Continue,
        Delivery::Delivered { report_id, status, sections_in_full, wire_bytes, .. } => {
            let sections: Vec<&str> = sections_in_full.iter().map(|s| s.as_str()).collect();
            log(&format!(
                "report {report_id} delivered ({status:?}, {wire_bytes} bytes, in full: {})",
                if sections.is_empty() { "none".to_string() } else { sections.join(",") }
            ));
            Next::Continue
        }
        Delivery::Deferred { report_id, reason, retry_after, spooled } => {
            let kept = if spooled { "kept in the spool" } else { "it could not be spooled" };
            log(&format!("report {report_id} not delivered ({kept}): {reason}"));
            Next::Retry(retry_after.and_then(|value| parse_retry_after(&value, Utc::now())))
        }
        Delivery::TokenRejected { status, error } => Next::Stop(reenrol_instruction(
            status,
            error.as_ref(),
            &agent.enrolment().collector_url,
            agent.ca_fingerprint(),
            agent.state().path(),
        )),
        Delivery::Refused { report_id, status, error, body } => {
            let detail = error.map(|e| format!("{} ({})", e.message, e.error)).unwrap_or(body);
            log(&format!("report {report_id} refused by the collector (HTTP {status}): {detail}; it was dropped"));
            Next::Continue
        }
    }
}

/// A delay for people: whole milliseconds (`7s 312ms`), not nanoseconds.
fn pretty(delay: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_millis(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)))
}

/// How persistent `report-now` is: it retries a deferred report only while the wait stays short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportNowConfig {
    pub backoff: BackoffPolicy,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// A retry that would wait longer than this is left to `run` (the report stays spooled).
    pub max_wait: Duration,
    pub lock_patience: Duration,
}

impl ReportNowConfig {
    pub const DEFAULT: ReportNowConfig = ReportNowConfig {
        backoff: BackoffPolicy::DEFAULT,
        max_attempts: 3,
        max_wait: Duration::from_secs(30),
        lock_patience: Duration::from_secs(300),
    };
}

/// `muster-agent report-now`: delivers `report` (merged with the spool), retrying briefly when the collector is
/// busy (`429`/`503` with a short `Retry-After`) or momentarily unreachable.
pub async fn report_now(
    agent: &Agent,
    config: &ReportNowConfig,
    report: Report,
    rng: &mut (dyn RngCore + Send),
    log: &mut dyn FnMut(&str),
) -> Result<DeliveryResult, AgentError> {
    let _lock = agent.lock(config.lock_patience).await?;
    let mut result = agent.deliver(Some(report), rng).await?;
    let mut warnings = std::mem::take(&mut result.warnings);
    for attempt in 1..config.max_attempts {
        let Delivery::Deferred { reason, retry_after, .. } = &result.delivery else { break };
        let retry_after = retry_after.as_deref().and_then(|value| parse_retry_after(value, Utc::now()));
        let delay = retry_delay(&config.backoff, attempt, retry_after, rng.random());
        if delay > config.max_wait {
            break;
        }
        log(&format!("not delivered ({reason}); retrying in {}", pretty(delay)));
        tokio::time::sleep(delay).await;
        result = agent.deliver(None, rng).await?;
        warnings.append(&mut result.warnings);
    }
    result.warnings = warnings;
    Ok(result)
}

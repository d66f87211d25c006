//! Background evaluation started by `serve`: every host on an interval (staleness, end of life and risk-acceptance
//! expiry change with time alone), and after the rules are reloaded on SIGHUP.

use std::time::Duration;

use crate::AppState;
use crate::findings::evaluate::{self, RunSummary};
use crate::rules::PolicyError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the rules were not reloaded: {0}")]
    Policy(#[from] PolicyError),
    #[error("the rules were reloaded but evaluating the hosts failed: {0}")]
    Store(#[from] StoreError),
}

/// One evaluation of every host with the rules in force.
pub async fn run_once(state: &AppState) -> Result<RunSummary, StoreError> {
    let policy = state.rules.current();
    let summary = evaluate::evaluate_all(state.store.as_ref(), &policy, (state.clock)()).await?;
    for (rule, message) in &summary.rule_failures {
        tracing::warn!(rule, error = %message, "rule failed on some hosts; their findings were left as they were");
    }
    tracing::info!(
        hosts = summary.hosts,
        opened = summary.changes.opened,
        resolved = summary.changes.resolved,
        reopened = summary.changes.reopened,
        expired = summary.expired,
        "findings evaluated"
    );
    // The console's trend chart reads one snapshot per day; the last run of the day wins. A failed snapshot only
    // leaves a gap in the chart, so it does not fail the evaluation.
    let now = (state.clock)();
    if let Err(e) = state.store.snapshot_trend(now.date_naive(), now).await {
        tracing::warn!(error = %e, "cannot store today's findings trend snapshot");
    }
    Ok(summary)
}

/// Reads the policy again and, when it is valid, evaluates every host with it.
pub async fn reload(state: &AppState) -> Result<RunSummary, ReloadError> {
    let policy = state.rules.reload()?;
    tracing::info!(rules = policy.rules.len(), fingerprint = %policy.fingerprint, "rules reloaded");
    Ok(run_once(state).await?)
}

/// Evaluates every `interval` (the first run at once) and reloads on SIGHUP, until the runtime stops.
pub fn spawn(state: AppState, interval: Duration) {
    let periodic = state.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval.max(Duration::from_secs(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = run_once(&periodic).await {
                tracing::error!(error = %e, "scheduled findings evaluation failed");
            }
        }
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload rules through the API");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            if let Err(e) = reload(&state).await {
                tracing::error!(error = %e, "SIGHUP: rule reload failed; the previous rules stay in force");
            }
        }
    });
}

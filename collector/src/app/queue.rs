//! Evaluation off the request path: a stored report is acknowledged at once, and the work it leaves on its host
//! (evaluating the rules, matching the packages) waits in the database (`host_work`, written in the report's own
//! transaction, so a crash loses none of it) until a worker claims it. Repeated reports of one host coalesce into
//! one piece of work. A process runs `serve --evaluation-workers` workers under one claim name; replicas on
//! PostgreSQL share the queue (`FOR UPDATE SKIP LOCKED`).
//! `serve` drains it in the background; the tests and the CLI drain it inline, through the same claim.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use muster_shared::v1::{Report, SectionName};
use tokio::sync::Notify;

use super::background::Background;
use super::evaluation::PlannedHost;
use super::{advisory_sync, evaluation, findings};
use crate::AppState;
use crate::findings::evaluate::{HostOutcome, VULNERABILITY_MATCHER};
use crate::rules::Policy;
use crate::store::StoreError;
use crate::store::findings_tx::FindingsTx;
use crate::store::tx::{LockedHost, end};
use crate::store::work::WorkItem;
use crate::vuln::FindingPolicy;

/// Evaluate the host's rules.
pub const EVALUATE: i64 = 1;
/// Match the host's packages against the advisories.
pub const MATCH: i64 = 2;

/// The host rules count whole days since the host was last seen (`last_seen_days`): a report after a day or more
/// of silence can resolve a stale or missing host even when every section came as a hash.
const SILENCE_THAT_CHANGES_FACTS: chrono::TimeDelta = chrono::TimeDelta::days(1);
/// A claim's lease: a worker that died mid-batch leaves its hosts to others after this.
const LEASE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);
/// Hosts claimed at once.
const BATCH: i64 = 16;
/// How often an idle worker looks for work another replica queued (its own reports wake it at once).
const POLL: Duration = Duration::from_secs(1);
/// Backoff after a failure doubles per attempt up to this.
const MAX_BACKOFF_SECS: i64 = 300;

/// The work a stored report leaves on its host: matching when its OS came in full or it changed what matches are
/// made from (`changes_matches`, see `Writes::changes_matches`: packages, images, sockets, pending updates), evaluation when
/// any section did, its agent changed version, or it had been silent long enough for the time-based facts to
/// change. A report of hashes only from a host seen lately leaves nothing: the scheduled run covers time.
pub fn work_for(report: &Report, changes_matches: bool, before: &LockedHost, now: DateTime<Utc>) -> i64 {
    let mut work = 0;
    if changes_matches || report.os.is_some() {
        work |= MATCH;
    }
    let any_section = SectionName::ALL.iter().any(|s| report.has_section(*s));
    let new_agent = before.agent_version.as_deref() != Some(report.agent.version.as_str());
    let was_silent = now.signed_duration_since(before.last_seen) >= SILENCE_THAT_CHANGES_FACTS;
    if any_section || new_agent || was_silent {
        work |= EVALUATE;
    }
    work
}

/// Findings trailing reports by more than this is worth telling the people reading them.
const LAG_WORTH_A_NOTICE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The console's warning when findings trail the reports by more than a few minutes: hosts wait in the queue
/// because workers are too few or failing. `None` while the queue keeps up.
pub fn backlog_notice(backlog: &crate::store::work::WorkBacklog, now: DateTime<Utc>) -> Option<String> {
    let oldest = backlog.oldest?;
    let lag = now.signed_duration_since(oldest);
    (lag > LAG_WORTH_A_NOTICE).then(|| {
        let minutes = lag.num_minutes();
        let hosts = backlog.hosts;
        let waiting = if hosts == 1 { "1 host waits".to_owned() } else { format!("{hosts} hosts wait") };
        format!(
            "Findings trail the reports: {waiting} for evaluation, the oldest report for {minutes} minutes. \
             Add evaluation workers or replicas, or see the collector's log for failures."
        )
    })
}

/// When queued work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In the request that queued it, after its commit: the answer waits (tests, one-shot CLI runs).
    Inline,
    /// In this process's worker (`spawn`), woken by the commit: the answer does not wait.
    Background,
}

/// This process's side of the queue.
pub struct WorkQueue {
    mode: Mode,
    wake: Notify,
    /// Names this process's claims.
    worker: String,
}

impl WorkQueue {
    pub fn new(mode: Mode) -> Arc<WorkQueue> {
        let worker = crate::tokens::new_id().unwrap_or_else(|_| format!("pid-{}", std::process::id()));
        Arc::new(WorkQueue { mode, wake: Notify::new(), worker })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Called once a report that queued work on `host_id` is committed.
    pub async fn after_commit(&self, state: &AppState, host_id: &str) {
        match self.mode {
            Mode::Background => self.wake.notify_one(),
            Mode::Inline => {
                if let Err(e) = run_batch(state, &self.worker, Some(host_id)).await {
                    tracing::warn!(host_id, error = %e, "queued work on the host failed; it stays queued");
                }
            }
        }
    }
}

/// Claims up to a batch of queued hosts (only `host`'s when given) and does their work. Returns the hosts done.
pub async fn run_batch(state: &AppState, worker: &str, host: Option<&str>) -> Result<usize, StoreError> {
    run_batch_until(state, worker, host, None).await
}

/// [`run_batch`], ending after the host in hand once `background` stops: the hosts not begun are given back.
async fn run_batch_until(
    state: &AppState,
    worker: &str,
    host: Option<&str>,
    background: Option<&Background>,
) -> Result<usize, StoreError> {
    let now = (state.clock)();
    let items = state.store.claim_work(worker, now, now + LEASE, BATCH, host).await?;
    let mut done = 0;
    for (i, item) in items.iter().enumerate() {
        if background.is_some_and(Background::stopping) {
            let left = &items[i..];
            match state.store.release_work(left).await {
                Ok(n) => tracing::info!(hosts = n, "stopping: queued work not begun is given back"),
                Err(e) => tracing::warn!(error = %e, "stopping: cannot give back queued work; its lease will"),
            }
            break;
        }
        // A lease that ran out mid-batch may be another worker's claim now: leave the host to it.
        if (state.clock)() >= item.claimed_until {
            tracing::warn!(host_id = %item.host_id, "the claim on the host ran out before its turn; left to the next");
            continue;
        }
        match process(state, item).await {
            Ok(()) => done += 1,
            // The claim's end was not written (the rules' findings may have been, when matching failed): the
            // whole work runs again after the backoff.
            Err(e) => {
                let backoff = 1i64.checked_shl(item.attempts.clamp(0, 16) as u32).unwrap_or(MAX_BACKOFF_SECS);
                let retry_at = (state.clock)() + chrono::TimeDelta::seconds(backoff.min(MAX_BACKOFF_SECS));
                tracing::warn!(host_id = %item.host_id, attempts = item.attempts, %retry_at, error = %e,
                    "queued work on the host failed; retrying later");
                if let Err(e) = state.store.retry_work(item, retry_at).await {
                    tracing::warn!(host_id = %item.host_id, error = %e, "cannot schedule the retry; the lease will");
                }
            }
        }
    }
    Ok(done)
}

/// One host's work, ending its claim: the reads, the matching and the rules (CEL) first, then every other write in
/// one transaction, rules before vulnerabilities (whose findings rules read, so writing them makes the host due
/// again). On SQLite that transaction is one turn on the writer, in the group of the reports being written
/// (`group_commit.rs`): written one by one, a host's five or six small writes each waited for a whole group, and
/// evaluation fell to 5–9 hosts/s while reports were arriving (BENCHMARKS.md, "One write per host's queued work").
/// Inside it only the findings are planned again, under the host's lock (`findings::apply_in`).
async fn process(state: &AppState, item: &WorkItem) -> Result<(), StoreError> {
    let policy = state.rules.current();
    let now = (state.clock)();
    let store = state.store.as_ref();
    let mut vulnerabilities = None;
    let mut match_failed = None;
    if item.work & MATCH != 0 {
        let finding_policy = FindingPolicy::from_params(&policy.params);
        // The key rows are the largest write of a host's work and are saved in a transaction of their own.
        match advisory_sync::match_and_save(store, &item.host_id, now, &finding_policy).await {
            Ok(Some(saved)) => {
                let o = &saved.outcome;
                tracing::debug!(host_id = %item.host_id, keys = o.keys, evaluated = o.evaluated,
                    findings = o.findings, "host matched");
                vulnerabilities = saved.findings;
            }
            Ok(None) => {}
            // Matching that fails must not hold back the rules' findings: they are written below, and the claim
            // is left for the retry of the whole work.
            Err(e) => match_failed = Some(e),
        }
    }
    let facts = if item.work & EVALUATE != 0 { store.host_facts(&item.host_id).await? } else { None };
    let rules = facts.map(|facts| evaluation::plan_host(&policy, facts, now));
    let mut tx = store.begin_findings_tx().await?;
    let written =
        write_in(tx.as_mut(), item, &policy, rules, vulnerabilities.as_ref(), match_failed.is_none(), now).await;
    end(tx, written).await?;
    match match_failed {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// The writes of [`process`]; the claim ends with them when `finish`.
async fn write_in(
    tx: &mut dyn FindingsTx,
    item: &WorkItem,
    policy: &Policy,
    rules: Option<PlannedHost>,
    vulnerabilities: Option<&HostOutcome>,
    finish: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some(planned) = rules {
        let s = evaluation::write_host_in(tx, policy, planned, now, item.report_id.as_deref()).await?;
        if s.opened + s.resolved + s.reopened > 0 {
            tracing::info!(host_id = %item.host_id, report_id = ?item.report_id, opened = s.opened,
                resolved = s.resolved, reopened = s.reopened, "findings changed");
        }
    }
    if let Some(outcome) = vulnerabilities {
        findings::apply_in(tx, outcome, now, None, VULNERABILITY_MATCHER).await?;
    }
    if finish {
        tx.finish_work(item).await?;
    }
    Ok(())
}

/// Does every piece of queued work whose claim is free, until none is left. Returns the hosts done.
pub async fn drain(state: &AppState) -> Result<usize, StoreError> {
    let worker = state.work.worker.clone();
    let mut total = 0;
    loop {
        let done = run_batch(state, &worker, None).await?;
        if done == 0 {
            return Ok(total);
        }
        total += done;
    }
}

/// Publishes the backlog to `/metrics`. `serve` calls it once before it listens, so the first scrape after a
/// restart shows the work a previous process left, not an empty queue.
pub async fn publish_backlog(state: &AppState) {
    match state.store.work_backlog().await {
        Ok(b) => {
            let lag = b.oldest.map(|t| ((state.clock)() - t).num_milliseconds().max(0) as f64 / 1000.0);
            crate::metrics::set_work_backlog(b.hosts, lag.unwrap_or(0.0));
        }
        Err(e) => tracing::debug!(error = %e, "cannot read the work backlog"),
    }
}

/// The background workers of `serve`: frees what a previous process left claimed, once, then runs `workers` loops
/// until the stop, each woken by this process's commits or every `POLL` for other replicas' work and publishing
/// the backlog after each batch. At the stop a worker finishes the host in hand and gives back the rest of its
/// claim (a replica takes it at once, not at the lease's end). With no workers (a replica that only stores
/// reports), the backlog still reaches `/metrics` every `POLL`.
pub fn spawn(background: &Background, state: AppState, workers: u8) {
    if workers == 0 {
        tracing::info!("evaluation workers: 0; queued evaluation is left to other collectors");
        background.spawn(|stop| async move {
            loop {
                publish_backlog(&state).await;
                if stop.unless_stopped(tokio::time::sleep(POLL)).await.is_none() {
                    return;
                }
            }
        });
        return;
    }
    background.spawn(|spawner| async move {
        let queue = state.work.clone();
        match state.store.release_dead_claims(&queue.worker).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(hosts = n, "queued work a previous process had claimed is free again"),
            Err(e) => tracing::warn!(error = %e, "cannot free the previous process's claims; their leases expire"),
        }
        for _ in 0..workers {
            let state = state.clone();
            spawner.spawn(|stop| async move {
                let queue = state.work.clone();
                while !stop.stopping() {
                    let done = match run_batch_until(&state, &queue.worker, None, Some(&stop)).await {
                        Ok(done) => done,
                        Err(e) => {
                            tracing::warn!(error = %e, "claiming queued work failed; trying again");
                            0
                        }
                    };
                    publish_backlog(&state).await;
                    if done == 0
                        && stop.unless_stopped(tokio::time::timeout(POLL, queue.wake.notified())).await.is_none()
                    {
                        break;
                    }
                }
            });
        }
    });
}

#[cfg(test)]
mod tests;

//! Evaluating the policy on hosts: one host when the work its report queued runs (`app::queue`), on an interval the
//! hosts whose time-based facts have moved (staleness, end of life; `rules::timing`) and every host at start and
//! after the rules are reloaded. The plan is pure (`crate::findings::evaluate`); writing it is `app::findings`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::background::Background;
use super::findings;
use crate::AppState;
use crate::findings::evaluate::{ApplySummary, EVALUATOR, HostOutcome, RunSummary};
use crate::model::facts::HostFacts;
use crate::model::to_ms;
use crate::rules::{Policy, PolicyError};
use crate::store::findings_tx::FindingsTx;
use crate::store::{Store, StoreError};

/// One host's evaluation for its queued work (`app::queue`), planned before its write begins: on SQLite the write
/// holds the one writer, in the group of the reports being stored, so the rules (CEL) run before it.
pub struct PlannedHost {
    facts: HostFacts,
    pending: Option<findings::PendingChanges>,
    outcome: HostOutcome,
}

/// Evaluates the policy on `facts` with the pending security updates as the report leaves them.
pub fn plan_host(policy: &Policy, facts: HostFacts, now: DateTime<Utc>) -> PlannedHost {
    let (facts, pending) = findings::with_pending(facts, now);
    let evaluation = policy.evaluate(&facts, now);
    for failure in &evaluation.failures {
        tracing::warn!(host_id = %facts.host_id, rule = %failure.rule_id, error = %failure.message,
            "rule failed on this host");
    }
    let outcome = HostOutcome::new(&facts.host_id, policy, evaluation);
    PlannedHost { facts, pending, outcome }
}

/// Writes a [`plan_host`] in `tx`: the pending updates' first-seen times, the findings' changes and the next
/// evaluation's time. The changes are planned under the host's lock, from the findings as stored then, never from a
/// read before the write: another writer (a scheduled evaluation of older facts) may have written since, and only
/// this evaluation, of the newest facts, repairs that.
pub async fn write_host_in(
    tx: &mut dyn FindingsTx,
    policy: &Policy,
    planned: PlannedHost,
    now: DateTime<Utc>,
    report_id: Option<&str>,
) -> Result<ApplySummary, StoreError> {
    let PlannedHost { facts, pending, outcome } = planned;
    if let Some(changes) = &pending {
        findings::record_pending_in(tx, &facts.host_id, changes).await?;
    }
    let summary = findings::apply_in(tx, &outcome, now, report_id, EVALUATOR).await?;
    if let Some(next) = next_to_store(policy, &facts, now, summary) {
        tx.schedule_evaluation(&facts, next).await?;
    }
    Ok(summary)
}

/// Stores when the host's evaluation is next due after an evaluation of `facts` that wrote `written`.
async fn schedule(
    store: &dyn Store,
    policy: &Policy,
    facts: &HostFacts,
    now: DateTime<Utc>,
    written: ApplySummary,
) -> Result<(), StoreError> {
    match next_to_store(policy, facts, now, written) {
        Some(next) => store.schedule_evaluation(facts, next).await,
        None => Ok(()),
    }
}

/// When the host's evaluation is next due, if that needs storing. When the evaluation wrote nothing and the instant
/// is the one already stored (most evaluations land on it: midnight, or a day after the host was last looked at)
/// there is nothing to store, and a scheduled evaluation that changes nothing stays free of writes, as before the
/// schedule existed. Findings written from facts a report has since overtaken are left for the store's guarded write to
/// make the host due again.
fn next_to_store(
    policy: &Policy,
    facts: &HostFacts,
    now: DateTime<Utc>,
    written: ApplySummary,
) -> Option<DateTime<Utc>> {
    let next = policy.next_evaluation(facts, now);
    let unchanged = written == ApplySummary::default() && facts.evaluate_after.map(to_ms) == Some(to_ms(next));
    (!unchanged).then_some(next)
}

/// Which hosts a run of [`evaluate_all`] evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every host: at start and after the rules changed, when any host's answer may have.
    All,
    /// The hosts whose evaluation is due (`rules::timing`): the same rules, only time has passed.
    Due,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Due => "due",
        }
    }
}

/// Hosts loaded per page when evaluating all of them.
const PAGE: i64 = 500;

/// Evaluates the hosts of `scope`, then reopens expired risk acceptances and escalates findings that became
/// overdue. Idempotent: safe to run on several replicas.
pub async fn evaluate_all(
    store: &dyn Store,
    policy: &Policy,
    now: DateTime<Utc>,
    scope: Scope,
) -> Result<RunSummary, StoreError> {
    evaluate_while(store, policy, now, scope, &|| true).await
}

/// [`evaluate_all`] that stops before the next host once `in_force` says `policy` was replaced: the run of the new
/// rules covers every host, and this one must not write the old rules' answers over it. Public for the tests that
/// replace the rules mid-run.
pub async fn evaluate_while(
    store: &dyn Store,
    policy: &Policy,
    now: DateTime<Utc>,
    scope: Scope,
    in_force: &(dyn Fn() -> bool + Sync),
) -> Result<RunSummary, StoreError> {
    let mut summary = RunSummary::default();
    let evaluate = async |facts: &HostFacts, summary: &mut RunSummary| -> Result<bool, StoreError> {
        if !in_force() {
            summary.superseded = true;
            return Ok(false);
        }
        let evaluation = policy.evaluate(facts, now);
        for failure in &evaluation.failures {
            summary.rule_failures.entry(failure.rule_id.clone()).or_insert_with(|| failure.message.clone());
        }
        let outcome = HostOutcome::new(&facts.host_id, policy, evaluation);
        let written = findings::apply(store, &outcome, now, None, EVALUATOR).await?;
        schedule(store, policy, facts, now, written).await?;
        summary.changes.add(written);
        summary.hosts += 1;
        Ok(true)
    };
    match scope {
        Scope::All => {
            let mut after = String::new();
            loop {
                let page = store.host_facts_page(&after, PAGE).await?;
                let Some(last) = page.last else { break };
                after = last;
                for facts in &page.facts {
                    if !evaluate(facts, &mut summary).await? {
                        return Ok(summary);
                    }
                }
                if (page.hosts as i64) < PAGE {
                    break;
                }
            }
        }
        Scope::Due => {
            // The due hosts come from an index on the schedule: a run with little due reads little.
            let due = store.due_hosts(now).await?;
            summary.not_due = due.not_due;
            for ids in due.ids.chunks(PAGE as usize) {
                let facts = store.due_host_facts(ids, now).await?;
                // Evaluated meanwhile by another replica: not due any more.
                summary.not_due += ids.len() - facts.len();
                for facts in &facts {
                    if !evaluate(facts, &mut summary).await? {
                        return Ok(summary);
                    }
                }
            }
        }
    }
    summary.expired = findings::expire_risk_acceptances(store, now, EVALUATOR).await?.len();
    // After the expiries: an acceptance that ran out reopens a finding that may be past its due date already.
    summary.overdue = findings::escalate_overdue(store, now, EVALUATOR).await?.len();
    Ok(summary)
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the rules were not reloaded: {0}")]
    Policy(#[from] PolicyError),
    #[error("the rules were reloaded but evaluating the hosts failed: {0}")]
    Store(#[from] StoreError),
}

/// One evaluation of the hosts of `scope` with the rules in force; of every host while these rules have not yet
/// been run on all of them in this process (at start, after a reload whose run failed or was cut short).
pub async fn run_once(state: &AppState, scope: Scope) -> Result<RunSummary, StoreError> {
    let policy = state.rules.current();
    let scope = match state.rules.evaluated_with() {
        Some(fingerprint) if fingerprint == policy.fingerprint => scope,
        _ => Scope::All,
    };
    // An advisory import interrupted while re-matching is finished here, so no import has to run again for it.
    let finding_policy = crate::vuln::FindingPolicy::from_params(&policy.params);
    // Its failure is logged, not returned: time-based rules must not stop because re-matching cannot finish.
    match super::advisory_sync::finish_rematch(state.store.as_ref(), None, (state.clock)(), &finding_policy).await {
        Ok(rematch) if rematch.hosts_rematched > 0 => {
            tracing::info!(hosts = rematch.hosts_rematched, "finished the re-matching an advisory import left");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot finish the re-matching an advisory import left; retried next run")
        }
    }
    let started = std::time::Instant::now();
    let in_force = || state.rules.current().fingerprint == policy.fingerprint;
    let summary = evaluate_while(state.store.as_ref(), &policy, (state.clock)(), scope, &in_force).await?;
    if summary.superseded {
        tracing::info!(
            hosts = summary.hosts,
            "evaluation stopped: the rules were reloaded, and their run covers every host"
        );
        return Ok(summary);
    }
    if scope == Scope::All {
        state.rules.mark_evaluated(&policy.fingerprint);
    }
    for (rule, message) in &summary.rule_failures {
        tracing::warn!(rule, error = %message, "rule failed on some hosts; their findings were left as they were");
    }
    tracing::info!(
        scope = scope.as_str(),
        hosts = summary.hosts,
        not_due = summary.not_due,
        seconds = started.elapsed().as_secs_f64(),
        opened = summary.changes.opened,
        resolved = summary.changes.resolved,
        reopened = summary.changes.reopened,
        expired = summary.expired,
        overdue = summary.overdue,
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

/// Reads the policy again and, when it is valid, evaluates every host with it (after SIGHUP, the reload API, or an
/// import that brought end-of-life data).
pub async fn reload(state: &AppState) -> Result<RunSummary, ReloadError> {
    reload_rules(state).await?;
    Ok(run_once(state, Scope::All).await?)
}

/// Reads the policy again without evaluating: with the end-of-life data an advisory import stored, unless
/// `--eol-file` names a file (which wins). `serve` calls it at start, before its first scheduled evaluation.
pub async fn reload_rules(state: &AppState) -> Result<Arc<Policy>, ReloadError> {
    let stored = match state.rules.source().eol_file {
        Some(_) => None,
        None => state.store.load_eol().await?,
    };
    let policy = match stored {
        Some((eol, imported_at)) => {
            tracing::info!(input = %eol.input, products = eol.products, %imported_at, "stored end-of-life data");
            state.rules.reload_with_eol((eol.input, eol.text))?
        }
        None => state.rules.reload()?,
    };
    tracing::info!(rules = policy.rules.len(), fingerprint = %policy.fingerprint, "rules loaded");
    Ok(policy)
}

/// Evaluates every `interval` (the first run at once and of every host, since the rules may have changed while the
/// collector was down; later runs the hosts due) and reloads on SIGHUP, until the stop. A run under way at the stop
/// is dropped: each host's evaluation is its own transaction, and the hosts it did not reach stay due for the next
/// run.
pub fn spawn(background: &Background, state: AppState, interval: Duration) {
    let periodic = state.clone();
    background.spawn(|stop| async move {
        let mut ticks = tokio::time::interval(interval.max(Duration::from_secs(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let Some(run) = stop
                .unless_stopped(async {
                    ticks.tick().await;
                    run_once(&periodic, Scope::Due).await
                })
                .await
            else {
                return;
            };
            if let Err(e) = run {
                tracing::error!(error = %e, "scheduled findings evaluation failed");
            }
        }
    });
    #[cfg(unix)]
    background.spawn(|stop| async move {
        let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload rules through the API");
                return;
            }
        };
        while stop.unless_stopped(hangups.recv()).await.flatten().is_some() {
            // The reload's evaluation of every host is cut at the stop like a scheduled run.
            if let Some(Err(e)) = stop.unless_stopped(reload(&state)).await {
                tracing::error!(error = %e, "SIGHUP: rule reload failed; the previous rules stay in force");
            }
        }
    });
}

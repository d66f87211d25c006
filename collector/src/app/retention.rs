//! Retention: what the collector forgets, and when. Audit rows and host history past their retention, and catalogue
//! rows of software no host has any more, are deleted daily (and by `muster-collector prune`), so the database does
//! not grow without bound: one attack run took it from 95 MB to 1.2 GB, and nothing ever shrank.
//! (Failed sign-in and enrolment attempts are forgotten as their lockout windows pass, where they are counted.)

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::audit::{Actor, AuditEvent, record};
use crate::store::{PruneCutoffs, Pruned, Store, StoreError};

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Audit rows (a coalesced row counts from its last repeat).
    pub audit: Duration,
    /// A host's change history: packages, hardware, OS, addresses.
    pub history: Duration,
}

/// A year and a month: a year's audit trail for an annual review, with time to run it.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(400 * 86_400);

impl Default for Retention {
    fn default() -> Retention {
        Retention { audit: DEFAULT_RETENTION, history: DEFAULT_RETENTION }
    }
}

/// Rows deleted per statement: SQLite's one writer is held for one batch at a time, so reports keep flowing
/// while a year of rows goes.
pub const BATCH: i64 = 5_000;

/// How often `serve` prunes.
pub const INTERVAL: Duration = Duration::from_secs(86_400);

/// What is older than these goes.
pub fn cutoffs(retention: &Retention, now: DateTime<Utc>) -> PruneCutoffs {
    // A retention too long to subtract keeps everything.
    let ago = |d: Duration| {
        chrono::Duration::from_std(d).ok().and_then(|d| now.checked_sub_signed(d)).unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    PruneCutoffs { audit_before: ago(retention.audit), history_before: ago(retention.history) }
}

/// Deletes what `retention` no longer keeps at `now`; audited when anything went, also when the prune failed midway
/// (the row's `error`) or `go_on` ended it (the collector stopping; the row's `stopped`, the rest going at the next
/// run): the audit row tells every row that went. Also makes the history's coming months (PostgreSQL keeps it by
/// month and drops a month whole): the daily run keeps them [`crate::store::MONTHS_AHEAD`] ahead.
pub async fn prune(
    store: &dyn Store,
    retention: &Retention,
    now: DateTime<Utc>,
    go_on: &(dyn Fn() -> bool + Send + Sync),
) -> Result<Pruned, StoreError> {
    store.prepare_partitions(now).await?;
    let mut pruned = Pruned::default();
    let deleted = store.prune(&cutoffs(retention, now), BATCH, &mut pruned, go_on).await;
    let stopped = matches!(deleted, Ok(false));
    if stopped {
        tracing::info!("retention: the collector is stopping; what is left goes at the next run");
    }
    let audited = match pruned.total() {
        0 => Ok(()),
        _ => {
            let mut counts = serde_json::to_value(pruned).unwrap_or_default();
            if let Some(fields) = counts.as_object_mut() {
                if let Err(e) = &deleted {
                    fields.insert("error".to_owned(), e.to_string().into());
                }
                if stopped {
                    fields.insert("stopped".to_owned(), true.into());
                }
            }
            let actor = Actor { name: "retention".to_owned(), source_ip: None };
            record(store, &actor, now, AuditEvent::RetentionPruned { counts }).await
        }
    };
    // The log keeps what the audit log could not (the database gone, the disk full).
    if let Err(e) = &audited {
        tracing::error!(audit = pruned.audit, history = pruned.history, software = pruned.software,
            events = pruned.events, error = %e, "retention: rows were deleted but cannot be audited");
    }
    deleted?;
    audited?;
    Ok(pruned)
}

/// Prunes and refreshes the planner's statistics at start and every [`INTERVAL`]. Replicas may all run it: a row
/// is deleted once, whoever gets it.
pub fn spawn(background: &super::background::Background, state: crate::AppState, retention: Retention) {
    background.spawn(|stop| async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if stop.unless_stopped(ticks.tick()).await.is_none() {
                return;
            }
            // Not cut at the stop, which would leave the batches already committed unaudited: it ends after the
            // batch under way, and audits what went (when that takes less than the stop's limit, as it normally
            // does: one batch and one audit row).
            let go_on = || !stop.stopping();
            match prune(state.store.as_ref(), &retention, (state.clock)(), &go_on).await {
                Ok(pruned) => tracing::info!(
                    audit = pruned.audit,
                    history = pruned.history,
                    software = pruned.software,
                    events = pruned.events,
                    "retention: old rows deleted"
                ),
                Err(e) => tracing::error!(error = %e, "retention: pruning failed; it is tried again in a day"),
            }
            // After the day's deletions, and whatever the operator's autovacuum does, the planner's picture of
            // the tables is at most a day old.
            if let Some(Err(e)) = stop.unless_stopped(state.store.refresh_statistics()).await {
                tracing::warn!(error = %e, "cannot refresh the database's statistics; tried again in a day");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_cut_at_its_own_age() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z").unwrap().with_timezone(&Utc);
        let retention = Retention { audit: Duration::from_secs(90 * 86_400), history: Duration::from_secs(86_400) };
        let cut = cutoffs(&retention, now);
        assert_eq!(cut.audit_before.to_rfc3339(), "2026-09-04T12:00:00+00:00");
        assert_eq!(cut.history_before.to_rfc3339(), "2026-12-02T12:00:00+00:00");
        let forever = cutoffs(&Retention { audit: Duration::MAX, history: Duration::MAX }, now);
        assert!(forever.audit_before < now - chrono::Duration::days(365 * 1000), "{forever:?}");
    }
}

//! Keeps the database's planner statistics current while the fleet grows (issue 14). A roll-out grows the tables from
//! nothing to a fleet's size within hours. PostgreSQL planned a report's catalogue lookup as a nested loop over every
//! row (7× slower) on the statistics of the empty tables, and it keeps a prepared statement's generic plan from its
//! first runs: one made on a nearly empty table scans it whole, and stays until the table's statistics change. With
//! autovacuum off (the operator's choice), a 100,000-host enrolment read every host row again for each new host
//! until the statistics were refreshed (BENCHMARKS.md); with it on, autovacuum refreshes them too, when it gets to
//! them.

use std::time::Duration;

use crate::store::FleetSize;

use super::background::Background;

/// Fleets smaller than this plan well on any statistics.
const MIN_HOSTS: u64 = 100;

/// How often the fleet's size is looked at: one read of the hosts table.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// The most looks from one failed refresh to the next try: one try an hour.
const MAX_BACKOFF_CHECKS: u32 = 60;

/// Whether the statistics are worth refreshing at `now`, last refreshed (or first counted) at `analyzed`: once the
/// hosts on record have doubled, or, when `by_reports`, the hosts that reported (from [`MIN_HOSTS`] up). A roll-out
/// enrols first, then its reports fill the software, findings and history tables. `by_reports` is for stores whose
/// refresh lets reports be written beside it: on SQLite it holds the one writer for seconds on a large database.
pub fn due(analyzed: FleetSize, now: FleetSize, by_reports: bool) -> bool {
    let doubled = |then: u64, now: u64| now >= MIN_HOSTS && now >= then.saturating_mul(2);
    doubled(analyzed.hosts, now.hosts) || (by_reports && doubled(analyzed.reported, now.reported))
}

/// The looks to skip after `failures` refreshes failed in a row (counting the last): 0, 1, 3, 7… so the next try
/// comes 1, 2, 4, 8… minutes later, at most an hour.
fn skipped_after(failures: u32) -> u32 {
    2u32.saturating_pow(failures.saturating_sub(1)).min(MAX_BACKOFF_CHECKS) - 1
}

/// Looks at the fleet's size every [`CHECK_EVERY`] and refreshes the statistics when [`due`], until the stop. The
/// first look only counts: retention's refresh runs at the start (`app::retention`), and daily after that, which
/// also covers a fleet that stopped growing. A failed refresh is tried again after 1, 2, 4… looks, at most an hour
/// apart.
pub fn spawn(background: &Background, state: crate::AppState) {
    background.spawn(|stop| async move {
        let by_reports = state.store.statistics_beside_writes();
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut analyzed: Option<FleetSize> = None;
        let (mut failures, mut skip) = (0u32, 0u32);
        while stop.unless_stopped(ticks.tick()).await.is_some() {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let size = match state.store.fleet_size().await {
                Ok(size) => size,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot count the fleet to keep the statistics current");
                    continue;
                }
            };
            let Some(last) = analyzed else {
                analyzed = Some(size);
                continue;
            };
            if !due(last, size, by_reports) {
                continue;
            }
            match stop.unless_stopped(state.store.refresh_statistics()).await {
                Some(Ok(())) => {
                    tracing::info!(
                        hosts = size.hosts,
                        reported = size.reported,
                        "database statistics refreshed as the fleet grew"
                    );
                    analyzed = Some(size);
                    failures = 0;
                }
                Some(Err(e)) => {
                    failures = failures.saturating_add(1);
                    skip = skipped_after(failures);
                    tracing::warn!(error = %e, next_try_in_minutes = skip + 1,
                        "cannot refresh the database's statistics");
                }
                None => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(hosts: u64, reported: u64) -> FleetSize {
        FleetSize { hosts, reported }
    }

    #[test]
    fn statistics_are_refreshed_as_the_fleet_doubles() {
        for by_reports in [false, true] {
            // Small fleets never; the first look past the floor does, then each doubling.
            assert!(!due(size(0, 0), size(0, 0), by_reports) && !due(size(0, 0), size(99, 99), by_reports));
            assert!(due(size(0, 0), size(100, 0), by_reports));
            assert!(!due(size(100, 0), size(150, 0), by_reports) && !due(size(100, 0), size(199, 99), by_reports));
            assert!(due(size(100, 0), size(200, 0), by_reports));
            assert!(!due(size(100_000, 0), size(100_000, 0), by_reports));
            assert!(due(size(100_000, 0), size(250_000, 0), by_reports));
            // A fleet that shrank and grew back past the last refresh is not refreshed again for that.
            assert!(!due(size(400, 0), size(300, 0), by_reports));
        }
    }

    #[test]
    fn a_failing_refresh_is_tried_less_often_up_to_hourly() {
        let waits: Vec<u32> = (1..=8).map(|f| skipped_after(f) + 1).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(skipped_after(u32::MAX), MAX_BACKOFF_CHECKS - 1);
    }

    #[test]
    fn a_roll_out_that_enrols_first_is_refreshed_again_as_its_reports_come() {
        // Refreshed last at 64,000 enrolled hosts, none reported: the rest of the enrolment does not double them.
        let after_enrolment = size(64_000, 0);
        assert!(!due(after_enrolment, size(100_000, 99), true));
        // The reports fill the other tables: their first hundred refresh again, then each doubling.
        assert!(due(after_enrolment, size(100_000, 100), true));
        assert!(!due(size(100_000, 100), size(100_000, 199), true));
        assert!(due(size(100_000, 100), size(100_000, 200), true));
        assert!(!due(size(100_000, 51_200), size(100_000, 100_000), true));
        // Where the refresh holds the writer (SQLite), the reports alone do not call for it.
        assert!(!due(after_enrolment, size(100_000, 100_000), false));
    }
}

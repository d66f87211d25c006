//! When a host counts as reporting, stale or missing: one answer for the console and the findings rules, taken
//! from the policy's `stale_days` and `missing_days`.

use chrono::{DateTime, Duration, Utc};

use crate::rules::Policy;
use crate::store::console::HostAges;

/// Used only when an operator's policy removed the parameter: the built-in policy's values.
const DEFAULT_STALE_DAYS: i64 = 7;
const DEFAULT_MISSING_DAYS: i64 = 30;

/// The thresholds of `host.stale` and `host.missing` as of `now`.
pub fn ages(policy: &Policy, now: DateTime<Utc>) -> HostAges {
    let param = |name: &str, default: i64| policy.params.get(name).copied().unwrap_or(default);
    ages_for(now, param("stale_days", DEFAULT_STALE_DAYS), param("missing_days", DEFAULT_MISSING_DAYS))
}

/// The rules match when `last_seen_days >= N`, whole days counted down (`(now - last_seen).num_days()`), that is
/// when `last_seen <= now - N days`. Stored times have millisecond precision and `HostAges` compares with `<`, so
/// the boundary is the millisecond after `now - N days`: the console then says "stale" exactly when the rule does.
fn ages_for(now: DateTime<Utc>, stale_days: i64, missing_days: i64) -> HostAges {
    let boundary = |days: i64| {
        let at = now.checked_sub_signed(Duration::days(days.max(0))).unwrap_or(DateTime::UNIX_EPOCH);
        crate::model::from_ms(crate::model::to_ms(at).saturating_add(1))
    };
    HostAges { now, stale_before: boundary(stale_days), missing_before: boundary(missing_days) }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::console::HostStatus;

    /// The status the built-in rules give a host last seen `ago` before `now` (their CEL conditions, in Rust).
    fn rule_status(now: DateTime<Utc>, last_seen: DateTime<Utc>, stale: i64, missing: i64) -> HostStatus {
        let days = (now - last_seen).num_days();
        if days >= missing {
            HostStatus::Missing
        } else if days >= stale {
            HostStatus::Stale
        } else {
            HostStatus::Reporting
        }
    }

    #[test]
    fn console_status_equals_the_rules_at_every_boundary() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::microseconds(123_456);
        let ms = Duration::milliseconds(1);
        for (stale, missing) in [(7, 30), (2, 5), (1, 1), (1, 3)] {
            let ages = ages_for(now, stale, missing);
            for days in [0, stale, missing] {
                for offset in [-ms * 2, -ms, Duration::zero(), ms, ms * 2, Duration::hours(12)] {
                    // Stored times are whole milliseconds.
                    let seen = crate::model::from_ms(crate::model::to_ms(now - Duration::days(days) + offset));
                    assert_eq!(
                        ages.status(seen),
                        rule_status(now, seen, stale, missing),
                        "stale {stale} missing {missing}, seen {seen} (now {now})"
                    );
                }
            }
        }
    }

    #[test]
    fn thresholds_come_from_the_policy() {
        let policy = crate::rules::Rules::builtin().unwrap().current();
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let ages = ages(&policy, now);
        assert_eq!(ages.status(now - Duration::days(6)), HostStatus::Reporting);
        assert_eq!(ages.status(now - Duration::days(7)), HostStatus::Stale);
        assert_eq!(ages.status(now - Duration::days(30)), HostStatus::Missing);
    }
}

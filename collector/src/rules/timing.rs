//! When a host's evaluation can next change with time alone, so the scheduled run evaluates only the hosts whose
//! time-based facts have moved since their last evaluation instead of every host every 15 minutes (issue 14: 28–61 s
//! per run at 10,000 hosts).
//!
//! The context's only time-based values are whole-day counts from a few instants (`last_seen_days`, each account's
//! `last_login_days`, each pending update's `days`, `patches.lists_age_days` and `last_update_days`) and the
//! end-of-life fields, which move at midnight UTC. A rule that names `now` itself can change at any moment; the
//! policy then makes every host due at every run.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};

use super::eol::EolWhen;
use super::{HostFacts, Policy, Rule};

const DAY: TimeDelta = TimeDelta::days(1);

/// The first instant after `now` at which `(t - anchor).num_days()` differs from its value at `now`, or the instant
/// just before which it does (never later, so nothing is missed). Anchors come from agents' clocks: out-of-range
/// arithmetic saturates instead of panicking.
fn next_whole_day(anchor: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let days = |n: i64| TimeDelta::try_days(n).unwrap_or(TimeDelta::MAX);
    let elapsed = now.signed_duration_since(anchor);
    if elapsed >= TimeDelta::zero() {
        return anchor
            .checked_add_signed(days(elapsed.num_days().saturating_add(1)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
    }
    // An anchor in the future (a clock ahead of ours): the count rises towards 0 each time a whole day less
    // remains, and stays 0 from a day before the anchor until a day after it.
    match (-elapsed).num_days() {
        0 => anchor.checked_add_signed(DAY).unwrap_or(DateTime::<Utc>::MAX_UTC),
        whole => anchor.checked_sub_signed(days(whole)).unwrap_or(now),
    }
}

/// The first midnight UTC after `now`.
fn next_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    tomorrow.and_time(NaiveTime::MIN).and_utc()
}

/// Whether any rule's condition or evidence names `now`, so its answer can change at any moment.
pub(super) fn reads_now(rules: &[Rule]) -> bool {
    rules.iter().any(|r| {
        r.condition_program.references().has_variable("now")
            || r.evidence_program.as_ref().is_some_and(|p| p.references().has_variable("now"))
    })
}

impl Policy {
    /// When this host's evaluation next needs doing though no report came: the earliest instant after `now` at
    /// which a time-based value of its context changes (`now` itself when a rule reads the time directly).
    /// Reports, re-enrolments and vulnerability matching make a host due again on their own (`app::evaluation`).
    pub fn next_evaluation(&self, facts: &HostFacts, now: DateTime<Utc>) -> DateTime<Utc> {
        if self.reads_now {
            return now;
        }
        let logins = facts.host.iter().flat_map(|h| &h.accounts).filter_map(|a| a.last_login.as_ref()).map(|l| l.at);
        let pending = facts.security_pending.iter().map(|u| u.first_seen);
        let lists = facts.patches.iter().flat_map(|p| [p.lists_updated_at, p.last_update_installed_at]).flatten();
        let anchors = std::iter::once(facts.last_seen).chain(logins).chain(pending).chain(lists);
        let mut next = anchors.map(|a| next_whole_day(a, now)).min().unwrap_or(now + DAY);
        if self.has_dated_end_of_life(facts) {
            next = next.min(next_midnight(now));
        }
        next
    }

    /// Whether the host's or one of its images' release has an end-of-life date, so its `eol` fields
    /// (`days_left`, `ended`, `in_extended_support`) move at midnight.
    fn has_dated_end_of_life(&self, facts: &HostFacts) -> bool {
        let images = facts.container_images.iter().filter_map(|i| i.image.os.as_ref());
        facts.os.iter().chain(images).any(|os| {
            let Some(product) = os.id.as_ref().and_then(|id| self.eol_products.get(id)) else { return false };
            self.eol.release_of(product, os).is_some_and(|(_, r)| {
                matches!(r.eol, Some(EolWhen::Date(_))) || matches!(r.extended, Some(EolWhen::Date(_)))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, minute, 0).unwrap()
    }

    #[test]
    fn a_whole_day_count_changes_a_day_after_its_anchor_and_each_day_after() {
        let anchor = at(10, 9, 30);
        // Every instant up to the returned one gives the same count, and the returned one the next.
        for now in [at(10, 9, 30), at(10, 23, 0), at(11, 9, 29), at(11, 9, 30), at(14, 2, 0)] {
            let next = next_whole_day(anchor, now);
            assert!(next > now);
            let count = |t: DateTime<Utc>| (t - anchor).num_days();
            assert_eq!(count(next - TimeDelta::seconds(1)), count(now), "{now}");
            assert_eq!(count(next), count(now) + 1, "{now}");
        }
        // An anchor ahead of the clock: -2 until less than 2 whole days remain, ..., then 0 until a day after it.
        let now = at(7, 12, 0);
        let next = next_whole_day(anchor, now);
        assert_eq!(((now - anchor).num_days(), next), (-2, at(8, 9, 30)));
        assert_eq!((next + TimeDelta::seconds(1) - anchor).num_days(), -1);
        assert_eq!(next_whole_day(anchor, at(10, 9, 0)), at(11, 9, 30));
        // Agents' clocks can say anything: no overflow.
        assert!(next_whole_day(DateTime::<Utc>::MAX_UTC, now) >= now);
        assert!(next_whole_day(DateTime::<Utc>::MIN_UTC, now) > now);
    }

    #[test]
    fn midnight_is_the_next_day_start() {
        assert_eq!(next_midnight(at(10, 23, 59)), at(11, 0, 0));
        assert_eq!(next_midnight(at(11, 0, 0)), at(12, 0, 0));
    }
}

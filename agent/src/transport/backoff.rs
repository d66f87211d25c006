//! When to send next: the report interval's jitter, retry backoff, and the collector's `Retry-After`.
//!
//! All pure: randomness comes in as a number in `[0, 1)` and the current time as a parameter, so the schedule can
//! be tested exactly.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Exponential backoff for retrying an undelivered report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Delay before the first retry, before jitter.
    pub initial: Duration,
    /// No delay grows beyond this, before jitter.
    pub max: Duration,
}

impl BackoffPolicy {
    /// 10 s, 20 s, 40 s, … up to 30 minutes: quick recovery from a restart, gentle on a collector that is down long.
    pub const DEFAULT: BackoffPolicy =
        BackoffPolicy { initial: Duration::from_secs(10), max: Duration::from_secs(1800) };

    /// Delay before retry number `attempt` (1 for the first retry).
    ///
    /// "Equal jitter": half the exponential delay is fixed, the other half random, so agents that failed together
    /// spread out but none retries at once. `unit` is a random number in `[0, 1)`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        let base = self.initial.saturating_mul(1u32 << doublings.min(31)).min(self.max);
        base / 2 + base.mul_f64(clamp_unit(unit) / 2.0)
    }
}

/// The report interval with ±10% jitter, so a fleet started together does not report together forever.
pub fn jittered_interval(interval: Duration, unit: f64) -> Duration {
    interval.mul_f64(0.9 + 0.2 * clamp_unit(unit))
}

/// The longest `Retry-After` honoured; a longer (or absurd) value would silence the agent for too long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);

/// Parses a `Retry-After` header: delay-seconds or an HTTP date, relative to `now`; capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        // HTTP dates (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) are valid RFC 2822 dates.
        let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// The wait before the next attempt after an undelivered report.
///
/// The collector's `Retry-After` is a floor: never retry earlier than asked, but add up to 10% jitter so agents
/// told the same instant do not return in the same instant. Without it, exponential backoff.
pub fn retry_delay(policy: &BackoffPolicy, attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
    match retry_after {
        Some(after) => after + after.mul_f64(0.1 * clamp_unit(unit)),
        None => policy.delay(attempt, unit),
    }
}

fn clamp_unit(unit: f64) -> f64 {
    if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.5 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_equal_jitter() {
        let policy = BackoffPolicy { initial: secs(10), max: secs(100) };
        let lowest: Vec<Duration> = (1..=6).map(|a| policy.delay(a, 0.0)).collect();
        assert_eq!(lowest, [secs(5), secs(10), secs(20), secs(40), secs(50), secs(50)]);
        let highest: Vec<Duration> = (1..=6).map(|a| policy.delay(a, 1.0)).collect();
        assert_eq!(highest, [secs(10), secs(20), secs(40), secs(80), secs(100), secs(100)]);
        assert_eq!(policy.delay(2, 0.5), secs(15));
        // Attempt 0 is treated as the first retry; huge attempts neither overflow nor exceed the cap.
        assert_eq!(policy.delay(0, 0.0), secs(5));
        assert_eq!(policy.delay(u32::MAX, 1.0), secs(100));
        assert_eq!(BackoffPolicy::DEFAULT.delay(40, 1.0), secs(1800));
    }

    #[test]
    fn interval_jitter_stays_within_ten_percent() {
        let hour = secs(3600);
        assert_eq!(jittered_interval(hour, 0.0), secs(3240));
        assert_eq!(jittered_interval(hour, 0.5), hour);
        assert_eq!(jittered_interval(hour, 1.0), secs(3960));
        assert_eq!(jittered_interval(hour, f64::NAN), hour);
        assert_eq!(jittered_interval(hour, 7.0), secs(3960));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(secs(0)));
        assert_eq!(parse_retry_after("Wed, 01 May 2024 12:01:30 GMT", now), Some(secs(90)));
        // A date in the past means "now".
        assert_eq!(parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now), Some(secs(0)));
        assert_eq!(parse_retry_after("99999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn retry_after_is_a_floor_and_backoff_applies_without_it() {
        let policy = BackoffPolicy { initial: secs(10), max: secs(100) };
        assert_eq!(retry_delay(&policy, 3, Some(secs(30)), 0.0), secs(30));
        assert_eq!(retry_delay(&policy, 3, Some(secs(30)), 1.0), secs(33));
        assert_eq!(retry_delay(&policy, 3, None, 0.0), secs(20));
    }
}

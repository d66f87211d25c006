//! Outcomes and latencies of a run, and the summary printed as JSON.
//!
//! Latency is recorded twice: from the *intended* send time (open loop; the coordinated-omission-corrected figure
//! an agent waiting on a slow collector experiences) and from the moment the request actually went out (service
//! time). In closed loop the two are the same, since a request is intended when a slot frees up.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::plan::ReportKind;

/// How the collector answered one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    Duplicate,
    /// The collector's copy differs from a hash sent; the sections it named are resent at once.
    NeedsSections,
    /// 429, with the `Retry-After` seconds when given.
    RateLimited(Option<u64>),
    /// 503, with the `Retry-After` seconds when given.
    Unavailable(Option<u64>),
    /// 401/403: the token is unknown or revoked (a state directory from another collector or database).
    Unauthorized(u16),
    /// Any other 4xx.
    ClientError(u16),
    /// 5xx other than 503.
    ServerError(u16),
    Timeout,
    Connect,
    /// The connection broke after it was made, or the answer could not be read.
    Transport,
    /// A 2xx whose body is not the acknowledgement of this report, or a status no collector answers (1xx, 3xx).
    BadAnswer,
}

impl Outcome {
    /// The key in the summary's `errors`; `None` for the non-error outcomes.
    pub fn error_kind(self) -> Option<&'static str> {
        Some(match self {
            Outcome::Stored | Outcome::Duplicate | Outcome::NeedsSections => return None,
            Outcome::RateLimited(_) => "rate_limited_429",
            Outcome::Unavailable(_) => "unavailable_503",
            Outcome::Unauthorized(_) => "unauthorized_401_403",
            Outcome::ClientError(_) => "client_4xx",
            Outcome::ServerError(_) => "server_5xx",
            Outcome::Timeout => "timeout",
            Outcome::Connect => "connect",
            Outcome::Transport => "transport",
            Outcome::BadAnswer => "bad_answer",
        })
    }

    fn retry_after(self) -> Option<Option<u64>> {
        match self {
            Outcome::RateLimited(r) | Outcome::Unavailable(r) => Some(r),
            _ => None,
        }
    }
}

/// One request's record; times are offsets from the start of the timed phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub kind: ReportKind,
    pub outcome: Outcome,
    pub intended: Duration,
    pub sent: Duration,
    pub done: Duration,
    pub body_bytes: u64,
}

impl Sample {
    /// Latency from the intended send time; a request sent before it was intended (never in practice) counts from
    /// when it was sent.
    pub fn corrected(&self) -> Duration {
        self.done.saturating_sub(self.intended.min(self.sent))
    }

    pub fn service(&self) -> Duration {
        self.done.saturating_sub(self.sent)
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Everything recorded in a timed phase.
#[derive(Debug)]
pub struct Recorder {
    corrected: Histogram<u64>,
    service: Histogram<u64>,
    by_kind: BTreeMap<ReportKind, KindRecord>,
    counts: Counts,
    /// Requests sent more than [`LATE`] after their intended time (open loop falling behind).
    pub late_starts: u64,
}

#[derive(Debug)]
struct KindRecord {
    corrected: Histogram<u64>,
    counts: Counts,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub ok: u64,
    pub duplicate: u64,
    pub needs_sections: u64,
    pub errors: BTreeMap<&'static str, u64>,
    pub retry_after_answers: u64,
    pub retry_after_max_s: Option<u64>,
    pub body_bytes: u64,
}

impl Counts {
    fn add(&mut self, sample: &Sample) {
        self.requests += 1;
        self.body_bytes += sample.body_bytes;
        match sample.outcome {
            Outcome::Stored => self.ok += 1,
            Outcome::Duplicate => self.duplicate += 1,
            Outcome::NeedsSections => self.needs_sections += 1,
            other => {
                if let Some(kind) = other.error_kind() {
                    *self.errors.entry(kind).or_default() += 1;
                }
            }
        }
        if let Some(Some(seconds)) = sample.outcome.retry_after() {
            self.retry_after_answers += 1;
            self.retry_after_max_s = Some(self.retry_after_max_s.map_or(seconds, |m| m.max(seconds)));
        }
    }
}

/// A request sent this much later than intended counts as a late start.
pub const LATE: Duration = Duration::from_millis(10);

/// Microseconds from 1 µs to one hour, three significant digits.
fn histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, 3_600_000_000)
}

impl Recorder {
    pub fn new() -> Result<Recorder, hdrhistogram::CreationError> {
        let mut by_kind = BTreeMap::new();
        for kind in [ReportKind::Full, ReportKind::Changed, ReportKind::Unchanged] {
            by_kind.insert(kind, KindRecord { corrected: histogram()?, counts: Counts::default() });
        }
        Ok(Recorder {
            corrected: histogram()?,
            service: histogram()?,
            by_kind,
            counts: Counts::default(),
            late_starts: 0,
        })
    }

    pub fn record(&mut self, sample: &Sample) {
        // Values are clamped into the histograms' range, so recording cannot fail.
        let _ = self.corrected.record(micros(sample.corrected()));
        let _ = self.service.record(micros(sample.service()));
        if sample.sent.saturating_sub(sample.intended) > LATE {
            self.late_starts += 1;
        }
        self.counts.add(sample);
        if let Some(kind) = self.by_kind.get_mut(&sample.kind) {
            let _ = kind.corrected.record(micros(sample.corrected()));
            kind.counts.add(sample);
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn corrected(&self) -> Option<Percentiles> {
        percentiles(&self.corrected)
    }

    pub fn service(&self) -> Option<Percentiles> {
        percentiles(&self.service)
    }

    /// Per report kind: counts, OK rate over `elapsed` and corrected percentiles.
    pub fn by_kind(&self, elapsed: Duration) -> BTreeMap<ReportKind, KindSummary> {
        self.by_kind
            .iter()
            .filter(|(_, r)| r.counts.requests > 0)
            .map(|(kind, r)| {
                let summary = KindSummary {
                    counts: r.counts.clone(),
                    rate_ok_per_s: per_second(r.counts.ok, elapsed),
                    latency: percentiles(&r.corrected),
                };
                (*kind, summary)
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KindSummary {
    #[serde(flatten)]
    pub counts: Counts,
    pub rate_ok_per_s: f64,
    #[serde(flatten)]
    pub latency: Option<Percentiles>,
}

pub fn per_second(n: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { round3(n as f64 / s) } else { 0.0 }
}

fn percentiles(h: &Histogram<u64>) -> Option<Percentiles> {
    if h.is_empty() {
        return None;
    }
    let ms = |us: u64| round3(us as f64 / 1000.0);
    Some(Percentiles {
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;

//! Planning a run, purely: which hosts take part, what each sends, and when (open loop) or how many (closed loop).
//!
//! Open loop offers a fixed rate whatever the collector does: request `i` is *intended* at `offsets[i]` after the
//! start, and its latency is measured from that intended time, so a stalled collector shows up as latency instead
//! of silently lowering the offered rate (coordinated omission). Closed loop keeps `concurrency` requests in flight.

use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::fleet::{hash, unit};

/// What traffic a run replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Every host's first report, every section in full (a roll-out).
    FirstWave,
    /// Hash-only reports of hosts whose inventory did not change (the hourly steady state).
    Unchanged,
    /// A share of hosts upgrade a set of packages: the software section changes; the others report unchanged.
    PatchDay,
}

/// What one report carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Every section in full.
    Full,
    /// The changed sections in full, the others as hashes.
    Changed,
    /// Hashes only.
    Unchanged,
}

/// How intended send times are spread in open-loop mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Evenly spaced, `1/rate` apart.
    Uniform,
    /// Exponential gaps with mean `1/rate`: many independent agents with jittered timers.
    Poisson,
}

/// Which hosts stay silent and which take part in a patch day.
#[derive(Debug, Clone, PartialEq)]
pub struct Shares {
    /// Share of hosts that send nothing this run (powered off, decommissioned without notice).
    pub silent: f64,
    /// Share of the reporting hosts that install the patch round in `patch-day`.
    pub patching: f64,
}

/// The hosts of a run and what each sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Participants {
    /// Indexes of the hosts that report, in order.
    pub active: Vec<u32>,
    /// For each of `active`: whether it sends a changed (patched) report in `patch-day`.
    pub patching: Vec<bool>,
    pub silent: u32,
}

/// Splits hosts `0..hosts` by `shares`; the choice depends only on the fleet id and the index, so it is the same
/// run after run.
pub fn participants(fleet_id: &str, hosts: u32, shares: &Shares) -> Participants {
    let draw = |label: &[u8], index: u32| unit(&hash(&[label, fleet_id.as_bytes(), &index.to_le_bytes()]));
    let mut plan = Participants { active: Vec::new(), patching: Vec::new(), silent: 0 };
    for index in 0..hosts {
        if draw(b"silent", index) < shares.silent {
            plan.silent += 1;
        } else {
            plan.active.push(index);
            plan.patching.push(draw(b"patching", index) < shares.patching);
        }
    }
    plan
}

/// What a host sends in `scenario`.
pub fn kind_of(scenario: Scenario, patching: bool) -> ReportKind {
    match scenario {
        Scenario::FirstWave => ReportKind::Full,
        Scenario::PatchDay if patching => ReportKind::Changed,
        Scenario::PatchDay | Scenario::Unchanged => ReportKind::Unchanged,
    }
}

/// How many reports a run sends: one per active host, or, with a duration, as many as fit (open loop: `rate ×
/// duration`; closed loop: until the duration ends, `None`). A first wave never sends a host's first report twice.
pub fn report_count(scenario: Scenario, active: usize, rate: Option<f64>, duration: Option<Duration>) -> Option<usize> {
    let cap = |n: usize| if scenario == Scenario::FirstWave { n.min(active) } else { n };
    match (rate, duration) {
        (_, None) => Some(active),
        (Some(rate), Some(d)) => Some(cap((rate * d.as_secs_f64()).ceil() as usize)),
        (None, Some(_)) if scenario == Scenario::FirstWave => Some(active),
        (None, Some(_)) => None,
    }
}

/// Intended send times of `count` requests at `rate` per second, from the run's start.
pub fn arrival_offsets(rate: f64, count: usize, arrivals: Arrivals, seed: u64) -> Vec<Duration> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut at = 0.0f64;
    (0..count)
        .map(|i| {
            let offset = match arrivals {
                Arrivals::Uniform => i as f64 / rate,
                Arrivals::Poisson => {
                    let this = at;
                    // 1 - U is in (0, 1], so the logarithm is finite.
                    at += -(1.0 - rng.random::<f64>()).ln() / rate;
                    this
                }
            };
            Duration::from_secs_f64(offset)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scenario, active hosts, rate, duration -> reports.
    type CountCase = (Scenario, usize, Option<f64>, Option<Duration>, Option<usize>);

    #[test]
    fn report_counts() {
        let s = Duration::from_secs;
        #[rustfmt::skip]
        let table: &[CountCase] = &[
            (Scenario::FirstWave, 100, None, None, Some(100)),
            (Scenario::FirstWave, 100, Some(10.0), Some(s(5)), Some(50)),
            (Scenario::FirstWave, 100, Some(10.0), Some(s(60)), Some(100)),
            (Scenario::FirstWave, 100, None, Some(s(60)), Some(100)),
            (Scenario::Unchanged, 100, Some(10.0), Some(s(60)), Some(600)),
            (Scenario::Unchanged, 100, Some(2.5), Some(s(3)), Some(8)),
            (Scenario::Unchanged, 100, None, Some(s(60)), None),
            (Scenario::PatchDay, 7, None, None, Some(7)),
        ];
        for (scenario, active, rate, duration, expected) in table {
            assert_eq!(
                report_count(*scenario, *active, *rate, *duration),
                *expected,
                "{scenario:?} {rate:?} {duration:?}"
            );
        }
    }

    #[test]
    fn uniform_arrivals_are_evenly_spaced() {
        let offsets = arrival_offsets(4.0, 5, Arrivals::Uniform, 1);
        let ms: Vec<u128> = offsets.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 250, 500, 750, 1000]);
    }

    #[test]
    fn poisson_arrivals_average_the_rate_and_are_reproducible() {
        let offsets = arrival_offsets(200.0, 20_000, Arrivals::Poisson, 42);
        assert_eq!(offsets, arrival_offsets(200.0, 20_000, Arrivals::Poisson, 42));
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
        let span = offsets[offsets.len() - 1].as_secs_f64();
        let rate = (offsets.len() - 1) as f64 / span;
        assert!((rate - 200.0).abs() < 200.0 * 0.03, "observed {rate}/s");
        // Exponential gaps: about e^-1 of them are longer than the mean gap.
        let long = offsets.windows(2).filter(|w| (w[1] - w[0]).as_secs_f64() > 1.0 / 200.0).count();
        let share = long as f64 / (offsets.len() - 1) as f64;
        assert!((share - (-1.0f64).exp()).abs() < 0.02, "{share}");
    }

    #[test]
    fn shares_split_hosts_stably() {
        let shares = Shares { silent: 0.1, patching: 0.5 };
        let plan = participants("fleet-a", 2_000, &shares);
        assert_eq!(plan, participants("fleet-a", 2_000, &shares));
        assert_eq!(plan.active.len() + plan.silent as usize, 2_000);
        assert!((150..250).contains(&plan.silent), "{}", plan.silent);
        let patching = plan.patching.iter().filter(|p| **p).count();
        assert!((800..1000).contains(&patching), "{patching}");
        // Adding hosts keeps the earlier hosts' roles.
        let more = participants("fleet-a", 3_000, &shares);
        assert_eq!(&more.active[..plan.active.len()], &plan.active[..]);
        let none = participants("fleet-a", 50, &Shares { silent: 0.0, patching: 1.0 });
        assert_eq!((none.active.len(), none.silent), (50, 0));
        assert!(none.patching.iter().all(|p| *p));
    }

    #[test]
    fn kinds_by_scenario() {
        assert_eq!(kind_of(Scenario::FirstWave, true), ReportKind::Full);
        assert_eq!(kind_of(Scenario::PatchDay, true), ReportKind::Changed);
        assert_eq!(kind_of(Scenario::PatchDay, false), ReportKind::Unchanged);
        assert_eq!(kind_of(Scenario::Unchanged, true), ReportKind::Unchanged);
    }
}

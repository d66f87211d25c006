//! One run: load or create the state directory, enrol the hosts it lacks, bring hosts the collector has never seen
//! up to date (outside the measurement), replay the scenario, and summarise.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use muster_agent::transport::enroll::HostIdentity;
use muster_agent::transport::fingerprint::Fingerprint;
use muster_shared::v1::SectionName;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::client::Collector;
use crate::fleet::{Drift, Fleet, WeightedImage};
use crate::plan::{self, Arrivals, ReportKind, Scenario, Shares};
use crate::state::{self, HostRecord, State};
use crate::stats::{self, Counts, KindSummary, Percentiles, Recorder};
use crate::traffic::{self, Context, Op};

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub collector_url: String,
    pub ca: Fingerprint,
    pub secret: String,
    pub hosts: u32,
    pub scenario: Scenario,
    pub concurrency: usize,
    /// Open loop at this many reports per second; closed loop when absent.
    pub rate: Option<f64>,
    pub duration: Option<Duration>,
    pub arrivals: Arrivals,
    pub shares: Shares,
    pub state_dir: PathBuf,
    pub keep_alive: bool,
    pub timeout: Duration,
    pub images: Vec<WeightedImage>,
    pub drift: Drift,
    pub patch_packages: usize,
}

/// What only `main` may supply: randomness and the wall clock.
#[derive(Debug, Clone)]
pub struct Edges {
    /// The fleet id to use when the state directory is new.
    pub new_fleet_id: String,
    /// Makes this run's report ids unique.
    pub run_nonce: String,
    /// Seeds Poisson arrivals.
    pub seed: u64,
    pub now: fn() -> DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    #[error("latency histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error("{0}")]
    Plan(String),
}

/// The JSON result of a run.
#[derive(Debug, Serialize)]
pub struct Results {
    pub scenario: Scenario,
    pub mode: &'static str,
    pub hosts: u32,
    pub active_hosts: usize,
    pub silent_hosts: u32,
    pub concurrency: usize,
    pub rate_offered_per_s: Option<f64>,
    pub arrivals: Option<Arrivals>,
    pub keep_alive: bool,
    pub elapsed_s: f64,
    #[serde(flatten)]
    pub counts: Counts,
    pub rate_ok_per_s: f64,
    /// `intended_send_time` (open loop, corrected for coordinated omission) or `send_time` (closed loop).
    pub latency_from: &'static str,
    #[serde(flatten)]
    pub latency: Option<Percentiles>,
    /// Open loop: the same percentiles from the moment each request actually went out.
    pub service_latency: Option<Percentiles>,
    pub late_starts: u64,
    pub by_kind: BTreeMap<ReportKind, KindSummary>,
    pub preparation: Preparation,
    pub images: Vec<ImageSummary>,
}

#[derive(Debug, Default, Serialize)]
pub struct Preparation {
    pub state_dir: PathBuf,
    pub fleet_id: String,
    pub enrolled_now: u32,
    pub enrolled_before: u32,
    pub enrol_per_s: Option<f64>,
    /// Hosts whose first report was sent (unmeasured) so they could send hash-only or changed reports.
    pub warmed_up: u64,
    pub warm_up_failed: u64,
}

#[derive(Debug, Serialize)]
pub struct ImageSummary {
    pub name: String,
    pub weight: u32,
    pub packages: usize,
}

pub async fn run(config: &RunConfig, edges: &Edges) -> Result<Results, RunError> {
    let collector = Collector::new(&config.collector_url, config.ca, config.keep_alive, config.timeout)?;
    let url = config.collector_url.trim().trim_end_matches('/').to_string();
    let signature = fleet_signature(&config.images, &config.drift, config.patch_packages);
    let mut state = match state::load(&config.state_dir)? {
        Some(mut state) => {
            state.adopt(&config.state_dir, &url, &config.ca.to_hex(), &signature)?;
            state
        }
        None => State::new(&url, &config.ca.to_hex(), &edges.new_fleet_id, &signature),
    };
    let fleet = Arc::new(Fleet {
        fleet_id: state.fleet_id.clone(),
        images: config.images.clone(),
        drift: config.drift.clone(),
        patch_packages: config.patch_packages,
    });
    let mut preparation = Preparation {
        state_dir: config.state_dir.clone(),
        fleet_id: state.fleet_id.clone(),
        enrolled_before: state.hosts.keys().filter(|i| **i < config.hosts).count() as u32,
        ..Preparation::default()
    };
    let enrolled = enrol_missing(&collector, config, &fleet, &mut state).await;
    state::save(&config.state_dir, &state)?;
    let (count, elapsed) = enrolled?;
    preparation.enrolled_now = count;
    preparation.enrol_per_s = (count > 0).then(|| stats::per_second(u64::from(count), elapsed));

    let who = plan::participants(&state.fleet_id, config.hosts, &config.shares);
    let skeletons = config
        .images
        .iter()
        .map(|w| {
            let mut report = w.image.report.clone();
            SectionName::ALL.into_iter().for_each(|s| report.clear_section(s));
            report
        })
        .collect();
    let hosts = state
        .hosts
        .iter()
        .filter(|(i, _)| **i < config.hosts)
        .map(|(i, r)| (*i, tokio::sync::Mutex::new(r.clone())))
        .collect();
    let ctx = Arc::new(Context {
        collector,
        fleet: Arc::clone(&fleet),
        skeletons,
        hosts,
        run_nonce: edges.run_nonce.clone(),
        counter: AtomicU64::new(0),
        now: edges.now,
        recorder: Mutex::new(Recorder::new()?),
    });

    // Hosts the collector has no report of: their first report goes now (unmeasured), or is the first wave itself.
    let fresh: Vec<u32> =
        who.active.iter().copied().filter(|i| state.hosts.get(i).is_some_and(|h| h.acked.is_empty())).collect();
    let targets: Vec<(u32, bool)> = match config.scenario {
        Scenario::FirstWave => {
            if fresh.is_empty() {
                return Err(RunError::Plan(format!(
                    "every active host in {} has sent its first report already; use a new --state-dir or more --hosts",
                    config.state_dir.display()
                )));
            }
            fresh.iter().map(|i| (*i, false)).collect()
        }
        Scenario::Unchanged | Scenario::PatchDay => {
            if !fresh.is_empty() {
                let warm: Arc<Vec<u32>> = Arc::new(fresh.clone());
                let ops = Arc::new(move |i: usize| Op { host: warm[i], kind: ReportKind::Full });
                traffic::closed_loop(
                    Arc::clone(&ctx),
                    ops,
                    Some(fresh.len()),
                    None,
                    config.concurrency,
                    Instant::now(),
                )
                .await;
                let mut recorder = ctx.recorder.lock().map_err(|_| RunError::Plan("recorder poisoned".to_string()))?;
                preparation.warmed_up = recorder.counts().ok + recorder.counts().duplicate;
                preparation.warm_up_failed = recorder.counts().requests - preparation.warmed_up;
                *recorder = Recorder::new()?;
            }
            who.active.iter().copied().zip(who.patching.iter().copied()).collect()
        }
    };

    if targets.is_empty() {
        return Err(RunError::Plan("every host is silent: lower --silent-share or add --hosts".to_string()));
    }
    let scenario = config.scenario;
    let targets = Arc::new(targets);
    let ops_targets = Arc::clone(&targets);
    let ops: Arc<dyn Fn(usize) -> Op + Send + Sync> = Arc::new(move |i: usize| {
        let (host, patching) = ops_targets[i % ops_targets.len()];
        Op { host, kind: plan::kind_of(scenario, patching) }
    });
    let count = plan::report_count(config.scenario, targets.len(), config.rate, config.duration);
    let start = Instant::now();
    match config.rate {
        Some(rate) => {
            let offsets = plan::arrival_offsets(rate, count.unwrap_or(targets.len()), config.arrivals, edges.seed);
            traffic::open_loop(Arc::clone(&ctx), ops, &offsets, config.concurrency, start).await;
        }
        None => traffic::closed_loop(Arc::clone(&ctx), ops, count, config.duration, config.concurrency, start).await,
    }
    let elapsed = start.elapsed();

    for (index, slot) in &ctx.hosts {
        state.hosts.insert(*index, slot.lock().await.clone());
    }
    state::save(&config.state_dir, &state)?;

    let recorder = ctx.recorder.lock().map_err(|_| RunError::Plan("recorder poisoned".to_string()))?;
    let open = config.rate.is_some();
    Ok(Results {
        scenario: config.scenario,
        mode: if open { "open_loop" } else { "closed_loop" },
        hosts: config.hosts,
        active_hosts: who.active.len(),
        silent_hosts: who.silent,
        concurrency: config.concurrency,
        rate_offered_per_s: config.rate,
        arrivals: open.then_some(config.arrivals),
        keep_alive: config.keep_alive,
        elapsed_s: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        counts: recorder.counts().clone(),
        rate_ok_per_s: stats::per_second(recorder.counts().ok, elapsed),
        latency_from: if open { "intended_send_time" } else { "send_time" },
        latency: recorder.corrected(),
        service_latency: if open { recorder.service() } else { None },
        late_starts: recorder.late_starts,
        by_kind: recorder.by_kind(elapsed),
        preparation,
        images: config
            .images
            .iter()
            .map(|w| ImageSummary {
                name: w.image.name.clone(),
                weight: w.weight,
                packages: w.image.report.software.as_ref().map_or(0, |s| s.packages.len()),
            })
            .collect(),
    })
}

/// Enrols hosts `0..hosts` that the state lacks, `concurrency` at a time; answers how many and how long it took.
/// Hosts enrolled before a failure are kept in `state`.
async fn enrol_missing(
    collector: &Collector,
    config: &RunConfig,
    fleet: &Fleet,
    state: &mut State,
) -> Result<(u32, Duration), RunError> {
    let missing: Vec<u32> = (0..config.hosts).filter(|i| !state.hosts.contains_key(i)).collect();
    let start = Instant::now();
    let tags = vec!["loadgen".to_string(), format!("loadgen-{}", fleet.fleet_id)];
    let mut done = 0u32;
    let mut failure = None;
    let mut queue = missing.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while failure.is_none() && tasks.len() < config.concurrency.max(1) {
            let Some(index) = queue.next() else { break };
            let identity = fleet.identity(index);
            let identity = HostIdentity {
                hostname: identity.hostname,
                machine_id: Some(identity.machine_id),
                system_uuid: identity.system_uuid,
                system_serial: identity.system_serial,
            };
            let (collector, secret, tags) = (collector.clone(), config.secret.clone(), tags.clone());
            tasks.spawn(async move { (index, collector.enroll(&secret, &identity, &tags).await) });
        }
        let Some(joined) = tasks.join_next().await else { break };
        match joined {
            Ok((index, Ok(response))) => {
                let record = HostRecord {
                    host_id: response.host_id,
                    token: response.host_token,
                    round: 0,
                    acked: BTreeMap::new(),
                };
                state.hosts.insert(index, record);
                done += 1;
            }
            Ok((_, Err(e))) => failure = Some(RunError::Client(e)),
            Err(e) => failure = Some(RunError::Plan(format!("enrolment task: {e}"))),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok((done, start.elapsed()))
}

/// A digest of what reports are built from; acknowledged hashes from a state with another signature are stale.
fn fleet_signature(images: &[WeightedImage], drift: &Drift, patch_packages: usize) -> String {
    let mut h = Sha256::new();
    for w in images {
        h.update(w.image.name.as_bytes());
        h.update(w.weight.to_le_bytes());
        h.update(serde_json::to_vec(&w.image.report).unwrap_or_default());
    }
    for level in &drift.levels {
        h.update(level.to_le_bytes());
    }
    h.update((patch_packages as u64).to_le_bytes());
    hex::encode(h.finalize())
}

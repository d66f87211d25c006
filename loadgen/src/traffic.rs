//! Sending reports: one simulated host's delivery (with the agent's immediate resend on `needs_sections`) and the
//! open- and closed-loop engines that drive many of them.
//!
//! Each host is locked while its report is in flight, so a host never has two reports at once (as with a real
//! agent) and its acknowledged hashes stay exact. Reports that change are built and compressed on the blocking
//! pool, ahead of their intended time in open loop, so building never delays the send it feeds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use muster_shared::v1::{Report, SectionName};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::{Answer, Collector};
use crate::envelope::{self, Hashes};
use crate::fleet::Fleet;
use crate::plan::ReportKind;
use crate::state::HostRecord;
use crate::stats::{Outcome, Recorder, Sample};

/// How far ahead of its intended time an open-loop report is built.
const BUILD_LEAD: Duration = Duration::from_millis(50);

/// Everything the senders share.
pub struct Context {
    pub collector: Collector,
    pub fleet: Arc<Fleet>,
    /// Per image: the report without sections (agent, errors), for hash-only envelopes.
    pub skeletons: Vec<Report>,
    pub hosts: BTreeMap<u32, tokio::sync::Mutex<HostRecord>>,
    pub run_nonce: String,
    pub counter: AtomicU64,
    pub now: fn() -> DateTime<Utc>,
    pub recorder: Mutex<Recorder>,
}

/// One report to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub host: u32,
    pub kind: ReportKind,
}

/// A report ready to go: its id, the hashes it declares, its body and the patch round it carries.
struct Built {
    report_id: String,
    hashes: Hashes,
    body: Vec<u8>,
    round: u32,
}

impl Context {
    fn report_id(&self) -> String {
        format!("lg-{}-{}", self.run_nonce, self.counter.fetch_add(1, Ordering::Relaxed))
    }

    /// Builds the envelope `kind` calls for, given what the collector acknowledged.
    async fn build(&self, op: Op, record: &HostRecord, force_full: BTreeSet<SectionName>) -> Result<Built, String> {
        let report_id = self.report_id();
        let now = (self.now)();
        if op.kind == ReportKind::Unchanged && force_full.is_empty() && !record.acked.is_empty() {
            let skeleton = &self.skeletons[self.fleet.image_of(op.host)];
            let envelope = envelope::hash_only(&report_id, skeleton, &record.acked, now);
            let body = envelope::encode(&envelope).map_err(|e| e.to_string())?;
            return Ok(Built { report_id, hashes: envelope.section_hashes, body, round: record.round });
        }
        let round = if op.kind == ReportKind::Changed { record.round + 1 } else { record.round };
        let acked = if op.kind == ReportKind::Full { Hashes::new() } else { record.acked.clone() };
        let fleet = Arc::clone(&self.fleet);
        let host = op.host;
        tokio::task::spawn_blocking(move || {
            let report = fleet.report(host, round, now);
            let envelope = envelope::delta(&report_id, &report, &acked, &force_full);
            let body = envelope::encode(&envelope).map_err(|e| e.to_string())?;
            Ok(Built { report_id, hashes: envelope.section_hashes, body, round })
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Sends `built` for the locked host, records the sample and, once stored, what the collector now holds.
    async fn send(&self, op: Op, record: &mut HostRecord, built: Built, intended: Duration, start: Instant) -> Answer {
        let body_bytes = built.body.len() as u64;
        let sent = start.elapsed();
        let answer = self.collector.report(&record.host_id, &record.token, &built.report_id, built.body).await;
        let done = start.elapsed();
        let sample = Sample { kind: op.kind, outcome: answer.outcome, intended, sent, done, body_bytes };
        if let Ok(mut recorder) = self.recorder.lock() {
            recorder.record(&sample);
        }
        if matches!(answer.outcome, Outcome::Stored | Outcome::Duplicate) {
            record.acked = built.hashes;
            record.round = built.round;
        }
        answer
    }

    /// Sends `built`; on `needs_sections` resends at once with those sections in full, as the agent does (once).
    async fn deliver(
        &self,
        op: Op,
        record: &mut HostRecord,
        built: Built,
        intended: Duration,
        start: Instant,
    ) -> Outcome {
        let answer = self.send(op, record, built, intended, start).await;
        if answer.outcome == Outcome::NeedsSections {
            let force: BTreeSet<SectionName> = answer.needs_full.into_iter().collect();
            if let Ok(again) = self.build(op, record, force).await {
                let now = start.elapsed();
                return self.send(op, record, again, now, start).await.outcome;
            }
        }
        answer.outcome
    }

    /// One closed-loop or warm-up delivery: intended when it starts.
    pub async fn deliver_now(&self, op: Op, start: Instant) -> Option<Outcome> {
        let slot = self.hosts.get(&op.host)?;
        let mut record = slot.lock().await;
        let built = self.build(op, &record, BTreeSet::new()).await.ok()?;
        let intended = start.elapsed();
        Some(self.deliver(op, &mut record, built, intended, start).await)
    }

    /// One open-loop delivery intended at `intended` after `start`, sent within the `in_flight` bound.
    async fn deliver_at(&self, op: Op, intended: Duration, start: Instant, in_flight: &Semaphore) {
        let Some(slot) = self.hosts.get(&op.host) else { return };
        let mut record = slot.lock().await;
        let Ok(built) = self.build(op, &record, BTreeSet::new()).await else { return };
        tokio::time::sleep_until(start + intended).await;
        let Ok(_permit) = in_flight.acquire().await else { return };
        self.deliver(op, &mut record, built, intended, start).await;
    }
}

/// Closed loop: `concurrency` workers take the next report as soon as theirs is answered, until `count` reports
/// (or, without a count, until `deadline`).
pub async fn closed_loop(
    ctx: Arc<Context>,
    ops: Arc<dyn Fn(usize) -> Op + Send + Sync>,
    count: Option<usize>,
    deadline: Option<Duration>,
    concurrency: usize,
    start: Instant,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (ctx, ops, next) = (Arc::clone(&ctx), Arc::clone(&ops), Arc::clone(&next));
        workers.spawn(async move {
            loop {
                if deadline.is_some_and(|d| start.elapsed() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if count.is_some_and(|n| i >= n) {
                    break;
                }
                ctx.deliver_now(ops(i), start).await;
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

/// Open loop: report `i` is intended at `offsets[i]`, whatever happened to the earlier ones; at most `concurrency`
/// are in flight, and one waiting for a slot is measured from its intended time all the same.
pub async fn open_loop(
    ctx: Arc<Context>,
    ops: Arc<dyn Fn(usize) -> Op + Send + Sync>,
    offsets: &[Duration],
    concurrency: usize,
    start: Instant,
) {
    let in_flight = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, intended) in offsets.iter().copied().enumerate() {
        tokio::time::sleep_until(start + intended.saturating_sub(BUILD_LEAD)).await;
        let (ctx, in_flight, op) = (Arc::clone(&ctx), Arc::clone(&in_flight), ops(i));
        tasks.spawn(async move { ctx.deliver_at(op, intended, start, &in_flight).await });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

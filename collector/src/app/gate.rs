//! Fair ingest: at most one report in flight per host, and a bounded number in all, so one host token cannot stall
//! every other agent (issue 15, defect 2) and memory stays bounded (each report in flight may hold up to
//! `max_decompressed_bytes` decoded). A report over either bound is refused at once with a time to retry, which the
//! agent honours; it is never left to wait on the database's lock until a 500.
//!
//! Two lanes (issue 14): a report whose body declares at most `SMALL_BODY_BYTES` (an unchanged, hash-only report is
//! under 1 KiB) takes a place in a wide lane and is decoded to at most `SMALL_DECODED_BYTES`; every other report takes
//! one of the few places sized for `max_decompressed_bytes`. Without this, 4 places held for 64 MiB reports turned
//! away 70% of a fleet's 2 ms unchanged reports with 503 on SQLite. A small body that decodes larger is not refused
//! for it: it asks for a large place too ([`Ticket::widen`]), so memory stays bounded by
//! `small × SMALL_DECODED_BYTES + max × max_decompressed_bytes`.
//!
//! Per process: with several replicas each bounds its own reports; a host's second report reaching another replica
//! is serialised by the store's host lock instead.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a report was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// This host already has a report in flight (429).
    Host,
    /// The collector has its maximum of reports in flight (503).
    Collector,
}

impl Busy {
    /// Seconds the agent is told to wait: a host's own report finishes soon; a full collector needs longer.
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Busy::Host => 5,
            Busy::Collector => 10,
        }
    }
}

/// Largest declared body that takes the small lane.
pub const SMALL_BODY_BYTES: u64 = 16 << 10;

/// Largest decoded report in the small lane; a larger one needs a large place as well.
pub const SMALL_DECODED_BYTES: usize = 256 << 10;

/// Default places in the small lane: 32 × 256 KiB decoded is 8 MiB, and it is wider than the 8 workers a closed-loop
/// fleet test keeps in flight.
pub const DEFAULT_SMALL_MAX: usize = 32;

#[derive(Debug)]
pub struct IngestGate {
    hosts: Mutex<HashSet<String>>,
    permits: Arc<Semaphore>,
    small: Arc<Semaphore>,
    max: usize,
    small_max: usize,
}

/// A report's place in the gate; released when dropped (the report answered, failed or its client went away).
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<IngestGate>,
    host_id: String,
    /// A place in the small lane, while the report has not needed a large one.
    small: Option<OwnedSemaphorePermit>,
    large: Option<OwnedSemaphorePermit>,
}

impl Ticket {
    /// Most bytes this report may decode to, given `max_decompressed_bytes`.
    pub fn decoded_limit(&self, max_decompressed_bytes: usize) -> usize {
        if self.large.is_some() { max_decompressed_bytes } else { max_decompressed_bytes.min(SMALL_DECODED_BYTES) }
    }

    /// Takes a large place for a small-lane report that decodes over `SMALL_DECODED_BYTES`, and gives back its small
    /// one. Refused like a large report arriving now when every large place is taken.
    pub fn widen(&mut self) -> Result<(), Busy> {
        if self.large.is_none() {
            let permit = Arc::clone(&self.gate.permits).try_acquire_owned().map_err(|_| Busy::Collector)?;
            self.large = Some(permit);
            self.small = None;
        }
        Ok(())
    }

    /// Whether the report holds a small-lane place (and no large one).
    pub fn is_small(&self) -> bool {
        self.large.is_none()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.hosts.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.host_id);
    }
}

impl IngestGate {
    /// At most `max` large reports in flight (at least one), and the default small lane.
    pub fn new(max: usize) -> Arc<IngestGate> {
        IngestGate::with_small_lane(max, DEFAULT_SMALL_MAX)
    }

    /// At most `max` large and `small_max` small reports in flight (each at least one).
    pub fn with_small_lane(max: usize, small_max: usize) -> Arc<IngestGate> {
        let (max, small_max) = (max.max(1), small_max.max(1));
        Arc::new(IngestGate {
            hosts: Mutex::new(HashSet::new()),
            permits: Arc::new(Semaphore::new(max)),
            small: Arc::new(Semaphore::new(small_max)),
            max,
            small_max,
        })
    }

    /// The default bound for a store: SQLite writes one transaction at a time, so a few reports decode while one
    /// writes; PostgreSQL takes more writers.
    pub fn default_max(postgres: bool) -> usize {
        if postgres { 16 } else { 4 }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn small_max(&self) -> usize {
        self.small_max
    }

    /// Admits a report of `host_id` whose body declares `declared` bytes (`None`: not declared, so possibly large),
    /// or says which bound refuses it.
    pub fn enter(self: &Arc<Self>, host_id: &str, declared: Option<u64>) -> Result<Ticket, Busy> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if hosts.contains(host_id) {
            return Err(Busy::Host);
        }
        let is_small = declared.is_some_and(|n| n <= SMALL_BODY_BYTES);
        let lane = if is_small { &self.small } else { &self.permits };
        let permit = Arc::clone(lane).try_acquire_owned().map_err(|_| Busy::Collector)?;
        let (small, large) = if is_small { (Some(permit), None) } else { (None, Some(permit)) };
        hosts.insert(host_id.to_owned());
        Ok(Ticket { gate: Arc::clone(self), host_id: host_id.to_owned(), small, large })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_per_host_and_a_bound_in_all() {
        let gate = IngestGate::new(2);
        let a = gate.enter("a", None).unwrap();
        assert_eq!(gate.enter("a", None).unwrap_err(), Busy::Host);
        let b = gate.enter("b", Some(SMALL_BODY_BYTES + 1)).unwrap();
        assert_eq!(gate.enter("c", None).unwrap_err(), Busy::Collector);
        drop(a);
        let c = gate.enter("c", None).unwrap();
        assert_eq!(gate.enter("b", None).unwrap_err(), Busy::Host);
        drop((b, c));
        assert!(gate.hosts.lock().unwrap().is_empty(), "every host leaves when its report ends");
        assert!(gate.enter("a", None).is_ok());
    }

    #[test]
    fn small_bodies_have_their_own_lane_and_widen_when_they_decode_large() {
        let gate = IngestGate::with_small_lane(1, 2);
        let large = gate.enter("large", None).unwrap();
        assert!(!large.is_small());
        assert_eq!(large.decoded_limit(64 << 20), 64 << 20);
        // The large place is taken, yet small bodies are admitted, up to their own bound; a host is still one report.
        let mut a = gate.enter("a", Some(683)).unwrap();
        assert!(a.is_small());
        assert_eq!(a.decoded_limit(64 << 20), SMALL_DECODED_BYTES);
        assert_eq!(a.decoded_limit(1000), 1000, "never above the configured limit");
        assert_eq!(gate.enter("a", Some(683)).unwrap_err(), Busy::Host);
        let b = gate.enter("b", Some(SMALL_BODY_BYTES)).unwrap();
        assert_eq!(gate.enter("c", Some(10)).unwrap_err(), Busy::Collector, "the small lane is full");
        // Widening needs a large place; while none is free the report is refused as busy.
        assert_eq!(a.widen().unwrap_err(), Busy::Collector);
        drop(large);
        a.widen().unwrap();
        assert!(!a.is_small());
        assert_eq!(a.decoded_limit(64 << 20), 64 << 20);
        // Widening gave back the small place, and holds the large one.
        let c = gate.enter("c", Some(10)).unwrap();
        assert_eq!(gate.enter("d", None).unwrap_err(), Busy::Collector);
        drop((a, b, c));
        assert_eq!((gate.small.available_permits(), gate.permits.available_permits()), (2, 1));
        assert!(gate.hosts.lock().unwrap().is_empty());
    }
}

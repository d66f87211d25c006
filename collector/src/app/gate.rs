//! Fair ingest: at most one report in flight per host, and a bounded number in all, so one host token cannot stall
//! every other agent (issue 15, defect 2) and memory stays bounded (each report in flight may hold up to
//! `max_decompressed_bytes` decoded). A report over either bound is refused at once with a time to retry, which the
//! agent honours; it is never left to wait on the database's lock until a 500.
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

#[derive(Debug)]
pub struct IngestGate {
    hosts: Mutex<HashSet<String>>,
    permits: Arc<Semaphore>,
    max: usize,
}

/// A report's place in the gate; released when dropped (the report answered, failed or its client went away).
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<IngestGate>,
    host_id: String,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.hosts.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.host_id);
    }
}

impl IngestGate {
    /// At most `max` reports in flight (at least one).
    pub fn new(max: usize) -> Arc<IngestGate> {
        let max = max.max(1);
        Arc::new(IngestGate { hosts: Mutex::new(HashSet::new()), permits: Arc::new(Semaphore::new(max)), max })
    }

    /// The default bound for a store: SQLite writes one transaction at a time, so a few reports decode while one
    /// writes; PostgreSQL takes more writers.
    pub fn default_max(postgres: bool) -> usize {
        if postgres { 16 } else { 4 }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Admits a report of `host_id`, or says which bound refuses it.
    pub fn enter(self: &Arc<Self>, host_id: &str) -> Result<Ticket, Busy> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if hosts.contains(host_id) {
            return Err(Busy::Host);
        }
        let permit = Arc::clone(&self.permits).try_acquire_owned().map_err(|_| Busy::Collector)?;
        hosts.insert(host_id.to_owned());
        Ok(Ticket { gate: Arc::clone(self), host_id: host_id.to_owned(), _permit: permit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_report_per_host_and_a_bound_in_all() {
        let gate = IngestGate::new(2);
        let a = gate.enter("a").unwrap();
        assert_eq!(gate.enter("a").unwrap_err(), Busy::Host);
        let b = gate.enter("b").unwrap();
        assert_eq!(gate.enter("c").unwrap_err(), Busy::Collector);
        drop(a);
        let c = gate.enter("c").unwrap();
        assert_eq!(gate.enter("b").unwrap_err(), Busy::Host);
        drop((b, c));
        assert!(gate.hosts.lock().unwrap().is_empty(), "every host leaves when its report ends");
        assert!(gate.enter("a").is_ok());
    }
}

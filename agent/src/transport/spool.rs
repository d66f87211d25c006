//! The on-disk spool: the one report still waiting for delivery, kept across restarts and collector outages.
//!
//! Only the newest pending report is kept. A new report merged over an older pending one takes the newer content of
//! every section it has and keeps the older content of sections it lacks (one that failed to collect this time), so
//! no collected section change is lost while the spool stays the size of one report. The spool holds *full*
//! sections; what travels as a hash only is decided at send time against the acknowledged hashes.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use muster_shared::v1::{Report, SectionName};
use serde::{Deserialize, Serialize};

use super::delta::copy_section;
use super::state::write_private;

/// Default bound on the spool file (compressed).
pub const DEFAULT_CAP: u64 = 50 * 1024 * 1024;

/// A bound on the decompressed size read back, so a damaged file cannot exhaust memory.
const MAX_DECOMPRESSED: u64 = 512 * 1024 * 1024;

/// A report that has not been acknowledged yet, with the id every retry of it reuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingReport {
    pub report_id: String,
    pub report: Report,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("spool {path} is damaged ({reason}); it was discarded")]
    Corrupt { path: PathBuf, reason: String },
    #[error("the pending report is {size} bytes compressed, over the spool cap of {cap} bytes; it was not kept")]
    TooLarge { size: u64, cap: u64 },
}

/// Merges a newly collected report over the pending one; see the module documentation.
pub fn merge(older: &PendingReport, newer: PendingReport) -> PendingReport {
    let mut merged = newer;
    for name in SectionName::ALL {
        if !merged.report.has_section(name) && older.report.has_section(name) {
            copy_section(&older.report, &mut merged.report, name);
        }
    }
    let asked: BTreeSet<SectionName> =
        merged.report.agent.sections.iter().chain(&older.report.agent.sections).copied().collect();
    merged.report.agent.sections = asked.into_iter().collect();
    merged
}

/// zstd-compressed JSON, the spool file's format.
pub fn encode(pending: &PendingReport) -> Result<Vec<u8>, std::io::Error> {
    let json = serde_json::to_vec(pending)?;
    zstd::encode_all(json.as_slice(), 3)
}

/// Reads back what [`encode`] wrote; `Err` carries the reason a file is unusable.
pub fn decode(bytes: &[u8]) -> Result<PendingReport, String> {
    let decoder = zstd::Decoder::new(bytes).map_err(|e| format!("zstd: {e}"))?;
    let mut json = Vec::new();
    decoder.take(MAX_DECOMPRESSED + 1).read_to_end(&mut json).map_err(|e| format!("zstd: {e}"))?;
    if json.len() as u64 > MAX_DECOMPRESSED {
        return Err(format!("decompresses to more than {MAX_DECOMPRESSED} bytes"));
    }
    serde_json::from_slice(&json).map_err(|e| format!("json: {e}"))
}

/// The spool file in a state directory.
#[derive(Debug, Clone)]
pub struct Spool {
    path: PathBuf,
    cap: u64,
}

impl Spool {
    pub fn new(state_dir: &Path, cap: u64) -> Spool {
        Spool { path: state_dir.join("spool.json.zst"), cap }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pending report, if any. A damaged file is removed and reported as [`SpoolError::Corrupt`].
    pub fn load(&self) -> Result<Option<PendingReport>, SpoolError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SpoolError::Io { path: self.path.clone(), source }),
        };
        match decode(&bytes) {
            Ok(pending) => Ok(Some(pending)),
            Err(reason) => {
                self.clear()?;
                Err(SpoolError::Corrupt { path: self.path.clone(), reason })
            }
        }
    }

    /// Replaces the spooled report. Over the cap, the spool is emptied and [`SpoolError::TooLarge`] returned.
    pub fn store(&self, pending: &PendingReport) -> Result<u64, SpoolError> {
        let bytes = encode(pending).map_err(|source| SpoolError::Io { path: self.path.clone(), source })?;
        let size = bytes.len() as u64;
        if size > self.cap {
            self.clear()?;
            return Err(SpoolError::TooLarge { size, cap: self.cap });
        }
        write_private(&self.path, &bytes).map_err(|source| SpoolError::Io { path: self.path.clone(), source })?;
        Ok(size)
    }

    pub fn clear(&self) -> Result<(), SpoolError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SpoolError::Io { path: self.path.clone(), source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::delta::tests::sample;
    use muster_shared::v1::Os;

    fn pending(id: &str, report: Report) -> PendingReport {
        PendingReport { report_id: id.to_string(), report }
    }

    #[test]
    fn the_newer_report_wins_per_section_and_keeps_what_it_lacks() {
        let older = pending("old", sample("web1", "12"));
        let mut newer_report = sample("web2", "13");
        newer_report.os = None;
        newer_report.agent.sections = vec![SectionName::Host];
        let merged = merge(&older, pending("new", newer_report.clone()));
        assert_eq!(merged.report_id, "new");
        assert_eq!(merged.report.host, newer_report.host);
        assert_eq!(merged.report.os, older.report.os);
        assert_eq!(merged.report.collected_at, newer_report.collected_at);
        assert_eq!(merged.report.agent.sections, [SectionName::Host, SectionName::Os]);

        let newest = merge(&merged, pending("newest", sample("web3", "14")));
        assert_eq!(newest.report, sample("web3", "14"));
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let original = pending("r1", sample("web1", "12"));
        let bytes = encode(&original).unwrap();
        assert_eq!(decode(&bytes).unwrap(), original);
        assert!(decode(&bytes[..bytes.len() / 2]).unwrap_err().starts_with("zstd"));
        assert!(decode(b"not zstd").unwrap_err().starts_with("zstd"));
        let not_a_report = zstd::encode_all(&b"{\"report_id\": 1}"[..], 3).unwrap();
        assert!(decode(&not_a_report).unwrap_err().starts_with("json"));
    }

    #[test]
    fn store_load_clear_and_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), DEFAULT_CAP);
        assert_eq!(spool.load().unwrap(), None);
        let mut report = sample("web1", "12");
        report.os = Some(Os { pretty_name: Some("x".repeat(4096)), ..Os::default() });
        let original = pending("r1", report);
        let size = spool.store(&original).unwrap();
        assert_eq!(spool.load().unwrap(), Some(original.clone()));

        let small = Spool::new(dir.path(), size - 1);
        assert!(matches!(small.store(&original), Err(SpoolError::TooLarge { cap, .. }) if cap == size - 1));
        assert_eq!(spool.load().unwrap(), None, "an oversized report empties the spool rather than keep stale data");

        std::fs::write(spool.path(), b"garbage").unwrap();
        assert!(matches!(spool.load(), Err(SpoolError::Corrupt { .. })));
        assert_eq!(spool.load().unwrap(), None);
    }
}

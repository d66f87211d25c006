//! Report envelopes exactly as the agent sends them: full, delta against the acknowledged section hashes, or hashes
//! only, and the zstd body that carries them.
//!
//! The delta rule is the agent's own (`muster_agent::transport::delta::build_envelope`), so a simulated host sends
//! what a real one would. The hash-only envelope of an unchanged host is built from the stored hashes without
//! rebuilding its report: the same bytes for a fraction of the CPU, which keeps the load generator light when it
//! offers thousands of unchanged reports a second.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use muster_agent::transport::delta::build_envelope;
use muster_shared::v1::{Report, ReportEnvelope, SectionName};

/// Section hashes the collector acknowledged for a host.
pub type Hashes = BTreeMap<SectionName, String>;

/// zstd level 3, as the agent uses.
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("serialising the envelope: {0}")]
    Json(#[from] serde_json::Error),
    #[error("compressing the envelope: {0}")]
    Zstd(#[from] std::io::Error),
}

/// The envelope for `report` given what the collector holds (`acked`); `force_full` sections go in full regardless.
pub fn delta(report_id: &str, report: &Report, acked: &Hashes, force_full: &BTreeSet<SectionName>) -> ReportEnvelope {
    build_envelope(report_id, report, acked, force_full)
}

/// An unchanged host's envelope: every section as its acknowledged hash; `skeleton` supplies the report's
/// non-section fields (agent, errors) and `now` its collection time.
pub fn hash_only(report_id: &str, skeleton: &Report, acked: &Hashes, now: DateTime<Utc>) -> ReportEnvelope {
    let mut report = skeleton.clone();
    for name in SectionName::ALL {
        report.clear_section(name);
    }
    report.collected_at = now;
    ReportEnvelope { report_id: report_id.to_string(), section_hashes: acked.clone(), report }
}

/// The zstd-compressed JSON body of `envelope`.
pub fn encode(envelope: &ReportEnvelope) -> Result<Vec<u8>, EncodeError> {
    let json = serde_json::to_vec(envelope)?;
    Ok(zstd::encode_all(json.as_slice(), ZSTD_LEVEL)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::tests::{fleet_of, image};
    use muster_shared::v1::section_hashes;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn hash_only_equals_the_agents_delta_of_an_unchanged_report() {
        let fleet = fleet_of(&["debian-12-apt", "alpine-3.14"]);
        for index in 0..4 {
            let first = fleet.report(index, 0, at("2026-01-01T00:00:00Z"));
            let acked = section_hashes(&first);
            let later = fleet.report(index, 0, at("2026-01-01T01:00:00Z"));
            let agent = delta("r2", &later, &acked, &BTreeSet::new());
            let ours = hash_only("r2", &first, &acked, at("2026-01-01T01:00:00Z"));
            assert_eq!(ours, agent, "host {index}");
            assert!(SectionName::ALL.iter().all(|s| !ours.report.has_section(*s)));
        }
    }

    #[test]
    fn a_patch_round_sends_only_software_in_full() {
        let fleet = fleet_of(&["debian-12-apt"]);
        let now = at("2026-01-01T00:00:00Z");
        let before = fleet.report(3, 0, now);
        let acked = section_hashes(&before);
        let after = fleet.report(3, 1, now);
        let envelope = delta("r3", &after, &acked, &BTreeSet::new());
        let full: Vec<SectionName> = SectionName::ALL.into_iter().filter(|s| envelope.report.has_section(*s)).collect();
        assert_eq!(full, [SectionName::Software]);
        assert_eq!(envelope.section_hashes, section_hashes(&after));
        assert_ne!(envelope.section_hashes[&SectionName::Software], acked[&SectionName::Software]);
    }

    #[test]
    fn encoded_bodies_decode_to_the_envelope() {
        let fleet = fleet_of(&["debian-12-apt"]);
        let report = fleet.report(0, 0, at("2026-01-01T00:00:00Z"));
        let envelope = delta("r1", &report, &Hashes::new(), &BTreeSet::new());
        let body = encode(&envelope).unwrap();
        let json = zstd::decode_all(body.as_slice()).unwrap();
        let back: ReportEnvelope = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, envelope);
        assert!(body.len() < json.len() / 3, "{} of {}", body.len(), json.len());
        assert_eq!(image("debian-12-apt").report.software.unwrap().packages.len(), 140);
    }
}

//! Delta selection: which sections of a report travel in full and which as a hash only.
//!
//! The agent keeps the section hashes the collector last *acknowledged*. A section whose hash is unchanged since
//! then is sent as its hash alone; everything else goes in full. Acknowledged (not merely sent) hashes are the
//! reference, so a report lost in transit can never make the agent believe the collector has data it never stored.

use std::collections::{BTreeMap, BTreeSet};

use muster_shared::v1::{Report, ReportEnvelope, SectionName, section_hashes};

/// Section hashes the collector confirmed it holds for this host.
pub type SectionHashes = BTreeMap<SectionName, String>;

/// The envelope for `full` given what the collector already has (`acked`); `force_full` sections always go in full
/// (the collector asked for them with `needs_full`).
pub fn build_envelope(
    report_id: &str,
    full: &Report,
    acked: &SectionHashes,
    force_full: &BTreeSet<SectionName>,
) -> ReportEnvelope {
    let hashes = section_hashes(full);
    let mut report = full.clone();
    for (name, hash) in &hashes {
        if !force_full.contains(name) && acked.get(name) == Some(hash) {
            report.clear_section(*name);
        }
    }
    ReportEnvelope { report_id: report_id.to_string(), section_hashes: hashes, report }
}

/// The sections an envelope carries in full (the rest of its hashes are hash-only).
pub fn sections_in_full(envelope: &ReportEnvelope) -> Vec<SectionName> {
    SectionName::ALL.into_iter().filter(|name| envelope.report.has_section(*name)).collect()
}

/// Copies section `name` from `from` into `to` (absent in `from` means absent in `to`).
pub(crate) fn copy_section(from: &Report, to: &mut Report, name: SectionName) {
    match name {
        SectionName::Host => to.host.clone_from(&from.host),
        SectionName::Hardware => to.hardware.clone_from(&from.hardware),
        SectionName::Os => to.os.clone_from(&from.os),
        SectionName::Software => to.software.clone_from(&from.software),
        SectionName::Patches => to.patches.clone_from(&from.patches),
        SectionName::Checks => to.checks.clone_from(&from.checks),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use muster_shared::v1::{AgentInfo, CollectionMode, Host, Os, SCHEMA};

    pub(crate) fn sample(hostname: &str, os_version: &str) -> Report {
        Report {
            schema: SCHEMA.to_string(),
            agent: AgentInfo {
                version: "0.1.0".to_string(),
                mode: CollectionMode::Live,
                root: None,
                sections: vec![SectionName::Host, SectionName::Os],
            },
            host: Some(Host { hostname: Some(hostname.to_string()), ..Host::default() }),
            hardware: None,
            os: Some(Os { id: Some("debian".to_string()), version_id: Some(os_version.to_string()), ..Os::default() }),
            software: None,
            patches: None,
            checks: None,
            errors: Vec::new(),
            collected_at: DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().with_timezone(&Utc),
        }
    }

    #[test]
    fn first_report_goes_in_full() {
        let report = sample("web1", "12");
        let envelope = build_envelope("r1", &report, &SectionHashes::new(), &BTreeSet::new());
        assert_eq!(envelope.report, report);
        assert_eq!(envelope.section_hashes, section_hashes(&report));
        assert_eq!(sections_in_full(&envelope), [SectionName::Host, SectionName::Os]);
    }

    #[test]
    fn unchanged_sections_travel_as_hashes_only() {
        let before = sample("web1", "12");
        let acked = section_hashes(&before);
        let after = sample("web1", "13");
        let envelope = build_envelope("r2", &after, &acked, &BTreeSet::new());
        assert_eq!(sections_in_full(&envelope), [SectionName::Os]);
        assert_eq!(envelope.report.host, None);
        assert_eq!(envelope.report.os, after.os);
        // The hashes always describe every collected section, sent in full or not.
        assert_eq!(envelope.section_hashes, section_hashes(&after));
        assert_eq!(envelope.section_hashes[&SectionName::Host], acked[&SectionName::Host]);
    }

    #[test]
    fn forced_sections_go_in_full_even_when_acknowledged() {
        let report = sample("web1", "12");
        let acked = section_hashes(&report);
        let unchanged = build_envelope("r3", &report, &acked, &BTreeSet::new());
        assert!(sections_in_full(&unchanged).is_empty());
        let forced = build_envelope("r3", &report, &acked, &BTreeSet::from([SectionName::Host]));
        assert_eq!(sections_in_full(&forced), [SectionName::Host]);
        assert_eq!(forced.report.host, report.host);
    }
}

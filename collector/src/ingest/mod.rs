//! Report ingest logic that needs no database: body decoding under limits, the delta check, history diffing and
//! the software catalogue key.

pub mod decode;
pub mod diff;
pub mod limits;

use std::collections::BTreeMap;

use muster_shared::v1::{Package, Report, ReportEnvelope, SectionName, section_hashes};
use sha2::{Digest, Sha256};

/// The section hashes to store: the collector's own hash for every section sent in full, the agent's claim for the
/// sections sent as a hash only. Also returns the full sections whose claimed hash differs from the content (a sign
/// of diverging serialisation; the content wins).
pub fn effective_hashes(envelope: &ReportEnvelope) -> (BTreeMap<SectionName, String>, Vec<SectionName>) {
    let computed = section_hashes(&envelope.report);
    let mut hashes = envelope.section_hashes.clone();
    let mut mismatched = Vec::new();
    for (section, hash) in computed {
        if hashes.get(&section).is_some_and(|claimed| *claimed != hash) {
            mismatched.push(section);
        }
        hashes.insert(section, hash);
    }
    (hashes, mismatched)
}

/// Hash-only sections whose hash the collector cannot confirm (stored copy differs or is missing).
pub fn needs_full(
    report: &Report,
    hashes: &BTreeMap<SectionName, String>,
    stored: &BTreeMap<String, String>,
) -> Vec<SectionName> {
    hashes
        .iter()
        .filter(|(section, hash)| !report.has_section(**section) && stored.get(section.as_str()) != Some(*hash))
        .map(|(section, _)| *section)
        .collect()
}

/// The stored JSON of each full section. Software keeps only its sources and package count here: its packages go
/// to the shared catalogue.
pub fn section_contents(report: &Report) -> Result<Vec<(SectionName, String)>, serde_json::Error> {
    let mut out = Vec::new();
    if let Some(s) = &report.host {
        out.push((SectionName::Host, serde_json::to_string(s)?));
    }
    if let Some(s) = &report.hardware {
        out.push((SectionName::Hardware, serde_json::to_string(s)?));
    }
    if let Some(s) = &report.os {
        out.push((SectionName::Os, serde_json::to_string(s)?));
    }
    if let Some(s) = &report.software {
        let summary = serde_json::json!({ "sources": s.sources, "package_count": s.packages.len() });
        out.push((SectionName::Software, serde_json::to_string(&summary)?));
    }
    if let Some(s) = &report.patches {
        out.push((SectionName::Patches, serde_json::to_string(s)?));
    }
    if let Some(s) = &report.checks {
        out.push((SectionName::Checks, serde_json::to_string(s)?));
    }
    Ok(out)
}

/// Catalogue key of a package: the same (kind, name, version, arch, source name, source version) on any host gives
/// the same id, so rows can be inserted in bulk with `ON CONFLICT DO NOTHING` and no id round trip.
pub fn software_id(p: &Package) -> String {
    let mut h = Sha256::new();
    for part in [
        Some(p.kind.as_str()),
        Some(p.name.as_str()),
        Some(p.version.as_str()),
        p.arch.as_deref(),
        p.source_name.as_deref(),
        p.source_version.as_deref(),
    ] {
        // A NUL cannot occur in package metadata as stored; the marker byte tells absent from empty.
        match part {
            Some(s) => {
                h.update([1u8]);
                h.update(s.as_bytes());
            }
            None => h.update([0u8]),
        }
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::PackageKind;

    fn openssl(arch: Option<&str>) -> Package {
        Package {
            kind: PackageKind::Deb,
            name: "openssl".into(),
            version: "3.0.13-1~deb12u1".into(),
            arch: arch.map(Into::into),
            source_name: Some("openssl".into()),
            source_version: None,
            installed_at: None,
            size_bytes: Some(2_311_000),
            state: None,
            path: None,
            owner: None,
            publisher: None,
        }
    }

    #[test]
    fn software_id_is_stable_and_tells_absent_from_empty() {
        let a = software_id(&openssl(Some("amd64")));
        assert_eq!(a, software_id(&openssl(Some("amd64"))));
        assert_eq!(a.len(), 32);
        assert_ne!(a, software_id(&openssl(None)));
        assert_ne!(software_id(&openssl(None)), software_id(&openssl(Some(""))));
        let mut other_host = openssl(Some("amd64"));
        other_host.size_bytes = Some(1);
        assert_eq!(a, software_id(&other_host));
    }
}

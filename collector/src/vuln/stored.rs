//! The normalised advisory as the collector's database keeps it: the matching model in a JSON shape of its own.
//!
//! Storing the model rather than the raw OSV record makes loading cheap (no CVSS scoring, no re-normalising) and
//! keeps what was dropped at import (GIT ranges, entries without package) out of the database.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use muster_shared::version::Ecosystem;
use serde::{Deserialize, Serialize};

use super::advisory::{Advisory, Affected, Event, Interner, PackageKey, Range};
use super::ecosystem::advisory_name;
use super::severity::{Severity, SeverityLevel};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAdvisory {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<DateTime<Utc>>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub severity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_vector: Option<String>,
    #[serde(default)]
    pub affected: Vec<StoredAffected>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAffected {
    pub ecosystem: String,
    pub name: String,
    #[serde(default)]
    pub ranges: Vec<StoredRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binaries: Vec<String>,
    /// The vendor's label for this package (see [`Affected::vendor_severity`]); absent in records stored before
    /// it was kept, which then rate by CVSS until re-imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_severity: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRange {
    /// The version order's canonical name (`deb`, `rpm`, `apk`, `semver`, `pep440`).
    pub order: String,
    pub events: Vec<StoredEvent>,
}

/// Serialised as OSV writes events: `{"introduced": "1.0"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredEvent {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error("stored advisory is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored advisory {id} names an unknown version order {order:?}")]
    Order { id: String, order: String },
}

impl StoredAdvisory {
    pub fn from_advisory(a: &Advisory) -> Self {
        Self {
            id: a.id.to_string(),
            modified: a.modified,
            published: a.published,
            withdrawn: a.withdrawn,
            aliases: a.aliases.iter().map(|s| s.to_string()).collect(),
            summary: a.summary.as_ref().map(|s| s.to_string()),
            severity: a.severity.level.as_str().to_owned(),
            cvss_score: a.severity.score,
            cvss_vector: a.severity.vector.as_ref().map(|s| s.to_string()),
            affected: a
                .affected
                .iter()
                .map(|af| StoredAffected {
                    ecosystem: af.key.ecosystem.to_string(),
                    name: af.key.name.to_string(),
                    ranges: af
                        .ranges
                        .iter()
                        .map(|r| StoredRange {
                            order: r.order.name().to_owned(),
                            events: r
                                .events
                                .iter()
                                .map(|e| match e {
                                    Event::Introduced(v) => StoredEvent::Introduced(v.to_string()),
                                    Event::Fixed(v) => StoredEvent::Fixed(v.to_string()),
                                    Event::LastAffected(v) => StoredEvent::LastAffected(v.to_string()),
                                    Event::Limit(v) => StoredEvent::Limit(v.to_string()),
                                })
                                .collect(),
                        })
                        .collect(),
                    versions: af.versions.iter().map(|s| s.to_string()).collect(),
                    binaries: af.binaries.iter().map(|s| s.to_string()).collect(),
                    vendor_severity: af.vendor_severity.as_ref().map(|s| s.to_string()),
                })
                .collect(),
        }
    }

    /// Rebuilds the matching model; events were sorted at import and keep their order.
    pub fn into_advisory(self, interner: &mut Interner) -> Result<Advisory, StoredError> {
        let mut affected = Vec::with_capacity(self.affected.len());
        for af in self.affected {
            let mut ranges = Vec::with_capacity(af.ranges.len());
            for r in af.ranges {
                let order = Ecosystem::parse(&r.order)
                    .map_err(|_| StoredError::Order { id: self.id.clone(), order: r.order.clone() })?;
                let events: Vec<Event> = r
                    .events
                    .into_iter()
                    .map(|e| match e {
                        StoredEvent::Introduced(v) => Event::Introduced(interner.str(&v)),
                        StoredEvent::Fixed(v) => Event::Fixed(interner.str(&v)),
                        StoredEvent::LastAffected(v) => Event::LastAffected(interner.str(&v)),
                        StoredEvent::Limit(v) => Event::Limit(interner.str(&v)),
                    })
                    .collect();
                ranges.push(Range { order, events: events.into() });
            }
            let versions: Vec<Arc<str>> = af.versions.iter().map(|v| interner.str(v)).collect();
            affected.push(Affected {
                key: PackageKey {
                    ecosystem: interner.str(&af.ecosystem),
                    name: interner.str(&advisory_name(&af.ecosystem, &af.name)),
                },
                ranges: ranges.into(),
                versions: interner.list(versions),
                binaries: af.binaries.iter().map(|b| interner.str(b)).collect::<Vec<_>>().into(),
                vendor_severity: af.vendor_severity.as_deref().map(|v| interner.str(v)),
            });
        }
        Ok(Advisory {
            id: Arc::from(self.id.as_str()),
            modified: self.modified,
            published: self.published,
            withdrawn: self.withdrawn,
            aliases: self.aliases.iter().map(|a| interner.str(a)).collect::<Vec<_>>().into(),
            summary: self.summary.map(String::into_boxed_str),
            details: None,
            severity: Severity {
                level: SeverityLevel::from_label(&self.severity).unwrap_or_default(),
                score: self.cvss_score,
                vector: self.cvss_vector.map(String::into_boxed_str),
            },
            affected: affected.into(),
            kev_added: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::osv::RawRecord;

    #[test]
    fn round_trips_a_real_record() {
        // DSA-5514-1 as OSV.dev exports it (testdata/advisories/debian/debian-osv-subset.jsonl).
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/advisories/debian/debian-osv-subset.jsonl"
        ))
        .unwrap();
        let mut interner = Interner::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let raw: RawRecord<'_> = serde_json::from_str(line).unwrap();
            let advisory = Advisory::from_raw(raw, &mut interner, &mut Default::default());
            let stored = StoredAdvisory::from_advisory(&advisory);
            let json = serde_json::to_string(&stored).unwrap();
            let back: StoredAdvisory = serde_json::from_str(&json).unwrap();
            assert_eq!(back, stored);
            let rebuilt = back.into_advisory(&mut interner).unwrap();
            assert_eq!(StoredAdvisory::from_advisory(&rebuilt), stored);
            assert_eq!(rebuilt.severity, advisory.severity);
            let vendor = |a: &Advisory| a.affected.iter().map(|af| af.vendor_severity.clone()).collect::<Vec<_>>();
            assert_eq!(vendor(&rebuilt), vendor(&advisory));
            if advisory.id.as_ref() == "CVE-2023-51767" {
                assert!(advisory.affected.iter().all(|af| af.vendor_severity.as_deref() == Some("unimportant")));
            }
        }
    }
}

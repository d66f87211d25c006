//! Severity: an advisory's CVSS score, the distribution's own rating of one affected package, and the rating of a
//! match that combines them (the distribution's first, CVSS when it has none, KEV-listed always critical).

use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;

/// Qualitative severity, ordered from least to most urgent; `Unknown` ranks below everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SeverityLevel {
    #[default]
    Unknown,
    /// Debian's `unimportant`, Ubuntu's `negligible`, a CVSS score of 0.0.
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Negligible => "negligible",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Reads the labels advisories use (GitHub, Debian urgency, Ubuntu priority, Red Hat/AlmaLinux impact).
    pub fn from_label(label: &str) -> Option<Self> {
        let label = label.trim().trim_end_matches('*').to_ascii_lowercase();
        match label.as_str() {
            "critical" => Some(Self::Critical),
            "high" | "important" => Some(Self::High),
            "medium" | "moderate" => Some(Self::Medium),
            "low" => Some(Self::Low),
            "negligible" | "unimportant" | "none" => Some(Self::Negligible),
            _ => None,
        }
    }

    pub fn from_score(score: f64) -> Self {
        match score {
            s if s >= 9.0 => Self::Critical,
            s if s >= 7.0 => Self::High,
            s if s >= 4.0 => Self::Medium,
            s if s > 0.0 => Self::Low,
            _ => Self::Negligible,
        }
    }
}

/// How urgent an advisory is, and from what.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Severity {
    pub level: SeverityLevel,
    /// The highest base score among the record's CVSS vectors.
    pub score: Option<f64>,
    /// The vector that gave `score`.
    pub vector: Option<Box<str>>,
}

impl Severity {
    /// Takes the highest-scoring parseable CVSS vector; vectors the `cvss` crate rejects are ignored.
    pub fn from_vectors<'a>(vectors: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut best: Option<Self> = None;
        for vector in vectors {
            let Ok(cvss) = cvss::Cvss::from_str(vector.trim()) else { continue };
            let score = cvss.score();
            if best.as_ref().and_then(|b| b.score).is_none_or(|s| score > s) {
                best = Some(Self {
                    level: SeverityLevel::from_score(score),
                    score: Some(score),
                    vector: Some(vector.trim().into()),
                });
            }
        }
        best
    }

    /// The most severe of the given labels, when no CVSS vector is available.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a str>) -> Self {
        let level = labels.into_iter().filter_map(SeverityLevel::from_label).max().unwrap_or_default();
        Self { level, score: None, vector: None }
    }
}

/// Where a match's severity level comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeveritySource {
    /// The distribution's own rating of the affected package (Debian urgency, Ubuntu priority, the Red Hat
    /// family's impact), or the record's own label in other ecosystems.
    Vendor,
    /// The highest CVSS base score among the record's vectors, because the vendor gives no rating.
    Cvss,
    /// Listed in CISA's Known Exploited Vulnerabilities catalog: critical whatever the vendor says.
    Kev,
}

impl SeveritySource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vendor => "vendor",
            Self::Cvss => "cvss",
            Self::Kev => "kev",
        }
    }
}

/// Debian's urgency for a package no longer supported in that release; a support state, not a rating.
pub const END_OF_LIFE: &str = "end-of-life";

/// Whether a vendor label says the package gets no more security support in that release.
pub fn is_end_of_life(label: &str) -> bool {
    label.trim().eq_ignore_ascii_case(END_OF_LIFE)
}

/// Whether a label is worth keeping as the vendor's word on a package: a rating, or end of life. Placeholders such
/// as Debian's `not yet assigned` or Ubuntu's `untriaged` are not.
pub fn is_vendor_label(label: &str) -> bool {
    SeverityLevel::from_label(label).is_some() || is_end_of_life(label)
}

/// The severity of one advisory matching one package, with the parts it was decided from.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    pub level: SeverityLevel,
    /// `None` when neither the vendor nor a CVSS vector rates the advisory (`level` is then `Unknown`).
    pub source: Option<SeveritySource>,
    /// The vendor's label as published (`unimportant`, `Important`, `end-of-life`…), even when it is not a rating.
    pub vendor: Option<Arc<str>>,
    pub cvss_score: Option<f64>,
    pub cvss_vector: Option<Box<str>>,
    pub kev: bool,
}

impl Rating {
    /// Decides a match's severity: KEV-listed → critical; else the vendor's rating; else CVSS; else unknown.
    /// `record` is the advisory's own [`Severity`]: only its CVSS part is used here, since record-wide labels may
    /// belong to another ecosystem's entry.
    pub fn new(record: &Severity, vendor: Option<&Arc<str>>, kev: bool) -> Self {
        let cvss_level = record.score.map(SeverityLevel::from_score);
        let vendor_level = vendor.and_then(|v| SeverityLevel::from_label(v));
        let (level, source) = if kev {
            (SeverityLevel::Critical, Some(SeveritySource::Kev))
        } else if let Some(level) = vendor_level {
            (level, Some(SeveritySource::Vendor))
        } else if let Some(level) = cvss_level {
            (level, Some(SeveritySource::Cvss))
        } else {
            (SeverityLevel::Unknown, None)
        };
        Self {
            level,
            source,
            vendor: vendor.cloned(),
            cvss_score: record.score,
            cvss_vector: record.vector.clone(),
            kev,
        }
    }

    /// Negligible matches (Debian `unimportant`, Ubuntu `negligible`) stay visible but open no finding unless the
    /// policy says so; KEV-listed ones are never negligible.
    pub fn opens_finding(&self, policy: &FindingPolicy) -> bool {
        self.level != SeverityLevel::Negligible || policy.negligible_opens_finding
    }
}

/// What opens a vulnerability finding; the defaults are Muster's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FindingPolicy {
    /// Open findings for matches the vendor rates negligible (default: no, they are shown but not worked on).
    pub negligible_opens_finding: bool,
}

/// The policy parameter (`params.negligible_opens_finding`, 0 or 1) that sets
/// [`FindingPolicy::negligible_opens_finding`].
pub const NEGLIGIBLE_OPENS_FINDING_PARAM: &str = "negligible_opens_finding";

impl FindingPolicy {
    /// The collector's policy parameters as a finding policy: any value but 0 turns a setting on; a missing
    /// parameter keeps the default.
    pub fn from_params(params: &std::collections::BTreeMap<String, i64>) -> Self {
        Self { negligible_opens_finding: params.get(NEGLIGIBLE_OPENS_FINDING_PARAM).is_some_and(|v| *v != 0) }
    }
}

/// Red Hat-style summaries start with the impact: `"Important: firefox security update"`.
pub fn summary_label(summary: &str) -> Option<&str> {
    summary.split_once(':').map(|(label, _)| label).filter(|l| SeverityLevel::from_label(l).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_vectors_and_reads_labels() {
        let s = Severity::from_vectors(["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "not a vector"]).unwrap();
        assert_eq!((s.level, s.score), (SeverityLevel::Critical, Some(9.8)));
        let s = Severity::from_vectors(["CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N"]).unwrap();
        assert_eq!((s.level, s.score), (SeverityLevel::Low, Some(3.7)));
        assert_eq!(Severity::from_labels(["not yet assigned", "medium", "low"]).level, SeverityLevel::Medium);
        assert_eq!(summary_label("Important: firefox security update"), Some("Important"));
        assert_eq!(summary_label("python-html-sanitizer - security update"), None);
    }

    #[test]
    fn vendor_first_then_cvss_and_kev_always_critical() {
        // CVE-2019-1010022 (glibc): CVSS 9.8, Debian urgency `unimportant`.
        let record = Severity::from_vectors(["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"]).unwrap();
        let unimportant: Arc<str> = Arc::from("unimportant");
        let r = Rating::new(&record, Some(&unimportant), false);
        assert_eq!(
            (r.level, r.source, r.cvss_score),
            (SeverityLevel::Negligible, Some(SeveritySource::Vendor), Some(9.8))
        );
        assert!(!r.opens_finding(&FindingPolicy::default()));
        assert!(r.opens_finding(&FindingPolicy { negligible_opens_finding: true }));
        // `end-of-life` is kept as the vendor's word but is no rating: CVSS decides the level.
        let eol: Arc<str> = Arc::from(END_OF_LIFE);
        let r = Rating::new(&record, Some(&eol), false);
        assert_eq!(
            (r.level, r.source, r.vendor.as_deref()),
            (SeverityLevel::Critical, Some(SeveritySource::Cvss), Some("end-of-life"))
        );
        let r = Rating::new(&record, Some(&unimportant), true);
        assert_eq!((r.level, r.source), (SeverityLevel::Critical, Some(SeveritySource::Kev)));
        assert!(r.opens_finding(&FindingPolicy::default()));
        let r = Rating::new(&Severity::default(), None, false);
        assert_eq!((r.level, r.source), (SeverityLevel::Unknown, None));
        assert!(!is_vendor_label("not yet assigned") && is_vendor_label("Important") && is_vendor_label("end-of-life"));
    }
}

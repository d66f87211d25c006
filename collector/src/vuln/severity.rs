//! Severity of an advisory: a CVSS score computed from the record's vectors, else the distribution's own label.

use std::str::FromStr;

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

    fn from_score(score: f64) -> Self {
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
}

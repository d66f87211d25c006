//! The order in which to work on vulnerabilities, written down so it can be explained: known exploited first, then
//! what can be fixed now, then severity, then exposure (a program of the package listens on the network), then age.
//!
//! The same [`Priority`] orders a host's matches, its fix groups (a group takes its most urgent member's priority)
//! and, later, the fleet's worklist; [`Priority::score`] is the same order as one number, for a host risk score
//! that must be shown with its parts.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use super::fix::FixState;
use super::severity::{Rating, SeverityLevel};
use crate::model::Severity;

/// The parts a match (or a fix group) is ranked by, most significant first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Priority {
    /// Listed in CISA's KEV catalog: exploited in the wild.
    pub known_exploited: bool,
    pub fix_state: FixState,
    /// The match's rating ([`super::severity::Rating`]: vendor first, KEV critical).
    pub severity: SeverityLevel,
    /// A program of the vulnerable package listens on an address other machines can reach: within a severity level
    /// it ranks above the same hole behind no socket. It does not outrank severity, since a library hole reaches
    /// the network through programs of other packages, which the host's listeners do not show.
    pub exposed: bool,
    /// Breaks ties within a severity level.
    pub cvss_score: Option<f64>,
    /// Older advisories first: the longer a hole has been public, the likelier it is used.
    pub published: Option<DateTime<Utc>>,
}

/// Weights of [`Priority::score`]; each part outweighs everything after it.
pub const KEV_POINTS: u32 = 100_000;
pub const FIX_POINTS: u32 = 10_000;
pub const SEVERITY_POINTS: u32 = 1_000;
/// Above any CVSS part (at most 100), below one severity level.
pub const EXPOSED_POINTS: u32 = 500;

impl Priority {
    /// The priority of one match from its rating, fix state and publication date.
    pub fn of(rating: &Rating, fix_state: FixState, published: Option<DateTime<Utc>>) -> Self {
        Self {
            known_exploited: rating.kev,
            fix_state,
            severity: rating.level,
            exposed: false,
            cvss_score: rating.cvss_score,
            published,
        }
    }

    /// How actionable the fix state is: a fix the host can install (3), one that most likely installs (2), one its
    /// sources lack (1), none (0).
    pub fn fix_rank(&self) -> u32 {
        match self.fix_state {
            FixState::FixAvailable => Self::ACTIONABLE,
            FixState::FixUnverified => 2,
            FixState::FixReleased => 1,
            FixState::NoFix | FixState::EndOfLife => 0,
        }
    }

    /// Negligible 1, low 2, medium 3, high 4, critical 5; an unrated match ranks as medium, as its finding is
    /// rated (`findings::vulnerability::finding_severity`): unrated is not buried below low.
    pub fn severity_rank(&self) -> u32 {
        match self.severity {
            SeverityLevel::Unknown => SeverityLevel::Medium as u32,
            level => level as u32,
        }
    }

    /// The order as a number: `100000·KEV + 10000·fix_rank + 1000·severity_rank + 500·exposed + round(10·CVSS)`.
    /// Age is not in the score (it needs a clock); it only breaks ties in [`Priority::cmp_urgency`].
    pub fn score(&self) -> u32 {
        let cvss = self.cvss_score.map_or(0, |s| (s * 10.0).round().clamp(0.0, 100.0) as u32);
        u32::from(self.known_exploited) * KEV_POINTS
            + self.fix_rank() * FIX_POINTS
            + self.severity_rank() * SEVERITY_POINTS
            + u32::from(self.exposed) * EXPOSED_POINTS
            + cvss
    }

    /// The fix rank of a fix the host can install now: the rank a posture finding gets (its remedy is in the
    /// host's own hands).
    pub const ACTIONABLE: u32 = 3;

    /// Most urgent first: by [`Priority::score`], then the oldest publication (unknown dates last).
    pub fn cmp_urgency(&self, other: &Self) -> Ordering {
        other.score().cmp(&self.score()).then_with(|| match (self.published, other.published) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
    }
}

/// A posture (rule) finding's place in the same order: never known exploited, actionable, at its severity (info
/// ranks as negligible). The findings migration `0008_worklist.sql` backfills old rows with this formula.
pub fn rule_priority(severity: Severity) -> u32 {
    let level = match severity {
        Severity::Critical => SeverityLevel::Critical,
        Severity::High => SeverityLevel::High,
        Severity::Medium => SeverityLevel::Medium,
        Severity::Low => SeverityLevel::Low,
        Severity::Info => SeverityLevel::Negligible,
    };
    Priority::ACTIONABLE * FIX_POINTS + level as u32 * SEVERITY_POINTS
}

/// Whether a stored priority score says "known exploited".
pub fn is_known_exploited(score: u32) -> bool {
    score >= KEV_POINTS
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn p(kev: bool, fix: FixState, severity: SeverityLevel, cvss: Option<f64>, year: i32) -> Priority {
        Priority {
            known_exploited: kev,
            fix_state: fix,
            severity,
            exposed: false,
            cvss_score: cvss,
            published: Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single(),
        }
    }

    #[test]
    fn kev_then_fix_then_severity_then_age() {
        use FixState::*;
        use SeverityLevel::*;
        let mut list = [
            p(false, NoFix, Critical, Some(9.8), 2019),
            p(false, FixAvailable, Medium, Some(5.3), 2024),
            p(true, FixReleased, Critical, Some(7.8), 2023),
            p(false, FixAvailable, Medium, Some(5.3), 2021),
            p(false, FixAvailable, High, None, 2024),
            p(false, FixReleased, Critical, None, 2024),
        ];
        list.sort_by(Priority::cmp_urgency);
        let order: Vec<(bool, FixState, SeverityLevel, i32)> = list
            .iter()
            .map(|p| {
                (
                    p.known_exploited,
                    p.fix_state,
                    p.severity,
                    p.published.map_or(0, |d| d.format("%Y").to_string().parse().unwrap_or(0)),
                )
            })
            .collect();
        assert_eq!(
            order,
            vec![
                (true, FixReleased, Critical, 2023),
                (false, FixAvailable, High, 2024),
                (false, FixAvailable, Medium, 2021),
                (false, FixAvailable, Medium, 2024),
                (false, FixReleased, Critical, 2024),
                (false, NoFix, Critical, 2019),
            ]
        );
        assert_eq!(list[0].score(), 100_000 + 10_000 + 5_000 + 78);
    }

    #[test]
    fn exposure_ranks_within_a_severity_level() {
        use FixState::FixAvailable;
        use SeverityLevel::*;
        let exposed = |p: Priority| Priority { exposed: true, ..p };
        let mut list = [
            p(false, FixAvailable, High, Some(9.8), 2024),
            exposed(p(false, FixAvailable, High, Some(7.5), 2024)),
            p(false, FixAvailable, Critical, Some(9.0), 2024),
            exposed(p(false, FixAvailable, Medium, Some(6.9), 2020)),
        ];
        list.sort_by(Priority::cmp_urgency);
        let order: Vec<(SeverityLevel, bool, Option<f64>)> =
            list.iter().map(|p| (p.severity, p.exposed, p.cvss_score)).collect();
        // The same package behind a listener first, whatever its CVSS; never above the next severity level.
        assert_eq!(
            order,
            vec![
                (Critical, false, Some(9.0)),
                (High, true, Some(7.5)),
                (High, false, Some(9.8)),
                (Medium, true, Some(6.9))
            ]
        );
        assert_eq!(list[1].score(), 30_000 + 4_000 + 500 + 75);
    }
}

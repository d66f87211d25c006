//! A host's risk score: one documented formula over its active findings, always shown with its parts so a ranking
//! of hosts explains itself.
//!
//! `risk = 50 × known exploited + 20 × critical + 8 × high + 3 × medium + 1 × low` over the host's active findings
//! (open, acknowledged, reopened), each finding counted once: a known-exploited finding (CISA KEV, which the
//! worklist order in `vuln::priority` puts first) counts 50 whatever its severity, every other finding its
//! severity's points; info findings count 0. The weights keep the worklist's order of importance (one known
//! exploited hole outweighs two critical ones, one critical two high) while a host with many lesser findings still
//! climbs. Fix availability orders the worklist but not the score: a hole without a fix is no smaller a risk.
//!
//! The console's host list sorts by the same formula in SQL ([`sql_points`]), so the number shown is the order used.

use super::Severity;

/// Points of one known-exploited finding.
pub const KNOWN_EXPLOITED_POINTS: i64 = 50;

/// Points of one finding of each severity that is not known exploited.
pub fn severity_points(severity: Severity) -> i64 {
    match severity {
        Severity::Critical => 20,
        Severity::High => 8,
        Severity::Medium => 3,
        Severity::Low => 1,
        Severity::Info => 0,
    }
}

/// A host's active findings as the score counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiskCounts {
    /// Active findings known to be exploited (of any severity).
    pub known_exploited: i64,
    /// Active findings per severity, known-exploited ones included.
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
}

/// One part of a score: `count` findings of `label` worth `points` each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskPart {
    pub label: &'static str,
    pub count: i64,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskScore {
    pub total: i64,
    /// The non-empty parts, largest weight first.
    pub parts: Vec<RiskPart>,
}

impl RiskScore {
    /// The score of `counts`. Known-exploited findings are counted in their own part and taken out of their
    /// severity's (they are critical by rating, so out of the critical count first, then high, medium, low).
    pub fn of(counts: RiskCounts) -> RiskScore {
        let mut left = counts.known_exploited;
        let mut take = |n: i64| {
            let taken = n.min(left).max(0);
            left -= taken;
            n - taken
        };
        let critical = take(counts.critical);
        let high = take(counts.high);
        let medium = take(counts.medium);
        let low = take(counts.low);
        let parts: Vec<RiskPart> = [
            ("known exploited", counts.known_exploited, KNOWN_EXPLOITED_POINTS),
            ("critical", critical, severity_points(Severity::Critical)),
            ("high", high, severity_points(Severity::High)),
            ("medium", medium, severity_points(Severity::Medium)),
            ("low", low, severity_points(Severity::Low)),
        ]
        .into_iter()
        .filter(|(_, count, _)| *count > 0)
        .map(|(label, count, points)| RiskPart { label, count, points })
        .collect();
        RiskScore { total: parts.iter().map(|p| p.count * p.points).sum(), parts }
    }

    /// "50 × 1 known exploited + 20 × 2 critical", or "no active finding".
    pub fn explain(&self) -> String {
        if self.parts.is_empty() {
            return "no active finding".to_owned();
        }
        self.parts.iter().map(|p| format!("{} × {} {}", p.points, p.count, p.label)).collect::<Vec<_>>().join(" + ")
    }
}

/// The points of one finding row as an SQL expression over its `priority` and `severity_rank` columns (named by
/// `priority` and `severity_rank`), for summing per host; `known_exploited_from` is the lowest known-exploited
/// priority (`vuln::priority::KEV_POINTS`).
pub fn sql_points(priority: &str, severity_rank: &str, known_exploited_from: i64) -> String {
    let mut sql = format!("CASE WHEN {priority} >= {known_exploited_from} THEN {KNOWN_EXPLOITED_POINTS}");
    for severity in Severity::ALL.iter().rev() {
        sql.push_str(&format!(" WHEN {severity_rank} = {} THEN {}", severity.rank(), severity_points(*severity)));
    }
    sql.push_str(" ELSE 0 END");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_exploited_counts_once_at_its_own_weight() {
        // 2 critical findings, one of them known exploited; 3 high; 1 low.
        let score = RiskScore::of(RiskCounts { known_exploited: 1, critical: 2, high: 3, medium: 0, low: 1 });
        assert_eq!(score.total, 50 + 20 + 3 * 8 + 1);
        assert_eq!(score.explain(), "50 × 1 known exploited + 20 × 1 critical + 8 × 3 high + 1 × 1 low");
    }

    #[test]
    fn the_weights_keep_the_worklist_order() {
        let kev = RiskScore::of(RiskCounts { known_exploited: 1, critical: 1, ..RiskCounts::default() });
        let two_critical = RiskScore::of(RiskCounts { critical: 2, ..RiskCounts::default() });
        let two_high = RiskScore::of(RiskCounts { high: 2, ..RiskCounts::default() });
        let one_critical = RiskScore::of(RiskCounts { critical: 1, ..RiskCounts::default() });
        assert!(kev.total > two_critical.total);
        assert!(one_critical.total > two_high.total);
        assert_eq!(RiskScore::of(RiskCounts::default()).explain(), "no active finding");
    }

    #[test]
    fn the_sql_expression_gives_the_same_points() {
        let sql = sql_points("f.priority", "f.severity_rank", 100_000);
        assert_eq!(
            sql,
            "CASE WHEN f.priority >= 100000 THEN 50 WHEN f.severity_rank = 4 THEN 20 WHEN f.severity_rank = 3 THEN 8 \
             WHEN f.severity_rank = 2 THEN 3 WHEN f.severity_rank = 1 THEN 1 WHEN f.severity_rank = 0 THEN 0 ELSE 0 END"
        );
    }
}

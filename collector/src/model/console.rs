//! The console's read vocabulary: when a host counts as stale or missing, the host list's query and rows, and the
//! dashboard's numbers. The store fills them (`store/console.rs`); the console pages render them.

use chrono::{DateTime, NaiveDate, Utc};

use super::risk::{RiskCounts, RiskScore};
use crate::views::HostSummary;

/// When a host counts as stale or missing (by `last_seen`), as of `now`.
#[derive(Debug, Clone, Copy)]
pub struct HostAges {
    pub now: DateTime<Utc>,
    /// `last_seen` before this: stale (and not yet missing).
    pub stale_before: DateTime<Utc>,
    /// `last_seen` before this: missing.
    pub missing_before: DateTime<Utc>,
}

/// A host's reporting status as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    Reporting,
    Stale,
    Missing,
}

impl HostStatus {
    pub const ALL: [HostStatus; 3] = [HostStatus::Reporting, HostStatus::Stale, HostStatus::Missing];

    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Reporting => "reporting",
            HostStatus::Stale => "stale",
            HostStatus::Missing => "missing",
        }
    }

    pub fn parse(s: &str) -> Option<HostStatus> {
        HostStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl HostAges {
    /// The status of a host last seen at `last_seen`: missing wins over stale.
    pub fn status(&self, last_seen: DateTime<Utc>) -> HostStatus {
        if last_seen < self.missing_before {
            HostStatus::Missing
        } else if last_seen < self.stale_before {
            HostStatus::Stale
        } else {
            HostStatus::Reporting
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostSort {
    #[default]
    Hostname,
    /// OS pretty name (hosts without one last in either direction), then hostname.
    Os,
    LastSeen,
    /// The host risk score (`model::risk`), then the most critical findings.
    Risk,
}

impl HostSort {
    pub const ALL: [HostSort; 4] = [HostSort::Hostname, HostSort::Os, HostSort::LastSeen, HostSort::Risk];

    pub fn as_str(self) -> &'static str {
        match self {
            HostSort::Hostname => "hostname",
            HostSort::Os => "os",
            HostSort::LastSeen => "last_seen",
            HostSort::Risk => "risk",
        }
    }

    pub fn parse(s: &str) -> Option<HostSort> {
        HostSort::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The console's host list query.
#[derive(Debug, Clone)]
pub struct ConsoleHostFilter {
    /// Case-insensitive substring of hostname, system serial, machine id or host id.
    pub search: Option<String>,
    /// Case-insensitive substring of the OS id or pretty name.
    pub os: Option<String>,
    pub status: Option<HostStatus>,
    /// Exact tag.
    pub tag: Option<String>,
    /// Only hosts with at least one active critical finding.
    pub has_critical: bool,
    /// Ties are broken by hostname (for `Os` and `Risk`), then by host id.
    pub sort: HostSort,
    /// Reverses the sort key only (for `Risk`: least risky first); the tie-breaks stay ascending.
    pub descending: bool,
    pub ages: HostAges,
    pub limit: i64,
    pub offset: i64,
}

impl ConsoleHostFilter {
    /// Every host, most at risk first (the dashboard's "Hosts most at risk"), `limit` of them.
    pub fn most_at_risk(ages: HostAges, limit: i64) -> ConsoleHostFilter {
        ConsoleHostFilter {
            search: None,
            os: None,
            status: None,
            tag: None,
            has_critical: false,
            sort: HostSort::Risk,
            // `Risk`'s own order is most at risk first; `descending` would reverse it.
            descending: false,
            ages,
            limit,
            offset: 0,
        }
    }
}

/// One row of the console's host list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleHostRow {
    pub host: HostSummary,
    pub status: HostStatus,
    /// Active known-exploited findings (also counted in their severity).
    pub known_exploited: i64,
    /// Active findings by severity.
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub info: i64,
}

impl ConsoleHostRow {
    /// The host risk score of these counts: what the host list sorts by (the store sums the same formula in SQL).
    pub fn risk(&self) -> RiskScore {
        RiskScore::of(RiskCounts {
            known_exploited: self.known_exploited,
            critical: self.critical,
            high: self.high,
            medium: self.medium,
            low: self.low,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleHostPage {
    pub rows: Vec<ConsoleHostRow>,
    /// Hosts matching the filter, over all pages.
    pub total: i64,
}

/// A package with active vulnerability findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnerablePackage {
    /// The source package (the vulnerability findings' subject).
    pub package: String,
    /// Hosts with an active vulnerability finding on it.
    pub hosts: i64,
    /// Of those, hosts where a fixed version exists (an active `vuln.fix` finding).
    pub fixable_hosts: i64,
    /// Highest severity among its active vulnerability findings (`critical`…`info`).
    pub worst_severity: String,
}

/// A KEV-listed advisory with active findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevPresent {
    pub advisory_id: String,
    pub summary: Option<String>,
    pub kev_added: Option<String>,
    pub hosts: i64,
}

/// The dashboard's numbers, as of `HostAges::now`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DashboardCounts {
    /// Active findings per severity (`critical`, `high`, `medium`, `low`, `info`); absent severities are 0.
    pub active_by_severity: Vec<(String, i64)>,
    /// Active findings past their due date.
    pub overdue: i64,
    pub hosts_total: i64,
    pub hosts_reporting: i64,
    /// In-service hosts silent since `stale_before` / `missing_before`; hosts being decommissioned are counted in
    /// `hosts_in_disposal` instead (a wiped machine going silent is expected, not missing).
    pub hosts_stale: i64,
    pub hosts_missing: i64,
    /// Hosts whose lifecycle state is not `in_service` (decommissioning, sanitized, disposed).
    pub hosts_in_disposal: i64,
    /// Hosts with an active `os.end_of_life` finding.
    pub hosts_end_of_life: i64,
    /// Top 10 by hosts affected.
    pub top_vulnerable_packages: Vec<VulnerablePackage>,
    /// Number of distinct KEV-listed advisories with active findings.
    pub kev_total: i64,
    /// Up to 10 of them, most hosts first.
    pub kev_present: Vec<KevPresent>,
}

/// Active findings of one severity at the end of one day (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendPoint {
    pub day: NaiveDate,
    pub severity: String,
    pub active: i64,
}

//! The one CSV writer of every export (API, console, CLI): RFC 4180 quoting and spreadsheet formulas neutralised
//! the same way everywhere, with the column layouts of the exports that several front ends share.
//!
//! Hand-written rather than the `csv` crate: quoting is four lines, and the neutralisation (which `csv` does not
//! do) is the part that matters.

use chrono::{DateTime, Utc};

use crate::findings::FindingView;
use crate::store::advisories::VulnerabilityPage;

/// The CSV columns of a finding export.
/// Every triage field is there (who acknowledged or accepted, when, why, until when), so an export is an audit record;
/// free-text evidence stays last.
pub const FINDINGS_HEADER: &str = "id,host_id,hostname,kind,rule_id,subject,severity,status,title,first_seen,due_at,\
     overdue,acknowledged_by,acknowledged_at,ack_comment,risk_accepted_by,risk_accepted_at,risk_reason,\
     risk_expires_at,resolved_at,resolved_report_id,remediation,evidence";

/// The CSV columns of the fleet-wide vulnerability export.
pub const VULNERABILITIES_HEADER: &str = "id,aliases,severity,cvss_score,kev,kev_date_added,published,affected_hosts,\
     not_running_kernel_hosts,packages,fix_available,summary";

/// One cell: RFC 4180 quoting; a cell starting with a formula character, or with a tab or carriage return that a
/// spreadsheet strips before evaluating what follows, is prefixed with `'` so it stays text.
pub fn cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// A whole document: `header` (already CSV) and one line per row, every cell through [`cell`].
pub fn document(header: &str, rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = String::from(header);
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// An optional time as a cell.
pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_default()
}

/// One finding per line; evidence items joined with ` | `.
pub fn findings(findings: &[FindingView]) -> String {
    document(
        FINDINGS_HEADER,
        findings.iter().map(|f| {
            vec![
                f.id.clone(),
                f.host_id.clone(),
                f.hostname.clone(),
                f.kind.as_str().to_owned(),
                f.rule_id.clone(),
                f.subject.clone(),
                f.severity.as_str().to_owned(),
                f.status.as_str().to_owned(),
                f.title.clone(),
                f.first_seen.to_rfc3339(),
                f.due_at.to_rfc3339(),
                f.overdue.to_string(),
                f.acknowledged_by.clone().unwrap_or_default(),
                time(f.acknowledged_at),
                f.ack_comment.clone().unwrap_or_default(),
                f.risk_accepted_by.clone().unwrap_or_default(),
                time(f.risk_accepted_at),
                f.risk_reason.clone().unwrap_or_default(),
                time(f.risk_expires_at),
                time(f.resolved_at),
                f.resolved_report_id.clone().unwrap_or_default(),
                f.remediation.clone(),
                f.evidence.join(" | "),
            ]
        }),
    )
}

/// One advisory per line.
pub fn vulnerabilities(page: &VulnerabilityPage) -> String {
    document(
        VULNERABILITIES_HEADER,
        page.vulnerabilities.iter().map(|v| {
            vec![
                v.id.clone(),
                v.aliases.join(" "),
                v.severity.clone(),
                v.cvss_score.map(|s| s.to_string()).unwrap_or_default(),
                v.kev.to_string(),
                v.kev_date_added.map(|d| d.to_string()).unwrap_or_default(),
                v.published.map(|p| p.to_rfc3339()).unwrap_or_default(),
                v.affected_hosts.to_string(),
                v.not_running_kernel_hosts.to_string(),
                v.packages.join(" "),
                v.fix_available.to_string(),
                v.summary.clone().unwrap_or_default(),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::advisories::VulnerabilitySummary;

    #[test]
    fn cells_are_quoted_and_neutralised() {
        let cases = [
            ("plain", "plain"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("line\nbreak", "\"line\nbreak\""),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(cell(input), expected, "{input:?}");
        }
    }

    fn advisory(summary: &str) -> VulnerabilitySummary {
        VulnerabilitySummary {
            id: "DSA-0000-1".to_owned(),
            aliases: vec!["CVE-2024-0001".to_owned()],
            summary: Some(summary.to_owned()),
            severity: "high".to_owned(),
            cvss_score: None,
            kev: false,
            kev_date_added: None,
            published: None,
            affected_hosts: 1,
            not_running_kernel_hosts: 0,
            packages: vec!["openssl".to_owned()],
            fix_available: true,
        }
    }

    /// A spreadsheet drops a leading tab or CR and then evaluates the formula behind it. (The API's vulnerability
    /// export had its own cell writer that missed both; this failed on it.)
    #[test]
    fn vulnerabilities_csv_neutralises_a_leading_tab_or_carriage_return() {
        let page = VulnerabilityPage {
            vulnerabilities: vec![advisory("\t=HYPERLINK(\"http://x\")"), advisory("\r=1+1")],
            total: 2,
            limit: 2,
            offset: 0,
            next_offset: None,
        };
        let csv = vulnerabilities(&page);
        let lines: Vec<&str> = csv.split('\n').collect();
        assert_eq!(lines[0], VULNERABILITIES_HEADER);
        assert!(lines[1].ends_with(",\"'\t=HYPERLINK(\"\"http://x\"\")\""), "{:?}", lines[1]);
        assert!(lines[2].ends_with(",\"'\r=1+1\""), "{:?}", lines[2]);
    }
}

//! Which reports leave work on their host, as a table over the real ThinkPad report sent in full or as hashes.

use chrono::TimeZone;
use muster_shared::v1::Report;

use super::*;

fn thinkpad() -> Report {
    let path = format!("{}/testdata/reports/debian12-thinkpad-t480s.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The Windows agent's report under Wine, which has a patches section (the Linux captures have none).
fn windows() -> Report {
    let path = format!("{}/testdata/reports/wine8-windows10.json", env!("CARGO_MANIFEST_DIR"));
    let mut report: Report = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(report.patches.is_some());
    report.agent.version = thinkpad().agent.version;
    report
}

/// The report as a delta envelope carries it when only `keep` changed.
fn only(report: &Report, keep: &[SectionName]) -> Report {
    let mut r = report.clone();
    for s in SectionName::ALL {
        if !keep.contains(&s) {
            r.clear_section(s);
        }
    }
    r
}

#[test]
fn a_report_queues_what_its_sections_and_its_silence_can_change() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let report = thinkpad();
    let version = report.agent.version.clone();
    let seen = |ago: chrono::TimeDelta, agent: Option<&str>| LockedHost {
        last_seen: now - ago,
        agent_version: agent.map(str::to_owned),
        lifecycle: crate::disposal::lifecycle::LifecycleState::InService,
    };
    let hour = chrono::TimeDelta::hours(1);
    let cases: Vec<(&str, Report, LockedHost, i64)> = vec![
        ("first report, everything in full", report.clone(), seen(hour, Some(&version)), EVALUATE | MATCH),
        ("packages changed", only(&report, &[SectionName::Software]), seen(hour, Some(&version)), EVALUATE | MATCH),
        ("OS upgraded", only(&report, &[SectionName::Os]), seen(hour, Some(&version)), EVALUATE | MATCH),
        (
            "pending updates changed",
            only(&windows(), &[SectionName::Patches]),
            seen(hour, Some(&version)),
            EVALUATE | MATCH,
        ),
        ("checks changed: rules only", only(&report, &[SectionName::Checks]), seen(hour, Some(&version)), EVALUATE),
        ("hashes only, seen an hour ago: nothing", only(&report, &[]), seen(hour, Some(&version)), 0),
        (
            "hashes only after 23 hours: still 0 whole days since last seen",
            only(&report, &[]),
            seen(chrono::TimeDelta::hours(23), Some(&version)),
            0,
        ),
        (
            "hashes only after a day's silence",
            only(&report, &[]),
            seen(chrono::TimeDelta::days(1), Some(&version)),
            EVALUATE,
        ),
        ("hashes only from an upgraded agent", only(&report, &[]), seen(hour, Some("0.0.9")), EVALUATE),
        ("hashes only, agent version never stored", only(&report, &[]), seen(hour, None), EVALUATE),
    ];
    for (name, report, before, expected) in cases {
        // As the ingest's plan says of these: the software or patches section, when it came, changed what
        // matches are made from.
        let changed = report.software.is_some() || report.patches.is_some();
        assert_eq!(work_for(&report, changed, &before, now), expected, "{name}");
    }
    // A software section in full whose packages, images and sockets are the stored ones (a container stopped), or
    // a patches section whose pending updates are (the lists refreshed, nothing new): the rules see it, the matches
    // are left alone.
    for kept in [SectionName::Software, SectionName::Patches] {
        let same = only(&windows(), &[kept]);
        assert_eq!(work_for(&same, false, &seen(hour, Some(&version)), now), EVALUATE, "{kept:?}");
    }
}

#[test]
fn the_console_warns_only_when_findings_trail_reports_by_minutes() {
    use crate::store::work::WorkBacklog;
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let waiting =
        |hosts, ago: Option<i64>| WorkBacklog { hosts, oldest: ago.map(|s| now - chrono::TimeDelta::seconds(s)) };
    assert_eq!(backlog_notice(&waiting(0, None), now), None);
    assert_eq!(backlog_notice(&waiting(40, Some(30)), now), None, "a burst being worked off");
    assert_eq!(backlog_notice(&waiting(3, Some(300)), now), None, "five minutes is the bound");
    assert_eq!(
        backlog_notice(&waiting(1, Some(301)), now).as_deref(),
        Some(
            "Findings trail the reports: 1 host waits for evaluation, the oldest report for 5 minutes. Add \
             evaluation workers or replicas, or see the collector's log for failures."
        )
    );
    let many = backlog_notice(&waiting(1200, Some(3600)), now).unwrap();
    assert!(
        many.starts_with(
            "Findings trail the reports: 1200 hosts wait for evaluation, the oldest report for 60 minutes."
        ),
        "{many}"
    );
}

//! The worklist on both stores: findings in the documented priority order (known exploited, then fix available,
//! then severity, then age), every sortable column, the host risk score and its parts, the advisory's own details
//! text on its page, the advisory data's age, and the paged host page.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::http::StatusCode;
use muster_collector::app::advisory_sync as sync;
use muster_collector::model::Role;
use muster_collector::model::risk::RiskScore;
use muster_collector::vuln::{AdvisoryDb, ImportLimits, import_paths};
use muster_shared::v1::Report;
use serde_json::Value;

use crate::common::{self, Harness, Machine};

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(path)
}

/// The Debian subset, the real Debian ratings sample and the KEV catalog.
pub(crate) async fn import_advisories(h: &Harness) {
    let paths = [
        testdata("advisories/debian/debian-osv-subset.jsonl"),
        testdata("advisories/debian-ratings/debian-osv-ratings.jsonl"),
        testdata("advisories/kev/known_exploited_vulnerabilities.json"),
    ];
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, &paths, &ImportLimits::files(), &mut |_| {});
    assert_eq!(outcome.summary.errors, Vec::<String>::new());
    sync::store_import(h.store.as_ref(), &db, outcome.summary, h.now(), &Default::default()).await.unwrap();
}

/// The ThinkPad's Debian 12 report with every binary of `source` at `version` (an earlier real version).
pub(crate) fn with_source(mut report: Report, source: &str, version: &str) -> Report {
    for p in report.software.as_mut().unwrap().packages.iter_mut() {
        if p.source_name.as_deref() == Some(source) {
            p.version = version.into();
            p.source_version = Some(version.into());
        }
    }
    report
}

/// The worklist key of a finding as the API shows it, written out here from the documented order rather than
/// taken from the code under test: (known exploited, fix rank, severity rank).
fn documented_key(f: &Value) -> (bool, u8, u8) {
    let fix_rank = match f["kind"].as_str().unwrap() {
        // A posture finding's remedy is in the host's own hands: ranked as a fix available.
        "rule" => 3,
        _ => match f["details"]["fix_state"].as_str().unwrap() {
            "fix_available" => 3,
            "fix_unverified" => 2,
            "fix_released" => 1,
            _ => 0,
        },
    };
    let severity = match f["severity"].as_str().unwrap() {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    };
    (f["known_exploited"].as_bool().unwrap(), fix_rank, severity)
}

async fn list(h: &Harness, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = h.get(&format!("/api/v1/findings?limit=1000&{query}"), token).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body["findings"].as_array().unwrap().clone()
}

/// A host with an old glibc (a known-exploited, fixable critical), an old openssl and the ThinkPad's real posture
/// findings: the default order is the documented one, every column sorts both ways, and the host's risk score is
/// the documented formula over its active findings.
async fn findings_follow_the_documented_worklist(h: Harness) {
    import_advisories(&h).await;
    let machine = Machine::thinkpad("m-worklist");
    let report = with_source(common::debian(&machine), "glibc", "2.36-9+deb12u2");
    let report = with_source(report, "openssl", "3.0.11-1~deb12u1");
    let (_, secret) = h.enroll_secret(None).await;
    let (host, host_token) = h.enrolled(&secret, &machine).await;
    h.stored(&host_token, &common::full(&report)).await;
    let viewer = h.api_token(Role::Viewer).await;

    let worklist = list(&h, &viewer, &format!("host={host}&active=true")).await;
    assert!(worklist.len() >= 3, "{worklist:?}");
    let kinds: Vec<&str> = worklist.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"rule") && kinds.contains(&"vulnerability"), "{kinds:?}");
    // Known exploited first: glibc's fix (CVE-2023-4911 is in the KEV catalog).
    assert_eq!(
        (worklist[0]["subject"].as_str(), worklist[0]["known_exploited"].as_bool()),
        (Some("glibc"), Some(true))
    );
    let keys: Vec<(bool, u8, u8)> = worklist.iter().map(documented_key).collect();
    assert!(keys.windows(2).all(|w| w[0] >= w[1]), "not in the documented order: {keys:?}");
    // Within one key, the oldest first.
    for w in worklist.windows(2) {
        if documented_key(&w[0]) == documented_key(&w[1]) {
            assert!(w[0]["first_seen"].as_str() <= w[1]["first_seen"].as_str(), "{w:?}");
        }
    }
    // `dir=desc` reverses it exactly when no two findings tie.
    let reversed = list(&h, &viewer, &format!("host={host}&active=true&dir=desc")).await;
    let reversed_keys: Vec<(bool, u8, u8)> = reversed.iter().map(documented_key).collect();
    assert!(reversed_keys.windows(2).all(|w| w[0] <= w[1]), "{reversed_keys:?}");

    // Every sortable column, both ways: the sort's own field is monotonic.
    let field = |f: &Value, sort: &str| -> String {
        match sort {
            "severity" => documented_key(f).2.to_string(),
            "due" => f["due_at"].as_str().unwrap().to_owned(),
            "first_seen" => f["first_seen"].as_str().unwrap().to_owned(),
            "host" => f["hostname"].as_str().unwrap().to_owned(),
            "rule" => f["rule_id"].as_str().unwrap().to_owned(),
            "status" => f["status"].as_str().unwrap().to_owned(),
            other => panic!("{other}"),
        }
    };
    for (sort, natural_desc) in
        [("severity", true), ("due", false), ("first_seen", false), ("host", false), ("rule", false), ("status", false)]
    {
        for dir in ["asc", "desc"] {
            let rows = list(&h, &viewer, &format!("active=false&sort={sort}&dir={dir}")).await;
            let values: Vec<String> = rows.iter().map(|f| field(f, sort)).collect();
            let descending = natural_desc != (dir == "desc");
            let ordered = values.windows(2).all(|w| if descending { w[0] >= w[1] } else { w[0] <= w[1] });
            assert!(ordered, "sort={sort} dir={dir}: {values:?}");
            assert!(rows.len() >= worklist.len(), "every status listed: {} < {}", rows.len(), worklist.len());
        }
    }
    let (status, body) = h.get("/api/v1/findings?sort=hostname", &viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_query", "{body}");
    assert!(body["message"].as_str().unwrap().contains("unknown sort"), "{body}");

    // The risk score: 50 per known-exploited finding, otherwise 20 critical, 8 high, 3 medium, 1 low.
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    let mut expected = 0;
    for f in &worklist {
        let points = if f["known_exploited"].as_bool().unwrap() {
            *counts.entry("known exploited").or_default() += 1;
            50
        } else {
            match f["severity"].as_str().unwrap() {
                "critical" => 20,
                "high" => 8,
                "medium" => 3,
                "low" => 1,
                _ => 0,
            }
        };
        expected += points;
    }
    let stored = h.store.host_risk(&host).await.unwrap();
    let score = RiskScore::of(stored);
    assert_eq!(score.total, expected, "{stored:?}");
    assert_eq!(stored.known_exploited, counts["known exploited"]);
    assert!(score.explain().starts_with(&format!("50 × {} known exploited", stored.known_exploited)));
}

/// The advisory page shows the record's own `details` text, escaped; the host page shows the risk score with its
/// parts.
async fn advisory_details_and_risk_on_the_pages(h: Harness) {
    import_advisories(&h).await;
    let machine = Machine::thinkpad("m-pages");
    let (_, secret) = h.enroll_secret(None).await;
    let (host, host_token) = h.enrolled(&secret, &machine).await;
    h.stored(&host_token, &common::full(&with_source(common::debian(&machine), "glibc", "2.36-9+deb12u2"))).await;
    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;

    let page = crate::console::get(&h, "/vulnerabilities/CVE-2023-4911", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    // The record's details, from the Debian subset (its first words).
    assert!(
        page.body.contains("A buffer overflow was discovered in the GNU C Library&#x27;s dynamic loader ld.so")
            || page.body.contains("A buffer overflow was discovered in the GNU C Library&#39;s dynamic loader ld.so"),
        "details missing or unescaped"
    );
    assert!(page.body.contains("id=\"details\""), "a Details section");

    let page = crate::console::get(&h, &format!("/hosts/{host}"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let score = RiskScore::of(h.store.host_risk(&host).await.unwrap());
    assert!(score.total >= 50, "{score:?}");
    assert!(page.body.contains(&format!("{} = {}", score.total, score.explain())), "risk score with its parts");

    // The findings list's headers sort it: the current column shows its direction and reverses it; the rows follow.
    let due_dates = |body: &str| -> Vec<String> {
        table_rows(body, "findings")
            .iter()
            .map(|row| {
                // A row's last date is its due date (first seen comes before it).
                let dates: Vec<&str> = row
                    .split(|c: char| !(c.is_ascii_digit() || c == '-'))
                    .filter(|t| t.len() == 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-')
                    .collect();
                dates.last().unwrap().to_string()
            })
            .collect()
    };
    let by_due = crate::console::get(&h, "/findings?sort=due", &cookie).await;
    assert!(by_due.body.contains("<a href=\"/findings?sort=due&#38;dir=desc\">Due ↑</a>"), "{}", by_due.body);
    assert!(by_due.body.contains("<a href=\"/findings?sort=host\">Host</a>"), "{}", by_due.body);
    let ascending = due_dates(&by_due.body);
    assert!(ascending.len() >= 2 && ascending.windows(2).all(|w| w[0] <= w[1]), "{ascending:?}");
    let reversed = crate::console::get(&h, "/findings?sort=due&dir=desc", &cookie).await;
    assert!(reversed.body.contains("<a href=\"/findings?sort=due\">Due ↓</a>"), "{}", reversed.body);
    let descending = due_dates(&reversed.body);
    assert!(descending.windows(2).all(|w| w[0] >= w[1]), "{descending:?}");
    assert_ne!(ascending, descending, "the fixture's findings have different due dates");
}

/// OpenSSH's CVE-2023-51767 is `unimportant` to Debian: by default listed on the host with no finding; a policy
/// file setting `negligible_opens_finding = 1` makes the same report open one for openssh, at info.
async fn the_policy_decides_whether_negligible_matches_open_findings(h: Harness) {
    import_advisories(&h).await;
    let openssh_findings = |h: Harness, name: &'static str| async move {
        let machine = Machine::thinkpad(name);
        let (_, secret) = h.enroll_secret(None).await;
        let (host, host_token) = h.enrolled(&secret, &machine).await;
        h.stored(&host_token, &common::full(&common::debian(&machine))).await;
        let viewer = h.api_token(Role::Viewer).await;
        let (_, listed) = h.get(&format!("/api/v1/hosts/{host}/vulnerabilities"), &viewer).await;
        let openssh = listed["vulnerabilities"].as_array().unwrap().iter().any(|v| {
            v["id"] == "CVE-2023-51767" && v["vendor_severity"] == "unimportant" && v["source_name"] == "openssh"
        });
        assert!(openssh, "the negligible match is listed either way: {listed}");
        let found = list(&h, &viewer, &format!("host={host}&kind=vulnerability")).await;
        found
            .iter()
            .filter(|f| f["subject"] == "openssh")
            .map(|f| (f["rule_id"].as_str().unwrap().to_owned(), f["severity"].as_str().unwrap().to_owned()))
            .collect::<Vec<_>>()
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("10-site.toml"), "[params]\nnegligible_opens_finding = 1\n").unwrap();
    let source = muster_collector::rules::PolicySource {
        policy_dir: Some(dir.path().to_owned()),
        eol_file: None,
        eol_text: None,
    };
    let opened = h.with_rules(muster_collector::rules::Rules::load(source).unwrap());
    assert_eq!(openssh_findings(h, "m-builtin").await, Vec::<(String, String)>::new(), "built-in policy");
    assert_eq!(
        openssh_findings(opened, "m-site-policy").await,
        [("vuln.no_fix".to_owned(), "info".to_owned())],
        "with negligible_opens_finding = 1"
    );
}

/// Before any import the dashboard and the vulnerabilities page say there is no advisory data (an empty worklist is
/// then no good news); after importing the fixture export, whose newest record is far older than the policy's 7
/// days, they say how old it is.
async fn advisory_data_age_is_shown(h: Harness) {
    use muster_collector::app::advisory_sync as sync;
    use muster_collector::vuln::{AdvisoryDb, ImportLimits, import_paths};

    let cookie = crate::console::user(&h, "vera", Role::Viewer).await;
    for path in ["/", "/vulnerabilities"] {
        let page = crate::console::get(&h, path, &cookie).await;
        assert!(page.body.contains("No advisory data is imported"), "{path}");
    }
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/advisories");
    let paths = [dir.join("debian/debian-osv-subset.jsonl"), dir.join("kev/known_exploited_vulnerabilities.json")];
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, &paths, &ImportLimits::files(), &mut |_| {});
    sync::store_import(h.store.as_ref(), &db, outcome.summary, h.now(), &Default::default()).await.unwrap();
    let freshness = h.store.advisory_freshness().await.unwrap();
    assert_eq!((freshness.advisories, freshness.kev_entries), (11, 1404));
    let days = (h.now() - freshness.newest_modified.unwrap()).num_days();
    assert!(days > 7, "{days}");
    for path in ["/", "/vulnerabilities"] {
        let page = crate::console::get(&h, path, &cookie).await;
        assert!(!page.body.contains("No advisory data is imported"), "{path}");
        assert!(page.body.contains(&format!("The advisory data is {days} days old")), "{path}");
    }
}

/// Rows of the table with `id` on a page: the `<tr>` elements of its body.
fn table_rows<'a>(body: &'a str, id: &str) -> Vec<&'a str> {
    let start = body.find(&format!("<table id=\"{id}\">")).unwrap_or_else(|| panic!("no table {id}"));
    let table = &body[start..start + body[start..].find("</table>").unwrap()];
    let rows = &table[table.find("<tbody>").map_or(0, |i| i + "<tbody>".len())..];
    rows.split("<tr").skip(1).collect()
}

/// The host page of a real laptop (its 140 packages, vulnerability fixes among its findings) shows no
/// section longer than one page; pagers move one section and keep the others where they are.
async fn the_host_page_is_paged(h: Harness) {
    use muster_collector::app::advisory_sync as sync;
    use muster_collector::vuln::{AdvisoryDb, ImportLimits, import_paths};

    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/advisories");
    let paths = [dir.join("debian/debian-osv-subset.jsonl"), dir.join("kev/known_exploited_vulnerabilities.json")];
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, &paths, &ImportLimits::files(), &mut |_| {});
    sync::store_import(h.store.as_ref(), &db, outcome.summary, h.now(), &Default::default()).await.unwrap();
    let machine = Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732");
    let mut report = crate::console::weak(&machine);
    for p in report.software.as_mut().unwrap().packages.iter_mut() {
        if p.source_name.as_deref() == Some("glibc") {
            p.version = "2.36-9+deb12u2".to_owned();
            p.source_version = Some("2.36-9+deb12u2".to_owned());
        }
    }
    let packages = report.software.as_ref().unwrap().packages.len();
    assert!(packages > 100, "{packages}");
    let (_, secret) = h.enroll_secret(None).await;
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &common::full(&report)).await;
    let cookie = crate::console::user(&h, "paula", Role::Viewer).await;

    let page = crate::console::get(&h, &format!("/hosts/{host_id}"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    for id in ["findings", "host-vulnerabilities", "software", "history"] {
        assert!(table_rows(&page.body, id).len() <= 50, "{id}: {} rows", table_rows(&page.body, id).len());
    }
    // The glibc fix is among the host's findings, beside the rule findings.
    assert!(page.body.contains("Upgrade glibc (libc-bin, libc6)"), "the vulnerability fix is missing from Findings");
    let software = table_rows(&page.body, "software");
    assert_eq!(software.len(), 50);
    assert!(page.body.contains(&format!("1–50 of {packages}")), "software pager");
    let next = format!("/hosts/{host_id}?software_offset=50#software");
    assert!(page.body.contains(&next), "no link to the next software page ({next})");

    let second = crate::console::get(&h, &format!("/hosts/{host_id}?software_offset=50"), &cookie).await;
    let rows = table_rows(&second.body, "software");
    assert_eq!(rows.len(), 50.min(packages - 50));
    assert_ne!(rows[0], software[0], "the next page shows the next packages");
    assert!(second.body.contains(&format!("51–{} of {packages}", 100.min(packages))));
    // The other sections stay on their first page.
    assert_eq!(table_rows(&second.body, "findings"), table_rows(&page.body, "findings"));
    // An offset past the end shows the last page rather than nothing.
    let last = crate::console::get(&h, &format!("/hosts/{host_id}?software_offset=999999"), &cookie).await;
    assert!(!table_rows(&last.body, "software").is_empty());
}

both!(
    advisory_data_age_is_shown,
    the_host_page_is_paged,
    findings_follow_the_documented_worklist,
    advisory_details_and_risk_on_the_pages,
    the_policy_decides_whether_negligible_matches_open_findings,
);

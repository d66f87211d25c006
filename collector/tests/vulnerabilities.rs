//! Vulnerability matching inside the collector, on both stores: advisory import (idempotent, newer `modified`
//! wins), matching at ingest, re-matching after imports, the API (filters, CSV, upload) and the CLI.

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use muster_collector::app::advisory_sync::{self as sync, ImportReport};
use muster_collector::model::Role;
use muster_collector::vuln::{AdvisoryDb, ImportLimits, import_paths, scan};
use muster_shared::v1::{Report, SectionName};
use serde_json::Value;

use crate::common::{self, Harness, Machine};

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(path)
}

const DEBIAN: &str = "advisories/debian/debian-osv-subset.jsonl";
const KEV: &str = "advisories/kev/known_exploited_vulnerabilities.json";

async fn import(h: &Harness, paths: &[PathBuf]) -> ImportReport {
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, paths, &ImportLimits::files(), &mut |_| {});
    assert_eq!(outcome.summary.errors, Vec::<String>::new());
    sync::store_import(h.store.as_ref(), &db, outcome.summary, h.now(), &Default::default()).await.unwrap()
}

/// Real records of the Debian subset, selected by id (lines copied unmodified into a temporary file).
fn debian_lines(dir: &tempfile::TempDir, name: &str, keep: impl Fn(&str) -> bool) -> PathBuf {
    let text = std::fs::read_to_string(testdata(DEBIAN)).unwrap();
    let lines: String = text.lines().filter(|l| keep(l)).map(|l| format!("{l}\n")).collect();
    let path = dir.path().join(name);
    std::fs::write(&path, lines).unwrap();
    path
}

fn is_record(line: &str, id: &str) -> bool {
    line.contains(&format!("\"id\":\"{id}\""))
}

/// The ThinkPad's Debian 12 report with every binary of `source` at `version` (an earlier real version).
pub(crate) fn with_source(mut report: Report, source: &str, version: &str) -> Report {
    let software = report.software.as_mut().unwrap();
    let mut n = 0;
    for p in software.packages.iter_mut().filter(|p| p.source_name.as_deref() == Some(source)) {
        p.version = version.into();
        p.source_version = Some(version.into());
        n += 1;
    }
    assert!(n > 0);
    report
}

async fn host_vulns(h: &Harness, token: &str, host: &str) -> Value {
    let (status, body) = h.get(&format!("/api/v1/hosts/{host}/vulnerabilities"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// (id, package, fixed version) of a host's active findings.
fn found(body: &Value) -> BTreeSet<(String, String, Option<String>)> {
    body["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_owned(),
                v["package"].as_str().unwrap().to_owned(),
                v["fixed_version"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn ids(body: &Value) -> BTreeSet<String> {
    found(body).into_iter().map(|f| f.0).collect()
}

/// Enrols the ThinkPad and sends `report` in full; returns (host id, viewer token).
async fn enrolled_with(h: &Harness, report: &Report) -> (String, String) {
    let (host, viewer, _) = enrolled_reporting(h, report).await;
    (host, viewer)
}

/// (host id, viewer API token, the host's token for later reports).
async fn enrolled_reporting(h: &Harness, report: &Report) -> (String, String, String) {
    let (_, secret) = h.enroll_secret(None).await;
    let (host, host_token) = h.enrolled(&secret, &Machine::thinkpad("m-thinkpad")).await;
    h.stored(&host_token, &common::full(report)).await;
    (host, h.api_token(Role::Viewer).await, host_token)
}

async fn import_twice_is_a_no_op(h: Harness) {
    let first = import(&h, &[testdata(DEBIAN), testdata(KEV)]).await;
    let s = &first.summary;
    assert_eq!((s.records_read, s.imported, s.updated, s.unchanged, s.kev_entries), (11, 11, 0, 0, 1404));
    assert_eq!(s.skipped_affected.get("GIT range"), Some(&4));
    let version = h.store.advisories_version().await.unwrap();
    let again = import(&h, &[testdata(DEBIAN), testdata(KEV)]).await;
    let s = &again.summary;
    assert_eq!((s.records_read, s.imported, s.updated, s.unchanged), (11, 0, 0, 11));
    assert_eq!(h.store.advisories_version().await.unwrap(), version, "nothing was written");
}

async fn newer_modified_replaces(h: Harness) {
    let dir = tempfile::tempdir().unwrap();
    // The export holds DLA-377-1 twice, newer first; import the older copy alone, then both.
    let text = std::fs::read_to_string(testdata("advisories/debian/debian-duplicate-id.jsonl")).unwrap();
    let older = dir.path().join("older.jsonl");
    std::fs::write(&older, format!("{}\n", text.lines().nth(1).unwrap())).unwrap();
    let first = import(&h, &[older]).await;
    assert_eq!(first.summary.imported, 1);
    let stored = h.store.vulnerability("DLA-377-1").await.unwrap().unwrap();
    let old_modified = stored.modified.unwrap();

    let both = import(&h, &[testdata("advisories/debian/debian-duplicate-id.jsonl")]).await;
    let s = &both.summary;
    assert_eq!((s.records_read, s.imported, s.updated, s.unchanged), (2, 0, 1, 0));
    assert_eq!(s.skipped_records.get(sync::SKIP_DUPLICATE), Some(&1));
    let stored = h.store.vulnerability("DLA-377-1").await.unwrap().unwrap();
    assert_eq!(stored.modified.unwrap().to_rfc3339(), "2024-01-09T20:33:45.504+00:00");
    assert!(stored.modified.unwrap() > old_modified);

    // And the older copy alone no longer replaces it.
    let dir2 = tempfile::tempdir().unwrap();
    let older = dir2.path().join("older.jsonl");
    std::fs::write(&older, format!("{}\n", text.lines().nth(1).unwrap())).unwrap();
    let stale = import(&h, &[older]).await;
    assert_eq!(stale.summary.skipped_records.get(sync::SKIP_OLDER), Some(&1));
}

async fn before_the_fix_is_listed_the_fixed_version_is_not(h: Harness) {
    import(&h, &[testdata(DEBIAN), testdata(KEV)]).await;
    let machine = Machine::thinkpad("m-thinkpad");
    // 2.36-9+deb12u3 fixes DSA-5514-1 but predates DSA-5611-1's fix.
    let report = with_source(common::debian(&machine), "glibc", "2.36-9+deb12u3");
    let (host, token, host_token) = enrolled_reporting(&h, &report).await;
    let body = host_vulns(&h, &token, &host).await;
    let expected: BTreeSet<(String, String, Option<String>)> = [
        ("DSA-5611-1", "libc-bin", Some("2.36-9+deb12u4")),
        ("DSA-5611-1", "libc6", Some("2.36-9+deb12u4")),
        ("CVE-2023-51767", "openssh-client", None),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.map(str::to_owned)))
    .collect();
    assert_eq!(found(&body), expected);
    assert_eq!(body["ecosystems"], serde_json::json!(["Debian:12"]));
    let dsa = body["vulnerabilities"].as_array().unwrap().iter().find(|v| v["id"] == "DSA-5611-1").unwrap();
    assert_eq!(dsa["remediation"], "apt-get install --only-upgrade libc-bin libc6");
    assert_eq!(
        (dsa["source_name"].as_str(), dsa["installed_version"].as_str()),
        (Some("glibc"), Some("2.36-9+deb12u3"))
    );

    // The same matching code as the offline scan: identical findings.
    let mut db = AdvisoryDb::new();
    import_paths(&mut db, &[testdata(DEBIAN), testdata(KEV)], &ImportLimits::files(), &mut |_| {});
    let offline = scan(&db, &report);
    let offline: BTreeSet<_> =
        offline.vulnerabilities.iter().map(|v| (v.id.clone(), v.package.clone(), v.fixed_version.clone())).collect();
    assert_eq!(found(&body), offline);

    // The fixed version: DSA-5611-1 is gone at the next report.
    h.stored(&host_token, &common::full(&with_source(common::debian(&machine), "glibc", "2.36-9+deb12u4"))).await;
    let body = host_vulns(&h, &token, &host).await;
    assert_eq!(ids(&body), ["CVE-2023-51767".to_owned()].into());

    // One revision earlier, the KEV-listed CVE-2023-4911 applies and ranks first.
    h.stored(&host_token, &common::full(&with_source(common::debian(&machine), "glibc", "2.36-9+deb12u2"))).await;
    let body = host_vulns(&h, &token, &host).await;
    assert_eq!(
        ids(&body),
        ["CVE-2023-4806", "CVE-2023-4911", "CVE-2023-51767", "DSA-5514-1", "DSA-5611-1"].map(String::from).into()
    );
    let first = &body["vulnerabilities"][0];
    assert_eq!((first["id"].as_str(), first["kev"].as_bool()), (Some("CVE-2023-4911"), Some(true)));
    assert_eq!(first["kev_date_added"], "2023-11-21");
}

async fn another_release_never_matches(h: Harness) {
    import(&h, &[testdata(DEBIAN)]).await;
    let machine = Machine::thinkpad("m-thinkpad");
    // libssl at a Debian 11 version that DSA-5343-1 (Debian:11 only) affects, on a Debian 12 host.
    let report = with_source(common::debian(&machine), "openssl", "1.1.1n-0+deb11u3");
    let (host, token) = enrolled_with(&h, &report).await;
    assert!(!ids(&host_vulns(&h, &token, &host).await).contains("DSA-5343-1"));
    // The same packages on a Debian 11 host do match.
    let bullseye = Machine::vmware("m-bullseye");
    let mut report11 = with_source(common::debian(&bullseye), "openssl", "1.1.1n-0+deb11u3");
    report11.os.as_mut().unwrap().version_id = Some("11".into());
    let (_, secret) = h.enroll_secret(None).await;
    let (host11, host_token) = h.enrolled(&secret, &bullseye).await;
    h.stored(&host_token, &common::full(&report11)).await;
    let body = host_vulns(&h, &token, &host11).await;
    assert!(ids(&body).contains("DSA-5343-1"));
    assert_eq!(body["ecosystems"], serde_json::json!(["Debian:11"]));
    let (status, detail) = h.get("/api/v1/vulnerabilities/DSA-5343-1", &token).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let hosts: Vec<&str> = detail["hosts"].as_array().unwrap().iter().map(|x| x["host_id"].as_str().unwrap()).collect();
    assert!(hosts.iter().all(|x| *x == host11) && !hosts.is_empty(), "{detail}");
}

async fn new_imports_rematch_affected_hosts(h: Harness) {
    let machine = Machine::thinkpad("m-thinkpad");
    let report = with_source(common::debian(&machine), "glibc", "2.36-9+deb12u3");
    let (host, token) = enrolled_with(&h, &report).await;
    let body = host_vulns(&h, &token, &host).await;
    assert!(ids(&body).is_empty());
    assert_eq!(body["warnings"], serde_json::json!(["no advisories imported for Debian:12"]));

    let dir = tempfile::tempdir().unwrap();
    let without = debian_lines(&dir, "without.jsonl", |l| !is_record(l, "DSA-5611-1"));
    let first = import(&h, &[without]).await;
    assert_eq!(first.rematch.hosts_rematched, 1);
    let body = host_vulns(&h, &token, &host).await;
    assert_eq!(ids(&body), ["CVE-2023-51767".to_owned()].into());
    let (_, list) = h.get("/api/v1/vulnerabilities", &token).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["vulnerabilities"][0]["affected_hosts"], 1);

    // A new advisory for glibc: only the cached glibc keys are re-evaluated, and the host is re-matched.
    let only = debian_lines(&dir, "only.jsonl", |l| is_record(l, "DSA-5611-1"));
    let second = import(&h, &[only]).await;
    assert_eq!(second.summary.imported, 1);
    assert_eq!(second.rematch.keys_changed, 1, "{:?}", second.rematch);
    assert_eq!(second.rematch.hosts_rematched, 1);
    assert!(ids(&host_vulns(&h, &token, &host).await).contains("DSA-5611-1"));
    let (status, detail) = h.get("/api/v1/vulnerabilities/DSA-5611-1", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["affected_hosts"], 1);
    let hosts = detail["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2, "libc-bin and libc6: {detail}");
    assert!(hosts.iter().all(|x| x["host_id"] == host.as_str() && x["fixed_version"] == "2.36-9+deb12u4"));
}

async fn api_filters_csv_and_upload(h: Harness) {
    import(&h, &[testdata(DEBIAN), testdata(KEV)]).await;
    let machine = Machine::thinkpad("m-thinkpad");
    let (_, token) = enrolled_with(&h, &with_source(common::debian(&machine), "glibc", "2.36-9+deb12u2")).await;
    let list_ids = |body: &Value| -> Vec<String> {
        body["vulnerabilities"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
    };
    let (status, all) = h.get("/api/v1/vulnerabilities", &token).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["total"], 5);
    // KEV first, then severity.
    let kev: Vec<bool> = all["vulnerabilities"].as_array().unwrap().iter().map(|v| v["kev"] == true).collect();
    assert_eq!(kev, [true, true, false, false, false]);
    let (_, only_kev) = h.get("/api/v1/vulnerabilities?kev=true", &token).await;
    assert_eq!(
        list_ids(&only_kev).into_iter().collect::<BTreeSet<_>>(),
        ["CVE-2023-4911", "DSA-5514-1"].map(String::from).into()
    );
    let (_, ssh) = h.get("/api/v1/vulnerabilities?package=openssh", &token).await;
    assert_eq!(list_ids(&ssh), ["CVE-2023-51767"]);
    assert_eq!(ssh["vulnerabilities"][0]["packages"], serde_json::json!(["openssh"]));
    let (_, high) = h.get("/api/v1/vulnerabilities?severity=high", &token).await;
    assert!(high["vulnerabilities"].as_array().unwrap().iter().all(|v| v["severity"] == "high"));
    assert!(!list_ids(&high).is_empty());
    let (status, _) = h.get("/api/v1/vulnerabilities?severity=severe", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, by_cve) = h.get("/api/v1/vulnerabilities/CVE-2023-4911", &token).await;
    assert_eq!(by_cve["id"], "CVE-2023-4911");

    let request = Request::get("/api/v1/vulnerabilities?format=csv")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(h.app.clone(), request).await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let csv = String::from_utf8(bytes.to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(lines[0].starts_with("id,aliases,severity,cvss_score,kev,"));
    assert!(lines[1].contains(",true,2023-11-21,"), "{}", lines[1]);

    // Upload: admins only, same summary as the CLI.
    let upload = |token: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/advisories?name=alpine.jsonl")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(std::fs::read(testdata("advisories/alpine/alpine-osv-subset.jsonl")).unwrap()))
            .unwrap()
    };
    let (status, _, _) = h.send(upload(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = h.api_token(Role::Admin).await;
    let (status, _, body) = h.send(upload(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["records_read"].as_u64(), body["imported"].as_u64()), (Some(3), Some(3)));
    let (_, _, again) = h.send(upload(&admin)).await;
    assert_eq!((again["imported"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(3)));
    let (_, audit) = h.get("/api/v1/admin/audit", &admin).await;
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "advisories.imported"));
}

/// The host's vulnerability findings in `status`: (advisory, subject, severity), sorted, and the page.
pub(crate) async fn vuln_findings(
    h: &Harness,
    token: &str,
    host: &str,
    status: &str,
) -> (Vec<(String, String, String)>, Value) {
    let uri = format!("/api/v1/findings?kind=vulnerability&host={host}&status={status}&limit=500");
    let (code, body) = h.get(&uri, token).await;
    assert_eq!(code, 200, "{body}");
    let mut rows: Vec<(String, String, String)> = body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let field = |name: &str| f[name].as_str().unwrap().to_owned();
            (field("rule_id"), field("subject"), field("severity"))
        })
        .collect();
    rows.sort();
    (rows, body)
}

async fn rule_findings(h: &Harness, token: &str) -> i64 {
    h.get("/api/v1/findings?kind=rule&limit=500", token).await.1["total"].as_i64().unwrap()
}

/// Vulnerability matches are findings with the rules' lifecycle, one per fix: opened at ingest, triaged, resolved by
/// the report that installs the fix, reopened when the vulnerable version comes back; rule findings are left alone.
async fn vulnerabilities_share_the_findings_lifecycle(h: Harness) {
    import(&h, &[testdata(DEBIAN), testdata(KEV)]).await;
    let machine = Machine::thinkpad("m-thinkpad");
    let (host, token, host_token) =
        enrolled_reporting(&h, &with_source(common::debian(&machine), "glibc", "2.36-9+deb12u3")).await;
    let analyst = h.api_token(muster_collector::model::Role::Analyst).await;
    let rules_before = rule_findings(&h, &token).await;

    // glibc 2.36-9+deb12u3 lacks only DSA-5611-1's fix (unrated: medium), in libc6 and libc-bin: one finding for
    // the one upgrade. openssh-client's CVE-2023-51767 is "unimportant" to Debian: listed, but no finding.
    let (open, body) = vuln_findings(&h, &token, &host, "open").await;
    assert_eq!(open, vec![("vuln.fix".to_owned(), "glibc".to_owned(), "medium".to_owned())]);
    let finding = &body["findings"][0];
    assert_eq!(finding["details"]["packages"], serde_json::json!(["libc-bin", "libc6"]));
    assert_eq!(finding["details"]["target_version"], "2.36-9+deb12u4");
    assert_eq!(finding["details"]["advisories"][0]["id"], "DSA-5611-1");
    assert!(finding["evidence"][0].as_str().unwrap().contains("fixed in 2.36-9+deb12u4"), "{finding}");
    assert!(finding["title"].as_str().unwrap().contains("fixes 1 vulnerability"), "{finding}");
    let (_, listed) = h.get(&format!("/api/v1/hosts/{host}/vulnerabilities"), &token).await;
    let listed = listed["vulnerabilities"].as_array().unwrap();
    let openssh = listed.iter().find(|v| v["id"] == "CVE-2023-51767").unwrap();
    assert_eq!(
        (openssh["vendor_severity"].as_str(), openssh["fix_state"].as_str()),
        (Some("unimportant"), Some("no_fix"))
    );

    // Triage like any finding.
    let id = finding["id"].as_str().unwrap().to_owned();
    let request = axum::http::Request::post(format!("/api/v1/findings/{id}/acknowledge"))
        .header("authorization", format!("Bearer {analyst}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"comment":"patch window Friday"}"#))
        .unwrap();
    let (code, _, body) = h.send(request).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "acknowledged");

    // The fixed glibc resolves the fix finding; rule findings are untouched.
    h.stored(&host_token, &common::full(&with_source(common::debian(&machine), "glibc", "2.36-9+deb12u4"))).await;
    let (resolved, _) = vuln_findings(&h, &token, &host, "resolved").await;
    assert_eq!(resolved, vec![("vuln.fix".to_owned(), "glibc".to_owned(), "medium".to_owned())]);
    let (open, _) = vuln_findings(&h, &token, &host, "open").await;
    assert_eq!(open, vec![]);
    assert_eq!(rule_findings(&h, &token).await, rules_before);

    // An older glibc again: the same finding comes back as reopened, critical now (the KEV-listed CVE-2023-4911 and
    // DSA-5514-1 join it), still one finding for the one upgrade.
    h.stored(&host_token, &common::full(&with_source(common::debian(&machine), "glibc", "2.36-9+deb12u2"))).await;
    let (reopened, body) = vuln_findings(&h, &token, &host, "reopened").await;
    assert_eq!(reopened, vec![("vuln.fix".to_owned(), "glibc".to_owned(), "critical".to_owned())]);
    assert_eq!(body["findings"][0]["id"], id.as_str());
    let ids: Vec<&str> = body["findings"][0]["details"]["advisories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(&ids[..2], ["CVE-2023-4911", "DSA-5514-1"], "known exploited first");
    assert_eq!(body["findings"][0]["details"]["known_exploited"], 2);
}

/// The finding severity the collector gives a fix group's rating (`unknown` is not buried, `negligible` is info),
/// written out here rather than taken from the code under test.
fn finding_severity(group: &str) -> &str {
    match group {
        "unknown" => "medium",
        "negligible" => "info",
        other => other,
    }
}

/// The collector's vulnerability findings are the offline scan's fixes: one per (source package, fixed or not) with
/// a non-negligible match, at the group's vendor-first severity. The scan's ratings are checked against the record
/// files in tests/vuln/ratings.rs; here the collector must agree with it, host by host.
async fn findings_are_the_scans_fixes(h: Harness) {
    let paths = [testdata(DEBIAN), testdata("advisories/debian-ratings/debian-osv-ratings.jsonl"), testdata(KEV)];
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, &paths, &ImportLimits::files(), &mut |_| {});
    assert_eq!(outcome.summary.errors, Vec::<String>::new());
    sync::store_import(h.store.as_ref(), &db, outcome.summary, h.now(), &Default::default()).await.unwrap();
    let (_, secret) = h.enroll_secret(None).await;
    let viewer = h.api_token(Role::Viewer).await;
    let thinkpad = |name: &str| common::debian(&Machine::thinkpad(name));
    let reports = [
        ("m-as-captured", thinkpad("m-as-captured")),
        ("m-old-glibc", with_source(thinkpad("m-old-glibc"), "glibc", "2.36-9+deb12u2")),
        ("m-old-openssl", with_source(thinkpad("m-old-openssl"), "openssl", "3.0.11-1~deb12u1")),
    ];
    let mut groups = 0;
    for (name, mut report) in reports {
        report.host.as_mut().unwrap().hostname = Some(name.to_owned());
        let (host, host_token) = h.enrolled(&secret, &Machine::thinkpad(name)).await;
        h.stored(&host_token, &common::full(&report)).await;
        let expected: BTreeSet<(String, String, String)> = scan(&db, &report)
            .fixes
            .iter()
            .map(|f| {
                let rule = if f.target_version.is_some() { "vuln.fix" } else { "vuln.no_fix" };
                (rule.to_owned(), f.source_name.clone(), finding_severity(f.severity).to_owned())
            })
            .collect();
        let (open, _) = vuln_findings(&h, &viewer, &host, "open").await;
        // The filter takes the hostname as people type it, too (the host id before).
        let (_, detail) = h.get(&format!("/api/v1/hosts/{host}"), &viewer).await;
        let hostname = detail["hostname"].as_str().unwrap().to_uppercase();
        assert_eq!(vuln_findings(&h, &viewer, &hostname, "open").await.0, open, "{name}: by hostname {hostname}");
        assert_eq!(open.into_iter().collect::<BTreeSet<_>>(), expected, "{name}");
        // Every negligible match is listed for the host and makes no finding of its own.
        let listed = host_vulns(&h, &viewer, &host).await;
        for v in listed["vulnerabilities"].as_array().unwrap() {
            if matches!(v["vendor_severity"].as_str(), Some("unimportant")) && !v["kev"].as_bool().unwrap() {
                let source = v["source_name"].as_str().unwrap();
                assert!(
                    expected.iter().any(|(_, s, _)| s == source) || !open_has(&h, &viewer, &host, source).await,
                    "{name}: {source} has a finding for an unimportant match only"
                );
            }
        }
        groups += expected.len();
    }
    assert!(groups >= 3, "the fixtures must exercise the grouping: {groups} groups");
}

async fn open_has(h: &Harness, token: &str, host: &str, source: &str) -> bool {
    vuln_findings(h, token, host, "open").await.0.iter().any(|(_, s, _)| s == source)
}

/// A package whose programs are gone (dpkg `config-files`) is no match, on the collector as in the offline scan.
async fn removed_packages_are_not_matched(h: Harness) {
    import(&h, &[testdata(DEBIAN), testdata(KEV)]).await;
    let mut report = with_source(common::debian(&Machine::thinkpad("m-thinkpad")), "glibc", "2.36-9+deb12u2");
    for p in report.software.as_mut().unwrap().packages.iter_mut().filter(|p| p.name == "libc-bin") {
        p.state = Some("config-files".to_owned());
    }
    let (host, token) = enrolled_with(&h, &report).await;
    let listed = host_vulns(&h, &token, &host).await;
    let packages: BTreeSet<&str> =
        listed["vulnerabilities"].as_array().unwrap().iter().map(|v| v["package"].as_str().unwrap()).collect();
    assert!(packages.contains("libc6") && !packages.contains("libc-bin"), "{packages:?}");
    let (open, body) = vuln_findings(&h, &token, &host, "open").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(body["findings"][0]["details"]["packages"], serde_json::json!(["libc6"]));
}

/// Findings of the earlier shape (one per advisory and binary package) are closed as superseded, with a history
/// entry saying so, when the host is next matched; the fix finding takes over.
async fn per_advisory_findings_are_superseded(h: Harness) {
    use muster_collector::findings::{FindingKind, Matched, finding_id};
    use muster_collector::store::findings_tx::NewFinding;

    import(&h, &[testdata(DEBIAN), testdata(KEV)]).await;
    let machine = Machine::thinkpad("m-thinkpad");
    let (_, secret) = h.enroll_secret(None).await;
    let (host, host_token) = h.enrolled(&secret, &machine).await;
    let old = Matched {
        rule_id: "DSA-5611-1".to_owned(),
        subject: "libc6:amd64".to_owned(),
        title: "DSA-5611-1 in glibc".to_owned(),
        severity: muster_collector::model::Severity::Medium,
        sla_days: 90,
        remediation: "apt-get install --only-upgrade libc-bin libc6".to_owned(),
        evidence: vec!["libc6:amd64 2.36-9+deb12u3 installed; fixed in 2.36-9+deb12u4".to_owned()],
        details: serde_json::json!({}),
        // Rows of this shape were written before the priority column: the migration's default.
        priority: 0,
    };
    let old_id = finding_id(&host, FindingKind::Vulnerability, &old.rule_id, &old.subject);
    let mut tx = h.store.begin_findings_tx().await.unwrap();
    let new = NewFinding {
        id: &old_id,
        host_id: &host,
        kind: FindingKind::Vulnerability,
        found: &old,
        first_seen: h.now(),
        due_at: h.now() + chrono::Duration::days(90),
    };
    assert!(tx.insert_finding(&new).await.unwrap());
    tx.commit().await.unwrap();

    h.stored(&host_token, &common::full(&with_source(common::debian(&machine), "glibc", "2.36-9+deb12u3"))).await;
    let viewer = h.api_token(Role::Viewer).await;
    let (_, finding) = h.get(&format!("/api/v1/findings/{old_id}"), &viewer).await;
    assert_eq!(finding["status"], "resolved", "{finding}");
    let last = finding["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "resolved");
    assert!(last["comment"].as_str().unwrap().contains("superseded"), "{last}");
    let (open, _) = vuln_findings(&h, &viewer, &host, "open").await;
    assert_eq!(open, vec![("vuln.fix".to_owned(), "glibc".to_owned(), "medium".to_owned())]);
}

/// One upgrade is one finding: a pending security update of glibc that the glibc fix finding asks for does not also
/// count in `patch.security_overdue`, which still reports the overdue updates no fix finding covers.
async fn a_fix_and_its_pending_update_are_one_finding(h: Harness) {
    use muster_shared::v1::{Patches, PendingUpdate};

    import(&h, &[testdata(DEBIAN), testdata(KEV)]).await;
    let machine = Machine::thinkpad("m-thinkpad");
    let mut report = with_source(common::debian(&machine), "glibc", "2.36-9+deb12u2");
    let update = |name: &str, installed: &str, candidate: &str| PendingUpdate {
        name: name.to_owned(),
        arch: Some("amd64".to_owned()),
        installed_version: installed.to_owned(),
        candidate_version: candidate.to_owned(),
        security: true,
        origin: Some("Debian-Security/bookworm-security".to_owned()),
    };
    let installed = |name: &str| {
        report.software.as_ref().unwrap().packages.iter().find(|p| p.name == name).unwrap().version.clone()
    };
    let pending = vec![
        update("libc6", &installed("libc6"), "2.36-9+deb12u7"),
        update("libc-bin", &installed("libc-bin"), "2.36-9+deb12u7"),
        // openssh-client's only match is "unimportant" to Debian: no fix finding, so its update still counts.
        update("openssh-client", &installed("openssh-client"), "1:9.2p1-2+deb12u3"),
    ];
    report.patches = Some(Patches { manager: Some("apt".into()), pending: Some(pending), ..Patches::default() });
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &common::full(&report)).await;
    h.advance(chrono::Duration::days(20));
    h.stored(&token, &common::full(&report)).await;

    let viewer = h.api_token(Role::Viewer).await;
    let (open, _) = vuln_findings(&h, &viewer, &host, "open").await;
    assert!(open.iter().any(|(rule, source, _)| rule == "vuln.fix" && source == "glibc"), "{open:?}");
    let (_, body) = h.get(&format!("/api/v1/findings?rule=patch.security_overdue&host={host}"), &viewer).await;
    assert_eq!(body["total"], 1, "{body}");
    let evidence = body["findings"][0]["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    assert!(evidence[0].as_str().unwrap().starts_with("openssh-client "), "{evidence:?}");
}

/// The fix comes within reach without a package changing: the host's package lists are refreshed, glibc's fixed
/// release is now pending, and the report carries only its patches section in full. The glibc fix finding moves from
/// "released, not offered" to "available" at once, not at the next package change.
async fn a_fix_pending_after_a_lists_refresh_is_available_at_once(h: Harness) {
    use muster_shared::v1::{Patches, PendingUpdate, SectionName};

    import(&h, &[testdata(DEBIAN), testdata(KEV)]).await;
    let machine = Machine::thinkpad("m-thinkpad");
    let mut report = with_source(common::debian(&machine), "glibc", "2.36-9+deb12u2");
    report.patches = Some(Patches { manager: Some("apt".into()), pending: Some(Vec::new()), ..Patches::default() });
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &common::full(&report)).await;
    let viewer = h.api_token(Role::Viewer).await;
    let glibc_fix = |body: &serde_json::Value| {
        let states: BTreeSet<String> = body["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["source_name"] == "glibc" && v["fixed_version"].is_string())
            .map(|v| v["fix_state"].as_str().unwrap().to_owned())
            .collect();
        states
    };
    let (_, body) = h.get(&format!("/api/v1/hosts/{host}/vulnerabilities"), &viewer).await;
    assert_eq!(glibc_fix(&body), BTreeSet::from(["fix_released".to_owned()]), "{body}");

    let installed = |name: &str| {
        report.software.as_ref().unwrap().packages.iter().find(|p| p.name == name).unwrap().version.clone()
    };
    let pending: Vec<PendingUpdate> = ["libc6", "libc-bin"]
        .iter()
        .map(|name| PendingUpdate {
            name: (*name).to_owned(),
            arch: Some("amd64".to_owned()),
            installed_version: installed(name),
            candidate_version: "2.36-9+deb12u7".to_owned(),
            security: true,
            origin: Some("Debian-Security/bookworm-security".to_owned()),
        })
        .collect();
    let mut refreshed = report.clone();
    refreshed.patches.as_mut().unwrap().pending = Some(pending);
    refreshed.collected_at += chrono::Duration::hours(1);
    h.advance(chrono::Duration::hours(1));
    h.stored(&token, &common::delta(&refreshed, &[SectionName::Patches])).await;
    let (_, body) = h.get(&format!("/api/v1/hosts/{host}/vulnerabilities"), &viewer).await;
    assert_eq!(glibc_fix(&body), BTreeSet::from(["fix_available".to_owned()]), "{body}");
}

/// A host matched against the Debian subset without DSA-5611-1, then DSA-5611-1 written the way an import writes
/// it but not re-matched, as when the import's process is killed right after its transaction commits.
async fn interrupted_after_writing(h: &Harness) -> (String, String, PathBuf, tempfile::TempDir) {
    let machine = Machine::thinkpad("m-thinkpad");
    let report = with_source(common::debian(&machine), "glibc", "2.36-9+deb12u3");
    let (host, token) = enrolled_with(h, &report).await;
    let dir = tempfile::tempdir().unwrap();
    let without = debian_lines(&dir, "without.jsonl", |l| !is_record(l, "DSA-5611-1"));
    import(h, &[without]).await;
    let only = debian_lines(&dir, "only.jsonl", |l| is_record(l, "DSA-5611-1"));
    let mut db = AdvisoryDb::new();
    import_paths(&mut db, std::slice::from_ref(&only), &ImportLimits::files(), &mut |_| {});
    let written: Vec<_> = db.iter().cloned().collect();
    assert_eq!(written.len(), 1);
    h.store.write_advisories(&written, None, h.now()).await.unwrap();
    assert!(!ids(&host_vulns(h, &token, &host).await).contains("DSA-5611-1"));
    (host, token, only, dir)
}

async fn an_interrupted_import_is_finished_by_running_it_again(h: Harness) {
    let (host, token, only, _dir) = interrupted_after_writing(&h).await;
    // Nothing is left to write, yet the re-match the first run did not finish is done.
    let again = import(&h, std::slice::from_ref(&only)).await;
    assert_eq!((again.summary.imported, again.summary.unchanged), (0, 1));
    assert_eq!(again.rematch.hosts_rematched, 1, "{:?}", again.rematch);
    assert!(ids(&host_vulns(&h, &token, &host).await).contains("DSA-5611-1"));
    // Its finding is opened too: the glibc fix.
    let (open, _) = vuln_findings(&h, &token, &host, "open").await;
    assert!(open.iter().any(|(rule, source, _)| rule == "vuln.fix" && source == "glibc"), "{open:?}");
    // Then nothing is pending.
    assert_eq!(import(&h, &[only]).await.rematch, sync::RematchStats::default());
}

async fn an_interrupted_import_is_finished_by_the_scheduled_evaluation(h: Harness) {
    let (host, token, _, _dir) = interrupted_after_writing(&h).await;
    muster_collector::app::evaluation::run_once(&h.state, muster_collector::app::evaluation::Scope::Due).await.unwrap();
    assert!(ids(&host_vulns(&h, &token, &host).await).contains("DSA-5611-1"));
    let (open, _) = vuln_findings(&h, &token, &host, "open").await;
    assert!(open.iter().any(|(rule, source, _)| rule == "vuln.fix" && source == "glibc"), "{open:?}");
}

/// A report matched while an import re-matches evaluates the changed keys anew; the import must still re-match the
/// other hosts holding them, whose results it can no longer compare with what they were matched with.
async fn a_host_matched_during_the_rematch_does_not_hide_the_others(h: Harness) {
    let (_, secret) = h.enroll_secret(None).await;
    let mut hosts = Vec::new();
    for id in ["m-reporting", "m-quiet"] {
        let machine = Machine::thinkpad(id);
        let report = with_source(common::debian(&machine), "glibc", "2.36-9+deb12u3");
        let (host, token) = h.enrolled(&secret, &machine).await;
        h.stored(&token, &common::full(&report)).await;
        hosts.push(host);
    }
    let viewer = h.api_token(Role::Viewer).await;
    let dir = tempfile::tempdir().unwrap();
    import(&h, &[debian_lines(&dir, "without.jsonl", |l| !is_record(l, "DSA-5611-1"))]).await;
    let only = debian_lines(&dir, "only.jsonl", |l| is_record(l, "DSA-5611-1"));
    let mut db = AdvisoryDb::new();
    import_paths(&mut db, &[only], &ImportLimits::files(), &mut |_| {});
    let written: Vec<_> = db.iter().cloned().collect();
    // The import commits; one host's report is matched before the import re-matches.
    let outcome = h.store.write_advisories(&written, None, h.now()).await.unwrap();
    sync::match_host(h.store.as_ref(), &hosts[0], h.now(), &Default::default()).await.unwrap();
    let stats = sync::finish_rematch(h.store.as_ref(), Some(&outcome), h.now(), &Default::default()).await.unwrap();
    assert!(stats.hosts_rematched >= 1, "{stats:?}");
    for host in &hosts {
        assert!(ids(&host_vulns(&h, &viewer, host).await).contains("DSA-5611-1"), "{host}");
    }
}

/// This development VM's real report with sshd listening on every address (`reports/debian12-sshd-listening.json`):
/// a vulnerable OpenSSH behind that socket ranks above the same hole on a host where nothing listens, says which
/// socket, and loses the rank once the socket is gone; OpenSSH's client-only and library matches stay unexposed.
async fn a_vulnerable_package_behind_a_listener_ranks_above_the_same_unexposed(h: Harness) {
    import(&h, &[testdata(DEBIAN), testdata(KEV)]).await;
    let (_, secret) = h.enroll_secret(None).await;
    let viewer = h.api_token(Role::Viewer).await;
    let machine =
        |id: &str| Machine { hostname: id.to_owned(), machine_id: Some(id.to_owned()), uuid: None, serial: None };
    // regreSSHion (DSA-5724-1) is fixed in 1:9.2p1-2+deb12u3; the VM runs u10, so the test installs u2.
    let listening = with_source(
        common::report("debian12-sshd-listening.json", &machine("m-exposed")),
        "openssh",
        "1:9.2p1-2+deb12u2",
    );
    let sshd: Vec<_> = listening
        .software
        .as_ref()
        .unwrap()
        .listeners
        .iter()
        .filter(|l| l.owner.as_deref() == Some("openssh-server"))
        .cloned()
        .collect();
    assert!(!sshd.is_empty(), "the capture must hold sshd's sockets");
    let mut quiet = with_source(
        common::report("debian12-sshd-listening.json", &machine("m-quiet")),
        "openssh",
        "1:9.2p1-2+deb12u2",
    );
    quiet.software.as_mut().unwrap().listeners.clear();
    let mut hosts = Vec::new();
    for (id, report) in [("m-exposed", &listening), ("m-quiet", &quiet)] {
        let (host, token) = h.enrolled(&secret, &machine(id)).await;
        h.stored(&token, &common::full(report)).await;
        hosts.push((host, token));
    }
    let openssh = |body: &Value| -> Value {
        body["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule_id"] == "vuln.fix" && f["subject"] == "openssh")
            .cloned()
            .unwrap_or_else(|| panic!("no openssh fix: {body}"))
    };
    let exposed = openssh(&vuln_findings(&h, &viewer, &hosts[0].0, "open").await.1);
    let hidden = openssh(&vuln_findings(&h, &viewer, &hosts[1].0, "open").await.1);
    let texts: Vec<String> = sshd
        .iter()
        .map(|l| {
            let address = if l.address.contains(':') { format!("[{}]", l.address) } else { l.address.clone() };
            format!("sshd listens on {address}:{}/tcp (openssh-server)", l.port)
        })
        .collect();
    assert_eq!(exposed["details"]["exposed"], serde_json::json!(texts), "{exposed}");
    for text in &texts {
        assert!(
            exposed["evidence"].as_array().unwrap().contains(&Value::String(format!("exposed: {text}"))),
            "{exposed}"
        );
    }
    assert_eq!(hidden["details"]["exposed"], serde_json::json!([]), "{hidden}");
    assert_eq!(exposed["priority"].as_i64().unwrap(), hidden["priority"].as_i64().unwrap() + 500);
    assert_eq!(exposed["severity"], hidden["severity"], "exposure ranks within a severity, it does not raise it");
    // The fleet's worklist puts the exposed host's OpenSSH first.
    let (_, list) = h.get("/api/v1/findings?kind=vulnerability&status=open&sort=priority&limit=500", &viewer).await;
    let order: Vec<&str> = list["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["subject"] == "openssh")
        .map(|f| f["host_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, vec![hosts[0].0.as_str(), hosts[1].0.as_str()], "{list}");
    // No other fix group of the exposed host is exposed: sshd's package is the only one behind a socket.
    for f in vuln_findings(&h, &viewer, &hosts[0].0, "open").await.1["findings"].as_array().unwrap() {
        if f["subject"] != "openssh" {
            assert_eq!(f["details"]["exposed"], serde_json::json!([]), "{f}");
        }
    }
    // sshd stops on the exposed host: its next report drops the socket and the finding its rank.
    let mut stopped = listening.clone();
    stopped.software.as_mut().unwrap().listeners.clear();
    h.stored(&hosts[0].1, &common::delta(&stopped, &[SectionName::Software])).await;
    let after = openssh(&vuln_findings(&h, &viewer, &hosts[0].0, "open").await.1);
    assert_eq!(
        (after["priority"].clone(), after["details"]["exposed"].clone()),
        (hidden["priority"].clone(), serde_json::json!([]))
    );
    assert_eq!(after["id"], exposed["id"], "the same finding, re-ranked");
}

both!(
    a_vulnerable_package_behind_a_listener_ranks_above_the_same_unexposed,
    a_host_matched_during_the_rematch_does_not_hide_the_others,
    an_interrupted_import_is_finished_by_running_it_again,
    an_interrupted_import_is_finished_by_the_scheduled_evaluation,
    vulnerabilities_share_the_findings_lifecycle,
    a_fix_and_its_pending_update_are_one_finding,
    a_fix_pending_after_a_lists_refresh_is_available_at_once,
    findings_are_the_scans_fixes,
    removed_packages_are_not_matched,
    per_advisory_findings_are_superseded,
    import_twice_is_a_no_op,
    newer_modified_replaces,
    before_the_fix_is_listed_the_fixed_version_is_not,
    another_release_never_matches,
    new_imports_rematch_affected_hosts,
    api_filters_csv_and_upload,
);

fn collector(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_muster-collector")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn version_compare_prints_the_order() {
    assert_eq!(collector(&["version", "compare", "--ecosystem", "deb", "1:2.0-1", "2.0-1~bpo"]), (true, ">\n".into()));
    assert_eq!(collector(&["version", "compare", "--ecosystem", "deb", "2.0-1~bpo", "2.0-1"]), (true, "<\n".into()));
    assert_eq!(collector(&["version", "compare", "--ecosystem", "rpm", "1.0^git1", "1.0"]), (true, ">\n".into()));
    // Rows of osv-scalibr's RubyGems and Maven tables (shared/testdata/version).
    assert_eq!(
        collector(&["version", "compare", "--ecosystem", "RubyGems", "3.0.0.beta4", "3.0.pre"]),
        (true, "<\n".into())
    );
    assert_eq!(collector(&["version", "compare", "--ecosystem", "Maven", "1.0-SNAPSHOT", "1.0"]), (true, "<\n".into()));
    let (ok, json) = collector(&["version", "compare", "--ecosystem", "apk", "1.2_rc1", "1.2", "--format", "json"]);
    assert!(ok);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v, serde_json::json!({"ecosystem": "apk", "a": "1.2_rc1", "b": "1.2", "result": "<"}));
}

#[test]
fn scan_prints_the_vulnerabilities_object() {
    let report = testdata("inventory/this-machine-debian12-report.json");
    let (ok, json) = collector(&[
        "scan",
        "--advisories",
        testdata(DEBIAN).to_str().unwrap(),
        testdata(KEV).to_str().unwrap(),
        "--inventory",
        report.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(ok);
    let v: Value = serde_json::from_str(&json).unwrap();
    let list = v["vulnerabilities"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let e = &list[0];
    for field in ["id", "aliases", "source_name", "package", "installed_version", "fixed_version", "severity", "kev"] {
        assert!(e.get(field).is_some(), "missing {field}");
    }
    assert_eq!(
        (e["id"].as_str(), e["source_name"].as_str(), e["package"].as_str()),
        (Some("CVE-2023-51767"), Some("openssh"), Some("openssh-client"))
    );
    assert_eq!((e["fixed_version"].clone(), e["kev"].as_bool()), (Value::Null, Some(false)));
    let (ok, table) = collector(&[
        "scan",
        "--advisories",
        testdata(DEBIAN).to_str().unwrap(),
        "--inventory",
        report.to_str().unwrap(),
        "--format",
        "table",
    ]);
    assert!(ok);
    assert!(table.contains("CVE-2023-51767") && table.contains("no fix yet"), "{table}");
}

//! The distribution's rating, fix states and one fix per source package, on the real fixtures: the expected
//! severities are read from the record files here, independently of the importer, and the pending updates are
//! apt's own `apt list --upgradable` of the same Debian 12 image (see testdata/README.md).

use std::collections::{BTreeSet, HashMap};

use super::*;

const RATINGS: [&str; 3] = [
    "advisories/debian/debian-osv-subset.jsonl",
    "advisories/debian-ratings/debian-osv-ratings.jsonl",
    "advisories/kev/known_exploited_vulnerabilities.json",
];

/// Every Debian record of the two files, by id, as plain JSON.
fn debian_records() -> HashMap<String, serde_json::Value> {
    let mut out = HashMap::new();
    for path in &RATINGS[..2] {
        for line in std::fs::read_to_string(testdata(path)).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            out.insert(record["id"].as_str().unwrap().to_owned(), record);
        }
    }
    out
}

/// Debian's urgency for `source` in `ecosystem` in record `id`, as the file has it.
fn urgency<'a>(
    records: &'a HashMap<String, serde_json::Value>,
    id: &str,
    ecosystem: &str,
    source: &str,
) -> Option<&'a str> {
    records[id]["affected"].as_array().unwrap().iter().find_map(|a| {
        let p = &a["package"];
        (p["ecosystem"] == ecosystem && p["name"] == source)
            .then(|| a["ecosystem_specific"]["urgency"].as_str())
            .flatten()
    })
}

/// What the issue asks: KEV critical; else the vendor's rating; else CVSS; else unknown.
fn expected_severity(urgency: Option<&str>, kev: bool, cvss: Option<f64>) -> &'static str {
    let vendor = match urgency {
        Some("unimportant") => Some("negligible"),
        Some("low") => Some("low"),
        Some("medium") => Some("medium"),
        Some("high") => Some("high"),
        _ => None,
    };
    let by_cvss = cvss.map(|s| match s {
        s if s >= 9.0 => "critical",
        s if s >= 7.0 => "high",
        s if s >= 4.0 => "medium",
        s if s > 0.0 => "low",
        _ => "negligible",
    });
    if kev { "critical" } else { vendor.or(by_cvss).unwrap_or("unknown") }
}

/// `apt list --upgradable` lines (`libc6/oldstable 2.36-9+deb12u14 amd64 [upgradable from: 2.36-9+deb12u9]`) as the
/// agent reports pending updates.
fn apt_pending() -> Vec<PendingUpdate> {
    let text = std::fs::read_to_string(testdata("inventory/debian-12-python-image.apt-list-upgradable.txt")).unwrap();
    text.lines()
        .map(|l| {
            let (name_suites, rest) = l.split_once(' ').unwrap();
            let (name, suites) = name_suites.split_once('/').unwrap();
            let f: Vec<&str> = rest.split(' ').collect();
            PendingUpdate {
                name: name.into(),
                arch: Some(f[1].into()),
                installed_version: f[4].trim_end_matches(']').into(),
                candidate_version: f[0].into(),
                security: suites.contains("-security"),
                origin: None,
            }
        })
        .collect()
}

/// The pending updates with `names` installed at `installed` and, if given, offered at `candidate` instead.
fn pending_for(names: &[&str], installed: &str, candidate: Option<&str>) -> Vec<PendingUpdate> {
    let mut pending = apt_pending();
    for u in pending.iter_mut().filter(|u| names.contains(&u.name.as_str())) {
        u.installed_version = installed.into();
        if let Some(c) = candidate {
            u.candidate_version = c.into();
        }
    }
    pending
}

fn with_pending(mut report: Report, pending: Vec<PendingUpdate>) -> Report {
    report.patches = Some(Patches { manager: Some("apt".into()), pending: Some(pending), ..Patches::default() });
    report
}

/// The Debian image with glibc before the Looney Tunables fix (2.36-9+deb12u2), and its real pending updates.
fn glibc_host(candidate: Option<&str>) -> Report {
    let packages = with_source_version(debian_image(), "glibc", "2.36-9+deb12u2");
    with_pending(
        report("debian", "12", None, packages),
        pending_for(&["libc6", "libc-bin"], "2.36-9+deb12u2", candidate),
    )
}

#[test]
fn every_match_takes_the_vendor_rating_and_negligible_ones_open_nothing() {
    let (db, _) = import(&RATINGS);
    let records = debian_records();
    let out = scan(&db, &glibc_host(None));
    assert!(out.vulnerabilities.len() > 20, "{}", out.vulnerabilities.len());
    for v in &out.vulnerabilities {
        let urgency = urgency(&records, &v.id, "Debian:12", &v.source_name);
        assert_eq!(v.severity, expected_severity(urgency, v.kev, v.cvss_score), "{} {}", v.id, v.source_name);
        let vendor_rated = matches!(urgency, Some("unimportant" | "low" | "medium" | "high"));
        let source = if v.kev {
            Some(SeveritySource::Kev)
        } else if vendor_rated {
            Some(SeveritySource::Vendor)
        } else {
            v.cvss_score.map(|_| SeveritySource::Cvss)
        };
        assert_eq!(v.severity_source, source, "{}", v.id);
        assert_eq!(v.vendor_severity.as_deref(), urgency.filter(|_| vendor_rated), "{}", v.id);
        assert_eq!(v.opens_finding, v.severity != "negligible", "{}", v.id);
    }
    // The example: CVSS 9.8, but Debian rates it unimportant.
    let example = out.vulnerabilities.iter().find(|v| v.id == "CVE-2019-1010022" && v.package == "libc6").unwrap();
    assert_eq!((example.severity, example.cvss_score, example.opens_finding), ("negligible", Some(9.8), false));
    let negligible = out.vulnerabilities.iter().filter(|v| v.severity == "negligible").count();
    assert!(negligible >= 10, "{negligible}");

    // One fix group per (source package, fixable or not) with a non-negligible match.
    let expected: BTreeSet<(String, bool)> = out
        .vulnerabilities
        .iter()
        .filter(|v| v.severity != "negligible")
        .map(|v| (v.source_name.clone(), v.fixed_version.is_some()))
        .collect();
    let groups: Vec<(String, bool)> =
        out.fixes.iter().map(|f| (f.source_name.clone(), f.target_version.is_some())).collect();
    assert_eq!(groups.len(), expected.len(), "{groups:?}");
    assert_eq!(groups.iter().cloned().collect::<BTreeSet<_>>(), expected);
    let grouped: BTreeSet<&str> = out.fixes.iter().flat_map(|f| f.advisories.iter().map(String::as_str)).collect();
    assert!(!grouped.contains("CVE-2019-1010022") && !grouped.contains("CVE-2023-51767"));

    // glibc: one upgrade to the highest fixed version closes every fixable match; apt offers 2.36-9+deb12u14.
    let glibc = &out.fixes[0];
    let fixable: BTreeSet<&str> = out
        .vulnerabilities
        .iter()
        .filter(|v| v.source_name == "glibc" && v.fixed_version.is_some() && v.severity != "negligible")
        .map(|v| v.id.as_str())
        .collect();
    assert_eq!((glibc.source_name.as_str(), glibc.target_version.as_deref()), ("glibc", Some("2.36-9+deb12u7")));
    assert_eq!(glibc.advisories.iter().map(String::as_str).collect::<BTreeSet<_>>(), fixable);
    assert_eq!((glibc.fix_state, glibc.severity, glibc.known_exploited), (FixState::FixAvailable, "critical", 2));
    assert_eq!(glibc.packages, vec!["libc-bin", "libc6"]);
    assert_eq!(glibc.remediation.as_deref(), Some("apt-get install --only-upgrade libc-bin libc6"));
    assert_eq!(
        glibc.title,
        format!(
            "Upgrade glibc (libc-bin, libc6) to 2.36-9+deb12u7 — fixes {} vulnerabilities, 2 known exploited",
            fixable.len()
        )
    );
    assert_eq!(glibc.advisories[0], "CVE-2023-4911", "known exploited first");
    // The unfixed glibc match Debian has not rated yet, and nothing rates by CVSS either.
    let unfixed = out.fixes.iter().find(|f| f.source_name == "glibc" && f.target_version.is_none()).unwrap();
    assert_eq!(unfixed.advisories, vec!["CVE-2025-0395"]);
    assert_eq!(
        (unfixed.fix_state, unfixed.severity, unfixed.remediation.as_deref()),
        (FixState::NoFix, "unknown", None)
    );

    // The policy can let negligible matches open findings: they then join their groups.
    let all = scan_with(&db, &glibc_host(None), &FindingPolicy { negligible_opens_finding: true });
    assert!(all.vulnerabilities.iter().all(|v| v.opens_finding));
    let unfixed = all.fixes.iter().find(|f| f.source_name == "glibc" && f.target_version.is_none()).unwrap();
    assert!(unfixed.advisories.contains(&"CVE-2019-1010022".to_owned()));
    assert!(all.fixes.len() > out.fixes.len());
}

#[test]
fn a_fix_the_sources_do_not_offer_is_released_not_available() {
    // Package lists last refreshed when 2.36-9+deb12u3 (DSA-5514-1) was the newest glibc: later fixes exist, but this
    // host's sources do not offer them yet.
    let (db, _) = import(&RATINGS);
    let out = scan(&db, &glibc_host(Some("2.36-9+deb12u3")));
    let state = |id: &str| {
        let v = out.vulnerabilities.iter().find(|v| v.id == id && v.package == "libc6").unwrap();
        (v.fix_state, v.remediation.is_some())
    };
    assert_eq!(state("DSA-5514-1"), (FixState::FixAvailable, true));
    assert_eq!(state("DSA-5611-1"), (FixState::FixReleased, false));
    assert_eq!(state("DSA-5678-1"), (FixState::FixReleased, false));
    let glibc = out.fixes.iter().find(|f| f.source_name == "glibc" && f.target_version.is_some()).unwrap();
    assert_eq!((glibc.fix_state, glibc.remediation.as_deref()), (FixState::FixReleased, None));
    assert!(glibc.title.starts_with("glibc 2.36-9+deb12u7 fixes"), "{}", glibc.title);
    assert!(glibc.title.contains("this host's package sources do not offer it"), "{}", glibc.title);
    // Without pending updates (a report from a mounted root) nothing confirms or denies the fix.
    let out = scan(&db, &report("debian", "12", None, with_source_version(debian_image(), "glibc", "2.36-9+deb12u2")));
    assert!(out.fixes.iter().filter(|f| f.target_version.is_some()).all(|f| f.fix_state == FixState::FixUnverified));
}

#[test]
fn ubuntu_priorities_rate_their_packages() {
    let (db, _) = import(&["advisories/ubuntu"]);
    let wayland = |v: &str| {
        ["libwayland-client0", "libwayland-cursor0"].map(|b| pkg(PackageKind::Deb, b, v, Some(("wayland", v)))).to_vec()
    };
    let out = scan(&db, &report("ubuntu", "18.04", None, wayland("1.16.0-1ubuntu1.1~18.04.3")));
    // UBUNTU-CVE-2021-3782: `severity[type=Ubuntu]` medium; USN-5614-1: its CVE's priority in `cves_map`.
    let rated: BTreeSet<(&str, &str, Option<&str>)> =
        out.vulnerabilities.iter().map(|v| (v.id.as_str(), v.severity, v.vendor_severity.as_deref())).collect();
    assert_eq!(
        rated,
        [("UBUNTU-CVE-2021-3782", "medium", Some("medium")), ("USN-5614-1", "medium", Some("medium"))].into()
    );
    assert_eq!(out.fixes.len(), 1);
    assert_eq!(out.fixes[0].advisories, vec!["UBUNTU-CVE-2021-3782", "USN-5614-1"]);

    // netty: Ubuntu says low although CVSS 5.5 says medium.
    let netty = vec![pkg(PackageKind::Deb, "libnetty-java", "1:4.0.34-1", Some(("netty", "1:4.0.34-1")))];
    let v = &scan(&db, &report("ubuntu", "16.04", None, netty)).vulnerabilities[0];
    assert_eq!((v.severity, v.severity_source, v.cvss_score), ("low", Some(SeveritySource::Vendor), Some(5.5)));

    // unzip on 16.04: Ubuntu rates CVE-2014-9913 negligible: listed, no finding, no fix group.
    let unzip = vec![pkg(PackageKind::Deb, "unzip", "6.0-20ubuntu1", Some(("unzip", "6.0-20ubuntu1")))];
    let out = scan(&db, &report("ubuntu", "16.04", None, unzip));
    let v = &out.vulnerabilities[0];
    assert_eq!((v.id.as_str(), v.severity, v.opens_finding), ("UBUNTU-CVE-2014-9913", "negligible", false));
    assert!(out.fixes.is_empty());
}

#[test]
fn end_of_life_packages_say_so() {
    // consul in bullseye: Debian marks its CVEs `end-of-life` (no security support); CVSS rates them.
    let (db, _) = import(&["advisories/debian-ratings/debian-osv-ratings.jsonl"]);
    let consul = vec![pkg(PackageKind::Deb, "consul", "1.8.7+dfsg1-6", Some(("consul", "1.8.7+dfsg1-6")))];
    let out = scan(&db, &report("debian", "11", None, consul));
    let got: BTreeSet<(&str, FixState, Option<SeveritySource>, Option<&str>)> = out
        .vulnerabilities
        .iter()
        .map(|v| (v.id.as_str(), v.fix_state, v.severity_source, v.vendor_severity.as_deref()))
        .collect();
    let eol = |id| (id, FixState::EndOfLife, Some(SeveritySource::Cvss), Some("end-of-life"));
    assert_eq!(got, [eol("CVE-2021-37219"), eol("CVE-2022-24687")].into());
    assert!(out.vulnerabilities.iter().all(|v| v.remediation.is_none()));
    let group = &out.fixes[0];
    assert_eq!((out.fixes.len(), group.fix_state, group.target_version.as_deref()), (1, FixState::EndOfLife, None));
    assert_eq!(group.title, "consul (consul): 2 vulnerabilities, no longer supported in this release");
}

#[test]
fn headers_and_tools_are_not_kernels() {
    // This machine's linux-libc-dev and linux-perf (source linux) at the real bookworm 6.1.76-1: both kernel DSAs
    // name source `linux`, but neither package is a kernel.
    let db = debian_db();
    let text = std::fs::read(testdata("inventory/this-machine-debian12-report.json")).unwrap();
    let mut report: Report = serde_json::from_slice(&text).unwrap();
    let packages = &mut report.software.as_mut().unwrap().packages;
    let mut n = 0;
    for p in packages.iter_mut().filter(|p| p.source_name.as_deref() == Some("linux")) {
        p.version = "6.1.76-1".into();
        p.source_version = Some("6.1.76-1".into());
        n += 1;
    }
    assert_eq!(n, 2);
    let out = scan(&db, &report);
    assert!(out.not_running_kernel_vulnerabilities.is_empty(), "{:?}", out.not_running_kernel_vulnerabilities);
    assert!(out.vulnerabilities.iter().all(|v| v.source_name != "linux"));
    assert!(out.fixes.iter().all(|f| f.source_name != "linux"));
    let other: BTreeSet<(&str, &str, Option<&str>)> =
        out.not_a_kernel_vulnerabilities.iter().map(|v| (v.id.as_str(), v.package.as_str(), v.kernel)).collect();
    let not_a_kernel = |id, package| (id, package, Some("not_a_kernel"));
    assert_eq!(
        other,
        [
            not_a_kernel("DSA-5818-1", "linux-libc-dev"),
            not_a_kernel("DSA-5818-1", "linux-perf"),
            not_a_kernel("DSA-5860-1", "linux-libc-dev"),
            not_a_kernel("DSA-5860-1", "linux-perf"),
        ]
        .into()
    );
}

#[test]
fn cvss_rates_what_the_vendor_does_not() {
    // Alpine's OSV records carry no rating of their own.
    let (db, _) = import(&["advisories/alpine/alpine-osv-subset.jsonl"]);
    let text = std::fs::read_to_string(testdata("inventory/alpine-3.18-apk-installed")).unwrap();
    let out = scan(&db, &report("alpine", "3.18.4", None, apk_installed(&text)));
    assert!(
        out.vulnerabilities
            .iter()
            .all(|v| v.severity_source == Some(SeveritySource::Cvss) && v.vendor_severity.is_none())
    );
    let busybox = out.vulnerabilities.iter().find(|v| v.id == "CVE-2022-48174").unwrap();
    assert_eq!((busybox.severity, busybox.cvss_score), ("critical", Some(9.8)));
    let sources: Vec<&str> = out.fixes.iter().map(|f| f.source_name.as_str()).collect();
    assert_eq!(sources, vec!["busybox", "openssl"], "most urgent first");
}

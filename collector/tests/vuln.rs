//! Vulnerability matching over real advisory records and real package lists (see testdata/README.md), checked both
//! ways: a version before the fix is reported, the fixed version is not.

// Test helpers fail loudly on unreadable fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use muster_collector::vuln::{
    AdvisoryDb, FindingPolicy, FixState, HostProfile, ImportLimits, ImportOutcome, Matcher, ScanOutput, SeveritySource,
    import_paths, import_stream, match_host, render_table, scan, scan_paths, scan_with,
};
use muster_shared::v1::{
    AgentInfo, CollectionMode, Os, Package, PackageKind, Patches, PendingUpdate, Report, Software,
};

/// Vendor ratings, fix states and fix groups.
#[path = "vuln/ratings.rs"]
mod ratings;

/// Container images of a real host's Docker and Podman state.
#[path = "vuln/images.rs"]
mod images;

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(path)
}

fn import(paths: &[&str]) -> (AdvisoryDb, ImportOutcome) {
    let mut db = AdvisoryDb::new();
    let paths: Vec<PathBuf> = paths.iter().map(|p| testdata(p)).collect();
    let outcome = import_paths(&mut db, &paths, &ImportLimits::files(), &mut |_| {});
    assert_eq!(outcome.summary.errors, Vec::<String>::new());
    (db, outcome)
}

fn debian_db() -> AdvisoryDb {
    import(&["advisories/debian/debian-osv-subset.jsonl", "advisories/kev/known_exploited_vulnerabilities.json"]).0
}

fn pkg(kind: PackageKind, name: &str, version: &str, source: Option<(&str, &str)>) -> Package {
    Package {
        kind,
        name: name.into(),
        version: version.into(),
        arch: Some("amd64".into()),
        source_name: source.map(|s| s.0.into()),
        source_version: source.map(|s| s.1.into()),
        installed_at: None,
        size_bytes: None,
        state: None,
        path: None,
        owner: None,
        publisher: None,
        channel: None,
    }
}

fn report(os_id: &str, version_id: &str, kernel: Option<&str>, packages: Vec<Package>) -> Report {
    Report {
        schema: "muster.v1".into(),
        agent: AgentInfo { version: "test".into(), mode: CollectionMode::Live, root: None, sections: vec![] },
        host: None,
        hardware: None,
        os: Some(Os {
            id: Some(os_id.into()),
            version_id: Some(version_id.into()),
            kernel_release: kernel.map(Into::into),
            ..Os::default()
        }),
        software: Some(Software { sources: vec![], packages, ..Software::default() }),
        patches: None,
        checks: None,
        errors: vec![],
        collected_at: Utc.with_ymd_and_hms(2025, 2, 12, 0, 0, 0).single().unwrap_or_default(),
    }
}

/// The Debian 12 python image's packages, as `dpkg-query` lists them (package, version, arch, status, source,
/// source version).
fn debian_image() -> Vec<Package> {
    let text = std::fs::read_to_string(testdata("inventory/debian-12-python-image.dpkg-query.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Package { arch: Some(f[2].into()), ..pkg(PackageKind::Deb, f[0], f[1], Some((f[4], f[5]))) }
        })
        .collect()
}

/// The image with every binary of `source` at an earlier real version of that source.
fn with_source_version(mut packages: Vec<Package>, source: &str, version: &str) -> Vec<Package> {
    let mut n = 0;
    for p in packages.iter_mut().filter(|p| p.source_name.as_deref() == Some(source)) {
        p.version = version.into();
        p.source_version = Some(version.into());
        n += 1;
    }
    assert!(n > 0, "no binary of {source} in the image");
    packages
}

/// (advisory id, binary package, fixed version) of the active findings.
fn found(output: &ScanOutput) -> BTreeSet<(String, String, Option<String>)> {
    output.vulnerabilities.iter().map(|v| (v.id.clone(), v.package.clone(), v.fixed_version.clone())).collect()
}

fn ids(output: &ScanOutput) -> BTreeSet<String> {
    output.vulnerabilities.iter().map(|v| v.id.clone()).collect()
}

fn set(items: &[(&str, &str, Option<&str>)]) -> BTreeSet<(String, String, Option<String>)> {
    items.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.map(str::to_owned))).collect()
}

#[test]
fn debian_image_reports_only_unfixed_issues_at_its_current_versions() {
    let db = debian_db();
    let out = scan(&db, &report("debian", "12", None, debian_image()));
    assert_eq!(out.host.ecosystems, vec!["Debian:12"]);
    assert_eq!(found(&out), set(&[("CVE-2023-51767", "openssh-client", None)]));
    let v = &out.vulnerabilities[0];
    assert_eq!((v.source_name.as_str(), v.installed_version.as_str()), ("openssh", "1:9.2p1-2+deb12u5"));
    // Debian rates CVE-2023-51767 `unimportant` for bookworm; its CVSS 7.0 is kept beside the vendor's word.
    assert_eq!((v.severity, v.cvss_score, v.kev, v.fix_available), ("negligible", Some(7.0), false, false));
    assert_eq!((v.severity_source, v.vendor_severity.as_deref()), (Some(SeveritySource::Vendor), Some("unimportant")));
    assert_eq!((v.fix_state, v.opens_finding), (FixState::NoFix, false));
    // No fix: an upgrade command would do nothing.
    assert_eq!(v.remediation, None);
    assert!(out.fixes.is_empty(), "an unimportant match opens nothing: {:?}", out.fixes);
    let table = render_table(&out);
    assert!(table.contains("no fix yet") && table.contains("negligible (vendor: unimportant · CVSS 7.0), no finding"));
}

#[test]
fn backported_debian_fixes_are_honoured_both_ways() {
    let db = debian_db();
    let glibc_bins = ["libc-bin", "libc6"];
    // 2.36-9+deb12u3 is the DSA-5514-1 fix (Looney Tunables) but before DSA-5611-1's.
    let out = scan(&db, &report("debian", "12", None, with_source_version(debian_image(), "glibc", "2.36-9+deb12u3")));
    let expected: Vec<(&str, &str, Option<&str>)> =
        glibc_bins.iter().map(|b| ("DSA-5611-1", *b, Some("2.36-9+deb12u4"))).collect();
    let mut expected = set(&expected);
    expected.extend(set(&[("CVE-2023-51767", "openssh-client", None)]));
    assert_eq!(found(&out), expected);
    assert_eq!(
        out.vulnerabilities.iter().find(|v| v.id == "DSA-5611-1").and_then(|v| v.remediation.clone()),
        Some("apt-get install --only-upgrade libc-bin libc6".to_owned())
    );

    // One revision earlier, the KEV-listed CVE-2023-4911 applies and ranks first.
    let out = scan(&db, &report("debian", "12", None, with_source_version(debian_image(), "glibc", "2.36-9+deb12u2")));
    assert_eq!(
        ids(&out),
        ["CVE-2023-4806", "CVE-2023-4911", "CVE-2023-51767", "DSA-5514-1", "DSA-5611-1"].map(String::from).into()
    );
    let first = &out.vulnerabilities[0];
    // KEV-listed: critical whatever the vendor or CVSS (7.8) says.
    assert_eq!((first.id.as_str(), first.kev, first.severity), ("CVE-2023-4911", true, "critical"));
    assert_eq!((first.severity_source, first.cvss_score), (Some(SeveritySource::Kev), Some(7.8)));
    assert_eq!(first.kev_date_added.map(|d| d.to_string()).as_deref(), Some("2023-11-21"));
    let dsa = out.vulnerabilities.iter().find(|v| v.id == "DSA-5514-1").unwrap();
    assert_eq!((dsa.kev, dsa.aliases.clone()), (true, vec!["CVE-2023-4911".to_owned()]));
    assert!(out.vulnerabilities.iter().take(4).all(|v| v.kev), "KEV findings rank first");

    // `~` sorts before the release: 3.0.14-1~deb12u1 < 3.0.14-1~deb12u2 (the fix).
    let out =
        scan(&db, &report("debian", "12", None, with_source_version(debian_image(), "openssl", "3.0.14-1~deb12u1")));
    assert!(found(&out).contains(&("DSA-5764-1".into(), "libssl3".into(), Some("3.0.14-1~deb12u2".into()))));
    let out =
        scan(&db, &report("debian", "12", None, with_source_version(debian_image(), "openssl", "3.0.14-1~deb12u2")));
    assert!(!ids(&out).contains("DSA-5764-1"));

    // Epoch-qualified versions.
    let out =
        scan(&db, &report("debian", "12", None, with_source_version(debian_image(), "openssh", "1:9.2p1-2+deb12u2")));
    assert!(found(&out).contains(&("DSA-5724-1".into(), "openssh-client".into(), Some("1:9.2p1-2+deb12u3".into()))));
    let out =
        scan(&db, &report("debian", "12", None, with_source_version(debian_image(), "openssh", "1:9.2p1-2+deb12u3")));
    assert!(!ids(&out).contains("DSA-5724-1"));
}

#[test]
fn records_for_another_release_never_match() {
    let db = debian_db();
    // CVE-2023-4806 is unfixed for Debian:11 and fixed in 2.36-9+deb12u3 for Debian:12.
    let packages = vec![pkg(PackageKind::Deb, "libc6", "2.36-9+deb12u9", Some(("glibc", "2.36-9+deb12u9")))];
    assert!(!ids(&scan(&db, &report("debian", "12", None, packages.clone()))).contains("CVE-2023-4806"));
    assert!(ids(&scan(&db, &report("debian", "11", None, packages))).contains("CVE-2023-4806"));
    // DSA-5343-1 names only Debian:11 (fixed 1.1.1n-0+deb11u4).
    let old = vec![pkg(PackageKind::Deb, "libssl1.1", "1.1.1n-0+deb11u3", Some(("openssl", "1.1.1n-0+deb11u3")))];
    assert!(ids(&scan(&db, &report("debian", "11", None, old.clone()))).contains("DSA-5343-1"));
    assert!(!ids(&scan(&db, &report("debian", "12", None, old))).contains("DSA-5343-1"));
}

#[test]
fn git_ranges_and_packageless_entries_are_skipped_and_counted() {
    let (_, outcome) = import(&["advisories/debian/debian-osv-subset.jsonl"]);
    // Counted independently from the file.
    let text = std::fs::read_to_string(testdata("advisories/debian/debian-osv-subset.jsonl")).unwrap();
    let (mut empty, mut git) = (0u64, 0u64);
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        for a in record["affected"].as_array().unwrap() {
            empty += u64::from(a["package"].as_object().is_none_or(|p| p.is_empty()));
            git += a["ranges"].as_array().unwrap().iter().filter(|r| r["type"] == "GIT").count() as u64;
        }
    }
    assert_eq!((empty, git), (4, 4));
    let s = &outcome.summary;
    assert_eq!((s.records_read, s.imported), (11, 11));
    assert_eq!(s.skipped_affected.get("affected entry without package"), Some(&empty));
    assert_eq!(s.skipped_affected.get("GIT range"), Some(&git));
}

#[test]
fn duplicate_ids_keep_the_newest_and_reimport_is_a_no_op() {
    let (mut db, outcome) = import(&["advisories/debian/debian-duplicate-id.jsonl"]);
    let s = &outcome.summary;
    assert_eq!((s.records_read, s.imported, s.updated), (2, 1, 0));
    assert_eq!(s.skipped_records.get("older than the stored record"), Some(&1));
    let kept = db.get("DLA-377-1").unwrap();
    assert_eq!(kept.modified.map(|t| t.to_rfc3339()).as_deref(), Some("2024-01-09T20:33:45.504277+00:00"));

    let again = import_paths(&mut db, &[testdata("advisories/debian")], &ImportLimits::files(), &mut |_| {});
    assert_eq!((again.summary.imported, again.summary.updated), (11, 0));
    let again = import_paths(&mut db, &[testdata("advisories/debian")], &ImportLimits::files(), &mut |_| {});
    assert_eq!((again.summary.imported, again.summary.updated, again.summary.unchanged), (0, 0, 12));
    assert!(again.changed.is_empty());

    // Oldest first: the newer record replaces it.
    let text = std::fs::read_to_string(testdata("advisories/debian/debian-duplicate-id.jsonl")).unwrap();
    let reversed: String = text.lines().rev().map(|l| format!("{l}\n")).collect();
    let mut db = AdvisoryDb::new();
    let o = import_stream(&mut db, "x.jsonl", reversed.as_bytes(), None, &ImportLimits::upload(), &mut |_| {});
    assert_eq!((o.summary.imported, o.summary.updated), (1, 1));
}

#[test]
fn withdrawn_records_never_match() {
    let (db, outcome) = import(&["advisories/ubuntu"]);
    assert_eq!(outcome.summary.records_read, 13);
    // UBUNTU-CVE-2013-2208, -2014-2901 and -2020-36325 carry `withdrawn`.
    assert_eq!(outcome.summary.withdrawn, 3);
    assert!(db.get("UBUNTU-CVE-2013-2208").unwrap().withdrawn.is_some());
    let tpp = vec![pkg(PackageKind::Deb, "tpp", "1.3.1-2", Some(("tpp", "1.3.1-2")))];
    let out = scan(&db, &report("ubuntu", "14.04", None, tpp));
    assert_eq!(out.host.ecosystems, vec!["Ubuntu:14.04:LTS", "Ubuntu:Pro:14.04:LTS"]);
    assert!(out.vulnerabilities.is_empty(), "{:?}", out.vulnerabilities);
}

#[test]
fn ubuntu_binaries_lts_and_pro() {
    let (db, _) = import(&["advisories/ubuntu"]);
    let usn = db.get("USN-5614-1").unwrap();
    let bionic = usn.affected.iter().find(|a| a.key.ecosystem.as_ref() == "Ubuntu:18.04:LTS").unwrap();
    assert!(bionic.binaries.iter().any(|b| b.as_ref() == "libwayland-client0"));

    let wayland = |v: &str| {
        ["libwayland-client0", "libwayland-cursor0"].map(|b| pkg(PackageKind::Deb, b, v, Some(("wayland", v)))).to_vec()
    };
    let out = scan(&db, &report("ubuntu", "18.04", None, wayland("1.16.0-1ubuntu1.1~18.04.3")));
    let fix = Some("1.16.0-1ubuntu1.1~18.04.4");
    assert_eq!(
        found(&out),
        set(&[
            ("UBUNTU-CVE-2021-3782", "libwayland-client0", fix),
            ("UBUNTU-CVE-2021-3782", "libwayland-cursor0", fix),
            ("USN-5614-1", "libwayland-client0", fix),
            ("USN-5614-1", "libwayland-cursor0", fix),
        ])
    );
    assert_eq!(
        out.vulnerabilities[0].remediation.as_deref(),
        Some("apt-get install --only-upgrade libwayland-client0 libwayland-cursor0")
    );
    assert!(
        scan(&db, &report("ubuntu", "18.04", None, wayland("1.16.0-1ubuntu1.1~18.04.4"))).vulnerabilities.is_empty()
    );

    // netty on 16.04 is fixed only in ESM: the Pro ecosystem's record applies.
    let netty = vec![pkg(PackageKind::Deb, "libnetty-java", "1:4.0.34-1", Some(("netty", "1:4.0.34-1")))];
    let out = scan(&db, &report("ubuntu", "16.04", None, netty));
    let v: Vec<_> =
        out.vulnerabilities.iter().map(|v| (v.id.as_str(), v.ecosystem.as_str(), v.fixed_version.as_deref())).collect();
    assert_eq!(v, vec![("UBUNTU-CVE-2022-24823", "Ubuntu:Pro:16.04:LTS", Some("1:4.0.34-1ubuntu0.1~esm2"))]);
}

#[test]
fn only_the_running_kernel_has_active_kernel_findings() {
    let db = debian_db();
    let mut packages = debian_image();
    packages.push(pkg(
        PackageKind::Deb,
        "linux-image-6.1.0-28-amd64",
        "6.1.119-1",
        Some(("linux-signed-amd64", "6.1.119+1")),
    ));
    packages.push(pkg(
        PackageKind::Deb,
        "linux-image-6.1.0-18-amd64",
        "6.1.76-1",
        Some(("linux-signed-amd64", "6.1.76+1")),
    ));
    let out = scan(&db, &report("debian", "12", Some("6.1.0-28-amd64"), packages.clone()));
    let kernel: Vec<_> = out
        .vulnerabilities
        .iter()
        .filter(|v| v.kernel.is_some())
        .map(|v| (v.id.as_str(), v.package.as_str(), v.source_name.as_str(), v.kernel))
        .collect();
    assert_eq!(kernel, vec![("DSA-5860-1", "linux-image-6.1.0-28-amd64", "linux", Some("running"))]);
    let inactive: BTreeSet<_> =
        out.not_running_kernel_vulnerabilities.iter().map(|v| (v.id.as_str(), v.package.as_str(), v.kernel)).collect();
    assert_eq!(
        inactive,
        [
            ("DSA-5818-1", "linux-image-6.1.0-18-amd64", Some("not_running")),
            ("DSA-5860-1", "linux-image-6.1.0-18-amd64", Some("not_running"))
        ]
        .into()
    );
    // Without a running kernel (a mounted root), neither is hidden.
    let out = scan(&db, &report("debian", "12", None, packages));
    assert!(out.not_running_kernel_vulnerabilities.is_empty());
    assert_eq!(out.vulnerabilities.iter().filter(|v| v.kernel == Some("unknown")).count(), 3);
}

#[test]
fn this_machines_own_report() {
    let db = debian_db();
    let text = std::fs::read(testdata("inventory/this-machine-debian12-report.json")).unwrap();
    let report: Report = serde_json::from_slice(&text).unwrap();
    let out = scan(&db, &report);
    assert_eq!(out.packages_checked, 799);
    assert_eq!(found(&out), set(&[("CVE-2023-51767", "openssh-client", None)]));
    // linux-libc-dev and linux-perf come from the kernel source but are not the running kernel; both are past the
    // kernel DSAs' fixes anyway.
    assert!(out.not_running_kernel_vulnerabilities.is_empty());
}

/// Parses `/lib/apk/db/installed` (P: name, V: version, o: origin).
fn apk_installed(text: &str) -> Vec<Package> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let field = |k: &str| stanza.lines().find_map(|l| l.strip_prefix(k));
            let origin = field("o:");
            Some(Package {
                source_name: origin.map(Into::into),
                ..pkg(PackageKind::Apk, field("P:")?, field("V:")?, None)
            })
        })
        .collect()
}

#[test]
fn alpine_packages_match_by_origin() {
    let (db, _) = import(&["advisories/alpine/alpine-osv-subset.jsonl"]);
    let text = std::fs::read_to_string(testdata("inventory/alpine-3.18-apk-installed")).unwrap();
    let packages = apk_installed(&text);
    assert_eq!(packages.len(), 15);
    let out = scan(&db, &report("alpine", "3.18.4", None, packages));
    assert_eq!(out.host.ecosystems, vec!["Alpine:v3.18"]);
    // CVE-2023-1255 is fixed in 3.1.0-r4, the installed openssl.
    let busybox = Some("1.36.1-r1");
    assert_eq!(
        found(&out),
        set(&[
            ("CVE-2022-48174", "busybox", busybox),
            ("CVE-2022-48174", "busybox-binsh", busybox),
            ("CVE-2022-48174", "ssl_client", busybox),
            ("CVE-2023-2650", "libcrypto3", Some("3.1.1-r0")),
            ("CVE-2023-2650", "libssl3", Some("3.1.1-r0")),
        ])
    );
    let openssl = out.vulnerabilities.iter().find(|v| v.package == "libssl3").unwrap();
    assert_eq!(openssl.remediation.as_deref(), Some("apk upgrade libcrypto3 libssl3"));
}

#[test]
fn almalinux_matches_binary_names_with_epochs() {
    let (db, _) = import(&["advisories/almalinux/almalinux-osv-subset.jsonl"]);
    let host = |v: &str| {
        let src = Some(("openssl", "3.0.1-40.el9_0"));
        report(
            "almalinux",
            "9.0",
            None,
            vec![pkg(PackageKind::Rpm, "openssl", v, src), pkg(PackageKind::Rpm, "openssl-libs", v, src)],
        )
    };
    let out = scan(&db, &host("1:3.0.1-40.el9_0"));
    let fix = Some("1:3.0.1-41.el9_0");
    assert_eq!(found(&out), set(&[("ALSA-2022:6224", "openssl", fix), ("ALSA-2022:6224", "openssl-libs", fix)]));
    // "Moderate: openssl security and bug fix update": AlmaLinux's own rating.
    let v = &out.vulnerabilities[0];
    assert_eq!(
        (v.severity, v.severity_source, v.vendor_severity.as_deref()),
        ("medium", Some(SeveritySource::Vendor), Some("Moderate"))
    );
    // The agent computes pending updates for apt only: the fix exists, nothing confirms this host's sources offer it.
    assert_eq!(v.fix_state, FixState::FixUnverified);
    assert_eq!(v.remediation.as_deref(), Some("dnf upgrade openssl openssl-libs"));
    assert!(scan(&db, &host("1:3.0.1-41.el9_0")).vulnerabilities.is_empty());
}

#[test]
fn language_ecosystems_last_affected_and_enumerated_versions() {
    let (db, _) = import(&["advisories/lang"]);
    let mut m = Matcher::new();
    let ids = |m: &mut Matcher, eco: &str, name: &str, v: &str| {
        m.hits(&db, eco, name, v)
            .iter()
            .map(|h| (h.advisory.id.to_string(), h.fixed.as_deref().map(str::to_owned)))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&mut m, "crates.io", "toolshed", "0.8.1"), vec![("GHSA-8q5c-93vg-c747".into(), None)]);
    assert!(ids(&mut m, "crates.io", "toolshed", "0.8.2").is_empty());
    // "0.12.01" is not a normalised version: only the enumerated list names it.
    let requests = ("GHSA-x84v-xcm2-53pg".to_owned(), Some("2.20.0".to_owned()));
    assert_eq!(ids(&mut m, "PyPI", "requests", "0.12.01"), vec![requests.clone()]);
    assert_eq!(ids(&mut m, "PyPI", "requests", "2.19.1"), vec![requests]);
    assert!(ids(&mut m, "PyPI", "requests", "2.20.0").is_empty());
}

#[test]
fn incremental_rematch_after_new_advisories() {
    let text = std::fs::read_to_string(testdata("advisories/debian/debian-osv-subset.jsonl")).unwrap();
    let (late, early): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.contains("\"id\":\"DSA-5611-1\""));
    let mut db = AdvisoryDb::new();
    let early = early.join("\n");
    import_stream(&mut db, "early.jsonl", early.as_bytes(), None, &ImportLimits::upload(), &mut |_| {});
    let host = HostProfile::from_report(&report(
        "debian",
        "12",
        None,
        with_source_version(debian_image(), "glibc", "2.36-9+deb12u3"),
    ));
    let mut matcher = Matcher::new();
    assert!(!match_host(&db, &mut matcher, &host).active.iter().any(|f| f.advisory.id.as_ref() == "DSA-5611-1"));
    let before = matcher.stats().evaluations;

    let outcome = import_stream(&mut db, "late.jsonl", late[0].as_bytes(), None, &ImportLimits::upload(), &mut |_| {});
    let changed: Vec<String> = outcome.changed.iter().map(|k| format!("{}/{}", k.ecosystem, k.name)).collect();
    assert_eq!(changed, vec!["Debian:12/glibc"]);
    let changes = matcher.refresh(&db, &outcome.changed);
    assert_eq!(changes.len(), 1, "only the cached glibc version is re-evaluated");
    assert_eq!(&*changes[0].version, "2.36-9+deb12u3");
    let added: Vec<&str> = changes[0].added.iter().map(|h| h.advisory.id.as_ref()).collect();
    assert_eq!((added, changes[0].removed.len()), (vec!["DSA-5611-1"], 0));
    assert_eq!(matcher.stats().evaluations, before + 1);
    let after = match_host(&db, &mut matcher, &host);
    assert_eq!(after.active.iter().filter(|f| f.advisory.id.as_ref() == "DSA-5611-1").count(), 2);
    assert_eq!(matcher.stats().evaluations, before + 1, "joining again re-uses the cache");
}

#[test]
fn reads_every_container_and_compression() {
    let lines = std::fs::read_to_string(testdata("advisories/debian/debian-osv-subset.jsonl")).unwrap();
    let records: Vec<&str> = lines.lines().collect();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.path().join(name), bytes).unwrap();

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(records[0..2].join("\n").as_bytes()).unwrap();
    write("a.jsonl.gz", &gz.finish().unwrap());
    write("b.jsonl.zst", &zstd::encode_all(records[2..4].join("\n").as_bytes(), 3).unwrap());
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(records[4..6].join("\n").as_bytes()).unwrap();
    write("c.jsonl.xz", &xz.finish().unwrap());
    write("d.json", format!("[{}, {}]", records[6], records[7]).as_bytes());
    write("e.json", records[8].as_bytes());
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (i, r) in records[9..].iter().enumerate() {
        zip.start_file(format!("osv/{i}.json"), options).unwrap();
        zip.write_all(r.as_bytes()).unwrap();
    }
    zip.start_file("README.txt", options).unwrap();
    zip.write_all(b"not an advisory").unwrap();
    write("f.zip", &zip.finish().unwrap().into_inner());
    write("notes.md", b"skipped");

    let mut db = AdvisoryDb::new();
    let mut last = None;
    let o = import_paths(&mut db, &[dir.path()], &ImportLimits::files(), &mut |p| last = Some(p.clone()));
    assert_eq!(o.summary.errors, Vec::<String>::new());
    assert_eq!((o.summary.files, o.summary.records_read, o.summary.imported, o.summary.skipped_files), (6, 11, 11, 2));
    let sizes: u64 = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    let last = last.unwrap();
    assert_eq!((last.records, last.bytes_total), (11, Some(sizes - "skipped".len() as u64)));

    // A truncated export is an error, not a silently shorter list; a line over the limit too.
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(lines.as_bytes()).unwrap();
    let full = xz.finish().unwrap();
    let o = import_stream(
        &mut AdvisoryDb::new(),
        "t.jsonl.xz",
        &full[..full.len() / 2],
        None,
        &ImportLimits::upload(),
        &mut |_| {},
    );
    assert_eq!(o.summary.errors.len(), 1, "{:?}", o.summary);
    let limits = ImportLimits { max_record_bytes: 1000, ..ImportLimits::upload() };
    let o = import_stream(&mut AdvisoryDb::new(), "l.jsonl", lines.as_bytes(), None, &limits, &mut |_| {});
    assert_eq!(o.summary.errors, vec!["l.jsonl: record at line 1 is larger than 1000 bytes".to_owned()]);
    let limits = ImportLimits { max_input_bytes: Some(100), ..ImportLimits::upload() };
    let o = import_stream(&mut AdvisoryDb::new(), "i.jsonl.xz", &full[..], None, &limits, &mut |_| {});
    assert!(o.summary.errors[0].contains("input exceeds the limit of 100 bytes"), "{:?}", o.summary.errors);
    let o = import_stream(&mut AdvisoryDb::new(), "x.txt", &b"{}"[..], None, &ImportLimits::upload(), &mut |_| {});
    assert_eq!(o.summary.errors.len(), 1);
    let o = import_stream(
        &mut AdvisoryDb::new(),
        "bad.jsonl",
        &b"{\"id\": 1}\nnot json\n"[..],
        None,
        &ImportLimits::upload(),
        &mut |_| {},
    );
    assert_eq!(o.summary.skipped_records.get("invalid JSON record"), Some(&2));
}

#[test]
fn offline_scan_json_shape() {
    let paths = [testdata("advisories/debian"), testdata("advisories/kev/known_exploited_vulnerabilities.json")];
    let report = report("debian", "12", None, with_source_version(debian_image(), "glibc", "2.36-9+deb12u2"));
    let out = scan_paths(&paths, &report, &mut |_| {});
    let json = serde_json::to_value(&out).unwrap();
    let first = &json["vulnerabilities"][0];
    for key in ["id", "aliases", "source_name", "package", "installed_version", "fixed_version", "severity", "kev"] {
        assert!(first.get(key).is_some(), "missing {key}");
    }
    assert_eq!(first["id"], "CVE-2023-4911");
    assert_eq!(first["kev"], true);
    assert_eq!(first["fixed_version"], "2.36-9+deb12u3");
    assert_eq!(json["advisories"]["kev_entries"], 1404);
    assert_eq!(json["advisories"]["records_read"], 13);
}

/// A host whose OS has no advisory ecosystem (Arch) still has its own language packages matched, each in its own
/// ecosystem only, and a copy an OS package provides not at all (issue 19); fixes say how to upgrade each copy.
#[test]
fn language_packages_match_their_own_ecosystem_even_on_an_unsupported_os() {
    let (db, _) = import(&["advisories/mixed-root"]);
    let lang = |kind, name: &str, version: &str, path: &str, owner: Option<&str>| Package {
        arch: None,
        path: Some(path.into()),
        owner: owner.map(Into::into),
        ..pkg(kind, name, version, None)
    };
    let venv = "/srv/app/venv/lib/python3.12/site-packages/idna-3.3.dist-info/METADATA";
    let lockfile = "/srv/app/package-lock.json";
    let distro = "/usr/lib/python3.12/site-packages/cryptography-38.0.4.dist-info/METADATA";
    let packages = vec![
        lang(PackageKind::Pypi, "idna", "3.3", venv, None),
        lang(PackageKind::Pypi, "cryptography", "38.0.4", distro, Some("python-cryptography")),
        lang(PackageKind::Npm, "semver", "7.3.5", lockfile, None),
        pkg(PackageKind::Pacman, "python-cryptography", "38.0.4-1", None),
    ];
    let out = scan(&db, &report("arch", "", None, packages));
    let found: BTreeSet<(&str, &str, Option<&str>)> =
        out.vulnerabilities.iter().map(|v| (v.id.as_str(), v.ecosystem.as_str(), v.path.as_deref())).collect();
    let expected: BTreeSet<(&str, &str, Option<&str>)> = [
        ("GHSA-jjg7-2v4v-x38h", "PyPI", Some(venv)),
        ("PYSEC-2024-60", "PyPI", Some(venv)),
        ("GHSA-c2qf-rxjj-qqgw", "npm", Some(lockfile)),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, expected);
    assert_eq!(out.packages_checked, 2, "pip's idna and the lockfile's semver; not the distribution's copy");
    assert!(out.warnings.iter().any(|w| w.starts_with("OS packages not checked")), "{:?}", out.warnings);
    let fix = |name: &str| out.fixes.iter().find(|f| f.source_name == name).unwrap();
    let idna = fix("idna");
    assert_eq!((idna.advisories.len(), idna.target_version.as_deref()), (1, Some("3.7")), "{idna:?}");
    assert_eq!(idna.title, format!("Upgrade PyPI package idna to 3.7 ({venv}) — fixes 1 vulnerability"));
    assert_eq!(
        idna.remediation.as_deref(),
        Some(format!("pip install --upgrade 'idna>=3.7' in the environment of {venv}").as_str())
    );
    assert_eq!(fix("semver").packages, vec![lockfile.to_owned()]);
}

/// The agent's inventory of a Go program built in the agent's tests (Go 1.19.8, `agent/testdata/lang/built`) against
/// the Go vulnerability database's record for the standard library: the binary's `stdlib` module matches through
/// `Go`, with the binary in the match and a rebuild with a fixed Go as the remedy; nothing else in the root does.
#[test]
fn a_go_binary_matches_the_go_database_through_its_standard_library() {
    use muster_agent::inventory::{self, InventoryConfig};
    let (db, _) = import(&["advisories/go/GO-2024-2963.json"]);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../agent/testdata/lang/built");
    let config = InventoryConfig {
        root: muster_agent::root::SystemRoot::mounted(&root),
        sections: [muster_shared::v1::SectionName::Software].into_iter().collect(),
        ..InventoryConfig::live()
    };
    let software = inventory::collect(&config, Utc::now()).software.unwrap();
    let binary = "/usr/local/bin/muster-go-fixture";
    assert!(software.packages.iter().any(|p| p.kind == PackageKind::Go && p.path.as_deref() == Some(binary)));
    let out = scan(&db, &report("debian", "12", None, software.packages));
    assert_eq!(out.vulnerabilities.len(), 1, "{:?}", out.vulnerabilities);
    let v = &out.vulnerabilities[0];
    assert_eq!(
        (v.id.as_str(), v.ecosystem.as_str(), v.package.as_str(), v.path.as_deref(), v.fixed_version.as_deref()),
        ("GO-2024-2963", "Go", "stdlib", Some(binary), Some("1.21.12"))
    );
    assert_eq!(
        out.fixes[0].remediation.as_deref(),
        Some(format!("install a build of {binary} made with Go 1.21.12 or later (from its vendor, or rebuild it with that Go)").as_str())
    );
}

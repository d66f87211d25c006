//! Language packages matched against their own ecosystems' advisories, on both stores (issue 19): a copy an OS
//! package provides is matched through the distribution only, one installed by pip or npm through PyPI or npm, and
//! each becomes a finding per fix that says where the copy is and how to upgrade it.

use std::path::PathBuf;

use muster_collector::app::advisory_sync as sync;
use muster_collector::model::Role;
use muster_collector::vuln::ecosystem::{language_ecosystem, package_order};
use muster_collector::vuln::{AdvisoryDb, ImportLimits, import_paths};
use muster_shared::v1::{Package, PackageKind, SectionName};
use serde_json::Value;

use crate::common::{Harness, Machine, debian, full};

/// Real records (see testdata/README.md): Debian's for python-idna, python-cryptography and node-semver, every PyPI
/// record of the popular-packages export naming idna or cryptography, every npm record naming semver.
fn advisories() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/advisories/mixed-root")
}

/// The agent's software inventory of the real Debian 12 root with distribution copies of idna, cryptography and
/// semver beside pip's idna and npm's global semver (agent/testdata/lang/debian-12-mixed).
fn mixed_root_software() -> muster_shared::v1::Software {
    crate::common::agent_software("lang/debian-12-mixed")
}

/// A Debian report of the ThinkPad `machine_id` carrying `software`, stored as a first report; its host id and a
/// viewer's API token.
async fn stored_with(h: &Harness, machine_id: &str, software: muster_shared::v1::Software) -> (String, String) {
    let machine = Machine::thinkpad(machine_id);
    let mut report = debian(&machine);
    report.software = Some(software);
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;
    (host, h.api_token(Role::Viewer).await)
}

fn copy<'a>(packages: &'a [Package], kind: PackageKind, name: &str, owned: bool) -> &'a Package {
    let found: Vec<&Package> =
        packages.iter().filter(|p| p.kind == kind && p.name == name && p.owner.is_some() == owned).collect();
    assert_eq!(found.len(), 1, "{kind:?} {name} owned={owned}: {found:?}");
    found[0]
}

/// (advisory, kind, package, path) of each stored match.
fn matches(body: &Value) -> Vec<(String, String, String, Option<String>)> {
    let mut out: Vec<_> = body["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let text = |f: &str| v[f].as_str().unwrap().to_owned();
            (text("id"), text("package_kind"), text("package"), v["path"].as_str().map(str::to_owned))
        })
        .collect();
    out.sort();
    out
}

async fn a_distribution_copy_is_matched_through_the_distribution_only(h: Harness) {
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, &[advisories()], &ImportLimits::files(), &mut |_| {});
    assert_eq!(outcome.summary.errors, Vec::<String>::new());
    sync::store_import(h.store.as_ref(), &db, outcome.summary, h.now(), &Default::default()).await.unwrap();

    let software = mixed_root_software();
    let pip_idna = copy(&software.packages, PackageKind::Pypi, "idna", false).path.clone().unwrap();
    let distro_idna = copy(&software.packages, PackageKind::Pypi, "idna", true);
    let distro_cryptography = copy(&software.packages, PackageKind::Pypi, "cryptography", true);
    let npm_semver = copy(&software.packages, PackageKind::Npm, "semver", false).path.clone().unwrap();
    assert_eq!(distro_idna.owner.as_deref(), Some("python3-idna"));
    assert_eq!(distro_cryptography.version, "38.0.4", "PyPI's records affect this version: only ownership saves it");

    let machine = Machine::thinkpad("m-mixed");
    let mut report = debian(&machine);
    report.software = Some(software);
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;

    let viewer = h.api_token(Role::Viewer).await;
    let (status, body) = h.get(&format!("/api/v1/hosts/{host}/vulnerabilities"), &viewer).await;
    assert_eq!(status, 200, "{body}");
    let pip = |id: &str| (id.to_owned(), "pypi".to_owned(), "idna".to_owned(), Some(pip_idna.clone()));
    let deb = |id: &str, package: &str| (id.to_owned(), "deb".to_owned(), package.to_owned(), None);
    let npm = |id: &str| (id.to_owned(), "npm".to_owned(), "semver".to_owned(), Some(npm_semver.clone()));
    // idna 3.3 from pip: GitHub's and the PyPA's record of CVE-2024-3651. Debian fixed its copy in 3.3-1+deb12u1,
    // so python3-idna has no match, and its egg-info is never looked up in PyPI. The distribution's cryptography
    // 38.0.4 has Debian's one unfixed CVE and none of PyPI's records for 38.0.4. Debian has not fixed
    // CVE-2022-25883 in bookworm's node-semver; npm's global semver 7.3.5 has it through npm's record.
    let mut expected = vec![
        pip("GHSA-jjg7-2v4v-x38h"),
        pip("PYSEC-2024-60"),
        deb("CVE-2023-50782", "python3-cryptography"),
        deb("CVE-2022-25883", "node-semver"),
        npm("GHSA-c2qf-rxjj-qqgw"),
    ];
    expected.sort();
    assert_eq!(matches(&body), expected, "{body}");
    let checked = body["packages_checked"].as_u64().unwrap();
    assert!(body["ecosystems"].as_array().unwrap().iter().any(|e| e == "PyPI"), "{body}");

    let (rows, page) = crate::vulnerabilities::vuln_findings(&h, &viewer, &host, "open").await;
    let subjects: Vec<(&str, &str)> = rows.iter().map(|(rule, subject, _)| (rule.as_str(), subject.as_str())).collect();
    assert_eq!(
        subjects,
        vec![
            ("vuln.fix", "npm:semver"),
            ("vuln.fix", "pypi:idna"),
            ("vuln.no_fix", "node-semver"),
            ("vuln.no_fix", "python-cryptography"),
        ],
        "{page}"
    );
    let finding = |subject: &str| -> Value {
        page["findings"].as_array().unwrap().iter().find(|f| f["subject"] == subject).cloned().unwrap()
    };
    let idna = finding("pypi:idna");
    assert_eq!(idna["title"], format!("Upgrade PyPI package idna to 3.7 ({pip_idna}) — fixes 1 vulnerability"));
    assert_eq!(idna["details"]["advisories"].as_array().unwrap().len(), 1, "two records of one CVE count once");
    assert_eq!(idna["remediation"], format!("pip install --upgrade 'idna>=3.7' in the environment of {pip_idna}"));
    let evidence = idna["evidence"][0].as_str().unwrap();
    assert!(evidence.contains(&format!("idna 3.3 at {pip_idna}")) && evidence.contains("fixed in 3.7"), "{evidence}");
    let semver = finding("npm:semver");
    assert_eq!(semver["details"]["target_version"], "7.5.2");
    assert!(semver["remediation"].as_str().unwrap().starts_with("npm install semver@7.5.2 where "), "{semver}");

    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, &format!("/hosts/{host}"), &cookie).await;
    assert!(page.body.contains(&format!("idna (pypi, {pip_idna})")), "the host page names the copy");

    // pip upgrades idna: its finding resolves, the distribution's findings stay.
    let mut upgraded = report.clone();
    let software = upgraded.software.as_mut().unwrap();
    for p in
        software.packages.iter_mut().filter(|p| p.kind == PackageKind::Pypi && p.name == "idna" && p.owner.is_none())
    {
        p.version = "3.7".into();
    }
    h.stored(&token, &crate::common::delta(&upgraded, &[SectionName::Software])).await;
    let (open, _) = crate::vulnerabilities::vuln_findings(&h, &viewer, &host, "open").await;
    assert!(!open.iter().any(|(_, subject, _)| subject == "pypi:idna"), "{open:?}");
    assert_eq!(open.len(), 3, "{open:?}");
    let (_, after) = h.get(&format!("/api/v1/hosts/{host}/vulnerabilities"), &viewer).await;
    assert_eq!(after["packages_checked"].as_u64(), Some(checked), "the same packages, one of them newer");
}

/// Software search finds a name across every kind, in any case, and narrows to one kind; the console lists the names
/// with links to each one's versions and hosts.
async fn software_search_spans_every_kind(h: Harness) {
    let software = mixed_root_software();
    let (_, viewer) = stored_with(&h, "m-search", software.clone()).await;

    // What the search should find, computed from what was sent: (kind, name, distinct versions, hosts).
    let expected = |text: &str, kind: Option<PackageKind>| -> Vec<(String, String, u64, u64)> {
        let mut names: std::collections::BTreeMap<(String, String), std::collections::BTreeSet<String>> =
            Default::default();
        for p in software.packages.iter().filter(|p| kind.is_none_or(|k| p.kind == k)) {
            let hit = |n: &str| n.to_lowercase().contains(&text.to_lowercase());
            if hit(&p.name) || p.source_name.as_deref().is_some_and(hit) {
                names.entry((p.kind.as_str().to_owned(), p.name.clone())).or_default().insert(p.version.clone());
            }
        }
        let mut out: Vec<_> = names.into_iter().map(|((k, n), v)| (k, n, v.len() as u64, 1)).collect();
        out.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        out
    };
    let found = |body: &Value| -> Vec<(String, String, u64, u64)> {
        body["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let text = |f: &str| m[f].as_str().unwrap().to_owned();
                (text("kind"), text("name"), m["versions"].as_u64().unwrap(), m["hosts"].as_u64().unwrap())
            })
            .collect()
    };
    let (status, body) = h.get("/api/v1/software/search?q=SEMVER", &viewer).await;
    assert_eq!(status, 200, "{body}");
    let semver = expected("semver", None);
    let kinds: std::collections::BTreeSet<&str> = semver.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(kinds, ["deb", "npm"].into_iter().collect(), "Debian's node-semver and npm's copies: {semver:?}");
    assert_eq!(found(&body), semver);
    assert_eq!(body["truncated"], false);
    let (_, body) = h.get("/api/v1/software/search?q=idna&kind=deb", &viewer).await;
    assert_eq!(found(&body), expected("idna", Some(PackageKind::Deb)));
    assert_eq!(found(&body), vec![("deb".to_owned(), "python3-idna".to_owned(), 1, 1)]);

    for (query, message) in [
        ("q=a", "search text must be 2 to 128 characters"),
        (
            "q=idna&kind=egg",
            "unknown package kind \"egg\"; known kinds: deb, rpm, apk, pacman, pypi, npm, gem, go, cargo, maven, snap, flatpak, windows, msix, macos, homebrew, macos_pkg",
        ),
    ] {
        let (status, body) = h.get(&format!("/api/v1/software/search?{query}"), &viewer).await;
        assert_eq!(
            (status, body["error"].as_str(), body["message"].as_str()),
            (axum::http::StatusCode::BAD_REQUEST, Some("invalid_query"), Some(message))
        );
    }

    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, "/software?name=semver", &cookie).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"software-names\""), "{}", page.body);
    assert!(page.body.contains("/software?name=node-semver&#38;kind=deb"), "{}", page.body);
}

/// Homebrew formulae the agent read from real receipts (agent/testdata/homebrew) are stored with their tap, install
/// time and architecture, found by the search narrowed to their kind, and kept out of matching: no advisory source
/// covers Homebrew, so none of them is a key to look up.
async fn homebrew_formulae_are_stored_and_found(h: Harness) {
    let software = crate::common::agent_software("homebrew/root");
    assert_eq!(software.packages.len(), 4);
    // No version order and no advisory ecosystem: nothing of these is looked up.
    assert_eq!(package_order(PackageKind::Homebrew), None);
    assert_eq!(language_ecosystem(PackageKind::Homebrew), None);
    let (host_id, viewer) = stored_with(&h, "m-brew", software).await;

    let (_, stored) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
    let rows: Vec<(&str, &str, &str, &str, &str)> = stored
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let text = |f: &str| p[f].as_str().unwrap_or("-");
            (text("kind"), text("name"), text("version"), text("arch"), text("publisher"))
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("homebrew", "cmake", "3.28.2", "arm64", "homebrew/core"),
            ("homebrew", "mingw-w64", "10.0.0", "x86_64", "homebrew/core"),
            ("homebrew", "swiftlint", "0.39.2", "-", "homebrew/core"),
            ("homebrew", "warden", "0.15.0", "arm64", "wardenenv/warden"),
        ],
        "{stored}"
    );
    assert_eq!(stored[3]["installed_at"], "2025-08-09T09:28:48Z");
    assert_eq!(stored[3]["path"], "/opt/homebrew/Cellar/warden/0.15.0/INSTALL_RECEIPT.json");
    let (status, body) = h.get("/api/v1/software/search?q=WARDEN&kind=homebrew", &viewer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["matches"][0]["kind"], "homebrew");
    assert_eq!(body["matches"][0]["name"], "warden");
    assert_eq!(body["matches"].as_array().unwrap().len(), 1, "{body}");
}

/// Snaps with what snapd's API says of them on a running desktop (its real answer, agent/testdata/bundles/snapd-api):
/// the publisher and the tracking channel reach the host's software list, and a channel switched by the host
/// (`snap refresh --channel`) replaces the stored one.
async fn a_snaps_publisher_and_channel_are_stored(h: Harness) {
    use muster_agent::inventory::software::snap::{enrich, parse_api_snaps};
    let answer =
        std::fs::read(format!("{}/../agent/testdata/bundles/snapd-api/v2-snaps.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let snaps = parse_api_snaps(&answer).unwrap();
    // The desktop's mounted revisions as the agent lists them from `/snap/<name>/<revision>/meta/snap.yaml`.
    let mut packages: Vec<Package> =
        [("hello-world", "28", "6.3"), ("yubioath-desktop", "12", "5.0.5"), ("bw", "60", "2024.3.1")]
            .iter()
            .map(|(name, revision, version)| Package {
                path: Some(format!("/snap/{name}/{revision}/meta/snap.yaml")),
                ..Package::new(PackageKind::Snap, *name, *version)
            })
            .collect();
    // First while snapd did not answer: the snaps alone, as their mounts say.
    let machine = Machine::thinkpad("m-snaps");
    let mut report = debian(&machine);
    report.software = Some(muster_shared::v1::Software { packages: packages.clone(), ..Default::default() });
    let (_, secret) = h.enroll_secret(None).await;
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;
    let viewer = h.api_token(Role::Viewer).await;
    let (_, stored) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
    assert!(stored.as_array().unwrap().iter().all(|p| p.get("publisher").is_none()), "{stored}");
    // Then with snapd's answer: the same catalogue rows take the publisher, the links the channel.
    enrich(&mut packages, &snaps);
    let software = muster_shared::v1::Software { packages, ..Default::default() };
    report.software = Some(software.clone());
    report.collected_at += chrono::Duration::minutes(30);
    h.stored(&token, &crate::common::delta(&report, &[muster_shared::v1::SectionName::Software])).await;
    let listed = |body: &Value| -> Vec<(String, String, String)> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let text = |f: &str| p[f].as_str().unwrap_or("-").to_owned();
                (text("name"), text("publisher"), text("channel"))
            })
            .collect()
    };
    let (_, stored) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
    let row = |name: &str, publisher: &str, channel: &str| (name.to_owned(), publisher.to_owned(), channel.to_owned());
    assert_eq!(
        listed(&stored),
        [
            row("bw", "bitwarden (verified)", "-"),
            row("hello-world", "canonical (verified)", "latest/stable"),
            row("yubioath-desktop", "yubico-snap-store (unproven)", "latest/stable"),
        ]
    );
    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, &format!("/hosts/{host_id}"), &cookie).await;
    assert!(page.body.contains("yubico-snap-store (unproven) · channel latest/stable"), "{}", page.body);

    // The host switched hello-world to the edge channel: the same package, its link's channel replaced.
    let mut switched = software;
    switched.packages.iter_mut().find(|p| p.name == "hello-world").unwrap().channel = Some("latest/edge".into());
    report.software = Some(switched);
    report.collected_at += chrono::Duration::hours(1);
    h.stored(&token, &crate::common::delta(&report, &[muster_shared::v1::SectionName::Software])).await;
    let (_, stored) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
    assert_eq!(listed(&stored)[1], row("hello-world", "canonical (verified)", "latest/edge"));

    // Another host says the same revision has another publisher (an agent's word, or an image's unsigned files):
    // the shared catalogue row keeps the first, so this host's listing does not change.
    let other = Machine::thinkpad("m-snaps-other");
    let mut claim = debian(&other);
    let mut hello = Package {
        path: Some("/snap/hello-world/28/meta/snap.yaml".into()),
        ..Package::new(PackageKind::Snap, "hello-world", "6.3")
    };
    hello.publisher = Some("someone-else (unproven)".into());
    claim.software = Some(muster_shared::v1::Software { packages: vec![hello], ..Default::default() });
    let (_, other_token) = h.enrolled(&secret, &other).await;
    h.stored(&other_token, &full(&claim)).await;
    let (_, stored) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
    assert_eq!(listed(&stored)[1], row("hello-world", "canonical (verified)", "latest/edge"));
}

both!(
    a_distribution_copy_is_matched_through_the_distribution_only,
    software_search_spans_every_kind,
    homebrew_formulae_are_stored_and_found,
    a_snaps_publisher_and_channel_are_stored
);

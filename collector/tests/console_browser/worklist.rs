//! The security manager's worklist in a real browser: advisory upload through the page, the dashboard's tables
//! against the store, the hostname filter and the paged host page.

use super::*;

/// The admin picks a real OSV file; console.js uploads it to the API with the session and CSRF header, shows the
/// import summary, and the reloaded page shows it as the last import. The host's vulnerabilities then exist.
pub(super) async fn advisory_upload_through_the_page_test(c: Console) {
    let (_, secret) = c.h.enroll_secret(None).await;
    let machine = Machine::thinkpad(THINKPAD);
    let (host, token) = c.h.enrolled(&secret, &machine).await;
    c.h.stored(&token, &full(&common::debian(&machine))).await;
    c.user("root", Role::Admin).await;
    c.goto("/login").await;
    c.sign_in("root", PASSWORD).await;
    c.goto("/admin/advisories").await;
    c.settle().await;
    assert!(c.text("main").await.contains("No advisory import"));
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/advisories/debian/debian-osv-subset.jsonl");
    let input = c.b.find(Locator::Css("#advisory-upload input[type=file]")).await.unwrap();
    input.send_keys(file.to_str().unwrap()).await.unwrap();
    c.mark_page().await;
    c.b.find(Locator::Css("#advisory-upload button[type=submit]")).await.unwrap().click().await.unwrap();
    // The summary appears, then the page reloads by itself.
    let deadline = Instant::now() + StdDuration::from_secs(20);
    let mut summary = String::new();
    while Instant::now() < deadline && !summary.starts_with("Imported:") {
        if let Ok(Value::String(text)) =
            c.b.execute(
                "const o = document.querySelector('#advisory-upload output'); return o ? o.textContent : ''",
                vec![],
            )
            .await
        {
            summary = text;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert!(summary.starts_with("Imported: "), "upload status: {summary:?}");
    assert!(summary.contains(" new, ") && summary.contains(", 0 errors;"), "{summary}");
    c.wait_new_page().await;
    let page = c.text("main").await;
    assert!(page.contains("Last import") && page.contains("debian-osv-subset.jsonl"), "{page}");
    assert!(page.contains("user:root (admin)"), "{page}");
    let vulns = c.h.store.host_vulnerabilities(&host).await.unwrap().unwrap();
    assert!(!vulns.vulnerabilities.is_empty(), "the import matched the host");
}

/// A fleet with real advisories: the dashboard's "Top fixes" and "Hosts most at risk" show what the store counts,
/// and the findings filter finds a host by the name people know it by.
pub(super) async fn the_dashboard_is_a_worklist_test(c: Console) {
    use muster_collector::app::advisory_sync as sync;
    use muster_collector::store::console::ConsoleHostFilter;
    use muster_collector::vuln::{AdvisoryDb, ImportLimits, import_paths};

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/advisories");
    let paths = [
        dir.join("debian/debian-osv-subset.jsonl"),
        dir.join("debian-ratings/debian-osv-ratings.jsonl"),
        dir.join("kev/known_exploited_vulnerabilities.json"),
    ];
    let mut db = AdvisoryDb::new();
    let outcome = import_paths(&mut db, &paths, &ImportLimits::files(), &mut |_| {});
    sync::store_import(c.h.store.as_ref(), &db, outcome.summary, c.h.now(), &Default::default()).await.unwrap();
    fleet(&c.h).await;
    // A third host, named by people "build-01", with the glibc before the Looney Tunables fix (KEV-listed).
    let (_, secret) = c.h.enroll_secret(None).await;
    let machine = Machine::thinkpad("0b5e6c1d2e3f40718293a4b5c6d7e8f9");
    let (build, token) = c.h.enrolled(&secret, &machine).await;
    let mut report = common::debian(&machine);
    report.host.as_mut().unwrap().hostname = Some("build-01".to_owned());
    for p in report.software.as_mut().unwrap().packages.iter_mut() {
        if p.source_name.as_deref() == Some("glibc") {
            p.version = "2.36-9+deb12u2".to_owned();
            p.source_version = Some("2.36-9+deb12u2".to_owned());
        }
    }
    c.h.stored(&token, &full(&report)).await;

    c.user("root", Role::Admin).await;
    c.goto("/login").await;
    c.sign_in("root", PASSWORD).await;
    c.goto("/").await;
    c.settle().await;
    let rows = |id: &str| {
        format!(
            "return Array.from(document.querySelectorAll('#{id} tbody tr'))\
             .map(tr => Array.from(tr.cells).map(td => td.textContent.trim()));"
        )
    };

    let counts = c.h.store.dashboard(&muster_collector::app::hosts::ages(&c.h.state.rules.current(), c.h.now())).await;
    let top: Vec<Vec<String>> = counts
        .unwrap()
        .top_vulnerable_packages
        .iter()
        .map(|p| vec![p.package.clone(), p.worst_severity.clone(), p.hosts.to_string(), p.fixable_hosts.to_string()])
        .collect();
    assert!(top.iter().any(|r| r[0] == "glibc" && r[1] == "critical"), "{top:?}");
    assert_eq!(c.js(&rows("top-packages"), vec![]).await, json!(top), "Top fixes");

    let hosts =
        c.h.store
            .console_hosts(&ConsoleHostFilter::most_at_risk(
                muster_collector::app::hosts::ages(&c.h.state.rules.current(), c.h.now()),
                10,
            ))
            .await
            .unwrap();
    let ranked: Vec<&muster_collector::store::console::ConsoleHostRow> =
        hosts.rows.iter().filter(|r| r.risk().total > 0).collect();
    // Most at risk first: the store's SQL order is the documented formula (`model::risk`, checked against the
    // findings themselves in tests/worklist.rs) over each host's counts.
    assert!(ranked.windows(2).all(|w| w[0].risk().total >= w[1].risk().total), "{ranked:?}");
    assert_eq!(ranked[0].host.hostname, "build-01", "the host with a known-exploited finding leads: {ranked:?}");
    let at_risk: Vec<Vec<String>> = ranked
        .iter()
        .map(|r| {
            let total = r.risk().total;
            let risk = if r.known_exploited > 0 {
                format!("{total} ({} known exploited)", r.known_exploited)
            } else {
                total.to_string()
            };
            vec![
                r.host.hostname.clone(),
                risk,
                r.known_exploited.to_string(),
                r.critical.to_string(),
                r.high.to_string(),
                r.medium.to_string(),
            ]
        })
        .collect();
    assert!(at_risk.len() >= 2, "{at_risk:?}");
    assert_eq!(c.js(&rows("hosts-at-risk"), vec![]).await, json!(at_risk), "Hosts most at risk");

    // The findings filter by hostname, typed as people type it.
    c.goto("/findings?host=BUILD-01").await;
    c.settle().await;
    let shown = c.js(&rows("findings"), vec![]).await;
    let stored =
        c.h.store.list_findings(&FindingFilter { host_id: Some(build.clone()), ..filter(&c.h) }).await.unwrap();
    assert!(stored.total > 0);
    assert_eq!(shown.as_array().unwrap().len() as i64, stored.total.min(50), "{shown}");
    assert!(c.text("main").await.contains(&format!("{} matching", stored.total)));
    c.screenshot("dashboard-worklist").await;

    // The host page is paged: no section over 50 rows, and its pager moves the software list on.
    c.goto(&format!("/hosts/{build}")).await;
    c.settle().await;
    let software = c.js(&rows("software"), vec![]).await;
    assert_eq!(software.as_array().unwrap().len(), 50);
    for id in ["findings", "host-vulnerabilities", "history"] {
        assert!(c.js(&rows(id), vec![]).await.as_array().unwrap().len() <= 50, "{id}");
    }
    c.mark_page().await;
    c.b.find(Locator::Css("nav.pager a[href*='software_offset=50']")).await.unwrap().click().await.unwrap();
    c.wait_new_page().await;
    c.settle().await;
    assert_eq!(c.location().await, format!("/hosts/{build}?software_offset=50"));
    let next = c.js(&rows("software"), vec![]).await;
    assert_ne!(next[0], software[0], "the second page starts with other packages");
    c.screenshot("host-paged").await;
}

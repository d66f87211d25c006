//! What the console shows of the hosts' own reports, on both stores: exports that follow the filters, escaping of
//! hostile agent text on every page, the host page's sockets and accounts, stale and missing hosts by the policy,
//! and the dashboard's warning when findings trail the reports. (Sign-in, sessions, roles and headers are in
//! `console.rs`, whose request helpers these tests use.)

use axum::http::{StatusCode, header};
use chrono::Duration;
use muster_collector::model::Role;

use crate::common::{Harness, Machine, debian, full};
use crate::console::{
    HOSTILE, PASSWORD, add_user, encode, enrolled_weak_host, findings_filter, get, sign_in, user, weak,
};

both!(
    exports_follow_the_filters,
    agent_text_is_escaped,
    the_host_page_lists_sockets_and_accounts,
    stale_and_missing_follow_the_policy,
    the_dashboard_warns_when_findings_trail_reports,
    a_windows_host_page_lists_its_installed_updates,
);

async fn exports_follow_the_filters(h: Harness) {
    let host_id = enrolled_weak_host(&h, &Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732")).await;
    let cookie = user(&h, "vic", Role::Viewer).await;
    let page = get(&h, "/findings?severity=critical", &cookie).await;
    assert!(page.body.contains("href=\"/findings?severity=critical&#38;format=csv\""), "{}", page.body);

    let csv = get(&h, "/findings?severity=critical&format=csv", &cookie).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers.get(header::CONTENT_TYPE).unwrap(), "text/csv; charset=utf-8");
    assert_eq!(csv.headers.get(header::CONTENT_DISPOSITION).unwrap(), "attachment; filename=\"muster-findings.csv\"");
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], muster_collector::export::FINDINGS_HEADER);
    let critical = h
        .store
        .list_findings(&muster_collector::findings::FindingFilter {
            severity: Some(muster_collector::rules::Severity::Critical),
            ..findings_filter(&h)
        })
        .await
        .unwrap();
    assert!(critical.total >= 1);
    assert_eq!(lines.len() - 1, critical.total as usize);
    for (line, f) in lines[1..].iter().zip(&critical.findings) {
        assert!(line.starts_with(&format!("{},{host_id},lab-t480s,", f.id)), "{line}");
        assert!(line.contains(",critical,"));
    }

    // The triage travels with the export: who accepted the risk, when, why and until when.
    let accepted = &critical.findings[0];
    let expires = h.now() + Duration::days(30);
    muster_collector::app::findings::act(
        h.store.as_ref(),
        muster_collector::findings::actions::TransitionRequest {
            finding_id: accepted.id.clone(),
            action: muster_collector::findings::Action::AcceptRisk,
            actor: "user:vic (analyst)".into(),
            source_ip: None,
            at: h.now(),
            comment: Some("kiosk, replaced in May, \"no network\"".into()),
            expires_at: Some(expires),
        },
    )
    .await
    .unwrap();
    // An accepted risk is no longer active: the default list leaves it out, `active=false` shows every status.
    let csv = get(&h, "/findings?severity=critical&format=csv", &cookie).await;
    assert!(!csv.body.contains(&accepted.id), "risk accepted is not active");
    let csv = get(&h, "/findings?severity=critical&active=false&format=csv", &cookie).await;
    let line = csv.body.lines().find(|l| l.starts_with(&accepted.id)).unwrap().to_owned();
    let at = h.now().to_rfc3339();
    assert!(
        line.contains(&format!(
            ",risk_accepted,{},{},{},false,,,,user:vic (analyst),{at},\"kiosk, replaced in May, \"\"no network\"\"\",{},,,",
            accepted.title,
            accepted.first_seen.to_rfc3339(),
            accepted.due_at.to_rfc3339(),
            expires.to_rfc3339()
        )),
        "{line}"
    );

    let json = get(&h, "/findings?severity=critical&active=false&format=json", &cookie).await;
    let value: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(value["total"], critical.total);
    let ids: Vec<&str> = value["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, critical.findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>());

    let hosts = get(&h, "/hosts?q=t480&format=csv", &cookie).await;
    let lines: Vec<&str> = hosts.body.lines().collect();
    assert_eq!(lines[0], "id,hostname,status,os,kernel,serial,tags,last_seen,critical,high,medium,low");
    assert_eq!(lines.len(), 2);
    assert!(
        lines[1].starts_with(&format!("{host_id},lab-t480s,reporting,Debian GNU/Linux 12 (bookworm),")),
        "{}",
        lines[1]
    );
    assert_eq!(get(&h, "/hosts?q=nomatch&format=csv", &cookie).await.body.lines().count(), 1);
    assert_eq!(get(&h, "/findings?format=xml", &cookie).await.status, StatusCode::BAD_REQUEST);
}

async fn agent_text_is_escaped(h: Harness) {
    // Enrolment caps a hostname at 255 bytes; the very long string goes into evidence and a package name.
    let long = "B".repeat(2000);
    let machine = Machine {
        hostname: format!("{HOSTILE}{}", "A".repeat(150)),
        ..Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732")
    };
    let mut report = weak(&machine);
    let package = &mut report.software.as_mut().unwrap().packages[0];
    package.name = format!("pkg{HOSTILE}");
    package.version = "javascript:window.__pwned=1".to_owned();
    report.software.as_mut().unwrap().packages[1].name = format!("long{long}");
    let check = report.checks.as_mut().unwrap().iter_mut().find(|c| c.id == "ssh.permit_root_login").unwrap();
    check.evidence = vec![format!("/etc/ssh/sshd_config:1: {HOSTILE}"), long.clone()];
    // A process name and an account are the host's own text too.
    report.software.as_mut().unwrap().listeners.push(muster_shared::v1::Listener {
        protocol: muster_shared::v1::SocketProtocol::Tcp,
        address: "0.0.0.0".into(),
        port: 8080,
        process: Some(HOSTILE.into()),
        executable: Some(format!("/opt/{HOSTILE}")),
        owner: None,
    });
    report.host.as_mut().unwrap().accounts.push(muster_shared::v1::Account {
        name: format!("u{HOSTILE}"),
        uid: 1001,
        gid: 1001,
        home: None,
        shell: Some("/bin/bash".into()),
        interactive: true,
        groups: vec![HOSTILE.into()],
        admin: true,
        admin_evidence: vec![format!("/etc/sudoers:3: {HOSTILE} ALL=(ALL) ALL")],
        last_login: Some(muster_shared::v1::LastLogin {
            at: h.now(),
            line: Some("pts/0".into()),
            from: Some(HOSTILE.into()),
            source: "wtmp".into(),
        }),
    });
    let (_, secret) = h.enroll_secret(None).await;
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;

    let cookie = user(&h, "root-admin", Role::Admin).await;
    let finding = h
        .store
        .list_findings(&muster_collector::findings::FindingFilter {
            rule_id: Some("ssh.permit_root_login".into()),
            host_id: Some(host_id.clone()),
            ..findings_filter(&h)
        })
        .await
        .unwrap()
        .findings
        .remove(0);
    let software = format!("/software?name={}", encode(&format!("pkg{HOSTILE}")));
    for path in [
        "/".to_owned(),
        "/hosts".to_owned(),
        format!("/hosts/{host_id}"),
        "/findings".to_owned(),
        format!("/findings/{}", finding.id),
        software,
    ] {
        let page = get(&h, &path, &cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains("<script>window"), "{path}: raw script");
        assert!(!page.body.contains("<img src=x"), "{path}: raw img");
        assert!(!page.body.contains("href=\"javascript:"), "{path}: javascript link");
        assert_eq!(page.body.matches("<script").count(), 1, "{path}: only the console's own script");
        if path != "/" {
            assert!(
                page.body.contains("&#60;script&#62;window.__pwned=1&#60;/script&#62;"),
                "{path}: the text is shown, escaped"
            );
        }
    }
    // The host page pages its software: find the two packages through its search.
    let host = get(&h, &format!("/hosts/{host_id}?software={}", encode("pkg<script")), &cookie).await;
    assert!(host.body.contains("javascript:window.__pwned=1"), "the hostile version is shown as text");
    assert_eq!(host.body.matches("<script").count(), 1, "only the console's own script");
    let host = get(&h, &format!("/hosts/{host_id}?software=longBBB"), &cookie).await;
    assert!(host.body.contains(&format!("long{long}")), "long strings are shown whole");
}

/// The host page shows what other machines can reach and who can act as root, from this development VM's real
/// report with sshd listening (`reports/debian12-sshd-listening.json`): every socket with its program and package,
/// administrators first with the reason.
async fn the_host_page_lists_sockets_and_accounts(h: Harness) {
    let machine =
        Machine { hostname: "build-vm".into(), machine_id: Some("m-build-vm".into()), uuid: None, serial: None };
    let report = crate::common::report("debian12-sshd-listening.json", &machine);
    let (_, secret) = h.enroll_secret(None).await;
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;
    let cookie = user(&h, "vic", Role::Viewer).await;
    let page = get(&h, &format!("/hosts/{host_id}"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let listeners = &report.software.as_ref().unwrap().listeners;
    assert!(listeners.iter().any(|l| l.owner.as_deref() == Some("openssh-server")), "the capture holds sshd");
    assert!(page.body.contains(&format!("Listening services ({})", listeners.len())), "{}", page.body);
    let section = |anchor: &str| {
        let start = page.body.find(&format!("id=\"{anchor}\"")).unwrap_or_else(|| panic!("no {anchor} section"));
        page.body[start..].split("</table>").next().unwrap().replace("\n  ", "")
    };
    let sockets = section("listening");
    for l in listeners {
        let row = format!("<td class=\"mono\">{}</td><td class=\"mono\">{}</td>", l.address, l.port);
        assert!(sockets.contains(&row), "{row} in {sockets}");
        if let Some(owner) = &l.owner {
            assert!(sockets.contains(&format!("/software?name={owner}")), "{owner}");
        }
    }
    let accounts = &report.host.as_ref().unwrap().accounts;
    let admins = accounts.iter().filter(|a| a.admin).count();
    assert!(admins >= 1 && accounts.len() > admins, "root and service accounts: {accounts:?}");
    assert!(page.body.contains(&format!("Accounts ({}, {admins} with administrative rights)", accounts.len())));
    let table = section("accounts");
    // root first: administrators lead, by uid.
    let first = table.find("<td class=\"mono\">root</td>").expect("root listed");
    for a in accounts.iter().filter(|a| !a.admin) {
        if let Some(at) = table.find(&format!("<td class=\"mono\">{}</td><td class=\"mono\">{}</td>", a.name, a.uid)) {
            assert!(at > first, "{} after root", a.name);
        }
    }
    let root_row = table[first..].split("</tr>").next().unwrap();
    assert!(root_row.contains("uid 0"), "{table}");
    // root's last login, as the agent read it from wtmp: from where, not on which terminal.
    let root = accounts.iter().find(|a| a.name == "root").unwrap();
    let from = root.last_login.as_ref().and_then(|l| l.from.as_deref()).expect("the capture holds root's login");
    assert!(root_row.contains(&format!(" from {from}</td>")), "{root_row}");
}

/// The console's stale and missing hosts are the policy's: with `stale_days = 2` and `missing_days = 5` a host
/// silent for 3 days is stale on the dashboard, in the host list and on its page, exactly when `host.stale` opens.
/// (The console had 7 and 30 days written in; it called this host reporting while the finding was open.)
async fn stale_and_missing_follow_the_policy(h: Harness) {
    use muster_collector::rules::{PolicySource, Rules};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("10-site.toml"), "[params]\nstale_days = 2\nmissing_days = 5\n").unwrap();
    let h = h.with_rules(
        Rules::load(PolicySource { policy_dir: Some(dir.path().to_owned()), eol_file: None, eol_text: None }).unwrap(),
    );
    let host_id = enrolled_weak_host(&h, &Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732")).await;
    add_user(&h, "vic", Role::Viewer).await;
    let listed = |csv: &str| csv.lines().nth(1).map(|l| l.split(',').nth(2).unwrap_or("").to_owned());
    let rule_status = |findings: &muster_collector::findings::FindingPage, rule: &str| {
        findings.findings.iter().find(|f| f.rule_id == rule).map(|f| f.status.as_str().to_owned())
    };
    let evaluate = || async {
        muster_collector::app::evaluation::run_once(&h.state, muster_collector::app::evaluation::Scope::Due)
            .await
            .unwrap()
    };

    for (days, expected) in [(1, "reporting"), (2, "stale"), (3, "missing")] {
        h.advance(Duration::days(days));
        evaluate().await;
        // A session lasts hours; each look is a fresh sign-in.
        let cookie = sign_in(&h, "vic", PASSWORD).await;
        let findings = h.store.list_findings(&findings_filter(&h)).await.unwrap();
        let (stale_rule, missing_rule) = (rule_status(&findings, "host.stale"), rule_status(&findings, "host.missing"));
        let csv = get(&h, "/hosts?format=csv", &cookie).await.body;
        assert_eq!(listed(&csv).as_deref(), Some(expected), "after {days} more days: {csv}");
        let page = get(&h, &format!("/hosts/{host_id}"), &cookie).await.body;
        let badge = format!("<span class=\"status status-{expected}\">{expected}</span></h1>");
        assert!(page.contains(&badge), "host page after {days} more days");
        let one = get(&h, &format!("/hosts?status={expected}&format=csv"), &cookie).await.body;
        assert_eq!(one.lines().count(), 2, "{expected}: {one}");
        match expected {
            "reporting" => assert_eq!((stale_rule, missing_rule), (None, None)),
            "stale" => assert_eq!((stale_rule.as_deref(), missing_rule), (Some("open"), None)),
            _ => assert_eq!((stale_rule.as_deref(), missing_rule.as_deref()), (Some("resolved"), Some("open"))),
        }
        let dashboard = get(&h, "/", &cookie).await.body;
        let stat = format!(
            "<a class=\"stat hosts-{expected}\" href=\"/hosts?status={expected}\"><span class=\"value\">1</span>"
        );
        assert!(dashboard.contains(&stat), "dashboard after {days} more days");
    }
}

/// The evaluation queue's lag reaches the people reading findings: a report waiting more than five minutes for its
/// evaluation puts a warning on the dashboard, gone once the queue is worked off.
async fn the_dashboard_warns_when_findings_trail_reports(h: Harness) {
    let queued = h.queued();
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732");
    let (_host, token) = queued.enrolled(&secret, &machine).await;
    queued.stored(&token, &full(&debian(&machine))).await;
    add_user(&h, "vic", Role::Viewer).await;
    let notice = "Findings trail the reports";

    let cookie = sign_in(&h, "vic", PASSWORD).await;
    let fresh = get(&h, "/", &cookie).await.body;
    assert!(fresh.contains("<h1>Dashboard") && !fresh.contains(notice), "a report just stored: {fresh}");

    h.advance(Duration::minutes(10));
    let cookie = sign_in(&h, "vic", PASSWORD).await;
    let late = get(&h, "/", &cookie).await.body;
    assert!(late.contains("1 host waits for evaluation, the oldest report for 10 minutes"), "{late}");

    assert_eq!(muster_collector::app::queue::drain(&queued.state).await.unwrap(), 1);
    let caught_up = get(&h, "/", &cookie).await.body;
    assert!(caught_up.contains("<h1>Dashboard") && !caught_up.contains(notice), "{caught_up}");
}

/// A Windows host's installed updates, read by the agent's own code from a real Windows XP registry export (323
/// updates of Windows, Internet Explorer, Office and .NET; agent/testdata/windows/registry), are kept as sent, shown
/// on the host page newest first and paged, and the last installation is shown with the other patch facts; the
/// host's directories are one line of its facts.
async fn a_windows_host_page_lists_its_installed_updates(h: Harness) {
    use muster_agent::inventory::windows::{regfile, updates};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/testdata/windows/registry/winxp-Uninstall.reg");
    let keys = regfile::parse_reg_export(&std::fs::read(path).unwrap()).unwrap();
    let installed: Vec<_> =
        keys.iter().filter_map(|k| updates::update_from_uninstall_key(&k.path, &k.values)).collect();
    assert_eq!(installed.len(), 323);
    let machine = Machine::thinkpad("m-winxp");
    let mut report = debian(&machine);
    // Hybrid joined, as the agent reads it from NetGetJoinInformation and the CloudDomainJoin keys.
    report.host.as_mut().unwrap().directory = Some(muster_shared::v1::Directory {
        domain: Some("CONTOSO".into()),
        workgroup: None,
        entra_tenants: vec![muster_shared::v1::EntraTenant {
            id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            name: Some("Contoso".into()),
        }],
    });
    report.patches = Some(muster_shared::v1::Patches {
        manager: Some("windows-update".into()),
        last_update_installed_at: updates::last_installed(&installed),
        installed_updates: installed.clone(),
        ..Default::default()
    });
    let (_, secret) = h.enroll_secret(None).await;
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;

    let viewer = h.api_token(Role::Viewer).await;
    let (status, detail) = h.get(&format!("/api/v1/hosts/{host_id}"), &viewer).await;
    assert_eq!(status, 200, "{detail}");
    let stored = &detail["sections"]["patches"]["content"];
    assert_eq!(stored["installed_updates"], serde_json::to_value(&installed).unwrap());
    assert_eq!(stored["last_update_installed_at"], "2012-04-17T00:00:00Z");

    let cookie = user(&h, "vic", Role::Viewer).await;
    let page = get(&h, &format!("/hosts/{host_id}"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Last update installed"), "{}", page.body);
    assert!(
        page.body.contains("domain CONTOSO, Entra ID Contoso (72f988bf-86f1-41af-91ab-2d7cd011db47)"),
        "{}",
        page.body
    );
    let table = |body: &str| {
        let start = body.find("id=\"installed-updates\"").expect("an installed-updates section");
        body[start..].split("</table>").next().unwrap().replace("\n  ", "")
    };
    // Newest first, 50 to a page: every page read, the rows are each update once, their days never increase down
    // the table, undated entries come last, and articles are in order within a day.
    let rows = |body: &str| -> Vec<(String, String)> {
        table(body)
            .split("<tr>")
            .skip(2)
            .map(|row| {
                let cells: Vec<&str> = row.split("<td").skip(1).map(|c| c.split_once('>').unwrap().1).collect();
                let cell = |i: usize| cells[i].split("</td>").next().unwrap().to_owned();
                (cell(0), cell(4))
            })
            .collect()
    };
    let first = rows(&page.body);
    assert_eq!(first.len(), 50);
    assert_eq!(first[0].1, "2012-04-17", "{first:?}");
    let mut all = first;
    for offset in (50..323).step_by(50) {
        all.extend(rows(&get(&h, &format!("/hosts/{host_id}?updates_offset={offset}"), &cookie).await.body));
    }
    let mut shown: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
    let mut sent: Vec<&str> = installed.iter().map(|u| u.id.as_str()).collect();
    shown.sort_unstable();
    sent.sort_unstable();
    assert_eq!(shown, sent);
    let undated = all.iter().position(|(_, day)| day.is_empty()).unwrap();
    assert_eq!(all.len() - undated, 71, "the 71 entries without a date, last");
    assert!(all[undated..].iter().all(|(_, day)| day.is_empty()));
    assert!(all[..undated].windows(2).all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 <= w[1].0)), "{all:?}");
    // Every column of one row, as Windows lists the update.
    let at = all.iter().position(|(id, day)| id == "KB2079403" && day == "2010-08-16").unwrap();
    let holding = get(&h, &format!("/hosts/{host_id}?updates_offset={}", at / 50 * 50), &cookie).await;
    let row = "<td class=\"mono\">KB2079403</td><td>Security Update for Windows XP (KB2079403)</td>\
               <td>Security Update</td><td>Windows XP - Software Updates</td><td>2010-08-16</td>";
    assert!(table(&holding.body).contains(row), "{}", table(&holding.body));
}

//! Rule evaluation over the real reports in `testdata/reports`, with check statuses flipped the way a weak or a
//! fixed machine reports them.

use chrono::{DateTime, TimeZone, Utc};
use muster_shared::v1::{CheckStatus, PendingUpdate, Report};

use super::*;

fn report(file: &str) -> Report {
    let text = match file {
        "debian" => include_str!("../../testdata/reports/debian12-thinkpad-t480s.json"),
        "sshd" => include_str!("../../testdata/reports/debian12-sshd-listening.json"),
        _ => include_str!("../../testdata/reports/ubuntu2404-vmware.json"),
    };
    serde_json::from_str(text).unwrap()
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
}

fn set(report: &mut Report, id: &str, status: CheckStatus, evidence: &str) {
    let check = report.checks.as_mut().unwrap().iter_mut().find(|c| c.id == id).unwrap();
    check.status = status;
    check.evidence = vec![evidence.to_owned()];
}

fn matched(policy: &Policy, facts: &HostFacts, now: DateTime<Utc>) -> Vec<(String, Vec<String>)> {
    let e = policy.evaluate(facts, now);
    assert_eq!(e.failures, vec![], "no rule may fail on a real report");
    e.matches.into_iter().map(|m| (m.rule_id, m.evidence)).collect()
}

#[test]
fn builtin_policy_loads() {
    let rules = Rules::builtin().unwrap();
    let policy = rules.current();
    assert_eq!(policy.rules.len(), 44);
    assert_eq!(policy.params.get("stale_days"), Some(&7));
    let root = policy.rule("ssh.permit_root_login").unwrap();
    assert_eq!((root.severity, root.sla_days), (Severity::High, 30));
    assert_eq!(policy.rule("accounts.empty_password").unwrap().severity, Severity::Critical);
    assert_eq!(policy.rule("malware.scanner").unwrap().severity, Severity::Info);
    assert_eq!(policy.rule("disk.encryption").unwrap().severity, Severity::High);
    assert_eq!(policy.rule("windows.smb1").unwrap().severity, Severity::High);
}

#[test]
fn real_reports_match_their_failing_checks_only() {
    let policy = Rules::builtin().unwrap().current();
    let now = at(2026, 3, 2);
    let facts = HostFacts::from_report("h1", &report("debian"), now, now);
    assert_eq!(
        matched(&policy, &facts, now),
        vec![
            (
                "malware.scanner".to_owned(),
                vec![
                    "no known malware scanner installed (ClamAV, Defender, Falcon, Sophos, ESET, Deep Security, \
                     SentinelOne)"
                        .to_owned()
                ]
            ),
            ("usb.storage_disabled".to_owned(), vec!["no modprobe rule disables usb-storage".to_owned()]),
        ]
    );
}

#[test]
fn weak_laptop_matches_with_severity_by_chassis() {
    let policy = Rules::builtin().unwrap().current();
    let now = at(2026, 3, 2);
    let mut weak = report("debian");
    set(&mut weak, "ssh.permit_root_login", CheckStatus::Fail, "/etc/ssh/sshd_config:33: PermitRootLogin yes");
    set(&mut weak, "accounts.empty_password", CheckStatus::Fail, "guest");
    set(&mut weak, "disk.encryption", CheckStatus::Fail, "/dev/nvme0n1p2 on / is not encrypted");
    let ids: Vec<String> =
        matched(&policy, &HostFacts::from_report("h1", &weak, now, now), now).into_iter().map(|m| m.0).collect();
    assert_eq!(
        ids,
        [
            "accounts.empty_password",
            "disk.encryption",
            "malware.scanner",
            "ssh.permit_root_login",
            "usb.storage_disabled"
        ]
    );
    let laptop = matched(&policy, &HostFacts::from_report("h1", &weak, now, now), now);
    assert_eq!(laptop[1].1, vec!["/dev/nvme0n1p2 on / is not encrypted".to_owned(), "chassis: Notebook".to_owned()]);

    // The VMware guest's chassis is "Other": its unencrypted disk is the medium-severity rule.
    let mut vm = report("ubuntu");
    set(&mut vm, "disk.encryption", CheckStatus::Fail, "/dev/sda1 on / is not encrypted");
    let ids: Vec<String> =
        matched(&policy, &HostFacts::from_report("h2", &vm, now, now), now).into_iter().map(|m| m.0).collect();
    assert_eq!(ids, ["disk.encryption.fixed", "malware.scanner", "usb.storage_disabled"]);
}

#[test]
fn time_based_rules() {
    let policy = Rules::builtin().unwrap().current();
    let seen = at(2026, 3, 2);
    let facts = HostFacts::from_report("h1", &report("debian"), seen, seen);
    let ids = |now| -> Vec<String> {
        matched(&policy, &facts, now)
            .into_iter()
            .map(|m| m.0)
            .filter(|id| id.starts_with("host.") || id.starts_with("os."))
            .collect()
    };
    assert_eq!(ids(at(2026, 3, 8)), Vec::<String>::new());
    assert_eq!(ids(at(2026, 3, 9)), ["host.stale"]);
    assert_eq!(ids(at(2026, 4, 1)), ["host.missing"]);
    // Debian 12's security support ends 2026-07-11 in the shipped endoflife.date data.
    assert_eq!(ids(at(2026, 4, 11)), ["host.missing"]);
    assert_eq!(ids(at(2026, 4, 12)), ["host.missing", "os.end_of_life_soon"]);
    // Then Debian LTS until 2028-06-30: extended support (low), not end of life (high); after it, end of life.
    assert_eq!(ids(at(2026, 7, 11)), ["host.missing", "os.extended_support"]);
    assert_eq!(ids(at(2028, 6, 29)), ["host.missing", "os.extended_support"]);
    assert_eq!(ids(at(2028, 6, 30)), ["host.missing", "os.end_of_life"]);
    let fresh = HostFacts::from_report("h1", &report("debian"), seen, at(2026, 7, 11));
    let m = matched(&policy, &fresh, at(2026, 7, 11));
    assert_eq!(
        m.iter().find(|m| m.0 == "os.extended_support").unwrap().1,
        vec![
            "Debian GNU/Linux 12 (bookworm): debian 12 regular security support ended 2026-07-11; extended support \
             until 2028-06-30"
                .to_owned()
        ]
    );
    let fresh = HostFacts::from_report("h1", &report("debian"), seen, at(2028, 6, 30));
    let m = matched(&policy, &fresh, at(2028, 6, 30));
    assert_eq!(
        m.iter().find(|m| m.0 == "os.end_of_life").unwrap().1,
        vec!["Debian GNU/Linux 12 (bookworm): debian 12 security support ended 2026-07-11".to_owned()]
    );
    let m = matched(&policy, &fresh, at(2026, 6, 1));
    assert_eq!(
        m.iter().find(|m| m.0 == "os.end_of_life_soon").unwrap().1,
        vec!["Debian GNU/Linux 12 (bookworm): debian 12 security support ends 2026-07-11 (in 40 days)".to_owned()]
    );
}

#[test]
fn a_mac_past_its_release_end_of_life_is_a_finding() {
    // The os section the agent reads from system_profiler on a Mac (agent/src/inventory/macos/os.rs).
    let mut mac = report("debian");
    mac.os = Some(muster_shared::v1::Os {
        id: Some("macos".to_owned()),
        name: Some("macOS".to_owned()),
        version_id: Some("10.14.6".to_owned()),
        pretty_name: Some("macOS 10.14.6 (18G103)".to_owned()),
        ..Default::default()
    });
    let policy = Rules::builtin().unwrap().current();
    let now = at(2026, 3, 2);
    let m = matched(&policy, &HostFacts::from_report("h1", &mac, now, now), now);
    // Mojave's support ended 2021-10-25 in the shipped endoflife.date data.
    assert_eq!(
        m.iter().find(|m| m.0 == "os.end_of_life").map(|m| m.1.clone()),
        Some(vec!["macOS 10.14.6 (18G103): macos 10.14 security support ended 2021-10-25".to_owned()])
    );
}

#[test]
fn a_defender_in_passive_mode_is_a_finding_and_its_current_definitions_are_not() {
    use muster_agent::checks::defender;
    let capture = |name: &str| {
        std::fs::read(format!("{}/../agent/testdata/defender/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    let now = at(2023, 8, 19);
    let mut linux = report("debian");
    let health = defender::parse(&capture("linux-mdatp-101.23062.0010.json")).unwrap();
    linux.checks = Some(defender::checks(&health, now));
    let policy = Rules::builtin().unwrap().current();
    let m = matched(&policy, &HostFacts::from_report("h1", &linux, now, now), now);
    assert_eq!(
        m,
        [(
            "malware.realtime".to_owned(),
            vec![
                "Microsoft Defender 101.23062.0010: real-time protection off".to_owned(),
                "Microsoft Defender 101.23062.0010: passive mode: it leaves protection to another product".to_owned(),
            ]
        )]
    );
    assert_eq!(policy.rule("malware.realtime").unwrap().severity, Severity::Medium);
    // The Mac's Defender scans in real time with current definitions: nothing.
    let mut mac = report("debian");
    mac.checks = Some(defender::checks(&defender::parse(&capture("macos-mdatp-101.98.30.json")).unwrap(), now));
    assert_eq!(matched(&policy, &HostFacts::from_report("h2", &mac, now, now), now), []);
}

#[test]
fn a_mac_s_posture_checks_use_the_shared_rules_and_its_own() {
    use muster_agent::inventory::macos::{hardware, posture};
    let capture = |name: &str| {
        std::fs::read_to_string(format!("{}/../agent/testdata/macos/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    // An Apple silicon MacBook Air (its model name makes it a laptop) whose checks read real Macs' output: FileVault
    // waiting for a restart, Gatekeeper off, a custom SIP configuration, the firewall on.
    let mut mac = report("debian");
    mac.checks = Some(posture::checks(&posture::Snapshot {
        filevault: Ok(capture("posture/fdesetup-off-needs-restart-deferred-10.12-crypt-18.txt")),
        firewall: Ok(capture("posture/socketfilterfw-getglobalstate-state2-enabled-m-cli-160.txt")),
        stealth: Err("not run".to_owned()),
        gatekeeper: Ok(capture("posture/spctl-status-disabled-elastic-420.txt")),
        sip: Ok(capture("posture/csrutil-enabled-custom-10.13.6-spaces-yabai-538.txt")),
        remote_login: Err("not run".to_owned()),
        guest: [Ok(None), Ok(Some(capture("posture/defaults-read-loginwindow-rosesecurity.txt")))],
        xprotect: [
            Ok(None),
            Ok(Some(capture("posture/XProtect.meta-2158-knightsc.plist").into_bytes())),
            Ok(None),
            Ok(None),
        ],
    }));
    mac.hardware.as_mut().unwrap().chassis = hardware::chassis(&capture("system_profiler-11.0-apple-M1.txt"));
    let policy = Rules::builtin().unwrap().current();
    let now = at(2026, 3, 2);
    let m = matched(&policy, &HostFacts::from_report("h1", &mac, now, now), now);
    let ids: Vec<&str> = m.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(ids, ["disk.encryption", "macos.gatekeeper", "macos.sip"]);
    assert_eq!(
        m[0].1,
        [
            "fdesetup status: FileVault is Off, but needs to be restarted to finish.",
            "fdesetup status: Deferred enablement appears to be active for user 'wes'",
            "chassis: Notebook",
        ]
    );
    assert_eq!(
        m[2].1,
        [
            "csrutil status: System Integrity Protection status: enabled (Custom Configuration).",
            "csrutil status: Debugging Restrictions: disabled",
        ]
    );
    for (id, severity) in [("macos.gatekeeper", Severity::High), ("macos.sip", Severity::High)] {
        assert_eq!(policy.rule(id).unwrap().severity, severity);
    }
    assert_eq!(policy.rule("macos.remote_login").unwrap().severity, Severity::Low);
}

#[test]
fn overdue_security_updates() {
    let policy = Rules::builtin().unwrap().current();
    let mut r = report("debian");
    r.patches = Some(muster_shared::v1::Patches {
        manager: Some("apt".to_owned()),
        pending: Some(vec![PendingUpdate {
            name: "libssl3".to_owned(),
            arch: Some("amd64".to_owned()),
            installed_version: "3.0.15-1~deb12u1".to_owned(),
            candidate_version: "3.0.16-1~deb12u1".to_owned(),
            security: true,
            origin: Some("Debian-Security/bookworm-security".to_owned()),
        }]),
        ..Default::default()
    });
    let first = at(2026, 3, 2);
    let facts = HostFacts::from_report("h1", &r, first, at(2026, 3, 17));
    let overdue = |now| matched(&policy, &facts, now).into_iter().find(|m| m.0 == "patch.security_overdue");
    assert_eq!(overdue(at(2026, 3, 16)), None);
    assert_eq!(
        overdue(at(2026, 3, 17)).unwrap().1,
        vec!["libssl3 3.0.15-1~deb12u1 -> 3.0.16-1~deb12u1 pending for 15 days".to_owned()]
    );
    // An open "upgrade openssl (libssl3)" fix finding already asks for this update: no second finding for it.
    let covered = HostFacts { fix_packages: ["libssl3".to_owned()].into(), ..facts.clone() };
    assert_eq!(matched(&policy, &covered, at(2026, 4, 30)).into_iter().find(|m| m.0 == "patch.security_overdue"), None);
}

/// The evidence of a list of pending updates is one text whatever order the store read them in: PostgreSQL orders by
/// its collation (`en_US` puts `libssl3` before `libssl-dev`, bytes the other way), a queued evaluation by bytes.
#[test]
fn pending_updates_give_the_same_evidence_in_any_order() {
    let policy = Rules::builtin().unwrap().current();
    let update = |name: &str| PendingUpdate {
        name: name.to_owned(),
        arch: Some("amd64".to_owned()),
        installed_version: "3.0.15-1~deb12u1".to_owned(),
        candidate_version: "3.0.16-1~deb12u1".to_owned(),
        security: true,
        origin: Some("Debian-Security/bookworm-security".to_owned()),
    };
    let evidence = |names: [&str; 2]| {
        let mut r = report("debian");
        r.patches = Some(muster_shared::v1::Patches {
            manager: Some("apt".to_owned()),
            pending: Some(Vec::from(names.map(update))),
            ..Default::default()
        });
        let facts = HostFacts::from_report("h1", &r, at(2026, 3, 2), at(2026, 3, 17));
        matched(&policy, &facts, at(2026, 3, 17)).into_iter().find(|m| m.0 == "patch.security_overdue").unwrap().1
    };
    let expected = vec![
        "libssl-dev 3.0.15-1~deb12u1 -> 3.0.16-1~deb12u1 pending for 15 days".to_owned(),
        "libssl3 3.0.15-1~deb12u1 -> 3.0.16-1~deb12u1 pending for 15 days".to_owned(),
    ];
    assert_eq!(evidence(["libssl3", "libssl-dev"]), expected);
    assert_eq!(evidence(["libssl-dev", "libssl3"]), expected);
}

#[test]
fn overdue_windows_updates_name_what_they_install() {
    // Windows' (and macOS's) pending updates have no installed version: the evidence gives the product and article.
    let policy = Rules::builtin().unwrap().current();
    let mut r = report("debian");
    r.patches = Some(muster_shared::v1::Patches {
        manager: Some("windows-update".to_owned()),
        pending: Some(vec![PendingUpdate {
            name: "Cumulative Update for Windows 11 Version 23H2 for x64-based Systems".to_owned(),
            arch: None,
            installed_version: String::new(),
            candidate_version: "KB5034123".to_owned(),
            security: true,
            origin: Some("Windows Update (Important)".to_owned()),
        }]),
        ..Default::default()
    });
    let facts = HostFacts::from_report("h1", &r, at(2026, 3, 2), at(2026, 3, 17));
    let overdue = matched(&policy, &facts, at(2026, 3, 17)).into_iter().find(|m| m.0 == "patch.security_overdue");
    assert_eq!(
        overdue.unwrap().1,
        vec!["Cumulative Update for Windows 11 Version 23H2 for x64-based Systems -> KB5034123 pending for 15 days"]
    );
}

/// The policy of one rule exactly as `policy/README.md` writes it (its TOML block from `[[rule]]` to the fence).
fn readme_rule(id: &str) -> Arc<Policy> {
    let dir = tempfile::tempdir().unwrap();
    let readme = include_str!("../../policy/README.md");
    let start = readme.find(&format!("[[rule]]\nid = \"{id}\"")).unwrap();
    let end = start + readme[start..].find("```").unwrap();
    std::fs::write(dir.path().join("example.toml"), &readme[start..end]).unwrap();
    let source = PolicySource { policy_dir: Some(dir.path().to_owned()), eol_file: None, eol_text: None };
    Rules::load(source).unwrap().current()
}

/// The development VM's real report (root and alice logged in over ssh on 2026-12-03, sshd listening): nobody is a
/// dormant administrator; once alice is in the sudo group (as the agent reports her after `adduser alice sudo`), she
/// is one 91 days after that login, root never is.
#[test]
fn a_dormant_administrator_is_found_by_last_login() {
    let policy = Rules::builtin().unwrap().current();
    let mut vm = report("sshd");
    let dormant = |report: &Report, now| -> Vec<Vec<String>> {
        let facts = HostFacts::from_report("h1", report, now, now);
        matched(&policy, &facts, now).into_iter().filter(|m| m.0 == "account.admin_dormant").map(|m| m.1).collect()
    };
    assert_eq!(dormant(&vm, at(2027, 6, 1)), Vec::<Vec<String>>::new(), "root is left out, alice is no admin");
    let alice = vm.host.as_mut().unwrap().accounts.iter_mut().find(|a| a.name == "alice").unwrap();
    alice.groups.push("sudo".into());
    alice.admin = true;
    alice.admin_evidence = vec!["group sudo".into()];
    assert_eq!(dormant(&vm, at(2027, 3, 4)), Vec::<Vec<String>>::new(), "90 days are not more than 90");
    assert_eq!(
        dormant(&vm, at(2027, 3, 5)),
        vec![vec!["alice (group sudo): last login 2026-12-03 21:55 UTC from 127.0.0.1, 91 days ago".to_owned()]]
    );
    // No recorded login is not taken for an old one.
    vm.host.as_mut().unwrap().accounts.iter_mut().find(|a| a.name == "alice").unwrap().last_login = None;
    assert_eq!(dormant(&vm, at(2027, 6, 1)), Vec::<Vec<String>>::new());
}

/// The operator rule `policy/README.md` gives as its example over `software.listeners`, on the same real report:
/// sshd comes from openssh-server, so nothing matches until its package is unknown.
#[test]
fn listeners_are_facts_for_operator_rules() {
    let policy = readme_rule("service.unpackaged_listener");
    let now = at(2026, 12, 4);
    let unpackaged = |report: &Report| -> Vec<Vec<String>> {
        let facts = HostFacts::from_report("h1", report, now, now);
        matched(&policy, &facts, now)
            .into_iter()
            .filter(|m| m.0 == "service.unpackaged_listener")
            .map(|m| m.1)
            .collect()
    };
    let mut vm = report("sshd");
    assert_eq!(unpackaged(&vm), Vec::<Vec<String>>::new());
    for l in &mut vm.software.as_mut().unwrap().listeners {
        l.owner = None;
    }
    assert_eq!(
        unpackaged(&vm),
        vec![vec![
            "sshd (/usr/sbin/sshd) listens on 0.0.0.0:2222/tcp".to_owned(),
            "sshd (/usr/sbin/sshd) listens on :::2222/tcp".to_owned()
        ]]
    );
}

/// The operator rule `policy/README.md` gives as its example over `patches.installed_updates`: a Windows host
/// lacking KB5034441 matches, the same host with it does not, nor a Linux host (which lists no installed updates).
#[test]
fn installed_updates_are_facts_for_operator_rules() {
    use muster_shared::v1::{InstalledUpdate, Os, Patches};
    let policy = readme_rule("windows.required_update_missing");
    let now = at(2026, 12, 5);
    let missing = |report: &Report| -> Vec<Vec<String>> {
        let facts = HostFacts::from_report("h1", report, now, now);
        matched(&policy, &facts, now)
            .into_iter()
            .filter(|m| m.0 == "windows.required_update_missing")
            .map(|m| m.1)
            .collect()
    };
    let update = |id: &str| InstalledUpdate {
        id: id.to_owned(),
        title: None,
        kind: None,
        product: None,
        installed_at: None,
        source: format!(
            r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages\Package_for_{id}"
        ),
    };
    let windows = |updates: &[&str]| Report {
        os: Some(Os {
            id: Some("windows".to_owned()),
            version_id: Some("10.0.19045.3803".to_owned()),
            ..Default::default()
        }),
        patches: Some(Patches {
            manager: Some("windows-update".to_owned()),
            installed_updates: updates.iter().map(|id| update(id)).collect(),
            ..Default::default()
        }),
        ..report("debian")
    };
    // The same article listed for two products is one installed update.
    assert_eq!(
        missing(&windows(&["KB5033909", "KB5033909", "KB5034122"])),
        vec![vec!["KB5034441 is not among the 2 installed updates".to_owned()]]
    );
    assert_eq!(missing(&windows(&["KB5034122", "KB5034441"])), Vec::<Vec<String>>::new());
    assert_eq!(missing(&report("debian")), Vec::<Vec<String>>::new());
}

/// The operator rule `policy/README.md` gives as its example over `host.directory`: a workgroup machine matches;
/// a domain, an Entra ID tenant, or no directory read (a Linux host) does not.
#[test]
fn directory_membership_is_a_fact_for_operator_rules() {
    use muster_shared::v1::{Directory, EntraTenant};
    let policy = readme_rule("windows.unmanaged");
    let now = at(2026, 12, 5);
    let unmanaged = |directory: Option<Directory>| -> Vec<Vec<String>> {
        let mut r = report("debian");
        r.host.as_mut().unwrap().directory = directory;
        let facts = HostFacts::from_report("h1", &r, now, now);
        matched(&policy, &facts, now).into_iter().filter(|m| m.0 == "windows.unmanaged").map(|m| m.1).collect()
    };
    let workgroup = Directory { workgroup: Some("WORKGROUP".into()), ..Default::default() };
    assert_eq!(
        unmanaged(Some(workgroup.clone())),
        vec![vec!["joined to no domain and no Entra ID tenant (workgroup WORKGROUP)".to_owned()]]
    );
    assert_eq!(
        unmanaged(Some(Directory::default())),
        vec![vec!["joined to no domain and no Entra ID tenant".to_owned()]]
    );
    let domain = Directory { domain: Some("CONTOSO".into()), ..Default::default() };
    let entra = Directory {
        entra_tenants: vec![EntraTenant { id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(), name: None }],
        ..workgroup
    };
    for managed in [Some(domain), Some(entra), None] {
        assert_eq!(unmanaged(managed.clone()), Vec::<Vec<String>>::new(), "{managed:?}");
    }
}

/// The Docker and Podman images of a real host (agent/testdata/containers/root, read by the real agent) are Debian 12:
/// in Debian LTS on 2026-12-04, past all support after 2028-06-30 (endoflife.date data).
#[test]
fn container_images_past_end_of_life_are_findings() {
    use muster_agent::inventory::{self, InventoryConfig};
    let policy = Rules::builtin().unwrap().current();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../agent/testdata/containers/root");
    let config = InventoryConfig {
        root: muster_agent::root::SystemRoot::mounted(&root),
        sections: [muster_shared::v1::SectionName::Software].into_iter().collect(),
        ..InventoryConfig::live()
    };
    let captured = inventory::collect(&config, at(2026, 12, 4)).software.unwrap();
    let mut vm = report("debian");
    let software = vm.software.as_mut().unwrap();
    software.container_images = captured.container_images;
    software.containers = captured.containers;
    let end_of_life = |now: DateTime<Utc>| -> Vec<Vec<String>> {
        let facts = HostFacts::from_report("h1", &vm, now, now);
        matched(&policy, &facts, now)
            .into_iter()
            .filter(|m| m.0 == "container.image_end_of_life")
            .map(|m| m.1)
            .collect()
    };
    assert_eq!(end_of_life(at(2026, 12, 4)), Vec::<Vec<String>>::new());
    let ended =
        "Debian GNU/Linux 12 (bookworm), debian 12 security support ended 2026-07-11, extended support 2028-06-30";
    assert_eq!(
        end_of_life(at(2028, 7, 1)),
        vec![vec![
            format!("127.0.0.1:5000/muster-test/web:1.0 (docker): {ended}; 1 container(s), running"),
            format!("muster-test/debian:12 (docker): {ended}; 2 container(s)"),
            format!("localhost/muster-test/web:1.0 (podman): {ended}; 2 container(s)"),
        ]]
    );
}

#[test]
fn a_windows_report_matches_its_failing_registry_checks() {
    // Captured from the Windows agent under Wine 8 (testdata/README.md): Windows 10 22H2, UAC off, the SMB 1 server
    // on, Defender's real-time protection off by policy, Remote Desktop off, the firewall on, Secure Boot on.
    let report: Report = serde_json::from_str(include_str!("../../testdata/reports/wine8-windows10.json")).unwrap();
    let policy = Rules::builtin().unwrap().current();
    let now = at(2026, 3, 2);
    let matches = matched(&policy, &HostFacts::from_report("h1", &report, now, now), now);
    let ids: Vec<&str> = matches.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(ids, ["os.extended_support", "windows.defender_realtime", "windows.smb1", "windows.uac"]);
    // Windows 10 22H2 (every edition) left regular support on 2025-10-14; Extended Security Updates run to 2028.
    assert_eq!(
        matches[0].1,
        vec![
            "Microsoft Windows 10 22H2 (build 18362.3803): windows 10-22h2 regular security support ended 2025-10-14; \
             extended support until 2028-10-10"
                .to_owned()
        ]
    );
    assert_eq!(
        matches[3].1,
        vec![r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\EnableLUA = 0".to_owned()]
    );
    let rule = policy.rule("windows.uac").unwrap();
    assert_eq!((rule.severity, rule.sla_days), (Severity::High, 30));
}

#[test]
fn an_enabled_guest_account_is_a_finding_and_windows_password_policy_uses_linux_s_rules() {
    use muster_agent::inventory::windows::{guest, password};
    let mut report: Report = serde_json::from_str(include_str!("../../testdata/reports/wine8-windows10.json")).unwrap();
    let policy = Rules::builtin().unwrap().current();
    let now = at(2026, 3, 2);
    let guest_on = guest::LocalAccount { name: "Guest".into(), rid: guest::GUEST_RID, flags: 0x0201 };
    let checks = report.checks.as_mut().unwrap();
    checks.push(guest::check(Ok(&[guest_on])));
    // Windows 10's default account policy: passwords expire after 42 days, accounts never lock.
    checks.extend(password::checks(Ok(42 * 86_400), Ok(password::Lockout { threshold: 0, duration: 1800 })));
    let matches = matched(&policy, &HostFacts::from_report("h1", &report, now, now), now);
    let found: Vec<(&str, &[String])> = matches
        .iter()
        .filter(|m| m.0 == "accounts.guest" || m.0.starts_with("password."))
        .map(|m| (m.0.as_str(), &m.1[..]))
        .collect();
    assert_eq!(
        found,
        [
            ("accounts.guest", &["Guest (relative id 501): enabled".to_owned()][..]),
            ("password.lockout", &["Lockout threshold: Never".to_owned()][..]),
        ]
    );
}

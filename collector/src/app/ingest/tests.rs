//! The ingest plan as tables, without a database: the delta check, and what a report writes given what was stored
//! (the real ThinkPad report of `testdata/reports`, changed in code the way a later report would be).

use chrono::TimeZone;
use muster_shared::v1::{SectionName, section_hashes};

use super::*;
use crate::model::EventKind;

/// The real report, completed with the hostname and machine id a live agent reads (as `tests/common` does).
fn thinkpad() -> Report {
    let path = format!("{}/testdata/reports/debian12-thinkpad-t480s.json", env!("CARGO_MANIFEST_DIR"));
    let mut report: Report = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let host = report.host.get_or_insert_with(Default::default);
    host.hostname = Some("lab-t480s".to_owned());
    host.machine_id = Some("4c4c4544004d3510804bb2c04f4e3732".to_owned());
    report
}

/// `report` as sent with only `in_full` in full and every collected section's hash.
fn sent(report: &Report, in_full: &[SectionName]) -> IngestInput {
    let hashes = section_hashes(report);
    let mut r = report.clone();
    let keep = |s: SectionName| in_full.contains(&s);
    if !keep(SectionName::Host) {
        r.host = None;
    }
    if !keep(SectionName::Hardware) {
        r.hardware = None;
    }
    if !keep(SectionName::Os) {
        r.os = None;
    }
    if !keep(SectionName::Software) {
        r.software = None;
    }
    if !keep(SectionName::Patches) {
        r.patches = None;
    }
    if !keep(SectionName::Checks) {
        r.checks = None;
    }
    let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    IngestInput {
        report_id: "r1".to_owned(),
        report: r,
        hashes,
        received_at: at,
        forget_reports_before: at - chrono::Duration::days(30),
    }
}

fn stored_hashes(report: &Report, sections: &[SectionName]) -> BTreeMap<String, String> {
    section_hashes(report)
        .into_iter()
        .filter(|(s, _)| sections.contains(s))
        .map(|(s, h)| (s.as_str().to_owned(), h))
        .collect()
}

#[test]
fn delta_check_asks_for_every_hash_it_cannot_confirm() {
    use SectionName::*;
    let report = thinkpad();
    let mut changed = report.clone();
    changed.os.as_mut().unwrap().version_id = Some("13".to_owned());
    let all = [Host, Hardware, Os, Software, Checks];
    // (stored sections, stored from which report, sent in full, expected needs)
    type Case<'a> = (&'a [SectionName], &'a Report, &'a [SectionName], &'a [SectionName]);
    let cases: [Case<'_>; 5] = [
        (&all, &report, &[], &[]),
        (&[], &report, &all, &[]),
        (&[], &report, &[Host], &[Hardware, Os, Software, Checks]),
        (&all, &changed, &[], &[Os]),
        (&[Host, Hardware, Os, Checks], &report, &[Os], &[Software]),
    ];
    for (stored, from, in_full, expected) in cases {
        let input = sent(&report, in_full);
        let needs = ingest::needs_full(&input.report, &input.hashes, &stored_hashes(from, stored));
        assert_eq!(needs, expected, "stored {stored:?}, sent in full {in_full:?}");
    }
}

/// Links inserted, updated, deleted, and whether nothing was stored before.
type LinkWrites = (usize, usize, usize, bool);
/// (sections written, link writes, event kinds, hostname set, identity set, os set, full_sections)
type Summary = (Vec<SectionName>, Option<LinkWrites>, Vec<EventKind>, bool, bool, bool, String);

fn summary(w: &Writes<'_>) -> Summary {
    (
        w.sections.iter().map(|(s, _, _)| *s).collect(),
        w.software.as_ref().map(|c| (c.insert.len(), c.update.len(), c.delete.len(), c.first)),
        w.events.iter().map(|e| e.kind).collect(),
        w.host.hostname.is_some(),
        w.host.hardware_identity.is_some(),
        w.host.os.is_some(),
        w.report.full_sections.clone(),
    )
}

#[test]
fn a_report_writes_what_came_in_full_and_the_history_of_what_changed() {
    use SectionName::*;
    let report = thinkpad();
    let packages = report.software.as_ref().unwrap().packages.len();
    let stored = links(&report.software.as_ref().unwrap().packages);

    // An older copy: one package at an older version, one the new report no longer has.
    let mut older_packages = report.software.as_ref().unwrap().packages.clone();
    older_packages[0].version = "3.133".to_owned();
    let mut telnet = older_packages[1].clone();
    (telnet.name, telnet.version, telnet.source_name) = ("telnet".into(), "0.17".into(), None);
    older_packages.push(telnet);
    let older = links(&older_packages);
    // The same packages, one of them now half-installed (the host's own column of its link).
    let mut half_installed = stored.clone();
    half_installed[3].state = Some("half-installed".to_owned());
    let older_os = {
        let mut os = report.os.clone().unwrap();
        os.version_id = Some("11".to_owned());
        os
    };

    let all = [Host, Hardware, Os, Software, Checks];
    let cases: Vec<(&str, IngestInput, Prior, Summary)> = vec![
        (
            "first report: everything written, nothing to compare",
            sent(&report, &all),
            Prior::default(),
            (
                all.to_vec(),
                Some((packages, 0, 0, true)),
                vec![],
                true,
                true,
                true,
                "host,hardware,os,software,checks".into(),
            ),
        ),
        (
            "unchanged copy stored: no history, no link written",
            sent(&report, &all),
            Prior {
                packages: Some(stored.clone()),
                hardware: report.hardware.clone(),
                os: report.os.clone(),
                ..Prior::default()
            },
            (all.to_vec(), Some((0, 0, 0, false)), vec![], true, true, true, "host,hardware,os,software,checks".into()),
        ),
        (
            "a package's state changed: its link is updated, nothing else",
            sent(&report, &[Software]),
            Prior { packages: Some(half_installed), ..Prior::default() },
            (vec![Software], Some((0, 1, 0, false)), vec![], false, false, false, "software".into()),
        ),
        (
            "upgrade, removal and OS upgrade",
            sent(&report, &[Os, Software]),
            Prior { packages: Some(older), os: Some(older_os), ..Prior::default() },
            (
                vec![Os, Software],
                // The upgraded package's new version is a new catalogue row; its old one and telnet's go.
                Some((1, 0, 2, false)),
                vec![EventKind::PackageUpgraded, EventKind::PackageRemoved, EventKind::OsUpgraded],
                false,
                false,
                true,
                "os,software".into(),
            ),
        ),
        (
            "hashes only: the host row's times and agent version, nothing else",
            sent(&report, &[]),
            Prior::default(),
            (vec![], None, vec![], false, false, false, String::new()),
        ),
    ];
    for (name, input, prior, expected) in cases {
        let writes = plan(&input, &prior).unwrap();
        assert_eq!(summary(&writes), expected, "{name}");
        assert_eq!(writes.host.agent_version, "0.1.0", "{name}");
        for (section, hash, _) in &writes.sections {
            assert_eq!(Some(hash), input.hashes.get(section), "{name}: {section:?} keeps the content's hash");
        }
    }
}

/// What the store holds for `packages` as one host's links.
fn links(packages: &[muster_shared::v1::Package]) -> Vec<StoredLink> {
    packages
        .iter()
        .map(|p| StoredLink {
            software_id: crate::ingest::software_id(p),
            installed_at: p.installed_at.map(to_ms),
            size_bytes: p.size_bytes.and_then(|s| i64::try_from(s).ok()),
            state: p.state.clone(),
            channel: p.channel.clone(),
            publisher: p.publisher.clone(),
            package: p.into(),
        })
        .collect()
}

#[test]
fn software_rows_have_one_row_per_catalogue_key() {
    let report = thinkpad();
    let mut input = sent(&report, &[SectionName::Software]);
    let software = input.report.software.as_mut().unwrap();
    let first = software.packages[0].clone();
    software.packages.push(first);
    let writes = plan(&input, &Prior::default()).unwrap();
    let rows = writes.software.unwrap().insert;
    assert_eq!(rows.len(), report.software.as_ref().unwrap().packages.len());
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
}

/// A section sent in full changes the host's matches only when what they are made from differs from what is stored:
/// the packages, the images' package lists, OS and tags, the listening sockets, the pending updates (the real report
/// of a Debian 12 host with sshd listening, and the Windows agent's patches section under Wine).
#[test]
fn a_section_changes_the_matches_only_through_what_they_are_made_from() {
    let path = format!("{}/testdata/reports/debian12-sshd-listening.json", env!("CARGO_MANIFEST_DIR"));
    let mut report: Report = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let path = format!("{}/testdata/reports/wine8-windows10.json", env!("CARGO_MANIFEST_DIR"));
    let windows: Report = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    report.patches = windows.patches.clone();
    let software = report.software.clone().unwrap();
    assert_eq!(software.listeners.len(), 3);
    let input = sent(&report, &[SectionName::Software, SectionName::Patches]);
    let stored_section = crate::model::StoredSoftware::of(&software);
    let stored = Prior {
        packages: Some(links(&software.packages)),
        images: Some(Default::default()),
        software: Some(stored_section.clone()),
        pending: Some(report.patches.as_ref().unwrap().pending.clone()),
        ..Prior::default()
    };
    let changes = |prior: &Prior| plan(&input, prior).unwrap().changes_matches();
    assert!(!changes(&stored), "everything as stored");
    let fewer_sockets =
        crate::model::StoredSoftware { listeners: software.listeners[1..].to_vec(), ..stored_section.clone() };
    assert!(changes(&Prior { software: Some(fewer_sockets), ..stored.clone() }), "a new socket");
    assert!(changes(&Prior { software: None, ..stored.clone() }), "the stored section unreadable");
    // A container stored that the report no longer has (removed): image findings name the containers.
    let container = muster_shared::v1::Container {
        engine: muster_shared::v1::ContainerEngine::Docker,
        id: "4c8f".to_owned(),
        name: "web".to_owned(),
        image_id: "sha256:32ba".to_owned(),
        image: None,
        created: None,
        state: Some("exited".to_owned()),
    };
    let with_container = crate::model::StoredSoftware { containers: vec![container], ..stored_section.clone() };
    assert!(changes(&Prior { software: Some(with_container), ..stored.clone() }), "a container removed");
    assert!(changes(&Prior { packages: Some(links(&software.packages[1..])), ..stored.clone() }), "a new package");
    let gone = [("sha256:0f".to_owned(), "digest".to_owned())].into_iter().collect();
    assert!(changes(&Prior { images: Some(gone), ..stored.clone() }), "an image removed");
    // Stored pending updates other than the report's (the Windows capture knows none under Wine).
    let other = match &report.patches.as_ref().unwrap().pending {
        None => Some(Vec::new()),
        Some(_) => None,
    };
    assert!(changes(&Prior { pending: Some(other), ..stored.clone() }), "other pending updates stored");
    assert!(changes(&Prior::default()), "the first report");
    // The lists refreshed later, nothing else: the patches section changed, the matches did not.
    let mut refreshed = report.clone();
    let patches = refreshed.patches.as_mut().unwrap();
    assert_ne!(patches.lists_updated_at, Some(report.collected_at));
    patches.lists_updated_at = Some(report.collected_at);
    assert!(!plan(&sent(&refreshed, &[SectionName::Patches]), &stored).unwrap().changes_matches());
    // Hashes only: nothing came, nothing changes.
    assert!(!plan(&sent(&report, &[]), &stored).unwrap().changes_matches());
}

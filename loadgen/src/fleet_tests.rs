//! Tables for identities, image shares, drift and patch rounds, checked against the real version orders of
//! `muster_shared::version` and the real section hashes of `muster_shared::v1`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use muster_shared::v1::{Report, SectionName, section_hashes};
use muster_shared::version::{Ecosystem, compare};

use super::*;
use crate::images;

pub(crate) fn image(name: &str) -> Image {
    images::resolve(name).unwrap().image
}

pub(crate) fn fleet_of(names: &[&str]) -> Fleet {
    Fleet {
        fleet_id: "0a1b2c3d4e5f".to_string(),
        images: names.iter().map(|n| WeightedImage { image: image(n), weight: 1 }).collect(),
        drift: Drift::typical(),
        patch_packages: 10,
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T10:00:00Z").unwrap().with_timezone(&Utc)
}

#[test]
fn identities_are_distinct_stable_and_per_fleet() {
    let fleet = fleet_of(&["debian-12-server", "alpine-3.14"]);
    let ids: Vec<Identity> = (0..2_000).map(|i| fleet.identity(i)).collect();
    for field in [
        ids.iter().map(|i| i.hostname.clone()).collect::<BTreeSet<_>>(),
        ids.iter().map(|i| i.machine_id.clone()).collect(),
    ] {
        assert_eq!(field.len(), 2_000);
    }
    let serials: BTreeSet<_> = ids.iter().filter_map(|i| i.system_serial.clone()).collect();
    let uuids: BTreeSet<_> = ids.iter().filter_map(|i| i.system_uuid.clone()).collect();
    assert_eq!((serials.len(), uuids.len()), (2_000, 2_000));
    assert_eq!(ids[0].hostname, "lg-0a1b2c-debian-12-server-000000");
    assert_eq!(ids[1].hostname, "lg-0a1b2c-alpine-3.14-000001");
    assert!(ids[0].machine_id.len() == 32 && ids[0].machine_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(ids[0].system_uuid.as_ref().unwrap().len(), 36);
    assert_eq!(fleet.identity(7), ids[7]);
    let other = Fleet { fleet_id: "ffffff000000".to_string(), ..fleet.clone() };
    assert_ne!(other.identity(7).machine_id, ids[7].machine_id);
}

#[test]
fn images_are_shared_out_by_weight() {
    let mut fleet = fleet_of(&["debian-12-apt", "ubuntu-24.04", "alpine-3.14"]);
    fleet.images[0].weight = 3;
    let mut counts = [0u32; 3];
    for i in 0..500 {
        counts[fleet.image_of(i)] += 1;
    }
    assert_eq!(counts, [300, 100, 100]);
    assert_eq!((0..5).map(|i| fleet.image_of(i)).collect::<Vec<_>>(), [0, 0, 0, 1, 2]);
}

#[test]
fn drift_levels() {
    let drift = Drift::typical();
    #[rustfmt::skip]
    let table = [(0.0, 1), (0.119, 1), (0.12, 2), (0.179, 2), (0.18, 3), (0.199, 3), (0.2, 0), (0.999, 0)];
    for (unit, level) in table {
        assert_eq!(drift.level(unit), level, "{unit}");
    }
    assert_eq!(Drift::none().level(0.0), 0);
}

#[test]
fn drifted_versions_are_older_and_patched_ones_newer_in_each_managers_order() {
    #[rustfmt::skip]
    let table = [
        (PackageKind::Deb, Ecosystem::Deb, "1:2.38.1-5+deb12u3"),
        (PackageKind::Deb, Ecosystem::Deb, "252.38-1~deb12u1"),
        (PackageKind::Deb, Ecosystem::Deb, "3.0.11-1~deb12u2"),
        (PackageKind::Rpm, Ecosystem::Rpm, "2.35.2-63.cm2"),
        (PackageKind::Rpm, Ecosystem::Rpm, "1:1.2.13-2.cm2"),
        (PackageKind::Apk, Ecosystem::Apk, "1.33.1-r3"),
        (PackageKind::Apk, Ecosystem::Apk, "2.12.7_git20210224-r0"),
        (PackageKind::Apk, Ecosystem::Apk, "20191127-r5"),
    ];
    for (kind, eco, version) in table {
        let older: Vec<String> = (1..=3).map(|l| older_version(kind, version, l)).collect();
        assert_eq!(compare(eco, &older[0], version), Ok(Ordering::Less), "{older:?} < {version}");
        assert_eq!(compare(eco, &older[1], &older[0]), Ok(Ordering::Less), "{older:?}");
        assert_eq!(compare(eco, &older[2], &older[1]), Ok(Ordering::Less), "{older:?}");
        let newer = newer_version(kind, version, 1);
        assert_eq!(compare(eco, &newer, version), Ok(Ordering::Greater), "{newer} > {version}");
        assert_eq!(compare(eco, &newer_version(kind, version, 2), &newer), Ok(Ordering::Greater), "{version}");
    }
    // Every package version of every built-in dpkg, rpm and apk image.
    for weighted in images::default_mix().unwrap() {
        for p in &weighted.image.report.software.unwrap().packages {
            let eco = match p.kind {
                PackageKind::Deb => Ecosystem::Deb,
                PackageKind::Rpm => Ecosystem::Rpm,
                PackageKind::Apk => Ecosystem::Apk,
                // The built-in images hold OS packages only; others are not varied.
                _ => continue,
            };
            assert_eq!(compare(eco, &older_version(p.kind, &p.version, 1), &p.version), Ok(Ordering::Less), "{p:?}");
            assert_eq!(compare(eco, &newer_version(p.kind, &p.version, 1), &p.version), Ok(Ordering::Greater), "{p:?}");
        }
    }
}

#[test]
fn hosts_drift_by_the_profile_and_share_few_versions() {
    let fleet = fleet_of(&["debian-12-server"]);
    let captured = fleet.images[0].image.report.software.clone().unwrap().packages;
    let mut versions: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut drifted = 0usize;
    let hosts = 50;
    let reports: Vec<Report> = (0..hosts).map(|i| fleet.report(i, 0, now())).collect();
    for report in &reports {
        let packages = &report.software.as_ref().unwrap().packages;
        assert_eq!(packages.len(), captured.len());
        for (p, original) in packages.iter().zip(&captured) {
            assert_eq!((&p.name, &p.arch), (&original.name, &original.arch));
            drifted += usize::from(p.version != original.version);
            versions.entry(original.name.as_str()).or_default().insert(p.version.clone());
        }
    }
    let share = drifted as f64 / (hosts as usize * captured.len()) as f64;
    assert!((share - 0.20).abs() < 0.02, "{share}");
    assert!(versions.values().all(|v| v.len() <= 4), "at most the captured version and three older ones");
    assert_eq!(reports[3], fleet.report(3, 0, now()), "a host's report is reproducible");
    assert_ne!(reports[3].software, reports[4].software);
    let flat = Fleet { drift: Drift::none(), ..fleet.clone() };
    assert_eq!(flat.report(3, 0, now()).software.unwrap().packages, captured);
}

#[test]
fn patch_rounds_upgrade_the_same_packages_on_every_host() {
    let fleet = fleet_of(&["debian-12-apt"]);
    let report = &fleet.images[0].image.report;
    assert!(patched_rounds(&fleet.fleet_id, "debian-12-apt", report, 10, 0).iter().all(Option::is_none));
    let one = patched_rounds(&fleet.fleet_id, "debian-12-apt", report, 10, 1);
    assert_eq!(one.iter().filter(|r| **r == Some(1)).count(), 10);
    let two = patched_rounds(&fleet.fleet_id, "debian-12-apt", report, 10, 2);
    assert_eq!(two.iter().filter(|r| **r == Some(2)).count(), 10);
    // Round 1's packages stay upgraded unless round 2 upgraded them again.
    for (a, b) in one.iter().zip(&two) {
        if a.is_some() {
            assert!(b.is_some());
        }
    }
    let upgraded = |host: u32| -> BTreeSet<String> {
        let before = fleet.report(host, 0, now()).software.unwrap().packages;
        let after = fleet.report(host, 1, now()).software.unwrap().packages;
        before.iter().zip(&after).filter(|(b, a)| b.version != a.version).map(|(b, _)| b.name.clone()).collect()
    };
    assert_eq!(upgraded(0).len(), 10);
    assert_eq!(upgraded(0), upgraded(5));
}

#[test]
fn reports_are_valid_v1_and_carry_their_identity() {
    let fleet =
        fleet_of(&["debian-12-server", "debian-12-apt", "ubuntu-24.04", "cbl-mariner-2.0", "sles-15", "alpine-3.14"]);
    for index in 0..12 {
        let report = fleet.report(index, index % 3, now());
        let identity = fleet.identity(index);
        let host = report.host.as_ref().unwrap();
        assert_eq!(host.hostname.as_deref(), Some(identity.hostname.as_str()));
        assert_eq!(host.machine_id.as_deref(), Some(identity.machine_id.as_str()));
        let system = report.hardware.as_ref().and_then(|h| h.system.as_ref());
        assert_eq!(system.and_then(|s| s.serial.clone()), identity.system_serial);
        assert_eq!(report.collected_at, now());
        // What the collector decodes and hashes is what the host declared.
        let envelope = crate::envelope::delta("r", &report, &BTreeMap::new(), &BTreeSet::new());
        let json = serde_json::to_vec(&envelope).unwrap();
        let decoded: muster_shared::v1::ReportEnvelope = serde_json::from_slice(&json).unwrap();
        assert_eq!(decoded.report, report);
        assert_eq!(section_hashes(&decoded.report), envelope.section_hashes);
        let present = SectionName::ALL.into_iter().filter(|s| report.has_section(*s)).count();
        assert!(present >= 5, "host {index}");
        assert_eq!(envelope.section_hashes.len(), present, "every section of host {index}");
    }
}

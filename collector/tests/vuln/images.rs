//! Container images matched as machines of their own OS (issue 19): the real agent reads the Docker and Podman state
//! captured on a Debian 12 VM (agent/testdata/containers/root) and the offline scan matches each image's packages
//! against Debian's real records.

use super::*;

/// The report the agent makes of the captured root: no OS package database of its own, two images (one held by both
/// engines) and five containers.
fn captured_report() -> Report {
    use muster_agent::inventory::{self, InventoryConfig};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../agent/testdata/containers/root");
    let config = InventoryConfig {
        root: muster_agent::root::SystemRoot::mounted(&root),
        sections: [muster_shared::v1::SectionName::Software].into_iter().collect(),
        ..InventoryConfig::live()
    };
    inventory::collect(&config, Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).single().unwrap())
}

#[test]
fn each_container_image_is_matched_as_a_machine_of_its_own_os() {
    let db = debian_db();
    let report = captured_report();
    let out = scan(&db, &report);
    let summary: Vec<(&str, Vec<&str>, Vec<&str>, usize)> = out
        .images
        .iter()
        .map(|i| {
            (
                i.tags[0].as_str(),
                i.engines.clone(),
                i.containers.iter().map(String::as_str).collect(),
                i.scan.packages_checked,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("127.0.0.1:5000/muster-test/web:1.0", vec!["docker", "podman"], vec!["api", "batch", "web"], 111),
            ("muster-test/debian:12", vec!["docker"], vec!["done", "old"], 88),
        ]
    );
    assert_eq!(out.images[0].tags.len(), 4);

    // An image's result is exactly a Debian 12 machine's with the image's packages.
    let software = report.software.as_ref().unwrap();
    for image in &out.images {
        let stored = software.container_images.iter().find(|i| i.id == image.id).unwrap();
        assert_eq!(stored.os.as_ref().and_then(|o| o.version_id.as_deref()), Some("12"));
        let alone = scan(&db, &super::report("debian", "12", None, stored.packages.clone()));
        assert_eq!(image.scan.host.ecosystems, ["Debian:12"]);
        assert_eq!(found(&image.scan), found(&alone), "{}", image.id);
        assert_eq!(image.scan.fixes.len(), alone.fixes.len());
        assert!(image.scan.warnings.is_empty(), "{:?}", image.scan.warnings);
    }
    // Both images are at current bookworm versions, which every record of the subset precedes.
    assert!(out.images.iter().all(|i| i.scan.vulnerabilities.is_empty()));

    // The web image as it was built a year earlier: glibc at bookworm's real 2.36-9+deb12u2, before Looney Tunables.
    let mut old = report.clone();
    let images = &mut old.software.as_mut().unwrap().container_images;
    for image in images.iter_mut().filter(|i| i.tags.iter().any(|t| t.ends_with("/muster-test/web:1.0"))) {
        image.packages = with_source_version(std::mem::take(&mut image.packages), "glibc", "2.36-9+deb12u2");
    }
    let out = scan(&db, &old);
    let web = &out.images[0].scan;
    let fixed = |n: &str| Some(format!("2.36-9+deb12u{n}"));
    let mut want = BTreeSet::new();
    for (id, fix) in [("CVE-2023-4806", "3"), ("CVE-2023-4911", "3"), ("DSA-5514-1", "3"), ("DSA-5611-1", "4")] {
        for package in ["libc-bin", "libc6"] {
            want.insert((id.to_owned(), package.to_owned(), fixed(fix)));
        }
    }
    assert_eq!(found(web), want);
    let web_packages = old.software.as_ref().unwrap().container_images[0].packages.clone();
    assert_eq!(found(web), found(&scan(&db, &super::report("debian", "12", None, web_packages))));
    assert!(web.vulnerabilities.iter().any(|v| v.id == "CVE-2023-4911" && v.kev && v.severity == "critical"));
    assert_eq!(web.fixes.len(), 1);
    assert_eq!(
        web.fixes[0].title,
        "Upgrade glibc (libc-bin, libc6) to 2.36-9+deb12u4 — fixes 4 vulnerabilities, 2 known exploited"
    );
    assert!(out.images[1].scan.vulnerabilities.is_empty(), "the debian image was not changed");
    let table = render_table(&out);
    assert!(
        table.contains(
            "image 127.0.0.1:5000/muster-test/web:1.0 [32baa6c81148] (debian 12; docker, podman), containers: api, \
             batch, web: 8 vulnerabilities in 111 packages\n  [critical] Upgrade glibc (libc-bin, libc6) to \
             2.36-9+deb12u4"
        ),
        "{table}"
    );
}

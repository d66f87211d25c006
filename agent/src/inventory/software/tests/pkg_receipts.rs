//! macOS installer receipts over a root whose `/var/db/receipts` holds real receipts Installer and Software Update
//! wrote, binary and XML (agent/testdata/macos/receipts-root/, see the testdata README).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use muster_shared::v1::{ErrorKind, PackageKind, PackageSource};

fn receipts_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/macos/receipts-root")
}

fn at(text: &str) -> Option<DateTime<Utc>> {
    Some(text.parse().unwrap())
}

/// Four receipts as `pkgutil --pkgs` would list them: Apple's MRT data by Software Update, and Zoom, R and the
/// Wazuh agent by Installer; Zoom's and R's are binary property lists, the other two XML.
#[test]
fn receipts_of_a_mac() {
    let (software, errors) = super::read_root(&receipts_root());
    let unexpected: Vec<_> = errors.as_slice().iter().filter(|e| e.item != "package databases").collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let rows: Vec<_> = software
        .packages
        .iter()
        .map(|p| (p.kind, p.name.as_str(), p.version.as_str(), p.installed_at, p.path.as_deref().unwrap()))
        .collect();
    let pkg = PackageKind::MacosPkg;
    assert_eq!(
        rows,
        [
            (
                pkg,
                "com.apple.pkg.MRTConfigData_10_15.16U4211",
                "1.93.1.1657754914",
                at("2023-07-13T02:16:17Z"),
                "/var/db/receipts/com.apple.pkg.MRTConfigData_10_15.16U4211.plist"
            ),
            (
                pkg,
                "com.wazuh.pkg.wazuh-agent",
                "4.10.1",
                at("2024-11-07T08:58:38Z"),
                "/var/db/receipts/com.wazuh.pkg.wazuh-agent.plist"
            ),
            (
                pkg,
                "org.R-project.x86_64.R.GUI.pkg",
                "1.81",
                at("2024-11-13T10:59:10Z"),
                "/var/db/receipts/org.R-project.x86_64.R.GUI.pkg.plist"
            ),
            (
                pkg,
                "us.zoom.pkg.videomeeting",
                "6.2.6.41824",
                at("2024-11-08T11:44:04Z"),
                "/var/db/receipts/us.zoom.pkg.videomeeting.plist"
            ),
        ]
    );
    let source = PackageSource {
        kind: pkg,
        path: "/var/db/receipts".into(),
        format: "pkg-receipts".into(),
        packages: 4,
        complete: true,
    };
    assert_eq!(software.sources, [source]);
}

/// A receipt cut short is a parse error naming it, and the listing is incomplete; the other receipts are still
/// listed, and the bill of materials beside each receipt is not read as one. Apple's system receipts directory is
/// a source of its own (here holding the MRT data's receipt).
#[test]
fn a_damaged_receipt_is_reported_and_the_others_listed() {
    let dir = tempfile::tempdir().unwrap();
    let receipts = dir.path().join("var/db/receipts");
    std::fs::create_dir_all(&receipts).unwrap();
    let real = receipts_root().join("var/db/receipts");
    let zoom = std::fs::read(real.join("us.zoom.pkg.videomeeting.plist")).unwrap();
    std::fs::write(receipts.join("us.zoom.pkg.videomeeting.plist"), &zoom[..zoom.len() / 2]).unwrap();
    std::fs::copy(real.join("com.wazuh.pkg.wazuh-agent.plist"), receipts.join("com.wazuh.pkg.wazuh-agent.plist"))
        .unwrap();
    std::fs::write(receipts.join("com.wazuh.pkg.wazuh-agent.bom"), b"BOMStore").unwrap();
    let apple = dir.path().join("Library/Apple/System/Library/Receipts");
    std::fs::create_dir_all(&apple).unwrap();
    let mrt = "com.apple.pkg.MRTConfigData_10_15.16U4211.plist";
    std::fs::copy(real.join(mrt), apple.join(mrt)).unwrap();

    let (software, errors) = super::read_root(dir.path());
    let names: Vec<_> = software.packages.iter().map(|p| (p.name.as_str(), p.path.as_deref().unwrap())).collect();
    assert_eq!(
        names,
        [
            (
                "com.apple.pkg.MRTConfigData_10_15.16U4211",
                "/Library/Apple/System/Library/Receipts/com.apple.pkg.MRTConfigData_10_15.16U4211.plist"
            ),
            ("com.wazuh.pkg.wazuh-agent", "/var/db/receipts/com.wazuh.pkg.wazuh-agent.plist"),
        ]
    );
    let sources: Vec<_> = software.sources.iter().map(|s| (s.path.as_str(), s.packages, s.complete)).collect();
    assert_eq!(sources, [("/var/db/receipts", 1, false), ("/Library/Apple/System/Library/Receipts", 1, true)]);
    let problems: Vec<_> = errors.as_slice().iter().filter(|e| e.item == "/var/db/receipts").collect();
    assert_eq!(problems.len(), 1, "{:?}", errors.as_slice());
    assert_eq!(problems[0].kind, ErrorKind::Parse);
    assert!(
        problems[0]
            .message
            .starts_with("corrupt: /var/db/receipts/us.zoom.pkg.videomeeting.plist: not an installer receipt"),
        "{}",
        problems[0].message
    );
}

//! Homebrew kegs over a root whose Cellars hold real receipts Homebrew wrote on four Macs, 2020 to 2025
//! (agent/testdata/homebrew/, see the testdata README).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use muster_shared::v1::{ErrorKind, PackageKind, PackageSource};

use crate::inventory::software::homebrew::{Receipt, parse_receipt};

fn homebrew(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/homebrew").join(rel)
}

fn at(text: &str) -> Option<DateTime<Utc>> {
    Some(text.parse().unwrap())
}

const WARDEN: &str = "/opt/homebrew/Cellar/warden/0.15.0/INSTALL_RECEIPT.json";
const CMAKE: &str = "/opt/homebrew/Cellar/cmake/3.28.2/INSTALL_RECEIPT.json";
const MINGW: &str = "/usr/local/Cellar/mingw-w64/10.0.0/INSTALL_RECEIPT.json";
const SWIFTLINT: &str = "/usr/local/Cellar/swiftlint/0.39.2/INSTALL_RECEIPT.json";

/// Each receipt generation read: Homebrew 2.2 (no `arch` yet, one line), 3.4, 4.2 and 4.6 (a third-party tap).
#[test]
fn receipts_of_real_kegs() {
    let receipt = |at_: &str, arch: Option<&str>, tap: &str| Receipt {
        installed_at: at(at_),
        arch: arch.map(str::to_owned),
        tap: Some(tap.to_owned()),
    };
    let cases = [
        (WARDEN, receipt("2025-08-09T09:28:48Z", Some("arm64"), "wardenenv/warden")),
        (CMAKE, receipt("2024-02-06T20:03:07Z", Some("arm64"), "homebrew/core")),
        (MINGW, receipt("2022-04-16T00:09:59Z", Some("x86_64"), "homebrew/core")),
        (SWIFTLINT, receipt("2020-07-20T05:29:10Z", None, "homebrew/core")),
    ];
    for (path, expected) in cases {
        let data = std::fs::read(homebrew(&format!("root{path}"))).unwrap();
        assert_eq!(parse_receipt(&data), Ok(expected), "{path}");
    }
}

#[test]
fn kegs_of_a_root() {
    let (software, errors) = super::read_root(&homebrew("root"));
    let unexpected: Vec<_> = errors.as_slice().iter().filter(|e| e.item != "package databases").collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let rows: Vec<_> = software
        .packages
        .iter()
        .map(|p| {
            let path = p.path.as_deref().unwrap();
            (
                p.kind,
                p.name.as_str(),
                p.version.as_str(),
                p.arch.as_deref(),
                p.publisher.as_deref(),
                p.installed_at,
                path,
            )
        })
        .collect();
    let core = Some("homebrew/core");
    assert_eq!(
        rows,
        [
            (PackageKind::Homebrew, "cmake", "3.28.2", Some("arm64"), core, at("2024-02-06T20:03:07Z"), CMAKE),
            (PackageKind::Homebrew, "mingw-w64", "10.0.0", Some("x86_64"), core, at("2022-04-16T00:09:59Z"), MINGW),
            (PackageKind::Homebrew, "swiftlint", "0.39.2", None, core, at("2020-07-20T05:29:10Z"), SWIFTLINT),
            (
                PackageKind::Homebrew,
                "warden",
                "0.15.0",
                Some("arm64"),
                Some("wardenenv/warden"),
                at("2025-08-09T09:28:48Z"),
                WARDEN
            ),
        ]
    );
    let source = |path: &str, packages| PackageSource {
        kind: PackageKind::Homebrew,
        path: path.into(),
        format: "homebrew-cellar".into(),
        packages,
        complete: true,
    };
    assert_eq!(software.sources, [source("/opt/homebrew/Cellar", 2), source("/usr/local/Cellar", 2)]);
}

/// A keg whose receipt is cut short, or that has none, is still installed (Homebrew lists both): it is listed by its
/// directories, and the damaged receipt makes the Cellar's listing incomplete with a parse error naming it.
#[test]
fn a_keg_with_a_damaged_or_missing_receipt_is_still_listed() {
    let dir = tempfile::tempdir().unwrap();
    let cellar = dir.path().join("home/linuxbrew/.linuxbrew/Cellar");
    let warden = std::fs::read(homebrew(&format!("root{WARDEN}"))).unwrap();
    std::fs::create_dir_all(cellar.join("warden/0.15.0")).unwrap();
    std::fs::write(cellar.join("warden/0.15.0/INSTALL_RECEIPT.json"), &warden[..400]).unwrap();
    std::fs::create_dir_all(cellar.join("cmake/3.28.2")).unwrap();
    // Finder's litter beside the formulae is not a formula.
    std::fs::write(cellar.join(".DS_Store"), b"").unwrap();

    let (software, errors) = super::read_root(dir.path());
    let rows: Vec<_> = software
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.installed_at, p.path.as_deref().unwrap()))
        .collect();
    let linuxbrew = "/home/linuxbrew/.linuxbrew/Cellar";
    assert_eq!(
        rows,
        [
            ("cmake", "3.28.2", None, format!("{linuxbrew}/cmake/3.28.2").as_str()),
            ("warden", "0.15.0", None, format!("{linuxbrew}/warden/0.15.0").as_str()),
        ]
    );
    assert_eq!(software.sources.len(), 1);
    assert!(!software.sources[0].complete);
    let brew: Vec<_> = errors.as_slice().iter().filter(|e| e.item == linuxbrew).collect();
    assert_eq!(brew.len(), 1, "{:?}", errors.as_slice());
    assert_eq!(brew[0].kind, ErrorKind::Parse);
    assert!(
        brew[0].message.starts_with(&format!(
            "corrupt: {linuxbrew}/warden/0.15.0/INSTALL_RECEIPT.json: not a Homebrew receipt: EOF"
        )),
        "{}",
        brew[0].message
    );
}

/// A receipt someone replaced with a FIFO is refused at once (opening one for reading would wait for a writer forever)
/// and its keg is still listed; a Cellar that is not a directory is a source that failed, not silence.
#[cfg(target_os = "linux")]
#[test]
fn a_fifo_receipt_or_a_cellar_that_is_a_file_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let keg = dir.path().join("opt/homebrew/Cellar/warden/0.15.0");
    std::fs::create_dir_all(&keg).unwrap();
    let fifo = keg.join("INSTALL_RECEIPT.json");
    let mode = rustix::fs::Mode::from_raw_mode(0o644);
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, mode, 0).unwrap();
    std::fs::create_dir_all(dir.path().join("usr/local")).unwrap();
    std::fs::write(dir.path().join("usr/local/Cellar"), b"").unwrap();

    let (software, errors) = super::read_root(dir.path());
    let names: Vec<_> = software.packages.iter().map(|p| (p.name.as_str(), p.path.as_deref())).collect();
    assert_eq!(names, [("warden", Some("/opt/homebrew/Cellar/warden/0.15.0"))]);
    let brew: Vec<_> = errors.as_slice().iter().filter(|e| e.item.ends_with("Cellar")).collect();
    assert_eq!(brew.len(), 2, "{:?}", errors.as_slice());
    assert_eq!(brew[0].item, "/opt/homebrew/Cellar");
    assert_eq!(brew[0].kind, ErrorKind::Parse);
    assert_eq!(brew[0].message, "corrupt: /opt/homebrew/Cellar/warden/0.15.0/INSTALL_RECEIPT.json: not a regular file");
    assert_eq!(brew[1].item, "/usr/local/Cellar");
    assert_eq!(brew[1].kind, ErrorKind::Io);
    let sources: Vec<_> = software.sources.iter().map(|s| (s.path.as_str(), s.packages, s.complete)).collect();
    assert_eq!(sources, [("/opt/homebrew/Cellar", 1, false), ("/usr/local/Cellar", 0, false)]);
}

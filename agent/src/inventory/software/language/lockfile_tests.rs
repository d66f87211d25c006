//! The npm lockfile reader on real lockfiles (agent/testdata/lang/lockfiles/, see the README there) and the scan
//! of a project directory with and without an installed `node_modules`.

use std::path::PathBuf;

use muster_shared::v1::PackageKind;

use super::{LanguageScan, parse_package_lock};
use crate::inventory::software::{add_other_packages, collect};
use crate::root::{ErrorLog, SystemRoot};

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/lang/lockfiles").join(rel)
}

fn pairs(rel: &str) -> Vec<(String, String)> {
    let file = std::fs::File::open(testdata(rel)).unwrap();
    parse_package_lock(file).unwrap().into_iter().map(|p| (p.name, p.version)).collect()
}

fn pair(name: &str, version: &str) -> (String, String) {
    (name.to_string(), version.to_string())
}

#[test]
fn a_version_1_lockfile_nests_its_dependencies() {
    // Go 1.19's pprof d3flamegraph: 16 runtime packages (webpack and the rest are dev), d3-time twice.
    let found = pairs("go-pprof-d3flamegraph/package-lock.json");
    assert_eq!(found.len(), 16);
    assert_eq!(found[..2], [pair("d3-array", "3.1.1"), pair("d3-color", "1.4.1")]);
    assert!(found.contains(&pair("d3-time", "1.1.0")) && found.contains(&pair("d3-time", "3.0.0")));
    assert!(!found.iter().any(|(name, _)| name == "webpack"), "a dev dependency");
}

#[test]
fn a_version_3_lockfile_lists_installed_paths() {
    // rustc-perf's site frontend: 264 runtime paths, 259 distinct packages.
    let found = pairs("rustc-perf-frontend/package-lock.json");
    assert_eq!(found.len(), 259);
    assert_eq!(found.first(), Some(&pair("@babel/code-frame", "7.24.2")));
    assert_eq!(found.last(), Some(&pair("weak-lru-cache", "1.2.2")));
    assert!(parse_package_lock(&b"{\"name\": \"x\"}"[..]).is_err());
    let text = std::fs::read(testdata("rustc-perf-frontend/package-lock.json")).unwrap();
    assert!(parse_package_lock(&text[..text.len() / 2]).unwrap_err().starts_with("not JSON"));
}

#[test]
fn a_project_lockfile_is_read_only_without_node_modules() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("srv/web");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::copy(testdata("go-pprof-d3flamegraph/package-lock.json"), project.join("package-lock.json")).unwrap();
    let scan = |errors: &mut ErrorLog| {
        let root = SystemRoot::mounted(dir.path());
        let mut software = collect(&root, errors);
        let paths = LanguageScan { paths: vec!["/srv".to_string()], ..LanguageScan::default() };
        add_other_packages(&root, &paths, &mut software, errors);
        software
    };
    let mut errors = ErrorLog::new();
    let software = scan(&mut errors);
    assert_eq!(software.packages.len(), 16);
    assert!(software.packages.iter().all(|p| p.kind == PackageKind::Npm
        && p.path.as_deref() == Some("/srv/web/package-lock.json")
        && p.owner.is_none()));
    let source = software.sources.iter().find(|s| s.format == "npm-package-lock").unwrap();
    assert_eq!((source.path.as_str(), source.packages, source.complete), ("/srv", 16, true));

    // Installed: the node_modules beside it is what is there (empty here), and the lockfile is not read.
    std::fs::create_dir(project.join("node_modules")).unwrap();
    assert_eq!(scan(&mut errors).packages.len(), 0);

    // Over the limit: reported, never complete.
    std::fs::remove_dir(project.join("node_modules")).unwrap();
    let root = SystemRoot::mounted(dir.path());
    let mut software = collect(&root, &mut errors);
    let small = LanguageScan { paths: vec!["/srv".to_string()], max_file_bytes: 1024, ..LanguageScan::default() };
    let mut errors = ErrorLog::new();
    add_other_packages(&root, &small, &mut software, &mut errors);
    let source = software.sources.iter().find(|s| s.format == "npm-package-lock").unwrap();
    assert!(!source.complete);
    assert!(errors.as_slice().iter().any(|e| e.message.contains("lockfile of 45898 bytes is over the limit of 16384")));
}

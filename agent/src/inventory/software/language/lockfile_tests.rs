//! The npm, Yarn and pnpm lockfile readers on real lockfiles (agent/testdata/lang/lockfiles/, see the testdata
//! README) and the scan of a project directory with and without an installed `node_modules`.

use std::path::PathBuf;

use muster_shared::v1::PackageKind;

use super::{LanguageScan, Manifest, parse_package_lock, parse_pnpm_lock, parse_yarn_lock};
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

/// `expected*.txt` beside a lockfile: the `name@version` of every package the tool itself installed from it (see
/// the testdata README).
fn expected(rel: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(testdata(rel)).unwrap();
    let mut out: Vec<(String, String)> = text
        .lines()
        .map(|line| {
            let at = line[1..].find('@').unwrap() + 1;
            pair(&line[..at], &line[at + 1..])
        })
        .collect();
    out.sort();
    out
}

fn yarn(dir: &str, with_manifest: bool) -> Vec<(String, String)> {
    let lock = std::fs::read(testdata(&format!("{dir}/yarn.lock"))).unwrap();
    let manifest = Manifest::parse(&std::fs::read(testdata(&format!("{dir}/package.json"))).unwrap()).unwrap();
    let parsed = parse_yarn_lock(&lock, with_manifest.then_some(&manifest)).unwrap();
    parsed.into_iter().map(|p| (p.name, p.version)).collect()
}

fn pnpm(dir: &str) -> Vec<(String, String)> {
    let lock = std::fs::read(testdata(&format!("{dir}/pnpm-lock.yaml"))).unwrap();
    parse_pnpm_lock(&lock).unwrap().into_iter().map(|p| (p.name, p.version)).collect()
}

#[test]
fn yarn_lockfiles_list_what_a_production_install_installs() {
    // The same project locked by Yarn 1.22.22 and Yarn 4.18.1: 66 packages without mocha's tree, as each Yarn
    // installed them with --production.
    for dir in ["yarn-classic", "yarn-berry"] {
        let found = yarn(dir, true);
        assert_eq!(found, expected(&format!("{dir}/expected.txt")), "{dir}");
        assert_eq!(found.len(), 66);
        assert!(found.contains(&pair("@sindresorhus/is", "4.6.0")) && found.contains(&pair("debug", "2.6.9")));
        assert!(!found.iter().any(|(name, _)| name == "mocha" || name == "chokidar"), "{dir}: a dev dependency");
    }
    // Berry's builtin compatibility patch of resolve counts as the resolve it patches, once.
    assert_eq!(yarn("yarn-berry", true).iter().filter(|(name, _)| name == "resolve").count(), 1);
}

#[test]
fn a_yarn_lockfile_without_its_package_json_lists_every_package() {
    // Yarn 1's full install (dev dependencies too) installed every locked package but fsevents, which is for
    // macOS only and skipped on Linux.
    let mut all = expected("yarn-classic/expected-all.txt");
    all.push(pair("fsevents", "2.3.3"));
    all.sort();
    assert_eq!(yarn("yarn-classic", false), all);
    assert_eq!(all.len(), 144);
    // Berry: the same, plus node-gyp's tree, which Yarn 4 adds to fsevents' dependencies; its patch entries and
    // its workspace are not packages.
    let berry = yarn("yarn-berry", false);
    assert!(berry.contains(&pair("mocha", "10.2.0")) && berry.contains(&pair("node-gyp", "13.1.0")));
    assert!(expected("yarn-berry/expected.txt").iter().all(|p| berry.contains(p)));
    assert!(!berry.iter().any(|(name, version)| name == "muster-lockfile-fixture" || version.contains(':')));
}

#[test]
fn pnpm_lockfiles_of_versions_5_6_and_9_list_runtime_packages() {
    // pnpm 7.33.7 (lockfile 5.4), 8.15.9 (6.0) and 9.15.9 (9.0) on one project: each lists the 66 packages that
    // `pnpm list --prod` showed after `pnpm install --prod` from it; react-dom's peer suffix is gone.
    for dir in ["pnpm-v5.4", "pnpm-v6.0", "pnpm-v9.0"] {
        let found = pnpm(dir);
        assert_eq!(found, expected(&format!("{dir}/expected.txt")), "{dir}");
        assert!(found.contains(&pair("react-dom", "18.2.0")), "{dir}");
        assert!(!found.iter().any(|(name, _)| name == "mocha"), "{dir}: a dev dependency");
    }
}

#[test]
fn broken_yarn_and_pnpm_lockfiles_are_errors() {
    let classic = std::fs::read(testdata("yarn-classic/yarn.lock")).unwrap();
    let berry = std::fs::read(testdata("yarn-berry/yarn.lock")).unwrap();
    let v9 = std::fs::read(testdata("pnpm-v9.0/pnpm-lock.yaml")).unwrap();
    let npm = std::fs::read(testdata("rustc-perf-frontend/package-lock.json")).unwrap();
    assert!(parse_yarn_lock(&npm, None).unwrap_err().starts_with("neither a yarn lockfile v1"));
    assert!(parse_pnpm_lock(&classic).unwrap_err().starts_with("not a pnpm lockfile"));
    assert!(parse_pnpm_lock(&berry).unwrap_err().starts_with("no lockfileVersion"));
    // Cut inside a quoted key: YAML that does not parse, and a Yarn 1 key without its closing quote.
    let cut = |text: &[u8], needle: &str| {
        let at = text.windows(needle.len()).position(|w| w == needle.as_bytes()).unwrap();
        text[..at + 3].to_vec()
    };
    assert!(parse_pnpm_lock(&cut(&v9, "'@sindresorhus/is@4.6.0':")).unwrap_err().starts_with("not a pnpm lockfile"));
    assert!(parse_yarn_lock(&cut(&berry, "\"@sindresorhus/is@npm"), None).unwrap_err().starts_with("not a yarn 2+"));
    assert_eq!(
        parse_yarn_lock(&cut(&classic, "\"@sindresorhus/is@"), None).unwrap_err(),
        "line 5: an entry's key does not end with ':'"
    );
    let mut unsupported = v9.clone();
    unsupported[18] = b'8';
    assert_eq!(parse_pnpm_lock(&unsupported).unwrap_err(), "unsupported lockfileVersion 8.0");
    let line_5 = cut(&classic, "\"@sindresorhus/is@").len() - 3;
    let conflict = [&classic[..line_5], b"<<<<<<< HEAD\n", &classic[line_5..]].concat();
    assert!(parse_yarn_lock(&conflict, None).unwrap_err().contains("merge conflict marker"));
}

#[test]
fn yarn_and_pnpm_lockfiles_are_scanned_like_npm_ones() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: &str| {
        let to = dir.path().join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(testdata(from), to).unwrap();
    };
    copy("yarn-classic/yarn.lock", "srv/shop/yarn.lock");
    copy("yarn-classic/package.json", "srv/shop/package.json");
    copy("pnpm-v6.0/pnpm-lock.yaml", "srv/api/pnpm-lock.yaml");
    // A project moved from Yarn to pnpm that kept both lockfiles: each package once, from pnpm-lock.yaml (read
    // first); its package.json is not valid JSON, which is reported, and yarn.lock then lists dev packages too.
    copy("pnpm-v9.0/pnpm-lock.yaml", "srv/moved/pnpm-lock.yaml");
    copy("yarn-berry/yarn.lock", "srv/moved/yarn.lock");
    std::fs::write(dir.path().join("srv/moved/package.json"), b"{\"dependencies\": ").unwrap();
    // Installed: not read.
    copy("yarn-berry/yarn.lock", "srv/installed/yarn.lock");
    std::fs::create_dir(dir.path().join("srv/installed/node_modules")).unwrap();

    let root = SystemRoot::mounted(dir.path());
    let mut errors = ErrorLog::new();
    let mut software = collect(&root, &mut errors);
    let paths = LanguageScan { paths: vec!["/srv".to_string()], ..LanguageScan::default() };
    add_other_packages(&root, &paths, &mut software, &mut errors);
    let from = |path: &str| {
        let mut found: Vec<(String, String)> = software
            .packages
            .iter()
            .filter(|p| p.kind == PackageKind::Npm && p.path.as_deref() == Some(path))
            .map(|p| pair(&p.name, &p.version))
            .collect();
        found.sort();
        found
    };
    assert_eq!(from("/srv/shop/yarn.lock"), expected("yarn-classic/expected.txt"));
    assert_eq!(from("/srv/api/pnpm-lock.yaml"), expected("pnpm-v6.0/expected.txt"));
    assert_eq!(from("/srv/moved/pnpm-lock.yaml"), expected("pnpm-v9.0/expected.txt"));
    let moved = from("/srv/moved/yarn.lock");
    assert!(
        moved.contains(&pair("mocha", "10.2.0"))
            && !moved.iter().any(|p| from("/srv/moved/pnpm-lock.yaml").contains(p))
    );
    assert!(software.packages.iter().all(|p| !p.path.as_deref().unwrap_or_default().starts_with("/srv/installed")));
    let source = |format: &str| software.sources.iter().find(|s| s.format == format).unwrap();
    assert_eq!((source("pnpm-lock").packages, source("pnpm-lock").complete), (132, true));
    assert_eq!((source("yarn-lock").packages, source("yarn-lock").complete), (66 + moved.len() as u32, false));
    assert!(errors.as_slice().iter().any(|e| e.message.contains("/srv/moved/package.json: not a package.json")));

    // Over the limit (4 KiB here for a lockfile read whole): an error, not the first part of the list.
    let small = LanguageScan { paths: vec!["/srv/api".to_string()], max_file_bytes: 1024, ..LanguageScan::default() };
    let mut software = collect(&root, &mut errors);
    let mut errors = ErrorLog::new();
    add_other_packages(&root, &small, &mut software, &mut errors);
    assert!(software.packages.is_empty());
    assert!(!software.sources.iter().find(|s| s.format == "pnpm-lock").unwrap().complete);
    assert!(errors.as_slice().iter().any(|e| e.message.contains("lockfile of 32977 bytes is over the limit of 4096")));
}

/// A project pnpm 9.15.9 installed (`pnpm install --prod`, agent/testdata/lang/pnpm-installed, package.json files and
/// links kept): every package of its virtual store once, transitive ones included, the links into it not again; the
/// list is what `pnpm list --prod --depth Infinity` printed, the same 66 as the lockfiles' expected list.
#[test]
fn a_pnpm_installed_project_lists_its_virtual_store_once() {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/lang");
    let root = SystemRoot::mounted(&base);
    let mut errors = ErrorLog::new();
    let mut software = collect(&root, &mut errors);
    let paths = LanguageScan { paths: vec!["/pnpm-installed".to_string()], ..LanguageScan::default() };
    add_other_packages(&root, &paths, &mut software, &mut errors);
    let npm: Vec<&muster_shared::v1::Package> =
        software.packages.iter().filter(|p| p.kind == PackageKind::Npm).collect();
    let mut found: Vec<String> = npm.iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
    found.sort();
    let expected = std::fs::read_to_string(testdata("pnpm-v9.0/expected.txt")).unwrap();
    let expected: Vec<&str> = expected.lines().collect();
    assert_eq!(found, expected);
    assert_eq!(found.len(), 66);
    let express = npm.iter().find(|p| p.name == "express").unwrap();
    assert_eq!(
        express.path.as_deref(),
        Some("/pnpm-installed/node_modules/.pnpm/express@4.17.1/node_modules/express/package.json")
    );
    assert!(!npm.iter().any(|p| p.path.as_deref().is_some_and(|path| path.ends_with("pnpm-lock.yaml"))));
}

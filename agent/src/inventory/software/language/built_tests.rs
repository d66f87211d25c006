//! The readers of packages built into files (Go build information, `cargo auditable` lists) on real binaries, and
//! the scan over a root holding them (agent/testdata/lang/built/ and sections/, see the README there).

use std::path::PathBuf;

use muster_shared::v1::{ErrorKind, PackageKind, PackageSource};

use super::{Embedded, LanguageScan, Parsed, embedded, parse_cargo_auditable, parse_go_buildinfo};
use crate::inventory::software::{add_other_packages, collect};
use crate::root::{ErrorLog, SystemRoot};

const BUILT: &str = "lang/built";
const GO_FIXTURE: &str = "lang/built/usr/local/bin/muster-go-fixture";
const CARGO_FIXTURE: &str = "lang/built/usr/local/bin/muster-cargo-fixture";
const MAX: u64 = 1 << 20;

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn parsed(list: &[(&str, &str)]) -> Vec<Parsed> {
    list.iter().map(|(name, version)| Parsed { name: name.to_string(), version: version.to_string() }).collect()
}

#[test]
fn go_build_information_with_a_replacement_and_a_directory_replacement() {
    let binary = read(GO_FIXTURE);
    let Ok(Some(Embedded::GoBuildInfo(section))) = embedded(&binary[..], MAX) else { panic!("no .go.buildinfo") };
    // `go version -m` prints: path example.com/musterfixture; mod example.com/musterfixture (devel); dep
    // example.com/greet v0.0.0-00010101000000-000000000000 => ./greet (devel); dep github.com/blang/semver/v4
    // v4.0.0; dep golang.org/x/mod v0.6.0 => golang.org/x/mod v0.7.0.
    assert_eq!(
        parse_go_buildinfo(&section),
        Ok(parsed(&[
            ("stdlib", "v1.19.8"),
            ("example.com/musterfixture", "(devel)"),
            ("example.com/greet", "(devel)"),
            ("github.com/blang/semver/v4", "v4.0.0"),
            ("golang.org/x/mod", "v0.7.0"),
        ]))
    );
}

#[test]
fn a_debian_go_binary_built_without_modules_names_the_standard_library_only() {
    let section = read("lang/sections/debian-12-gofmt.go.buildinfo");
    assert_eq!(parse_go_buildinfo(&section), Ok(parsed(&[("stdlib", "v1.19.8")])));
    assert_eq!(parse_go_buildinfo(&section[..40]), Err("Go version string cut short".to_string()));
    assert_eq!(parse_go_buildinfo(&section[..48]), Err("module information cut short".to_string()));
    assert!(parse_go_buildinfo(&read("lang/sections/muster-cargo-fixture.dep-v0")).is_err());
}

#[test]
fn cargo_auditable_lists_the_crates_io_crates() {
    let binary = read(CARGO_FIXTURE);
    let Ok(Some(Embedded::CargoAuditable(section))) = embedded(&binary[..], MAX) else { panic!("no .dep-v0") };
    assert_eq!(section, read("lang/sections/muster-cargo-fixture.dep-v0"));
    // The binary's own crate (source "local") is left out.
    assert_eq!(parse_cargo_auditable(&section, MAX), Ok(parsed(&[("adler2", "2.0.0"), ("itoa", "1.0.11")])));
    assert_eq!(parse_cargo_auditable(&section, 100), Err("dependency list over the limit of 100 bytes".to_string()));
    assert!(parse_cargo_auditable(&section[..40], MAX).is_err());
}

#[test]
fn elf_files_without_a_list_and_files_cut_short() {
    // The agent's own test binary is an ELF file with neither section.
    let own = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(embedded(&own[..], MAX), Ok(None));
    let binary = read(GO_FIXTURE);
    // Go writes the section headers near the start and their names after them; ld writes both at the end.
    assert_eq!(embedded(&binary[..4096], MAX), Err("ELF section names: Invalid ELF section name offset".into()));
    let cargo = read(CARGO_FIXTURE);
    assert_eq!(
        embedded(&cargo[..cargo.len() / 2], MAX),
        Err("ELF section headers: Invalid ELF section header offset/size/alignment".into())
    );
    assert_eq!(
        embedded(&read(CARGO_FIXTURE)[..], 16),
        Err(".dep-v0 section of 143 bytes is over the limit of 16".into())
    );
    assert_eq!(embedded(&b"#!/bin/sh\n\necho hello\n"[..], MAX), Err("not an ELF file".to_string()));
}

/// `(kind, name, version, path)` of a package.
type Row = (PackageKind, String, String, String);

fn scan(scan: &LanguageScan) -> (Vec<Row>, Vec<PackageSource>, ErrorLog) {
    let root = SystemRoot::mounted(testdata(BUILT));
    let mut errors = ErrorLog::new();
    let mut software = collect(&root, &mut errors);
    add_other_packages(&root, scan, &mut software, &mut errors);
    let rows = software
        .packages
        .iter()
        .map(|p| {
            assert_eq!(p.owner, None);
            (p.kind, p.name.clone(), p.version.clone(), p.path.clone().unwrap_or_default())
        })
        .collect();
    (rows, software.sources, errors)
}

#[test]
fn binaries_in_a_bin_directory_are_read_and_each_module_is_a_package() {
    let (rows, sources, errors) = scan(&LanguageScan::default());
    assert!(errors.as_slice().iter().all(|e| e.item == "package databases"), "{:?}", errors.as_slice());
    let go = "/usr/local/bin/muster-go-fixture";
    let cargo = "/usr/local/bin/muster-cargo-fixture";
    let row = |kind, name: &str, version: &str, path: &str| (kind, name.into(), version.into(), path.into());
    assert_eq!(
        rows,
        vec![
            row(PackageKind::Go, "example.com/greet", "(devel)", go),
            row(PackageKind::Go, "example.com/musterfixture", "(devel)", go),
            row(PackageKind::Go, "github.com/blang/semver/v4", "v4.0.0", go),
            row(PackageKind::Go, "golang.org/x/mod", "v0.7.0", go),
            row(PackageKind::Go, "stdlib", "v1.19.8", go),
            row(PackageKind::Cargo, "adler2", "2.0.0", cargo),
            row(PackageKind::Cargo, "itoa", "1.0.11", cargo),
        ]
    );
    let summary: Vec<_> = sources.iter().map(|s| (s.kind, s.format.as_str(), s.packages, s.complete)).collect();
    assert_eq!(summary, [(PackageKind::Cargo, "cargo-auditable", 2, true), (PackageKind::Go, "go-buildinfo", 5, true)]);
    assert!(sources.iter().all(|s| s.path == "/usr/local/bin"));

    // A configured directory holding the same binaries finds them in an executable's place; read once.
    let (again, _, _) = scan(&LanguageScan { paths: vec!["/usr".to_string()], ..LanguageScan::default() });
    assert_eq!(again, rows);

    // The second binary stops a scan allowed one file: its location is incomplete and says why.
    let (rows, sources, errors) = scan(&LanguageScan { max_files: 1, ..LanguageScan::default() });
    assert_eq!(rows.len(), 2, "the cargo binary, first in order");
    assert!(sources.iter().all(|s| !s.complete));
    assert!(errors.as_slice().iter().any(|e| e.kind == ErrorKind::Truncated && e.item == "/usr/local/bin"));
}

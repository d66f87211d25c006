//! The readers of packages built into files (Go build information, `cargo auditable` lists, Java archives) on real
//! binaries and JARs, and the scan over a root holding them (agent/testdata/lang/built/ and sections/, see the
//! README there).

use std::path::PathBuf;

use muster_shared::v1::{ErrorKind, PackageKind, PackageSource};

use super::{
    Artifact, Embedded, LanguageScan, Parsed, embedded, parse_cargo_auditable, parse_go_buildinfo, read_archive,
};
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

/// Go before 1.18 pointed to its strings: a module build by Debian 11's Go 1.15.15 (testdata/lang/go115), read as
/// `go version -m` printed it (expected.go-version-m.txt); its section is only the 32-byte header.
#[test]
fn go_build_information_of_go_1_15_is_followed_through_its_pointers() {
    use std::io::Read;
    let mut binary = Vec::new();
    let file = std::fs::File::open(testdata("lang/go115/muster-go115-fixture.xz")).unwrap();
    liblzma::read::XzDecoder::new(file).read_to_end(&mut binary).unwrap();
    let Ok(Some(Embedded::GoBuildInfo(section))) = embedded(&binary[..], MAX) else { panic!("no .go.buildinfo") };
    let printed = String::from_utf8(read("lang/go115/expected.go-version-m.txt")).unwrap();
    assert!(printed.starts_with("muster-go115-fixture: go1.15.15\n"), "{printed}");
    assert!(printed.contains("\tdep\texample.com/dep\tv1.2.3\n\t=>\t../dep\t"), "{printed}");
    assert_eq!(
        parse_go_buildinfo(&section),
        Ok(parsed(&[
            ("stdlib", "v1.15.15"),
            ("example.com/muster-go115-fixture", "(devel)"),
            ("example.com/dep", "(devel)"),
        ]))
    );
    // The pointers lead outside the file, or to a string longer than allowed: an error, not a guess.
    let header = binary.windows(14).position(|w| w == b"\xff Go buildinf:").unwrap();
    let mut moved = binary.clone();
    moved[header + 16..header + 24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(embedded(&moved[..], MAX), Err("the Go version string header is outside the file".to_string()));
    // 64 bytes hold the 32-byte section and the 9-byte version, not the module information.
    assert!(
        matches!(embedded(&binary[..], 64), Err(ref e) if e.starts_with("the module information string of ") && e.ends_with("bytes is over the limit of 64")),
        "{:?}",
        embedded(&binary[..], 64)
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
    // The agent's own test binary is an ELF file with neither section (on Linux).
    if cfg!(target_os = "linux") {
        let own = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(embedded(&own[..], MAX), Ok(None));
    }
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

/// `(kind, name, version, path, owner)` of a package.
type Row = (PackageKind, String, String, String, Option<String>);

fn row(kind: PackageKind, name: &str, version: &str, path: &str, owner: Option<&str>) -> Row {
    (kind, name.into(), version.into(), path.into(), owner.map(str::to_string))
}

fn scan(scan: &LanguageScan) -> (Vec<Row>, Vec<PackageSource>, ErrorLog) {
    let root = SystemRoot::mounted(testdata(BUILT));
    let mut errors = ErrorLog::new();
    let mut software = collect(&root, &mut errors);
    add_other_packages(&root, scan, &mut software, &mut errors);
    let rows = software
        .packages
        .iter()
        .map(|p| (p.kind, p.name.clone(), p.version.clone(), p.path.clone().unwrap_or_default(), p.owner.clone()))
        .collect();
    (rows, software.sources, errors)
}

#[test]
fn binaries_in_a_bin_directory_are_read_and_each_module_is_a_package() {
    let (rows, sources, errors) = scan(&LanguageScan::default());
    assert!(errors.as_slice().iter().all(|e| e.item == "package databases"), "{:?}", errors.as_slice());
    let rows: Vec<Row> = rows.into_iter().filter(|r| r.0 != PackageKind::Maven).collect();
    let go = "/usr/local/bin/muster-go-fixture";
    let cargo = "/usr/local/bin/muster-cargo-fixture";
    assert_eq!(
        rows,
        vec![
            row(PackageKind::Go, "example.com/greet", "(devel)", go, None),
            row(PackageKind::Go, "example.com/musterfixture", "(devel)", go, None),
            row(PackageKind::Go, "github.com/blang/semver/v4", "v4.0.0", go, None),
            row(PackageKind::Go, "golang.org/x/mod", "v0.7.0", go, None),
            row(PackageKind::Go, "stdlib", "v1.19.8", go, None),
            row(PackageKind::Cargo, "adler2", "2.0.0", cargo, None),
            row(PackageKind::Cargo, "itoa", "1.0.11", cargo, None),
        ]
    );
    let summary: Vec<_> =
        sources.iter().map(|s| (s.kind, s.path.as_str(), s.format.as_str(), s.packages, s.complete)).collect();
    assert_eq!(
        summary,
        [
            (PackageKind::Cargo, "/usr/local/bin", "cargo-auditable", 2, true),
            (PackageKind::Go, "/usr/local/bin", "go-buildinfo", 5, true),
            (PackageKind::Maven, "/usr/share/java", "java-archive", 2, true),
        ]
    );

    // A configured directory holding the same binaries finds them in an executable's place; read once.
    let (again, _, _) = scan(&LanguageScan { paths: vec!["/usr".to_string()], ..LanguageScan::default() });
    assert_eq!(again.into_iter().filter(|r| r.0 != PackageKind::Maven).collect::<Vec<_>>(), rows);

    // The second binary stops a scan allowed one file: its location is incomplete and says why.
    let (rows, sources, errors) = scan(&LanguageScan { max_files: 1, ..LanguageScan::default() });
    assert_eq!(rows.len(), 2, "the cargo binary, first in order");
    assert!(sources.iter().all(|s| !s.complete));
    assert!(errors.as_slice().iter().any(|e| e.kind == ErrorKind::Truncated && e.item == "/usr/local/bin"));
}

const JAVA: &str = "lang/built/usr/share/java";

fn artifacts(file: &str, max_nested: u64) -> Result<(Vec<Artifact>, Vec<String>), String> {
    let contents = read_archive(std::io::Cursor::new(read(file)), MAX, max_nested)?;
    Ok((contents.artifacts, contents.problems))
}

fn artifact(nested: Option<&str>, name: &str, version: &str) -> Artifact {
    Artifact { nested: nested.map(str::to_string), parsed: Parsed { name: name.into(), version: version.into() } }
}

#[test]
fn java_archives_name_their_maven_artifacts_or_else_their_manifest() {
    // Debian's slf4j-nop.jar carries META-INF/maven/org.slf4j/slf4j-nop/pom.properties.
    let slf4j = artifacts(&format!("{JAVA}/slf4j-nop.jar"), MAX);
    assert_eq!(slf4j, Ok((vec![artifact(None, "org.slf4j:slf4j-nop", "1.7.32")], vec![])));
    // atinject's has no pom.properties: Bundle-SymbolicName and Bundle-Version of its manifest.
    let atinject = artifacts(&format!("{JAVA}/atinject-jsr330-api-1.0.jar"), MAX);
    assert_eq!(atinject, Ok((vec![artifact(None, "javax.inject", "1.0.0")], vec![])));
    // gettext's libintl.jar states neither: nothing to report.
    assert_eq!(artifacts(&format!("{JAVA}/libintl-0.21.jar"), MAX), Ok((vec![], vec![])));
}

#[test]
fn a_war_lists_the_archives_nested_in_it_within_the_size_limit() {
    let war = "lang/built/srv/app/app.war";
    let (plexus, atinject) =
        ("WEB-INF/lib/plexus-component-annotations-2.1.1.jar", "WEB-INF/lib/atinject-jsr330-api-1.0.jar");
    assert_eq!(
        artifacts(war, MAX),
        Ok((
            vec![
                artifact(Some(atinject), "javax.inject", "1.0.0"),
                artifact(Some(plexus), "org.codehaus.plexus:plexus-component-annotations", "2.1.1"),
            ],
            vec![]
        ))
    );
    let (found, problems) = artifacts(war, 3500).unwrap();
    assert_eq!(found, [artifact(Some(atinject), "javax.inject", "1.0.0")]);
    assert_eq!(problems, [format!("{plexus}: nested archive of 4177 bytes is over the limit of 3500")]);
    let bytes = read(war);
    let cut = read_archive(std::io::Cursor::new(&bytes[..bytes.len() - 30]), MAX, MAX);
    assert!(cut.is_err_and(|e| e.starts_with("zip: ")));
}

#[test]
fn java_archives_in_the_system_and_configured_locations_with_their_owners() {
    let (rows, sources, errors) = scan(&LanguageScan { paths: vec!["/srv".to_string()], ..LanguageScan::default() });
    assert!(errors.as_slice().iter().all(|e| e.item == "package databases"), "{:?}", errors.as_slice());
    let maven: Vec<Row> = rows.into_iter().filter(|r| r.0 == PackageKind::Maven).collect();
    let war = "/srv/app/app.war!/WEB-INF/lib";
    assert_eq!(
        maven,
        vec![
            row(PackageKind::Maven, "javax.inject", "1.0.0", &format!("{war}/atinject-jsr330-api-1.0.jar"), None),
            row(PackageKind::Maven, "javax.inject", "1.0.0", "/usr/share/java/atinject-jsr330-api-1.0.jar", None),
            row(
                PackageKind::Maven,
                "org.codehaus.plexus:plexus-component-annotations",
                "2.1.1",
                &format!("{war}/plexus-component-annotations-2.1.1.jar"),
                None
            ),
            // The real file list of Debian's libslf4j-java names the JAR.
            row(
                PackageKind::Maven,
                "org.slf4j:slf4j-nop",
                "1.7.32",
                "/usr/share/java/slf4j-nop.jar",
                Some("libslf4j-java")
            ),
        ]
    );
    assert!(sources.iter().any(|s| s.path == "/srv" && s.format == "java-archive" && s.packages == 2 && s.complete));
}

#[test]
fn a_listeners_executable_gets_its_owner_in_the_same_pass() {
    use muster_shared::v1::{Listener, SocketProtocol};
    let root = SystemRoot::mounted(testdata(BUILT));
    let listener = |executable: &str| Listener {
        protocol: SocketProtocol::Tcp,
        address: "0.0.0.0".into(),
        port: 8080,
        process: Some("java".into()),
        executable: Some(executable.into()),
        owner: None,
    };
    // libslf4j-java's real file list claims the JAR; nothing claims the fixture binary.
    let mut listeners = vec![listener("/usr/share/java/slf4j-nop.jar"), listener("/usr/local/bin/muster-go-fixture")];
    let mut errors = ErrorLog::new();
    super::assign_owners(&root, &mut [], &mut listeners, &mut errors);
    let owners: Vec<_> = listeners.iter().map(|l| l.owner.as_deref()).collect();
    assert_eq!(owners, [Some("libslf4j-java"), None]);
}

#[cfg(unix)]
#[test]
fn a_binary_linked_into_a_bin_directory_is_read_once_under_the_first_link() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["opt/tool", "usr/local/bin", "usr/bin"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    std::fs::copy(testdata(GO_FIXTURE), dir.path().join("opt/tool/muster-go-fixture")).unwrap();
    // An absolute link (resolved inside the root, not on this machine) and a relative link to that link.
    std::os::unix::fs::symlink("/opt/tool/muster-go-fixture", dir.path().join("usr/local/bin/tool")).unwrap();
    std::os::unix::fs::symlink("../local/bin/tool", dir.path().join("usr/bin/tool-again")).unwrap();
    let root = SystemRoot::mounted(dir.path());
    let mut errors = ErrorLog::new();
    let mut software = collect(&root, &mut errors);
    add_other_packages(&root, &LanguageScan::default(), &mut software, &mut errors);
    let paths: Vec<&str> = software.packages.iter().filter_map(|p| p.path.as_deref()).collect();
    assert_eq!(paths, ["/usr/bin/tool-again"; 5], "/usr/bin is scanned before /usr/local/bin");
}

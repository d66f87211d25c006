//! dpkg status parsing against `dpkg-query -W` listings of the same files, and against this machine's dpkg.

use muster_shared::v1::PackageKind;

use super::{expected_rows, nva, read};
use crate::inventory::software::{DbError, DpkgFlavor, parse_dpkg_status};

const STATUS_FIXTURES: [(&str, &str); 4] = [
    ("dpkg/debian-12-python-image/var/lib/dpkg/status", "dpkg/debian-12-python-image/expected.dpkg-query.tsv"),
    ("dpkg/ubuntu-24.04-debootstrap/var/lib/dpkg/status", "dpkg/ubuntu-24.04-debootstrap/expected.dpkg-query.tsv"),
    ("dpkg/ubuntu-18.04-trivy/status", "dpkg/ubuntu-18.04-trivy/expected.dpkg-query.tsv"),
    ("dpkg/ubuntu-10.04-snyk/status", "dpkg/ubuntu-10.04-snyk/expected.dpkg-query.tsv"),
];

/// Package, version, arch, source name and source version: the columns `dpkg-query` was asked for.
type Row = (String, String, String, String, String);

fn parsed_rows(data: &[u8]) -> Vec<Row> {
    let listing = parse_dpkg_status(data, DpkgFlavor::Status);
    assert!(listing.is_complete(), "{:?}", listing.problems);
    let mut rows: Vec<Row> = listing
        .packages
        .iter()
        .map(|p| {
            assert_eq!(p.kind, PackageKind::Deb);
            (
                p.name.clone(),
                p.version.clone(),
                p.arch.clone().unwrap_or_default(),
                p.source_name.clone().unwrap_or_default(),
                p.source_version.clone().unwrap_or_default(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn expected(rel: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = expected_rows(rel)
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone(), r[4].clone(), r[5].clone()))
        .collect();
    rows.sort();
    rows
}

#[test]
fn status_files_match_dpkg_query() {
    for (status, listing) in STATUS_FIXTURES {
        let rows = parsed_rows(&read(status));
        assert_eq!(rows, expected(listing), "{status}");
    }
}

#[test]
fn config_files_packages_are_listed_like_dpkg_query_does() {
    // git was removed but its configuration kept (`rc`); dpkg-query -W still lists it.
    let rows = parsed_rows(&read("dpkg/ubuntu-18.04-trivy/status"));
    assert!(rows.iter().any(|r| r.0 == "git" && r.1 == "1:2.20.1-2+deb10u3"));
    assert_eq!(rows.len(), 91);
}

#[test]
fn sizes_are_kibibytes_and_sources_split_name_and_version() {
    let listing = parse_dpkg_status(&read("dpkg/debian-12-python-image/var/lib/dpkg/status"), DpkgFlavor::Status);
    let adduser = listing.packages.iter().find(|p| p.name == "adduser").unwrap();
    assert_eq!(adduser.size_bytes, Some(686 * 1024));
    assert_eq!(adduser.installed_at, None);
    let bsdutils = listing.packages.iter().find(|p| p.name == "bsdutils").unwrap();
    assert_eq!(bsdutils.version, "1:2.38.1-5+deb12u3");
    assert_eq!(bsdutils.source_name.as_deref(), Some("util-linux"));
    assert_eq!(bsdutils.source_version.as_deref(), Some("2.38.1-5+deb12u3"));
    assert_eq!(bsdutils.size_bytes, Some(355 * 1024));
}

#[test]
fn crlf_line_ends_read_the_same() {
    let data = read("dpkg/ubuntu-24.04-debootstrap/var/lib/dpkg/status");
    let crlf: Vec<u8> = data.iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect();
    assert_eq!(parsed_rows(&crlf), parsed_rows(&data));
}

#[test]
fn non_utf8_bytes_are_replaced_not_fatal() {
    let data = read("dpkg/ubuntu-24.04-debootstrap/var/lib/dpkg/status");
    let text = String::from_utf8(data.clone()).unwrap();
    // Latin-1 bytes in a description and in a version.
    let damaged = text
        .replacen("Description: ", "Description: caf\u{0}", 1)
        .replacen("Version: 2.7.14build2", "Version: 2.7.14build2\u{1}", 1)
        .into_bytes()
        .into_iter()
        .map(|b| match b {
            0 => 0xe9,
            1 => 0xff,
            b => b,
        })
        .collect::<Vec<u8>>();
    let listing = parse_dpkg_status(&damaged, DpkgFlavor::Status);
    assert!(listing.is_complete());
    assert_eq!(listing.packages.len(), 90);
    let apt = listing.packages.iter().find(|p| p.name == "apt").unwrap();
    assert_eq!(apt.version, "2.7.14build2\u{fffd}");
}

#[test]
fn a_status_file_cut_short_is_reported_incomplete() {
    let data = read("dpkg/debian-12-python-image/var/lib/dpkg/status");
    let full = parsed_rows(&data);
    for cut in [data.len() / 2, data.len() / 3 + 7, 10, 1] {
        let listing = parse_dpkg_status(&data[..cut], DpkgFlavor::Status);
        assert!(!listing.is_complete(), "cut at {cut}");
        assert!(listing.packages.len() < full.len());
        for p in &listing.packages {
            assert!(full.iter().any(|r| r.0 == p.name && r.1 == p.version), "{} {}", p.name, p.version);
        }
    }
}

#[test]
fn a_cut_that_drops_the_version_reports_the_stanza() {
    let data = read("dpkg/debian-12-python-image/var/lib/dpkg/status");
    let text = String::from_utf8(data).unwrap();
    // Cut right after a package's Status line, before its Version: a whole-line cut, undetectable by the last byte.
    let at = text.find("Package: bash\n").unwrap();
    let cut = at + text[at..].find("Status: install ok installed\n").unwrap() + "Status: install ok installed\n".len();
    let listing = parse_dpkg_status(&text.as_bytes()[..cut], DpkgFlavor::Status);
    assert!(matches!(listing.problems.as_slice(), [DbError::Corrupt(m)] if m.contains("without a version")));
    assert!(listing.packages.iter().all(|p| p.name != "bash"));
}

#[test]
fn flipped_bytes_never_panic() {
    let data = read("dpkg/ubuntu-18.04-trivy/status");
    for step in [97usize, 1009, 4099] {
        let mut damaged = data.clone();
        for i in (0..damaged.len()).step_by(step) {
            damaged[i] ^= 0x5a;
        }
        let listing = parse_dpkg_status(&damaged, DpkgFlavor::Status);
        assert!(!listing.is_complete(), "step {step}");
    }
}

#[test]
fn status_d_files_may_hold_several_stanzas_and_lack_status() {
    let listing = parse_dpkg_status(&read("dpkg/syft-status.d-multiple/status.d/multiple"), DpkgFlavor::StatusD);
    assert_eq!(
        nva(&listing.packages),
        vec![
            ("tzdata".into(), "2020a-0+deb10u1".into(), "all".into()),
            ("util-linux".into(), "2.33.1-0.1".into(), "amd64".into()),
        ]
    );
    let tzdata = &listing.packages[0];
    assert_eq!(tzdata.source_name.as_deref(), Some("tzdata-dev"));
    assert_eq!(tzdata.source_version.as_deref(), Some("2020a-0+deb10u1"));
    // The file also holds an empty `Package:` stanza and one without a version; both are reported.
    assert!(matches!(listing.problems.as_slice(), [DbError::Corrupt(m)] if m.starts_with("2 stanza(s)")));
}

#[test]
fn a_stanza_without_status_in_the_main_file_is_not_installed() {
    let listing = parse_dpkg_status(&read("dpkg/distroless-status.d/var/lib/dpkg/status.d/dash"), DpkgFlavor::Status);
    assert!(listing.packages.is_empty());
    assert!(listing.is_complete());
}

/// Our parse of this machine's status file must list exactly what this machine's dpkg-query lists.
#[test]
fn live_status_matches_dpkg_query_on_this_machine() {
    let Ok(output) = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Package}\\t${Version}\\t${Architecture}\\n"])
        .output()
    else {
        return; // not a dpkg system
    };
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut expected: Vec<(String, String, String)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    expected.sort();
    let data = std::fs::read("/var/lib/dpkg/status").unwrap();
    let listing = parse_dpkg_status(&data, DpkgFlavor::Status);
    assert!(listing.is_complete(), "{:?}", listing.problems);
    assert_eq!(nva(&listing.packages), expected);
    assert!(!expected.is_empty());
}

/// dpkg-query's status abbreviation (`ii`, `rc`, …) agrees with each package's `state`: only fully installed
/// packages have none, so vulnerability matching can skip removed packages whose configuration remains.
#[test]
fn package_state_follows_dpkg_query_status() {
    let mut removed_with_config = 0;
    for (status, expected) in STATUS_FIXTURES {
        let listing = parse_dpkg_status(&read(status), DpkgFlavor::Status);
        for fields in expected_rows(expected) {
            let (name, arch, abbrev) = (fields[0].as_str(), fields[2].as_str(), fields[3].trim_end());
            let package = listing
                .packages
                .iter()
                .find(|p| p.name == name && p.arch.as_deref().unwrap_or_default() == arch)
                .unwrap_or_else(|| panic!("{name}:{arch} missing"));
            let want = match abbrev {
                "ii" => None,
                "rc" => Some("config-files"),
                other => panic!("{name}: unexpected status abbreviation {other:?} in {expected}"),
            };
            assert_eq!(package.state.as_deref(), want, "{name} in {status}");
            assert_eq!(package.is_installed(), want.is_none());
            removed_with_config += usize::from(want.is_some());
        }
    }
    assert_eq!(removed_with_config, 1);
}

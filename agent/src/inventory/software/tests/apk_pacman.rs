//! apk and pacman database parsing against listings extracted independently (awk) from the same files.

use chrono::DateTime;
use muster_shared::v1::PackageKind;

use super::{expected_rows, read};
use crate::inventory::software::{DbError, parse_apk_installed, parse_pacman_desc};

const APK_FIXTURES: [(&str, &str); 3] = [
    ("apk/alpine-3.14.0-minirootfs/lib/apk/db/installed", "apk/alpine-3.14.0-minirootfs/expected.awk.tsv"),
    ("apk/alpine-3.16-syft/installed", "apk/alpine-3.16-syft/expected.awk.tsv"),
    ("apk/alpine-3.18-osv-scalibr/installed", "apk/alpine-3.18-osv-scalibr/expected.awk.tsv"),
];

#[test]
fn apk_installed_matches_its_stanzas() {
    for (db, expected) in APK_FIXTURES {
        let listing = parse_apk_installed(&read(db));
        assert!(listing.is_complete(), "{db}: {:?}", listing.problems);
        let got: Vec<Vec<String>> = listing
            .packages
            .iter()
            .map(|p| {
                assert_eq!(p.kind, PackageKind::Apk);
                assert_eq!(p.source_version.as_ref(), Some(&p.version));
                assert_eq!(p.installed_at, None);
                vec![
                    p.name.clone(),
                    p.version.clone(),
                    p.arch.clone().unwrap_or_default(),
                    p.source_name.clone().unwrap_or_default(),
                    p.size_bytes.map(|s| s.to_string()).unwrap_or_default(),
                ]
            })
            .collect();
        assert_eq!(got, expected_rows(expected), "{db}");
    }
}

#[test]
fn apk_subpackages_name_their_origin() {
    let listing = parse_apk_installed(&read("apk/alpine-3.16-syft/installed"));
    let data = listing.packages.iter().find(|p| p.name == "alpine-baselayout-data").unwrap();
    assert_eq!(data.source_name.as_deref(), Some("alpine-baselayout"));
    assert_eq!(data.size_bytes, Some(73728));
}

#[test]
fn a_cut_apk_database_is_incomplete() {
    let data = read("apk/alpine-3.14.0-minirootfs/lib/apk/db/installed");
    // Cutting only the final blank line loses nothing; cutting into the last line does.
    for cut in [data.len() / 2, data.len() - 3, 3] {
        let listing = parse_apk_installed(&data[..cut]);
        assert!(!listing.is_complete(), "cut at {cut}");
    }
    // A whole-line cut inside a stanza before its version: the stanza is reported, not guessed.
    let text = String::from_utf8(data).unwrap();
    let cut = text.find("P:busybox\n").unwrap() + "P:busybox\n".len();
    let listing = parse_apk_installed(&text.as_bytes()[..cut]);
    assert!(matches!(listing.problems.as_slice(), [DbError::Corrupt(_)]));
}

#[test]
fn pacman_desc_files_match_their_fields() {
    for row in expected_rows("pacman/expected.awk.tsv") {
        let package = parse_pacman_desc(&read(&format!("pacman/{}", row[0]))).unwrap();
        assert_eq!(package.kind, PackageKind::Pacman);
        assert_eq!(package.name, row[1]);
        assert_eq!(package.version, row[2]);
        assert_eq!(package.arch.as_deref(), Some(row[3].as_str()));
        assert_eq!(package.source_name.as_deref(), Some(row[4].as_str()));
        assert_eq!(package.source_version.as_deref(), Some(row[2].as_str()));
        assert_eq!(package.installed_at, DateTime::from_timestamp(row[5].parse().unwrap(), 0));
        assert_eq!(package.size_bytes, Some(row[6].parse().unwrap()));
    }
}

#[test]
fn a_cut_pacman_desc_is_an_error() {
    let data = read("pacman/osv-scalibr/desc");
    for cut in [data.len() / 2, data.len() - 1, 10, 0] {
        assert!(parse_pacman_desc(&data[..cut]).is_err(), "cut at {cut}");
    }
}

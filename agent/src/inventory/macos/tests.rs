//! The applications of two real Macs' `system_profiler -xml SPApplicationsDataType` (GLPI agent's samples 5 and 6,
//! testdata/README.md), checked against what the GLPI agent reads from the same files: every application it lists
//! is listed here with the same version, architecture and modification date and, where both name one, the same
//! publisher.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/macos/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// GLPI's names for `arch_kind`, mapped to ours.
fn glpi_arch(label: Option<&str>) -> Option<&'static str> {
    match label? {
        "Universal" => Some("universal"),
        "Arm" => Some("arm64"),
        "Intel (x86_64)" => Some("x86_64"),
        "Intel (i386)" => Some("i386"),
        _ => None,
    }
}

fn compare_with_glpi(sample: &str) -> usize {
    let packages = applications(&testdata(&format!("{sample}.SPApplicationsDataType.xml"))).unwrap();
    let expected: Vec<Value> =
        serde_json::from_slice(&testdata(&format!("{sample}.SPApplicationsDataType.expected.json"))).unwrap();
    assert!(packages.iter().all(|p| p.kind == PackageKind::Macos && p.path.is_some()));
    // GLPI keeps every bundle too, naming the second and later copies of a name `NAME_0`, `NAME_1`, … in the
    // document's order; the same names here line the two lists up one to one.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_name: BTreeMap<String, &Package> = BTreeMap::new();
    for p in &packages {
        let copies = seen.entry(p.name.as_str()).or_default();
        let glpi_name = if *copies == 0 { p.name.clone() } else { format!("{}_{}", p.name, *copies - 1) };
        *copies += 1;
        by_name.insert(glpi_name, p);
    }
    assert_eq!(by_name.len(), expected.len(), "{sample}");
    assert!(seen.values().any(|n| *n > 1), "{sample}: two copies of one application stay two");
    let mut signed = 0;
    let mut next_day = 0;
    for e in &expected {
        let name = e["NAME"].as_str().unwrap();
        let p = *by_name.get(name).unwrap_or_else(|| panic!("{sample}: {name} missing"));
        assert_eq!(p.version, e["VERSION"].as_str().unwrap_or_default(), "{sample}: {name}");
        assert_eq!(p.arch.as_deref(), glpi_arch(e["ARCH"].as_str()), "{sample}: {name}");
        // GLPI writes the day in the Mac's own time zone, here UTC; sample 6's Mac was ahead of UTC, so what
        // changed after 22:00 UTC is on the next day there (three bundles), and nowhere else do the days differ.
        let day = |t: chrono::DateTime<chrono::Utc>| t.format("%d/%m/%Y").to_string();
        let glpi = e["INSTALLDATE"].as_str();
        match p.installed_at {
            Some(t) if glpi != Some(day(t).as_str()) => {
                let late = sample == "sample6" && chrono::Timelike::hour(&t) >= 22;
                assert!(late && glpi == Some(day(t + chrono::TimeDelta::days(1)).as_str()), "{sample}: {name}: {t}");
                next_day += 1;
            }
            Some(_) => {}
            None => assert_eq!(glpi, None, "{sample}: {name}"),
        }
        // The publisher here is the signer's, as its certificate names it; GLPI's comes from its own table and the
        // copyright text, without the legal form ("Microsoft" for "Microsoft Corporation"), and leaves many of
        // Apple's own bundles without one. Where both name one they agree, up to that legal form, but for two
        // bundles where GLPI names someone else than the signer: Apple's STMUIHelper (GLPI: Seagate) and Zotero
        // (signed by the Corporation for Digital Scholarship; its copyright line says "Contributors").
        if let (Some(ours), Some(glpi)) = (&p.publisher, e["PUBLISHER"].as_str())
            && !matches!(name, "STMUIHelper" | "Zotero")
        {
            let legal_form = ours
                .strip_prefix(glpi)
                .is_some_and(|rest| matches!(rest, " Corporation" | " Corp." | ", Inc." | " Inc." | " Ltd."));
            assert!(ours == glpi || legal_form, "{sample}: {name}: {ours:?} against GLPI's {glpi:?}");
            signed += 1;
        }
    }
    assert!(next_day <= 3, "{sample}: {next_day}");
    signed
}

#[test]
fn applications_agree_with_the_glpi_agent_on_two_real_macs() {
    let signed5 = compare_with_glpi("sample5");
    let signed6 = compare_with_glpi("sample6");
    // Most bundles are signed (Apple's own and Developer ID ones): the publisher comparison is not vacuous.
    assert!(signed5 > 150 && signed6 > 150, "{signed5} {signed6}");
}

#[test]
fn one_application_reads_in_full() {
    let packages = applications(&testdata("sample5.SPApplicationsDataType.xml")).unwrap();
    let onedrive = packages.iter().find(|p| p.name == "OneDrive").unwrap();
    assert_eq!(onedrive.version, "24.065.0331");
    assert_eq!(onedrive.arch.as_deref(), Some("universal"));
    assert_eq!(onedrive.path.as_deref(), Some("/Applications/OneDrive.app"));
    assert_eq!(onedrive.publisher.as_deref(), Some("Microsoft Corporation"));
    assert_eq!(onedrive.installed_at.unwrap().to_rfc3339(), "2024-04-25T11:11:14+00:00");
}

#[test]
fn what_is_not_system_profilers_output_is_an_error() {
    assert!(applications(b"<html>").unwrap_err().contains("not a property list"));
    let other = br#"<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><array><dict><key>_dataType</key>
        <string>SPHardwareDataType</string><key>_items</key><array/></dict></array></plist>"#;
    assert!(applications(other).unwrap_err().contains("no SPApplicationsDataType"));
}

//! The registry interpretation on real regedit exports (agent/testdata/windows/registry, from glpi-agent's tests
//! and captured from Wine) and on the key layouts the live probe builds for each view and hive.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::regfile::{RegFileError, parse_reg_export};
use super::*;

fn export(name: &str) -> Vec<InstalledProgram> {
    let path = format!("{}/testdata/windows/registry/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    programs_from_export(&parse_reg_export(&bytes).unwrap())
}

fn by_key_name<'a>(programs: &'a [InstalledProgram], key_name: &str) -> &'a InstalledProgram {
    programs.iter().find(|p| p.key_name == key_name).unwrap()
}

#[test]
fn windows_10_russian_export_reads_like_glpi_agent() {
    // glpi-agent's t/tasks/inventory/windows/softwares.t expects the same two programs from this export.
    let programs = export("win10-ru-Uninstall.reg");
    assert_eq!(programs.len(), 2);
    let csp = by_key_name(&programs, "{50F91F80-D397-437C-B0C8-62128DE3B55E}");
    assert_eq!(
        csp,
        &InstalledProgram {
            name: "КриптоПро CSP".to_string(),
            version: Some("5.0.12000".to_string()),
            publisher: Some("Компания КриптоПро".to_string()),
            install_date: NaiveDate::from_ymd_opt(2021, 7, 24),
            hive: "HKEY_LOCAL_MACHINE".to_string(),
            view: RegistryView::Bits64,
            key: r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{50F91F80-D397-437C-B0C8-62128DE3B55E}".to_string(),
            key_name: "{50F91F80-D397-437C-B0C8-62128DE3B55E}".to_string(),
            msi: true,
            system_component: false,
            parent_key_name: None,
            estimated_size_kib: None,
        }
    );
    let onec = by_key_name(&programs, "1C Предприятие 7.7.27");
    assert_eq!((onec.name.as_str(), onec.version.as_deref()), ("1C Предприятие 7.7", Some("77.27")));
    assert_eq!((onec.publisher.as_deref(), onec.install_date, onec.msi), (None, None, false));
}

#[test]
fn sql_server_host_export_lists_every_displayed_program() {
    let programs = export("mssql-Uninstall.reg");
    let names: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Microsoft SQL Server 2005",
            "Microsoft SQL Server 2017",
            "Microsoft SQL Server 2008",
            "FusionInventory Agent 2.4.x-build-26 (x64 edition)",
            "Git version 2.12.2.2",
            "Strawberry Perl (64-bit)",
            "Mozilla Firefox 57.0.2 (fr)",
        ]
    );
    let git = by_key_name(&programs, "Git_is1");
    assert_eq!(git.install_date, NaiveDate::from_ymd_opt(2017, 5, 2));
    let sql = by_key_name(&programs, "Microsoft SQL Server 2017");
    assert_eq!((sql.version.as_deref(), sql.publisher.as_deref()), (Some("17.77.6700.34"), Some("Microsoft")));
}

#[test]
fn windows_xp_export_reads_every_program_with_a_display_name() {
    // 418 direct subkeys of Uninstall carry a non-empty DisplayName string (counted with a separate script when the
    // fixture was copied; deeper keys and keys without one are not programs).
    let programs = export("winxp-Uninstall.reg");
    assert_eq!(programs.len(), 418);
    assert!(programs.iter().all(|p| p.view == RegistryView::Bits64 && p.hive == "HKEY_LOCAL_MACHINE"));
    let shockwave = by_key_name(&programs, "Adobe Shockwave Player");
    assert_eq!(shockwave.name, "Adobe Shockwave Player 11");
}

#[test]
fn keys_say_which_view_and_hive_they_came_from() {
    let cases = [
        (
            r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\7-Zip",
            "HKEY_LOCAL_MACHINE",
            RegistryView::Bits64,
        ),
        (
            r"HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\7-Zip",
            "HKEY_LOCAL_MACHINE",
            RegistryView::Bits32,
        ),
        (
            r"HKEY_USERS\S-1-5-21-1-2-3-1001\Software\Microsoft\Windows\CurrentVersion\Uninstall\7-Zip",
            r"HKEY_USERS\S-1-5-21-1-2-3-1001",
            RegistryView::Bits64,
        ),
        (
            r"HKEY_USERS\S-1-5-21-1-2-3-1001\Software\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\7-Zip",
            r"HKEY_USERS\S-1-5-21-1-2-3-1001",
            RegistryView::Bits32,
        ),
        (
            r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Uninstall\7-Zip",
            "HKEY_CURRENT_USER",
            RegistryView::Bits64,
        ),
    ];
    for (path, hive, view) in cases {
        assert_eq!(classify_uninstall_key(path), Some((hive.to_string(), view, "7-Zip".to_string())), "{path}");
    }
    for not_an_entry in [
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\7-Zip\Sub",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run\7-Zip",
        r"HKEY_USERS\S-1-5-18",
    ] {
        assert_eq!(classify_uninstall_key(not_an_entry), None, "{not_an_entry}");
    }
}

#[test]
fn entries_without_a_display_name_or_with_a_bad_date_are_handled() {
    let path = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\KB123";
    let mut values = BTreeMap::from([("DisplayVersion".to_string(), RegValue::Sz("1.0".to_string()))]);
    assert_eq!(program_from_key(path, &values), None);
    values.insert("DisplayName".to_string(), RegValue::ExpandSz("Tool".to_string()));
    values.insert("InstallDate".to_string(), RegValue::Sz("2021-07-24".to_string()));
    values.insert("SystemComponent".to_string(), RegValue::Dword(1));
    let program = program_from_key(path, &values).unwrap();
    assert_eq!((program.name.as_str(), program.install_date, program.system_component), ("Tool", None, true));
    assert_eq!(parse_install_date("20210231"), None);
    assert_eq!(parse_install_date("20240229"), NaiveDate::from_ymd_opt(2024, 2, 29));
}

#[test]
fn reg_export_values_of_every_kind_decode() {
    let text = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\K]\r\n@=\"default\"\r\n\
        \"Quote\"=\"say \\\"hi\\\" C:\\\\x\"\r\n\"D\"=dword:0000001a\r\n\
        \"E\"=hex(2):41,00,\\\r\n  42,00,00,00\r\n\"M\"=hex(7):61,00,00,00,62,00,00,00,00,00\r\n\
        \"Q\"=hex(b):01,00,00,00,00,00,00,00\r\n\"Two\nlines\"=\"a\r\nb\"\r\n\"Gone\"=-\r\n";
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let keys = parse_reg_export(&bytes).unwrap();
    assert_eq!(keys.len(), 1);
    let values = &keys[0].values;
    assert_eq!(values[""], RegValue::Sz("default".to_string()));
    assert_eq!(values["Quote"], RegValue::Sz(r#"say "hi" C:\x"#.to_string()));
    assert_eq!(values["D"], RegValue::Dword(26));
    assert_eq!(values["E"], RegValue::ExpandSz("AB".to_string()));
    assert_eq!(values["M"], RegValue::MultiSz(vec!["a".to_string(), "b".to_string()]));
    assert_eq!(values["Q"], RegValue::Qword(1));
    assert_eq!(values["Two\nlines"], RegValue::Sz("a\nb".to_string()));
    assert!(!values.contains_key("Gone"));
}

#[test]
fn not_an_export_is_refused() {
    assert!(matches!(parse_reg_export(b"hello"), Err(RegFileError::NotAnExport(_))));
    assert_eq!(parse_reg_export(&[0xff, 0xfe, 0x41]), Err(RegFileError::OddLength));
    let before_key = "Windows Registry Editor Version 5.00\n\"A\"=\"b\"\n";
    assert!(matches!(parse_reg_export(before_key.as_bytes()), Err(RegFileError::Syntax { line: 2, .. })));
}

#[test]
fn current_version_export_from_wine_reads_as_windows_10() {
    // A `reg export` of Wine 8.0's CurrentVersion key with `winecfg -v win10` (no UBR, DisplayVersion or EditionID:
    // Wine does not write them).
    let path = format!("{}/testdata/windows/registry/wine-8.0-win10-CurrentVersion.reg", env!("CARGO_MANIFEST_DIR"));
    let keys = parse_reg_export(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(keys[0].path, r"HKEY_LOCAL_MACHINE\Software\Microsoft\Windows NT\CurrentVersion");
    let read = version::windows_version(&keys[0].values);
    assert_eq!(
        read,
        version::WindowsVersion {
            product_name: Some("Microsoft Windows 10".to_string()),
            edition_id: None,
            display_version: None,
            kernel_version: Some("10.0".to_string()),
            current_build: Some("18362".to_string()),
            ubr: None,
            install_date: chrono::DateTime::from_timestamp(0x4be5019a, 0),
        }
    );
    let os = version::os_from_version(&read);
    assert_eq!(os.id.as_deref(), Some("windows"));
    assert_eq!(os.version_id.as_deref(), Some("10.0.18362"));
    assert_eq!(os.pretty_name.as_deref(), Some("Microsoft Windows 10 (build 18362)"));
}

#[test]
fn windows_11_is_told_from_its_build_and_the_update_revision_kept() {
    let values = BTreeMap::from([
        ("ProductName".to_string(), RegValue::Sz("Windows 10 Pro".to_string())),
        ("EditionID".to_string(), RegValue::Sz("Professional".to_string())),
        ("DisplayVersion".to_string(), RegValue::Sz("23H2".to_string())),
        ("CurrentMajorVersionNumber".to_string(), RegValue::Dword(10)),
        ("CurrentMinorVersionNumber".to_string(), RegValue::Dword(0)),
        ("CurrentBuild".to_string(), RegValue::Sz("22631".to_string())),
        ("UBR".to_string(), RegValue::Dword(2861)),
    ]);
    let os = version::os_from_version(&version::windows_version(&values));
    assert_eq!(os.name.as_deref(), Some("Windows 11 Pro"));
    assert_eq!((os.version.as_deref(), os.build_id.as_deref()), (Some("23H2"), Some("22631.2861")));
    assert_eq!(os.version_id.as_deref(), Some("10.0.22631.2861"));
    assert_eq!(os.pretty_name.as_deref(), Some("Windows 11 Pro 23H2 (build 22631.2861)"));
}

fn reg_file(name: &str) -> Vec<regfile::RegKeyExport> {
    let path = format!("{}/testdata/windows/registry/{name}", env!("CARGO_MANIFEST_DIR"));
    parse_reg_export(&std::fs::read(path).unwrap()).unwrap()
}

fn listed(programs: &[InstalledProgram]) -> Vec<muster_shared::v1::Package> {
    programs.iter().filter_map(|p| packages::package_from_program(p, Some("x64"))).collect()
}

#[test]
fn uninstall_entries_become_windows_packages_with_their_key_and_product_code() {
    use muster_shared::v1::{Package, PackageKind};
    let packages = listed(&export("win10-ru-Uninstall.reg"));
    assert_eq!(packages.len(), 2);
    let csp = packages.iter().find(|p| p.name == "КриптоПро CSP").unwrap();
    assert_eq!(
        csp,
        &Package {
            kind: PackageKind::Windows,
            name: "КриптоПро CSP".to_string(),
            version: "5.0.12000".to_string(),
            arch: Some("x64".to_string()),
            source_name: Some("{50F91F80-D397-437C-B0C8-62128DE3B55E}".to_string()),
            source_version: None,
            installed_at: chrono::DateTime::from_timestamp(1_627_084_800, 0),
            size_bytes: None,
            state: None,
            path: Some(
                r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\{50F91F80-D397-437C-B0C8-62128DE3B55E}"
                    .to_string()
            ),
            owner: None,
            publisher: Some("Компания КриптоПро".to_string()),
            channel: None,
        }
    );
    // Not an MSI: no product code, whatever the key is called.
    let onec = packages.iter().find(|p| p.name == "1C Предприятие 7.7").unwrap();
    assert_eq!((onec.source_name.as_deref(), onec.publisher.as_deref()), (None, None));
}

#[test]
fn windows_xp_packages_are_the_programs_windows_lists() {
    // Of the 418 named entries, 57 are SystemComponent and 323 hotfixes naming a ParentKeyName (26 both); the 64
    // left are what "Add or Remove Programs" shows, 27 of them MSI products (counted with a separate script).
    let programs = export("winxp-Uninstall.reg");
    let packages = listed(&programs);
    assert_eq!(packages.len(), 64);
    assert_eq!(packages.iter().filter(|p| p.source_name.is_some()).count(), 27);
    let hotfix = by_key_name(&programs, "KB2079403");
    assert_eq!(hotfix.parent_key_name.as_deref(), Some("OperatingSystem"));
    assert!(hotfix.is_hidden() && by_key_name(&programs, "XpsEPSC").is_hidden());
    assert!(!packages.iter().any(|p| p.name.contains("KB2079403") || p.name.starts_with("XML Paper Specification")));
    let msxml = packages.iter().find(|p| p.name == "MSXML 6.0 Parser (KB933579)").unwrap();
    assert_eq!(msxml.source_name.as_deref(), Some("{0A869A65-8C94-4F7C-A5C7-972D3C8CED9E}"));
    assert_eq!((msxml.version.as_str(), msxml.size_bytes), ("6.10.1200.0", Some(0x53d * 1024)));
    assert_eq!(msxml.installed_at, chrono::DateTime::from_timestamp(1_207_785_600, 0));
}

#[test]
fn the_view_and_hive_decide_arch_and_path() {
    let values = BTreeMap::from([("DisplayName".to_string(), RegValue::Sz("7-Zip".to_string()))]);
    let cases = [
        (r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\7-Zip", Some("x64")),
        (r"HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\7-Zip", Some("x86")),
        (r"HKEY_USERS\S-1-5-21-1-2-3-1001\Software\Microsoft\Windows\CurrentVersion\Uninstall\7-Zip", None),
    ];
    for (key, arch) in cases {
        let program = program_from_key(key, &values).unwrap();
        let package = packages::package_from_program(&program, Some("x64")).unwrap();
        assert_eq!(package.arch.as_deref(), arch, "{key}");
        assert_eq!(package.path.as_deref(), Some(packages::short_key(key).as_str()));
        assert_eq!(package.version, "");
    }
    assert_eq!(packages::short_key(r"HKEY_USERS\S-1-5-21-1-2-3-1001\Software"), r"HKU\S-1-5-21-1-2-3-1001\Software");
    assert_eq!(packages::source(r"HKEY_LOCAL_MACHINE\SOFTWARE\X").path, r"HKLM\SOFTWARE\X");
    assert_eq!(
        packages::product_code("{0a869a65-8c94-4f7c-a5c7-972d3c8ced9e}").as_deref(),
        Some("{0A869A65-8C94-4F7C-A5C7-972D3C8CED9E}")
    );
    assert_eq!(packages::product_code("Git_is1"), None);
    assert_eq!(packages::product_code("{0A869A65-8C94-4F7C-A5C7-972D3C8CED9}"), None);
}

#[test]
fn pending_renames_from_wine_ask_for_a_restart() {
    // MoveFileEx(MOVEFILE_DELAY_UNTIL_REBOOT) under Wine 8.0: a rename replacing its target ("!" prefix) and a
    // deletion (empty destination).
    let keys = reg_file("wine-8.0-SessionManager-pending-renames.reg");
    assert_eq!(
        keys[0].values["PendingFileRenameOperations"],
        RegValue::MultiSz(vec![
            r"\??\C:\users\Public\muster-old.txt".to_string(),
            r"!\??\C:\users\Public\muster-new.txt".to_string(),
            r"\??\C:\users\Public\muster-gone.txt".to_string(),
            String::new(),
        ])
    );
    let flags = reboot::RebootFlags { session_manager: keys[0].values.clone(), ..reboot::RebootFlags::default() };
    let reboot = reboot::reboot_required(&flags).unwrap();
    assert!(reboot.required);
    assert_eq!(
        reboot.reasons,
        [r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\PendingFileRenameOperations: 2 file operation(s)"]
    );
}

#[test]
fn reboot_flags_each_count_and_an_unread_one_leaves_the_answer_unknown() {
    // The same key after Wine's next start performed the operations: no value left.
    let clean = reg_file("wine-8.0-SessionManager.reg")[0].values.clone();
    assert!(!clean.contains_key("PendingFileRenameOperations"));
    let flags = reboot::RebootFlags { session_manager: clean, ..reboot::RebootFlags::default() };
    assert_eq!(reboot::reboot_required(&flags).map(|r| r.required), Some(false));
    let unread = reboot::RebootFlags { unreadable: true, ..flags.clone() };
    assert_eq!(reboot::reboot_required(&unread), None);
    let both = reboot::RebootFlags { cbs_reboot_pending: true, wu_reboot_required: true, ..unread };
    let reboot = reboot::reboot_required(&both).unwrap();
    assert!(reboot.required);
    assert_eq!(reboot.reasons, [reboot::CBS_REBOOT_PENDING, reboot::WU_REBOOT_REQUIRED]);
}

#[test]
fn multi_strings_keep_empty_entries_but_not_the_terminator() {
    assert_eq!(multi_sz("a\0b\0\0"), ["a", "b"]);
    assert_eq!(multi_sz("a\0\0\0"), ["a", ""]);
    assert_eq!(multi_sz("a\0b"), ["a", "b"]);
    assert!(multi_sz("\0").is_empty() && multi_sz("").is_empty() && multi_sz("\0\0").is_empty());
}

#[test]
fn machine_guid_becomes_a_machine_id_like_linux_s() {
    // A MachineGuid as Wine 8's wineboot wrote it in a fresh prefix here (`reg query HKLM\Software\Microsoft\Cryptography`).
    let id = Some("514557b969d147b39ce6c8d72b1e697f".to_string());
    assert_eq!(machine_id_from_guid("514557b9-69d1-47b3-9ce6-c8d72b1e697f"), id);
    assert_eq!(machine_id_from_guid("{514557B9-69D1-47B3-9CE6-C8D72B1E697F}\n"), id);
    for junk in ["", "not-a-guid", "00000000-0000-0000-0000-000000000000", "514557b9-69d1-47b3-9ce6"] {
        assert_eq!(machine_id_from_guid(junk), None, "{junk:?}");
    }
}

#[test]
fn wmi_failures_say_what_their_code_means() {
    // What the built agent recorded under Wine 8 for the TPM's namespace, which Wine does not have.
    let wine = "HRESULT Call failed with: 0x8004100E";
    assert_eq!(describe_wmi_error(wine), "HRESULT Call failed with: 0x8004100E (no such namespace)");
    assert_eq!(describe_wmi_error("failed: 0x80041003"), "failed: 0x80041003 (access denied)");
    assert_eq!(describe_wmi_error("HRESULT Call failed with: 0x80070005"), "HRESULT Call failed with: 0x80070005");
}

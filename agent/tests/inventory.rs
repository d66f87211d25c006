//! End-to-end tests of `muster-agent inventory` as an administrator runs it: the real binary, real files.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_muster-agent")).args(args).output().expect("run muster-agent")
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "exit {:?}: {}", output.status, String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

#[test]
fn full_inventory_has_every_top_level_key() {
    let report = json_of(&agent(&["inventory"]));
    for key in ["schema", "agent", "host", "hardware", "os", "software", "patches", "checks", "errors", "collected_at"]
    {
        assert!(report.get(key).is_some(), "missing top-level key {key}: {report}");
    }
    assert_eq!(report["schema"], "muster.v1");
    assert_eq!(report["agent"]["mode"], "live");
    assert_eq!(report["os"]["architecture"], std::env::consts::ARCH);
}

#[test]
fn sections_limit_what_is_collected() {
    let report = json_of(&agent(&["inventory", "--sections", "os,host"]));
    assert!(report.get("os").is_some() && report.get("host").is_some());
    for absent in ["hardware", "software", "patches", "checks"] {
        assert!(report.get(absent).is_none(), "{absent} was collected: {report}");
    }
    assert_eq!(report["agent"]["sections"], serde_json::json!(["host", "os"]));
}

#[test]
fn bad_arguments_fail_with_one_clear_line() {
    let out = agent(&["inventory", "--sections", "hardware,bogus"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown section `bogus`"));

    let out = agent(&["inventory", "--root", "/definitely/not/here"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--root /definitely/not/here"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn output_file_and_pretty_printing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    let out = agent(&["inventory", "--sections", "os", "--pretty", "--output", file.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("{\n  \""), "not indented: {text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["os"]["source"], "/etc/os-release");
}

/// A mounted root never leaks the host's live facts: only what its files say, the rest marked not available.
#[test]
fn mounted_root_reads_only_the_root() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::copy(
        testdata("os-release/alpine-3.18.4__claircore__alpine-testdata-3.18__etc.os-release"),
        dir.path().join("etc/os-release"),
    )
    .unwrap();
    std::fs::write(dir.path().join("etc/hostname"), "pulled-disk\n").unwrap();
    let report =
        json_of(&agent(&["inventory", "--root", dir.path().to_str().unwrap(), "--sections", "host,hardware,os"]));
    assert_eq!(report["agent"]["mode"], "root");
    assert_eq!(report["os"]["id"], "alpine");
    assert_eq!(report["host"]["hostname"], "pulled-disk");
    assert!(report["os"].get("kernel_release").is_none());
    assert!(report["host"].get("boot_time").is_none());
    let hardware = report["hardware"].as_object().unwrap();
    for live_only in ["cpu", "memory", "disks", "network_interfaces", "filesystems", "monitors", "tpm", "batteries"] {
        assert!(!hardware.contains_key(live_only), "{live_only} taken from the host: {report}");
    }
    let not_available: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "not_available")
        .map(|e| e["item"].as_str().unwrap())
        .collect();
    for item in [
        "boot_time",
        "virtualization",
        "kernel_release",
        "cpu",
        "disks",
        "network_interfaces",
        "monitors",
        "tpm",
        "batteries",
    ] {
        assert!(not_available.contains(&item), "{item} not marked not available: {not_available:?}");
    }
}

/// Support staff decode a dump a user sent: the Dell XPS 13 sysfs copy (DMI + smbios_entry_point) from fwupd.
#[test]
fn smbios_dump_is_decoded_instead_of_the_live_tables() {
    let dump = testdata("smbios/fwupd/tables64/DMI");
    let report = json_of(&agent(&["inventory", "--sections", "hardware", "--smbios-dump", dump.to_str().unwrap()]));
    let system = &report["hardware"]["system"];
    assert_eq!(system["vendor"], "Dell Inc.");
    assert_eq!(system["product"], "XPS 13 9365");
    assert_eq!(system["serial"], "2R0Q2G2");
    assert_eq!(system["uuid"], "4c4c4544-0052-3010-8051-b2c04f324732");
    let sizes: Vec<u64> = report["hardware"]["memory_modules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["size_bytes"].as_u64())
        .collect();
    assert_eq!(sizes, vec![8 << 30, 8 << 30]);

    let out = agent(&["inventory", "--smbios-dump", "/no/such/dump"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--smbios-dump /no/such/dump"));
}

/// Issue 16: a dump's firmware appeared beside this machine's CPU, disks and hostname with `mode: live`. In dump
/// mode the report holds the dump's data only and says so.
#[test]
fn an_smbios_dump_report_holds_only_the_dump() {
    let dump = testdata("smbios/u-root/VMWare.announces-2.33.bin");
    let report = json_of(&agent(&["inventory", "--smbios-dump", dump.to_str().unwrap()]));
    assert_eq!(report["agent"]["mode"], "smbios_dump");
    assert_eq!(report["agent"]["sections"], serde_json::json!(["hardware"]));
    for absent in ["host", "os", "software", "patches", "checks"] {
        assert!(report.get(absent).is_none(), "{absent} describes this machine, not the dump: {report}");
    }
    let hardware = &report["hardware"];
    for absent in ["cpu", "memory", "disks", "filesystems", "network_interfaces", "monitors", "tpm", "batteries"] {
        assert!(
            hardware.get(absent).is_none_or(|v| v.is_null() || v == &serde_json::json!([])),
            "{absent}: {hardware}"
        );
    }
    // The UUID as dmidecode prints it for this 2.33-announcing VMware table (read as SMBIOS 2.3).
    assert_eq!(hardware["system"]["uuid"], "564de2c3-c3c0-e1e2-4622-554dc5eb6ba1");
    let not_available: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "not_available")
        .filter_map(|e| e["item"].as_str())
        .collect();
    assert_eq!(
        not_available,
        ["cpu", "memory", "disks", "filesystems", "network_interfaces", "monitors", "tpm", "batteries"]
    );

    let out = agent(&["inventory", "--smbios-dump", dump.to_str().unwrap(), "--sections", "hardware,host"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hardware section only"));
    let out = agent(&["inventory", "--smbios-dump", dump.to_str().unwrap(), "--root", "/"]);
    assert!(!out.status.success());
}

/// Issue 16: `--sections checks` alone made the `updates.*` checks point at patches errors that were not in the
/// report; they name the section they need instead.
#[test]
fn checks_without_patches_name_the_missing_section() {
    let report = json_of(&agent(&["inventory", "--sections", "checks"]));
    let checks = report["checks"].as_array().unwrap();
    for id in ["updates.security_pending", "updates.automatic", "updates.lists_stale", "kernel.reboot_required"] {
        let check = checks.iter().find(|c| c["id"] == id).unwrap();
        assert_eq!(check["status"], "unknown", "{check}");
        assert_eq!(
            check["reason"], "the patches section was not collected: these checks need it (--sections checks,patches)",
            "{check}"
        );
    }
}

/// `--root` on a real Debian 12 image tree lists exactly what dpkg-query listed for it.
#[test]
fn mounted_root_software_equals_dpkg_query_ground_truth() {
    let root = testdata("pkgdb/dpkg/debian-12-python-image");
    let report = json_of(&agent(&["inventory", "--root", root.to_str().unwrap(), "--sections", "os,software"]));
    assert_eq!(report["os"]["id"], "debian");
    assert_eq!(report["os"]["version_id"], "12");
    let mut ours: Vec<String> = report["software"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}\t{}\t{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["arch"].as_str().unwrap()
            )
        })
        .collect();
    ours.sort();
    let expected = std::fs::read_to_string(root.join("expected.dpkg-query.tsv")).unwrap();
    let mut theirs: Vec<String> = expected
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').take(3).collect::<Vec<_>>().join("\t"))
        .collect();
    theirs.sort();
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(ours, theirs);
    assert_eq!(report["software"]["sources"][0]["complete"], true);
}

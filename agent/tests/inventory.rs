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
    for live_only in ["cpu", "memory", "disks", "network_interfaces", "filesystems"] {
        assert!(!hardware.contains_key(live_only), "{live_only} taken from the host: {report}");
    }
    let not_available: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "not_available")
        .map(|e| e["item"].as_str().unwrap())
        .collect();
    for item in ["boot_time", "virtualization", "kernel_release", "cpu", "disks", "network_interfaces"] {
        assert!(not_available.contains(&item), "{item} not marked not available: {not_available:?}");
    }
}

//! `muster-agent disposal verify` on image files made by the real tools (mkfs.ext4, sfdisk, cryptsetup, mkswap):
//! what a wipe leaves passes, what it must remove fails and is named. No root and no loop devices needed.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, TimeZone, Utc};
use muster_agent::disposal::check::Expect;
use muster_agent::disposal::{Mode, VerifyConfig, verify_medium};
use muster_agent::root::SystemRoot;
use muster_shared::v1::{DisposalReport, FindingKind, MediumVerification, VerificationResult};

const MIB: u64 = 1 << 20;

fn clock() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

fn config(mode: Mode, expect: Expect) -> VerifyConfig {
    VerifyConfig { mode, expect, method: None, technique: None, progress: false }
}

fn full() -> Mode {
    Mode::Full
}

fn sample(seed: u64) -> Mode {
    Mode::Sample { coverage_percent: 10.0, seed }
}

fn verify(path: &Path, mode: Mode, expect: Expect) -> MediumVerification {
    verify_medium(&SystemRoot::live(), path, &config(mode, expect), &clock)
}

fn random_expect() -> Expect {
    Expect::parse("random").unwrap()
}

/// A sparse file of `size` bytes: all zeros, no disk used.
fn zero_image(dir: &Path, name: &str, size: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    path
}

fn random_image(dir: &Path, name: &str, size: u64) -> PathBuf {
    let path = dir.join(name);
    let mut bytes = vec![0u8; size as usize];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    path
}

/// Runs a tool the test needs; a missing tool fails the test with the package to install, never skips it.
fn run_tool(tool: &str, package: &str, args: &[&str], stdin: Option<&[u8]>) {
    let found = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].iter().map(|d| Path::new(d).join(tool)).find(|p| p.exists());
    let Some(program) = found else {
        panic!("`{tool}` is not installed: install it with `apt-get install -y --no-install-recommends {package}`");
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{tool} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn signatures(result: &MediumVerification) -> Vec<(String, u64)> {
    result
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::UnexpectedData)
        .map(|f| (f.signature.clone().unwrap(), f.offset))
        .collect()
}

#[test]
fn all_zeros_pass_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let image = zero_image(dir.path(), "zero.img", 256 * MIB + 512);
    let result = verify(&image, full(), Expect::Zero);
    assert_eq!(result.result, VerificationResult::Pass, "{}", result.summary);
    assert_eq!(result.bytes_read, 256 * MIB + 512);
    assert_eq!(result.blocks_read, 256 * 256 + 1);
    assert_eq!(result.coverage_percent, 100.0);
    assert!(result.findings.is_empty());
    assert_eq!(result.device.transport.as_deref(), Some("image file"));

    let sampled = verify(&image, sample(7), Expect::Zero);
    assert_eq!(sampled.result, VerificationResult::Pass, "{}", sampled.summary);
    let plan = sampled.sample.as_ref().unwrap();
    assert_eq!(plan.seed, 7);
    assert!(plan.subsections >= 1000, "{}", plan.subsections);
    assert!((10.0..10.1).contains(&sampled.coverage_percent), "{}", sampled.coverage_percent);
    // The same seed reads the same places.
    assert_eq!(verify(&image, sample(7), Expect::Zero).bytes_read, sampled.bytes_read);
}

#[test]
fn ext4_fails_naming_the_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let image = zero_image(dir.path(), "ext4.img", 64 * MIB);
    run_tool("mkfs.ext4", "e2fsprogs", &["-q", "-F", image.to_str().unwrap()], None);
    for mode in [full(), sample(1)] {
        let result = verify(&image, mode, Expect::Zero);
        assert_eq!(result.result, VerificationResult::Fail);
        assert_eq!(signatures(&result).first(), Some(&("ext4".to_string(), 1080)), "{:?}", result.findings);
        assert!(result.summary.starts_with("fail: found ext4 at offset 1080"), "{}", result.summary);
    }
}

#[test]
fn random_data_passes_only_when_random_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let image = random_image(dir.path(), "random.img", 32 * MIB);
    let as_random = verify(&image, full(), random_expect());
    assert_eq!(as_random.result, VerificationResult::Pass, "{}", as_random.summary);
    assert_eq!(as_random.findings_total, 0);
    let as_zero = verify(&image, full(), Expect::Zero);
    assert_eq!(as_zero.result, VerificationResult::Fail);
    // One run of unexpected data covering the whole medium.
    assert_eq!(as_zero.findings_total, 1);
    assert_eq!((as_zero.findings[0].offset, as_zero.findings[0].length), (0, 32 * MIB));
    let as_pattern = verify(&image, sample(3), Expect::parse("pattern:ff").unwrap());
    assert_eq!(as_pattern.result, VerificationResult::Fail);
}

#[test]
fn one_block_of_text_fails_full_mode_at_its_offset_and_sample_mode_reports_its_odds() {
    let dir = tempfile::tempdir().unwrap();
    let size = 128 * MIB;
    let image = zero_image(dir.path(), "text.img", size);
    let at = size / 2 + 40960;
    let text: Vec<u8> = b"Quarterly payroll, confidential. ".iter().copied().cycle().take(4096).collect();
    let mut file = std::fs::OpenOptions::new().write(true).open(&image).unwrap();
    file.seek(SeekFrom::Start(at)).unwrap();
    file.write_all(&text).unwrap();
    drop(file);

    let result = verify(&image, full(), Expect::Zero);
    assert_eq!(result.result, VerificationResult::Fail);
    assert_eq!(result.findings_total, 1);
    let finding = &result.findings[0];
    assert_eq!((finding.offset, finding.length, finding.kind), (at, 4096, FindingKind::UnexpectedData));
    assert_eq!(result.summary, format!("fail: 4096 bytes are not zero, first at offset {at}"));

    // Under --expect random the text is low-entropy data.
    let random = verify(&image, full(), random_expect());
    assert!(
        random.findings.iter().any(|f| f.offset <= at && at < f.offset + f.length && f.entropy_bits_per_byte.is_some())
    );

    for seed in 1..=20 {
        let sampled = verify(&image, sample(seed), Expect::Zero);
        let plan = sampled.sample.as_ref().unwrap();
        let four_k = plan.detection.iter().find(|d| d.region_bytes == 4096).unwrap();
        // For a one-block region the chance is exactly the share of blocks read.
        assert_eq!(four_k.probability, sampled.blocks_read as f64 / (size / 4096) as f64);
        assert!((0.10..0.101).contains(&four_k.probability), "{}", four_k.probability);
        let one_mib = plan.detection.iter().find(|d| d.region_bytes == MIB).unwrap();
        assert!(one_mib.probability > 0.99, "{}", one_mib.probability);
        // Found exactly when the sample read it.
        match sampled.result {
            VerificationResult::Fail => assert_eq!(sampled.findings[0].offset, at),
            VerificationResult::Pass => assert!(sampled.summary.contains("probability 10.0%"), "{}", sampled.summary),
            VerificationResult::Error => panic!("{}", sampled.summary),
        }
    }
}

#[test]
fn luks_header_is_encrypted_not_sanitized_and_passes_once_destroyed() {
    let dir = tempfile::tempdir().unwrap();
    let size = 32 * MIB;
    let image = random_image(dir.path(), "luks.img", size);
    let args = [
        "luksFormat",
        "--batch-mode",
        "--type",
        "luks2",
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
        "--key-file",
        "-",
        image.to_str().unwrap(),
    ];
    run_tool("cryptsetup", "cryptsetup-bin", &args, Some(b"correct horse battery staple"));
    // A sample reads the first block, so it always meets the primary header; a full read meets the second copy
    // LUKS2 keeps 16 KiB in as well.
    let cases = [
        (sample(5), random_expect(), vec![0]),
        (full(), random_expect(), vec![0, 16384]),
        (full(), Expect::Zero, vec![0, 16384]),
    ];
    for (mode, expect, offsets) in cases {
        let result = verify(&image, mode, expect);
        assert_eq!(result.result, VerificationResult::Fail);
        assert!(result.summary.starts_with("encrypted, not sanitized: luks2 header at offset 0"), "{}", result.summary);
        let headers: Vec<(String, u64)> = result
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::EncryptedHeader)
            .map(|f| (f.signature.clone().unwrap(), f.offset))
            .collect();
        let expected: Vec<(String, u64)> = offsets.into_iter().map(|o| ("luks2".to_string(), o)).collect();
        assert_eq!(headers, expected);
    }
    // Crypto-erase done right: the header area (LUKS2 data offset is 16 MiB) overwritten with random data.
    let mut noise = vec![0u8; 16 * MIB as usize];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut noise).unwrap();
    let mut file = std::fs::OpenOptions::new().write(true).open(&image).unwrap();
    file.write_all(&noise).unwrap();
    drop(file);
    let erased = verify(&image, full(), random_expect());
    assert_eq!(erased.result, VerificationResult::Pass, "{}", erased.summary);
}

#[test]
fn gpt_partition_table_fails() {
    let dir = tempfile::tempdir().unwrap();
    let size = 64 * MIB;
    let image = zero_image(dir.path(), "gpt.img", size);
    run_tool("sfdisk", "fdisk", &["--quiet", image.to_str().unwrap()], Some(b"label: gpt\n,32M,L\n,,S\n"));
    let result = verify(&image, sample(9), Expect::Zero);
    assert_eq!(result.result, VerificationResult::Fail);
    let found = signatures(&result);
    // Protective MBR, primary header at LBA 1 and the backup header in the last sector.
    assert_eq!(
        found,
        [("mbr".to_string(), 510), ("gpt".to_string(), 512), ("gpt".to_string(), size - 512)],
        "{:?}",
        result.findings
    );
}

#[test]
fn swap_signature_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let image = zero_image(dir.path(), "swap.img", 16 * MIB);
    run_tool("mkswap", "util-linux", &["-q", image.to_str().unwrap()], None);
    let result = verify(&image, full(), Expect::Zero);
    assert_eq!(signatures(&result), [("swap".to_string(), 4086)]);
}

/// A swap area whose header starts 2 KiB before a 4 MiB boundary: its version (at 1024) is read in one buffer, its
/// magic (at 4086) in the next, at every read size the agent has used. The signature was missed before the checker
/// kept the end of the previous buffer.
#[test]
fn a_swap_header_split_across_two_reads_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let swap = zero_image(dir.path(), "swap.img", MIB);
    run_tool("mkswap", "util-linux", &["-q", swap.to_str().unwrap()], None);
    let header = std::fs::read(&swap).unwrap()[..8192].to_vec();
    let image = zero_image(dir.path(), "split.img", 16 * MIB);
    let start = 4 * MIB - 2048;
    std::fs::OpenOptions::new().write(true).open(&image).unwrap().write_all_at(&header, start).unwrap();
    let result = verify(&image, full(), Expect::Zero);
    assert_eq!(signatures(&result), [("swap".to_string(), start + 4086)]);
}

/// The binary: exit codes 0/1/2, --json on stdout, --report to a file, the same document in both.
#[test]
fn command_line_exit_codes_and_documents() {
    let dir = tempfile::tempdir().unwrap();
    let zero = zero_image(dir.path(), "zero.img", 16 * MIB);
    let ext4 = zero_image(dir.path(), "ext4.img", 16 * MIB);
    run_tool("mkfs.ext4", "e2fsprogs", &["-q", "-F", ext4.to_str().unwrap()], None);
    let bin = env!("CARGO_BIN_EXE_muster-agent");
    let state = dir.path().join("state");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(["disposal", "verify", "--state-dir", state.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };

    let report_file = dir.path().join("result.json");
    let out = run(&[
        zero.to_str().unwrap(),
        "--mode",
        "full",
        "--method",
        "purge",
        "--technique",
        "block-erase",
        "--json",
        "--report",
        report_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: DisposalReport = serde_json::from_slice(&out.stdout).unwrap();
    let saved: DisposalReport = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    assert_eq!(printed, saved);
    assert!(printed.passed);
    assert_eq!(printed.schema, "muster.v1.disposal");
    assert_eq!(printed.host_id, None);
    assert_eq!(printed.tool.name, "muster-agent");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["media"][0]["method"], "purge");
    assert_eq!(json["media"][0]["technique"], "block-erase");
    assert_eq!(json["media"][0]["mode"], "full");
    assert_eq!(json["media"][0]["expectation"]["kind"], "zero");

    let out = run(&[zero.to_str().unwrap(), ext4.to_str().unwrap(), "--seed", "11"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PASS  ") && text.contains("FAIL  ") && text.contains("found ext4"), "{text}");

    let out = run(&[dir.path().join("missing.img").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&[zero.to_str().unwrap(), "--expect", "pattern:xyz"]);
    assert_eq!(out.status.code(), Some(2));
    // --send without an enrolment is refused before anything is read.
    let out = run(&[zero.to_str().unwrap(), "--send"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not enrolled"));
}

//! `muster-agent disposal verify`: its arguments, turned into a [`VerifyConfig`], and the glue that prints, saves
//! and sends the result. Kept beside the feature so the shared `cli.rs` only names the subcommand.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use muster_shared::v1::{DisposalAck, DisposalReport, SanitizationMethod, SanitizationTechnique, VerificationResult};
use rand::RngCore;

use super::check::Expect;
use super::{Mode, VerifyConfig};
use crate::root::SystemRoot;
use crate::transport::client::CollectorClient;
use crate::transport::state::{DEFAULT_STATE_DIR, StateDir};
use crate::transport::tls;

/// Exit status when a medium could not be verified, or anything else went wrong.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Args)]
pub struct DisposalArgs {
    #[command(subcommand)]
    pub command: DisposalCommand,
}

#[derive(Debug, Subcommand)]
pub enum DisposalCommand {
    /// Verify, read-only, that media were sanitized: exit 0 when all pass, 1 when any fails, 2 on error.
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// NIST SP 800-88 sampling: at least 1,000 pseudorandom subsections plus the first and last blocks.
    Sample,
    /// Read every byte.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Clear,
    Purge,
    Destroy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TechniqueArg {
    Overwrite,
    BlockErase,
    CryptoErase,
    Degauss,
    Shred,
    Disintegrate,
    Pulverize,
    Incinerate,
    Melt,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Block devices (/dev/sdX, /dev/nvme0n1) or image files; opened read-only, never written.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = ModeArg::Sample)]
    pub mode: ModeArg,
    /// What the wipe left: zero, pattern:HEX (e.g. pattern:ff) or random (high entropy, e.g. after crypto-erase).
    #[arg(long, value_name = "EXPECT", default_value = "zero", value_parser = parse_expect)]
    pub expect: Expect,
    /// Seed of the sample (recorded in the result); random when not given.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Share of each medium sample mode reads, in percent.
    #[arg(long, value_name = "PCT", default_value_t = 10.0, value_parser = parse_coverage)]
    pub coverage: f64,
    /// Sanitization method applied, as the operator states it (recorded for the certificate).
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// Sanitization technique applied (recorded for the certificate).
    #[arg(long, value_enum)]
    pub technique: Option<TechniqueArg>,
    /// Write the result document (JSON) to FILE, e.g. for `muster-collector disposal import`.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print the result document (JSON) on stdout instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Send the result to the collector this agent is enrolled with.
    #[arg(long)]
    pub send: bool,
    /// Where the agent keeps its enrolment (for the host id and --send).
    #[arg(long, value_name = "DIR", env = "MUSTER_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
}

fn parse_expect(text: &str) -> Result<Expect, String> {
    Expect::parse(text).map_err(|e| e.to_string())
}

fn parse_coverage(text: &str) -> Result<f64, String> {
    let value: f64 = text.trim().trim_end_matches('%').parse().map_err(|_| format!("`{text}` is not a number"))?;
    if !(value > 0.0 && value <= 100.0) {
        return Err("the coverage is a percentage above 0 and at most 100".to_string());
    }
    Ok(value)
}

impl VerifyArgs {
    /// The validated configuration; `seed` is the one to use when `--seed` was not given.
    pub fn to_config(&self, seed: u64, progress: bool) -> VerifyConfig {
        let mode = match self.mode {
            ModeArg::Full => Mode::Full,
            ModeArg::Sample => Mode::Sample { coverage_percent: self.coverage, seed: self.seed.unwrap_or(seed) },
        };
        VerifyConfig {
            mode,
            expect: self.expect.clone(),
            method: self.method.map(|m| match m {
                MethodArg::Clear => SanitizationMethod::Clear,
                MethodArg::Purge => SanitizationMethod::Purge,
                MethodArg::Destroy => SanitizationMethod::Destroy,
            }),
            technique: self.technique.map(|t| match t {
                TechniqueArg::Overwrite => SanitizationTechnique::Overwrite,
                TechniqueArg::BlockErase => SanitizationTechnique::BlockErase,
                TechniqueArg::CryptoErase => SanitizationTechnique::CryptoErase,
                TechniqueArg::Degauss => SanitizationTechnique::Degauss,
                TechniqueArg::Shred => SanitizationTechnique::Shred,
                TechniqueArg::Disintegrate => SanitizationTechnique::Disintegrate,
                TechniqueArg::Pulverize => SanitizationTechnique::Pulverize,
                TechniqueArg::Incinerate => SanitizationTechnique::Incinerate,
                TechniqueArg::Melt => SanitizationTechnique::Melt,
            }),
            progress,
        }
    }
}

/// Runs `disposal verify`; returns the exit status. `clock` and `rng` come from `main`.
pub fn run_verify(args: &VerifyArgs, clock: &dyn Fn() -> DateTime<Utc>, rng: &mut dyn RngCore) -> anyhow::Result<u8> {
    let enrolment = enrolled_host(&args.state_dir);
    if args.send && enrolment.is_none() {
        anyhow::bail!(
            "--send: this machine is not enrolled (no enrolment in {}); run `muster-agent enroll` first, or save the \
             result with --report FILE and upload it with `muster-collector disposal import FILE`",
            args.state_dir.display()
        );
    }
    let root = SystemRoot::live();
    let config = args.to_config(rng.next_u64(), true);
    let started = clock();
    let media = args.targets.iter().map(|t| super::verify_medium(&root, t, &config, clock)).collect();
    let report = super::report(media, new_report_id(rng), enrolment, hostname(&root), started, clock());
    let json = serde_json::to_vec_pretty(&report).context("encoding the result")?;
    if let Some(path) = &args.report {
        std::fs::write(path, [json.as_slice(), b"\n"].concat())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        let mut out = std::io::stdout().lock();
        out.write_all(&json).and_then(|()| out.write_all(b"\n")).context("writing to stdout")?;
    } else {
        print!("{}", summary_text(&report));
    }
    let mut code = super::exit_code(&report);
    if args.send {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?;
        match runtime.block_on(send(&args.state_dir, &report)) {
            Ok(ack) => eprintln!(
                "muster-agent: result {} sent to the collector{}",
                report.report_id,
                if ack.is_some_and(|a| a.duplicate) { " (it had it already)" } else { "" }
            ),
            Err(err) => {
                let saved = args.report.as_ref().map_or(String::new(), |p| {
                    format!("; it is saved in {}: `muster-collector disposal import {}`", p.display(), p.display())
                });
                eprintln!("muster-agent: sending the result failed: {err:#}{saved}");
                code = EXIT_ERROR;
            }
        }
    }
    Ok(code)
}

/// `POST /api/v1/agent/disposal` with the host token, trusting only the enrolment's CA.
pub async fn send(state_dir: &Path, report: &DisposalReport) -> anyhow::Result<Option<DisposalAck>> {
    let state = StateDir::open(state_dir)?;
    let enrolment = state.load_enrolment()?;
    let cas = tls::parse_ca_pem(enrolment.ca_pem.as_bytes())?;
    let client = CollectorClient::new(&enrolment.collector_url, tls::client_config_for_cas(&cas)?)?;
    Ok(client.send_disposal(&enrolment.host_id, &enrolment.token, report).await?)
}

/// The host id when this machine is enrolled.
fn enrolled_host(state_dir: &Path) -> Option<String> {
    let state = StateDir::open(state_dir).ok()?;
    Some(state.load_enrolment().ok()?.host_id)
}

fn hostname(root: &SystemRoot) -> Option<String> {
    let text = root.read("/proc/sys/kernel/hostname").ok()?;
    let name = String::from_utf8_lossy(&text).trim().to_string();
    (!name.is_empty()).then_some(name)
}

fn new_report_id(rng: &mut dyn RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Pure: one block per medium for people.
pub fn summary_text(report: &DisposalReport) -> String {
    let mut text = String::new();
    for m in &report.media {
        let verdict = match m.result {
            VerificationResult::Pass => "PASS",
            VerificationResult::Fail => "FAIL",
            VerificationResult::Error => "ERROR",
        };
        let d = &m.device;
        let identity: Vec<String> = [
            d.model.clone(),
            d.serial.as_ref().map(|s| format!("serial {s}")),
            d.transport.clone(),
            Some(super::progress::bytes(d.size_bytes as f64)),
        ]
        .into_iter()
        .flatten()
        .collect();
        text.push_str(&format!("{verdict}  {} ({})\n      {}\n", m.target, identity.join(", "), m.summary));
        for f in m.findings.iter().take(10) {
            text.push_str(&format!("      - {}\n", f.detail));
        }
        if m.findings_total > 10 {
            text.push_str(&format!("      … {} findings in all (see --json)\n", m.findings_total));
        }
        if let Some(sample) = &m.sample {
            for d in &sample.detection {
                text.push_str(&format!(
                    "      detection probability for a {} region: {:.2}%\n",
                    super::progress::bytes(d.region_bytes as f64),
                    d.probability * 100.0
                ));
            }
        }
    }
    text
}

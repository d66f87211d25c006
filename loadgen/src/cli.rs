//! Command-line arguments of `muster-loadgen`, parsed with clap and turned into a validated [`RunConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use muster_agent::transport::fingerprint::Fingerprint;

use crate::fleet::Drift;
use crate::images;
use crate::plan::{Arrivals, Scenario, Shares};
use crate::run::RunConfig;

#[derive(Debug, Parser)]
#[command(
    name = "muster-loadgen",
    version,
    about = "Muster load generator: simulated hosts enrol and report to a collector; prints rates and latencies",
    after_help = "Example: muster-loadgen --collector https://127.0.0.1:8443 --ca-fingerprint HEX --hosts 1000 \
                  --scenario first-wave --concurrency 4 --format json (secret in MUSTER_ENROLL_SECRET)"
)]
pub struct Cli {
    /// The collector's URL, e.g. https://collector.example:8443.
    #[arg(long, value_name = "URL")]
    pub collector: String,
    /// SHA-256 of the collector's CA certificate (`muster-collector ca show`); hex, colons optional.
    #[arg(long, value_name = "SHA256", value_parser = parse_fingerprint)]
    pub ca_fingerprint: Fingerprint,
    /// Enrolment secret, needed only while hosts are still to be enrolled; better passed in the environment.
    #[arg(long, value_name = "SECRET", env = "MUSTER_ENROLL_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Simulated hosts (indexes 0..N of the fleet in the state directory).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub hosts: u32,
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    /// Closed loop: reports in flight. Open loop (--rate): the most in flight at once.
    #[arg(long, value_name = "C", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Open loop: offered reports per second, whatever the collector answers.
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Seconds to keep sending (hosts report again in turn); without it, each host reports once.
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Open loop: evenly spaced or Poisson (jittered agent timers) send times.
    #[arg(long, value_enum, default_value_t = Arrivals::Uniform)]
    pub arrivals: Arrivals,
    /// Share of the hosts that send nothing this run (gone silent).
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_share)]
    pub silent_share: f64,
    /// patch-day: share of the reporting hosts that upgrade; the others report unchanged.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_share)]
    pub patch_share: f64,
    /// patch-day: packages upgraded per round on every patched host.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub patch_packages: usize,
    /// OS image and weight, repeatable: a built-in name or a `muster-agent inventory` JSON file, `NAME[:WEIGHT]`.
    /// Default: every built-in image, debian-12-server weighted 4.
    #[arg(long = "image", value_name = "NAME[:WEIGHT]")]
    pub images: Vec<String>,
    /// Per-host version drift from the image.
    #[arg(long, value_enum, default_value_t = DriftArg::Typical)]
    pub drift: DriftArg,
    /// Keeps enrolled hosts' tokens and acknowledged hashes between runs (0700).
    #[arg(long, value_name = "DIR", default_value = "muster-loadgen-state")]
    pub state_dir: PathBuf,
    /// Reuse connections (default: a new TLS connection per report, as agents reporting hourly make).
    #[arg(long)]
    pub keep_alive: bool,
    /// Seconds before a request counts as a timeout (the agent waits 120).
    #[arg(long, value_name = "S", default_value = "120", value_parser = parse_seconds)]
    pub timeout: Duration,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftArg {
    /// Every host exactly as its image.
    None,
    /// 12 % of packages one version behind, 6 % two, 2 % three.
    Typical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

impl Cli {
    pub fn config(&self) -> anyhow::Result<RunConfig> {
        let images = if self.images.is_empty() {
            images::default_mix()?
        } else {
            self.images.iter().map(|spec| images::resolve(spec)).collect::<Result<Vec<_>, _>>()?
        };
        Ok(RunConfig {
            collector_url: self.collector.clone(),
            ca: self.ca_fingerprint,
            secret: self.secret.clone().unwrap_or_default(),
            hosts: self.hosts,
            scenario: self.scenario,
            concurrency: self.concurrency as usize,
            rate: self.rate,
            duration: self.duration,
            arrivals: self.arrivals,
            shares: Shares { silent: self.silent_share, patching: self.patch_share },
            state_dir: self.state_dir.clone(),
            keep_alive: self.keep_alive,
            timeout: self.timeout,
            images,
            drift: match self.drift {
                DriftArg::None => Drift::none(),
                DriftArg::Typical => Drift::typical(),
            },
            patch_packages: self.patch_packages,
        })
    }
}

fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    Fingerprint::parse(text).map_err(|e| e.to_string())
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1_000_000.0 => Ok(r),
        _ => Err("a rate is a number of reports per second above 0".to_string()),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 30.0 * 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err("seconds above 0, e.g. 30 or 0.5".to_string()),
    }
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err("a share is a number from 0 to 1".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn parse(extra: &[&str]) -> Result<Cli, clap::Error> {
        let mut args = vec!["muster-loadgen", "--collector", "https://127.0.0.1:8443", "--ca-fingerprint", FP];
        args.extend_from_slice(extra);
        Cli::try_parse_from(args)
    }

    #[test]
    fn the_scripts_contract_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = parse(&[
            "--secret",
            "s",
            "--hosts",
            "1000",
            "--scenario",
            "first-wave",
            "--concurrency",
            "4",
            "--rate",
            "300",
            "--duration",
            "30",
            "--format",
            "json",
        ])
        .unwrap();
        let config = cli.config().unwrap();
        assert_eq!((config.hosts, config.scenario, config.concurrency), (1000, Scenario::FirstWave, 4));
        assert_eq!((config.rate, config.duration), (Some(300.0), Some(Duration::from_secs(30))));
        assert_eq!(cli.format, Format::Json);
        assert_eq!(config.images.len(), images::names().len());
        let only = parse(&["--hosts", "1", "--scenario", "patch-day", "--image", "alpine-3.14:2"]).unwrap();
        let config = only.config().unwrap();
        assert_eq!((config.images.len(), config.images[0].weight), (1, 2));
        assert_eq!(config.shares, Shares { silent: 0.0, patching: 1.0 });
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--hosts", "0", "--scenario", "unchanged"][..],
            &["--hosts", "5", "--scenario", "sideways"],
            &["--hosts", "5", "--scenario", "unchanged", "--rate", "0"],
            &["--hosts", "5", "--scenario", "unchanged", "--duration", "-1"],
            &["--hosts", "5", "--scenario", "unchanged", "--silent-share", "1.5"],
            &["--hosts", "5", "--scenario", "unchanged", "--concurrency", "0"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Cli::try_parse_from([
                "muster-loadgen",
                "--collector",
                "https://c",
                "--ca-fingerprint",
                "abc",
                "--hosts",
                "1",
                "--scenario",
                "unchanged"
            ])
            .is_err()
        );
    }
}

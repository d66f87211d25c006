//! Command-line arguments of `muster-agent`, parsed with clap and turned into validated configs.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use muster_shared::v1::SectionName;

use crate::config::DEFAULT_CONFIG_PATH;
use crate::inventory::InventoryConfig;
use crate::inventory::software::LanguageScan;
use crate::root::SystemRoot;
use crate::transport::enroll::{CaPin, EnrollConfig, read_ca_cert};
use crate::transport::fingerprint::Fingerprint;
use crate::transport::state::DEFAULT_STATE_DIR;

#[derive(Debug, Parser)]
#[command(
    name = "muster-agent",
    version,
    about = "Muster agent: inventory this machine and report it to the collector"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print this machine's inventory (or a mounted root's) as a v1 JSON report.
    Inventory(InventoryArgs),
    /// Enrol this machine with a collector, trusting only the collector's own CA.
    Enroll(EnrollArgs),
    /// Report to the collector on start and then every interval, until SIGTERM or SIGINT.
    Run(RunArgs),
    /// The MusterAgent Windows service's loop (`run` under the service control manager; logs to
    /// C:\ProgramData\Muster\muster-agent.log). Not for a console.
    #[cfg(windows)]
    Service(RunArgs),
    /// Send one report now (plus any report still waiting in the spool).
    ReportNow(ReportNowArgs),
    /// Check settings, state directory, TLS and CA pin, clock skew, host token and read access; exit 1 on failure.
    Doctor(DoctorArgs),
    /// Disposal of hardware: verify, read-only, that disks were sanitized before they leave.
    Disposal(crate::disposal::command::DisposalArgs),
}

/// How commands that print data print it: text for people, or one JSON document on stdout for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct StateDirArg {
    /// Where the agent keeps its enrolment, token and spool (private to its owner: mode 0700).
    #[arg(long, value_name = "DIR", env = "MUSTER_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("ca").required(true).args(["ca_fingerprint", "ca_cert"]))]
#[command(group = clap::ArgGroup::new("enrol_secret").required(true).args(["secret", "secret_file"]))]
pub struct EnrollArgs {
    /// The collector's URL, e.g. https://collector.example:8443.
    #[arg(long, value_name = "URL")]
    pub collector: String,
    /// The enrolment secret (`muster-collector enroll-secret create`); better passed in the environment.
    #[arg(long, value_name = "SECRET", env = "MUSTER_ENROLL_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// A file holding the enrolment secret (its first line), as installers and deployment tools pass it: it
    /// appears on no command line and in no environment.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// SHA-256 fingerprint of the collector's CA certificate (`muster-collector ca show`), hex, colons optional.
    #[arg(long, value_name = "SHA256", value_parser = parse_fingerprint)]
    pub ca_fingerprint: Option<Fingerprint>,
    /// The collector's CA certificate (PEM), instead of its fingerprint.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Tags for this host, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub state: StateDirArg,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Settings file (state_dir, interval, spool_cap_mib); flags given here override it. Absent: defaults.
    #[arg(long, value_name = "FILE", env = "MUSTER_AGENT_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Time between reports (e.g. 1h, 30m, 90s); each wait varies by up to ±10%.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_interval)]
    pub interval: Duration,
    #[command(flatten)]
    pub state: StateDirArg,
    #[command(flatten)]
    pub spool: SpoolArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Settings file to check and take the state directory and collector from.
    #[arg(long, value_name = "FILE", env = "MUSTER_AGENT_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// State directory to check instead of the settings file's (the quick start keeps its own: name it here).
    #[arg(long, value_name = "DIR", env = "MUSTER_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Skip the trial inventory that shows what each section can read.
    #[arg(long)]
    pub no_inventory: bool,
    /// Seconds to wait for the collector.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub timeout: u64,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ReportNowArgs {
    #[command(flatten)]
    pub state: StateDirArg,
    #[command(flatten)]
    pub spool: SpoolArgs,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct SpoolArgs {
    /// Largest undelivered report kept on disk, in MiB (compressed).
    #[arg(long, value_name = "MIB", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub spool_cap_mib: u64,
}

impl SpoolArgs {
    pub fn cap_bytes(&self) -> u64 {
        self.spool_cap_mib * 1024 * 1024
    }
}

fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    Fingerprint::parse(text).map_err(|e| e.to_string())
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 1h, 30m, 90s)"))?;
    if interval < Duration::from_secs(10) {
        return Err("the interval must be at least 10s".to_string());
    }
    Ok(interval)
}

impl EnrollArgs {
    /// Validates the arguments; reads `--ca-cert` so a bad file is reported before anything else happens.
    pub fn to_config(&self) -> anyhow::Result<EnrollConfig> {
        let ca = match (&self.ca_fingerprint, &self.ca_cert) {
            (Some(fingerprint), _) => CaPin::Fingerprint(*fingerprint),
            (None, Some(path)) => CaPin::Certificate(
                read_ca_cert(path).map_err(|e| anyhow::anyhow!("--ca-cert {}: {e}", path.display()))?,
            ),
            (None, None) => anyhow::bail!("give --ca-fingerprint or --ca-cert"),
        };
        let secret = match (&self.secret, &self.secret_file) {
            (Some(secret), _) => secret.trim().to_string(),
            (None, Some(path)) => read_secret_file(path)?,
            (None, None) => anyhow::bail!("give --secret (or MUSTER_ENROLL_SECRET) or --secret-file"),
        };
        if secret.is_empty() {
            anyhow::bail!("the enrolment secret is empty");
        }
        let tags = self.tags.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
        Ok(EnrollConfig {
            collector_url: self.collector.clone(),
            secret,
            ca,
            tags,
            state_dir: self.state.state_dir.clone(),
        })
    }
}

/// The first line of a secret file, trimmed; a file over 4 KiB is not a secret file.
fn read_secret_file(path: &std::path::Path) -> anyhow::Result<String> {
    let context = |e: std::io::Error| anyhow::anyhow!("--secret-file {}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(context)?;
    if meta.len() > 4096 {
        anyhow::bail!("--secret-file {}: {} bytes; an enrolment secret is one short line", path.display(), meta.len());
    }
    let text = std::fs::read_to_string(path).map_err(context)?;
    Ok(text.lines().next().unwrap_or_default().trim().to_string())
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Inventory a mounted filesystem root (container image, chroot, a disk pulled from a machine) instead of `/`.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Indent the JSON.
    #[arg(long)]
    pub pretty: bool,
    /// Only these sections, comma-separated: host, hardware, os, software, patches, checks.
    #[arg(long, value_delimiter = ',', value_parser = parse_section)]
    pub sections: Vec<SectionName>,
    /// Decode a saved SMBIOS table (`dmidecode --dump-bin` output, or a copy of /sys/firmware/dmi/tables/DMI with its
    /// smbios_entry_point beside it). The report (mode `smbios_dump`) holds only the dump's firmware data, nothing of
    /// this machine.
    #[arg(long, value_name = "FILE", conflicts_with = "root")]
    pub smbios_dump: Option<PathBuf>,
    /// Also look for language packages (Python, Node.js, Ruby, Go and `cargo auditable` executables, Java archives)
    /// below this directory of the inspected system, e.g. a project tree or a virtualenv; repeatable. The system
    /// locations are always scanned.
    #[arg(long = "language-path", value_name = "DIR")]
    pub language_paths: Vec<String>,
    /// How deep the language scan goes below a --language-path (and how many nested node_modules levels).
    #[arg(long, value_name = "N", default_value_t = LanguageScan::default().max_depth)]
    pub language_max_depth: usize,
    /// Directory entries the language scan looks at in all before it stops (the section then says so).
    #[arg(long, value_name = "N", default_value_t = LanguageScan::default().max_entries)]
    pub language_max_entries: usize,
    /// Metadata files and executables the language scan reads in all before it stops.
    #[arg(long, value_name = "N", default_value_t = LanguageScan::default().max_files)]
    pub language_max_files: usize,
    /// Wall-clock time the language scan may take, e.g. `10s`.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub language_time_limit: Duration,
}

fn parse_section(name: &str) -> Result<SectionName, String> {
    SectionName::parse(name.trim()).ok_or_else(|| {
        let known: Vec<&str> = SectionName::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown section `{name}` (known: {})", known.join(", "))
    })
}

impl InventoryArgs {
    /// Validates the arguments into what the collectors need.
    pub fn to_config(&self) -> anyhow::Result<InventoryConfig> {
        let root = match &self.root {
            None => SystemRoot::live(),
            Some(dir) => {
                let meta = std::fs::metadata(dir).map_err(|e| anyhow::anyhow!("--root {}: {e}", dir.display()))?;
                if !meta.is_dir() {
                    anyhow::bail!("--root {}: not a directory", dir.display());
                }
                SystemRoot::mounted(dir)
            }
        };
        if let Some(dump) = &self.smbios_dump {
            std::fs::metadata(dump).map_err(|e| anyhow::anyhow!("--smbios-dump {}: {e}", dump.display()))?;
            if self.sections.iter().any(|s| *s != SectionName::Hardware) {
                anyhow::bail!("--smbios-dump reports the hardware section only: a dump holds nothing else");
            }
        }
        let sections: BTreeSet<SectionName> = if self.sections.is_empty() {
            SectionName::ALL.into_iter().collect()
        } else {
            self.sections.iter().copied().collect()
        };
        if let Some(relative) = self.language_paths.iter().find(|p| !p.starts_with('/')) {
            anyhow::bail!("--language-path {relative}: must be an absolute path of the inspected system");
        }
        let language = LanguageScan {
            paths: self.language_paths.clone(),
            max_depth: self.language_max_depth,
            max_entries: self.language_max_entries,
            max_files: self.language_max_files,
            time_limit: self.language_time_limit,
            ..LanguageScan::default()
        };
        Ok(InventoryConfig { root, sections, smbios_dump: self.smbios_dump.clone(), language })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enrol_args(extra: &[&str]) -> Result<EnrollArgs, clap::Error> {
        let mut argv = vec!["muster-agent", "enroll", "--collector", "https://127.0.0.1:8443", "--ca-fingerprint"];
        argv.push("ab".repeat(32).leak());
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv)?.command {
            Command::Enroll(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_enrolment_secret_comes_from_a_file_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.txt");
        // As Notepad or `echo secret > file` on Windows writes it: trailing CRLF.
        std::fs::write(&file, "  s3cret-from-file \r\nsecond line ignored\r\n").unwrap();
        let args = enrol_args(&["--secret-file", file.to_str().unwrap()]).unwrap();
        assert_eq!(args.to_config().unwrap().secret, "s3cret-from-file");

        std::fs::write(&file, "\r\n").unwrap();
        let err = enrol_args(&["--secret-file", file.to_str().unwrap()]).unwrap().to_config().unwrap_err();
        assert_eq!(err.to_string(), "the enrolment secret is empty");

        std::fs::write(&file, "x".repeat(5000)).unwrap();
        let err = enrol_args(&["--secret-file", file.to_str().unwrap()]).unwrap().to_config().unwrap_err();
        assert!(err.to_string().ends_with("5000 bytes; an enrolment secret is one short line"), "{err}");

        let missing = dir.path().join("absent.txt");
        let err = enrol_args(&["--secret-file", missing.to_str().unwrap()]).unwrap().to_config().unwrap_err();
        assert!(err.to_string().starts_with(&format!("--secret-file {}: ", missing.display())), "{err}");
    }

    #[test]
    fn a_secret_and_a_secret_file_together_are_refused() {
        let err = enrol_args(&["--secret", "a", "--secret-file", "b"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}

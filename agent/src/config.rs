//! The agent's settings file (`/etc/muster/agent.toml`, written by the package and by install-agent.sh), so a
//! service unit can say `muster-agent run` without repeating flags. Command-line flags override it.
//!
//! Parsing is pure (`AgentConfig::parse` takes the text and the file's mode); only [`AgentConfig::load`] reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::transport::fingerprint::Fingerprint;
use crate::transport::state::DEFAULT_STATE_DIR;

/// Where packages and install-agent.sh put the settings file.
#[cfg(not(windows))]
pub const DEFAULT_CONFIG_PATH: &str = "/etc/muster/agent.toml";
/// Where the settings file is looked for on Windows (absent unless an administrator writes one: defaults apply).
#[cfg(windows)]
pub const DEFAULT_CONFIG_PATH: &str = r"C:\ProgramData\Muster\agent.toml";
/// Time between reports when neither the file nor the command line says.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// The shortest interval accepted: more often only loads the collector.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Spool cap in MiB when neither the file nor the command line says.
pub const DEFAULT_SPOOL_CAP_MIB: u64 = 50;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// The validated settings file; absent fields fall back to the defaults above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// The collector URL install-agent.sh enrolled with (reports go to the URL stored at enrolment).
    pub collector: Option<String>,
    /// The CA the operator vouched for; doctor compares the stored CA with it.
    pub ca_fingerprint: Option<Fingerprint>,
    pub state_dir: PathBuf,
    pub interval: Duration,
    pub spool_cap_mib: u64,
    /// Directories searched for language packages beyond the system locations (`inventory --language-path`).
    pub language_paths: Vec<String>,
    /// Permission bits of the file, for doctor (it should be 0600).
    pub mode: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    collector: Option<String>,
    ca_fingerprint: Option<String>,
    state_dir: Option<PathBuf>,
    interval: Option<String>,
    spool_cap_mib: Option<u64>,
    language_paths: Option<Vec<String>>,
}

impl AgentConfig {
    /// The settings when there is no file.
    pub fn defaults() -> AgentConfig {
        AgentConfig {
            collector: None,
            ca_fingerprint: None,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            interval: DEFAULT_INTERVAL,
            spool_cap_mib: DEFAULT_SPOOL_CAP_MIB,
            language_paths: Vec::new(),
            mode: 0o600,
        }
    }

    /// Parses and validates the file's text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str, mode: u32) -> Result<AgentConfig, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid { path: path.to_path_buf(), reason };
        let file: FileConfig = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
        let defaults = AgentConfig::defaults();
        let ca_fingerprint = match file.ca_fingerprint.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(text) => Some(Fingerprint::parse(text).map_err(|e| invalid(format!("ca_fingerprint: {e}")))?),
            None => None,
        };
        let interval = match &file.interval {
            Some(text) => parse_interval(text).map_err(|e| invalid(format!("interval: {e}")))?,
            None => defaults.interval,
        };
        let spool_cap_mib = file.spool_cap_mib.unwrap_or(defaults.spool_cap_mib);
        if !(1..=4096).contains(&spool_cap_mib) {
            return Err(invalid(format!("spool_cap_mib: {spool_cap_mib} is outside 1..=4096")));
        }
        let language_paths = file.language_paths.unwrap_or_default();
        if let Some(relative) = language_paths.iter().find(|p| !p.starts_with('/')) {
            return Err(invalid(format!("language_paths: {relative} is not an absolute path")));
        }
        Ok(AgentConfig {
            collector: file.collector.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
            ca_fingerprint,
            state_dir: file.state_dir.unwrap_or(defaults.state_dir),
            interval,
            spool_cap_mib,
            language_paths,
            mode: mode & 0o7777,
        })
    }

    /// Reads the file; `Ok(None)` when it does not exist (the defaults then apply).
    pub fn load(path: &Path) -> Result<Option<AgentConfig>, ConfigError> {
        let io = |source| ConfigError::Io { path: path.to_path_buf(), source };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mode = crate::platform::mode(&std::fs::metadata(path).map_err(io)?);
        AgentConfig::parse(path, &text, mode).map(Some)
    }
}

/// `1h`, `30m`, `90s`; at least [`MIN_INTERVAL`].
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text.trim()).map_err(|e| format!("{e} (examples: 1h, 30m, 90s)"))?;
    if interval < MIN_INTERVAL {
        return Err("the interval must be at least 10s".to_string());
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn parse(text: &str) -> Result<AgentConfig, ConfigError> {
        AgentConfig::parse(Path::new("/etc/muster/agent.toml"), text, 0o100600)
    }

    #[test]
    fn the_packaged_file_gives_the_defaults() {
        let packaged = include_str!("../../deploy/config/agent.toml");
        assert_eq!(parse(packaged).unwrap(), AgentConfig::defaults());
        assert_eq!(parse("").unwrap(), AgentConfig::defaults());
    }

    #[test]
    fn values_as_install_agent_sh_writes_them() {
        let fp = "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08";
        let text = format!(
            "collector = \"https://c.example:8443\"\nca_fingerprint = \"{fp}\"\nstate_dir = \"/srv/agent\"\n\
             interval = \"30m\"\nspool_cap_mib = 10\nlanguage_paths = [\"/srv/app\"]\n"
        );
        let config = AgentConfig::parse(Path::new("a.toml"), &text, 0o100640).unwrap();
        assert_eq!(config.collector.as_deref(), Some("https://c.example:8443"));
        assert_eq!(config.ca_fingerprint.unwrap().to_hex(), fp.replace(':', "").to_lowercase());
        assert_eq!(config.state_dir, PathBuf::from("/srv/agent"));
        assert_eq!(config.interval, Duration::from_secs(1800));
        assert_eq!(config.spool_cap_mib, 10);
        assert_eq!(config.language_paths, ["/srv/app"]);
        assert_eq!(config.mode, 0o640);
    }

    #[test]
    fn bad_values_are_named() {
        for (text, expected) in [
            ("interval = \"5s\"", "interval: the interval must be at least 10s"),
            ("interval = \"soon\"", "interval: "),
            ("ca_fingerprint = \"abcd\"", "ca_fingerprint: a SHA-256 fingerprint has 64 hex digits"),
            ("spool_cap_mib = 0", "spool_cap_mib: 0 is outside 1..=4096"),
            ("language_paths = [\"srv\"]", "language_paths: srv is not an absolute path"),
            ("colector = \"x\"", "unknown field `colector`"),
            ("interval = ", "string values must be quoted"),
        ] {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.starts_with("/etc/muster/agent.toml: "), "{message}");
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[test]
    fn a_missing_file_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(AgentConfig::load(&dir.path().join("none.toml")).unwrap(), None);
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "interval = \"2h\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let config = AgentConfig::load(&path).unwrap().unwrap();
        assert_eq!((config.interval, config.mode), (Duration::from_secs(7200), 0o644));
    }
}

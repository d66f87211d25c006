//! The state directory: the simulated fleet's id, each host's token and what the collector acknowledged, so later
//! runs reuse enrolled hosts and send them hash-only reports as their agents would.
//!
//! Host tokens are secrets: the directory is created 0700 and the file written 0600, and a directory others can
//! read is refused, as the agent refuses its own.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::envelope::Hashes;

const FILE: &str = "loadgen-state.json";
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a muster-loadgen state file: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} is readable by others (mode {mode:o}); it holds host tokens: chmod 700 it")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error(
        "the state directory {path} belongs to the collector {theirs}, not {ours}; use another --state-dir for \
         another collector"
    )]
    OtherCollector { path: PathBuf, theirs: String, ours: String },
}

/// Everything kept between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    pub collector: String,
    /// Hex SHA-256 of the collector's CA, as pinned.
    pub ca_fingerprint: String,
    pub fleet_id: String,
    /// Digest of what a host's report is built from (images, drift, patch size); acknowledged hashes are only
    /// reused while it is unchanged.
    pub fleet_signature: String,
    /// By host index.
    pub hosts: BTreeMap<u32, HostRecord>,
}

/// One enrolled simulated host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    pub host_id: String,
    pub token: String,
    /// Patch rounds installed.
    pub round: u32,
    /// Section hashes the collector acknowledged last; empty until the first report was stored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub acked: Hashes,
}

impl State {
    pub fn new(collector: &str, ca_fingerprint: &str, fleet_id: &str, fleet_signature: &str) -> State {
        State {
            format: FORMAT,
            collector: collector.to_string(),
            ca_fingerprint: ca_fingerprint.to_string(),
            fleet_id: fleet_id.to_string(),
            fleet_signature: fleet_signature.to_string(),
            hosts: BTreeMap::new(),
        }
    }

    /// Reconciles a loaded state with this run: another collector is an error; another fleet make-up forgets the
    /// acknowledged hashes and patch rounds (the next report of each host goes in full).
    pub fn adopt(
        &mut self,
        dir: &Path,
        collector: &str,
        ca_fingerprint: &str,
        fleet_signature: &str,
    ) -> Result<(), StateError> {
        if self.collector != collector || self.ca_fingerprint != ca_fingerprint {
            return Err(StateError::OtherCollector {
                path: dir.to_path_buf(),
                theirs: format!("{} (CA {})", self.collector, self.ca_fingerprint),
                ours: format!("{collector} (CA {ca_fingerprint})"),
            });
        }
        if self.fleet_signature != fleet_signature {
            for host in self.hosts.values_mut() {
                host.acked.clear();
                host.round = 0;
            }
            self.fleet_signature = fleet_signature.to_string();
        }
        Ok(())
    }
}

/// Reads the state in `dir`, if there is one; creates `dir` (0700) when missing.
pub fn load(dir: &Path) -> Result<Option<State>, StateError> {
    let io = |source| StateError::Io { path: dir.to_path_buf(), source };
    match std::fs::metadata(dir) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(StateError::TooOpen { path: dir.to_path_buf(), mode });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)?;
        }
        Err(e) => return Err(io(e)),
    }
    let path = dir.join(FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Io { path, source }),
    };
    let state: State =
        serde_json::from_slice(&text).map_err(|e| StateError::Corrupt { path: path.clone(), reason: e.to_string() })?;
    if state.format != FORMAT {
        return Err(StateError::Corrupt {
            path,
            reason: format!("format {} (this version reads {FORMAT})", state.format),
        });
    }
    Ok(Some(state))
}

/// Writes the state atomically (a private temporary file renamed over the old one).
pub fn save(dir: &Path, state: &State) -> Result<(), StateError> {
    let path = dir.join(FILE);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let io = |source| StateError::Io { path: tmp.clone(), source };
    let json =
        serde_json::to_vec(state).map_err(|e| StateError::Corrupt { path: path.clone(), reason: e.to_string() })?;
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
    file.write_all(&json).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(|source| StateError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::SectionName;

    fn sample() -> State {
        let mut state = State::new("https://127.0.0.1:8443", "ab12", "f00d", "sig1");
        state.hosts.insert(
            3,
            HostRecord {
                host_id: "h3".to_string(),
                token: "mt_secret".to_string(),
                round: 2,
                acked: [(SectionName::Software, "aa".to_string())].into(),
            },
        );
        state
    }

    #[test]
    fn round_trip_private() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        assert_eq!(load(&state_dir).unwrap(), None);
        assert_eq!(std::fs::metadata(&state_dir).unwrap().permissions().mode() & 0o777, 0o700);
        save(&state_dir, &sample()).unwrap();
        assert_eq!(load(&state_dir).unwrap(), Some(sample()));
        let file = std::fs::metadata(state_dir.join(FILE)).unwrap();
        assert_eq!(file.permissions().mode() & 0o777, 0o600);

        std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(load(&state_dir), Err(StateError::TooOpen { mode: 0o755, .. })));
        std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(state_dir.join(FILE), b"{").unwrap();
        assert!(matches!(load(&state_dir), Err(StateError::Corrupt { .. })));
    }

    #[test]
    fn adopting_a_state() {
        let dir = Path::new("/nonexistent");
        let mut same = sample();
        same.adopt(dir, "https://127.0.0.1:8443", "ab12", "sig1").unwrap();
        assert_eq!(same, sample());

        let mut other_fleet = sample();
        other_fleet.adopt(dir, "https://127.0.0.1:8443", "ab12", "sig2").unwrap();
        let host = &other_fleet.hosts[&3];
        assert!(host.acked.is_empty() && host.round == 0);
        assert_eq!((host.host_id.as_str(), other_fleet.fleet_signature.as_str()), ("h3", "sig2"));

        for (url, ca) in [("https://10.0.0.1:8443", "ab12"), ("https://127.0.0.1:8443", "cd34")] {
            assert!(matches!(sample().adopt(dir, url, ca, "sig1"), Err(StateError::OtherCollector { .. })));
        }
    }
}

//! The agent's state directory: enrolment (collector, host id, token, CA), acknowledged hashes, spool, lock.
//!
//! The directory holds the host token, a credential, so it must be reachable by its owner only: the agent creates
//! it with mode 0700, writes the token with mode 0600, and refuses a directory or token file that group or others
//! could read rather than silently tightening (a wider mode means someone set it, and should know). On Windows the
//! same rule reads the directory's access list: SYSTEM and Administrators only (`access.rs`); the token file inherits
//! the directory's list.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::delta::SectionHashes;

/// Where the agent keeps its state unless `--state-dir` says otherwise.
#[cfg(not(windows))]
pub const DEFAULT_STATE_DIR: &str = "/var/lib/muster-agent";
/// Where the agent keeps its state unless `--state-dir` says otherwise: ProgramData, as services keep theirs.
#[cfg(windows)]
pub const DEFAULT_STATE_DIR: &str = r"C:\ProgramData\Muster\agent";

const ENROLMENT_FILE: &str = "agent.toml";
const TOKEN_FILE: &str = "host-token";
const CA_FILE: &str = "ca.pem";
const ACKED_FILE: &str = "acked-hashes.json";
const LOCK_FILE: &str = "lock";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "state directory {path} has mode {mode:04o}; it holds the host token and must be private to its owner \
         (run `chmod 700 {path}`)"
    )]
    DirTooOpen { path: PathBuf, mode: u32 },
    #[error("token file {path} has mode {mode:04o}; it must be private to its owner (run `chmod 600 {path}`)")]
    FileTooOpen { path: PathBuf, mode: u32 },
    /// Windows: the directory's access list lets in more than SYSTEM and Administrators.
    #[error(transparent)]
    AccessTooOpen(#[from] super::access::TooOpen),
    #[error("state directory {0} is not a directory")]
    NotADirectory(PathBuf),
    #[error(
        "this agent is not enrolled (no {file} in {dir}); enrol it first: \
         muster-agent enroll --collector https://HOST:8443 --secret SECRET --ca-fingerprint FINGERPRINT{state_dir_arg}"
    )]
    NotEnrolled { dir: PathBuf, file: &'static str, state_dir_arg: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("another muster-agent is using the state directory {0} (lock held); try again when it has finished")]
    Busy(PathBuf),
}

/// A host token: sent as a bearer credential, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct HostToken(String);

impl HostToken {
    pub fn new(token: String) -> HostToken {
        HostToken(token)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HostToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostToken(***)")
    }
}

/// What enrolment established, stored across runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub collector_url: String,
    pub host_id: String,
    pub token: HostToken,
    /// PEM of the collector's CA, the only trust anchor of later connections.
    pub ca_pem: String,
    pub enrolled_at: DateTime<Utc>,
    pub tags: Vec<String>,
}

/// The non-secret part of [`Enrolment`], as written to `agent.toml` for people to read.
#[derive(Debug, Serialize, Deserialize)]
struct EnrolmentFile {
    collector: String,
    host_id: String,
    enrolled_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
}

/// Checks a directory's permission bits: nothing for group or others.
pub fn check_dir_mode(path: &Path, mode: u32) -> Result<(), StateError> {
    if mode & 0o077 != 0 {
        return Err(StateError::DirTooOpen { path: path.to_path_buf(), mode: mode & 0o7777 });
    }
    Ok(())
}

/// Checks a secret file's permission bits: nothing for group or others.
pub fn check_file_mode(path: &Path, mode: u32) -> Result<(), StateError> {
    if mode & 0o077 != 0 {
        return Err(StateError::FileTooOpen { path: path.to_path_buf(), mode: mode & 0o7777 });
    }
    Ok(())
}

/// An opened, permission-checked state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Opens an existing state directory, refusing one that is not private.
    pub fn open(path: &Path) -> Result<StateDir, StateError> {
        let meta = std::fs::metadata(path).map_err(|source| io(path, source))?;
        if !meta.is_dir() {
            return Err(StateError::NotADirectory(path.to_path_buf()));
        }
        #[cfg(not(windows))]
        check_dir_mode(path, crate::platform::mode(&meta))?;
        #[cfg(windows)]
        {
            let access = super::access_windows::read_access(path).map_err(|source| io(path, source))?;
            super::access::check_dir_acl(path, access.owner.as_deref(), access.dacl.as_deref())?;
        }
        Ok(StateDir { path: path.to_path_buf() })
    }

    /// Opens the state directory, creating it (mode 0700, parents with default modes) if it does not exist.
    pub fn create(path: &Path) -> Result<StateDir, StateError> {
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|source| io(parent, source))?;
            }
            crate::platform::create_private_dir(path).map_err(|source| io(path, source))?;
        }
        StateDir::open(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the state directory's lock so a `report-now` and a running `run` never interleave their writes.
    pub fn try_lock(&self) -> Result<StateLock, StateError> {
        let path = self.path.join(LOCK_FILE);
        let file = crate::platform::private_on_create(OpenOptions::new().create(true).truncate(false).write(true))
            .open(&path)
            .map_err(|source| io(&path, source))?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Busy(self.path.clone())),
            Err(std::fs::TryLockError::Error(source)) => Err(io(&path, source)),
        }
    }

    pub fn is_enrolled(&self) -> bool {
        self.path.join(ENROLMENT_FILE).exists()
    }

    pub fn save_enrolment(&self, enrolment: &Enrolment) -> Result<(), StateError> {
        let file = EnrolmentFile {
            collector: enrolment.collector_url.clone(),
            host_id: enrolment.host_id.clone(),
            enrolled_at: enrolment.enrolled_at,
            tags: enrolment.tags.clone(),
        };
        let toml = toml::to_string(&file).map_err(|e| damaged(&self.path.join(ENROLMENT_FILE), e))?;
        self.write(TOKEN_FILE, enrolment.token.expose().as_bytes())?;
        self.write(CA_FILE, enrolment.ca_pem.as_bytes())?;
        // Written last: its presence is what marks the agent as enrolled.
        self.write(ENROLMENT_FILE, toml.as_bytes())
    }

    /// The stored enrolment; [`StateError::NotEnrolled`] with the command to run when there is none.
    pub fn load_enrolment(&self) -> Result<Enrolment, StateError> {
        let toml_text = self.read_to_string(ENROLMENT_FILE)?;
        let file: EnrolmentFile =
            toml::from_str(&toml_text).map_err(|e| damaged(&self.path.join(ENROLMENT_FILE), e))?;
        let token_path = self.path.join(TOKEN_FILE);
        let meta = std::fs::metadata(&token_path).map_err(|source| io(&token_path, source))?;
        check_file_mode(&token_path, crate::platform::mode(&meta))?;
        let token = self.read_to_string(TOKEN_FILE)?.trim().to_string();
        if token.is_empty() {
            return Err(damaged(&token_path, "empty token"));
        }
        Ok(Enrolment {
            collector_url: file.collector,
            host_id: file.host_id,
            token: HostToken::new(token),
            ca_pem: self.read_to_string(CA_FILE)?,
            enrolled_at: file.enrolled_at,
            tags: file.tags,
        })
    }

    /// Section hashes the collector last acknowledged; empty when none (everything then goes in full).
    pub fn load_acked(&self) -> Result<SectionHashes, StateError> {
        let path = self.path.join(ACKED_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| damaged(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SectionHashes::new()),
            Err(source) => Err(io(&path, source)),
        }
    }

    pub fn save_acked(&self, hashes: &SectionHashes) -> Result<(), StateError> {
        let json = serde_json::to_vec_pretty(hashes).map_err(|e| damaged(&self.path.join(ACKED_FILE), e))?;
        self.write(ACKED_FILE, &json)
    }

    /// Forgets the acknowledged hashes (after a new enrolment the collector's copy is unknown).
    pub fn clear_acked(&self) -> Result<(), StateError> {
        let path = self.path.join(ACKED_FILE);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(io(&path, source)),
        }
    }

    fn read_to_string(&self, name: &'static str) -> Result<String, StateError> {
        let path = self.path.join(name);
        std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                let state_dir_arg = if self.path == Path::new(DEFAULT_STATE_DIR) {
                    String::new()
                } else {
                    format!(" --state-dir {}", self.path.display())
                };
                StateError::NotEnrolled { dir: self.path.clone(), file: name, state_dir_arg }
            } else {
                io(&path, source)
            }
        })
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        let path = self.path.join(name);
        write_private(&path, bytes).map_err(|source| io(&path, source))
    }
}

/// Held while a delivery cycle reads and writes the state directory; released on drop.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// Writes a file readable by its owner only, atomically (a crash leaves the old or the new content, never half).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file =
        crate::platform::private_on_create(OpenOptions::new().create(true).truncate(true).write(true)).open(&tmp)?;
    // The creation mode applies only when the file is created; a leftover temporary file keeps its own otherwise.
    crate::platform::make_private(&file)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn io(path: &Path, source: std::io::Error) -> StateError {
    StateError::Io { path: path.to_path_buf(), source }
}

fn damaged(path: &Path, reason: impl fmt::Display) -> StateError {
    StateError::Damaged { path: path.to_path_buf(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::SectionName;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn modes_open_to_group_or_others_are_refused() {
        let path = Path::new("/x");
        for private in [0o700, 0o40700, 0o500, 0o600, 0o400] {
            assert!(check_dir_mode(path, private).is_ok(), "{private:o}");
            assert!(check_file_mode(path, private).is_ok(), "{private:o}");
        }
        for open in [0o755, 0o40750, 0o701, 0o710, 0o777] {
            assert!(matches!(check_dir_mode(path, open), Err(StateError::DirTooOpen { .. })), "{open:o}");
        }
        assert!(matches!(check_file_mode(path, 0o644), Err(StateError::FileTooOpen { mode: 0o644, .. })));
        let message = check_dir_mode(Path::new("/var/lib/m"), 0o40755).unwrap_err().to_string();
        assert!(message.contains("mode 0755") && message.contains("chmod 700 /var/lib/m"), "{message}");
    }

    #[test]
    fn enrolment_round_trip_with_private_files() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("deep/state");
        let state = StateDir::create(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(matches!(state.load_enrolment(), Err(StateError::NotEnrolled { file: ENROLMENT_FILE, .. })));
        let enrolment = Enrolment {
            collector_url: "https://127.0.0.1:8443".to_string(),
            host_id: "h-1".to_string(),
            token: HostToken::new("secret-token".to_string()),
            ca_pem: "-----BEGIN CERTIFICATE-----\n".to_string(),
            enrolled_at: DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().with_timezone(&Utc),
            tags: vec!["lab".to_string()],
        };
        state.save_enrolment(&enrolment).unwrap();
        assert_eq!(state.load_enrolment().unwrap(), enrolment);
        let token_mode = std::fs::metadata(dir.join(TOKEN_FILE)).unwrap().permissions().mode();
        assert_eq!(token_mode & 0o777, 0o600);
        assert!(!format!("{enrolment:?}").contains("secret-token"));

        std::fs::set_permissions(dir.join(TOKEN_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(state.load_enrolment(), Err(StateError::FileTooOpen { .. })));
    }

    #[test]
    fn acked_hashes_and_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        assert!(state.load_acked().unwrap().is_empty());
        let hashes = SectionHashes::from([(SectionName::Os, "ab".to_string())]);
        state.save_acked(&hashes).unwrap();
        assert_eq!(state.load_acked().unwrap(), hashes);
        state.clear_acked().unwrap();
        assert!(state.load_acked().unwrap().is_empty());

        let held = state.try_lock().unwrap();
        assert!(matches!(state.try_lock(), Err(StateError::Busy(_))));
        drop(held);
        assert!(state.try_lock().is_ok());
    }
}

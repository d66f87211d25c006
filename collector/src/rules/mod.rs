//! Security rules: CEL expressions evaluated against one host's current state, loaded from the built-in policy and
//! the operator's policy directory, and swappable at run time (SIGHUP, `POST /api/v1/rules/reload`).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// Where the policy comes from besides the built-in files.
#[derive(Debug, Clone, Default)]
pub struct PolicySource {
    /// Operator rule files (`*.toml`) adding to or overriding the built-in rules.
    pub policy_dir: Option<PathBuf>,
    /// An end-of-life data file replacing the built-in one.
    pub eol_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Invalid(String),
}

/// The compiled rule set.
#[derive(Debug, Default)]
pub struct Policy {}

impl Policy {
    pub fn load(_source: &PolicySource) -> Result<Policy, PolicyError> {
        Ok(Policy {})
    }
}

/// The policy in force, replaced as a whole on reload; readers keep the `Arc` they took.
#[derive(Debug)]
pub struct Rules {
    source: PolicySource,
    current: RwLock<Arc<Policy>>,
}

impl Rules {
    pub fn load(source: PolicySource) -> Result<Rules, PolicyError> {
        let policy = Policy::load(&source)?;
        Ok(Rules { source, current: RwLock::new(Arc::new(policy)) })
    }

    /// The built-in policy and end-of-life data only.
    pub fn builtin() -> Result<Rules, PolicyError> {
        Rules::load(PolicySource::default())
    }

    pub fn current(&self) -> Arc<Policy> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reads the sources again; on error the policy in force stays.
    pub fn reload(&self) -> Result<Arc<Policy>, PolicyError> {
        let policy = Arc::new(Policy::load(&self.source)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&policy);
        Ok(policy)
    }

    pub fn source(&self) -> &PolicySource {
        &self.source
    }
}

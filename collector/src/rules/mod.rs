//! Security rules: CEL expressions evaluated against one host's current state, loaded from the built-in policy and
//! the operator's policy directory, and swappable at run time (SIGHUP, `POST /api/v1/rules/reload`).
//!
//! Architecture invariant: evaluation is pure. [`Policy::evaluate`] takes a [`HostFacts`] and the time and returns
//! matches; loading facts from the store and writing findings live in `crate::findings`.

pub mod eol;
pub mod facts;
pub mod load;
pub mod names;
pub mod timing;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use cel::{Program, Value};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub use eol::EolData;
pub use facts::{HostFacts, PendingSecurityUpdate};
pub use load::PolicyError;

// A value the store and the console share, so it lives with the other domain values.
pub use crate::model::Severity;

/// Where the policy comes from besides the built-in files.
#[derive(Debug, Clone, Default)]
pub struct PolicySource {
    /// Operator rule files (`*.toml`) adding to or overriding the built-in rules.
    pub policy_dir: Option<PathBuf>,
    /// An end-of-life data file (endoflife.date product JSON) replacing the built-in one.
    pub eol_file: Option<PathBuf>,
    /// End-of-life data an advisory import stored in the database (its input's name and text): used instead of
    /// the built-in data when no `eol_file` is given.
    pub eol_text: Option<(String, String)>,
}

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub sla_days: u32,
    pub description: String,
    pub remediation: String,
    /// The CEL text of the condition; the host matches when it yields `true`.
    pub condition: String,
    /// CEL yielding a string or a list of strings, evaluated only for matching hosts.
    pub evidence: Option<String>,
    /// The file the rule's final definition came from (`builtin:checks.toml`, or a path).
    pub origin: String,
    condition_program: Program,
    evidence_program: Option<Program>,
}

/// A rule as the API and CLI show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleView {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub sla_days: u32,
    pub description: String,
    pub remediation: String,
    /// CEL condition.
    #[serde(rename = "match")]
    pub condition: String,
    pub evidence: Option<String>,
    pub origin: String,
}

impl From<&Rule> for RuleView {
    fn from(r: &Rule) -> RuleView {
        RuleView {
            id: r.id.clone(),
            title: r.title.clone(),
            severity: r.severity,
            sla_days: r.sla_days,
            description: r.description.clone(),
            remediation: r.remediation.clone(),
            condition: r.condition.clone(),
            evidence: r.evidence.clone(),
            origin: r.origin.clone(),
        }
    }
}

/// A rule that matched one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    pub rule_id: String,
    pub evidence: Vec<String>,
}

/// A rule whose expression failed on one host (wrong type, missing key); its findings are left as they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFailure {
    pub rule_id: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    pub matches: Vec<RuleMatch>,
    pub failures: Vec<RuleFailure>,
}

/// The compiled rule set with its parameters and end-of-life data.
#[derive(Debug)]
pub struct Policy {
    /// Sorted by id.
    pub rules: Vec<Rule>,
    /// Named integers rules read as `params.<name>` (e.g. `stale_days`).
    pub params: BTreeMap<String, i64>,
    /// os-release `ID` to endoflife.date product name.
    pub eol_products: BTreeMap<String, String>,
    pub eol: EolData,
    /// Identifies this rule set (a hash of every input), recorded with evaluations.
    pub fingerprint: String,
    /// A rule names `now`: every host is due at every scheduled run (`timing`).
    pub reads_now: bool,
    /// CEL's standard functions, built once: building them per host cost more than evaluating every rule.
    env: StdEnv,
}

/// `cel::Env` has no `Debug`.
struct StdEnv(Arc<cel::Env>);

impl std::fmt::Debug for StdEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cel::Env::stdlib()")
    }
}

impl Policy {
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.binary_search_by(|r| r.id.as_str().cmp(id)).ok().and_then(|i| self.rules.get(i))
    }

    /// Every rule against one host. A rule that fails is reported, never treated as "no match".
    pub fn evaluate(&self, facts: &HostFacts, now: DateTime<Utc>) -> Evaluation {
        let context = facts::context(facts, self, Arc::clone(&self.env.0), now);
        let mut out = Evaluation::default();
        for rule in &self.rules {
            match rule.condition_program.execute(&context) {
                Ok(Value::Bool(false)) => {}
                Ok(Value::Bool(true)) => match &rule.evidence_program {
                    None => out.matches.push(RuleMatch { rule_id: rule.id.clone(), evidence: Vec::new() }),
                    Some(program) => match program.execute(&context).map_err(|e| e.to_string()).and_then(strings) {
                        Ok(evidence) => out.matches.push(RuleMatch { rule_id: rule.id.clone(), evidence }),
                        Err(message) => out
                            .failures
                            .push(RuleFailure { rule_id: rule.id.clone(), message: format!("evidence: {message}") }),
                    },
                },
                Ok(other) => out.failures.push(RuleFailure {
                    rule_id: rule.id.clone(),
                    message: format!("the condition yielded {}, not a bool", other.type_of()),
                }),
                Err(e) => out.failures.push(RuleFailure { rule_id: rule.id.clone(), message: e.to_string() }),
            }
        }
        out
    }
}

fn strings(value: Value) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.as_str().to_owned()),
        Value::Int(i) => Ok(i.to_string()),
        Value::UInt(i) => Ok(i.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("evidence items must be strings, got {}", other.type_of())),
    };
    match &value {
        Value::List(items) => items.iter().map(one).collect(),
        Value::Null => Ok(Vec::new()),
        other => one(other).map(|s| vec![s]),
    }
}

/// The policy in force, replaced as a whole on reload; readers keep the `Arc` they took.
#[derive(Debug)]
pub struct Rules {
    source: RwLock<PolicySource>,
    current: RwLock<Arc<Policy>>,
    /// The fingerprint of the policy every host was last evaluated with in this process (`app::evaluation`).
    evaluated: RwLock<Option<String>>,
}

impl Rules {
    pub fn load(source: PolicySource) -> Result<Rules, PolicyError> {
        let policy = load::load(&source)?;
        Ok(Rules { source: RwLock::new(source), current: RwLock::new(Arc::new(policy)), evaluated: RwLock::new(None) })
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
        let policy = Arc::new(load::load(&self.source())?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&policy);
        Ok(policy)
    }

    /// Reloads with end-of-life data stored by an advisory import (name, text); on error the policy in force
    /// and its sources stay.
    pub fn reload_with_eol(&self, eol: (String, String)) -> Result<Arc<Policy>, PolicyError> {
        let mut source = self.source();
        source.eol_text = Some(eol);
        let policy = Arc::new(load::load(&source)?);
        *self.source.write().unwrap_or_else(|e| e.into_inner()) = source;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&policy);
        Ok(policy)
    }

    /// The fingerprint of the policy a run of every host last finished with, if any.
    pub fn evaluated_with(&self) -> Option<String> {
        self.evaluated.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records that every host was evaluated with the policy of `fingerprint`.
    pub fn mark_evaluated(&self, fingerprint: &str) {
        *self.evaluated.write().unwrap_or_else(|e| e.into_inner()) = Some(fingerprint.to_owned());
    }

    pub fn source(&self) -> PolicySource {
        self.source.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests;

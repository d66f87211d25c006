//! Reading and validating the policy: the built-in TOML files, then the operator's `--policy-dir` files (sorted by
//! name) overriding rules by id, then the end-of-life data. Every mistake names the file, the rule and the position.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use cel::Program;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::eol::EolData;
use super::{Policy, PolicySource, Rule, Severity};

/// The default policy shipped in the binary, as (name, text).
pub const BUILTIN: [(&str, &str); 2] = [
    ("builtin:checks.toml", include_str!("../../policy/checks.toml")),
    ("builtin:hosts.toml", include_str!("../../policy/hosts.toml")),
];

/// endoflife.date data for operating systems (see `policy/README.md` for its source and licence).
pub const BUILTIN_EOL: &str = include_str!("../../policy/endoflife/os.json");

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{file}:{line}:{column}: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    #[error("{file}:{line}:{column}: rule {rule}: {message}")]
    Rule { file: String, rule: String, line: usize, column: usize, message: String },
    #[error("end-of-life data {file}: {message}")]
    Eol { file: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    params: BTreeMap<String, i64>,
    #[serde(default)]
    eol_products: BTreeMap<String, String>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleSpec>>,
}

/// A rule as written: a new rule gives every field; an override of a known id gives only what it changes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    title: Option<String>,
    severity: Option<toml::Spanned<String>>,
    sla_days: Option<u32>,
    description: Option<String>,
    remediation: Option<String>,
    #[serde(rename = "match")]
    condition: Option<toml::Spanned<String>>,
    evidence: Option<toml::Spanned<String>>,
    /// `false` removes a built-in rule.
    enabled: Option<bool>,
}

/// A rule merged from its definitions, not compiled yet.
struct Draft {
    id: String,
    title: Option<String>,
    severity: Option<Severity>,
    sla_days: Option<u32>,
    description: String,
    remediation: String,
    condition: Option<Located>,
    evidence: Option<Located>,
    enabled: bool,
    /// Where it was last defined: file name, its text, the rule's span.
    origin: String,
    origin_line: (usize, usize),
}

/// A CEL text with where it sits in its file, to turn parser positions into file positions.
#[derive(Clone)]
struct Located {
    text: String,
    file: String,
    /// Line and column (1-based) in the file of each expression position, when the TOML string is literal.
    content_start: Option<(String, usize)>,
    fallback: (usize, usize),
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn locate(file: &str, file_text: &str, span: Range<usize>, value: String) -> Located {
    let fallback = line_col(file_text, span.start);
    let raw = file_text.get(span.clone()).unwrap_or("");
    let mut start = span.start;
    if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
        start += 3;
        if file_text.get(start..).is_some_and(|r| r.starts_with("\r\n")) {
            start += 2;
        } else if file_text.get(start..).is_some_and(|r| r.starts_with('\n')) {
            start += 1;
        }
    } else {
        start += 1;
    }
    // Only when the file holds the expression verbatim (no escapes) do positions map one to one.
    let verbatim = file_text.get(start..).is_some_and(|r| r.starts_with(value.as_str()));
    Located {
        content_start: verbatim.then(|| (file_text.to_owned(), start)),
        text: value,
        file: file.to_owned(),
        fallback,
    }
}

impl Located {
    /// The file position of CEL position (`line`, `column`), both 1-based.
    fn position(&self, line: isize, column: isize) -> (usize, usize) {
        let Some((file_text, start)) = &self.content_start else { return self.fallback };
        let (line, column) = (line.max(1) as usize, column.max(1) as usize);
        let mut offset = *start;
        for (i, l) in self.text.split_inclusive('\n').enumerate() {
            if i + 1 == line {
                offset += l.char_indices().nth(column - 1).map_or(l.len(), |(b, _)| b);
                return line_col(file_text, offset);
            }
            offset += l.len();
        }
        line_col(file_text, offset)
    }

    fn compile(&self, rule: &str, what: &str) -> Result<Program, PolicyError> {
        // The parser is generated code (cel 0.10 panicked on some inputs); where panics unwind, a bad file must
        // still end as an error. Release builds abort on panic, hence the fixed `cel` version.
        let text = self.text.clone();
        let outcome = std::panic::catch_unwind(move || {
            Program::compile(&text).map_err(|errors| {
                errors
                    .errors
                    .first()
                    .map(|e| (e.pos, e.msg.clone()))
                    .unwrap_or(((0, 0), "invalid expression".to_owned()))
            })
        });
        let ((l, c), message) = match outcome {
            Ok(Ok(program)) => return Ok(program),
            Ok(Err(e)) => e,
            Err(_) => ((0, 0), "the CEL parser failed on this expression".to_owned()),
        };
        let (line, column) = self.position(l, c);
        Err(PolicyError::Rule {
            file: self.file.clone(),
            rule: rule.to_owned(),
            line,
            column,
            message: format!("{what}: {message}"),
        })
    }
}

fn parse_file(name: &str, text: &str) -> Result<PolicyFile, PolicyError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        PolicyError::Syntax { file: name.to_owned(), line, column, message: e.message().trim().to_owned() }
    })
}

/// Reads `*.toml` in `dir`, sorted by file name.
fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, PolicyError> {
    let err = |message: String| PolicyError::File { file: dir.display().to_string(), message };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| err(format!("cannot read the policy directory: {e}")))? {
        let path = entry.map_err(|e| err(e.to_string()))?.path();
        if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| PolicyError::File { file: p.display().to_string(), message: e.to_string() })?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

/// Loads, merges and compiles the policy named by `source`.
pub fn load(source: &PolicySource) -> Result<Policy, PolicyError> {
    let mut files: Vec<(String, String)> = BUILTIN.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
    let builtin_count = files.len();
    if let Some(dir) = &source.policy_dir {
        files.extend(read_dir(dir)?);
    }
    let (eol_name, eol_text) = match &source.eol_file {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path)
                .map_err(|e| PolicyError::Eol { file: path.display().to_string(), message: e.to_string() })?,
        ),
        None => match &source.eol_text {
            Some((name, text)) => (format!("stored:{name}"), text.clone()),
            None => ("builtin:endoflife/os.json".to_owned(), BUILTIN_EOL.to_owned()),
        },
    };
    let eol = EolData::parse(&eol_text).map_err(|e| PolicyError::Eol { file: eol_name, message: e.to_string() })?;
    let mut hasher = Sha256::new();
    for (name, text) in &files {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    hasher.update(eol_text.as_bytes());
    let fingerprint = hex::encode(&hasher.finalize()[..8]);

    let mut params = BTreeMap::new();
    let mut eol_products = BTreeMap::new();
    let mut drafts: BTreeMap<String, Draft> = BTreeMap::new();
    // Rule ids defined by the operator so far, to refuse the same id in two operator files.
    let mut operator_ids: BTreeMap<String, String> = BTreeMap::new();
    for (index, (name, text)) in files.iter().enumerate() {
        let parsed = parse_file(name, text)?;
        params.extend(parsed.params);
        eol_products.extend(parsed.eol_products);
        let mut in_file: BTreeMap<String, ()> = BTreeMap::new();
        for spanned in parsed.rule {
            let at = line_col(text, spanned.span().start);
            let spec = spanned.into_inner();
            let rule_err = |(line, column): (usize, usize), message: String| PolicyError::Rule {
                file: name.clone(),
                rule: spec.id.clone(),
                line,
                column,
                message,
            };
            if spec.id.trim().is_empty() || spec.id.len() > 128 || spec.id.chars().any(char::is_whitespace) {
                return Err(rule_err(at, "the id must be 1 to 128 characters without spaces".to_owned()));
            }
            if in_file.insert(spec.id.clone(), ()).is_some() {
                return Err(rule_err(at, "defined twice in this file".to_owned()));
            }
            if index >= builtin_count
                && let Some(other) = operator_ids.insert(spec.id.clone(), name.clone())
            {
                return Err(rule_err(at, format!("also defined in {other}")));
            }
            let severity = match &spec.severity {
                None => None,
                Some(sev) => Some(Severity::parse(sev.get_ref()).ok_or_else(|| {
                    rule_err(
                        line_col(text, sev.span().start),
                        format!("severity {:?} is not one of critical, high, medium, low, info", sev.get_ref()),
                    )
                })?),
            };
            let draft = drafts.entry(spec.id.clone()).or_insert_with(|| Draft {
                id: spec.id.clone(),
                title: None,
                severity: None,
                sla_days: None,
                description: String::new(),
                remediation: String::new(),
                condition: None,
                evidence: None,
                enabled: true,
                origin: name.clone(),
                origin_line: at,
            });
            draft.origin = name.clone();
            draft.origin_line = at;
            if let Some(v) = spec.title {
                draft.title = Some(v);
            }
            if severity.is_some() {
                draft.severity = severity;
            }
            if let Some(v) = spec.sla_days {
                draft.sla_days = Some(v);
            }
            if let Some(v) = spec.description {
                draft.description = v;
            }
            if let Some(v) = spec.remediation {
                draft.remediation = v;
            }
            if let Some(v) = spec.condition {
                let span = v.span();
                draft.condition = Some(locate(name, text, span, v.into_inner()));
            }
            if let Some(v) = spec.evidence {
                let span = v.span();
                draft.evidence = Some(locate(name, text, span, v.into_inner()));
            }
            if let Some(v) = spec.enabled {
                draft.enabled = v;
            }
        }
    }

    let mut rules = Vec::with_capacity(drafts.len());
    // Each rule's expressions with their places, for the name check once the context's names are known.
    let mut sources: Vec<(Located, Option<Located>)> = Vec::with_capacity(drafts.len());
    for draft in drafts.into_values().filter(|d| d.enabled) {
        let missing = |field: &str| PolicyError::Rule {
            file: draft.origin.clone(),
            rule: draft.id.clone(),
            line: draft.origin_line.0,
            column: draft.origin_line.1,
            message: format!("a new rule needs `{field}`"),
        };
        let title = draft.title.clone().ok_or_else(|| missing("title"))?;
        let severity = draft.severity.ok_or_else(|| missing("severity"))?;
        let sla_days = draft.sla_days.ok_or_else(|| missing("sla_days"))?;
        let condition = draft.condition.as_ref().ok_or_else(|| missing("match"))?;
        let condition_program = condition.compile(&draft.id, "match")?;
        let evidence_program = draft.evidence.as_ref().map(|e| e.compile(&draft.id, "evidence")).transpose()?;
        sources.push((condition.clone(), draft.evidence.clone()));
        rules.push(Rule {
            id: draft.id,
            title,
            severity,
            sla_days,
            description: draft.description,
            remediation: draft.remediation,
            condition: condition.text.clone(),
            evidence: draft.evidence.as_ref().map(|e| e.text.clone()),
            origin: draft.origin,
            condition_program,
            evidence_program,
        });
    }
    let policy = Policy {
        reads_now: super::timing::reads_now(&rules),
        rules,
        params,
        eol_products,
        eol,
        fingerprint,
        env: super::StdEnv(std::sync::Arc::new(cel::Env::stdlib())),
    };
    check_names(&policy, &sources)?;
    Ok(policy)
}

/// Refuses a rule that names a variable or field the context does not have (see `rules/names.rs`).
fn check_names(policy: &Policy, sources: &[(Located, Option<Located>)]) -> Result<(), PolicyError> {
    let known = super::facts::known_names(policy);
    for (rule, (condition, evidence)) in policy.rules.iter().zip(sources) {
        let parts = [
            (Some(condition), Some(&rule.condition_program), "match"),
            (evidence.as_ref(), rule.evidence_program.as_ref(), "evidence"),
        ];
        for (located, program, what) in parts {
            let (Some(located), Some(program)) = (located, program) else { continue };
            if let Some(unknown) = super::names::unknown_names(program.expression(), &known).first() {
                let (l, c) = line_col(&located.text, unknown.offset_in(&located.text).unwrap_or(0));
                let (line, column) = located.position(l as isize, c as isize);
                return Err(PolicyError::Rule {
                    file: located.file.clone(),
                    rule: rule.id.clone(),
                    line,
                    column,
                    message: format!("{what}: {}", unknown.message(&known)),
                });
            }
        }
    }
    Ok(())
}

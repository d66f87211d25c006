//! The names a rule uses, checked against the documented variables before the rule is accepted: `hots.laptop` or
//! `params.stale_dayz` is a mistake to report with file, rule and position, not a rule that silently never matches
//! (CEL only finds an unknown name when it evaluates it, and then as a per-host failure).
//!
//! Hand-written over the parsed expression because the `cel` crate's own reference list counts comprehension
//! variables (`p` in `exists(p, …)`) as unknown variables and never looks at fields.

use std::collections::{BTreeMap, BTreeSet};

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr};

/// Variable name → its field names when fixed, `None` when any field may exist (a map keyed by data).
pub type Known = BTreeMap<&'static str, Option<BTreeSet<String>>>;

/// A name the expression uses that the context does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unknown {
    Variable(String),
    /// `variable.field`.
    Field(String, String),
}

impl Unknown {
    pub fn message(&self, known: &Known) -> String {
        match self {
            Unknown::Variable(name) => {
                let names: Vec<&str> = known.keys().copied().collect();
                format!("unknown variable `{name}` (the variables are {})", names.join(", "))
            }
            Unknown::Field(var, field) => {
                let fields = known.get(var.as_str()).cloned().flatten().unwrap_or_default();
                let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
                format!("`{var}` has no field `{field}` (it has {})", fields.join(", "))
            }
        }
    }

    /// Where the name is written in `text` (byte offset), for the error position: the first occurrence as a whole
    /// identifier (for a field, right after `variable.`).
    pub fn offset_in(&self, text: &str) -> Option<usize> {
        let (needle, skip) = match self {
            Unknown::Variable(name) => (name.clone(), 0),
            Unknown::Field(var, field) => (format!("{var}.{field}"), var.len() + 1),
        };
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        text.match_indices(needle.as_str())
            .map(|(at, _)| at)
            .find(|&at| {
                let before = text[..at].chars().next_back();
                let after = text[at + needle.len()..].chars().next();
                !before.is_some_and(|c| ident(c) || c == '.') && !after.is_some_and(ident)
            })
            .map(|at| at + skip)
    }
}

/// Every unknown name of a compiled expression, in the order met.
pub fn unknown_names(expr: &IdedExpr, known: &Known) -> Vec<Unknown> {
    let mut out = Vec::new();
    walk(expr, known, &mut Vec::new(), &mut out);
    out
}

fn walk(e: &IdedExpr, known: &Known, scope: &mut Vec<String>, out: &mut Vec<Unknown>) {
    match &e.expr {
        // `@`-names are the macro expansions' own accumulators.
        Expr::Ident(name) => {
            if !name.starts_with('@') && !scope.contains(name) && !known.contains_key(name.as_str()) {
                out.push(Unknown::Variable(name.clone()));
            }
        }
        Expr::Select(select) => {
            if let Expr::Ident(root) = &select.operand.expr
                && !scope.contains(root)
                && let Some(Some(fields)) = known.get(root.as_str())
                && !fields.contains(&select.field)
            {
                out.push(Unknown::Field(root.clone(), select.field.clone()));
            }
            walk(&select.operand, known, scope, out);
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                walk(target, known, scope, out);
            }
            for arg in &call.args {
                walk(arg, known, scope, out);
            }
        }
        Expr::Comprehension(c) => {
            walk(&c.iter_range, known, scope, out);
            walk(&c.accu_init, known, scope, out);
            let bound = 2 + usize::from(c.iter_var2.is_some());
            scope.push(c.iter_var.clone());
            scope.push(c.accu_var.clone());
            if let Some(v) = &c.iter_var2 {
                scope.push(v.clone());
            }
            walk(&c.loop_cond, known, scope, out);
            walk(&c.loop_step, known, scope, out);
            walk(&c.result, known, scope, out);
            scope.truncate(scope.len() - bound);
        }
        Expr::List(list) => {
            for element in &list.elements {
                walk(element, known, scope, out);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                match &entry.expr {
                    EntryExpr::StructField(field) => walk(&field.value, known, scope, out),
                    EntryExpr::MapEntry(entry) => {
                        walk(&entry.key, known, scope, out);
                        walk(&entry.value, known, scope, out);
                    }
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(field) = &entry.expr {
                    walk(&field.value, known, scope, out);
                }
            }
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        let fields = |f: &[&str]| Some(f.iter().map(|s| (*s).to_owned()).collect());
        BTreeMap::from([
            ("host", fields(&["laptop", "tags"])),
            ("params", fields(&["stale_days"])),
            ("patches", fields(&["security_pending"])),
            ("checks", None),
            ("last_seen_days", None),
        ])
    }

    fn check(text: &str) -> Vec<Unknown> {
        let program = cel::Program::compile(text).unwrap();
        unknown_names(program.expression(), &known())
    }

    #[test]
    fn typos_are_found_and_bound_names_are_not() {
        assert_eq!(check("hots.laptop"), vec![Unknown::Variable("hots".into())]);
        assert_eq!(check("host.laptopp && host.laptop"), vec![Unknown::Field("host".into(), "laptopp".into())]);
        assert_eq!(
            check("last_seen_days >= params.stale_dayz"),
            vec![Unknown::Field("params".into(), "stale_dayz".into())]
        );
        // Comprehension variables, map-keyed variables and `has()` are fine.
        assert_eq!(check("patches.security_pending.exists(p, p.days > params.stale_days)"), vec![]);
        assert_eq!(check("checks['ssh.permit_root_login'].status == 'fail' && has(checks.x)"), vec![]);
        assert_eq!(check("[1, 2].map(x, x * 2).size() > 0 && 'lab' in host.tags"), vec![]);
        // A comprehension variable does not leak out of its macro.
        assert_eq!(check("[1].all(x, x > 0) && x == 1"), vec![Unknown::Variable("x".into())]);
    }

    #[test]
    fn positions_point_at_the_name() {
        assert_eq!(Unknown::Variable("hots".into()).offset_in("a.hots || hots.laptop"), Some(10));
        assert_eq!(Unknown::Field("host".into(), "laptopp".into()).offset_in("x && host.laptopp"), Some(10));
    }
}

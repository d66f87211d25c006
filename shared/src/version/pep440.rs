//! Python package version order: PEP 440 through the `pep440_rs` crate (the parser uv uses), plus the
//! `LegacyVersion` fallback that `packaging` < 22 and OSV's PyPI tooling apply to strings PEP 440 rejects.
//!
//! The fallback is written here because no crate carries it: `packaging` removed it in version 22, yet advisory
//! databases were generated with it and still list such versions.

use std::cmp::Ordering;
use std::str::FromStr;

use pep440_rs::Version;

/// Compares two PEP 440 versions as `packaging.version.Version` does.
///
/// Errors on strings PEP 440 rejects, and on numbers of 2^64 or more, which `pep440_rs` cannot hold (Python's
/// integers are unbounded, so such versions are valid there; no real release uses them).
pub fn compare(a: &str, b: &str) -> Result<Ordering, pep440_rs::VersionParseError> {
    Ok(Version::from_str(a)?.cmp(&Version::from_str(b)?))
}

/// Whether `version` is a valid PEP 440 version.
pub fn is_valid(version: &str) -> bool {
    Version::from_str(version).is_ok()
}

/// Compares like `packaging.version.parse` before version 22: a string PEP 440 rejects becomes a `LegacyVersion`,
/// which sorts before every PEP 440 version and against other legacy versions by setuptools' old rules.
pub fn compare_with_legacy(a: &str, b: &str) -> Ordering {
    match (Version::from_str(a), Version::from_str(b)) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        (Err(_), Ok(_)) => Ordering::Less,
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Err(_)) => legacy_key(a).cmp(&legacy_key(b)),
    }
}

/// `packaging.version._legacy_cmpkey` without its constant epoch of -1.
///
/// Python's `\d` also matches non-ASCII decimal digits and its `lower()` follows Unicode rules in corner cases
/// Rust's `to_lowercase` may not; both only matter for non-ASCII versions, which no index accepts today.
fn legacy_key(version: &str) -> Vec<String> {
    let lowered = version.to_lowercase();
    let mut parts: Vec<String> = Vec::new();
    for part in legacy_parts(&lowered).chain(std::iter::once("*final".to_owned())) {
        if part.starts_with('*') {
            // A "-" before a pre-release tag does not count.
            if part.as_str() < "*final" {
                while parts.last().is_some_and(|p| p == "*final-") {
                    parts.pop();
                }
            }
            // Trailing zeros of each run of numbers do not count.
            while parts.last().is_some_and(|p| p == "00000000") {
                parts.pop();
            }
        }
        parts.push(part);
    }
    parts
}

/// `packaging.version._parse_version_parts` minus the final `*final`: splits on `\d+ | [a-z]+ | . | -`, keeping the
/// text between matches too, pads numbers to eight digits and marks everything else with `*`.
fn legacy_parts(s: &str) -> impl Iterator<Item = String> + '_ {
    let mut rest = s;
    std::iter::from_fn(move || {
        loop {
            let first = rest.chars().next()?;
            let len = if first.is_ascii_digit() {
                rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())
            } else if first.is_ascii_lowercase() {
                rest.find(|c: char| !c.is_ascii_lowercase()).unwrap_or(rest.len())
            } else if first == '.' || first == '-' {
                1
            } else {
                rest.find(|c: char| c.is_ascii_digit() || c.is_ascii_lowercase() || c == '.' || c == '-')
                    .unwrap_or(rest.len())
            };
            let (part, tail) = rest.split_at(len);
            rest = tail;
            let part = match part {
                "pre" | "preview" | "rc" => "c",
                "-" => "final-",
                "dev" => "@",
                "." => continue,
                other => other,
            };
            return Some(if first.is_ascii_digit() { format!("{part:0>8}") } else { format!("*{part}") });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_key_matches_packaging() {
        // Worked through packaging 21.3's `_legacy_cmpkey` by hand and with Python's `re.split`.
        assert_eq!(legacy_key("0.1-bulbasaur"), ["00000000", "00000001", "*bulbasaur", "*final"]);
        assert_eq!(legacy_key("1.0-pre1"), ["00000001", "*c", "00000001", "*final"]);
        assert_eq!(legacy_key("2.0.0_x"), ["00000002", "*_", "*x", "*final"]);
    }

    #[test]
    fn legacy_sorts_before_pep440() {
        assert_eq!(compare_with_legacy("foo-bar", "0.0.dev0"), Ordering::Less);
        assert_eq!(compare_with_legacy("1.0", "1.0.0"), Ordering::Equal);
        assert!(compare("foo-bar", "1.0").is_err());
    }
}

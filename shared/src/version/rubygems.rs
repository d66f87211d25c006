//! RubyGems' version order (`Gem::Version#<=>`), for matching gems against RubyGems advisories.
//!
//! Written here rather than taken from a crate because no maintained crate implements `Gem::Version` itself, and
//! the rules are few: a version is dot-separated; its segments are runs of digits (numbers, of any length) and runs
//! of letters (`1.0.a10` is `1, 0, "a", 10`); a `-` stands for `.pre.`. Trailing zeros of the numeric part and of the
//! part from the first letter on are dropped (`1.0` equals `1`, `1.0.a.0` equals `1.a`); then segments compare in
//! turn, a missing one counting as 0, a letter run below any number (a pre-release), letter runs bytewise.

use std::cmp::Ordering;

/// Why a string is not a RubyGems version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RubyGemsError {
    #[error("empty version")]
    Empty,
    #[error("a version starts with a digit")]
    NoLeadingDigit,
    #[error("unexpected character {0:?}")]
    Character(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment<'a> {
    /// Digits without leading zeros (`"0"` for zero): compared by length, then bytewise, so any size works.
    Number(&'a str),
    Letters(&'a str),
}

impl Segment<'_> {
    fn is_zero(&self) -> bool {
        matches!(self, Segment::Number("0"))
    }
}

/// Whether `v` is a version `Gem::Version` accepts (`Gem::Version.correct?`).
pub fn is_valid(v: &str) -> bool {
    segments(v).is_ok()
}

/// The canonical segments of `v`: surrounding blanks ignored, `-` read as `.pre.`, trailing zeros of the numeric
/// part and of the pre-release part dropped.
fn segments(v: &str) -> Result<Vec<Segment<'_>>, RubyGemsError> {
    let v = v.trim();
    let first = v.chars().next().ok_or(RubyGemsError::Empty)?;
    if !first.is_ascii_digit() {
        return Err(RubyGemsError::NoLeadingDigit);
    }
    if let Some(c) = v.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '-')) {
        return Err(RubyGemsError::Character(c));
    }
    // Dots and dashes only separate; `1-beta` and `1.pre.beta` differ in `pre`, which `-` inserts.
    let mut all = Vec::new();
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'-' {
            all.push(Segment::Letters("pre"));
            i += 1;
            continue;
        }
        if b == b'.' {
            i += 1;
            continue;
        }
        let start = i;
        let digits = b.is_ascii_digit();
        while i < bytes.len() && bytes[i] != b'.' && bytes[i] != b'-' && bytes[i].is_ascii_digit() == digits {
            i += 1;
        }
        let run = &v[start..i];
        all.push(if digits {
            let trimmed = run.trim_start_matches('0');
            Segment::Number(if trimmed.is_empty() { "0" } else { trimmed })
        } else {
            Segment::Letters(run)
        });
    }
    let split = all.iter().position(|s| matches!(s, Segment::Letters(_))).unwrap_or(all.len());
    let mut release: Vec<Segment<'_>> = all[..split].to_vec();
    let mut pre: Vec<Segment<'_>> = all[split..].to_vec();
    for part in [&mut release, &mut pre] {
        while part.last().is_some_and(Segment::is_zero) {
            part.pop();
        }
    }
    release.extend(pre);
    Ok(release)
}

fn compare_segments(a: &Segment<'_>, b: &Segment<'_>) -> Ordering {
    match (a, b) {
        (Segment::Number(x), Segment::Number(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
        (Segment::Letters(_), Segment::Number(_)) => Ordering::Less,
        (Segment::Number(_), Segment::Letters(_)) => Ordering::Greater,
        (Segment::Letters(x), Segment::Letters(y)) => x.cmp(y),
    }
}

/// Compares two RubyGems versions as `Gem::Version#<=>` does.
pub fn compare(a: &str, b: &str) -> Result<Ordering, RubyGemsError> {
    let (a, b) = (segments(a)?, segments(b)?);
    let zero = Segment::Number("0");
    for i in 0..a.len().max(b.len()) {
        let order = compare_segments(a.get(i).unwrap_or(&zero), b.get(i).unwrap_or(&zero));
        if order != Ordering::Equal {
            return Ok(order);
        }
    }
    Ok(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_versions_are_refused() {
        assert_eq!(compare("", "1"), Err(RubyGemsError::Empty));
        assert_eq!(compare("beta", "1"), Err(RubyGemsError::NoLeadingDigit));
        assert_eq!(compare("1.0_1", "1"), Err(RubyGemsError::Character('_')));
        assert!(is_valid(" 1.2.3 ") && is_valid("1.0-beta.1"));
    }
}

//! Maven's version order (the POM reference's "version order specification"), for matching Java archives against
//! Maven advisories.
//!
//! Written here because no maintained crate implements the specification, and it is short: a version splits into
//! tokens at `.`, at `-` and where digits meet other characters (such a split counts as `-`), each token keeping the
//! separator before it; trailing "null" tokens (`0`, the empty string, `final`, `ga`) are dropped, at the end and
//! before each remaining `-`; the shorter version is padded with nulls; tokens then compare in turn: numbers as
//! numbers, qualifiers as `alpha < beta < milestone < rc = cr < snapshot < "" = final = ga < sp` with unknown ones
//! after them in lexical order, and across separators `.qualifier < -qualifier < -number < .number`. Any string is
//! a version, so comparing never fails.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    /// The separator before the token: `.`, `-`, or nothing for the first.
    dash: bool,
    value: String,
    /// Added to pad the shorter version, not read from it.
    padded: bool,
}

impl Token {
    fn is_number(&self) -> bool {
        !self.value.is_empty() && self.value.bytes().all(|b| b.is_ascii_digit())
    }

    fn is_null(&self) -> bool {
        self.value == "0" || self.value.is_empty()
    }
}

/// The qualifiers the specification orders; any other comes after them.
const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn qualifier_rank(q: &str) -> usize {
    QUALIFIERS.iter().position(|k| *k == q).unwrap_or(QUALIFIERS.len())
}

fn tokens(version: &str) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let mut raws: Vec<(bool, &str)> = Vec::new();
    let (mut start, mut dash) = (0, false);
    for (i, c) in version.char_indices() {
        if c == '.' || c == '-' {
            raws.push((dash, &version[start..i]));
            dash = c == '-';
            start = i + 1;
        }
    }
    raws.push((dash, &version[start..]));
    for (dash, raw) in raws {
        let raw = raw.to_lowercase();
        let bytes = raw.as_bytes();
        let mut start = 0;
        let mut first = true;
        loop {
            let mut end = start;
            while end < bytes.len() && (end == start || bytes[end].is_ascii_digit() == bytes[end - 1].is_ascii_digit())
            {
                end += 1;
            }
            let followed_by_more = end < bytes.len();
            let mut value = raw[start..end].to_owned();
            match value.as_str() {
                "" => value = "0".to_owned(),
                "cr" => value = "rc".to_owned(),
                "ga" | "final" | "release" => value.clear(),
                "a" if followed_by_more => value = "alpha".to_owned(),
                "b" if followed_by_more => value = "beta".to_owned(),
                "m" if followed_by_more => value = "milestone".to_owned(),
                _ => {}
            }
            if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
                let trimmed = value.trim_start_matches('0');
                value = if trimmed.is_empty() { "0".to_owned() } else { trimmed.to_owned() };
            }
            out.push(Token { dash: if first { dash } else { true }, value, padded: false });
            first = false;
            start = end;
            if start >= bytes.len() {
                break;
            }
        }
    }
    // Trailing nulls go, at the end and then before each remaining `-`, from the end to the start.
    let mut i = out.len().saturating_sub(1);
    while i > 0 {
        if out[i].is_null() {
            out.remove(i);
            i -= 1;
            continue;
        }
        while i > 0 && !out[i].dash {
            i -= 1;
        }
        if i == 0 {
            break;
        }
        i -= 1;
    }
    out
}

/// The null a version missing a token is padded with, shaped by the other version's token there.
fn null_like(other: &Token) -> Token {
    let value = if other.dash || other.value == "sp" { String::new() } else { "0".to_owned() };
    Token { dash: other.dash, value, padded: true }
}

/// `.qualifier < -qualifier < -number < .number`.
fn separator_rank(t: &Token) -> u8 {
    match (t.is_number(), t.dash) {
        (false, false) => 0,
        (false, true) => 1,
        (true, true) => 2,
        (true, false) => 3,
    }
}

fn compare_tokens(a: &Token, b: &Token) -> Ordering {
    if a.dash != b.dash {
        return separator_rank(a).cmp(&separator_rank(b));
    }
    match (a.is_number(), b.is_number()) {
        (true, true) => a.value.len().cmp(&b.value.len()).then_with(|| a.value.cmp(&b.value)),
        // A number sorts after a qualifier, unless it is padding.
        (true, false) if !a.padded => Ordering::Greater,
        (false, true) if !b.padded => Ordering::Less,
        _ => {
            let (ra, rb) = (qualifier_rank(&a.value), qualifier_rank(&b.value));
            if ra == QUALIFIERS.len() && rb == QUALIFIERS.len() { a.value.cmp(&b.value) } else { ra.cmp(&rb) }
        }
    }
}

/// Compares two Maven versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (tokens(a), tokens(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => (x.clone(), y.clone()),
            (Some(x), None) => (x.clone(), null_like(x)),
            (None, Some(y)) => (null_like(y), y.clone()),
            (None, None) => break,
        };
        if x.dash == y.dash && x.value == y.value {
            continue;
        }
        let order = compare_tokens(&x, &y);
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

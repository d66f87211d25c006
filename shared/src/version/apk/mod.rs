//! Alpine version order, validity and fuzzy matching, as apk-tools 3 (`src/version.c`) implements them.
//!
//! Grammar: `digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}`. Written here rather than taken from a crate
//! because none follows apk-tools 3 token by token, including how it orders strings apk itself calls invalid
//! (`apk version -t` still answers for those). Allocation-free: tokens borrow from the input.

mod v2;

use std::cmp::Ordering;

/// Compares two Alpine versions the way apk-tools 2.x's classic tokenizer does (up to 2.12, the order OSV's
/// Alpine data was generated with); see [`compare`] for apk-tools 3.
///
/// They differ on strings apk-tools 3 rejects, which 2.x still orders past the point where 3 stops
/// (`6.6.2p1 < 6.6.2p2`, equal under apk-tools 3), and on zero-padded groups (`1.00 < 1.0` here, `>` in 3).
pub fn compare_v2(a: &str, b: &str) -> Ordering {
    v2::compare(a, b)
}

/// Compares two Alpine package versions the way `apk version -t` does.
///
/// Invalid versions are still ordered deterministically: comparison stops at the first token apk rejects.
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_fuzzy(a.as_bytes(), b.as_bytes(), false)
}

/// Whether apk accepts `version` as a package version (`apk_version_validate`).
pub fn is_valid(version: &str) -> bool {
    let mut rest = version.as_bytes();
    let mut t = TokenState::first(&mut rest);
    while t.token < Token::End {
        t.next(&mut rest);
    }
    t.token == Token::End
}

/// A dependency constraint operator as apk writes it: `<`, `<=`, `=`, `>=`, `>`, `~`, `<~`, `>~`, and any of them
/// negated with a leading `!` (a conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraint {
    less: bool,
    equal: bool,
    greater: bool,
    fuzzy: bool,
    negated: bool,
}

/// An operator string apk does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid apk version operator {0:?}")]
pub struct InvalidConstraint(pub String);

impl Constraint {
    /// Parses an operator such as `>=`, `~` or `!~`.
    pub fn parse(op: &str) -> Result<Self, InvalidConstraint> {
        let (negated, body) = match op.strip_prefix('!') {
            Some(body) => (true, body),
            None => (false, op),
        };
        let mut c = Constraint { less: false, equal: false, greater: false, fuzzy: false, negated };
        for ch in body.chars() {
            match ch {
                '<' => c.less = true,
                '>' => c.greater = true,
                '=' => c.equal = true,
                // `~` means "equal, comparing only as many tokens as the constraint has".
                '~' => (c.fuzzy, c.equal) = (true, true),
                _ => return Err(InvalidConstraint(op.to_owned())),
            }
        }
        if body.is_empty() {
            return Err(InvalidConstraint(op.to_owned()));
        }
        Ok(c)
    }

    /// Whether `version` satisfies `self` against `wanted` (`apk_version_match`).
    pub fn matches(self, version: &str, wanted: &str) -> bool {
        let order = compare_fuzzy(version.as_bytes(), wanted.as_bytes(), self.fuzzy);
        let hit = match order {
            Ordering::Less => self.less,
            Ordering::Equal => self.equal,
            Ordering::Greater => self.greater,
        };
        let any = self.less && self.equal && self.greater && self.fuzzy;
        (any || hit) != self.negated
    }
}

/// Token kinds in the order apk allows them to follow each other; the order itself is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix weights; `NONE` is the pivot between pre-release and post-release suffixes.
const SUFFIX_INVALID: u8 = 0;
const SUFFIX_NONE: u8 = 5;

fn suffix_value(s: &[u8]) -> u8 {
    let (value, literal): (u8, &[u8]) = match s.first() {
        Some(b'a') => (1, b"alpha"),
        Some(b'b') => (2, b"beta"),
        Some(b'p') if s.len() > 1 => (3, b"pre"),
        Some(b'r') => (4, b"rc"),
        Some(b'c') => (6, b"cvs"),
        Some(b's') => (7, b"svn"),
        Some(b'g') => (8, b"git"),
        Some(b'h') => (9, b"hg"),
        Some(b'p') => (10, b"p"),
        _ => return SUFFIX_INVALID,
    };
    if s == literal { value } else { SUFFIX_INVALID }
}

struct TokenState<'a> {
    token: Token,
    suffix: u8,
    number: u64,
    value: &'a [u8],
}

impl<'a> TokenState<'a> {
    fn first(rest: &mut &'a [u8]) -> Self {
        let mut t = TokenState { token: Token::InitialDigit, suffix: SUFFIX_INVALID, number: 0, value: &[] };
        t.parse_digits(rest);
        t
    }

    fn parse_digits(&mut self, rest: &mut &'a [u8]) {
        let len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let (digits, tail) = rest.split_at(len);
        // apk accumulates in a uint64_t and wraps on overflow; so do we.
        self.number = digits.iter().fold(0u64, |n, &d| n.wrapping_mul(10).wrapping_add(u64::from(d - b'0')));
        self.value = digits;
        *rest = tail;
        if len == 0 {
            self.token = Token::Invalid;
        }
    }

    /// apk's `token_next`: classifies the next token by its first byte and checks it may follow the previous one.
    fn next(&mut self, rest: &mut &'a [u8]) {
        let Some(&c) = rest.first() else {
            self.token = Token::End;
            return;
        };
        match c {
            b'a'..=b'z' if self.token <= Token::Digit => {
                self.value = &rest[..1];
                self.token = Token::Letter;
                *rest = &rest[1..];
            }
            b'.' | b'0'..=b'9' => {
                if c == b'.' {
                    if self.token > Token::Digit {
                        return self.invalid();
                    }
                    *rest = &rest[1..];
                }
                self.token = match self.token {
                    Token::InitialDigit | Token::Digit => Token::Digit,
                    Token::Suffix => Token::SuffixNo,
                    _ => return self.invalid(),
                };
                self.parse_digits(rest);
            }
            b'_' if self.token <= Token::SuffixNo => {
                let (name, tail) = span(&rest[1..], |c| c.is_ascii_lowercase());
                self.value = name;
                *rest = tail;
                self.suffix = suffix_value(name);
                if self.suffix == SUFFIX_INVALID {
                    return self.invalid();
                }
                self.token = Token::Suffix;
            }
            b'~' if self.token < Token::CommitHash => {
                let (hash, tail) = span(&rest[1..], |c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
                if hash.is_empty() {
                    return self.invalid();
                }
                self.value = hash;
                *rest = tail;
                self.token = Token::CommitHash;
            }
            b'-' if self.token < Token::RevisionNo => {
                let Some(tail) = rest.strip_prefix(b"-r") else { return self.invalid() };
                *rest = tail;
                self.token = Token::RevisionNo;
                self.parse_digits(rest);
            }
            _ => self.invalid(),
        }
    }

    fn invalid(&mut self) {
        self.token = Token::Invalid;
    }

    /// apk's `token_cmp` for two tokens of the same kind.
    fn cmp_same_kind(&self, other: &Self) -> Ordering {
        match self.token {
            // A leading zero makes apk compare the digits as strings, like Gentoo does.
            Token::Digit if self.value.first() == Some(&b'0') || other.value.first() == Some(&b'0') => {
                self.value.cmp(other.value)
            }
            Token::Digit | Token::InitialDigit | Token::SuffixNo | Token::RevisionNo => self.number.cmp(&other.number),
            Token::Letter => self.value.first().cmp(&other.value.first()),
            Token::Suffix => self.suffix.cmp(&other.suffix),
            _ => self.value.cmp(other.value),
        }
    }
}

/// apk's `apk_blob_spn`: the run of bytes in the class; bytes outside ASCII always count as in the class.
fn span(s: &[u8], class: impl Fn(u8) -> bool) -> (&[u8], &[u8]) {
    let len = s.iter().take_while(|&&c| c >= 0x80 || class(c)).count();
    s.split_at(len)
}

/// apk's `apk_version_compare_fuzzy`. With `fuzzy`, `b` running out of tokens first means equal (prefix match).
fn compare_fuzzy(a: &[u8], b: &[u8], fuzzy: bool) -> Ordering {
    let (mut rest_a, mut rest_b) = (a, b);
    let mut ta = TokenState::first(&mut rest_a);
    let mut tb = TokenState::first(&mut rest_b);
    while ta.token == tb.token && ta.token < Token::End {
        let order = ta.cmp_same_kind(&tb);
        if order != Ordering::Equal {
            return order;
        }
        ta.next(&mut rest_a);
        tb.next(&mut rest_b);
    }
    if ta.token == tb.token || (tb.token == Token::End && fuzzy) {
        return Ordering::Equal;
    }
    // Equal so far: the longer version is newer unless what it has next is a pre-release suffix.
    if ta.token == Token::Suffix && ta.suffix < SUFFIX_NONE {
        return Ordering::Less;
    }
    if tb.token == Token::Suffix && tb.suffix < SUFFIX_NONE {
        return Ordering::Greater;
    }
    tb.token.cmp(&ta.token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_constraints() {
        assert_eq!(Constraint::parse("?"), Err(InvalidConstraint("?".to_owned())));
        assert!(Constraint::parse("").is_err());
        assert!(Constraint::parse(">=").is_ok_and(|c| c.matches("1.2", "1.2")));
        assert!(Constraint::parse("<").is_ok_and(|c| !c.matches("1.2", "1.2")));
    }

    #[test]
    fn orders_common_alpine_versions() {
        assert_eq!(compare("1.2.3-r0", "1.2.3-r1"), Ordering::Less);
        assert_eq!(compare("1.2.3_rc1", "1.2.3"), Ordering::Less);
        assert_eq!(compare("1.2.3_p1", "1.2.3"), Ordering::Greater);
        assert_eq!(compare("1.2.3a", "1.2.3"), Ordering::Greater);
    }
}

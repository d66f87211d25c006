//! SemVer 2.0.0 precedence (build metadata ignored) over the spec's grammar, plus the lenient spellings npm's
//! `node-semver` loose mode and OSV data use.
//!
//! Written here rather than taken from the `semver` crate because that crate stores numbers as `u64` and rejects
//! larger ones, which SemVer 2.0.0 allows and advisory data contains (e.g. date-stamped versions); it also has no
//! loose mode. Comparison borrows from the input and never allocates.

use std::cmp::Ordering;

/// Why a string is not a SemVer version; the caller adds which string it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SemverError {
    #[error("empty version")]
    Empty,
    #[error("version core must be MAJOR.MINOR.PATCH")]
    CoreComponents,
    #[error("version number is not a run of digits")]
    NotANumber,
    #[error("version number has a leading zero")]
    LeadingZero,
    #[error("pre-release or build identifier is empty")]
    EmptyIdentifier,
    #[error("identifier contains a character other than [0-9A-Za-z-]")]
    BadCharacter,
}

/// Compares two SemVer 2.0.0 versions by precedence: `1.0.0-rc.1 < 1.0.0`, `1.0.0+a == 1.0.0+b`.
///
/// The grammar is the spec's, except that surrounding whitespace and one leading `v` are ignored, as node-semver
/// does by default (`v1.2.3`, as Go modules and git tags write versions).
pub fn compare(a: &str, b: &str) -> Result<Ordering, SemverError> {
    Ok(Parsed::strict(a)?.precedence(&Parsed::strict(b)?))
}

/// Compares two versions written the lenient ways real data uses, by SemVer precedence.
///
/// On top of strict SemVer this accepts what node-semver's loose mode accepts (surrounding whitespace, leading
/// `v`, `=` and spaces such as `v 1.2.3` or ` = 1.2.3`, leading zeros in numbers) and any number of numeric core
/// components, missing ones counting as zero (`1.2 == 1.2.0`, `1.1.3.4.5`), as OSV tooling orders them.
pub fn compare_lenient(a: &str, b: &str) -> Result<Ordering, SemverError> {
    Ok(Parsed::lenient(a)?.precedence(&Parsed::lenient(b)?))
}

/// Whether [`compare`] accepts `version`.
pub fn is_valid(version: &str) -> bool {
    Parsed::strict(version).is_ok()
}

/// A validated version split into its three parts, borrowing from the input.
struct Parsed<'a> {
    core: &'a str,
    pre: Option<&'a str>,
}

impl<'a> Parsed<'a> {
    fn strict(s: &'a str) -> Result<Self, SemverError> {
        let s = s.trim();
        let parsed = Self::split(s.strip_prefix('v').unwrap_or(s))?;
        let mut count = 0;
        for number in parsed.core.split('.') {
            check_number(number, true)?;
            count += 1;
        }
        if count != 3 {
            return Err(SemverError::CoreComponents);
        }
        if let Some(pre) = parsed.pre {
            for id in pre.split('.') {
                check_identifier(id)?;
                if is_numeric(id) && id.len() > 1 && id.starts_with('0') {
                    return Err(SemverError::LeadingZero);
                }
            }
        }
        Ok(parsed)
    }

    fn lenient(s: &'a str) -> Result<Self, SemverError> {
        let s = s.trim().trim_start_matches(|c: char| c == 'v' || c == '=' || c.is_whitespace());
        let parsed = Self::split(s)?;
        for number in parsed.core.split('.') {
            check_number(number, false)?;
        }
        if let Some(pre) = parsed.pre {
            pre.split('.').try_for_each(check_identifier)?;
        }
        Ok(parsed)
    }

    /// Splits `core[-pre][+build]` and validates the build identifiers, which never affect order.
    fn split(s: &'a str) -> Result<Self, SemverError> {
        if s.is_empty() {
            return Err(SemverError::Empty);
        }
        let (rest, build) = match s.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (s, None),
        };
        if let Some(build) = build {
            build.split('.').try_for_each(check_identifier)?;
        }
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        Ok(Parsed { core, pre })
    }

    fn precedence(&self, other: &Self) -> Ordering {
        compare_core(self.core, other.core).then_with(|| match (self.pre, other.pre) {
            (None, None) => Ordering::Equal,
            // A pre-release comes before its release.
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => compare_pre(a, b),
        })
    }
}

fn check_number(number: &str, strict: bool) -> Result<(), SemverError> {
    if number.is_empty() || !is_numeric(number) {
        return Err(SemverError::NotANumber);
    }
    if strict && number.len() > 1 && number.starts_with('0') {
        return Err(SemverError::LeadingZero);
    }
    Ok(())
}

fn check_identifier(id: &str) -> Result<(), SemverError> {
    if id.is_empty() {
        return Err(SemverError::EmptyIdentifier);
    }
    if !id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
        return Err(SemverError::BadCharacter);
    }
    Ok(())
}

fn is_numeric(id: &str) -> bool {
    id.bytes().all(|c| c.is_ascii_digit())
}

/// Compares digit strings of any length numerically.
fn compare_numbers(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn compare_core(a: &str, b: &str) -> Ordering {
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (x, y) => match compare_numbers(x.unwrap_or("0"), y.unwrap_or("0")) {
                Ordering::Equal => {}
                order => return order,
            },
        }
    }
}

/// SemVer rule 11: identifiers left to right; numeric ones numerically and below alphanumeric ones, which compare
/// in ASCII order; a shorter list that is a prefix of a longer one comes first.
fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        let order = match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match (is_numeric(x), is_numeric(y)) {
                (true, true) => compare_numbers(x, y),
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => x.cmp(y),
            },
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_semver_2_rejects() {
        for (bad, why) in [
            ("", SemverError::Empty),
            ("1.2", SemverError::CoreComponents),
            ("1.2.3.4", SemverError::CoreComponents),
            ("01.2.3", SemverError::LeadingZero),
            ("1.2.3-01", SemverError::LeadingZero),
            ("1.2.3-", SemverError::EmptyIdentifier),
            ("1.2.3+", SemverError::EmptyIdentifier),
            ("1.2.3-a..b", SemverError::EmptyIdentifier),
            ("1.2.3-a_b", SemverError::BadCharacter),
            ("=1.2.3", SemverError::NotANumber),
            ("vv1.2.3", SemverError::NotANumber),
            ("1.x.3", SemverError::NotANumber),
        ] {
            assert_eq!(compare(bad, "1.0.0"), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn ignores_whitespace_and_one_v_like_node_semver() {
        assert_eq!(compare("  v1.2.3+build", "1.2.3"), Ok(Ordering::Equal));
        assert_eq!(compare("1.2.3-rc.1 ", "1.2.3"), Ok(Ordering::Less));
    }

    #[test]
    fn lenient_accepts_loose_spellings() {
        assert_eq!(compare_lenient("v 1.2.3", "1.2.3"), Ok(Ordering::Equal));
        assert_eq!(compare_lenient("1.2", "1.2.0"), Ok(Ordering::Equal));
        assert_eq!(compare_lenient("1.2.3-01", "1.2.3-1"), Ok(Ordering::Equal));
        assert_eq!(compare_lenient("vv", "1.0.0"), Err(SemverError::Empty));
        assert_eq!(compare_lenient("1..2", "1.0.0"), Err(SemverError::NotANumber));
    }
}

//! RPM version order: `rpmvercmp` segment rules plus `[epoch:]version[-release]` (EVR) splitting.
//!
//! Written here rather than taken from a crate because no maintained crate reproduces rpm's C code byte for byte
//! (separators, `~` and `^`, the alpha-versus-numeric quirks rpm's own test suite documents), and the function is
//! short. It works on bytes without allocating, like the C original.

use std::cmp::Ordering;

/// Compares two RPM EVR strings (`[epoch:]version[-release]`), e.g. `1:2.4.21-9.el8`.
///
/// Epoch, version and release are each compared with [`rpmvercmp`]; a missing epoch counts as `0`, as in rpm.
/// rpm itself never orders a release-less version against a full EVR (dependency matching just skips the release),
/// which is no total order; here a missing release sorts before any release, even an empty one, the convention
/// OSV tooling uses (`1 < 1-0`, `1 < 1-`).
pub fn compare(a: &str, b: &str) -> Ordering {
    let a = Evr::parse(a);
    let b = Evr::parse(b);
    rpmvercmp(a.epoch, b.epoch).then_with(|| rpmvercmp(a.version, b.version)).then_with(|| {
        match (a.release, b.release) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    })
}

/// rpm's `rpmvercmp`: compares one version or release string segment by segment, exactly as `rpm` does.
///
/// Runs of ASCII letters and of ASCII digits are segments; everything else (including non-ASCII bytes) separates
/// them. `~` sorts before anything, even the end of the string; `^` sorts after the end of the string but before any
/// other segment. A numeric segment beats an alphabetic one.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    // The C code stops at a NUL byte; a Rust string may contain one.
    let a = until_nul(a.as_bytes());
    let b = until_nul(b.as_bytes());
    if a == b {
        return Ordering::Equal;
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while i < a.len() && is_separator(a[i]) {
            i += 1;
        }
        while j < b.len() && is_separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());

        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }

        // `^` is like `~` except that it sorts after the end of the string.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }

        let (Some(first), Some(_)) = (ca, cb) else { break };

        let numeric = first.is_ascii_digit();
        let in_segment = |c: &u8| if numeric { c.is_ascii_digit() } else { c.is_ascii_alphabetic() };
        let end_a = i + a[i..].iter().take_while(|c| in_segment(c)).count();
        let end_b = j + b[j..].iter().take_while(|c| in_segment(c)).count();

        // Segments of different types: numeric is newer than alphabetic.
        if end_b == j {
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }

        let mut seg_a = &a[i..end_a];
        let mut seg_b = &b[j..end_b];
        if numeric {
            seg_a = trim_leading_zeros(seg_a);
            seg_b = trim_leading_zeros(seg_b);
            match seg_a.len().cmp(&seg_b.len()) {
                Ordering::Equal => {}
                longer_wins => return longer_wins,
            }
        }
        match seg_a.cmp(seg_b) {
            Ordering::Equal => {}
            order => return order,
        }
        i = end_a;
        j = end_b;
    }
    // All segments matched; whichever string has segments left is newer, separators alone do not count.
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, _) => Ordering::Greater,
    }
}

/// An EVR split the way rpm's `parseEVR` does, borrowing from the input.
struct Evr<'a> {
    epoch: &'a str,
    version: &'a str,
    release: Option<&'a str>,
}

impl<'a> Evr<'a> {
    fn parse(evr: &'a str) -> Self {
        // The epoch is a run of leading digits ended by ':'; anything else means there is no epoch.
        let digits = evr.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = match evr.as_bytes().get(digits) {
            Some(b':') if digits == 0 => ("0", &evr[1..]),
            Some(b':') => (&evr[..digits], &evr[digits + 1..]),
            _ => ("0", evr),
        };
        // The release starts after the last '-'.
        let (version, release) = match rest.rfind('-') {
            Some(dash) => (&rest[..dash], Some(&rest[dash + 1..])),
            None => (rest, None),
        };
        Evr { epoch, version, release }
    }
}

fn is_separator(c: u8) -> bool {
    !c.is_ascii_alphanumeric() && c != b'~' && c != b'^'
}

fn trim_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

fn until_nul(s: &[u8]) -> &[u8] {
    match s.iter().position(|&c| c == 0) {
        Some(nul) => &s[..nul],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_evr_like_rpm() {
        let evr = Evr::parse("01:2.4-9.el8");
        assert_eq!((evr.epoch, evr.version, evr.release), ("01", "2.4", Some("9.el8")));
        let evr = Evr::parse("a:1-2-3");
        assert_eq!((evr.epoch, evr.version, evr.release), ("0", "a:1-2", Some("3")));
        let evr = Evr::parse(":1");
        assert_eq!((evr.epoch, evr.version, evr.release), ("0", "1", None));
    }

    #[test]
    fn orders_evr() {
        assert_eq!(compare("1:1.0-1", "2.0-1"), Ordering::Greater);
        assert_eq!(compare("0:1.0-1.el8", "1.0-1.el8"), Ordering::Equal);
        assert_eq!(compare("1.0-1.el8", "1.0-1.el8_2"), Ordering::Less);
        assert_eq!(rpmvercmp("1.0\0z", "1.0"), Ordering::Equal);
    }
}

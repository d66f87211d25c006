//! Debian version order (`dpkg --compare-versions`): `[epoch:]upstream[-revision]`, with `~` sorting before anything.
//!
//! Written here rather than taken from a crate because the algorithm is short, stable since dpkg 1.x, and the
//! hot path of pending-update computation wants it allocation-free.

use std::cmp::Ordering;

/// Compares two Debian version strings the way dpkg does.
///
/// Strings dpkg would reject (e.g. a non-numeric epoch) are still ordered deterministically: a bad epoch counts as 0.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (epoch_a, rest_a) = split_epoch(a);
    let (epoch_b, rest_b) = split_epoch(b);
    epoch_a.cmp(&epoch_b).then_with(|| {
        let (upstream_a, revision_a) = split_revision(rest_a);
        let (upstream_b, revision_b) = split_revision(rest_b);
        compare_part(upstream_a, upstream_b).then_with(|| compare_part(revision_a, revision_b))
    })
}

fn split_epoch(version: &str) -> (u64, &str) {
    match version.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) => {
            (epoch.parse().unwrap_or(u64::MAX), rest)
        }
        Some(("", rest)) => (0, rest),
        _ => (0, version),
    }
}

fn split_revision(version: &str) -> (&str, &str) {
    match version.rfind('-') {
        Some(dash) => (&version[..dash], &version[dash + 1..]),
        None => (version, ""),
    }
}

/// Sort weight of a non-digit character: `~` before the end of the string, letters before other characters.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
fn compare_part(a: &str, b: &str) -> Ordering {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let wa = weight(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let wb = weight(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let start_a = i;
        let start_b = j;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let digits_a = &a[start_a..i];
        let digits_b = &b[start_b..j];
        let order = digits_a.len().cmp(&digits_b.len()).then_with(|| digits_a.cmp(digits_b));
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_dpkg() {
        let cases = [
            ("1.0", "1.0", Ordering::Equal),
            ("1.0~rc1", "1.0", Ordering::Less),
            ("1:1.0", "2.0", Ordering::Greater),
            ("1.0-1", "1.0-1+deb12u1", Ordering::Less),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Ordering::Less),
            ("1.0a", "1.0", Ordering::Greater),
            ("1.0+", "1.0a", Ordering::Greater),
            ("007", "7", Ordering::Equal),
            ("1:2.0-1", "2.0-1~bpo", Ordering::Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }
}

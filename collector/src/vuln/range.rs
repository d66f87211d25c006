//! Whether one version lies in an affected entry, following the OSV schema's evaluation algorithm.

use std::cmp::Ordering;
use std::sync::Arc;

use super::advisory::{Affected, Event, Range};
use super::ecosystem::version_order;

/// The outcome for one installed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    NotAffected,
    /// `fixed` is the first fixed version above the installed one, `None` when no fix is known.
    Affected {
        fixed: Option<Arc<str>>,
    },
    /// A version could not be ordered (outside the ecosystem's grammar), so nothing can be said.
    Unknown,
}

/// Evaluates `version` against an affected entry: listed in `versions`, or inside any range.
pub fn evaluate(affected: &Affected, version: &str) -> Verdict {
    let listed = affected.versions.binary_search_by(|v| v.as_ref().cmp(version)).is_ok();
    let mut unknown = false;
    let mut hit = listed;
    for range in affected.ranges.iter() {
        match in_range(range, version) {
            Some(true) => hit = true,
            Some(false) => {}
            None => unknown = true,
        }
        if hit {
            break;
        }
    }
    if hit {
        return Verdict::Affected { fixed: first_fix_above(affected, version) };
    }
    if unknown { Verdict::Unknown } else { Verdict::NotAffected }
}

/// The OSV algorithm over events already sorted by version: the last event at or below `version` decides.
fn in_range(range: &Range, version: &str) -> Option<bool> {
    let cmp = |other: &str| version_order(range.order, version, other);
    let mut affected = false;
    let mut limits = Vec::new();
    for event in range.events.iter() {
        match event {
            Event::Introduced(v) => {
                if v.as_ref() == "0" || cmp(v)? != Ordering::Less {
                    affected = true;
                }
            }
            Event::Fixed(v) => {
                if cmp(v)? != Ordering::Less {
                    affected = false;
                }
            }
            Event::LastAffected(v) => {
                if cmp(v)? == Ordering::Greater {
                    affected = false;
                }
            }
            Event::Limit(v) => limits.push(v),
        }
    }
    if affected && !limits.is_empty() {
        let mut below_any = false;
        for limit in limits {
            if limit.as_ref() == "*" || cmp(limit)? == Ordering::Less {
                below_any = true;
            }
        }
        affected = below_any;
    }
    Some(affected)
}

/// The lowest `fixed` event above `version` across the entry's ranges.
fn first_fix_above(affected: &Affected, version: &str) -> Option<Arc<str>> {
    let mut best: Option<(&Range, &Arc<str>)> = None;
    for range in affected.ranges.iter() {
        for event in range.events.iter() {
            let Event::Fixed(fixed) = event else { continue };
            if version_order(range.order, fixed, version) != Some(Ordering::Greater) {
                continue;
            }
            let better = match best {
                None => true,
                Some((r, b)) => version_order(r.order, fixed, b) == Some(Ordering::Less),
            };
            if better {
                best = Some((range, fixed));
            }
        }
    }
    best.map(|(_, f)| f.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vuln::advisory::PackageKey;
    use muster_shared::version::Ecosystem;

    fn entry(order: Ecosystem, events: Vec<Event>, versions: &[&str]) -> Affected {
        let mut versions: Vec<Arc<str>> = versions.iter().map(|v| Arc::from(*v)).collect();
        versions.sort();
        Affected {
            key: PackageKey { ecosystem: "Debian:12".into(), name: "x".into() },
            ranges: vec![Range { order, events: events.into() }].into(),
            versions: versions.into(),
            binaries: Box::new([]),
            vendor_severity: None,
        }
    }

    fn fixed(v: &str) -> Verdict {
        Verdict::Affected { fixed: Some(v.into()) }
    }

    #[test]
    fn follows_the_osv_algorithm() {
        use Event::*;
        let e = entry(Ecosystem::Deb, vec![Introduced("0".into()), Fixed("3.0.15-1~deb12u1".into())], &[]);
        assert_eq!(evaluate(&e, "3.0.14-1~deb12u2"), fixed("3.0.15-1~deb12u1"));
        assert_eq!(evaluate(&e, "3.0.15-1~deb12u1"), Verdict::NotAffected);
        assert_eq!(evaluate(&e, "3.0.15-1~deb12u1+b1"), Verdict::NotAffected);

        let e = entry(Ecosystem::Semver, vec![Introduced("1.0.0".into()), LastAffected("1.2.0".into())], &[]);
        assert_eq!(evaluate(&e, "0.9.0"), Verdict::NotAffected);
        assert_eq!(evaluate(&e, "1.2.0"), Verdict::Affected { fixed: None });
        assert_eq!(evaluate(&e, "1.2.1"), Verdict::NotAffected);

        let e = entry(Ecosystem::Deb, vec![Introduced("0".into())], &[]);
        assert_eq!(evaluate(&e, "1.0"), Verdict::Affected { fixed: None });

        let e = entry(Ecosystem::Semver, vec![Introduced("1.0.0".into()), Limit("2.0.0".into())], &["0.5.0"]);
        assert_eq!(evaluate(&e, "1.5.0"), Verdict::Affected { fixed: None });
        assert_eq!(evaluate(&e, "2.1.0"), Verdict::NotAffected);
        assert_eq!(evaluate(&e, "0.5.0"), Verdict::Affected { fixed: None });

        let e = entry(
            Ecosystem::Semver,
            vec![Introduced("1.0.0".into()), Fixed("1.0.5".into()), Introduced("2.0.0".into()), Fixed("2.0.3".into())],
            &[],
        );
        assert_eq!(evaluate(&e, "1.0.7"), Verdict::NotAffected);
        assert_eq!(evaluate(&e, "2.0.1"), fixed("2.0.3"));
    }
}

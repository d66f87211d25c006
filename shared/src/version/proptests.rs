//! Property tests: every ecosystem's order is antisymmetric and transitive, also on inputs no table lists.
//!
//! Inputs are drawn from each ecosystem's alphabet, so that most pairs share prefixes and hit the interesting
//! branches (separators, `~`, suffixes, leading zeros) rather than differing at the first byte.

use std::cmp::Ordering;

use proptest::collection::vec;
use proptest::prelude::*;

use super::{apk, dpkg, maven, pep440, rpm, rubygems, semver};

/// Checks antisymmetry on every pair and transitivity on every triple of `items`.
fn check_order<T: std::fmt::Debug>(items: &[T], cmp: impl Fn(&T, &T) -> Ordering) -> Result<(), TestCaseError> {
    for a in items {
        prop_assert_eq!(cmp(a, a), Ordering::Equal, "{:?} not equal to itself", a);
        for b in items {
            let ab = cmp(a, b);
            prop_assert_eq!(ab, cmp(b, a).reverse(), "not antisymmetric: {:?} vs {:?}", a, b);
            for c in items {
                let bc = cmp(b, c);
                if ab != Ordering::Greater && bc != Ordering::Greater {
                    let ac = cmp(a, c);
                    prop_assert!(ac != Ordering::Greater, "not transitive: {:?} <= {:?} <= {:?} but {:?}", a, b, c, ac);
                    if ab == Ordering::Equal && bc == Ordering::Equal {
                        prop_assert_eq!(ac, Ordering::Equal, "equality not transitive: {:?} {:?} {:?}", a, b, c);
                    }
                }
            }
        }
    }
    Ok(())
}

fn str_cmp(cmp: fn(&str, &str) -> Ordering) -> impl Fn(&String, &String) -> Ordering {
    move |a, b| cmp(a, b)
}

/// Strict SemVer versions, including pre-release identifiers that are numeric, alphanumeric or hyphenated.
fn semver_strategy() -> impl Strategy<Value = String> {
    "v?(0|[1-9][0-9]{0,2})\\.(0|[1-9])\\.(0|[1-9][0-9]?)(-(0|[1-9]|[a-zA-Z-][0-9a-zA-Z-]{0,2})(\\.(0|[1-9][0-9]?|[a-z-]{1,2})){0,2})?(\\+[0-9a-z]{1,3})?"
}

/// PEP 440 versions built from their parts, in both normal and alternative spellings.
fn pep440_strategy() -> impl Strategy<Value = String> {
    "([1-2]!)?[0-9]{1,2}(\\.[0-9]{1,2}){0,2}((a|b|rc|c|alpha|beta|pre|preview)[0-9]?)?(\\.post[0-9]?|-[0-9])?(\\.dev[0-9]?)?(\\+[a-z0-9]{1,3}(\\.[a-z0-9]{1,2})?)?"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn dpkg_is_a_total_order(items in vec("([0-9]:)?[0-9][0-9a-zA-Z.+~]{0,5}(-[0-9a-z.+~]{0,4})?", 6)) {
        check_order(&items, str_cmp(dpkg::compare))?;
    }

    #[test]
    fn rpm_is_a_total_order(items in vec("([0-9]{1,2}:)?[0-9a-z._+~^]{0,6}(-[0-9a-z._~^]{0,4})?", 6)) {
        check_order(&items, str_cmp(rpm::compare))?;
    }

    #[test]
    fn rpmvercmp_is_a_total_order(items in vec("[0-9a-zA-Z._+~^é]{0,7}", 6)) {
        check_order(&items, str_cmp(rpm::rpmvercmp))?;
    }

    #[test]
    fn apk_is_a_total_order(items in vec("[0-9]{1,2}(\\.0?[0-9]{1,2}){0,2}[a-c]?(_(alpha|rc|p|git|pre|x)[0-9]?){0,2}(~[0-9a-f]{1,2})?(-r[0-9]?)?[.a-z0-9_~-]{0,2}", 6)) {
        check_order(&items, str_cmp(apk::compare))?;
    }

    #[test]
    fn apk_v2_is_a_total_order(items in vec("[0-9]{1,2}(\\.0?[0-9]{1,2}){0,2}[a-c]?(_(alpha|rc|p|git|pre|x)[0-9]?){0,2}(-r[0-9]?)?[.a-z0-9_-]{0,2}", 6)) {
        check_order(&items, str_cmp(apk::compare_v2))?;
    }

    #[test]
    fn semver_is_a_total_order(items in vec(semver_strategy(), 6)) {
        let strict = |a: &String, b: &String| semver::compare(a, b).unwrap_or(Ordering::Equal);
        for v in &items {
            prop_assert!(semver::is_valid(v), "{} rejected", v);
        }
        check_order(&items, strict)?;
        check_order(&items, |a: &String, b: &String| semver::compare_lenient(a, b).unwrap_or(Ordering::Equal))?;
    }

    /// The `semver` crate is exact for versions whose numbers fit in `u64`; ours must agree with its precedence.
    #[test]
    fn semver_agrees_with_the_semver_crate(a in semver_strategy(), b in semver_strategy()) {
        let parse = |s: &str| ::semver::Version::parse(s.trim_start_matches('v'));
        if let (Ok(va), Ok(vb)) = (parse(&a), parse(&b)) {
            prop_assert_eq!(semver::compare(&a, &b), Ok(va.cmp_precedence(&vb)));
        }
    }

    #[test]
    fn semver_never_panics(a in "\\PC{0,12}", b in "[v= ]{0,2}[0-9.]{1,6}[-+]?\\PC{0,4}") {
        prop_assert_eq!(semver::compare(&a, &b).is_ok(), semver::is_valid(&a) && semver::is_valid(&b));
        let _ = semver::compare_lenient(&a, &b);
    }

    #[test]
    fn pep440_is_a_total_order(items in vec(pep440_strategy(), 6)) {
        for v in &items {
            prop_assert!(pep440::is_valid(v), "{} rejected", v);
        }
        check_order(&items, |a: &String, b: &String| pep440::compare(a, b).unwrap_or(Ordering::Equal))?;
    }

    #[test]
    fn pep440_with_legacy_is_a_total_order(items in vec("(\\PC{0,6}|[0-9a-z.+_-]{0,8})", 6)) {
        check_order(&items, str_cmp(pep440::compare_with_legacy))?;
    }

    /// Gem versions with zero segments, letter runs, `-` pre-releases and long numbers (what canonical segments and
    /// the digit-length comparison must get right).
    #[test]
    fn rubygems_is_a_total_order(items in vec("[0-9]{1,3}(\\.(0|00|[0-9]{1,21}|[a-z]{1,3}[0-9]?)){0,4}(-[a-z0-9]{1,3})?", 6)) {
        for v in &items {
            prop_assert!(rubygems::is_valid(v), "{} rejected", v);
        }
        check_order(&items, |a: &String, b: &String| rubygems::compare(a, b).unwrap_or(Ordering::Equal))?;
    }

    #[test]
    fn rubygems_never_panics(a in "\\PC{0,12}", b in "[0-9][0-9a-z.-]{0,8}") {
        prop_assert_eq!(rubygems::compare(&a, &b).is_ok(), rubygems::is_valid(&a) && rubygems::is_valid(&b));
    }

    /// Maven versions mixing numbers, known and unknown qualifiers, both separators and digit-letter transitions:
    /// antisymmetric and reflexive. Not transitive, as Maven's own `ComparableVersion` is not: `9.alphaalpha <
    /// 9alpha < 9`, yet an unknown qualifier after a dot sorts above the release, `9.alphaalpha > 9`.
    #[test]
    fn maven_is_antisymmetric(items in vec("[0-9]{1,2}([.-]?([0-9]{1,3}|alpha|beta|rc|cr|sp|snapshot|ga|final|[a-z]{1,2})){0,4}|\\PC{0,8}", 6)) {
        for a in &items {
            prop_assert_eq!(maven::compare(a, a), Ordering::Equal);
            for b in &items {
                prop_assert_eq!(maven::compare(a, b), maven::compare(b, a).reverse(), "{:?} vs {:?}", a, b);
            }
        }
        prop_assert_eq!(maven::compare("9.alphaalpha", "9alpha"), Ordering::Less);
        prop_assert_eq!(maven::compare("9alpha", "9"), Ordering::Less);
        prop_assert_eq!(maven::compare("9.alphaalpha", "9"), Ordering::Greater);
    }
}

//! Checks every version-order module against the real tools' own test tables in `testdata/version/`.
//!
//! Each table is read at run time; a test counts its rows (so a truncated copy fails) and lists the first rows
//! that disagree. See `testdata/README.md` for where each table comes from.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::path::Path;

use muster_shared::version::{self, Ecosystem, apk, dpkg, maven, pep440, rpm, rubygems, semver};

/// How many disagreeing rows a failure message lists.
const SHOWN: usize = 20;

/// A test failure; its `Debug` form is the plain message, since the test harness prints a returned error that way.
struct Failure(String);

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type TestResult = Result<(), Failure>;

/// One data row: its 1-based line number in the file and its tab-separated fields.
struct Row<'a> {
    line: usize,
    fields: Vec<&'a str>,
}

fn read(name: &str) -> Result<String, Failure> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/version").join(name);
    std::fs::read_to_string(&path).map_err(|e| Failure(format!("reading {}: {e}", path.display())))
}

/// The rows of a table: `#` lines are comments and the first other line is the column header.
fn rows<'a>(table: &str, text: &'a str, columns: usize) -> Result<Vec<Row<'a>>, Failure> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.starts_with('#'));
    lines.next().ok_or_else(|| Failure(format!("{table}: no header line")))?;
    lines
        .map(|(i, l)| {
            let fields: Vec<&str> = l.split('\t').collect();
            if fields.len() == columns {
                Ok(Row { line: i + 1, fields })
            } else {
                Err(Failure(format!("{table} line {}: {} fields, want {columns}: {l:?}", i + 1, fields.len())))
            }
        })
        .collect()
}

fn expected_order(field: &str) -> Result<Ordering, String> {
    match field {
        "-1" => Ok(Ordering::Less),
        "0" => Ok(Ordering::Equal),
        "1" => Ok(Ordering::Greater),
        other => Err(format!("expected column holds {other:?}")),
    }
}

/// Runs `check` on every row of `table`, checks the row count, and fails listing the first disagreements.
fn check_table(
    table: &str,
    columns: usize,
    want_rows: usize,
    check: impl Fn(usize, &[&str]) -> Result<(), String>,
) -> TestResult {
    let text = read(table)?;
    let rows = rows(table, &text, columns)?;
    if rows.len() != want_rows {
        return Err(Failure(format!("{table}: {} rows, want {want_rows}", rows.len())));
    }
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            check(row.line, &row.fields).err().map(|why| format!("  line {}: {:?}: {why}", row.line, row.fields))
        })
        .collect();
    if failures.is_empty() {
        return Ok(());
    }
    let mut msg = format!("{table}: {} of {} rows disagree; first ones:\n", failures.len(), rows.len());
    for f in failures.iter().take(SHOWN) {
        let _ = writeln!(msg, "{f}");
    }
    Err(Failure(msg))
}

/// Checks an order function on `a<TAB>b<TAB>expected` rows, both ways round (the tools are antisymmetric).
fn check_order(table: &str, want_rows: usize, cmp: impl Fn(&str, &str) -> Result<Ordering, String>) -> TestResult {
    check_table(table, 3, want_rows, |_, f| {
        let want = expected_order(f[2])?;
        let (got, back) = (cmp(f[0], f[1])?, cmp(f[1], f[0])?);
        if got == want && back == want.reverse() {
            Ok(())
        } else {
            Err(format!("got {got:?} (reversed: {back:?}), want {want:?}"))
        }
    })
}

/// As [`check_order`] for a function that cannot fail.
fn check_total_order(table: &str, want_rows: usize, cmp: fn(&str, &str) -> Ordering) -> TestResult {
    check_order(table, want_rows, |a, b| Ok(cmp(a, b)))
}

/// As [`check_order`], through the unified [`version::compare`] entry point.
fn check_ecosystem(table: &str, want_rows: usize, eco: Ecosystem) -> TestResult {
    check_order(table, want_rows, |a, b| version::compare(eco, a, b).map_err(|e| e.to_string()))
}

#[test]
fn dpkg_version_compare() -> TestResult {
    check_ecosystem("dpkg-version-compare.tsv", 43, Ecosystem::Deb)
}

#[test]
fn osv_scalibr_debian_versions() -> TestResult {
    check_ecosystem("osv-scalibr-debian-versions.tsv", 30, Ecosystem::Deb)
}

#[test]
fn osv_scalibr_debian_versions_generated() -> TestResult {
    check_total_order("osv-scalibr-debian-versions-generated.tsv", 14442, dpkg::compare)
}

#[test]
fn rpm_rpmvercmp() -> TestResult {
    check_total_order("rpm-rpmvercmp.tsv", 91, rpm::rpmvercmp)
}

/// These rows document what rpm really does in odd cases (RhBug:811992, non-ASCII bytes); rpm's suite does not
/// assert them, but they are rpm's behaviour, so we reproduce them.
#[test]
fn rpm_rpmvercmp_oddities_disabled() -> TestResult {
    check_total_order("rpm-rpmvercmp-oddities-disabled.tsv", 12, rpm::rpmvercmp)
}

#[test]
fn osv_scalibr_redhat_versions() -> TestResult {
    check_ecosystem("osv-scalibr-redhat-versions.tsv", 165, Ecosystem::Rpm)
}

#[test]
fn apk_version_compare() -> TestResult {
    check_ecosystem("apk-version-compare.tsv", 738, Ecosystem::Apk)
}

#[test]
fn apk_version_validity() -> TestResult {
    check_table("apk-version-validity.tsv", 2, 31, |_, f| {
        let want = match f[1] {
            "valid" => true,
            "invalid" => false,
            other => return Err(format!("validity column holds {other:?}")),
        };
        let got = apk::is_valid(f[0]);
        if got == want { Ok(()) } else { Err(format!("is_valid = {got}")) }
    })
}

#[test]
fn apk_version_fuzzy_ops() -> TestResult {
    check_table("apk-version-fuzzy-ops.tsv", 3, 16, |_, f| {
        let constraint = apk::Constraint::parse(f[1]).map_err(|e| e.to_string())?;
        if constraint.matches(f[0], f[2]) { Ok(()) } else { Err("does not match".to_owned()) }
    })
}

/// Lines of `osv-scalibr-alpine-versions.tsv` whose expected value apk-tools 2.x contradicts and apk-tools 3
/// reproduces. osv-scalibr wrote this table for its own comparator, whose fallback for strings apk rejects
/// (`1.2.0A`, `1-ruff`, `0.r1`) follows neither apk-tools release throughout; checked by hand against both
/// `src/version.c` sources, each of these rows is what apk-tools 3 answers, and every other row is what 2.x answers.
const ALPINE_ROWS_ANSWERED_BY_APK_TOOLS_3: [usize; 8] = [8, 9, 15, 24, 25, 26, 33, 37];

/// Every row must be an answer of a real apk-tools release: apk-tools 2.x (what OSV's Alpine data was ordered with)
/// for all rows but the listed ones, which must be apk-tools 3's answer and not 2.x's.
#[test]
fn osv_scalibr_alpine_versions() -> TestResult {
    check_table("osv-scalibr-alpine-versions.tsv", 3, 778, |line, f| {
        let want = expected_order(f[2])?;
        let (v2, v3) = (apk::compare_v2(f[0], f[1]), apk::compare(f[0], f[1]));
        if ALPINE_ROWS_ANSWERED_BY_APK_TOOLS_3.contains(&line) {
            if v3 == want && v2 != want {
                Ok(())
            } else {
                Err(format!("apk-tools 3: {v3:?}, 2.x: {v2:?}, want {want:?}"))
            }
        } else if v2 == want && apk::compare_v2(f[1], f[0]) == want.reverse() {
            Ok(())
        } else {
            Err(format!("apk-tools 2.x: {v2:?}, want {want:?}"))
        }
    })
}

#[test]
fn osv_scalibr_alpine_versions_generated() -> TestResult {
    check_total_order("osv-scalibr-alpine-versions-generated.tsv", 13979, apk::compare_v2)
}

/// Rows marked loose hold spellings (`=1.2.3`, ` v 1.2.3`) only node-semver's loose mode accepts: the lenient order
/// must agree, and so must [`semver::compare`] wherever it accepts both sides. The other rows must agree through
/// the unified entry point.
#[test]
fn node_semver_compare() -> TestResult {
    check_table("node-semver-compare.tsv", 4, 68, |_, f| {
        let want = expected_order(f[2])?;
        match f[3] {
            "0" => match version::compare(Ecosystem::Semver, f[0], f[1]) {
                Ok(got) if got == want => Ok(()),
                other => Err(format!("got {other:?}, want {want:?}")),
            },
            "1" => check_lenient_semver(f[0], f[1], want),
            other => Err(format!("loose column holds {other:?}")),
        }
    })
}

fn check_lenient_semver(a: &str, b: &str, want: Ordering) -> Result<(), String> {
    match semver::compare_lenient(a, b) {
        Ok(got) if got == want => {}
        other => return Err(format!("lenient: got {other:?}, want {want:?}")),
    }
    match semver::compare(a, b) {
        Ok(got) if got != want => Err(format!("strict: got {got:?}, want {want:?}")),
        _ => Ok(()),
    }
}

/// OSV tooling orders SemVer leniently (leading `v`, any number of components, numbers of any size); strict
/// SemVer must agree wherever it accepts both sides.
#[test]
fn osv_scalibr_semver_versions() -> TestResult {
    check_table("osv-scalibr-semver-versions.tsv", 3, 86, |_, f| {
        check_lenient_semver(f[0], f[1], expected_order(f[2])?)
    })
}

/// OSV's PyPI rows were ordered by `packaging` with its legacy fallback; strict PEP 440 must agree whenever both
/// sides are valid, and must reject the row otherwise.
fn check_pypi(table: &str, want_rows: usize) -> TestResult {
    check_table(table, 3, want_rows, |_, f| {
        let want = expected_order(f[2])?;
        let got = pep440::compare_with_legacy(f[0], f[1]);
        if got != want || pep440::compare_with_legacy(f[1], f[0]) != want.reverse() {
            return Err(format!("with legacy: got {got:?}, want {want:?}"));
        }
        let both_valid = pep440::is_valid(f[0]) && pep440::is_valid(f[1]);
        match version::compare(Ecosystem::Pep440, f[0], f[1]) {
            Ok(got) if both_valid && got == want => Ok(()),
            Err(_) if !both_valid => Ok(()),
            other => Err(format!("strict: got {other:?}, want {want:?}")),
        }
    })
}

#[test]
fn osv_scalibr_pypi_versions() -> TestResult {
    check_pypi("osv-scalibr-pypi-versions.tsv", 37)
}

#[test]
fn osv_scalibr_pypi_versions_generated() -> TestResult {
    check_pypi("osv-scalibr-pypi-versions-generated.tsv", 12375)
}

/// The file lists versions in ascending order: every earlier one must sort before every later one.
#[test]
fn pep440_packaging_sorted_versions() -> TestResult {
    let text = read("pep440-packaging-sorted-versions.txt")?;
    let versions: Vec<(usize, &str)> =
        text.lines().enumerate().filter(|(_, l)| !l.starts_with('#')).map(|(i, l)| (i + 1, l)).collect();
    if versions.len() != 92 {
        return Err(Failure(format!("{} versions, want 92", versions.len())));
    }
    let mut failures = Vec::new();
    for (i, &(line_a, a)) in versions.iter().enumerate() {
        for &(line_b, b) in &versions[i..] {
            let want = line_a.cmp(&line_b);
            let got = version::compare(Ecosystem::Pep440, a, b);
            if got != Ok(want) {
                failures.push(format!("  lines {line_a},{line_b}: {a} vs {b}: got {got:?}, want {want:?}"));
            }
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    let shown = failures[..failures.len().min(SHOWN)].join("\n");
    Err(Failure(format!("{} pairs disagree; first ones:\n{shown}", failures.len())))
}

/// RubyGems rows: the order in both directions, through [`rubygems::compare`] and [`version::compare`].
fn check_rubygems(table: &str, want_rows: usize) -> TestResult {
    check_table(table, 3, want_rows, |_, f| {
        let want = expected_order(f[2])?;
        let got = version::compare(Ecosystem::RubyGems, f[0], f[1]).map_err(|e| e.to_string())?;
        let back = rubygems::compare(f[1], f[0]).map_err(|e| e.to_string())?;
        if got == want && back == want.reverse() { Ok(()) } else { Err(format!("got {got:?}, want {want:?}")) }
    })
}

#[test]
fn osv_scalibr_rubygems_versions() -> TestResult {
    check_rubygems("osv-scalibr-rubygems-versions.tsv", 25)
}

#[test]
fn osv_scalibr_rubygems_versions_generated() -> TestResult {
    check_rubygems("osv-scalibr-rubygems-versions-generated.tsv", 4098)
}

/// Maven rows: the order in both directions.
fn check_maven(table: &str, want_rows: usize) -> TestResult {
    check_table(table, 3, want_rows, |_, f| {
        let want = expected_order(f[2])?;
        let (got, back) = (maven::compare(f[0], f[1]), maven::compare(f[1], f[0]));
        if got == want && back == want.reverse() { Ok(()) } else { Err(format!("got {got:?}, want {want:?}")) }
    })
}

#[test]
fn osv_scalibr_maven_versions() -> TestResult {
    check_maven("osv-scalibr-maven-versions.tsv", 102)
}

#[test]
fn osv_scalibr_maven_versions_generated() -> TestResult {
    check_maven("osv-scalibr-maven-versions-generated.tsv", 14752)
}

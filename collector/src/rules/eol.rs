//! End-of-life dates of operating system releases, read from endoflife.date's product data (JSON as exported in
//! `policy/endoflife/os.json`), and the lookup of one host's release in it.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

/// Products by endoflife.date name (`debian`, `ubuntu`, `rhel`, `alpine-linux`, …).
#[derive(Debug, Clone, Default)]
pub struct EolData {
    products: BTreeMap<String, Vec<Release>>,
}

/// When a release stops getting security support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EolWhen {
    Date(NaiveDate),
    /// The data says only "already ended" (`true`) or "not ended, no date yet" (`false`).
    Flag(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `releaseCycle`, e.g. `12`, `24.04`, `3.18`.
    pub cycle: String,
    pub codename: Option<String>,
    pub eol: Option<EolWhen>,
    /// End of extended support (`eoes`: Debian LTS, Ubuntu ESM, RHEL ELS…): security fixes still come, through
    /// the vendor's extended programme, after `eol`.
    pub extended: Option<EolWhen>,
    pub link: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EolError(String);

#[derive(Deserialize)]
struct RawProduct {
    releases: Vec<RawRelease>,
}

#[derive(Deserialize)]
struct RawRelease {
    #[serde(rename = "releaseCycle")]
    cycle: serde_json::Value,
    #[serde(default)]
    codename: Option<String>,
    #[serde(default)]
    eol: Option<serde_json::Value>,
    #[serde(default)]
    eoes: Option<serde_json::Value>,
    #[serde(default)]
    link: Option<String>,
}

/// A date (`YYYY-MM-DD`) or a bool, as endoflife.date writes `eol` and `eoes`.
fn when(name: &str, cycle: &str, field: &str, value: Option<serde_json::Value>) -> Result<Option<EolWhen>, EolError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(EolWhen::Flag(b))),
        Some(serde_json::Value::String(s)) => Ok(Some(EolWhen::Date(
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|e| EolError(format!("{name} {cycle}: {field} {s:?}: {e}")))?,
        ))),
        Some(other) => Err(EolError(format!("{name} {cycle}: {field} {other} is neither a date nor a bool"))),
    }
}

impl EolData {
    /// Parses `{"<product>": {"releases": [{"releaseCycle", "eol", …}]}}`; `eol` is a `YYYY-MM-DD` date or a bool.
    pub fn parse(json: &str) -> Result<EolData, EolError> {
        let raw: BTreeMap<String, RawProduct> =
            serde_json::from_str(json).map_err(|e| EolError(format!("not endoflife.date product data: {e}")))?;
        let mut products = BTreeMap::new();
        for (name, product) in raw {
            let mut releases = Vec::with_capacity(product.releases.len());
            for r in product.releases {
                let cycle = match r.cycle {
                    serde_json::Value::String(s) => s,
                    // Numbers would lose "3.10" vs "3.1"; the data is exported with strings for that reason.
                    other => return Err(EolError(format!("{name}: releaseCycle {other} is not a string"))),
                };
                let eol = when(&name, &cycle, "eol", r.eol)?;
                let extended = when(&name, &cycle, "eoes", r.eoes)?;
                releases.push(Release { cycle, codename: r.codename, eol, extended, link: r.link });
            }
            products.insert(name, releases);
        }
        Ok(EolData { products })
    }

    pub fn product_count(&self) -> usize {
        self.products.len()
    }

    /// The release of `product` that `version_id` belongs to: the longest cycle equal to it or a dotted prefix of it
    /// (`9.4` is RHEL cycle `9`, `3.18.4` is Alpine cycle `3.18`).
    pub fn release(&self, product: &str, version_id: &str) -> Option<&Release> {
        let releases = self.products.get(product)?;
        releases
            .iter()
            .filter(|r| {
                version_id == r.cycle
                    || version_id.strip_prefix(r.cycle.as_str()).is_some_and(|rest| rest.starts_with('.'))
            })
            .max_by_key(|r| r.cycle.len())
    }

    /// The product and release a host's `os` section belongs to under `product`: by `version_id` (see
    /// [`EolData::release`]), except Windows, whose releases are named by Windows version, feature update and edition
    /// (see [`windows_cycles`]), and whose servers are another product (`windows-server`).
    pub fn release_of<'a>(&'a self, product: &'a str, os: &muster_shared::v1::Os) -> Option<(&'a str, &'a Release)> {
        if product == "windows" {
            let (product, cycles) = windows_cycles(os);
            let releases = self.products.get(product)?;
            let release = cycles.into_iter().find_map(|cycle| releases.iter().find(|r| r.cycle == cycle))?;
            return Some((product, release));
        }
        self.release(product, os.version_id.as_deref()?).map(|r| (product, r))
    }
}

/// endoflife.date's product and cycles a Windows host may belong to, most specific first.
///
/// Windows 10 and 11 (`windows`): `<10|11>-<feature update>` with the servicing channel of its edition, `-e`
/// (Enterprise, Education, IoT Enterprise: 36 months for Windows 11's autumn updates), `-w` (Home, Pro and the
/// rest: 24 months), `-e-lts` / `-iot-lts` (LTSC), then the bare `<10|11>-<feature update>` of releases whose
/// editions end together (10 22H2). Windows 11 is build 22000 and later. Without an edition (an agent older than the
/// `variant_id` field) only the bare cycle is tried: choosing a channel would be a guess.
///
/// Windows Server (`windows-server`, an edition starting with `server`): the long-term releases by the year in
/// the product name (`2022`, `2012-r2`), the semi-annual and annual channel ones, whose name has no year, by
/// feature update (`20h2-sac`, `23h2-ac`).
pub fn windows_cycles(os: &muster_shared::v1::Os) -> (&'static str, Vec<String>) {
    let edition = os.variant_id.as_deref().map(str::to_ascii_lowercase);
    let feature = os.version.as_deref().map(str::to_ascii_lowercase);
    if edition.as_deref().is_some_and(|e| e.starts_with("server")) {
        let name = os.name.as_deref().unwrap_or_default();
        let year = name
            .split_whitespace()
            .skip_while(|w| *w != "Server")
            .nth(1)
            .filter(|w| w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()));
        let cycles = match (year, feature) {
            (Some(year), _) if name.contains(&format!("{year} R2")) => vec![format!("{year}-r2")],
            (Some(year), _) => vec![year.to_string()],
            (None, Some(feature)) => vec![format!("{feature}-ac"), format!("{feature}-sac")],
            (None, None) => Vec::new(),
        };
        return ("windows-server", cycles);
    }
    let build: Option<u32> = os.version_id.as_deref().and_then(|v| v.split('.').nth(2)).and_then(|b| b.parse().ok());
    let (Some(build), Some(feature)) = (build, feature) else { return ("windows", Vec::new()) };
    let base = format!("{}-{feature}", if build >= 22000 { 11 } else { 10 });
    let channel = edition.as_deref().map(|e| match e {
        // LTSC: EnterpriseS, EnterpriseSN, IoTEnterpriseS.
        e if e.starts_with("iotenterprises") => "iot-lts",
        e if e.starts_with("enterprises") => "e-lts",
        e if e.starts_with("enterprise") || e.starts_with("education") || e.starts_with("iotenterprise") => "e",
        _ => "w",
    });
    let mut cycles = Vec::with_capacity(2);
    if let Some(channel) = channel {
        cycles.push(format!("{base}-{channel}"));
    }
    cycles.push(base);
    ("windows", cycles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> EolData {
        EolData::parse(include_str!("../../policy/endoflife/os.json")).unwrap()
    }

    #[test]
    fn releases_are_found_by_version_id() {
        let data = builtin();
        let cases = [
            ("debian", "12", "12", Some(EolWhen::Date(NaiveDate::from_ymd_opt(2026, 7, 11).unwrap()))),
            ("ubuntu", "24.04", "24.04", Some(EolWhen::Date(NaiveDate::from_ymd_opt(2029, 5, 31).unwrap()))),
            ("rhel", "9.4", "9", Some(EolWhen::Date(NaiveDate::from_ymd_opt(2032, 5, 31).unwrap()))),
            ("alpine-linux", "3.18.4", "3.18", Some(EolWhen::Date(NaiveDate::from_ymd_opt(2025, 5, 9).unwrap()))),
            // A Mac's version as system_profiler gives it: 10.x releases are cycles of two parts, later ones of one.
            ("macos", "10.14.6", "10.14", Some(EolWhen::Date(NaiveDate::from_ymd_opt(2021, 10, 25).unwrap()))),
            ("macos", "12.7.4", "12", Some(EolWhen::Date(NaiveDate::from_ymd_opt(2024, 9, 16).unwrap()))),
        ];
        for (product, version, cycle, eol) in cases {
            let r = data.release(product, version).unwrap();
            assert_eq!((r.cycle.as_str(), &r.eol), (cycle, &eol), "{product} {version}");
        }
        let bookworm = data.release("debian", "12").unwrap();
        assert_eq!(bookworm.extended, Some(EolWhen::Date(NaiveDate::from_ymd_opt(2028, 6, 30).unwrap())));
        let noble = data.release("ubuntu", "24.04").unwrap();
        assert_eq!(noble.extended, Some(EolWhen::Date(NaiveDate::from_ymd_opt(2036, 5, 31).unwrap())));
        assert!(data.release("debian", "99").is_none());
        assert!(data.release("debian", "1").is_none(), "1 is not a prefix of 10 or 11");
    }

    #[test]
    fn windows_releases_by_version_feature_update_and_edition() {
        let data = builtin();
        let os = |version_id: &str, feature: &str, edition: Option<&str>| muster_shared::v1::Os {
            id: Some("windows".into()),
            version: Some(feature.into()),
            version_id: Some(version_id.into()),
            variant_id: edition.map(str::to_string),
            ..Default::default()
        };
        let date = |y, m, d| Some(EolWhen::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap()));
        let cases = [
            // Windows 10 22H2 ends on one day for every edition; extended security updates run to 2028.
            (os("10.0.19045.3803", "22H2", Some("professional")), "10-22h2", date(2025, 10, 14)),
            (os("10.0.19045.3803", "22H2", None), "10-22h2", date(2025, 10, 14)),
            (os("10.0.22631.4890", "23H2", Some("enterprise")), "11-23h2-e", date(2026, 11, 10)),
            (os("10.0.22631.4890", "23H2", Some("education")), "11-23h2-e", date(2026, 11, 10)),
            (os("10.0.22631.4890", "23H2", Some("core")), "11-23h2-w", date(2025, 11, 11)),
            (os("10.0.26100.2605", "24H2", Some("professional")), "11-24h2-w", date(2026, 10, 13)),
            (os("10.0.19044.5247", "21H2", Some("enterprises")), "10-21h2-e-lts", date(2027, 1, 12)),
            (os("10.0.19044.5247", "21H2", Some("iotenterprises")), "10-21h2-iot-lts", date(2032, 1, 13)),
            // Before 20H2 the feature update was a four-digit release id.
            (os("10.0.18363.1556", "1909", Some("enterprise")), "10-1909-e", date(2022, 5, 10)),
        ];
        for (os, cycle, eol) in cases {
            let (product, r) = data.release_of("windows", &os).unwrap_or_else(|| panic!("no release for {os:?}"));
            assert_eq!((product, r.cycle.as_str(), &r.eol), ("windows", cycle, &eol), "{os:?}");
        }
        let (_, esu) = data.release_of("windows", &os("10.0.19045.3803", "22H2", Some("professional"))).unwrap();
        assert_eq!(esu.extended, date(2028, 10, 10));
        // 11 23H2 ends on different days per channel: without the edition nothing is claimed.
        assert!(data.release_of("windows", &os("10.0.22631.4890", "23H2", None)).is_none());
        // Servers: the long-term releases by the year in their name, the others by feature update.
        let server = |name: &str, version_id: &str, feature: &str| muster_shared::v1::Os {
            name: Some(name.into()),
            ..os(version_id, feature, Some("serverstandard"))
        };
        let cases = [
            (server("Windows Server 2022 Standard", "10.0.20348.2966", "21H2"), "2022", date(2031, 10, 14)),
            (server("Windows Server 2012 R2 Standard", "6.3.9600.21620", ""), "2012-r2", date(2023, 10, 10)),
            (server("Windows Server Datacenter", "10.0.19042.1889", "20H2"), "20h2-sac", date(2022, 8, 9)),
            (server("Windows Server Datacenter", "10.0.25398.1189", "23H2"), "23h2-ac", date(2026, 5, 12)),
        ];
        for (os, cycle, eol) in &cases {
            let (product, r) = data.release_of("windows", os).unwrap_or_else(|| panic!("no release for {os:?}"));
            assert_eq!((product, r.cycle.as_str(), &r.eol), ("windows-server", *cycle, eol), "{os:?}");
        }
        let (_, r2) = data.release_of("windows", &cases[1].0).unwrap();
        assert_eq!(r2.extended, date(2026, 10, 13));
        // Linux goes by version_id as before.
        let debian = muster_shared::v1::Os { version_id: Some("12".into()), ..Default::default() };
        assert_eq!(data.release_of("debian", &debian).map(|(p, r)| (p, r.cycle.as_str())), Some(("debian", "12")));
    }

    #[test]
    fn bad_data_is_refused() {
        assert!(EolData::parse("[]").is_err());
        assert!(EolData::parse(r#"{"x": {"releases": [{"releaseCycle": "1", "eol": "soon"}]}}"#).is_err());
        assert!(EolData::parse(r#"{"x": {"releases": [{"releaseCycle": 1.1}]}}"#).is_err());
        assert!(EolData::parse(r#"{"x": {"releases": [{"releaseCycle": "1", "eoes": 3}]}}"#).is_err());
    }
}

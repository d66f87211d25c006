//! Microsoft Defender for Endpoint on Linux and macOS as its own `mdatp health --output json` reports it: whether
//! real-time protection is on, and whether its definitions are current. `malware.scanner` only says a scanner is
//! installed; a Defender left in passive mode or with stale definitions protects nothing, and security managers
//! need to see that. [`parse`] and [`checks`] are pure and tested on captured reports; [`live`] is the thin edge
//! that runs the tool on a running Linux or macOS machine.

use chrono::{DateTime, TimeZone, Utc};
use muster_shared::v1::Check;
use serde::Deserialize;

use super::{fail, pass, unknown};

/// `malware.realtime`: the installed scanner scans files as they are opened.
pub const REALTIME: &str = "malware.realtime";
/// `malware.definitions`: the installed scanner's definitions are current by its own account.
pub const DEFINITIONS: &str = "malware.definitions";

/// Where `mdatp` is installed: Linux's package, then macOS's application's link.
pub const MDATP: [&str; 2] = ["/usr/bin/mdatp", "/usr/local/bin/mdatp"];
/// Its arguments.
pub const HEALTH_ARGS: [&str; 3] = ["health", "--output", "json"];

/// A setting as `mdatp health` prints it: `{"value": …, "isManaged": …}`.
#[derive(Debug, Deserialize)]
struct Setting<T> {
    value: Option<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthJson {
    app_version: Option<String>,
    healthy: Option<bool>,
    #[serde(default)]
    health_issues: Vec<serde_json::Value>,
    real_time_protection_enabled: Option<Setting<bool>>,
    passive_mode_enabled: Option<Setting<bool>>,
    definitions_status: Option<DefinitionsStatus>,
    /// Milliseconds since the epoch, as a string.
    definitions_updated: Option<String>,
    definitions_version: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DefinitionsStatus {
    #[serde(rename = "$type")]
    kind: Option<String>,
}

/// What `mdatp health` says, as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub app_version: Option<String>,
    pub healthy: Option<bool>,
    /// The health issues it lists, as it words them.
    pub health_issues: Vec<String>,
    pub realtime: Option<bool>,
    pub passive: Option<bool>,
    /// `upToDate` when current; its other words otherwise.
    pub definitions_status: Option<String>,
    pub definitions_updated: Option<DateTime<Utc>>,
    pub definitions_version: Option<String>,
}

/// Reads `mdatp health --output json`.
pub fn parse(output: &[u8]) -> Result<Health, String> {
    let json: HealthJson =
        serde_json::from_slice(output).map_err(|e| format!("mdatp health printed no health report: {e}"))?;
    let definitions_updated = json
        .definitions_updated
        .as_deref()
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    Ok(Health {
        app_version: json.app_version,
        healthy: json.healthy,
        health_issues: json
            .health_issues
            .iter()
            .map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string()))
            .collect(),
        realtime: json.real_time_protection_enabled.and_then(|s| s.value),
        passive: json.passive_mode_enabled.and_then(|s| s.value),
        definitions_status: json.definitions_status.and_then(|s| s.kind),
        definitions_updated,
        definitions_version: json.definitions_version,
    })
}

/// The checks of the running machine's Defender: none where `mdatp` is not installed, both unknown with the reason
/// when it does not answer (stopped after 30 s) or answers something else.
pub fn live(now: DateTime<Utc>) -> Vec<Check> {
    let Some(mdatp) = MDATP.iter().find(|p| std::path::Path::new(p).exists()) else { return Vec::new() };
    let why = match crate::command::run(mdatp, &HEALTH_ARGS, std::time::Duration::from_secs(30)) {
        Ok(out) if out.ok => match parse(&out.stdout) {
            Ok(health) => return checks(&health, now),
            Err(e) => e,
        },
        Ok(out) => format!("{mdatp} health: {}: {}", out.status, out.stderr),
        Err(e) => format!("{mdatp} health: {e}"),
    };
    vec![unknown(REALTIME, why.clone()), unknown(DEFINITIONS, why)]
}

/// The two checks from a health report; `now` gives the definitions' age in the evidence.
pub fn checks(health: &Health, now: DateTime<Utc>) -> Vec<Check> {
    let product = match &health.app_version {
        Some(v) => format!("Microsoft Defender {v}"),
        None => "Microsoft Defender".to_owned(),
    };
    let mut issues: Vec<String> =
        health.health_issues.iter().map(|i| format!("{product}: health issue: {i}")).collect();
    if health.healthy == Some(false) && issues.is_empty() {
        issues.push(format!("{product}: reports itself unhealthy"));
    }
    vec![realtime(health, &product, &issues), definitions(health, &product, now)]
}

fn realtime(health: &Health, product: &str, issues: &[String]) -> Check {
    let passive =
        if health.passive == Some(true) { " (passive mode: it leaves protection to another product)" } else { "" };
    match health.realtime {
        Some(true) => {
            let mut evidence = vec![format!("{product}: real-time protection on{passive}")];
            evidence.extend(issues.iter().cloned());
            pass(REALTIME, evidence)
        }
        Some(false) => {
            let mut evidence = vec![format!("{product}: real-time protection off{passive}")];
            evidence.extend(issues.iter().cloned());
            fail(
                REALTIME,
                evidence,
                "turn real-time protection on (`mdatp config real-time-protection --value enabled`, or through the \
                 organisation's management profile), unless another endpoint product is the one meant to protect",
            )
        }
        None => {
            unknown(REALTIME, format!("{product}: its health report does not say whether real-time protection is on"))
        }
    }
}

fn definitions(health: &Health, product: &str, now: DateTime<Utc>) -> Check {
    let mut evidence = Vec::new();
    let version = health.definitions_version.as_deref().unwrap_or("of an unknown version");
    match health.definitions_updated {
        Some(at) => {
            let days = now.signed_duration_since(at).num_days().max(0);
            evidence.push(format!(
                "{product}: definitions {version} updated {} ({days} days ago)",
                at.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        None => evidence.push(format!("{product}: definitions {version}")),
    }
    match health.definitions_status.as_deref() {
        Some("upToDate") => pass(DEFINITIONS, evidence),
        Some(other) => {
            evidence.push(format!("{product}: definitions status {other}"));
            fail(
                DEFINITIONS,
                evidence,
                "update the definitions (`mdatp definitions update`) and check that the machine reaches Microsoft's \
                 update servers or the organisation's mirror",
            )
        }
        None => unknown(
            DEFINITIONS,
            format!("{product}: its health report does not say whether its definitions are current"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::CheckStatus;

    fn capture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/defender/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn summary(checks: &[Check]) -> Vec<(&str, CheckStatus, Vec<&str>)> {
        checks.iter().map(|c| (c.id.as_str(), c.status, c.evidence.iter().map(String::as_str).collect())).collect()
    }

    #[test]
    fn a_linux_defender_in_passive_mode_protects_nothing_in_real_time() {
        let health = parse(&capture("linux-mdatp-101.23062.0010.json")).unwrap();
        assert_eq!(health.healthy, Some(true));
        // 1691587153787 ms: 2023-08-09 13:19:13 UTC; the capture says 20 minutes before it was taken.
        let now = Utc.with_ymd_and_hms(2023, 8, 19, 13, 40, 0).unwrap();
        assert_eq!(
            summary(&checks(&health, now)),
            [
                (
                    REALTIME,
                    CheckStatus::Fail,
                    vec![
                        "Microsoft Defender 101.23062.0010: real-time protection off (passive mode: it leaves \
                         protection to another product)"
                    ]
                ),
                (
                    DEFINITIONS,
                    CheckStatus::Pass,
                    vec![
                        "Microsoft Defender 101.23062.0010: definitions 1.395.30.0 updated 2023-08-09 13:19 UTC (10 days ago)"
                    ]
                ),
            ]
        );
    }

    #[test]
    fn a_mac_defender_with_real_time_protection_and_current_definitions_passes() {
        let health = parse(&capture("macos-mdatp-101.98.30.json")).unwrap();
        let now = Utc.with_ymd_and_hms(2023, 5, 3, 8, 0, 0).unwrap();
        let checks = checks(&health, now);
        assert_eq!(
            summary(&checks),
            [
                (REALTIME, CheckStatus::Pass, vec!["Microsoft Defender 101.98.30: real-time protection on"]),
                (
                    DEFINITIONS,
                    CheckStatus::Pass,
                    vec![
                        "Microsoft Defender 101.98.30: definitions 1.389.10.0 updated 2023-05-03 05:48 UTC (0 days ago)"
                    ]
                ),
            ]
        );
    }

    #[test]
    fn stale_definitions_and_reported_issues_fail_and_garbage_is_an_error() {
        let mut health = parse(&capture("macos-mdatp-101.98.30.json")).unwrap();
        // A status other than `upToDate`: no capture of one was found, so the word is ours; any such word fails.
        health.definitions_status = Some("outdated".to_owned());
        health.healthy = Some(false);
        let now = Utc.with_ymd_and_hms(2023, 6, 3, 8, 0, 0).unwrap();
        let checks = checks(&health, now);
        assert_eq!(checks[1].status, CheckStatus::Fail);
        assert_eq!(checks[1].evidence[1], "Microsoft Defender 101.98.30: definitions status outdated");
        assert!(checks[1].evidence[0].ends_with("(31 days ago)"), "{:?}", checks[1].evidence);
        assert_eq!(checks[0].evidence[1], "Microsoft Defender 101.98.30: reports itself unhealthy");
        // GLPI's capture of a tool that printed something else entirely.
        let error = parse(&capture("not-expected-output.json")).unwrap_err();
        assert!(error.starts_with("mdatp health printed no health report"), "{error}");
    }
}

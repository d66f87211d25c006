//! Microsoft Defender for Endpoint on Linux and macOS as its own `mdatp health --output json` reports it: whether
//! real-time protection is on, and whether its definitions are current. `malware.scanner` only says a scanner is
//! installed; a Defender left in passive mode or with stale definitions protects nothing, and security managers
//! need to see that. [`parse`] and [`checks`] are pure and tested on captured reports; [`live`] is the thin edge
//! that runs the tool on a running Linux or macOS machine.

use chrono::{DateTime, TimeZone, Utc};
use muster_shared::v1::Check;

use super::{fail, pass, unknown};

/// `malware.realtime`: the installed scanner scans files as they are opened.
pub const REALTIME: &str = "malware.realtime";
/// `malware.definitions`: the installed scanner's definitions are current by its own account.
pub const DEFINITIONS: &str = "malware.definitions";

/// Where `mdatp` is installed: Linux's package, then macOS's application's link.
pub const MDATP: [&str; 2] = ["/usr/bin/mdatp", "/usr/local/bin/mdatp"];
/// Its arguments.
pub const HEALTH_ARGS: [&str; 3] = ["health", "--output", "json"];

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

/// Reads `mdatp health --output json`. Read leniently, field by field: a field of another shape than these
/// captures' (a number for a string, a null list) costs that field, not the report.
pub fn parse(output: &[u8]) -> Result<Health, String> {
    let json: serde_json::Value =
        serde_json::from_slice(output).map_err(|e| format!("mdatp health printed no health report: {e}"))?;
    let serde_json::Value::Object(fields) = json else {
        return Err("mdatp health printed no health report: not a JSON object".to_owned());
    };
    let field = |name: &str| fields.get(name).filter(|v| !v.is_null());
    // A setting is `{"value": …, "isManaged": …}`; a bare value is taken as it is.
    let setting = |name: &str| field(name).map(|v| v.get("value").unwrap_or(v)).and_then(serde_json::Value::as_bool);
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let definitions_updated = field("definitionsUpdated")
        .and_then(text)
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
    let definitions_status = field("definitionsStatus").and_then(|v| v.get("$type").map_or_else(|| text(v), text));
    Ok(Health {
        app_version: field("appVersion").and_then(text),
        healthy: field("healthy").and_then(serde_json::Value::as_bool),
        health_issues: field("healthIssues")
            .and_then(serde_json::Value::as_array)
            .map(|issues| issues.iter().map(|i| text(i).unwrap_or_else(|| i.to_string())).collect())
            .unwrap_or_default(),
        realtime: setting("realTimeProtectionEnabled"),
        passive: setting("passiveModeEnabled"),
        definitions_status,
        definitions_updated,
        definitions_version: field("definitionsVersion").and_then(text),
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
    const REMEDIATION: &str = "turn real-time protection on and passive mode off (`mdatp config real-time-protection \
         --value enabled`, `mdatp config passive-mode --value disabled`, or the organisation's management profile) \
         and resolve the health issues `mdatp health` lists, unless another endpoint product is the one meant to \
         protect";
    let mut evidence = match health.realtime {
        Some(true) => vec![format!("{product}: real-time protection on")],
        Some(false) => vec![format!("{product}: real-time protection off")],
        None => Vec::new(),
    };
    // In passive mode Defender scans but remediates nothing; an unhealthy Defender may not scan at all.
    let passive = health.passive == Some(true);
    if passive {
        evidence.push(format!("{product}: passive mode: it leaves protection to another product"));
    }
    evidence.extend(issues.iter().cloned());
    match health.realtime {
        Some(true) if !passive && health.healthy != Some(false) => pass(REALTIME, evidence),
        Some(_) => fail(REALTIME, evidence, REMEDIATION),
        None if passive || health.healthy == Some(false) => fail(REALTIME, evidence, REMEDIATION),
        None => {
            unknown(REALTIME, format!("{product}: its health report does not say whether real-time protection is on"))
        }
    }
}

fn definitions(health: &Health, product: &str, now: DateTime<Utc>) -> Check {
    let status = health.definitions_status.as_deref();
    if status == Some("upToDate") {
        // Neither version nor date: they change with every update, and the checks section would be sent again each
        // time for nothing.
        return pass(DEFINITIONS, vec![format!("{product}: definitions up to date")]);
    }
    let version = health.definitions_version.as_deref().unwrap_or("of an unknown version");
    let mut evidence = vec![match health.definitions_updated {
        Some(at) => {
            let days = now.signed_duration_since(at).num_days().max(0);
            format!("{product}: definitions {version} updated {} ({days} days ago)", at.format("%Y-%m-%d %H:%M UTC"))
        }
        None => format!("{product}: definitions {version}"),
    }];
    match status {
        // Words of a moment (an update under way) or of not knowing decide nothing.
        None | Some("updating" | "unknown") => {
            unknown(DEFINITIONS, format!("{} (status {})", evidence[0], status.unwrap_or("not given")))
        }
        Some(other) => {
            evidence.push(format!("{product}: definitions status {other}"));
            fail(
                DEFINITIONS,
                evidence,
                "update the definitions (`mdatp definitions update`) and check that the machine reaches Microsoft's \
                 update servers or the organisation's mirror",
            )
        }
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
        assert_eq!(health.definitions_version.as_deref(), Some("1.395.30.0"));
        // 1691587153787 ms: 2023-08-09 13:19:13 UTC; the capture says 20 minutes before it was taken.
        assert_eq!(
            health.definitions_updated,
            Utc.with_ymd_and_hms(2023, 8, 9, 13, 19, 13).single().map(|t| t + chrono::Duration::milliseconds(787))
        );
        let now = Utc.with_ymd_and_hms(2023, 8, 19, 13, 40, 0).unwrap();
        assert_eq!(
            summary(&checks(&health, now)),
            [
                (
                    REALTIME,
                    CheckStatus::Fail,
                    vec![
                        "Microsoft Defender 101.23062.0010: real-time protection off",
                        "Microsoft Defender 101.23062.0010: passive mode: it leaves protection to another product",
                    ]
                ),
                (DEFINITIONS, CheckStatus::Pass, vec!["Microsoft Defender 101.23062.0010: definitions up to date"]),
            ]
        );
    }

    #[test]
    fn a_mac_defender_with_real_time_protection_and_current_definitions_passes() {
        let health = parse(&capture("macos-mdatp-101.98.30.json")).unwrap();
        let now = Utc.with_ymd_and_hms(2023, 5, 3, 8, 0, 0).unwrap();
        assert_eq!(
            summary(&checks(&health, now)),
            [
                (REALTIME, CheckStatus::Pass, vec!["Microsoft Defender 101.98.30: real-time protection on"]),
                (DEFINITIONS, CheckStatus::Pass, vec!["Microsoft Defender 101.98.30: definitions up to date"]),
            ]
        );
        // The same Defender put in passive mode, or reporting itself unhealthy, no longer protects in real time.
        for (passive, healthy) in [(Some(true), Some(true)), (Some(false), Some(false))] {
            let changed = Health { passive, healthy, ..health.clone() };
            assert_eq!(checks(&changed, now)[0].status, CheckStatus::Fail, "{passive:?} {healthy:?}");
        }
    }

    #[test]
    fn stale_definitions_fail_with_their_age_and_an_update_under_way_decides_nothing() {
        let mac = parse(&capture("macos-mdatp-101.98.30.json")).unwrap();
        // Status words other than `upToDate`: no capture of one was found, so these words are ours.
        let now = Utc.with_ymd_and_hms(2023, 6, 3, 8, 0, 0).unwrap();
        let outdated = Health { definitions_status: Some("outdated".to_owned()), ..mac.clone() };
        let check = &checks(&outdated, now)[1];
        assert_eq!(check.status, CheckStatus::Fail);
        assert_eq!(
            check.evidence,
            [
                "Microsoft Defender 101.98.30: definitions 1.389.10.0 updated 2023-05-03 05:48 UTC (31 days ago)",
                "Microsoft Defender 101.98.30: definitions status outdated",
            ]
        );
        let updating = Health { definitions_status: Some("updating".to_owned()), ..mac.clone() };
        assert_eq!(checks(&updating, now)[1].status, CheckStatus::Unknown);
        let unhealthy = Health { healthy: Some(false), ..mac };
        assert_eq!(checks(&unhealthy, now)[0].evidence[1], "Microsoft Defender 101.98.30: reports itself unhealthy");
    }

    #[test]
    fn other_shapes_cost_their_field_and_garbage_is_an_error() {
        // The Linux capture with fields of other shapes than it has: a null list, a number for a string, a bare
        // status word and a bare setting.
        let mut json: serde_json::Value = serde_json::from_slice(&capture("linux-mdatp-101.23062.0010.json")).unwrap();
        json["healthIssues"] = serde_json::Value::Null;
        json["definitionsUpdated"] = serde_json::json!(1691587153787i64);
        json["definitionsStatus"] = serde_json::json!("upToDate");
        json["realTimeProtectionEnabled"] = serde_json::json!(true);
        let health = parse(json.to_string().as_bytes()).unwrap();
        assert_eq!(health.health_issues, Vec::<String>::new());
        assert!(health.definitions_updated.is_some());
        assert_eq!(health.definitions_status.as_deref(), Some("upToDate"));
        assert_eq!(health.realtime, Some(true));
        // GLPI's capture of a tool that printed something else entirely.
        let error = parse(&capture("not-expected-output.json")).unwrap_err();
        assert!(error.starts_with("mdatp health printed no health report"), "{error}");
    }
}

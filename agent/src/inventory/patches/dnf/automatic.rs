//! Whether an rpm system installs updates by itself: dnf-automatic's timers and `automatic.conf`, or yum-cron.

use muster_shared::v1::{AutomaticUpdates, Package};

use super::ini;

/// `systemctl enable` links a timer here.
pub const TIMERS_WANTS: &str = "/etc/systemd/system/timers.target.wants";
pub const SERVICES_WANTS: &str = "/etc/systemd/system/multi-user.target.wants";
pub const DNF_AUTOMATIC_CONF: &str = "/etc/dnf/automatic.conf";
pub const YUM_CRON_CONF: &str = "/etc/yum/yum-cron.conf";

/// dnf-automatic's timers and whether each installs updates whatever `apply_updates` says (`Some(true)`), never
/// does (`Some(false)`) or follows `apply_updates` (`None`).
pub const DNF_TIMERS: [(&str, Option<bool>); 5] = [
    ("dnf-automatic-install.timer", Some(true)),
    ("dnf-automatic.timer", None),
    ("dnf5-automatic.timer", None),
    ("dnf-automatic-download.timer", Some(false)),
    ("dnf-automatic-notifyonly.timer", Some(false)),
];

/// What the probe found on the system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The `DNF_TIMERS` names enabled in [`TIMERS_WANTS`].
    pub enabled_timers: Vec<String>,
    /// `automatic.conf`'s text, if present.
    pub dnf_conf: Option<String>,
    /// Whether `yum-cron.service` is enabled in [`SERVICES_WANTS`].
    pub yum_cron_enabled: bool,
    pub yum_cron_conf: Option<String>,
}

/// Decides from the installed packages and the probe's facts; evidence names the deciding files and lines.
pub fn decide(installed: &[&Package], facts: &Facts) -> AutomaticUpdates {
    let has = |name: &str| installed.iter().any(|p| p.name == name);
    if has("dnf-automatic") || has("dnf5-plugin-automatic") {
        return dnf_automatic(facts);
    }
    if has("yum-cron") {
        return yum_cron(facts);
    }
    AutomaticUpdates {
        enabled: false,
        mechanism: None,
        evidence: vec!["neither dnf-automatic nor yum-cron is installed".to_string()],
    }
}

fn dnf_automatic(facts: &Facts) -> AutomaticUpdates {
    let mut evidence = Vec::new();
    let apply = apply_updates(facts.dnf_conf.as_deref(), DNF_AUTOMATIC_CONF, &mut evidence);
    let mut enabled = false;
    for (timer, installs) in DNF_TIMERS {
        if !facts.enabled_timers.iter().any(|t| t == timer) {
            continue;
        }
        evidence.push(format!("{TIMERS_WANTS}/{timer} is enabled"));
        enabled |= installs.unwrap_or(apply);
    }
    if facts.enabled_timers.is_empty() {
        evidence.push("no dnf-automatic timer is enabled".to_string());
    }
    AutomaticUpdates { enabled, mechanism: Some("dnf-automatic".to_string()), evidence }
}

fn yum_cron(facts: &Facts) -> AutomaticUpdates {
    let mut evidence = Vec::new();
    let apply = apply_updates(facts.yum_cron_conf.as_deref(), YUM_CRON_CONF, &mut evidence);
    if facts.yum_cron_enabled {
        evidence.push(format!("{SERVICES_WANTS}/yum-cron.service is enabled"));
    } else {
        evidence.push("yum-cron.service is not enabled (its daily job only runs while the service is)".to_string());
    }
    AutomaticUpdates { enabled: apply && facts.yum_cron_enabled, mechanism: Some("yum-cron".to_string()), evidence }
}

/// `[commands] apply_updates`, off when the file or the setting is missing (both tools' default).
fn apply_updates(text: Option<&str>, path: &str, evidence: &mut Vec<String>) -> bool {
    let Some(text) = text else {
        evidence.push(format!("{path} is missing (apply_updates defaults to no)"));
        return false;
    };
    let sections = ini::parse(text);
    let setting = sections.iter().find(|s| s.name == "commands").and_then(|s| s.get("apply_updates"));
    match setting {
        Some(entry) => {
            evidence.push(format!("{path}:{}: apply_updates = {}", entry.line, entry.value));
            ini::boolean(&entry.value).unwrap_or(false)
        }
        None => {
            evidence.push(format!("{path}: apply_updates is not set (defaults to no)"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::PackageKind;

    fn package(name: &str) -> Package {
        Package {
            kind: PackageKind::Rpm,
            name: name.into(),
            version: "4.14.0-9.el9".into(),
            arch: Some("noarch".into()),
            source_name: None,
            source_version: None,
            installed_at: None,
            size_bytes: None,
            state: None,
            path: None,
            owner: None,
            publisher: None,
            channel: None,
        }
    }

    /// dnf's own `automatic.conf`, as dnf-automatic installs it.
    fn shipped() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/dnf/automatic.conf")).unwrap()
    }

    fn facts(timers: &[&str], conf: String) -> Facts {
        Facts {
            enabled_timers: timers.iter().map(|t| t.to_string()).collect(),
            dnf_conf: Some(conf),
            ..Facts::default()
        }
    }

    #[test]
    fn dnf_automatic_timers_and_apply_updates() {
        let dnf_automatic = package("dnf-automatic");
        let installed = [&dnf_automatic];
        // The shipped file downloads but does not apply: its generic timer installs nothing.
        let off = decide(&installed, &facts(&["dnf-automatic.timer"], shipped()));
        assert!(!off.enabled);
        assert_eq!(
            off.evidence,
            [
                "/etc/dnf/automatic.conf:14: apply_updates = no",
                "/etc/systemd/system/timers.target.wants/dnf-automatic.timer is enabled"
            ]
        );
        // The install timer applies whatever the file says.
        assert!(decide(&installed, &facts(&["dnf-automatic-install.timer"], shipped())).enabled);
        let applying = shipped().replace("apply_updates = no", "apply_updates = yes");
        assert!(decide(&installed, &facts(&["dnf-automatic.timer"], applying.clone())).enabled);
        // Configured to apply, but no timer runs it.
        let idle = decide(&installed, &facts(&[], applying));
        assert!(!idle.enabled);
        assert_eq!(idle.evidence.last().map(String::as_str), Some("no dnf-automatic timer is enabled"));
        assert!(!decide(&installed, &facts(&["dnf-automatic-notifyonly.timer"], shipped())).enabled);
    }

    #[test]
    fn yum_cron_needs_its_service_and_apply_updates() {
        let yum_cron = package("yum-cron");
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/dnf/yum-cron.conf")).unwrap();
        let as_shipped = Facts { yum_cron_enabled: true, yum_cron_conf: Some(shipped.clone()), ..Facts::default() };
        let verdict = decide(&[&yum_cron], &as_shipped);
        assert!(!verdict.enabled);
        assert_eq!(verdict.evidence[0], "/etc/yum/yum-cron.conf:20: apply_updates = no");
        let conf = shipped.replace("apply_updates = no", "apply_updates = yes");
        let on = Facts { yum_cron_enabled: true, yum_cron_conf: Some(conf.clone()), ..Facts::default() };
        assert!(decide(&[&yum_cron], &on).enabled);
        let stopped = Facts { yum_cron_enabled: false, yum_cron_conf: Some(conf), ..Facts::default() };
        assert!(!decide(&[&yum_cron], &stopped).enabled);
        let none = decide(&[], &on);
        assert_eq!((none.enabled, none.mechanism), (false, None));
    }
}

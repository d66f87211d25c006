//! Whether apt installs updates by itself: unattended-upgrades installed and switched on by `APT::Periodic`.

use muster_shared::v1::{AutomaticUpdates, Package};

use super::apt::conf::AptConf;

const MECHANISM: &str = "unattended-upgrades";

/// `apt.systemd.daily` runs unattended-upgrade only when all of these are non-zero intervals.
const SWITCHES: [&str; 2] = ["APT::Periodic::Update-Package-Lists", "APT::Periodic::Unattended-Upgrade"];

/// Decides from the installed packages and the apt configuration; evidence names the deciding `file:line`s.
pub fn decide(installed: &[&Package], conf: &AptConf) -> AutomaticUpdates {
    let mut evidence = Vec::new();
    if !installed.iter().any(|p| p.name == MECHANISM) {
        evidence.push(format!("{MECHANISM} is not installed"));
        return AutomaticUpdates { enabled: false, mechanism: None, evidence };
    }
    let mut enabled = true;
    if let Some(setting) = conf.get("APT::Periodic::Enable")
        && !is_on(&setting.value)
    {
        evidence.push(format!("{}: APT::Periodic::Enable \"{}\"", setting.origin, setting.value));
        enabled = false;
    }
    for key in SWITCHES {
        match conf.get(key) {
            Some(setting) => {
                evidence.push(format!("{}: {key} \"{}\"", setting.origin, setting.value));
                enabled &= is_on(&setting.value);
            }
            None => {
                evidence.push(format!("{key} is not set (apt's default is 0, off)"));
                enabled = false;
            }
        }
    }
    AutomaticUpdates { enabled, mechanism: Some(MECHANISM.to_string()), evidence }
}

/// An `APT::Periodic` interval: `0` (or empty) turns the job off; days, `always` or a duration like `12h` turn it on.
fn is_on(value: &str) -> bool {
    let value = value.trim();
    !(value.is_empty() || value.chars().all(|c| c == '0') || value.eq_ignore_ascii_case("false"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::PackageKind;

    fn uu() -> Package {
        Package {
            kind: PackageKind::Deb,
            name: MECHANISM.into(),
            version: "2.9".into(),
            arch: Some("all".into()),
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

    fn conf(text: &str) -> AptConf {
        let mut conf = AptConf::new();
        conf.read(text, "/etc/apt/apt.conf.d/20auto-upgrades").unwrap();
        conf
    }

    #[test]
    fn debian_default_file_turns_it_on() {
        let c = conf("APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n");
        let pkg = uu();
        let result = decide(&[&pkg], &c);
        assert!(result.enabled);
        assert_eq!(result.mechanism.as_deref(), Some(MECHANISM));
        assert_eq!(
            result.evidence,
            [
                "/etc/apt/apt.conf.d/20auto-upgrades:1: APT::Periodic::Update-Package-Lists \"1\"",
                "/etc/apt/apt.conf.d/20auto-upgrades:2: APT::Periodic::Unattended-Upgrade \"1\""
            ]
        );
        assert!(!decide(&[], &c).enabled);
    }

    #[test]
    fn zero_or_missing_switches_turn_it_off() {
        let pkg = uu();
        assert!(!decide(&[&pkg], &conf("APT::Periodic::Unattended-Upgrade \"1\";\n")).enabled);
        let off = conf("APT::Periodic { Update-Package-Lists \"1\"; Unattended-Upgrade \"0\"; };\n");
        assert!(!decide(&[&pkg], &off).enabled);
    }
}

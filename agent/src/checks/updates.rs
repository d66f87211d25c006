//! The `updates.*` and `kernel.reboot_required` checks, decided from the patches section's state.

use chrono::{DateTime, Duration, Utc};
use muster_shared::v1::{Check, Patches};

use super::{PatchState, fail, pass, unknown};
use crate::inventory::patches::softwareupdate::MANAGER as MACOS;
use crate::inventory::windows::wua::MANAGER as WINDOWS;

const SECURITY_PENDING: &str = "updates.security_pending";
const AUTOMATIC: &str = "updates.automatic";
pub(crate) const LISTS_STALE: &str = "updates.lists_stale";
const REBOOT_REQUIRED: &str = "kernel.reboot_required";

/// Package lists older than this are stale: pending updates computed from them are out of date.
pub(crate) const LISTS_MAX_AGE_DAYS: i64 = 7;
/// How many pending security packages the evidence names.
const NAMED_PACKAGES: usize = 10;

/// The four checks, from the patches section when it was collected; otherwise they say why they cannot decide.
pub(crate) fn checks(patches: PatchState<'_>, now: DateTime<Utc>) -> Vec<Check> {
    let reason = match patches {
        PatchState::Collected(patches) => {
            return vec![
                security_pending(patches),
                automatic(patches),
                lists_stale(patches, now),
                reboot_required(patches),
            ];
        }
        PatchState::Failed => "patch state could not be collected (see the report's patches errors)",
        PatchState::NotRequested => {
            "the patches section was not collected: these checks need it (--sections checks,patches)"
        }
    };
    [SECURITY_PENDING, AUTOMATIC, LISTS_STALE, REBOOT_REQUIRED].iter().map(|id| unknown(id, reason)).collect()
}

fn security_pending(patches: &Patches) -> Check {
    let Some(count) = patches.security_count else {
        return unknown(SECURITY_PENDING, "pending security updates could not be computed");
    };
    if count == 0 {
        return pass(SECURITY_PENDING, vec!["0 pending security updates".to_string()]);
    }
    let mut evidence = vec![format!("{count} pending security updates")];
    let security = patches.pending.iter().flatten().filter(|update| update.security);
    evidence.extend(security.clone().take(NAMED_PACKAGES).map(|u| {
        let origin = match &u.origin {
            Some(origin) => format!(" ({origin})"),
            None => String::new(),
        };
        // Windows' and macOS's updates have no installed version: only what they install.
        if u.installed_version.is_empty() {
            format!("{} -> {}{origin}", u.name, u.candidate_version)
        } else {
            format!("{} {} -> {}{origin}", u.name, u.installed_version, u.candidate_version)
        }
    }));
    let rest = security.count().saturating_sub(NAMED_PACKAGES);
    if rest > 0 {
        evidence.push(format!("and {rest} more"));
    }
    let upgrade = match patches.manager.as_deref() {
        Some("apt") => "apt-get update && apt-get upgrade",
        Some("dnf") | Some("yum") => "dnf upgrade --security",
        Some("zypper") => "zypper patch --category security",
        Some("apk") => "apk upgrade",
        Some(WINDOWS) => "Settings, Windows Update; or the organisation's WSUS, Intune or Configuration Manager",
        _ => "the package manager's upgrade",
    };
    fail(SECURITY_PENDING, evidence, &format!("install the security updates ({upgrade})"))
}

fn automatic(patches: &Patches) -> Check {
    let Some(auto) = &patches.automatic_updates else {
        return unknown(AUTOMATIC, "automatic update configuration could not be determined");
    };
    let mut evidence = Vec::with_capacity(auto.evidence.len() + 1);
    if let Some(mechanism) = &auto.mechanism {
        evidence.push(format!("mechanism: {mechanism}"));
    }
    evidence.extend(auto.evidence.iter().cloned());
    if auto.enabled {
        pass(AUTOMATIC, evidence)
    } else if auto.mechanism.as_deref() == Some("windows-update") {
        fail(
            AUTOMATIC,
            evidence,
            "let Windows Update install updates automatically (remove the NoAutoUpdate policy, or set \"Configure \
             Automatic Updates\" to 4)",
        )
    } else if auto.mechanism.as_deref() == Some(MACOS) {
        fail(
            AUTOMATIC,
            evidence,
            "turn on every switch of System Settings > General > Software Update > Automatic updates (check, \
             download, install macOS updates, install security responses and system files)",
        )
    } else {
        fail(AUTOMATIC, evidence, "enable automatic security updates (unattended-upgrades or dnf-automatic)")
    }
}

/// Pure: stale when the lists were refreshed more than [`LISTS_MAX_AGE_DAYS`] before `now`.
pub(crate) fn lists_stale(patches: &Patches, now: DateTime<Utc>) -> Check {
    let Some(updated) = patches.lists_updated_at else {
        return unknown(LISTS_STALE, "the time of the last package list refresh is not known");
    };
    let age = now.signed_duration_since(updated);
    let manager = patches.manager.as_deref();
    let what = match manager {
        Some(MACOS) => "Software Update last checked",
        Some(WINDOWS) => "Windows Update last searched",
        _ => "package lists refreshed",
    };
    let evidence = vec![format!(
        "{what} {} ({} days before collection)",
        updated.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        age.num_days()
    )];
    if age > Duration::days(LISTS_MAX_AGE_DAYS) {
        let fix = match manager {
            Some(MACOS) => {
                "let Software Update check automatically (System Settings > General > Software Update), or run \
                 softwareupdate --list"
            }
            Some(WINDOWS) => {
                "let Windows Update search automatically (Settings, Windows Update, Check for updates) and check \
                 that the machine reaches Windows Update or the organisation's update server"
            }
            _ => "refresh the package lists daily (apt-get update / dnf makecache, or a timer)",
        };
        fail(LISTS_STALE, evidence, fix)
    } else {
        pass(LISTS_STALE, evidence)
    }
}

fn reboot_required(patches: &Patches) -> Check {
    let Some(reboot) = &patches.reboot_required else {
        return unknown(REBOOT_REQUIRED, "whether a reboot is required could not be determined");
    };
    let mut evidence = reboot.reasons.clone();
    if !reboot.packages.is_empty() {
        evidence.push(format!("packages: {}", reboot.packages.join(", ")));
    }
    if reboot.required {
        fail(REBOOT_REQUIRED, evidence, "reboot to run the updated kernel and libraries")
    } else {
        if evidence.is_empty() {
            evidence.push("no reboot required".to_string());
        }
        pass(REBOOT_REQUIRED, evidence)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use muster_shared::v1::CheckStatus::{Fail, Pass, Unknown};
    use muster_shared::v1::{AutomaticUpdates, PendingUpdate, RebootRequired};

    use super::*;
    use crate::checks::tests::{assert_check, assert_reason, find};

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, day, hour, 0, 0).single().unwrap()
    }

    fn update(name: &str, security: bool) -> PendingUpdate {
        PendingUpdate {
            name: name.to_string(),
            arch: Some("amd64".to_string()),
            installed_version: "3.0.11-1~deb12u2".to_string(),
            candidate_version: "3.0.13-1~deb12u1".to_string(),
            security,
            origin: security.then(|| "Debian-Security/bookworm-security".to_string()),
        }
    }

    #[test]
    fn pending_security_updates_fail_and_are_named() {
        let patches = Patches {
            manager: Some("apt".into()),
            pending: Some(vec![update("openssl", true), update("tzdata", false)]),
            pending_count: Some(2),
            security_count: Some(1),
            ..Patches::default()
        };
        assert_check(
            find(&checks(PatchState::Collected(&patches), at(10, 0)), SECURITY_PENDING),
            Fail,
            &[
                "1 pending security updates",
                "openssl 3.0.11-1~deb12u2 -> 3.0.13-1~deb12u1 (Debian-Security/bookworm-security)",
            ],
        );
        let clean = Patches { security_count: Some(0), pending: Some(vec![update("tzdata", false)]), ..patches };
        assert_check(&security_pending(&clean), Pass, &["0 pending security updates"]);
    }

    #[test]
    fn windows_updates_are_named_by_product_and_article() {
        let offered = crate::inventory::windows::wua::OfferedUpdate {
            title: "2024-01 Cumulative Update for Windows 11 Version 23H2 for x64-based Systems (KB5034123)".into(),
            kb_article_ids: vec!["5034123".into()],
            msrc_severity: Some("Important".into()),
            category_ids: vec![crate::inventory::windows::wua::SECURITY_UPDATES.into()],
            products: Vec::new(),
        };
        let patches = Patches {
            manager: Some(WINDOWS.into()),
            pending: Some(crate::inventory::windows::wua::pending(&[offered])),
            pending_count: Some(1),
            security_count: Some(1),
            lists_updated_at: Some(at(1, 12)),
            ..Patches::default()
        };
        let all = checks(PatchState::Collected(&patches), at(10, 0));
        let pending = find(&all, SECURITY_PENDING);
        assert_check(
            pending,
            Fail,
            &[
                "1 pending security updates",
                "Cumulative Update for Windows 11 Version 23H2 for x64-based Systems -> KB5034123 (Windows Update \
                 (Important))",
            ],
        );
        assert!(pending.remediation.as_deref().is_some_and(|r| r.contains("Settings, Windows Update")));
        let stale = find(&all, LISTS_STALE);
        assert_check(stale, Fail, &["Windows Update last searched 2024-06-01T12:00:00Z (8 days before collection)"]);
        assert!(stale.remediation.as_deref().is_some_and(|r| r.starts_with("let Windows Update search")));
    }

    #[test]
    fn lists_older_than_seven_days_are_stale() {
        let patches = Patches { lists_updated_at: Some(at(1, 12)), ..Patches::default() };
        assert_check(
            &lists_stale(&patches, at(8, 12)),
            Pass,
            &["package lists refreshed 2024-06-01T12:00:00Z (7 days before collection)"],
        );
        assert_check(
            &lists_stale(&patches, at(8, 13)),
            Fail,
            &["package lists refreshed 2024-06-01T12:00:00Z (7 days before collection)"],
        );
        assert_check(
            &lists_stale(&patches, at(20, 0)),
            Fail,
            &["package lists refreshed 2024-06-01T12:00:00Z (18 days before collection)"],
        );
    }

    #[test]
    fn automatic_updates_and_reboot_state() {
        let patches = Patches {
            automatic_updates: Some(AutomaticUpdates {
                enabled: false,
                mechanism: Some("unattended-upgrades".into()),
                evidence: vec![
                    "/etc/apt/apt.conf.d/20auto-upgrades:2: APT::Periodic::Unattended-Upgrade \"0\";".into(),
                ],
            }),
            reboot_required: Some(RebootRequired {
                required: true,
                reasons: vec!["/var/run/reboot-required exists".into()],
                packages: vec!["linux-image-6.1.0-21-amd64".into()],
            }),
            ..Patches::default()
        };
        let all = checks(PatchState::Collected(&patches), at(10, 0));
        assert_check(
            find(&all, AUTOMATIC),
            Fail,
            &[
                "mechanism: unattended-upgrades",
                "/etc/apt/apt.conf.d/20auto-upgrades:2: APT::Periodic::Unattended-Upgrade \"0\";",
            ],
        );
        assert_check(
            find(&all, REBOOT_REQUIRED),
            Fail,
            &["/var/run/reboot-required exists", "packages: linux-image-6.1.0-21-amd64"],
        );
        assert_reason(find(&all, SECURITY_PENDING), Unknown, "pending security updates could not be computed");
    }

    #[test]
    fn without_patch_state_everything_is_unknown() {
        let all = checks(PatchState::Failed, at(10, 0));
        assert_eq!(all.len(), 4);
        for check in &all {
            assert_reason(check, Unknown, "patch state could not be collected (see the report's patches errors)");
        }
    }

    /// Issue 16: `--sections checks` alone pointed at patches errors that were never in the report.
    #[test]
    fn without_the_patches_section_the_checks_name_it() {
        let all = checks(PatchState::NotRequested, at(10, 0));
        assert_eq!(all.len(), 4);
        for check in &all {
            assert_reason(
                check,
                Unknown,
                "the patches section was not collected: these checks need it (--sections checks,patches)",
            );
        }
    }
}

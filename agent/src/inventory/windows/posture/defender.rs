//! Microsoft Defender's posture on Windows: whether its real-time protection is on (`windows.defender_realtime`) and
//! whether its definitions are current (`malware.definitions`, the id Linux's and macOS's `mdatp` check uses), from
//! the registry keys Defender and Group Policy keep and Defender's running mode from WMI, which tells whether it is
//! the antivirus protecting the machine. Pure, like the rest of [`super`].

use chrono::{DateTime, Duration, Utc};
use muster_shared::v1::Check;
use serde::Deserialize;

use crate::checks::defender::DEFINITIONS;
use crate::checks::{fail, not_applicable, pass, unknown};

use super::super::{RegValue, filetime};
use super::{Snapshot, WmiRead};

pub(super) const DEFENDER: &str = r"HKLM\SOFTWARE\Microsoft\Windows Defender";
pub(super) const DEFENDER_REALTIME: &str = r"HKLM\SOFTWARE\Microsoft\Windows Defender\Real-Time Protection";
pub(super) const DEFENDER_GPO: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender";
pub(super) const DEFENDER_REALTIME_GPO: &str =
    r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection";
pub(super) const DEFENDER_SIGNATURES: &str = r"HKLM\SOFTWARE\Microsoft\Windows Defender\Signature Updates";
pub(super) const DEFENDER_SIGNATURES_GPO: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Signature Updates";

/// The days after which Microsoft Defender calls its antivirus definitions out of date when its `AVSignatureDue`
/// policy is not set: Defender's default, and the DISA STIG's limit for it (V-75241).
pub const DEFINITIONS_DUE_DAYS: u32 = 7;

/// Defender's WMI namespace, where `Get-MpComputerStatus` reads its state.
pub const DEFENDER_NAMESPACE: &str = r"ROOT\Microsoft\Windows\Defender";

/// The `MSFT_MpComputerStatus` property read: whether Defender is the antivirus protecting the machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "MSFT_MpComputerStatus")]
pub struct MpComputerStatus {
    /// `Normal`; `Passive Mode` or `SxS Passive Mode` beside another antivirus; `EDR Block Mode`; `Not running`.
    #[serde(rename = "AMRunningMode")]
    pub am_running_mode: Option<String>,
}

/// `windows.defender_realtime`: Microsoft Defender's real-time protection is not turned off. Not Linux's
/// `malware.scanner` (no scanner installed, informational): protection switched off on purpose is worse.
pub(super) fn realtime(s: &Snapshot) -> Check {
    const ID: &str = "windows.defender_realtime";
    for key in [DEFENDER, DEFENDER_REALTIME, DEFENDER_GPO, DEFENDER_REALTIME_GPO] {
        if s.is_unreadable(key) {
            return unknown(ID, format!("{key} could not be read"));
        }
    }
    if let WmiRead::Read(mode) = &s.defender_mode
        && is_passive(mode)
    {
        return not_applicable(ID, format!("Microsoft Defender runs in {mode}: another product protects"));
    }
    let remediation = "Turn Microsoft Defender's real-time protection back on (remove the DisableAntiSpyware and DisableRealtimeMonitoring policies), or install the organisation's endpoint protection.";
    for (key, name) in [
        (DEFENDER_GPO, "DisableAntiSpyware"),
        (DEFENDER_REALTIME_GPO, "DisableRealtimeMonitoring"),
        (DEFENDER, "DisableAntiSpyware"),
        (DEFENDER_REALTIME, "DisableRealtimeMonitoring"),
    ] {
        if let Some(v) = s.dword(key, name).filter(|v| *v != 0) {
            return fail(ID, vec![format!(r"{key}\{name} = {v}")], remediation);
        }
    }
    if s.key(DEFENDER).is_none() {
        // Another product may protect the machine; third-party antivirus is not detected yet.
        return unknown(ID, format!("{DEFENDER} does not exist (another antivirus is not detected yet)"));
    }
    if let WmiRead::Read(mode) = &s.defender_mode
        && is_not_running(mode)
    {
        // Off with none of the switches above set: another product may protect, which is not read yet.
        return unknown(ID, format!("Microsoft Defender does not run ({mode}); another antivirus is not detected yet"));
    }
    pass(ID, vec![format!(r"{DEFENDER}: real-time protection not disabled")])
}

/// Whether Defender's running mode leaves protection to another antivirus (`Passive Mode`, `SxS Passive Mode`, and
/// `EDR Block Mode`, where Defender for Endpoint only blocks what the other product missed).
fn is_passive(mode: &str) -> bool {
    let mode = mode.to_ascii_lowercase();
    mode.contains("passive") || mode.contains("edr block")
}

/// Whether Defender's running mode says it does not run (`Not running`).
fn is_not_running(mode: &str) -> bool {
    mode.eq_ignore_ascii_case("Not running")
}

/// `malware.definitions`: Microsoft Defender's antivirus definitions were applied (`AVSignatureApplied`, a FILETIME)
/// no longer ago than its policy allows (`AVSignatureDue`, [`DEFINITIONS_DUE_DAYS`] when unset), the limit past which
/// Defender itself calls them out of date. Linux's and macOS's check of the same id reads `mdatp health`.
pub(super) fn definitions(s: &Snapshot, now: DateTime<Utc>) -> Check {
    for key in [DEFENDER, DEFENDER_GPO, DEFENDER_SIGNATURES, DEFENDER_SIGNATURES_GPO] {
        if s.is_unreadable(key) {
            return unknown(DEFINITIONS, format!("{key} could not be read"));
        }
    }
    if s.key(DEFENDER).is_none() {
        return unknown(DEFINITIONS, format!("{DEFENDER} does not exist (another antivirus is not detected yet)"));
    }
    // Defender keeps its definitions current, and uses them, in every mode but off, passive beside another antivirus
    // included (Microsoft's compatibility notes): only a Defender that does not run has none that matter. No key
    // says which; its own status does.
    match &s.defender_mode {
        WmiRead::Read(mode) if mode.eq_ignore_ascii_case("Normal") || is_passive(mode) => {}
        WmiRead::Read(mode) if is_not_running(mode) => {
            return not_applicable(DEFINITIONS, format!("Microsoft Defender does not run ({mode})"));
        }
        WmiRead::Read(mode) => {
            return unknown(DEFINITIONS, format!("Microsoft Defender runs in a mode this check does not know: {mode}"));
        }
        WmiRead::Unreadable(why) => {
            return unknown(
                DEFINITIONS,
                format!("Microsoft Defender's running mode could not be read from WMI {DEFENDER_NAMESPACE}: {why}"),
            );
        }
        WmiRead::NotRead => return unknown(DEFINITIONS, "Microsoft Defender's running mode was not read"),
    }
    let applied = match s.value(DEFENDER_SIGNATURES, "AVSignatureApplied") {
        Some(RegValue::Binary(bytes)) => <[u8; 8]>::try_from(bytes.as_slice()).ok().map(u64::from_le_bytes),
        Some(RegValue::Qword(ticks)) => Some(*ticks),
        _ => None,
    }
    .and_then(filetime);
    let Some(applied) = applied else {
        return unknown(DEFINITIONS, format!(r"no {DEFENDER_SIGNATURES}\AVSignatureApplied time"));
    };
    let (due, due_from) = match s.dword(DEFENDER_SIGNATURES_GPO, "AVSignatureDue").filter(|d| *d > 0) {
        Some(d) => (d, format!(r"{DEFENDER_SIGNATURES_GPO}\AVSignatureDue = {d}")),
        None => (DEFINITIONS_DUE_DAYS, "Defender's default".to_string()),
    };
    // A clock behind the update's is not an age.
    let age = now.signed_duration_since(applied).max(Duration::zero());
    let days = age.num_days();
    if age <= Duration::days(i64::from(due)) {
        // Neither version nor date: they change with every update, and the checks section would be sent again
        // each time for nothing.
        return pass(
            DEFINITIONS,
            vec![format!("Microsoft Defender: definitions applied within {due} days ({due_from})")],
        );
    }
    let version = match s.value(DEFENDER_SIGNATURES, "AVSignatureVersion").and_then(RegValue::text) {
        Some(v) => v.to_string(),
        None => "of an unknown version".to_string(),
    };
    fail(
        DEFINITIONS,
        vec![
            format!(
                "Microsoft Defender: definitions {version} applied {} ({days} days ago)",
                applied.format("%Y-%m-%d %H:%M UTC")
            ),
            format!("out of date after {due} days ({due_from})"),
        ],
        "Update Microsoft Defender's security intelligence (Windows Security, Virus & threat protection, Check for \
         updates; or `Update-MpSignature`) and check that the machine reaches Windows Update or the organisation's \
         update source.",
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use muster_shared::v1::CheckStatus;

    use super::super::tests::snapshot;
    use super::*;

    #[test]
    fn realtime_protection_off_by_a_switch_fails_and_beside_another_antivirus_does_not_count() {
        let defender_key = r"HKLM\SOFTWARE\Microsoft\Windows Defender";
        let local = r"HKLM\SOFTWARE\Microsoft\Windows Defender\Real-Time Protection";
        let gpo = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection";
        assert_eq!(
            realtime(&snapshot(&[(defender_key, "", 0), (local, "DisableRealtimeMonitoring", 0)])).status,
            CheckStatus::Pass
        );
        let off = realtime(&snapshot(&[(defender_key, "", 0), (gpo, "DisableRealtimeMonitoring", 1)]));
        assert_eq!(off.status, CheckStatus::Fail);
        assert_eq!(off.evidence, [format!(r"{gpo}\DisableRealtimeMonitoring = 1")]);
        assert_eq!(realtime(&snapshot(&[])).status, CheckStatus::Unknown);
        // Beside another antivirus Defender's own switches do not matter.
        let passive = Snapshot {
            defender_mode: WmiRead::Read("SxS Passive Mode".into()),
            ..snapshot(&[(defender_key, "", 0), (gpo, "DisableRealtimeMonitoring", 1)])
        };
        assert_eq!(realtime(&passive).status, CheckStatus::NotApplicable);
        // Not running with no switch set says nothing of who protects; a policy that turned it off still fails.
        let not_running = |values: &[(&str, &str, u32)]| {
            realtime(&Snapshot { defender_mode: WmiRead::Read("Not running".into()), ..snapshot(values) }).status
        };
        assert_eq!(not_running(&[(defender_key, "", 0)]), CheckStatus::Unknown);
        assert_eq!(not_running(&[(defender_key, "", 0), (gpo, "DisableRealtimeMonitoring", 1)]), CheckStatus::Fail);
    }

    #[test]
    fn defender_definitions_out_of_date_after_its_policy_days() {
        let defender_key = r"HKLM\SOFTWARE\Microsoft\Windows Defender";
        let signatures = r"HKLM\SOFTWARE\Microsoft\Windows Defender\Signature Updates";
        let signatures_gpo = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Signature Updates";
        // AVSignatureApplied as regedit exports it (`hex:00,9b,55,8c,89,61,d2,01`): 2016-12-29 04:10:54 UTC.
        let applied = Utc.with_ymd_and_hms(2016, 12, 29, 4, 10, 54).unwrap();
        let with_signatures = |extra: &[(&str, &str, u32)]| {
            let mut s = snapshot(&[(defender_key, "", 0)]);
            s = Snapshot { keys: s.keys.into_iter().chain(snapshot(extra).keys).collect(), ..s };
            s.defender_mode = WmiRead::Read("Normal".into());
            let values = s.keys.entry(signatures.to_string()).or_default();
            values.insert(
                "AVSignatureApplied".into(),
                RegValue::Binary(vec![0x00, 0x9b, 0x55, 0x8c, 0x89, 0x61, 0xd2, 0x01]),
            );
            values.insert("AVSignatureVersion".into(), RegValue::Sz("1.233.3411.0".into()));
            s
        };
        let days = |n: i64| applied + chrono::Duration::days(n) + chrono::Duration::hours(1);

        // Seven days to the second is current; an hour more is not.
        let current = definitions(&with_signatures(&[]), applied + chrono::Duration::days(7));
        assert_eq!(
            (current.status, current.evidence.as_slice()),
            (
                CheckStatus::Pass,
                &["Microsoft Defender: definitions applied within 7 days (Defender's default)".to_string()][..]
            )
        );
        let stale = definitions(&with_signatures(&[]), days(7));
        assert_eq!(stale.status, CheckStatus::Fail);
        assert_eq!(
            stale.evidence,
            [
                "Microsoft Defender: definitions 1.233.3411.0 applied 2016-12-29 04:10 UTC (7 days ago)",
                "out of date after 7 days (Defender's default)"
            ]
        );
        // Group Policy's AVSignatureDue sets the days; zero is not a limit.
        let allowed = definitions(&with_signatures(&[(signatures_gpo, "AVSignatureDue", 14)]), days(8));
        assert_eq!(allowed.status, CheckStatus::Pass);
        assert_eq!(
            allowed.evidence,
            [format!(r"Microsoft Defender: definitions applied within 14 days ({signatures_gpo}\AVSignatureDue = 14)")]
        );
        assert_eq!(
            definitions(&with_signatures(&[(signatures_gpo, "AVSignatureDue", 0)]), days(8)).status,
            CheckStatus::Fail
        );
        // A clock behind the update's is no age.
        assert_eq!(definitions(&with_signatures(&[]), days(-3)).status, CheckStatus::Pass);

        // Only a Defender that protects the machine is judged by its definitions; its mode is its own word for it.
        let mode =
            |mode: WmiRead<String>| definitions(&Snapshot { defender_mode: mode, ..with_signatures(&[]) }, days(30));
        // Defender keeps and uses its definitions beside another antivirus: they are judged there too.
        assert_eq!(mode(WmiRead::Read("Passive Mode".into())).status, CheckStatus::Fail);
        assert_eq!(mode(WmiRead::Read("EDR Block Mode".into())).status, CheckStatus::Fail);
        let off = mode(WmiRead::Read("Not running".into()));
        assert_eq!(
            (off.status, off.reason.as_deref()),
            (CheckStatus::NotApplicable, Some("Microsoft Defender does not run (Not running)"))
        );
        assert_eq!(mode(WmiRead::Read("Something New".into())).status, CheckStatus::Unknown);
        let unread = mode(WmiRead::Unreadable("namespace not found".into()));
        assert_eq!(unread.status, CheckStatus::Unknown);
        assert!(
            unread
                .reason
                .as_deref()
                .is_some_and(|r| r.ends_with(r"ROOT\Microsoft\Windows\Defender: namespace not found"))
        );
        assert_eq!(mode(WmiRead::NotRead).status, CheckStatus::Unknown);
        let no_time = definitions(
            &Snapshot {
                defender_mode: WmiRead::Read("Normal".into()),
                ..snapshot(&[(defender_key, "", 0), (signatures, "", 0)])
            },
            days(8),
        );
        assert_eq!(
            (no_time.status, no_time.reason.as_deref()),
            (
                CheckStatus::Unknown,
                Some(r"no HKLM\SOFTWARE\Microsoft\Windows Defender\Signature Updates\AVSignatureApplied time")
            )
        );
        assert_eq!(definitions(&snapshot(&[]), days(8)).status, CheckStatus::Unknown);
        let mut unreadable = with_signatures(&[]);
        unreadable.unreadable.insert(signatures.to_string());
        assert_eq!(definitions(&unreadable, days(30)).status, CheckStatus::Unknown);
    }
}

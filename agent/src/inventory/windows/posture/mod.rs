//! Windows posture checks decided from the registry values Windows and Group Policy keep them in: the firewall per
//! profile, UAC, Remote Desktop's network level authentication, the SMB 1 server, Secure Boot, Defender's real-time
//! protection and the age of its definitions (with Defender's running mode from WMI, which no key gives), and the
//! screen lock; and whether updates install automatically, which goes into the patches section like Linux's
//! unattended-upgrades (the `updates.automatic` check is decided from there). Pure: the probe reads [`KEYS`] into a
//! [`Snapshot`], the tests build one, and both get the same checks.
//!
//! Where a Linux check means the same thing the id is the same (`firewall.active`, `updates.automatic`,
//! `boot.secure_boot`, `malware.definitions`), so one policy rule covers both; Windows-only facts have `windows.*`
//! ids. A policy value (`HKLM\SOFTWARE\Policies\...`, what Group Policy and Intune write) wins over the local setting,
//! as it does in Windows. A value this code cannot find gives `unknown` with the key named, never a guess.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use muster_shared::v1::{AutomaticUpdates, Check};
use serde::Deserialize;

use crate::checks::{fail, not_applicable, pass, unknown};

use super::RegValue;

mod defender;

use defender::{
    DEFENDER, DEFENDER_GPO, DEFENDER_REALTIME, DEFENDER_REALTIME_GPO, DEFENDER_SIGNATURES, DEFENDER_SIGNATURES_GPO,
};
pub use defender::{DEFENDER_NAMESPACE, DEFINITIONS_DUE_DAYS, MpComputerStatus};

const FIREWALL_POLICY: &str = r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy";
const FIREWALL_GPO: &str = r"HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall";
const FIREWALL_SERVICE: &str = r"HKLM\SYSTEM\CurrentControlSet\Services\MpsSvc";
const UAC: &str = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System";
const TERMINAL_SERVER: &str = r"HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server";
const RDP_TCP: &str = r"HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp";
const TERMINAL_SERVICES_GPO: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services";
const LANMAN_SERVER: &str = r"HKLM\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters";
/// The Automatic Updates policy, read for the patches section ([`automatic_updates`]).
pub const WINDOWS_UPDATE_GPO: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU";
const SECURE_BOOT: &str = r"HKLM\SYSTEM\CurrentControlSet\Control\SecureBoot\State";
/// The firewall's three profiles: the name Windows shows, the local key's name, the policy key's name.
const PROFILES: [(&str, &str, &str); 3] = [
    ("domain", "DomainProfile", "DomainProfile"),
    ("private", "StandardProfile", "PrivateProfile"),
    ("public", "PublicProfile", "PublicProfile"),
];

/// Below each loaded user hive (`HKU\<sid>\...`): the user's screen saver settings and the policy that overrides them.
pub const USER_KEYS: [&str; 2] =
    [r"Control Panel\Desktop", r"Software\Policies\Microsoft\Windows\Control Panel\Desktop"];

/// The longest idle time before the screen locks that passes `windows.screen_lock`: 15 minutes, the CIS
/// benchmarks' limit for Windows.
pub const SCREEN_LOCK_MAX_SECS: u32 = 900;

/// Every HKLM key the checks read; the probe reads each (all values) into the snapshot.
pub const KEYS: [&str; 19] = [
    r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\DomainProfile",
    r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\StandardProfile",
    r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\PublicProfile",
    r"HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\DomainProfile",
    r"HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\PrivateProfile",
    r"HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\PublicProfile",
    FIREWALL_SERVICE,
    UAC,
    TERMINAL_SERVER,
    RDP_TCP,
    TERMINAL_SERVICES_GPO,
    LANMAN_SERVER,
    SECURE_BOOT,
    DEFENDER,
    DEFENDER_REALTIME,
    DEFENDER_GPO,
    DEFENDER_REALTIME_GPO,
    DEFENDER_SIGNATURES,
    DEFENDER_SIGNATURES_GPO,
];

/// A WMI answer the checks need beside the registry, as far as it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WmiRead<T> {
    /// Not asked (a snapshot for other checks).
    #[default]
    NotRead,
    Read(T),
    /// Why it could not be read (a namespace or class this Windows, or Wine, does not have).
    Unreadable(String),
}

/// The optional features that are Windows' SMB 1.0 server, as `Win32_OptionalFeature` lists them.
pub const SMB1_FEATURES_QUERY: &str =
    "SELECT Name, InstallState FROM Win32_OptionalFeature WHERE Name = 'SMB1Protocol' OR Name = 'SMB1Protocol-Server'";

/// One `Win32_OptionalFeature` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "Win32_OptionalFeature")]
pub struct OptionalFeature {
    #[serde(rename = "Name")]
    pub name: Option<String>,
    /// 1 enabled, 2 disabled, 3 absent (its files removed), 4 unknown.
    #[serde(rename = "InstallState")]
    pub install_state: Option<u32>,
}

/// The keys read: their values by name. A key absent from `keys` does not exist; one in `unreadable` exists but
/// could not be read (access denied), so nothing is concluded from it. With them, Defender's running mode from WMI:
/// another antivirus switches Defender off without any of these keys saying so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub keys: BTreeMap<String, BTreeMap<String, RegValue>>,
    pub unreadable: BTreeSet<String>,
    /// Defender's `AMRunningMode`.
    pub defender_mode: WmiRead<String>,
    /// The SMB 1.0 server's optional features ([`SMB1_FEATURES_QUERY`]).
    pub smb1_features: WmiRead<Vec<OptionalFeature>>,
}

impl Snapshot {
    fn key(&self, path: &str) -> Option<&BTreeMap<String, RegValue>> {
        self.keys.iter().find(|(k, _)| k.eq_ignore_ascii_case(path)).map(|(_, v)| v)
    }

    fn value(&self, path: &str, name: &str) -> Option<&RegValue> {
        self.key(path)?.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    fn dword(&self, path: &str, name: &str) -> Option<u32> {
        match self.value(path, name)? {
            RegValue::Dword(n) => Some(*n),
            RegValue::Qword(n) => u32::try_from(*n).ok(),
            // Some tools write numbers as strings; Windows reads them as numbers only when they parse.
            other => other.text().and_then(|t| t.trim().parse().ok()),
        }
    }

    fn is_unreadable(&self, path: &str) -> bool {
        self.unreadable.iter().any(|k| k.eq_ignore_ascii_case(path))
    }

    /// A value and where it came from: the policy key's when set, else the local key's.
    fn effective(&self, policy: &str, local: &str, name: &str) -> Option<(u32, String)> {
        self.dword(policy, name)
            .map(|v| (v, format!(r"{policy}\{name} = {v}")))
            .or_else(|| self.dword(local, name).map(|v| (v, format!(r"{local}\{name} = {v}"))))
    }
}

/// A decided check: `pass` with its evidence, or `fail` with the remediation too.
fn verdict(id: &str, ok: bool, evidence: Vec<String>, remediation: &str) -> Check {
    if ok { pass(id, evidence) } else { fail(id, evidence, remediation) }
}

/// Every Windows posture check, in a stable order (`updates.*` come from the patches section); `now` gives the
/// definitions' age.
pub fn checks(snapshot: &Snapshot, now: DateTime<Utc>) -> Vec<Check> {
    vec![
        firewall(snapshot),
        uac(snapshot),
        rdp_nla(snapshot),
        smb1(snapshot),
        secure_boot(snapshot),
        defender::realtime(snapshot),
        defender::definitions(snapshot, now),
        screen_lock(snapshot),
    ]
}

/// `firewall.active`: every profile's firewall on (policy over local setting) and its service not disabled.
fn firewall(s: &Snapshot) -> Check {
    const ID: &str = "firewall.active";
    let mut evidence = Vec::new();
    let mut off = Vec::new();
    for (name, local, policy) in PROFILES {
        let local = format!(r"{FIREWALL_POLICY}\{local}");
        let policy = format!(r"{FIREWALL_GPO}\{policy}");
        if s.is_unreadable(&local) || s.is_unreadable(&policy) {
            return unknown(ID, format!(r"{local} or {policy} could not be read"));
        }
        match s.effective(&policy, &local, "EnableFirewall") {
            Some((value, source)) => {
                if value == 0 {
                    off.push(name);
                }
                evidence.push(format!("{name} profile: {source}"));
            }
            None => return unknown(ID, format!(r"no EnableFirewall value in {local} (nor a policy in {policy})")),
        }
    }
    // Start = 4 is a disabled service: every profile's setting is moot.
    let disabled_service = s.dword(FIREWALL_SERVICE, "Start") == Some(4);
    if disabled_service {
        evidence.push(format!(r"{FIREWALL_SERVICE}\Start = 4 (the firewall service is disabled)"));
    }
    let ok = off.is_empty() && !disabled_service;
    let remediation = if disabled_service {
        "Set the Windows Defender Firewall service (MpsSvc) to start automatically and turn every profile on."
    } else {
        "Turn Windows Defender Firewall on for every profile (domain, private, public), e.g. `netsh advfirewall set allprofiles state on`, or by Group Policy."
    };
    verdict(ID, ok, evidence, remediation)
}

/// `windows.uac`: User Account Control on, and administrators asked before elevating.
fn uac(s: &Snapshot) -> Check {
    const ID: &str = "windows.uac";
    if s.is_unreadable(UAC) {
        return unknown(ID, format!("{UAC} could not be read"));
    }
    let Some(lua) = s.dword(UAC, "EnableLUA") else {
        return unknown(ID, format!(r"no {UAC}\EnableLUA value"));
    };
    let mut evidence = vec![format!(r"{UAC}\EnableLUA = {lua}")];
    let prompt = s.dword(UAC, "ConsentPromptBehaviorAdmin");
    if let Some(p) = prompt {
        evidence.push(format!(r"{UAC}\ConsentPromptBehaviorAdmin = {p}"));
    }
    // 0: administrators elevate silently, which leaves UAC on in name only.
    verdict(
        ID,
        lua != 0 && prompt != Some(0),
        evidence,
        "Turn User Account Control on (EnableLUA = 1) and have administrators confirm elevation (ConsentPromptBehaviorAdmin 2 or 5), by Group Policy or the registry; a restart applies it.",
    )
}

/// `windows.rdp_nla`: where Remote Desktop accepts connections, it requires network level authentication.
fn rdp_nla(s: &Snapshot) -> Check {
    const ID: &str = "windows.rdp_nla";
    for key in [TERMINAL_SERVER, RDP_TCP, TERMINAL_SERVICES_GPO] {
        if s.is_unreadable(key) {
            return unknown(ID, format!("{key} could not be read"));
        }
    }
    let Some((deny, deny_source)) = s.effective(TERMINAL_SERVICES_GPO, TERMINAL_SERVER, "fDenyTSConnections") else {
        return unknown(ID, format!(r"no {TERMINAL_SERVER}\fDenyTSConnections value"));
    };
    if deny != 0 {
        return Check {
            evidence: vec![deny_source],
            ..not_applicable(ID, "Remote Desktop does not accept connections")
        };
    }
    let Some((nla, nla_source)) = s.effective(TERMINAL_SERVICES_GPO, RDP_TCP, "UserAuthentication") else {
        return unknown(
            ID,
            format!(r"Remote Desktop is on ({deny_source}) but {RDP_TCP}\UserAuthentication is not set"),
        );
    };
    verdict(
        ID,
        nla != 0,
        vec![deny_source, nla_source],
        "Require network level authentication for Remote Desktop (System Properties > Remote, or the Group Policy \"Require user authentication for remote connections by using Network Level Authentication\").",
    )
}

/// `windows.smb1`: the SMB 1 server is off.
fn smb1(s: &Snapshot) -> Check {
    const ID: &str = "windows.smb1";
    if s.is_unreadable(LANMAN_SERVER) {
        return unknown(ID, format!("{LANMAN_SERVER} could not be read"));
    }
    match s.dword(LANMAN_SERVER, "SMB1") {
        Some(value) => verdict(
            ID,
            value == 0,
            vec![format!(r"{LANMAN_SERVER}\SMB1 = {value}")],
            "Turn the SMB 1.0 server off (`Set-SmbServerConfiguration -EnableSMB1Protocol $false`) and remove the SMB 1.0/CIFS feature.",
        ),
        // Without the value the server speaks SMB 1 exactly when its optional feature is installed: Windows 10 1709
        // and later leave it out of new installations, and split it (`SMB1Protocol-Server`); 8.1 has only
        // `SMB1Protocol`.
        None => {
            let no_value = format!(r"no {LANMAN_SERVER}\SMB1 value");
            let features = match &s.smb1_features {
                WmiRead::Read(features) => features,
                WmiRead::Unreadable(why) => {
                    return unknown(
                        ID,
                        format!("{no_value}, and WMI's Win32_OptionalFeature could not be read: {why}"),
                    );
                }
                WmiRead::NotRead => {
                    return unknown(ID, format!("{no_value} (the SMB 1.0 feature's state was not read)"));
                }
            };
            let named =
                |name: &str| features.iter().find(|f| f.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)));
            let Some(feature) = named("SMB1Protocol-Server").or_else(|| named("SMB1Protocol")) else {
                return unknown(ID, format!("{no_value}, and no SMB1Protocol optional feature is listed"));
            };
            let name = feature.name.as_deref().unwrap_or_default();
            match feature.install_state {
                Some(1) => fail(
                    ID,
                    vec![format!("{no_value}; optional feature {name} is enabled (InstallState 1)")],
                    "Remove the SMB 1.0/CIFS File Sharing Support feature (`Disable-WindowsOptionalFeature -Online -FeatureName SMB1Protocol`).",
                ),
                Some(state @ (2 | 3)) => {
                    pass(ID, vec![format!("optional feature {name} is not installed (InstallState {state})")])
                }
                other => unknown(
                    ID,
                    format!(
                        "{no_value}, and optional feature {name} has InstallState {}",
                        other.map_or("none".to_string(), |n| n.to_string())
                    ),
                ),
            }
        }
    }
}

/// Whether `windows.smb1` needs the optional features: only when the registry has no `SMB1` value to decide by
/// (the WMI class is slow to list, and would be asked for nothing).
pub fn smb1_needs_features(s: &Snapshot) -> bool {
    !s.is_unreadable(LANMAN_SERVER) && s.dword(LANMAN_SERVER, "SMB1").is_none()
}

/// Whether Windows Update installs updates on its own: no Group Policy turning it off or down to notifying. `None`
/// when the policy key could not be read.
pub fn automatic_updates(s: &Snapshot) -> Option<AutomaticUpdates> {
    if s.is_unreadable(WINDOWS_UPDATE_GPO) {
        return None;
    }
    let (enabled, evidence) = if let Some(v) = s.dword(WINDOWS_UPDATE_GPO, "NoAutoUpdate").filter(|v| *v != 0) {
        (false, format!(r"{WINDOWS_UPDATE_GPO}\NoAutoUpdate = {v}"))
    } else {
        match s.dword(WINDOWS_UPDATE_GPO, "AUOptions") {
            // 2: notify before download, 3: download and notify before install; neither installs on its own.
            Some(option @ (2 | 3)) => {
                (false, format!(r"{WINDOWS_UPDATE_GPO}\AUOptions = {option} (updates wait for a user)"))
            }
            Some(option) => (true, format!(r"{WINDOWS_UPDATE_GPO}\AUOptions = {option}")),
            None => (
                true,
                format!(
                    "no Automatic Updates policy in {WINDOWS_UPDATE_GPO}: Windows' default, automatic installation"
                ),
            ),
        }
    };
    Some(AutomaticUpdates { enabled, mechanism: Some("windows-update".to_string()), evidence: vec![evidence] })
}

/// `boot.secure_boot`: the firmware booted with Secure Boot on.
fn secure_boot(s: &Snapshot) -> Check {
    const ID: &str = "boot.secure_boot";
    if s.is_unreadable(SECURE_BOOT) {
        return unknown(ID, format!("{SECURE_BOOT} could not be read"));
    }
    match s.dword(SECURE_BOOT, "UEFISecureBootEnabled") {
        Some(value) => verdict(
            ID,
            value != 0,
            vec![format!(r"{SECURE_BOOT}\UEFISecureBootEnabled = {value}")],
            "Enable Secure Boot in the firmware settings.",
        ),
        // Windows writes the value on UEFI machines only.
        None => {
            not_applicable(ID, "no UEFI Secure Boot state: the machine booted from legacy BIOS or firmware without it")
        }
    }
}

/// `windows.screen_lock`: an idle session locks within [`SCREEN_LOCK_MAX_SECS`]: by the machine's inactivity
/// limit (`InactivityTimeoutSecs`), or for every user with a loaded hive by a password-protected screen saver (the
/// user's policy over the user's own setting).
fn screen_lock(s: &Snapshot) -> Check {
    const ID: &str = "windows.screen_lock";
    let remediation = format!(
        "Lock idle sessions within {} minutes: the Group Policy \"Interactive logon: Machine inactivity limit\", or a \
         password-protected screen saver with a timeout of at most {SCREEN_LOCK_MAX_SECS} seconds for every user.",
        SCREEN_LOCK_MAX_SECS / 60
    );
    if s.is_unreadable(UAC) {
        return unknown(ID, format!("{UAC} could not be read"));
    }
    if let Some(limit) = s.dword(UAC, "InactivityTimeoutSecs").filter(|v| *v > 0) {
        let evidence = vec![format!(r"{UAC}\InactivityTimeoutSecs = {limit}")];
        return verdict(ID, limit <= SCREEN_LOCK_MAX_SECS, evidence, &remediation);
    }
    // Each user hive's own key, and its policy key: `HKU\<sid>\Control Panel\Desktop`.
    let own = format!(r"\{}", USER_KEYS[0]);
    let users: Vec<&str> = s
        .keys
        .keys()
        .filter(|k| k.starts_with(r"HKU\") && k.ends_with(&own) && !k.ends_with(USER_KEYS[1]))
        .filter_map(|k| k.strip_suffix(&own))
        .collect();
    if users.is_empty() {
        return unknown(
            ID,
            format!("no {UAC}\\InactivityTimeoutSecs and no user's screen saver settings (no user hive loaded)"),
        );
    }
    let mut evidence = Vec::new();
    let mut open = false;
    for user in users {
        let own = format!(r"{user}\{}", USER_KEYS[0]);
        let policy = format!(r"{user}\{}", USER_KEYS[1]);
        let value = |name: &str| s.effective(&policy, &own, name);
        let active = value("ScreenSaveActive");
        let secure = value("ScreenSaverIsSecure");
        let timeout = value("ScreenSaveTimeOut");
        let locks = matches!((&active, &secure, &timeout), (Some((1, _)), Some((1, _)), Some((t, _))) if *t > 0 && *t <= SCREEN_LOCK_MAX_SECS);
        open |= !locks;
        let shown =
            |v: &Option<(u32, String)>, name: &str| v.as_ref().map_or(format!("{name} not set"), |(_, e)| e.clone());
        evidence.push(format!(
            "{}: {}, {}, {}",
            user.trim_start_matches(r"HKU\"),
            shown(&active, "ScreenSaveActive"),
            shown(&secure, "ScreenSaverIsSecure"),
            shown(&timeout, "ScreenSaveTimeOut")
        ));
    }
    verdict(ID, !open, evidence, &remediation)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use muster_shared::v1::CheckStatus;

    use super::*;

    /// A snapshot of DWORD values, `(key, name, value)`; keys listed with no value exist empty.
    pub(super) fn snapshot(values: &[(&str, &str, u32)]) -> Snapshot {
        let mut s = Snapshot::default();
        for (key, name, value) in values {
            let entry = s.keys.entry((*key).to_string()).or_default();
            if !name.is_empty() {
                entry.insert((*name).to_string(), RegValue::Dword(*value));
            }
        }
        s
    }

    fn find<'a>(checks: &'a [Check], id: &str) -> &'a Check {
        checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no {id} in {checks:?}"))
    }

    fn firewall_profiles(domain: u32, private: u32, public: u32) -> Vec<(&'static str, &'static str, u32)> {
        vec![
            (
                r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\DomainProfile",
                "EnableFirewall",
                domain,
            ),
            (
                r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\StandardProfile",
                "EnableFirewall",
                private,
            ),
            (
                r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\PublicProfile",
                "EnableFirewall",
                public,
            ),
        ]
    }

    #[test]
    fn every_check_is_reported_once_in_order() {
        let ids: Vec<String> = checks(&Snapshot::default(), Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap())
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(
            ids,
            [
                "firewall.active",
                "windows.uac",
                "windows.rdp_nla",
                "windows.smb1",
                "boot.secure_boot",
                "windows.defender_realtime",
                "malware.definitions",
                "windows.screen_lock"
            ]
        );
        // An empty registry (a fresh Wine prefix has none of these keys) decides nothing it cannot know.
        let empty = checks(&Snapshot::default(), Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap());
        let statuses: Vec<CheckStatus> = empty.iter().map(|c| c.status).collect();
        assert_eq!(
            statuses,
            [
                CheckStatus::Unknown,
                CheckStatus::Unknown,
                CheckStatus::Unknown,
                CheckStatus::Unknown,
                CheckStatus::NotApplicable,
                CheckStatus::Unknown,
                CheckStatus::Unknown,
                CheckStatus::Unknown
            ]
        );
        assert_eq!(
            find(&empty, "windows.smb1").reason.as_deref(),
            Some(
                r"no HKLM\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters\SMB1 value (the SMB 1.0 feature's state was not read)"
            )
        );
    }

    #[test]
    fn firewall_fails_for_a_profile_off_and_group_policy_wins() {
        let on = snapshot(&firewall_profiles(1, 1, 1));
        let check = firewall(&on);
        assert_eq!(check.status, CheckStatus::Pass);
        assert_eq!(check.evidence.len(), 3);
        assert!(check.remediation.is_none());

        let public_off = snapshot(&firewall_profiles(1, 1, 0));
        let check = firewall(&public_off);
        assert_eq!(check.status, CheckStatus::Fail);
        assert_eq!(
            check.evidence[2],
            r"public profile: HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\PublicProfile\EnableFirewall = 0"
        );
        assert!(check.remediation.as_deref().is_some_and(|r| r.contains("netsh advfirewall set allprofiles state on")));

        // A policy turning the public profile back on overrides the local setting, and one turning it off wins too.
        let mut values = firewall_profiles(1, 1, 0);
        values.push((r"HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\PublicProfile", "EnableFirewall", 1));
        assert_eq!(firewall(&snapshot(&values)).status, CheckStatus::Pass);
        let mut values = firewall_profiles(1, 1, 1);
        values.push((r"HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\PrivateProfile", "EnableFirewall", 0));
        let check = firewall(&snapshot(&values));
        assert_eq!(check.status, CheckStatus::Fail);
        assert_eq!(
            check.evidence[1],
            r"private profile: HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\PrivateProfile\EnableFirewall = 0"
        );

        // Every profile on, but the service disabled.
        let mut values = firewall_profiles(1, 1, 1);
        values.push((r"HKLM\SYSTEM\CurrentControlSet\Services\MpsSvc", "Start", 4));
        let check = firewall(&snapshot(&values));
        assert_eq!(check.status, CheckStatus::Fail);
        assert!(check.evidence.last().is_some_and(|e| e.ends_with("(the firewall service is disabled)")));

        // A profile key that cannot be read decides nothing.
        let mut unreadable = snapshot(&firewall_profiles(1, 1, 1));
        unreadable.unreadable.insert(r"HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\DomainProfile".to_string());
        assert_eq!(firewall(&unreadable).status, CheckStatus::Unknown);
    }

    #[test]
    fn uac_off_or_silent_elevation_fails() {
        let key = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System";
        // Windows' defaults: on, administrators prompted for consent for non-Windows binaries (5).
        assert_eq!(
            uac(&snapshot(&[(key, "EnableLUA", 1), (key, "ConsentPromptBehaviorAdmin", 5)])).status,
            CheckStatus::Pass
        );
        assert_eq!(
            uac(&snapshot(&[(key, "EnableLUA", 0), (key, "ConsentPromptBehaviorAdmin", 5)])).status,
            CheckStatus::Fail
        );
        let silent = uac(&snapshot(&[(key, "EnableLUA", 1), (key, "ConsentPromptBehaviorAdmin", 0)]));
        assert_eq!(silent.status, CheckStatus::Fail);
        assert_eq!(silent.evidence[1], format!(r"{key}\ConsentPromptBehaviorAdmin = 0"));
    }

    #[test]
    fn remote_desktop_needs_nla_only_when_it_listens() {
        let ts = r"HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server";
        let rdp = r"HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp";
        let gpo = r"HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services";
        let off = rdp_nla(&snapshot(&[(ts, "fDenyTSConnections", 1), (rdp, "UserAuthentication", 0)]));
        assert_eq!(off.status, CheckStatus::NotApplicable);
        assert_eq!(off.evidence, [format!(r"{ts}\fDenyTSConnections = 1")]);
        assert_eq!(
            rdp_nla(&snapshot(&[(ts, "fDenyTSConnections", 0), (rdp, "UserAuthentication", 1)])).status,
            CheckStatus::Pass
        );
        let no_nla = rdp_nla(&snapshot(&[(ts, "fDenyTSConnections", 0), (rdp, "UserAuthentication", 0)]));
        assert_eq!(no_nla.status, CheckStatus::Fail);
        assert!(no_nla.remediation.is_some());
        // Group Policy allowing connections and requiring NLA overrides the local values.
        let by_policy = snapshot(&[
            (ts, "fDenyTSConnections", 1),
            (rdp, "UserAuthentication", 0),
            (gpo, "fDenyTSConnections", 0),
            (gpo, "UserAuthentication", 1),
        ]);
        let check = rdp_nla(&by_policy);
        assert_eq!(check.status, CheckStatus::Pass);
        assert_eq!(
            check.evidence,
            [format!(r"{gpo}\fDenyTSConnections = 0"), format!(r"{gpo}\UserAuthentication = 1")]
        );
    }

    #[test]
    fn smb1_and_secure_boot() {
        let lanman = r"HKLM\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters";
        assert_eq!(smb1(&snapshot(&[(lanman, "SMB1", 0)])).status, CheckStatus::Pass);
        assert_eq!(smb1(&snapshot(&[(lanman, "SMB1", 1)])).status, CheckStatus::Fail);
        // Without the value, the optional feature decides: Windows 10 1709 and later split it, 8.1 has one.
        let feature = |name: &str, state: u32| OptionalFeature { name: Some(name.into()), install_state: Some(state) };
        let with = |features: WmiRead<Vec<OptionalFeature>>| {
            smb1(&Snapshot { smb1_features: features, ..snapshot(&[(lanman, "", 0)]) })
        };
        let removed = with(WmiRead::Read(vec![feature("SMB1Protocol", 2), feature("SMB1Protocol-Server", 3)]));
        assert_eq!(
            (removed.status, removed.evidence.as_slice()),
            (
                CheckStatus::Pass,
                &["optional feature SMB1Protocol-Server is not installed (InstallState 3)".to_string()][..]
            )
        );
        let served = with(WmiRead::Read(vec![feature("SMB1Protocol", 1)]));
        assert_eq!(served.status, CheckStatus::Fail);
        assert_eq!(
            served.evidence,
            [format!(r"no {lanman}\SMB1 value; optional feature SMB1Protocol is enabled (InstallState 1)")]
        );
        // The server feature wins over the parent's state; a value in the registry over both.
        assert_eq!(
            with(WmiRead::Read(vec![feature("SMB1Protocol", 1), feature("SMB1Protocol-Server", 2)])).status,
            CheckStatus::Pass
        );
        let off_by_value = Snapshot {
            smb1_features: WmiRead::Read(vec![feature("SMB1Protocol-Server", 1)]),
            ..snapshot(&[(lanman, "SMB1", 0)])
        };
        assert_eq!(smb1(&off_by_value).status, CheckStatus::Pass);
        // The probe asks WMI only where the registry leaves the check to the feature.
        assert!(!smb1_needs_features(&snapshot(&[(lanman, "SMB1", 0)])));
        assert!(smb1_needs_features(&snapshot(&[(lanman, "", 0)])));
        let mut unreadable = snapshot(&[]);
        unreadable.unreadable.insert(lanman.to_string());
        assert!(!smb1_needs_features(&unreadable));
        for undecided in [
            WmiRead::Read(vec![]),
            WmiRead::Read(vec![feature("SMB1Protocol-Server", 4)]),
            WmiRead::Unreadable("0x80041010".into()),
        ] {
            assert_eq!(with(undecided.clone()).status, CheckStatus::Unknown, "{undecided:?}");
        }

        let sb = r"HKLM\SYSTEM\CurrentControlSet\Control\SecureBoot\State";
        assert_eq!(secure_boot(&snapshot(&[(sb, "UEFISecureBootEnabled", 1)])).status, CheckStatus::Pass);
        assert_eq!(secure_boot(&snapshot(&[(sb, "UEFISecureBootEnabled", 0)])).status, CheckStatus::Fail);
        assert_eq!(secure_boot(&snapshot(&[(sb, "", 0)])).status, CheckStatus::NotApplicable);
    }

    /// A user's screen saver values as Windows stores them: strings (`REG_SZ`), `"1"` and seconds.
    fn user_desktop(s: &mut Snapshot, key: &str, values: &[(&str, &str)]) {
        let entry = s.keys.entry(key.to_string()).or_default();
        for (name, value) in values {
            entry.insert((*name).to_string(), RegValue::Sz((*value).to_string()));
        }
    }

    #[test]
    fn screen_lock_by_machine_limit_or_every_users_locking_screen_saver() {
        let system = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System";
        assert_eq!(screen_lock(&snapshot(&[(system, "InactivityTimeoutSecs", 600)])).status, CheckStatus::Pass);
        let long = screen_lock(&snapshot(&[(system, "InactivityTimeoutSecs", 3600)]));
        assert_eq!(long.status, CheckStatus::Fail);
        assert_eq!(long.evidence, [format!(r"{system}\InactivityTimeoutSecs = 3600")]);

        let alice = r"HKU\S-1-5-21-1004336348-1177238915-682003330-1001";
        let bob = r"HKU\S-1-5-21-1004336348-1177238915-682003330-1002";
        let mut s = Snapshot::default();
        let locking = [("ScreenSaveActive", "1"), ("ScreenSaverIsSecure", "1"), ("ScreenSaveTimeOut", "600")];
        user_desktop(&mut s, &format!(r"{alice}\Control Panel\Desktop"), &locking);
        assert_eq!(screen_lock(&s).status, CheckStatus::Pass);
        // Bob's own saver does not ask for the password, but his policy does: the policy wins.
        user_desktop(
            &mut s,
            &format!(r"{bob}\Control Panel\Desktop"),
            &[("ScreenSaveActive", "1"), ("ScreenSaverIsSecure", "0"), ("ScreenSaveTimeOut", "300")],
        );
        assert_eq!(screen_lock(&s).status, CheckStatus::Fail);
        user_desktop(
            &mut s,
            &format!(r"{bob}\Software\Policies\Microsoft\Windows\Control Panel\Desktop"),
            &[("ScreenSaverIsSecure", "1")],
        );
        let check = screen_lock(&s);
        assert_eq!(check.status, CheckStatus::Pass, "{check:?}");
        assert_eq!(check.evidence.len(), 2);
        assert!(
            check.evidence[1].starts_with("S-1-5-21-1004336348-1177238915-682003330-1002: "),
            "{:?}",
            check.evidence
        );
        assert!(
            check.evidence[1]
                .contains(r"Software\Policies\Microsoft\Windows\Control Panel\Desktop\ScreenSaverIsSecure = 1")
        );
        // A user without a timeout fails, and says which value is missing.
        user_desktop(&mut s, &format!(r"{alice}\Control Panel\Desktop"), &[("ScreenSaveTimeOut", "0")]);
        let check = screen_lock(&s);
        assert_eq!(check.status, CheckStatus::Fail);
        assert!(check.evidence[0].ends_with("ScreenSaveTimeOut = 0"), "{:?}", check.evidence);
        let mut none = Snapshot::default();
        user_desktop(&mut none, &format!(r"{bob}\Control Panel\Desktop"), &[]);
        assert!(screen_lock(&none).evidence[0].contains("ScreenSaveActive not set"));
    }

    #[test]
    fn automatic_updates_follow_the_windows_update_policy() {
        let au = r"HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU";
        let default = automatic_updates(&Snapshot::default()).unwrap();
        assert!(default.enabled);
        assert_eq!(default.mechanism.as_deref(), Some("windows-update"));
        assert!(!automatic_updates(&snapshot(&[(au, "NoAutoUpdate", 1)])).unwrap().enabled);
        assert!(!automatic_updates(&snapshot(&[(au, "NoAutoUpdate", 0), (au, "AUOptions", 3)])).unwrap().enabled);
        assert!(automatic_updates(&snapshot(&[(au, "NoAutoUpdate", 0), (au, "AUOptions", 4)])).unwrap().enabled);
        let mut unreadable = Snapshot::default();
        unreadable.unreadable.insert(au.to_string());
        assert_eq!(automatic_updates(&unreadable), None);
    }
}

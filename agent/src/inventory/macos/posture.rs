//! macOS posture checks decided from what Apple's own tools print and the preference files macOS keeps: FileVault
//! (`fdesetup status`), the application firewall and its stealth mode (`socketfilterfw`), Gatekeeper (`spctl
//! --status`), System Integrity Protection (`csrutil status`), Remote Login (`systemsetup -getremotelogin`), the Guest
//! user (`defaults read` of a configuration profile's account settings and of loginwindow's preferences) and
//! XProtect's version (its `XProtect.meta.plist`). Pure: the probe fills a [`Snapshot`], the tests fill one
//! from real captured output, and both get the same checks.
//!
//! Where a Linux or Windows check means the same thing the id is the same (`disk.encryption`, `firewall.active`,
//! `accounts.guest`, `malware.scanner`), so one policy rule covers every platform; macOS-only facts have `macos.*` ids.
//! The tools' wording is matched as Apple prints it; wording this code does not know gives `unknown` quoting the
//! output, never a guess.

use muster_shared::v1::Check;
use plist::Value;

use crate::checks::{fail, pass, unknown};

pub const FDESETUP: &str = "/usr/bin/fdesetup";
pub const SOCKETFILTERFW: &str = "/usr/libexec/ApplicationFirewall/socketfilterfw";
pub const SPCTL: &str = "/usr/sbin/spctl";
pub const CSRUTIL: &str = "/usr/bin/csrutil";
pub const SYSTEMSETUP: &str = "/usr/sbin/systemsetup";
pub const DEFAULTS: &str = "/usr/bin/defaults";
/// Where the Guest user is set (the domains `defaults read` takes, without `.plist`), with the keys that set it: a
/// configuration profile's Accounts payload (`com.apple.MCX`, `EnableGuestAccount`, `DisableGuestAccount`), which
/// wins, then the local loginwindow preferences System Settings writes (`GuestEnabled`).
pub const GUEST_DOMAINS: [(&str, &[&str]); 2] = [
    ("/Library/Managed Preferences/com.apple.MCX", &["EnableGuestAccount", "DisableGuestAccount"]),
    ("/Library/Preferences/com.apple.loginwindow", &["GuestEnabled"]),
];
/// XProtect's signature metadata, newest home first: macOS 15 updates XProtect under /private/var/protected; macOS
/// 10.15 to 14 keep it in its own bundle under /Library/Apple (updated apart from the OS); 10.14 in
/// /System/Library's bundle; earlier releases in CoreTypes.
pub const XPROTECT: [&str; 4] = [
    "/private/var/protected/xprotect/XProtect.bundle/Contents/Resources/XProtect.meta.plist",
    "/Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Resources/XProtect.meta.plist",
    "/System/Library/CoreServices/XProtect.bundle/Contents/Resources/XProtect.meta.plist",
    "/System/Library/CoreServices/CoreTypes.bundle/Contents/Resources/XProtect.meta.plist",
];

const DISK_ENCRYPTION: &str = "disk.encryption";
const FIREWALL: &str = "firewall.active";
const GATEKEEPER: &str = "macos.gatekeeper";
const SIP: &str = "macos.sip";
const REMOTE_LOGIN: &str = "macos.remote_login";
const GUEST: &str = "accounts.guest";
const MALWARE: &str = "malware.scanner";

/// What a tool printed (its standard output, whatever its exit status: `spctl --status` exits 1 when assessments
/// are off), or why there is nothing to read.
pub type Output = Result<String, String>;

/// A file's bytes, `None` when it does not exist, or why it could not be read.
pub type FileRead = Result<Option<Vec<u8>>, String>;

/// Everything the checks are decided from.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub filevault: Output,
    pub firewall: Output,
    pub stealth: Output,
    pub gatekeeper: Output,
    pub sip: Output,
    pub remote_login: Output,
    /// `defaults read` of [`GUEST_DOMAINS`], in that order; `Ok(None)` where the domain has no file.
    pub guest: [Result<Option<String>, String>; 2],
    /// [`XPROTECT`]'s files, in that order.
    pub xprotect: [FileRead; XPROTECT.len()],
}

/// Every macOS posture check, in a stable order (`updates.*` come from the patches section).
pub fn checks(s: &Snapshot) -> Vec<Check> {
    vec![
        filevault(&s.filevault),
        firewall(&s.firewall, &s.stealth),
        gatekeeper(&s.gatekeeper),
        sip(&s.sip),
        remote_login(&s.remote_login),
        guest(&s.guest),
        xprotect(&s.xprotect),
    ]
}

/// The output's lines, trimmed, without empty ones.
fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

/// Evidence quoting a tool's output, one entry per line.
fn quoted(tool: &str, text: &str) -> Vec<String> {
    lines(text).into_iter().map(|l| format!("{tool}: {l}")).collect()
}

/// `unknown` for a tool that could not be run or printed nothing.
fn unreadable(id: &str, tool: &str, why: &str) -> Check {
    unknown(id, format!("{tool} could not be read: {why}"))
}

/// `unknown` for output in words this code does not know.
fn unrecognised(id: &str, tool: &str, text: &str) -> Check {
    let first = lines(text).first().copied().unwrap_or("(nothing)");
    unknown(id, format!("{tool} printed \"{first}\", which this agent does not recognise"))
}

/// The tool's output, or the check that says why there is none.
fn output<'a>(id: &str, tool: &str, out: &'a Output) -> Result<&'a str, Check> {
    match out {
        Ok(text) if !text.trim().is_empty() => Ok(text),
        Ok(_) => Err(unreadable(id, tool, "it printed nothing")),
        Err(why) => Err(unreadable(id, tool, why)),
    }
}

/// `disk.encryption`: FileVault on, or encrypting. Off, off until the next restart (deferred enablement waits for a
/// user to log in), or decrypting, fails.
fn filevault(out: &Output) -> Check {
    let text = match output(DISK_ENCRYPTION, "fdesetup status", out) {
        Ok(text) => text,
        Err(check) => return check,
    };
    let evidence = quoted("fdesetup status", text);
    // The state may follow other lines (deferred enablement's, a keychain's), so every line is looked at; one that
    // says off or decrypting decides, whatever else is printed.
    let says = |states: &[&str]| lines(text).into_iter().any(|l| states.iter().any(|s| l.starts_with(s)));
    let fix = "Turn FileVault on (System Settings > Privacy & Security > FileVault, or `sudo fdesetup enable`, or a \
               configuration profile with FileVault enforcement) and escrow its recovery key.";
    if says(&["FileVault is Off", "Decryption in progress"]) {
        fail(DISK_ENCRYPTION, evidence, fix)
    } else if says(&["FileVault is On", "Encryption in progress"]) {
        pass(DISK_ENCRYPTION, evidence)
    } else {
        unrecognised(DISK_ENCRYPTION, "fdesetup status", text)
    }
}

/// `firewall.active`: the application firewall on, whether for specific services (state 1) or blocking every
/// incoming connection but essential ones (state 2); stealth mode is evidence only.
fn firewall(out: &Output, stealth: &Output) -> Check {
    let tool = "socketfilterfw --getglobalstate";
    let text = match output(FIREWALL, tool, out) {
        Ok(text) => text,
        Err(check) => return check,
    };
    let mut evidence = quoted(tool, text);
    if let Ok(stealth) = stealth {
        evidence.extend(quoted("socketfilterfw --getstealthmode", stealth));
    }
    let fix = "Turn the firewall on (System Settings > Network > Firewall, `sudo \
               /usr/libexec/ApplicationFirewall/socketfilterfw --setglobalstate on`, or a configuration profile).";
    // The words change between releases (state 2 was "Firewall is enabled.", is now "Firewall is blocking all
    // non-essential incoming connections."); the state number at the end does not.
    let state = lines(text).into_iter().find_map(|l| {
        let number = l.strip_suffix(')')?.rsplit_once("(State =")?.1.trim();
        number.parse::<u8>().ok()
    });
    match state {
        Some(1 | 2) => pass(FIREWALL, evidence),
        Some(0) => fail(FIREWALL, evidence, fix),
        _ => unrecognised(FIREWALL, tool, text),
    }
}

/// A check decided by a tool that answers in one of two lines: `on` passes, `off` fails with `fix`; anything else
/// is quoted as unrecognised.
fn two_answers(id: &str, tool: &str, out: &Output, (on, off): (&str, &str), fix: &str) -> Check {
    let text = match output(id, tool, out) {
        Ok(text) => text,
        Err(check) => return check,
    };
    let answer = lines(text).first().copied().unwrap_or_default();
    if answer == on {
        pass(id, quoted(tool, text))
    } else if answer == off {
        fail(id, quoted(tool, text), fix)
    } else {
        unrecognised(id, tool, text)
    }
}

/// `macos.gatekeeper`: assessments enabled, so apps from unidentified developers are checked before they first run.
fn gatekeeper(out: &Output) -> Check {
    two_answers(
        GATEKEEPER,
        "spctl --status",
        out,
        ("assessments enabled", "assessments disabled"),
        "Turn Gatekeeper back on with `sudo spctl --global-enable` (or `--master-enable` before macOS 15) or a \
         configuration profile.",
    )
}

/// What a custom System Integrity Protection configuration relaxes, one line each as printed (`Kext Signing:
/// disabled`, indented by tab or spaces): every protection that is off, and Apple Internal when it is on (it is off
/// on every Mac outside Apple, and on it lifts restrictions of its own).
fn sip_relaxed(text: &str) -> Vec<&str> {
    lines(text)
        .into_iter()
        .filter(|l| !l.starts_with("System Integrity Protection status"))
        .filter(|l| match l.split_once(':') {
            Some(("Apple Internal", state)) => state.trim() == "enabled",
            Some((_, state)) => state.trim() == "disabled",
            None => false,
        })
        .collect()
}

/// `macos.sip`: System Integrity Protection fully enabled. Disabled fails, and so does any custom configuration:
/// csrutil calls one custom only when some of its bits are lifted, not all of which it lists; the evidence names
/// the relaxations it does list.
fn sip(out: &Output) -> Check {
    let tool = "csrutil status";
    let text = match output(SIP, tool, out) {
        Ok(text) => text,
        Err(check) => return check,
    };
    let first = lines(text).first().copied().unwrap_or_default();
    let Some(status) = first.strip_prefix("System Integrity Protection status:").map(str::trim) else {
        return unrecognised(SIP, tool, text);
    };
    let fix = "Turn System Integrity Protection back on: restart into macOS Recovery, run `csrutil enable` in \
               Terminal, and restart.";
    if status.contains("(Custom Configuration)") {
        let mut evidence = vec![format!("{tool}: {first}")];
        evidence.extend(sip_relaxed(text).iter().map(|line| format!("{tool}: {line}")));
        fail(SIP, evidence, fix)
    } else if status == "enabled." {
        pass(SIP, vec![format!("{tool}: {first}")])
    } else if status.starts_with("disabled") {
        // `disabled.`, or `disabled (Apple Internal).` as a Mac set up for Apple's internal builds says.
        fail(SIP, vec![format!("{tool}: {first}")], fix)
    } else {
        unrecognised(SIP, tool, text)
    }
}

/// `macos.remote_login`: Remote Login (the SSH server) off.
fn remote_login(out: &Output) -> Check {
    two_answers(
        REMOTE_LOGIN,
        "systemsetup -getremotelogin",
        out,
        ("Remote Login: Off", "Remote Login: On"),
        "Turn Remote Login off where nobody needs SSH to this Mac (System Settings > General > Sharing, or `sudo \
         systemsetup -setremotelogin off`), or restrict it to named users.",
    )
}

/// A top-level `Key = value;` of `defaults read`'s text (the old property-list syntax: booleans print as 1 or 0),
/// quotes removed; nested dictionaries are indented further and not searched.
fn defaults_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("    ")?.strip_prefix(key)?.strip_prefix(" = ")?;
        Some(rest.strip_suffix(';')?.trim_matches('"'))
    })
}

/// `accounts.guest`: the Guest user off. The first domain that sets it decides (a configuration profile's Accounts
/// payload before the local preferences); set nowhere, the Guest user is off, as macOS ships.
fn guest(domains: &[Result<Option<String>, String>; 2]) -> Check {
    let fix = "Turn the Guest user off (System Settings > Users & Groups, or a configuration profile's Accounts payload \
               with DisableGuestAccount).";
    let mut evidence = Vec::new();
    for ((domain, keys), read) in GUEST_DOMAINS.iter().zip(domains) {
        let text = match read {
            Ok(Some(text)) => text,
            Ok(None) => continue,
            Err(why) => return unknown(GUEST, format!("defaults read {domain} failed: {why}")),
        };
        let mut decided = None;
        for key in *keys {
            let Some(value) = defaults_value(text, key) else { continue };
            evidence.push(format!("{domain}: {key} = {value}"));
            // GuestEnabled and EnableGuestAccount say on; DisableGuestAccount says off.
            let on = match value {
                "1" => !key.starts_with("Disable"),
                "0" => key.starts_with("Disable"),
                other => return unknown(GUEST, format!("{domain}: {key} is \"{other}\", neither 1 nor 0")),
            };
            // Where a profile sets both, an enabling one wins: the Guest user is then reachable.
            decided = Some(decided.unwrap_or(false) || on);
        }
        match decided {
            Some(true) => return fail(GUEST, evidence, fix),
            Some(false) => return pass(GUEST, evidence),
            None => evidence.push(format!("{domain}: {} not set", keys.join(", "))),
        }
    }
    evidence.push("the Guest user is off unless a profile or loginwindow's preferences turn it on".to_owned());
    pass(GUEST, evidence)
}

/// `malware.scanner`: XProtect, macOS's own signature scanner, and the version of its signatures (the evidence shows
/// how current they are: Apple numbers each release). A Mac without them is `unknown`: that is damage, not a missing
/// product.
fn xprotect(files: &[FileRead; XPROTECT.len()]) -> Check {
    for (path, read) in XPROTECT.iter().zip(files) {
        let bytes = match read {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(why) => return unknown(MALWARE, format!("{path} could not be read: {why}")),
        };
        let version = Value::from_reader(std::io::Cursor::new(bytes)).ok().and_then(|v| {
            // A real (`<real>2158</real>`) in the files seen, an integer elsewhere.
            match v.as_dictionary()?.get("Version")? {
                Value::Real(n) if n.fract() == 0.0 && *n >= 0.0 => Some(format!("{n:.0}")),
                Value::Integer(n) => Some(n.to_string()),
                _ => None,
            }
        });
        return match version {
            Some(version) => pass(MALWARE, vec![format!("XProtect signatures version {version} ({path})")]),
            None => unknown(MALWARE, format!("{path} gives no Version")),
        };
    }
    unknown(MALWARE, format!("no XProtect signatures at {}", XPROTECT.join(", ")))
}

#[cfg(test)]
mod tests {
    use muster_shared::v1::CheckStatus;

    use super::*;

    /// A capture of `testdata/macos/posture/` (sources in `testdata/README.md`).
    fn capture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/testdata/macos/posture/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn not_run() -> Output {
        Err("not run".to_owned())
    }

    fn statuses(checks: &[Check]) -> Vec<(&str, CheckStatus)> {
        checks.iter().map(|c| (c.id.as_str(), c.status)).collect()
    }

    #[test]
    fn a_mac_s_posture_from_real_captures() {
        let snapshot = Snapshot {
            filevault: Ok(capture("fdesetup-on-masterkeychain-10.15.6-reportfilevault.txt")),
            firewall: Ok(capture("socketfilterfw-getglobalstate-state2-blocking-mac-health-check-8.txt")),
            stealth: not_run(),
            gatekeeper: Ok(capture("spctl-status-disabled-elastic-420.txt")),
            sip: Ok(capture("csrutil-enabled-10.11.6-osx-config-check-102.txt")),
            remote_login: Ok(capture("systemsetup-no-admin-10.8.4-metasploit-2302.txt")),
            guest: [Ok(None), Ok(Some(capture("defaults-read-loginwindow-rosesecurity.txt")))],
            xprotect: [
                Ok(None),
                Ok(Some(capture("XProtect.meta-2158-knightsc.plist").into_bytes())),
                Ok(None),
                Ok(None),
            ],
        };
        let checks = checks(&snapshot);
        assert_eq!(
            statuses(&checks),
            [
                ("disk.encryption", CheckStatus::Pass),
                ("firewall.active", CheckStatus::Pass),
                ("macos.gatekeeper", CheckStatus::Fail),
                ("macos.sip", CheckStatus::Pass),
                ("macos.remote_login", CheckStatus::Unknown),
                ("accounts.guest", CheckStatus::Pass),
                ("malware.scanner", CheckStatus::Pass),
            ]
        );
        assert_eq!(
            checks[0].evidence,
            [
                "fdesetup status: FileVault is On.",
                "fdesetup status: FileVault master keychain appears to be installed."
            ]
        );
        assert_eq!(
            checks[1].evidence,
            [
                "socketfilterfw --getglobalstate: Firewall is blocking all non-essential incoming connections. (State = 2)"
            ]
        );
        assert_eq!(checks[2].evidence, ["spctl --status: assessments disabled"]);
        assert!(checks[2].remediation.as_deref().unwrap().contains("spctl --global-enable"));
        assert_eq!(checks[3].evidence, ["csrutil status: System Integrity Protection status: enabled."]);
        // systemsetup refuses a user who is not root: said, not read as Remote Login off.
        assert_eq!(
            checks[4].reason.as_deref(),
            Some(
                "systemsetup -getremotelogin printed \"You need administrator access to run this tool... exiting!\", \
                 which this agent does not recognise"
            )
        );
        assert_eq!(
            checks[5].evidence,
            ["/Library/Preferences/com.apple.loginwindow: GuestEnabled = 0"],
            "{:?}",
            checks[5]
        );
        assert_eq!(
            checks[6].evidence,
            ["XProtect signatures version 2158 (/Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/\
              Resources/XProtect.meta.plist)"]
        );
    }

    #[test]
    fn filevault_off_until_a_restart_fails_and_a_lone_deferral_line_is_not_a_state() {
        let off = filevault(&Ok(capture("fdesetup-off-needs-restart-deferred-10.12-crypt-18.txt")));
        assert_eq!(off.status, CheckStatus::Fail);
        assert_eq!(
            off.evidence,
            [
                "fdesetup status: FileVault is Off, but needs to be restarted to finish.",
                "fdesetup status: Deferred enablement appears to be active for user 'wes'",
            ]
        );
        assert!(off.remediation.unwrap().contains("fdesetup enable"));
        // What a user quoted of a brand-new MacBook's output: no headline, so no verdict.
        let deferred = filevault(&Ok(capture("fdesetup-deferred-line-only-13.2.1-depnotify-58.txt")));
        assert_eq!(deferred.status, CheckStatus::Unknown);
        assert_eq!(
            deferred.reason.as_deref(),
            Some(
                "fdesetup status printed \"Deferred enablement appears to be active.\", which this agent does not \
                 recognise"
            )
        );
        assert_eq!(filevault(&not_run()).reason.as_deref(), Some("fdesetup status could not be read: not run"));
        assert_eq!(filevault(&Ok("\n".to_owned())).status, CheckStatus::Unknown);
    }

    #[test]
    fn every_captured_sip_status_is_decided_and_a_custom_configuration_names_what_it_relaxes() {
        let dir = format!("{}/testdata/macos/posture", env!("CARGO_MANIFEST_DIR"));
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.starts_with("csrutil-") {
                continue;
            }
            let check = sip(&Ok(capture(&name)));
            // Only the plainly enabled Mac passes: disabled fails, and so does every custom configuration.
            let expected =
                if name.starts_with("csrutil-enabled-10.11.6") { CheckStatus::Pass } else { CheckStatus::Fail };
            assert_eq!(check.status, expected, "{name}: {check:?}");
            seen.push(name);
        }
        assert_eq!(seen.len(), 10, "{seen:?}");

        let apple_silicon = sip(&Ok(capture("csrutil-unknown-custom-applesilicon-12.5-yabai-1800.txt")));
        assert_eq!(
            apple_silicon.evidence,
            [
                "csrutil status: System Integrity Protection status: unknown (Custom Configuration).",
                "csrutil status: Filesystem Protections: disabled",
                "csrutil status: Debugging Restrictions: disabled",
                "csrutil status: NVRAM Protections: disabled",
                "csrutil status: Boot-arg Restrictions: disabled",
                "csrutil status: Kernel Integrity Protections: disabled",
            ]
        );
        // Spaces rather than tabs, as another user pasted it; Apple Internal (off outside Apple) is no finding.
        let debugging = sip(&Ok(capture("csrutil-enabled-custom-10.13.6-spaces-yabai-538.txt")));
        assert_eq!(
            debugging.evidence,
            [
                "csrutil status: System Integrity Protection status: enabled (Custom Configuration).",
                "csrutil status: Debugging Restrictions: disabled",
            ]
        );
        let internal = sip(&Ok(capture("csrutil-disabled-apple-internal-one-key-hidpi-117.txt")));
        assert_eq!(
            internal.evidence,
            ["csrutil status: System Integrity Protection status: disabled (Apple Internal)."]
        );
    }

    #[test]
    fn gatekeeper_and_the_firewall_in_each_captured_wording() {
        assert_eq!(gatekeeper(&Ok(capture("spctl-status-enabled-elastic-420.txt"))).status, CheckStatus::Pass);
        // State 2 ("block all incoming") as macOS 11 and macOS 15 word it.
        for name in [
            "socketfilterfw-getglobalstate-state2-enabled-m-cli-160.txt",
            "socketfilterfw-getglobalstate-state2-blocking-mac-health-check-8.txt",
        ] {
            let check = firewall(&Ok(capture(name)), &not_run());
            assert_eq!(check.status, CheckStatus::Pass, "{name}");
            assert_eq!(check.evidence.len(), 1, "{name}: a stealth mode not read adds nothing");
        }
        // A tool that is not there, or answers in unknown words, decides nothing.
        let missing = firewall(&Err("No such file or directory (os error 2)".to_owned()), &not_run());
        assert_eq!(
            missing.reason.as_deref(),
            Some("socketfilterfw --getglobalstate could not be read: No such file or directory (os error 2)")
        );
        let other = firewall(&Ok(capture("spctl-status-enabled-elastic-420.txt")), &not_run());
        assert_eq!(other.status, CheckStatus::Unknown);
        assert_eq!(gatekeeper(&Ok(capture("csrutil-disabled-bigsur-yabai-724.txt"))).status, CheckStatus::Unknown);
    }

    #[test]
    fn the_guest_user_from_a_profile_then_loginwindow_s_preferences() {
        let local = capture("defaults-read-loginwindow-rosesecurity.txt");
        // Nested keys (AccountInfo's) are not top-level preferences.
        assert_eq!(defaults_value(&local, "MaximumUsers"), None);
        assert_eq!(defaults_value(&local, "Hide500Users"), Some("1"));
        assert_eq!(defaults_value(&local, "lastUserName"), Some("rosie.odonnell"));
        // A profile domain that sets neither of its keys leaves the local preferences to decide.
        let check = guest(&[Ok(Some(local.clone())), Ok(Some(local.clone()))]);
        assert_eq!(check.status, CheckStatus::Pass);
        assert_eq!(
            check.evidence,
            [
                "/Library/Managed Preferences/com.apple.MCX: EnableGuestAccount, DisableGuestAccount not set",
                "/Library/Preferences/com.apple.loginwindow: GuestEnabled = 0",
            ]
        );
        // Neither domain sets it: the Guest user is off, as macOS ships.
        assert_eq!(guest(&[Ok(None), Ok(None)]).status, CheckStatus::Pass);
        let failed = guest(&[Err("exit status: 1".to_owned()), Ok(Some(local))]);
        assert_eq!(failed.status, CheckStatus::Unknown);
        assert_eq!(
            failed.reason.as_deref(),
            Some("defaults read /Library/Managed Preferences/com.apple.MCX failed: exit status: 1")
        );
    }

    #[test]
    fn xprotect_before_macos_10_15_and_without_its_signatures() {
        let meta = capture("XProtect.meta-2158-knightsc.plist").into_bytes();
        let old = xprotect(&[Ok(None), Ok(None), Ok(None), Ok(Some(meta))]);
        assert_eq!(
            old.evidence,
            ["XProtect signatures version 2158 (/System/Library/CoreServices/CoreTypes.bundle/Contents/Resources/\
              XProtect.meta.plist)"]
        );
        assert_eq!(xprotect(&[Ok(None), Ok(None), Ok(None), Ok(None)]).status, CheckStatus::Unknown);
        let not_plist = xprotect(&[Ok(None), Ok(Some(b"<html>".to_vec())), Ok(None), Ok(None)]);
        assert_eq!(
            not_plist.reason.as_deref(),
            Some(
                "/Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Resources/XProtect.meta.plist \
                 gives no Version"
            )
        );
    }
}

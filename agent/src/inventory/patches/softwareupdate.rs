//! macOS patch state from Software Update's own files, read rather than `softwareupdate --list` run: that command
//! asks Apple's servers (seconds to minutes, and nothing offline or under `--root`), while the files keep what the
//! last background check found, when it ran, and what was installed.
//!
//! - `/Library/Preferences/com.apple.SoftwareUpdate.plist`: `RecommendedUpdates` (the updates the last check
//!   offered: `Display Name`, `Display Version`, `Identifier`, `Product Key`), `LastSuccessfulDate` (that check),
//!   and the automatic-update switches where set (`AutomaticCheckEnabled`, `AutomaticDownload`,
//!   `AutomaticallyInstallMacOSUpdates`, `CriticalUpdateInstall`).
//! - `/Library/Managed Preferences/com.apple.SoftwareUpdate.plist`: the same switches as a configuration profile
//!   (MDM) sets them; each one set there wins over the local one, as it does for Software Update itself.
//! - `/Library/Receipts/InstallHistory.plist`: every installation with its date, name, version and installing
//!   process; Software Update's are `softwareupdated`'s, and its `config-data` ones (XProtect, word lists) are data,
//!   not updates of the system; an upgrade to a new release is the macOS installer's.

use chrono::{DateTime, Utc};
use muster_shared::v1::{AutomaticUpdates, PendingUpdate};
use plist::{Dictionary, Value};

pub const PREFERENCES: &str = "/Library/Preferences/com.apple.SoftwareUpdate.plist";
pub const MANAGED_PREFERENCES: &str = "/Library/Managed Preferences/com.apple.SoftwareUpdate.plist";
pub const INSTALL_HISTORY: &str = "/Library/Receipts/InstallHistory.plist";
/// Both files are a few KiB to a few hundred; anything far larger is not theirs.
pub const MAX_BYTES: u64 = 16 << 20;

/// The patches section's `manager`, and the automatic updates' `mechanism`, on a Mac.
pub const MANAGER: &str = "softwareupdate";

/// What the preferences say.
#[derive(Debug, Default, PartialEq)]
pub struct Preferences {
    /// The updates the last check offered.
    pub pending: Vec<PendingUpdate>,
    /// When Software Update last checked successfully.
    pub last_check: Option<DateTime<Utc>>,
    /// `None` when none of the switches is set (the file then says nothing of the policy).
    pub automatic: Option<AutomaticUpdates>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlistError(String);

fn dictionary(bytes: &[u8]) -> Result<Dictionary, PlistError> {
    match Value::from_reader(std::io::Cursor::new(bytes)) {
        Ok(Value::Dictionary(d)) => Ok(d),
        Ok(_) => Err(PlistError("not a dictionary".to_owned())),
        Err(e) => Err(PlistError(e.to_string())),
    }
}

fn date(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let at: std::time::SystemTime = value?.as_date()?.into();
    Some(at.into())
}

fn text<'a>(d: &'a Dictionary, key: &str) -> Option<&'a str> {
    d.get(key)?.as_string().map(str::trim).filter(|s| !s.is_empty())
}

/// Reads a preferences file as a dictionary: the managed preferences, whose switches [`automatic_updates`] takes.
pub fn read_switches(bytes: &[u8]) -> Result<Dictionary, PlistError> {
    dictionary(bytes)
}

/// Reads `com.apple.SoftwareUpdate.plist` (binary or XML); `managed` is what a configuration profile set
/// ([`MANAGED_PREFERENCES`]), whose switches win.
pub fn read_preferences(bytes: &[u8], managed: Option<&Dictionary>) -> Result<Preferences, PlistError> {
    let d = dictionary(bytes)?;
    let pending = d
        .get("RecommendedUpdates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_dictionary)
        .filter_map(|u| {
            let name = text(u, "Display Name").or_else(|| text(u, "Identifier"))?;
            Some(PendingUpdate {
                name: name.to_owned(),
                arch: None,
                // The file names only the offered version.
                installed_version: String::new(),
                candidate_version: text(u, "Display Version").unwrap_or_default().to_owned(),
                // Apple's catalogue does not mark security content in what it offers.
                security: false,
                origin: text(u, "Product Key").map(|k| format!("Apple Software Update {k}")),
            })
        })
        .collect();
    let mut layers = Vec::with_capacity(2);
    layers.extend(managed.map(|m| (MANAGED_PREFERENCES, m)));
    layers.push((PREFERENCES, &d));
    Ok(Preferences { pending, last_check: date(d.get("LastSuccessfulDate")), automatic: automatic_updates(&layers) })
}

/// The switches that are set, in Apple's order of effect: checking, downloading, installing macOS updates,
/// installing security responses and system files, each from the first of `layers` (file, its dictionary) that sets
/// it. Automatic means every one that is set is on, and checking is set (nothing installs what is never looked for).
pub fn automatic_updates(layers: &[(&str, &Dictionary)]) -> Option<AutomaticUpdates> {
    const SWITCHES: [&str; 4] =
        ["AutomaticCheckEnabled", "AutomaticDownload", "AutomaticallyInstallMacOSUpdates", "CriticalUpdateInstall"];
    let set: Vec<(&str, &str, bool)> = SWITCHES
        .iter()
        .filter_map(|k| layers.iter().find_map(|(path, d)| Some((*path, *k, d.get(k).and_then(Value::as_boolean)?))))
        .collect();
    if set.is_empty() {
        return None;
    }
    let checks = set.iter().any(|(_, k, on)| *k == "AutomaticCheckEnabled" && *on);
    Some(AutomaticUpdates {
        enabled: checks && set.iter().all(|(_, _, on)| *on),
        mechanism: Some(MANAGER.to_owned()),
        evidence: set.iter().map(|(path, k, on)| format!("{path}: {k} = {on}")).collect(),
    })
}

/// One installation of `InstallHistory.plist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    pub at: DateTime<Utc>,
    pub name: String,
    pub version: String,
    /// `softwareupdated`, `Installer`, `App Store`, `OS X Installer`, `macOS Installer`...
    pub process: String,
    /// `config-data` for Apple's data updates (XProtect, word lists); empty for software.
    pub content_type: String,
}

impl Install {
    /// An update or upgrade of the system: by Software Update, or by the macOS installer (an upgrade to a new
    /// release), and not a data file (`config-data`) or someone's own package (`Installer`).
    pub fn is_system_update(&self) -> bool {
        matches!(self.process.as_str(), "softwareupdated" | "OS X Installer" | "macOS Installer")
            && self.content_type != "config-data"
    }
}

/// Reads `InstallHistory.plist`, oldest first as the file keeps them; entries without a date are left out.
pub fn read_install_history(bytes: &[u8]) -> Result<Vec<Install>, PlistError> {
    let value = Value::from_reader(std::io::Cursor::new(bytes)).map_err(|e| PlistError(e.to_string()))?;
    let entries = value.as_array().ok_or_else(|| PlistError("not an array".to_owned()))?;
    Ok(entries
        .iter()
        .filter_map(Value::as_dictionary)
        .filter_map(|e| {
            Some(Install {
                at: date(e.get("date"))?,
                name: text(e, "displayName").unwrap_or_default().to_owned(),
                version: text(e, "displayVersion").unwrap_or_default().to_owned(),
                process: text(e, "processName").unwrap_or_default().to_owned(),
                content_type: text(e, "contentType").unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use muster_shared::v1::{ErrorKind, SectionName};

    use super::*;
    use crate::inventory::patches::collect;
    use crate::root::{ErrorLog, SystemRoot};

    /// A copy of plaso's captured Mac files laid out as a mounted root (`testdata/README.md`, `macos/`).
    fn root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/macos/root")
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn a_captured_mac_gives_what_software_update_offered_and_when_it_checked() {
        let mut errors = ErrorLog::new();
        let now = at(2014, 1, 20, 9, 0, 0);
        let patches = collect(&SystemRoot::mounted(root()), None, None, now, &mut errors).unwrap();
        // Values as Python's plistlib reads the two binary plists.
        assert_eq!(patches.manager.as_deref(), Some("softwareupdate"));
        assert_eq!(
            patches.pending,
            Some(vec![PendingUpdate {
                name: "Digital Camera RAW Compatibility Update".into(),
                arch: None,
                installed_version: String::new(),
                candidate_version: "5.03".into(),
                security: false,
                origin: Some("Apple Software Update 031-2664".into()),
            }])
        );
        assert_eq!((patches.pending_count, patches.security_count), (Some(1), None));
        assert_eq!(patches.lists_updated_at, Some(at(2014, 1, 6, 17, 43, 48)));
        // The OS X 10.9 installation; Software Update's later installs were all data (XProtect, word lists).
        assert_eq!(patches.last_update_installed_at, Some(at(2013, 11, 12, 2, 59, 35)));
        assert_eq!(patches.automatic_updates, None);
        let [error] = errors.as_slice() else { panic!("{:?}", errors.as_slice()) };
        assert_eq!(
            (error.section, error.item.as_str(), error.kind),
            (SectionName::Patches, "patches.automatic_updates", ErrorKind::NotFound)
        );

        // The update checks read it as on any system: the check 14 days ago is stale, the switches unknown.
        let checks = crate::checks::patch_checks(Some(&patches), now);
        let stale = checks.iter().find(|c| c.id == "updates.lists_stale").unwrap();
        assert_eq!(stale.status, muster_shared::v1::CheckStatus::Fail);
        assert_eq!(stale.evidence, ["Software Update last checked 2014-01-06T17:43:48Z (13 days before collection)"]);
        assert!(stale.remediation.as_deref().unwrap().contains("softwareupdate --list"));
        let automatic = checks.iter().find(|c| c.id == "updates.automatic").unwrap();
        assert_eq!(automatic.status, muster_shared::v1::CheckStatus::Unknown);
    }

    #[test]
    fn a_configuration_profile_s_switches_are_read_beside_the_captured_mac_s_files() {
        let dir = tempfile::tempdir().unwrap();
        for file in [PREFERENCES, INSTALL_HISTORY] {
            let to = dir.path().join(file.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(root().join(file.trim_start_matches('/')), to).unwrap();
        }
        // What an MDM's Software Update payload leaves in the managed preferences: checking and the security
        // responses on, macOS updates not installed unasked. Written here with the keys the local file uses: no real
        // managed file was at hand.
        let mut profile = Dictionary::new();
        for (key, on) in [
            ("AutomaticCheckEnabled", true),
            ("CriticalUpdateInstall", true),
            ("AutomaticallyInstallMacOSUpdates", false),
        ] {
            profile.insert(key.to_owned(), Value::Boolean(on));
        }
        let managed = dir.path().join(MANAGED_PREFERENCES.trim_start_matches('/'));
        std::fs::create_dir_all(managed.parent().unwrap()).unwrap();
        Value::Dictionary(profile).to_file_xml(&managed).unwrap();

        let mut errors = ErrorLog::new();
        let now = at(2014, 1, 20, 9, 0, 0);
        let patches = collect(&SystemRoot::mounted(dir.path().to_path_buf()), None, None, now, &mut errors).unwrap();
        assert_eq!(errors.as_slice(), []);
        let automatic = patches.automatic_updates.unwrap();
        assert!(!automatic.enabled);
        assert_eq!(
            automatic.evidence,
            [
                format!("{MANAGED_PREFERENCES}: AutomaticCheckEnabled = true"),
                format!("{MANAGED_PREFERENCES}: AutomaticallyInstallMacOSUpdates = false"),
                format!("{MANAGED_PREFERENCES}: CriticalUpdateInstall = true"),
            ]
        );
        // The local file's other contents are still read.
        assert_eq!(patches.pending_count, Some(1));

        // Without the local preferences, the profile alone still answers.
        std::fs::remove_file(dir.path().join(PREFERENCES.trim_start_matches('/'))).unwrap();
        let mut errors = ErrorLog::new();
        let patches = collect(&SystemRoot::mounted(dir.path().to_path_buf()), None, None, now, &mut errors).unwrap();
        assert_eq!(patches.automatic_updates.unwrap().evidence.len(), 3);
        assert_eq!(errors.as_slice().len(), 1, "the missing preferences file is recorded");
    }

    #[test]
    fn the_install_history_keeps_every_installation_with_its_process() {
        let bytes = std::fs::read(root().join("Library/Receipts/InstallHistory.plist")).unwrap();
        let history = read_install_history(&bytes).unwrap();
        let summary: Vec<_> =
            history.iter().map(|i| (i.name.as_str(), i.version.as_str(), i.is_system_update())).collect();
        assert_eq!(
            summary,
            [
                ("OS X", "10.9 (13A603)", true),
                ("VMware Tools", "9.6.1", false),
                ("XProtectPlistConfigData", "1.0", false),
                ("Core Services Application Configuration Data", "1.0.25", false),
                ("Incompatible Kernel Extension Configuration Data", "1.18.2", false),
                ("Chinese Word List Update", "2.1", false),
                ("Chinese Word List Update", "2.2", false),
            ]
        );
        assert_eq!(history[6].at, at(2014, 1, 28, 20, 38, 48));
        assert_eq!((history[6].process.as_str(), history[6].content_type.as_str()), ("softwareupdated", "config-data"));
    }

    #[test]
    fn automatic_means_every_set_switch_on_and_checking_among_them() {
        let plist = |pairs: &[(&str, bool)]| {
            let mut d = Dictionary::new();
            for (k, v) in pairs {
                d.insert((*k).to_owned(), Value::Boolean(*v));
            }
            d
        };
        let automatic = |d: &Dictionary| automatic_updates(&[(PREFERENCES, d)]);
        assert_eq!(automatic(&plist(&[])), None);
        let all_on = automatic(&plist(&[("AutomaticCheckEnabled", true), ("CriticalUpdateInstall", true)])).unwrap();
        assert!(all_on.enabled);
        assert_eq!(all_on.evidence[0], format!("{PREFERENCES}: AutomaticCheckEnabled = true"));
        assert!(!automatic(&plist(&[("AutomaticCheckEnabled", true), ("AutomaticDownload", false)])).unwrap().enabled);
        // Installing what is never looked for installs nothing.
        assert!(!automatic(&plist(&[("CriticalUpdateInstall", true)])).unwrap().enabled);
        // A configuration profile's switch wins over the local one; the local file still counts for the others.
        let profile = plist(&[("AutomaticDownload", true)]);
        let local = plist(&[("AutomaticCheckEnabled", true), ("AutomaticDownload", false)]);
        let layered = automatic_updates(&[(MANAGED_PREFERENCES, &profile), (PREFERENCES, &local)]).unwrap();
        assert!(layered.enabled);
        assert_eq!(
            layered.evidence,
            [
                format!("{PREFERENCES}: AutomaticCheckEnabled = true"),
                format!("{MANAGED_PREFERENCES}: AutomaticDownload = true"),
            ]
        );
    }

    #[test]
    fn what_is_not_a_software_update_plist_is_an_error() {
        assert!(read_preferences(b"not a plist", None).is_err());
        let history = std::fs::read(root().join("Library/Receipts/InstallHistory.plist")).unwrap();
        assert_eq!(read_preferences(&history, None).unwrap_err().to_string(), "not a dictionary");
    }
}

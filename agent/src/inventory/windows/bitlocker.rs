//! `disk.encryption` on Windows, decided from BitLocker's own report of each volume (`Win32_EncryptableVolume` in
//! WMI's `ROOT\CIMV2\Security\MicrosoftVolumeEncryption` namespace, what `manage-bde -status` shows), so one policy
//! rule covers Linux's dm-crypt and Windows' BitLocker. Pure: the probe queries WMI into [`EncryptableVolume`]s,
//! the tests read a real machine's `wmic` output into the same.
//!
//! Like the Linux check, every fixed data volume counts (the operating system's and fixed data drives, each with a
//! drive letter); removable drives and unlettered boot and recovery partitions do not. A volume passes when it is fully encrypted with its protection on, or locked (only an encrypted
//! volume can be). Suspended protection fails: the volume key then sits unprotected on the disk, so the encryption
//! protects nothing. A volume still encrypting fails until it is done.

use serde::Deserialize;

use muster_shared::v1::Check;

use crate::checks::{fail, pass, unknown};

pub const CHECK: &str = "disk.encryption";
/// BitLocker's WMI namespace (Windows Vista and later, editions with BitLocker or device encryption).
pub const NAMESPACE: &str = r"ROOT\CIMV2\Security\MicrosoftVolumeEncryption";

/// The properties of `Win32_EncryptableVolume` the check reads (Windows 8 and later have all of them); names as
/// WMI spells them, so the probe's query deserializes into this type directly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "Win32_EncryptableVolume")]
pub struct EncryptableVolume {
    #[serde(rename = "DeviceID")]
    pub device_id: Option<String>,
    #[serde(rename = "DriveLetter")]
    pub drive_letter: Option<String>,
    /// 0 protection off (decrypted, or suspended), 1 on, 2 unknown (the volume is locked).
    #[serde(rename = "ProtectionStatus")]
    pub protection_status: Option<u32>,
    /// 0 fully decrypted, 1 fully encrypted, 2 encrypting, 3 decrypting, 4 encryption paused, 5 decryption paused.
    #[serde(rename = "ConversionStatus")]
    pub conversion_status: Option<u32>,
    #[serde(rename = "EncryptionMethod")]
    pub encryption_method: Option<u32>,
    /// 0 the operating system's volume, 1 a fixed data volume, 2 a removable one.
    #[serde(rename = "VolumeType")]
    pub volume_type: Option<u32>,
}

const REMEDIATION: &str = "turn BitLocker on for every fixed drive (`manage-bde -on C:`, or Settings > Privacy & \
                           security > Device encryption) and resume suspended protection (`manage-bde -protectors \
                           -enable C:`)";

/// How one volume stands.
enum Verdict {
    Encrypted,
    Exposed,
    Unknown,
}

/// The check from BitLocker's volumes, or from why they could not be read (WMI refused: not an administrator, an
/// edition without BitLocker, Wine).
pub fn check(volumes: Result<&[EncryptableVolume], &str>) -> Check {
    let volumes = match volumes {
        Ok(volumes) => volumes,
        Err(why) => {
            return unknown(CHECK, format!("BitLocker's volumes could not be read from WMI {NAMESPACE}: {why}"));
        }
    };
    // A volume without a drive letter is the boot partition of a BIOS machine ("System Reserved", which BitLocker
    // leaves plain because the firmware reads it) or a recovery partition: the drives people keep data on have a
    // letter, and `manage-bde -status` shows those. A volume whose type WMI leaves empty counts as fixed.
    let judged: Vec<(Verdict, String)> = volumes
        .iter()
        .filter(|v| v.volume_type != Some(2))
        .filter_map(|v| Some((v, v.drive_letter.as_deref().map(str::trim).filter(|d| !d.is_empty())?)))
        .map(|(v, letter)| judge(v, letter))
        .collect();
    if judged.is_empty() {
        return unknown(CHECK, "BitLocker reports no fixed volume with a drive letter");
    }
    let (verdicts, evidence): (Vec<Verdict>, Vec<String>) = judged.into_iter().unzip();
    if verdicts.iter().any(|v| matches!(v, Verdict::Exposed)) {
        fail(CHECK, evidence, REMEDIATION)
    } else if verdicts.iter().any(|v| matches!(v, Verdict::Unknown)) {
        unknown(CHECK, evidence.join("; "))
    } else {
        pass(CHECK, evidence)
    }
}

/// One lettered volume's verdict and its evidence line, e.g. `C: (operating system): BitLocker on, …`.
fn judge(volume: &EncryptableVolume, letter: &str) -> (Verdict, String) {
    let kind = match volume.volume_type {
        Some(0) => " (operating system)",
        Some(1) => " (fixed data drive)",
        _ => "",
    };
    let method = volume.encryption_method.and_then(method_name).map(|m| format!(", {m}")).unwrap_or_default();
    let (verdict, state) = match (volume.conversion_status, volume.protection_status) {
        (_, Some(2)) => (Verdict::Encrypted, "locked".to_string()),
        (Some(1), Some(1)) => (Verdict::Encrypted, format!("BitLocker on, fully encrypted{method}")),
        (Some(1), Some(0)) => (
            Verdict::Exposed,
            format!("fully encrypted{method} but protection is suspended: its key is stored in the clear"),
        ),
        (Some(0), _) => (Verdict::Exposed, "not encrypted".to_string()),
        (Some(2), _) => (Verdict::Exposed, "encryption in progress".to_string()),
        (Some(3), _) => (Verdict::Exposed, "decryption in progress".to_string()),
        (Some(4), _) => (Verdict::Exposed, "encryption paused".to_string()),
        (Some(5), _) => (Verdict::Exposed, "decryption paused".to_string()),
        (conversion, protection) => (
            Verdict::Unknown,
            format!("BitLocker gave no known state (conversion {conversion:?}, protection {protection:?})"),
        ),
    };
    (verdict, format!("{letter}{kind}: {state}"))
}

/// `EncryptionMethod` as `manage-bde` names it.
fn method_name(method: u32) -> Option<&'static str> {
    Some(match method {
        1 => "AES 128 with Diffuser",
        2 => "AES 256 with Diffuser",
        3 => "AES 128",
        4 => "AES 256",
        5 => "hardware encryption",
        6 => "XTS-AES 128",
        7 => "XTS-AES 256",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use muster_shared::v1::CheckStatus;

    use super::*;

    /// The volumes of `wmic /namespace:\\root\cimv2\security\microsoftvolumeencryption path Win32_EncryptableVolume
    /// get /format:list` output, as WMI would hand them to the probe.
    fn wmic(name: &str) -> Vec<EncryptableVolume> {
        super::super::wmic::records(name)
            .iter()
            .map(|record| {
                let field = |name: &str| record.get(name).cloned();
                let number = |name: &str| field(name).map(|v| v.parse::<u32>().unwrap());
                EncryptableVolume {
                    device_id: field("DeviceID"),
                    drive_letter: field("DriveLetter"),
                    protection_status: number("ProtectionStatus"),
                    conversion_status: number("ConversionStatus"),
                    encryption_method: number("EncryptionMethod"),
                    volume_type: number("VolumeType"),
                }
            })
            .collect()
    }

    #[test]
    fn a_real_machines_encrypted_system_drive_passes() {
        let volumes = wmic("win10-crypt-Win32_EncryptableVolume.wmi");
        assert_eq!(
            volumes,
            [EncryptableVolume {
                device_id: Some(r"\\?\Volume{603eeb71-3202-4b56-86e9-46e56b970dce}\".into()),
                drive_letter: Some("C:".into()),
                protection_status: Some(1),
                conversion_status: Some(1),
                encryption_method: Some(4),
                volume_type: Some(0),
            }]
        );
        let checked = check(Ok(&volumes));
        assert_eq!(checked.status, CheckStatus::Pass);
        assert_eq!(checked.evidence, ["C: (operating system): BitLocker on, fully encrypted, AES 256"]);
    }

    #[test]
    fn suspended_missing_or_unfinished_encryption_fails() {
        let real = wmic("win10-crypt-Win32_EncryptableVolume.wmi").remove(0);
        let suspended = EncryptableVolume { protection_status: Some(0), ..real.clone() };
        let checked = check(Ok(&[suspended]));
        assert_eq!(checked.status, CheckStatus::Fail);
        assert_eq!(
            checked.evidence,
            [
                "C: (operating system): fully encrypted, AES 256 but protection is suspended: its key is stored in the clear"
            ]
        );
        assert!(checked.remediation.unwrap().contains("manage-bde -protectors -enable"));
        // A plain data drive beside the encrypted system drive fails the check; a plain USB stick does not.
        let data = EncryptableVolume {
            drive_letter: Some("D:".into()),
            protection_status: Some(0),
            conversion_status: Some(0),
            encryption_method: Some(0),
            volume_type: Some(1),
            ..real.clone()
        };
        let stick = EncryptableVolume { drive_letter: Some("E:".into()), volume_type: Some(2), ..data.clone() };
        let checked = check(Ok(&[real.clone(), data.clone(), stick.clone()]));
        assert_eq!(checked.status, CheckStatus::Fail);
        assert_eq!(
            checked.evidence,
            ["C: (operating system): BitLocker on, fully encrypted, AES 256", "D: (fixed data drive): not encrypted"]
        );
        assert_eq!(check(Ok(&[real.clone(), stick])).status, CheckStatus::Pass);
        // A BIOS machine's plain "System Reserved" boot partition has no drive letter and does not count.
        let reserved = EncryptableVolume {
            device_id: Some(r"\\?\Volume{0b1c2d3e-0000-0000-0000-100000000000}\".into()),
            drive_letter: None,
            volume_type: Some(1),
            ..data.clone()
        };
        let checked = check(Ok(&[real.clone(), reserved]));
        assert_eq!((checked.status, checked.evidence.len()), (CheckStatus::Pass, 1));
        let encrypting = EncryptableVolume { conversion_status: Some(2), protection_status: Some(0), ..real.clone() };
        assert_eq!(check(Ok(&[encrypting])).evidence, ["C: (operating system): encryption in progress"]);
        let locked = EncryptableVolume { protection_status: Some(2), ..data };
        assert_eq!(check(Ok(&[real, locked])).status, CheckStatus::Pass);
    }

    #[test]
    fn what_cannot_be_read_is_unknown() {
        let checked = check(Err("0x8004100E"));
        assert_eq!(checked.status, CheckStatus::Unknown);
        assert_eq!(
            checked.reason.as_deref(),
            Some(
                r"BitLocker's volumes could not be read from WMI ROOT\CIMV2\Security\MicrosoftVolumeEncryption: 0x8004100E"
            )
        );
        assert_eq!(check(Ok(&[])).reason.as_deref(), Some("BitLocker reports no fixed volume with a drive letter"));
        let unlettered = EncryptableVolume { device_id: Some("x".into()), volume_type: Some(0), ..Default::default() };
        assert_eq!(
            check(Ok(&[unlettered])).reason.as_deref(),
            Some("BitLocker reports no fixed volume with a drive letter")
        );
        let blank = EncryptableVolume { drive_letter: Some("C:".into()), ..Default::default() };
        let checked = check(Ok(&[blank]));
        assert_eq!(checked.status, CheckStatus::Unknown);
        assert_eq!(
            checked.reason.as_deref(),
            Some("C:: BitLocker gave no known state (conversion None, protection None)")
        );
    }
}

//! Who may open the state directory on Windows, decided from its access-control list: the Windows form of the
//! Unix rule that the directory holding the host token is private (mode 0700, refused when wider).
//!
//! On Windows the directory is created with a protected list granting full control to SYSTEM and Administrators only
//! (the service runs as SYSTEM; an administrator enrols). The directory's owner may be listed too: an owner can always
//! rewrite the list, so an entry for it grants nothing new (the Unix rule, too, is "its owner only"). Any other
//! principal allowed in, or no list at all (a NULL DACL grants everyone everything), means someone widened it and
//! should know, so the agent refuses it rather than tightening it silently. The Windows calls that read the list live
//! in `access_windows.rs`; this part is pure so it is tested on every OS.

use std::path::{Path, PathBuf};

/// SYSTEM, the account the agent's service runs as.
pub const SYSTEM: &str = "S-1-5-18";
/// BUILTIN\Administrators.
pub const ADMINISTRATORS: &str = "S-1-5-32-544";
/// CREATOR OWNER: an inherit-only entry for it gives a new file's owner access to that file, not the directory.
const CREATOR_OWNER: &str = "S-1-3-0";

/// The security descriptor (SDDL) the state directory is created with: protected (no inherited entries) and full
/// control, inherited by every file and subdirectory, for SYSTEM and Administrators.
pub const STATE_DIR_SDDL: &str = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

/// One entry of a directory's DACL as the agent judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    /// The principal, as a SID string (`S-1-5-32-545`); for an entry type the agent does not decode, a
    /// description of the type.
    pub sid: String,
    /// An allow entry (deny entries only narrow access and are never a reason to refuse).
    pub allow: bool,
    /// The access mask granted or denied.
    pub mask: u32,
    /// The entry applies only to files and directories created inside, not to the directory itself.
    pub inherit_only: bool,
}

/// Why a state directory's list is wider than SYSTEM and Administrators.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "state directory {path} {grant}; it holds the host token and must be reachable by SYSTEM and Administrators only \
     (run `icacls \"{path}\" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F`, then remove the \
     other entries icacls lists)",
    path = path.display()
)]
pub struct TooOpen {
    pub path: PathBuf,
    pub grant: String,
}

/// Checks a directory's DACL (`None` is a NULL DACL) given its owner's SID. Allowed: SYSTEM, Administrators, the
/// owner, and CREATOR OWNER entries that only apply to new children (their owner is whoever may already write here).
pub fn check_dir_acl(path: &Path, owner: Option<&str>, dacl: Option<&[AccessEntry]>) -> Result<(), TooOpen> {
    let Some(entries) = dacl else {
        return Err(TooOpen {
            path: path.to_path_buf(),
            grant: "has no access list (everyone has full control)".into(),
        });
    };
    let wider: Vec<String> = entries
        .iter()
        .filter(|e| e.allow && e.mask != 0)
        .filter(|e| e.sid != SYSTEM && e.sid != ADMINISTRATORS && Some(e.sid.as_str()) != owner)
        .filter(|e| !(e.inherit_only && e.sid == CREATOR_OWNER))
        .map(|e| format!("{} ({})", e.sid, well_known_name(&e.sid).unwrap_or("another account or group")))
        .collect();
    if wider.is_empty() {
        return Ok(());
    }
    Err(TooOpen { path: path.to_path_buf(), grant: format!("also grants access to {}", wider.join(", ")) })
}

/// Names of the well-known SIDs that typically widen a directory, for the error message.
fn well_known_name(sid: &str) -> Option<&'static str> {
    Some(match sid {
        "S-1-1-0" => "Everyone",
        "S-1-5-11" => "Authenticated Users",
        "S-1-5-32-545" => "Users",
        "S-1-5-32-546" => "Guests",
        "S-1-5-4" => "INTERACTIVE",
        "S-1-3-0" => "CREATOR OWNER",
        "S-1-5-32-547" => "Power Users",
        "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464" => "TrustedInstaller",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(sid: &str, mask: u32, inherit_only: bool) -> AccessEntry {
        AccessEntry { sid: sid.to_string(), allow: true, mask, inherit_only }
    }

    /// FILE_ALL_ACCESS, what `FA` in SDDL grants.
    const FULL: u32 = 0x001F_01FF;
    /// FILE_GENERIC_READ | FILE_GENERIC_EXECUTE, what `icacls /grant Users:(RX)` grants.
    const READ_EXECUTE: u32 = 0x0012_00A9;

    #[test]
    fn system_and_administrators_only_is_private() {
        let dir = Path::new(r"C:\ProgramData\Muster\agent");
        let entries = [allow(SYSTEM, FULL, false), allow(ADMINISTRATORS, FULL, false)];
        assert_eq!(check_dir_acl(dir, None, Some(&entries)), Ok(()));
        // A deny entry for anyone narrows access further.
        let denied =
            [entries[0].clone(), AccessEntry { sid: "S-1-1-0".into(), allow: false, mask: FULL, inherit_only: false }];
        assert_eq!(check_dir_acl(dir, None, Some(&denied)), Ok(()));
        // So does an empty list (nobody but the owner's implicit rights).
        assert_eq!(check_dir_acl(dir, None, Some(&[])), Ok(()));
        // The owner's own entry: what Wine reports for a directory its user created, and what a directory an
        // administrator created by hand may carry.
        let owner = "S-1-5-21-1004336348-1177238915-682003330-1001";
        let owned = [allow(SYSTEM, FULL, false), allow(owner, FULL, false)];
        assert_eq!(check_dir_acl(dir, Some(owner), Some(&owned)), Ok(()));
        assert!(check_dir_acl(dir, Some(SYSTEM), Some(&owned)).is_err(), "another account's entry is refused");
    }

    #[test]
    fn users_or_everyone_or_no_list_are_refused_with_the_fix() {
        let dir = Path::new(r"C:\ProgramData\Muster\agent");
        // What ProgramData hands down by default: Users may read and execute (and create files).
        let inherited = [
            allow(SYSTEM, FULL, false),
            allow(ADMINISTRATORS, FULL, false),
            allow(CREATOR_OWNER, 0x1000_0000, true),
            allow("S-1-5-32-545", READ_EXECUTE, false),
        ];
        let err = check_dir_acl(dir, None, Some(&inherited)).unwrap_err();
        assert_eq!(err.grant, "also grants access to S-1-5-32-545 (Users)");
        let message = err.to_string();
        assert!(message.starts_with(r"state directory C:\ProgramData\Muster\agent also grants access to S-1-5-32-545"));
        assert!(message.contains(r#"icacls "C:\ProgramData\Muster\agent" /inheritance:r"#), "{message}");

        let everyone =
            [allow(SYSTEM, FULL, false), allow("S-1-1-0", FULL, false), allow("S-1-5-21-1-2-3-1001", 1, false)];
        assert_eq!(
            check_dir_acl(dir, None, Some(&everyone)).unwrap_err().grant,
            "also grants access to S-1-1-0 (Everyone), S-1-5-21-1-2-3-1001 (another account or group)"
        );
        // CREATOR OWNER on the directory itself (not inherit-only) is access for whoever owns it: refused.
        let owner_here = [allow(CREATOR_OWNER, FULL, false)];
        assert!(check_dir_acl(dir, None, Some(&owner_here)).is_err());
        assert_eq!(check_dir_acl(dir, None, None).unwrap_err().grant, "has no access list (everyone has full control)");
    }
}

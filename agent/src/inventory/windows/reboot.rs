//! Whether Windows waits for a restart, from the registry flags Microsoft documents for it, interpreted purely so the
//! live probe and the tests on real exports share the rules.
//!
//! Three places say it: the servicing stack's `Component Based Servicing\RebootPending` key (an update or feature
//! staged by CBS), Windows Update's `WindowsUpdate\Auto Update\RebootRequired` key, and the Session Manager's
//! `PendingFileRenameOperations` value (files in use replaced or deleted at the next start, by installers as well as
//! by updates). The two keys mean "pending" by merely existing; the value only when it names an operation.

use std::collections::BTreeMap;

use muster_shared::v1::RebootRequired;

use super::RegValue;

pub const CBS_REBOOT_PENDING: &str =
    r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending";
pub const WU_REBOOT_REQUIRED: &str =
    r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired";
pub const SESSION_MANAGER: &str = r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager";
/// The Session Manager values holding pending renames (the second is used when the first is full or locked).
pub const PENDING_RENAME_VALUES: [&str; 2] = ["PendingFileRenameOperations", "PendingFileRenameOperations2"];

/// What the registry holds of the three flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebootFlags {
    /// The CBS `RebootPending` key exists.
    pub cbs_reboot_pending: bool,
    /// Windows Update's `RebootRequired` key exists.
    pub wu_reboot_required: bool,
    /// The Session Manager key's values (only the pending-rename ones are looked at).
    pub session_manager: BTreeMap<String, RegValue>,
    /// A flag could not be read (other than by being absent): "no restart" cannot be said then.
    pub unreadable: bool,
}

/// The patches section's reboot state. `reasons` name each flag found, as the Linux flag files are named; `packages`
/// stays empty, as no flag says which update asked for the restart. `None` when no flag was found but one could
/// not be read.
pub fn reboot_required(flags: &RebootFlags) -> Option<RebootRequired> {
    let mut reasons = Vec::new();
    if flags.cbs_reboot_pending {
        reasons.push(CBS_REBOOT_PENDING.to_string());
    }
    if flags.wu_reboot_required {
        reasons.push(WU_REBOOT_REQUIRED.to_string());
    }
    for name in PENDING_RENAME_VALUES {
        let count = pending_renames(flags.session_manager.get(name));
        if count > 0 {
            reasons.push(format!(r"{SESSION_MANAGER}\{name}: {count} file operation(s)"));
        }
    }
    if reasons.is_empty() && flags.unreadable {
        return None;
    }
    Some(RebootRequired { required: !reasons.is_empty(), reasons, packages: Vec::new() })
}

/// The number of operations a pending-rename value holds: pairs of strings, the source (`\??\C:\...`) and the
/// destination, empty for a deletion. `MoveFileEx` writes a REG_MULTI_SZ; an odd trailing source still counts.
fn pending_renames(value: Option<&RegValue>) -> usize {
    let strings: &[String] = match value {
        Some(RegValue::MultiSz(strings)) => strings,
        _ => return 0,
    };
    // Sources are never empty, destinations may be: count the sources, which sit at even positions.
    strings.iter().step_by(2).filter(|s| !s.is_empty()).count()
}

//! `accounts.guest` on Windows: the built-in Guest account (relative id 501, whatever it was renamed to) must be
//! disabled, as CIS and Microsoft's security baseline require: enabled, it lets anyone sign in without a password of
//! their own. Pure: the probe lists the local accounts (`NetUserEnum` level 20) into [`LocalAccount`]s.

use muster_shared::v1::Check;

use crate::checks::{fail, pass, unknown};

pub const CHECK: &str = "accounts.guest";
/// `DOMAIN_USER_RID_GUEST`: the Guest account's relative id on every Windows, renamed or not.
pub const GUEST_RID: u32 = 501;
/// `UF_ACCOUNTDISABLE` among an account's flags.
pub const ACCOUNT_DISABLED: u32 = 0x0002;

/// One local account as `NetUserEnum` level 20 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAccount {
    pub name: String,
    /// The last part of its SID (500 Administrator, 501 Guest, 1000 and up people's accounts).
    pub rid: u32,
    pub flags: u32,
}

/// The check from the local accounts, or from why they could not be listed.
pub fn check(accounts: Result<&[LocalAccount], &str>) -> Check {
    let accounts = match accounts {
        Ok(accounts) => accounts,
        Err(why) => return unknown(CHECK, format!("the local accounts could not be listed (NetUserEnum): {why}")),
    };
    let Some(guest) = accounts.iter().find(|a| a.rid == GUEST_RID) else {
        // Every Windows has it (it cannot be deleted, only renamed); a list without it is not a whole list.
        return unknown(
            CHECK,
            format!("no account with relative id {GUEST_RID} among {} local accounts", accounts.len()),
        );
    };
    if guest.flags & ACCOUNT_DISABLED != 0 {
        pass(CHECK, vec![format!("{} (relative id {GUEST_RID}): disabled", guest.name)])
    } else {
        fail(
            CHECK,
            vec![format!("{} (relative id {GUEST_RID}): enabled", guest.name)],
            &format!(
                "disable the Guest account (`net user \"{}\" /active:no`, or Group Policy: Security Options > Accounts: Guest account status)",
                guest.name
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use muster_shared::v1::CheckStatus;

    use super::*;

    /// A fresh Windows 10's local accounts as they stand after setup, with the flag values `NetUserEnum` documents:
    /// the built-in Administrator and Guest disabled, DefaultAccount and WDAGUtilityAccount disabled, the person's
    /// account active (UF_SCRIPT and UF_NORMAL_ACCOUNT are always set; Guest also has UF_PASSWD_NOTREQD and
    /// UF_PASSWD_CANT_CHANGE).
    fn fresh() -> Vec<LocalAccount> {
        let normal = 0x0001 | 0x0200;
        vec![
            LocalAccount { name: "Administrator".into(), rid: 500, flags: normal | ACCOUNT_DISABLED },
            LocalAccount { name: "DefaultAccount".into(), rid: 503, flags: normal | ACCOUNT_DISABLED },
            LocalAccount { name: "Guest".into(), rid: 501, flags: normal | ACCOUNT_DISABLED | 0x0020 | 0x0040 },
            LocalAccount { name: "WDAGUtilityAccount".into(), rid: 504, flags: normal | ACCOUNT_DISABLED },
            LocalAccount { name: "alice".into(), rid: 1001, flags: normal },
        ]
    }

    #[test]
    fn a_disabled_guest_passes_and_an_enabled_one_fails_under_any_name() {
        let accounts = fresh();
        let checked = check(Ok(&accounts));
        assert_eq!(checked.status, CheckStatus::Pass);
        assert_eq!(checked.evidence, ["Guest (relative id 501): disabled"]);
        // Renamed, as hardening guides once advised, and turned on.
        let mut accounts = fresh();
        accounts[2] = LocalAccount { name: "Invité".into(), rid: 501, flags: 0x0001 | 0x0200 };
        let checked = check(Ok(&accounts));
        assert_eq!(checked.status, CheckStatus::Fail);
        assert_eq!(checked.evidence, ["Invité (relative id 501): enabled"]);
        assert!(checked.remediation.unwrap().contains(r#"net user "Invité" /active:no"#));
    }

    #[test]
    fn an_unreadable_or_incomplete_list_is_unknown() {
        let checked = check(Err("level 20 failed with status 124"));
        assert_eq!(checked.status, CheckStatus::Unknown);
        assert_eq!(
            checked.reason.as_deref(),
            Some("the local accounts could not be listed (NetUserEnum): level 20 failed with status 124")
        );
        let mut accounts = fresh();
        accounts.retain(|a| a.rid != GUEST_RID);
        assert_eq!(
            check(Ok(&accounts)).reason.as_deref(),
            Some("no account with relative id 501 among 4 local accounts")
        );
        // Wine 8 lists only the signed-in user (relative id 1000 in its prefix).
        let wine = [LocalAccount { name: "root".into(), rid: 1000, flags: 0x0201 }];
        let checked = check(Ok(&wine));
        assert_eq!(checked.status, CheckStatus::Unknown);
        assert_eq!(checked.reason.as_deref(), Some("no account with relative id 501 among 1 local accounts"));
    }
}

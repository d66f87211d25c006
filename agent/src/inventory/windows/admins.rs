//! Who holds administrative rights on a Windows machine: the members of its built-in Administrators group
//! (S-1-5-32-544, whatever the system's language calls it), made into the host's `accounts` as Linux's are, so the
//! console's account list and rules over `host.accounts` (`admin`, `admin_evidence`) answer for Windows too. Local
//! accounts come from `NetUserEnum`, the group's members from `NetLocalGroupGetMembers`; members that are not local
//! accounts (a domain's users and groups, Microsoft Entra ID's) are listed as well, since they are who else can
//! administer the machine. Pure: the probe gathers [`Member`]s and [`LocalAccount`]s, the tests build them.
//!
//! Windows has no uid or gid: `uid` is the account's relative id (the last part of its SID: 500 the built-in
//! Administrator, 1000 and up people's accounts) and `gid` is 0. A member group's own members (a domain's Domain
//! Admins) are the directory's to list, not the machine's; the evidence says it is a group.

use std::collections::BTreeSet;

use muster_shared::v1::Account;

use super::guest::{ACCOUNT_DISABLED, LocalAccount};

/// The Administrators group's SID on every Windows (BUILTIN\Administrators).
pub const ADMINISTRATORS_SID: &str = "S-1-5-32-544";

/// What kind of account a group member is (`SID_NAME_USE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    User,
    Group,
    WellKnownGroup,
    /// A member whose account was deleted: its SID stays in the group, without a name.
    Deleted,
    /// Anything else, including a SID the machine cannot resolve (`SidTypeUnknown`), as Entra ID's role SIDs are.
    Other,
}

impl MemberKind {
    /// From `SID_NAME_USE` (`SidTypeUser` 1, `SidTypeGroup` 2, `SidTypeAlias` 4, `SidTypeWellKnownGroup` 5,
    /// `SidTypeDeletedAccount` 6).
    pub fn from_sid_name_use(value: i32) -> MemberKind {
        match value {
            1 => MemberKind::User,
            2 | 4 => MemberKind::Group,
            5 => MemberKind::WellKnownGroup,
            6 => MemberKind::Deleted,
            _ => MemberKind::Other,
        }
    }
}

/// One member of the Administrators group as `NetLocalGroupGetMembers` level 2 gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `DOMAIN\name` (the machine's own name as the domain for local accounts, `AzureAD\` for Entra ID users).
    pub name: String,
    /// The member's SID in its string form (`S-1-5-21-…-1001`).
    pub sid: String,
    pub kind: MemberKind,
}

impl Member {
    /// The last part of its SID, the relative id; 0 where there is none (well-known SIDs such as S-1-5-18 have one
    /// part after the authority, which is not a relative id in any domain).
    fn rid(&self) -> u32 {
        let parts: Vec<&str> = self.sid.split('-').collect();
        if parts.len() <= 4 { 0 } else { parts.last().and_then(|p| p.parse().ok()).unwrap_or(0) }
    }

    /// The domain of `DOMAIN\name`.
    fn domain(&self) -> Option<&str> {
        self.name.split_once('\\').map(|(domain, _)| domain)
    }
}

/// The members as listed, or why they cannot be trusted: Windows refuses to remove the built-in Administrator
/// (relative id 500) from the group, so a listing without any member is not the group's (Wine's answer is one).
pub fn listed(group: &str, members: Vec<Member>) -> Result<Vec<Member>, String> {
    if members.is_empty() {
        return Err(format!("{group} listed no members, not even the built-in Administrator Windows keeps in it"));
    }
    Ok(members)
}

/// The host's accounts: every local account, `admin` when it is a member of the Administrators group (named
/// `group`), then every other member of that group (domain or Entra ID users and groups, a deleted account's
/// lingering SID) as an account of its own, `DOMAIN\name`. A member is a local account when its SID is that
/// account's: `account_domain` (the machine's own accounts' domain SID; on a domain controller the domain's) and
/// its relative id. Names are not compared, since a domain controller's own accounts carry the domain's name.
pub fn accounts(local: &[LocalAccount], account_domain: &str, group: &str, members: &[Member]) -> Vec<Account> {
    let sid_of = |account: &LocalAccount| format!("{account_domain}-{}", account.rid);
    let member_sids: BTreeSet<&str> = members.iter().map(|m| m.sid.as_str()).collect();
    let local_sids: BTreeSet<String> = local.iter().map(sid_of).collect();
    let mut out: Vec<Account> = local
        .iter()
        .map(|account| {
            let member = member_sids.contains(sid_of(account).as_str());
            Account {
                name: account.name.clone(),
                uid: account.rid,
                gid: 0,
                home: None,
                shell: None,
                interactive: account.flags & ACCOUNT_DISABLED == 0,
                groups: if member { vec![group.to_owned()] } else { Vec::new() },
                admin: member,
                admin_evidence: if member { vec![format!("member of {group}")] } else { Vec::new() },
                last_login: None,
            }
        })
        .collect();
    for member in members.iter().filter(|m| !local_sids.contains(&m.sid)) {
        let what = match member.kind {
            MemberKind::User if member.domain().is_some_and(|d| d.eq_ignore_ascii_case("AzureAD")) => "Entra ID user",
            MemberKind::User if member.sid.starts_with(&format!("{account_domain}-")) => "local user",
            MemberKind::User => "domain user",
            MemberKind::Group if member.sid.starts_with("S-1-12-1-") => {
                "Entra ID group, whose members the directory lists"
            }
            MemberKind::Group => "group, whose members its directory lists",
            MemberKind::WellKnownGroup => "well-known group",
            // Listed rather than dropped: were Windows ever to call a live member deleted, an administrator would
            // vanish without a trace.
            MemberKind::Deleted => "deleted account",
            MemberKind::Other => "account of unknown kind",
        };
        // A deleted account or an Entra ID role has no name the machine can resolve: the SID is its name.
        let name = if member.name.is_empty() { member.sid.clone() } else { member.name.clone() };
        out.push(Account {
            name,
            uid: member.rid(),
            gid: 0,
            home: None,
            shell: None,
            interactive: member.kind != MemberKind::Deleted,
            groups: vec![group.to_owned()],
            admin: true,
            admin_evidence: vec![format!("member of {group} ({what}, {})", member.sid)],
            last_login: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::windows::wmic;

    /// The local accounts of a real machine's `Win32_UserAccount` capture, as `NetUserEnum` level 20 gives them
    /// (UF_SCRIPT | UF_NORMAL_ACCOUNT, and UF_ACCOUNTDISABLE where disabled), and the machine's name and account
    /// domain SID.
    fn local(capture: &str) -> (Vec<LocalAccount>, String, String) {
        let records: Vec<_> = wmic::records(capture).into_iter().filter(|r| r.contains_key("SID")).collect();
        let computer = records[0]["Domain"].clone();
        let domain_sid = records[0]["SID"].rsplit_once('-').unwrap().0.to_owned();
        let accounts = records
            .iter()
            .map(|r| LocalAccount {
                name: r["Name"].clone(),
                rid: r["SID"].rsplit('-').next().unwrap().parse().unwrap(),
                flags: 0x0201 | if wmic::boolean(&r["Disabled"]) { ACCOUNT_DISABLED } else { 0 },
            })
            .collect();
        (accounts, computer, domain_sid)
    }

    fn member(name: &str, sid: &str, kind: MemberKind) -> Member {
        Member { name: name.to_owned(), sid: sid.to_owned(), kind }
    }

    fn summary(accounts: &[Account]) -> Vec<(&str, u32, bool, bool)> {
        accounts.iter().map(|a| (a.name.as_str(), a.uid, a.interactive, a.admin)).collect()
    }

    #[test]
    fn a_workgroup_machine_s_administrators_are_its_built_in_account_and_the_one_made_at_setup() {
        let (local, computer, sid) = local("10-StandAlone-Win32_UserAccount.wmi");
        assert_eq!((computer.as_str(), sid.as_str()), ("XPS-FUSIONINVEN", "S-1-5-21-407181654-3485178747-2417891341"));
        let members = [
            member(&format!("{computer}\\Administrateur"), &format!("{sid}-500"), MemberKind::User),
            member(&format!("{computer}\\teclib"), &format!("{sid}-1001"), MemberKind::User),
        ];
        let accounts = accounts(&local, &sid, "Administrateurs", &members);
        assert_eq!(
            summary(&accounts),
            [
                ("Administrateur", 500, false, true),
                ("DefaultAccount", 503, false, false),
                ("Invité", 501, false, false),
                ("teclib", 1001, true, true),
            ]
        );
        assert_eq!(accounts[3].admin_evidence, ["member of Administrateurs"]);
        assert_eq!(accounts[3].groups, ["Administrateurs"]);
        assert!(accounts[2].admin_evidence.is_empty() && accounts[2].groups.is_empty());
        // An empty listing, Wine 8's answer, is not believed (the probe then reports no accounts, and why).
        assert_eq!(
            listed("Administrators", Vec::new()),
            Err("Administrators listed no members, not even the built-in Administrator Windows keeps in it".to_owned())
        );
        assert_eq!(listed("Administrateurs", members.to_vec()).map(|m| m.len()), Ok(2));
    }

    #[test]
    fn a_domain_member_lists_the_domain_s_administrators_beside_its_own() {
        let (local, computer, sid) = local("7-AD-Win32_UserAccount.wmi");
        assert_eq!(computer, "WIN110S777");
        let members = [
            member(
                &format!("{computer}\\Administrateur"),
                "S-1-5-21-115688116-1377296920-1994510132-500",
                MemberKind::User,
            ),
            member("TECLIB\\Admins du domaine", "S-1-5-21-1004336348-1177238915-682003330-512", MemberKind::Group),
            member("TECLIB\\helpdesk", "S-1-5-21-1004336348-1177238915-682003330-1107", MemberKind::User),
            // A removed account's SID lingers in the group; listed, so nothing vanishes unseen.
            member("", "S-1-5-21-1004336348-1177238915-682003330-1203", MemberKind::Deleted),
        ];
        let accounts = accounts(&local, &sid, "Administrateurs", &members);
        assert_eq!(
            summary(&accounts),
            [
                ("Administrateur", 500, true, true),
                ("Invité", 501, false, false),
                ("TECLIB\\Admins du domaine", 512, true, true),
                ("TECLIB\\helpdesk", 1107, true, true),
                ("S-1-5-21-1004336348-1177238915-682003330-1203", 1203, false, true),
            ]
        );
        assert_eq!(
            accounts[4].admin_evidence,
            ["member of Administrateurs (deleted account, S-1-5-21-1004336348-1177238915-682003330-1203)"]
        );
        // The domain's Administrator (relative id 500 too) is not the machine's: the SIDs differ.
        let domain_admin =
            member("TECLIB\\Administrator", "S-1-5-21-1004336348-1177238915-682003330-500", MemberKind::User);
        let with = super::accounts(&local, &sid, "Administrateurs", &[domain_admin]);
        assert_eq!(summary(&with)[0], ("Administrateur", 500, true, false));
        assert_eq!(summary(&with)[2], ("TECLIB\\Administrator", 500, true, true));
        assert_eq!(
            accounts[2].admin_evidence,
            ["member of Administrateurs (group, whose members its directory lists, \
                 S-1-5-21-1004336348-1177238915-682003330-512)"]
        );
        assert_eq!(
            accounts[3].admin_evidence,
            ["member of Administrateurs (domain user, S-1-5-21-1004336348-1177238915-682003330-1107)"]
        );
    }

    #[test]
    fn an_entra_id_join_adds_its_user_and_the_role_sids_the_machine_cannot_name() {
        let (local, computer, sid) = local("10-StandAlone-Win32_UserAccount.wmi");
        let members = [
            member(
                &format!("{computer}\\Administrateur"),
                "S-1-5-21-407181654-3485178747-2417891341-500",
                MemberKind::User,
            ),
            member("AzureAD\\ClaireMartin", "S-1-12-1-1778064242-1251273316-772277320-2482684374", MemberKind::User),
            // The Global Administrator and Device Administrator roles: SIDs without a name on the machine.
            member("", "S-1-12-1-3367164011-1231458361-2473478307-2452716063", MemberKind::Other),
        ];
        let accounts = accounts(&local, &sid, "Administrateurs", &members);
        let extra: Vec<_> = accounts[4..].iter().map(|a| (a.name.as_str(), a.admin_evidence[0].as_str())).collect();
        assert_eq!(
            extra,
            [
                (
                    "AzureAD\\ClaireMartin",
                    "member of Administrateurs (Entra ID user, S-1-12-1-1778064242-1251273316-772277320-2482684374)"
                ),
                (
                    "S-1-12-1-3367164011-1231458361-2473478307-2452716063",
                    "member of Administrateurs (account of unknown kind, \
                     S-1-12-1-3367164011-1231458361-2473478307-2452716063)"
                ),
            ]
        );
        // On a domain controller the machine's accounts are the domain's and carry its name; the SID still says
        // which they are.
        let dc = [member("TECLIB\\Administrateur", "S-1-5-21-407181654-3485178747-2417891341-500", MemberKind::User)];
        let on_dc = super::accounts(&local, &sid, "Administrateurs", &dc);
        assert_eq!(on_dc.len(), local.len());
        assert_eq!(summary(&on_dc)[0], ("Administrateur", 500, false, true));
        // A well-known SID has no relative id.
        assert_eq!(member("NT AUTHORITY\\SYSTEM", "S-1-5-18", MemberKind::WellKnownGroup).rid(), 0);
    }
}

//! `password.max_days` and `password.lockout` on Windows, from the local account policy `net accounts` prints
//! (`NetUserModalsGet` levels 0 and 3), judged by the same limits as Linux's login.defs and PAM checks, so one
//! policy rule covers both. Pure: the probe reads the two structures' fields, each level on its own.
//!
//! On a domain member this is the machine's own policy, which applies to its local accounts (the domain's password
//! policy governs domain accounts and is the domain controller's to report).

use muster_shared::v1::Check;

use crate::checks::accounts::{MAX_DAYS, MAX_DAYS_LIMIT};
use crate::checks::lockout::{LOCKOUT, MAX_DENY};
use crate::checks::{fail, pass, unknown};

/// `TIMEQ_FOREVER`: a password that never expires.
pub const NEVER: u32 = u32::MAX;
const DAY: u32 = 86_400;

/// The lockout half of the local account policy (`NetUserModalsGet` level 3); the other half is level 0's
/// `usrmod0_max_passwd_age`, in seconds, [`NEVER`] when passwords never expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// `usrmod3_lockout_threshold`: failed logons before the account locks; 0 never locks.
    pub threshold: u32,
    /// `usrmod3_lockout_duration`, seconds; [`NEVER`] until an administrator unlocks it.
    pub duration: u32,
}

/// Both checks, each from its half of the policy (levels 0 and 3 are read apart), or unknown with why that half
/// could not be read.
pub fn checks(ages: Result<u32, &str>, lockout_policy: Result<Lockout, &str>) -> Vec<Check> {
    let unreadable = |id: &str, why: &str| {
        unknown(id, format!("the local account policy could not be read (NetUserModalsGet): {why}"))
    };
    vec![
        ages.map_or_else(|why| unreadable(MAX_DAYS, why), max_days),
        lockout_policy.map_or_else(|why| unreadable(LOCKOUT, why), lockout),
    ]
}

fn max_days(max_password_age: u32) -> Check {
    const REMEDIATION: &str = "set the maximum password age to 365 days or less (`net accounts /maxpwage:365`, or \
                               Group Policy: Account Policies > Password Policy > Maximum password age)";
    // The API takes no age under a day; 0 is treated like never, as `net accounts` does.
    if max_password_age == NEVER || max_password_age == 0 {
        return fail(MAX_DAYS, vec!["Maximum password age (days): Unlimited".into()], REMEDIATION);
    }
    let days = i64::from(max_password_age / DAY);
    let evidence = vec![format!("Maximum password age (days): {days}")];
    if days <= MAX_DAYS_LIMIT { pass(MAX_DAYS, evidence) } else { fail(MAX_DAYS, evidence, REMEDIATION) }
}

fn lockout(policy: Lockout) -> Check {
    const REMEDIATION: &str = "lock accounts after 5 failed logons or fewer (`net accounts /lockoutthreshold:5`, or \
                               Group Policy: Account Policies > Account Lockout Policy > Account lockout threshold)";
    let threshold = policy.threshold;
    if threshold == 0 {
        return fail(LOCKOUT, vec!["Lockout threshold: Never".into()], REMEDIATION);
    }
    let duration = match policy.duration {
        NEVER => "until an administrator unlocks it".to_string(),
        seconds => format!("for {} minutes", seconds / 60),
    };
    let evidence = vec![format!("Lockout threshold: {threshold} (the account locks {duration})")];
    if threshold <= MAX_DENY { pass(LOCKOUT, evidence) } else { fail(LOCKOUT, evidence, REMEDIATION) }
}

#[cfg(test)]
mod tests {
    use muster_shared::v1::CheckStatus;

    use super::*;

    fn statuses(checks: &[Check]) -> Vec<(&str, CheckStatus)> {
        checks.iter().map(|c| (c.id.as_str(), c.status)).collect()
    }

    #[test]
    fn windows_defaults_fail_both_and_a_hardened_policy_passes() {
        // Windows 10's defaults: passwords expire after 42 days, accounts never lock.
        let checks = checks(Ok(42 * DAY), Ok(Lockout { threshold: 0, duration: 30 * 60 }));
        assert_eq!(
            statuses(&checks),
            [("password.max_days", CheckStatus::Pass), ("password.lockout", CheckStatus::Fail)]
        );
        assert_eq!(checks[0].evidence, ["Maximum password age (days): 42"]);
        assert_eq!(checks[1].evidence, ["Lockout threshold: Never"]);
        assert!(checks[1].remediation.as_deref().unwrap().contains("/lockoutthreshold:5"));
        // Windows 11 22H2's default of 10 attempts is more than the 5 Linux's check allows.
        let checks = super::checks(Ok(42 * DAY), Ok(Lockout { threshold: 10, duration: 10 * 60 }));
        assert_eq!(checks[1].status, CheckStatus::Fail);
        assert_eq!(checks[1].evidence, ["Lockout threshold: 10 (the account locks for 10 minutes)"]);
        let checks = super::checks(Ok(365 * DAY), Ok(Lockout { threshold: 5, duration: NEVER }));
        assert_eq!(
            statuses(&checks),
            [("password.max_days", CheckStatus::Pass), ("password.lockout", CheckStatus::Pass)]
        );
        assert_eq!(checks[1].evidence, ["Lockout threshold: 5 (the account locks until an administrator unlocks it)"]);
    }

    #[test]
    fn passwords_that_never_expire_or_live_over_a_year_fail() {
        let lockout = Lockout { threshold: 3, duration: 900 };
        for age in [NEVER, 0, 366 * DAY] {
            let checks = checks(Ok(age), Ok(lockout));
            assert_eq!(checks[0].status, CheckStatus::Fail, "{age}");
            assert!(checks[0].remediation.as_deref().unwrap().contains("/maxpwage:365"));
        }
        assert_eq!(checks(Ok(NEVER), Ok(lockout))[0].evidence, ["Maximum password age (days): Unlimited"]);
    }

    #[test]
    fn each_half_of_an_unreadable_policy_is_unknown_alone() {
        // What Wine 8's netapi32 answers for both levels (NERR_InternalError).
        let checks = checks(Err("level 0 failed with status 2140"), Err("level 3 failed with status 2140"));
        assert_eq!(
            statuses(&checks),
            [("password.max_days", CheckStatus::Unknown), ("password.lockout", CheckStatus::Unknown)]
        );
        assert_eq!(
            checks[0].reason.as_deref(),
            Some("the local account policy could not be read (NetUserModalsGet): level 0 failed with status 2140")
        );
        assert_eq!(
            checks[1].reason.as_deref(),
            Some("the local account policy could not be read (NetUserModalsGet): level 3 failed with status 2140")
        );
        // The password ages read, the lockout not: the first is still judged.
        let checks = super::checks(Ok(42 * DAY), Err("level 3 failed with status 5"));
        assert_eq!(
            statuses(&checks),
            [("password.max_days", CheckStatus::Pass), ("password.lockout", CheckStatus::Unknown)]
        );
    }
}

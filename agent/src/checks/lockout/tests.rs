//! `password.lockout` over Debian 12's and RHEL's real PAM stacks and single-line variants of them.

use muster_shared::v1::CheckStatus::{Fail, Pass};

use super::*;
use crate::checks::tests::{assert_check, edit, fixture};

const COMMON_AUTH: &str = "/etc/pam.d/common-auth";
const COMMON_ACCOUNT: &str = "/etc/pam.d/common-account";
const DEBIAN_PAM_UNIX_AUTH: &str = "auth\t[success=1 default=ignore]\tpam_unix.so nullok";
const DEBIAN_PAM_UNIX_ACCOUNT: &str = "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so ";
/// pam_faillock(8)'s layout for Debian's `[success=N]` stacks: preauth, the password, authfail on its failure path.
const DEBIAN_FAILLOCK_AUTH: &str = "auth\trequired\t\t\tpam_faillock.so preauth\nauth\t[success=2 default=ignore]\tpam_unix.so nullok\nauth\t[default=die]\t\tpam_faillock.so authfail";

fn debian(auth: &str, account: &str) -> [(String, String); 2] {
    [(COMMON_AUTH.to_string(), auth.to_string()), (COMMON_ACCOUNT.to_string(), account.to_string())]
}

fn stacks(files: &[(String, String); 2]) -> Vec<Stack<'_>> {
    vec![Stack {
        auth: Named { path: &files[0].0, text: &files[0].1 },
        account: Some(Named { path: &files[1].0, text: &files[1].1 }),
    }]
}

fn rhel<'a>(path: &'a str, text: &'a str) -> Stack<'a> {
    Stack { auth: Named { path, text }, account: Some(Named { path, text }) }
}

fn with_account_reset() -> String {
    edit(
        &fixture("debian12/common-account"),
        DEBIAN_PAM_UNIX_ACCOUNT,
        &format!("account\trequired\t\t\tpam_faillock.so\n{DEBIAN_PAM_UNIX_ACCOUNT}"),
    )
}

#[test]
fn debian_default_auth_stack_has_no_lockout() {
    let files = debian(&fixture("debian12/common-auth"), &fixture("debian12/common-account"));
    let check = lockout(&stacks(&files), Some(&fixture("debian12/faillock.conf")));
    assert_check(&check, Fail, &["/etc/pam.d/common-auth: no pam_faillock or pam_tally2 auth rule"]);
}

/// Issue 16: `preauth` alone only checks a tally nothing ever writes; the old check passed it.
#[test]
fn preauth_alone_never_locks() {
    let auth = edit(
        &fixture("debian12/common-auth"),
        DEBIAN_PAM_UNIX_AUTH,
        &format!("auth\trequisite\t\t\tpam_faillock.so preauth\n{DEBIAN_PAM_UNIX_AUTH}"),
    );
    let files = debian(&auth, &with_account_reset());
    assert_check(
        &lockout(&stacks(&files), Some(&fixture("debian12/faillock.conf"))),
        Fail,
        &["/etc/pam.d/common-auth: a wrong password is never recorded: no pam_faillock authfail (or pam_tally2) rule \
           runs after it"],
    );
}

/// An `authfail` the password module jumps over on failure, or one placed where it never runs, records nothing.
#[test]
fn an_authfail_rule_off_the_failure_path_records_nothing() {
    let auth = edit(
        &fixture("debian12/common-auth"),
        DEBIAN_PAM_UNIX_AUTH,
        // pam_unix's failure jumps (default=1) past authfail straight to pam_deny.
        "auth\trequired\t\t\tpam_faillock.so preauth\nauth\t[success=2 default=1]\tpam_unix.so nullok\nauth\t[default=die]\t\tpam_faillock.so authfail",
    );
    let files = debian(&auth, &with_account_reset());
    let check = lockout(&stacks(&files), None);
    assert_eq!(check.status, Fail);
    assert_eq!(
        check.evidence,
        ["/etc/pam.d/common-auth: a wrong password is never recorded: no pam_faillock authfail (or pam_tally2) rule \
          runs after it"]
    );
}

#[test]
fn debian_faillock_with_account_reset_takes_deny_from_faillock_conf_or_its_default() {
    let auth = edit(&fixture("debian12/common-auth"), DEBIAN_PAM_UNIX_AUTH, DEBIAN_FAILLOCK_AUTH);
    let files = debian(&auth, &with_account_reset());
    let conf = fixture("debian12/faillock.conf");
    assert_check(
        &lockout(&stacks(&files), Some(&conf)),
        Pass,
        &[
            "/etc/pam.d/common-auth:17: auth required pam_faillock.so preauth (pam_faillock default deny = 3)",
            "/etc/pam.d/common-auth:19: auth [default=die] pam_faillock.so authfail (pam_faillock default deny = 3)",
        ],
    );
    let five = edit(&conf, "# deny = 3", "deny = 5");
    assert_check(
        &lockout(&stacks(&files), Some(&five)),
        Pass,
        &[
            "/etc/pam.d/common-auth:17: auth required pam_faillock.so preauth (/etc/security/faillock.conf:32: deny = 5)",
            "/etc/pam.d/common-auth:19: auth [default=die] pam_faillock.so authfail (/etc/security/faillock.conf:32: deny = 5)",
        ],
    );
    let ten = edit(&conf, "# deny = 3", "deny = 10");
    assert_eq!(lockout(&stacks(&files), Some(&ten)).status, Fail);
    let never = edit(&conf, "# deny = 3", "deny = 0");
    assert_eq!(lockout(&stacks(&files), Some(&never)).status, Fail);
}

/// Without the account rule the lockout works, but failures are never cleared by a good login: said, not failed.
#[test]
fn a_missing_reset_is_noted() {
    let auth = edit(&fixture("debian12/common-auth"), DEBIAN_PAM_UNIX_AUTH, DEBIAN_FAILLOCK_AUTH);
    let files = debian(&auth, &fixture("debian12/common-account"));
    let check = lockout(&stacks(&files), None);
    assert_eq!(check.status, Pass);
    assert_eq!(
        check.evidence.last().map(String::as_str),
        Some(
            "note: nothing resets the failure count after a successful login (no pam_faillock authsucc in \
             /etc/pam.d/common-auth and no pam_faillock account rule in /etc/pam.d/common-account)"
        )
    );
}

#[test]
fn rhel_authselect_with_faillock_locks_after_the_default_three() {
    let system = fixture("rhel/system-auth.authselect-local-with-faillock");
    let password = fixture("rhel/password-auth.authselect-local-with-faillock");
    let both = [rhel("/etc/pam.d/system-auth", &system), rhel("/etc/pam.d/password-auth", &password)];
    assert_check(
        &lockout(&both, Some(&fixture("debian12/faillock.conf"))),
        Pass,
        &[
            "/etc/pam.d/system-auth:3: auth required pam_faillock.so preauth silent (pam_faillock default deny = 3)",
            "/etc/pam.d/system-auth:5: auth required pam_faillock.so authfail (pam_faillock default deny = 3)",
            "/etc/pam.d/password-auth:3: auth required pam_faillock.so preauth silent (pam_faillock default deny = 3)",
            "/etc/pam.d/password-auth:5: auth required pam_faillock.so authfail (pam_faillock default deny = 3)",
        ],
    );
    // Lockout on local consoles only still leaves sshd (password-auth) open.
    let without =
        edit(&password, "auth        required                                     pam_faillock.so preauth silent", "");
    let without =
        edit(&without, "auth        required                                     pam_faillock.so authfail", "");
    let check = lockout(&[rhel("/etc/pam.d/system-auth", &system), rhel("/etc/pam.d/password-auth", &without)], None);
    assert_eq!(check.status, Fail);
    assert_eq!(check.evidence, ["/etc/pam.d/password-auth: no pam_faillock or pam_tally2 auth rule"]);
    // RHEL's layout with authfail removed: preauth alone again.
    let no_authfail =
        edit(&system, "auth        required                                     pam_faillock.so authfail", "");
    assert_eq!(lockout(&[rhel("/etc/pam.d/system-auth", &no_authfail)], None).status, Fail);
}

/// The authconfig sample records failures (authfail after pam_deny) but has no preauth: once locked, the right
/// password still gets in through `sufficient pam_unix.so`, so the lock protects nothing.
#[test]
fn rhel_authconfig_sample_without_preauth_does_not_enforce_the_lock() {
    let auth = fixture("rhel/password-auth.authconfig");
    assert_check(
        &lockout(&[rhel("/etc/pam.d/password-auth", &auth)], None),
        Fail,
        &["/etc/pam.d/password-auth: a locked account still logs in with the right password: no pam_faillock \
           preauth (or pam_tally2) rule before the password check refuses it"],
    );
}

#[test]
fn rhel_authconfig_deny_on_the_rule_wins() {
    // The sample as authconfig writes it with faillock enabled: preauth before pam_unix.
    let auth = edit(
        &fixture("rhel/password-auth.authconfig"),
        "auth        required      pam_env.so",
        "auth        required      pam_env.so\nauth        required      pam_faillock.so preauth silent deny=3 unlock_time=604800 fail_interval=900",
    );
    let authfail = "auth        [default=die] pam_faillock.so authfail deny=3 unlock_time=604800 fail_interval=900";
    assert_check(
        &lockout(&[rhel("/etc/pam.d/password-auth", &auth)], Some("deny = 10\n")),
        Pass,
        &[
            "/etc/pam.d/password-auth:5: auth required pam_faillock.so preauth silent deny=3 unlock_time=604800 fail_interval=900",
            "/etc/pam.d/password-auth:9: auth [default=die] pam_faillock.so authfail deny=3 unlock_time=604800 fail_interval=900",
            "note: nothing resets the failure count after a successful login (no pam_faillock authsucc in \
             /etc/pam.d/password-auth and no pam_faillock account rule in /etc/pam.d/password-auth)",
        ],
    );
    let lax = edit(
        &auth,
        authfail,
        "auth        [default=die] pam_faillock.so authfail deny=10 unlock_time=604800 fail_interval=900",
    );
    assert_check(
        &lockout(&[rhel("/etc/pam.d/password-auth", &lax)], None),
        Fail,
        &[
            "/etc/pam.d/password-auth:9: auth [default=die] pam_faillock.so authfail deny=10 unlock_time=604800 fail_interval=900",
        ],
    );
}

#[test]
fn pam_tally2_without_deny_never_locks() {
    let auth = edit(
        &fixture("rhel/password-auth.authconfig"),
        "auth        required      pam_env.so",
        "auth        required      pam_env.so\nauth        required      pam_tally2.so onerr=fail unlock_time=1800",
    );
    let auth = edit(
        &auth,
        "auth        [default=die] pam_faillock.so authfail deny=3 unlock_time=604800 fail_interval=900",
        "",
    );
    let auth = edit(
        &auth,
        "auth        required      pam_faillock.so authsucc deny=3 unlock_time=604800 fail_interval=900",
        "",
    );
    assert_check(
        &lockout(&[rhel("/etc/pam.d/password-auth", &auth)], None),
        Fail,
        &[
            "/etc/pam.d/password-auth:5: auth required pam_tally2.so onerr=fail unlock_time=1800 (no deny: pam_tally2 never locks)",
        ],
    );
}

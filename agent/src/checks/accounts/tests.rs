//! Account and password checks over Debian 12's and RHEL's real files and single-line variants of them.

use muster_shared::v1::CheckStatus::{Fail, Pass, Unknown};

use super::*;
use crate::checks::tests::{Tree, assert_check, assert_reason, edit, find, fixture};

const GAMES_PASSWD: &str = "games:*:5:60:games:/usr/games:/usr/sbin/nologin";
const GAMES_SHADOW: &str = "games:*:20228:0:99999:7:::";

fn named<'a>(path: &'a str, text: &'a str) -> Named<'a> {
    Named { path, text }
}

#[test]
fn empty_password_fields_in_shadow_or_passwd_fail() {
    let passwd = fixture("debian12/passwd");
    let shadow = fixture("debian12/shadow");
    assert_check(
        &empty_password(&passwd, Ok(Some(&shadow))),
        Pass,
        &["no account with an empty password field in /etc/passwd and /etc/shadow"],
    );
    let locked = edit(&shadow, GAMES_SHADOW, "games:!:20228:0:99999:7:::");
    assert_eq!(empty_password(&passwd, Ok(Some(&locked))).status, Pass);

    let empty_shadow = edit(&shadow, GAMES_SHADOW, "games::20228:0:99999:7:::");
    assert_check(
        &empty_password(&passwd, Ok(Some(&empty_shadow))),
        Fail,
        &["/etc/shadow:6: account games has an empty password field"],
    );
    let empty_passwd = edit(&passwd, GAMES_PASSWD, "games::5:60:games:/usr/games:/usr/sbin/nologin");
    assert_check(
        &empty_password(&empty_passwd, Ok(Some(&shadow))),
        Fail,
        &["/etc/passwd:6: account games has an empty password field"],
    );
}

#[test]
fn an_unreadable_shadow_is_unknown_unless_passwd_already_fails() {
    let passwd = fixture("debian12/passwd");
    assert_reason(
        &empty_password(&passwd, Err("/etc/shadow: Permission denied")),
        Unknown,
        "/etc/shadow: Permission denied",
    );
    let empty_passwd = edit(&passwd, GAMES_PASSWD, "games::5:60:games:/usr/games:/usr/sbin/nologin");
    assert_eq!(empty_password(&empty_passwd, Err("/etc/shadow: Permission denied")).status, Fail);
}

#[test]
fn a_second_uid_0_account_fails() {
    let passwd = fixture("debian12/passwd");
    assert_check(&extra_uid0(&passwd), Pass, &["only root has UID 0 in /etc/passwd"]);
    let toor = edit(&passwd, GAMES_PASSWD, "games:*:0:60:games:/usr/games:/usr/sbin/nologin");
    assert_check(&extra_uid0(&toor), Fail, &["/etc/passwd:6: account games has UID 0"]);
}

#[test]
fn pass_max_days_from_login_defs() {
    let defs = fixture("debian12/login.defs");
    assert_check(&max_days(&defs), Fail, &["/etc/login.defs:165: PASS_MAX_DAYS\t99999"]);
    let year = edit(&defs, "PASS_MAX_DAYS\t99999", "PASS_MAX_DAYS\t365");
    assert_check(&max_days(&year), Pass, &["/etc/login.defs:165: PASS_MAX_DAYS\t365"]);
    let commented = edit(&defs, "PASS_MAX_DAYS\t99999", "#PASS_MAX_DAYS\t90");
    assert_check(&max_days(&commented), Fail, &["/etc/login.defs: PASS_MAX_DAYS not set (passwords never expire)"]);
}

#[test]
fn debian_hashing_is_sha512_in_login_defs_and_yescrypt_in_pam() {
    let defs = fixture("debian12/login.defs");
    let password = fixture("debian12/common-password");
    let stacks = [named("/etc/pam.d/common-password", &password)];
    assert_check(
        &hashing(Some(&defs), &stacks),
        Pass,
        &[
            "/etc/login.defs:294: ENCRYPT_METHOD SHA512",
            "/etc/pam.d/common-password:25: password [success=1 default=ignore] pam_unix.so obscure yescrypt",
        ],
    );

    let md5 = edit(
        &password,
        "password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt",
        "password\t[success=1 default=ignore]\tpam_unix.so obscure md5",
    );
    assert_check(
        &hashing(Some(&defs), &[named("/etc/pam.d/common-password", &md5)]),
        Fail,
        &["/etc/pam.d/common-password:25: password [success=1 default=ignore] pam_unix.so obscure md5"],
    );
    let des_defs = edit(&defs, "ENCRYPT_METHOD SHA512", "ENCRYPT_METHOD DES");
    assert_check(&hashing(Some(&des_defs), &stacks), Fail, &["/etc/login.defs:294: ENCRYPT_METHOD DES"]);

    // Without a method option pam_unix falls back to ENCRYPT_METHOD.
    let inherit = edit(
        &password,
        "password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt",
        "password\t[success=1 default=ignore]\tpam_unix.so obscure",
    );
    assert_check(
        &hashing(Some(&defs), &[named("/etc/pam.d/common-password", &inherit)]),
        Pass,
        &[
            "/etc/login.defs:294: ENCRYPT_METHOD SHA512",
            "/etc/pam.d/common-password:25: password [success=1 default=ignore] pam_unix.so obscure (uses ENCRYPT_METHOD)",
        ],
    );
}

#[test]
fn rhel_stacks_hash_with_yescrypt_or_sha512() {
    let authselect = fixture("rhel/system-auth.authselect-local-with-faillock");
    let authconfig = fixture("rhel/password-auth.authconfig");
    let check =
        hashing(None, &[named("/etc/pam.d/system-auth", &authselect), named("/etc/pam.d/password-auth", &authconfig)]);
    assert_check(
        &check,
        Pass,
        &[
            "/etc/pam.d/system-auth:12: password sufficient pam_unix.so yescrypt shadow nullok use_authtok",
            "/etc/pam.d/password-auth:17: password sufficient pam_unix.so sha512 shadow nullok try_first_pass use_authtok",
        ],
    );
    assert_reason(
        &hashing(None, &[]),
        Unknown,
        "neither /etc/login.defs nor a PAM password stack with pam_unix was found",
    );
}

#[test]
fn probe_reads_a_debian_root() {
    let tree = Tree::new();
    tree.file("/etc/passwd", &fixture("debian12/passwd"))
        .file("/etc/shadow", &fixture("debian12/shadow"))
        .file("/etc/login.defs", &fixture("debian12/login.defs"))
        .file("/etc/pam.d/common-auth", &fixture("debian12/common-auth"))
        .file("/etc/pam.d/common-account", &fixture("debian12/common-account"))
        .file("/etc/pam.d/common-password", &fixture("debian12/common-password"))
        .file("/etc/security/faillock.conf", &fixture("debian12/faillock.conf"));
    let mut errors = ErrorLog::new();
    let checks = probe(&tree.root(), &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    let statuses: Vec<(&str, _)> = checks.iter().map(|c| (c.id.as_str(), c.status)).collect();
    assert_eq!(
        statuses,
        [(EMPTY_PASSWORD, Pass), (EXTRA_UID0, Pass), (MAX_DAYS, Fail), (HASHING, Pass), (lockout::LOCKOUT, Fail),]
    );
    assert_reason(find(&probe(&Tree::new().root(), &mut errors), MAX_DAYS), Unknown, "/etc/login.defs not found");
}

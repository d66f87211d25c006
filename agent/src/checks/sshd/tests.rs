//! sshd checks over Debian 12's shipped `sshd_config` and single-line variants of it, drop-ins and Match blocks.

use muster_shared::v1::CheckStatus::{Fail, NotApplicable, Pass, Unknown};

use super::*;
use crate::checks::tests::{Tree, assert_check, assert_reason, edit, find, fixture};

const MAIN: &str = "/etc/ssh/sshd_config";

/// A Debian 12 system with openssh-server installed: the shipped config, the binary and the empty drop-in folder.
fn debian(main: &str) -> Tree {
    let tree = Tree::new();
    tree.file(MAIN, main).file("/usr/sbin/sshd", "").dir("/etc/ssh/sshd_config.d");
    tree
}

fn run(tree: &Tree) -> Vec<Check> {
    let mut errors = ErrorLog::new();
    let checks = probe(&tree.root(), &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    checks
}

#[test]
fn debian_defaults_come_from_openssh_when_every_line_is_commented() {
    let checks = run(&debian(&fixture("debian12/sshd_config")));
    assert_check(
        find(&checks, PERMIT_ROOT_LOGIN),
        Pass,
        &["PermitRootLogin not set globally: OpenSSH default is prohibit-password"],
    );
    assert_check(
        find(&checks, PASSWORD_AUTHENTICATION),
        Fail,
        &["PasswordAuthentication not set globally: OpenSSH default is yes"],
    );
    assert_check(
        find(&checks, PERMIT_EMPTY_PASSWORDS),
        Pass,
        &["PermitEmptyPasswords not set globally: OpenSSH default is no"],
    );
    assert_check(find(&checks, MAX_AUTH_TRIES), Fail, &["MaxAuthTries not set globally: OpenSSH default is 6"]);
}

#[test]
fn uncommented_lines_decide_with_their_file_and_line() {
    // What Debian's postinst writes when the installer allows root password logins, plus hardened siblings.
    let base = fixture("debian12/sshd_config");
    let insecure = edit(&base, "#PermitRootLogin prohibit-password", "PermitRootLogin yes");
    let insecure = edit(&insecure, "#PermitEmptyPasswords no", "PermitEmptyPasswords yes");
    let insecure = edit(&insecure, "#MaxAuthTries 6", "MaxAuthTries 10");
    let checks = run(&debian(&insecure));
    assert_check(find(&checks, PERMIT_ROOT_LOGIN), Fail, &["/etc/ssh/sshd_config:33: PermitRootLogin yes"]);
    assert_check(find(&checks, PERMIT_EMPTY_PASSWORDS), Fail, &["/etc/ssh/sshd_config:58: PermitEmptyPasswords yes"]);
    assert_check(find(&checks, MAX_AUTH_TRIES), Fail, &["/etc/ssh/sshd_config:35: MaxAuthTries 10"]);

    let secure = edit(&base, "#PermitRootLogin prohibit-password", "PermitRootLogin no");
    let secure = edit(&secure, "#PasswordAuthentication yes", "PasswordAuthentication no");
    let secure = edit(&secure, "#MaxAuthTries 6", "MaxAuthTries 3");
    let checks = run(&debian(&secure));
    assert_check(find(&checks, PERMIT_ROOT_LOGIN), Pass, &["/etc/ssh/sshd_config:33: PermitRootLogin no"]);
    assert_check(find(&checks, PASSWORD_AUTHENTICATION), Pass, &["/etc/ssh/sshd_config:57: PasswordAuthentication no"]);
    assert_check(find(&checks, MAX_AUTH_TRIES), Pass, &["/etc/ssh/sshd_config:35: MaxAuthTries 3"]);
}

#[test]
fn keywords_and_values_are_case_insensitive_and_accept_equals() {
    let main = edit(&fixture("debian12/sshd_config"), "#PasswordAuthentication yes", "passwordauthentication=No");
    let checks = run(&debian(&main));
    assert_check(find(&checks, PASSWORD_AUTHENTICATION), Pass, &["/etc/ssh/sshd_config:57: passwordauthentication=No"]);
}

#[test]
fn a_drop_in_included_first_wins_over_the_main_file() {
    // Cloud images drop a file like this; the Include sits above the main file's own settings.
    let main = edit(&fixture("debian12/sshd_config"), "#PasswordAuthentication yes", "PasswordAuthentication no");
    let tree = debian(&main);
    tree.file("/etc/ssh/sshd_config.d/50-cloud-init.conf", "PasswordAuthentication yes\n");
    let checks = run(&tree);
    assert_check(
        find(&checks, PASSWORD_AUTHENTICATION),
        Fail,
        &["/etc/ssh/sshd_config.d/50-cloud-init.conf:1: PasswordAuthentication yes"],
    );
}

#[test]
fn drop_ins_are_read_in_lexical_order_and_only_when_the_glob_matches() {
    let tree = debian(&fixture("debian12/sshd_config"));
    tree.file("/etc/ssh/sshd_config.d/50-cloud-init.conf", "PasswordAuthentication yes\n")
        .file("/etc/ssh/sshd_config.d/10-hardening.conf", "# local policy\n\n  PasswordAuthentication no\n")
        .file("/etc/ssh/sshd_config.d/00-root.conf.disabled", "PermitRootLogin yes\n");
    let checks = run(&tree);
    assert_check(
        find(&checks, PASSWORD_AUTHENTICATION),
        Pass,
        &["/etc/ssh/sshd_config.d/10-hardening.conf:3: PasswordAuthentication no"],
    );
    assert_check(
        find(&checks, PERMIT_ROOT_LOGIN),
        Pass,
        &["PermitRootLogin not set globally: OpenSSH default is prohibit-password"],
    );
}

#[test]
fn relative_includes_are_relative_to_etc_ssh() {
    let main = edit(&fixture("debian12/sshd_config"), "Include /etc/ssh/sshd_config.d/*.conf", "Include local/*.conf");
    let tree = debian(&main);
    tree.file("/etc/ssh/local/root.conf", "PermitRootLogin yes\n");
    let checks = run(&tree);
    assert_check(find(&checks, PERMIT_ROOT_LOGIN), Fail, &["/etc/ssh/local/root.conf:1: PermitRootLogin yes"]);
}

#[test]
fn match_blocks_never_set_global_values() {
    let base = edit(&fixture("debian12/sshd_config"), "#PasswordAuthentication yes", "PasswordAuthentication no");
    let with_match = format!(
        "{base}Match User backup\n\tPasswordAuthentication yes\n\tPermitRootLogin yes\nMatch all\nMaxAuthTries 3\n"
    );
    let checks = run(&debian(&with_match));
    assert_check(find(&checks, PASSWORD_AUTHENTICATION), Pass, &["/etc/ssh/sshd_config:57: PasswordAuthentication no"]);
    assert_check(
        find(&checks, PERMIT_ROOT_LOGIN),
        Pass,
        &["PermitRootLogin not set globally: OpenSSH default is prohibit-password"],
    );
    // `Match all` ends the conditional block: what follows is global again.
    assert_check(find(&checks, MAX_AUTH_TRIES), Pass, &["/etc/ssh/sshd_config:127: MaxAuthTries 3"]);
}

#[test]
fn a_match_block_inside_a_drop_in_ends_with_that_file() {
    let main = edit(&fixture("debian12/sshd_config"), "#PermitRootLogin prohibit-password", "PermitRootLogin no");
    let tree = debian(&main);
    tree.file("/etc/ssh/sshd_config.d/20-admins.conf", "Match Group admins\n    PermitRootLogin yes\n");
    let checks = run(&tree);
    assert_check(find(&checks, PERMIT_ROOT_LOGIN), Pass, &["/etc/ssh/sshd_config:33: PermitRootLogin no"]);
}

#[test]
fn an_include_inside_a_match_block_is_conditional() {
    let tree =
        debian(&format!("{}Match User deploy\n  Include /etc/ssh/deploy.conf\n", fixture("debian12/sshd_config")));
    tree.file("/etc/ssh/deploy.conf", "Match all\nPermitRootLogin yes\n");
    let checks = run(&tree);
    assert_check(
        find(&checks, PERMIT_ROOT_LOGIN),
        Pass,
        &["PermitRootLogin not set globally: OpenSSH default is prohibit-password"],
    );
}

#[test]
fn trailing_comments_and_quotes_are_handled_like_sshd() {
    let main = edit(&fixture("debian12/sshd_config"), "#MaxAuthTries 6", "MaxAuthTries \"4\" # CIS 5.2.7");
    let checks = run(&debian(&main));
    assert_check(find(&checks, MAX_AUTH_TRIES), Pass, &["/etc/ssh/sshd_config:35: MaxAuthTries \"4\" # CIS 5.2.7"]);
}

#[test]
fn invalid_values_are_unknown_not_guessed() {
    let main = edit(&fixture("debian12/sshd_config"), "#PermitRootLogin prohibit-password", "PermitRootLogin maybe");
    let checks = run(&debian(&main));
    assert_reason(
        find(&checks, PERMIT_ROOT_LOGIN),
        Unknown,
        "unrecognised value, sshd would refuse to start: /etc/ssh/sshd_config:33: PermitRootLogin maybe",
    );
}

#[test]
fn without_an_ssh_server_the_checks_do_not_apply() {
    let checks = run(&Tree::new());
    assert_eq!(checks.len(), 4);
    for check in &checks {
        assert_reason(check, NotApplicable, "no SSH server installed (no sshd binary or sshd_config)");
    }
    let leftover = Tree::new();
    leftover.file(MAIN, &fixture("debian12/sshd_config"));
    for check in &run(&leftover) {
        assert_reason(check, NotApplicable, "/etc/ssh/sshd_config exists but no sshd binary is installed");
    }
}

#[test]
fn glob_matching_follows_fnmatch() {
    assert!(wildcard_match("*.conf", "50-cloud-init.conf"));
    assert!(!wildcard_match("*.conf", "50-cloud-init.conf.bak"));
    assert!(!wildcard_match("*.conf", ".hidden.conf"));
    assert!(wildcard_match("[0-9]?-*.conf", "10-hardening.conf"));
    assert!(!wildcard_match("[!0-9]*.conf", "10-hardening.conf"));
}

/// The component fuzz/sshd_config found (artifact timeout-adc1d320…, from `.ci/run` on 2026-12-03): 31 stars
/// against a name they do not match. The recursive matcher tried every split, exponential in the stars, and
/// never returned; the answers below need one pass each.
#[test]
fn many_stars_are_matched_in_one_pass() {
    let stars = format!("{}f.noing*.conf", "*".repeat(31));
    let name = "a".repeat(40);
    assert!(!wildcard_match(&stars, &name));
    assert!(wildcard_match(&stars, &format!("{name}f.noing.conf")));
    assert!(wildcard_match(&stars, "f.noingX.conf"));
    assert!(!wildcard_match(&stars, &format!("{name}f.noing.con")));
    assert!(wildcard_match("a*b*c", "aXbYbZc") && !wildcard_match("a*b*c", "aXbYbZ"));
    // The artifact's unterminated `[` is an ordinary character, after a star too.
    assert!(wildcard_match("*[c", "x[c") && !wildcard_match("*[c", "xc"));
}

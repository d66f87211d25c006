//! The account readers on real files: this build machine's `/etc/passwd` and `/etc/group` after shadow-utils'
//! `useradd`/`groupadd`/`usermod --prefix` added accounts to a copy (testdata/accounts/, see the README), and
//! Debian's shipped sudoers (testdata/checks/debian12/sudoers), with sudoers.d rules added in code.

use std::path::PathBuf;

use muster_shared::v1::Account;

use super::{Grant, parse_group, parse_passwd, probe, sudo_grants};
use crate::root::{ErrorLog, SystemRoot};

fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

fn text(rel: &str) -> String {
    std::fs::read_to_string(testdata(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const PASSWD: &str = "accounts/debian-12/etc/passwd";
const GROUP: &str = "accounts/debian-12/etc/group";
const SUDOERS: &str = "checks/debian12/sudoers";

#[test]
fn passwd_and_group_as_shadow_utils_wrote_them() {
    let accounts = parse_passwd(&text(PASSWD));
    assert_eq!(accounts.len(), 32);
    let find = |name: &str| accounts.iter().find(|a| a.name == name).unwrap();
    let alice = find("alice");
    assert_eq!(
        (alice.uid, alice.gid, alice.home.as_deref(), alice.shell.as_deref()),
        (1001, 1001, Some("/home/alice"), Some("/bin/bash"))
    );
    assert!(alice.interactive);
    assert!(!find("daemon").interactive, "/usr/sbin/nologin");
    assert_eq!(find("root").uid, 0);

    let groups = parse_group(&text(GROUP));
    assert_eq!(groups.len(), 56);
    let members = |name: &str| groups.iter().find(|g| g.name == name).map(|g| (g.gid, g.members.clone())).unwrap();
    assert_eq!(members("sudo"), (27, vec!["alice".to_string()]));
    assert_eq!(members("developers"), (1003, vec!["bob".to_string()]));
}

#[test]
fn debian_sudoers_grants_root_and_the_sudo_group() {
    let grants = sudo_grants("/etc/sudoers", &text(SUDOERS));
    let grant = |principal: &str, line: usize, rule: &str| Grant {
        principal: principal.into(),
        evidence: format!("/etc/sudoers:{line}: {rule}"),
    };
    assert_eq!(grants, [grant("root", 47, "root ALL=(ALL:ALL) ALL"), grant("%sudo", 50, "%sudo ALL=(ALL:ALL) ALL")]);
}

/// A root holding the real passwd, group and sudoers, and a sudoers.d file with `rules`.
fn root_with(rules: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/sudoers.d")).unwrap();
    std::fs::copy(testdata(PASSWD), dir.path().join("etc/passwd")).unwrap();
    std::fs::copy(testdata(GROUP), dir.path().join("etc/group")).unwrap();
    std::fs::copy(testdata(SUDOERS), dir.path().join("etc/sudoers")).unwrap();
    std::fs::write(dir.path().join("etc/sudoers.d/ops"), rules).unwrap();
    dir
}

fn admins(accounts: &[Account]) -> Vec<(&str, Vec<&str>)> {
    accounts
        .iter()
        .filter(|a| a.admin)
        .map(|a| (a.name.as_str(), a.admin_evidence.iter().map(String::as_str).collect()))
        .collect()
}

#[test]
fn admins_by_uid_group_and_sudoers_rule() {
    let dir = root_with("bob ALL=(ALL) /usr/bin/systemctl restart nginx\n");
    let mut errors = ErrorLog::new();
    let accounts = probe(&SystemRoot::mounted(dir.path()), &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
    assert_eq!(
        admins(&accounts),
        [
            ("root", vec!["uid 0", "/etc/sudoers:47: root ALL=(ALL:ALL) ALL"]),
            ("alice", vec!["group sudo", "/etc/sudoers:50: %sudo ALL=(ALL:ALL) ALL"]),
        ]
    );
    let bob = accounts.iter().find(|a| a.name == "bob").unwrap();
    assert_eq!(bob.groups, ["bob", "developers"], "primary group first");

    // Every command, without a password, through the included directory and a group.
    let dir = root_with("%developers ALL=(ALL) NOPASSWD: ALL\n");
    let accounts = probe(&SystemRoot::mounted(dir.path()), &mut errors);
    let bob = admins(&accounts).into_iter().find(|(name, _)| *name == "bob");
    assert_eq!(bob, Some(("bob", vec!["/etc/sudoers.d/ops:1: %developers ALL=(ALL) NOPASSWD: ALL"])));
}

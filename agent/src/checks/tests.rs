//! Test helpers shared by the check modules: copied real files, single-line variants and throwaway system roots.

use std::path::{Path, PathBuf};

use muster_shared::v1::{Check, CheckStatus};

use crate::root::SystemRoot;

/// A file copied into `agent/testdata/checks/` (see the README there for its source).
pub(crate) fn fixture(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/checks").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Replaces the one line equal to `from` with `to`: variants differ from the real file by exactly that edit.
pub(crate) fn edit(text: &str, from: &str, to: &str) -> String {
    let count = text.lines().filter(|line| *line == from).count();
    assert_eq!(count, 1, "expected exactly one line {from:?}");
    text.lines().map(|line| if line == from { to } else { line }).collect::<Vec<_>>().join("\n") + "\n"
}

/// A mounted root in a temporary directory, filled file by file.
pub(crate) struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    pub(crate) fn new() -> Tree {
        Tree { dir: tempfile::tempdir().unwrap() }
    }

    pub(crate) fn file(&self, system_path: &str, contents: &str) -> &Tree {
        let path = self.host_path(system_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    pub(crate) fn dir(&self, system_path: &str) -> &Tree {
        std::fs::create_dir_all(self.host_path(system_path)).unwrap();
        self
    }

    pub(crate) fn symlink(&self, system_path: &str, target: &str) -> &Tree {
        let path = self.host_path(system_path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
        self
    }

    pub(crate) fn host_path(&self, system_path: &str) -> PathBuf {
        self.dir.path().join(system_path.trim_start_matches('/'))
    }

    pub(crate) fn root(&self) -> SystemRoot {
        SystemRoot::mounted(self.dir.path())
    }
}

/// The check with `id`, which must be present exactly once.
pub(crate) fn find<'a>(checks: &'a [Check], id: &str) -> &'a Check {
    let found: Vec<&Check> = checks.iter().filter(|c| c.id == id).collect();
    assert_eq!(found.len(), 1, "check {id} present {} times in {checks:#?}", found.len());
    found[0]
}

/// Asserts status and the exact evidence of a check.
pub(crate) fn assert_check(check: &Check, status: CheckStatus, evidence: &[&str]) {
    assert_eq!((check.id.as_str(), check.status), (check.id.as_str(), status), "{check:#?}");
    assert_eq!(check.evidence, evidence, "{check:#?}");
    assert_eq!(check.remediation.is_some(), status == CheckStatus::Fail, "{check:#?}");
}

/// Asserts a `not_applicable` or `unknown` status and its exact reason.
pub(crate) fn assert_reason(check: &Check, status: CheckStatus, reason: &str) {
    assert_eq!(check.status, status, "{check:#?}");
    assert_eq!(check.reason.as_deref(), Some(reason), "{check:#?}");
}

/// Every id the issue names.
const ALL_IDS: [&str; 23] = [
    "ssh.permit_root_login",
    "ssh.password_authentication",
    "ssh.permit_empty_passwords",
    "ssh.max_auth_tries",
    "accounts.empty_password",
    "accounts.extra_uid0",
    "password.max_days",
    "password.hashing",
    "password.lockout",
    "firewall.active",
    "disk.encryption",
    "updates.security_pending",
    "updates.automatic",
    "updates.lists_stale",
    "kernel.reboot_required",
    "audit.auditd",
    "time.sync",
    "malware.scanner",
    "usb.storage_disabled",
    "kernel.aslr",
    "boot.secure_boot",
    "sudo.nopasswd",
    "files.world_writable",
];

#[test]
fn a_mounted_debian_root_gets_every_check_and_no_runtime_guesses() {
    use chrono::TimeZone;
    use muster_shared::v1::CheckStatus::{Fail, NotApplicable, Pass, Unknown};

    let tree = Tree::new();
    tree.file("/etc/ssh/sshd_config", &fixture("debian12/sshd_config"))
        .file("/usr/sbin/sshd", "")
        .file("/etc/passwd", &fixture("debian12/passwd"))
        .file("/etc/shadow", &fixture("debian12/shadow"))
        .file("/etc/login.defs", &fixture("debian12/login.defs"))
        .file("/etc/pam.d/common-auth", &fixture("debian12/common-auth"))
        .file("/etc/pam.d/common-password", &fixture("debian12/common-password"))
        .file("/etc/security/faillock.conf", &fixture("debian12/faillock.conf"))
        .file("/etc/sudoers", &fixture("debian12/sudoers"))
        .file("/lib/modprobe.d/systemd.conf", &fixture("debian12/modprobe-systemd.conf"));
    let now = chrono::Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).single().unwrap();
    let mut errors = crate::root::ErrorLog::new();
    let checks = super::collect(&tree.root(), super::PatchState::Failed, now, &mut errors);
    let statuses: Vec<(&str, CheckStatus)> = checks.iter().map(|c| (c.id.as_str(), c.status)).collect();
    assert_eq!(
        statuses,
        [
            ("ssh.permit_root_login", Pass),
            ("ssh.password_authentication", Fail),
            ("ssh.permit_empty_passwords", Pass),
            ("ssh.max_auth_tries", Fail),
            ("accounts.empty_password", Pass),
            ("accounts.extra_uid0", Pass),
            ("password.max_days", Fail),
            ("password.hashing", Pass),
            ("password.lockout", Fail),
            ("firewall.active", NotApplicable),
            ("disk.encryption", NotApplicable),
            ("updates.security_pending", Unknown),
            ("updates.automatic", Unknown),
            ("updates.lists_stale", Unknown),
            ("kernel.reboot_required", Unknown),
            ("audit.auditd", NotApplicable),
            ("time.sync", NotApplicable),
            ("malware.scanner", Fail),
            ("usb.storage_disabled", Fail),
            ("kernel.aslr", NotApplicable),
            ("boot.secure_boot", NotApplicable),
            ("sudo.nopasswd", Pass),
            ("files.world_writable", Pass),
        ]
    );
    let mut ids: Vec<&str> = ALL_IDS.to_vec();
    ids.sort();
    let mut seen: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    seen.sort();
    assert_eq!(seen, ids);
    for check in &checks {
        assert!(check.reason.is_some() == matches!(check.status, NotApplicable | Unknown), "{check:#?}");
        assert!(check.remediation.is_some() == (check.status == Fail), "{check:#?}");
    }
    assert!(errors.is_empty(), "{:?}", errors.as_slice());
}

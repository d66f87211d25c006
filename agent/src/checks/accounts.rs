//! The `accounts.*` and `password.*` checks: local account files, login.defs and the PAM password stacks.

use muster_shared::v1::Check;

use super::lockout::{self, Stack};
use super::pam::{self, Named};
use super::{Input, fail, pass, read_input, unknown};
use crate::root::{ErrorLog, SystemRoot};

const EMPTY_PASSWORD: &str = "accounts.empty_password";
const EXTRA_UID0: &str = "accounts.extra_uid0";
pub(crate) const MAX_DAYS: &str = "password.max_days";
const HASHING: &str = "password.hashing";

/// The longest password lifetime we accept, in days.
pub(crate) const MAX_DAYS_LIMIT: i64 = 365;

/// The shared authentication stacks: Debian/Ubuntu/SUSE use `common-auth` with `common-account`, RHEL/Fedora/Arch
/// `system-auth` and `password-auth` (the latter for remote logins such as sshd), each with its own account rules.
const COMMON_AUTH: &str = "/etc/pam.d/common-auth";
const COMMON_ACCOUNT: &str = "/etc/pam.d/common-account";
const AUTH_STACKS: [&str; 4] = [COMMON_AUTH, COMMON_ACCOUNT, "/etc/pam.d/system-auth", "/etc/pam.d/password-auth"];
const PASSWORD_STACKS: [&str; 3] = ["/etc/pam.d/common-password", "/etc/pam.d/system-auth", "/etc/pam.d/password-auth"];
const FAILLOCK_CONF: &str = "/etc/security/faillock.conf";

/// `accounts.empty_password`: an empty password field lets anyone log in without a password.
/// `*`, `!` and `!!` mean locked, not empty. `shadow` is `None` when it could not be read (`reason` says why).
pub(crate) fn empty_password(passwd: &str, shadow: Result<Option<&str>, &str>) -> Check {
    let mut evidence = empty_fields("/etc/passwd", passwd);
    let shadow_text = match shadow {
        Ok(text) => text,
        Err(reason) if evidence.is_empty() => return unknown(EMPTY_PASSWORD, reason),
        Err(_) => None,
    };
    if let Some(text) = shadow_text {
        evidence.extend(empty_fields("/etc/shadow", text));
    }
    if evidence.is_empty() {
        let source = if shadow_text.is_some() { "/etc/passwd and /etc/shadow" } else { "/etc/passwd (no shadow)" };
        pass(EMPTY_PASSWORD, vec![format!("no account with an empty password field in {source}")])
    } else {
        fail(EMPTY_PASSWORD, evidence, "lock the accounts (`passwd -l <user>`) or set a password")
    }
}

fn empty_fields(path: &str, text: &str) -> Vec<String> {
    account_lines(text)
        .filter(|(_, fields)| fields.get(1).is_some_and(|hash| hash.is_empty()))
        .map(|(number, fields)| format!("{path}:{number}: account {} has an empty password field", fields[0]))
        .collect()
}

/// Lines of passwd/shadow split on `:`, skipping blank lines and NIS `+`/`-` entries.
fn account_lines(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with(['+', '-', '#']))
        .map(|(index, line)| (index + 1, line.split(':').collect::<Vec<_>>()))
        .filter(|(_, fields)| !fields[0].is_empty())
}

/// `accounts.extra_uid0`: any account other than root with UID 0 is a second root.
pub(crate) fn extra_uid0(passwd: &str) -> Check {
    let evidence: Vec<String> = account_lines(passwd)
        .filter(|(_, fields)| fields[0] != "root" && fields.get(2).is_some_and(|uid| uid.trim() == "0"))
        .map(|(number, fields)| format!("/etc/passwd:{number}: account {} has UID 0", fields[0]))
        .collect();
    if evidence.is_empty() {
        pass(EXTRA_UID0, vec!["only root has UID 0 in /etc/passwd".to_string()])
    } else {
        fail(EXTRA_UID0, evidence, "give these accounts their own UID or remove them; use sudo for root access")
    }
}

/// A login.defs setting: the last definition wins, as shadow-utils' getdef reads the file.
fn login_defs_value<'a>(login_defs: &'a str, key: &str) -> Option<(usize, &'a str, &'a str)> {
    super::setting_lines(login_defs)
        .filter_map(|(number, line)| {
            let (name, value) = line.split_once(char::is_whitespace)?;
            (name == key).then(|| (number, value.trim().trim_matches('"'), line))
        })
        .last()
}

/// `password.max_days`: `PASS_MAX_DAYS` in login.defs, the lifetime given to new passwords.
pub(crate) fn max_days(login_defs: &str) -> Check {
    let remediation = "set `PASS_MAX_DAYS 365` (or less) in /etc/login.defs and `chage --maxdays` existing users";
    let Some((number, value, line)) = login_defs_value(login_defs, "PASS_MAX_DAYS") else {
        return fail(
            MAX_DAYS,
            vec!["/etc/login.defs: PASS_MAX_DAYS not set (passwords never expire)".into()],
            remediation,
        );
    };
    let evidence = vec![format!("/etc/login.defs:{number}: {line}")];
    match value.parse::<i64>() {
        Ok(days) if (0..=MAX_DAYS_LIMIT).contains(&days) => pass(MAX_DAYS, evidence),
        Ok(_) => fail(MAX_DAYS, evidence, remediation),
        Err(_) => unknown(MAX_DAYS, format!("not a number: /etc/login.defs:{number}: {line}")),
    }
}

/// pam_unix's hashing options, strongest meaning first when several are given.
const PAM_UNIX_METHODS: [&str; 7] = ["yescrypt", "gost_yescrypt", "sha512", "blowfish", "sha256", "bigcrypt", "md5"];

fn strong(method: &str) -> bool {
    matches!(method.to_ascii_lowercase().as_str(), "yescrypt" | "sha512")
}

/// `password.hashing`: new password hashes must be yescrypt or SHA-512, both where PAM hashes them (pam_unix in
/// the password stacks) and where shadow-utils does (`ENCRYPT_METHOD` in login.defs, also pam_unix's fallback).
pub(crate) fn hashing(login_defs: Option<&str>, stacks: &[Named<'_>]) -> Check {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    match login_defs.map(|text| login_defs_value(text, "ENCRYPT_METHOD")) {
        Some(Some((number, value, line))) => {
            let evidence = format!("/etc/login.defs:{number}: {line}");
            if strong(value) { good.push(evidence) } else { bad.push(evidence) }
        }
        Some(None) => bad.push("/etc/login.defs: ENCRYPT_METHOD not set (shadow-utils falls back to DES)".into()),
        None => {}
    }
    for stack in stacks {
        for rule in pam::parse(stack.text).iter().filter(|r| r.kind == "password" && r.module == "pam_unix.so") {
            let evidence = format!("{}:{}: {}", stack.path, rule.line, rule.text);
            match PAM_UNIX_METHODS.iter().find(|m| rule.has_flag(m)) {
                Some(method) if strong(method) => good.push(evidence),
                Some(_) => bad.push(evidence),
                // Without an option pam_unix uses ENCRYPT_METHOD from login.defs, judged above.
                None if login_defs.is_some() => good.push(format!("{evidence} (uses ENCRYPT_METHOD)")),
                None => bad.push(format!("{evidence} (no method and no /etc/login.defs)")),
            }
        }
    }
    if good.is_empty() && bad.is_empty() {
        return unknown(HASHING, "neither /etc/login.defs nor a PAM password stack with pam_unix was found");
    }
    if bad.is_empty() {
        pass(HASHING, good)
    } else {
        fail(HASHING, bad, "use `yescrypt` or `sha512` on pam_unix password lines and `ENCRYPT_METHOD` in login.defs")
    }
}

/// Reads the account and password files through `root` and runs the five checks.
pub(crate) fn probe(root: &SystemRoot, errors: &mut ErrorLog) -> Vec<Check> {
    let passwd = read_input(root, "/etc/passwd", errors);
    let shadow = read_input(root, "/etc/shadow", errors);
    let login_defs = read_input(root, "/etc/login.defs", errors);
    let mut checks = Vec::with_capacity(5);
    match &passwd {
        Input::Present(passwd) => {
            let shadow = match &shadow {
                Input::Present(text) => Ok(Some(text.as_str())),
                Input::Missing => Ok(None),
                Input::Unreadable(reason) => Err(reason.as_str()),
            };
            checks.push(empty_password(passwd, shadow));
            checks.push(extra_uid0(passwd));
        }
        Input::Missing => {
            checks.push(unknown(EMPTY_PASSWORD, "/etc/passwd not found"));
            checks.push(unknown(EXTRA_UID0, "/etc/passwd not found"));
        }
        Input::Unreadable(reason) => {
            checks.push(unknown(EMPTY_PASSWORD, reason.clone()));
            checks.push(unknown(EXTRA_UID0, reason.clone()));
        }
    }
    checks.push(match &login_defs {
        Input::Present(text) => max_days(text),
        Input::Missing => unknown(MAX_DAYS, "/etc/login.defs not found"),
        Input::Unreadable(reason) => unknown(MAX_DAYS, reason.clone()),
    });

    let login_defs_text = match &login_defs {
        Input::Present(text) => Some(text.as_str()),
        _ => None,
    };
    checks.push(match read_all(root, &PASSWORD_STACKS, errors) {
        Ok(stacks) => hashing(login_defs_text, &named(&stacks)),
        Err(reason) => unknown(HASHING, reason),
    });
    let faillock_conf = match read_input(root, FAILLOCK_CONF, errors) {
        Input::Present(text) => Some(text),
        _ => None,
    };
    checks.push(match read_all(root, &AUTH_STACKS, errors) {
        Ok(files) => lockout::lockout(&auth_stacks(&named(&files)), faillock_conf.as_deref()),
        Err(reason) => unknown(lockout::LOCKOUT, reason),
    });
    checks
}

/// The files among `paths` that exist; an unreadable one makes the answer unknown rather than partial.
fn read_all(
    root: &SystemRoot,
    paths: &[&'static str],
    errors: &mut ErrorLog,
) -> Result<Vec<(&'static str, String)>, String> {
    let mut found = Vec::new();
    for path in paths {
        match read_input(root, path, errors) {
            Input::Present(text) => found.push((*path, text)),
            Input::Missing => {}
            Input::Unreadable(reason) => return Err(reason),
        }
    }
    Ok(found)
}

fn named<'a>(stacks: &'a [(&'static str, String)]) -> Vec<Named<'a>> {
    stacks.iter().map(|(path, text)| Named { path, text }).collect()
}

/// Pairs each auth file with the account rules that run after it: `common-account` for `common-auth`, the file
/// itself for RHEL's stacks.
fn auth_stacks<'a>(files: &[Named<'a>]) -> Vec<Stack<'a>> {
    let account = files.iter().find(|f| f.path == COMMON_ACCOUNT).copied();
    files
        .iter()
        .filter(|f| f.path != COMMON_ACCOUNT)
        .map(|f| Stack { auth: *f, account: if f.path == COMMON_AUTH { account } else { Some(*f) } })
        .collect()
}

#[cfg(test)]
mod tests;

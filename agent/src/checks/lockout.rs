//! The `password.lockout` check: runs each authentication stack as PAM runs it and asks whether repeated failures
//! lock the account — a failed password is recorded (`authfail`), a locked account is refused even with the right
//! password (`preauth` before the password module), and a successful login resets the count (`account` or
//! `authsucc`).

use muster_shared::v1::Check;

use super::pam::{self, Named, PamRule};
use super::pam_run::{self, Attempt, Run, TallyEffect};
use super::{fail, pass, unknown};

pub(crate) const LOCKOUT: &str = "password.lockout";
/// The most failed attempts before lockout we accept.
pub(crate) const MAX_DENY: u32 = 5;
/// pam_faillock's built-in `deny` when neither the rule nor faillock.conf sets it.
const FAILLOCK_DEFAULT_DENY: u32 = 3;
const FAILLOCK_CONF: &str = "/etc/security/faillock.conf";

/// One authentication stack: the file whose `auth` rules run at login and the one whose `account` rules run next
/// (the same file on RHEL, `common-account` beside `common-auth` on Debian; absent when there is none).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stack<'a> {
    pub auth: Named<'a>,
    pub account: Option<Named<'a>>,
}

/// `password.lockout`: every stack must record a wrong password, refuse a locked account with the right one, and
/// lock after at most [`MAX_DENY`] failures (pam_faillock: deny from the rule, else faillock.conf, else 3;
/// pam_tally2: deny from the rule, without it never).
pub(crate) fn lockout(stacks: &[Stack<'_>], faillock_conf: Option<&str>) -> Check {
    if stacks.is_empty() {
        return unknown(LOCKOUT, "no PAM authentication stack (common-auth, system-auth or password-auth) found");
    }
    let conf_deny = faillock_conf.and_then(|text| {
        super::setting_lines(text)
            .filter_map(|(number, line)| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == "deny").then(|| (number, value.trim().parse::<u32>().ok(), line))
            })
            .last()
    });
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for stack in stacks {
        let path = stack.auth.path;
        let rules = pam::parse(stack.auth.text);
        let auth: Vec<&PamRule> = rules.iter().filter(|r| r.kind == "auth").collect();
        if let Some(nested) = auth.iter().find(|r| matches!(r.control.as_str(), "include" | "substack")) {
            return unknown(
                LOCKOUT,
                format!("{path}:{}: {}: included stacks are not modelled", nested.line, nested.text),
            );
        }
        if !auth.iter().any(|r| is_counter(r)) {
            bad.push(format!("{path}: no pam_faillock or pam_tally2 auth rule"));
            continue;
        }
        let wrong = pam_run::run(&rules, "auth", Attempt { password_right: false, locked: false });
        let locked = pam_run::run(&rules, "auth", Attempt { password_right: true, locked: true });
        if wrong.granted {
            bad.push(format!("{path}: a wrong password is accepted"));
        }
        if !has(&wrong, TallyEffect::Recorded) {
            bad.push(format!(
                "{path}: a wrong password is never recorded: no pam_faillock authfail (or pam_tally2) rule runs after it"
            ));
        }
        if locked.granted {
            bad.push(format!(
                "{path}: a locked account still logs in with the right password: no pam_faillock preauth (or \
                 pam_tally2) rule before the password check refuses it"
            ));
        }
        // Every counting rule that ran on a failure or for a locked account, once, in stack order.
        let mut ran: Vec<&PamRule> = wrong.tally.iter().chain(&locked.tally).map(|(rule, _)| *rule).collect();
        ran.sort_by_key(|rule| rule.line);
        ran.dedup_by_key(|rule| rule.line);
        for rule in ran {
            let evidence = format!("{path}:{}: {}", rule.line, rule.text);
            match deny(rule, conf_deny) {
                Deny::Limit(deny, note) if (1..=MAX_DENY).contains(&deny) => good.push(format!("{evidence}{note}")),
                Deny::Limit(_, note) => bad.push(format!("{evidence}{note}")),
                Deny::NotANumber => bad.push(format!("{evidence} (deny is not a number)")),
            }
        }
        if let Some(note) = reset_note(stack, &rules) {
            good.push(note);
        }
    }
    if bad.is_empty() {
        pass(LOCKOUT, good)
    } else {
        fail(
            LOCKOUT,
            bad,
            "add pam_faillock to the auth stacks: `preauth` before the password module, `authfail` on its failure \
             path, `account required pam_faillock.so`, with `deny = 5` or fewer",
        )
    }
}

fn is_counter(rule: &PamRule) -> bool {
    matches!(rule.module.as_str(), "pam_faillock.so" | "pam_tally2.so" | "pam_tally.so")
}

fn has(run: &Run<'_>, effect: TallyEffect) -> bool {
    run.tally.iter().any(|(_, e)| *e == effect)
}

enum Deny {
    /// The limit and how it was found, as a note for the evidence (empty when the rule says it).
    Limit(u32, String),
    NotANumber,
}

fn deny(rule: &PamRule, conf_deny: Option<(usize, Option<u32>, &str)>) -> Deny {
    match (rule.arg("deny"), rule.module.as_str()) {
        (Some(value), _) => value.parse::<u32>().map_or(Deny::NotANumber, |d| Deny::Limit(d, String::new())),
        (None, "pam_faillock.so") => match conf_deny {
            Some((number, Some(deny), line)) => Deny::Limit(deny, format!(" ({FAILLOCK_CONF}:{number}: {line})")),
            Some((_, None, _)) => Deny::NotANumber,
            None => Deny::Limit(FAILLOCK_DEFAULT_DENY, " (pam_faillock default deny = 3)".to_string()),
        },
        (None, _) => Deny::Limit(0, " (no deny: pam_tally2 never locks)".to_string()),
    }
}

/// Without a reset after a successful login, failures add up across good logins (within pam_faillock's
/// `fail_interval`) and lock users sooner than `deny` suggests: worth saying, but the lockout itself works.
fn reset_note(stack: &Stack<'_>, auth_rules: &[PamRule]) -> Option<String> {
    let right = pam_run::run(auth_rules, "auth", Attempt { password_right: true, locked: false });
    if has(&right, TallyEffect::Reset) {
        return None;
    }
    let account_path = stack.account.map(|a| a.path);
    if let Some(account) = stack.account {
        let rules = pam::parse(account.text);
        if has(&pam_run::run(&rules, "account", Attempt { password_right: true, locked: false }), TallyEffect::Reset) {
            return None;
        }
    }
    Some(format!(
        "note: nothing resets the failure count after a successful login (no pam_faillock authsucc in {} and no \
         pam_faillock account rule in {})",
        stack.auth.path,
        account_path.unwrap_or("an account stack")
    ))
}

#[cfg(test)]
mod tests;

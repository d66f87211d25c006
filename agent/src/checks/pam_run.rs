//! Runs a PAM stack the way libpam's dispatcher (`_pam_dispatch_aux`) does, for one imagined login, so checks judge
//! what the stack does rather than which lines it contains (a `pam_faillock.so preauth` line alone locks nothing).
//!
//! The login is a regular local user (UID 1000, password in /etc/shadow). What each module answers is modelled from
//! its source: pam_unix checks the password, pam_faillock checks or records the tally by mode, pam_deny fails,
//! directory modules (sss, ldap, krb5, winbind) do not know a local user, and modules that neither decide nor
//! record anything (pam_env, pam_faildelay, ...) succeed. A module not known here answers `ignore`, which changes
//! nothing in any control. Hand-written because no crate models libpam's control flow.

use super::pam::PamRule;

/// The module return values the model produces, with their names in `[value=action]` controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ret {
    Success,
    AuthErr,
    Ignore,
    UserUnknown,
}

impl Ret {
    fn name(self) -> &'static str {
        match self {
            Ret::Success => "success",
            Ret::AuthErr => "auth_err",
            Ret::Ignore => "ignore",
            Ret::UserUnknown => "user_unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Ignore,
    Ok,
    Done,
    Bad,
    Die,
    Reset,
    Jump(usize),
}

/// The imagined login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attempt {
    pub password_right: bool,
    /// The account has reached its failure limit (pam_faillock's or pam_tally2's tally).
    pub locked: bool,
}

/// What a failure-counting module did when it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TallyEffect {
    /// Checked the tally and would deny a locked account (`preauth`, or any mode when locked).
    Checked,
    /// Recorded a failure (`authfail`; pam_tally2 counts every attempt).
    Recorded,
    /// Cleared the tally (`authsucc`, or the account phase).
    Reset,
}

/// The outcome of one run: whether the stack granted, and which rules ran with what effect on the tally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run<'a> {
    pub granted: bool,
    pub tally: Vec<(&'a PamRule, TallyEffect)>,
}

/// Runs the rules of `kind` (`auth` or `account`) for `attempt`. `include` and `substack` rules must have been
/// ruled out by the caller.
pub(crate) fn run<'a>(rules: &'a [PamRule], kind: &str, attempt: Attempt) -> Run<'a> {
    let stack: Vec<&PamRule> = rules.iter().filter(|r| r.kind == kind).collect();
    let mut tally = Vec::new();
    // libpam's state: the impression so far and the status it will return.
    let mut positive: Option<bool> = None;
    let mut success = false;
    let mut index = 0;
    while let Some(rule) = stack.get(index) {
        let (ret, effect) = answer(rule, kind, attempt);
        if let Some(effect) = effect {
            tally.push((*rule, effect));
        }
        index += 1;
        match action(&rule.control, ret) {
            Action::Reset => {
                positive = None;
                success = false;
            }
            action @ (Action::Ok | Action::Done) => {
                if (positive.is_none() || (positive == Some(true) && success)) && ret != Ret::Ignore {
                    positive = Some(true);
                    success = ret == Ret::Success;
                }
                if action == Action::Done && positive != Some(false) {
                    break;
                }
            }
            action @ (Action::Bad | Action::Die) => {
                if positive != Some(false) {
                    positive = Some(false);
                    success = false;
                }
                if action == Action::Die {
                    break;
                }
            }
            Action::Ignore => {}
            Action::Jump(skip) => {
                if index + skip > stack.len() {
                    // libpam: "bad jump in stack", which fails the stack.
                    positive = Some(false);
                    success = false;
                    break;
                }
                index += skip;
            }
        }
    }
    Run { granted: positive == Some(true) && success, tally }
}

/// The action a rule's control takes for `ret`, with Linux-PAM's meaning of the four keywords.
fn action(control: &str, ret: Ret) -> Action {
    // `new_authtok_reqd` follows `success` in all four keywords; the model never returns it.
    let keyword = |success, ignore, default| match ret {
        Ret::Success => success,
        Ret::Ignore => ignore,
        Ret::AuthErr | Ret::UserUnknown => default,
    };
    match control {
        "required" => keyword(Action::Ok, Action::Ignore, Action::Bad),
        "requisite" => keyword(Action::Ok, Action::Ignore, Action::Die),
        "optional" => keyword(Action::Ok, Action::Ignore, Action::Ignore),
        "sufficient" => keyword(Action::Done, Action::Ignore, Action::Ignore),
        bracketed => {
            let pairs = bracketed.trim_start_matches('[').trim_end_matches(']');
            let find = |name: &str| {
                pairs.split_whitespace().filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == name)
            };
            // Values not listed take `default`, and without one they are `bad` (libpam's _pam_set_default_control).
            match find(ret.name()).or_else(|| find("default")) {
                Some((_, value)) => parse_action(value),
                None => Action::Bad,
            }
        }
    }
}

fn parse_action(value: &str) -> Action {
    match value {
        "ignore" => Action::Ignore,
        "ok" => Action::Ok,
        "done" => Action::Done,
        "bad" => Action::Bad,
        "die" => Action::Die,
        "reset" => Action::Reset,
        // libpam rejects a bad action word and fails the rule; a jump of zero is the same.
        number => number.parse::<usize>().ok().filter(|n| *n > 0).map_or(Action::Bad, Action::Jump),
    }
}

/// Modules that neither check the password nor count failures and succeed for a regular local user.
const NEUTRAL: [&str; 16] = [
    "pam_env.so",
    "pam_faildelay.so",
    "pam_nologin.so",
    "pam_securetty.so",
    "pam_cap.so",
    "pam_group.so",
    "pam_shells.so",
    "pam_access.so",
    "pam_time.so",
    "pam_keyinit.so",
    "pam_limits.so",
    "pam_localuser.so",
    "pam_permit.so",
    "pam_gnome_keyring.so",
    "pam_umask.so",
    "pam_loginuid.so",
];

/// Directory modules: a local user is not theirs.
const DIRECTORY: [&str; 6] =
    ["pam_sss.so", "pam_ldap.so", "pam_krb5.so", "pam_winbind.so", "pam_systemd_home.so", "pam_sss_gss.so"];

/// The regular user's UID that `pam_succeed_if` conditions are evaluated with.
const USER_UID: u64 = 1000;

fn answer(rule: &PamRule, kind: &str, attempt: Attempt) -> (Ret, Option<TallyEffect>) {
    let module = rule.module.as_str();
    match module {
        "pam_unix.so" if kind == "auth" => (if attempt.password_right { Ret::Success } else { Ret::AuthErr }, None),
        "pam_unix.so" => (Ret::Success, None),
        "pam_faillock.so" if kind == "account" => (Ret::Success, Some(TallyEffect::Reset)),
        "pam_faillock.so" => faillock(rule, attempt),
        "pam_tally2.so" | "pam_tally.so" if kind == "account" => (Ret::Success, Some(TallyEffect::Reset)),
        "pam_tally2.so" | "pam_tally.so" if attempt.locked => (Ret::AuthErr, Some(TallyEffect::Checked)),
        "pam_tally2.so" | "pam_tally.so" => (Ret::Success, Some(TallyEffect::Recorded)),
        "pam_deny.so" => (Ret::AuthErr, None),
        "pam_succeed_if.so" => (if succeed_if(&rule.args) { Ret::Success } else { Ret::AuthErr }, None),
        "pam_usertype.so" => (if rule.has_flag("issystem") { Ret::AuthErr } else { Ret::Success }, None),
        _ if DIRECTORY.contains(&module) => (Ret::UserUnknown, None),
        _ if NEUTRAL.contains(&module) => (Ret::Success, None),
        _ => (Ret::Ignore, None),
    }
}

/// pam_faillock's auth modes, as its `pam_sm_authenticate` runs them; without a mode argument it runs `preauth`.
fn faillock(rule: &PamRule, attempt: Attempt) -> (Ret, Option<TallyEffect>) {
    let mode = rule.args.iter().rev().find(|a| matches!(a.as_str(), "preauth" | "authfail" | "authsucc"));
    if attempt.locked {
        return (Ret::AuthErr, Some(TallyEffect::Checked));
    }
    match mode.map(String::as_str) {
        Some("authfail") => (Ret::Ignore, Some(TallyEffect::Recorded)),
        Some("authsucc") => (Ret::Success, Some(TallyEffect::Reset)),
        _ => (Ret::Success, Some(TallyEffect::Checked)),
    }
}

/// pam_succeed_if's conditions (`field op value`, all must hold) for the modelled user: `uid` comparisons are
/// evaluated, other conditions are taken as true.
fn succeed_if(args: &[String]) -> bool {
    const FLAGS: [&str; 6] = ["quiet", "quiet_success", "quiet_fail", "use_uid", "debug", "audit"];
    let words: Vec<&str> = args.iter().map(String::as_str).filter(|w| !FLAGS.contains(w)).collect();
    words.chunks(3).all(|condition| match condition {
        ["uid", op, value] => match value.parse::<u64>() {
            Ok(value) => match *op {
                "<" | "lt" => USER_UID < value,
                "<=" | "le" => USER_UID <= value,
                ">" | "gt" => USER_UID > value,
                ">=" | "ge" => USER_UID >= value,
                "=" | "eq" => USER_UID == value,
                "!=" | "ne" => USER_UID != value,
                _ => true,
            },
            Err(_) => true,
        },
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::pam::parse;
    use crate::checks::tests::fixture;

    const WRONG: Attempt = Attempt { password_right: false, locked: false };
    const RIGHT: Attempt = Attempt { password_right: true, locked: false };
    const LOCKED: Attempt = Attempt { password_right: true, locked: true };

    fn granted(text: &str, kind: &str, attempt: Attempt) -> bool {
        run(&parse(text), kind, attempt).granted
    }

    #[test]
    fn debian_common_auth_grants_the_right_password_only() {
        let auth = fixture("debian12/common-auth");
        assert!(granted(&auth, "auth", RIGHT));
        assert!(!granted(&auth, "auth", WRONG));
        let account = fixture("debian12/common-account");
        assert!(granted(&account, "account", RIGHT));
    }

    #[test]
    fn rhel_authselect_faillock_records_checks_and_resets() {
        let rules = parse(&fixture("rhel/system-auth.authselect-local-with-faillock"));
        let effects = |attempt| {
            let run = run(&rules, "auth", attempt);
            (run.granted, run.tally.iter().map(|(rule, effect)| (rule.line, *effect)).collect::<Vec<_>>())
        };
        assert_eq!(effects(WRONG), (false, vec![(3, TallyEffect::Checked), (5, TallyEffect::Recorded)]));
        assert_eq!(effects(RIGHT), (true, vec![(3, TallyEffect::Checked)]));
        assert_eq!(effects(LOCKED), (false, vec![(3, TallyEffect::Checked), (5, TallyEffect::Checked)]));
        let account = run(&rules, "account", RIGHT);
        assert!(account.granted);
        assert_eq!(account.tally.iter().map(|(r, e)| (r.line, *e)).collect::<Vec<_>>(), [(8, TallyEffect::Reset)]);
    }

    #[test]
    fn controls_follow_libpam() {
        // A jump over the failure path, `die` ending the stack, and a sufficient success after a required failure.
        let stack =
            "auth [success=1 default=ignore] pam_unix.so\nauth requisite pam_deny.so\nauth required pam_permit.so\n";
        assert!(granted(stack, "auth", RIGHT) && !granted(stack, "auth", WRONG));
        let after_failure = "auth required pam_deny.so\nauth sufficient pam_unix.so\n";
        assert!(!granted(after_failure, "auth", RIGHT));
        // Nothing but ignores grants nothing.
        assert!(!granted("auth optional pam_something_unknown.so\n", "auth", RIGHT));
        // A jump past the end fails the stack.
        assert!(!granted("auth [success=5 default=bad] pam_unix.so\n", "auth", RIGHT));
        // A `sufficient` pam_faillock preauth grants before the password is asked.
        assert!(granted("auth sufficient pam_faillock.so preauth\nauth required pam_unix.so\n", "auth", WRONG));
    }

    #[test]
    fn succeed_if_evaluates_uid_conditions() {
        assert!(succeed_if(&["uid".into(), ">=".into(), "1000".into(), "quiet_success".into()]));
        assert!(!succeed_if(&["uid".into(), "<".into(), "500".into(), "quiet".into()]));
        assert!(succeed_if(&["service".into(), "in".into(), "crond".into()]));
    }
}

//! A PAM service file (`/etc/pam.d/*`) as rules, read the way Linux-PAM reads them, for the password checks.

/// A PAM file that was read, with the path it was read from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Named<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

/// One rule: `[-]type control module-path [args...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PamRule {
    /// 1-based line where the rule starts.
    pub line: usize,
    /// `auth`, `account`, `password` or `session`, without the leading `-` that makes a missing module silent.
    pub kind: String,
    /// `required`, `requisite`, `sufficient`, `optional`, `include`, `substack` or a `[value=action ...]` list.
    pub control: String,
    /// The module's file name (`pam_unix.so`), whatever directory the rule names.
    pub module: String,
    pub args: Vec<String>,
    /// The rule as written, whitespace-collapsed, for evidence.
    pub text: String,
}

impl PamRule {
    /// The value of a `name=value` argument.
    pub(crate) fn arg(&self, name: &str) -> Option<&str> {
        self.args.iter().find_map(|arg| arg.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
    }

    pub(crate) fn has_flag(&self, flag: &str) -> bool {
        self.args.iter().any(|arg| arg == flag)
    }
}

/// Parses a PAM service file. `#` starts a comment anywhere on a line and `\` at the end continues a line; lines
/// that are not rules (too few fields) are skipped, as Linux-PAM skips them with a log message.
pub(crate) fn parse(text: &str) -> Vec<PamRule> {
    let mut rules = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default();
        if pending.is_empty() {
            start = index + 1;
        }
        if let Some(continued) = line.trim_end().strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        if let Some(rule) = parse_rule(start, &pending) {
            rules.push(rule);
        }
        pending.clear();
    }
    rules
}

fn parse_rule(line: usize, text: &str) -> Option<PamRule> {
    let mut rest = text.trim();
    let (kind, after) = rest.split_once(char::is_whitespace)?;
    rest = after.trim_start();
    let control = if rest.starts_with('[') {
        let end = rest.find(']')? + 1;
        let control = &rest[..end];
        rest = rest[end..].trim_start();
        control.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        let (control, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        rest = after.trim_start();
        control.to_string()
    };
    let mut words = rest.split_whitespace();
    let module_path = words.next()?;
    let module = module_path.rsplit('/').next().unwrap_or(module_path).to_string();
    let args: Vec<String> = words.map(String::from).collect();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(PamRule { line, kind: kind.trim_start_matches('-').to_ascii_lowercase(), control, module, args, text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::tests::fixture;

    #[test]
    fn debian_common_auth_rules() {
        let rules = parse(&fixture("debian12/common-auth"));
        let summary: Vec<(usize, &str, &str, &str)> =
            rules.iter().map(|r| (r.line, r.kind.as_str(), r.control.as_str(), r.module.as_str())).collect();
        assert_eq!(
            summary,
            [
                (17, "auth", "[success=1 default=ignore]", "pam_unix.so"),
                (19, "auth", "requisite", "pam_deny.so"),
                (23, "auth", "required", "pam_permit.so"),
                (25, "auth", "optional", "pam_cap.so"),
            ]
        );
        assert!(rules[0].has_flag("nullok"));
    }

    #[test]
    fn rhel_authselect_rules_with_optional_dash_and_arguments() {
        let rules = parse(&fixture("rhel/system-auth.authselect-local-with-faillock"));
        let faillock: Vec<&str> =
            rules.iter().filter(|r| r.module == "pam_faillock.so").map(|r| r.text.as_str()).collect();
        assert_eq!(
            faillock,
            [
                "auth required pam_faillock.so preauth silent",
                "auth required pam_faillock.so authfail",
                "account required pam_faillock.so",
            ]
        );
        let systemd = rules.iter().find(|r| r.module == "pam_systemd.so").unwrap();
        assert_eq!((systemd.kind.as_str(), systemd.line), ("session", 17));
        let delay = rules.iter().find(|r| r.module == "pam_faildelay.so").unwrap();
        assert_eq!(delay.arg("delay"), Some("2000000"));
    }

    #[test]
    fn comments_continuations_and_absolute_module_paths() {
        let rules = parse("auth required /lib/security/pam_tally2.so \\\n  deny=4 # after five tries\n# auth x y\n");
        assert_eq!(rules.len(), 1);
        assert_eq!((rules[0].line, rules[0].module.as_str(), rules[0].arg("deny")), (1, "pam_tally2.so", Some("4")));
    }
}

//! The `ssh.*` checks: sshd's effective global configuration, read the way sshd itself reads it.
//!
//! sshd keeps the first value it sees for a keyword, follows `Include` (globs, relative to `/etc/ssh`) at the point
//! where it appears, and applies `Match` blocks only to matching connections, so they never set a global value.

use std::collections::HashMap;
use std::io;

use muster_shared::v1::{Check, ErrorKind, SectionName};

use super::{fail, not_applicable, pass, unknown};
use crate::root::{ErrorLog, SystemRoot, io_error_kind};

const PERMIT_ROOT_LOGIN: &str = "ssh.permit_root_login";
const PASSWORD_AUTHENTICATION: &str = "ssh.password_authentication";
const PERMIT_EMPTY_PASSWORDS: &str = "ssh.permit_empty_passwords";
const MAX_AUTH_TRIES: &str = "ssh.max_auth_tries";
const IDS: [&str; 4] = [PERMIT_ROOT_LOGIN, PASSWORD_AUTHENTICATION, PERMIT_EMPTY_PASSWORDS, MAX_AUTH_TRIES];

/// The most authentication attempts per connection we accept (CIS recommends 4 or fewer).
pub(crate) const MAX_AUTH_TRIES_LIMIT: u32 = 4;

/// sshd's own limit on nested `Include` (READCONF_MAX_DEPTH).
const MAX_INCLUDE_DEPTH: usize = 16;
/// Files read for one configuration, counting each time one is included. sshd has only the depth limit, but a
/// drop-in directory whose files include the directory again fans out to (files)^16 reads within it; real
/// configurations read a handful.
const MAX_FILES_READ: usize = 1024;

const SSHD_BINARIES: [&str; 3] = ["/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd"];
const MAIN_CONFIG: &str = "/etc/ssh/sshd_config";
/// openSUSE and newer Fedora ship the vendor default here and use it when `/etc/ssh/sshd_config` is absent.
const VENDOR_CONFIG: &str = "/usr/etc/ssh/sshd_config";

/// Read access to the configuration files, so the resolver can run on a mounted root or in memory.
pub(crate) trait ConfigFiles {
    fn read(&self, path: &str) -> io::Result<String>;
    /// Names of the entries of directory `dir`.
    fn list_dir(&self, dir: &str) -> io::Result<Vec<String>>;
}

impl ConfigFiles for SystemRoot {
    fn read(&self, path: &str) -> io::Result<String> {
        SystemRoot::read(self, path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    fn list_dir(&self, dir: &str) -> io::Result<Vec<String>> {
        std::fs::read_dir(self.path(dir))?
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect()
    }
}

/// One global setting and the line that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    pub value: String,
    /// `path:line: text`, the evidence a report shows.
    pub origin: String,
}

/// The global (outside any `Match`) settings in effect, keyed by lower-case keyword.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SshdConfig {
    settings: HashMap<String, Setting>,
}

impl SshdConfig {
    pub(crate) fn get(&self, keyword: &str) -> Option<&Setting> {
        self.settings.get(&keyword.to_ascii_lowercase())
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SshdConfigError {
    #[error("{path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: Include nested deeper than {MAX_INCLUDE_DEPTH} levels")]
    TooDeep { path: String },
    #[error("{path}: Include reads more than {MAX_FILES_READ} files")]
    TooManyFiles { path: String },
}

/// Resolves the effective global configuration starting at `main_path`.
pub(crate) fn effective_config(files: &impl ConfigFiles, main_path: &str) -> Result<SshdConfig, SshdConfigError> {
    let text = files.read(main_path).map_err(|source| SshdConfigError::Read { path: main_path.to_string(), source })?;
    let mut config = SshdConfig::default();
    let mut active = true;
    let mut reads = 1;
    read_file(files, main_path, &text, &mut active, &mut config, 0, &mut reads)?;
    Ok(config)
}

fn read_file(
    files: &impl ConfigFiles,
    path: &str,
    text: &str,
    active: &mut bool,
    config: &mut SshdConfig,
    depth: usize,
    reads: &mut usize,
) -> Result<(), SshdConfigError> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(SshdConfigError::TooDeep { path: path.to_string() });
    }
    // A file included from inside a non-matching Match block can never become active (SSHCFG_NEVERMATCH).
    let never_match = !*active;
    for (number, line) in super::setting_lines(text) {
        let Some((keyword, args)) = split_directive(line) else { continue };
        let keyword = keyword.to_ascii_lowercase();
        match keyword.as_str() {
            "match" => {
                *active = !never_match && args.first().is_some_and(|a| a.eq_ignore_ascii_case("all"));
            }
            "include" => {
                for pattern in &args {
                    let pattern =
                        if pattern.starts_with('/') { pattern.clone() } else { format!("/etc/ssh/{pattern}") };
                    for included in expand_glob(files, &pattern) {
                        *reads += 1;
                        if *reads > MAX_FILES_READ {
                            return Err(SshdConfigError::TooManyFiles { path: included });
                        }
                        let included_text = match files.read(&included) {
                            Ok(text) => text,
                            // glob(3) only returns existing paths, so a missing literal path is no match.
                            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                            Err(source) => return Err(SshdConfigError::Read { path: included, source }),
                        };
                        let outer_active = *active;
                        read_file(files, &included, &included_text, active, config, depth + 1, reads)?;
                        *active = outer_active;
                    }
                }
            }
            _ if *active => {
                if let Some(value) = args.first() {
                    config.settings.entry(keyword).or_insert_with(|| Setting {
                        value: value.clone(),
                        origin: format!("{path}:{number}: {line}"),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Splits `Keyword[ =]args` the way sshd's argv_split does: whitespace or one `=` after the keyword, double quotes
/// group words, and a word starting with `#` ends the line.
fn split_directive(line: &str) -> Option<(&str, Vec<String>)> {
    let end = line.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(line.len());
    let keyword = &line[..end];
    if keyword.is_empty() {
        return None;
    }
    let mut rest = line[end..].trim_start();
    if let Some(stripped) = rest.strip_prefix('=') {
        rest = stripped.trim_start();
    }
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            break;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                word.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        args.push(word);
    }
    Some((keyword, args))
}

/// Expands an absolute glob(7) pattern into existing paths in lexical order, as glob(3) does for sshd.
/// Patterns that match nothing expand to nothing, which sshd accepts silently.
fn expand_glob(files: &impl ConfigFiles, pattern: &str) -> Vec<String> {
    let mut paths = vec![String::new()];
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    for (index, component) in components.iter().enumerate() {
        let last = index + 1 == components.len();
        let mut next = Vec::new();
        for base in &paths {
            if !has_wildcard(component) {
                next.push(format!("{base}/{component}"));
                continue;
            }
            let dir = if base.is_empty() { "/".to_string() } else { base.clone() };
            let Ok(mut names) = files.list_dir(&dir) else { continue };
            names.sort();
            next.extend(
                names.into_iter().filter(|name| wildcard_match(component, name)).map(|n| format!("{base}/{n}")),
            );
        }
        paths = next;
        if !last {
            paths.retain(|p| files.list_dir(p).is_ok());
        }
    }
    paths
}

fn has_wildcard(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

/// fnmatch(3) for one path component: `*`, `?` and `[...]` (with `!`/`^` negation and ranges); a leading `.` must be
/// matched explicitly.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    match_from(&pattern, &name)
}

/// Iterative fnmatch: every token but `*` takes exactly one character, so on a mismatch only the latest `*` needs
/// to take one more, and earlier stars are never revisited. This is linear in pattern × name; the recursive form
/// it replaces was exponential in the number of stars (fuzz/sshd_config found a 31-star `Include` that hung it).
fn match_from(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where the latest star's pattern continues, and the name position it has been tried from.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match step(pattern, p, name[n]) {
            Step::Star => {
                p += 1;
                star = Some((p, n));
                continue;
            }
            Step::Matched(used) => {
                p += used;
                n += 1;
                continue;
            }
            Step::Mismatch => {}
        }
        let Some((after_star, tried)) = star else { return false };
        p = after_star;
        n = tried + 1;
        star = Some((after_star, n));
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

enum Step {
    Star,
    /// The token at the position matched one character; the pattern characters it used.
    Matched(usize),
    Mismatch,
}

fn step(pattern: &[char], p: usize, c: char) -> Step {
    match pattern.get(p) {
        None => Step::Mismatch,
        Some('*') => Step::Star,
        Some('?') => Step::Matched(1),
        Some('[') => match bracket(&pattern[p + 1..], c) {
            Some((true, used)) => Step::Matched(1 + used),
            Some((false, _)) => Step::Mismatch,
            // An unterminated bracket is an ordinary character.
            None if c == '[' => Step::Matched(1),
            None => Step::Mismatch,
        },
        Some(&literal) if literal == c => Step::Matched(1),
        Some(_) => Step::Mismatch,
    }
}

/// Matches `c` against a bracket expression starting after `[`; returns the result and the characters consumed,
/// including the closing `]`.
fn bracket(pattern: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(pattern.first(), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < pattern.len() {
        let p = pattern[i];
        if p == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < pattern.len() && pattern[i + 1] == '-' && pattern[i + 2] != ']' {
            matched |= (p..=pattern[i + 2]).contains(&c);
            i += 3;
        } else {
            matched |= p == c;
            i += 1;
        }
    }
    None
}

/// The four checks over an effective configuration.
pub(crate) fn evaluate(config: &SshdConfig) -> Vec<Check> {
    vec![
        yes_no(
            config,
            PERMIT_ROOT_LOGIN,
            "PermitRootLogin",
            "prohibit-password",
            |v| match v {
                "yes" => Some(false),
                "no" | "prohibit-password" | "without-password" | "forced-commands-only" => Some(true),
                _ => None,
            },
            "set `PermitRootLogin no` (or prohibit-password) in /etc/ssh/sshd_config and reload sshd",
        ),
        yes_no(
            config,
            PASSWORD_AUTHENTICATION,
            "PasswordAuthentication",
            "yes",
            yes_is_bad,
            "set `PasswordAuthentication no` in /etc/ssh/sshd_config (use keys) and reload sshd",
        ),
        yes_no(
            config,
            PERMIT_EMPTY_PASSWORDS,
            "PermitEmptyPasswords",
            "no",
            yes_is_bad,
            "set `PermitEmptyPasswords no` in /etc/ssh/sshd_config and reload sshd",
        ),
        max_auth_tries(config),
    ]
}

fn yes_is_bad(value: &str) -> Option<bool> {
    match value {
        "yes" => Some(false),
        "no" => Some(true),
        _ => None,
    }
}

fn yes_no(
    config: &SshdConfig,
    id: &str,
    keyword: &str,
    default: &str,
    judge: impl Fn(&str) -> Option<bool>,
    remediation: &str,
) -> Check {
    let (value, evidence) = match config.get(keyword) {
        Some(setting) => (setting.value.to_ascii_lowercase(), setting.origin.clone()),
        None => (default.to_string(), format!("{keyword} not set globally: OpenSSH default is {default}")),
    };
    match judge(&value) {
        Some(true) => pass(id, vec![evidence]),
        Some(false) => fail(id, vec![evidence], remediation),
        None => unknown(id, format!("unrecognised value, sshd would refuse to start: {evidence}")),
    }
}

fn max_auth_tries(config: &SshdConfig) -> Check {
    const DEFAULT: u32 = 6;
    let remediation = "set `MaxAuthTries 4` (or fewer) in /etc/ssh/sshd_config and reload sshd";
    let (value, evidence) = match config.get("MaxAuthTries") {
        Some(setting) => match setting.value.parse::<u32>() {
            Ok(value) => (value, setting.origin.clone()),
            Err(_) => return unknown(MAX_AUTH_TRIES, format!("not a number: {}", setting.origin)),
        },
        None => (DEFAULT, format!("MaxAuthTries not set globally: OpenSSH default is {DEFAULT}")),
    };
    if value <= MAX_AUTH_TRIES_LIMIT {
        pass(MAX_AUTH_TRIES, vec![evidence])
    } else {
        fail(MAX_AUTH_TRIES, vec![evidence], remediation)
    }
}

/// Reads the installed sshd configuration through `root` and evaluates it.
pub(crate) fn probe(root: &SystemRoot, errors: &mut ErrorLog) -> Vec<Check> {
    let binary = SSHD_BINARIES.iter().find(|path| root.exists(path));
    let main = [MAIN_CONFIG, VENDOR_CONFIG].into_iter().find(|path| root.exists(path));
    let all = |make: &dyn Fn(&str) -> Check| IDS.iter().map(|id| make(id)).collect::<Vec<_>>();
    match (binary, main) {
        (None, None) => all(&|id| not_applicable(id, "no SSH server installed (no sshd binary or sshd_config)")),
        (None, Some(path)) => all(&|id| not_applicable(id, format!("{path} exists but no sshd binary is installed"))),
        (Some(binary), None) => {
            all(&|id| unknown(id, format!("{binary} is installed but {MAIN_CONFIG} is missing; sshd will not start")))
        }
        (Some(_), Some(path)) => match effective_config(root, path) {
            Ok(config) => evaluate(&config),
            Err(err) => {
                let kind = match &err {
                    SshdConfigError::Read { source, .. } => io_error_kind(source),
                    SshdConfigError::TooDeep { .. } | SshdConfigError::TooManyFiles { .. } => ErrorKind::Parse,
                };
                errors.record(SectionName::Checks, path, kind, err.to_string());
                all(&|id| unknown(id, format!("sshd configuration unreadable: {err}")))
            }
        },
    }
}

#[cfg(test)]
mod tests;

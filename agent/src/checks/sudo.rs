//! The `sudo.nopasswd` check: sudoers rules that grant commands without asking for a password.

use muster_shared::v1::{Check, SectionName};

use super::sshd::ConfigFiles;
use super::{Input, fail, not_applicable, pass, read_input, unknown};
use crate::root::{ErrorLog, SystemRoot, io_error_kind};

const NOPASSWD: &str = "sudo.nopasswd";
/// sudo's default policy file; `sudo.conf` may name another (`sudoers_file=` on the sudoers_policy plugin line).
const SUDOERS: &str = "/etc/sudoers";
const SUDO_CONF: &str = "/etc/sudo.conf";
const NSSWITCH: &str = "/etc/nsswitch.conf";
/// Where distributions and source builds install the sudo program.
const SUDO_PROGRAMS: [&str; 4] = ["/usr/bin/sudo", "/bin/sudo", "/usr/sbin/sudo", "/usr/local/bin/sudo"];
/// sudo refuses deeper include nesting than this.
const MAX_DEPTH: usize = 128;
/// Guards against include loops; real systems have a handful of files.
const MAX_FILES: usize = 256;

/// What one sudoers file says that matters here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// `path:line: text` of each rule or default that lets a command run without a password.
    pub findings: Vec<String>,
    pub includes: Vec<Include>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Include {
    File(String),
    Dir(String),
}

/// Scans one sudoers file. `#include`/`@include` are directives, `#` followed by a digit is a numeric user ID, any
/// other `#` starts a comment; a trailing `\` continues the line.
pub(crate) fn scan(path: &str, text: &str) -> Scan {
    let mut result = Scan::default();
    let dir = path.rsplit_once('/').map_or("/", |(dir, _)| if dir.is_empty() { "/" } else { dir });
    for (start, line) in logical_lines(text) {
        let line = line.trim();
        if let Some(include) = directive(line, dir) {
            result.includes.push(include);
            continue;
        }
        if line.is_empty() || (line.starts_with('#') && !line[1..].starts_with(|c: char| c.is_ascii_digit())) {
            continue;
        }
        if grants_without_password(line) {
            result.findings.push(format!("{path}:{start}: {}", line.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    }
    result
}

/// sudoers' lines with each trailing `\\` continuation joined, numbered by the line each starts on (the evidence
/// names it); the sudo check and the accounts inventory read the same syntax.
pub(crate) fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut start = 0;
    for (index, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start = index + 1;
        }
        if let Some(continued) = raw.strip_suffix('\\') {
            logical.push_str(continued);
            continue;
        }
        logical.push_str(raw);
        out.push((start, std::mem::take(&mut logical)));
    }
    out
}

fn directive(line: &str, dir: &str) -> Option<Include> {
    let rest = line.strip_prefix('@').or_else(|| line.strip_prefix('#'))?;
    let (keyword, target) = rest.split_once(char::is_whitespace)?;
    let target = target.trim().trim_matches('"');
    let target = if target.starts_with('/') { target.to_string() } else { format!("{dir}/{target}") };
    match keyword {
        "includedir" => Some(Include::Dir(target)),
        "include" => Some(Include::File(target)),
        _ => None,
    }
}

fn grants_without_password(line: &str) -> bool {
    let tag = line.match_indices("NOPASSWD").any(|(at, word)| {
        let before_ok = line[..at].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
        before_ok && line[at + word.len()..].trim_start().starts_with(':')
    });
    let no_authenticate =
        line.starts_with("Defaults") && line.split([',', ' ', '\t']).any(|option| option.trim() == "!authenticate");
    tag || no_authenticate
}

/// sudo reads files in an include directory in lexical order, skipping names with a `.` or ending in `~`.
pub(crate) fn includedir_files(mut names: Vec<String>) -> Vec<String> {
    names.retain(|name| !name.contains('.') && !name.ends_with('~'));
    names.sort();
    names
}

/// The policy file sudo reads: `sudoers_file=` on sudo.conf's `Plugin sudoers_policy` line, else `/etc/sudoers`.
pub(crate) fn sudoers_path(sudo_conf: Option<&str>) -> String {
    let configured = sudo_conf.and_then(|text| {
        super::setting_lines(text)
            .filter_map(|(_, line)| {
                let mut words = line.split_whitespace();
                (words.next() == Some("Plugin") && words.next() == Some("sudoers_policy"))
                    .then(|| words.skip(1).find_map(|option| option.strip_prefix("sudoers_file=")))
                    .flatten()
            })
            .last()
    });
    configured.unwrap_or(SUDOERS).to_string()
}

/// The verdict when the policy file does not exist. Without the sudo program nothing is installed; with it, sudo
/// either takes its rules from a directory service (nsswitch.conf `sudoers:` naming more than `files`), which the
/// agent cannot read, or it refuses to run at all ("no valid sudoers sources found"), which grants nothing.
pub(crate) fn without_sudoers(sudoers: &str, program: Option<&str>, nsswitch: Option<&str>) -> Check {
    let Some(program) = program else {
        return not_applicable(NOPASSWD, format!("sudo is not installed (no sudo program and no {sudoers})"));
    };
    let sources = nsswitch.and_then(|text| {
        super::setting_lines(text)
            .filter_map(|(number, line)| {
                let (database, sources) = line.split_once(':')?;
                (database.trim() == "sudoers").then(|| (number, sources.split_whitespace().collect::<Vec<_>>(), line))
            })
            .last()
    });
    if let Some((number, sources, line)) = sources {
        let remote: Vec<&str> = sources.iter().copied().filter(|s| *s != "files" && !s.starts_with('[')).collect();
        if !remote.is_empty() {
            return unknown(
                NOPASSWD,
                format!(
                    "{program} is installed and {sudoers} is missing; sudo takes its rules from {} \
                     ({NSSWITCH}:{number}: {}), which the agent cannot read",
                    remote.join(", "),
                    line.split_whitespace().collect::<Vec<_>>().join(" ")
                ),
            );
        }
    }
    pass(
        NOPASSWD,
        vec![format!(
            "{program} is installed but {sudoers} is missing: sudo refuses to run without its policy file, so it \
             grants nothing"
        )],
    )
}

/// Resolves the sudoers file at `sudoers` and its includes through `files` and scans them all; `None` when that
/// file does not exist.
pub(crate) fn check_files(files: &impl ConfigFiles, sudoers: &str) -> Result<Option<Check>, (String, std::io::Error)> {
    let mut findings = Vec::new();
    let mut queue: Vec<(String, usize)> = vec![(sudoers.to_string(), 0)];
    let mut read = 0;
    while let Some((path, depth)) = queue.pop() {
        if depth > MAX_DEPTH || read >= MAX_FILES {
            return Ok(Some(unknown(NOPASSWD, format!("{path}: sudoers includes nest too deep or loop"))));
        }
        let text = match files.read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && depth == 0 => return Ok(None),
            // sudo skips a missing included file with a warning.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err((path, err)),
        };
        read += 1;
        let scanned = scan(&path, &text);
        findings.extend(scanned.findings);
        let mut next = Vec::new();
        for include in scanned.includes {
            match include {
                Include::File(file) => next.push((file, depth + 1)),
                Include::Dir(dir) => {
                    let names = files.list_dir(&dir).unwrap_or_default();
                    next.extend(includedir_files(names).into_iter().map(|name| (format!("{dir}/{name}"), depth + 1)));
                }
            }
        }
        // The queue is a stack: push in reverse so files are read in the order sudo reads them.
        queue.extend(next.into_iter().rev());
    }
    Ok(Some(if findings.is_empty() {
        pass(NOPASSWD, vec![format!("no NOPASSWD or !authenticate in {read} sudoers file(s)")])
    } else {
        fail(NOPASSWD, findings, "remove NOPASSWD (and !authenticate) from sudoers so sudo asks for a password")
    }))
}

pub(crate) fn probe(root: &SystemRoot, errors: &mut ErrorLog) -> Check {
    let present = |input: Input| match input {
        Input::Present(text) => Some(text),
        Input::Missing | Input::Unreadable(_) => None,
    };
    let sudoers = sudoers_path(present(read_input(root, SUDO_CONF, errors)).as_deref());
    match check_files(root, &sudoers) {
        Ok(Some(check)) => check,
        Ok(None) => {
            let program = SUDO_PROGRAMS.into_iter().find(|path| root.path(path).is_file());
            without_sudoers(&sudoers, program, present(read_input(root, NSSWITCH, errors)).as_deref())
        }
        Err((path, err)) => {
            let kind = io_error_kind(&err);
            errors.record(SectionName::Checks, path.clone(), kind, err.to_string());
            unknown(NOPASSWD, format!("{path}: {err}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use muster_shared::v1::CheckStatus::{Fail, NotApplicable, Pass, Unknown};

    use super::*;
    use crate::checks::tests::{Tree, assert_check, assert_reason, edit, fixture};

    const SUDO_GROUP: &str = "%sudo\tALL=(ALL:ALL) ALL";

    fn run(tree: &Tree) -> Check {
        let mut errors = ErrorLog::new();
        let check = probe(&tree.root(), &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.as_slice());
        check
    }

    fn debian(sudoers: &str) -> Tree {
        let tree = Tree::new();
        tree.file(SUDOERS, sudoers).file("/etc/sudoers.d/README", "# sudoers.d README shipped by Debian\n");
        tree
    }

    #[test]
    fn debian_default_sudoers_asks_for_passwords() {
        assert_check(
            &run(&debian(&fixture("debian12/sudoers"))),
            Pass,
            &["no NOPASSWD or !authenticate in 2 sudoers file(s)"],
        );
    }

    #[test]
    fn a_nopasswd_rule_fails_but_a_commented_one_does_not() {
        let base = fixture("debian12/sudoers");
        let insecure = edit(&base, SUDO_GROUP, "%sudo\tALL=(ALL:ALL) NOPASSWD: ALL");
        assert_check(&run(&debian(&insecure)), Fail, &["/etc/sudoers:50: %sudo ALL=(ALL:ALL) NOPASSWD: ALL"]);
        // Fedora ships this line commented out.
        let commented = edit(&base, SUDO_GROUP, "# %wheel\tALL=(ALL)\tNOPASSWD: ALL");
        assert_eq!(run(&debian(&commented)).status, Pass);
    }

    #[test]
    fn drop_ins_from_includedir_are_read_and_dotted_names_skipped() {
        let tree = debian(&fixture("debian12/sudoers"));
        tree.file(
            "/etc/sudoers.d/90-cloud-init-users",
            "# Created by cloud-init\n\n# User rules for admin\nadmin ALL=(ALL) NOPASSWD:ALL\n",
        )
        .file("/etc/sudoers.d/backup.dpkg-old", "backup ALL=(ALL) NOPASSWD: ALL\n")
        .file("/etc/sudoers.d/10-defaults", "Defaults:deploy !authenticate\n");
        assert_check(
            &run(&tree),
            Fail,
            &[
                "/etc/sudoers.d/10-defaults:1: Defaults:deploy !authenticate",
                "/etc/sudoers.d/90-cloud-init-users:4: admin ALL=(ALL) NOPASSWD:ALL",
            ],
        );
    }

    #[test]
    fn legacy_hash_include_and_continued_lines() {
        let sudoers = edit(&fixture("debian12/sudoers"), "@includedir /etc/sudoers.d", "#include sudoers.local");
        let tree = debian(&sudoers);
        tree.file("/etc/sudoers.local", "ops ALL=(root) \\\n    NOPASSWD: /usr/bin/systemctl\n");
        assert_check(&run(&tree), Fail, &["/etc/sudoers.local:1: ops ALL=(root) NOPASSWD: /usr/bin/systemctl"]);
    }

    #[test]
    fn without_sudoers_or_program_sudo_is_not_installed() {
        assert_reason(&run(&Tree::new()), NotApplicable, "sudo is not installed (no sudo program and no /etc/sudoers)");
    }

    /// Issue 16: the program is there, only the policy file is gone. sudo then refuses to run, unless a directory
    /// service supplies the rules.
    #[test]
    fn sudo_installed_without_sudoers_grants_nothing_or_defers_to_the_directory() {
        let tree = Tree::new();
        tree.file("/usr/bin/sudo", "").file(SUDO_CONF, &fixture("debian12/sudo.conf"));
        tree.file(NSSWITCH, &fixture("debian12/nsswitch.conf")).symlink("/bin", "usr/bin");
        assert_check(
            &run(&tree),
            Pass,
            &["/usr/bin/sudo is installed but /etc/sudoers is missing: sudo refuses to run without its policy file, \
               so it grants nothing"],
        );
        // What libsss-sudo's postinst adds to nsswitch.conf.
        let sss = edit(
            &fixture("debian12/nsswitch.conf"),
            "netgroup:       nis",
            "netgroup:       nis\nsudoers:        files sss",
        );
        tree.file(NSSWITCH, &sss);
        assert_reason(
            &run(&tree),
            Unknown,
            "/usr/bin/sudo is installed and /etc/sudoers is missing; sudo takes its rules from sss \
             (/etc/nsswitch.conf:21: sudoers: files sss), which the agent cannot read",
        );
    }

    #[test]
    fn sudo_conf_names_the_policy_file() {
        let conf = fixture("debian12/sudo.conf");
        assert_eq!(sudoers_path(Some(&conf)), SUDOERS);
        let local = edit(
            &conf,
            "#Plugin sudoers_policy sudoers.so",
            "Plugin sudoers_policy sudoers.so sudoers_file=/etc/sudoers.local",
        );
        assert_eq!(sudoers_path(Some(&local)), "/etc/sudoers.local");
        let tree = Tree::new();
        tree.file(SUDO_CONF, &local).file("/etc/sudoers.local", "ops ALL=(ALL) NOPASSWD: ALL\n");
        assert_check(&run(&tree), Fail, &["/etc/sudoers.local:1: ops ALL=(ALL) NOPASSWD: ALL"]);
    }
}

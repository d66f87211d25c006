//! Local accounts for the host section: `/etc/passwd` and `/etc/group`, who can act as root (uid 0, the
//! `sudo`/`wheel`/`admin` groups, sudoers rules granting every command) and when each last logged in
//! ([`logins`]), read through [`SystemRoot`] so a mounted root is inventoried like a running system.
//!
//! Sudoers user aliases (`User_Alias`) and netgroups are not expanded: an account granted rights only through one
//! is not marked admin.

use std::collections::BTreeMap;

use muster_shared::v1::{Account, SectionName};

use crate::checks::sshd::ConfigFiles;
use crate::checks::sudo::{Include, includedir_files, logical_lines, scan};
use crate::root::{ErrorLog, SystemRoot};

/// Groups whose members distributions let run anything through sudo, polkit or su.
const ADMIN_GROUPS: [&str; 3] = ["sudo", "wheel", "admin"];
const SUDOERS: &str = "/etc/sudoers";
/// Include nesting and file count bounds, as in the sudo check.
const MAX_DEPTH: usize = 128;
const MAX_FILES: usize = 256;

/// One `/etc/group` line: name, gid and members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// One sudoers rule that grants every command, and to whom: a user name, `%group`, `#uid` or `%#gid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub principal: String,
    /// `path:line: text`.
    pub evidence: String,
}

/// The accounts of `/etc/passwd` (`name:password:uid:gid:gecos:home:shell`); lines that are not accounts (NIS
/// `+`/`-` entries, comments, lines without numeric ids) are skipped.
pub fn parse_passwd(text: &str) -> Vec<Account> {
    text.lines()
        .filter(|line| !line.starts_with(['+', '-', '#']))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let [name, _, uid, gid, _, home, shell] = fields[..] else { return None };
            let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
            Some(Account {
                name: name.to_string(),
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
                home: non_empty(home),
                shell: non_empty(shell),
                interactive: !(shell.ends_with("/nologin") || shell.ends_with("/false")),
                groups: Vec::new(),
                admin: false,
                admin_evidence: Vec::new(),
                last_login: None,
            })
            .filter(|a| !a.name.is_empty())
        })
        .collect()
}

/// The groups of `/etc/group` (`name:password:gid:member,member`).
pub fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter(|line| !line.starts_with(['+', '-', '#']))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let [name, _, gid, members] = fields[..] else { return None };
            let members = members.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect();
            Some(Group { name: name.to_string(), gid: gid.parse().ok()?, members })
        })
        .collect()
}

/// The rules of one sudoers file that grant every command (`... = (runas) [TAGS:] ALL`), one per principal.
pub fn sudo_grants(path: &str, text: &str) -> Vec<Grant> {
    let mut out = Vec::new();
    for (start, line) in logical_lines(text) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('@') || line.starts_with("Defaults") || line.contains("_Alias") {
            continue;
        }
        if line.starts_with('#') && !line.starts_with("%#") && !line[1..].starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let Some((who, commands)) = line.split_once('=') else { continue };
        if !grants_all(commands) {
            continue;
        }
        // `alice, %ops  ALL`: the users are what comes before the host list.
        let users = who.replace(", ", ",");
        let Some(users) = users.split_whitespace().next() else { continue };
        let evidence = format!("{path}:{start}: {}", line.split_whitespace().collect::<Vec<_>>().join(" "));
        for principal in users.split(',').map(str::trim).filter(|p| !p.is_empty() && !p.starts_with('!')) {
            out.push(Grant { principal: principal.to_string(), evidence: evidence.clone() });
        }
    }
    out
}

/// Whether a rule's command part (after `=`) is `ALL`, after a `(runas)` list and tags such as `NOPASSWD:`.
fn grants_all(commands: &str) -> bool {
    let mut rest = commands.trim();
    if rest.starts_with('(') {
        rest = rest.split_once(')').map_or("", |(_, after)| after).trim();
    }
    rest.split(',').any(|command| command.rsplit(':').next().is_some_and(|c| c.trim() == "ALL"))
}

/// Puts groups and administrative rights on `accounts`.
pub fn resolve(accounts: &mut [Account], groups: &[Group], grants: &[Grant]) {
    let by_gid: BTreeMap<u32, &Group> = groups.iter().map(|g| (g.gid, g)).collect();
    for account in accounts.iter_mut() {
        let primary = by_gid.get(&account.gid).map(|g| g.name.clone());
        let supplementary = groups.iter().filter(|g| g.members.contains(&account.name)).map(|g| g.name.clone());
        let mut names: Vec<String> = primary.into_iter().chain(supplementary).collect();
        dedup_keep_order(&mut names);
        let mut evidence = Vec::new();
        if account.uid == 0 {
            evidence.push("uid 0".to_string());
        }
        evidence.extend(names.iter().filter(|n| ADMIN_GROUPS.contains(&n.as_str())).map(|n| format!("group {n}")));
        for grant in grants {
            let applies = match grant.principal.strip_prefix('%') {
                Some(gid) if gid.starts_with('#') => {
                    gid[1..].parse::<u32>().is_ok_and(|gid| by_gid.get(&gid).is_some_and(|g| names.contains(&g.name)))
                }
                Some(group) => names.iter().any(|n| n == group),
                None => match grant.principal.strip_prefix('#') {
                    Some(uid) => uid.parse() == Ok(account.uid),
                    None => grant.principal == account.name,
                },
            };
            if applies && !evidence.contains(&grant.evidence) {
                evidence.push(grant.evidence.clone());
            }
        }
        account.groups = names;
        account.admin = !evidence.is_empty();
        account.admin_evidence = evidence;
    }
}

fn dedup_keep_order(names: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
}

/// The accounts of the system under `root`, with groups and rights; problems reading the files are logged.
pub fn probe(root: &SystemRoot, errors: &mut ErrorLog) -> Vec<Account> {
    let mut accounts = match root.read_to_string("/etc/passwd") {
        Ok(text) => parse_passwd(&text),
        Err(err) => {
            errors.io(SectionName::Host, "/etc/passwd", &err);
            return Vec::new();
        }
    };
    let groups = match root.read_to_string("/etc/group") {
        Ok(text) => parse_group(&text),
        Err(err) => {
            errors.io(SectionName::Host, "/etc/group", &err);
            Vec::new()
        }
    };
    let grants = sudoers_grants(root, errors);
    resolve(&mut accounts, &groups, &grants);
    logins::probe(root, &mut accounts, errors);
    accounts
}

/// The grants of `/etc/sudoers` and the files it includes, read in sudo's order; a missing policy grants nothing.
fn sudoers_grants(files: &impl ConfigFiles, errors: &mut ErrorLog) -> Vec<Grant> {
    let mut grants = Vec::new();
    let mut queue: Vec<(String, usize)> = vec![(SUDOERS.to_string(), 0)];
    let mut read = 0;
    while let Some((path, depth)) = queue.pop() {
        if depth > MAX_DEPTH || read >= MAX_FILES {
            errors.record(SectionName::Host, path, muster_shared::v1::ErrorKind::Parse, "sudoers includes loop");
            break;
        }
        let text = match files.read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                errors.io(SectionName::Host, path, &err);
                continue;
            }
        };
        read += 1;
        grants.extend(sudo_grants(&path, &text));
        let mut next = Vec::new();
        for include in scan(&path, &text).includes {
            match include {
                Include::File(file) => next.push((file, depth + 1)),
                Include::Dir(dir) => {
                    let names = files.list_dir(&dir).unwrap_or_default();
                    next.extend(includedir_files(names).into_iter().map(|name| (format!("{dir}/{name}"), depth + 1)));
                }
            }
        }
        queue.extend(next.into_iter().rev());
    }
    grants
}

pub mod logins;
#[cfg(test)]
mod tests;

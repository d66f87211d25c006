//! The `files.world_writable` check: a bounded walk of system directories for files anyone may modify, and the
//! sticky bit on the shared temporary directories.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use muster_shared::v1::{Check, ErrorKind, SectionName};

use super::{fail, pass, unknown};
use crate::root::{ErrorLog, SystemRoot};

const WORLD_WRITABLE: &str = "files.world_writable";

/// Most important first, so a scan cut short has covered what matters most; `/usr` last catches the rest.
const SCAN_ROOTS: [&str; 14] = [
    "/etc",
    "/boot",
    "/usr/local",
    "/usr/bin",
    "/usr/sbin",
    "/bin",
    "/sbin",
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
    "/usr/libexec",
    "/opt",
    "/usr",
];
/// Directories every user writes to: they must carry the sticky bit (or anyone may delete or replace anyone's
/// files in them). Only the directories themselves are judged; their contents belong to their users.
const SHARED_TEMP_DIRS: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];
/// A Debian or RHEL server's system directories hold 100,000–250,000 entries (210,000 on the build machine); the
/// limits leave room for that, so a stop is the exception and is reported as `unknown`.
pub(crate) const DEFAULT_MAX_ENTRIES: usize = 500_000;
pub(crate) const DEFAULT_MAX_MILLIS: u64 = 1_500;
/// How many offending paths the evidence lists.
const LISTED: usize = 20;

/// Limits that keep the scan inside the agent's CPU budget.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    pub max_entries: usize,
    pub deadline: Instant,
}

/// What the walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// System paths of world-writable regular files and of world-writable directories without the sticky bit.
    pub offenders: Vec<String>,
    pub entries: usize,
    /// Set when a limit stopped the walk: the limit that was hit.
    pub stopped: Option<String>,
}

/// Walks the system directories under `root`, never following symbolic links or leaving a directory's filesystem.
pub(crate) fn scan(root: &SystemRoot, budget: &Budget) -> Scan {
    let mut result = Scan::default();
    for dir in SHARED_TEMP_DIRS {
        // The directory itself, never its entries; a symbolic link (e.g. /var/tmp -> /tmp) is judged where it points.
        let Ok(meta) = std::fs::metadata(root.path(dir)) else { continue };
        let mode = meta.permissions().mode();
        if meta.is_dir() && mode & 0o002 != 0 && mode & 0o1000 == 0 {
            result.offenders.push(dir.to_string());
        }
    }
    let tops: Vec<(String, PathBuf)> = SCAN_ROOTS.iter().map(|top| (top.to_string(), root.path(top))).collect();
    let mut done: BTreeSet<PathBuf> = BTreeSet::new();
    for (top, host_top) in &tops {
        // On merged-/usr systems /bin and friends are symbolic links into /usr: scanned once, there.
        let Ok(meta) = std::fs::symlink_metadata(host_top) else { continue };
        if !meta.is_dir() || done.contains(host_top) {
            continue;
        }
        let skip: BTreeSet<&Path> =
            tops.iter().filter(|(other, _)| other != top).map(|(_, path)| path.as_path()).collect();
        if !walk(host_top, meta.dev(), &skip, root.base(), budget, &mut result) {
            break;
        }
        done.insert(host_top.clone());
    }
    result
}

/// Depth-first walk of one top directory; false when a limit stopped it.
fn walk(top: &Path, dev: u64, skip: &BTreeSet<&Path>, base: &Path, budget: &Budget, out: &mut Scan) -> bool {
    let mut stack = vec![top.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            out.entries += 1;
            if out.entries > budget.max_entries {
                out.stopped = Some(format!("{} entries", budget.max_entries));
                return false;
            }
            // Checking the clock every entry would cost more than the entries themselves.
            if out.entries.is_multiple_of(1024) && Instant::now() >= budget.deadline {
                out.stopped = Some("the time limit".to_string());
                return false;
            }
            // Symbolic links are never followed and their own mode means nothing: skip them without a stat.
            if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let mode = meta.permissions().mode();
            let path = entry.path();
            if meta.is_dir() {
                if mode & 0o002 != 0 && mode & 0o1000 == 0 {
                    out.offenders.push(system_path(base, &path));
                }
                if meta.dev() == dev && !skip.contains(path.as_path()) {
                    stack.push(path);
                }
            } else if meta.is_file() && mode & 0o002 != 0 {
                out.offenders.push(system_path(base, &path));
            }
        }
    }
    true
}

fn system_path(base: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(base).unwrap_or(path);
    format!("/{}", relative.display()).replace("//", "/")
}

/// Pure: the check for a finished (or stopped) scan.
pub(crate) fn evaluate(scan: &Scan) -> Check {
    let mut evidence: Vec<String> =
        scan.offenders.iter().take(LISTED).map(|p| format!("{p} is world-writable")).collect();
    if scan.offenders.len() > LISTED {
        evidence.push(format!("and {} more", scan.offenders.len() - LISTED));
    }
    match &scan.stopped {
        // No entry count here: a time-bounded scan reaches a different count each run, and evidence that changes
        // without a change on the machine would defeat the report's delta encoding. The count goes to the errors.
        // A stopped scan that found nothing proves nothing: the rest may hold what it looks for.
        Some(limit) if scan.offenders.is_empty() => {
            return unknown(
                WORLD_WRITABLE,
                format!(
                    "the scan stopped early at {limit} with nothing found so far; the rest of the system directories \
                     was not checked"
                ),
            );
        }
        Some(limit) => {
            evidence.push(format!("scan stopped early at {limit}; the rest of the system directories was not checked"))
        }
        None => evidence.push(format!(
            "scanned {} entries in {}; sticky bit checked on {}",
            scan.entries,
            SCAN_ROOTS.join(", "),
            SHARED_TEMP_DIRS.join(", ")
        )),
    }
    if scan.offenders.is_empty() {
        pass(WORLD_WRITABLE, evidence)
    } else {
        fail(
            WORLD_WRITABLE,
            evidence,
            "remove write permission for others (`chmod o-w <path>`) or set the sticky bit on shared directories",
        )
    }
}

pub(crate) fn probe(root: &SystemRoot, budget: &Budget, errors: &mut ErrorLog) -> Check {
    let scan = scan(root, budget);
    if let Some(limit) = &scan.stopped {
        errors.record(
            SectionName::Checks,
            WORLD_WRITABLE,
            ErrorKind::Truncated,
            format!("world-writable scan stopped at {limit} after {} entries", scan.entries.saturating_sub(1)),
        );
    }
    evaluate(&scan)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use muster_shared::v1::CheckStatus::{Fail, Pass, Unknown};

    use super::*;
    use crate::checks::tests::{Tree, assert_check, assert_reason};

    fn budget(max_entries: usize) -> Budget {
        Budget { max_entries, deadline: Instant::now() + Duration::from_secs(60) }
    }

    fn chmod(tree: &Tree, path: &str, mode: u32) {
        std::fs::set_permissions(tree.host_path(path), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn usr_merged() -> Tree {
        let tree = Tree::new();
        tree.file("/etc/hostname", "web1\n")
            .file("/usr/bin/ls", "")
            .file("/usr/lib/os-release", "ID=debian\n")
            .dir("/tmp")
            .symlink("/bin", "usr/bin")
            .symlink("/lib", "usr/lib");
        tree
    }

    #[test]
    fn a_clean_tree_passes_and_says_what_it_scanned() {
        let tree = usr_merged();
        chmod(&tree, "/tmp", 0o1777);
        assert_check(
            &evaluate(&scan(&tree.root(), &budget(1000))),
            Pass,
            &[
                "scanned 5 entries in /etc, /boot, /usr/local, /usr/bin, /usr/sbin, /bin, /sbin, /usr/lib, /usr/lib64, /lib, /lib64, /usr/libexec, /opt, /usr; sticky bit checked on /tmp, /var/tmp, /dev/shm",
            ],
        );
    }

    #[test]
    fn world_writable_files_and_non_sticky_dirs_fail_sticky_dirs_and_symlinks_do_not() {
        let tree = usr_merged();
        tree.file("/etc/cron.d/backup", "")
            .dir("/usr/share/spool")
            .dir("/usr/share/shared-tmp")
            .symlink("/etc/link", "/tmp");
        chmod(&tree, "/etc/cron.d/backup", 0o666);
        chmod(&tree, "/usr/share/spool", 0o777);
        chmod(&tree, "/usr/share/shared-tmp", 0o1777);
        let check = evaluate(&scan(&tree.root(), &budget(1000)));
        assert_eq!(check.status, Fail);
        assert_eq!(check.evidence[..2], ["/etc/cron.d/backup is world-writable", "/usr/share/spool is world-writable"]);
    }

    /// Issue 16: a scan cut short that found nothing said `pass`.
    #[test]
    fn a_scan_stopped_by_its_limit_with_nothing_found_is_unknown() {
        let tree = usr_merged();
        for i in 0..10 {
            tree.file(&format!("/usr/bin/tool{i}"), "");
        }
        let mut errors = ErrorLog::new();
        let check = probe(&tree.root(), &budget(4), &mut errors);
        assert_reason(
            &check,
            Unknown,
            "the scan stopped early at 4 entries with nothing found so far; the rest of the system directories was \
             not checked",
        );
        assert_eq!(errors.as_slice()[0].kind, ErrorKind::Truncated);
        assert_eq!(errors.as_slice()[0].message, "world-writable scan stopped at 4 entries after 4 entries");
        // What it did find still fails.
        chmod(&tree, "/etc/hostname", 0o666);
        let check = probe(&tree.root(), &budget(4), &mut ErrorLog::new());
        assert_check(
            &check,
            Fail,
            &[
                "/etc/hostname is world-writable",
                "scan stopped early at 4 entries; the rest of the system directories was not checked",
            ],
        );
    }

    /// Issue 16: /tmp, /var/tmp and /dev/shm were never looked at; a shared directory without the sticky bit lets
    /// any user delete or replace any other user's files. Their contents are not listed.
    #[test]
    fn shared_temp_dirs_need_the_sticky_bit() {
        let tree = usr_merged();
        tree.dir("/var/tmp").dir("/dev/shm").file("/tmp/user-file", "");
        chmod(&tree, "/tmp", 0o1777);
        chmod(&tree, "/var/tmp", 0o777);
        chmod(&tree, "/dev/shm", 0o1777);
        chmod(&tree, "/tmp/user-file", 0o666);
        let check = evaluate(&scan(&tree.root(), &budget(1000)));
        assert_eq!(check.status, Fail);
        assert_eq!(check.evidence[0], "/var/tmp is world-writable");
        assert_eq!(check.evidence.len(), 2, "{check:?}");
        chmod(&tree, "/var/tmp", 0o1777);
        assert_eq!(evaluate(&scan(&tree.root(), &budget(1000))).status, Pass);
    }
}

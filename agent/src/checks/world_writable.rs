//! The `files.world_writable` check: a bounded walk of system directories for files anyone may modify, and the
//! sticky bit on the shared temporary directories.

mod walk;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
/// A Debian or RHEL server's system directories hold 100,000–250,000 entries (140,000–210,000 on the build
/// machine, walked in 0.2 s of CPU with a warm cache, 0.4 s cold); the limits leave room for that, so a stop is
/// the exception and is reported as `unknown`.
pub(crate) const DEFAULT_MAX_ENTRIES: usize = 500_000;
/// The walk's own CPU time, not wall time: a machine busy with other work makes the walk slower, not costlier, and
/// a wall-clock limit stopped it there on every run (issue 16).
pub(crate) const DEFAULT_MAX_CPU_MILLIS: u64 = 1_500;
/// Wall-clock backstop, for a filesystem that stops answering.
pub(crate) const DEFAULT_MAX_WALL_MILLIS: u64 = 10_000;
/// Threads walking at once: the agent may take two cores for a moment, never the whole of a large server.
pub(crate) const DEFAULT_THREADS: usize = 2;
/// How many offending paths the evidence lists.
const LISTED: usize = 20;

/// Limits that keep the scan inside the agent's CPU budget.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    pub max_entries: usize,
    /// CPU time of the whole process (all walking threads) from the start of the walk.
    pub max_cpu: Duration,
    pub deadline: Instant,
    /// At least one; the walk runs on this thread and `threads - 1` more.
    pub threads: usize,
}

/// What the walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// System paths of world-writable regular files and of world-writable directories without the sticky bit.
    pub offenders: Vec<String>,
    /// Directory entries looked at (at most the budget's `max_entries`).
    pub entries: usize,
    /// Top directories left out because a network or user-space filesystem holds them: "/opt (nfs)".
    pub not_local: Vec<String>,
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
    let mut tops: Vec<PathBuf> = Vec::new();
    for top in SCAN_ROOTS {
        // On merged-/usr systems /bin and friends are symbolic links into /usr: scanned once, there.
        let host_top = root.path(top);
        let is_dir = std::fs::symlink_metadata(&host_top).is_ok_and(|meta| meta.is_dir());
        if is_dir && !tops.contains(&host_top) {
            tops.push(host_top);
        }
    }
    let walked = walk::walk(&tops, budget);
    let base = root.base();
    result.offenders.extend(walked.offenders.iter().map(|path| system_path(base, path)));
    result.not_local =
        walked.not_local.iter().map(|(path, kind)| format!("{} ({kind})", system_path(base, path))).collect();
    result.entries = walked.entries;
    result.stopped = walked.stopped;
    result
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
    // What those filesystems hold is checked on the machine (or by the process) that serves them.
    if !scan.not_local.is_empty() {
        evidence.push(format!("not scanned, on network or user-space filesystems: {}", scan.not_local.join(", ")));
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
            format!("world-writable scan stopped at {limit} after {} entries", scan.entries),
        );
    }
    evaluate(&scan)
}

#[cfg(test)]
mod tests {
    use muster_shared::v1::CheckStatus::{Fail, Pass, Unknown};

    use super::*;
    use crate::checks::tests::{Tree, assert_check, assert_reason};

    /// One thread, so a walk stopped by its entry limit always stops at the same entry.
    fn budget(max_entries: usize) -> Budget {
        let minute = Duration::from_secs(60);
        Budget { max_entries, max_cpu: minute, deadline: Instant::now() + minute, threads: 1 }
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

    /// The walk on two threads, as the agent runs it: every planted offender found once, in path order, every entry
    /// counted once (`/usr/local` lies under `/usr` and is walked as its own top), on every run.
    #[test]
    fn a_walk_on_two_threads_finds_every_offender_once_and_counts_every_entry() {
        let tree = usr_merged();
        chmod(&tree, "/tmp", 0o1777);
        // usr_merged's 5 entries; `share` and `local` in /usr; 40 directories of 25 files in /usr/share and a link;
        // `bin` in /usr/local and one file in it.
        for d in 0..40 {
            for f in 0..25 {
                tree.file(&format!("/usr/share/pkg{d:02}/file{f:02}"), "");
            }
        }
        tree.file("/usr/local/bin/tool", "").symlink("/usr/share/pkg07/link", "/usr/share/pkg03/file01");
        chmod(&tree, "/usr/share/pkg03/file01", 0o666);
        chmod(&tree, "/usr/share/pkg39/file24", 0o777);
        chmod(&tree, "/usr/share/pkg20", 0o777);
        chmod(&tree, "/usr/share/pkg21", 0o1777);
        chmod(&tree, "/usr/local/bin/tool", 0o757);
        let two_threads = Budget { threads: 2, ..budget(100_000) };
        for _ in 0..20 {
            let found = scan(&tree.root(), &two_threads);
            assert_eq!(
                found.offenders,
                ["/usr/local/bin/tool", "/usr/share/pkg03/file01", "/usr/share/pkg20", "/usr/share/pkg39/file24"]
            );
            assert_eq!(found.entries, 5 + 2 + 40 * 26 + 1 + 2);
            assert_eq!(found.stopped, None);
        }
    }

    /// The clocks are read every 1,024 entries: past either limit the walk stops and says which one.
    #[test]
    fn a_walk_over_its_cpu_or_wall_time_stops_and_says_which_limit() {
        let tree = usr_merged();
        for f in 0..1100 {
            tree.file(&format!("/usr/share/doc/file{f:04}"), "");
        }
        let no_cpu = Budget { max_cpu: Duration::ZERO, ..budget(100_000) };
        let found = scan(&tree.root(), &no_cpu);
        assert_eq!((found.stopped.as_deref(), found.entries), (Some("the CPU time limit"), 1024));
        let past = Budget { deadline: Instant::now(), ..budget(100_000) };
        assert_eq!(scan(&tree.root(), &past).stopped.as_deref(), Some("the time limit"));
        assert_eq!(scan(&tree.root(), &budget(100_000)).stopped, None);
    }
}

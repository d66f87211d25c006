//! The world-writable scan's directory walk, cut down to the system calls a mode check needs, on one thread or more.
//!
//! Per directory: one `openat` relative to its parent (nothing resolved twice, no symbolic link followed, race-free
//! against a directory swapped for a link) and `getdents64` into a reused buffer. Per entry: the directory entry's
//! type first — symbolic links, devices, sockets and FIFOs are never stat'ed — then one `statx` asking only for type
//! and mode (`AT_STATX_DONT_SYNC`, no automount) for regular files and directories. Nearly all of the cost is those
//! system calls in the kernel (a C walk making the same calls costs as much); a second thread shortens the wall
//! time on a busy or cold machine (BENCHMARKS.md). With several threads, which tops a walk cut short has covered
//! varies from run to run; a finished walk does not.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RawDir, StatxAttributes, StatxFlags};
use rustix::io::Errno;
use rustix::path::Arg;

use super::Budget;

/// `getdents64` buffer per thread: a few hundred entries per call.
const DIRENT_BUFFER: usize = 32 << 10;
/// How many entries a thread reads between two looks at the clocks (the CPU clock is a system call).
const CLOCK_EVERY: usize = 1024;

/// What the walk saw.
#[derive(Debug, Default)]
pub(super) struct Walked {
    /// Host paths of world-writable regular files and of world-writable directories without the sticky bit, sorted.
    pub offenders: Vec<PathBuf>,
    /// Directory entries read (`.` and `..` not counted), at most the budget's `max_entries`.
    pub entries: usize,
    /// Tops not walked because a network or user-space filesystem holds them: (host path, filesystem).
    pub not_local: Vec<(PathBuf, &'static str)>,
    /// The limit that stopped the walk, if one did.
    pub stopped: Option<String>,
}

/// Walks each of `tops` (host paths of directories, most important first) without leaving its filesystem; a top
/// met below another is left to its own walk.
pub(super) fn walk(tops: &[PathBuf], budget: &Budget) -> Walked {
    let shared = Shared {
        queue: Mutex::new(Queue {
            // A stack: the first top is taken first, and each directory's subdirectories before the next top, so a
            // walk cut short has covered the most important tops.
            jobs: tops.iter().rev().map(|path| Job { parent: None, path: path.clone(), dev: 0 }).collect(),
            busy: 0,
            stopped: None,
            not_local: Vec::new(),
        }),
        wake: Condvar::new(),
        halt: AtomicBool::new(false),
        entries: AtomicUsize::new(0),
        cpu_at_start: process_cpu(),
        tops,
        budget,
    };
    let mut offenders = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..budget.threads)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, || shared.work()).ok())
            .collect();
        // This thread walks too; a helper that could not be started only costs time.
        let mut offenders = shared.work();
        for helper in helpers {
            // A helper that panicked loses its findings; the walk's count then overstates coverage, so say so.
            match helper.join() {
                Ok(found) => offenders.extend(found),
                Err(_) => shared.stop("a failed walker thread".to_string()),
            }
        }
        offenders
    });
    offenders.sort();
    let queue = shared.queue.into_inner().unwrap_or_else(PoisonError::into_inner);
    Walked {
        offenders,
        entries: shared.entries.into_inner().min(budget.max_entries),
        not_local: queue.not_local,
        stopped: queue.stopped,
    }
}

/// A directory still to read.
struct Job {
    /// The open parent it is opened relative to; `None` for a top, opened by its path.
    parent: Option<Arc<OwnedFd>>,
    path: PathBuf,
    /// The filesystem the walk stays on (taken from the top itself when `parent` is `None`).
    dev: u64,
}

struct Queue {
    jobs: Vec<Job>,
    /// Threads reading a directory, which may still queue more.
    busy: usize,
    stopped: Option<String>,
    not_local: Vec<(PathBuf, &'static str)>,
}

struct Shared<'a> {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Set with `stopped`: read per entry without taking the lock.
    halt: AtomicBool,
    entries: AtomicUsize,
    cpu_at_start: Duration,
    tops: &'a [PathBuf],
    budget: &'a Budget,
}

/// Type, mode bits and filesystem of one directory entry.
struct Entry {
    kind: FileType,
    mode: u32,
    dev: u64,
    /// Where another mount (a bind mount on the same device included) starts.
    mount_root: bool,
}

impl Shared<'_> {
    /// One thread's share: takes directories until none are left and no thread can add more.
    fn work(&self) -> Vec<PathBuf> {
        let mut offenders = Vec::new();
        let mut buffer: Vec<u8> = Vec::with_capacity(DIRENT_BUFFER);
        let mut read_since_clock = 0;
        while let Some(job) = self.next_job() {
            let found = self.read_dir(job, &mut buffer, &mut read_since_clock, &mut offenders);
            let mut queue = self.lock();
            queue.jobs.extend(found);
            queue.busy -= 1;
            self.wake.notify_all();
        }
        offenders
    }

    fn next_job(&self) -> Option<Job> {
        let mut queue = self.lock();
        loop {
            if queue.stopped.is_some() {
                return None;
            }
            if let Some(job) = queue.jobs.pop() {
                queue.busy += 1;
                return Some(job);
            }
            if queue.busy == 0 {
                return None;
            }
            queue = self.wake.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self, limit: String) {
        let mut queue = self.lock();
        queue.stopped.get_or_insert(limit);
        self.halt.store(true, Ordering::Relaxed);
        self.wake.notify_all();
    }

    /// Reads one directory: offenders into `offenders`, the subdirectories to walk returned.
    fn read_dir(
        &self,
        job: Job,
        buffer: &mut Vec<u8>,
        read_since_clock: &mut usize,
        offenders: &mut Vec<PathBuf>,
    ) -> Vec<Job> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
        let (opened, dev) = match &job.parent {
            Some(parent) => match job.path.file_name() {
                Some(name) => (rustix::fs::openat(parent, name, flags, Mode::empty()), job.dev),
                None => return Vec::new(),
            },
            None => {
                let Some(top) = stat(CWD, job.path.as_path()) else { return Vec::new() };
                (rustix::fs::openat(CWD, job.path.as_path(), flags, Mode::empty()), top.dev)
            }
        };
        // Unreadable or vanished since its entry was read: nothing to report, as before.
        let Ok(fd) = opened else { return Vec::new() };
        if job.parent.is_none()
            && let Some(kind) = rustix::fs::fstatfs(&fd).ok().and_then(|fs| not_local(fs.f_type))
        {
            self.lock().not_local.push((job.path, kind));
            return Vec::new();
        }
        let fd = Arc::new(fd);
        let mut subdirs = Vec::new();
        let mut entries = RawDir::new(&*fd, buffer.spare_capacity_mut());
        while let Some(Ok(entry)) = entries.next() {
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            if self.halt.load(Ordering::Relaxed) {
                break;
            }
            if self.entries.fetch_add(1, Ordering::Relaxed) >= self.budget.max_entries {
                self.stop(format!("{} entries", self.budget.max_entries));
                break;
            }
            *read_since_clock += 1;
            if *read_since_clock >= CLOCK_EVERY {
                *read_since_clock = 0;
                if process_cpu().saturating_sub(self.cpu_at_start) >= self.budget.max_cpu {
                    self.stop("the CPU time limit".to_string());
                    break;
                }
                if Instant::now() >= self.budget.deadline {
                    self.stop("the time limit".to_string());
                    break;
                }
            }
            // The entry's own type decides what needs a stat: links are never followed and their mode means
            // nothing; device nodes, sockets and FIFOs are not what this check is about.
            if !matches!(entry.file_type(), FileType::RegularFile | FileType::Directory | FileType::Unknown) {
                continue;
            }
            let Some(found) = stat(&*fd, name) else { continue };
            let world_writable = found.mode & 0o002 != 0;
            match found.kind {
                FileType::RegularFile if world_writable => offenders.push(job.path.join(os_str(name))),
                FileType::Directory => {
                    let path = job.path.join(os_str(name));
                    if world_writable && found.mode & 0o1000 == 0 {
                        offenders.push(path.clone());
                    }
                    if found.dev == dev && !found.mount_root && !self.tops.contains(&path) {
                        subdirs.push(Job { parent: Some(Arc::clone(&fd)), path, dev });
                    }
                }
                _ => {}
            }
        }
        subdirs
    }
}

/// `statx` for type and mode only, not following a link; `fstatat` where the kernel predates `statx` (before 4.11,
/// e.g. RHEL 7's 3.10).
fn stat<P: Arg>(dir: impl rustix::fd::AsFd, name: P) -> Option<Entry> {
    let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT | AtFlags::STATX_DONT_SYNC;
    name.into_with_c_str(|name| match rustix::fs::statx(&dir, name, flags, StatxFlags::TYPE | StatxFlags::MODE) {
        Ok(st) => Ok(Entry {
            kind: FileType::from_raw_mode(st.stx_mode.into()),
            mode: u32::from(st.stx_mode),
            dev: rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor),
            mount_root: st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT)
                && st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT),
        }),
        Err(Errno::NOSYS) => rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).map(|st| Entry {
            kind: FileType::from_raw_mode(st.st_mode),
            mode: st.st_mode,
            dev: st.st_dev,
            mount_root: false,
        }),
        Err(err) => Err(err),
    })
    .ok()
}

/// CPU time used by this process so far, all threads.
fn process_cpu() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
}

fn os_str(name: &std::ffi::CStr) -> &std::ffi::OsStr {
    std::os::unix::ffi::OsStrExt::from_bytes(name.to_bytes())
}

/// Network and user-space filesystems by their `statfs` magic (linux/magic.h): walking them costs round trips to
/// another machine or process, and what they hold is that machine's to check.
fn not_local(magic: impl TryInto<u64>) -> Option<&'static str> {
    match magic.try_into().ok()? {
        0x6969 => Some("nfs"),
        0x517b => Some("smb"),
        0xff53_4d42 => Some("cifs"),
        0xfe53_4d42 => Some("smb2"),
        0x6573_5546 => Some("fuse"),
        0x00c3_6400 => Some("ceph"),
        0x0102_1997 => Some("9p"),
        0x5346_414f => Some("afs"),
        0x7375_7245 => Some("coda"),
        _ => None,
    }
}

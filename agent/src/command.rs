//! Runs a system tool for a probe with a deadline and a cap on what is read: a hung tool (system_profiler while
//! Spotlight reindexes, mdatp while its daemon restarts) must never stop a report.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a command printed, or why there is nothing to read.
pub struct Ran {
    pub ok: bool,
    pub status: String,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// The most a command's output is read: a Mac with thousands of applications prints a few MiB of plist.
const OUTPUT_CAP: u64 = 64 << 20;

/// Runs `program` with `args`, killed after `deadline` (system_profiler can take minutes, or hang while Spotlight
/// reindexes, and a hung probe would stop every report), its output read up to [`OUTPUT_CAP`].
pub fn run(program: &str, args: &[&str], deadline: Duration) -> std::io::Result<Ran> {
    let mut child =
        Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    // Read on threads of their own, so a full pipe cannot stall the child while it is waited for.
    let stdout = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.take(OUTPUT_CAP).read_to_end(&mut buf);
            buf
        })
    });
    let stderr = child.stderr.take().map(|err| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.take(64 << 10).read_to_end(&mut buf);
            buf
        })
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    Ok(match status {
        Some(status) => Ran {
            ok: status.success(),
            status: status.to_string(),
            stdout,
            stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
        },
        None => Ran {
            ok: false,
            status: format!("no answer in {} s; stopped", deadline.as_secs()),
            stdout: Vec::new(),
            stderr: String::new(),
        },
    })
}

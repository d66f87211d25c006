//! The collector's own binary as a separate process on a test's database: `serve` killed or measured from outside
//! (`kill -9`, peak RSS), and the checks that follow (SQLite's `integrity_check`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use sqlx::Connection;

/// `muster-collector` on `database_url`, its data directory (TLS material, downloads) in `data`.
pub fn collector(data: &Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_muster-collector"));
    command
        .args(["--data-dir", data.to_str().unwrap(), "--database-url", database_url, "--format", "json"])
        .env_remove("MUSTER_CONFIG");
    command
}

/// The SQLite file of a `sqlite://` URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("sqlite://").map(PathBuf::from)
}

/// SQLite's own check of the file finds nothing wrong (PostgreSQL's consistency is its own; tests check the rows).
pub async fn assert_consistent(database_url: &str) {
    if let Some(path) = sqlite_path(database_url) {
        let mut check = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut check).await.unwrap();
        assert_eq!(integrity, "ok");
        check.close().await.unwrap();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `muster-collector serve` over TLS with its own CA on a fixed port (an agent keeps the URL it enrolled with, so
/// a restart must come back on it), killed when dropped.
pub struct Serve {
    child: Child,
    pub url: String,
    pub ca_fingerprint: String,
    pub ca_cert: PathBuf,
}

impl Serve {
    pub fn start(data: &Path, database_url: &str, port: u16, extra: &[&str]) -> Serve {
        let log = std::fs::File::create(data.join("serve.log")).unwrap();
        let mut child = collector(data, database_url)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        // What `serve` prints once it listens is one JSON document; read until it parses.
        let mut stdout = child.stdout.take().unwrap();
        let mut text = Vec::new();
        let mut byte = [0_u8; 1];
        let started: Value = loop {
            if stdout.read(&mut byte).unwrap() == 0 {
                let log = std::fs::read_to_string(data.join("serve.log")).unwrap_or_default();
                panic!("serve exited before it started: {log}");
            }
            text.push(byte[0]);
            if byte[0] == b'\n'
                && let Ok(started) = serde_json::from_slice(&text)
            {
                break started;
            }
        };
        Serve {
            child,
            url: started["url"].as_str().unwrap().trim_end_matches('/').to_owned(),
            ca_fingerprint: started["ca"]["sha256_fingerprint"].as_str().unwrap().to_owned(),
            ca_cert: PathBuf::from(started["ca"]["ca_cert_path"].as_str().unwrap()),
        }
    }

    /// A line of `/proc/<pid>/status` in KiB: `VmRSS` now, `VmHWM` the peak.
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// SIGTERM, as systemd's stop sends it; waits for the process to end and gives its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success(), "kill -TERM failed");
        self.child.wait().unwrap()
    }

    /// SIGKILL, as `kill -9` or the OOM killer end a process.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

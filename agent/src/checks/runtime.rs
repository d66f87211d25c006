//! Facts only a running system has (its processes, active units, whether it is a container), read once per run.

use std::collections::BTreeSet;

use crate::root::SystemRoot;

/// What is running. In `--root` mode nothing is known, and checks that need it say so.
#[derive(Debug, Clone)]
pub(crate) enum Runtime {
    NotLive,
    Live(LiveFacts),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LiveFacts {
    /// Process names from `/proc/<pid>/comm` (the kernel truncates them to 15 bytes).
    pub processes: BTreeSet<String>,
    /// Units systemd has started and not yet dropped, from the `invocation:<unit>` entries in `/run/systemd/units`.
    pub units: BTreeSet<String>,
    /// The container marker that was found, e.g. `/.dockerenv`.
    pub container: Option<String>,
}

impl Runtime {
    pub(crate) fn probe(root: &SystemRoot) -> Runtime {
        if !root.is_live() {
            return Runtime::NotLive;
        }
        Runtime::Live(LiveFacts {
            processes: process_names(root),
            units: started_units(root),
            container: container_marker(root),
        })
    }
}

impl LiveFacts {
    /// Evidence for the first of `processes` or `units` found running, e.g. `process chronyd running`.
    pub(crate) fn running(&self, processes: &[&str], units: &[&str]) -> Option<String> {
        if let Some(name) = processes.iter().find(|name| self.processes.contains(**name)) {
            return Some(format!("process {name} running"));
        }
        units.iter().find(|unit| self.units.contains(**unit)).map(|unit| format!("unit {unit} active"))
    }
}

fn process_names(root: &SystemRoot) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(root.path("/proc")) else { return BTreeSet::new() };
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_str().is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|entry| std::fs::read(entry.path().join("comm")).ok())
        .map(|comm| String::from_utf8_lossy(&comm).trim_end().to_string())
        .collect()
}

fn started_units(root: &SystemRoot) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(root.path("/run/systemd/units")) else { return BTreeSet::new() };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(|n| n.strip_prefix("invocation:")).map(String::from))
        .collect()
}

fn container_marker(root: &SystemRoot) -> Option<String> {
    for marker in ["/.dockerenv", "/run/.containerenv"] {
        if root.exists(marker) {
            return Some(marker.to_string());
        }
    }
    // systemd writes the detected container manager here, e.g. `docker`, `lxc`, `systemd-nspawn`.
    let manager = root.read_to_string("/run/systemd/container").ok()?;
    let manager = manager.trim();
    (!manager.is_empty()).then(|| format!("/run/systemd/container: {manager}"))
}

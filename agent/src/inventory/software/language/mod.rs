//! Language packages installed outside the OS package manager's database: Python distributions (`*.dist-info`,
//! `*.egg-info`), Node.js packages (`node_modules/*/package.json`), Ruby gems (`specifications/*.gemspec`), and the
//! modules and crates built into Go and `cargo auditable` executables (read from their ELF sections, never run), and
//! the Maven artifacts in Java archives (`pom.properties`, nested archives one level down), and the packages npm,
//! pnpm and Yarn lockfiles pin in project directories without an installed `node_modules`.
//!
//! Each package records the file it came from in `path` (for a binary's modules, the binary). A file that an OS package ships (see
//! [`super::owners`]) gets that package as `owner`: the distribution's copy of a library is then matched through the
//! distribution's advisories only, never counted again as a PyPI/npm/gem package.
//!
//! The scan reads fixed system locations ([`SYSTEM_LOCATIONS`]) and the configured directories
//! ([`LanguageScan::paths`]), and is bounded by [`LanguageScan`]'s depth, entry, file, size and time limits shared by
//! the whole scan. A location cut short is reported with `complete: false` and a `truncated` error; locations not
//! reached at all are named in one `truncated` error.

mod auditable;
mod elf;
mod gem;
mod gobuild;
mod jar;
mod lockfile;
mod npm;
mod pnpm;
mod python;
mod walk;
mod yarn;

#[cfg(test)]
mod built_tests;
#[cfg(test)]
mod lockfile_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use muster_shared::v1::{ErrorKind, Listener, Package, PackageKind, PackageSource, SectionName};

use super::owners::{self, Owners};
use super::{DbError, Listing, source};
use crate::root::{ErrorLog, SystemRoot};

pub use auditable::parse_cargo_auditable;
pub use elf::{Embedded, embedded};
pub use gem::parse_gemspec;
pub use gobuild::parse_go_buildinfo;
pub use jar::{ArchiveContents, Artifact, parse_manifest, parse_pom_properties, read_archive};
pub use lockfile::parse_package_lock;
pub use npm::parse_package_json;
pub use pnpm::parse_pnpm_lock;
pub use python::parse_python_metadata;
pub use walk::{Layout, expand};
pub use yarn::{Manifest, parse_yarn_lock};

/// A package's name and version as its metadata file states them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub name: String,
    pub version: String,
}

/// Where to look beyond the system locations, and the bounds of the whole scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageScan {
    /// Directories of the inspected system searched for all three ecosystems (project trees, virtualenvs, an
    /// application's `node_modules`), down to `max_depth`.
    pub paths: Vec<String>,
    /// How deep below a configured directory (and how many `node_modules` levels) the walk goes.
    pub max_depth: usize,
    /// Directory entries looked at, over every location.
    pub max_entries: usize,
    /// Metadata files and executables read, over every location.
    pub max_files: usize,
    /// Bytes read of one metadata file (the name and version are at its start), and the largest package list
    /// section of a binary read.
    pub max_file_bytes: u64,
    /// Wall-clock time for the whole scan.
    pub time_limit: Duration,
}

impl Default for LanguageScan {
    /// The system locations only; limits far above a typical server (a few hundred packages) that still stop a
    /// pathological tree within seconds.
    fn default() -> LanguageScan {
        LanguageScan {
            paths: Vec::new(),
            max_depth: 8,
            max_entries: 200_000,
            max_files: 20_000,
            max_file_bytes: 1 << 20,
            time_limit: Duration::from_secs(10),
        }
    }
}

/// Where distributions and package managers install language packages system-wide and for each user. A `*` matches
/// within one path component.
pub const SYSTEM_LOCATIONS: &[(&str, Layout)] = &[
    ("/usr/lib/python*/site-packages", Layout::Site),
    ("/usr/lib/python*/dist-packages", Layout::Site),
    ("/usr/lib64/python*/site-packages", Layout::Site),
    ("/usr/local/lib/python*/site-packages", Layout::Site),
    ("/usr/local/lib/python*/dist-packages", Layout::Site),
    ("/usr/local/lib64/python*/site-packages", Layout::Site),
    ("/root/.local/lib/python*/site-packages", Layout::Site),
    ("/home/*/.local/lib/python*/site-packages", Layout::Site),
    ("/usr/lib/node_modules", Layout::NodeModules),
    ("/usr/local/lib/node_modules", Layout::NodeModules),
    ("/usr/share/nodejs", Layout::NodeModules),
    ("/usr/lib/nodejs", Layout::NodeModules),
    ("/usr/share/rubygems-integration/*/specifications", Layout::Specifications),
    ("/usr/lib/*/rubygems-integration/*/specifications", Layout::Specifications),
    ("/usr/lib/ruby/gems/*/specifications", Layout::Specifications),
    ("/usr/lib64/ruby/gems/*/specifications", Layout::Specifications),
    ("/usr/share/gems/specifications", Layout::Specifications),
    ("/usr/local/share/gems/specifications", Layout::Specifications),
    ("/usr/local/lib/ruby/gems/*/specifications", Layout::Specifications),
    ("/var/lib/gems/*/specifications", Layout::Specifications),
    ("/root/.local/share/gem/ruby/*/specifications", Layout::Specifications),
    ("/home/*/.local/share/gem/ruby/*/specifications", Layout::Specifications),
    ("/home/*/.gem/ruby/*/specifications", Layout::Specifications),
    ("/usr/bin", Layout::Binaries),
    ("/usr/sbin", Layout::Binaries),
    ("/bin", Layout::Binaries),
    ("/sbin", Layout::Binaries),
    ("/usr/libexec", Layout::Binaries),
    ("/usr/local/bin", Layout::Binaries),
    ("/usr/local/sbin", Layout::Binaries),
    ("/usr/local/go/bin", Layout::Binaries),
    ("/opt/*/bin", Layout::Binaries),
    ("/root/go/bin", Layout::Binaries),
    ("/home/*/go/bin", Layout::Binaries),
    ("/root/.cargo/bin", Layout::Binaries),
    ("/home/*/.cargo/bin", Layout::Binaries),
    // Docker's CLI plugins (compose, buildx) are Go programs, installed by packages and by hand.
    ("/usr/libexec/docker/cli-plugins", Layout::Binaries),
    ("/usr/lib/docker/cli-plugins", Layout::Binaries),
    ("/usr/local/lib/docker/cli-plugins", Layout::Binaries),
    ("/root/.docker/cli-plugins", Layout::Binaries),
    ("/home/*/.docker/cli-plugins", Layout::Binaries),
    ("/usr/share/java", Layout::Archives),
    ("/usr/local/share/java", Layout::Archives),
    ("/var/lib/tomcat*/webapps", Layout::Archives),
    ("/opt/*/lib", Layout::Archives),
];

/// Scans every location present under `root` and returns one listing per location and format; [`assign_owners`]
/// fills in the owners.
pub(super) fn probe(root: &SystemRoot, scan: &LanguageScan, errors: &mut ErrorLog) -> Vec<(PackageSource, Listing)> {
    let mut found = Vec::new();
    let mut budget = walk::Budget::new(scan, Instant::now());
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut not_reached = Vec::new();
    // A configured directory may contain a system location (or another configured one): each file counts once.
    let mut read_files: HashSet<String> = HashSet::new();
    for (system, host, layout) in locations(root, scan) {
        // /usr/lib64 is often a link to /usr/lib: each real directory is scanned once.
        let real = match std::fs::canonicalize(&host) {
            Ok(real) if real.is_dir() => real,
            // A system location that is absent is simply not used; a configured one was asked for.
            _ if layout != Layout::Tree => continue,
            Ok(_) => {
                errors.record(SectionName::Software, system, ErrorKind::NotFound, "not a directory");
                continue;
            }
            Err(err) => {
                errors.io(SectionName::Software, system, &err);
                continue;
            }
        };
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        if budget.exhausted() {
            not_reached.push(system);
            continue;
        }
        let mut walked = walk::walk(root, &host, &system, layout, &mut budget);
        // One file can hold several packages (a binary's modules): a file counts once across walks, not within one.
        walked.found.retain(|item| !read_files.contains(&item.path));
        read_files.extend(walked.found.iter().map(|item| item.path.clone()));
        drop_duplicate_python(&mut walked.found);
        found.extend(listings(&system, layout, walked, budget.stopped.as_deref(), errors));
    }
    if let Some(limit) = &budget.stopped
        && !not_reached.is_empty()
    {
        errors.record(
            SectionName::Software,
            "language packages",
            ErrorKind::Truncated,
            format!("scan stopped at {limit}; not scanned: {}", not_reached.join(", ")),
        );
    }
    found
}

/// One Python distribution can leave two metadata directories side by side (Debian's python3-cryptography ships
/// `cryptography-38.0.4.dist-info` and `cryptography.egg-info`); `importlib.metadata` users such as `pip list` show
/// it once, and so does this: per directory, one package per normalized name and version, the `.dist-info` kept.
fn drop_duplicate_python(found: &mut Vec<walk::Found>) {
    let key = |item: &walk::Found| {
        let parsed = item.parsed.as_ref().ok().filter(|_| item.kind == PackageKind::Pypi)?;
        let entry = item.path.strip_suffix("/METADATA").or_else(|| item.path.strip_suffix("/PKG-INFO"));
        let site = entry.unwrap_or(&item.path).rsplit_once('/').map_or("", |(dir, _)| dir);
        Some((site.to_string(), normalized_python_name(&parsed.name), parsed.version.clone()))
    };
    let mut order: Vec<usize> = (0..found.len()).collect();
    order.sort_by_key(|&i| found[i].format != "python-dist-info");
    let mut seen = HashSet::new();
    let mut keep = vec![true; found.len()];
    for i in order {
        if let Some(k) = key(&found[i]) {
            keep[i] = seen.insert(k);
        }
    }
    let mut keep = keep.into_iter();
    found.retain(|_| keep.next().unwrap_or(true));
}

/// PEP 503's normalized form: lower case, each run of `-`, `_` and `.` one `-`.
fn normalized_python_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The system locations that exist, then the configured directories, as `(system path, host path, layout)`.
fn locations(root: &SystemRoot, scan: &LanguageScan) -> Vec<(String, PathBuf, Layout)> {
    let mut out = Vec::new();
    for (pattern, layout) in SYSTEM_LOCATIONS {
        out.extend(walk::expand(root, pattern).into_iter().map(|(system, host)| (system, host, *layout)));
    }
    for path in &scan.paths {
        out.push((path.clone(), root.path(path), Layout::Tree));
    }
    out
}

/// Groups one location's packages by format; its unreadable entries and a stop are that location's problems.
fn listings(
    system: &str,
    layout: Layout,
    walked: walk::Walked,
    stopped: Option<&str>,
    errors: &mut ErrorLog,
) -> Vec<(PackageSource, Listing)> {
    let mut by_format: BTreeMap<&'static str, (PackageKind, Listing)> = BTreeMap::new();
    for item in walked.found {
        let (_, listing) = by_format.entry(item.format).or_insert_with(|| (item.kind, Listing::default()));
        match item.parsed {
            Ok(parsed) => listing.packages.push(language_package(item.kind, parsed, item.path)),
            Err(reason) => listing.problems.push(DbError::Corrupt(format!("{}: {reason}", item.path))),
        }
    }
    let mut shared: Vec<DbError> = walked
        .unreadable
        .into_iter()
        .map(|(path, err)| DbError::Io(std::io::Error::new(err.kind(), format!("{path}: {err}"))))
        .collect();
    if by_format.is_empty()
        && (stopped.is_some() || !shared.is_empty())
        && let Some((kind, format)) = primary_format(layout)
    {
        by_format.insert(format, (kind, Listing::default()));
    }
    let Some((_, (_, first))) = by_format.iter_mut().next() else {
        // A configured directory that held nothing readable: no source to attach the problems to.
        for problem in shared.iter().chain(stopped.map(|s| DbError::Stopped(s.to_string())).iter()) {
            errors.record(SectionName::Software, system, problem.kind(), problem.to_string());
        }
        return Vec::new();
    };
    first.problems.append(&mut shared);
    by_format
        .into_iter()
        .map(|(format, (kind, mut listing))| {
            if let Some(limit) = stopped {
                listing.problems.push(DbError::Stopped(limit.to_string()));
            }
            (source(kind, system, format), listing)
        })
        .collect()
}

fn primary_format(layout: Layout) -> Option<(PackageKind, &'static str)> {
    match layout {
        Layout::Site => Some((PackageKind::Pypi, "python-dist-info")),
        Layout::NodeModules => Some((PackageKind::Npm, "node-package-json")),
        Layout::Specifications => Some((PackageKind::Gem, "gemspec")),
        Layout::Binaries => Some((PackageKind::Go, "go-buildinfo")),
        Layout::Archives => Some((PackageKind::Maven, "java-archive")),
        Layout::Tree => None,
    }
}

fn language_package(kind: PackageKind, parsed: Parsed, path: String) -> Package {
    Package { path: Some(path), ..Package::new(kind, parsed.name, parsed.version) }
}

const MAX_OWNER_ERRORS: usize = 5;

/// Looks up which OS package ships each package's metadata file and each listener's executable, in one pass over
/// the file lists. File lists that cannot be read are reported: what they would have claimed stays without owner.
pub(super) fn assign_owners(
    root: &SystemRoot,
    found: &mut [(PackageSource, Listing)],
    listeners: &mut [Listener],
    errors: &mut ErrorLog,
) {
    let paths = found.iter().flat_map(|(_, l)| l.packages.iter()).filter_map(|p| p.path.as_deref());
    let executables = listeners.iter().filter_map(|l| l.executable.as_deref());
    let mut owners = Owners::new(paths.map(outer_file).chain(executables));
    let problems = owners::find(root, &mut owners);
    for (path, problem) in problems.iter().take(MAX_OWNER_ERRORS) {
        errors.record(SectionName::Software, path.clone(), problem.kind(), format!("file list: {problem}"));
    }
    if problems.len() > MAX_OWNER_ERRORS {
        errors.record(
            SectionName::Software,
            "package file lists",
            ErrorKind::Parse,
            format!("{} more file list problem(s)", problems.len() - MAX_OWNER_ERRORS),
        );
    }
    for package in found.iter_mut().flat_map(|(_, l)| l.packages.iter_mut()) {
        package.owner = package.path.as_deref().and_then(|p| owners.owner(outer_file(p))).map(str::to_string);
    }
    for listener in listeners {
        listener.owner = listener.executable.as_deref().and_then(|p| owners.owner(p)).map(str::to_string);
    }
}

/// The file on disk a package path names: an archive nested in another (`app.war!/WEB-INF/lib/x.jar`) is owned by
/// whoever ships the outer one.
fn outer_file(path: &str) -> &str {
    path.split_once("!/").map_or(path, |(outer, _)| outer)
}

//! The bounded directory walk behind the language package scan: it knows where each ecosystem keeps its metadata
//! (`*.dist-info`, `*.egg-info`, `node_modules/*/package.json`, `specifications/*.gemspec`, executables in bin
//! directories and executable files below a configured directory, Java archives, npm, pnpm and Yarn lockfiles) and
//! stops at the
//! configured depth, entry count, file count and time, saying which limit it hit.
//!
//! Symbolic links are not followed while walking (a link cycle or a link out of a mounted root would otherwise be
//! walked), with two exceptions, both read through [`SystemRoot`], which keeps them inside the root: a linked
//! package directory inside `node_modules` (`npm link`, Debian's `/usr/share/nodejs`) has its `package.json` read,
//! and a link in a bin directory its executable.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::FileType;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use muster_shared::v1::PackageKind;

use super::elf::{self, Embedded};
use super::{LanguageScan, Parsed, auditable, gem, gobuild, jar, lockfile, npm, pnpm, python, yarn};

/// The lockfile names npm, pnpm and Yarn write, in the order they are read; read below configured directories
/// only. A project with several (a stale `package-lock.json` beside a `yarn.lock`) has each read, and a package
/// pinned by more than one is listed once, from the first that pins it.
const LOCKFILES: [&str; 4] = ["npm-shrinkwrap.json", "package-lock.json", "pnpm-lock.yaml", "yarn.lock"];
/// A lockfile is read up to this many times the per-file limit (16 MiB by default): npm's as a stream (only the
/// names and versions are kept), pnpm's and Yarn's whole (the YAML parser wants it all). Parsing YAML takes about 12
/// times the file's size at its peak (65 MB resident for a 5.4 MB `pnpm-lock.yaml`, measured), Yarn 1's about 3.
const LOCKFILE_FACTOR: u64 = 16;
/// pnpm's and Yarn's lockfiles are read whole, so theirs is lower: 4 MiB by default keeps the parse near 50 MB at
/// worst on a server whose agent otherwise stays under 16 MiB; a larger one is an error naming the limit.
const WHOLE_LOCKFILE_FACTOR: u64 = 4;

/// A nested archive is read into memory: at most this many times the per-file limit (4 MiB by default).
const NESTED_ARCHIVE_FACTOR: u64 = 4;
use crate::root::SystemRoot;

/// Where a scan starts and what it expects there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A Python `site-packages`/`dist-packages` directory: distributions directly inside.
    Site,
    /// A `node_modules` directory (or Debian's `/usr/share/nodejs`): one package a directory, `@scope/` grouping.
    NodeModules,
    /// A RubyGems `specifications` directory.
    Specifications,
    /// A directory of executables (`/usr/bin`): Go and `cargo auditable` binaries' embedded package lists.
    Binaries,
    /// A directory of Java archives (`/usr/share/java`, a servlet container's `webapps`).
    Archives,
    /// A configured directory of unknown shape, searched for all of the above down to the depth limit (executable
    /// files among them).
    Tree,
}

/// One metadata file read and what it said.
#[derive(Debug)]
pub struct Found {
    pub kind: PackageKind,
    pub format: &'static str,
    /// The metadata file, as a path of the inspected system.
    pub path: String,
    pub parsed: Result<Parsed, String>,
}

/// What one walk produced.
#[derive(Debug, Default)]
pub struct Walked {
    pub found: Vec<Found>,
    /// Directories or files that could not be read: `(system path, message)`.
    pub unreadable: Vec<(String, std::io::Error)>,
}

/// The limits of a whole scan (every location shares them) and what has been used.
pub struct Budget<'a> {
    limits: &'a LanguageScan,
    started: Instant,
    entries: usize,
    files: usize,
    /// The executables read so far (device and inode): one reached again through a link or a hard link is not
    /// read twice.
    binaries_read: HashSet<(u64, u64)>,
    /// Set once a limit is reached; nothing more is read after that.
    pub stopped: Option<String>,
}

impl<'a> Budget<'a> {
    pub fn new(limits: &'a LanguageScan, started: Instant) -> Budget<'a> {
        Budget { limits, started, entries: 0, files: 0, binaries_read: HashSet::new(), stopped: None }
    }

    pub fn exhausted(&self) -> bool {
        self.stopped.is_some()
    }

    fn take_entry(&mut self) -> bool {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            self.stop(format!("the limit of {} directory entries", self.limits.max_entries));
        } else if self.entries.is_multiple_of(256) {
            self.check_time();
        }
        !self.exhausted()
    }

    /// Counts the entries of an archive already read against the entry limit.
    fn take_entries(&mut self, count: usize) {
        self.entries = self.entries.saturating_add(count);
        if self.entries > self.limits.max_entries {
            self.stop(format!("the limit of {} directory entries", self.limits.max_entries));
        }
    }

    fn take_file(&mut self) -> bool {
        self.files += 1;
        if self.files > self.limits.max_files {
            self.stop(format!("the limit of {} metadata files", self.limits.max_files));
        } else {
            self.check_time();
        }
        !self.exhausted()
    }

    fn check_time(&mut self) {
        if self.started.elapsed() >= self.limits.time_limit {
            self.stop(format!("the time limit of {}", humantime::format_duration(self.limits.time_limit)));
        }
    }

    fn stop(&mut self, limit: String) {
        if self.stopped.is_none() {
            self.stopped = Some(limit);
        }
    }
}

/// Walks one location (`system` is its path in the inspected system, `host` where that is on this machine).
pub fn walk(root: &SystemRoot, host: &Path, system: &str, layout: Layout, budget: &mut Budget) -> Walked {
    let mut walker = Walker { root, budget, out: Walked::default() };
    match layout {
        Layout::Site => walker.site(host, system),
        Layout::NodeModules => walker.node_modules(host, system, 0),
        Layout::Specifications => walker.specifications(host, system),
        Layout::Binaries => walker.binaries(host, system),
        Layout::Archives => walker.archives(host, system),
        Layout::Tree => walker.tree(host, system, 0),
    }
    walker.out
}

struct Walker<'r, 'b, 'l> {
    root: &'r SystemRoot,
    budget: &'b mut Budget<'l>,
    out: Walked,
}

impl Walker<'_, '_, '_> {
    fn tree(&mut self, host: &Path, system: &str, depth: usize) {
        // The packages this directory's lockfiles pin, for the second lockfile of a project.
        let mut pinned = HashSet::new();
        for (name, kind) in self.entries(host, system) {
            let Some(text) = name.to_str() else { continue };
            let (child_host, child) = (host.join(&name), join(system, text));
            if self.python_entry(text, kind, &child_host, &child) {
                continue;
            }
            if kind.is_file() && jar::is_archive_name(text) {
                self.archive(&child_host, &child);
            } else if kind.is_file() && LOCKFILES.contains(&text) {
                // An installed node_modules beside it is read instead (the walk reaches it).
                if !host.join("node_modules").is_dir() {
                    self.lockfile(&child_host, &child, text, &mut pinned);
                }
            } else if kind.is_file() && is_executable(&child_host) {
                self.binary(&child_host, &child);
            }
            if !kind.is_dir() {
                continue;
            }
            match text {
                "node_modules" => self.node_modules(&child_host, &child, depth + 1),
                "specifications" => self.specifications(&child_host, &child),
                "site-packages" | "dist-packages" => self.site(&child_host, &child),
                ".git" | ".hg" | ".svn" => {}
                _ if depth < self.budget.limits.max_depth => self.tree(&child_host, &child, depth + 1),
                _ => {}
            }
        }
    }

    fn site(&mut self, host: &Path, system: &str) {
        for (name, kind) in self.entries(host, system) {
            let Some(text) = name.to_str() else { continue };
            self.python_entry(text, kind, &host.join(&name), &join(system, text));
        }
    }

    /// Reads a Python distribution's metadata when `name` is one; true when it was.
    fn python_entry(&mut self, name: &str, kind: FileType, host: &Path, system: &str) -> bool {
        let (format, file) = if name.ends_with(".dist-info") && kind.is_dir() {
            ("python-dist-info", Some("METADATA"))
        } else if name.ends_with(".egg-info") && kind.is_dir() {
            ("python-egg-info", Some("PKG-INFO"))
        } else if name.ends_with(".egg-info") && kind.is_file() {
            ("python-egg-info", None)
        } else {
            return false;
        };
        let (file_host, file_system) = match file {
            Some(file) => (host.join(file), join(system, file)),
            None => (host.to_path_buf(), system.to_string()),
        };
        if let Some(data) = self.read(&file_host, &file_system) {
            let parsed = python::parse_python_metadata(&data);
            self.out.found.push(Found { kind: PackageKind::Pypi, format, path: file_system, parsed });
        }
        true
    }

    fn node_modules(&mut self, host: &Path, system: &str, depth: usize) {
        let entries = self.entries(host, system);
        // pnpm installs every package once, as the directory `.pnpm/<key>/node_modules/<name>`; the project's
        // `node_modules/<name>` and each package's dependencies are links into it. Reading the directories alone
        // lists every installed package once, the transitive ones included.
        let pnpm = entries.iter().any(|(name, kind)| name == ".pnpm" && kind.is_dir());
        if pnpm {
            self.pnpm_store(&host.join(".pnpm"), &join(system, ".pnpm"), depth);
        }
        self.node_packages(host, system, entries, depth, !pnpm);
    }

    /// The packages of one `node_modules` directory (scoped ones one level down); links are followed unless pnpm
    /// made them.
    fn node_packages(
        &mut self,
        host: &Path,
        system: &str,
        entries: Vec<(OsString, FileType)>,
        depth: usize,
        follow_links: bool,
    ) {
        for (name, kind) in entries {
            let Some(text) = name.to_str() else { continue };
            if text.starts_with('.') || (kind.is_symlink() && !follow_links) {
                continue;
            }
            let (child_host, child) = (host.join(&name), join(system, text));
            if text.starts_with('@') && kind.is_dir() {
                for (inner, inner_kind) in self.entries(&child_host, &child) {
                    let Some(inner_text) = inner.to_str() else { continue };
                    if inner_kind.is_symlink() && !follow_links {
                        continue;
                    }
                    self.node_package(&child_host.join(&inner), &join(&child, inner_text), inner_kind, depth);
                }
            } else {
                self.node_package(&child_host, &child, kind, depth);
            }
        }
    }

    /// pnpm's virtual store: `.pnpm/<name>@<version>[_<peers>]/node_modules/` holds the package's own directory and
    /// links to its dependencies; `.pnpm/node_modules` holds only the links pnpm hoists.
    fn pnpm_store(&mut self, host: &Path, system: &str, depth: usize) {
        for (key, kind) in self.entries(host, system) {
            let Some(text) = key.to_str() else { continue };
            if !kind.is_dir() || text == "node_modules" {
                continue;
            }
            let modules = join(&join(system, text), "node_modules");
            let modules_host = host.join(&key).join("node_modules");
            let entries = self.entries(&modules_host, &modules);
            self.node_packages(&modules_host, &modules, entries, depth + 1, false);
        }
    }

    fn node_package(&mut self, host: &Path, system: &str, kind: FileType, depth: usize) {
        let file = join(system, "package.json");
        let file_host = if kind.is_symlink() { self.root.path(&file) } else { host.join("package.json") };
        if !(kind.is_dir() || kind.is_symlink()) || !file_host.is_file() {
            return;
        }
        if let Some(data) = self.read(&file_host, &file) {
            // A package.json without a name and version (a build stub) is not a package and is left out quietly.
            match npm::parse_package_json(&data) {
                Ok(None) => {}
                Ok(Some(parsed)) => self.push(PackageKind::Npm, "node-package-json", file, Ok(parsed)),
                Err(err) => self.push(PackageKind::Npm, "node-package-json", file, Err(err)),
            }
        }
        let nested = host.join("node_modules");
        if kind.is_dir() && depth < self.budget.limits.max_depth && nested.is_dir() {
            self.node_modules(&nested, &join(system, "node_modules"), depth + 1);
        }
    }

    fn specifications(&mut self, host: &Path, system: &str) {
        for (name, kind) in self.entries(host, system) {
            let Some(text) = name.to_str() else { continue };
            let (child_host, child) = (host.join(&name), join(system, text));
            if text.ends_with(".gemspec") && kind.is_file() {
                if let Some(data) = self.read(&child_host, &child) {
                    self.push(PackageKind::Gem, "gemspec", child, gem::parse_gemspec(&data));
                }
            } else if text == "default" && kind.is_dir() {
                // The gems bundled with Ruby itself (`specifications/default/`).
                self.specifications(&child_host, &child);
            }
        }
    }

    /// The regular files first, then the links (`/usr/local/bin/tool -> /opt/tool/bin/tool`), resolved inside the
    /// root; a file already read under another name is not read again, so a link adds only what it alone reaches.
    fn binaries(&mut self, host: &Path, system: &str) {
        let entries = self.entries(host, system);
        for (name, kind) in &entries {
            let Some(text) = name.to_str() else { continue };
            if kind.is_file() {
                self.binary(&host.join(name), &join(system, text));
            }
        }
        for (name, kind) in &entries {
            let Some(text) = name.to_str() else { continue };
            let link = join(system, text);
            let target = self.root.path(&link);
            if kind.is_symlink() && target.is_file() {
                self.binary(&target, &link);
            }
        }
    }

    /// Reads the package list built into an executable, when it is an ELF file with one.
    fn binary(&mut self, host: &Path, system: &str) {
        if !self.budget.take_file() {
            return;
        }
        let file = match std::fs::File::open(host) {
            Ok(file) => file,
            Err(err) => return self.out.unreadable.push((system.to_string(), err)),
        };
        if let Some(identity) = file_identity(&file)
            && !self.budget.binaries_read.insert(identity)
        {
            return;
        }
        let mut magic = [0u8; 4];
        let file = match (&file).read_exact(&mut magic).map(|()| file) {
            // Scripts and empty files are not ELF files.
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return,
            Err(err) => return self.out.unreadable.push((system.to_string(), err)),
            Ok(_) if !elf::is_elf(&magic) => return,
            Ok(file) => file,
        };
        let max = self.budget.limits.max_file_bytes;
        match elf::embedded_in_file(file, max) {
            Ok(None) => {}
            Ok(Some(Embedded::GoBuildInfo(section))) => {
                self.push_all(PackageKind::Go, "go-buildinfo", system, gobuild::parse_go_buildinfo(&section));
            }
            Ok(Some(Embedded::CargoAuditable(section))) => {
                let parsed = auditable::parse_cargo_auditable(&section, max);
                self.push_all(PackageKind::Cargo, "cargo-auditable", system, parsed);
            }
            Err(reason) => self.out.unreadable.push((system.to_string(), std::io::Error::other(reason))),
        }
    }

    fn archives(&mut self, host: &Path, system: &str) {
        for (name, kind) in self.entries(host, system) {
            let Some(text) = name.to_str() else { continue };
            // Debian links versioned names to the one file (`guava-31.1-jre.jar -> guava.jar`): read it once.
            if kind.is_file() && jar::is_archive_name(text) {
                self.archive(&host.join(&name), &join(system, text));
            }
        }
    }

    /// Reads the Maven artifacts of a Java archive and of the archives nested in it, each nested one's path
    /// written `outer.war!/WEB-INF/lib/inner.jar` as Java writes it.
    fn archive(&mut self, host: &Path, system: &str) {
        if !self.budget.take_file() {
            return;
        }
        let file = match std::fs::File::open(host) {
            Ok(file) => std::io::BufReader::new(file),
            Err(err) => return self.out.unreadable.push((system.to_string(), err)),
        };
        let max = self.budget.limits.max_file_bytes;
        let format = "java-archive";
        match jar::read_archive(file, max, max.saturating_mul(NESTED_ARCHIVE_FACTOR)) {
            Ok(contents) => {
                self.budget.take_entries(contents.entries);
                for artifact in contents.artifacts {
                    let path = match artifact.nested {
                        Some(inner) => format!("{system}!/{inner}"),
                        None => system.to_string(),
                    };
                    self.push(PackageKind::Maven, format, path, Ok(artifact.parsed));
                }
                for problem in contents.problems {
                    self.push(PackageKind::Maven, format, system.to_string(), Err(problem));
                }
            }
            Err(reason) => self.push(PackageKind::Maven, format, system.to_string(), Err(reason)),
        }
    }

    /// The packages a lockfile (`name`, one of [`LOCKFILES`]) pins that no other lockfile of its directory listed,
    /// read up to [`LOCKFILE_FACTOR`] times the per-file limit: a larger file is an error, never a partial list.
    fn lockfile(&mut self, host: &Path, system: &str, name: &str, pinned: &mut HashSet<(String, String)>) {
        if !self.budget.take_file() {
            return;
        }
        let factor =
            if name == "pnpm-lock.yaml" || name == "yarn.lock" { WHOLE_LOCKFILE_FACTOR } else { LOCKFILE_FACTOR };
        let limit = self.budget.limits.max_file_bytes.saturating_mul(factor);
        let file = match std::fs::File::open(host).and_then(|file| Ok((file.metadata()?.len(), file))) {
            Ok((size, _)) if size > limit => Err(format!("lockfile of {size} bytes is over the limit of {limit}")),
            Ok((_, file)) => Ok(file),
            Err(err) => return self.out.unreadable.push((system.to_string(), err)),
        };
        let (format, parsed) = match name {
            "pnpm-lock.yaml" => {
                ("pnpm-lock", file.and_then(|f| whole(f, limit)).and_then(|d| pnpm::parse_pnpm_lock(&d)))
            }
            "yarn.lock" => {
                let manifest = self.yarn_manifest(host, system);
                (
                    "yarn-lock",
                    file.and_then(|f| whole(f, limit)).and_then(|d| yarn::parse_yarn_lock(&d, manifest.as_ref())),
                )
            }
            _ => ("npm-package-lock", file.and_then(|file| lockfile::parse_package_lock(file.take(limit)))),
        };
        let parsed = parsed.map(|all| all.into_iter().filter(|p| pinned.insert((p.name.clone(), p.version.clone()))));
        self.push_all(PackageKind::Npm, format, system, parsed.map(Iterator::collect));
    }

    /// The `package.json` beside a `yarn.lock`, which tells its development dependencies apart; one that cannot be
    /// read is reported, and the lockfile is then read without it.
    fn yarn_manifest(&mut self, lockfile_host: &Path, lockfile: &str) -> Option<yarn::Manifest> {
        let host = lockfile_host.with_file_name("package.json");
        let system = join(lockfile.rsplit_once('/').map_or("", |(dir, _)| dir), "package.json");
        if !host.is_file() {
            return None;
        }
        match yarn::Manifest::parse(&self.read(&host, &system)?) {
            Ok(manifest) => Some(manifest),
            Err(reason) => {
                self.push(PackageKind::Npm, "yarn-lock", system, Err(reason));
                None
            }
        }
    }

    /// One package per entry of a file that lists several (a binary's modules, an archive's artifacts).
    fn push_all(&mut self, kind: PackageKind, format: &'static str, path: &str, parsed: Result<Vec<Parsed>, String>) {
        match parsed {
            Ok(all) => all.into_iter().for_each(|one| self.push(kind, format, path.to_string(), Ok(one))),
            Err(reason) => self.push(kind, format, path.to_string(), Err(reason)),
        }
    }

    fn push(&mut self, kind: PackageKind, format: &'static str, path: String, parsed: Result<Parsed, String>) {
        self.out.found.push(Found { kind, format, path, parsed });
    }

    /// The directory's entries, as many as the budget allows, sorted so a walk cut short is cut at the same place.
    fn entries(&mut self, host: &Path, system: &str) -> Vec<(OsString, FileType)> {
        if self.budget.exhausted() {
            return Vec::new();
        }
        let reader = match std::fs::read_dir(host) {
            Ok(reader) => reader,
            Err(err) => {
                self.out.unreadable.push((system.to_string(), err));
                return Vec::new();
            }
        };
        let mut entries = Vec::new();
        for entry in reader {
            let Ok(entry) = entry else { continue };
            if !self.budget.take_entry() {
                break;
            }
            if let Ok(kind) = entry.file_type() {
                entries.push((entry.file_name(), kind));
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    /// A metadata file's bytes, at most `max_file_bytes` of them (the name and version are at the start).
    fn read(&mut self, host: &Path, system: &str) -> Option<Vec<u8>> {
        if !self.budget.take_file() {
            return None;
        }
        let mut data = Vec::new();
        let read = std::fs::File::open(host)
            .and_then(|file| file.take(self.budget.limits.max_file_bytes).read_to_end(&mut data));
        match read {
            Ok(_) => Some(data),
            Err(err) => {
                self.out.unreadable.push((system.to_string(), err));
                None
            }
        }
    }
}

/// A lockfile's bytes, at most `limit` of them: a file that grew past it since its size was read is an error too.
fn whole(file: std::fs::File, limit: u64) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    match file.take(limit.saturating_add(1)).read_to_end(&mut data) {
        Err(err) => Err(format!("reading: {err}")),
        Ok(_) if data.len() as u64 > limit => Err(format!("lockfile grew over the limit of {limit} bytes")),
        Ok(_) => Ok(data),
    }
}

/// A file's device and inode number.
#[cfg(unix)]
fn file_identity(file: &std::fs::File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(_file: &std::fs::File) -> Option<(u64, u64)> {
    None
}

/// Whether a file found in a configured directory is worth opening as a binary: only executable ones are.
#[cfg(unix)]
fn is_executable(host: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(host).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Without Unix permissions every file is a candidate (the magic number then decides).
#[cfg(not(unix))]
fn is_executable(_host: &Path) -> bool {
    true
}

fn join(system: &str, name: &str) -> String {
    let mut out = String::with_capacity(system.len() + name.len() + 1);
    out.push_str(system.trim_end_matches('/'));
    out.push('/');
    out.push_str(name);
    out
}

/// The host paths matching a pattern of system paths where a component may hold one `*` (e.g.
/// `/usr/lib/python3*/site-packages`), each with its system path, in sorted order.
pub fn expand(root: &SystemRoot, pattern: &str) -> Vec<(String, PathBuf)> {
    let mut current = vec![String::new()];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for base in &current {
            match part.split_once('*') {
                None => next.push(join(base, part)),
                Some((prefix, suffix)) => {
                    let Ok(reader) = std::fs::read_dir(root.path(if base.is_empty() { "/" } else { base })) else {
                        continue;
                    };
                    let mut names: Vec<String> = reader
                        .flatten()
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| n.len() >= prefix.len() + suffix.len())
                        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
                        .collect();
                    names.sort();
                    next.extend(names.into_iter().map(|n| join(base, &n)));
                }
            }
        }
        current = next;
    }
    current.into_iter().filter(|s| !s.is_empty()).map(|s| (root.path(&s), s)).map(|(h, s)| (s, h)).collect()
}

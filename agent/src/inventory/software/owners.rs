//! Which operating-system package owns a file: dpkg's `info/*.list` file lists, the file lists in rpm's package
//! headers and the `F:`/`R:` lines of apk's database. Language packages use this so a distribution's own copy of a library is reported with its owner (and
//! matched through the distribution's advisories) instead of being counted a second time as a PyPI/npm/gem package.
//!
//! Only the few paths asked about are kept in memory; the lists are streamed past them, so the cost is one read of
//! the file lists and no index of every file on the system.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use memchr::memchr;

use super::{DbError, rpm};
use crate::root::SystemRoot;

const DPKG_INFO: &str = "/var/lib/dpkg/info";
const APK_INSTALLED: &str = "/lib/apk/db/installed";

/// The paths (of the inspected system) whose owners are wanted, and the owners found so far.
#[derive(Debug, Default)]
pub struct Owners {
    wanted: HashMap<Vec<u8>, Option<String>>,
    /// The lengths of the wanted paths: almost every line of a file list is rejected by its length without hashing.
    lengths: Vec<bool>,
    unclaimed: usize,
}

impl Owners {
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Owners {
        let wanted: HashMap<Vec<u8>, Option<String>> =
            paths.into_iter().map(|p| (p.as_bytes().to_vec(), None)).collect();
        let mut lengths = vec![false; wanted.keys().map(Vec::len).max().map_or(0, |m| m + 1)];
        for key in wanted.keys() {
            lengths[key.len()] = true;
        }
        Owners { unclaimed: wanted.len(), wanted, lengths }
    }

    /// The package that owns `path`, when one does.
    pub fn owner(&self, path: &str) -> Option<&str> {
        self.wanted.get(path.as_bytes())?.as_deref()
    }

    pub fn all_claimed(&self) -> bool {
        self.unclaimed == 0
    }

    /// Records that `owner` ships `path`. The first owner found is kept (dpkg refuses two packages shipping one file
    /// unless one diverts or replaces the other, and either is then the distribution's).
    pub(super) fn claim(&mut self, path: &[u8], owner: &str) {
        self.claim_exact(path, owner);
        // On a merged-/usr system /lib, /bin and /sbin are links into /usr, and older packages still list the short
        // form of a path that the scan reached through /usr.
        if self.lengths.get(path.len() + 4).is_some_and(|&wanted| wanted)
            && [&b"/lib"[..], b"/bin/", b"/sbin/"].iter().any(|p| path.starts_with(p))
        {
            let mut long = b"/usr".to_vec();
            long.extend_from_slice(path);
            self.claim_exact(&long, owner);
        }
    }

    fn claim_exact(&mut self, path: &[u8], owner: &str) {
        if !self.lengths.get(path.len()).is_some_and(|&wanted| wanted) {
            return;
        }
        if let Some(slot @ None) = self.wanted.get_mut(path) {
            *slot = Some(owner.to_string());
            self.unclaimed -= 1;
        }
    }
}

/// Claims the paths of one dpkg `info/<package>.list` file (one absolute path a line) for `package`.
pub fn claim_dpkg_list(package: &str, data: &[u8], owners: &mut Owners) {
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            owners.claim(line, package);
        }
    }
}

/// Claims the paths of a dpkg list file line by line: some lists are several megabytes (a toolchain's sources, a
/// cloud SDK), and the agent's resident set should not grow with the largest of them.
fn stream_dpkg_list(path: &Path, package: &str, line: &mut Vec<u8>, owners: &mut Owners) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, File::open(path)?);
    loop {
        line.clear();
        if reader.read_until(b'\n', line)? == 0 {
            return Ok(());
        }
        claim_dpkg_list(package, line, owners);
    }
}

/// Claims the files apk's `installed` database lists: `P:` names the package, each `F:` a directory (relative to
/// the root) and the `R:` lines after it the files in that directory.
pub fn claim_apk_installed(data: &[u8], owners: &mut Owners) {
    let mut package: &[u8] = b"";
    let mut dir: &[u8] = b"";
    let mut path = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let end = memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
        let line = data[pos..end].trim_ascii_end();
        pos = end + 1;
        match line {
            [] => (package, dir) = (b"", b""),
            [b'P', b':', name @ ..] => package = name,
            [b'F', b':', d @ ..] => dir = d,
            [b'R', b':', file @ ..] if !package.is_empty() => {
                path.clear();
                path.push(b'/');
                if !dir.is_empty() {
                    path.extend_from_slice(dir);
                    path.push(b'/');
                }
                path.extend_from_slice(file);
                let owner = String::from_utf8_lossy(package);
                owners.claim(&path, &owner);
            }
            _ => {}
        }
    }
}

/// Reads the file lists of the package managers present under `root` until every wanted path has an owner. Returns
/// the lists that could not be read, as `(path, problem)`: a path they would have claimed stays without owner.
pub fn find(root: &SystemRoot, owners: &mut Owners) -> Vec<(String, DbError)> {
    let mut problems = Vec::new();
    if owners.all_claimed() {
        return problems;
    }
    if let Ok(entries) = std::fs::read_dir(root.path(DPKG_INFO)) {
        let mut line = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(package) = name.to_str().and_then(|n| n.strip_suffix(".list")) else { continue };
            // Multi-arch packages' lists are named `<package>:<arch>.list`.
            let package = package.split(':').next().unwrap_or(package);
            if let Err(err) = stream_dpkg_list(&entry.path(), package, &mut line, owners) {
                problems.push((format!("{DPKG_INFO}/{}", name.to_string_lossy()), err.into()));
            }
            if owners.all_claimed() {
                return problems;
            }
        }
    }
    let apk = root.path(APK_INSTALLED);
    if apk.is_file() {
        match std::fs::read(&apk) {
            Ok(data) => claim_apk_installed(&data, owners),
            Err(err) => problems.push((APK_INSTALLED.to_string(), err.into())),
        }
    }
    if owners.all_claimed() {
        return problems;
    }
    let rpm_problems = rpm::for_each_installed_file(root, &mut |package, path| owners.claim(path, package));
    problems.extend(rpm_problems.into_iter().map(|p| ("rpm database".to_string(), p)));
    problems
}

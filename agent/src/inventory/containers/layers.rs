//! An image's files seen through its layers, top layer first, as the union filesystem would show them: whiteouts
//! hide what lower layers hold, and symbolic links resolve inside the image, never onto the host.
//!
//! Only the few files an inventory needs are looked up (os-release, the package databases), so the image is never
//! mounted or unpacked.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use muster_shared::v1::{Os, PackageKind, PackageSource};

use crate::inventory::os::{os_from_release, parse_os_release};
use crate::inventory::software::{
    DpkgFlavor, Listing, RpmDbFormat, failed, parse_apk_installed, parse_dpkg_status, read_rpmdb, read_status_d_files,
    source,
};
use crate::root::normal_parts;

/// overlayfs marks a file deleted in an upper layer by a character device 0:0 with its name, the OCI layer format
/// by an empty `.wh.<name>` beside it; a directory whose lower contents are hidden holds `.wh..wh..opq` (OCI) or
/// carries overlayfs' opaque attribute ([`is_opaque`]).
const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const MAX_LINKS: usize = 40;
const STATUS_D: &str = "/var/lib/dpkg/status.d";

/// The layer directories of one image, top (newest) first; each is the layer's own files as its driver stores them.
#[derive(Debug, Clone)]
pub struct Layers {
    dirs: Vec<PathBuf>,
}

impl Layers {
    pub fn new(top_first: Vec<PathBuf>) -> Layers {
        Layers { dirs: top_first }
    }

    /// Where the file the image shows at `image_path` is stored, or `None` when the image has no such file.
    pub fn find(&self, image_path: &str) -> Option<PathBuf> {
        let mut pending: Vec<OsString> = normal_parts(Path::new(image_path)).into_iter().rev().collect();
        let mut resolved: Vec<OsString> = Vec::new();
        let mut links = 0;
        let mut found = None;
        while let Some(part) = pending.pop() {
            if part == ".." {
                resolved.pop();
                continue;
            }
            resolved.push(part);
            let path: PathBuf = resolved.iter().collect();
            let (stored, meta) = self.entry(&path)?;
            if meta.file_type().is_symlink() {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                let target = std::fs::read_link(&stored).ok()?;
                resolved.pop();
                if target.is_absolute() {
                    resolved.clear();
                }
                pending.extend(normal_parts(&target).into_iter().rev());
                found = None;
            } else {
                found = Some(stored);
            }
        }
        found
    }

    /// The entries of the directory the image shows at `image_path`, by name, each where its topmost copy is
    /// stored: every layer's entries, upper layers first, less those an upper layer deleted, down to a layer that
    /// made the directory opaque or holds something else at its path. The directory's own path is taken as is in
    /// each layer (no links followed), which is how image builders write the package directories read here.
    pub fn list(&self, image_path: &str) -> Vec<(String, PathBuf)> {
        let rel: PathBuf = normal_parts(Path::new(image_path)).into_iter().collect();
        let mut out: std::collections::BTreeMap<String, PathBuf> = std::collections::BTreeMap::new();
        let mut hidden: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for dir in &self.dirs {
            let stored = dir.join(&rel);
            // This layer deleting the directory or a directory above it (a whiteout, or a parent made opaque) hides
            // the layers below; what this layer itself holds there still shows.
            let hides_below = rel.ancestors().filter(|a| !a.as_os_str().is_empty()).any(|a| deleted_in(dir, a));
            match std::fs::symlink_metadata(&stored) {
                Ok(meta) if meta.is_dir() => {}
                // A file, link or whiteout in its place hides the directories of the layers below.
                Ok(_) => break,
                Err(_) if hides_below => break,
                Err(_) => continue,
            }
            let Ok(entries) = std::fs::read_dir(&stored) else { continue };
            let mut opaque = has_opaque_xattr(&stored);
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name == OPAQUE_MARKER {
                    opaque = true;
                } else if let Some(deleted) = name.strip_prefix(WHITEOUT_PREFIX) {
                    hidden.insert(deleted.to_string());
                } else if entry.metadata().is_ok_and(|m| is_whiteout_device(&m)) {
                    hidden.insert(name);
                } else if !hidden.contains(&name) {
                    out.entry(name).or_insert_with(|| entry.path());
                }
            }
            if opaque || hides_below {
                break;
            }
        }
        out.into_iter().collect()
    }

    /// The topmost layer's entry for `path` (relative to the image root), unless an upper layer deleted it.
    fn entry(&self, path: &Path) -> Option<(PathBuf, std::fs::Metadata)> {
        for dir in &self.dirs {
            let stored = dir.join(path);
            if let Ok(meta) = std::fs::symlink_metadata(&stored) {
                return (!is_whiteout_device(&meta)).then_some((stored, meta));
            }
            if deleted_in(dir, path) {
                return None;
            }
        }
        None
    }
}

/// Whether layer `dir` deletes `rel` for the layers below it: an OCI whiteout file beside it, or its parent made
/// opaque.
fn deleted_in(dir: &Path, rel: &Path) -> bool {
    let (Some(name), Some(parent)) = (rel.file_name(), rel.parent()) else { return false };
    dir.join(parent).join(format!("{WHITEOUT_PREFIX}{}", name.to_string_lossy())).exists()
        || is_opaque(&dir.join(parent))
}

/// Whether a layer's directory hides what the layers below hold at its path: the OCI marker file inside it, or
/// the extended attribute overlayfs itself sets, which is how Docker's overlay2, containerd's overlayfs snapshotter
/// and Podman's overlay driver store a directory an upper layer replaced (`trusted.` as root, `user.` rootless, and
/// fuse-overlayfs' own name).
fn is_opaque(dir: &Path) -> bool {
    dir.join(OPAQUE_MARKER).exists() || has_opaque_xattr(dir)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn has_opaque_xattr(dir: &Path) -> bool {
    const NAMES: [&str; 3] = ["trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque"];
    NAMES.iter().any(|name| {
        let mut value = [0u8; 1];
        matches!(rustix::fs::lgetxattr(dir, *name, &mut value), Ok(1) if value[0] == b'y')
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn has_opaque_xattr(_dir: &Path) -> bool {
    false
}

#[cfg(unix)]
fn is_whiteout_device(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_char_device() && meta.rdev() == 0
}

#[cfg(not(unix))]
fn is_whiteout_device(_meta: &std::fs::Metadata) -> bool {
    false
}

/// The image's operating system from its os-release (`/etc/os-release`, else `/usr/lib/os-release`).
pub fn image_os(layers: &Layers) -> Option<Os> {
    ["/etc/os-release", "/usr/lib/os-release"].into_iter().find_map(|path| {
        let text = std::fs::read_to_string(layers.find(path)?).ok()?;
        Some(Os { source: Some(path.to_string()), ..os_from_release(&parse_os_release(&text)) })
    })
}

/// How a package database inside an image is read.
#[derive(Clone, Copy)]
enum Reader {
    Dpkg,
    Apk,
    Rpm(RpmDbFormat),
}

/// The package databases looked for in an image, paths as the image shows them. rpm's come in the order its
/// backends superseded each other, as on a host; only the first found of those is read.
const DATABASES: [(&str, PackageKind, &str, Reader); 8] = [
    ("/var/lib/dpkg/status", PackageKind::Deb, "dpkg-status", Reader::Dpkg),
    ("/lib/apk/db/installed", PackageKind::Apk, "apk-installed", Reader::Apk),
    ("/usr/lib/sysimage/rpm/rpmdb.sqlite", PackageKind::Rpm, "rpmdb-sqlite", Reader::Rpm(RpmDbFormat::Sqlite)),
    ("/var/lib/rpm/rpmdb.sqlite", PackageKind::Rpm, "rpmdb-sqlite", Reader::Rpm(RpmDbFormat::Sqlite)),
    ("/usr/lib/sysimage/rpm/Packages.db", PackageKind::Rpm, "rpmdb-ndb", Reader::Rpm(RpmDbFormat::Ndb)),
    ("/var/lib/rpm/Packages.db", PackageKind::Rpm, "rpmdb-ndb", Reader::Rpm(RpmDbFormat::Ndb)),
    ("/usr/lib/sysimage/rpm/Packages", PackageKind::Rpm, "rpmdb-bdb", Reader::Rpm(RpmDbFormat::BerkeleyDb)),
    ("/var/lib/rpm/Packages", PackageKind::Rpm, "rpmdb-bdb", Reader::Rpm(RpmDbFormat::BerkeleyDb)),
];

/// Every package database the image holds, read (of rpm's, the first found: `/var/lib/rpm` is often a link to
/// `/usr/lib/sysimage/rpm`, and an older format beside a newer one was converted).
pub fn image_packages(layers: &Layers) -> Vec<(PackageSource, Listing)> {
    let mut found: Vec<(PackageSource, Listing)> = Vec::new();
    for (path, kind, format, reader) in DATABASES {
        if kind == PackageKind::Rpm && found.iter().any(|(s, _)| s.kind == PackageKind::Rpm) {
            continue;
        }
        let Some(stored) = layers.find(path) else { continue };
        // `find` resolves links inside the image; what it ends on must still be a file, not a device or a FIFO.
        if !std::fs::symlink_metadata(&stored).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let listing = match reader {
            Reader::Rpm(format) => read_rpmdb(&stored, format),
            Reader::Dpkg => {
                std::fs::read(&stored).map_or_else(|e| failed(e.into()), |d| parse_dpkg_status(&d, DpkgFlavor::Status))
            }
            Reader::Apk => std::fs::read(&stored).map_or_else(|e| failed(e.into()), |d| parse_apk_installed(&d)),
        };
        found.push((source(kind, path, format), listing));
    }
    // Distroless images have no status file: their builders write each package's stanza to a file of its own,
    // often one layer per package.
    let status_d = layers.list(STATUS_D);
    if !status_d.is_empty() {
        found.push((source(PackageKind::Deb, STATUS_D, "dpkg-status.d"), read_status_d_files(status_d)));
    }
    found
}

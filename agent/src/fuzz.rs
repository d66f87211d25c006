//! Entry points for the fuzz targets in `fuzz/`: each hands arbitrary bytes to one parser of untrusted input the way
//! the agent itself would, so the targets need nothing crate-private and the parsers stay private.
//!
//! Compiled into every build (not behind `cfg(fuzzing)`) so that `cargo test` and clippy keep these adapters
//! building; they only call pure functions and touch no file, command or network.

use std::collections::BTreeMap;
use std::io;

use crate::checks::sshd::{self, ConfigFiles};
use crate::disposal::signatures;
use crate::inventory::accounts::logins;
use crate::inventory::containers::{bolt, containerd, podman};
use crate::inventory::hardware::{firmware, monitors};
use crate::inventory::os;
use crate::inventory::patches::{apk, apt, dnf};
use crate::inventory::software::{self, DpkgFlavor, LanguageScan, RpmDbFormat, flatpak, language, snap};
use crate::root::ErrorLog;

/// Splits one fuzz input into up to `n` parts at NUL bytes, so a target can feed several files from one input.
fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == 0).collect()
}

/// `/var/lib/dpkg/status` and a distroless `status.d` file.
pub fn dpkg_status(data: &[u8]) {
    let _ = software::parse_dpkg_status(data, DpkgFlavor::Status);
    let _ = software::parse_dpkg_status(data, DpkgFlavor::StatusD);
}

/// rpm's databases: the first byte picks the Berkeley DB hash file, the ndb file, or one header blob as the SQLite
/// format stores each package (the SQLite container itself is read by SQLite).
pub fn rpmdb(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let _ = match selector % 3 {
        0 => software::parse_rpmdb(rest, RpmDbFormat::BerkeleyDb),
        1 => software::parse_rpmdb(rest, RpmDbFormat::Ndb),
        _ => software::parse_rpm_header(rest),
    };
}

/// Alpine: the installed database, and an `APKINDEX` of a repository.
pub fn apk(data: &[u8]) {
    let _ = software::parse_apk_installed(data);
    let _ = apk::index::parse(data, |_| true);
    let text = String::from_utf8_lossy(data);
    let _ = apk::parse_repositories(&text, "/etc/apk/repositories");
    let _ = apk::parse_world(&text);
}

/// One pacman `desc` file.
pub fn pacman(data: &[u8]) {
    let _ = software::parse_pacman_desc(data);
}

/// `/etc/os-release`.
pub fn os_release(data: &[u8]) {
    let _ = os::parse_os_release(&String::from_utf8_lossy(data));
}

/// An SMBIOS dump (`--smbios-dump`), alone or after a NUL with the `smbios_entry_point` found beside it.
pub fn smbios(data: &[u8]) {
    let mut errors = ErrorLog::new();
    let _ = firmware::decode_dump(data, None, "fuzz", &mut errors);
    if let [table, entry_point] = parts(data, 2)[..] {
        let _ = firmware::decode_dump(table, Some(entry_point), "fuzz", &mut errors);
    }
}

/// apt's files: a `Release`/`InRelease`, a `Packages` list, and sources in both formats.
pub fn apt(data: &[u8]) {
    let _ = apt::release::parse(data);
    let _ = apt::lists::scan(data, |_| true, |_| {});
    let text = String::from_utf8_lossy(data);
    let _ = apt::sources::parse_one_line(&text, "/etc/apt/sources.list");
    let _ = apt::sources::parse_deb822(&text, "/etc/apt/sources.list.d/fuzz.sources");
}

/// sshd's configuration: the main file, then drop-ins in `/etc/ssh/sshd_config.d/` (parts after NUL bytes), with
/// `Include` followed as sshd follows it.
pub fn sshd_config(data: &[u8]) {
    let mut files = Files::default();
    for (index, part) in parts(data, 5).into_iter().enumerate() {
        let path = match index {
            0 => MAIN_CONFIG.to_string(),
            n => format!("{DROP_INS}/{n}.conf"),
        };
        files.0.insert(path, String::from_utf8_lossy(part).into_owned());
    }
    if let Ok(config) = sshd::effective_config(&files, MAIN_CONFIG) {
        let _ = sshd::evaluate(&config);
    }
}

/// dnf and yum: a repository's `repomd.xml`, `primary.xml` and `updateinfo.xml` as read from the cache, a `.repo`
/// file and `dnf.conf`.
pub fn dnf(data: &[u8]) {
    let _ = dnf::metadata::parse_repomd(data);
    let _ = dnf::metadata::scan_primary(data, |_| true, |_| {});
    let _ = dnf::metadata::parse_updateinfo(data);
    let text = String::from_utf8_lossy(data);
    let _ = dnf::repos::parse_repo_file(&text, "/etc/yum.repos.d/fuzz.repo");
    let _ = dnf::repos::parse_main_conf(&text, "/etc/dnf/dnf.conf");
}

/// The language package scan's files, the first byte picking which: Python metadata, npm `package.json` and
/// `package-lock.json`, a gemspec, a Java archive with its nested archives, an ELF executable (Go build
/// information, `cargo auditable`), or those sections' contents alone. The bounds are the scan's defaults.
pub fn language(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let limits = LanguageScan::default();
    let max = limits.max_file_bytes;
    match selector % 6 {
        0 => {
            let _ = language::parse_python_metadata(rest);
        }
        1 => {
            let _ = language::parse_package_json(rest);
            let _ = language::parse_package_lock(rest);
            let _ = language::parse_pnpm_lock(rest);
            // A yarn.lock, then after a NUL the package.json beside it.
            let (lock, manifest) = match rest.iter().position(|b| *b == 0) {
                Some(at) => (&rest[..at], language::Manifest::parse(&rest[at + 1..]).ok()),
                None => (rest, None),
            };
            let _ = language::parse_yarn_lock(lock, manifest.as_ref());
        }
        2 => {
            let _ = language::parse_gemspec(rest);
        }
        3 => {
            let _ = language::read_archive(io::Cursor::new(rest), max, max.saturating_mul(4));
            let _ = language::parse_pom_properties(rest);
            let _ = language::parse_manifest(rest);
        }
        4 => match language::embedded(rest, max) {
            Ok(Some(language::Embedded::GoBuildInfo(section))) => {
                let _ = language::parse_go_buildinfo(&section);
            }
            Ok(Some(language::Embedded::CargoAuditable(section))) => {
                let _ = language::parse_cargo_auditable(&section, max);
            }
            _ => {}
        },
        _ => {
            let _ = language::parse_go_buildinfo(rest);
            let _ = language::parse_cargo_auditable(rest, max);
        }
    }
}

/// A monitor's EDID from `/sys/class/drm/*/edid`.
pub fn edid(data: &[u8]) {
    let _ = monitors::parse_edid("card0-HDMI-A-1", data);
}

/// A snap's `meta/snap.yaml`, and a flatpak deployment's `metadata`, `deploy` and AppStream metainfo files.
pub fn snap_flatpak(data: &[u8]) {
    let _ = snap::parse_snap_yaml(data);
    let _ = flatpak::parse_flatpak_metadata(data);
    let _ = flatpak::deploy_origin(data);
    let _ = flatpak::metainfo_version(data);
}

/// What a disk holds, as the disposal check reads it sector by sector.
pub fn disposal_signatures(data: &[u8]) {
    let _ = signatures::scan(data, 0);
}

const MAIN_CONFIG: &str = "/etc/ssh/sshd_config";
const DROP_INS: &str = "/etc/ssh/sshd_config.d";

/// sshd's files held in memory, keyed by path.
#[derive(Default)]
struct Files(BTreeMap<String, String>);

impl ConfigFiles for Files {
    fn read(&self, path: &str) -> io::Result<String> {
        self.0.get(path).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn list_dir(&self, dir: &str) -> io::Result<Vec<String>> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        Ok(self
            .0
            .keys()
            .filter_map(|path| path.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect())
    }
}

/// `/var/log/wtmp` folded record by record, and `/var/log/lastlog` read record by record.
pub fn logins(data: &[u8]) {
    for layout in [logins::Layout::Time32, logins::Layout::Time64] {
        let mut latest = BTreeMap::new();
        let _ = logins::wtmp_latest(data, layout, &mut latest);
        for record in data.chunks_exact(layout.lastlog_size()) {
            let _ = logins::lastlog_record(record, layout);
        }
    }
}

/// A bbolt database as containerd (metadata, snapshotter) and Podman keep them, its meta checksums recomputed so
/// mutations reach the trees: their schemas read from it and every bucket listed a few levels down; then the bytes
/// as a Go binary time and as an image manifest.
pub fn bolt(data: &[u8]) {
    fn walk(db: &bolt::Db<[u8]>, bucket: &bolt::Bucket, depth: usize, budget: &mut usize) {
        let Ok((entries, _)) = db.entries(bucket, *budget) else { return };
        *budget = budget.saturating_sub(entries.len());
        for (_, value) in entries {
            // Bucket values may point anywhere in a damaged file, so the walk stops at a depth the schemas read
            // never pass.
            if let (bolt::Value::Bucket(child), true) = (value, depth < 6) {
                walk(db, &child, depth + 1, budget);
            }
        }
    }
    let mut sealed = data.to_vec();
    bolt::reseal_metas(&mut sealed);
    if let Ok(db) = bolt::Db::open(sealed.into_boxed_slice()) {
        let _ = containerd::read_state(&db, 100);
        let _ = containerd::snapshot_name(&db, "default", "overlayfs", "sha256:0");
        let _ = containerd::snapshot_id(&db, "default/1/sha256:0");
        let _ = podman::parse_states(&db, 100);
        walk(&db, db.root(), 0, &mut 10_000);
    }
    let _ = containerd::parse_time(data);
    let _ = containerd::parse_manifest(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-memory files list a drop-in directory the way the glob in Debian's shipped `Include` line needs.
    #[test]
    fn drop_ins_are_listed_and_included() {
        let mut files = Files::default();
        files.0.insert(MAIN_CONFIG.into(), "Include /etc/ssh/sshd_config.d/*.conf\n".into());
        files.0.insert(format!("{DROP_INS}/1.conf"), "PermitRootLogin no\n".into());
        files.0.insert(format!("{DROP_INS}/sub/2.conf"), "PasswordAuthentication no\n".into());
        let config = sshd::effective_config(&files, MAIN_CONFIG).unwrap();
        assert_eq!(config.get("PermitRootLogin").map(|s| s.value.as_str()), Some("no"));
        assert_eq!(config.get("PasswordAuthentication"), None, "a file in a subdirectory is not a drop-in");
    }

    /// Fifteen levels of four files, each including the whole next level: within sshd's depth limit, yet 4^15
    /// reads. The read bound stops them with an error naming the file.
    #[test]
    fn includes_that_fan_out_stop_at_the_read_bound() {
        let mut files = Files::default();
        files.0.insert(MAIN_CONFIG.into(), "Include /etc/ssh/l1/*\n".into());
        for level in 1..=15 {
            for n in 1..=4 {
                files.0.insert(format!("/etc/ssh/l{level}/{n}.conf"), format!("Include /etc/ssh/l{}/*\n", level + 1));
            }
        }
        let error = sshd::effective_config(&files, MAIN_CONFIG).unwrap_err();
        assert!(error.to_string().contains("Include reads more than 1024 files"), "{error}");
    }
}

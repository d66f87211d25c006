//! The os section: os-release (as the inspected system ships it) plus the running kernel on a live system.

use std::collections::BTreeMap;

use muster_shared::v1::{ErrorKind, Os, SectionName};

use crate::root::{ErrorLog, SystemRoot};

/// Where systemd's os-release(5) says to look, in order.
const OS_RELEASE_PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// Reads os-release under `root`, and the kernel release and architecture when `root` is the running system.
pub fn collect(root: &SystemRoot, errors: &mut ErrorLog) -> Option<Os> {
    // A live Windows has no os-release: its version is in the registry.
    #[cfg(windows)]
    if root.is_live() {
        return super::windows::collect_os(errors);
    }
    // Nor has a Mac: system_profiler names its release.
    #[cfg(target_os = "macos")]
    if root.is_live() {
        return super::macos::collect_os(errors);
    }
    let mut os = None;
    let mut last_error = None;
    for path in OS_RELEASE_PATHS {
        match root.read(path) {
            Ok(bytes) => {
                let mut parsed = os_from_release(&parse_os_release(&String::from_utf8_lossy(&bytes)));
                parsed.source = Some(path.to_string());
                os = Some(parsed);
                break;
            }
            Err(err) => last_error = Some(err),
        }
    }
    if os.is_none() {
        match last_error {
            Some(err) => errors.io(SectionName::Os, "/etc/os-release", &err),
            None => errors.record(SectionName::Os, "/etc/os-release", ErrorKind::NotFound, "no os-release file"),
        }
    }
    let mut os = os.unwrap_or_default();
    if root.is_live() {
        match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
            Ok(release) => os.kernel_release = Some(release.trim().to_string()),
            Err(err) => errors.io(SectionName::Os, "kernel_release", &err),
        }
        os.architecture = Some(std::env::consts::ARCH.to_string());
    } else {
        errors.not_live(SectionName::Os, "kernel_release");
        errors.not_live(SectionName::Os, "architecture");
    }
    Some(os)
}

/// Parses os-release(5): `KEY=value` lines, values optionally single- or double-quoted with shell-style escapes.
/// Lines that are not assignments are ignored, as systemd does.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else { continue };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        fields.insert(key.to_string(), unquote(raw.trim()));
    }
    fields
}

fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            (_, c) => out.push(c),
        }
    }
    out
}

/// Maps parsed os-release fields onto the wire type.
pub fn os_from_release(fields: &BTreeMap<String, String>) -> Os {
    let get = |key: &str| fields.get(key).filter(|v| !v.is_empty()).cloned();
    Os {
        id: get("ID").map(|id| id.to_ascii_lowercase()),
        id_like: get("ID_LIKE").map(|v| v.split_whitespace().map(str::to_string).collect()).unwrap_or_default(),
        name: get("NAME"),
        version: get("VERSION"),
        version_id: get("VERSION_ID"),
        version_codename: get("VERSION_CODENAME").or_else(|| get("UBUNTU_CODENAME")),
        pretty_name: get("PRETTY_NAME"),
        build_id: get("BUILD_ID"),
        variant_id: get("VARIANT_ID"),
        source: None,
        kernel_release: None,
        architecture: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/os-release")
    }

    /// Every captured os-release file is named `<ID>-<VERSION_ID>__…`, with `rolling` when it has no VERSION_ID.
    #[test]
    fn every_captured_os_release_gives_its_id_and_version() {
        let mut checked = 0;
        for entry in std::fs::read_dir(testdata()).unwrap() {
            let path = entry.unwrap().path();
            let file_name = path.file_name().unwrap().to_string_lossy().to_string();
            let Some((label, _)) = file_name.split_once("__") else { continue };
            let (want_id, want_version) = label.rsplit_once('-').unwrap();
            let os = os_from_release(&parse_os_release(&std::fs::read_to_string(&path).unwrap()));
            assert_eq!(os.id.as_deref(), Some(want_id), "{file_name}");
            let want_version = (want_version != "rolling").then_some(want_version);
            assert_eq!(os.version_id.as_deref(), want_version, "{file_name}");
            assert!(os.name.is_some() || os.pretty_name.is_some(), "{file_name}: no name");
            checked += 1;
        }
        assert_eq!(checked, 118);
    }

    #[test]
    fn reads_quoting_and_lists_as_systemd_does() {
        let path = testdata().join("ubuntu-26.04__python-distro__ubuntu2604__etc.os-release");
        let os = os_from_release(&parse_os_release(&std::fs::read_to_string(path).unwrap()));
        assert_eq!(os.id_like, vec!["debian".to_string()]);
        assert!(os.version_codename.is_some());

        let fields = parse_os_release("A=\"x \\\"y\\\" \\$z\"\nB='single $quoted'\nnot a line\n");
        assert_eq!(fields["A"], "x \"y\" $z");
        assert_eq!(fields["B"], "single $quoted");
        assert_eq!(fields.len(), 2);
    }

    #[test]
    fn a_mounted_root_reports_no_running_kernel() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::copy(
            testdata().join("almalinux-10.0__python-distro__almalinux10__usrlib.os-release"),
            dir.path().join("usr/lib/os-release"),
        )
        .unwrap();
        let mut errors = ErrorLog::new();
        let os = collect(&SystemRoot::mounted(dir.path()), &mut errors).unwrap();
        assert_eq!(os.id.as_deref(), Some("almalinux"));
        assert_eq!(os.source.as_deref(), Some("/usr/lib/os-release"));
        assert_eq!(os.kernel_release, None);
        let not_available: Vec<_> =
            errors.as_slice().iter().filter(|e| e.kind == ErrorKind::NotAvailable).map(|e| e.item.as_str()).collect();
        assert_eq!(not_available, vec!["kernel_release", "architecture"]);
    }
}

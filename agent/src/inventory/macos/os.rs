//! A Mac's operating system from `system_profiler SPSoftwareDataType`: its `System Version` line names the system
//! as Apple calls it in that release (`Mac OS X 10.5.8 (9L31a)`, `OS X 10.11.6 (15G1217)`, `macOS 11.2.3 (20D91)`),
//! with the build, and `Kernel Version` the Darwin release (`uname -r`'s). A pure reading of the text output.

use muster_shared::v1::Os;

/// The value of `key:` in system_profiler's indented `key: value` text, first occurrence.
fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(':').map(str::trim))
}

/// The `os` section of a Mac: id `macos` (endoflife.date's product, whatever the release called itself), the name and
/// version as the release gives them, the build as `build_id`, the Darwin kernel release; `None` when the text has no
/// `System Version`.
pub fn os(software: &str) -> Option<Os> {
    let system = value(software, "System Version")?;
    let (named, build) = match system.rsplit_once(" (") {
        Some((named, build)) if build.ends_with(')') => (named, Some(build.trim_end_matches(')'))),
        _ => (system, None),
    };
    // The version is the first word that starts with a digit: a Rapid Security Response adds a letter after it
    // (`macOS 13.4.1 (c) (22F770820d)`), which stays in the pretty name only.
    let words: Vec<&str> = named.split(' ').collect();
    let (name, version) = match words.iter().position(|w| w.starts_with(|c: char| c.is_ascii_digit())) {
        Some(at) if at > 0 => (words[..at].join(" "), Some(words[at])),
        _ => (named.to_owned(), None),
    };
    Some(Os {
        id: Some("macos".to_owned()),
        name: Some(name),
        version: version.map(str::to_owned),
        version_id: version.map(str::to_owned),
        pretty_name: Some(system.to_owned()),
        build_id: build.map(str::to_owned),
        source: Some("system_profiler SPSoftwareDataType".to_owned()),
        kernel_release: value(software, "Kernel Version").map(|k| k.strip_prefix("Darwin ").unwrap_or(k).to_owned()),
        ..Os::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(format!("{}/testdata/macos/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// (file, name, version, build, kernel) as each capture's System and Kernel Version lines say.
    #[test]
    fn three_releases_read_as_apple_named_them() {
        for (file, name, version, build, kernel) in [
            ("system_profiler-11.0-apple-M1.txt", "macOS", "11.2.3", "20D91", "20.3.0"),
            ("system_profiler-10.6-SPSoftwareDataType.txt", "OS X", "10.11.6", "15G1217", "15.6.0"),
            ("system_profiler-10.5-powerpc.txt", "Mac OS X", "10.5.8", "9L31a", "9.8.0"),
        ] {
            let os = os(&testdata(file)).unwrap();
            assert_eq!(os.id.as_deref(), Some("macos"), "{file}");
            assert_eq!(os.name.as_deref(), Some(name), "{file}");
            assert_eq!(os.version_id.as_deref(), Some(version), "{file}");
            assert_eq!(os.build_id.as_deref(), Some(build), "{file}");
            assert_eq!(os.kernel_release.as_deref(), Some(kernel), "{file}");
            assert_eq!(os.pretty_name, Some(format!("{name} {version} ({build})")), "{file}");
        }
    }

    /// Apple's form for a Rapid Security Response (support.apple.com/en-us/102657), in a real capture's place.
    #[test]
    fn a_rapid_security_response_keeps_its_release() {
        let text = testdata("system_profiler-11.0-apple-M1.txt")
            .replace("macOS 11.2.3 (20D91)", "macOS 13.4.1 (c) (22F770820d)");
        let os = os(&text).unwrap();
        assert_eq!((os.name.as_deref(), os.version_id.as_deref()), (Some("macOS"), Some("13.4.1")));
        assert_eq!(os.build_id.as_deref(), Some("22F770820d"));
        assert_eq!(os.pretty_name.as_deref(), Some("macOS 13.4.1 (c) (22F770820d)"));
    }

    #[test]
    fn text_without_a_system_version_is_no_os() {
        let hardware_only = testdata("system_profiler-11.0-apple-M1.txt").replace("System Version", "Other");
        assert_eq!(os(&hardware_only), None);
    }
}

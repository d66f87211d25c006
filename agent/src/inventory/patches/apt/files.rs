//! Reading apt's own configuration files from the inspected system, in the order and with the file-name rules apt
//! applies: `apt.conf.d`, `sources.list.d` and `preferences.d`.

use muster_shared::v1::ErrorKind;

use super::SECTION;
use super::conf::AptConf;
use super::preferences::{self, Preferences};
use super::sources::{self, Source};
use crate::root::{ErrorLog, SystemRoot};

/// Reads the system's apt configuration files in apt's order: `apt.conf.d/*` sorted by name, then `apt.conf`.
pub fn read_conf(root: &SystemRoot, errors: &mut ErrorLog) -> AptConf {
    let mut conf = AptConf::new();
    let mut files: Vec<String> = list_dir(root, "/etc/apt/apt.conf.d", errors)
        .into_iter()
        .filter(|name| is_conf_part(name))
        .map(|name| format!("/etc/apt/apt.conf.d/{name}"))
        .collect();
    files.push("/etc/apt/apt.conf".to_string());
    for file in files {
        match root.read(&file) {
            Ok(bytes) => {
                if let Err(err) = conf.read(&String::from_utf8_lossy(&bytes), &file) {
                    errors.record(SECTION, file, ErrorKind::Parse, err.to_string());
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => errors.io(SECTION, file, &err),
        }
    }
    conf
}

/// apt reads configuration parts whose names are `[A-Za-z0-9_.-]+` with no extension or `.conf`.
fn is_conf_part(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    !name.starts_with('.')
        && name.chars().all(allowed)
        && name.rsplit_once('.').is_none_or(|(_, extension)| extension == "conf")
}

/// Lists a directory of the inspected system, sorted by name; a missing directory is simply empty.
fn list_dir(root: &SystemRoot, dir: &str, errors: &mut ErrorLog) -> Vec<String> {
    root.dir_names(dir).unwrap_or_else(|err| {
        errors.io(SECTION, dir, &err);
        Vec::new()
    })
}

/// Reads every configured `deb` source, in apt's order: `sources.list`, then `sources.list.d` by name.
/// Returns `None` when a source file could not be read or parsed, since apt itself would refuse to run then.
pub fn read_sources(root: &SystemRoot, errors: &mut ErrorLog) -> Option<Vec<Source>> {
    let mut files = vec!["/etc/apt/sources.list".to_string()];
    files.extend(
        list_dir(root, "/etc/apt/sources.list.d", errors)
            .into_iter()
            .filter(|n| n.ends_with(".list") || n.ends_with(".sources"))
            .map(|n| format!("/etc/apt/sources.list.d/{n}")),
    );
    let mut all = Vec::new();
    let mut complete = true;
    for file in files {
        let text = match root.read(&file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                errors.io(SECTION, &file, &err);
                complete = false;
                continue;
            }
        };
        let (mut found, problems) = if file.ends_with(".sources") {
            sources::parse_deb822(&text, &file)
        } else {
            sources::parse_one_line(&text, &file)
        };
        for problem in problems {
            errors.record(SECTION, &file, ErrorKind::Parse, problem.to_string());
            complete = false;
        }
        all.append(&mut found);
    }
    complete.then_some(all)
}

/// Reads `/etc/apt/preferences` and then `/etc/apt/preferences.d/*`. Returns `None` when a pin could not be
/// understood: candidates computed without it could be wrong.
pub fn read_preferences(root: &SystemRoot, errors: &mut ErrorLog) -> Option<Preferences> {
    let mut files = vec!["/etc/apt/preferences".to_string()];
    files.extend(
        list_dir(root, "/etc/apt/preferences.d", errors)
            .into_iter()
            .filter(|name| is_preferences_part(name))
            .map(|name| format!("/etc/apt/preferences.d/{name}")),
    );
    let mut preferences = Preferences::default();
    let mut complete = true;
    for file in files {
        match root.read(&file) {
            Ok(bytes) => {
                for problem in preferences.read(&String::from_utf8_lossy(&bytes), &file) {
                    let kind = match problem {
                        preferences::PreferencesError::Unsupported { .. } => ErrorKind::Unsupported,
                        preferences::PreferencesError::Malformed { .. } => ErrorKind::Parse,
                    };
                    errors.record(SECTION, &file, kind, problem.to_string());
                    complete = false;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                errors.io(SECTION, &file, &err);
                complete = false;
            }
        }
    }
    complete.then_some(preferences)
}

/// apt reads preferences parts named `[A-Za-z0-9_.-]+` with no extension or `.pref`.
fn is_preferences_part(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    !name.starts_with('.')
        && name.chars().all(allowed)
        && name.rsplit_once('.').is_none_or(|(_, extension)| extension == "pref")
}

//! apt pins (`/etc/apt/preferences`, `/etc/apt/preferences.d/*`): general pins give whole lists a priority,
//! package pins give matching versions of named packages one.

use super::policy::{ListFacts, ListPin, ListSelector, ReleasePin, glob};

/// The pins of every preferences file, in apt's reading order (first match wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub list_pins: Vec<ListPin>,
    pub package_pins: Vec<PackagePin>,
}

/// A pin for some packages' versions (`Package: foo bar*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagePin {
    /// Names or shell globs.
    pub names: Vec<String>,
    pub versions: VersionSelector,
    pub priority: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    /// `Pin: version 1.2*`.
    Version(String),
    /// `Pin: release ...` or `Pin: origin ...`: versions offered by a matching list.
    Lists(ListSelector),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PreferencesError {
    #[error("{origin}: malformed pin: {reason}")]
    Malformed { origin: String, reason: &'static str },
    #[error("{origin}: {what} pins are not evaluated")]
    Unsupported { origin: String, what: &'static str },
}

impl Preferences {
    /// The pinned priority of one version of `name`: the first package pin that matches it, if any.
    /// `lists` are the lists offering that version.
    pub fn version_priority(&self, name: &str, version: &str, lists: &[ListFacts<'_>]) -> Option<i32> {
        self.package_pins
            .iter()
            .find(|pin| {
                pin.names.iter().any(|n| glob(n, name))
                    && match &pin.versions {
                        VersionSelector::Version(pattern) => glob(pattern, version),
                        VersionSelector::Lists(selector) => lists.iter().any(|l| selector.matches(l)),
                    }
            })
            .map(|pin| pin.priority)
    }

    /// Reads one preferences file's stanzas; an unusable stanza is reported and skipped.
    pub fn read(&mut self, text: &str, file: &str) -> Vec<PreferencesError> {
        let mut errors = Vec::new();
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut start = 0;
        for (index, line) in text.lines().chain(std::iter::once("")).enumerate() {
            if line.starts_with('#') {
                continue;
            }
            if line.trim().is_empty() {
                if !fields.is_empty() {
                    let origin = format!("{file}:{}", start + 1);
                    if let Err(err) = self.stanza(&fields, origin) {
                        errors.push(err);
                    }
                    fields.clear();
                }
                continue;
            }
            if fields.is_empty() {
                start = index;
            }
            if line.starts_with([' ', '\t']) {
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        errors
    }

    fn stanza(&mut self, fields: &[(String, String)], origin: String) -> Result<(), PreferencesError> {
        let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let malformed = |reason| PreferencesError::Malformed { origin: origin.clone(), reason };
        let (Some(packages), Some(pin), Some(priority)) = (get("package"), get("pin"), get("pin-priority")) else {
            return Err(malformed("Package, Pin and Pin-Priority are required"));
        };
        let priority: i32 = priority.parse().map_err(|_| malformed("Pin-Priority is not a number"))?;
        if priority == 0 {
            return Err(malformed("Pin-Priority 0 is not allowed"));
        }
        let (kind, value) = pin.split_once(char::is_whitespace).ok_or_else(|| malformed("Pin has no value"))?;
        let value = value.trim().trim_matches('"');
        let names: Vec<String> = packages.split_whitespace().map(str::to_string).collect();
        let unsupported = |what| PreferencesError::Unsupported { origin: origin.clone(), what };
        if names.iter().any(|n| n.starts_with('/')) {
            return Err(unsupported("regular-expression package"));
        }
        if names.iter().any(|n| n.starts_with("src:")) {
            return Err(unsupported("source-package"));
        }
        let selector = match kind {
            "release" => ListSelector::Release(ReleasePin::parse(value)),
            "origin" => ListSelector::Site(value.to_string()),
            "version" if names != ["*"] => {
                self.package_pins.push(PackagePin {
                    names,
                    versions: VersionSelector::Version(value.to_string()),
                    priority,
                });
                return Ok(());
            }
            "version" => return Err(unsupported("`Package: *` version")),
            _ => return Err(malformed("Pin is not release, version or origin")),
        };
        if names == ["*"] {
            self.list_pins.push(ListPin { selector, priority });
        } else {
            self.package_pins.push(PackagePin { names, versions: VersionSelector::Lists(selector), priority });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::patches::apt::release::Release;

    #[test]
    fn general_and_package_pins() {
        let text = "Explanation: prefer security\nPackage: *\nPin: release l=Debian-Security\nPin-Priority: 50\n\n\
                    # hold libc\nPackage: libc6 libc-bin\nPin: version 2.36-9+deb12u9\nPin-Priority: 1000\n\n\
                    Package: libpam*\nPin: origin \"deb.debian.org\"\nPin-Priority: -1\n\n\
                    Package: /^foo/\nPin: version *\nPin-Priority: 1\n\nPackage: x\nPin: version 1\n";
        let mut prefs = Preferences::default();
        let errors = prefs.read(text, "p");
        assert_eq!(
            errors,
            [
                PreferencesError::Unsupported { origin: "p:15".into(), what: "regular-expression package" },
                PreferencesError::Malformed {
                    origin: "p:19".into(),
                    reason: "Package, Pin and Pin-Priority are required"
                },
            ]
        );
        assert_eq!(prefs.list_pins.len(), 1);
        let debian = Release { origin: Some("Debian".into()), ..Release::default() };
        let list = ListFacts { release: Some(&debian), component: "main", arch: "amd64", site: "deb.debian.org" };
        assert_eq!(prefs.version_priority("libc-bin", "2.36-9+deb12u9", &[]), Some(1000));
        assert_eq!(prefs.version_priority("libc-bin", "2.36-9+deb12u10", &[list]), None);
        assert_eq!(prefs.version_priority("libpam0g", "1.5.2-6", &[list]), Some(-1));
        assert_eq!(prefs.version_priority("libpam0g", "1.5.2-6", &[]), None);
    }
}

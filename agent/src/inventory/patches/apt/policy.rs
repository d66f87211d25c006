//! apt's default pin priorities and candidate choice (apt-pkg `policy.cc`), without `/etc/apt/preferences` pins.

use std::cmp::Ordering;

use muster_shared::version::dpkg;

use super::release::Release;

/// The priority apt gives the dpkg status file, i.e. a version that is installed but offered by no list.
pub const INSTALLED_PRIORITY: i32 = 100;
/// The priority of a release matching `APT::Default-Release`.
pub const DEFAULT_RELEASE_PRIORITY: i32 = 990;

/// `APT::Default-Release`: a suite or codename (`stable`, `bookworm`), a version (`12`, `12*`), or apt's
/// `a=...,n=...` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRelease {
    conditions: Vec<(Key, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    ArchiveOrCodename,
    Archive,
    Codename,
    Version,
    Origin,
    Label,
}

impl DefaultRelease {
    pub fn parse(value: &str) -> DefaultRelease {
        let value = value.trim();
        if !value.contains('=') {
            let key =
                if value.starts_with(|c: char| c.is_ascii_digit()) { Key::Version } else { Key::ArchiveOrCodename };
            return DefaultRelease { conditions: vec![(key, value.to_string())] };
        }
        let conditions = value
            .split(',')
            .filter_map(|part| {
                let (k, v) = part.split_once('=')?;
                let key = match k.trim() {
                    "a" => Key::Archive,
                    "n" => Key::Codename,
                    "v" => Key::Version,
                    "o" => Key::Origin,
                    "l" => Key::Label,
                    _ => return None,
                };
                Some((key, v.trim().to_string()))
            })
            .collect();
        DefaultRelease { conditions }
    }

    pub fn matches(&self, release: &Release) -> bool {
        let eq = |field: &Option<String>, want: &str| field.as_deref().is_some_and(|f| glob(want, f));
        !self.conditions.is_empty()
            && self.conditions.iter().all(|(key, want)| match key {
                Key::ArchiveOrCodename => eq(&release.suite, want) || eq(&release.codename, want),
                Key::Archive => eq(&release.suite, want),
                Key::Codename => eq(&release.codename, want),
                Key::Origin => eq(&release.origin, want),
                Key::Label => eq(&release.label, want),
                Key::Version => match want.strip_suffix('*') {
                    Some(prefix) => release.version.as_deref().is_some_and(|v| v.starts_with(prefix)),
                    None => eq(&release.version, want),
                },
            })
    }
}

/// apt matches pin values as shell globs when they contain `*` or `?`.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// The default priority of every version in a list: 500, 1 for `NotAutomatic`, 100 with `ButAutomaticUpgrades`,
/// 990 when the release matches `APT::Default-Release`. A list without a Release file is a plain 500.
pub fn list_priority(release: Option<&Release>, default_release: Option<&DefaultRelease>) -> i32 {
    let Some(release) = release else { return 500 };
    if default_release.is_some_and(|d| d.matches(release)) {
        return DEFAULT_RELEASE_PRIORITY;
    }
    match (release.not_automatic, release.but_automatic_upgrades) {
        (true, true) => 100,
        (true, false) => 1,
        (false, _) => 500,
    }
}

/// A version of one package offered by one list, with that list's priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub version: String,
    pub priority: i32,
    /// Index of the list that offers it, for origin and security facts.
    pub list: usize,
}

/// apt's candidate: walk versions from newest to oldest, keep the first with the highest priority, and stop at the
/// installed version unless something outranks it with 1000 or more (a downgrade pin, which defaults never make).
/// Returns `None` when the installed version stays the candidate.
pub fn candidate<'a>(installed: &'a str, offers: &'a [Offer]) -> Option<&'a str> {
    let mut versions: Vec<(&str, i32)> = Vec::new();
    for offer in offers {
        match versions.iter_mut().find(|(v, _)| dpkg::compare(v, &offer.version) == Ordering::Equal) {
            Some((_, priority)) => *priority = (*priority).max(offer.priority),
            None => versions.push((&offer.version, offer.priority)),
        }
    }
    if !versions.iter().any(|(v, _)| dpkg::compare(v, installed) == Ordering::Equal) {
        versions.push((installed, INSTALLED_PRIORITY));
    }
    versions.sort_by(|a, b| dpkg::compare(b.0, a.0));
    let mut best: Option<(&str, i32)> = None;
    for (version, priority) in versions {
        if best.is_none_or(|(_, max)| priority > max) {
            best = Some((version, priority));
        }
        let is_installed = dpkg::compare(version, installed) == Ordering::Equal;
        if is_installed && best.is_some_and(|(_, max)| max < 1000) {
            break;
        }
    }
    let (chosen, _) = best?;
    (dpkg::compare(chosen, installed) != Ordering::Equal).then_some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(list: &[(&str, i32)]) -> Vec<Offer> {
        list.iter().enumerate().map(|(i, (v, p))| Offer { version: v.to_string(), priority: *p, list: i }).collect()
    }

    #[test]
    fn highest_version_among_equal_priorities() {
        let o = offers(&[("1.0-1", 500), ("1.0-1+deb12u1", 500), ("0.9", 500)]);
        assert_eq!(candidate("1.0-1", &o), Some("1.0-1+deb12u1"));
        assert_eq!(candidate("1.0-1+deb12u1", &o), None);
    }

    #[test]
    fn not_automatic_never_wins_over_the_installed_release() {
        let o = offers(&[("2.0", 1), ("1.0", 500)]);
        assert_eq!(candidate("1.0", &o), None);
        // Installed from nowhere (priority 100) still beats NotAutomatic (1).
        assert_eq!(candidate("1.5", &offers(&[("2.0", 1)])), None);
    }

    #[test]
    fn backports_upgrade_what_came_from_backports() {
        // ButAutomaticUpgrades (100) ties with the installed version's 100, and the newer version wins the tie.
        assert_eq!(candidate("1.5~bpo12+1", &offers(&[("1.6~bpo12+1", 100), ("1.0", 500)])), Some("1.6~bpo12+1"));
        // Installed from main: main's 500 outranks backports.
        assert_eq!(candidate("1.0", &offers(&[("1.6~bpo12+1", 100), ("1.0", 500)])), None);
    }

    #[test]
    fn no_downgrade_below_installed() {
        assert_eq!(candidate("3.0", &offers(&[("2.0", 990)])), None);
    }

    #[test]
    fn default_release_forms() {
        let release = Release {
            suite: Some("stable".into()),
            codename: Some("bookworm".into()),
            version: Some("12.8".into()),
            ..Release::default()
        };
        for (value, expected) in
            [("bookworm", true), ("stable", true), ("testing", false), ("12*", true), ("n=book*", true), ("a=x", false)]
        {
            assert_eq!(DefaultRelease::parse(value).matches(&release), expected, "{value}");
        }
        assert_eq!(list_priority(Some(&release), Some(&DefaultRelease::parse("bookworm"))), 990);
        let na = Release { not_automatic: true, ..release.clone() };
        assert_eq!(list_priority(Some(&na), None), 1);
        let bau = Release { but_automatic_upgrades: true, ..na };
        assert_eq!(list_priority(Some(&bau), None), 100);
        assert_eq!(list_priority(None, None), 500);
    }
}

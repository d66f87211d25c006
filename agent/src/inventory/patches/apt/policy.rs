//! apt's pin priorities and candidate choice (apt-pkg `policy.cc`): list priorities, version pins, candidates.

use std::cmp::Ordering;

use muster_shared::version::dpkg;

use super::release::Release;

/// The priority apt gives the dpkg status file, i.e. a version that is installed but offered by no list.
pub const INSTALLED_PRIORITY: i32 = 100;
/// The priority of a release matching `APT::Default-Release`.
pub const DEFAULT_RELEASE_PRIORITY: i32 = 990;

/// What a pin can recognise a downloaded list by.
#[derive(Debug, Clone, Copy)]
pub struct ListFacts<'a> {
    pub release: Option<&'a Release>,
    pub component: &'a str,
    pub arch: &'a str,
    /// The host of the source URI (`Pin: origin`); empty for local repositories.
    pub site: &'a str,
}

/// A release selector as in `Pin: release ...` and `APT::Default-Release`: a suite or codename (`stable`,
/// `bookworm`), a version (`12`, `12*`), or `a=,n=,v=,o=,l=,c=,b=` conditions that must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePin {
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
    Component,
    Arch,
}

impl ReleasePin {
    pub fn parse(value: &str) -> ReleasePin {
        let value = value.trim();
        if !value.contains('=') {
            let key =
                if value.starts_with(|c: char| c.is_ascii_digit()) { Key::Version } else { Key::ArchiveOrCodename };
            return ReleasePin { conditions: vec![(key, value.to_string())] };
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
                    "c" => Key::Component,
                    "b" => Key::Arch,
                    _ => return None,
                };
                Some((key, v.trim().to_string()))
            })
            .collect();
        ReleasePin { conditions }
    }

    pub fn matches(&self, list: &ListFacts<'_>) -> bool {
        let release = list.release;
        let field = |get: fn(&Release) -> &Option<String>| release.and_then(|r| get(r).as_deref());
        let eq = |value: Option<&str>, want: &str| value.is_some_and(|v| glob(want, v));
        !self.conditions.is_empty()
            && self.conditions.iter().all(|(key, want)| match key {
                Key::ArchiveOrCodename => eq(field(|r| &r.suite), want) || eq(field(|r| &r.codename), want),
                Key::Archive => eq(field(|r| &r.suite), want),
                Key::Codename => eq(field(|r| &r.codename), want),
                Key::Origin => eq(field(|r| &r.origin), want),
                Key::Label => eq(field(|r| &r.label), want),
                Key::Component => eq(Some(list.component), want),
                Key::Arch => eq(Some(list.arch), want),
                Key::Version => match want.strip_suffix('*') {
                    Some(prefix) => field(|r| &r.version).is_some_and(|v| v.starts_with(prefix)),
                    None => eq(field(|r| &r.version), want),
                },
            })
    }
}

/// Which lists a general pin (`Package: *`) or `APT::Default-Release` applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSelector {
    Release(ReleasePin),
    /// `Pin: origin host`.
    Site(String),
}

impl ListSelector {
    pub fn matches(&self, list: &ListFacts<'_>) -> bool {
        match self {
            ListSelector::Release(pin) => pin.matches(list),
            ListSelector::Site(site) => glob(site, list.site),
        }
    }
}

/// A priority for every version in the lists a selector matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPin {
    pub selector: ListSelector,
    pub priority: i32,
}

/// apt matches pin values as shell globs when they contain `*` or `?`.
pub fn glob(pattern: &str, text: &str) -> bool {
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

/// The priority of every version in a list: the first matching list pin (`APT::Default-Release` first, then the
/// preferences files in order), else 500, 1 for `NotAutomatic`, 100 with `ButAutomaticUpgrades`. A list without
/// a Release file is a plain 500.
pub fn list_priority(list: &ListFacts<'_>, pins: &[ListPin]) -> i32 {
    if let Some(pin) = pins.iter().find(|p| p.selector.matches(list)) {
        return pin.priority;
    }
    let Some(release) = list.release else { return 500 };
    match (release.not_automatic, release.but_automatic_upgrades) {
        (true, true) => 100,
        (true, false) => 1,
        (false, _) => 500,
    }
}

/// A version of one package offered by one list, with its effective priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub version: String,
    pub priority: i32,
    /// Index of the list that offers it, for origin and security facts.
    pub list: usize,
}

/// apt's candidate (`pkgPolicy::GetCandidateVer`): walk versions from newest to oldest and keep the first with the
/// highest positive priority. On reaching the installed version the bar rises to 1000, so an older version can only
/// win with more than 1000 (a downgrade pin; `status_override` says one exists, otherwise the walk stops there).
/// A version's priority is the highest of the lists offering it; the installed version also has
/// `installed_priority` from the dpkg status file. Returns `None` when the installed version stays.
pub fn candidate<'a>(
    installed: &'a str,
    installed_priority: i32,
    offers: &'a [Offer],
    status_override: bool,
) -> Option<&'a str> {
    let mut versions: Vec<(&str, i32)> = Vec::new();
    for offer in offers {
        match versions.iter_mut().find(|(v, _)| dpkg::compare(v, &offer.version) == Ordering::Equal) {
            Some((_, priority)) => *priority = (*priority).max(offer.priority),
            None => versions.push((&offer.version, offer.priority)),
        }
    }
    match versions.iter_mut().find(|(v, _)| dpkg::compare(v, installed) == Ordering::Equal) {
        Some((_, priority)) => *priority = (*priority).max(installed_priority),
        None => versions.push((installed, installed_priority)),
    }
    versions.sort_by(|a, b| dpkg::compare(b.0, a.0));
    let mut best: Option<&str> = None;
    let mut max = 0;
    for (version, priority) in versions {
        if priority > max {
            best = Some(version);
            max = priority;
        }
        if dpkg::compare(version, installed) == Ordering::Equal && max < 1000 {
            best = best.or(Some(version));
            max = 1000;
            if !status_override {
                break;
            }
        }
    }
    best.filter(|chosen| dpkg::compare(chosen, installed) != Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(list: &[(&str, i32)]) -> Vec<Offer> {
        list.iter().enumerate().map(|(i, (v, p))| Offer { version: v.to_string(), priority: *p, list: i }).collect()
    }

    fn candidate<'a>(installed: &'a str, offers: &'a [Offer]) -> Option<&'a str> {
        super::candidate(installed, INSTALLED_PRIORITY, offers, false)
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
    fn release_pin_forms() {
        let release = Release {
            suite: Some("stable".into()),
            codename: Some("bookworm".into()),
            version: Some("12.8".into()),
            ..Release::default()
        };
        let list = ListFacts { release: Some(&release), component: "main", arch: "amd64", site: "deb.debian.org" };
        for (value, expected) in [
            ("bookworm", true),
            ("stable", true),
            ("testing", false),
            ("12*", true),
            ("n=book*", true),
            ("a=x", false),
            ("n=bookworm, c=main, b=amd64", true),
            ("c=contrib", false),
        ] {
            assert_eq!(ReleasePin::parse(value).matches(&list), expected, "{value}");
        }
        let default_release = ListPin { selector: ListSelector::Release(ReleasePin::parse("bookworm")), priority: 990 };
        assert_eq!(list_priority(&list, std::slice::from_ref(&default_release)), 990);
        let by_site = ListPin { selector: ListSelector::Site("*.debian.org".into()), priority: 42 };
        assert_eq!(list_priority(&list, &[by_site, default_release]), 42);
        let na = Release { not_automatic: true, ..release.clone() };
        assert_eq!(list_priority(&ListFacts { release: Some(&na), ..list }, &[]), 1);
        let bau = Release { but_automatic_upgrades: true, ..na };
        assert_eq!(list_priority(&ListFacts { release: Some(&bau), ..list }, &[]), 100);
        assert_eq!(list_priority(&ListFacts { release: None, ..list }, &[]), 500);
    }

    #[test]
    fn pins_at_or_above_1000_hold_or_downgrade() {
        // The installed version pinned at 1000 outranks a newer 500: held.
        assert_eq!(super::candidate("1.0", 1000, &offers(&[("2.0", 500), ("1.0", 1000)]), false), None);
        // A negative pin removes a version from consideration.
        assert_eq!(candidate("1.0", &offers(&[("2.0", -1)])), None);
        // Only more than 1000 on an older version downgrades, and only when such a pin exists at all.
        assert_eq!(super::candidate("3.0", 100, &offers(&[("2.0", 1000)]), true), None);
        assert_eq!(super::candidate("3.0", 100, &offers(&[("2.0", 1001)]), true), Some("2.0"));
    }
}

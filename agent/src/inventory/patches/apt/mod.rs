//! Pending upgrades on apt systems, computed offline the way apt would from its configured sources and lists.
//!
//! Reads `/etc/apt/sources.list(.d)`, each source's Release file and `Packages` lists under `/var/lib/apt/lists`,
//! gives every list its pin priority (defaults, `APT::Default-Release`, preferences) and picks each installed
//! package's candidate.

pub mod conf;
mod files;
pub mod lists;
pub mod policy;
pub mod preferences;
pub mod release;
pub mod sources;

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use muster_shared::v1::{ErrorKind, Package, PendingUpdate, SectionName};
use muster_shared::version::dpkg;

use self::conf::AptConf;
pub use self::files::{read_conf, read_preferences, read_sources};
use self::lists::Compression;
use self::policy::{ListFacts, ListPin, ListSelector, Offer, ReleasePin};
use self::preferences::Preferences;
use self::release::Release;
use self::sources::Source;
use crate::root::{ErrorLog, SystemRoot};

pub const LISTS_DIR: &str = "/var/lib/apt/lists";
const SECTION: SectionName = SectionName::Patches;

/// Pending upgrades and how fresh the lists they were computed from are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingState {
    /// `None` when some configured list could not be read: a partial list would hide updates.
    pub pending: Option<Vec<PendingUpdate>>,
    pub lists_updated_at: Option<DateTime<Utc>>,
}

/// The architectures apt downloads lists for: `APT::Architectures`, or the native one plus dpkg's foreign ones.
pub fn system_architectures(root: &SystemRoot, conf: &AptConf, native: &str) -> Vec<String> {
    let configured: Vec<String> = conf.list("APT::Architectures").iter().map(|s| s.value.clone()).collect();
    if !configured.is_empty() {
        return configured;
    }
    let mut archs = vec![native.to_string()];
    if let Ok(text) = root.read_to_string("/var/lib/dpkg/arch") {
        for arch in text.split_whitespace() {
            if !archs.iter().any(|a| a == arch) {
                archs.push(arch.to_string());
            }
        }
    }
    archs
}

/// The native architecture: `APT::Architecture`, else the architecture dpkg itself is built for.
pub fn native_architecture(conf: &AptConf, installed: &[&Package]) -> Option<String> {
    if let Some(setting) = conf.get("APT::Architecture") {
        return Some(setting.value.clone());
    }
    installed.iter().find(|p| p.name == "dpkg").and_then(|p| p.arch.clone())
}

/// One downloaded `Packages` list and the release it belongs to.
#[derive(Debug, Clone)]
struct ListFile {
    path: PathBuf,
    display: String,
    compression: Compression,
    release: Option<usize>,
    component: String,
    arch: String,
    site: String,
}

impl ListFile {
    fn facts<'a>(&'a self, releases: &'a [Release]) -> ListFacts<'a> {
        ListFacts {
            release: self.release.map(|r| &releases[r]),
            component: &self.component,
            arch: &self.arch,
            site: &self.site,
        }
    }
}

/// Computes pending upgrades of `installed` (the dpkg packages) from the configured sources.
pub fn pending(root: &SystemRoot, installed: &[&Package], conf: &AptConf, errors: &mut ErrorLog) -> PendingState {
    let Some(sources) = read_sources(root, errors) else {
        return PendingState { pending: None, lists_updated_at: None };
    };
    let Some(native) = native_architecture(conf, installed) else {
        errors.record(SECTION, "apt.architecture", ErrorKind::NotAvailable, "the native architecture is unknown");
        return PendingState { pending: None, lists_updated_at: None };
    };
    let archs = system_architectures(root, conf, &native);
    let (releases, lists, lists_updated_at, mut complete) = locate_lists(root, &sources, &archs, errors);
    let Some(preferences) = read_preferences(root, errors) else {
        return PendingState { pending: None, lists_updated_at };
    };

    // APT::Default-Release is apt's first list pin; the preferences files' general pins follow in order.
    let mut list_pins: Vec<ListPin> = conf
        .get("APT::Default-Release")
        .map(|s| ListPin {
            selector: ListSelector::Release(ReleasePin::parse(&s.value)),
            priority: policy::DEFAULT_RELEASE_PRIORITY,
        })
        .into_iter()
        .collect();
    list_pins.extend(preferences.list_pins.iter().cloned());
    let facts: Vec<ListFacts<'_>> = lists.iter().map(|l| l.facts(&releases)).collect();
    let priorities: Vec<i32> = facts.iter().map(|f| policy::list_priority(f, &list_pins)).collect();
    // apt only looks below the installed version when some pin could force a downgrade.
    let status_override = list_pins
        .iter()
        .map(|p| p.priority)
        .chain(preferences.package_pins.iter().map(|p| p.priority))
        .any(|p| p > 1000);

    let mut by_name: HashMap<&[u8], Vec<usize>, BuildHasherDefault<Fnv>> =
        HashMap::with_capacity_and_hasher(installed.len(), BuildHasherDefault::default());
    for (index, package) in installed.iter().enumerate() {
        by_name.entry(package.name.as_bytes()).or_default().push(index);
    }
    let native_of = |arch: &str| -> String { if arch == "all" { native.clone() } else { arch.to_string() } };
    let installed_arch: Vec<String> = installed.iter().map(|p| native_of(p.arch.as_deref().unwrap_or("all"))).collect();
    let mut offers: Vec<Vec<Offer>> = vec![Vec::new(); installed.len()];
    for (list_index, list) in lists.iter().enumerate() {
        let result = lists::open(&list.path, list.compression).map_err(lists::ListError::from).and_then(|reader| {
            lists::scan(
                reader,
                |name| by_name.contains_key(name),
                |offered| {
                    let arch = if offered.arch == "all" { native.as_str() } else { offered.arch };
                    for &i in by_name.get(offered.name.as_bytes()).map_or(&[][..], Vec::as_slice) {
                        if installed_arch[i] == arch {
                            offers[i].push(Offer {
                                version: offered.version.to_string(),
                                priority: priorities[list_index],
                                list: list_index,
                            });
                        }
                    }
                },
            )
        });
        if let Err(err) = result {
            errors.record(SECTION, &list.display, ErrorKind::Parse, err.to_string());
            complete = false;
        }
    }
    if !complete {
        return PendingState { pending: None, lists_updated_at };
    }

    let mut pending = Vec::new();
    for (package, offers) in installed.iter().zip(offers.iter_mut()) {
        let installed_priority = apply_package_pins(&preferences, package, offers, &facts);
        let Some(chosen) = policy::candidate(&package.version, installed_priority, offers, status_override) else {
            continue;
        };
        if dpkg::compare(chosen, &package.version) != std::cmp::Ordering::Greater {
            continue;
        }
        let sources_of_chosen: Vec<&Offer> =
            offers.iter().filter(|o| dpkg::compare(&o.version, chosen) == std::cmp::Ordering::Equal).collect();
        let release_of = |o: &Offer| lists[o.list].release.map(|r| &releases[r]);
        let security_release = sources_of_chosen.iter().filter_map(|o| release_of(o)).find(|r| r.is_security());
        let best = sources_of_chosen.iter().max_by_key(|o| o.priority).and_then(|o| release_of(o));
        pending.push(PendingUpdate {
            name: package.name.clone(),
            arch: package.arch.clone(),
            installed_version: package.version.clone(),
            candidate_version: chosen.to_string(),
            security: security_release.is_some(),
            origin: security_release.or(best).and_then(Release::display_name),
        });
    }
    pending.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    PendingState { pending: Some(pending), lists_updated_at }
}

/// Gives the versions of `package` that a package pin matches its priority; returns the installed version's.
fn apply_package_pins(
    preferences: &Preferences,
    package: &Package,
    offers: &mut [Offer],
    facts: &[ListFacts<'_>],
) -> i32 {
    if preferences.package_pins.is_empty() {
        return policy::INSTALLED_PRIORITY;
    }
    let same = |a: &str, b: &str| dpkg::compare(a, b) == std::cmp::Ordering::Equal;
    let lists_offering = |offers: &[Offer], version: &str| -> Vec<ListFacts<'_>> {
        offers.iter().filter(|o| same(&o.version, version)).map(|o| facts[o.list]).collect()
    };
    let pinned: Vec<Option<i32>> = offers
        .iter()
        .map(|o| preferences.version_priority(&package.name, &o.version, &lists_offering(offers, &o.version)))
        .collect();
    let installed =
        preferences.version_priority(&package.name, &package.version, &lists_offering(offers, &package.version));
    for (offer, pin) in offers.iter_mut().zip(pinned) {
        if let Some(priority) = pin {
            offer.priority = priority;
        }
    }
    installed.unwrap_or(policy::INSTALLED_PRIORITY)
}

/// Finds each source's Release file and `Packages` lists under the lists directory.
/// Returns the parsed releases, the lists, the newest Release mtime and whether every list was found readable.
fn locate_lists(
    root: &SystemRoot,
    sources: &[Source],
    archs: &[String],
    errors: &mut ErrorLog,
) -> (Vec<Release>, Vec<ListFile>, Option<DateTime<Utc>>, bool) {
    let mut releases = Vec::new();
    let mut lists = Vec::new();
    let mut seen = BTreeSet::new();
    let mut newest: Option<DateTime<Utc>> = None;
    let mut complete = true;
    for source in sources {
        let mut release_index = None;
        for name in source.release_file_names() {
            let display = format!("{LISTS_DIR}/{name}");
            let path = root.path(&display);
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if let Some(modified) = crate::root::modified_at(std::fs::metadata(&path)) {
                newest = Some(newest.map_or(modified, |n| n.max(modified)));
            }
            match release::parse(&bytes) {
                Ok(parsed) => {
                    releases.push(parsed);
                    release_index = Some(releases.len() - 1);
                }
                Err(err) => {
                    errors.record(SECTION, display, ErrorKind::Parse, err.to_string());
                    complete = false;
                }
            }
            break;
        }
        for list in source.package_lists(archs) {
            let name = list.file_name;
            if !seen.insert(name.clone()) {
                continue;
            }
            match find_list(root, &name) {
                Some(Ok((path, display, compression))) => lists.push(ListFile {
                    path,
                    display,
                    compression,
                    release: release_index,
                    component: list.component,
                    arch: list.arch,
                    site: source.site().to_string(),
                }),
                Some(Err(display)) => {
                    errors.record(SECTION, display, ErrorKind::Unsupported, "this list compression is not supported");
                    complete = false;
                }
                None => errors.record(
                    SECTION,
                    format!("{LISTS_DIR}/{name}"),
                    ErrorKind::NotFound,
                    format!("configured in {} but not downloaded; apt sees no packages from it", source.origin),
                ),
            }
        }
    }
    (releases, lists, newest, complete)
}

/// The list file apt keeps for `name`, with whatever compression suffix it was stored with.
#[allow(clippy::type_complexity)]
fn find_list(root: &SystemRoot, name: &str) -> Option<Result<(PathBuf, String, Compression), String>> {
    for (suffix, compression) in Compression::SUFFIXES {
        let display = format!("{LISTS_DIR}/{name}{suffix}");
        let path = root.path(&display);
        if path.is_file() {
            return Some(match compression {
                Some(compression) => Ok((path, display, compression)),
                None => Err(display),
            });
        }
    }
    None
}

/// FNV-1a: every stanza of every list is looked up by name, and these short keys are not attacker-chosen in a way
/// that matters for a one-shot scan, so a simple fast hash beats SipHash here.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = self.0;
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = hash;
    }
}

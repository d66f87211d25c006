//! Evaluates each distinct (ecosystem, package, version) once, caches the result, and re-evaluates only the keys
//! whose advisories changed.
//!
//! Hosts share most of their packages, so a fleet of thousands of machines needs only a few thousand evaluations;
//! joining the cached results to each host's package list is the per-host cost.

use std::collections::HashMap;
use std::sync::Arc;

use super::advisory::{Advisory, PackageKey};
use super::db::{AdvisoryDb, ChangedKeys};
use super::range::{Verdict, evaluate};

/// One advisory affecting one (ecosystem, package, version).
#[derive(Debug, Clone)]
pub struct Hit {
    pub advisory: Arc<Advisory>,
    /// The first fixed version above the installed one; `None` when no fix is known yet.
    pub fixed: Option<Arc<str>>,
    /// The vendor's label on the affected entry that matched (see [`super::advisory::Affected::vendor_severity`]).
    pub vendor: Option<Arc<str>>,
}

/// How the hits of one cached (ecosystem, package, version) changed in a [`Matcher::refresh`]. An updated advisory
/// appears in both lists (old and new record).
#[derive(Debug, Clone)]
pub struct KeyChange {
    pub key: PackageKey,
    pub version: Box<str>,
    pub added: Vec<Hit>,
    pub removed: Vec<Hit>,
}

/// Counters for benchmarks and the collector's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchStats {
    /// Distinct keys evaluated against their advisories.
    pub evaluations: u64,
    pub cache_hits: u64,
    /// Affected entries that could not be decided because a version is outside its ecosystem's grammar.
    pub undecidable: u64,
}

/// installed version → the advisories affecting it, for one package; `None` when no advisory names the package.
type VersionHits = Option<HashMap<Box<str>, Arc<[Hit]>>>;

#[derive(Debug)]
pub struct Matcher {
    /// ecosystem → package → version → hits.
    cache: HashMap<Arc<str>, HashMap<Arc<str>, VersionHits>>,
    empty: Arc<[Hit]>,
    stats: MatchStats,
}

impl Default for Matcher {
    fn default() -> Self {
        Self { cache: HashMap::new(), empty: Arc::from(Vec::new()), stats: MatchStats::default() }
    }
}

impl Matcher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> MatchStats {
        self.stats
    }

    /// Distinct (ecosystem, package, version) keys cached.
    pub fn cached_keys(&self) -> usize {
        self.cache.values().flat_map(|p| p.values()).flatten().map(HashMap::len).sum()
    }

    /// The advisories affecting `version` of `package` in `ecosystem`, evaluated once per distinct key.
    pub fn hits(&mut self, db: &AdvisoryDb, ecosystem: &str, package: &str, version: &str) -> Arc<[Hit]> {
        if let Some(entry) = self.cache.get(ecosystem).and_then(|p| p.get(package)) {
            match entry {
                None => return self.empty.clone(),
                Some(versions) => {
                    if let Some(hits) = versions.get(version) {
                        self.stats.cache_hits += 1;
                        return hits.clone();
                    }
                }
            }
        }
        let packages = match self.cache.get_mut(ecosystem) {
            Some(p) => p,
            None => self.cache.entry(Arc::from(ecosystem)).or_default(),
        };
        if db.advisory_ids(ecosystem, package).is_empty() {
            packages.insert(Arc::from(package), None);
            return self.empty.clone();
        }
        let (hits, undecidable) = evaluate_key(db, ecosystem, package, version, &self.empty);
        self.stats.evaluations += 1;
        self.stats.undecidable += undecidable;
        let versions = match packages.get_mut(package) {
            Some(v) => v,
            None => packages.entry(Arc::from(package)).or_default(),
        };
        versions.get_or_insert_default().insert(version.into(), hits.clone());
        hits
    }

    /// Re-evaluates the cached versions of the changed keys after an import (or a new KEV catalog) and returns
    /// what changed for each, so callers update only the hosts holding those versions.
    pub fn refresh(&mut self, db: &AdvisoryDb, changed: &ChangedKeys) -> Vec<KeyChange> {
        let mut out = Vec::new();
        for key in changed {
            let Some(slot) = self.cache.get_mut(&key.ecosystem).and_then(|p| p.get_mut(&key.name)) else { continue };
            let Some(versions) = slot else {
                // Previously without advisories: look again on next use.
                if let Some(p) = self.cache.get_mut(&key.ecosystem) {
                    p.remove(&key.name);
                }
                continue;
            };
            for (version, hits) in versions.iter_mut() {
                let (fresh, undecidable) = evaluate_key(db, &key.ecosystem, &key.name, version, &self.empty);
                self.stats.evaluations += 1;
                self.stats.undecidable += undecidable;
                let same = |a: &Hit, b: &Hit| {
                    Arc::ptr_eq(&a.advisory, &b.advisory) && a.fixed == b.fixed && a.vendor == b.vendor
                };
                let added: Vec<Hit> = fresh.iter().filter(|h| !hits.iter().any(|o| same(h, o))).cloned().collect();
                let removed: Vec<Hit> = hits.iter().filter(|o| !fresh.iter().any(|h| same(h, o))).cloned().collect();
                *hits = fresh;
                out.push(KeyChange { key: key.clone(), version: version.clone(), added, removed });
            }
        }
        out
    }

    /// Forgets every cached result.
    pub fn clear(&mut self) {
        self.cache.clear();
    }
}

fn evaluate_key(
    db: &AdvisoryDb,
    ecosystem: &str,
    package: &str,
    version: &str,
    empty: &Arc<[Hit]>,
) -> (Arc<[Hit]>, u64) {
    let mut hits = Vec::new();
    let mut undecidable = 0;
    for id in db.advisory_ids(ecosystem, package) {
        let Some(advisory) = db.get(id) else { continue };
        let entries = advisory
            .affected
            .iter()
            .filter(|a| a.key.ecosystem.as_ref() == ecosystem && a.key.name.as_ref() == package);
        for entry in entries {
            match evaluate(entry, version) {
                Verdict::Affected { fixed } => {
                    hits.push(Hit { advisory: advisory.clone(), fixed, vendor: entry.vendor_severity.clone() });
                    break;
                }
                Verdict::Unknown => undecidable += 1,
                Verdict::NotAffected => {}
            }
        }
    }
    if hits.is_empty() { (empty.clone(), undecidable) } else { (Arc::from(hits), undecidable) }
}

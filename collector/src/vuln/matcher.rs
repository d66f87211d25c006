//! Evaluates each distinct (ecosystem, package, version) once, caches the result, and re-evaluates only the keys
//! whose advisories changed.
//!
//! Hosts share most of their packages, so a fleet of thousands of machines needs only a few thousand evaluations;
//! joining the cached results to each host's package list is the per-host cost.

use std::collections::HashMap;
use std::sync::Arc;

use super::db::{AdvisoryDb, ChangedKeys};
use super::range::{Verdict, evaluate};

/// One advisory affecting one (ecosystem, package, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub advisory: Arc<str>,
    /// The first fixed version above the installed one; `None` when no fix is known yet.
    pub fixed: Option<Arc<str>>,
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

/// installed version → the advisories affecting it, for one package.
type VersionHits = HashMap<Box<str>, Arc<[Hit]>>;

#[derive(Debug)]
pub struct Matcher {
    /// ecosystem → package → version → hits, only for packages some advisory names.
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
        self.cache.values().flat_map(|p| p.values()).map(HashMap::len).sum()
    }

    /// The advisories affecting `version` of `package` in `ecosystem`, evaluated once per distinct key.
    pub fn hits(&mut self, db: &AdvisoryDb, ecosystem: &str, package: &str, version: &str) -> Arc<[Hit]> {
        if db.advisory_ids(ecosystem, package).is_empty() {
            return self.empty.clone();
        }
        if let Some(hits) = self.cache.get(ecosystem).and_then(|p| p.get(package)).and_then(|v| v.get(version)) {
            self.stats.cache_hits += 1;
            return hits.clone();
        }
        let hits = self.evaluate(db, ecosystem, package, version);
        let packages = match self.cache.get_mut(ecosystem) {
            Some(p) => p,
            None => self.cache.entry(Arc::from(ecosystem)).or_default(),
        };
        let versions = match packages.get_mut(package) {
            Some(v) => v,
            None => packages.entry(Arc::from(package)).or_default(),
        };
        versions.insert(version.into(), hits.clone());
        hits
    }

    /// Re-evaluates the cached versions of the changed keys after an import; returns how many were re-evaluated.
    pub fn refresh(&mut self, db: &AdvisoryDb, changed: &ChangedKeys) -> usize {
        let mut work = Vec::new();
        for key in changed {
            if let Some(versions) = self.cache.get(&key.ecosystem).and_then(|p| p.get(&key.name)) {
                work.extend(versions.keys().map(|v| (key.clone(), v.clone())));
            }
        }
        for (key, version) in &work {
            let hits = self.evaluate(db, &key.ecosystem, &key.name, version);
            if let Some(slot) =
                self.cache.get_mut(&key.ecosystem).and_then(|p| p.get_mut(&key.name)).and_then(|v| v.get_mut(version))
            {
                *slot = hits;
            }
        }
        work.len()
    }

    fn evaluate(&mut self, db: &AdvisoryDb, ecosystem: &str, package: &str, version: &str) -> Arc<[Hit]> {
        self.stats.evaluations += 1;
        let mut hits = Vec::new();
        for id in db.advisory_ids(ecosystem, package) {
            let Some(advisory) = db.get(id) else { continue };
            let entries = advisory
                .affected
                .iter()
                .filter(|a| a.key.ecosystem.as_ref() == ecosystem && a.key.name.as_ref() == package);
            for entry in entries {
                match evaluate(entry, version) {
                    Verdict::Affected { fixed } => {
                        hits.push(Hit { advisory: advisory.id.clone(), fixed });
                        break;
                    }
                    Verdict::Unknown => self.stats.undecidable += 1,
                    Verdict::NotAffected => {}
                }
            }
        }
        if hits.is_empty() { self.empty.clone() } else { Arc::from(hits) }
    }
}

//! The in-memory advisory set: one record per id (newest `modified` wins), indexed by (ecosystem, package).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::advisory::{Advisory, Interner, PackageKey, SkipCounts};
use super::kev::KevCatalog;
use super::osv::RawRecord;

/// (ecosystem, package) keys whose advisories changed, so matching re-evaluates only those.
pub type ChangedKeys = HashSet<PackageKey>;

/// package name → ids of the advisories naming it, within one ecosystem.
type PackageIndex = HashMap<Arc<str>, Vec<Arc<str>>>;

#[derive(Debug, Default)]
pub struct AdvisoryDb {
    interner: Interner,
    advisories: HashMap<Arc<str>, Arc<Advisory>>,
    /// ecosystem → package → ids of live (not withdrawn) advisories naming it.
    index: HashMap<Arc<str>, PackageIndex>,
    ecosystems: BTreeSet<Arc<str>>,
    kev: KevCatalog,
    /// End-of-life product data read in the same import (endoflife.date's shape), stored beside the advisories.
    eol: Option<EolImport>,
}

/// End-of-life data an import read: the input it came from and its text as read (validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EolImport {
    pub input: String,
    pub text: String,
    pub products: usize,
}

/// What storing one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Inserted,
    /// A newer `modified` replaced the stored record.
    Updated,
    /// Same `modified` as the stored record: a re-import, nothing changes.
    Unchanged,
    /// Older than the stored record; ignored.
    Stale,
}

/// What an import read and did; the CLI prints it and the API returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub files: u64,
    pub bytes: u64,
    pub records_read: u64,
    pub imported: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Records that are (now) withdrawn; they are kept so an older copy cannot come back, but never match.
    pub withdrawn: u64,
    /// Whole records not imported, by reason.
    pub skipped_records: BTreeMap<String, u64>,
    /// Parts of imported records that cannot be matched (GIT ranges, entries without package…), by reason.
    pub skipped_affected: BTreeMap<String, u64>,
    /// Files found in directories or archives that are not advisory files.
    pub skipped_files: u64,
    pub kev_entries: u64,
    /// Products in end-of-life data read (endoflife.date's shape); it replaces the built-in data when stored.
    pub eol_products: u64,
    /// The first few record-level errors (file, line and message), to find bad input.
    pub record_errors: Vec<String>,
    /// Inputs that could not be read to the end; their records before the failure were imported.
    pub errors: Vec<String>,
}

pub(crate) const MAX_RECORD_ERRORS: usize = 20;

impl ImportSummary {
    pub fn skip_record(&mut self, reason: &str, detail: impl FnOnce() -> String) {
        *self.skipped_records.entry(reason.to_owned()).or_default() += 1;
        if self.record_errors.len() < MAX_RECORD_ERRORS {
            self.record_errors.push(detail());
        }
    }

    /// True when every input was read to the end.
    pub fn complete(&self) -> bool {
        self.errors.is_empty()
    }
}

impl AdvisoryDb {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Advisory>> {
        self.advisories.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Advisory>> {
        self.advisories.values()
    }

    /// Every ecosystem some live advisory names.
    pub fn ecosystems(&self) -> &BTreeSet<Arc<str>> {
        &self.ecosystems
    }

    pub fn kev(&self) -> &KevCatalog {
        &self.kev
    }

    /// Ids of the live advisories naming `package` in `ecosystem`.
    pub fn advisory_ids(&self, ecosystem: &str, package: &str) -> &[Arc<str>] {
        self.index.get(ecosystem).and_then(|p| p.get(package)).map(Vec::as_slice).unwrap_or_default()
    }

    /// Normalises and stores one raw record, counting dropped parts in `summary` and noting changed keys.
    pub fn ingest(&mut self, raw: RawRecord<'_>, summary: &mut ImportSummary, changed: &mut ChangedKeys) -> Upsert {
        let mut skipped = SkipCounts::new();
        let mut advisory = Advisory::from_raw(raw, &mut self.interner, &mut skipped);
        advisory.kev_added = self.kev.added_any(advisory.names());
        let withdrawn = advisory.withdrawn.is_some();
        let outcome = self.upsert(advisory, changed);
        if outcome == Upsert::Inserted || outcome == Upsert::Updated {
            summary.withdrawn += u64::from(withdrawn);
            for (reason, n) in skipped {
                *summary.skipped_affected.entry(reason.to_owned()).or_default() += n;
            }
        }
        match outcome {
            Upsert::Inserted => summary.imported += 1,
            Upsert::Updated => summary.updated += 1,
            Upsert::Unchanged => summary.unchanged += 1,
            Upsert::Stale => {
                *summary.skipped_records.entry("older than the stored record".to_owned()).or_default() += 1;
            }
        }
        outcome
    }

    /// Stores a record unless a record with the same id and a newer or equal `modified` is already stored.
    pub fn upsert(&mut self, advisory: Advisory, changed: &mut ChangedKeys) -> Upsert {
        let outcome = match self.advisories.get(&advisory.id) {
            None => Upsert::Inserted,
            Some(old) => match advisory.modified.cmp(&old.modified) {
                std::cmp::Ordering::Greater => Upsert::Updated,
                std::cmp::Ordering::Equal => return Upsert::Unchanged,
                std::cmp::Ordering::Less => return Upsert::Stale,
            },
        };
        if let Some(old) = self.advisories.remove(&advisory.id) {
            self.unindex(&old, changed);
        }
        if advisory.withdrawn.is_none() {
            self.index(&advisory, changed);
        }
        self.advisories.insert(advisory.id.clone(), Arc::new(advisory));
        outcome
    }

    /// Keeps end-of-life data read by the import (a later file of the same import replaces an earlier one).
    pub fn set_eol(&mut self, eol: EolImport) {
        self.eol = Some(eol);
    }

    pub fn eol(&self) -> Option<&EolImport> {
        self.eol.as_ref()
    }

    /// Replaces the KEV catalog and re-flags the stored advisories; returns the keys of those whose flag changed,
    /// since cached matches carry the flag for ranking.
    pub fn set_kev(&mut self, kev: KevCatalog) -> ChangedKeys {
        let mut changed = ChangedKeys::new();
        for advisory in self.advisories.values_mut() {
            let added = kev.added_any(advisory.names());
            if added != advisory.kev_added {
                Arc::make_mut(advisory).kev_added = added;
                changed.extend(advisory.affected.iter().map(|a| a.key.clone()));
            }
        }
        self.kev = kev;
        changed
    }

    fn index(&mut self, advisory: &Advisory, changed: &mut ChangedKeys) {
        for a in advisory.affected.iter() {
            let ids = self.index.entry(a.key.ecosystem.clone()).or_default().entry(a.key.name.clone()).or_default();
            if !ids.contains(&advisory.id) {
                ids.push(advisory.id.clone());
            }
            self.ecosystems.insert(a.key.ecosystem.clone());
            changed.insert(a.key.clone());
        }
    }

    fn unindex(&mut self, advisory: &Advisory, changed: &mut ChangedKeys) {
        for a in advisory.affected.iter() {
            if let Some(ids) = self.index.get_mut(&a.key.ecosystem).and_then(|p| p.get_mut(&a.key.name)) {
                ids.retain(|id| *id != advisory.id);
            }
            changed.insert(a.key.clone());
        }
    }
}

//! The advisory use cases over the store: storing an import, matching one host, and re-matching only what an
//! import changed. Evaluation and joining are the pure `vuln` code; the store only reads and writes rows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::findings::evaluate::HostOutcome;
use crate::model::to_ms;
use crate::store::{Store, StoreError};
use crate::vuln::keyed::{self, KeyHit, MatchKey};
use crate::vuln::{AdvisoryDb, ChangedKeys, FindingPolicy, HostProfile, ImportSummary};

use crate::store::advisories::{HostMatchState, WriteOutcome};

/// Skip reason for records that an import read more than once.
pub const SKIP_DUPLICATE: &str = "duplicate id in the input (older or same copy)";
/// Skip reason for records older than the copy already stored.
pub const SKIP_OLDER: &str = "older than the stored record";

/// What re-matching after an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RematchStats {
    /// Cached (ecosystem, package, version) results evaluated again.
    pub keys_reevaluated: u64,
    /// Of those, results that changed.
    pub keys_changed: u64,
    pub hosts_rematched: u64,
}

/// The import summary the CLI prints and `POST /api/v1/advisories` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportReport {
    /// Counts relative to the database: `imported` new ids, `updated` newer `modified`, `unchanged` same copy.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub summary: ImportSummary,
    pub rematch: RematchStats,
}

/// Stores what an import read into `db`: new ids and newer `modified` only, so re-importing is a no-op; then
/// re-matches the hosts whose packages the changed advisories name.
pub async fn store_import(
    store: &dyn Store,
    db: &AdvisoryDb,
    mut summary: ImportSummary,
    now: DateTime<Utc>,
    policy: &FindingPolicy,
) -> Result<ImportReport, StoreError> {
    let stored = store.advisory_modified().await?;
    // The in-memory import counted records against each other; recount the distinct ones against the database.
    let duplicates =
        summary.updated + summary.unchanged + summary.skipped_records.remove(SKIP_OLDER).unwrap_or_default();
    if duplicates > 0 {
        *summary.skipped_records.entry(SKIP_DUPLICATE.to_owned()).or_default() += duplicates;
    }
    summary.imported = 0;
    summary.updated = 0;
    summary.unchanged = 0;
    summary.withdrawn = 0;
    let mut write: Vec<Arc<_>> = Vec::new();
    let mut ids: Vec<&Arc<crate::vuln::Advisory>> = db.iter().collect();
    ids.sort_by(|a, b| a.id.cmp(&b.id));
    for a in ids {
        let new = a.modified.map(to_ms);
        let written = match stored.get(a.id.as_ref()) {
            None => {
                summary.imported += 1;
                true
            }
            Some(old) => match new.cmp(old) {
                std::cmp::Ordering::Greater => {
                    summary.updated += 1;
                    true
                }
                std::cmp::Ordering::Equal => {
                    summary.unchanged += 1;
                    false
                }
                std::cmp::Ordering::Less => {
                    *summary.skipped_records.entry(SKIP_OLDER.to_owned()).or_default() += 1;
                    false
                }
            },
        };
        if written {
            summary.withdrawn += u64::from(a.withdrawn.is_some());
            write.push(a.clone());
        }
    }
    let mut kev = (summary.kev_entries > 0).then(|| db.kev());
    if let Some(catalog) = kev {
        let mut entries: Vec<(String, String)> =
            catalog.entries().map(|(cve, date)| (cve.to_owned(), date.format("%Y-%m-%d").to_string())).collect();
        entries.sort();
        if entries == store.kev_entries().await? {
            kev = None;
        }
    }
    // End-of-life data is stored apart from the advisories, so an import interrupted between the two is completed
    // by running it again even when no advisory changed.
    if let Some(eol) = db.eol() {
        let stored = store.load_eol().await?;
        if stored.is_none_or(|(old, _)| old.text != eol.text || old.input != eol.input) {
            store.save_eol(eol, now).await?;
        }
    }
    let outcome =
        if write.is_empty() && kev.is_none() { None } else { Some(store.write_advisories(&write, kev, now).await?) };
    let rematch = finish_rematch(store, outcome.as_ref(), now, policy).await?;
    Ok(ImportReport { summary, rematch })
}

/// Re-matches the hosts that advisories written since the last finished re-match may concern, then records that
/// re-matching got that far. `written` is what this process just wrote: when it is the only import not yet
/// re-matched, only the hosts holding a key whose result changed are matched again. Otherwise an earlier re-match
/// was interrupted (a kill, a lost database) at an unknown point, perhaps after it had cached new results, so every
/// host holding a key changed since is matched again. Cheap when nothing is pending (one read): every import and
/// every scheduled evaluation runs it, so interrupted work is finished by the next of either, on any replica.
pub async fn finish_rematch(
    store: &dyn Store,
    written: Option<&WriteOutcome>,
    now: DateTime<Utc>,
    policy: &FindingPolicy,
) -> Result<RematchStats, StoreError> {
    let state = store.rematch_state().await?;
    if state.rematched >= state.version {
        return Ok(RematchStats::default());
    }
    let stats = match written {
        Some(outcome) if outcome.version == state.version && state.rematched == state.version - 1 => {
            rematch_changed(store, outcome, now, policy, Holders::WhoseResultChanged).await?
        }
        _ => {
            let changed = store.package_changes_since(state.rematched).await?;
            // Which ecosystems were new is not kept; a Red Hat stream among the changes is treated as new.
            let mut new_ecosystems: Vec<String> =
                changed.iter().map(|(eco, _)| eco).filter(|e| e.starts_with("Red Hat:")).cloned().collect();
            new_ecosystems.dedup();
            let outcome = WriteOutcome { version: state.version, changed, new_ecosystems };
            rematch_changed(store, &outcome, now, policy, Holders::All).await?
        }
    };
    store.mark_rematched(state.version).await?;
    Ok(stats)
}

/// Which holders of a changed key [`rematch_changed`] matches again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holders {
    /// Those whose cached result changed or was never computed: right only when the cache was not touched since
    /// the advisories were written.
    WhoseResultChanged,
    All,
}

/// Re-evaluates the cached results of the changed (ecosystem, package) keys and re-matches the hosts holding them
/// (`holders` says which).
async fn rematch_changed(
    store: &dyn Store,
    outcome: &WriteOutcome,
    now: DateTime<Utc>,
    policy: &FindingPolicy,
    holders_to_match: Holders,
) -> Result<RematchStats, StoreError> {
    let mut stats = RematchStats::default();
    let mut by_eco: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (eco, name) in &outcome.changed {
        by_eco.entry(eco.as_str()).or_default().push(name.clone());
    }
    let mut hosts: BTreeSet<String> = BTreeSet::new();
    for (eco, names) in by_eco {
        let holders = store.hosts_with_keys(eco, &names).await?;
        if holders.is_empty() {
            continue;
        }
        let held: BTreeSet<&str> = holders.iter().map(|(_, n, _)| n.as_str()).collect();
        let held: Vec<String> = held.into_iter().map(str::to_owned).collect();
        let cached = store.cached_keys(eco, &held).await?;
        let cached_names: BTreeSet<&str> = cached.iter().map(|c| c.name.as_str()).collect();
        let cached_names: Vec<String> = cached_names.into_iter().map(str::to_owned).collect();
        let mut changed: HashSet<(String, String)> = HashSet::new();
        let mut known: HashSet<(&str, &str)> = HashSet::new();
        if !cached.is_empty() {
            let db = advisory_db(store.load_advisories(eco, &cached_names).await?);
            let keys: Vec<MatchKey> = cached
                .iter()
                .map(|c| MatchKey { ecosystem: eco.to_owned(), name: c.name.clone(), version: c.version.clone() })
                .collect();
            let results = keyed::evaluate_keys(&db, &keys);
            for ((key, hits), old) in results.iter().zip(&cached) {
                stats.keys_reevaluated += 1;
                // A result already fresh was computed after the write (a report matched meanwhile), so what the
                // hosts holding it were matched with is unknown: they are matched again.
                if *hits != old.hits || old.fresh {
                    stats.keys_changed += 1;
                    changed.insert((key.name.clone(), key.version.clone()));
                }
            }
            store.save_keys(&results, outcome.version).await?;
            known.extend(cached.iter().map(|c| (c.name.as_str(), c.version.as_str())));
        }
        for (host, name, version) in &holders {
            if holders_to_match == Holders::All
                || changed.contains(&(name.clone(), version.clone()))
                || !known.contains(&(name.as_str(), version.as_str()))
            {
                hosts.insert(host.clone());
            }
        }
    }
    // A new Red Hat product stream can apply to hosts that never looked it up.
    if outcome.new_ecosystems.iter().any(|e| e.starts_with("Red Hat:")) {
        hosts.extend(store.all_host_ids().await?);
    }
    for host in &hosts {
        match_host(store, host, now, policy).await?;
        stats.hosts_rematched += 1;
    }
    Ok(stats)
}

/// What matching one host did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostMatchOutcome {
    pub keys: usize,
    /// Keys evaluated now (not found fresh in the cache).
    pub evaluated: usize,
    pub findings: usize,
}

/// Matches a stored host: keys cached fresh are reused, the others evaluated and cached, then the results are
/// joined to the host's packages and stored. `None` when the host does not exist.
pub async fn match_host(
    store: &dyn Store,
    host_id: &str,
    now: DateTime<Utc>,
    policy: &FindingPolicy,
) -> Result<Option<HostMatchOutcome>, StoreError> {
    let Some(saved) = match_and_save(store, host_id, now, policy).await? else { return Ok(None) };
    if let Some(findings) = &saved.findings {
        super::findings::apply(store, findings, now, None, crate::findings::evaluate::VULNERABILITY_MATCHER).await?;
    }
    Ok(Some(saved.outcome))
}

/// A host's match as [`match_and_save`] leaves it: saved, its findings not yet written.
pub struct SavedMatch {
    pub outcome: HostMatchOutcome,
    /// The vulnerability findings the saved matches call for (they share the findings lifecycle: open, resolve and
    /// reopen them like rule findings); `None` when the host went meanwhile.
    pub findings: Option<HostOutcome>,
}

/// [`match_host`] up to its findings, which the queue writes in the transaction of the host's other work
/// (`app::queue`). `None` when the host does not exist.
pub async fn match_and_save(
    store: &dyn Store,
    host_id: &str,
    now: DateTime<Utc>,
    policy: &FindingPolicy,
) -> Result<Option<SavedMatch>, StoreError> {
    // An import that commits while the host is matched may re-match it (or read its keys) before this match saves
    // what it computed from the older advisories; matching again once the version moved leaves the newer result.
    let mut saved = None;
    for _ in 0..MATCH_ATTEMPTS {
        let version = store.advisories_version().await?;
        saved = match_host_once(store, host_id, now, policy).await?;
        if saved.is_none() || store.advisories_version().await? == version {
            break;
        }
    }
    Ok(saved)
}

/// Matches of one host tried while imports keep changing the advisories under it (three imports committing during
/// one host's match is not worth more).
const MATCH_ATTEMPTS: usize = 3;

async fn match_host_once(
    store: &dyn Store,
    host_id: &str,
    now: DateTime<Utc>,
    policy: &FindingPolicy,
) -> Result<Option<SavedMatch>, StoreError> {
    let Some(mut inventory) = store.host_inventory(host_id).await? else { return Ok(None) };
    let listeners = std::mem::take(&mut inventory.listeners);
    let images = std::mem::take(&mut inventory.images);
    let image_users: BTreeMap<String, Vec<String>> =
        images.iter().map(|i| (i.id.clone(), i.containers.clone())).collect();
    let os = inventory.os.clone().unwrap_or_default();
    let profile =
        HostProfile::new(Some(inventory.hostname), &os, inventory.packages).with_pending(inventory.pending.as_deref());
    let mut state = HostMatchState { matched_at: now, ..HostMatchState::default() };
    let available = store.advisory_ecosystems().await?;
    let host = Subject::of(None, profile, &available, &mut state.warnings);
    state.packages_checked = host.profile.checked_packages().count() as u64;
    state.ecosystems = host.ecosystems.iter().filter(|e| available.contains(e.as_str())).cloned().collect();
    // Each container image is matched like a machine of its own OS (issue 19): no kernel runs in it, and its
    // pending updates are unknown, so a fix is `fix_unverified` until the image is rebuilt.
    let mut subjects = vec![host];
    for image in images {
        let name = image.name;
        if !image.complete {
            state.warnings.push(format!("image {name}: its package list is incomplete (see the host's report errors)"));
        }
        let os = image.os.unwrap_or_default();
        let profile = HostProfile::new(Some(name), &os, image.packages);
        subjects.push(Subject::of(Some(image.id), profile, &available, &mut state.warnings));
    }
    let ecosystems: BTreeSet<&str> = subjects.iter().flat_map(|s| s.ecosystems.iter().map(String::as_str)).collect();
    let missing_ecos: Vec<&str> = ecosystems.iter().copied().filter(|e| !available.contains(*e)).collect();
    if !missing_ecos.is_empty() {
        state.warnings.push(format!("no advisories imported for {}", missing_ecos.join(", ")));
    }
    let keys: BTreeSet<MatchKey> = subjects.iter().flat_map(|s| keyed::host_keys(&s.profile, &s.ecosystems)).collect();

    let mut by_eco: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for k in keys.iter().filter(|k| available.contains(&k.ecosystem)) {
        by_eco.entry(k.ecosystem.as_str()).or_default().insert(k.name.as_str());
    }
    let mut hits: HashMap<MatchKey, Vec<KeyHit>> = HashMap::new();
    let mut evaluated = 0;
    for (eco, names) in by_eco {
        let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
        for c in store.cached_keys(eco, &names).await? {
            if c.fresh {
                hits.insert(MatchKey { ecosystem: eco.to_owned(), name: c.name, version: c.version }, c.hits);
            }
        }
        let missing: Vec<&MatchKey> = keys.iter().filter(|k| k.ecosystem == eco && !hits.contains_key(*k)).collect();
        if missing.is_empty() {
            continue;
        }
        // Read before loading: a result computed from advisories an import is replacing is then stale.
        let version = store.advisories_version().await?;
        let missing_names: BTreeSet<&str> = missing.iter().map(|k| k.name.as_str()).collect();
        let missing_names: Vec<String> = missing_names.into_iter().map(str::to_owned).collect();
        let db = advisory_db(store.load_advisories(eco, &missing_names).await?);
        let results = keyed::evaluate_keys(&db, missing.iter().copied());
        evaluated += results.len();
        store.save_keys(&results, version).await?;
        hits.extend(results);
    }
    let mut matches = Vec::new();
    for subject in &subjects {
        let mut found = keyed::join(&subject.profile, &subject.ecosystems, &hits);
        for m in &mut found {
            m.image_id.clone_from(&subject.image_id);
        }
        matches.extend(found);
    }
    store.save_host_matches(host_id, &keys, &matches, &state).await?;
    let findings = store.host_vulnerabilities(host_id).await?.map(|current| {
        crate::findings::vulnerability::vulnerability_outcome(host_id, &current, &listeners, &image_users, policy)
    });
    let outcome = HostMatchOutcome { keys: keys.len(), evaluated, findings: matches.len() };
    Ok(Some(SavedMatch { outcome, findings }))
}

/// What one match covers: the host's own packages, or one of its container images'.
struct Subject {
    image_id: Option<String>,
    profile: HostProfile,
    /// The advisory ecosystems its packages are looked up in.
    ecosystems: Vec<String>,
}

impl Subject {
    fn of(
        image_id: Option<String>,
        profile: HostProfile,
        available: &BTreeSet<String>,
        warnings: &mut Vec<String>,
    ) -> Self {
        // A host (or image) whose OS maps to no advisory ecosystem still has its language packages matched.
        let selectors = match &profile.ecosystems {
            Ok(s) => s.clone(),
            Err(e) => {
                let whose = match &image_id {
                    Some(_) => format!("image {}: ", profile.hostname.as_deref().unwrap_or_default()),
                    None => String::new(),
                };
                warnings.push(format!("{whose}OS packages not checked: {e}"));
                Vec::new()
            }
        };
        let mut ecosystems = keyed::resolve_ecosystems(&selectors, available);
        ecosystems.extend(profile.language_ecosystems().into_iter().map(str::to_owned));
        Self { image_id, profile, ecosystems }
    }
}

fn advisory_db(advisories: Vec<crate::vuln::Advisory>) -> AdvisoryDb {
    let mut db = AdvisoryDb::new();
    let mut changed = ChangedKeys::new();
    for a in advisories {
        db.upsert(a, &mut changed);
    }
    db
}

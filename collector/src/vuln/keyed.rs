//! Matching through a cache of per-key results that outlives the process: the collector keeps, per distinct
//! (ecosystem, package, version), the ids of the advisories affecting it and their fixed versions, and joins those
//! to each host's packages.
//!
//! Evaluation is the same [`Matcher`] the offline scan uses; the join mirrors [`super::match_host`] (same
//! ecosystems, same lookups, one finding per advisory and package, kernel state, remediation per source package)
//! but reads cached ids instead of holding every advisory in memory, which replicas sharing a database cannot.

use std::collections::{BTreeSet, HashMap, HashSet};

use muster_shared::v1::PackageKind;
use serde::{Deserialize, Serialize};

use super::db::AdvisoryDb;
use super::ecosystem::{EcosystemSelector, osv_version_order, remediation_command};
use super::host::{HostProfile, KernelState};
use super::matcher::Matcher;

/// One distinct (ecosystem, package name as advisories use it, version compared).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MatchKey {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
}

/// An advisory affecting one key: its id and the first fixed version above the key's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHit {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
}

/// The ecosystems that apply to a host: exact names whether or not advisories exist for them yet (so the host's
/// keys are cached and re-matched when they arrive), prefixes expanded over the ecosystems `available`.
pub fn resolve_ecosystems(selectors: &[EcosystemSelector], available: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for selector in selectors {
        match selector {
            EcosystemSelector::Exact(name) => out.push(name.clone()),
            EcosystemSelector::Prefix(prefix) => {
                out.extend(available.iter().filter(|e| e.starts_with(prefix.as_str())).cloned());
            }
        }
    }
    out.dedup();
    out
}

/// The distinct keys a host's packages are looked up under.
pub fn host_keys(host: &HostProfile, ecosystems: &[String]) -> BTreeSet<MatchKey> {
    let orders: Vec<(&str, _)> = ecosystems.iter().map(|e| (e.as_str(), osv_version_order(e))).collect();
    let mut keys = BTreeSet::new();
    for pkg in &host.packages {
        let Some(order) = pkg.order else { continue };
        for &(eco, eco_order) in &orders {
            if eco_order != Some(order) {
                continue;
            }
            for (name, version) in &pkg.lookups {
                keys.insert(MatchKey { ecosystem: eco.to_owned(), name: name.clone(), version: version.clone() });
            }
        }
    }
    keys
}

/// Evaluates keys against an advisory set holding (at least) every advisory naming their packages.
pub fn evaluate_keys<'k>(
    db: &AdvisoryDb,
    keys: impl IntoIterator<Item = &'k MatchKey>,
) -> Vec<(MatchKey, Vec<KeyHit>)> {
    let mut matcher = Matcher::new();
    keys.into_iter()
        .map(|k| {
            let hits = matcher.hits(db, &k.ecosystem, &k.name, &k.version);
            let mut list: Vec<KeyHit> = hits
                .iter()
                .map(|h| KeyHit { id: h.advisory.id.to_string(), fixed: h.fixed.as_deref().map(str::to_owned) })
                .collect();
            // Stored results compare equal whatever order the advisories were loaded in.
            list.sort_unstable_by(|a, b| a.id.cmp(&b.id));
            (k.clone(), list)
        })
        .collect()
}

/// One advisory affecting one installed package of one host, as the collector stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVulnerability {
    pub advisory_id: String,
    pub ecosystem: String,
    pub kind: PackageKind,
    /// The installed (binary) package.
    pub package: String,
    pub arch: Option<String>,
    pub installed_version: String,
    /// The source package shown in findings and grouping upgrades.
    pub source_name: String,
    /// The name and version compared with the advisory.
    pub matched_name: String,
    pub compared_version: String,
    /// `None`: no fix yet.
    pub fixed_version: Option<String>,
    pub kernel: Option<KernelState>,
    pub remediation: Option<String>,
}

/// Joins cached key results to a host's packages; keys missing from `hits` count as unaffected.
pub fn join(
    host: &HostProfile,
    ecosystems: &[String],
    hits: &HashMap<MatchKey, Vec<KeyHit>>,
) -> Vec<HostVulnerability> {
    let orders: Vec<(&str, _)> = ecosystems.iter().map(|e| (e.as_str(), osv_version_order(e))).collect();
    let mut out = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut key = MatchKey { ecosystem: String::new(), name: String::new(), version: String::new() };
    for pkg in &host.packages {
        let Some(order) = pkg.order else { continue };
        // The same advisory through a second ecosystem (Ubuntu Pro) or name (rpm source) is one finding.
        seen.clear();
        for &(eco, eco_order) in &orders {
            if eco_order != Some(order) {
                continue;
            }
            for (name, version) in &pkg.lookups {
                key.ecosystem.clear();
                key.ecosystem.push_str(eco);
                key.name.clear();
                key.name.push_str(name);
                key.version.clear();
                key.version.push_str(version);
                let Some(list) = hits.get(&key) else { continue };
                for hit in list {
                    if !seen.insert(hit.id.as_str()) {
                        continue;
                    }
                    out.push(HostVulnerability {
                        advisory_id: hit.id.clone(),
                        ecosystem: eco.to_owned(),
                        kind: pkg.package.kind,
                        package: pkg.package.name.clone(),
                        arch: pkg.package.arch.clone(),
                        installed_version: pkg.package.version.clone(),
                        source_name: pkg.source_name().to_owned(),
                        matched_name: name.clone(),
                        compared_version: version.clone(),
                        fixed_version: hit.fixed.clone(),
                        kernel: pkg.kernel,
                        remediation: None,
                    });
                }
            }
        }
    }
    add_remediations(host, &mut out);
    out
}

/// The upgrade command of each finding lists every installed package built from the same source.
fn add_remediations(host: &HostProfile, found: &mut [HostVulnerability]) {
    let mut by_source: HashMap<(PackageKind, &str), Vec<&str>> = HashMap::new();
    for f in found.iter() {
        by_source.entry((f.kind, f.source_name.as_str())).or_default();
    }
    for p in &host.packages {
        if let Some(names) = by_source.get_mut(&(p.package.kind, p.source_name())) {
            names.push(p.package.name.as_str());
        }
    }
    let commands: HashMap<(PackageKind, String), Option<String>> = by_source
        .into_iter()
        .map(|((kind, source), mut names)| {
            names.sort_unstable();
            names.dedup();
            ((kind, source.to_owned()), remediation_command(kind, &names))
        })
        .collect();
    for f in found.iter_mut() {
        f.remediation = commands.get(&(f.kind, f.source_name.clone())).cloned().flatten();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_ecosystems_stay_prefixes_expand() {
        let available: BTreeSet<String> =
            ["Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9::baseos", "Debian:11"]
                .into_iter()
                .map(String::from)
                .collect();
        assert_eq!(
            resolve_ecosystems(&[EcosystemSelector::Exact("Debian:12".into())], &available),
            vec!["Debian:12".to_owned()]
        );
        assert_eq!(
            resolve_ecosystems(&[EcosystemSelector::Prefix("Red Hat:enterprise_linux:9::".into())], &available),
            vec!["Red Hat:enterprise_linux:9::appstream".to_owned(), "Red Hat:enterprise_linux:9::baseos".to_owned()]
        );
    }
}

//! Matching through a cache of per-key results that outlives the process: the collector keeps, per distinct
//! (ecosystem, package, version), the ids of the advisories affecting it and their fixed versions, and joins those
//! to each host's packages.
//!
//! Evaluation is the same [`Matcher`] the offline scan uses; the join mirrors [`super::match_host`] (same
//! ecosystems, same lookups, one finding per advisory and package, kernel state, fix state, remediation per source
//! package where it helps)
//! but reads cached ids instead of holding every advisory in memory, which replicas sharing a database cannot.

use std::collections::{BTreeSet, HashMap, HashSet};

use muster_shared::v1::PackageKind;
use serde::{Deserialize, Serialize};

use super::db::AdvisoryDb;
use super::ecosystem::{EcosystemSelector, osv_version_order, remediation_command};
use super::fix::FixState;
use super::host::{HostProfile, KernelState};
use super::matcher::Matcher;

/// One distinct (ecosystem, package name as advisories use it, version compared).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MatchKey {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
}

/// An advisory affecting one key: its id, the first fixed version above the key's version, and the vendor's label
/// on the matched entry (results cached before it was kept have none, and rate by CVSS until re-evaluated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHit {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
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
        for &(eco, eco_order) in &orders {
            if !pkg.looked_up_in(eco, eco_order) {
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
                .map(|h| KeyHit {
                    id: h.advisory.id.to_string(),
                    fixed: h.fixed.as_deref().map(str::to_owned),
                    vendor: h.vendor.as_deref().map(str::to_owned),
                })
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
    /// Where a language package was found (its `METADATA`, `package.json`, lockfile or binary); two copies of one
    /// library are two matches.
    pub path: Option<String>,
    pub installed_version: String,
    /// The source package shown in findings and grouping upgrades.
    pub source_name: String,
    /// The name and version compared with the advisory.
    pub matched_name: String,
    pub compared_version: String,
    /// `None`: no fix yet.
    pub fixed_version: Option<String>,
    /// The vendor's label on the matched entry; rate with [`super::severity::Rating::new`] and the stored CVSS.
    pub vendor_severity: Option<String>,
    /// From the host profile's pending updates ([`HostProfile::with_pending`]); `fix_unverified` when unknown.
    pub fix_state: FixState,
    pub kernel: Option<KernelState>,
    /// The upgrade command, only when it helps ([`FixState::upgrade_helps`]).
    pub remediation: Option<String>,
    /// The container image whose package this is; `None` for the host's own. Set by the caller: [`join`] sees one
    /// profile at a time.
    pub image_id: Option<String>,
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
        // The same advisory through a second ecosystem (Ubuntu Pro) or name (rpm source) is one finding.
        seen.clear();
        for &(eco, eco_order) in &orders {
            if !pkg.looked_up_in(eco, eco_order) {
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
                    let fix_state =
                        host.fix_state_of(pkg, version.as_str(), hit.fixed.as_deref(), hit.vendor.as_deref());
                    out.push(HostVulnerability {
                        advisory_id: hit.id.clone(),
                        ecosystem: eco.to_owned(),
                        kind: pkg.package.kind,
                        package: pkg.package.name.clone(),
                        arch: pkg.package.arch.clone(),
                        path: pkg.package.path.clone().filter(|_| pkg.ecosystem.is_some()),
                        installed_version: pkg.package.version.clone(),
                        source_name: pkg.source_name().to_owned(),
                        matched_name: name.clone(),
                        compared_version: version.clone(),
                        fixed_version: hit.fixed.clone(),
                        vendor_severity: hit.vendor.clone(),
                        fix_state,
                        kernel: pkg.kernel,
                        remediation: None,
                        image_id: None,
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
        if f.fix_state.upgrade_helps() {
            f.remediation = commands.get(&(f.kind, f.source_name.clone())).cloned().flatten();
        }
    }
}

#[cfg(test)]
mod tests {
    use muster_shared::v1::{Os, Package, PendingUpdate};

    use super::*;
    use crate::vuln::read::{ImportLimits, import_paths};

    #[test]
    fn cached_hits_carry_the_vendor_label_and_join_decides_the_fix_state() {
        // The real Debian subset; openssh and glibc binaries at real bookworm versions, and apt's real candidate
        // for libc6 (agent/testdata/apt/debian-12).
        let mut db = AdvisoryDb::new();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/advisories/debian/debian-osv-subset.jsonl");
        assert!(import_paths(&mut db, &[path], &ImportLimits::files(), &mut |_| {}).summary.errors.is_empty());
        let deb = |name: &str, version: &str, source: &str| Package {
            kind: PackageKind::Deb,
            name: name.into(),
            version: version.into(),
            arch: Some("amd64".into()),
            source_name: Some(source.into()),
            source_version: Some(version.into()),
            installed_at: None,
            size_bytes: None,
            state: None,
            path: None,
            owner: None,
            publisher: None,
            channel: None,
        };
        let os = Os { id: Some("debian".into()), version_id: Some("12".into()), ..Os::default() };
        let packages =
            vec![deb("openssh-client", "1:9.2p1-2+deb12u5", "openssh"), deb("libc6", "2.36-9+deb12u3", "glibc")];
        let pending = [PendingUpdate {
            name: "libc6".into(),
            arch: Some("amd64".into()),
            installed_version: "2.36-9+deb12u3".into(),
            candidate_version: "2.36-9+deb12u14".into(),
            security: false,
            origin: None,
        }];
        let host = HostProfile::new(None, &os, packages).with_pending(Some(&pending));
        let ecosystems = vec!["Debian:12".to_owned()];
        let keys = host_keys(&host, &ecosystems);
        let hits: HashMap<MatchKey, Vec<KeyHit>> = evaluate_keys(&db, &keys).into_iter().collect();
        let openssh = hits.iter().find(|(k, _)| k.name == "openssh").map(|(_, h)| h.clone()).unwrap_or_default();
        assert_eq!(
            openssh,
            vec![KeyHit { id: "CVE-2023-51767".into(), fixed: None, vendor: Some("unimportant".into()) }]
        );
        // Results cached before the label was kept still read.
        let old: KeyHit =
            serde_json::from_str(r#"{"id":"DSA-5611-1","fixed":"2.36-9+deb12u4"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.vendor, None);

        let matches = join(&host, &ecosystems, &hits);
        let got: Vec<(&str, &str, FixState, Option<&str>, bool)> = matches
            .iter()
            .map(|m| {
                (
                    m.advisory_id.as_str(),
                    m.package.as_str(),
                    m.fix_state,
                    m.vendor_severity.as_deref(),
                    m.remediation.is_some(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("CVE-2023-51767", "openssh-client", FixState::NoFix, Some("unimportant"), false),
                ("DSA-5611-1", "libc6", FixState::FixAvailable, None, true),
            ]
        );
    }

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

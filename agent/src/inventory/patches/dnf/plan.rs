//! Pure: which installed rpm packages have a newer version in the repositories, and which advisories cover them.
//!
//! Mirrors `dnf check-update`: per installed name and architecture (the newest of several installed kernels), the
//! highest EVR in rpm's order among packages of that name whose architecture matches or is `noarch` on either side;
//! an update when it is above the installed EVR. An advisory covers an update when it names a version above the
//! installed one and not above the candidate, as `dnf updateinfo list` matches them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use muster_shared::v1::{Package, PendingUpdate, UpdateAdvisory};
use muster_shared::version::rpm;

use super::metadata::{Advisory, Nevra};

/// A package version a repository offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub nevra: Nevra,
    /// Index into the repository ids given to [`plan`].
    pub repo: usize,
}

/// Pending updates sorted by name and architecture, and the advisories that cover them in first-seen order.
pub fn plan(
    installed: &[&Package],
    offers: &[Offer],
    repos: &[String],
    advisories: &[Advisory],
) -> (Vec<PendingUpdate>, Vec<UpdateAdvisory>) {
    let mut newest: BTreeMap<(&str, &str), &Package> = BTreeMap::new();
    for package in installed {
        // gpg-pubkey and other pseudo packages have no architecture and are never updated from a repository.
        let Some(arch) = package.arch.as_deref().filter(|a| !a.is_empty() && *a != "(none)") else { continue };
        newest
            .entry((package.name.as_str(), arch))
            .and_modify(|p| {
                if rpm::compare(&package.version, &p.version) == Ordering::Greater {
                    *p = package;
                }
            })
            .or_insert(package);
    }
    let mut by_name: HashMap<&str, Vec<&Offer>> = HashMap::new();
    for offer in offers.iter().filter(|o| !matches!(o.nevra.arch.as_str(), "src" | "nosrc")) {
        by_name.entry(offer.nevra.name.as_str()).or_default().push(offer);
    }
    let mut pending = Vec::new();
    let mut covering: Vec<UpdateAdvisory> = Vec::new();
    for ((name, arch), package) in newest {
        let candidates = by_name.get(name).map_or(&[][..], Vec::as_slice);
        let best = candidates
            .iter()
            .filter(|o| compatible(arch, &o.nevra.arch))
            // Equal versions: the first repository in configuration order, as the output names one.
            .max_by(|a, b| rpm::compare(&full_evr(&a.nevra), &full_evr(&b.nevra)).then(b.repo.cmp(&a.repo)));
        let Some(best) = best else { continue };
        let candidate = full_evr(&best.nevra);
        if rpm::compare(&candidate, &package.version) != Ordering::Greater {
            continue;
        }
        let label = format!("{name}.{arch}");
        let mut security = false;
        for advisory in advisories {
            let covers = advisory.packages.iter().any(|p| {
                p.name == name
                    && compatible(arch, &p.arch)
                    && rpm::compare(&full_evr(p), &package.version) == Ordering::Greater
                    && rpm::compare(&full_evr(p), &candidate) != Ordering::Greater
            });
            if !covers {
                continue;
            }
            security |= advisory.kind == "security";
            match covering.iter_mut().find(|a| a.id == advisory.id) {
                Some(existing) if existing.packages.contains(&label) => {}
                Some(existing) => existing.packages.push(label.clone()),
                None => covering.push(UpdateAdvisory {
                    id: advisory.id.clone(),
                    kind: advisory.kind.clone(),
                    severity: advisory.severity.clone().filter(|s| !s.eq_ignore_ascii_case("none")),
                    packages: vec![label.clone()],
                }),
            }
        }
        pending.push(PendingUpdate {
            name: name.to_string(),
            arch: Some(arch.to_string()),
            installed_version: package.version.clone(),
            candidate_version: best.nevra.evr(),
            security,
            origin: repos.get(best.repo).cloned(),
        });
    }
    (pending, covering)
}

/// dnf upgrades within an architecture, and between `noarch` and any architecture.
fn compatible(installed: &str, offered: &str) -> bool {
    installed == offered || installed == "noarch" || offered == "noarch"
}

/// The EVR with its epoch, so rpm's order compares it against the rpmdb's `epoch:version-release`.
fn full_evr(nevra: &Nevra) -> String {
    let epoch = nevra.epoch.as_deref().filter(|e| !e.is_empty()).unwrap_or("0");
    format!("{epoch}:{}-{}", nevra.version, nevra.release)
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::PackageKind;

    fn rpm_package(name: &str, version: &str, arch: &str) -> Package {
        Package {
            kind: PackageKind::Rpm,
            name: name.into(),
            version: version.into(),
            arch: Some(arch.into()),
            source_name: None,
            source_version: None,
            installed_at: None,
            size_bytes: None,
            state: None,
            path: None,
            owner: None,
            publisher: None,
            channel: None,
        }
    }

    fn nevra(name: &str, epoch: Option<&str>, version: &str, release: &str, arch: &str) -> Nevra {
        Nevra {
            name: name.into(),
            arch: arch.into(),
            epoch: epoch.map(str::to_string),
            version: version.into(),
            release: release.into(),
        }
    }

    #[test]
    fn epochs_architectures_and_installonly_kernels() {
        let installed = [
            rpm_package("kernel-core", "5.14.0-362.8.1.el9_3", "x86_64"),
            rpm_package("kernel-core", "5.14.0-427.13.1.el9_4", "x86_64"),
            rpm_package("glibc", "2.34-100.el9", "x86_64"),
            rpm_package("glibc", "2.34-100.el9", "i686"),
            rpm_package("gamma", "1:0.9-1", "noarch"),
        ];
        let refs: Vec<&Package> = installed.iter().collect();
        let offers = [
            Offer { nevra: nevra("kernel-core", Some("0"), "5.14.0", "427.13.1.el9_4", "x86_64"), repo: 0 },
            Offer { nevra: nevra("glibc", Some("0"), "2.34", "100.el9_4.2", "i686"), repo: 0 },
            Offer { nevra: nevra("glibc", Some("0"), "2.34", "100.el9_4.2", "src"), repo: 0 },
            Offer { nevra: nevra("gamma", None, "5.0", "1", "noarch"), repo: 0 },
        ];
        let advisory = Advisory {
            id: "RLSA-2024:3339".into(),
            kind: "security".into(),
            severity: Some("Moderate".into()),
            packages: vec![nevra("glibc", Some("0"), "2.34", "100.el9_4.2", "i686")],
        };
        let (pending, advisories) = plan(&refs, &offers, &["baseos".into()], &[advisory]);
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].name, "glibc");
        assert_eq!(pending[0].arch.as_deref(), Some("i686"));
        assert_eq!(pending[0].candidate_version, "2.34-100.el9_4.2");
        assert!(pending[0].security);
        assert_eq!(pending[0].origin.as_deref(), Some("baseos"));
        assert_eq!(advisories[0].packages, ["glibc.i686"]);
    }
}

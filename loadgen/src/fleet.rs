//! The simulated fleet, purely: every host's identity, OS image, version drift and patch state follow from the fleet
//! id and the host's index, so a run can rebuild any host's report on demand instead of keeping it.
//!
//! Drift models a fleet at mixed patch levels: a share of each host's packages sits at an *older* version than the
//! captured image (the same few older versions recur across hosts, as in a real fleet, so the collector's catalogue
//! grows the way it would). Patch rounds model patch day: round `r` upgrades the same set of packages on every host
//! of an image to a *newer* version, cumulatively.

use chrono::{DateTime, Utc};
use muster_shared::v1::{Host, Package, PackageKind, Report};
use sha2::{Digest, Sha256};

/// A captured inventory that simulated hosts are made from.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    /// The full report as `muster-agent inventory` printed it.
    pub report: Report,
}

/// An image and its share of the fleet.
#[derive(Debug, Clone)]
pub struct WeightedImage {
    pub image: Image,
    /// Relative weight, at least 1.
    pub weight: u32,
}

/// How far hosts drift from their image: the share of packages held back by 1, 2, 3 … versions.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// `levels[k]` is the share of a host's packages `k + 1` versions behind the image; the rest are as captured.
    pub levels: Vec<f64>,
}

impl Drift {
    /// 12 % one version behind, 6 % two, 2 % three: a fleet that patches monthly with stragglers.
    pub fn typical() -> Drift {
        Drift { levels: vec![0.12, 0.06, 0.02] }
    }

    pub fn none() -> Drift {
        Drift { levels: Vec::new() }
    }

    /// The level (0 = as captured) for a package whose hash maps to `unit` in [0, 1).
    pub fn level(&self, unit: f64) -> u32 {
        let mut bound = 0.0;
        for (k, share) in self.levels.iter().enumerate() {
            bound += share;
            if unit < bound {
                return k as u32 + 1;
            }
        }
        0
    }
}

/// What the whole simulated fleet is made of.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Random id chosen when the state directory was created: keeps two fleets on one collector apart.
    pub fleet_id: String,
    pub images: Vec<WeightedImage>,
    pub drift: Drift,
    /// Packages upgraded per patch round on every host of an image.
    pub patch_packages: usize,
}

/// The identity a simulated host enrols with and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub hostname: String,
    pub machine_id: String,
    /// Only for images whose capture has an SMBIOS system section, as a real agent would send.
    pub system_uuid: Option<String>,
    pub system_serial: Option<String>,
}

impl Fleet {
    /// The image of host `index`: the images repeated by weight, in turn, so shares are exact over a full cycle.
    pub fn image_of(&self, index: u32) -> usize {
        let total: u64 = self.images.iter().map(|w| u64::from(w.weight.max(1))).sum();
        let mut slot = u64::from(index) % total.max(1);
        for (i, weighted) in self.images.iter().enumerate() {
            let weight = u64::from(weighted.weight.max(1));
            if slot < weight {
                return i;
            }
            slot -= weight;
        }
        0
    }

    pub fn identity(&self, index: u32) -> Identity {
        let image = &self.images[self.image_of(index)].image;
        let digest = hash(&[b"identity", self.fleet_id.as_bytes(), &index.to_le_bytes()]);
        let has_system = image.report.hardware.as_ref().is_some_and(|h| h.system.is_some());
        let short: String = self.fleet_id.chars().take(6).collect();
        let b = &digest[16..32];
        Identity {
            hostname: format!("lg-{short}-{}-{index:06}", image.name),
            machine_id: hex::encode(&digest[..16]),
            system_uuid: has_system.then(|| {
                format!(
                    "{}-{}-{}-{}-{}",
                    hex::encode(&b[0..4]),
                    hex::encode(&b[4..6]),
                    hex::encode(&b[6..8]),
                    hex::encode(&b[8..10]),
                    hex::encode(&b[10..16])
                )
            }),
            system_serial: has_system.then(|| format!("LG{}", hex::encode_upper(&digest[..5]))),
        }
    }

    /// The full report host `index` sends after `round` patch rounds, collected at `now`.
    pub fn report(&self, index: u32, round: u32, now: DateTime<Utc>) -> Report {
        let image = &self.images[self.image_of(index)].image;
        let identity = self.identity(index);
        let mut report = image.report.clone();
        report.collected_at = now;
        let host = report.host.get_or_insert_with(Host::default);
        host.hostname = Some(identity.hostname.clone());
        host.machine_id = Some(identity.machine_id.clone());
        if let Some(system) = report.hardware.as_mut().and_then(|h| h.system.as_mut()) {
            system.uuid.clone_from(&identity.system_uuid);
            system.serial.clone_from(&identity.system_serial);
        }
        let patched = patched_rounds(&self.fleet_id, &image.name, &image.report, self.patch_packages, round);
        if let Some(software) = report.software.as_mut() {
            for (i, package) in software.packages.iter_mut().enumerate() {
                match patched.get(i).copied().flatten() {
                    Some(r) => package.version = newer_version(package.kind, &package.version, r),
                    None => {
                        let unit = unit(&hash(&[
                            b"drift",
                            self.fleet_id.as_bytes(),
                            &index.to_le_bytes(),
                            package_key(package).as_bytes(),
                        ]));
                        let level = self.drift.level(unit);
                        if level > 0 {
                            package.version = older_version(package.kind, &package.version, level);
                        }
                    }
                }
            }
        }
        report
    }
}

/// For each package of `image` (by position), the last round `1..=round` that upgraded it, if any.
///
/// Round `r` upgrades the `per_round` packages with the smallest hash of (fleet, image, r, package): the same set on
/// every host of the image, a different set each round.
pub fn patched_rounds(fleet_id: &str, image: &str, report: &Report, per_round: usize, round: u32) -> Vec<Option<u32>> {
    let Some(software) = &report.software else { return Vec::new() };
    let mut last = vec![None; software.packages.len()];
    for r in 1..=round {
        let mut ranked: Vec<(u64, usize)> = software
            .packages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let key = hash(&[
                    b"patch",
                    fleet_id.as_bytes(),
                    image.as_bytes(),
                    &r.to_le_bytes(),
                    package_key(p).as_bytes(),
                ]);
                (u64::from_le_bytes(first8(&key)), i)
            })
            .collect();
        ranked.sort_unstable();
        for (_, i) in ranked.into_iter().take(per_round) {
            last[i] = Some(r);
        }
    }
    last
}

/// A version `level` steps older than `version` in the package manager's own order.
pub fn older_version(kind: PackageKind, version: &str, level: u32) -> String {
    match kind {
        // A tilde sorts before everything, even the end of the string, in dpkg and rpm (rpm >= 4.10); pacman has
        // no fixture-backed order of its own here and gets rpm's form.
        PackageKind::Deb | PackageKind::Rpm | PackageKind::Pacman => format!("{version}~lg{}", 10 - level.min(9)),
        // apk: a `_pre` suffix sorts before the release it precedes; it goes before the `-rN` revision.
        PackageKind::Apk => insert_before_revision(version, &format!("_pre{}", 10 - level.min(9))),
        // The generated fleet varies this machine's OS packages only; other kinds keep their version.
        _ => version.to_owned(),
    }
}

/// The version patch round `round` installs: newer than `version` in the package manager's order.
pub fn newer_version(kind: PackageKind, version: &str, round: u32) -> String {
    match kind {
        // dpkg: `+` sorts after the end of the string; rpm: a trailing numeric segment is newer.
        PackageKind::Deb => format!("{version}+lgp{round}"),
        PackageKind::Rpm | PackageKind::Pacman => format!("{version}.{round}"),
        // apk: `_p` (patch) sorts after the plain release.
        PackageKind::Apk => insert_before_revision(version, &format!("_p{round}")),
        _ => version.to_owned(),
    }
}

fn insert_before_revision(version: &str, suffix: &str) -> String {
    match version.rsplit_once("-r") {
        Some((base, rev)) if !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{base}{suffix}-r{rev}")
        }
        _ => format!("{version}{suffix}"),
    }
}

fn package_key(p: &Package) -> String {
    format!("{}\0{}\0{}", p.kind.as_str(), p.name, p.arch.as_deref().unwrap_or(""))
}

pub(crate) fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

fn first8(digest: &[u8; 32]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// A digest mapped uniformly onto [0, 1).
pub(crate) fn unit(digest: &[u8; 32]) -> f64 {
    (u64::from_le_bytes(first8(digest)) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
#[path = "fleet_tests.rs"]
pub(crate) mod tests;

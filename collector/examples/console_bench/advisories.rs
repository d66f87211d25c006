//! Generated advisories (ids `BENCH-…`) on the images' real source packages: a few sources draw most of them, as
//! in real feeds; stored with their names, packages, KEV dates and the record matching reads.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use muster_collector::vuln::stored::{StoredAdvisory, StoredAffected, StoredEvent, StoredRange};

use crate::db::{Batch, Db, V, flush_all, flush_when_full, ot, t};
use crate::fleet::{Fleet, Rng, source_of};

pub struct Advisory {
    pub id: String,
    pub ecosystem: &'static str,
    /// The source package it names.
    pub package: String,
    pub severity: &'static str,
    pub summary: String,
    /// The first fixed release, one after the version the images carry; none yet for a fifth of them.
    pub fixed: Option<String>,
    pub kev: bool,
    /// Relative chance of being found on a host that has the package.
    pub weight: f64,
}

/// Advisories per ecosystem, roughly in the proportion of real feeds for these distributions.
const ADVISORIES: [(&str, usize); 4] =
    [("Debian:12", 1200), ("Ubuntu:24.04:LTS", 700), ("Mariner:2.0", 350), ("Alpine:v3.14", 150)];

const SEVERITY_RANKS: [(&str, i64); 6] =
    [("unknown", 0), ("negligible", 1), ("low", 2), ("medium", 3), ("high", 4), ("critical", 5)];

pub fn make_advisories(fleet: &Fleet, rng: &mut Rng) -> Vec<Advisory> {
    const FLAWS: &[&str] = &[
        "heap buffer overflow",
        "use-after-free",
        "integer overflow",
        "denial of service",
        "out-of-bounds read",
        "NULL pointer dereference",
        "improper certificate validation",
        "path traversal",
        "local privilege escalation",
        "information disclosure",
    ];
    let mut out = Vec::new();
    for (ecosystem, count) in ADVISORIES {
        // Each source with the version its first binary names.
        let mut versions: BTreeMap<String, String> = BTreeMap::new();
        for p in fleet.images.iter().filter(|im| im.ecosystem == ecosystem).flat_map(|im| &im.packages) {
            let version = p.source_version.clone().unwrap_or_else(|| p.version.clone());
            versions.entry(source_of(p).to_owned()).or_insert(version);
        }
        let mut names: Vec<&String> = versions.keys().collect();
        if names.is_empty() {
            continue;
        }
        // A fixed shuffle; then the first sources draw most advisories, as a few sources (the kernel, OpenSSL,
        // glibc) do in real feeds.
        for i in (1..names.len()).rev() {
            names.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for rank in 0..count {
            let package = names[(rng.unit().powi(2) * names.len() as f64) as usize].clone();
            let severity = match rng.below(1000) {
                0..80 => "critical",
                80..350 => "high",
                350..800 => "medium",
                800..950 => "low",
                _ => "unknown",
            };
            let fixed = rng.chance(800).then(|| format!("{}+fix1", versions[&package]));
            out.push(Advisory {
                id: format!("BENCH-{}-{:05}", ecosystem[..3].to_uppercase(), out.len() + 1),
                ecosystem,
                summary: format!("{} in {package}", rng.pick(FLAWS)),
                package,
                severity,
                fixed,
                kev: rank % 45 == 3,
                weight: 1.0 / ((rank + 1) as f64).powf(0.8),
            });
        }
    }
    out
}

/// The advisories with their names, packages, KEV dates and stored records.
pub async fn seed_advisories(
    db: &mut Db,
    fleet: &Fleet,
    advisories: &[Advisory],
    rng: &mut Rng,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut rows = Batch::new(
        "advisories",
        &[
            "id",
            "modified",
            "published",
            "withdrawn",
            "summary",
            "severity",
            "severity_rank",
            "cvss_score",
            "cvss_vector",
            "aliases",
            "kev_added",
            "record",
            "imported_at",
        ],
    );
    let mut packages = Batch::new("advisory_packages", &["advisory_id", "ecosystem", "name"]);
    let mut names = Batch::new("advisory_names", &["advisory_id", "name"]);
    let mut kev = Batch::new("kev_catalog", &["cve_id", "date_added"]);
    for a in advisories {
        let published = now - rng.days(20, 1100);
        let modified = published + rng.days(0, 15);
        let (score, vector) = match a.severity {
            "critical" => (Some(9.8), Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")),
            "high" => (Some(7.5), Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H")),
            "medium" => (Some(5.5), Some("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H")),
            "low" => (Some(3.3), Some("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N")),
            _ => (None, None),
        };
        let kev_added = a.kev.then(|| (published + rng.days(1, 20)).format("%Y-%m-%d").to_string());
        let order = fleet.images.iter().find(|im| im.ecosystem == a.ecosystem).map_or("deb", |im| im.manager.order());
        let mut events = vec![StoredEvent::Introduced("0".into())];
        events.extend(a.fixed.clone().map(StoredEvent::Fixed));
        let record = StoredAdvisory {
            id: a.id.clone(),
            modified: Some(modified),
            published: Some(published),
            withdrawn: None,
            aliases: vec![],
            summary: Some(a.summary.clone()),
            severity: a.severity.to_owned(),
            cvss_score: score,
            cvss_vector: vector.map(str::to_owned),
            affected: vec![StoredAffected {
                ecosystem: a.ecosystem.to_owned(),
                name: a.package.clone(),
                ranges: vec![StoredRange { order: order.into(), events }],
                versions: vec![],
                binaries: vec![],
                vendor_severity: None,
            }],
        };
        let rank = SEVERITY_RANKS.iter().find(|(s, _)| *s == a.severity).map_or(0, |(_, r)| *r);
        let row = vec![
            t(&a.id),
            V::OI(Some(modified.timestamp_millis())),
            V::OI(Some(published.timestamp_millis())),
            V::OI(None),
            ot(Some(&a.summary)),
            t(a.severity),
            V::I(rank),
            V::OF(score),
            ot(vector),
            t("[]"),
            ot(kev_added.clone()),
            t(serde_json::to_string(&record)?),
            V::I((now - Duration::days(1)).timestamp_millis()),
        ];
        rows.add(row);
        packages.add(vec![t(&a.id), t(a.ecosystem), t(&a.package)]);
        names.add(vec![t(&a.id), t(&a.id)]);
        if let Some(date) = kev_added {
            kev.add(vec![t(&a.id), t(date)]);
        }
        flush_when_full(db, &mut [&mut rows, &mut packages, &mut names, &mut kev]).await?;
    }
    flush_all(db, &mut [&mut rows, &mut packages, &mut names, &mut kev]).await
}

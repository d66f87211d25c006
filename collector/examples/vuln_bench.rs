//! Benchmark of the vulnerability module: import of a full distribution export, matching a generated fleet, and
//! re-matching after new advisories. Run with
//! `cargo run --release -p muster-collector --example vuln_bench -- DEBIAN_EXPORT.jsonl.xz NEW_ADVISORIES.jsonl.xz
//! STATUS_FILE…`.
//!
//! Hosts are generated from real dpkg status files ("images"): each host takes one image, drops a few packages and
//! carries a few packages at differing versions, the variation real fleets show.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::time::Instant;

use muster_collector::vuln::{AdvisoryDb, HostProfile, ImportLimits, Matcher, import_paths, import_stream, match_host};
use muster_shared::v1::{Os, Package, PackageKind};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [export, new_advisories, statuses @ ..] = args.as_slice() else {
        anyhow::bail!("usage: vuln_bench EXPORT.jsonl.xz NEW_ADVISORIES.jsonl.xz STATUS_FILE…");
    };

    // 1. Import.
    let mut db = AdvisoryDb::new();
    let start = Instant::now();
    let outcome = import_paths(&mut db, &[export], &ImportLimits::files(), &mut |_| {});
    let import_time = start.elapsed();
    let s = &outcome.summary;
    println!(
        "import: {:.2} s, peak RSS {} MiB; records read {}, imported {}, updated {}, unchanged {}, withdrawn {}, \
         skipped records {:?}, skipped affected {:?}, errors {:?}",
        import_time.as_secs_f64(),
        peak_rss_mib(),
        s.records_read,
        s.imported,
        s.updated,
        s.unchanged,
        s.withdrawn,
        s.skipped_records,
        s.skipped_affected,
        s.errors
    );

    // 2. Fleet generation from real package lists.
    let mut lists = Vec::new();
    for path in statuses {
        let text = std::fs::read_to_string(path)?;
        lists.push(parse_status(&text));
    }
    let images = build_images(&lists);
    for (i, img) in images.iter().enumerate() {
        println!("image {i}: {} packages", img.len());
    }
    let os = Os {
        id: Some("debian".into()),
        version_id: Some("12".into()),
        kernel_release: Some("6.1.0-28-amd64".into()),
        ..Os::default()
    };
    let mut rng = Lcg(0x5eed);
    let start = Instant::now();
    let hosts: Vec<HostProfile> = (0..10_000)
        .map(|i| {
            let image = &images[i % images.len()];
            let mut packages: Vec<Package> = image.iter().filter(|_| rng.next() % 100 >= 2).cloned().collect();
            for _ in 0..4 {
                let n = packages.len();
                if n == 0 {
                    break;
                }
                let p = &mut packages[(rng.next() as usize) % n];
                let variant = rng.next() % 3;
                p.version = format!("{}~bench{variant}", p.version);
                p.source_version = p.source_version.as_ref().map(|v| format!("{v}~bench{variant}"));
            }
            HostProfile::new(Some(format!("host{i}")), &os, packages)
        })
        .collect();
    let total_packages: usize = hosts.iter().map(|h| h.packages.len()).sum();
    println!(
        "fleet: {} hosts, {} packages ({:.0} per host), profiles built in {:.2} s",
        hosts.len(),
        total_packages,
        total_packages as f64 / hosts.len() as f64,
        start.elapsed().as_secs_f64()
    );

    // 3. Match the fleet.
    let mut matcher = Matcher::new();
    let start = Instant::now();
    let (mut active, mut inactive) = (0usize, 0usize);
    for host in &hosts {
        let f = match_host(&db, &mut matcher, host);
        active += f.active.len();
        inactive += f.not_running_kernel.len();
    }
    let match_time = start.elapsed();
    println!(
        "match: {:.2} s for {} hosts; {} distinct keys evaluated, {} cache hits; {} active findings, {} on \
         non-running kernels",
        match_time.as_secs_f64(),
        hosts.len(),
        matcher.stats().evaluations,
        matcher.stats().cache_hits,
        active,
        inactive
    );

    // 4. Import 100 new advisories (the last real Debian 12 CVE records on core packages, renamed so they are new),
    // re-evaluate the changed keys, and propagate the changes to the hosts holding those versions.
    let mut text = String::new();
    liblzma::read::XzDecoder::new(std::fs::File::open(new_advisories)?).read_to_string(&mut text)?;
    let fresh: String = text
        .lines()
        .rev()
        .filter(|l| l.contains("\"ecosystem\":\"Debian:12\""))
        .take(100)
        .map(|l| l.replacen("\"id\":\"", "\"id\":\"BENCH-", 1) + "\n")
        .collect();
    let by_version = index_hosts_by_version(&hosts);
    let start = Instant::now();
    let outcome = import_stream(&mut db, "new.jsonl", fresh.as_bytes(), None, &ImportLimits::upload(), &mut |_| {});
    let changes = matcher.refresh(&db, &outcome.changed);
    let (mut touched, mut deltas) = (HashSet::new(), 0usize);
    for change in &changes {
        let holders = by_version.get(&(change.key.name.to_string(), change.version.to_string()));
        if change.added.is_empty() && change.removed.is_empty() {
            continue;
        }
        for &host in holders.into_iter().flatten() {
            touched.insert(host);
            deltas += change.added.len() + change.removed.len();
        }
    }
    let delta_time = start.elapsed();
    println!(
        "re-match after {} new advisories: {:.3} s ({} changed package keys, {} cached versions re-evaluated, {} \
         finding changes on {} hosts)",
        outcome.summary.imported,
        delta_time.as_secs_f64(),
        outcome.changed.len(),
        changes.len(),
        deltas,
        touched.len()
    );
    let start = Instant::now();
    let mut rematched = 0usize;
    for &i in &touched {
        rematched += match_host(&db, &mut matcher, &hosts[i]).active.len();
    }
    println!(
        "full re-join of the {} touched hosts (for comparison): {:.2} s, {} active findings",
        touched.len(),
        start.elapsed().as_secs_f64(),
        rematched
    );
    println!("peak RSS at end: {} MiB", peak_rss_mib());
    Ok(())
}

/// Package, Version, Source and Architecture of installed stanzas.
fn parse_status(text: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(str::trim))
        };
        let (Some(name), Some(version)) = (field("Package"), field("Version")) else { continue };
        if !field("Status").is_some_and(|s| s.ends_with(" installed")) {
            continue;
        }
        let (source_name, source_version) = match field("Source") {
            Some(src) => match src.split_once(" (") {
                Some((n, v)) => (Some(n.to_owned()), Some(v.trim_end_matches(')').to_owned())),
                None => (Some(src.to_owned()), None),
            },
            None => (None, None),
        };
        out.push(Package {
            kind: PackageKind::Deb,
            name: name.to_owned(),
            version: version.to_owned(),
            arch: field("Architecture").map(str::to_owned),
            source_name,
            source_version,
            installed_at: None,
            size_bytes: None,
            state: None,
            path: None,
            owner: None,
            publisher: None,
            channel: None,
        });
    }
    out
}

/// Several images: each list alone, unions of them, and a multi-arch union reaching ~1,500 packages.
fn build_images(lists: &[Vec<Package>]) -> Vec<Vec<Package>> {
    let union = |parts: &[&Vec<Package>]| {
        let mut seen = HashSet::new();
        parts.iter().flat_map(|l| l.iter()).filter(|p| seen.insert(p.name.clone())).cloned().collect::<Vec<_>>()
    };
    let mut images: Vec<Vec<Package>> = lists.iter().filter(|l| l.len() >= 200).cloned().collect();
    let all: Vec<&Vec<Package>> = lists.iter().collect();
    let everything = union(&all);
    let small: Vec<&Vec<Package>> = lists.iter().filter(|l| l.len() < 200).collect();
    if !small.is_empty() {
        images.push(union(&small));
    }
    let mut multiarch = everything.clone();
    multiarch.extend(
        everything
            .iter()
            .filter(|p| p.name.starts_with("lib"))
            .map(|p| Package { arch: Some("i386".into()), ..p.clone() }),
    );
    images.push(everything);
    images.push(multiarch);
    images
}

/// (source name, version compared) → hosts, as the collector's store answers it.
fn index_hosts_by_version(hosts: &[HostProfile]) -> HashMap<(String, String), Vec<usize>> {
    let mut map: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, h) in hosts.iter().enumerate() {
        for p in &h.packages {
            for lookup in &p.lookups {
                let holders = map.entry(lookup.clone()).or_default();
                if holders.last() != Some(&i) {
                    holders.push(i);
                }
            }
        }
    }
    map
}

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// A fixed-seed generator so every run builds the same fleet.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

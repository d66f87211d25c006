//! Seeding the database: console users through the store, then the catalogue, the hosts with their sections,
//! packages and history, the advisories and findings, console activity in the audit log and the daily trend, with
//! multi-row INSERTs on the seeding connection.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use muster_collector::ingest::{section_contents, software_id};
use muster_collector::model::Role;
use muster_collector::rules::Severity;
use muster_collector::store::Store;
use muster_collector::store::users::NewUser;
use muster_shared::v1::{Package, section_hashes};

use crate::advisories::{make_advisories, seed_advisories};
use crate::db::{Batch, Db, V, flush_all, flush_when_full, ot, t};
use crate::findings::seed_findings;
use crate::fleet::{Fleet, HostPlan, Rng, at_level};

/// The user the benchmark signs in as, and the package the software page asks for (on every Debian and Ubuntu
/// host).
pub const ADMIN: &str = "bench-admin";
pub const ADMIN_PASSWORD: &str = "console bench password";
pub const COMMON_PACKAGE: &str = "libc6";

/// Colleagues the users page lists and findings were triaged by.
const PEOPLE: [&str; 20] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia",
    "peggy", "rupert", "sybil", "trent", "victor", "walter", "yvonne",
];

/// What the benchmark opens, and what the database holds.
pub struct Seeded {
    pub detail_host: String,
    pub detail_finding: String,
    pub detail_advisory: String,
    pub summary: Summary,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub hosts: usize,
    pub findings: usize,
    pub active_findings: usize,
    pub software_catalogue: usize,
    pub host_software: usize,
    pub advisories: usize,
    pub kev_advisories: usize,
    pub audit_entries: usize,
    pub detail_host_packages: usize,
    pub detail_host_findings: usize,
    pub detail_advisory_hosts: usize,
    pub common_package_hosts: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} hosts, {} findings ({} active), {} installed packages from a catalogue of {}, {} advisories ({} \
             KEV), {} audit entries; the host page's host has {} packages and {} findings, the advisory page's \
             advisory {} hosts, {COMMON_PACKAGE} is on {} hosts",
            self.hosts,
            self.findings,
            self.active_findings,
            self.host_software,
            self.software_catalogue,
            self.advisories,
            self.kev_advisories,
            self.audit_entries,
            self.detail_host_packages,
            self.detail_host_findings,
            self.detail_advisory_hosts,
            self.common_package_hosts
        )
    }
}

pub async fn seed(
    db: &mut Db,
    store: &dyn Store,
    fleet: &Fleet,
    hosts: usize,
    findings: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<Seeded> {
    let mut rng = Rng(0x5eed);
    let mut summary = Summary::default();
    seed_users(store, &mut rng, now).await?;

    db.exec("BEGIN").await?;
    summary.software_catalogue = seed_catalogue(db, fleet).await?;
    let started = Instant::now();
    let mut counters = HashMap::new();
    let plans: Vec<HostPlan> = (0..hosts).map(|i| HostPlan::new(i, fleet, &mut counters, now)).collect();
    seed_hosts(db, fleet, &plans, &mut summary).await?;
    eprintln!("hosts, sections and packages: {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let advisories = make_advisories(fleet, &mut rng);
    seed_advisories(db, fleet, &advisories, &mut rng, now).await?;
    summary.advisories = advisories.len();
    summary.kev_advisories = advisories.iter().filter(|a| a.kev).count();
    let stats = seed_findings(db, fleet, &plans, &advisories, findings, &PEOPLE, &mut rng, now).await?;
    summary.findings = stats.findings;
    summary.active_findings = stats.active;
    summary.detail_host_findings = stats.detail_host_findings;
    summary.detail_advisory_hosts = stats.detail_advisory_hosts;
    summary.audit_entries = stats.audit_entries + seed_console_audit(db, &mut rng, now).await?;
    seed_trend(db, &stats.active_by_severity, &mut rng, now).await?;
    db.exec("COMMIT").await?;
    eprintln!("advisories, findings, history and audit log: {:.1} s", started.elapsed().as_secs_f64());
    Ok(Seeded {
        detail_host: plans[0].id.clone(),
        detail_finding: stats.detail_finding,
        detail_advisory: stats.detail_advisory,
        summary,
    })
}

/// The admin who signs in, and colleagues for the users page (all with the one hash: only the admin signs in).
async fn seed_users(store: &dyn Store, rng: &mut Rng, now: DateTime<Utc>) -> anyhow::Result<()> {
    let hash = muster_collector::app::users::hash_password(ADMIN_PASSWORD)?;
    for (i, name) in std::iter::once(ADMIN).chain(PEOPLE).enumerate() {
        let role = match i {
            0 | 1 => Role::Admin,
            _ if i % 3 == 0 => Role::Viewer,
            _ => Role::Analyst,
        };
        let user = NewUser {
            id: rng.id(),
            name: name.to_owned(),
            role,
            password_hash: hash.clone(),
            must_change_password: false,
            created_at: now - Duration::days(200 - i as i64),
        };
        store.create_user(&user).await?;
    }
    Ok(())
}

/// Every package of every image at each patch level, keyed as ingest keys them; returns how many.
async fn seed_catalogue(db: &mut Db, fleet: &Fleet) -> anyhow::Result<usize> {
    let mut catalogue: BTreeMap<String, Package> = BTreeMap::new();
    for p in fleet.images.iter().flat_map(|im| &im.packages) {
        for level in 0..3 {
            let p = at_level(p, level);
            catalogue.entry(software_id(&p)).or_insert(p);
        }
    }
    let mut software =
        Batch::new("software", &["id", "kind", "name", "version", "arch", "source_name", "source_version"]);
    for (id, p) in &catalogue {
        let row = vec![
            t(id),
            t(p.kind.as_str()),
            t(&p.name),
            t(&p.version),
            ot(p.arch.clone()),
            ot(p.source_name.clone()),
            ot(p.source_version.clone()),
        ];
        software.add(row);
        flush_when_full(db, &mut [&mut software]).await?;
    }
    flush_all(db, &mut [&mut software]).await?;
    Ok(catalogue.len())
}

const HOST_COLUMNS: &[&str] = &[
    "id",
    "hostname",
    "machine_id",
    "system_uuid",
    "system_serial",
    "os_id",
    "os_version_id",
    "os_pretty_name",
    "kernel_release",
    "architecture",
    "agent_version",
    "tags",
    "duplicate_identity",
    "first_seen",
    "last_seen",
    "last_report_at",
];

/// Each host as its last report left it: the host row, the sections as ingest stores them, its packages, a few
/// upgrades in its history (300 for host 0) and its last vulnerability match.
async fn seed_hosts(db: &mut Db, fleet: &Fleet, plans: &[HostPlan], summary: &mut Summary) -> anyhow::Result<()> {
    let mut hosts = Batch::new("hosts", HOST_COLUMNS);
    let mut sections = Batch::new("host_sections", &["host_id", "section", "hash", "content", "updated_at"]);
    let mut installed = Batch::new("host_software", &["host_id", "software_id", "installed_at", "size_bytes"]);
    let mut history =
        Batch::new("history", &["host_id", "at", "report_id", "kind", "subject", "from_value", "to_value", "details"]);
    let mut vuln_state =
        Batch::new("host_vuln_state", &["host_id", "matched_at", "packages_checked", "ecosystems", "warnings"]);
    // Ids are random: inserting in id order keeps the primary-key B-trees appending.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by(|a, b| plans[*a].id.cmp(&plans[*b].id));
    for (n, &i) in order.iter().enumerate() {
        let plan = &plans[i];
        let im = &fleet.images[plan.image];
        let report = plan.report(fleet);
        let os = report.os.clone().unwrap_or_default();
        let system = report.hardware.as_ref().and_then(|h| h.system.clone()).unwrap_or_default();
        let last_seen = plan.last_seen.timestamp_millis();
        let row = vec![
            t(&plan.id),
            t(&plan.hostname),
            ot(report.host.as_ref().and_then(|h| h.machine_id.clone())),
            ot(system.uuid),
            ot(system.serial),
            ot(os.id),
            ot(os.version_id),
            ot(os.pretty_name),
            ot(os.kernel_release),
            ot(os.architecture),
            t(&report.agent.version),
            t(serde_json::to_string(&[plan.env, plan.role, plan.site])?),
            V::B(i % 997 == 5),
            V::I(plan.first_seen.timestamp_millis()),
            V::I(last_seen),
            V::OI(Some(last_seen)),
        ];
        hosts.add(row);
        let hashes = section_hashes(&report);
        let software = report.software.as_ref().map(muster_collector::model::StoredSoftware::of);
        for (section, content) in section_contents(&report, software.as_ref())? {
            let hash = hashes.get(&section).cloned().unwrap_or_default();
            sections.add(vec![t(&plan.id), t(section.as_str()), t(hash), t(content), V::I(last_seen)]);
        }
        let packages = report.software.as_ref().map(|s| s.packages.as_slice()).unwrap_or_default();
        let mut ids = HashSet::new();
        for p in packages {
            let id = software_id(p);
            if ids.insert(id.clone()) {
                let size = p.size_bytes.and_then(|s| i64::try_from(s).ok());
                let row = vec![t(&plan.id), t(id), V::OI(p.installed_at.map(|t| t.timestamp_millis())), V::OI(size)];
                installed.add(row);
            }
        }
        summary.host_software += ids.len();
        if i == 0 {
            summary.detail_host_packages = ids.len();
        }
        if packages.iter().any(|p| p.name == COMMON_PACKAGE) {
            summary.common_package_hosts += 1;
        }
        let mut rng = Rng(0x4157 ^ i as u64);
        let events = if packages.is_empty() {
            0
        } else if i == 0 {
            300
        } else {
            3
        };
        for e in 0..events {
            let p = rng.pick(packages);
            let at = plan.last_seen - rng.days(0, 300);
            let row = vec![
                t(&plan.id),
                V::I(at.timestamp_millis()),
                t(format!("r{e}")),
                t("package_upgraded"),
                t(format!("{}:{}", p.name, p.arch.as_deref().unwrap_or_default())),
                ot(Some(format!("{}~old", p.version))),
                ot(Some(&p.version)),
                t("{}"),
            ];
            history.add(row);
        }
        let ecosystems = serde_json::to_string(&[im.ecosystem])?;
        let row = vec![t(&plan.id), V::I(last_seen), V::I(packages.len() as i64), t(ecosystems), t("[]")];
        vuln_state.add(row);
        flush_when_full(db, &mut [&mut hosts, &mut sections, &mut installed, &mut history, &mut vuln_state]).await?;
        if n % 500 == 499 {
            flush_all(db, &mut [&mut hosts, &mut sections, &mut installed, &mut history, &mut vuln_state]).await?;
            db.commit_and_continue().await?;
        }
    }
    flush_all(db, &mut [&mut hosts, &mut sections, &mut installed, &mut history, &mut vuln_state]).await?;
    summary.hosts = plans.len();
    Ok(())
}

/// Console sign-ins and admin actions over the last four months; returns how many entries.
async fn seed_console_audit(db: &mut Db, rng: &mut Rng, now: DateTime<Utc>) -> anyhow::Result<usize> {
    const ENTRIES: usize = 3000;
    let mut audit = Batch::new("audit_log", &["at", "actor", "action", "target", "source_ip", "details"]);
    for n in 0..ENTRIES {
        let who = *rng.pick(&PEOPLE);
        let at = now - rng.days(0, 120);
        let (action, target) = match n % 10 {
            0 => ("api_token.created", format!("token-{n}")),
            1 => ("console.signed_out", who.to_owned()),
            _ => ("console.signed_in", who.to_owned()),
        };
        let row = vec![
            V::I(at.timestamp_millis()),
            t(format!("user:{who} (analyst)")),
            t(action),
            ot(Some(target)),
            ot(Some("10.20.0.15")),
            t("{}"),
        ];
        audit.add(row);
        flush_when_full(db, &mut [&mut audit]).await?;
    }
    flush_all(db, &mut [&mut audit]).await?;
    Ok(ENTRIES)
}

/// Snapshots of the 30 days before today, drifting towards today's counts.
async fn seed_trend(
    db: &mut Db,
    active: &BTreeMap<Severity, i64>,
    rng: &mut Rng,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut trend = Batch::new("finding_trend", &["day", "severity", "active", "taken_at"]);
    for d in 1..=30 {
        let day = (now - Duration::days(d)).date_naive();
        let taken = day.and_hms_opt(23, 55, 0).map_or(now, |t| t.and_utc());
        for severity in Severity::ALL {
            let current = active.get(&severity).copied().unwrap_or(0) as f64;
            let count = (current * (1.0 + 0.004 * d as f64 + 0.02 * (rng.unit() - 0.5))).round() as i64;
            let row = vec![
                t(day.format("%Y-%m-%d").to_string()),
                t(severity.as_str()),
                V::I(count),
                V::I(taken.timestamp_millis()),
            ];
            trend.add(row);
        }
    }
    flush_all(db, &mut [&mut trend]).await
}

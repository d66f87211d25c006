//! Findings: about ten per host (a third from the built-in policy, the rest vulnerability matches of installed
//! packages), each with the lifecycle history and audit entries the findings store writes, and the current matches
//! the vulnerability pages read.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use muster_collector::findings::evaluate::{EVALUATOR, VULNERABILITY_MATCHER, vulnerability_sla_days};
use muster_collector::findings::{Action, FindingKind, Status};
use muster_collector::rules::Severity;
use muster_collector::vuln::priority::{FIX_POINTS, KEV_POINTS, SEVERITY_POINTS, rule_priority};
use muster_shared::v1::Package;

use crate::advisories::Advisory;
use crate::db::{Batch, Db, V, flush_all, flush_when_full, ot, t};
use crate::fleet::{DROPPED, Fleet, HostPlan, Rng, at_level, source_of};

/// Per image: every (advisory, package index) pair that can match, with cumulative weights for sampling.
struct Candidates {
    pairs: Vec<(usize, usize)>,
    cumulative: Vec<f64>,
}

impl Candidates {
    fn of(fleet: &Fleet, advisories: &[Advisory]) -> Vec<Candidates> {
        fleet
            .images
            .iter()
            .map(|im| {
                let mut by_source: HashMap<&str, Vec<usize>> = HashMap::new();
                for (i, p) in im.packages.iter().enumerate() {
                    by_source.entry(source_of(p)).or_default().push(i);
                }
                let (mut pairs, mut cumulative, mut total) = (Vec::new(), Vec::new(), 0.0);
                for (a, adv) in advisories.iter().enumerate().filter(|(_, a)| a.ecosystem == im.ecosystem) {
                    for &p in by_source.get(adv.package.as_str()).into_iter().flatten() {
                        pairs.push((a, p));
                        total += adv.weight;
                        cumulative.push(total);
                    }
                }
                Candidates { pairs, cumulative }
            })
            .collect()
    }

    fn sample(&self, rng: &mut Rng) -> Option<(usize, usize)> {
        let roll = rng.unit() * self.cumulative.last()?;
        let at = self.cumulative.partition_point(|w| *w <= roll).min(self.pairs.len() - 1);
        Some(self.pairs[at])
    }
}

/// Findings per host: 1 to 19 (host 0: 50), adjusted at random hosts to `total` exactly. The caller checked that
/// `total` is within reach.
fn counts(hosts: usize, total: usize, rng: &mut Rng) -> Vec<usize> {
    let mut counts: Vec<usize> = (0..hosts).map(|_| 1 + rng.below(19) as usize).collect();
    counts[0] = 50;
    let mut sum: usize = counts.iter().sum();
    while sum != total {
        let h = 1 + rng.below(hosts as u64 - 1) as usize;
        if sum < total && counts[h] < 40 {
            counts[h] += 1;
            sum += 1;
        } else if sum > total && counts[h] > 1 {
            counts[h] -= 1;
            sum -= 1;
        }
    }
    counts
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Picked<'a> {
    Rule(&'a str),
    /// (advisory index, package index in the image)
    Vulnerability(usize, usize),
}

/// What `want` findings of one host are about: the rules its state calls for (stale, missing, end of life), a
/// third from the policy, the rest vulnerability matches; small images that run out of matches take more rules.
fn pick<'a>(
    plan: &HostPlan,
    fleet: &'a Fleet,
    advisories: &[Advisory],
    candidates: &Candidates,
    want: usize,
    rng: &mut Rng,
    now: DateTime<Utc>,
) -> Vec<Picked<'a>> {
    const BY_STATE: [&str; 4] = ["host.stale", "host.missing", "os.end_of_life", "os.end_of_life_soon"];
    let mut picked = Vec::new();
    if plan.last_seen < now - Duration::days(30) {
        picked.push(Picked::Rule("host.missing"));
    } else if plan.last_seen < now - Duration::days(7) {
        picked.push(Picked::Rule("host.stale"));
    }
    if fleet.images[plan.image].end_of_life {
        picked.push(Picked::Rule("os.end_of_life"));
    }
    let add_rules = |picked: &mut Vec<Picked<'a>>, until: usize, rng: &mut Rng| {
        for _ in 0..200 {
            if picked.len() >= until {
                break;
            }
            let id = rng.pick(&fleet.rules).id.as_str();
            if !BY_STATE.contains(&id) && !picked.contains(&Picked::Rule(id)) {
                picked.push(Picked::Rule(id));
            }
        }
    };
    add_rules(&mut picked, (want * 35).div_ceil(100), rng);
    // One finding per fix: per (source package, fixed or not), as `findings::vulnerability` keys them.
    let mut fixes = HashSet::new();
    for _ in 0..50 * want {
        if picked.len() >= want {
            break;
        }
        let Some((a, p)) = candidates.sample(rng) else { break };
        let key = (source_of(&fleet.images[plan.image].packages[p]).to_owned(), advisories[a].fixed.is_some());
        if plan.levels[p] != DROPPED && fixes.insert(key) {
            picked.push(Picked::Vulnerability(a, p));
        }
    }
    add_rules(&mut picked, want, rng);
    picked
}

struct NewFinding {
    kind: FindingKind,
    rule_id: String,
    subject: String,
    title: String,
    severity: Severity,
    sla_days: u32,
    remediation: String,
    evidence: Vec<String>,
    /// The worklist number (`vuln::priority`) the findings writer stores.
    priority: u32,
    /// Vulnerability findings: the advisory's index and the installed package.
    matched: Option<(usize, Package)>,
}

/// A finding as the rule evaluation or `findings::evaluate::vulnerability_outcome` words it.
fn describe(what: Picked<'_>, plan: &HostPlan, fleet: &Fleet, advisories: &[Advisory]) -> Option<NewFinding> {
    let im = &fleet.images[plan.image];
    match what {
        Picked::Rule(rule_id) => {
            let rule = fleet.rules.iter().find(|r| r.id == rule_id)?;
            Some(NewFinding {
                kind: FindingKind::Rule,
                rule_id: rule.id.clone(),
                subject: String::new(),
                title: rule.title.clone(),
                severity: rule.severity,
                sla_days: rule.sla_days,
                remediation: rule.remediation.clone(),
                evidence: vec![format!("{rule_id} matched on {}", plan.hostname)],
                priority: rule_priority(rule.severity),
                matched: None,
            })
        }
        Picked::Vulnerability(a, p) => {
            let adv = &advisories[a];
            let pkg = at_level(&im.packages[p], plan.levels[p]);
            let severity = match adv.severity {
                _ if adv.kev => Severity::Critical,
                "critical" => Severity::Critical,
                "high" => Severity::High,
                "low" | "negligible" => Severity::Low,
                _ => Severity::Medium,
            };
            let binary = match &pkg.arch {
                Some(arch) => format!("{}:{arch}", pkg.name),
                None => pkg.name.clone(),
            };
            let mut evidence = vec![match &adv.fixed {
                Some(v) => format!("{binary} {} installed; fixed in {v}", pkg.version),
                None => format!("{binary} {} installed; no fix yet", pkg.version),
            }];
            if source_of(&pkg) != pkg.name {
                let version = pkg.source_version.as_ref().unwrap_or(&pkg.version);
                evidence.push(format!("source package {} {version}", source_of(&pkg)));
            }
            if adv.kev {
                evidence.push("listed in CISA's Known Exploited Vulnerabilities".into());
            }
            // As `vuln::priority::Priority::score` (no CVSS part: the bench's advisories carry none).
            let level = match severity {
                Severity::Critical => 5,
                Severity::High => 4,
                Severity::Medium => 3,
                Severity::Low => 2,
                Severity::Info => 1,
            };
            let fix_rank = if adv.fixed.is_some() { 3 } else { 0 };
            let priority = u32::from(adv.kev) * KEV_POINTS + fix_rank * FIX_POINTS + level * SEVERITY_POINTS;
            Some(NewFinding {
                kind: FindingKind::Vulnerability,
                rule_id: if adv.fixed.is_some() { "vuln.fix" } else { "vuln.no_fix" }.to_owned(),
                title: match &adv.fixed {
                    Some(v) => format!("Upgrade {} ({}) to {v} — fixes {}", source_of(&pkg), pkg.name, adv.id),
                    None => format!("No fix yet for {} ({}): {}", source_of(&pkg), pkg.name, adv.id),
                },
                subject: source_of(&pkg).to_owned(),
                priority,
                severity,
                sla_days: vulnerability_sla_days(severity),
                remediation: remediation(adv, &pkg, im.manager.upgrade()),
                evidence,
                matched: Some((a, pkg)),
            })
        }
    }
}

fn remediation(adv: &Advisory, pkg: &Package, upgrade: &str) -> String {
    match &adv.fixed {
        Some(v) => format!("{upgrade} {}={v}", pkg.name),
        None => "no fixed version yet: mitigate, or remove the package if it is not needed".into(),
    }
}

/// One finding_history row (and its audit entry).
struct Event {
    at: DateTime<Utc>,
    actor: String,
    action: Action,
    from: Option<Status>,
    to: Status,
    comment: Option<&'static str>,
}

/// How a finding got to `status`: opened by the evaluator, then triaged by a person or resolved and recurred.
struct Lifecycle {
    events: Vec<Event>,
    acknowledged: Option<(DateTime<Utc>, String)>,
    risk_accepted: Option<(DateTime<Utc>, String)>,
    resolved: Option<DateTime<Utc>>,
}

const ACK_COMMENT: &str = "tracked in CHG-4711";
const RISK_REASON: &str = "compensating control: host not reachable from outside";

fn lifecycle(
    status: Status,
    first_seen: DateTime<Utc>,
    evaluator: &str,
    person: String,
    rng: &mut Rng,
    now: DateTime<Utc>,
) -> Lifecycle {
    let mut at = first_seen;
    let mut next = |rng: &mut Rng| {
        at = (at + rng.days(0, 10)).min(now - Duration::minutes(5));
        at
    };
    let event = |at, actor: &str, action, from, to, comment| Event {
        at,
        actor: actor.to_owned(),
        action,
        from: Some(from),
        to,
        comment,
    };
    let mut life = Lifecycle {
        events: vec![Event {
            at: first_seen,
            actor: evaluator.to_owned(),
            action: Action::Open,
            from: None,
            to: Status::Open,
            comment: None,
        }],
        acknowledged: None,
        risk_accepted: None,
        resolved: None,
    };
    match status {
        Status::Open => {}
        Status::Acknowledged => {
            let at = next(rng);
            life.events.push(event(at, &person, Action::Acknowledge, Status::Open, status, Some(ACK_COMMENT)));
            life.acknowledged = Some((at, person));
        }
        Status::RiskAccepted => {
            let at = next(rng);
            life.events.push(event(at, &person, Action::AcceptRisk, Status::Open, status, Some(RISK_REASON)));
            life.risk_accepted = Some((at, person));
        }
        Status::Resolved => {
            let at = next(rng);
            life.events.push(event(at, evaluator, Action::Resolve, Status::Open, status, None));
            life.resolved = Some(at);
        }
        Status::Reopened => {
            let ack = next(rng);
            life.events.push(event(
                ack,
                &person,
                Action::Acknowledge,
                Status::Open,
                Status::Acknowledged,
                Some(ACK_COMMENT),
            ));
            let fixed = next(rng);
            life.events.push(event(fixed, evaluator, Action::Resolve, Status::Acknowledged, Status::Resolved, None));
            let back = next(rng);
            life.events.push(event(back, evaluator, Action::Recur, Status::Resolved, Status::Reopened, None));
        }
    }
    life
}

const FINDING_COLUMNS: &[&str] = &[
    "id",
    "host_id",
    "kind",
    "rule_id",
    "subject",
    "title",
    "severity",
    "severity_rank",
    "status",
    "evidence",
    "details",
    "remediation",
    "sla_days",
    "first_seen",
    "due_at",
    "created_at",
    "updated_at",
    "acknowledged_by",
    "acknowledged_at",
    "ack_comment",
    "risk_accepted_by",
    "risk_accepted_at",
    "risk_reason",
    "risk_expires_at",
    "resolved_at",
    "resolved_report_id",
    "priority",
];

const MATCH_COLUMNS: &[&str] = &[
    "host_id",
    "advisory_id",
    "ecosystem",
    "kind",
    "package",
    "arch",
    "installed_version",
    "source_name",
    "matched_name",
    "compared_version",
    "fixed_version",
    "kernel",
    "remediation",
    "matched_at",
];

/// What the pages benchmark opens, and what was written.
#[derive(Debug, Default)]
pub struct FindingStats {
    pub findings: usize,
    pub active: usize,
    pub active_by_severity: BTreeMap<Severity, i64>,
    pub audit_entries: usize,
    pub detail_host_findings: usize,
    /// A finding of host 0 with a history of four events.
    pub detail_finding: String,
    /// The advisory on the most hosts.
    pub detail_advisory: String,
    pub detail_advisory_hosts: usize,
}

/// `total` findings over `plans`, with their history, audit entries and current vulnerability matches.
#[allow(clippy::too_many_arguments)]
pub async fn seed_findings(
    db: &mut Db,
    fleet: &Fleet,
    plans: &[HostPlan],
    advisories: &[Advisory],
    total: usize,
    people: &[&str],
    rng: &mut Rng,
    now: DateTime<Utc>,
) -> anyhow::Result<FindingStats> {
    let candidates = Candidates::of(fleet, advisories);
    let counts = counts(plans.len(), total, rng);
    let mut findings = Batch::new("findings", FINDING_COLUMNS);
    let mut history = Batch::new(
        "finding_history",
        &[
            "finding_id",
            "at",
            "actor",
            "action",
            "from_status",
            "to_status",
            "source_ip",
            "report_id",
            "comment",
            "details",
        ],
    );
    let mut audit = Batch::new("audit_log", &["at", "actor", "action", "target", "source_ip", "details"]);
    let mut matches = Batch::new("host_vulnerabilities", MATCH_COLUMNS);
    let mut stats = FindingStats::default();
    let mut advisory_hosts: HashMap<usize, HashSet<usize>> = HashMap::new();
    // What each host should have had so far: a host that got more (its state added rules) or fewer (its image ran
    // out of matches) than its share evens out on the next.
    let mut due = 0;
    for (i, plan) in plans.iter().enumerate() {
        let im = &fleet.images[plan.image];
        due += counts[i];
        let want = due.saturating_sub(stats.findings);
        let picked = pick(plan, fleet, advisories, &candidates[plan.image], want, rng, now);
        if i == 0 {
            stats.detail_host_findings = picked.len();
        }
        for (n, what) in picked.iter().enumerate() {
            let Some(f) = describe(*what, plan, fleet, advisories) else { continue };
            let detail = i == 0 && n + 1 == picked.len();
            let status = match rng.below(1000) {
                _ if detail => Status::Reopened,
                0..450 => Status::Open,
                450..550 => Status::Acknowledged,
                550..600 => Status::RiskAccepted,
                600..950 => Status::Resolved,
                _ => Status::Reopened,
            };
            let id = rng.id();
            if detail {
                stats.detail_finding = id.clone();
            }
            let age = match rng.below(10) {
                0..6 => rng.days(0, 30),
                6..9 => rng.days(30, 120),
                _ => rng.days(120, 365),
            };
            let first_seen = (plan.last_seen - age).max(plan.first_seen);
            let evaluator = if f.kind == FindingKind::Rule { EVALUATOR } else { VULNERABILITY_MATCHER };
            let person = format!("user:{} (analyst)", rng.pick(people));
            let life = lifecycle(status, first_seen, evaluator, person, rng, now);
            if status.is_active() {
                *stats.active_by_severity.entry(f.severity).or_default() += 1;
                stats.active += 1;
            }
            let ms = |t: DateTime<Utc>| t.timestamp_millis();
            let who = |x: &Option<(DateTime<Utc>, String)>| ot(x.as_ref().map(|(_, p)| p.clone()));
            let when = |x: &Option<(DateTime<Utc>, String)>| V::OI(x.as_ref().map(|(at, _)| ms(*at)));
            let risk_expires = life
                .risk_accepted
                .as_ref()
                .map(|(at, _)| ms(*at + Duration::days(90)).max(ms(now + Duration::days(10))));
            let row = vec![
                t(&id),
                t(&plan.id),
                t(f.kind.as_str()),
                t(&f.rule_id),
                t(&f.subject),
                t(&f.title),
                t(f.severity.as_str()),
                V::I(i64::from(f.severity.rank())),
                t(status.as_str()),
                t(serde_json::to_string(&f.evidence)?),
                t("{}"),
                t(&f.remediation),
                V::I(i64::from(f.sla_days)),
                V::I(ms(first_seen)),
                V::I(ms(first_seen + Duration::days(i64::from(f.sla_days)))),
                V::I(ms(first_seen)),
                V::I(ms(life.events.last().map_or(first_seen, |e| e.at))),
                who(&life.acknowledged),
                when(&life.acknowledged),
                ot(life.acknowledged.as_ref().map(|_| ACK_COMMENT)),
                who(&life.risk_accepted),
                when(&life.risk_accepted),
                ot(life.risk_accepted.as_ref().map(|_| RISK_REASON)),
                V::OI(risk_expires),
                V::OI(life.resolved.map(ms)),
                ot(life.resolved.map(|_| rng.id())),
                V::I(i64::from(f.priority)),
            ];
            findings.add(row);
            for e in life.events {
                let person = e.actor != EVALUATOR && e.actor != VULNERABILITY_MATCHER;
                let ip = person.then_some("10.20.0.15");
                let row = vec![
                    t(&id),
                    V::I(ms(e.at)),
                    t(&e.actor),
                    t(e.action.as_str()),
                    ot(e.from.map(Status::as_str)),
                    t(e.to.as_str()),
                    ot(ip),
                    V::OT(None),
                    ot(e.comment),
                    t("{}"),
                ];
                history.add(row);
                // As `store/findings.rs` records every step.
                let details = serde_json::json!({
                    "host_id": plan.id, "rule_id": f.rule_id, "from": e.from.map(Status::as_str),
                    "to": e.to.as_str(), "report_id": null, "comment": e.comment, "details": {},
                });
                let action = format!("finding.{}", e.action.as_str());
                let row = vec![V::I(ms(e.at)), t(e.actor), t(action), ot(Some(&id)), ot(ip), t(details.to_string())];
                audit.add(row);
                stats.audit_entries += 1;
            }
            if let Some((a, pkg)) = &f.matched
                && status != Status::Resolved
            {
                advisory_hosts.entry(*a).or_default().insert(i);
                let source = source_of(pkg);
                let row = vec![
                    t(&plan.id),
                    t(&advisories[*a].id),
                    t(im.ecosystem),
                    t(pkg.kind.as_str()),
                    t(&pkg.name),
                    ot(pkg.arch.clone()),
                    t(&pkg.version),
                    t(source),
                    t(source),
                    t(pkg.source_version.as_ref().unwrap_or(&pkg.version)),
                    ot(advisories[*a].fixed.clone()),
                    V::OT(None),
                    ot(Some(f.remediation.clone())),
                    V::I(ms(plan.last_seen)),
                ];
                matches.add(row);
            }
            stats.findings += 1;
        }
        flush_when_full(db, &mut [&mut findings, &mut history, &mut audit, &mut matches]).await?;
        if i % 500 == 499 {
            flush_all(db, &mut [&mut findings, &mut history, &mut audit, &mut matches]).await?;
            db.commit_and_continue().await?;
        }
    }
    flush_all(db, &mut [&mut findings, &mut history, &mut audit, &mut matches]).await?;
    if stats.findings != total {
        eprintln!("warning: {} findings instead of {total}", stats.findings);
    }
    if let Some((a, hosts)) = advisory_hosts.iter().max_by_key(|(a, h)| (h.len(), std::cmp::Reverse(**a))) {
        stats.detail_advisory = advisories[*a].id.clone();
        stats.detail_advisory_hosts = hosts.len();
    }
    Ok(stats)
}

//! What a rule sees of one host: [`HostFacts`] (taken from the store or built from a report) turned into the CEL
//! variables documented in `policy/README.md`.
//!
//! Absent data never becomes CEL `null`: every field is present with an empty value and a `known` flag where the
//! difference matters, so rules compare without guarding against nulls.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, Value};
use chrono::{DateTime, Utc};
use muster_shared::v1::{CheckStatus, Report};

use super::Policy;
use super::eol::EolWhen;
pub use crate::model::facts::{HostFacts, PendingSecurityUpdate};

/// Chassis types (SMBIOS names as the agent reports them) counted as laptops.
pub const LAPTOP_CHASSIS: [&str; 6] = ["Notebook", "Laptop", "Portable", "Sub Notebook", "Convertible", "Detachable"];

impl HostFacts {
    /// Facts from a full report, as if every pending security update was first seen at `first_seen`.
    pub fn from_report(
        host_id: &str,
        report: &Report,
        first_seen: DateTime<Utc>,
        last_seen: DateTime<Utc>,
    ) -> HostFacts {
        let security_pending = report
            .patches
            .as_ref()
            .and_then(|p| p.pending.as_ref())
            .map(|pending| {
                pending
                    .iter()
                    .filter(|u| u.security)
                    .map(|u| PendingSecurityUpdate {
                        name: u.name.clone(),
                        arch: u.arch.clone().unwrap_or_default(),
                        installed_version: u.installed_version.clone(),
                        candidate_version: u.candidate_version.clone(),
                        origin: u.origin.clone().unwrap_or_default(),
                        first_seen,
                    })
                    .collect()
            })
            .unwrap_or_default();
        HostFacts {
            host_id: host_id.to_owned(),
            hostname: report.host.as_ref().and_then(|h| h.hostname.clone()).unwrap_or_default(),
            tags: Vec::new(),
            duplicate_identity: false,
            first_seen,
            last_seen,
            marks: 0,
            evaluate_after: None,
            agent_version: Some(report.agent.version.clone()),
            host: report.host.clone(),
            hardware: report.hardware.clone(),
            os: report.os.clone(),
            patches: report.patches.clone(),
            checks: report.checks.clone().unwrap_or_default(),
            package_count: report.software.as_ref().map_or(0, |s| s.packages.len() as i64),
            listeners: report.software.as_ref().map(|s| s.listeners.clone()).unwrap_or_default(),
            container_images: report
                .software
                .iter()
                .flat_map(|s| &s.container_images)
                .map(crate::model::StoredImage::of)
                .collect(),
            containers: report.software.as_ref().map(|s| s.containers.clone()).unwrap_or_default(),
            security_pending,
            // A bare report knows no findings: every pending security update counts.
            fix_packages: Default::default(),
        }
    }

    pub fn chassis_type(&self) -> Option<&str> {
        self.hardware.as_ref()?.chassis.as_ref()?.chassis_type.as_deref()
    }
}

fn s(text: &str) -> Value {
    Value::String(Arc::new(text.to_owned()))
}

fn opt(text: Option<&String>) -> Value {
    s(text.map_or("", String::as_str))
}

fn list(items: impl IntoIterator<Item = Value>) -> Value {
    Value::List(Arc::new(items.into_iter().collect()))
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    let map: HashMap<Key, Value> = entries.into_iter().map(|(k, v)| (Key::String(Arc::new(k.to_owned())), v)).collect();
    Value::Map(Map { map: Arc::new(map) })
}

fn ts(t: DateTime<Utc>) -> Value {
    Value::Timestamp(t.fixed_offset())
}

/// Whole days from `from` to `to`, negative when `to` is earlier.
fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days()
}

fn status_name(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "fail",
        CheckStatus::NotApplicable => "not_applicable",
        CheckStatus::Unknown => "unknown",
    }
}

/// The CEL context for one host: `now`, `params`, `host`, `last_seen_days`, `os`, `checks`, `patches`,
/// `software`, `eol`.
pub fn context<'p, 'v>(facts: &HostFacts, policy: &Policy, env: Arc<cel::Env>, now: DateTime<Utc>) -> Context<'p, 'v> {
    let mut ctx = Context::with_env(env);
    for (name, value) in variables(facts, policy, now) {
        ctx.add_variable_from_value(name, value);
    }
    ctx
}

/// The variables a rule may name, and for each whose fields are fixed (all but `checks`, keyed by check id) the
/// field names: what `rules validate` checks expressions against.
pub fn known_names(policy: &Policy) -> BTreeMap<&'static str, Option<BTreeSet<String>>> {
    variables(&HostFacts::default(), policy, DateTime::UNIX_EPOCH)
        .into_iter()
        .map(|(name, value)| {
            let fields = match &value {
                Value::Map(m) if name != "checks" => Some(
                    m.map
                        .keys()
                        .filter_map(|k| match k {
                            Key::String(s) => Some(s.to_string()),
                            _ => None,
                        })
                        .collect(),
                ),
                _ => None,
            };
            (name, fields)
        })
        .collect()
}

/// Every variable of the context, as `policy/README.md` documents them. Absent data is an empty value, never missing.
fn variables(facts: &HostFacts, policy: &Policy, now: DateTime<Utc>) -> Vec<(&'static str, Value)> {
    let mut vars: Vec<(&'static str, Value)> = Vec::new();
    vars.push(("now", ts(now)));
    let params: HashMap<Key, Value> =
        policy.params.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), Value::Int(*v))).collect();
    vars.push(("params", Value::Map(Map { map: Arc::new(params) })));

    let chassis = facts.chassis_type().unwrap_or("");
    let virtual_guest = facts
        .host
        .as_ref()
        .and_then(|h| h.virtualization.as_ref())
        .is_some_and(|v| !matches!(v.role, muster_shared::v1::VirtualizationRole::None));
    vars.push((
        "host",
        map([
            ("id", s(&facts.host_id)),
            ("hostname", s(&facts.hostname)),
            ("tags", list(facts.tags.iter().map(|t| s(t)))),
            ("duplicate_identity", Value::Bool(facts.duplicate_identity)),
            ("first_seen", ts(facts.first_seen)),
            ("last_seen", ts(facts.last_seen)),
            ("agent_version", opt(facts.agent_version.as_ref())),
            ("chassis_type", s(chassis)),
            ("laptop", Value::Bool(LAPTOP_CHASSIS.contains(&chassis))),
            ("virtual", Value::Bool(virtual_guest)),
            ("accounts", accounts(facts, now)),
            ("directory", directory(facts)),
        ]),
    ));
    vars.push(("last_seen_days", Value::Int(days(facts.last_seen, now))));

    let os = facts.os.as_ref();
    vars.push((
        "os",
        map([
            ("known", Value::Bool(os.is_some())),
            ("id", opt(os.and_then(|o| o.id.as_ref()))),
            ("version_id", opt(os.and_then(|o| o.version_id.as_ref()))),
            ("codename", opt(os.and_then(|o| o.version_codename.as_ref()))),
            ("pretty_name", opt(os.and_then(|o| o.pretty_name.as_ref()))),
            ("kernel_release", opt(os.and_then(|o| o.kernel_release.as_ref()))),
            ("architecture", opt(os.and_then(|o| o.architecture.as_ref()))),
        ]),
    ));

    let checks: HashMap<Key, Value> = facts
        .checks
        .iter()
        .map(|c| {
            let value = map([
                ("status", s(status_name(c.status))),
                ("reason", opt(c.reason.as_ref())),
                ("evidence", list(c.evidence.iter().map(|e| s(e)))),
                ("remediation", opt(c.remediation.as_ref())),
            ]);
            (Key::String(Arc::new(c.id.clone())), value)
        })
        .collect();
    vars.push(("checks", Value::Map(Map { map: Arc::new(checks) })));

    vars.push(("patches", patches(facts, now)));
    vars.push((
        "software",
        map([
            ("package_count", Value::Int(facts.package_count)),
            ("listeners", listeners(&facts.listeners)),
            ("container_images", container_images(facts, policy, now)),
            ("containers", containers(&facts.containers)),
        ]),
    ));
    vars.push(("eol", eol(facts.os.as_ref(), policy, now)));
    vars
}

/// Where the machine is joined: `managed` when a domain or an Entra ID tenant manages it.
fn directory(facts: &HostFacts) -> Value {
    let d = facts.host.as_ref().and_then(|h| h.directory.as_ref());
    let tenants = d.map(|d| d.entra_tenants.as_slice()).unwrap_or_default();
    map([
        ("known", Value::Bool(d.is_some())),
        ("domain", opt(d.and_then(|d| d.domain.as_ref()))),
        ("workgroup", opt(d.and_then(|d| d.workgroup.as_ref()))),
        ("entra_tenants", list(tenants.iter().map(|t| s(&t.id)))),
        ("managed", Value::Bool(d.is_some_and(|d| d.domain.is_some() || !d.entra_tenants.is_empty()))),
    ])
}

/// The local accounts (`host.accounts` of the report); a last login nobody recorded is `last_login_days: -1`.
fn accounts(facts: &HostFacts, now: DateTime<Utc>) -> Value {
    let accounts = facts.host.as_ref().map(|h| h.accounts.as_slice()).unwrap_or_default();
    list(accounts.iter().map(|a| {
        let login = a.last_login.as_ref();
        map([
            ("name", s(&a.name)),
            ("uid", Value::Int(i64::from(a.uid))),
            ("shell", opt(a.shell.as_ref())),
            ("interactive", Value::Bool(a.interactive)),
            ("groups", list(a.groups.iter().map(|g| s(g)))),
            ("admin", Value::Bool(a.admin)),
            ("admin_evidence", list(a.admin_evidence.iter().map(|e| s(e)))),
            ("last_login_known", Value::Bool(login.is_some())),
            ("last_login", s(&login.map(|l| l.at.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default())),
            ("last_login_days", Value::Int(login.map_or(-1, |l| days(l.at, now)))),
            ("last_login_from", opt(login.and_then(|l| l.from.as_ref()))),
        ])
    }))
}

/// The listening sockets; `owner` is the OS package shipping the program, empty when none does (or when the
/// program could not be found: `executable` is then empty too).
fn listeners(all: &[muster_shared::v1::Listener]) -> Value {
    list(all.iter().map(|l| {
        map([
            ("protocol", s(l.protocol.as_str())),
            ("address", s(&l.address)),
            ("port", Value::Int(i64::from(l.port))),
            ("process", opt(l.process.as_ref())),
            ("executable", opt(l.executable.as_ref())),
            ("owner", opt(l.owner.as_ref())),
        ])
    }))
}

fn patches(facts: &HostFacts, now: DateTime<Utc>) -> Value {
    let p = facts.patches.as_ref();
    let count = |v: Option<u32>| Value::Int(v.map_or(-1, i64::from));
    // In (name, arch) order whatever order they were read in (a PostgreSQL collation's or the report's), so the
    // evidence of one list is one text and an evaluation that changes nothing writes nothing.
    let mut sorted: Vec<&PendingSecurityUpdate> = facts.security_pending.iter().collect();
    sorted.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    let pending = sorted.into_iter().map(|u| {
        map([
            ("name", s(&u.name)),
            ("arch", s(&u.arch)),
            ("installed", s(&u.installed_version)),
            ("candidate", s(&u.candidate_version)),
            ("origin", s(&u.origin)),
            ("first_seen", ts(u.first_seen)),
            ("days", Value::Int(days(u.first_seen, now))),
            ("covered", Value::Bool(facts.fix_packages.contains(&u.name))),
        ])
    });
    // Each update once, however many products it was installed for: rules ask whether an article is installed.
    let installed: std::collections::BTreeSet<&str> =
        p.iter().flat_map(|p| &p.installed_updates).map(|u| u.id.as_str()).collect();
    map([
        ("known", Value::Bool(p.is_some())),
        ("manager", opt(p.and_then(|p| p.manager.as_ref()))),
        ("pending_count", count(p.and_then(|p| p.pending_count))),
        ("security_count", count(p.and_then(|p| p.security_count))),
        ("security_pending", list(pending)),
        ("lists_age_days", Value::Int(p.and_then(|p| p.lists_updated_at).map_or(-1, |at| days(at, now)))),
        ("last_update_days", Value::Int(p.and_then(|p| p.last_update_installed_at).map_or(-1, |at| days(at, now)))),
        ("installed_updates", list(installed.into_iter().map(s))),
        ("reboot_required", Value::Bool(p.and_then(|p| p.reboot_required.as_ref()).is_some_and(|r| r.required))),
        ("automatic_updates", Value::Bool(p.and_then(|p| p.automatic_updates.as_ref()).is_some_and(|a| a.enabled))),
    ])
}

/// The container images: `name` is the first tag (the short id when untagged), `eol` the image OS's end of life as
/// the host's `eol`, `containers` the names of the containers made from it and `running` whether one of them runs.
fn container_images(facts: &HostFacts, policy: &Policy, now: DateTime<Utc>) -> Value {
    list(facts.container_images.iter().map(|stored| {
        let i = &stored.image;
        let users = facts.containers.iter().filter(|c| c.image_id == i.id && c.engine == i.engine);
        map([
            ("engine", s(i.engine.as_str())),
            ("id", s(&i.id)),
            ("name", s(&muster_shared::v1::image_name(&i.id, &i.tags))),
            ("tags", list(i.tags.iter().map(|t| s(t)))),
            ("os_id", opt(i.os.as_ref().and_then(|o| o.id.as_ref()))),
            ("os_version", opt(i.os.as_ref().and_then(|o| o.version_id.as_ref()))),
            ("os_name", opt(i.os.as_ref().and_then(|o| o.pretty_name.as_ref().or(o.name.as_ref())))),
            ("package_count", Value::Int(stored.package_count as i64)),
            ("containers", list(users.clone().map(|c| s(&c.name)))),
            ("running", Value::Bool(users.clone().any(|c| c.state.as_deref() == Some("running")))),
            ("eol", eol(i.os.as_ref(), policy, now)),
        ])
    }))
}

/// The containers; `state` is empty where the engine keeps it elsewhere (Podman).
fn containers(all: &[muster_shared::v1::Container]) -> Value {
    list(all.iter().map(|c| {
        map([
            ("engine", s(c.engine.as_str())),
            ("name", s(&c.name)),
            ("image", opt(c.image.as_ref())),
            ("image_id", s(&c.image_id)),
            ("state", opt(c.state.as_ref())),
        ])
    }))
}

fn eol(os: Option<&muster_shared::v1::Os>, policy: &Policy, now: DateTime<Utc>) -> Value {
    let mapped = os.and_then(|o| o.id.as_ref()).and_then(|id| policy.eol_products.get(id));
    // The product the release was found in: Windows servers are endoflife.date's `windows-server`.
    let (product, release) = match (mapped, os) {
        (Some(mapped), Some(os)) => match policy.eol.release_of(mapped, os) {
            Some((product, release)) => (Some(product), Some(release)),
            None => (Some(mapped.as_str()), None),
        },
        _ => (None, None),
    };
    let today = now.date_naive();
    let (has_date, date, days_left, ended) = match release.and_then(|r| r.eol.as_ref()) {
        Some(EolWhen::Date(d)) => (true, d.format("%Y-%m-%d").to_string(), (*d - today).num_days(), *d <= today),
        Some(EolWhen::Flag(ended)) => (false, String::new(), 0, *ended),
        None => (false, String::new(), 0, false),
    };
    // Extended support (Debian LTS, Ubuntu ESM…) counts only once regular support has ended.
    let (extended_date, in_extended_support) = match release.and_then(|r| r.extended.as_ref()) {
        Some(EolWhen::Date(d)) => (d.format("%Y-%m-%d").to_string(), ended && *d > today),
        Some(EolWhen::Flag(extended_ended)) => (String::new(), ended && !*extended_ended),
        None => (String::new(), false),
    };
    map([
        ("known", Value::Bool(release.is_some())),
        ("product", s(product.unwrap_or_default())),
        ("cycle", opt(release.map(|r| &r.cycle))),
        ("codename", opt(release.and_then(|r| r.codename.as_ref()))),
        ("has_date", Value::Bool(has_date)),
        ("date", s(&date)),
        ("days_left", Value::Int(days_left)),
        ("ended", Value::Bool(ended)),
        ("in_extended_support", Value::Bool(in_extended_support)),
        ("extended_date", s(&extended_date)),
        ("link", opt(release.and_then(|r| r.link.as_ref()))),
    ])
}

//! The console's reading pages (dashboard, hosts, findings, vulnerabilities, software) and bulk triage.
//!
//! Over 600 lines: every reading page is still here. Splitting it into one module and router per resource
//! (dashboard, hosts, findings, vulnerabilities, software) is the remaining console step of issue 13.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::{Form, Query};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use muster_shared::v1::{Check, CheckStatus, Hardware, Host, Os, Patches};
use serde::{Deserialize, Serialize};

use super::export::{self, Format, MAX_EXPORT_ROWS};
use super::view::{
    Badge, Block, Cell, Column, Field, FieldKind, Filters, Form as FormBlock, Pager, Pair, Row, Stat, Tab, Table, table,
};
use super::{PageError, PageResult, Viewer, chart, encode, link, when, when_opt};
use crate::AppState;
use crate::api::auth::ClientIp;
use crate::error::AppError;
use crate::findings::actions::{self, TransitionRequest};
use crate::findings::{Action, FindingFilter, FindingKind, FindingView, Status};
use crate::model::Role;
use crate::rules::Severity;
use crate::store::advisories::VulnerabilityFilter;
use crate::store::console::{ConsoleHostFilter, HostAges, HostSort, HostStatus};

/// Rows per page of a console list.
pub const PAGE: i64 = 50;
/// Deeper pages than this are refused by clamping: nobody pages a million rows, and it bounds the arithmetic.
pub const MAX_OFFSET: i64 = 1_000_000;
/// The deepest page of the merged "active findings" view (200 pages).
pub const MAX_ACTIVE_OFFSET: i64 = 10_000;
/// Stale and missing as the policy's `host.stale` and `host.missing` rules say, as of `now`.
fn ages(state: &AppState, now: DateTime<Utc>) -> HostAges {
    crate::app::hosts::ages(&state.rules.current(), now)
}

fn bad(message: impl Into<String>) -> PageError {
    PageError(AppError::bad_request("invalid_request", message))
}

fn not_found(what: &str) -> PageError {
    PageError(AppError::NotFound(what.to_owned()))
}

fn opt(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn pager(path: &str, pairs: &[(&str, String)], offset: i64, shown: usize, total: i64) -> Block {
    let at = |o: i64| {
        let mut p: Vec<(&str, String)> = pairs.to_vec();
        if o > 0 {
            p.push(("offset", o.to_string()));
        }
        link(path, &p)
    };
    let first = if shown == 0 { 0 } else { offset + 1 };
    Block::Pager(Pager {
        text: format!("{first}–{} of {total}", offset + shown as i64),
        prev: (offset > 0).then(|| at((offset - PAGE).max(0))),
        next: (offset + (shown as i64) < total).then(|| at(offset + PAGE)),
    })
}

fn exports(path: &str, pairs: &[(&str, String)]) -> Vec<(String, String)> {
    ["csv", "json"]
        .iter()
        .map(|f| {
            let mut p = pairs.to_vec();
            p.push(("format", (*f).to_owned()));
            (f.to_uppercase(), link(path, &p))
        })
        .collect()
}

const SEVERITY_OPTIONS: [(&str, &str); 5] =
    [("critical", "Critical"), ("high", "High"), ("medium", "Medium"), ("low", "Low"), ("info", "Info")];

// ---------------------------------------------------------------------------------------------------------------
// Dashboard

pub async fn dashboard(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let now = (state.clock)();
    let counts = state.store.dashboard(&ages(&state, now)).await?;
    let today = now.date_naive();
    let from = today - Duration::days(29);
    let mut trend = state.store.trend(from, today).await?;
    // Today's point is live, whatever the last snapshot said.
    trend.retain(|p| p.day != today);
    trend.extend(counts.active_by_severity.iter().map(|(severity, active)| crate::store::console::TrendPoint {
        day: today,
        severity: severity.clone(),
        active: *active,
    }));

    let mut blocks =
        vec![Block::Heading { text: "Dashboard".into(), sub: Some(format!("As of {}", when(now))), badge: None }];
    let mut stats: Vec<Stat> = counts
        .active_by_severity
        .iter()
        .map(|(sev, n)| Stat {
            label: format!("{sev} open"),
            value: n.to_string(),
            class: format!("stat-sev-{}", super::view::css_token(sev)),
            href: Some(link("/findings", &[("severity", sev.clone()), ("active", "true".into())])),
        })
        .collect();
    stats.push(Stat {
        label: "overdue".into(),
        value: counts.overdue.to_string(),
        class: "overdue".into(),
        href: Some("/findings?overdue=true".into()),
    });
    blocks.push(Block::Section { title: "Open findings".into(), anchor: "findings".into() });
    blocks.push(Block::Stats(stats));
    blocks.push(Block::Section { title: "Hosts".into(), anchor: "hosts".into() });
    let host_stat = |label: &str, n: i64, href: &str| Stat {
        label: label.to_owned(),
        value: n.to_string(),
        class: format!("hosts-{}", label.replace(' ', "-")),
        href: Some(href.to_owned()),
    };
    blocks.push(Block::Stats(vec![
        host_stat("total", counts.hosts_total, "/hosts"),
        host_stat("reporting", counts.hosts_reporting, "/hosts?status=reporting"),
        host_stat("stale", counts.hosts_stale, "/hosts?status=stale"),
        host_stat("missing", counts.hosts_missing, "/hosts?status=missing"),
        host_stat("in disposal", counts.hosts_in_disposal, "/disposal"),
        host_stat("end of life", counts.hosts_end_of_life, "/findings?rule=os.end_of_life&active=true"),
    ]));
    blocks.push(Block::Chart(chart::trend_chart(&trend, from, today)));

    blocks.push(Block::Section {
        title: format!("Known exploited vulnerabilities present ({})", counts.kev_total),
        anchor: "kev".into(),
    });
    blocks.push(table(
        "kev",
        &["Advisory", "Summary", "Added to KEV", "Hosts"],
        counts
            .kev_present
            .iter()
            .map(|k| {
                vec![
                    Cell::link(&k.advisory_id, format!("/vulnerabilities/{}", encode(&k.advisory_id))),
                    Cell::text(k.summary.clone().unwrap_or_default()),
                    Cell::text(k.kev_added.clone().unwrap_or_default()),
                    Cell::text(k.hosts.to_string()),
                ]
            })
            .collect(),
        "No KEV-listed vulnerability is present on any host.",
    ));
    blocks.push(Block::Section { title: "Most widespread vulnerable packages".into(), anchor: "packages".into() });
    blocks.push(table(
        "top-packages",
        &["Package", "Hosts", "Advisories", "Worst severity"],
        counts
            .top_vulnerable_packages
            .iter()
            .map(|p| {
                vec![
                    Cell::link(
                        &p.package,
                        link("/vulnerabilities", &[("package", p.package.split(':').next().unwrap_or("").to_owned())]),
                    ),
                    Cell::text(p.hosts.to_string()),
                    Cell::text(p.advisories.to_string()),
                    Cell::badge(Badge::severity(&p.worst_severity)),
                ]
            })
            .collect(),
        "No vulnerable package found.",
    ));
    Ok(viewer.page("dashboard", "Dashboard", blocks))
}

// ---------------------------------------------------------------------------------------------------------------
// Hosts

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_long_text_on_a_character_boundary() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(250);
        assert_eq!(clip(&long), format!("{}…", "é".repeat(200)));
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct HostsQuery {
    q: Option<String>,
    os: Option<String>,
    status: Option<String>,
    tag: Option<String>,
    critical: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    offset: Option<i64>,
    format: Option<String>,
}

#[derive(Serialize)]
struct HostExport<'a> {
    id: &'a str,
    hostname: &'a str,
    status: &'static str,
    os: Option<&'a str>,
    kernel: Option<&'a str>,
    serial: Option<&'a str>,
    tags: &'a [String],
    last_seen: DateTime<Utc>,
    critical: i64,
    high: i64,
    medium: i64,
    low: i64,
}

pub async fn hosts(State(state): State<AppState>, viewer: Viewer, Query(q): Query<HostsQuery>) -> PageResult {
    let format = Format::parse(q.format.as_deref())?;
    let status =
        opt(&q.status).map(|s| HostStatus::parse(s).ok_or_else(|| bad(format!("unknown status {s:?}")))).transpose()?;
    let sort = opt(&q.sort)
        .map(|s| HostSort::parse(s).ok_or_else(|| bad(format!("unknown sort {s:?}"))))
        .transpose()?
        .unwrap_or_default();
    let descending = q.dir.as_deref() == Some("desc");
    let has_critical = q.critical.as_deref() == Some("true");
    let offset = q.offset.unwrap_or(0).clamp(0, MAX_OFFSET);
    let now = (state.clock)();
    let (limit, offset) = if format == Format::Html { (PAGE, offset) } else { (MAX_EXPORT_ROWS, 0) };
    let filter = ConsoleHostFilter {
        search: opt(&q.q).map(str::to_owned),
        os: opt(&q.os).map(str::to_owned),
        status,
        tag: opt(&q.tag).map(str::to_owned),
        has_critical,
        sort,
        descending,
        ages: ages(&state, now),
        limit,
        offset,
    };
    let page = state.store.console_hosts(&filter).await?;
    match format {
        Format::Csv => {
            let rows = page.rows.iter().map(|r| {
                vec![
                    r.host.id.clone(),
                    r.host.hostname.clone(),
                    r.status.as_str().to_owned(),
                    r.host.os_pretty_name.clone().unwrap_or_default(),
                    r.host.kernel_release.clone().unwrap_or_default(),
                    r.host.system_serial.clone().unwrap_or_default(),
                    r.host.tags.join(" "),
                    r.host.last_seen.to_rfc3339(),
                    r.critical.to_string(),
                    r.high.to_string(),
                    r.medium.to_string(),
                    r.low.to_string(),
                ]
            });
            let header = [
                "id",
                "hostname",
                "status",
                "os",
                "kernel",
                "serial",
                "tags",
                "last_seen",
                "critical",
                "high",
                "medium",
                "low",
            ];
            return Ok(export::csv("hosts", &header, rows));
        }
        Format::Json => {
            let rows: Vec<HostExport> = page
                .rows
                .iter()
                .map(|r| HostExport {
                    id: &r.host.id,
                    hostname: &r.host.hostname,
                    status: r.status.as_str(),
                    os: r.host.os_pretty_name.as_deref(),
                    kernel: r.host.kernel_release.as_deref(),
                    serial: r.host.system_serial.as_deref(),
                    tags: &r.host.tags,
                    last_seen: r.host.last_seen,
                    critical: r.critical,
                    high: r.high,
                    medium: r.medium,
                    low: r.low,
                })
                .collect();
            return Ok(export::json("hosts", &rows)?);
        }
        Format::Html => {}
    }
    let tags = state.store.host_tags().await?;
    let mut pairs: Vec<(&str, String)> = vec![
        ("q", opt(&q.q).unwrap_or_default().to_owned()),
        ("os", opt(&q.os).unwrap_or_default().to_owned()),
        ("status", status.map(|s| s.as_str().to_owned()).unwrap_or_default()),
        ("tag", opt(&q.tag).unwrap_or_default().to_owned()),
        ("critical", if has_critical { "true".into() } else { String::new() }),
    ];
    let filter_pairs = pairs.clone();
    let sort_link = |by: HostSort| {
        let mut p = filter_pairs.clone();
        p.push(("sort", by.as_str().to_owned()));
        if by == sort && !descending {
            p.push(("dir", "desc".to_owned()));
        }
        link("/hosts", &p)
    };
    let column = |label: &str, by: HostSort| Column {
        label: label.to_owned(),
        sort_href: Some(sort_link(by)),
        sorted: if by == sort { if descending { " ↓" } else { " ↑" } } else { "" },
    };
    pairs.push(("sort", if sort == HostSort::Hostname { String::new() } else { sort.as_str().to_owned() }));
    pairs.push(("dir", if descending { "desc".into() } else { String::new() }));
    let tag_options: Vec<(&str, &str)> = tags.iter().map(|t| (t.as_str(), t.as_str())).collect();
    let table = Table {
        id: "hosts".into(),
        columns: vec![
            column("Host", HostSort::Hostname),
            Column::plain("Status"),
            column("OS", HostSort::Os),
            Column::plain("Serial"),
            Column::plain("Tags"),
            column("Last seen", HostSort::LastSeen),
            column("Critical / high", HostSort::Risk),
        ],
        rows: page
            .rows
            .iter()
            .map(|r| Row {
                select: None,
                cells: vec![
                    Cell::link(clip(&r.host.hostname), format!("/hosts/{}", encode(&r.host.id))),
                    Cell::badge(Badge::status(r.status.as_str())),
                    Cell::text(r.host.os_pretty_name.clone().unwrap_or_default()),
                    Cell::mono(r.host.system_serial.clone().unwrap_or_default()),
                    Cell::text(r.host.tags.join(", ")),
                    Cell::text(when(r.host.last_seen)),
                    Cell {
                        text: format!("{} / {}", r.critical, r.high),
                        class: if r.critical > 0 {
                            "sev sev-critical".into()
                        } else if r.high > 0 {
                            "sev sev-high".into()
                        } else {
                            String::new()
                        },
                        ..Cell::default()
                    },
                ],
            })
            .collect(),
        empty: "No host matches.".into(),
        select_form: None,
    };
    let blocks = vec![
        Block::Heading { text: "Hosts".into(), sub: Some(format!("{} matching", page.total)), badge: None },
        Block::Filters(Filters {
            action: "/hosts".into(),
            fields: vec![
                Field::text("q", "Search", opt(&q.q), "hostname, serial, id"),
                Field::text("os", "OS", opt(&q.os), "debian, Ubuntu 24.04…"),
                Field::select(
                    "status",
                    "Status",
                    "any",
                    &[("reporting", "reporting"), ("stale", "stale"), ("missing", "missing")],
                    status.map(HostStatus::as_str),
                ),
                Field::select("tag", "Tag", "any", &tag_options, opt(&q.tag)),
                Field::checkbox("critical", "has critical", has_critical),
                Field::hidden("sort", if sort == HostSort::Hostname { "" } else { sort.as_str() }),
            ],
            exports: exports("/hosts", &pairs),
        }),
        Block::Table(table),
        pager("/hosts", &pairs, offset, page.rows.len(), page.total),
    ];
    Ok(viewer.page("hosts", "Hosts", blocks))
}

#[derive(Debug, Deserialize, Default)]
pub struct HostQuery {
    /// Software search on the host page.
    software: Option<String>,
    /// `csv` or `json`: the host's (matching) software as a download.
    format: Option<String>,
}

/// The host's packages whose name contains `needle` (case-insensitive).
fn matching_software<'a>(
    software: &'a [crate::views::InstalledPackage],
    needle: Option<&str>,
) -> Vec<&'a crate::views::InstalledPackage> {
    let needle = needle.map(str::to_lowercase);
    software.iter().filter(|p| needle.as_ref().is_none_or(|n| p.name.to_lowercase().contains(n.as_str()))).collect()
}

fn section<T: serde::de::DeserializeOwned>(detail: &crate::views::HostDetail, name: &str) -> Option<T> {
    detail.sections.get(name).and_then(|s| serde_json::from_value(s.content.clone()).ok())
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Agent text in a list cell is cut at 200 characters so one absurd value cannot take over the list; detail pages
/// show it whole.
fn clip(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The present parts, space-separated; "—" when none is.
fn joined(parts: &[&Option<String>]) -> String {
    let text = parts.iter().filter_map(|p| p.as_deref()).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ");
    if text.is_empty() { "—".to_owned() } else { text }
}

fn s(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

pub async fn host(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<HostQuery>,
) -> PageResult {
    let now = (state.clock)();
    let format = Format::parse(q.format.as_deref())?;
    if format != Format::Html {
        let host = state.store.get_host_summary(&id).await?.ok_or_else(|| not_found("host"))?;
        let software = state.store.host_software(&host.id).await?;
        let matching = matching_software(&software, opt(&q.software));
        let name = format!("software-{}", super::view::css_token(&host.hostname));
        return Ok(match format {
            Format::Csv => export::csv(
                &name,
                &["package", "version", "arch", "kind", "source", "source_version"],
                matching.iter().map(|p| {
                    vec![
                        p.name.clone(),
                        p.version.clone(),
                        s(&p.arch),
                        p.kind.clone(),
                        s(&p.source_name),
                        s(&p.source_version),
                    ]
                }),
            ),
            _ => export::json(&name, &matching)?,
        });
    }
    let detail = state.store.get_host(&id).await?.ok_or_else(|| not_found("host"))?;
    let h = &detail.host;
    let hardware: Option<Hardware> = section(&detail, "hardware");
    let os: Option<Os> = section(&detail, "os");
    let patches: Option<Patches> = section(&detail, "patches");
    let checks: Option<Vec<Check>> = section(&detail, "checks");
    let host_section: Option<Host> = section(&detail, "host");
    let status = ages(&state, now).status(h.last_seen);

    let mut blocks = vec![Block::Heading {
        text: h.hostname.clone(),
        sub: Some(format!("{} · last seen {}", s(&h.os_pretty_name), when(h.last_seen))),
        badge: Some(Badge::status(status.as_str())),
    }];
    if h.duplicate_identity {
        blocks.push(Block::Notice {
            kind: "warn",
            text: "Another live agent claims this hardware identity (cloned machine?).".into(),
        });
    }
    blocks.push(Block::Pairs(vec![
        Pair::new("Host id", h.id.clone()),
        Pair::opt("Machine id", h.machine_id.clone()),
        Pair::opt("System serial", h.system_serial.clone()),
        Pair::opt("System UUID", h.system_uuid.clone()),
        Pair::new("Tags", h.tags.join(", ")),
        Pair::opt("Agent", h.agent_version.clone()),
        Pair::new("First seen", when(h.first_seen)),
        Pair {
            label: "Lifecycle".into(),
            value: "disposal status".into(),
            href: Some(format!("/disposal/{}", encode(&h.id))),
        },
        Pair::opt(
            "Virtualization",
            host_section
                .as_ref()
                .and_then(|x| x.virtualization.as_ref())
                .map(|v| format!("{:?} {}", v.role, v.technology.clone().unwrap_or_default()).to_lowercase()),
        ),
    ]));

    // Findings and vulnerabilities first: they are why a security manager opens the page.
    let findings = state
        .store
        .list_findings(&FindingFilter {
            severity: None,
            status: None,
            rule_id: None,
            host_id: Some(h.id.clone()),
            kind: Some(FindingKind::Rule),
            overdue: None,
            now,
            limit: 500,
            offset: 0,
        })
        .await?;
    blocks.push(Block::Section { title: format!("Findings ({})", findings.total), anchor: "findings".into() });
    blocks.push(findings_table(&findings.findings, None, "No finding on this host."));

    let vulns = state.store.host_vulnerabilities(&h.id).await?;
    let vuln_rows: Vec<Vec<Cell>> = vulns
        .as_ref()
        .map(|v| {
            v.vulnerabilities
                .iter()
                .map(|e| {
                    vec![
                        Cell::link(&e.id, format!("/vulnerabilities/{}", encode(&e.id))),
                        Cell::badge(Badge::severity(&e.severity)),
                        Cell::text(if e.kev { "KEV" } else { "" }),
                        Cell::text(&e.package),
                        Cell::mono(&e.installed_version),
                        Cell::mono(e.fixed_version.clone().unwrap_or_else(|| "no fix yet".into())),
                        Cell::text(s(&e.summary)),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    blocks.push(Block::Section {
        title: format!("Vulnerabilities ({})", vuln_rows.len()),
        anchor: "vulnerabilities".into(),
    });
    blocks.push(table(
        "host-vulnerabilities",
        &["Advisory", "Severity", "KEV", "Package", "Installed", "Fixed in", "Summary"],
        vuln_rows,
        "No known vulnerability.",
    ));

    blocks.push(Block::Section { title: "Hardware".into(), anchor: "hardware".into() });
    if let Some(hw) = &hardware {
        let sys = hw.system.clone().unwrap_or_default();
        let board = hw.board.clone().unwrap_or_default();
        let bios = hw.bios.clone().unwrap_or_default();
        blocks.push(Block::Pairs(vec![
            Pair::new("System", joined(&[&sys.vendor, &sys.product, &sys.version])),
            Pair::opt("System serial", sys.serial.clone()),
            Pair::new("Board", joined(&[&board.vendor, &board.product])),
            Pair::opt("Board serial", board.serial.clone()),
            Pair::new("BIOS", joined(&[&bios.vendor, &bios.version, &bios.date])),
            Pair::opt("CPU", hw.cpu.as_ref().and_then(|c| c.model.clone())),
            Pair::opt(
                "Cores / threads",
                hw.cpu.as_ref().map(|c| format!("{} / {}", c.cores.unwrap_or(0), c.threads.unwrap_or(0))),
            ),
            Pair::opt("Memory", hw.memory.as_ref().map(|m| bytes(m.total_bytes))),
        ]));
        blocks.push(table(
            "memory-modules",
            &["Slot", "Size", "Type", "Speed", "Manufacturer", "Serial", "Part number"],
            hw.memory_modules
                .iter()
                .map(|m| {
                    vec![
                        Cell::text(s(&m.slot)),
                        Cell::text(m.size_bytes.map(bytes).unwrap_or_default()),
                        Cell::text(s(&m.memory_type)),
                        Cell::text(m.speed_mts.map(|v| format!("{v} MT/s")).unwrap_or_default()),
                        Cell::text(s(&m.manufacturer)),
                        Cell::mono(s(&m.serial)),
                        Cell::mono(s(&m.part_number)),
                    ]
                })
                .collect(),
            "No memory module reported.",
        ));
        blocks.push(table(
            "disks",
            &["Disk", "Model", "Serial", "Size", "Type", "Transport"],
            hw.disks
                .iter()
                .map(|d| {
                    vec![
                        Cell::mono(&d.name),
                        Cell::text(format!("{} {}", s(&d.vendor), s(&d.model)).trim().to_owned()),
                        Cell::mono(s(&d.serial)),
                        Cell::text(bytes(d.size_bytes)),
                        Cell::text(match d.rotational {
                            Some(true) => "HDD",
                            Some(false) => "SSD",
                            None => "",
                        }),
                        Cell::text(s(&d.transport)),
                    ]
                })
                .collect(),
            "No disk reported.",
        ));
        blocks.push(table(
            "interfaces",
            &["Interface", "MAC", "Addresses", "State"],
            hw.network_interfaces
                .iter()
                .map(|n| {
                    vec![
                        Cell::mono(&n.name),
                        Cell::mono(s(&n.mac)),
                        Cell::mono(n.addresses.join(" ")),
                        Cell::text(if n.up { "up" } else { "down" }),
                    ]
                })
                .collect(),
            "No interface reported.",
        ));
    } else {
        blocks.push(Block::Notice { kind: "info", text: "No hardware section reported.".into() });
    }

    blocks.push(Block::Section { title: "Operating system".into(), anchor: "os".into() });
    if let Some(os) = &os {
        blocks.push(Block::Pairs(vec![
            Pair::opt("Name", os.pretty_name.clone()),
            Pair::opt("Id / version", os.id.as_ref().map(|id| format!("{id} {}", s(&os.version_id)))),
            Pair::opt("Kernel", os.kernel_release.clone()),
            Pair::opt("Architecture", os.architecture.clone()),
        ]));
    }

    blocks.push(Block::Section { title: "Patches".into(), anchor: "patches".into() });
    if let Some(p) = &patches {
        blocks.push(Block::Pairs(vec![
            Pair::opt("Pending updates", p.pending_count.map(|n| n.to_string())),
            Pair::opt("Security updates", p.security_count.map(|n| n.to_string())),
            Pair::opt(
                "Reboot required",
                p.reboot_required
                    .as_ref()
                    .map(|r| if r.required { format!("yes ({})", r.reasons.join(", ")) } else { "no".to_owned() }),
            ),
            Pair::opt(
                "Automatic updates",
                p.automatic_updates
                    .as_ref()
                    .map(|a| if a.enabled { format!("on ({})", s(&a.mechanism)) } else { "off".to_owned() }),
            ),
            Pair::opt("Package lists updated", p.lists_updated_at.map(when)),
        ]));
        let pending = p.pending.clone().unwrap_or_default();
        blocks.push(table(
            "pending-updates",
            &["Package", "Installed", "Candidate", "Security", "Origin"],
            pending
                .iter()
                .take(500)
                .map(|u| {
                    vec![
                        Cell::text(&u.name),
                        Cell::mono(&u.installed_version),
                        Cell::mono(&u.candidate_version),
                        Cell::text(if u.security { "security" } else { "" }),
                        Cell::text(s(&u.origin)),
                    ]
                })
                .collect(),
            "No pending update.",
        ));
    }

    blocks.push(Block::Section { title: "Posture checks".into(), anchor: "checks".into() });
    blocks.push(table(
        "checks",
        &["Check", "Status", "Evidence", "Remediation"],
        checks
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let status = match c.status {
                    CheckStatus::Pass => "pass",
                    CheckStatus::Fail => "fail",
                    CheckStatus::NotApplicable => "not_applicable",
                    CheckStatus::Unknown => "unknown",
                };
                let mut evidence = c.evidence.join("\n");
                if let Some(reason) = &c.reason {
                    evidence = format!("{reason}\n{evidence}");
                }
                vec![
                    Cell::mono(&c.id),
                    Cell::badge(Badge::status(status)),
                    Cell::mono(evidence.trim()),
                    Cell::text(s(&c.remediation)),
                ]
            })
            .collect(),
        "No posture check reported.",
    ));

    let software = state.store.host_software(&h.id).await?;
    let matching = matching_software(&software, opt(&q.software));
    blocks
        .push(Block::Section { title: format!("Software ({} installed)", software.len()), anchor: "software".into() });
    blocks.push(Block::Filters(Filters {
        action: format!("/hosts/{}#software", encode(&h.id)),
        fields: vec![Field::text("software", "Package", opt(&q.software), "name contains…")],
        exports: exports(
            &format!("/hosts/{}", encode(&h.id)),
            &[("software", opt(&q.software).unwrap_or_default().to_owned())],
        ),
    }));
    let shown = matching.len().min(500);
    blocks.push(table(
        "software",
        &["Package", "Version", "Arch", "Kind", "Source"],
        matching
            .iter()
            .take(500)
            .map(|p| {
                vec![
                    Cell::link(&p.name, link("/software", &[("name", p.name.clone())])),
                    Cell::mono(&p.version),
                    Cell::text(s(&p.arch)),
                    Cell::text(&p.kind),
                    Cell::text(s(&p.source_name)),
                ]
            })
            .collect(),
        "No package matches.",
    ));
    if matching.len() > shown {
        blocks.push(Block::Notice {
            kind: "info",
            text: format!("{shown} of {} matching packages shown; narrow the search.", matching.len()),
        });
    }

    let history = state.store.host_history(&h.id, 200, 0).await?;
    blocks.push(Block::Section { title: "History".into(), anchor: "history".into() });
    blocks.push(table(
        "history",
        &["When", "Event", "Subject", "From", "To"],
        history
            .iter()
            .map(|e| {
                vec![
                    Cell::text(when(e.at)),
                    Cell::text(e.kind.as_str().replace('_', " ")),
                    Cell::text(&e.subject),
                    Cell::mono(s(&e.from)),
                    Cell::mono(s(&e.to)),
                ]
            })
            .collect(),
        "No change recorded yet.",
    ));

    let tabs = ["findings", "vulnerabilities", "hardware", "os", "patches", "checks", "software", "history"]
        .iter()
        .map(|a| Tab { label: a.to_owned().replace("os", "OS"), href: format!("#{a}"), current: false })
        .collect();
    Ok(viewer.page_with_tabs("hosts", h.hostname.clone(), tabs, blocks))
}

// ---------------------------------------------------------------------------------------------------------------
// Findings

/// The findings table; with `select_form`, rows carry checkboxes for that bulk form.
fn findings_table(findings: &[FindingView], select_form: Option<&str>, empty: &str) -> Block {
    Block::Table(Table {
        id: "findings".into(),
        columns: ["Severity", "Finding", "Host", "Status", "First seen", "Due"]
            .iter()
            .map(|c| Column::plain(c))
            .collect(),
        rows: findings
            .iter()
            .map(|f| Row {
                select: select_form.map(|_| f.id.clone()),
                cells: vec![
                    Cell::badge(Badge::severity(f.severity.as_str())),
                    Cell::link(
                        clip(&if f.subject.is_empty() {
                            f.title.clone()
                        } else {
                            format!("{} — {}", f.title, f.subject)
                        }),
                        format!("/findings/{}", encode(&f.id)),
                    ),
                    Cell::link(clip(&f.hostname), format!("/hosts/{}", encode(&f.host_id))),
                    Cell::badge(Badge::status(f.status.as_str())),
                    Cell::text(f.first_seen.format("%Y-%m-%d").to_string()),
                    Cell {
                        text: f.due_at.format("%Y-%m-%d").to_string() + if f.overdue { " overdue" } else { "" },
                        class: if f.overdue { "overdue".into() } else { String::new() },
                        ..Cell::default()
                    },
                ],
            })
            .collect(),
        empty: empty.to_owned(),
        select_form: select_form.map(str::to_owned),
    })
}

#[derive(Debug, Deserialize, Default)]
pub struct FindingsQuery {
    severity: Option<String>,
    status: Option<String>,
    /// `true`: open, acknowledged or reopened (what someone still has to act on).
    active: Option<String>,
    rule: Option<String>,
    host: Option<String>,
    kind: Option<String>,
    overdue: Option<String>,
    offset: Option<i64>,
    format: Option<String>,
    /// Outcome of a bulk action, for the notice.
    done: Option<u32>,
    failed: Option<u32>,
}

pub async fn findings(State(state): State<AppState>, viewer: Viewer, Query(q): Query<FindingsQuery>) -> PageResult {
    let format = Format::parse(q.format.as_deref())?;
    let now = (state.clock)();
    let severity = opt(&q.severity)
        .map(|s| Severity::parse(s).ok_or_else(|| bad(format!("unknown severity {s:?}"))))
        .transpose()?;
    let status =
        opt(&q.status).map(|s| Status::parse(s).ok_or_else(|| bad(format!("unknown status {s:?}")))).transpose()?;
    let kind =
        opt(&q.kind).map(|s| FindingKind::parse(s).ok_or_else(|| bad(format!("unknown kind {s:?}")))).transpose()?;
    let overdue = match opt(&q.overdue) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(bad(format!("overdue is true or false, not {other:?}"))),
    };
    let active = q.active.as_deref() == Some("true") && status.is_none();
    // The active view merges three per-status lists of `offset + limit` rows each, so its depth is bounded harder.
    let max_offset = if active { MAX_ACTIVE_OFFSET } else { MAX_OFFSET };
    let offset = q.offset.unwrap_or(0).clamp(0, max_offset);
    let (limit, offset) = if format == Format::Html { (PAGE, offset) } else { (MAX_EXPORT_ROWS, 0) };
    let filter = FindingFilter {
        severity,
        status,
        rule_id: opt(&q.rule).map(str::to_owned),
        host_id: opt(&q.host).map(str::to_owned),
        kind,
        overdue,
        now,
        limit,
        offset,
    };
    let mut page = if active {
        // "Active" spans three statuses; the store filters one, so fetch each and merge in the store's order.
        let mut all = Vec::new();
        let mut total = 0;
        for st in [Status::Open, Status::Acknowledged, Status::Reopened] {
            let p = state
                .store
                .list_findings(&FindingFilter {
                    status: Some(st),
                    limit: offset.saturating_add(limit),
                    offset: 0,
                    ..filter.clone()
                })
                .await?;
            total += p.total;
            all.extend(p.findings);
        }
        all.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.due_at.cmp(&b.due_at)).then(a.id.cmp(&b.id)));
        let findings: Vec<FindingView> = all.into_iter().skip(offset as usize).take(limit as usize).collect();
        crate::findings::FindingPage { findings, total, limit, offset, next_offset: None }
    } else {
        state.store.list_findings(&filter).await?
    };
    match format {
        Format::Csv => return Ok(export::csv_body("findings", crate::export::findings(&page.findings))),
        Format::Json => return Ok(export::json("findings", &page)?),
        Format::Html => {}
    }
    let pairs: Vec<(&str, String)> = vec![
        ("severity", severity.map(|s| s.as_str().to_owned()).unwrap_or_default()),
        ("status", status.map(|s| s.as_str().to_owned()).unwrap_or_default()),
        ("active", if active { "true".into() } else { String::new() }),
        ("rule", opt(&q.rule).unwrap_or_default().to_owned()),
        ("host", opt(&q.host).unwrap_or_default().to_owned()),
        ("kind", kind.map(|k| k.as_str().to_owned()).unwrap_or_default()),
        ("overdue", overdue.map(|o| o.to_string()).unwrap_or_default()),
    ];
    let mut blocks =
        vec![Block::Heading { text: "Findings".into(), sub: Some(format!("{} matching", page.total)), badge: None }];
    if let (Some(done), failed) = (q.done, q.failed.unwrap_or(0)) {
        let kind = if failed > 0 { "warn" } else { "ok" };
        let mut text = format!("{done} finding(s) updated.");
        if failed > 0 {
            text.push_str(&format!(" {failed} could not be changed from their current status."));
        }
        blocks.push(Block::Notice { kind, text });
    }
    let status_options: Vec<(&str, &str)> = Status::ALL.iter().map(|s| (s.as_str(), s.as_str())).collect();
    blocks.push(Block::Filters(Filters {
        action: "/findings".into(),
        fields: vec![
            Field::select("severity", "Severity", "any", &SEVERITY_OPTIONS, severity.map(Severity::as_str)),
            Field::select("status", "Status", "any", &status_options, status.map(Status::as_str)),
            Field::checkbox("active", "active only", active),
            Field::text("rule", "Rule / advisory", opt(&q.rule), "ssh.permit_root_login"),
            Field::text("host", "Host id", opt(&q.host), ""),
            Field::select(
                "kind",
                "Kind",
                "any",
                &[("rule", "rule"), ("vulnerability", "vulnerability")],
                kind.map(FindingKind::as_str),
            ),
            Field::select(
                "overdue",
                "Overdue",
                "any",
                &[("true", "overdue"), ("false", "not overdue")],
                overdue.map(|o| if o { "true" } else { "false" }),
            ),
        ],
        exports: exports("/findings", &pairs),
    }));
    let triage = viewer.can(Role::Analyst);
    if triage {
        blocks.push(Block::Form(bulk_form(&viewer, &link("/findings", &with_offset(&pairs, offset)), now)));
    }
    let shown = page.findings.len();
    blocks.push(findings_table(&std::mem::take(&mut page.findings), triage.then_some("bulk"), "No finding matches."));
    blocks.push(pager("/findings", &pairs, offset, shown, page.total));
    Ok(viewer.page("findings", "Findings", blocks))
}

fn with_offset<'a>(pairs: &[(&'a str, String)], offset: i64) -> Vec<(&'a str, String)> {
    let mut p = pairs.to_vec();
    if offset > 0 {
        p.push(("offset", offset.to_string()));
    }
    p
}

fn bulk_form(viewer: &Viewer, back: &str, now: DateTime<Utc>) -> FormBlock {
    let default_expiry = (now + Duration::days(90)).date_naive().format("%Y-%m-%d").to_string();
    FormBlock {
        id: "bulk".into(),
        action: "/findings/bulk".into(),
        title: "Triage selected findings".into(),
        fields: vec![
            Field::hidden("back", back),
            Field {
                name: "comment".into(),
                label: "Comment / reason".into(),
                kind: FieldKind::Textarea { value: String::new() },
                required: false,
            },
            Field {
                name: "expires".into(),
                label: "Risk accepted until".into(),
                kind: FieldKind::Date { value: default_expiry },
                required: false,
            },
        ],
        buttons: vec![
            ("acknowledge".into(), "Acknowledge".into(), "primary".into()),
            ("accept-risk".into(), "Accept risk".into(), "warn".into()),
            ("reopen".into(), "Reopen".into(), String::new()),
        ],
        csrf: viewer.user.csrf_token.clone(),
        confirm: None,
        inline: false,
    }
}

#[derive(Debug, Deserialize)]
pub struct BulkAction {
    csrf: String,
    op: String,
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    back: String,
}

/// Acknowledge, accept the risk of, or reopen the selected findings, each through the same checked transition as
/// the API; the list shows how many changed.
pub async fn findings_bulk(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Form(form): Form<BulkAction>,
) -> PageResult {
    viewer.check_form(&form.csrf)?;
    viewer.require(Role::Analyst)?;
    let action = match form.op.as_str() {
        "acknowledge" => Action::Acknowledge,
        "accept-risk" => Action::AcceptRisk,
        "reopen" => Action::Reopen,
        other => return Err(bad(format!("unknown action {other:?}"))),
    };
    if form.ids.is_empty() {
        return Err(bad("select at least one finding"));
    }
    if form.ids.len() > 1000 {
        return Err(bad("at most 1000 findings at once"));
    }
    let now = (state.clock)();
    let expires_at = if action == Action::AcceptRisk {
        let day = NaiveDate::parse_from_str(form.expires.trim(), "%Y-%m-%d")
            .map_err(|_| bad("accepting a risk needs an expiry date (YYYY-MM-DD)"))?;
        // The acceptance holds through the chosen day.
        Some(day.and_hms_opt(23, 59, 59).map(|t| t.and_utc()).ok_or_else(|| bad("invalid expiry date"))?)
    } else {
        None
    };
    let comment = Some(form.comment.clone()).filter(|c| !c.trim().is_empty());
    if action == Action::AcceptRisk && comment.is_none() {
        return Err(bad("accepting a risk needs a reason"));
    }
    let (mut done, mut failed) = (0u32, 0u32);
    for id in &form.ids {
        let request = TransitionRequest {
            finding_id: id.clone(),
            action,
            actor: viewer.actor_name(),
            source_ip: Some(ip.clone()),
            at: now,
            comment: comment.clone(),
            expires_at,
        };
        match actions::act(state.store.as_ref(), request).await {
            Ok(_) => done += 1,
            Err(actions::ActionError::NotAllowed { .. }) | Err(actions::ActionError::NotFound(_)) => failed += 1,
            Err(e) => return Err(PageError(e.into())),
        }
    }
    let back = super::safe_next(&form.back);
    let back = if back.starts_with("/findings") { back } else { "/findings".to_owned() };
    let separator = if back.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{back}{separator}done={done}&failed={failed}")).into_response())
}

pub async fn finding(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let now = (state.clock)();
    let f = state.store.get_finding(&id, now).await?.ok_or_else(|| not_found("finding"))?;
    let history = state.store.finding_history(&id).await?;
    let mut blocks = vec![Block::Heading {
        text: f.title.clone(),
        sub: Some(format!("{} on {}", f.rule_id, f.hostname)),
        badge: Some(Badge::severity(f.severity.as_str())),
    }];
    blocks.push(Block::Pairs(vec![
        Pair::new("Status", f.status.as_str().replace('_', " ")),
        Pair { label: "Host".into(), value: f.hostname.clone(), href: Some(format!("/hosts/{}", encode(&f.host_id))) },
        Pair::new("Kind", f.kind.as_str()),
        Pair::new("Rule / advisory", f.rule_id.clone()),
        Pair::new("Subject", f.subject.clone()),
        Pair::new("First seen", when(f.first_seen)),
        Pair::new("Due", format!("{}{}", when(f.due_at), if f.overdue { " (overdue)" } else { "" })),
        Pair::opt("Acknowledged by", f.acknowledged_by.clone()),
        Pair::opt("Risk accepted by", f.risk_accepted_by.clone()),
        Pair::opt("Risk reason", f.risk_reason.clone()),
        Pair::new("Risk accepted until", when_opt(f.risk_expires_at)),
        Pair::new("Resolved", when_opt(f.resolved_at)),
    ]));
    blocks.push(Block::Section { title: "Evidence".into(), anchor: "evidence".into() });
    blocks.push(Block::Lines(if f.evidence.is_empty() { vec!["(none)".into()] } else { f.evidence.clone() }));
    blocks.push(Block::Section { title: "Remediation".into(), anchor: "remediation".into() });
    blocks.push(Block::Lines(vec![f.remediation.clone()]));
    if viewer.can(Role::Analyst) {
        let mut form = bulk_form(&viewer, &format!("/findings?host={}", encode(&f.host_id)), now);
        form.id = "triage".into();
        form.title = "Triage".into();
        form.fields.push(Field::hidden("ids", &f.id));
        blocks.push(Block::Form(form));
    }
    blocks.push(Block::Section { title: "History".into(), anchor: "history".into() });
    blocks.push(table(
        "finding-history",
        &["When", "Who", "Action", "From", "To", "Comment"],
        history
            .iter()
            .map(|e| {
                vec![
                    Cell::text(when(e.at)),
                    Cell::text(&e.actor),
                    Cell::text(&e.action),
                    Cell::text(e.from_status.map(|s| s.as_str()).unwrap_or("")),
                    Cell::text(e.to_status.as_str()),
                    Cell::text(s(&e.comment)),
                ]
            })
            .collect(),
        "No history.",
    ));
    Ok(viewer.page("findings", f.title.clone(), blocks))
}

// ---------------------------------------------------------------------------------------------------------------
// Vulnerabilities and software

#[derive(Debug, Deserialize, Default)]
pub struct VulnerabilitiesQuery {
    /// An advisory id or alias (CVE): opens that advisory.
    id: Option<String>,
    severity: Option<String>,
    kev: Option<String>,
    package: Option<String>,
    offset: Option<i64>,
    format: Option<String>,
}

pub async fn vulnerabilities(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<VulnerabilitiesQuery>,
) -> PageResult {
    let format = Format::parse(q.format.as_deref())?;
    let mut lookup_notice = None;
    if let Some(id) = opt(&q.id) {
        if state.store.vulnerability(id).await?.is_some() {
            return Ok(Redirect::to(&format!("/vulnerabilities/{}", encode(id))).into_response());
        }
        lookup_notice = Some(Block::Notice { kind: "warn", text: format!("No imported advisory is named {id}.") });
    }
    let offset = q.offset.unwrap_or(0).clamp(0, MAX_OFFSET);
    let (limit, offset) = if format == Format::Html { (PAGE, offset) } else { (MAX_EXPORT_ROWS, 0) };
    let severity = opt(&q.severity).map(str::to_owned);
    let kev = q.kev.as_deref() == Some("true");
    let page = state
        .store
        .list_vulnerabilities(&VulnerabilityFilter {
            severities: severity.iter().cloned().collect(),
            kev: kev.then_some(true),
            package: opt(&q.package).map(str::to_owned),
            limit,
            offset,
        })
        .await?;
    match format {
        Format::Csv => {
            let header =
                ["id", "aliases", "severity", "cvss", "kev", "affected_hosts", "packages", "fix_available", "summary"];
            let rows = page.vulnerabilities.iter().map(|v| {
                vec![
                    v.id.clone(),
                    v.aliases.join(" "),
                    v.severity.clone(),
                    v.cvss_score.map(|c| c.to_string()).unwrap_or_default(),
                    v.kev.to_string(),
                    v.affected_hosts.to_string(),
                    v.packages.join(" "),
                    v.fix_available.to_string(),
                    v.summary.clone().unwrap_or_default(),
                ]
            });
            return Ok(export::csv("vulnerabilities", &header, rows));
        }
        Format::Json => return Ok(export::json("vulnerabilities", &page)?),
        Format::Html => {}
    }
    let pairs: Vec<(&str, String)> = vec![
        ("severity", severity.clone().unwrap_or_default()),
        ("kev", if kev { "true".into() } else { String::new() }),
        ("package", opt(&q.package).unwrap_or_default().to_owned()),
    ];
    let sev_options = [
        ("critical", "Critical"),
        ("high", "High"),
        ("medium", "Medium"),
        ("low", "Low"),
        ("negligible", "Negligible"),
        ("unknown", "Unknown"),
    ];
    let mut blocks = vec![
        Block::Heading {
            text: "Vulnerabilities".into(),
            sub: Some(format!("{} advisories affect at least one host", page.total)),
            badge: None,
        },
        Block::Filters(Filters {
            action: "/vulnerabilities".into(),
            fields: vec![
                Field::text("id", "Advisory or CVE", None, "CVE-2024-3094"),
                Field::select("severity", "Severity", "any", &sev_options, severity.as_deref()),
                Field::checkbox("kev", "KEV-listed only", kev),
                Field::text("package", "Package", opt(&q.package), "openssl"),
            ],
            exports: exports("/vulnerabilities", &pairs),
        }),
        table(
            "vulnerabilities",
            &["Advisory", "Aliases", "Severity", "KEV", "Hosts", "Packages", "Fix", "Summary"],
            page.vulnerabilities
                .iter()
                .map(|v| {
                    vec![
                        Cell::link(&v.id, format!("/vulnerabilities/{}", encode(&v.id))),
                        Cell::text(v.aliases.join(", ")),
                        Cell::badge(Badge::severity(&v.severity)),
                        Cell::text(if v.kev { "KEV" } else { "" }),
                        Cell::text(v.affected_hosts.to_string()),
                        Cell::text(v.packages.join(", ")),
                        Cell::text(if v.fix_available { "available" } else { "none yet" }),
                        Cell::text(v.summary.clone().unwrap_or_default()),
                    ]
                })
                .collect(),
            "No vulnerability affects any host.",
        ),
        pager("/vulnerabilities", &pairs, offset, page.vulnerabilities.len(), page.total),
    ];
    if let Some(notice) = lookup_notice {
        blocks.insert(1, notice);
    }
    Ok(viewer.page("vulnerabilities", "Vulnerabilities", blocks))
}

pub async fn vulnerability(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let v = state.store.vulnerability(&id).await?.ok_or_else(|| not_found("advisory"))?;
    let mut blocks =
        vec![Block::Heading { text: v.id.clone(), sub: v.summary.clone(), badge: Some(Badge::severity(&v.severity)) }];
    blocks.push(Block::Pairs(vec![
        Pair::new("Aliases", v.aliases.join(", ")),
        Pair::opt("CVSS", v.cvss_score.map(|c| format!("{c} {}", s(&v.cvss_vector)))),
        Pair::new(
            "Known exploited (KEV)",
            v.kev_date_added.map(|d| format!("yes, added {d}")).unwrap_or_else(|| "no".into()),
        ),
        Pair::new("Published", when_opt(v.published)),
        Pair::new("Modified", when_opt(v.modified)),
        Pair::new(
            "Packages",
            v.affected_packages.iter().map(|p| format!("{} ({})", p.name, p.ecosystem)).collect::<Vec<_>>().join(", "),
        ),
        Pair::new("Other advisories", v.other_advisories.join(", ")),
    ]));
    blocks.push(Block::Section { title: format!("Affected hosts ({})", v.affected_hosts), anchor: "hosts".into() });
    blocks.push(table(
        "affected-hosts",
        &["Host", "Package", "Installed", "Fixed in", "Remediation"],
        v.hosts
            .iter()
            .map(|a| {
                vec![
                    Cell::link(&a.hostname, format!("/hosts/{}", encode(&a.host_id))),
                    Cell::text(&a.package),
                    Cell::mono(&a.installed_version),
                    Cell::mono(a.fixed_version.clone().unwrap_or_else(|| "no fix yet".into())),
                    Cell::mono(s(&a.remediation)),
                ]
            })
            .collect(),
        "No host is affected.",
    ));
    Ok(viewer.page("vulnerabilities", v.id.clone(), blocks))
}

#[derive(Debug, Deserialize, Default)]
pub struct SoftwareQuery {
    name: Option<String>,
    format: Option<String>,
}

pub async fn software(State(state): State<AppState>, viewer: Viewer, Query(q): Query<SoftwareQuery>) -> PageResult {
    let format = Format::parse(q.format.as_deref())?;
    let name = opt(&q.name).map(str::to_owned);
    // The page shows ten hosts per version; exports list them all.
    let versions = match (&name, format) {
        (Some(n), Format::Html) => state.store.software_by_name_sample(n, 10).await?,
        (Some(n), _) => state.store.software_by_name(n).await?,
        (None, _) => Vec::new(),
    };
    match format {
        Format::Csv => {
            let rows = versions.iter().flat_map(|v| {
                v.hosts.iter().map(move |h| {
                    vec![
                        v.name.clone(),
                        v.version.clone(),
                        s(&v.arch),
                        v.kind.clone(),
                        h.id.clone(),
                        h.hostname.clone(),
                    ]
                })
            });
            return Ok(export::csv("software", &["package", "version", "arch", "kind", "host_id", "hostname"], rows));
        }
        Format::Json => return Ok(export::json("software", &versions)?),
        Format::Html => {}
    }
    let pairs = vec![("name", name.clone().unwrap_or_default())];
    let mut blocks = vec![
        Block::Heading {
            text: "Software".into(),
            sub: Some("Which hosts have a package, in which versions".into()),
            badge: None,
        },
        Block::Filters(Filters {
            action: "/software".into(),
            fields: vec![Field::text("name", "Package or source package", name.as_deref(), "openssl").required()],
            exports: if name.is_some() { exports("/software", &pairs) } else { vec![] },
        }),
    ];
    if name.is_some() {
        let hosts: usize = versions.iter().map(|v| v.host_count).sum();
        blocks.push(Block::Notice {
            kind: "info",
            text: format!("{} version(s) on {hosts} host installation(s).", versions.len()),
        });
        blocks.push(table(
            "software-versions",
            &["Package", "Version", "Arch", "Kind", "Hosts", "Where"],
            versions
                .iter()
                .map(|v| {
                    let mut where_ = v.hosts.iter().take(10).map(|h| h.hostname.clone()).collect::<Vec<_>>().join(", ");
                    if v.host_count > v.hosts.len() {
                        where_.push_str(&format!(" and {} more (export for all)", v.host_count - v.hosts.len()));
                    }
                    vec![
                        Cell::text(&v.name),
                        Cell::mono(&v.version),
                        Cell::text(s(&v.arch)),
                        Cell::text(&v.kind),
                        Cell::text(v.host_count.to_string()),
                        Cell::text(where_),
                    ]
                })
                .collect(),
            "No host has this package.",
        ));
    }
    Ok(viewer.page("software", "Software", blocks))
}

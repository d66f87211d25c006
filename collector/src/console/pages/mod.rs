//! The console's reading pages and bulk triage, one module per resource (hosts, findings, vulnerabilities and
//! software); this file holds the dashboard and the helpers they share.
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::{Form, Query};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use muster_shared::v1::{Check, CheckStatus, Hardware, Host, InstalledUpdate, Os, Patches};
use serde::{Deserialize, Serialize};

use super::export::{self, Format, MAX_EXPORT_ROWS};
use super::view::{
    Badge, Block, Cell, Column, Field, FieldKind, Filters, Form as FormBlock, Pager, Pair, Row, Sorting, Stat, Tab,
    Table, table,
};
use super::{PageError, PageResult, Viewer, chart, encode, link, when, when_opt};
use crate::AppState;
use crate::api::auth::ClientIp;
use crate::app::findings as app_findings;
use crate::error::AppError;
use crate::findings::actions::{self, TransitionRequest};
use crate::findings::{Action, FindingFilter, FindingKind, FindingSort, FindingView, Status};
use crate::model::Role;
use crate::rules::Severity;
use crate::store::advisories::VulnerabilityFilter;
use crate::store::console::{ConsoleHostFilter, HostAges, HostSort, HostStatus};

/// Rows per page of a console list.
pub const PAGE: i64 = 50;
/// Deeper pages than this are refused by clamping: nobody pages a million rows, and it bounds the arithmetic.
pub const MAX_OFFSET: i64 = 1_000_000;
/// A warning when the advisory data is missing or old, so "nothing found" is not read as "nothing there".
async fn advisory_notice(state: &AppState, now: DateTime<Utc>) -> Result<Option<Block>, PageError> {
    use crate::app::vulnerabilities::{advisory_banner, advisory_status};
    let freshness = state.store.advisory_freshness().await?;
    let status = advisory_status(&freshness, &state.rules.current(), now);
    Ok(advisory_banner(status, &freshness).map(|text| Block::Notice { kind: "warn", text }))
}

/// Rows of the dashboard's "Hosts most at risk".
const DASHBOARD_HOSTS: i64 = 10;
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
    let advisories = advisory_notice(&state, now).await?;
    let no_advisories = advisories.is_some();
    blocks.extend(advisories);
    let backlog = state.store.work_backlog().await?;
    blocks.extend(crate::app::queue::backlog_notice(&backlog, now).map(|text| Block::Notice { kind: "warn", text }));
    if viewer.require(Role::Admin).is_ok() {
        let held = state.store.list_enrolment_requests(false, 1000).await?.len();
        if held > 0 {
            let text = format!(
                "{held} enrolment{} would take over the record of a host that reported recently and wait{} for an \
                 administrator: Admin → Enrolments.",
                if held == 1 { "" } else { "s" },
                if held == 1 { "s" } else { "" }
            );
            blocks.push(Block::Notice { kind: "warn", text });
        }
    }
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

    // The host list's risk order (the risk score of `model::risk`), its first rows: the score's parts are the
    // columns, so the ranking explains itself.
    let at_risk =
        state.store.console_hosts(&ConsoleHostFilter::most_at_risk(ages(&state, now), DASHBOARD_HOSTS)).await?;
    blocks.push(Block::Section { title: "Hosts most at risk".into(), anchor: "at-risk".into() });
    blocks.push(table(
        "hosts-at-risk",
        &["Host", "Risk", "Known exploited", "Critical", "High", "Medium"],
        at_risk
            .rows
            .iter()
            .filter(|r| r.risk().total > 0)
            .map(|r| {
                let findings = |severity: &str| {
                    link(
                        "/findings",
                        &[("host", r.host.id.clone()), ("severity", severity.to_owned()), ("active", "true".into())],
                    )
                };
                vec![
                    Cell::link(&r.host.hostname, format!("/hosts/{}", encode(&r.host.id))),
                    hosts::risk_cell(r),
                    Cell::text(r.known_exploited.to_string()),
                    Cell::link(r.critical.to_string(), findings("critical")),
                    Cell::link(r.high.to_string(), findings("high")),
                    Cell::link(r.medium.to_string(), findings("medium")),
                ]
            })
            .collect(),
        "No host has an active finding that counts toward risk.",
    ));
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
    blocks.push(Block::Section { title: "Top fixes".into(), anchor: "packages".into() });
    blocks.push(table(
        "top-packages",
        &["Source package", "Worst severity", "Hosts", "Hosts with a fix"],
        counts
            .top_vulnerable_packages
            .iter()
            .map(|p| {
                vec![
                    Cell::link(
                        &p.package,
                        link(
                            "/vulnerabilities",
                            &[("package", crate::findings::vulnerability::subject_package(&p.package).to_owned())],
                        ),
                    ),
                    Cell::badge(Badge::severity(&p.worst_severity)),
                    Cell::text(p.hosts.to_string()),
                    Cell::text(p.fixable_hosts.to_string()),
                ]
            })
            .collect(),
        if no_advisories {
            "Nothing to rank: see the advisory data notice above."
        } else {
            "No vulnerability finding is open."
        },
    ));
    Ok(viewer.page("dashboard", "Dashboard", blocks))
}

mod findings;
mod host;
mod hosts;
mod vulnerabilities;

pub use findings::*;
pub use host::*;
pub use hosts::*;
pub use vulnerabilities::*;

/// Agent text in a list cell is cut at 200 characters so one absurd value cannot take over the list; detail pages
/// show it whole.
fn clip(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn s(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

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

//! The console's host list and host page.

use super::*;
use crate::store::console::ConsoleHostRow;

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
    let sorting = Sorting {
        path: "/hosts",
        filters: vec![
            ("q", opt(&q.q).unwrap_or_default().to_owned()),
            ("os", opt(&q.os).unwrap_or_default().to_owned()),
            ("status", status.map(|s| s.as_str().to_owned()).unwrap_or_default()),
            ("tag", opt(&q.tag).unwrap_or_default().to_owned()),
            ("critical", if has_critical { "true".into() } else { String::new() }),
        ],
        default: HostSort::Hostname.as_str(),
        current: sort.as_str(),
        descending,
    };
    let column = |label: &str, by: HostSort| sorting.column(label, by.as_str());
    let pairs = sorting.pairs();
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
            column("Risk", HostSort::Risk),
            Column::plain("Critical / high"),
        ],
        rows: page
            .rows
            .iter()
            .map(|r| Row {
                select: None,
                checked: false,
                cells: vec![
                    Cell::link(clip(&r.host.hostname), format!("/hosts/{}", encode(&r.host.id))),
                    Cell::badge(Badge::status(r.status.as_str())),
                    Cell::text(r.host.os_pretty_name.clone().unwrap_or_default()),
                    Cell::mono(r.host.system_serial.clone().unwrap_or_default()),
                    Cell::text(r.host.tags.join(", ")),
                    Cell::text(when(r.host.last_seen)),
                    risk_cell(r),
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

/// A host's risk score, with the known-exploited count beside it when there is one (the score's heaviest part).
pub(super) fn risk_cell(r: &ConsoleHostRow) -> Cell {
    let risk = r.risk().total;
    Cell {
        text: if r.known_exploited > 0 {
            format!("{risk} ({} known exploited)", r.known_exploited)
        } else {
            risk.to_string()
        },
        class: if r.known_exploited > 0 { "sev sev-critical".into() } else { String::new() },
        ..Cell::default()
    }
}

/// Batteries listed on the page; the exports hold up to `MAX_EXPORT_ROWS`.
const BATTERIES_SHOWN: usize = 500;

#[derive(Debug, Deserialize, Default)]
pub struct BatteriesQuery {
    q: Option<String>,
    below: Option<String>,
    format: Option<String>,
}

/// The health thresholds the page offers; the API takes any.
const BELOW: [(&str, &str); 4] = [("90", "below 90%"), ("80", "below 80%"), ("60", "below 60%"), ("40", "below 40%")];

/// Every battery of the fleet with its host, the most worn first (issue 17: a laptop refresh's list).
pub async fn batteries(State(state): State<AppState>, viewer: Viewer, Query(q): Query<BatteriesQuery>) -> PageResult {
    let format = Format::parse(q.format.as_deref())?;
    let limit = if format == Format::Html { BATTERIES_SHOWN } else { MAX_EXPORT_ROWS as usize };
    let below = crate::app::batteries::parse_below(q.below.as_deref())
        .map_err(|message| PageError(AppError::bad_request("invalid_query", message)))?;
    let filter = crate::app::batteries::BatteryFilter { search: opt(&q.q).map(str::to_owned), below };
    let (rows, more) = crate::app::batteries::batteries(state.store.as_ref(), &filter, limit).await?;
    match format {
        Format::Csv => {
            let header = [
                "host_id",
                "hostname",
                "model",
                "manufacturer",
                "serial",
                "health_percent",
                "cycle_count",
                "condition",
                "chemistry",
                "design_capacity_mwh",
                "full_charge_capacity_mwh",
            ];
            let number = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
            let csv_rows = rows.iter().map(crate::app::batteries::view).map(|v| {
                vec![
                    v.host_id,
                    v.hostname,
                    v.model.unwrap_or_default(),
                    v.manufacturer.unwrap_or_default(),
                    v.serial.unwrap_or_default(),
                    number(v.health_percent),
                    number(v.cycle_count),
                    v.condition.unwrap_or_default(),
                    v.chemistry.unwrap_or_default(),
                    number(v.design_capacity_mwh),
                    number(v.full_charge_capacity_mwh),
                ]
            });
            return Ok(export::csv("batteries", &header, csv_rows));
        }
        Format::Json => {
            let views: Vec<_> = rows.iter().map(crate::app::batteries::view).collect();
            return Ok(export::json("batteries", &views)?);
        }
        Format::Html => {}
    }
    let pairs = vec![
        ("q", opt(&q.q).unwrap_or_default().to_owned()),
        ("below", below.map(|b| b.to_string()).unwrap_or_default()),
    ];
    let hosts = rows.iter().map(|r| &r.host.id).collect::<std::collections::BTreeSet<_>>().len();
    let health = below.map(|b| format!(" with health below {b}%")).unwrap_or_default();
    let sub = if more {
        format!("the {} most worn{health}; the exports list them all", rows.len())
    } else {
        format!(
            "{} batteries{health} in {hosts} hosts, the most worn first, from each host's last hardware report",
            rows.len()
        )
    };
    let table_rows = rows
        .iter()
        .map(|r| {
            let mut cells = vec![Cell::link(clip(&r.host.hostname), format!("/hosts/{}", encode(&r.host.id)))];
            cells.extend(super::host::battery_cells(&r.battery));
            cells
        })
        .collect();
    // A threshold the page does not offer (from a link or a script) is offered too, so the form keeps it.
    let current = below.map(|b| b.to_string());
    let mut offered: Vec<(String, String)> = BELOW.iter().map(|(v, l)| (v.to_string(), l.to_string())).collect();
    if let Some(value) = current.as_deref().filter(|v| !BELOW.iter().any(|(o, _)| o == v)) {
        offered.push((value.to_owned(), format!("below {value}%")));
    }
    let offered: Vec<(&str, &str)> = offered.iter().map(|(v, l)| (v.as_str(), l.as_str())).collect();
    let blocks = vec![
        Block::Heading { text: "Batteries".into(), sub: Some(sub), badge: None },
        Block::Filters(Filters {
            action: "/batteries".into(),
            fields: vec![
                Field::text("q", "Search", opt(&q.q), "host, model, serial, maker…"),
                Field::select("below", "Health", "any", &offered, current.as_deref()),
            ],
            exports: exports("/batteries", &pairs),
        }),
        table("batteries", &super::host::BATTERY_COLUMNS, table_rows, "No battery matches."),
    ];
    Ok(viewer.page("batteries", "Batteries", blocks))
}

/// Hosts listed on the TPM page; the exports hold up to `MAX_EXPORT_ROWS`.
const TPMS_SHOWN: usize = 500;

#[derive(Debug, Deserialize, Default)]
pub struct TpmsQuery {
    q: Option<String>,
    state: Option<String>,
    format: Option<String>,
}

const TPM_COLUMNS: [&str; 8] = ["Host", "State", "Family", "Manufacturer", "Firmware", "Enabled", "Activated", "Owned"];

/// Every host that reported its hardware with its TPM, those not known to have a usable TPM 2.0 first (issue 17: what a
/// Windows 11 roll-out, a BitLocker plan or a TPM firmware advisory needs).
pub async fn tpms(State(state): State<AppState>, viewer: Viewer, Query(q): Query<TpmsQuery>) -> PageResult {
    use crate::app::tpms::{StateFilter, TpmState};
    let format = Format::parse(q.format.as_deref())?;
    let limit = if format == Format::Html { TPMS_SHOWN } else { MAX_EXPORT_ROWS as usize };
    let wanted = StateFilter::parse(q.state.as_deref())
        .map_err(|message| PageError(AppError::bad_request("invalid_query", message)))?;
    let filter = crate::app::tpms::TpmFilter { search: opt(&q.q).map(str::to_owned), state: wanted };
    let (rows, more) = crate::app::tpms::tpms(state.store.as_ref(), &filter, limit).await?;
    let flag = |f: Option<bool>| match f {
        Some(true) => "yes",
        Some(false) => "no",
        None => "",
    };
    // As the other exports write booleans; empty when the system did not say.
    let csv_flag = |f: Option<bool>| f.map(|f| f.to_string()).unwrap_or_default();
    match format {
        Format::Csv => {
            let header = [
                "host_id",
                "hostname",
                "state",
                "spec_version",
                "manufacturer",
                "firmware_version",
                "enabled",
                "activated",
                "owned",
            ];
            let csv_rows = rows.iter().map(crate::app::tpms::view).map(|v| {
                vec![
                    v.host_id,
                    v.hostname,
                    v.state,
                    v.spec_version.unwrap_or_default(),
                    v.manufacturer.unwrap_or_default(),
                    v.firmware_version.unwrap_or_default(),
                    csv_flag(v.enabled),
                    csv_flag(v.activated),
                    csv_flag(v.owned),
                ]
            });
            return Ok(export::csv("tpms", &header, csv_rows));
        }
        Format::Json => {
            let views: Vec<_> = rows.iter().map(crate::app::tpms::view).collect();
            return Ok(export::json("tpms", &views)?);
        }
        Format::Html => {}
    }
    let pairs = vec![("q", opt(&q.q).unwrap_or_default().to_owned()), ("state", wanted.key().to_owned())];
    let lacking = rows.iter().filter(|r| !r.state.is_usable()).count();
    let sub = if more {
        format!(
            "the first {} hosts, those not known to have a usable TPM 2.0 first; the exports list them all",
            rows.len()
        )
    } else {
        format!(
            "{} hosts, {lacking} not known to have a usable TPM 2.0 (listed first), from each host's last hardware \
             report; none is reported for a Mac, a virtual machine without one or an inventory of a mounted disk",
            rows.len()
        )
    };
    let table_rows = rows
        .iter()
        .map(|r| {
            let tpm = r.tpm.as_ref();
            let field =
                |f: fn(&muster_shared::v1::Tpm) -> &Option<String>| tpm.and_then(|t| f(t).clone()).unwrap_or_default();
            vec![
                Cell::link(clip(&r.host.hostname), format!("/hosts/{}", encode(&r.host.id))),
                Cell::text(r.state.label()),
                Cell::text(field(|t| &t.spec_version)),
                Cell::text(field(|t| &t.manufacturer)),
                Cell::mono(field(|t| &t.firmware_version)),
                Cell::text(flag(tpm.and_then(|t| t.enabled))),
                Cell::text(flag(tpm.and_then(|t| t.activated))),
                Cell::text(flag(tpm.and_then(|t| t.owned))),
            ]
        })
        .collect();
    let mut offered = vec![("lacking", "all but a usable 2.0")];
    offered.extend(TpmState::ALL.iter().map(|s| (s.key(), s.label())));
    let blocks = vec![
        Block::Heading { text: "TPMs".into(), sub: Some(sub), badge: None },
        Block::Filters(Filters {
            action: "/tpms".into(),
            fields: vec![
                Field::text("q", "Search", opt(&q.q), "host, maker (IFX, NTC…), firmware…"),
                Field::select("state", "State", "any", &offered, Some(wanted.key()).filter(|k| !k.is_empty())),
            ],
            exports: exports("/tpms", &pairs),
        }),
        table("tpms", &TPM_COLUMNS, table_rows, "No host matches."),
    ];
    Ok(viewer.page("tpms", "TPMs", blocks))
}

/// Monitors listed on the page; the exports hold up to `MAX_EXPORT_ROWS`.
const MONITORS_SHOWN: usize = 500;

#[derive(Debug, Deserialize, Default)]
pub struct MonitorsQuery {
    q: Option<String>,
    format: Option<String>,
}

/// Every monitor of the fleet with the host it is attached to (issue 19: displays are inventoried assets).
pub async fn monitors(State(state): State<AppState>, viewer: Viewer, Query(q): Query<MonitorsQuery>) -> PageResult {
    let format = Format::parse(q.format.as_deref())?;
    let limit = if format == Format::Html { MONITORS_SHOWN } else { MAX_EXPORT_ROWS as usize };
    let (rows, more) = crate::app::monitors::monitors(state.store.as_ref(), opt(&q.q), limit).await?;
    match format {
        Format::Csv => {
            let header = [
                "host_id",
                "hostname",
                "connector",
                "product_id",
                "manufacturer_id",
                "model",
                "serial",
                "manufactured_year",
                "manufactured_week",
                "model_year",
                "width_cm",
                "height_cm",
            ];
            let number = |n: Option<u16>| n.map(|n| n.to_string()).unwrap_or_default();
            let csv_rows = rows.iter().map(crate::app::monitors::view).map(|v| {
                vec![
                    v.host_id,
                    v.hostname,
                    v.connector,
                    v.product_id,
                    v.manufacturer_id,
                    v.model.unwrap_or_default(),
                    v.serial.unwrap_or_default(),
                    number(v.manufactured_year),
                    number(v.manufactured_week.map(u16::from)),
                    number(v.model_year),
                    number(v.width_cm.map(u16::from)),
                    number(v.height_cm.map(u16::from)),
                ]
            });
            return Ok(export::csv("monitors", &header, csv_rows));
        }
        Format::Json => {
            let views: Vec<_> = rows.iter().map(crate::app::monitors::view).collect();
            return Ok(export::json("monitors", &views)?);
        }
        Format::Html => {}
    }
    let pairs = vec![("q", opt(&q.q).unwrap_or_default().to_owned())];
    let hosts = rows.iter().map(|r| &r.host.id).collect::<std::collections::BTreeSet<_>>().len();
    let sub = if more {
        format!("the first {} monitors; the exports list them all", rows.len())
    } else {
        format!("{} monitors on {hosts} hosts, from each host's last hardware report", rows.len())
    };
    let columns = ["Host", "Monitor", "Manufacturer", "Model", "Serial", "Made", "Size", "Connector"];
    let table_rows = rows
        .iter()
        .map(|r| {
            let mut cells = vec![Cell::link(clip(&r.host.hostname), format!("/hosts/{}", encode(&r.host.id)))];
            cells.extend(super::host::monitor_cells(&r.monitor));
            cells
        })
        .collect();
    let blocks = vec![
        Block::Heading { text: "Monitors".into(), sub: Some(sub), badge: None },
        Block::Filters(Filters {
            action: "/monitors".into(),
            fields: vec![Field::text("q", "Search", opt(&q.q), "host, model, serial, DEL…")],
            exports: exports("/monitors", &pairs),
        }),
        table("monitors", &columns, table_rows, "No monitor matches."),
    ];
    Ok(viewer.page("monitors", "Monitors", blocks))
}

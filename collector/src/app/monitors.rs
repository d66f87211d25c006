//! The fleet's monitors as assets of their own (issue 19): every display the agents read from EDID, with the host it
//! is attached to, for the console's list and its exports. Built from the stored hardware sections page by page.

use std::ops::ControlFlow;

use muster_shared::v1::Monitor;
use serde::Deserialize;

use crate::store::{Store, StoreError};
use crate::views::{HostRef, MonitorView};

/// Only the monitors of a stored hardware section: the rest of it is skipped, not built (half the list's time at
/// 10,000 hosts, BENCHMARKS.md).
#[derive(Deserialize)]
struct Monitors {
    #[serde(default)]
    monitors: Vec<Monitor>,
}

/// One monitor and the host it was attached to when the host last reported its hardware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorRow {
    pub host: HostRef,
    pub monitor: Monitor,
}

/// Every monitor of the fleet whose host name, manufacturer, model or serial contains `search` (any case), in host
/// id then connector order, at most `limit` (`true` when there were more).
pub async fn monitors(
    store: &dyn Store,
    search: Option<&str>,
    limit: usize,
) -> Result<(Vec<MonitorRow>, bool), StoreError> {
    let search = search.map(str::to_lowercase);
    let mut rows = Vec::new();
    let mut more = false;
    super::scan_hardware(store, "monitors", |host, section: Monitors| {
        let mut monitors = section.monitors;
        monitors.sort_by(|a, b| a.connector.cmp(&b.connector));
        for monitor in monitors {
            if search.as_deref().is_some_and(|text| !matches(host, &monitor, text)) {
                continue;
            }
            if rows.len() == limit {
                more = true;
                return ControlFlow::Break(());
            }
            rows.push(MonitorRow { host: host.clone(), monitor });
        }
        ControlFlow::Continue(())
    })
    .await?;
    Ok((rows, more))
}

/// Whether `text` (lower case) is part of the host name, manufacturer id, product id, model or serial.
fn matches(host: &HostRef, m: &Monitor, text: &str) -> bool {
    let fields = [Some(host.hostname.clone()), Some(product_id(m)), m.model.clone(), serial(m)];
    fields.into_iter().flatten().any(|f| f.to_lowercase().contains(text))
}

/// A monitor as the API and the exports give it.
pub fn view(row: &MonitorRow) -> MonitorView {
    let m = &row.monitor;
    MonitorView {
        host_id: row.host.id.clone(),
        hostname: row.host.hostname.clone(),
        connector: m.connector.clone(),
        product_id: product_id(m),
        manufacturer_id: m.manufacturer_id.clone(),
        model: m.model.clone(),
        serial: serial(m),
        manufactured_year: m.manufactured_year,
        manufactured_week: m.manufactured_week,
        model_year: m.model_year,
        width_cm: m.width_cm,
        height_cm: m.height_cm,
    }
}

/// The serial a person finds on the label: the EDID's serial text, else its number.
pub fn serial(m: &Monitor) -> Option<String> {
    m.serial.clone().or(m.serial_number.map(|n| n.to_string()))
}

/// When it was made, as the EDID says it: year and week, the year alone, or the model year.
pub fn made(m: &Monitor) -> String {
    match (m.manufactured_year, m.manufactured_week, m.model_year) {
        (Some(y), Some(w), _) if w > 0 => format!("{y} week {w}"),
        (Some(y), _, _) => y.to_string(),
        (None, _, Some(y)) => format!("model year {y}"),
        _ => String::new(),
    }
}

/// The EDID's product id as monitor lists show it: manufacturer id and product code in hex, e.g. `DEL40F4`.
pub fn product_id(m: &Monitor) -> String {
    format!("{}{:04X}", m.manufacturer_id, m.product_code)
}

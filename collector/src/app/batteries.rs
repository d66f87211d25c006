//! The fleet's batteries on one list, most worn first (issue 17): what a laptop refresh, a battery recall or a check
//! before disposal looks for, across Linux, Windows and macOS alike. Built from the stored hardware sections page by
//! page, as the monitors list is; every section is read, since the order is by wear.

use muster_shared::v1::Battery;
use serde::Deserialize;

use crate::store::{Store, StoreError};
use crate::views::{BatteryView, HostRef};

/// One battery and the host it was in when the host last reported its hardware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatteryRow {
    pub host: HostRef,
    pub battery: Battery,
}

/// Which batteries to list.
#[derive(Debug, Clone, Default)]
pub struct BatteryFilter {
    /// Only those whose host name, model, manufacturer or serial contains this (any case).
    pub search: Option<String>,
    /// Only those whose health is known and below this percentage.
    pub below: Option<u32>,
}

/// The `below` filter as the console and the API take it: empty is none, else a whole percentage.
pub fn parse_below(text: Option<&str>) -> Result<Option<u32>, String> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => {
            t.parse().map(Some).map_err(|_| format!("below: {t:?} is not a percentage"))
        }
        Some(t) => Err(format!("below: {t:?} is not a percentage")),
    }
}

/// Only the batteries of a stored hardware section: the rest of it is skipped, not built.
#[derive(Deserialize)]
struct Batteries {
    #[serde(default)]
    batteries: Vec<Battery>,
}

/// The most worn first: by health (unknown last), then by more cycles, then host name and id.
fn worst_first(a: &BatteryRow, b: &BatteryRow) -> std::cmp::Ordering {
    let health = |r: &BatteryRow| r.battery.health_percent().unwrap_or(u32::MAX);
    health(a)
        .cmp(&health(b))
        .then_with(|| b.battery.cycle_count.cmp(&a.battery.cycle_count))
        .then_with(|| a.host.hostname.cmp(&b.host.hostname))
        .then_with(|| a.host.id.cmp(&b.host.id))
}

/// Every battery of the fleet that `filter` lets through, the most worn first ([`worst_first`]); at most `limit`
/// (`true` when there were more). Every hardware section is read, since the order is by wear, but only the
/// `limit` most worn are kept as it goes, so memory follows `limit`, not the fleet.
pub async fn batteries(
    store: &dyn Store,
    filter: &BatteryFilter,
    limit: usize,
) -> Result<(Vec<BatteryRow>, bool), StoreError> {
    let search = filter.search.as_deref().map(str::to_lowercase);
    let mut kept = super::FirstN::new(limit, worst_first);
    super::scan_hardware(store, "batteries", |host, section: Batteries| {
        for battery in section.batteries {
            let worn = filter.below.is_none_or(|below| battery.health_percent().is_some_and(|h| h < below));
            let found = search.as_deref().is_none_or(|text| matches(host, &battery, text));
            if worn && found {
                kept.push(BatteryRow { host: host.clone(), battery });
            }
        }
        std::ops::ControlFlow::Continue(())
    })
    .await?;
    Ok(kept.finish())
}

/// Whether `text` (lower case) is part of the host name, model, manufacturer or serial.
fn matches(host: &HostRef, b: &Battery, text: &str) -> bool {
    let fields = [Some(&host.hostname), b.model.as_ref(), b.manufacturer.as_ref(), b.serial.as_ref()];
    fields.into_iter().flatten().any(|f| f.to_lowercase().contains(text))
}

/// A battery as the API and the exports give it.
pub fn view(row: &BatteryRow) -> BatteryView {
    let b = &row.battery;
    BatteryView {
        host_id: row.host.id.clone(),
        hostname: row.host.hostname.clone(),
        model: b.model.clone(),
        manufacturer: b.manufacturer.clone(),
        serial: b.serial.clone(),
        chemistry: b.chemistry.clone(),
        design_capacity_mwh: b.design_capacity_mwh,
        full_charge_capacity_mwh: b.full_charge_capacity_mwh,
        health_percent: b.health_percent(),
        cycle_count: b.cycle_count,
        condition: b.condition.clone(),
    }
}

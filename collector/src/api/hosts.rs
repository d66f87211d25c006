//! The read API: hosts, their software and history, and which hosts run a given package.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::ApiAuth;
use crate::AppState;
use crate::error::AppError;
use crate::model::Role;
use crate::store::HostFilter;
use crate::views::{HistoryEntry, HostDetail, HostPage, InstalledPackage, SoftwareVersionHosts};

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, AppError> {
    q.map(|Query(t)| t).map_err(|e| AppError::bad_request("invalid_query", e.body_text()))
}

fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), AppError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    let offset = offset.unwrap_or(0);
    if !(1..=MAX_PAGE).contains(&limit) || offset < 0 {
        return Err(AppError::bad_request("invalid_query", format!("limit must be 1..={MAX_PAGE}, offset >= 0")));
    }
    Ok((limit, offset))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HostsQuery {
    /// Case-insensitive substring of the hostname.
    pub hostname: Option<String>,
    /// Case-insensitive substring of the OS id (`debian`) or pretty name.
    pub os: Option<String>,
    /// Only hosts seen at or after this time (RFC 3339).
    pub seen_since: Option<DateTime<Utc>>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// List hosts, filtered and paginated.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts", params(HostsQuery),
    responses((status = 200, body = HostPage), (status = 401, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn list_hosts(
    State(state): State<AppState>,
    auth: ApiAuth,
    q: Result<Query<HostsQuery>, QueryRejection>,
) -> Result<Json<HostPage>, AppError> {
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    let (limit, offset) = page(q.limit, q.offset)?;
    let filter = HostFilter { hostname: q.hostname, os: q.os, seen_since: q.seen_since, limit, offset };
    Ok(Json(state.store.list_hosts(&filter).await?))
}

/// One host with the current content of its sections.
#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "hosts", params(("id" = String, Path)),
    responses((status = 200, body = HostDetail), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn get_host(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<HostDetail>, AppError> {
    auth.require(Role::Viewer)?;
    state.store.get_host(&id).await?.map(Json).ok_or_else(|| AppError::NotFound(format!("host {id}")))
}

/// The packages installed on a host.
#[utoipa::path(get, path = "/api/v1/hosts/{id}/software", tag = "hosts", params(("id" = String, Path)),
    responses((status = 200, body = Vec<InstalledPackage>), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn host_software(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<Vec<InstalledPackage>>, AppError> {
    auth.require(Role::Viewer)?;
    if state.store.get_host_summary(&id).await?.is_none() {
        return Err(AppError::NotFound(format!("host {id}")));
    }
    Ok(Json(state.store.host_software(&id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A host's recorded changes, newest first.
#[utoipa::path(get, path = "/api/v1/hosts/{id}/history", tag = "hosts", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn host_history(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Vec<HistoryEntry>>, AppError> {
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    let (limit, offset) = page(q.limit, q.offset)?;
    if state.store.get_host_summary(&id).await?.is_none() {
        return Err(AppError::NotFound(format!("host {id}")));
    }
    Ok(Json(state.store.host_history(&id, limit, offset).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SoftwareQuery {
    /// Exact package name or source package name, e.g. `openssl`.
    pub name: String,
}

/// Which hosts have which versions of a package.
#[utoipa::path(get, path = "/api/v1/software", tag = "software", params(SoftwareQuery),
    responses((status = 200, body = Vec<SoftwareVersionHosts>), (status = 400, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn software(
    State(state): State<AppState>,
    auth: ApiAuth,
    q: Result<Query<SoftwareQuery>, QueryRejection>,
) -> Result<Json<Vec<SoftwareVersionHosts>>, AppError> {
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    if q.name.is_empty() || q.name.len() > 256 {
        return Err(AppError::bad_request("invalid_query", "name must be 1 to 256 characters"));
    }
    Ok(Json(state.store.software_by_name(&q.name).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SoftwareSearchQuery {
    /// Part of a package's or source package's name, 2 to 128 characters, any case, e.g. `log4j`.
    pub q: String,
    /// Only packages of this kind: `deb`, `rpm`, `apk`, `pacman`, `pypi`, `npm`, `gem`, `go`, `cargo`, `maven`,
    /// `snap`, `flatpak`, `windows`, `msix`, `macos`, `homebrew`, `macos_pkg`.
    pub kind: Option<String>,
}

/// Package names across every kind that contain the text, with how many versions and hosts each has, most hosts
/// first (at most 100; `truncated` says there were more). `GET /api/v1/software?name=` then lists one name's
/// versions and hosts.
#[utoipa::path(get, path = "/api/v1/software/search", tag = "software", params(SoftwareSearchQuery),
    responses((status = 200, body = crate::views::SoftwareSearch), (status = 400, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn software_search(
    State(state): State<AppState>,
    auth: ApiAuth,
    q: Result<Query<SoftwareSearchQuery>, QueryRejection>,
) -> Result<Json<crate::views::SoftwareSearch>, AppError> {
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    Ok(Json(crate::app::software::search(state.store.as_ref(), &q.q, q.kind.as_deref()).await?))
}

/// The `limit` of the fleet-wide lists (batteries, monitors, TPMs): 1 to 100,000, 1,000 when absent.
fn fleet_list_limit(limit: Option<usize>) -> Result<usize, AppError> {
    let limit = limit.unwrap_or(1_000);
    if !(1..=100_000).contains(&limit) {
        return Err(AppError::bad_request("invalid_query", "limit must be 1..=100000"));
    }
    Ok(limit)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatteriesQuery {
    /// Only batteries whose host name, model, manufacturer or serial contains this text (any case).
    pub q: Option<String>,
    /// Only batteries whose health is known and below this percentage (a whole number; empty is none).
    pub below: Option<String>,
    /// At most this many (1 to 100,000; default 1,000).
    pub limit: Option<usize>,
}

/// Every battery of the fleet with the host it is in, the most worn first (by health, unknown last; then by
/// cycles): what a laptop refresh or a battery recall needs, read from each host's last hardware report.
#[utoipa::path(get, path = "/api/v1/batteries", tag = "hosts", params(BatteriesQuery),
    responses((status = 200, body = crate::views::BatteryList), (status = 400, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn batteries(
    State(state): State<AppState>,
    auth: ApiAuth,
    q: Result<Query<BatteriesQuery>, QueryRejection>,
) -> Result<Json<crate::views::BatteryList>, AppError> {
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    let limit = fleet_list_limit(q.limit)?;
    let search = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    let below = crate::app::batteries::parse_below(q.below.as_deref())
        .map_err(|message| AppError::bad_request("invalid_query", message))?;
    let filter = crate::app::batteries::BatteryFilter { search, below };
    let (rows, truncated) = crate::app::batteries::batteries(state.store.as_ref(), &filter, limit).await?;
    Ok(Json(crate::views::BatteryList { batteries: rows.iter().map(crate::app::batteries::view).collect(), truncated }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TpmsQuery {
    /// Only hosts whose name, TPM manufacturer or TPM firmware version contains this text (any case).
    pub q: Option<String>,
    /// `lacking` (every host not known to have a usable TPM 2.0), or one state: `none`, `older`, `unknown`, `off`,
    /// `ready`.
    pub state: Option<String>,
    /// At most this many (1 to 100,000; default 1,000).
    pub limit: Option<usize>,
}

/// Every host that reported its hardware, with its TPM: those not known to have a usable TPM 2.0 first (none
/// reported, 1.2, family unknown, 2.0 not enabled or not activated), then by host name. What a Windows 11
/// roll-out or a TPM firmware advisory needs, read from each host's last hardware report.
#[utoipa::path(get, path = "/api/v1/tpms", tag = "hosts", params(TpmsQuery),
    responses((status = 200, body = crate::views::TpmList), (status = 400, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn tpms(
    State(state): State<AppState>,
    auth: ApiAuth,
    q: Result<Query<TpmsQuery>, QueryRejection>,
) -> Result<Json<crate::views::TpmList>, AppError> {
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    let limit = fleet_list_limit(q.limit)?;
    let search = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    let tpm_state = crate::app::tpms::StateFilter::parse(q.state.as_deref())
        .map_err(|message| AppError::bad_request("invalid_query", message))?;
    let filter = crate::app::tpms::TpmFilter { search, state: tpm_state };
    let (rows, truncated) = crate::app::tpms::tpms(state.store.as_ref(), &filter, limit).await?;
    Ok(Json(crate::views::TpmList { tpms: rows.iter().map(crate::app::tpms::view).collect(), truncated }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonitorsQuery {
    /// Only monitors whose host name, product id, model or serial contains this text (any case).
    pub q: Option<String>,
    /// At most this many (1 to 100,000; default 1,000).
    pub limit: Option<usize>,
}

/// Every monitor of the fleet with the host it is attached to, in host id then connector order: the asset register
/// of displays, read from each host's last hardware report.
#[utoipa::path(get, path = "/api/v1/monitors", tag = "hosts", params(MonitorsQuery),
    responses((status = 200, body = crate::views::MonitorList), (status = 400, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn monitors(
    State(state): State<AppState>,
    auth: ApiAuth,
    q: Result<Query<MonitorsQuery>, QueryRejection>,
) -> Result<Json<crate::views::MonitorList>, AppError> {
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    let limit = fleet_list_limit(q.limit)?;
    let search = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let (rows, truncated) = crate::app::monitors::monitors(state.store.as_ref(), search, limit).await?;
    Ok(Json(crate::views::MonitorList { monitors: rows.iter().map(crate::app::monitors::view).collect(), truncated }))
}

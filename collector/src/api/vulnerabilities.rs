//! Vulnerabilities: the fleet-wide list (JSON or CSV), one advisory with its affected hosts, a host's findings, and
//! the admin upload of advisories.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::mpsc;

use axum::Json;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::{ApiAuth, ClientIp};
use super::hosts::query;
use crate::AppState;
use crate::app::advisory_sync::ImportReport;
use crate::error::AppError;
use crate::model::Role;
use crate::store::advisories::{HostVulnerabilities, VulnerabilityDetail, VulnerabilityFilter, VulnerabilityPage};
use crate::vuln::severity::SeverityLevel;
use crate::vuln::{AdvisoryDb, ImportLimits, import_stream};

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;
/// Rows of one CSV export.
const MAX_CSV_ROWS: i64 = 100_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VulnerabilitiesQuery {
    /// Comma-separated severity levels to keep: critical, high, medium, low, negligible, unknown.
    pub severity: Option<String>,
    /// Only advisories in (true) or not in (false) the CISA KEV catalog.
    pub kev: Option<bool>,
    /// Exact installed package or source package name.
    pub package: Option<String>,
    /// `json` (default) or `csv` (all matching rows, up to 100,000).
    pub format: Option<String>,
    /// Page size, 1 to 1000 (default 100); JSON only.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Advisories affecting enrolled hosts, with host counts; ranked KEV first, then severity, then age.
#[utoipa::path(get, path = "/api/v1/vulnerabilities", tag = "vulnerabilities", params(VulnerabilitiesQuery),
    responses(
        (status = 200, body = VulnerabilityPage, description = "JSON, or text/csv with `format=csv`"),
        (status = 400, body = crate::api::openapi::ApiErrorSchema),
    ),
    security(("api_token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: ApiAuth,
    q: Result<Query<VulnerabilitiesQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    auth.require(Role::Viewer)?;
    let q = query(q)?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(AppError::bad_request("invalid_query", format!("unknown format {other:?}"))),
    };
    let mut severities = Vec::new();
    for s in q.severity.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
        let level = match s {
            "unknown" => SeverityLevel::Unknown,
            other => SeverityLevel::from_label(other)
                .ok_or_else(|| AppError::bad_request("invalid_query", format!("unknown severity {other:?}")))?,
        };
        severities.push(level.as_str().to_owned());
    }
    let (limit, offset) = if csv {
        (MAX_CSV_ROWS, 0)
    } else {
        let limit = q.limit.unwrap_or(DEFAULT_PAGE);
        let offset = q.offset.unwrap_or(0);
        if !(1..=MAX_PAGE).contains(&limit) || offset < 0 {
            return Err(AppError::bad_request("invalid_query", format!("limit must be 1..={MAX_PAGE}, offset >= 0")));
        }
        (limit, offset)
    };
    let filter = VulnerabilityFilter { severities, kev: q.kev, package: q.package, limit, offset };
    let page = state.store.list_vulnerabilities(&filter).await?;
    if csv {
        let body = crate::export::vulnerabilities(&page);
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(page).into_response())
}

/// One advisory (by id, or by alias such as a CVE id) with the affected hosts, versions and fixed versions.
#[utoipa::path(get, path = "/api/v1/vulnerabilities/{id}", tag = "vulnerabilities", params(("id" = String, Path)),
    responses((status = 200, body = VulnerabilityDetail), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn detail(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<VulnerabilityDetail>, AppError> {
    auth.require(Role::Viewer)?;
    state.store.vulnerability(&id).await?.map(Json).ok_or_else(|| AppError::NotFound(format!("advisory {id}")))
}

/// A host's vulnerabilities, ranked, with the upgrade command for its package manager.
#[utoipa::path(get, path = "/api/v1/hosts/{id}/vulnerabilities", tag = "vulnerabilities", params(("id" = String, Path)),
    responses((status = 200, body = HostVulnerabilities), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn host(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<HostVulnerabilities>, AppError> {
    auth.require(Role::Viewer)?;
    state.store.host_vulnerabilities(&id).await?.map(Json).ok_or_else(|| AppError::NotFound(format!("host {id}")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// File name whose extension gives the format: `.json`, `.jsonl`, `.gz`, `.xz`, `.zst`, `.zip`
    /// (default `upload.json`).
    pub name: Option<String>,
}

/// Import advisories (OSV records, or the CISA KEV catalog) from the request body, streamed (admin).
#[utoipa::path(post, path = "/api/v1/advisories", tag = "vulnerabilities", params(UploadQuery),
    request_body(content = String, description = "an advisory file", content_type = "application/octet-stream"),
    responses(
        (status = 200, body = ImportReport),
        (status = 403, body = crate::api::openapi::ApiErrorSchema),
        (status = 413, body = crate::api::openapi::ApiErrorSchema),
    ),
    security(("api_token" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    q: Result<Query<UploadQuery>, QueryRejection>,
    body: Body,
) -> Result<Json<ImportReport>, AppError> {
    auth.require(Role::Admin)?;
    let name = query(q)?.name.unwrap_or_else(|| "upload.json".to_owned());
    let limits = ImportLimits::upload();
    let max = limits.max_input_bytes.unwrap_or(u64::MAX);
    let too_large =
        || AppError::PayloadTooLarge { limit: "max_upload_bytes", message: format!("the upload is over {max} bytes") };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }

    // The body is pumped into a bounded channel that the blocking importer reads as it decodes.
    let (tx, rx) = mpsc::sync_channel::<io::Result<Bytes>>(16);
    let import_name = name.clone();
    let import = tokio::task::spawn_blocking(move || {
        let mut db = AdvisoryDb::new();
        let reader = ChannelReader { rx, current: Bytes::new() };
        let outcome = import_stream(&mut db, &import_name, reader, declared, &limits, &mut |_| {});
        (db, outcome)
    });
    let mut body = body;
    let mut received: u64 = 0;
    let mut over = false;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let chunk = match frame {
            None => break,
            Some(Err(e)) => Err(io::Error::other(e.to_string())),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => Ok(data),
                Err(_) => continue,
            },
        };
        if let Ok(data) = &chunk {
            received += data.len() as u64;
            if received > max {
                over = true;
            }
        }
        let failed = chunk.is_err() || over;
        let chunk = if over { Err(io::Error::other("upload over the size limit")) } else { chunk };
        // The importer stops reading at its first error; then the receiver is gone and sending fails.
        if tx.send(chunk).is_err() || failed {
            break;
        }
    }
    drop(tx);
    let (db, outcome) = import.await.map_err(AppError::internal)?;
    if over {
        return Err(too_large());
    }
    let now = (state.clock)();
    let policy = crate::vuln::FindingPolicy::from_params(&state.rules.current().params);
    let report = crate::app::vulnerabilities::import(
        state.store.as_ref(),
        &auth.actor(ip),
        &name,
        &db,
        outcome.summary,
        now,
        &policy,
    )
    .await?;
    if report.summary.eol_products > 0 {
        crate::app::evaluation::reload(&state).await.map_err(AppError::internal)?;
    }
    Ok(Json(report))
}

/// A blocking reader over chunks sent from the async side.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(chunk) => self.current = chunk?,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

pub fn router() -> axum::Router<AppState> {
    use axum::extract::DefaultBodyLimit;
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/api/v1/vulnerabilities", get(list))
        .route("/api/v1/vulnerabilities/{id}", get(detail))
        .route("/api/v1/hosts/{id}/vulnerabilities", get(host))
        // The upload handler enforces its own size limit while streaming.
        .route("/api/v1/advisories", post(upload).layer(DefaultBodyLimit::disable()))
}

//! Admin-only endpoints: enrolment secrets, held enrolments and the audit log.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{ApiAuth, ClientIp};
use super::hosts::query;
use crate::AppState;
use crate::app::admin::{self, AdminError};
use crate::app::enrol::{self, DecideError, Verdict};
use crate::config::parse_duration;
use crate::error::AppError;
use crate::model::Role;
use crate::views::{AuditEntry, EnrollSecretInfo, EnrolmentRequestInfo};
use serde_json::{Value, json};

impl From<AdminError> for AppError {
    fn from(e: AdminError) -> AppError {
        match e {
            AdminError::Invalid(message) => AppError::bad_request("invalid_request", message),
            AdminError::Store(e) => e.into(),
            other => AppError::internal(other),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewEnrollSecretRequest {
    pub label: String,
    /// e.g. `30d`, `12h`; absent for no expiry.
    pub expires_in: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEnrollSecret {
    #[serde(flatten)]
    pub info: EnrollSecretInfo,
    /// Shown once; only its hash is stored.
    pub secret: String,
}

/// List enrolment secrets (admin).
#[utoipa::path(get, path = "/api/v1/admin/enroll-secrets", tag = "admin",
    responses((status = 200, body = Vec<EnrollSecretInfo>), (status = 403, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn list_enroll_secrets(
    State(state): State<AppState>,
    auth: ApiAuth,
) -> Result<Json<Vec<EnrollSecretInfo>>, AppError> {
    auth.require(Role::Admin)?;
    Ok(Json(state.store.list_enroll_secrets().await?))
}

/// Create an enrolment secret (admin).
#[utoipa::path(post, path = "/api/v1/admin/enroll-secrets", tag = "admin", request_body = NewEnrollSecretRequest,
    responses((status = 201, body = CreatedEnrollSecret), (status = 403, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn create_enroll_secret(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedEnrollSecret>), AppError> {
    auth.require(Role::Admin)?;
    let request: NewEnrollSecretRequest = super::json_body(&body)?;
    let expires_in = match request.expires_in.as_deref() {
        Some(text) => Some(parse_duration(text).map_err(|e| AppError::bad_request("invalid_request", e))?),
        None => None,
    };
    let now = (state.clock)();
    let (info, secret) =
        admin::create_enroll_secret(state.store.as_ref(), &auth.actor(ip), &request.label, expires_in, now).await?;
    Ok((StatusCode::CREATED, Json(CreatedEnrollSecret { info, secret: secret.expose().to_owned() })))
}

/// Revoke an enrolment secret (admin).
#[utoipa::path(delete, path = "/api/v1/admin/enroll-secrets/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn revoke_enroll_secret(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    auth.require(Role::Admin)?;
    let now = (state.clock)();
    if admin::revoke_enroll_secret(state.store.as_ref(), &auth.actor(ip), &id, now).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("active enrolment secret {id}")))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Newest entries to return, 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

/// The audit log, newest first (admin).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    auth: ApiAuth,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, AppError> {
    auth.require(Role::Admin)?;
    let limit = query(q)?.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::bad_request("invalid_query", "limit must be 1..=1000"));
    }
    Ok(Json(state.store.list_audit(limit).await?))
}

impl From<DecideError> for AppError {
    fn from(e: DecideError) -> AppError {
        match e {
            e @ DecideError::NotPending(_) => AppError::Conflict { code: "not_pending", message: e.to_string() },
            e @ DecideError::Retired { .. } => AppError::Conflict { code: "host_retired", message: e.to_string() },
            DecideError::Store(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnrolmentQuery {
    /// Also the decided and superseded requests (default: pending only).
    pub all: Option<bool>,
    /// Newest requests to return, 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

/// Enrolments held because they would take over a live host's record, newest first (admin).
#[utoipa::path(get, path = "/api/v1/admin/enrolments", tag = "admin", params(EnrolmentQuery),
    responses((status = 200, body = Vec<EnrolmentRequestInfo>), (status = 403, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn list_enrolments(
    State(state): State<AppState>,
    auth: ApiAuth,
    q: Result<Query<EnrolmentQuery>, QueryRejection>,
) -> Result<Json<Vec<EnrolmentRequestInfo>>, AppError> {
    auth.require(Role::Admin)?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::bad_request("invalid_query", "limit must be 1..=1000"));
    }
    Ok(Json(state.store.list_enrolment_requests(q.all.unwrap_or(false), limit).await?))
}

async fn decide(
    state: AppState,
    auth: ApiAuth,
    ip: String,
    id: String,
    verdict: Verdict,
) -> Result<Json<Value>, AppError> {
    auth.require(Role::Admin)?;
    let now = (state.clock)();
    let held = enrol::decide_held(state.store.as_ref(), &auth.actor(ip), &id, verdict, now).await?;
    let state_name = if verdict == Verdict::Approve { "approved" } else { "rejected" };
    Ok(Json(json!({ "id": held.id, "host_id": held.host_id, "state": state_name })))
}

/// Approve a held enrolment: the waiting agent takes the host's record over and the old agent's token stops
/// working (admin).
#[utoipa::path(post, path = "/api/v1/admin/enrolments/{id}/approve", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, description = "`{id, host_id, state}`"),
        (status = 409, description = "`not_pending` (decided, superseded or unknown) or `host_retired`", body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn approve_enrolment(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    decide(state, auth, ip, id, Verdict::Approve).await
}

/// Reject a held enrolment: its token never works; the host's agent goes on as before (admin).
#[utoipa::path(post, path = "/api/v1/admin/enrolments/{id}/reject", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, description = "`{id, host_id, state}`"),
        (status = 409, description = "`not_pending`: decided, superseded or unknown", body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn reject_enrolment(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    decide(state, auth, ip, id, Verdict::Reject).await
}

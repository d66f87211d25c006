//! Admin-only endpoints: enrolment secrets and the audit log.

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
use crate::config::parse_duration;
use crate::error::AppError;
use crate::model::Role;
use crate::views::{AuditEntry, EnrollSecretInfo};

impl From<AdminError> for AppError {
    fn from(e: AdminError) -> AppError {
        match e {
            AdminError::Invalid(message) => AppError::bad_request("invalid_request", message),
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
    let request: NewEnrollSecretRequest =
        serde_json::from_slice(&body).map_err(|e| AppError::bad_request("invalid_request", e.to_string()))?;
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

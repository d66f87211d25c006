//! The HTTP API: routes, and one module per resource.

pub mod admin;
pub mod agent;
pub mod auth;
pub mod disposal;
pub mod findings;
pub mod health;
pub mod hosts;
pub mod integrations;
pub mod openapi;
pub mod vulnerabilities;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use utoipa::OpenApi;

use crate::AppState;
use crate::error::AppError;

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::ApiDoc::openapi())
}

async fn no_route() -> AppError {
    AppError::NotFound("route".to_owned())
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/agent/enroll", post(agent::enroll).layer(DefaultBodyLimit::max(agent::MAX_ENROLL_BODY)))
        // The report handler enforces the configured body limit itself, naming it in the error.
        .route("/api/v1/agent/report", post(agent::report).layer(DefaultBodyLimit::disable()))
        .route("/api/v1/hosts", get(hosts::list_hosts))
        .route("/api/v1/hosts/{id}", get(hosts::get_host))
        .route("/api/v1/hosts/{id}/software", get(hosts::host_software))
        .route("/api/v1/hosts/{id}/history", get(hosts::host_history))
        .route("/api/v1/software", get(hosts::software))
        .route("/api/v1/software/search", get(hosts::software_search))
        .route("/api/v1/monitors", get(hosts::monitors))
        .route("/api/v1/batteries", get(hosts::batteries))
        .route("/api/v1/tpms", get(hosts::tpms))
        .route("/api/v1/admin/enroll-secrets", get(admin::list_enroll_secrets).post(admin::create_enroll_secret))
        .route("/api/v1/admin/enroll-secrets/{id}", delete(admin::revoke_enroll_secret))
        .route("/api/v1/admin/enrolments", get(admin::list_enrolments))
        .route("/api/v1/admin/enrolments/{id}/approve", post(admin::approve_enrolment))
        .route("/api/v1/admin/enrolments/{id}/reject", post(admin::reject_enrolment))
        .route("/api/v1/admin/audit", get(admin::audit))
        .merge(disposal::router())
        .merge(findings::router())
        .merge(integrations::router())
        .merge(vulnerabilities::router())
        .route("/metrics", get(crate::metrics::render))
        .merge(crate::console::router())
        .fallback(no_route)
        .layer(axum::middleware::from_fn(crate::error::json_api_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::console::security_headers))
        .with_state(state)
        .layer(axum::middleware::from_fn(crate::metrics::track))
}

/// A JSON request body as `T`, or the documented `invalid_request` error saying what is wrong with it.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| AppError::bad_request("invalid_request", e.to_string()))
}

//! Integrations over HTTP (admin): subscriptions that push events to signed webhooks, their delivery log, test
//! sends, replays and secret rotation; the same use cases as `muster-collector integrations`.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{ApiAuth, ClientIp};
use super::hosts::query;
use crate::AppState;
use crate::app::integrations as uc;
use crate::error::AppError;
use crate::integrations::{IntegrationError, IntegrationRequest, SettingsChange};
use crate::model::integrations::{DeliveryRecord, Integration, IntegrationKind, PayloadFormat};
use crate::model::{Role, Severity};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/integrations", get(list).post(create))
        .route("/api/v1/integrations/{id}", get(detail).patch(update).delete(remove))
        .route("/api/v1/integrations/{id}/test", post(test))
        .route("/api/v1/integrations/{id}/enable", post(enable))
        .route("/api/v1/integrations/{id}/disable", post(disable))
        .route("/api/v1/integrations/{id}/rotate-secret", post(rotate_secret))
        .route("/api/v1/integrations/{id}/token", axum::routing::put(set_token))
        .route("/api/v1/integrations/{id}/deliveries", get(deliveries))
        .route("/api/v1/integrations/{id}/deliveries/{seq}/replay", post(replay))
}

impl From<IntegrationError> for AppError {
    fn from(e: IntegrationError) -> AppError {
        match e {
            IntegrationError::Name
            | IntegrationError::Url(_)
            | IntegrationError::Event(_)
            | IntegrationError::Format(_)
            | IntegrationError::Digest(_)
            | IntegrationError::Filter(_)
            | IntegrationError::SyslogUrl(_)
            | IntegrationError::Jira(_)
            | IntegrationError::ServiceNow(_)
            | IntegrationError::Token(_) => AppError::bad_request("invalid_request", e.to_string()),
            IntegrationError::Exists(_) => AppError::Conflict { code: "integration_exists", message: e.to_string() },
            IntegrationError::NotFound(id) => AppError::NotFound(format!("integration {id}")),
            IntegrationError::NotDead { .. } => AppError::Conflict { code: "not_dead", message: e.to_string() },
            IntegrationError::Disabled(_) => {
                AppError::Conflict { code: "integration_disabled", message: e.to_string() }
            }
            IntegrationError::Store(e) => e.into(),
            IntegrationError::Random(e) => AppError::internal(e),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIntegrationRequest {
    pub name: String,
    #[serde(default = "webhook")]
    pub kind: IntegrationKind,
    /// Webhook, `slack` (an incoming webhook's URL), `teams` (a workflow's "When a Teams webhook request is
    /// received" URL): where events are POSTed (http:// or https://). Syslog: `udp://`, `tcp://` or `tls://HOST[:PORT]`,
    /// with `?facility=local0…local7|auth|authpriv|security|user|daemon` and, for TLS, `&ca=/path/to/ca.pem`.
    pub url: String,
    /// `json` (default), or `cef` for syslog.
    #[serde(default)]
    pub format: PayloadFormat,
    /// Event types (`GET` an integration to see them); absent or empty: finding.opened, finding.reopened,
    /// finding.recurred, finding.risk_acceptance_expired, finding.overdue, host.enrolment_held,
    /// advisories.update_failed.
    #[serde(default)]
    pub events: Vec<String>,
    /// Only finding events at least this severe.
    pub min_severity: Option<Severity>,
    /// Only finding events of these rules or advisories: an id (`ssh.permit_root_login`, `CVE-2024-6387`) or a
    /// prefix ending in `*` (`ssh.*`), any case; absent or empty: all.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Only events about hosts with one of these tags; absent or empty: all.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Slack and Teams: hold events until the oldest has waited this many minutes (1 to 1440), then send them as
    /// one message; absent: one message per event.
    pub digest_minutes: Option<u32>,
    /// `jira` only, and required there: the project, issue type, account and mapping (`url` is the site).
    pub jira: Option<crate::model::integrations::JiraSettings>,
    /// `servicenow` only, and required there: the integration user, assignment group and mapping (`url` is the
    /// instance).
    pub servicenow: Option<crate::model::integrations::ServiceNowSettings>,
    /// `jira` and `servicenow` only, and required there: Jira's API token or the ServiceNow user's password; never
    /// shown again.
    pub token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The Jira subscription's new API token, or the ServiceNow user's new password.
    pub token: String,
}

fn webhook() -> IntegrationKind {
    IntegrationKind::Webhook
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedIntegration {
    pub integration: Integration,
    /// The Standard Webhooks signing secret (`whsec_…`), shown only now; only `webhook` deliveries are signed.
    /// Absent for `jira` and `servicenow`, whose secret is the credential they were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedEvent {
    /// The event's number in the delivery log.
    pub event_seq: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveriesQuery {
    /// Newest first; default 50, at most 1000.
    pub limit: Option<i64>,
}

/// List integrations (admin).
#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations",
    responses((status = 200, body = Vec<Integration>), (status = 403, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn list(State(state): State<AppState>, auth: ApiAuth) -> Result<Json<Vec<Integration>>, AppError> {
    auth.require(Role::Admin)?;
    Ok(Json(state.store.list_integrations().await?))
}

/// Subscribe a webhook to events (admin); its signing secret is in the answer only.
#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations", request_body = NewIntegrationRequest,
    responses((status = 201, body = CreatedIntegration), (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 409, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedIntegration>), AppError> {
    auth.require(Role::Admin)?;
    let r: NewIntegrationRequest = super::json_body(&body)?;
    let request = IntegrationRequest {
        name: r.name,
        kind: r.kind,
        url: r.url,
        format: r.format,
        events: r.events,
        min_severity: r.min_severity,
        rules: r.rules,
        tags: r.tags,
        digest_minutes: r.digest_minutes,
        jira: r.jira,
        servicenow: r.servicenow,
        token: r.token,
    };
    let (integration, secret) = uc::add(state.store.as_ref(), &auth.actor(ip), request, (state.clock)()).await?;
    Ok((StatusCode::CREATED, Json(CreatedIntegration { integration, secret })))
}

/// One integration, by id or name (admin).
#[utoipa::path(get, path = "/api/v1/integrations/{id}", tag = "integrations",
    params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = Integration), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn detail(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<Integration>, AppError> {
    auth.require(Role::Admin)?;
    Ok(Json(uc::found(state.store.as_ref(), &id).await?))
}

/// What `PATCH` changes; absent fields stay as they are, `null` clears `min_severity` and `digest_minutes`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationUpdate {
    /// Event types; an empty list: the default ones.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Severity>)]
    pub min_severity: Option<Option<Severity>>,
    /// Rule or advisory ids or prefixes ending in `*`; an empty list: all.
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    /// Host tags; an empty list: all.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub digest_minutes: Option<Option<u32>>,
}

/// A field that is present, `null` or not: `Some(None)` for `null` (absent fields take the default, `None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Change what an integration sends: its events, filters and digest (admin). Events already queued stay.
#[utoipa::path(patch, path = "/api/v1/integrations/{id}", tag = "integrations", request_body = IntegrationUpdate,
    params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = Integration), (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Integration>, AppError> {
    auth.require(Role::Admin)?;
    let u: IntegrationUpdate = super::json_body(&body)?;
    let change = SettingsChange {
        events: u.events,
        min_severity: u.min_severity,
        rules: u.rules,
        tags: u.tags,
        digest_minutes: u.digest_minutes,
    };
    Ok(Json(uc::update(state.store.as_ref(), &auth.actor(ip), &id, change, (state.clock)()).await?))
}

/// Remove an integration and its delivery log (admin).
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations",
    params(("id" = String, Path, description = "id or name")),
    responses((status = 204), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    auth.require(Role::Admin)?;
    uc::remove(state.store.as_ref(), &auth.actor(ip), &id, (state.clock)()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queue a test event for this integration only; its delivery shows in the log within seconds (admin).
#[utoipa::path(post, path = "/api/v1/integrations/{id}/test", tag = "integrations",
    params(("id" = String, Path, description = "id or name")),
    responses((status = 202, body = QueuedEvent), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn test(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<QueuedEvent>), AppError> {
    auth.require(Role::Admin)?;
    let event_seq = uc::send_test(state.store.as_ref(), &auth.actor(ip), &id, (state.clock)()).await?;
    Ok((StatusCode::ACCEPTED, Json(QueuedEvent { event_seq })))
}

async fn set_enabled(
    state: AppState,
    auth: ApiAuth,
    ip: String,
    id: String,
    enabled: bool,
) -> Result<Json<Integration>, AppError> {
    auth.require(Role::Admin)?;
    Ok(Json(uc::set_enabled(state.store.as_ref(), &auth.actor(ip), &id, enabled, (state.clock)()).await?))
}

/// Send events again (admin).
#[utoipa::path(post, path = "/api/v1/integrations/{id}/enable", tag = "integrations",
    params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = Integration), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn enable(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Json<Integration>, AppError> {
    set_enabled(state, auth, ip, id, true).await
}

/// Stop sending; no events are queued for it meanwhile (admin).
#[utoipa::path(post, path = "/api/v1/integrations/{id}/disable", tag = "integrations",
    params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = Integration), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn disable(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Json<Integration>, AppError> {
    set_enabled(state, auth, ip, id, false).await
}

/// A new signing secret, shown only in this answer; the previous one signs beside it for 24 hours (admin).
#[utoipa::path(post, path = "/api/v1/integrations/{id}/rotate-secret", tag = "integrations",
    params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = CreatedIntegration), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Json<CreatedIntegration>, AppError> {
    auth.require(Role::Admin)?;
    let (integration, secret) = uc::rotate_secret(state.store.as_ref(), &auth.actor(ip), &id, (state.clock)()).await?;
    Ok(Json(CreatedIntegration { integration, secret: Some(secret) }))
}

/// Replace a Jira subscription's API token or a ServiceNow subscription's password (admin); the old one is not used
/// again.
#[utoipa::path(put, path = "/api/v1/integrations/{id}/token", tag = "integrations", request_body = TokenRequest,
    params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = Integration), (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn set_token(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Integration>, AppError> {
    auth.require(Role::Admin)?;
    let r: TokenRequest = super::json_body(&body)?;
    let i = uc::set_token(state.store.as_ref(), &auth.actor(ip), &id, &r.token, (state.clock)()).await?;
    Ok(Json(i))
}

/// The delivery log, newest event first: status, attempts, last answer (admin).
#[utoipa::path(get, path = "/api/v1/integrations/{id}/deliveries", tag = "integrations",
    params(("id" = String, Path, description = "id or name"), DeliveriesQuery),
    responses((status = 200, body = Vec<DeliveryRecord>), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
    q: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<Vec<DeliveryRecord>>, AppError> {
    auth.require(Role::Admin)?;
    let q = query(q)?;
    let (_, list) = uc::deliveries(state.store.as_ref(), &id, q.limit.unwrap_or(50)).await?;
    Ok(Json(list))
}

/// Send a dead delivery again at the integration's next turn (admin).
#[utoipa::path(post, path = "/api/v1/integrations/{id}/deliveries/{seq}/replay", tag = "integrations",
    params(("id" = String, Path, description = "id or name"), ("seq" = i64, Path, description = "event number")),
    responses((status = 202), (status = 404, body = crate::api::openapi::ApiErrorSchema),
        (status = 409, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path((id, seq)): Path<(String, i64)>,
) -> Result<StatusCode, AppError> {
    auth.require(Role::Admin)?;
    uc::replay(state.store.as_ref(), &auth.actor(ip), &id, seq, (state.clock)()).await?;
    Ok(StatusCode::ACCEPTED)
}

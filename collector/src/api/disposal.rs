//! The disposal API: the queue and each host's status (viewer), lifecycle actions and evidence (analyst),
//! certificates as JSON and printable HTML (viewer), and the agent's upload of verification results (host token).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use muster_shared::v1::{DisposalAck, DisposalReport};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{AgentAuth, ApiAuth, ClientIp};
use super::json_body;
use crate::AppState;
use crate::app::admin::Actor;
use crate::disposal::evidence::{self, DestructionRequest, ImportOutcome};
use crate::disposal::lifecycle::Destination;
use crate::disposal::{self, DisposalError, DisposalStatus, StartRequest, certificate, html, issue};
use crate::error::AppError;
use crate::model::Role;

impl From<DisposalError> for AppError {
    fn from(e: DisposalError) -> AppError {
        match e {
            DisposalError::HostNotFound(host) => AppError::NotFound(format!("host {host}")),
            DisposalError::CertificateNotFound(id) => AppError::NotFound(format!("certificate {id}")),
            DisposalError::Invalid(message) => AppError::bad_request("invalid_request", message),
            DisposalError::WrongState(message) => AppError::Conflict { code: "wrong_lifecycle_state", message },
            e @ DisposalError::Incomplete { .. } => {
                AppError::Conflict { code: "disposal_incomplete", message: e.to_string() }
            }
            DisposalError::Store(e) => e.into(),
            other => AppError::internal(other),
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/disposal", get(queue))
        .route("/api/v1/disposal/public-key", get(public_key))
        .route("/api/v1/disposal/hosts/{host}", get(host_status))
        .route("/api/v1/disposal/hosts/{host}/start", post(start))
        .route("/api/v1/disposal/hosts/{host}/destruction", post(destruction))
        .route("/api/v1/disposal/hosts/{host}/verification", post(import))
        .route("/api/v1/disposal/hosts/{host}/complete", post(complete))
        .route("/api/v1/disposal/hosts/{host}/redeploy", post(redeploy))
        .route("/api/v1/disposal/certificates/{id}", get(certificate_json))
        .route("/api/v1/disposal/certificates/{id}/html", get(certificate_html))
        .route("/api/v1/agent/disposal", post(agent_report))
}

/// Hosts not in service and what each still lacks (viewer).
#[utoipa::path(get, path = "/api/v1/disposal", tag = "disposal",
    responses((status = 200, body = Vec<DisposalStatus>), (status = 401, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn queue(State(state): State<AppState>, auth: ApiAuth) -> Result<Json<Vec<DisposalStatus>>, AppError> {
    auth.require(Role::Viewer)?;
    Ok(Json(disposal::queue(state.store.as_ref()).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKey {
    /// `ed25519:<64 hex digits>`, as `muster-collector certificate verify --public-key` takes it.
    pub public_key: String,
    pub key_id: String,
}

/// The key certificates are signed with (viewer).
#[utoipa::path(get, path = "/api/v1/disposal/public-key", tag = "disposal",
    responses((status = 200, body = PublicKey)), security(("api_token" = [])))]
pub async fn public_key(State(state): State<AppState>, auth: ApiAuth) -> Result<Json<PublicKey>, AppError> {
    auth.require(Role::Viewer)?;
    let key = issue::public_key(state.store.as_ref(), (state.clock)()).await?;
    Ok(Json(PublicKey { public_key: certificate::public_key_text(&key), key_id: certificate::key_id(&key) }))
}

/// One host's disposal status: state, case, disks and what is missing (viewer). `host` is an id or hostname.
#[utoipa::path(get, path = "/api/v1/disposal/hosts/{host}", tag = "disposal", params(("host" = String, Path)),
    responses((status = 200, body = DisposalStatus), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn host_status(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(host): Path<String>,
) -> Result<Json<DisposalStatus>, AppError> {
    auth.require(Role::Viewer)?;
    Ok(Json(disposal::status(state.store.as_ref(), &host).await?))
}

/// Start decommissioning (analyst).
#[utoipa::path(post, path = "/api/v1/disposal/hosts/{host}/start", tag = "disposal", params(("host" = String, Path)),
    request_body = StartRequest,
    responses((status = 200, body = DisposalStatus), (status = 409, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn start(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(host): Path<String>,
    body: Bytes,
) -> Result<Json<DisposalStatus>, AppError> {
    auth.require(Role::Analyst)?;
    let request: StartRequest = json_body(&body)?;
    let now = (state.clock)();
    Ok(Json(disposal::start(state.store.as_ref(), &auth.actor(ip), &host, &request, now).await?))
}

/// Record the witnessed physical destruction of one disk (analyst).
#[utoipa::path(post, path = "/api/v1/disposal/hosts/{host}/destruction", tag = "disposal",
    params(("host" = String, Path)), request_body = DestructionRequest,
    responses((status = 200, body = DisposalStatus), (status = 400, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn destruction(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(host): Path<String>,
    body: Bytes,
) -> Result<Json<DisposalStatus>, AppError> {
    auth.require(Role::Analyst)?;
    let request: DestructionRequest = json_body(&body)?;
    let now = (state.clock)();
    Ok(Json(evidence::record_destruction(state.store.as_ref(), &auth.actor(ip), &host, &request, now).await?))
}

/// Import a `muster-agent disposal verify --report` file for this host (analyst).
#[utoipa::path(post, path = "/api/v1/disposal/hosts/{host}/verification", tag = "disposal",
    params(("host" = String, Path)),
    request_body(content = Object, description = "a `muster_shared::v1::DisposalReport`", content_type = "application/json"),
    responses((status = 200, body = ImportOutcome), (status = 400, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn import(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(host): Path<String>,
    body: Bytes,
) -> Result<Json<ImportOutcome>, AppError> {
    auth.require(Role::Analyst)?;
    let report: DisposalReport = json_body(&body)?;
    let now = (state.clock)();
    let outcome =
        evidence::import_verification(state.store.as_ref(), &auth.actor(ip), Some(&host), &report, now).await?;
    Ok(Json(outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompleteRequest {
    pub destination: Destination,
    /// The recycler's receipt, sale or donation record, destruction certificate number…
    pub reference: String,
}

/// Dispose of a sanitized host (analyst); refused, naming the disks, while any disk lacks evidence.
#[utoipa::path(post, path = "/api/v1/disposal/hosts/{host}/complete", tag = "disposal",
    params(("host" = String, Path)), request_body = CompleteRequest,
    responses((status = 200, body = DisposalStatus),
        (status = 409, description = "`disposal_incomplete`: the message names each disk lacking evidence", body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn complete(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(host): Path<String>,
    body: Bytes,
) -> Result<Json<DisposalStatus>, AppError> {
    auth.require(Role::Analyst)?;
    let request: CompleteRequest = json_body(&body)?;
    let now = (state.clock)();
    let actor = auth.actor(ip);
    let done =
        disposal::complete(state.store.as_ref(), &actor, &host, request.destination, &request.reference, now).await?;
    Ok(Json(done))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RedeployRequest {
    #[serde(default)]
    pub note: Option<String>,
}

/// Put a host being decommissioned back in service (analyst).
#[utoipa::path(post, path = "/api/v1/disposal/hosts/{host}/redeploy", tag = "disposal",
    params(("host" = String, Path)), request_body = RedeployRequest,
    responses((status = 200, body = DisposalStatus), (status = 409, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn redeploy(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(host): Path<String>,
    body: Bytes,
) -> Result<Json<DisposalStatus>, AppError> {
    auth.require(Role::Analyst)?;
    let request: RedeployRequest = if body.is_empty() { RedeployRequest::default() } else { json_body(&body)? };
    let now = (state.clock)();
    let done = disposal::redeploy(state.store.as_ref(), &auth.actor(ip), &host, request.note.as_deref(), now).await?;
    Ok(Json(done))
}

fn with_headers(mut response: Response, content_type: &'static str, disposition: Option<String>) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    if let Some(value) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// A certificate as its signed JSON document (viewer).
#[utoipa::path(get, path = "/api/v1/disposal/certificates/{id}", tag = "disposal", params(("id" = String, Path)),
    responses((status = 200, body = certificate::SignedCertificate), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn certificate_json(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    auth.require(Role::Viewer)?;
    let (stored, _) = issue::load(state.store.as_ref(), &id).await?;
    let disposition = format!("attachment; filename=\"certificate-{}.json\"", stored.id);
    Ok(with_headers(stored.document.into_response(), "application/json", Some(disposition)))
}

/// A certificate as a printable HTML page (viewer).
#[utoipa::path(get, path = "/api/v1/disposal/certificates/{id}/html", tag = "disposal", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/html", body = String), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn certificate_html(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    auth.require(Role::Viewer)?;
    let (_, signed) = issue::load(state.store.as_ref(), &id).await?;
    Ok(with_headers(html::render(&signed).into_response(), "text/html; charset=utf-8", None))
}

/// The agent's `disposal verify --send`: verification results for the token's host.
#[utoipa::path(post, path = "/api/v1/agent/disposal", tag = "agent",
    request_body(content = Object, description = "a `muster_shared::v1::DisposalReport`", content_type = "application/json"),
    responses((status = 200, description = "`{report_id, duplicate}`"),
        (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 409, description = "no disposal under way for this host", body = crate::api::openapi::ApiErrorSchema)),
    security(("host_token" = [])))]
pub async fn agent_report(
    State(state): State<AppState>,
    auth: AgentAuth,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Result<Json<DisposalAck>, AppError> {
    let report: DisposalReport = json_body(&body)?;
    let now = (state.clock)();
    let actor = Actor { name: "agent".to_owned(), source_ip: Some(ip) };
    let outcome =
        evidence::import_verification(state.store.as_ref(), &actor, Some(&auth.host_id), &report, now).await?;
    Ok(Json(DisposalAck { report_id: outcome.report_id, duplicate: outcome.duplicate }))
}

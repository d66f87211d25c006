//! The agent endpoints: enrolment (secret in, host token out) and report ingest.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use muster_shared::v1::{EnrollRequest, EnrollResponse, ReportAck, ReportStatus};

use super::auth::{AgentAuth, ClientIp};
use crate::AppState;
use crate::error::AppError;
use crate::identity;
use crate::ingest::{self, decode};
use crate::store::{AuditRecord, EnrollInput, IngestInput, IngestOutcome};
use crate::tokens;

/// Optional header naming the host the agent believes it reports for; a mismatch with the token is refused.
pub const HOST_ID_HEADER: &str = "x-muster-host-id";

/// Largest enrolment request body.
pub const MAX_ENROLL_BODY: usize = 64 << 10;

fn checked(name: &str, value: &str, max: usize) -> Result<(), AppError> {
    if value.len() > max {
        return Err(AppError::bad_request("invalid_request", format!("{name} is longer than {max} bytes")));
    }
    Ok(())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn std_to_chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn ago(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    now.checked_sub_signed(std_to_chrono(d)).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Enrol a machine with an enrolment secret; answers its host id and a new host token.
#[utoipa::path(
    post, path = "/api/v1/agent/enroll", tag = "agent",
    request_body(content = crate::api::openapi::EnrollRequestSchema, content_type = "application/json"),
    responses(
        (status = 200, body = crate::api::openapi::EnrollResponseSchema),
        (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 401, description = "invalid, revoked or expired secret", body = crate::api::openapi::ApiErrorSchema),
        (status = 429, description = "too many failed attempts from this address", body = crate::api::openapi::ApiErrorSchema),
    )
)]
pub async fn enroll(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Result<Json<EnrollResponse>, AppError> {
    let now = (state.clock)();
    let policy = &state.policy.enrolment;
    let failures = state.store.count_enroll_failures(&ip, ago(now, policy.failure_window)).await?;
    if failures >= policy.max_failures {
        tracing::warn!(source_ip = %ip, failures, "enrolment refused: too many failed attempts");
        return Err(AppError::RateLimited { retry_after_secs: policy.failure_window.as_secs().max(1) });
    }
    let request: EnrollRequest = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request("invalid_request", format!("not an enrolment request: {e}")))?;
    checked("secret", &request.secret, 512)?;
    checked("hostname", &request.hostname, 255)?;
    checked("agent_version", &request.agent_version, 64)?;
    for value in [&request.machine_id, &request.system_uuid, &request.system_serial].into_iter().flatten() {
        checked("identity field", value, 128)?;
    }
    if request.tags.len() > 64 {
        return Err(AppError::bad_request("invalid_request", "at most 64 tags"));
    }
    for tag in &request.tags {
        checked("tag", tag, 128)?;
    }
    let hostname = request.hostname.trim().to_owned();
    if hostname.is_empty() {
        return Err(AppError::bad_request("invalid_request", "hostname is empty"));
    }

    let refuse = |code: &'static str, message: &str| AppError::Unauthorized { code, message: message.to_owned() };
    let secret = state.store.find_enroll_secret(&tokens::hash(&request.secret)).await?;
    let rejection = match &secret {
        None => Some(refuse("invalid_secret", "unknown enrolment secret")),
        Some(s) if s.revoked => Some(refuse("secret_revoked", "this enrolment secret was revoked")),
        Some(s) if s.expires_at.is_some_and(|at| at <= now) => {
            Some(refuse("secret_expired", "this enrolment secret has expired"))
        }
        Some(_) => None,
    };
    let secret = match (secret, rejection) {
        (Some(secret), None) => secret,
        (_, rejection) => {
            let error = rejection.unwrap_or_else(|| refuse("invalid_secret", "unknown enrolment secret"));
            let code = match &error {
                AppError::Unauthorized { code, .. } => *code,
                _ => "invalid_secret",
            };
            tracing::warn!(source_ip = %ip, hostname = %hostname, reason = code, "enrolment failed");
            state.store.record_enroll_failure(&ip, now).await?;
            state
                .store
                .audit(&AuditRecord {
                    at: now,
                    actor: "agent".to_owned(),
                    action: "host.enroll_failed".to_owned(),
                    target: Some(hostname),
                    source_ip: Some(ip),
                    details: serde_json::json!({ "reason": code }),
                })
                .await?;
            return Err(error);
        }
    };

    let token = tokens::generate(tokens::HOST_TOKEN_PREFIX).map_err(AppError::internal)?;
    let input = EnrollInput {
        hostname: hostname.clone(),
        machine_id: non_empty(request.machine_id),
        hardware_identity: identity::hardware_identity(
            request.system_uuid.as_deref(),
            request.system_serial.as_deref(),
        ),
        agent_version: request.agent_version,
        tags: request.tags,
        token_hash: tokens::hash(token.expose()),
        new_host_id: tokens::new_id().map_err(AppError::internal)?,
    };
    let outcome = state.store.enroll(&input, &secret.id, now, ago(now, policy.live_window)).await?;
    if !outcome.duplicates.is_empty() {
        tracing::warn!(host_id = %outcome.host_id, others = ?outcome.duplicates,
            "duplicate hardware identity: another live host claims it (cloned machine?)");
    }
    tracing::info!(host_id = %outcome.host_id, hostname = %hostname, reenrolled = outcome.reenrolled, "host enrolled");
    state
        .store
        .audit(&AuditRecord {
            at: now,
            actor: "agent".to_owned(),
            action: "host.enrolled".to_owned(),
            target: Some(outcome.host_id.clone()),
            source_ip: Some(ip),
            details: serde_json::json!({
                "hostname": hostname,
                "secret_id": secret.id,
                "reenrolled": outcome.reenrolled,
                "duplicate_of": outcome.duplicates,
            }),
        })
        .await?;
    Ok(Json(EnrollResponse {
        host_id: outcome.host_id,
        host_token: token.expose().to_owned(),
        reenrolled: outcome.reenrolled,
    }))
}

/// Send a report (delta-encoded, optionally gzip- or zstd-compressed).
#[utoipa::path(
    post, path = "/api/v1/agent/report", tag = "agent",
    request_body(content = Object, description = "a `muster_shared::v1::ReportEnvelope`", content_type = "application/json"),
    params(
        ("Content-Encoding" = Option<String>, Header, description = "gzip, zstd or absent"),
        ("X-Muster-Host-Id" = Option<String>, Header, description = "the host id the agent enrolled as; checked against the token"),
    ),
    responses(
        (status = 200, description = "stored, duplicate, or needs_sections", body = crate::api::openapi::ReportAckSchema),
        (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 401, description = "unknown or revoked host token", body = crate::api::openapi::ApiErrorSchema),
        (status = 403, description = "the report is for another host", body = crate::api::openapi::ApiErrorSchema),
        (status = 413, description = "max_body_bytes or max_decompressed_bytes exceeded", body = crate::api::openapi::ApiErrorSchema),
        (status = 415, body = crate::api::openapi::ApiErrorSchema),
        (status = 422, description = "max_packages, max_list_items or max_string_length exceeded", body = crate::api::openapi::ApiErrorSchema),
    ),
    security(("host_token" = []))
)]
pub async fn report(
    State(state): State<AppState>,
    auth: AgentAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ReportAck>, AppError> {
    let limits = state.policy.limits.clone();
    if let Some(claimed) = headers.get(HOST_ID_HEADER)
        && claimed.as_bytes() != auth.host_id.as_bytes()
    {
        return Err(host_mismatch());
    }
    let encoding = decode::parse_encoding(headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()))
        .map_err(|e| AppError::UnsupportedMediaType { message: e.to_string() })?;
    let too_large = || AppError::PayloadTooLarge {
        limit: "max_body_bytes",
        message: format!("the request body is over {} bytes", limits.max_body_bytes),
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(body, limits.max_body_bytes).await.map_err(|_| too_large())?;

    let decode_limits = limits.clone();
    let envelope = tokio::task::spawn_blocking(move || decode::decode_envelope(&body, encoding, &decode_limits))
        .await
        .map_err(AppError::internal)?
        .map_err(|e| match e {
            decode::DecodeError::UnsupportedEncoding(_) => AppError::UnsupportedMediaType { message: e.to_string() },
            decode::DecodeError::TooLarge { limit } => AppError::PayloadTooLarge { limit, message: e.to_string() },
            decode::DecodeError::OverLimit { limit } => AppError::LimitExceeded { limit, message: e.to_string() },
            decode::DecodeError::Corrupt(_) | decode::DecodeError::Invalid(_) => {
                AppError::bad_request("invalid_report", e.to_string())
            }
        })?;

    let reported_machine = envelope.report.host.as_ref().and_then(|h| h.machine_id.as_deref());
    if let (Some(reported), Some(enrolled)) = (reported_machine, auth.machine_id.as_deref())
        && reported != enrolled
    {
        tracing::warn!(host_id = %auth.host_id, "report refused: machine id differs from the enrolled host's");
        return Err(host_mismatch());
    }

    let (hashes, mismatched) = ingest::effective_hashes(&envelope);
    if !mismatched.is_empty() {
        tracing::warn!(host_id = %auth.host_id, sections = ?mismatched,
            "agent's section hashes differ from the content sent; storing the content's hashes");
    }
    let now = (state.clock)();
    let report_id = envelope.report_id.clone();
    let input = IngestInput {
        report_id: report_id.clone(),
        report: envelope.report,
        hashes,
        received_at: now,
        forget_reports_before: ago(now, state.policy.report_id_retention),
    };
    let ack = |status, needs_full| Json(ReportAck { report_id: report_id.clone(), status, needs_full });
    match state.store.ingest(&auth.host_id, &input).await? {
        IngestOutcome::Stored { events } => {
            tracing::debug!(host_id = %auth.host_id, report_id = %report_id, events, "report stored");
            crate::findings::evaluate::after_ingest(&state, &auth.host_id, &report_id).await;
            crate::store::advisories::sync::after_report(state.store.as_ref(), &auth.host_id, &input.report, now).await;
            Ok(ack(ReportStatus::Stored, Vec::new()))
        }
        IngestOutcome::Duplicate => Ok(ack(ReportStatus::Duplicate, Vec::new())),
        IngestOutcome::NeedsSections(needs) => Ok(ack(ReportStatus::NeedsSections, needs)),
        IngestOutcome::UnknownHost => {
            Err(AppError::Unauthorized { code: "invalid_token", message: "this host no longer exists".to_owned() })
        }
    }
}

fn host_mismatch() -> AppError {
    AppError::Forbidden {
        code: "host_mismatch",
        message: "this host token belongs to another host; enrol this machine (muster-agent enroll)".to_owned(),
    }
}

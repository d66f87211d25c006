//! The agent endpoints: enrolment (secret in, host token out) and report ingest.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Version, header};
use http_body_util::BodyExt;
use muster_shared::v1::{EnrollResponse, ReportAck, ReportStatus};

use super::auth::{AgentAuth, ClientIp};
use crate::AppState;
use crate::app::enrol::{self, EnrolError};
use crate::app::gate::Busy;
use crate::app::ingest::{self, IngestOutcome, ReportError, Reporter};
use crate::error::AppError;
use crate::ingest::decode;

/// Optional header naming the host the agent believes it reports for; a mismatch with the token is refused.
pub const HOST_ID_HEADER: &str = "x-muster-host-id";

/// Largest enrolment request body.
pub const MAX_ENROLL_BODY: usize = 64 << 10;

/// Enrol a machine with an enrolment secret; answers its host id and a new host token.
#[utoipa::path(
    post, path = "/api/v1/agent/enroll", tag = "agent",
    request_body(content = crate::api::openapi::EnrollRequestSchema, content_type = "application/json"),
    responses(
        (status = 200, body = crate::api::openapi::EnrollResponseSchema),
        (status = 202, description = "`pending_approval`: the enrolment would take over a live host's record and waits for an administrator; the token works once approved", body = crate::api::openapi::EnrollResponseSchema),
        (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 401, description = "invalid, revoked or expired secret", body = crate::api::openapi::ApiErrorSchema),
        (status = 409, description = "`host_retired`: the machine's record is decommissioning, sanitized or disposed and is never taken over", body = crate::api::openapi::ApiErrorSchema),
        (status = 429, description = "too many failed attempts from this address, or `enrolments_waiting`: five enrolments of this machine already wait for approval", body = crate::api::openapi::ApiErrorSchema),
    )
)]
pub async fn enroll(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Result<(StatusCode, Json<EnrollResponse>), AppError> {
    let now = (state.clock)();
    let not_stale_since = crate::app::hosts::ages(&state.rules.current(), now).stale_before;
    let response = enrol::enrol(state.store.as_ref(), &state.policy.enrolment, not_stale_since, &body, &ip, now)
        .await
        .map_err(|e| match e {
            EnrolError::RateLimited { retry_after_secs } => AppError::RateLimited { retry_after_secs },
            EnrolError::Invalid(message) => AppError::bad_request("invalid_request", message),
            EnrolError::Refused { code, message } => AppError::Unauthorized { code, message: message.to_owned() },
            e @ EnrolError::Retired { .. } => AppError::Conflict { code: "host_retired", message: e.to_string() },
            e @ EnrolError::TooManyHeld { .. } => AppError::Throttled {
                code: "enrolments_waiting",
                retry_after_secs: crate::api::auth::ENROLMENT_PENDING_RETRY_SECS,
                message: e.to_string(),
            },
            EnrolError::Store(e) => e.into(),
            EnrolError::Random(e) => AppError::internal(e),
        })?;
    let status = if response.pending_approval { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(response)))
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
        (status = 401, description = "unknown or revoked host token: `invalid_token`, `token_revoked`, `token_replaced` (a new enrolment took the record over), `host_retired` (disposed of), `enrolment_rejected`", body = crate::api::openapi::ApiErrorSchema),
        (status = 403, description = "the report is for another host", body = crate::api::openapi::ApiErrorSchema),
        (status = 409, description = "`machine_id_taken`, or `host_retired`: the host is decommissioning or sanitized and its inventory is frozen", body = crate::api::openapi::ApiErrorSchema),
        (status = 413, description = "max_body_bytes or max_decompressed_bytes exceeded", body = crate::api::openapi::ApiErrorSchema),
        (status = 415, body = crate::api::openapi::ApiErrorSchema),
        (status = 422, description = "max_packages, max_list_items or max_string_length exceeded", body = crate::api::openapi::ApiErrorSchema),
        (status = 429, description = "`report_in_progress`: this host's previous report is still being stored; `enrolment_pending`: this token's enrolment waits for an administrator's approval; `Retry-After` says when to retry", body = crate::api::openapi::ApiErrorSchema),
        (status = 503, description = "`busy`: the collector has its maximum of reports in flight or its database is busy; `database_unavailable`: the database cannot be reached (a restart, a failover); `storage_full`: the database's disk is full. Nothing was stored; `Retry-After` says when to retry", body = crate::api::openapi::ApiErrorSchema),
    ),
    security(("host_token" = []))
)]
pub async fn report(
    State(state): State<AppState>,
    auth: Result<AgentAuth, AppError>,
    version: Version,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ReportAck>, AppError> {
    let limits = state.policy.limits.clone();
    let http2 = version == Version::HTTP_2;
    // Every refusal before the body is read goes through here, so that over HTTP/2 it reaches the client.
    let refuse = |error: AppError, body: Body| async move {
        if http2 {
            drain(body).await;
        }
        Err(error)
    };
    let auth = match auth {
        Ok(auth) => auth,
        Err(error) => return refuse(error, body).await,
    };
    if let Some(claimed) = headers.get(HOST_ID_HEADER)
        && claimed.as_bytes() != auth.host_id.as_bytes()
    {
        return refuse(host_mismatch(), body).await;
    }
    let too_large = || AppError::PayloadTooLarge {
        limit: "max_body_bytes",
        message: format!("the request body is over {} bytes", limits.max_body_bytes),
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return refuse(too_large(), body).await;
    }
    let encoding = match decode::parse_encoding(headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok())) {
        Ok(encoding) => encoding,
        Err(e) => return refuse(AppError::UnsupportedMediaType { message: e.to_string() }, body).await,
    };
    // Admitted before the body is read: a refused report costs no memory and no database time.
    let mut ticket = match state.ingest.enter(&auth.host_id, declared) {
        Ok(ticket) => ticket,
        Err(b) => return refuse(busy(b), body).await,
    };
    let body = if ticket.is_small() {
        // The small lane holds no more than the body declared, whatever arrives.
        let declared = declared.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        axum::body::to_bytes(body, declared).await.map_err(|e| {
            let message = format!("the request body does not match its Content-Length of {declared} bytes: {e}");
            AppError::bad_request("invalid_request", message)
        })?
    } else {
        read_bounded(body, limits.max_body_bytes, http2).await.map_err(|_| too_large())?
    };

    let decoded_limit = ticket.decoded_limit(limits.max_decompressed_bytes);
    let mut envelope = decode_report(body.clone(), encoding, &limits, decoded_limit).await?;
    if matches!(envelope, Err(decode::DecodeError::TooLarge { .. })) && decoded_limit < limits.max_decompressed_bytes {
        // A small body that decodes large is a report like any other, decoded again in a large place.
        ticket.widen().map_err(busy)?;
        envelope = decode_report(body, encoding, &limits, limits.max_decompressed_bytes).await?;
    }
    let envelope = envelope.map_err(|e| match e {
        decode::DecodeError::UnsupportedEncoding(_) => AppError::UnsupportedMediaType { message: e.to_string() },
        decode::DecodeError::TooLarge { limit } => AppError::PayloadTooLarge { limit, message: e.to_string() },
        decode::DecodeError::OverLimit { limit } => AppError::LimitExceeded { limit, message: e.to_string() },
        decode::DecodeError::Corrupt(_) | decode::DecodeError::Invalid(_) => {
            AppError::bad_request("invalid_report", e.to_string())
        }
    })?;

    let report_id = envelope.report_id.clone();
    let reporter = Reporter { host_id: &auth.host_id, machine_id: auth.machine_id.as_deref() };
    let outcome = ingest::report(&state, reporter, envelope).await.map_err(|e| match e {
        ReportError::OtherMachine => host_mismatch(),
        ReportError::Store(e) => e.into(),
    })?;
    let ack = |status, needs_full| Json(ReportAck { report_id: report_id.clone(), status, needs_full });
    match outcome {
        IngestOutcome::Stored { .. } => Ok(ack(ReportStatus::Stored, Vec::new())),
        IngestOutcome::Duplicate => Ok(ack(ReportStatus::Duplicate, Vec::new())),
        IngestOutcome::NeedsSections(needs) => Ok(ack(ReportStatus::NeedsSections, needs)),
        IngestOutcome::OtherMachine => Err(host_mismatch()),
        IngestOutcome::MachineIdTaken => Err(AppError::Conflict {
            code: "machine_id_taken",
            message: "another host holds this machine id; enrol this machine (muster-agent enroll) or ask an \
                      administrator"
                .to_owned(),
        }),
        IngestOutcome::Retired(state) => Err(AppError::Conflict {
            code: "host_retired",
            message: format!(
                "this host is {}: its inventory is frozen while it leaves service, so reports are not stored",
                state.as_str()
            ),
        }),
        IngestOutcome::UnknownHost => {
            Err(AppError::Unauthorized { code: "invalid_token", message: "this host no longer exists".to_owned() })
        }
    }
}

/// How much of a refused HTTP/2 body is read and thrown away, and for how long, before the answer goes out.
const DRAIN_BYTES: usize = 16 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads what is left of a refused body, within [`DRAIN_BYTES`] and [`DRAIN_TIME`]. Over HTTP/2 an answer sent
/// while the client is still sending ends the stream with a reset, which clients such as curl report instead of
/// the answer (issue 15, defect 8: the 413; the attack suite then found it for the 415 too). Every refusal before the
/// body is read drains it. Over HTTP/1.1 hyper closes the connection instead, and the client reads the
/// answer, so only HTTP/2 bodies are drained.
async fn drain(mut body: Body) {
    // Refusals come before authentication too, so draining is bounded in all: past the bound the answer goes out
    // at once (and the client may see the reset).
    let Some(_draining) = Draining::enter() else { return };
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut read = 0usize;
    while read < DRAIN_BYTES {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => read += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

/// Bodies drained at once, at most [`MAX_DRAINING`]; a place is held while its value lives.
struct Draining;

const MAX_DRAINING: usize = 64;
static DRAINING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Draining {
    fn enter() -> Option<Draining> {
        use std::sync::atomic::Ordering;
        DRAINING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_DRAINING).then_some(n + 1)).ok()?;
        Some(Draining)
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        DRAINING.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The body, or `Err` once it passes `limit` bytes (the rest drained when `drain_rest`, see [`drain`]).
async fn read_bounded(mut body: Body, limit: usize, drain_rest: bool) -> Result<Bytes, ()> {
    let mut out = Vec::new();
    loop {
        match body.frame().await {
            None => return Ok(Bytes::from(out)),
            Some(Err(_)) => return Err(()),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if out.len() + data.len() > limit {
                        if drain_rest {
                            drain(body).await;
                        }
                        return Err(());
                    }
                    out.extend_from_slice(data);
                }
            }
        }
    }
}

/// Decodes off the async threads, to at most `max_decoded` bytes; the outer error is the decoder's task failing.
async fn decode_report(
    body: Bytes,
    encoding: decode::Encoding,
    limits: &crate::config::Limits,
    max_decoded: usize,
) -> Result<Result<muster_shared::v1::ReportEnvelope, decode::DecodeError>, AppError> {
    let mut limits = limits.clone();
    limits.max_decompressed_bytes = max_decoded;
    tokio::task::spawn_blocking(move || decode::decode_envelope(&body, encoding, &limits))
        .await
        .map_err(AppError::internal)
}

fn busy(busy: Busy) -> AppError {
    match busy {
        Busy::Host => AppError::Throttled {
            code: "report_in_progress",
            retry_after_secs: busy.retry_after_secs(),
            message: "this host's previous report is still being stored; retry later".to_owned(),
        },
        Busy::Collector => AppError::Unavailable {
            code: "busy",
            retry_after_secs: busy.retry_after_secs(),
            message: "the collector is storing as many reports as it takes at once; retry later".to_owned(),
        },
    }
}

fn host_mismatch() -> AppError {
    AppError::Forbidden {
        code: "host_mismatch",
        message: "this host token belongs to another host; enrol this machine (muster-agent enroll)".to_owned(),
    }
}

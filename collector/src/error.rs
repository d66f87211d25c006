//! The one HTTP error type: every handler returns it, and it maps once to a status and an `ApiError` body.
//!
//! Internal failures are logged with their cause and answered with a generic message, so 5xx bodies never leak
//! database or file system details.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_shared::v1::ApiError;

use crate::store::{Fault, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The resource is not in a state that allows this (e.g. a host's lifecycle state).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    /// Over a size limit (body, decompressed body).
    #[error("{message}")]
    PayloadTooLarge { limit: &'static str, message: String },
    /// Over a content limit (item counts, string length).
    #[error("{message}")]
    LimitExceeded { limit: &'static str, message: String },
    #[error("too many failed attempts, retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Too much at once from this client (one host's second report in flight): 429 with `Retry-After`.
    #[error("{message}")]
    Throttled { code: &'static str, retry_after_secs: u64, message: String },
    /// The collector or its database is busy: 503 with `Retry-After`, never a 500 for contention.
    #[error("{message}")]
    Unavailable { code: &'static str, retry_after_secs: u64, message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::BadRequest { code, message: message.into() }
    }

    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        AppError::Internal(cause.to_string())
    }

    /// The status and body this error answers with (console pages show the same message).
    pub fn status_and_body(&self) -> (StatusCode, ApiError) {
        self.parts()
    }

    fn parts(&self) -> (StatusCode, ApiError) {
        let body = |error: &str, message: String, limit: Option<&str>| ApiError {
            error: error.to_owned(),
            message,
            limit: limit.map(str::to_owned),
        };
        match self {
            AppError::Unauthorized { code, message } => (StatusCode::UNAUTHORIZED, body(code, message.clone(), None)),
            AppError::Forbidden { code, message } => (StatusCode::FORBIDDEN, body(code, message.clone(), None)),
            AppError::NotFound(what) => (StatusCode::NOT_FOUND, body("not_found", format!("{what} not found"), None)),
            AppError::BadRequest { code, message } => (StatusCode::BAD_REQUEST, body(code, message.clone(), None)),
            AppError::Conflict { code, message } => (StatusCode::CONFLICT, body(code, message.clone(), None)),
            AppError::UnsupportedMediaType { message } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, body("unsupported_encoding", message.clone(), None))
            }
            AppError::PayloadTooLarge { limit, message } => {
                (StatusCode::PAYLOAD_TOO_LARGE, body("payload_too_large", message.clone(), Some(limit)))
            }
            AppError::LimitExceeded { limit, message } => {
                (StatusCode::UNPROCESSABLE_ENTITY, body("limit_exceeded", message.clone(), Some(limit)))
            }
            AppError::RateLimited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, body("rate_limited", self.to_string(), None))
            }
            AppError::Throttled { code, message, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, body(code, message.clone(), None))
            }
            AppError::Unavailable { code, message, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, body(code, message.clone(), None))
            }
            AppError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                body("internal", "internal error, see the collector log".into(), None),
            ),
        }
    }
}

impl From<crate::app::software::SearchError> for AppError {
    fn from(e: crate::app::software::SearchError) -> AppError {
        match e {
            crate::app::software::SearchError::Store(e) => e.into(),
            other => AppError::bad_request("invalid_query", other.to_string()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        // Seconds to wait: a lock clears in seconds, a restart or failover takes a few more, and a full disk waits
        // for an operator (agents retrying within seconds would only fill the log).
        let (code, retry_after_secs, message) = match e.fault() {
            None => return AppError::Internal(e.to_string()),
            Some(Fault::Busy) => {
                tracing::warn!(error = %e, "database busy: the request is refused with a time to retry");
                ("busy", 5, "the collector's database is busy; retry later")
            }
            Some(Fault::Unreachable) => {
                tracing::warn!(error = %e, "the database cannot be reached: the request is refused with a time to retry");
                ("database_unavailable", 10, "the collector cannot reach its database; retry later")
            }
            Some(Fault::Full) => {
                tracing::error!(error = %e, "the database's disk is full: writes are refused until space is freed");
                ("storage_full", 60, "the collector's database has no space left; retry later")
            }
        };
        AppError::Unavailable { code, retry_after_secs, message: message.to_owned() }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let (status, body) = self.parts();
        let mut response = (status, axum::Json(body)).into_response();
        let retry_after = match self {
            AppError::RateLimited { retry_after_secs }
            | AppError::Throttled { retry_after_secs, .. }
            | AppError::Unavailable { retry_after_secs, .. } => Some(retry_after_secs),
            _ => None,
        };
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// The `error` code of an API answer that did not come from [`AppError`] (axum's own rejections: a body over its
/// limit, a wrong content type, an unknown method), by status; `limit` where a limit refused it.
pub fn code_for_status(status: StatusCode) -> (&'static str, Option<&'static str>) {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", Some("max_body_bytes")),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", None),
        StatusCode::NOT_FOUND => ("not_found", None),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", None),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", None),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", None),
        s if s.is_server_error() => ("internal", None),
        _ => ("invalid_request", None),
    }
}

/// Longest rejection text passed on as an API error's message.
const MAX_REJECTION_TEXT: usize = 1024;

/// Middleware: an error answer under `/api/` that is not already the documented JSON (axum's plain-text rejections)
/// is rewritten as an [`ApiError`] body with the same status and headers, so API clients parse every error one way.
pub async fn json_api_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    if !api || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (error, limit) = code_for_status(status);
    let message = if text.is_empty() || status.is_server_error() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let body = ApiError { error: error.to_owned(), message, limit: limit.map(str::to_owned) };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak() {
        let (status, body) = AppError::internal("relation \"hosts\" does not exist at /srv/db").parts();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.message.contains("hosts"));
    }

    #[test]
    fn limits_are_named() {
        let (status, body) = AppError::LimitExceeded { limit: "max_packages", message: "x".into() }.parts();
        assert_eq!(
            (status, body.error.as_str(), body.limit.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded", Some("max_packages"))
        );
    }
}

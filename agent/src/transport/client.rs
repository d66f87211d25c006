//! HTTP to the collector: the enrolment and report endpoints, their compression, and how answers are classified.
//!
//! This layer decides what an answer *means* (stored, resend sections, retry later, token refused, report refused)
//! but not what to do about it; [`super::deliver`] does that.

use std::time::Duration;

use muster_shared::v1::{
    ApiError, DisposalAck, DisposalReport, EnrollRequest, EnrollResponse, ReportAck, ReportEnvelope, ReportStatus,
    SectionName,
};
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};

/// The enrolled host id, sent with every report (the collector's `X-Muster-Host-Id`).
const HOST_ID_HEADER: &str = "x-muster-host-id";
use reqwest::{StatusCode, Url};

use super::state::HostToken;

const ENROLL_PATH: &str = "api/v1/agent/enroll";
const REPORT_PATH: &str = "api/v1/agent/report";
const DISPOSAL_PATH: &str = "api/v1/agent/disposal";

/// zstd level: level 3 compresses a package list about as well as gzip -9, at a fraction of the CPU.
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("collector URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("building the HTTP client: {0}")]
    Build(String),
    #[error("could not reach the collector at {url}: {chain}")]
    Unreachable { url: String, chain: String },
    #[error("the collector refused the request: HTTP {status}: {}", describe(.error.as_ref(), .body))]
    Refused { status: u16, error: Option<ApiError>, body: String },
    #[error("the collector's answer could not be read: {0}")]
    BadAnswer(String),
    #[error("encoding the report: {0}")]
    Encode(String),
}

/// How the collector answered a report.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Stored, or already stored earlier under this report id.
    Acknowledged(ReportStatus),
    /// Nothing stored; send again with these sections in full.
    NeedsSections(Vec<SectionName>),
    /// Not delivered for a reason that may pass: network, 5xx, 429/503. `retry_after` is the raw header, if any.
    Retry { reason: String, retry_after: Option<String> },
    /// 401/403: the host token is revoked or unknown. Retrying cannot help; the agent must be enrolled again.
    TokenRejected { status: u16, error: Option<ApiError> },
    /// Any other 4xx: this report will never be accepted as it is (e.g. over a limit).
    Refused { status: u16, error: Option<ApiError>, body: String },
}

/// A collector endpoint with the TLS trust established for it.
#[derive(Debug, Clone)]
pub struct CollectorClient {
    http: reqwest::Client,
    base: Url,
}

/// A report as sent: the envelope and its size on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub outcome: SendOutcome,
    /// Compressed body size in bytes.
    pub wire_bytes: u64,
}

impl CollectorClient {
    pub fn new(collector_url: &str, tls: rustls::ClientConfig) -> Result<CollectorClient, ClientError> {
        let base = parse_collector_url(collector_url)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("muster-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Build(error_chain(&e)))?;
        Ok(CollectorClient { http, base })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `POST /api/v1/agent/enroll`.
    pub async fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, ClientError> {
        let url = self.endpoint(ENROLL_PATH)?;
        let response = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(request).map_err(|e| ClientError::Encode(e.to_string()))?)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable { url: url.to_string(), chain: error_chain(&e) })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| ClientError::BadAnswer(error_chain(&e)))?;
        if !status.is_success() {
            return Err(refused(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::BadAnswer(format!("enrolment answer: {e}")))
    }

    /// `POST /api/v1/agent/report`, zstd-compressed.
    ///
    /// The host id header lets the collector refuse a report whose token belongs to another host with a clear
    /// `host_mismatch` (the agent must re-enrol) instead of silently filing it elsewhere.
    pub async fn send_report(
        &self,
        host_id: &str,
        token: &HostToken,
        envelope: &ReportEnvelope,
    ) -> Result<Sent, ClientError> {
        let url = self.endpoint(REPORT_PATH)?;
        let json = serde_json::to_vec(envelope).map_err(|e| ClientError::Encode(e.to_string()))?;
        let body = zstd::encode_all(json.as_slice(), ZSTD_LEVEL).map_err(|e| ClientError::Encode(e.to_string()))?;
        let wire_bytes = body.len() as u64;
        let result = self
            .http
            .post(url)
            .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
            .header(HOST_ID_HEADER, host_id)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "zstd")
            .body(body)
            .send()
            .await;
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                let outcome = SendOutcome::Retry { reason: error_chain(&e), retry_after: None };
                return Ok(Sent { outcome, wire_bytes });
            }
        };
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let outcome = match response.bytes().await {
            Ok(body) => classify(status, &body, retry_after, &envelope.report_id),
            Err(e) => SendOutcome::Retry { reason: format!("reading the answer: {}", error_chain(&e)), retry_after },
        };
        Ok(Sent { outcome, wire_bytes })
    }

    /// `POST /api/v1/agent/disposal`: a wipe verification result (`muster-agent disposal verify --send`), plain
    /// JSON. Any 2xx is success; its body is read as a [`DisposalAck`] when it is one.
    pub async fn send_disposal(
        &self,
        host_id: &str,
        token: &HostToken,
        report: &DisposalReport,
    ) -> Result<Option<DisposalAck>, ClientError> {
        let url = self.endpoint(DISPOSAL_PATH)?;
        let response = self
            .http
            .post(url.clone())
            .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
            .header(HOST_ID_HEADER, host_id)
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(report).map_err(|e| ClientError::Encode(e.to_string()))?)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable { url: url.to_string(), chain: error_chain(&e) })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| ClientError::BadAnswer(error_chain(&e)))?;
        if !status.is_success() {
            return Err(refused(status, &body));
        }
        Ok(serde_json::from_slice(&body).ok())
    }

    fn endpoint(&self, path: &str) -> Result<Url, ClientError> {
        self.base.join(path).map_err(|e| ClientError::InvalidUrl { url: self.base.to_string(), reason: e.to_string() })
    }
}

/// Validates `--collector`: HTTPS only, no query or fragment; a path prefix (behind a proxy) is kept.
pub fn parse_collector_url(text: &str) -> Result<Url, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl { url: text.to_string(), reason: reason.to_string() };
    let mut url = Url::parse(text.trim()).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != "https" {
        return Err(invalid("the agent talks to the collector over HTTPS only (https://HOST:8443)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a query or fragment has no place in the collector URL"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// What an HTTP answer to a report means; pure, so each case is unit-tested.
pub fn classify(status: StatusCode, body: &[u8], retry_after: Option<String>, report_id: &str) -> SendOutcome {
    let api_error = || serde_json::from_slice::<ApiError>(body).ok();
    if status.is_success() {
        return match serde_json::from_slice::<ReportAck>(body) {
            Ok(ack) if ack.report_id != report_id => SendOutcome::Retry {
                reason: format!("the collector acknowledged report {} instead of {report_id}", ack.report_id),
                retry_after: None,
            },
            Ok(ack) if ack.status == ReportStatus::NeedsSections => SendOutcome::NeedsSections(ack.needs_full),
            Ok(ack) => SendOutcome::Acknowledged(ack.status),
            Err(e) => SendOutcome::Retry { reason: format!("unreadable acknowledgement: {e}"), retry_after: None },
        };
    }
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            SendOutcome::TokenRejected { status: status.as_u16(), error: api_error() }
        }
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => SendOutcome::Retry {
            reason: format!("HTTP {}: {}", status.as_u16(), describe(api_error().as_ref(), &lossy(body))),
            retry_after,
        },
        s if s.is_client_error() => SendOutcome::Refused { status: s.as_u16(), error: api_error(), body: lossy(body) },
        s => SendOutcome::Retry {
            reason: format!("HTTP {}: {}", s.as_u16(), describe(api_error().as_ref(), &lossy(body))),
            retry_after,
        },
    }
}

fn refused(status: StatusCode, body: &[u8]) -> ClientError {
    ClientError::Refused { status: status.as_u16(), error: serde_json::from_slice(body).ok(), body: lossy(body) }
}

fn describe(error: Option<&ApiError>, body: &str) -> String {
    match error {
        Some(e) => format!("{} ({})", e.message, e.error),
        None if body.is_empty() => "no details".to_string(),
        None => body.to_string(),
    }
}

/// The first 500 characters of a body, for messages.
fn lossy(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(500).collect()
}

/// An error with its causes: reqwest's own message alone ("error sending request") hides the TLS or DNS reason.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(status: &str, needs: &str) -> Vec<u8> {
        format!(r#"{{"report_id":"r1","status":"{status}"{needs}}}"#).into_bytes()
    }

    #[test]
    fn success_answers() {
        assert_eq!(
            classify(StatusCode::OK, &ack("stored", ""), None, "r1"),
            SendOutcome::Acknowledged(ReportStatus::Stored)
        );
        assert_eq!(
            classify(StatusCode::OK, &ack("duplicate", ""), None, "r1"),
            SendOutcome::Acknowledged(ReportStatus::Duplicate)
        );
        assert_eq!(
            classify(StatusCode::OK, &ack("needs_sections", r#","needs_full":["software","os"]"#), None, "r1"),
            SendOutcome::NeedsSections(vec![SectionName::Software, SectionName::Os])
        );
        assert!(matches!(classify(StatusCode::OK, &ack("stored", ""), None, "r2"), SendOutcome::Retry { .. }));
        assert!(matches!(classify(StatusCode::OK, b"<html>", None, "r1"), SendOutcome::Retry { .. }));
    }

    #[test]
    fn error_answers() {
        let revoked = br#"{"error":"token_revoked","message":"this host token was revoked"}"#;
        let SendOutcome::TokenRejected { status: 401, error: Some(error) } =
            classify(StatusCode::UNAUTHORIZED, revoked, None, "r1")
        else {
            panic!("401 must reject the token");
        };
        assert_eq!(error.error, "token_revoked");
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, b"", None, "r1"),
            SendOutcome::TokenRejected { status: 403, error: None }
        ));
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, b"", Some("7".to_string()), "r1"),
            SendOutcome::Retry { reason: "HTTP 503: no details".to_string(), retry_after: Some("7".to_string()) }
        );
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, b"", Some("3".to_string()), "r1"),
            SendOutcome::Retry { retry_after: Some(_), .. }
        ));
        let too_big = br#"{"error":"limit_exceeded","message":"too many packages","limit":"max_packages"}"#;
        let SendOutcome::Refused { status: 413, error: Some(error), .. } =
            classify(StatusCode::PAYLOAD_TOO_LARGE, too_big, None, "r1")
        else {
            panic!("413 refuses the report");
        };
        assert_eq!(error.limit.as_deref(), Some("max_packages"));
        assert!(matches!(classify(StatusCode::BAD_GATEWAY, b"", None, "r1"), SendOutcome::Retry { .. }));
    }

    #[test]
    fn collector_urls() {
        assert_eq!(parse_collector_url("https://c.example:8443").unwrap().as_str(), "https://c.example:8443/");
        assert_eq!(parse_collector_url("https://10.0.0.1/muster").unwrap().as_str(), "https://10.0.0.1/muster/");
        assert_eq!(
            parse_collector_url("https://c/muster/").unwrap().join(REPORT_PATH).unwrap().as_str(),
            "https://c/muster/api/v1/agent/report"
        );
        for bad in ["http://c:8443", "c:8443", "https://c/?x=1", "", "https://"] {
            assert!(parse_collector_url(bad).is_err(), "{bad}");
        }
    }
}

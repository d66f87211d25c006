//! HTTP to the collector as simulated agents: enrolment and reports over TLS pinned to the collector's CA, and the
//! pure classification of every answer into an [`Outcome`].
//!
//! Trust is the agent's own verifier (`muster_agent::transport::tls`): the CA is accepted by its SHA-256 only if
//! it signs the server certificate. By default every request opens a new connection, as agents reporting hourly
//! do; `keep_alive` reuses connections and so measures the collector without TLS handshakes.

use std::time::Duration;

use muster_agent::transport::enroll::{HostIdentity, enroll_request};
use muster_agent::transport::fingerprint::Fingerprint;
use muster_agent::transport::tls;
use muster_shared::v1::{EnrollResponse, ReportAck, ReportStatus, SectionName};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};

use crate::stats::Outcome;

const HOST_ID_HEADER: &str = "x-muster-host-id";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("collector URL `{0}`: must be https://HOST:PORT")]
    BadUrl(String),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("HTTP client: {0}")]
    Build(String),
    #[error("enrolment of {hostname} failed: {reason}")]
    Enroll { hostname: String, reason: String },
}

/// A connection setting to one collector.
#[derive(Debug, Clone)]
pub struct Collector {
    http: reqwest::Client,
    enroll_url: reqwest::Url,
    report_url: reqwest::Url,
}

/// The answer to one report, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub outcome: Outcome,
    /// With [`Outcome::NeedsSections`]: what to resend in full.
    pub needs_full: Vec<SectionName>,
}

impl Collector {
    pub fn new(url: &str, ca: Fingerprint, keep_alive: bool, timeout: Duration) -> Result<Collector, ClientError> {
        let base = muster_agent::transport::client::parse_collector_url(url)
            .map_err(|_| ClientError::BadUrl(url.to_string()))?;
        let join = |path: &str| base.join(path).map_err(|_| ClientError::BadUrl(url.to_string()));
        let (config, _seen) = tls::client_config_for_fingerprint(ca)?;
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .https_only(true)
            .connect_timeout(timeout.min(Duration::from_secs(15)))
            .timeout(timeout)
            .user_agent(concat!("muster-loadgen/", env!("CARGO_PKG_VERSION")));
        if !keep_alive {
            builder = builder.pool_max_idle_per_host(0);
        }
        let http = builder.build().map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(Collector { http, enroll_url: join("api/v1/agent/enroll")?, report_url: join("api/v1/agent/report")? })
    }

    /// Enrols one simulated host; answers its host id and token.
    pub async fn enroll(
        &self,
        secret: &str,
        identity: &HostIdentity,
        tags: &[String],
    ) -> Result<EnrollResponse, ClientError> {
        let fail = |reason: String| ClientError::Enroll { hostname: identity.hostname.clone(), reason };
        let request =
            serde_json::to_vec(&enroll_request(secret, identity, tags, None)).map_err(|e| fail(e.to_string()))?;
        let response = self
            .http
            .post(self.enroll_url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(request)
            .send()
            .await
            .map_err(|e| fail(muster_agent::transport::client::error_chain(&e)))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            return Err(fail(format!("HTTP {}: {}", status.as_u16(), String::from_utf8_lossy(&body))));
        }
        serde_json::from_slice(&body).map_err(|e| fail(format!("unreadable answer: {e}")))
    }

    /// Sends one zstd-compressed envelope.
    pub async fn report(&self, host_id: &str, token: &str, report_id: &str, body: Vec<u8>) -> Answer {
        let result = self
            .http
            .post(self.report_url.clone())
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(HOST_ID_HEADER, host_id)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "zstd")
            .body(body)
            .send()
            .await;
        let response = match result {
            Ok(response) => response,
            Err(e) => return transport_failure(&e),
        };
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
        match response.bytes().await {
            Ok(body) => classify(status, &body, retry_after.as_deref(), report_id),
            Err(e) => transport_failure(&e),
        }
    }
}

fn transport_failure(e: &reqwest::Error) -> Answer {
    let outcome = if e.is_timeout() {
        Outcome::Timeout
    } else if e.is_connect() {
        Outcome::Connect
    } else {
        Outcome::Transport
    };
    Answer { outcome, needs_full: Vec::new() }
}

/// What an answer to report `report_id` means.
pub fn classify(status: StatusCode, body: &[u8], retry_after: Option<&str>, report_id: &str) -> Answer {
    let seconds = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    let outcome = match status.as_u16() {
        200..=299 => match serde_json::from_slice::<ReportAck>(body) {
            Ok(ack) if ack.report_id != report_id => Outcome::BadAnswer,
            Ok(ack) => {
                return match ack.status {
                    ReportStatus::Stored => Answer { outcome: Outcome::Stored, needs_full: Vec::new() },
                    ReportStatus::Duplicate => Answer { outcome: Outcome::Duplicate, needs_full: Vec::new() },
                    ReportStatus::NeedsSections => {
                        Answer { outcome: Outcome::NeedsSections, needs_full: ack.needs_full }
                    }
                };
            }
            Err(_) => Outcome::BadAnswer,
        },
        429 => Outcome::RateLimited(seconds),
        503 => Outcome::Unavailable(seconds),
        code @ (401 | 403) => Outcome::Unauthorized(code),
        code @ 400..=499 => Outcome::ClientError(code),
        code @ 500..=599 => Outcome::ServerError(code),
        _ => Outcome::BadAnswer,
    };
    Answer { outcome, needs_full: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let ack = |status: &str, extra: &str| format!(r#"{{"report_id":"r1","status":"{status}"{extra}}}"#);
        #[rustfmt::skip]
        let table: Vec<(u16, String, Option<&str>, Outcome)> = vec![
            (200, ack("stored", ""), None, Outcome::Stored),
            (200, ack("duplicate", ""), None, Outcome::Duplicate),
            (200, ack("needs_sections", r#","needs_full":["software"]"#), None, Outcome::NeedsSections),
            (200, r#"{"report_id":"r0","status":"stored"}"#.to_string(), None, Outcome::BadAnswer),
            (200, "<html>".to_string(), None, Outcome::BadAnswer),
            (429, String::new(), Some("5"), Outcome::RateLimited(Some(5))),
            (429, String::new(), None, Outcome::RateLimited(None)),
            (503, String::new(), Some(" 30 "), Outcome::Unavailable(Some(30))),
            (503, String::new(), Some("Wed, 21 Oct 2015 07:28:00 GMT"), Outcome::Unavailable(None)),
            (401, r#"{"error":"token_revoked","message":"x"}"#.to_string(), None, Outcome::Unauthorized(401)),
            (403, String::new(), None, Outcome::Unauthorized(403)),
            (413, String::new(), None, Outcome::ClientError(413)),
            (422, String::new(), None, Outcome::ClientError(422)),
            (500, String::new(), None, Outcome::ServerError(500)),
            (502, String::new(), Some("1"), Outcome::ServerError(502)),
            (302, String::new(), None, Outcome::BadAnswer),
        ];
        for (status, body, retry_after, outcome) in table {
            let answer = classify(StatusCode::from_u16(status).unwrap(), body.as_bytes(), retry_after, "r1");
            assert_eq!(answer.outcome, outcome, "{status} {body}");
            let needs = if outcome == Outcome::NeedsSections { vec![SectionName::Software] } else { vec![] };
            assert_eq!(answer.needs_full, needs);
        }
    }

    #[test]
    fn only_https_urls() {
        let ca = Fingerprint::parse(&"ab".repeat(32)).unwrap();
        assert!(Collector::new("https://127.0.0.1:8443", ca, false, Duration::from_secs(5)).is_ok());
        assert!(matches!(
            Collector::new("http://127.0.0.1:8443", ca, false, Duration::from_secs(5)),
            Err(ClientError::BadUrl(_))
        ));
    }
}

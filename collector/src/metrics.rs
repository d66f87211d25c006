//! `/metrics` in the Prometheus text format: what operators graph and alert on (reports received and their bytes,
//! ingest latency, enrolments, errors by kind, findings by severity).
//!
//! Counters live in one process-wide registry; each replica exports its own and Prometheus sums them. A middleware
//! observes requests from the outside (path, status, the small JSON answer), so handlers carry no metrics code.

use std::sync::LazyLock;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

const REPORT_PATH: &str = "/api/v1/agent/report";
const ENROLL_PATH: &str = "/api/v1/agent/enroll";
/// Answers read to classify them are small JSON documents; anything larger is passed on unread.
const MAX_INSPECTED_BODY: usize = 64 << 10;

/// The collector's metrics. Names are stable: dashboards and alerts depend on them.
pub struct Metrics {
    registry: Registry,
    /// `muster_reports_received_total{outcome}`: stored, duplicate, needs_sections, or the error kind.
    pub reports: IntCounterVec,
    /// `muster_report_bytes_total`: report bodies as sent (compressed).
    pub report_bytes: IntCounter,
    /// `muster_ingest_duration_seconds`: time from request to answer for reports.
    pub ingest_seconds: Histogram,
    /// `muster_enrolments_total{kind}`: new or reenrolled hosts, or held for an administrator's approval.
    pub enrolments: IntCounterVec,
    /// `muster_errors_total{kind}`: every error answer, by its `error` code (`invalid_token`, `limit_exceeded`, …).
    pub errors: IntCounterVec,
    /// `muster_findings{severity}`: open findings, set by whoever computes them (see [`set_findings`]).
    pub findings: IntGaugeVec,
    /// `muster_connections_open`: connections held now (`server::connections`).
    pub connections_open: IntGauge,
    /// `muster_connections_refused_total{bound}`: connections closed at accept, `max_connections` or
    /// `max_per_address`.
    pub connections_refused: IntCounterVec,
    /// `muster_connections_unanswered_total`: connections closed before anything was answered on them (a TLS
    /// handshake or a request's headers not completed in time, or a client that gave up).
    pub connections_unanswered: IntCounter,
    /// `muster_proxy_headers_total{result}`: connections from a trusted proxy (`server::proxy`), by what they
    /// started with: `accepted` (a PROXY header naming the client), `absent` (none: a direct connection, or a
    /// health check that connected and closed), `invalid` or `timeout` (closed).
    pub proxy_headers: IntCounterVec,
    /// `muster_evaluation_queue_hosts`: hosts whose stored reports still wait for evaluation or matching
    /// (`app::queue`), as the database holds them (every replica reports the same queue).
    pub work_queued: IntGauge,
    /// `muster_evaluation_queue_lag_seconds`: how long the oldest of them has waited; 0 when none waits.
    pub work_lag: Gauge,
    /// `muster_integration_deliveries_total{kind,outcome}`: this process's delivery attempts (`app::integrations`)
    /// by integration kind and outcome: `delivered`, `failed` (retried later) or `dead` (given up, to replay).
    pub deliveries: IntCounterVec,
}

#[derive(Debug, thiserror::Error)]
#[error("registering metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let reports = IntCounterVec::new(
            Opts::new("muster_reports_received_total", "Agent reports received, by outcome"),
            &["outcome"],
        )?;
        let report_bytes = IntCounter::new("muster_report_bytes_total", "Bytes of agent reports received (as sent)")?;
        let ingest_seconds = Histogram::with_opts(
            HistogramOpts::new("muster_ingest_duration_seconds", "Time to answer an agent report")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )?;
        let enrolments = IntCounterVec::new(Opts::new("muster_enrolments_total", "Successful enrolments"), &["kind"])?;
        let errors = IntCounterVec::new(
            Opts::new("muster_errors_total", "Error answers by error code and status"),
            &["kind", "status"],
        )?;
        let findings = IntGaugeVec::new(Opts::new("muster_findings", "Open findings by severity"), &["severity"])?;
        let connections_open = IntGauge::new("muster_connections_open", "Connections open now")?;
        let connections_refused = IntCounterVec::new(
            Opts::new("muster_connections_refused_total", "Connections closed at accept, by the bound that refused"),
            &["bound"],
        )?;
        let connections_unanswered = IntCounter::new(
            "muster_connections_unanswered_total",
            "Connections closed before anything was answered (handshake or headers not completed in time)",
        )?;
        let proxy_headers = IntCounterVec::new(
            Opts::new("muster_proxy_headers_total", "Connections from trusted proxies, by their PROXY protocol header"),
            &["result"],
        )?;
        let work_queued = IntGauge::new(
            "muster_evaluation_queue_hosts",
            "Hosts whose stored reports wait for rule evaluation or package matching",
        )?;
        let work_lag = Gauge::new(
            "muster_evaluation_queue_lag_seconds",
            "How long the oldest queued host has waited for evaluation (0 when none waits)",
        )?;
        let deliveries = IntCounterVec::new(
            Opts::new("muster_integration_deliveries_total", "Integration delivery attempts by kind and outcome"),
            &["kind", "outcome"],
        )?;
        registry.register(Box::new(deliveries.clone()))?;
        for kind in ["webhook", "syslog"] {
            for outcome in ["delivered", "failed", "dead"] {
                deliveries.with_label_values(&[kind, outcome]).inc_by(0);
            }
        }
        registry.register(Box::new(work_queued.clone()))?;
        registry.register(Box::new(work_lag.clone()))?;
        registry.register(Box::new(reports.clone()))?;
        registry.register(Box::new(report_bytes.clone()))?;
        registry.register(Box::new(ingest_seconds.clone()))?;
        registry.register(Box::new(enrolments.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(findings.clone()))?;
        registry.register(Box::new(connections_open.clone()))?;
        registry.register(Box::new(connections_refused.clone()))?;
        registry.register(Box::new(connections_unanswered.clone()))?;
        registry.register(Box::new(proxy_headers.clone()))?;
        for bound in ["max_connections", "max_per_address"] {
            connections_refused.with_label_values(&[bound]).inc_by(0);
        }
        // Severities exist from the start, so a dashboard shows 0 rather than "no data".
        for severity in ["critical", "high", "medium", "low", "info"] {
            findings.with_label_values(&[severity]).set(0);
        }
        Ok(Metrics {
            registry,
            reports,
            report_bytes,
            ingest_seconds,
            enrolments,
            errors,
            findings,
            connections_open,
            connections_refused,
            connections_unanswered,
            proxy_headers,
            work_queued,
            work_lag,
            deliveries,
        })
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Result<String, MetricsError> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

static METRICS: LazyLock<Result<Metrics, MetricsError>> = LazyLock::new(Metrics::new);

/// The process-wide metrics; `None` only if registration failed (a programming error, logged once on render).
pub fn metrics() -> Option<&'static Metrics> {
    METRICS.as_ref().ok()
}

/// Sets the open findings of one severity (`critical`, `high`, `medium`, `low`, `info`). Called by the findings
/// module after it recomputes; the value is this replica's view.
pub fn set_findings(severity: &str, count: i64) {
    if let Some(m) = metrics() {
        m.findings.with_label_values(&[severity]).set(count);
    }
}

/// The evaluation queue's backlog as the database holds it (`app::queue`).
pub fn set_work_backlog(hosts: i64, lag_seconds: f64) {
    if let Some(m) = metrics() {
        m.work_queued.set(hosts);
        m.work_lag.set(lag_seconds);
    }
}

/// One delivery attempt of an integration of `kind`: `delivered`, `failed` or `dead`.
pub fn count_delivery(kind: &str, outcome: &str) {
    if let Some(m) = metrics() {
        m.deliveries.with_label_values(&[kind, outcome]).inc();
    }
}

/// `GET /metrics`.
pub async fn render() -> Response {
    match METRICS.as_ref().map_err(|e| e.to_string()).and_then(|m| m.render().map_err(|e| e.to_string())) {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics unavailable");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What an answer says, for counting: the JSON `status`/`reenrolled`/`error` fields.
#[derive(Debug, Default, serde::Deserialize)]
struct Answer {
    status: Option<String>,
    reenrolled: Option<bool>,
    pending_approval: Option<bool>,
    error: Option<String>,
}

/// Middleware counting reports, enrolments and errors from each request and its answer.
pub async fn track(request: Request, next: Next) -> Response {
    let Some(m) = metrics() else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    let is_report = path == REPORT_PATH;
    let is_enroll = path == ENROLL_PATH;
    if is_report
        && let Some(bytes) = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    {
        m.report_bytes.inc_by(bytes);
    }
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let inspect = is_report || is_enroll || status.is_client_error() || status.is_server_error();
    if !inspect {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_INSPECTED_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(error = %e, %path, "answer could not be inspected for metrics");
            return Response::from_parts(parts, Body::empty());
        }
    };
    let answer: Answer = serde_json::from_slice(&bytes).unwrap_or_default();
    if is_report {
        m.ingest_seconds.observe(started.elapsed().as_secs_f64());
        let outcome = if status.is_success() { answer.status.as_deref() } else { answer.error.as_deref() };
        m.reports.with_label_values(&[outcome.unwrap_or("unknown")]).inc();
    }
    if is_enroll && status.is_success() {
        let kind = if answer.pending_approval == Some(true) {
            "held"
        } else if answer.reenrolled == Some(true) {
            "reenrolled"
        } else {
            "new"
        };
        m.enrolments.with_label_values(&[kind]).inc();
    }
    if !status.is_success() {
        let kind = answer.error.as_deref().unwrap_or("none");
        m.errors.with_label_values(&[kind, status.as_str()]).inc();
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A connection was accepted (`server::connections`).
pub fn connection_accepted() {
    if let Some(m) = metrics() {
        m.connections_open.inc();
    }
}

/// A connection was refused at accept by `bound`.
pub fn connection_refused(bound: &str) {
    if let Some(m) = metrics() {
        m.connections_refused.with_label_values(&[bound]).inc();
    }
}

/// A connection from a trusted proxy started with a PROXY header (`accepted`), without one (`absent`), or was
/// closed for a bad (`invalid`) or late (`timeout`) one.
pub fn proxy_header(result: &str) {
    if let Some(m) = metrics() {
        m.proxy_headers.with_label_values(&[result]).inc();
    }
}

/// An accepted connection closed; `answered` when anything was written on it.
pub fn connection_closed(answered: bool) {
    if let Some(m) = metrics() {
        m.connections_open.dec();
        if !answered {
            m.connections_unanswered.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_metric() {
        let m = Metrics::new().unwrap();
        m.reports.with_label_values(&["stored"]).inc();
        m.report_bytes.inc_by(1234);
        m.ingest_seconds.observe(0.02);
        m.enrolments.with_label_values(&["new"]).inc();
        m.errors.with_label_values(&["invalid_token", "401"]).inc();
        m.findings.with_label_values(&["high"]).set(7);
        m.work_queued.set(3);
        m.work_lag.set(1.5);
        let text = m.render().unwrap();
        for line in [
            "muster_reports_received_total{outcome=\"stored\"} 1",
            "muster_report_bytes_total 1234",
            "muster_ingest_duration_seconds_bucket{le=\"0.025\"} 1",
            "muster_ingest_duration_seconds_count 1",
            "muster_enrolments_total{kind=\"new\"} 1",
            "muster_errors_total{kind=\"invalid_token\",status=\"401\"} 1",
            "muster_findings{severity=\"high\"} 7",
            "muster_findings{severity=\"critical\"} 0",
            "muster_evaluation_queue_hosts 3",
            "muster_evaluation_queue_lag_seconds 1.5",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
        }
    }
}

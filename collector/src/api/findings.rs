//! Findings and rules over HTTP: the fleet-wide list (JSON or CSV), a host's findings, one finding with its
//! history, the lifecycle actions (analyst or admin), the rules in force and their reload (admin).

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{ApiAuth, ClientIp};
use super::hosts::query;
use crate::AppState;
use crate::app::evaluation::ReloadError;
use crate::app::findings as app_findings;
use crate::config::parse_duration;
use crate::error::AppError;
use crate::findings::actions::{ActionError, TransitionRequest};
use crate::findings::evaluate::RunSummary;
use crate::findings::{
    Action, FindingEvent, FindingFilter, FindingKind, FindingPage, FindingSort, FindingView, Status,
};
use crate::model::Role;
use crate::rules::{RuleView, Severity};

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;
/// Rows of one CSV export.
const MAX_CSV_ROWS: i64 = 100_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/findings", get(list))
        .route("/api/v1/findings/{id}", get(detail))
        .route("/api/v1/findings/{id}/acknowledge", post(acknowledge))
        .route("/api/v1/findings/{id}/accept-risk", post(accept_risk))
        .route("/api/v1/findings/{id}/reopen", post(reopen))
        .route("/api/v1/hosts/{id}/findings", get(host_findings))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/rules/reload", post(reload))
}

impl From<ActionError> for AppError {
    fn from(e: ActionError) -> AppError {
        match e {
            ActionError::NotFound(id) => AppError::NotFound(format!("finding {id}")),
            ActionError::NotAllowed { .. } => AppError::bad_request("invalid_transition", e.to_string()),
            ActionError::Invalid(message) => AppError::bad_request("invalid_request", message),
            ActionError::Store(e) => e.into(),
        }
    }
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::bad_request("invalid_query", message)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindingsQuery {
    /// `critical`, `high`, `medium`, `low` or `info`.
    pub severity: Option<String>,
    /// `open`, `acknowledged`, `risk_accepted`, `resolved` or `reopened`.
    pub status: Option<String>,
    /// Rule id (or advisory id for vulnerability findings).
    pub rule: Option<String>,
    /// Host id.
    pub host: Option<String>,
    /// `rule` or `vulnerability`.
    pub kind: Option<String>,
    /// Only overdue (`true`) or only not overdue (`false`) findings.
    pub overdue: Option<bool>,
    /// `true`: only findings someone still has to act on (open, acknowledged, reopened). Default: every status.
    pub active: Option<bool>,
    /// `priority` (default: the worklist, known exploited, then fix available, then severity, then oldest),
    /// `severity`, `due`, `first_seen`, `host`, `rule` or `status`.
    pub sort: Option<String>,
    /// `desc` reverses the sort's own order.
    pub dir: Option<String>,
    /// Page size, 1 to 1000 (default 100); ignored for CSV.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// `json` (default) or `csv` (all matching rows, up to 100,000).
    pub format: Option<String>,
}

impl FindingsQuery {
    /// The filter, and whether CSV was asked for.
    fn filter(self, now: DateTime<Utc>, host: Option<String>) -> Result<(FindingFilter, bool), AppError> {
        let csv = match self.format.as_deref() {
            None | Some("json") => false,
            Some("csv") => true,
            Some(other) => return Err(bad(format!("unknown format {other:?} (json or csv)"))),
        };
        let severity = self
            .severity
            .map(|s| Severity::parse(&s).ok_or_else(|| bad(format!("unknown severity {s:?}"))))
            .transpose()?;
        let status =
            self.status.map(|s| Status::parse(&s).ok_or_else(|| bad(format!("unknown status {s:?}")))).transpose()?;
        let kind =
            self.kind.map(|s| FindingKind::parse(&s).ok_or_else(|| bad(format!("unknown kind {s:?}")))).transpose()?;
        let sort = match self.sort.as_deref() {
            None => FindingSort::default(),
            Some(s) => FindingSort::parse(s).ok_or_else(|| bad(format!("unknown sort {s:?}")))?,
        };
        let descending = match self.dir.as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(bad(format!("dir is asc or desc, not {other:?}"))),
        };
        let (limit, offset) = if csv {
            (MAX_CSV_ROWS, 0)
        } else {
            let limit = self.limit.unwrap_or(DEFAULT_PAGE);
            let offset = self.offset.unwrap_or(0);
            if !(1..=MAX_PAGE).contains(&limit) || offset < 0 {
                return Err(bad(format!("limit must be 1..={MAX_PAGE}, offset >= 0")));
            }
            (limit, offset)
        };
        let filter = FindingFilter {
            severity,
            status,
            rule_id: self.rule,
            host_id: host.or(self.host),
            kind,
            overdue: self.overdue,
            active: self.active.unwrap_or(false),
            sort,
            descending,
            now,
            limit,
            offset,
        };
        Ok((filter, csv))
    }
}

async fn respond(state: &AppState, filter: FindingFilter, csv: bool) -> Result<Response, AppError> {
    let page = state.store.list_findings(&filter).await?;
    if csv {
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], crate::export::findings(&page.findings))
            .into_response());
    }
    Ok(Json(page).into_response())
}

/// List findings, filtered and paginated, in the worklist's order unless `sort` says otherwise.
#[utoipa::path(get, path = "/api/v1/findings", tag = "findings", params(FindingsQuery),
    responses(
        (status = 200, body = FindingPage, description = "JSON, or text/csv with `format=csv`"),
        (status = 400, body = crate::api::openapi::ApiErrorSchema),
    ),
    security(("api_token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: ApiAuth,
    q: Result<Query<FindingsQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    auth.require(Role::Viewer)?;
    let (filter, csv) = query(q)?.filter((state.clock)(), None)?;
    respond(&state, filter, csv).await
}

/// One host's findings (same filters as `/api/v1/findings`).
#[utoipa::path(get, path = "/api/v1/hosts/{id}/findings", tag = "findings", params(("id" = String, Path), FindingsQuery),
    responses((status = 200, body = FindingPage), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn host_findings(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
    q: Result<Query<FindingsQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    auth.require(Role::Viewer)?;
    let (filter, csv) = query(q)?.filter((state.clock)(), Some(id.clone()))?;
    if state.store.get_host_summary(&id).await?.is_none() {
        return Err(AppError::NotFound(format!("host {id}")));
    }
    respond(&state, filter, csv).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FindingDetail {
    #[serde(flatten)]
    pub finding: FindingView,
    /// Oldest first.
    pub history: Vec<FindingEvent>,
    /// The tickets opened for it (Jira subscriptions), by subscription name.
    pub tickets: Vec<crate::model::integrations::FindingTicket>,
}

/// One finding with its history.
#[utoipa::path(get, path = "/api/v1/findings/{id}", tag = "findings", params(("id" = String, Path)),
    responses((status = 200, body = FindingDetail), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn detail(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<FindingDetail>, AppError> {
    auth.require(Role::Viewer)?;
    let finding = state
        .store
        .get_finding(&id, (state.clock)())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("finding {id}")))?;
    let history = state.store.finding_history(&id).await?;
    let tickets = crate::app::integrations::finding_tickets(state.store.as_ref(), &id).await?;
    Ok(Json(FindingDetail { finding, history, tickets }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRiskRequest {
    /// Why the risk is accepted (required).
    pub reason: String,
    /// When the acceptance ends (RFC 3339); give this or `expires_in`.
    pub expires_at: Option<DateTime<Utc>>,
    /// e.g. `90d`; give this or `expires_at`.
    pub expires_in: Option<String>,
}

/// Who is acting: the API token's id and name, for history and audit.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    b.map(|Json(t)| t).map_err(|e| AppError::bad_request("invalid_request", e.body_text()))
}

/// A manual action by the caller, without comment or expiry yet.
async fn request(
    state: &AppState,
    auth: ApiAuth,
    ip: String,
    id: String,
    action: Action,
) -> Result<TransitionRequest, AppError> {
    auth.require(Role::Analyst)?;
    Ok(TransitionRequest {
        finding_id: id,
        action,
        actor: auth.actor_name(),
        source_ip: Some(ip),
        at: (state.clock)(),
        comment: None,
        expires_at: None,
    })
}

/// Acknowledge an open or reopened finding (analyst).
#[utoipa::path(post, path = "/api/v1/findings/{id}/acknowledge", tag = "findings", params(("id" = String, Path)),
    request_body = CommentRequest,
    responses((status = 200, body = FindingView), (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 403, body = crate::api::openapi::ApiErrorSchema), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn acknowledge(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    b: Result<Json<CommentRequest>, JsonRejection>,
) -> Result<Json<FindingView>, AppError> {
    auth.require(Role::Analyst)?;
    let b = body(b)?;
    let r = request(&state, auth, ip, id, Action::Acknowledge).await?;
    Ok(Json(app_findings::act(state.store.as_ref(), TransitionRequest { comment: b.comment, ..r }).await?))
}

/// Accept the risk of a finding until an expiry, with a reason (analyst); it reopens when the acceptance expires.
#[utoipa::path(post, path = "/api/v1/findings/{id}/accept-risk", tag = "findings", params(("id" = String, Path)),
    request_body = AcceptRiskRequest,
    responses((status = 200, body = FindingView), (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 403, body = crate::api::openapi::ApiErrorSchema), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn accept_risk(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    b: Result<Json<AcceptRiskRequest>, JsonRejection>,
) -> Result<Json<FindingView>, AppError> {
    auth.require(Role::Analyst)?;
    let b = body(b)?;
    let expires_at = match (b.expires_at, b.expires_in) {
        (Some(at), None) => Some(at),
        (None, Some(within)) => {
            let d = parse_duration(&within).map_err(|e| AppError::bad_request("invalid_request", e))?;
            let d =
                chrono::Duration::from_std(d).map_err(|e| AppError::bad_request("invalid_request", e.to_string()))?;
            Some((state.clock)() + d)
        }
        (Some(_), Some(_)) => {
            return Err(AppError::bad_request("invalid_request", "give expires_at or expires_in, not both"));
        }
        (None, None) => None,
    };
    let r = request(&state, auth, ip, id, Action::AcceptRisk).await?;
    let r = TransitionRequest { comment: Some(b.reason), expires_at, ..r };
    Ok(Json(app_findings::act(state.store.as_ref(), r).await?))
}

/// Reopen an acknowledged or risk-accepted finding (analyst).
#[utoipa::path(post, path = "/api/v1/findings/{id}/reopen", tag = "findings", params(("id" = String, Path)),
    request_body = CommentRequest,
    responses((status = 200, body = FindingView), (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 403, body = crate::api::openapi::ApiErrorSchema), (status = 404, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn reopen(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    b: Result<Json<CommentRequest>, JsonRejection>,
) -> Result<Json<FindingView>, AppError> {
    auth.require(Role::Analyst)?;
    let b = body(b)?;
    let r = request(&state, auth, ip, id, Action::Reopen).await?;
    Ok(Json(app_findings::act(state.store.as_ref(), TransitionRequest { comment: b.comment, ..r }).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    /// Identifies the rule set in force (changes with any rule, parameter or end-of-life data).
    pub fingerprint: String,
    pub params: std::collections::BTreeMap<String, i64>,
    pub rules: Vec<RuleView>,
}

/// The rules in force.
#[utoipa::path(get, path = "/api/v1/rules", tag = "findings",
    responses((status = 200, body = RuleList)), security(("api_token" = [])))]
pub async fn rules(State(state): State<AppState>, auth: ApiAuth) -> Result<Json<RuleList>, AppError> {
    auth.require(Role::Viewer)?;
    let policy = state.rules.current();
    Ok(Json(RuleList {
        fingerprint: policy.fingerprint.clone(),
        params: policy.params.clone(),
        rules: policy.rules.iter().map(RuleView::from).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadResult {
    pub fingerprint: String,
    pub rules: usize,
    pub evaluation: RunSummary,
}

/// Reload the policy files and end-of-life data, then evaluate every host (admin). An invalid policy is refused
/// with the file, rule and position, and the rules in force stay.
#[utoipa::path(post, path = "/api/v1/rules/reload", tag = "findings",
    responses((status = 200, body = ReloadResult), (status = 400, body = crate::api::openapi::ApiErrorSchema),
        (status = 403, body = crate::api::openapi::ApiErrorSchema)),
    security(("api_token" = [])))]
pub async fn reload(
    State(state): State<AppState>,
    auth: ApiAuth,
    ClientIp(ip): ClientIp,
) -> Result<Json<ReloadResult>, AppError> {
    auth.require(Role::Admin)?;
    match crate::app::rules::reload(&state, &auth.actor(ip)).await? {
        Ok(r) => Ok(Json(ReloadResult { fingerprint: r.fingerprint, rules: r.rules, evaluation: r.evaluation })),
        Err(ReloadError::Policy(e)) => Err(AppError::bad_request("invalid_policy", e.to_string())),
        Err(ReloadError::Store(e)) => Err(e.into()),
    }
}

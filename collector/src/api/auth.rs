//! Request extractors for the two kinds of callers (agents with host tokens, people and scripts with API tokens)
//! and for the client address used by enrolment rate limiting.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::AppState;
use crate::error::AppError;
use crate::model::Role;
use crate::store::HostTokenLookup;
use crate::store::tx::RevokedReason;
use crate::tokens;

fn bearer(parts: &Parts) -> Result<&str, AppError> {
    let missing =
        || AppError::Unauthorized { code: "missing_token", message: "send `Authorization: Bearer <token>`".to_owned() };
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or_else(missing)?;
    let token = token.trim();
    if token.is_empty() || token.len() > 512 {
        return Err(missing());
    }
    Ok(token)
}

/// How long an agent waiting for its enrolment's approval waits before it tries again.
pub const ENROLMENT_PENDING_RETRY_SECS: u64 = 300;

/// An agent authenticated by its host token; it may act for `host_id` only.
#[derive(Debug, Clone)]
pub struct AgentAuth {
    pub host_id: String,
    pub machine_id: Option<String>,
}

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<AgentAuth, AppError> {
        let token = bearer(parts)?;
        match state.store.host_for_token(&tokens::hash(token)).await? {
            HostTokenLookup::Valid { host_id, machine_id } => Ok(AgentAuth { host_id, machine_id }),
            HostTokenLookup::Revoked(RevokedReason::Replaced) => Err(AppError::Unauthorized {
                code: "token_replaced",
                message: "this host token was replaced by a new enrolment of this host (this machine enrolled again, \
                          or another one took its record over with an administrator's approval); if this machine \
                          did not enrol again, tell an administrator"
                    .to_owned(),
            }),
            HostTokenLookup::Revoked(RevokedReason::Retired) => Err(AppError::Unauthorized {
                code: "host_retired",
                message: "this host left service (sanitized or disposed of); its token no longer works".to_owned(),
            }),
            HostTokenLookup::Revoked(RevokedReason::Revoked) => Err(AppError::Unauthorized {
                code: "token_revoked",
                message: "this host token was revoked; enrol this machine again (muster-agent enroll)".to_owned(),
            }),
            HostTokenLookup::Pending { .. } => Err(AppError::Throttled {
                code: "enrolment_pending",
                retry_after_secs: ENROLMENT_PENDING_RETRY_SECS,
                message: "this enrolment would take over a live host's record and waits for an administrator's \
                          approval (muster-collector enrolment approve); reports are accepted once it is approved"
                    .to_owned(),
            }),
            HostTokenLookup::Refused => Err(AppError::Unauthorized {
                code: "enrolment_rejected",
                message: "an administrator rejected this enrolment, or a newer one replaced it; this token will \
                          never work"
                    .to_owned(),
            }),
            HostTokenLookup::Unknown => {
                Err(AppError::Unauthorized { code: "invalid_token", message: "unknown host token".to_owned() })
            }
        }
    }
}

/// What kind of credential a caller of the API presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    ApiToken,
    /// A signed-in console user (session cookie), with the same roles as API tokens.
    ConsoleUser,
}

/// A caller of the read/admin API: which token (or console user), and its role.
#[derive(Debug, Clone)]
pub struct ApiAuth {
    pub kind: CallerKind,
    /// The token id, or the user id.
    pub token_id: String,
    /// The token name, or the user name.
    pub token_name: String,
    pub role: Role,
}

impl ApiAuth {
    /// The actor audit entries and finding histories name for this caller: the token, not just its role, so an
    /// administrator can tell who acted.
    pub fn actor_name(&self) -> String {
        match self.kind {
            CallerKind::ApiToken => {
                format!("api-token:{} ({}, {})", self.token_id, self.token_name, self.role.as_str())
            }
            CallerKind::ConsoleUser => format!("user:{} ({})", self.token_name, self.role.as_str()),
        }
    }

    /// The caller as an audit actor, from `ip`.
    pub fn actor(&self, ip: String) -> crate::app::admin::Actor {
        crate::app::admin::Actor { name: self.actor_name(), source_ip: Some(ip) }
    }

    pub fn require(&self, role: Role) -> Result<(), AppError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(AppError::Forbidden {
                code: "insufficient_role",
                message: format!("this needs the {} role; the token has {}", role.as_str(), self.role.as_str()),
            })
        }
    }
}

impl FromRequestParts<AppState> for ApiAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<ApiAuth, AppError> {
        if !parts.headers.contains_key(header::AUTHORIZATION)
            && let Some(user) = crate::console::session::api_session(parts, state).await?
        {
            return Ok(ApiAuth {
                kind: CallerKind::ConsoleUser,
                token_id: user.user_id,
                token_name: user.name,
                role: user.role,
            });
        }
        let token = bearer(parts)?;
        match state.store.find_api_token(&tokens::hash(token)).await? {
            Some(token) => {
                Ok(ApiAuth { kind: CallerKind::ApiToken, token_id: token.id, token_name: token.name, role: token.role })
            }
            None => Err(AppError::Unauthorized {
                code: "invalid_token",
                message: "unknown or revoked API token".to_owned(),
            }),
        }
    }
}

/// The client's address: the one a trusted proxy names (PROXY header or `X-Forwarded-For`, `server::proxy`),
/// else the peer's; `unknown` when the router runs without the server (in-process tests).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ClientIp, Self::Rejection> {
        if let Some(peer) = parts.extensions.get::<crate::server::proxy::Peer>() {
            return Ok(ClientIp(peer.client(&parts.headers).to_string()));
        }
        let ip = match ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await {
            Ok(ConnectInfo(addr)) => addr.ip().to_string(),
            Err(_) => "unknown".to_owned(),
        };
        Ok(ClientIp(ip))
    }
}

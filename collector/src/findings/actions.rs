//! What people do to findings (acknowledge, accept the risk, reopen): the request and the pure checks on its
//! input. The use case that applies it, audited, is `crate::app::findings::act`.

use chrono::{DateTime, Utc};

use super::Action;
use crate::store::StoreError;

/// Longest comment or risk-acceptance reason kept.
pub const MAX_COMMENT: usize = 2000;

#[derive(Debug, Clone)]
pub struct TransitionRequest {
    pub finding_id: String,
    pub action: Action,
    /// Who: `cli`, or `api-token:<id> (<name>)`.
    pub actor: String,
    pub source_ip: Option<String>,
    pub at: DateTime<Utc>,
    /// The comment (acknowledge, reopen) or the reason (accept-risk).
    pub comment: Option<String>,
    /// Accept-risk only: when the acceptance ends and the finding reopens.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("finding {0} not found")]
    NotFound(String),
    #[error("cannot {action} a finding that is {from}")]
    NotAllowed { action: &'static str, from: &'static str },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn verb(action: Action) -> &'static str {
    match action {
        Action::Acknowledge => "acknowledge",
        Action::AcceptRisk => "accept the risk of",
        Action::Reopen => "reopen",
        _ => "change",
    }
}

/// Checks a person's request; returns it with the comment trimmed (an empty comment is none).
pub fn check(request: TransitionRequest) -> Result<TransitionRequest, ActionError> {
    if !matches!(request.action, Action::Acknowledge | Action::AcceptRisk | Action::Reopen) {
        return Err(ActionError::Invalid("only acknowledge, accept-risk and reopen are manual actions".to_owned()));
    }
    let comment = request.comment.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.len() > MAX_COMMENT) {
        return Err(ActionError::Invalid(format!("the comment is longer than {MAX_COMMENT} bytes")));
    }
    if request.action == Action::AcceptRisk {
        if comment.is_none() {
            return Err(ActionError::Invalid("accepting a risk needs a reason".to_owned()));
        }
        match request.expires_at {
            None => return Err(ActionError::Invalid("accepting a risk needs an expiry (expires_at)".to_owned())),
            Some(at) if at <= request.at => {
                return Err(ActionError::Invalid("the risk acceptance expiry must be in the future".to_owned()));
            }
            Some(_) => {}
        }
    } else if request.expires_at.is_some() {
        return Err(ActionError::Invalid("only accept-risk takes an expiry".to_owned()));
    }
    Ok(TransitionRequest { comment: comment.map(str::to_owned), ..request })
}

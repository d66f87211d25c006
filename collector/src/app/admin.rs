//! Administrative actions shared by the CLI and the admin API: enrolment secrets and API tokens, each audited.

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use crate::app::audit::Actor;
use crate::app::audit::{AuditEvent, record};
use crate::config::Secret;
use crate::model::Role;
use crate::store::{NewApiToken, NewEnrollSecret, Store, StoreError};
use crate::tokens::{self, RandomError};
use crate::views::{ApiTokenInfo, EnrollSecretInfo};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error("{0}")]
    Invalid(String),
}

fn check_label(kind: &str, label: &str) -> Result<(), AdminError> {
    if label.trim().is_empty() || label.len() > 200 {
        return Err(AdminError::Invalid(format!("the {kind} must be 1 to 200 characters")));
    }
    Ok(())
}

/// Creates an enrolment secret; the secret itself is returned once and only its hash is stored.
pub async fn create_enroll_secret(
    store: &dyn Store,
    actor: &Actor,
    label: &str,
    expires_in: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<(EnrollSecretInfo, Secret), AdminError> {
    check_label("label", label)?;
    let expires_at = match expires_in {
        Some(d) => Some(
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .ok_or_else(|| AdminError::Invalid("expiry too far in the future".to_owned()))?,
        ),
        None => None,
    };
    let secret = tokens::generate(tokens::ENROLL_SECRET_PREFIX)?;
    let id = tokens::new_id()?;
    store
        .create_enroll_secret(&NewEnrollSecret {
            id: id.clone(),
            secret_hash: tokens::hash(secret.expose()),
            label: label.to_owned(),
            created_at: now,
            expires_at,
        })
        .await?;
    let event = AuditEvent::EnrollSecretCreated { id: id.clone(), label: label.to_owned() };
    record(store, actor, now, event).await?;
    let info = EnrollSecretInfo { id, label: label.to_owned(), created_at: now, expires_at, revoked_at: None, uses: 0 };
    Ok((info, secret))
}

pub async fn revoke_enroll_secret(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, AdminError> {
    let done = store.revoke_enroll_secret(id, now).await?;
    if done {
        record(store, actor, now, AuditEvent::EnrollSecretRevoked { id: id.to_owned() }).await?;
    }
    Ok(done)
}

/// Creates an API token; the token itself is returned once and only its hash is stored.
pub async fn create_api_token(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(ApiTokenInfo, Secret), AdminError> {
    check_label("name", name)?;
    let token = tokens::generate(tokens::API_TOKEN_PREFIX)?;
    let id = tokens::new_id()?;
    store
        .create_api_token(&NewApiToken {
            id: id.clone(),
            token_hash: tokens::hash(token.expose()),
            name: name.to_owned(),
            role,
            created_at: now,
        })
        .await?;
    let event = AuditEvent::ApiTokenCreated { id: id.clone(), name: name.to_owned(), role };
    record(store, actor, now, event).await?;
    Ok((ApiTokenInfo { id, name: name.to_owned(), role, created_at: now, revoked_at: None }, token))
}

pub async fn revoke_api_token(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, AdminError> {
    let done = store.revoke_api_token(id, now).await?;
    if done {
        record(store, actor, now, AuditEvent::ApiTokenRevoked { id: id.to_owned() }).await?;
    }
    Ok(done)
}

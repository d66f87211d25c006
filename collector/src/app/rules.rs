//! Reloading the rules (API, console; SIGHUP has no actor and is not audited): the new policy replaces the one in
//! force when it is valid, every host is evaluated with it, and the attempt is audited either way.

use super::evaluation::{self as schedule, ReloadError};
use crate::AppState;
use crate::app::audit::{Actor, AuditEvent, record};
use crate::findings::evaluate::RunSummary;
use crate::store::StoreError;

/// The policy in force after a successful reload, and the evaluation it triggered.
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub fingerprint: String,
    pub rules: usize,
    pub evaluation: RunSummary,
}

/// Reloads the policy; the outer error is the audit entry's, the inner one the reload's.
pub async fn reload(state: &AppState, actor: &Actor) -> Result<Result<Reloaded, ReloadError>, StoreError> {
    let now = (state.clock)();
    let outcome = schedule::reload(state).await;
    let event = match &outcome {
        Ok(_) => AuditEvent::RulesReloaded { fingerprint: state.rules.current().fingerprint.clone() },
        Err(e) => AuditEvent::RulesReloadFailed { error: e.to_string() },
    };
    record(state.store.as_ref(), actor, now, event).await?;
    Ok(outcome.map(|evaluation| {
        let policy = state.rules.current();
        Reloaded { fingerprint: policy.fingerprint.clone(), rules: policy.rules.len(), evaluation }
    }))
}

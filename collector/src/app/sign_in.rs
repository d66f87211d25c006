//! Signing in to and out of the console: the failure limits per address and per user, the password check, the
//! new session, and the audit entry of each outcome. The console's pages only render what this decides.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::audit::{Actor, AuditEvent, record, record_coalesced};
use crate::app::users;
use crate::config::Secret;
use crate::store::users::NewSession;
use crate::store::{Store, StoreError};
use crate::tokens::{self, RandomError};

/// Failed sign-ins allowed per source address, and per user name, in [`FAILURE_WINDOW`].
pub const MAX_FAILURES: i64 = 10;
pub const FAILURE_WINDOW: chrono::Duration = chrono::Duration::minutes(15);
/// Sign-in names are capped: the name goes into the audit log and a rate-limit key, and nobody's name is longer.
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error("password check: {0}")]
    Password(String),
}

#[derive(Debug)]
pub enum SignInOutcome {
    /// Too many failures from this address, or for this user from it.
    Blocked,
    /// Unknown user, disabled user or wrong password: the same answer for each.
    Refused,
    /// Local accounts are switched off (single sign-on only).
    LocalOff,
    SignedIn {
        cookie: Secret,
        expires_at: DateTime<Utc>,
        must_change_password: bool,
    },
}

/// The sign-in name as kept: trimmed and capped.
pub fn clean_name(name: &str) -> String {
    name.trim().chars().take(MAX_NAME_CHARS).collect()
}

/// Checks `password` for `name` (already [`clean_name`]d) signing in from `ip`, and opens a session of
/// `session_ttl` when it is right; `local_allowed` is the policy's switch for password sign-in.
pub async fn sign_in(
    store: &dyn Store,
    name: &str,
    password: &str,
    ip: &str,
    session_ttl: Duration,
    local_allowed: bool,
    now: DateTime<Utc>,
) -> Result<SignInOutcome, SignInError> {
    if !local_allowed {
        // Nothing is checked, so nothing is counted against a limit: one row per client and name per window.
        let attempt = Actor::new(format!("sign-in:{name}"), ip);
        let event = AuditEvent::SignInFailed { name: name.to_owned() };
        record_coalesced(store, &attempt, now, event, FAILURE_WINDOW).await?;
        return Ok(SignInOutcome::LocalOff);
    }
    let source = address_group(ip);
    // Per address, and per user name from that address: a user name alone would let anyone lock its owner out.
    let ip_key = format!("ip:{source}");
    let user_key = format!("user:{name}@{source}");
    let since = now - FAILURE_WINDOW;
    let failures =
        store.count_login_failures(&ip_key, since).await?.max(store.count_login_failures(&user_key, since).await?);
    let attempt = Actor::new(format!("sign-in:{name}"), ip);
    if failures >= MAX_FAILURES {
        // One row per client and name per window, counting the attempts: a blocked client may retry at will.
        record_coalesced(store, &attempt, now, AuditEvent::SignInBlocked { name: name.to_owned() }, FAILURE_WINDOW)
            .await?;
        return Ok(SignInOutcome::Blocked);
    }
    // Counted as failed before the password is checked, so parallel guesses cannot all pass the count above;
    // a right password takes the mark back.
    store.record_login_failure(&ip_key, now).await?;
    store.record_login_failure(&user_key, now).await?;
    let user = store.user_by_name(name).await?;
    // Single sign-on users have no password here: they are refused like unknown users.
    let phc =
        user.as_ref().filter(|u| u.disabled_at.is_none() && u.sso_issuer.is_none()).map(|u| u.password_hash.clone());
    let verified =
        users::verify_bounded(password.to_owned(), phc).await.map_err(|e| SignInError::Password(e.to_string()))?;
    let Some(user) = user.filter(|_| verified) else {
        record(store, &attempt, now, AuditEvent::SignInFailed { name: name.to_owned() }).await?;
        return Ok(SignInOutcome::Refused);
    };
    store.forget_login_failure(&ip_key, now).await?;
    store.forget_login_failure(&user_key, now).await?;
    let (cookie, expires_at) = open_session(store, &user.id, &user.name, user.role, ip, session_ttl, now).await?;
    Ok(SignInOutcome::SignedIn { cookie, expires_at, must_change_password: user.must_change_password })
}

/// Opens a session of `session_ttl` for a user whose sign-in succeeded (by password or through the OpenID
/// provider) and audits it; returns the cookie value and when it ends.
pub(crate) async fn open_session(
    store: &dyn Store,
    user_id: &str,
    name: &str,
    role: crate::model::Role,
    ip: &str,
    session_ttl: Duration,
    now: DateTime<Utc>,
) -> Result<(Secret, DateTime<Utc>), SignInError> {
    let cookie = tokens::generate("")?;
    let csrf = tokens::generate("")?;
    let ttl = chrono::Duration::from_std(session_ttl).unwrap_or(chrono::Duration::hours(8));
    let expires_at = now + ttl;
    store
        .create_session(&NewSession {
            id_hash: tokens::hash(cookie.expose()),
            user_id: user_id.to_owned(),
            csrf_token: csrf.expose().to_owned(),
            created_at: now,
            expires_at,
        })
        .await?;
    store.record_login(user_id, now).await?;
    let _ = store.prune_sessions(now).await?;
    let actor = Actor::new(format!("user:{name} ({})", role.as_str()), ip);
    record(store, &actor, now, AuditEvent::SignedIn { name: name.to_owned() }).await?;
    Ok((cookie, expires_at))
}

/// Ends the session `session_hash` of the user `name`.
pub async fn sign_out(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    session_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store.delete_session(session_hash).await?;
    record(store, actor, now, AuditEvent::SignedOut { name: name.to_owned() }).await
}

/// The rate-limit key of a client address: IPv6 clients get a /64 each (one subscriber's allocation), so changing
/// the low bits buys no new attempts.
fn address_group(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        _ => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        assert_eq!(address_group("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_group("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_group("::ffff:192.0.2.10"), "192.0.2.10");
        assert_eq!(address_group("192.0.2.10"), "192.0.2.10");
        assert_eq!(address_group("unknown"), "unknown");
    }

    #[test]
    fn names_are_trimmed_and_capped() {
        assert_eq!(clean_name("  ann "), "ann");
        assert_eq!(clean_name(&"x".repeat(100)).len(), MAX_NAME_CHARS);
    }
}

//! Console users, shared by the CLI (`muster-collector user …`) and the console's admin pages: Argon2id password
//! hashes, one-time passwords, and every change audited.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use rand::TryRngCore;

use crate::app::admin::{Actor, AdminError};
use crate::app::audit::{AuditEvent, record};
use crate::config::Secret;
use crate::model::Role;
use crate::store::Store;
use crate::store::users::{NewUser, UserRecord};
use crate::tokens::{self, RandomError};

/// Chosen passwords must be at least this long; length beats composition rules (NIST SP 800-63B).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Argon2 work grows with input length; this bounds it.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// Argon2id with the OWASP-recommended minimum (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn check_password(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// The PHC string of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.try_fill_bytes(&mut salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let hash = hasher().hash_password(password.as_bytes(), &salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches `phc`; a malformed stored hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as a real verification, so unknown user names cannot be told apart by timing.
pub fn verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(phc) = DUMMY.get_or_init(|| hash_password("muster-dummy-password").ok()) {
        let _ = verify_password(password, phc);
    }
}

/// Argon2 runs take 19 MiB each: at most this many at once, whatever the number of sign-in requests.
fn argon2_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        tokio::sync::Semaphore::new(cores * 2)
    })
}

/// Verifies `password` against `phc` off the async threads and with bounded concurrency; without a hash (unknown or
/// disabled user) it spends the same time and answers false.
pub async fn verify_bounded(password: String, phc: Option<String>) -> Result<bool, PasswordError> {
    let _slot = argon2_slots().acquire().await.map_err(|e| PasswordError::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify_password(&password, &phc),
        None => {
            verify_dummy(&password);
            false
        }
    })
    .await
    .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// [`hash_password`] off the async threads, with bounded concurrency.
pub async fn hash_bounded(password: String) -> Result<String, PasswordError> {
    let _slot = argon2_slots().acquire().await.map_err(|e| PasswordError::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?
}

/// A one-time password: 20 characters from an unambiguous alphabet of 54 (about 115 bits).
pub fn one_time_password() -> Result<Secret, PasswordError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut text = String::new();
    let mut byte = [0u8; 1];
    while text.len() < 20 {
        rand::rngs::OsRng.try_fill_bytes(&mut byte).map_err(|e| PasswordError::Hash(e.to_string()))?;
        // Rejection sampling keeps every character equally likely.
        if usize::from(byte[0]) < 256 - 256 % ALPHABET.len() {
            text.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Ok(Secret::new(text))
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error("a user named {0:?} exists")]
    Exists(String),
    #[error("no such user")]
    NotFound,
    #[error("the last enabled admin cannot be disabled or demoted")]
    LastAdmin,
    #[error("{0}")]
    Invalid(String),
}

impl From<crate::store::StoreError> for UserError {
    fn from(e: crate::store::StoreError) -> UserError {
        UserError::Admin(AdminError::Store(e))
    }
}

fn check_name(name: &str) -> Result<(), UserError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(UserError::Invalid("a user name is 1 to 64 characters: letters, digits, `.`, `_`, `-`, `@`".to_owned()))
    }
}

/// Creates a user with a one-time password (returned once), which must be changed at first sign-in.
pub async fn add_user(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(UserRecord, Secret), UserError> {
    check_name(name)?;
    let password = one_time_password()?;
    let hash = hash_bounded(password.expose().to_owned()).await?;
    let new = NewUser {
        id: tokens::new_id()?,
        name: name.to_owned(),
        role,
        password_hash: hash,
        must_change_password: true,
        created_at: now,
    };
    if !store.create_user(&new).await? {
        return Err(UserError::Exists(name.to_owned()));
    }
    record(store, actor, now, AuditEvent::UserCreated { name: name.to_owned(), role }).await?;
    let record = store.user_by_id(&new.id).await?.ok_or(UserError::NotFound)?;
    Ok((record, password))
}

/// Gives a user a new one-time password, ending their sessions.
pub async fn reset_password(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Secret, UserError> {
    let user = store.user_by_name(name).await?.ok_or(UserError::NotFound)?;
    if user.sso_issuer.is_some() {
        return Err(UserError::Invalid(format!(
            "{name} signs in through the identity provider and has no password here"
        )));
    }
    let password = one_time_password()?;
    let hash = hash_bounded(password.expose().to_owned()).await?;
    if !store.set_user_password(&user.id, &hash, true, None).await? {
        return Err(UserError::NotFound);
    }
    record(store, actor, now, AuditEvent::UserPasswordReset { name: name.to_owned() }).await?;
    Ok(password)
}

/// The user's own password change, proven with the current password (a stolen session alone cannot take the
/// account over); other sessions end, `keep_session_hash` stays signed in.
pub async fn change_own_password(
    store: &dyn Store,
    actor: &Actor,
    user_id: &str,
    current_password: &str,
    new_password: &str,
    keep_session_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), UserError> {
    let user = store.user_by_id(user_id).await?.ok_or(UserError::NotFound)?;
    if user.sso_issuer.is_some() {
        return Err(UserError::Invalid(
            "you sign in through the identity provider: your password is kept there, not here".to_owned(),
        ));
    }
    if !verify_bounded(current_password.to_owned(), Some(user.password_hash.clone())).await? {
        record(store, actor, now, AuditEvent::UserPasswordChangeRefused { name: user.name.clone() }).await?;
        return Err(UserError::Invalid("the current password is wrong".to_owned()));
    }
    if current_password == new_password {
        return Err(UserError::Invalid("the new password must differ from the current one".to_owned()));
    }
    check_password(new_password)?;
    let hash = hash_bounded(new_password.to_owned()).await?;
    if !store.set_user_password(user_id, &hash, false, Some(keep_session_hash)).await? {
        return Err(UserError::NotFound);
    }
    Ok(record(store, actor, now, AuditEvent::UserPasswordChanged { name: user.name }).await?)
}

pub async fn set_role(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(), UserError> {
    let user = store.user_by_name(name).await?.ok_or(UserError::NotFound)?;
    if user.sso_issuer.is_some() {
        return Err(UserError::Invalid(format!(
            "{name}'s role comes from the identity provider's groups at each sign-in; change it there"
        )));
    }
    if user.role == Role::Admin && role != Role::Admin && user.disabled_at.is_none() && store.count_admins().await? <= 1
    {
        return Err(UserError::LastAdmin);
    }
    if !store.set_user_role(&user.id, role).await? {
        // The store refuses atomically what the check above saw too late (a concurrent change).
        return Err(UserError::LastAdmin);
    }
    Ok(record(store, actor, now, AuditEvent::UserRoleChanged { name: name.to_owned(), from: user.role, to: role })
        .await?)
}

/// Lets a disabled user sign in again (with their old password; reset it if that is unknown).
pub async fn enable(store: &dyn Store, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<(), UserError> {
    let user = store.user_by_name(name).await?.ok_or(UserError::NotFound)?;
    if !store.enable_user(&user.id).await? {
        return Err(UserError::Invalid(format!("{name} is not disabled")));
    }
    Ok(record(store, actor, now, AuditEvent::UserEnabled { name: name.to_owned() }).await?)
}

pub async fn disable(store: &dyn Store, actor: &Actor, name: &str, now: DateTime<Utc>) -> Result<(), UserError> {
    let user = store.user_by_name(name).await?.ok_or(UserError::NotFound)?;
    if user.role == Role::Admin && user.disabled_at.is_none() && store.count_admins().await? <= 1 {
        return Err(UserError::LastAdmin);
    }
    if !store.disable_user(&user.id, now).await? {
        return Err(match store.user_by_id(&user.id).await? {
            Some(u) if u.disabled_at.is_some() => UserError::Invalid(format!("{name} is already disabled")),
            Some(_) => UserError::LastAdmin,
            None => UserError::NotFound,
        });
    }
    Ok(record(store, actor, now, AuditEvent::UserDisabled { name: name.to_owned() }).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify_and_differ_per_salt() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(verify_password("correct horse battery", &a));
        assert!(!verify_password("correct horse batterx", &a));
        assert!(!verify_password("correct horse battery", "not a phc string"));
    }

    #[test]
    fn password_rules() {
        assert!(matches!(check_password("short"), Err(PasswordError::TooShort)));
        assert!(check_password("twelve chars").is_ok());
        assert!(matches!(check_password(&"x".repeat(2000)), Err(PasswordError::TooLong)));
        let otp = one_time_password().unwrap();
        assert_eq!(otp.expose().chars().count(), 20);
        assert!(check_password(otp.expose()).is_ok());
        assert!(check_name("alice.smith@example").is_ok());
        assert!(check_name("<script>").is_err());
    }
}

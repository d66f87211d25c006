//! Storage of console users, their sign-in sessions and sign-in rate limiting; one body for SQLite and PostgreSQL
//! (the macro, as `store/sql.rs` explains, because the backends differ only in their sqlx types, the physical row id
//! and the lock that serialises admin changes).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::model::Role;

/// A console user as created by `muster-collector user add` or by an admin in the console.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    /// Unique, compared case-sensitively.
    pub name: String,
    pub role: Role,
    /// PHC string (Argon2id).
    pub password_hash: String,
    /// Set for one-time passwords: the user must choose a new password after signing in.
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// The OpenID provider that vouches for this user; `None` for a local account.
    pub sso_issuer: Option<String>,
    /// [`DISABLED_BY_SSO`] when single sign-on disabled the user (its claim stopped mapping to a role).
    pub disabled_reason: Option<String>,
}

/// The `disabled_reason` of a user single sign-on disabled; only such a user is enabled again by signing in.
pub const DISABLED_BY_SSO: &str = "sso";

impl UserRecord {
    /// Disabled because the provider's claim stopped mapping to a role (not by an admin).
    pub fn disabled_by_sso(&self) -> bool {
        self.disabled_at.is_some() && self.disabled_reason.as_deref() == Some(DISABLED_BY_SSO)
    }
}

/// A sign-in through the OpenID provider, between the redirect out and the provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoLogin {
    pub state_hash: String,
    /// SHA-256 of the cookie that ties the answer to the browser that started the sign-in.
    pub browser_hash: String,
    pub nonce: String,
    pub verifier: String,
    /// Where the browser goes once signed in.
    pub next: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A sign-in session; only the SHA-256 of the cookie value is stored.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id_hash: String,
    pub user_id: String,
    /// Sent back in every form; a state change without it is refused.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The user behind a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user_id: String,
    pub name: String,
    pub role: Role,
    pub csrf_token: String,
    pub must_change_password: bool,
    pub expires_at: DateTime<Utc>,
    /// Signs in through the OpenID provider (no password here to change).
    pub sso: bool,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// False when a user with this name exists.
    async fn create_user(&self, new: &NewUser) -> Result<bool, StoreError>;
    async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// By name.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// False when no such user. Changing a password ends the user's other sessions except `keep_session_hash`.
    async fn set_user_password(
        &self,
        id: &str,
        password_hash: &str,
        must_change_password: bool,
        keep_session_hash: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// False when no such user, or when the change would leave no enabled admin (checked atomically).
    async fn set_user_role(&self, id: &str, role: Role) -> Result<bool, StoreError>;
    /// Disables the user and ends all their sessions; false when no such enabled user, or when the user is the last
    /// enabled admin (checked atomically).
    async fn disable_user(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Enables a disabled user again; false when no such disabled user.
    async fn enable_user(&self, id: &str) -> Result<bool, StoreError>;
    /// Records a sign-in under way unless `max_pending` unexpired ones exist already (false then); expired ones are
    /// removed on the way.
    async fn begin_sso_login(&self, login: &SsoLogin, max_pending: i64, now: DateTime<Utc>)
    -> Result<bool, StoreError>;
    /// Removes and returns the sign-in of `state_hash` when it has not expired at `now`: a state works once.
    async fn take_sso_login(&self, state_hash: &str, now: DateTime<Utc>) -> Result<Option<SsoLogin>, StoreError>;
    /// The user the provider `issuer` knows as `subject`.
    async fn sso_user(&self, issuer: &str, subject: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Creates a user vouched for by `issuer` as `subject` (no password); false when the name is taken.
    async fn create_sso_user(&self, new: &NewUser, issuer: &str, subject: &str) -> Result<bool, StoreError>;
    /// Sets the role the provider gives, and enables the user again if single sign-on had disabled them (not if an
    /// admin did).
    async fn update_sso_user(&self, id: &str, role: Role) -> Result<(), StoreError>;
    /// Disables a user because the provider's claim no longer maps to a role, and ends their sessions; false when
    /// the user was disabled already.
    async fn disable_sso_user(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Enabled users with the admin role.
    async fn count_admins(&self) -> Result<i64, StoreError>;
    async fn record_login(&self, user_id: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;
    /// The session's user when the session exists, has not expired at `now` and the user is enabled.
    async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<SessionUser>, StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Removes sessions expired before `now`; returns how many.
    async fn prune_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// One failed sign-in for `key` (a source address or a user name).
    async fn record_login_failure(&self, key: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Removes one failure recorded for `key` at `at` (an attempt counted before its password was checked, which
    /// then turned out right).
    async fn forget_login_failure(&self, key: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Failures for `key` since `since`; rows of every key older than `since` are pruned on the way.
    async fn count_login_failures(&self, key: &str, since: DateTime<Utc>) -> Result<i64, StoreError>;
}

/// The row being changed is the only enabled admin (used inside `NOT (…)`: such a change matches no row).
pub(super) const LAST_ADMIN: &str = "(role = 'admin' AND disabled_at IS NULL AND \
     (SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL) <= 1)";

macro_rules! impl_user_store {
    ($store:ty, $db:ty, $row:ty, $row_id:expr, $admin_lock:expr) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::Row;

            use crate::model::{Role, from_ms, to_ms};
            use crate::store::StoreError;
            use crate::store::users::{
                DISABLED_BY_SSO, LAST_ADMIN, NewSession, NewUser, SessionUser, SsoLogin, UserRecord, UserStore,
            };

            const USER_COLUMNS: &str = "id, name, role, password_hash, must_change_password, created_at, \
                 last_login_at, disabled_at, sso_issuer, disabled_reason";

            fn corrupt(what: &str, value: &str) -> StoreError {
                StoreError::Corrupt(format!("{what} {value:?}"))
            }

            fn role_of(text: &str) -> Result<Role, StoreError> {
                Role::parse(text).ok_or_else(|| corrupt("role", text))
            }

            fn opt_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
                v.map(from_ms)
            }

            fn user_from_row(r: &$row) -> Result<UserRecord, StoreError> {
                Ok(UserRecord {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    role: role_of(&r.try_get::<String, _>("role")?)?,
                    password_hash: r.try_get("password_hash")?,
                    must_change_password: r.try_get("must_change_password")?,
                    created_at: from_ms(r.try_get("created_at")?),
                    last_login_at: opt_ms(r.try_get("last_login_at")?),
                    disabled_at: opt_ms(r.try_get("disabled_at")?),
                    sso_issuer: r.try_get("sso_issuer")?,
                    disabled_reason: r.try_get("disabled_reason")?,
                })
            }

            #[async_trait]
            impl UserStore for $store {
                async fn create_user(&self, new: &NewUser) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "INSERT INTO users (id, name, role, password_hash, must_change_password, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    )
                    .bind(&new.id)
                    .bind(&new.name)
                    .bind(new.role.as_str())
                    .bind(&new.password_hash)
                    .bind(new.must_change_password)
                    .bind(to_ms(new.created_at))
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
                    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(user_from_row).transpose()
                }

                async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
                    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(user_from_row).transpose()
                }

                async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
                    let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name, id"))
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(user_from_row).collect()
                }

                async fn set_user_password(
                    &self,
                    id: &str,
                    password_hash: &str,
                    must_change_password: bool,
                    keep_session_hash: Option<&str>,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.writer.begin().await?;
                    let done =
                        sqlx::query("UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3")
                            .bind(password_hash)
                            .bind(must_change_password)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    match keep_session_hash {
                        Some(keep) => {
                            sqlx::query("DELETE FROM console_sessions WHERE user_id = $1 AND id_hash <> $2")
                                .bind(id)
                                .bind(keep)
                                .execute(&mut *tx)
                                .await?
                        }
                        None => {
                            sqlx::query("DELETE FROM console_sessions WHERE user_id = $1")
                                .bind(id)
                                .execute(&mut *tx)
                                .await?
                        }
                    };
                    tx.commit().await?;
                    Ok(true)
                }

                async fn set_user_role(&self, id: &str, role: Role) -> Result<bool, StoreError> {
                    let mut tx = self.writer.begin().await?;
                    sqlx::query($admin_lock).execute(&mut *tx).await?;
                    let done = sqlx::query(&format!(
                        "UPDATE users SET role = $1 WHERE id = $2 AND NOT ($1 <> 'admin' AND {LAST_ADMIN})"
                    ))
                    .bind(role.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn enable_user(&self, id: &str) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "UPDATE users SET disabled_at = NULL, disabled_reason = NULL \
                         WHERE id = $1 AND disabled_at IS NOT NULL",
                    )
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn disable_user(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                    let mut tx = self.writer.begin().await?;
                    sqlx::query($admin_lock).execute(&mut *tx).await?;
                    let done = sqlx::query(&format!(
                        "UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL AND NOT {LAST_ADMIN}"
                    ))
                    .bind(to_ms(now))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    sqlx::query("DELETE FROM console_sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn begin_sso_login(
                    &self,
                    login: &SsoLogin,
                    max_pending: i64,
                    now: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    sqlx::query("DELETE FROM sso_logins WHERE expires_at <= $1")
                        .bind(to_ms(now))
                        .execute(&self.writer)
                        .await?;
                    // The count and the insert are one statement: parallel requests overshoot the cap by a few at most.
                    let done = sqlx::query(
                        "INSERT INTO sso_logins \
                         (state_hash, browser_hash, nonce, verifier, next, created_at, expires_at) \
                         SELECT $1, $2, $3, $4, $5, $6, $7 WHERE (SELECT COUNT(*) FROM sso_logins) < $8",
                    )
                    .bind(&login.state_hash)
                    .bind(&login.browser_hash)
                    .bind(&login.nonce)
                    .bind(&login.verifier)
                    .bind(&login.next)
                    .bind(to_ms(login.created_at))
                    .bind(to_ms(login.expires_at))
                    .bind(max_pending)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn take_sso_login(
                    &self,
                    state_hash: &str,
                    now: DateTime<Utc>,
                ) -> Result<Option<SsoLogin>, StoreError> {
                    let row = sqlx::query(
                        "DELETE FROM sso_logins WHERE state_hash = $1 RETURNING \
                         state_hash, browser_hash, nonce, verifier, next, created_at, expires_at",
                    )
                    .bind(state_hash)
                    .fetch_optional(&self.writer)
                    .await?;
                    let Some(r) = row else { return Ok(None) };
                    let login = SsoLogin {
                        state_hash: r.try_get("state_hash")?,
                        browser_hash: r.try_get("browser_hash")?,
                        nonce: r.try_get("nonce")?,
                        verifier: r.try_get("verifier")?,
                        next: r.try_get("next")?,
                        created_at: from_ms(r.try_get("created_at")?),
                        expires_at: from_ms(r.try_get("expires_at")?),
                    };
                    Ok((login.expires_at > now).then_some(login))
                }

                async fn sso_user(&self, issuer: &str, subject: &str) -> Result<Option<UserRecord>, StoreError> {
                    let row = sqlx::query(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE sso_issuer = $1 AND sso_subject = $2"
                    ))
                    .bind(issuer)
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.as_ref().map(user_from_row).transpose()
                }

                async fn create_sso_user(
                    &self,
                    new: &NewUser,
                    issuer: &str,
                    subject: &str,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(
                        "INSERT INTO users (id, name, role, password_hash, must_change_password, created_at, \
                         sso_issuer, sso_subject) VALUES ($1, $2, $3, '', FALSE, $4, $5, $6) ON CONFLICT DO NOTHING",
                    )
                    .bind(&new.id)
                    .bind(&new.name)
                    .bind(new.role.as_str())
                    .bind(to_ms(new.created_at))
                    .bind(issuer)
                    .bind(subject)
                    .execute(&self.writer)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn update_sso_user(&self, id: &str, role: Role) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE users SET role = $1, \
                         disabled_at = CASE WHEN disabled_reason = $2 THEN NULL ELSE disabled_at END, \
                         disabled_reason = CASE WHEN disabled_reason = $2 THEN NULL ELSE disabled_reason END \
                         WHERE id = $3 AND sso_issuer IS NOT NULL",
                    )
                    .bind(role.as_str())
                    .bind(DISABLED_BY_SSO)
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn disable_sso_user(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                    let mut tx = self.writer.begin().await?;
                    let done = sqlx::query(
                        "UPDATE users SET disabled_at = $1, disabled_reason = $2 \
                         WHERE id = $3 AND disabled_at IS NULL AND sso_issuer IS NOT NULL",
                    )
                    .bind(to_ms(now))
                    .bind(DISABLED_BY_SSO)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                    sqlx::query("DELETE FROM console_sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn count_admins(&self) -> Result<i64, StoreError> {
                    let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = $1 AND disabled_at IS NULL")
                        .bind(Role::Admin.as_str())
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(row.try_get("n")?)
                }

                async fn record_login(&self, user_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                    sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
                        .bind(to_ms(now))
                        .bind(user_id)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO console_sessions (id_hash, user_id, csrf_token, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&session.id_hash)
                    .bind(&session.user_id)
                    .bind(&session.csrf_token)
                    .bind(to_ms(session.created_at))
                    .bind(to_ms(session.expires_at))
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<SessionUser>, StoreError> {
                    let row = sqlx::query(
                        "SELECT s.user_id, u.name, u.role, s.csrf_token, u.must_change_password, s.expires_at, \
                         u.sso_issuer FROM console_sessions s JOIN users u ON u.id = s.user_id \
                         WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
                    )
                    .bind(id_hash)
                    .bind(to_ms(now))
                    .fetch_optional(&self.pool)
                    .await?;
                    let Some(r) = row else { return Ok(None) };
                    Ok(Some(SessionUser {
                        user_id: r.try_get("user_id")?,
                        name: r.try_get("name")?,
                        role: role_of(&r.try_get::<String, _>("role")?)?,
                        csrf_token: r.try_get("csrf_token")?,
                        must_change_password: r.try_get("must_change_password")?,
                        expires_at: from_ms(r.try_get("expires_at")?),
                        sso: r.try_get::<Option<String>, _>("sso_issuer")?.is_some(),
                    }))
                }

                async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
                    sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
                        .bind(id_hash)
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn prune_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                    // `<=`: a session is over at its expiry instant (see `session`).
                    let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                        .bind(to_ms(now))
                        .execute(&self.writer)
                        .await?;
                    Ok(done.rows_affected())
                }

                async fn record_login_failure(&self, key: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO login_failures (key, at) VALUES ($1, $2)")
                        .bind(key)
                        .bind(to_ms(now))
                        .execute(&self.writer)
                        .await?;
                    Ok(())
                }

                async fn forget_login_failure(&self, key: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
                    sqlx::query(
                        "DELETE FROM login_failures WHERE ctid IN \
                         (SELECT ctid FROM login_failures WHERE key = $1 AND at = $2 LIMIT 1)"
                            .replace("ctid", $row_id)
                            .as_str(),
                    )
                    .bind(key)
                    .bind(to_ms(at))
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn count_login_failures(&self, key: &str, since: DateTime<Utc>) -> Result<i64, StoreError> {
                    // Every key's old rows go: one window applies to all, and keys never tried again (made-up
                    // user names) must not pile up.
                    sqlx::query("DELETE FROM login_failures WHERE at < $1")
                        .bind(to_ms(since))
                        .execute(&self.writer)
                        .await?;
                    let row = sqlx::query("SELECT COUNT(*) AS n FROM login_failures WHERE key = $1 AND at >= $2")
                        .bind(key)
                        .bind(to_ms(since))
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(row.try_get("n")?)
                }
            }
        };
    };
}

// The physical row id (`rowid`, `ctid`) deletes one of several identical failure rows. Changes that could remove
// the last admin serialise on a lock: PostgreSQL's transaction-scoped advisory lock (two replicas demoting two
// admins at once would otherwise both see two admins); SQLite writes are serialised already.
impl_user_store!(super::SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow, "rowid", "SELECT 1");
impl_user_store!(
    super::PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    "ctid",
    "SELECT pg_advisory_xact_lock(7420011)"
);

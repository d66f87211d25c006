//! `muster-collector user …`: console users from the command line (the first admin, password resets, roles).

use chrono::Utc;
use clap::Subcommand;
use serde::Serialize;

use crate::app::admin::Actor;
use crate::app::users;
use crate::cli::{Format, emit};
use crate::model::Role;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a console user; prints a one-time password the user replaces at first sign-in.
    Add {
        /// The sign-in name.
        name: String,
        #[arg(long, value_enum)]
        role: Role,
    },
    /// List console users.
    List,
    /// Give a user a new one-time password and sign them out everywhere.
    ResetPassword { name: String },
    /// Change a user's role.
    SetRole {
        name: String,
        #[arg(long, value_enum)]
        role: Role,
    },
    /// Disable a user and end their sessions.
    Disable { name: String },
    /// Let a disabled user sign in again.
    Enable { name: String },
}

#[derive(Serialize)]
struct UserOut<'a> {
    id: &'a str,
    name: &'a str,
    role: Role,
    created_at: chrono::DateTime<Utc>,
    last_login_at: Option<chrono::DateTime<Utc>>,
    disabled: bool,
    must_change_password: bool,
    /// The OpenID provider the user signs in through; absent for a local account.
    sso_issuer: Option<&'a str>,
}

pub async fn run(cmd: &UserCommand, store: &dyn Store, format: Format) -> anyhow::Result<()> {
    let now = Utc::now();
    let actor = Actor::cli();
    match cmd {
        UserCommand::Add { name, role } => {
            let (user, password) = users::add_user(store, &actor, name, *role, now).await?;
            eprintln!("user {} ({}) created; one-time password, shown only now:", user.name, user.role.as_str());
            let value =
                serde_json::json!({ "name": user.name, "role": user.role, "one_time_password": password.expose() });
            emit(format, &value, &format!("{}\n", password.expose()))
        }
        UserCommand::List => {
            let list = store.list_users().await?;
            let out: Vec<UserOut> = list
                .iter()
                .map(|u| UserOut {
                    id: &u.id,
                    name: &u.name,
                    role: u.role,
                    created_at: u.created_at,
                    last_login_at: u.last_login_at,
                    disabled: u.disabled_at.is_some(),
                    must_change_password: u.must_change_password,
                    sso_issuer: u.sso_issuer.as_deref(),
                })
                .collect();
            let mut text = String::new();
            for u in &out {
                let state = if u.disabled {
                    "disabled"
                } else if u.must_change_password {
                    "one-time password"
                } else {
                    "active"
                };
                let how = if u.sso_issuer.is_some() { "single sign-on" } else { "local" };
                text.push_str(&format!("{}  {}  {state}  {how}\n", u.name, u.role.as_str()));
            }
            emit(format, &out, &text)
        }
        UserCommand::ResetPassword { name } => {
            let password = users::reset_password(store, &actor, name, now).await?;
            eprintln!("{name} was signed out; new one-time password, shown only now:");
            emit(
                format,
                &serde_json::json!({ "name": name, "one_time_password": password.expose() }),
                &format!("{}\n", password.expose()),
            )
        }
        UserCommand::SetRole { name, role } => {
            users::set_role(store, &actor, name, *role, now).await?;
            eprintln!("{name} now has the {} role", role.as_str());
            emit(format, &serde_json::json!({ "name": name, "role": role }), "")
        }
        UserCommand::Enable { name } => {
            users::enable(store, &actor, name, now).await?;
            eprintln!("{name} enabled");
            emit(format, &serde_json::json!({ "name": name, "disabled": false }), "")
        }
        UserCommand::Disable { name } => {
            users::disable(store, &actor, name, now).await?;
            eprintln!("{name} disabled and signed out");
            emit(format, &serde_json::json!({ "name": name, "disabled": true }), "")
        }
    }
}

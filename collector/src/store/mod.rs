//! The storage contract: one async `Store` trait, implemented for SQLite and PostgreSQL from one shared body.
//!
//! Architecture invariant: the store keeps no host state in memory, so several collector replicas can share one
//! PostgreSQL database. Every multi-statement change (enrolment, one report) is one transaction.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::Secret;
use crate::model::Role;
use crate::views::{
    ApiTokenInfo, AuditEntry, EnrollSecretInfo, EnrolmentRequestInfo, HistoryEntry, HostDetail, HostPage, HostRef,
    HostSummary, InstalledPackage, SoftwareVersionHosts,
};

pub mod advisories;
pub mod console;
pub mod disposal;
pub mod findings;
pub mod findings_tx;
mod group_commit;
pub mod integrations;
mod partitions;
mod postgres;
mod sql;
mod sqlite;
pub mod tx;
mod tx_rows;
pub mod users;
pub mod work;

pub use partitions::MONTHS_AHEAD;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database url scheme (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    /// The database holds token hashes, sessions and the certificate signing key: nobody but the collector's user
    /// may read it.
    #[error(
        "{path} is open to other users (mode {mode:o}): run `chmod o-rwx {path}` (the collector keeps it 0600, its directory 0700)"
    )]
    OpenToOthers { path: String, mode: u32 },
    /// SQLite's group commit (`store/group_commit.rs`): the transaction this write shared with others failed or
    /// had already ended, so it was not stored either; `fault` is why, where known.
    #[error("the shared write transaction failed: {message}")]
    Group { fault: Option<Fault>, message: String },
}

/// A database failure that is the database's state rather than a defect: the request may be retried, later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SQLite's lock held past the busy timeout, PostgreSQL's serialisation failures, deadlocks and lock timeouts,
    /// or no pooled connection free in time. Worth a retry soon.
    Busy,
    /// The disk is full (SQLITE_FULL, PostgreSQL's 53100). Nothing was written; it lasts until an operator frees
    /// space, so clients are told to come back later rather than soon.
    Full,
    /// The database cannot be reached or went away mid-request (a PostgreSQL restart or failover): the socket
    /// failed, or the server is shutting down or not yet accepting connections (57P01-57P03, class 08). The
    /// server rolled the transaction back, so a retry is safe once it is back.
    Unreachable,
}

impl StoreError {
    /// Which [`Fault`] this is, if any; `None` is a defect.
    pub fn fault(&self) -> Option<Fault> {
        let db = match self {
            StoreError::Database(sqlx::Error::PoolTimedOut) => return Some(Fault::Busy),
            StoreError::Database(sqlx::Error::Io(_) | sqlx::Error::Tls(_)) => return Some(Fault::Unreachable),
            StoreError::Database(sqlx::Error::Database(db)) => db,
            StoreError::Group { fault, .. } => return *fault,
            _ => return None,
        };
        let code = db.code();
        let code = code.as_deref().unwrap_or_default();
        // SQLite's codes are numbers of at most four digits, the primary code in the low byte; PostgreSQL's are
        // five-character SQLSTATEs.
        let sqlite = if code.len() < 5 { code.parse::<i32>().ok().map(|c| c & 0xff) } else { None };
        // A catalogue row retention deleted while a report linked it, or linked while retention deleted it
        // (PostgreSQL only; SQLite's one writer orders them): retried, the report inserts the row again and the
        // prune leaves it. Any other foreign-key failure is a defect, not contention.
        let software_link = code == "23503" && db.constraint() == Some("host_software_software_id_fkey");
        match (sqlite, code) {
            // SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
            (Some(5 | 6), _) | (None, "40001" | "40P01" | "55P03") => Some(Fault::Busy),
            _ if software_link => Some(Fault::Busy),
            // SQLITE_FULL and its extended codes.
            (Some(13), _) | (None, "53100") => Some(Fault::Full),
            (None, "57P01" | "57P02" | "57P03") => Some(Fault::Unreachable),
            (None, _) if code.len() == 5 && code.starts_with("08") => Some(Fault::Unreachable),
            _ => None,
        }
    }

    /// The database was busy rather than broken ([`Fault::Busy`]): worth a retry.
    pub fn is_contention(&self) -> bool {
        self.fault() == Some(Fault::Busy)
    }
}

/// Opens the database named by `url` (`sqlite://…` or `postgres://…`) and applies the embedded migrations.
pub async fn open(url: &Secret) -> Result<Arc<dyn Store>, StoreError> {
    let url = url.expose();
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// A new enrolment secret, hashed by the caller.
#[derive(Debug, Clone)]
pub struct NewEnrollSecret {
    pub id: String,
    pub secret_hash: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stored enrolment secret as needed to validate one.
#[derive(Debug, Clone)]
pub struct EnrollSecretState {
    pub id: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub id: String,
    pub token_hash: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// Whom a host token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostTokenLookup {
    Valid {
        host_id: String,
        machine_id: Option<String>,
    },
    Revoked(tx::RevokedReason),
    /// The token of an enrolment waiting for an administrator's approval to take `host_id` over.
    Pending {
        host_id: String,
    },
    /// The token of a held enrolment that was rejected, or superseded by a newer one before approval.
    Refused,
    Unknown,
}

#[derive(Debug, Clone, Default)]
pub struct HostFilter {
    /// Case-insensitive substring of the hostname.
    pub hostname: Option<String>,
    /// Case-insensitive substring of the OS id or pretty name.
    pub os: Option<String>,
    pub seen_since: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub source_ip: Option<String>,
    pub details: serde_json::Value,
}

/// What retention deletes: rows older than these (`app::retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneCutoffs {
    pub audit_before: DateTime<Utc>,
    pub history_before: DateTime<Utc>,
}

/// Rows deleted by one prune, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub audit: u64,
    pub history: u64,
    /// Catalogue rows of package versions no host has any more.
    pub software: u64,
    /// Integration events delivered to every subscription, with their delivery log.
    pub events: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.audit + self.history + self.software + self.events
    }
}

/// Who an API token is: what audit entries name as the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenIdentity {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// Hosts on record and those of them that have stored a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetSize {
    pub hosts: u64,
    pub reported: u64,
}

#[async_trait]
pub trait Store:
    Send
    + Sync
    + disposal::DisposalStore
    + advisories::AdvisoryStore
    + advisories::VulnerabilityViews
    + findings::FindingsStore
    + console::ConsoleStore
    + users::UserStore
    + work::WorkStore
    + integrations::IntegrationStore
{
    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn create_enroll_secret(&self, new: &NewEnrollSecret) -> Result<(), StoreError>;
    async fn list_enroll_secrets(&self) -> Result<Vec<EnrollSecretInfo>, StoreError>;
    /// False when no unrevoked secret has this id.
    async fn revoke_enroll_secret(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    async fn find_enroll_secret(&self, secret_hash: &str) -> Result<Option<EnrollSecretState>, StoreError>;

    async fn record_enroll_failure(&self, source_ip: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Failures from `source_ip` since `since`; older rows are pruned on the way.
    async fn count_enroll_failures(&self, source_ip: &str, since: DateTime<Utc>) -> Result<i64, StoreError>;

    /// A write transaction over host rows, for enrolment and reports (see [`tx::HostTx`]).
    async fn begin_host_tx(&self) -> Result<Box<dyn tx::HostTx>, StoreError>;
    async fn host_for_token(&self, token_hash: &str) -> Result<HostTokenLookup, StoreError>;
    /// Held enrolments, newest first; only pending ones unless `all`.
    async fn list_enrolment_requests(&self, all: bool, limit: i64) -> Result<Vec<EnrolmentRequestInfo>, StoreError>;

    async fn create_api_token(&self, new: &NewApiToken) -> Result<(), StoreError>;
    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenInfo>, StoreError>;
    async fn revoke_api_token(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The role of an unrevoked token.
    /// The live (not revoked) API token with this hash: its id, name and role.
    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiTokenIdentity>, StoreError>;

    async fn list_hosts(&self, filter: &HostFilter) -> Result<HostPage, StoreError>;
    async fn get_host(&self, id: &str) -> Result<Option<HostDetail>, StoreError>;
    async fn get_host_summary(&self, id: &str) -> Result<Option<HostSummary>, StoreError>;
    async fn host_software(&self, id: &str) -> Result<Vec<InstalledPackage>, StoreError>;
    /// The stored `section` (its JSON document) of hosts in id order after `after`, at most `limit`: fleet-wide
    /// views of one section read page by page (keyset), never the whole fleet's sections at once.
    async fn hosts_section(
        &self,
        section: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(HostRef, String)>, StoreError>;
    /// Newest first.
    async fn host_history(&self, id: &str, limit: i64, offset: i64) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Packages whose name or source name is exactly `name`, with the hosts that have them.
    async fn software_by_name(&self, name: &str) -> Result<Vec<SoftwareVersionHosts>, StoreError>;
    /// The same versions with their full `host_count` but at most `hosts_per_version` hosts each (the first by
    /// host id), so a page stays small however many hosts have the package.
    async fn software_by_name_sample(
        &self,
        name: &str,
        hosts_per_version: i64,
    ) -> Result<Vec<SoftwareVersionHosts>, StoreError>;

    /// Package names (or source names) that, lowercased, are `LIKE` the lowercase `pattern` (a backslash escapes), of
    /// `kind` if given: at most `limit`, most hosts first.
    async fn search_software(
        &self,
        pattern: &str,
        kind: Option<&str>,
        limit: i64,
    ) -> Result<Vec<crate::views::SoftwareMatch>, StoreError>;

    async fn audit(&self, record: &AuditRecord) -> Result<(), StoreError>;
    /// Counts `record` into the latest row of the same action, actor, target and source written since `since`
    /// (its `repeats` and `last_at`), or writes it as a new row when there is none.
    async fn audit_coalesced(&self, record: &AuditRecord, since: DateTime<Utc>) -> Result<(), StoreError>;
    /// Deletes audit rows and history before the cutoffs, and software no host has, `batch` rows per statement (history:
    /// with the rows of the batch's last moment). Each batch commits on its own and is counted into `done` as it
    /// does, so a prune that fails midway still tells what went. `go_on` is asked before each batch: false (the
    /// collector is stopping) ends the prune there with `Ok(false)`, the rest left for the next run; `Ok(true)`
    /// when it went to the end.
    async fn prune(
        &self,
        cutoffs: &PruneCutoffs,
        batch: i64,
        done: &mut Pruned,
        go_on: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<bool, StoreError>;
    /// Makes the history's partitions for `now`'s month and the two after it (PostgreSQL, `partitions.rs`; SQLite has
    /// none); returns how many months were made: none when their tables stay busy, tried again at the next run.
    async fn prepare_partitions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Gives the space of deleted rows back to the file system (SQLite `VACUUM`; PostgreSQL `VACUUM ANALYZE`, which
    /// makes it reusable). Holds the database for its duration.
    async fn vacuum(&self) -> Result<(), StoreError>;
    /// Called by `serve` as it stops: SQLite folds its write-ahead log into the database file, so the file a backup
    /// copies after a stop is complete on its own; nothing to do on PostgreSQL. Connections stay open for the
    /// background work still finishing.
    async fn fold_log(&self);
    /// Called by the other commands as they end, as the store's last use (SQLite closes its readers first): a few
    /// quick tries at the same fold, none waiting for another connection, so a command run beside a running `serve`
    /// does not hold back its writes; the log is then left to `serve`.
    async fn fold_log_if_idle(&self);
    /// Refreshes the query planner's statistics (SQLite `ANALYZE` on a sample; PostgreSQL `ANALYZE`), which plans
    /// depend on once tables grow from empty to a fleet's size.
    async fn refresh_statistics(&self) -> Result<(), StoreError>;
    /// Whether [`Store::refresh_statistics`] lets reports be written while it runs (PostgreSQL), rather than holding
    /// the one writer (SQLite).
    fn statistics_beside_writes(&self) -> bool;
    /// How many hosts are on record (every lifecycle state) and how many of them have reported: what the tables'
    /// sizes follow. One read of the hosts table.
    async fn fleet_size(&self) -> Result<FleetSize, StoreError>;
    /// Newest first.
    async fn list_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
    /// Newest first; `actor` and `action` are case-insensitive substrings, filtered before the limit.
    async fn search_audit(
        &self,
        actor: Option<&str>,
        action: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

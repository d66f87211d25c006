//! PostgreSQL for larger fleets and several collector replicas; migrations from `migrations/postgres`.

use sqlx::postgres::{PgPool, PgPoolOptions};

pub struct PgStore {
    pub(super) pool: PgPool,
    /// The same pool: PostgreSQL takes writers on many connections at once (see `SqliteStore::writer`).
    pub(super) writer: PgPool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx_macros::migrate!("migrations/postgres");

impl PgStore {
    /// Connects to `url` (`postgres://…`) and migrates the database.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new().max_connections(16).connect(url).await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { writer: pool.clone(), pool })
    }

    /// A host transaction of its own: PostgreSQL commits many at once, so its reports need no grouping (compare
    /// `group_commit.rs`).
    pub(crate) async fn begin_host(&self) -> Result<OneTx, StoreError> {
        Ok(OneTx(self.writer.begin().await?))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// PostgreSQL keeps its own log: nothing to fold at a stop.
    pub async fn fold_log_at_stop(&self) {}

    /// Nor at the end of a command.
    pub async fn fold_log_if_idle(&self) {}

    /// The history's months around `now` (`partitions.rs`).
    async fn prepare_history_months(&self, now: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
        super::partitions::prepare(&self.writer, now).await
    }

    /// The history's months wholly older than `before` (milliseconds) go whole; returns their rows.
    async fn drop_history_months(&self, before: i64) -> Result<u64, StoreError> {
        super::partitions::drop_before(&self.writer, before).await
    }

    /// Makes deleted rows' space reusable and refreshes the planner's statistics; the file stays its size.
    async fn vacuum_on(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        sqlx::query("VACUUM ANALYZE").execute(conn).await?;
        Ok(())
    }
    /// The planner's statistics of every table (PostgreSQL samples them); without it, a database that grew from
    /// empty plans with its first, empty-table statistics until autovacuum gets to it, if the operator runs it.
    const ANALYZE: &[&str] = &["ANALYZE"];
    /// `ANALYZE` takes a lock that lets rows be written beside it.
    const ANALYZE_BESIDE_WRITES: bool = true;
}

super::sql::impl_store!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::tx::impl_host_tx!(
    sqlx::Postgres,
    conn: super::OneTx,
    "json_object_agg(section, hash)::text",
    read_in_lock: false,
    record: ("WITH u AS (", "), i AS (", ") ")
);
super::findings_tx::impl_findings_tx!(sqlx::Postgres, conn: super::OneTx, " FOR KEY SHARE");
super::integrations::impl_integration_store!(PgStore, sqlx::Postgres, " FOR UPDATE SKIP LOCKED", false);

/// One report's or enrolment's transaction, with the shape of SQLite's group member (`group_commit::Member`) so
/// that both backends share `impl_host_tx!`.
pub(crate) struct OneTx(sqlx::Transaction<'static, sqlx::Postgres>);

impl OneTx {
    pub(crate) fn conn(&mut self) -> Result<&mut sqlx::PgConnection, StoreError> {
        Ok(&mut self.0)
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        Ok(self.0.commit().await?)
    }

    /// Dropped: sqlx rolls the transaction back.
    pub(crate) fn give_up(self, _why: &StoreError) {}
}

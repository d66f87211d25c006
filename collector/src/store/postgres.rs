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

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// PostgreSQL keeps its own log: nothing to fold at a stop.
    pub async fn fold_log_at_stop(&self) {}

    /// Makes deleted rows' space reusable and refreshes the planner's statistics; the file stays its size.
    async fn vacuum_on(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        sqlx::query("VACUUM ANALYZE").execute(conn).await?;
        Ok(())
    }
    /// The planner's statistics of every table (PostgreSQL samples them); without it, a database that grew from
    /// empty plans with its first, empty-table statistics until autovacuum gets to it, if the operator runs it.
    const ANALYZE: &[&str] = &["ANALYZE"];
}

super::sql::impl_store!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
super::tx::impl_host_tx!(
    sqlx::Postgres,
    "json_object_agg(section, hash)::text",
    read_in_lock: false,
    record: ("WITH u AS (", "), i AS (", ") ")
);
super::findings_tx::impl_findings_tx!(sqlx::Postgres, " FOR KEY SHARE");
super::integrations::impl_integration_store!(PgStore, sqlx::Postgres, " FOR UPDATE SKIP LOCKED", false);

//! The benchmark's database: a fresh SQLite file or PostgreSQL database, and a seeding connection of its own that
//! writes generated rows with multi-row INSERTs.

use std::str::FromStr;

use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection, QueryBuilder, SqliteConnection};

/// Where the benchmark runs.
pub struct Target {
    pub backend: &'static str,
    pub url: String,
    /// PostgreSQL: the maintenance database's URL and the created database's name.
    postgres: Option<(String, String)>,
    /// Holds the SQLite file; removed with it unless kept.
    dir: Option<tempfile::TempDir>,
}

impl Target {
    /// A SQLite file in a new temporary directory, or a new database on the PostgreSQL server `server`.
    pub async fn create(server: Option<&str>) -> anyhow::Result<Target> {
        let Some(server) = server else {
            let dir = tempfile::Builder::new().prefix("muster-console-bench").tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("muster.db").display());
            return Ok(Target { backend: "SQLite", url, postgres: None, dir: Some(dir) });
        };
        let Some((_, rest)) =
            server.split_once("://").filter(|(scheme, _)| matches!(*scheme, "postgres" | "postgresql"))
        else {
            bail!("--database-url takes a postgres:// server URL");
        };
        // The server part only: the benchmark names its own database.
        let base = &server[..server.len() - rest.len() + rest.find(['/', '?']).unwrap_or(rest.len())];
        let name = format!("muster_console_bench_{}", muster_collector::tokens::new_id()?);
        let admin_url = format!("{base}/postgres");
        let mut admin = PgConnection::connect(&admin_url).await.context("connecting to PostgreSQL")?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
        admin.close().await?;
        Ok(Target {
            backend: "PostgreSQL",
            url: format!("{base}/{name}"),
            postgres: Some((admin_url, name)),
            dir: None,
        })
    }

    /// Drops the database, or with `keep` leaves it (and its directory) in place.
    pub async fn finish(self, keep: bool) -> anyhow::Result<()> {
        if keep {
            eprintln!("database kept: {}", self.url);
            if let Some(dir) = self.dir {
                let _ = dir.keep();
            }
            return Ok(());
        }
        if let Some((admin_url, name)) = &self.postgres {
            let mut admin = PgConnection::connect(admin_url).await?;
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await?;
        }
        Ok(())
    }
}

/// A value of a generated row.
pub enum V {
    T(String),
    OT(Option<String>),
    I(i64),
    OI(Option<i64>),
    OF(Option<f64>),
    B(bool),
}

pub fn t(s: impl Into<String>) -> V {
    V::T(s.into())
}

pub fn ot(s: Option<impl Into<String>>) -> V {
    V::OT(s.map(Into::into))
}

/// One multi-row INSERT; a macro because the two backends' query builders are different types.
macro_rules! insert_rows {
    ($conn:expr, $db:ty, $sql:expr, $rows:expr) => {{
        let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new($sql);
        qb.push_values($rows, |mut b, row: Vec<V>| {
            for v in row {
                match v {
                    V::T(x) => b.push_bind(x),
                    V::OT(x) => b.push_bind(x),
                    V::I(x) => b.push_bind(x),
                    V::OI(x) => b.push_bind(x),
                    V::OF(x) => b.push_bind(x),
                    V::B(x) => b.push_bind(x),
                };
            }
        });
        qb.build().execute(&mut *$conn).await?;
    }};
}

/// The seeding connection, apart from the store's pool.
pub enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Db {
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        if url.starts_with("sqlite:") {
            use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
            // Speed only: a run that dies throws its database away, and the rows are consistent by construction.
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Off)
                .foreign_keys(false)
                .pragma("cache_size", "-1000000");
            Ok(Db::Sqlite(SqliteConnection::connect_with(&options).await?))
        } else {
            let mut conn = PgConnection::connect(url).await?;
            sqlx::query("SET synchronous_commit = off").execute(&mut conn).await?;
            Ok(Db::Postgres(conn))
        }
    }

    pub async fn exec(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(c) => {
                sqlx::raw_sql(sql).execute(c).await?;
            }
            Db::Postgres(c) => {
                sqlx::raw_sql(sql).execute(c).await?;
            }
        }
        Ok(())
    }

    /// Ends the open transaction and starts the next: bounded WAL growth on SQLite, bounded transactions on
    /// PostgreSQL.
    pub async fn commit_and_continue(&mut self) -> anyhow::Result<()> {
        self.exec("COMMIT").await?;
        self.exec("BEGIN").await
    }

    async fn insert(&mut self, table: &str, columns: &[&str], rows: Vec<Vec<V>>) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = format!("INSERT INTO {table} ({}) ", columns.join(", "));
        match self {
            Db::Sqlite(c) => insert_rows!(c, sqlx::Sqlite, sql, rows),
            Db::Postgres(c) => insert_rows!(c, sqlx::Postgres, sql, rows),
        }
        Ok(())
    }

    /// Leaves the database as a running collector would find it: the WAL folded into the file on SQLite (analysed
    /// only with `analyze_sqlite`: the collector never runs ANALYZE), vacuumed and analysed on PostgreSQL, as
    /// autovacuum leaves it after a bulk load.
    pub async fn finish(mut self, analyze_sqlite: bool) -> anyhow::Result<()> {
        match &mut self {
            Db::Sqlite(_) => {
                if analyze_sqlite {
                    self.exec("ANALYZE").await?;
                }
                self.exec("PRAGMA wal_checkpoint(TRUNCATE)").await?;
            }
            Db::Postgres(c) => {
                sqlx::raw_sql("VACUUM ANALYZE").execute(&mut *c).await?;
                // VACUUM marks a page all-visible only once no transaction anywhere on the server could still see
                // older row versions; with other databases busy it has to run again. Until then PostgreSQL plans
                // sequential scans where index-only scans would do (measured: the dashboard 25 ms against 92 ms).
                let mut visible = 0.0;
                for _ in 0..30 {
                    let (pages, all_visible): (i64, i64) = sqlx::query_as(
                        "SELECT coalesce(sum(relpages), 0)::bigint, coalesce(sum(relallvisible), 0)::bigint \
                         FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace",
                    )
                    .fetch_one(&mut *c)
                    .await?;
                    visible = all_visible as f64 / pages.max(1) as f64;
                    if visible >= 0.99 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    sqlx::raw_sql("VACUUM").execute(&mut *c).await?;
                }
                eprintln!("PostgreSQL: {:.1}% of table pages all-visible after VACUUM", visible * 100.0);
            }
        }
        match self {
            Db::Sqlite(c) => c.close().await?,
            Db::Postgres(c) => c.close().await?,
        }
        Ok(())
    }
}

/// Rows of one table, written in multi-row statements.
pub struct Batch {
    table: &'static str,
    columns: &'static [&'static str],
    rows: Vec<Vec<V>>,
    per_statement: usize,
}

impl Batch {
    pub fn new(table: &'static str, columns: &'static [&'static str]) -> Batch {
        // Well under both backends' bind-parameter limits.
        let per_statement = (10_000 / columns.len()).min(1000);
        Batch { table, columns, rows: Vec::with_capacity(per_statement), per_statement }
    }

    pub fn add(&mut self, row: Vec<V>) {
        self.rows.push(row);
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= self.per_statement
    }

    async fn flush(&mut self, db: &mut Db) -> anyhow::Result<()> {
        let mut rows = std::mem::take(&mut self.rows).into_iter().peekable();
        while rows.peek().is_some() {
            let statement: Vec<Vec<V>> = rows.by_ref().take(self.per_statement).collect();
            db.insert(self.table, self.columns, statement)
                .await
                .with_context(|| format!("inserting into {}", self.table))?;
        }
        Ok(())
    }
}

/// Writes every batch, in the order given (tables before those referring to them: PostgreSQL checks foreign keys
/// at once), when any of them holds a statement's worth of rows.
pub async fn flush_when_full(db: &mut Db, batches: &mut [&mut Batch]) -> anyhow::Result<()> {
    if batches.iter().any(|b| b.is_full()) {
        flush_all(db, batches).await?;
    }
    Ok(())
}

/// Writes every batch, in the order given.
pub async fn flush_all(db: &mut Db, batches: &mut [&mut Batch]) -> anyhow::Result<()> {
    for batch in batches.iter_mut() {
        batch.flush(db).await?;
    }
    Ok(())
}

//! The embedded default: one SQLite file in the data directory, WAL mode, migrations from `migrations/sqlite`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub struct SqliteStore {
    /// Reads, up to 8 at once (WAL readers never wait for the writer), and the WAL bound's passive checkpoints.
    pub(super) pool: SqlitePool,
    /// Every write, on one connection. SQLite admits one writer at a time anyway; writers on several connections
    /// wait for its lock in SQLite's busy handler, which sleeps (up to 100 ms a time) instead of being woken, so the
    /// lock sat idle while reports queued: p99 of 1.3–2.3 s for first reports at 4 in flight (BENCHMARKS.md). The
    /// pool hands the one connection over in order and at once, and the connection keeps its page cache between
    /// transactions as long as no other connection (a CLI command, a checkpoint's truncation) changed the file.
    pub(super) writer: SqlitePool,
    /// Host and findings transactions on the writer, committed in groups (`group_commit.rs`).
    pub(super) groups: super::group_commit::Groups,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx_macros::migrate!("migrations/sqlite");

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path`) and migrates it.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // A checkpoint that reaches the end of the WAL cuts the file back to this size.
            .pragma("journal_size_limit", WAL_CHECKPOINT_BYTES.to_string());
        let file = options.get_filename().to_owned();
        if let Some(parent) = file.parent()
            && !parent.as_os_str().is_empty()
        {
            private::create_dir(parent)
                .map_err(|source| StoreError::DataDir { path: parent.display().to_string(), source })?;
        }
        let existed = file.exists();
        if existed {
            private::check(&file)?;
        }
        let writer = pool_options(1)
            // Kept open (and its cache with it) for the collector's life; waiting for it is normal, not slow: only
            // the acquire timeout (as long as the busy timeout) ends a wait.
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_slow_threshold(BUSY_TIMEOUT)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", WRITER_CACHE_KIB.to_string())
                    // SQLite checkpoints in the connection that commits, after the commit: on the one writer, the
                    // next write waited for every copy and fsync (a fifth of the CPU of a first-report wave). The
                    // WAL bound's task checkpoints instead, on a reader (`spawn_wal_bound`).
                    .pragma("wal_autocheckpoint", "0")
                    // Statement journals (a multi-row INSERT's undo) in memory instead of temporary files, where
                    // 8% of the collector's CPU went under a first-report wave (BENCHMARKS.md). Only here: on the
                    // readers it would also hold sorts' and DISTINCTs' temporary tables in memory.
                    .pragma("temp_store", "memory"),
            )
            .await?;
        if !existed {
            private::restrict(&file)
                .map_err(|source| StoreError::DataDir { path: file.display().to_string(), source })?;
        }
        MIGRATOR.run(&writer).await?;
        let pool = pool_options(8).connect_with(options).await?;
        spawn_wal_bound(pool.clone(), writer.clone(), wal_path(&file), WAL_CHECKPOINT_BYTES, WAL_CHECK_INTERVAL);
        let groups = super::group_commit::Groups::new(writer.clone(), BUSY_TIMEOUT);
        Ok(SqliteStore { pool, writer, groups })
    }

    /// A host transaction: a member of the writer's open group.
    pub(crate) async fn begin_host(&self) -> Result<super::group_commit::Member, StoreError> {
        self.groups.begin().await
    }

    /// Closes both pools, folding the write-ahead log into the database file first ([`Self::fold_log_at_stop`]): the
    /// readers go, then the writer checkpoints and closes. Without the checkpoint only the last connection to close
    /// checkpoints, and only when it happens to be the writer.
    pub async fn close(&self) {
        self.groups.end().await;
        self.pool.close().await;
        self.fold_log_at_stop().await;
        self.writer.close().await;
    }

    /// Copies the whole write-ahead log into the database file and empties it, so the file is complete on its own
    /// (what a backup copying only `muster.db` after a stop needs). The pools stay open: `serve` calls this as it
    /// stops, once its requests and its background work have ended (`app::background`); anything written later
    /// would go to the log as usual. A reader can keep the log from being emptied: that is tried again every
    /// 100 ms, and after [`FOLD_LIMIT`] in all (so `serve`'s stop, with its 10 s for requests and 5 s for
    /// background work, stays within systemd's 30 s) warned about. Nothing is lost either way: SQLite replays the
    /// log when the file is next opened.
    pub async fn fold_log_at_stop(&self) {
        match tokio::time::timeout(FOLD_LIMIT, self.fold_log_until_done(20, CHECKPOINT_BUSY_TIMEOUT)).await {
            Ok(Folded::Emptied) => {}
            Ok(Folded::Busy { log, copied }) => tracing::warn!(log, copied, "WAL not emptied: readers kept it busy"),
            Ok(Folded::Failed(why)) => {
                tracing::warn!(error = %why, "WAL not folded; the log is replayed at the next start")
            }
            Err(_) => tracing::warn!(
                seconds = FOLD_LIMIT.as_secs(),
                "WAL not emptied in time at the stop; replayed at the next start"
            ),
        }
    }

    /// What a command other than `serve` does as it ends, as the store's last use: its readers are closed (so the
    /// WAL bound's own passive checkpoint, on a reader, cannot hold the checkpoint lock), then five tries 100 ms
    /// apart at folding the log, none waiting for another connection. A running collector (or any other reader)
    /// then keeps the log from being emptied, and the log is left to that collector's own stop or checkpoints: a
    /// command must not hold back its reports.
    pub async fn fold_log_if_idle(&self) {
        self.pool.close().await;
        match self.fold_log_until_done(5, Duration::ZERO).await {
            Folded::Emptied => {}
            Folded::Busy { log, copied } => {
                tracing::debug!(log, copied, "WAL in use by another connection; left as is")
            }
            Folded::Failed(why) => tracing::debug!(error = %why, "WAL not folded; left as is"),
        }
    }

    /// Up to `attempts` tries, 100 ms apart, at copying the whole log into the file and emptying it, each waiting
    /// at most `busy` for other connections.
    async fn fold_log_until_done(&self, attempts: u32, busy: Duration) -> Folded {
        let mut conn = match self.writer.acquire().await {
            Ok(conn) => conn,
            Err(e) => return Folded::Failed(format!("no writer connection: {e}")),
        };
        // The writer's 30 s busy timeout would hold a stop that long behind another process's read; `busy` is used,
        // and the writer's restored after.
        let set = |d: Duration| format!("PRAGMA busy_timeout = {}", d.as_millis());
        if let Err(e) = sqlx::query(&set(busy)).execute(&mut *conn).await {
            conn.close_on_drop();
            return Folded::Failed(format!("the writer connection failed: {e}"));
        }
        let mut tries = 1;
        let folded = loop {
            // One row: busy (1 when another connection kept the log from being emptied), log and copied pages.
            let folded = match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut *conn)
                .await
            {
                Ok((0, _, _)) => Folded::Emptied,
                Ok((_, log, copied)) => Folded::Busy { log, copied },
                Err(e) => Folded::Failed(e.to_string()),
            };
            if !matches!(folded, Folded::Busy { .. }) || tries >= attempts {
                break folded;
            }
            tries += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if sqlx::query(&set(BUSY_TIMEOUT)).execute(&mut *conn).await.is_err() {
            conn.close_on_drop();
        }
        folded
    }
}

/// How a try at folding the write-ahead log into the file ended.
enum Folded {
    Emptied,
    /// Another connection kept `log - copied` pages, or the emptying, from happening.
    Busy {
        log: i64,
        copied: i64,
    },
    Failed(String),
}

/// How long a stop may spend folding the write-ahead log into the file ([`SqliteStore::fold_log_at_stop`]).
const FOLD_LIMIT: Duration = Duration::from_secs(8);

/// The writer's page cache (`cache_size`, negative: KiB). SQLite's default of 2 MiB held too little of the link
/// tables' indexes: a first report re-read its pages from the file.
const WRITER_CACHE_KIB: i64 = -32 * 1024;

/// A pool of up to `max` connections, each checked when it goes back ([`still_usable`]).
fn pool_options(max: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max)
        .test_before_acquire(false)
        .after_release(|conn, _| Box::pin(async move { still_usable(conn).await }))
}

/// Whether a connection going back to the pool has no transaction left open. It is checked here, once, rather than
/// again when the connection is taken (`test_before_acquire`): a file connection does not go stale while it waits
/// in the pool, and each check is a round trip to the connection's thread. When a write fails with SQLITE_FULL
/// or an I/O error, SQLite may end the transaction itself; sqlx's ROLLBACK then fails and sqlx still counts the
/// transaction as open, so the connection's next transaction is only a savepoint, whose rollback leaves the write
/// lock held: every writer then waited out the 30 s busy timeout (`tests/faults.rs`, the disk filling up). Such a
/// connection is closed instead, which ends whatever SQLite still holds. The ping first runs the rollback that
/// dropping a transaction queued.
async fn still_usable(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    // A transaction committed (or none begun) leaves nothing queued: the check costs no round trip then, which the
    // one writer connection would otherwise make after every transaction while the next write waits for it.
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    Ok(!conn.is_in_transaction())
}

/// The WAL beyond which the collector checkpoints it whole and truncates it.
const WAL_CHECKPOINT_BYTES: u64 = 64 << 20;
/// How long a statement waits for the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the truncating checkpoint waits for readers and writers. While it waits it holds the write lock, so
/// reports queue behind it: short, and tried again on the next tick, rather than the statements' 30 s.
const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the checkpoint after `VACUUM` is tried again, 50 ms apart, while another checkpoint holds its lock.
const VACUUM_CHECKPOINT_WAIT: Duration = Duration::from_secs(5);
/// How often the WAL is checkpointed (and its size looked at): what the writer appends in this time stays in the
/// WAL until the next look.
const WAL_CHECK_INTERVAL: Duration = Duration::from_secs(1);

fn wal_path(db: &std::path::Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

/// The writer does not checkpoint (see `wal_autocheckpoint` in [`SqliteStore::open`]): at every look this task
/// copies what the WAL holds back into the database with a PASSIVE checkpoint on a reader, beside the writes. The
/// writer starts the WAL over once no reader needs it and no write landed during the checkpoint; under continuous
/// writes it is the truncation past the bound that starts it over (the WAL then overshoots the bound by up to one
/// look's writes). Passive checkpoints alone never reach the end of the WAL
/// under continuous reads, so it would grow without bound (7.3 GB for a 343 MB database under `muster-loadgen`,
/// BENCHMARKS.md): past `WAL_CHECKPOINT_BYTES` the collector checkpoints it whole ([`checkpoint`]) and empties
/// the file (`limit` and `every` are parameters for the test only). Ends when the pool is closed.
fn spawn_wal_bound(pool: SqlitePool, writer: SqlitePool, wal: std::path::PathBuf, limit: u64, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if pool.is_closed() {
                return;
            }
            let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
            let past_bound = size >= limit;
            match checkpoint(&pool, &writer, past_bound).await {
                Ok(Checkpoint::Copied) => {}
                Ok(Checkpoint::Truncated) => tracing::debug!(wal_bytes = size, "WAL checkpointed and truncated"),
                Ok(Checkpoint::HeldByReader { log, done }) => {
                    tracing::debug!(
                        wal_bytes = size,
                        log,
                        done,
                        "WAL checkpoint incomplete: a reader holds an older snapshot"
                    )
                }
                Ok(Checkpoint::Busy) => tracing::debug!(wal_bytes = size, "WAL not truncated: readers kept it busy"),
                Err(e) if pool.is_closed() => return tracing::debug!(error = %e, "WAL checkpoint: pool closed"),
                // A full disk fails every look: worth a warning only once the WAL is past its bound.
                Err(e) if !past_bound => {
                    tracing::debug!(wal_bytes = size, error = %e, "WAL checkpoint failed; retrying")
                }
                Err(e) => tracing::warn!(wal_bytes = size, error = %e, "WAL checkpoint failed; retrying"),
            }
        }
    });
}

/// What one look at the WAL did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkpoint {
    /// Within its bound: what could be copied back was, and the file was left as it is.
    Copied,
    /// Every page copied back and the file emptied.
    Truncated,
    /// A reader on an older snapshot kept `log - done` pages in the WAL; nothing waited for it.
    HeldByReader { log: i64, done: i64 },
    /// Every page was copied back, but readers were still in the WAL when the truncation's short wait ended.
    Busy,
}

/// A PASSIVE checkpoint first: it copies what it can without locking anyone out. That is all while the WAL is within
/// its bound (`truncate` false). Past it, only when the PASSIVE copied every page
/// (no reader holds an older snapshot) does a TRUNCATE follow, which holds off writers while it waits for readers
/// to leave the WAL: short then, because readers on the newest snapshot finish quickly. Truncating while a long
/// reader held an old snapshot made reports queue (and one `INSERT` fail busy) for the whole wait, in vain.
/// The PASSIVE runs on a reader, beside the writes. The TRUNCATE runs on the writer's connection, so it takes its
/// turn with the writes instead of polling for SQLite's write lock between them; its busy timeout is lowered for it
/// and restored after (a connection that cannot be restored is closed, not returned to the pool).
async fn checkpoint(readers: &SqlitePool, writer: &SqlitePool, truncate: bool) -> Result<Checkpoint, sqlx::Error> {
    let (busy, log, done) =
        sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(readers).await?;
    if !truncate {
        return Ok(Checkpoint::Copied);
    }
    if busy != 0 {
        return Ok(Checkpoint::Busy);
    }
    if done < log {
        return Ok(Checkpoint::HeldByReader { log, done });
    }
    let mut conn = writer.acquire().await?;
    let set = |d: Duration| format!("PRAGMA busy_timeout = {}", d.as_millis());
    sqlx::query(&set(CHECKPOINT_BUSY_TIMEOUT)).execute(&mut *conn).await?;
    let result = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await;
    if sqlx::query(&set(BUSY_TIMEOUT)).execute(&mut *conn).await.is_err() {
        conn.close_on_drop();
    }
    Ok(match result? {
        (0, _, _) => Checkpoint::Truncated,
        _ => Checkpoint::Busy,
    })
}

impl SqliteStore {
    /// One file, no partitions: history goes batch by batch (`sql.rs`).
    async fn prepare_history_months(&self, _now: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Nothing to drop whole; the batches delete it all.
    async fn drop_history_months(&self, _before: i64) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Rewrites the database without the deleted rows' pages; in WAL mode the rewrite lands in the log, and the
    /// file shrinks when a checkpoint copies it back whole. The rewrite goes through a temporary copy of the whole
    /// database: on disk, not in the writer's memory (the writer's setting is restored whatever the outcome).
    async fn vacuum_on(conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
        sqlx::query("PRAGMA temp_store = file").execute(&mut *conn).await?;
        let vacuumed = sqlx::query("VACUUM").execute(&mut *conn).await;
        let restored = sqlx::query("PRAGMA temp_store = memory").execute(&mut *conn).await;
        vacuumed?;
        restored?;
        // The WAL bound's passive checkpoint may hold the checkpoint lock at this moment, and SQLite then answers
        // busy at once, without waiting: try again, briefly, so the file has shrunk when `prune --vacuum` says so.
        let deadline = std::time::Instant::now() + VACUUM_CHECKPOINT_WAIT;
        loop {
            let (busy, _, _) =
                sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut *conn).await?;
            if busy == 0 {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                tracing::warn!("vacuumed, but readers kept the WAL busy: the file shrinks at the next full checkpoint");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    /// The query planner's statistics from a sample of each index (1,000 rows). The bundled SQLite is built with
    /// STAT4, so `ANALYZE` still counts every page of every index, holding the one writer while it does: seconds on
    /// a large database, so it is not run for every doubling of the reported hosts (`app::statistics`).
    const ANALYZE: &[&str] = &["PRAGMA analysis_limit = 1000", "ANALYZE"];
    const ANALYZE_BESIDE_WRITES: bool = false;
}

super::sql::impl_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
super::tx::impl_host_tx!(
    sqlx::Sqlite,
    conn: crate::store::group_commit::Member,
    "json_group_object(section, hash)",
    read_in_lock: true,
    record: ("", "; ", "; ")
);
super::findings_tx::impl_findings_tx!(sqlx::Sqlite, conn: crate::store::group_commit::Member, "");

/// A group member as the host transaction `begin_host_tx` hands out, for the group commit tests.
#[cfg(test)]
pub(super) fn host_tx_of(member: super::group_commit::Member) -> Box<dyn super::tx::HostTx> {
    Box::new(host_tx::Tx(member))
}

/// A group member as the findings transaction `begin_findings_tx` hands out, for the group commit tests.
#[cfg(test)]
pub(super) fn findings_tx_of(member: super::group_commit::Member) -> Box<dyn super::findings_tx::FindingsTx> {
    Box::new(findings_tx::Tx(member))
}

/// The database file is the collector's alone: created 0600 in a directory created 0700, and refused at start when
/// others can read it (as the agent refuses a state directory open to others). An existing directory is left as
/// the operator made it: a 0600 file in it is private whatever the directory allows.
mod private {
    use std::path::Path;

    use super::StoreError;

    #[cfg(unix)]
    pub fn create_dir(dir: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }

    #[cfg(not(unix))]
    pub fn create_dir(dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    #[cfg(unix)]
    pub fn restrict(file: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
    }

    #[cfg(not(unix))]
    pub fn restrict(_file: &Path) -> std::io::Result<()> {
        Ok(())
    }

    /// Group access is left to the operator (containers share a group); other users get none.
    #[cfg(unix)]
    pub fn check(path: &Path) -> Result<(), StoreError> {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| StoreError::DataDir { path: path.display().to_string(), source })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o007 != 0 {
            return Err(StoreError::OpenToOthers { path: path.display().to_string(), mode });
        }
        Ok(())
    }

    #[cfg(not(unix))]
    pub fn check(_path: &Path) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A scheduled run's two reads search the schedule index, never scan the hosts: their cost follows what is due
    /// (or not due), not the fleet.
    #[tokio::test]
    async fn the_due_hosts_are_searched_in_the_schedule_index() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("muster.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        for sql in [crate::store::findings::DUE_HOSTS, crate::store::findings::NOT_DUE_HOSTS] {
            let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}")).bind(0_i64).fetch_all(&store.pool).await;
            let plan: Vec<String> = rows.unwrap().iter().map(|r| r.get::<String, _>("detail")).collect();
            let searches: Vec<&String> = plan.iter().filter(|d| d.starts_with("SEARCH")).collect();
            assert!(!searches.is_empty(), "{sql}: {plan:?}");
            assert!(searches.iter().all(|d| d.contains("COVERING INDEX hosts_evaluate_after")), "{sql}: {plan:?}");
            assert!(!plan.iter().any(|d| d.starts_with("SCAN")), "{sql}: {plan:?}");
        }
    }

    /// Writes take turns on the one writer connection while reads and the readiness probe go on beside
    /// them: a transaction holding the writer delays the next write until it commits (nothing fails busy, nothing
    /// is lost) and never the probe or a read.
    #[tokio::test]
    async fn writes_take_turns_and_reads_do_not_wait_for_them() {
        use crate::store::Store;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("muster.db").display())).await.unwrap();
        sqlx::query("CREATE TABLE turns (n INTEGER NOT NULL)").execute(&store.writer).await.unwrap();
        let mut held = store.writer.begin().await.unwrap();
        sqlx::query("INSERT INTO turns (n) VALUES (0)").execute(&mut *held).await.unwrap();
        let writes: Vec<_> = (1..=16)
            .map(|n| {
                let writer = store.writer.clone();
                tokio::spawn(async move {
                    sqlx::query("INSERT INTO turns (n) VALUES ($1)").bind(n).execute(&writer).await.map(|_| ())
                })
            })
            .collect();
        // Every write has had its turn to run: it waits for the one connection, not on SQLite's lock from another.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!((store.writer.size(), store.writer.num_idle()), (1, 0), "one writer connection, held");
        // The probe and a read answer while the writer is held (the 5 s bound only stops a hang from hanging the
        // test; before, the probe shared the writers' wait).
        let limit = Duration::from_secs(5);
        tokio::time::timeout(limit, store.ping()).await.expect("the probe waited for the writer").unwrap();
        let seen: i64 =
            tokio::time::timeout(limit, sqlx::query_scalar("SELECT count(*) FROM turns").fetch_one(&store.pool))
                .await
                .expect("a read waited for the writer")
                .unwrap();
        assert_eq!(seen, 0, "readers see only committed rows");
        assert!(writes.iter().all(|w| !w.is_finished()), "no write got past the held transaction");
        held.commit().await.unwrap();
        for write in writes {
            write.await.unwrap().unwrap();
        }
        let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM turns ORDER BY n").fetch_all(&store.pool).await.unwrap();
        assert_eq!(rows, (0..=16).collect::<Vec<i64>>(), "every write landed once");
        store.close().await;
    }

    /// The writer does not checkpoint; the WAL bound's looks do, within the bound too, so the writer starts the WAL
    /// over instead of growing it up to the bound.
    #[tokio::test]
    async fn the_wal_is_checkpointed_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("muster.db");
        let store = SqliteStore::open(&format!("sqlite://{}", file.display())).await.unwrap();
        spawn_wal_bound(store.pool.clone(), store.writer.clone(), wal_path(&file), 1 << 30, Duration::from_millis(50));
        sqlx::query("CREATE TABLE filler (data BLOB NOT NULL)").execute(&store.writer).await.unwrap();
        let written: u64 = 256 * 16384;
        for _ in 0..256 {
            sqlx::query("INSERT INTO filler (data) VALUES (randomblob(16384))").execute(&store.writer).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let wal = std::fs::metadata(wal_path(&file)).unwrap().len();
        assert!(wal < written / 2, "the WAL grew to {wal} bytes for {written} written");
        store.close().await;
    }

    /// A reader that never lets SQLite's own passive checkpoints reach the end of the WAL (a console page, an export)
    /// while reports keep writing: the WAL passes the bound; once the reader is gone the next look checkpoints it
    /// whole and empties the file. SQLite alone would keep the file at `journal_size_limit` (64 MiB) for ever.
    #[tokio::test]
    async fn the_wal_is_emptied_once_past_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("muster.db");
        let store = SqliteStore::open(&format!("sqlite://{}", file.display())).await.unwrap();
        let wal = wal_path(&file);
        sqlx::query("CREATE TABLE filler (data BLOB NOT NULL)").execute(&store.pool).await.unwrap();
        let mut reader = store.pool.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *reader).await.unwrap();
        let _: i64 = sqlx::query_scalar("SELECT count(*) FROM filler").fetch_one(&mut *reader).await.unwrap();
        for _ in 0..64 {
            sqlx::query("INSERT INTO filler (data) VALUES (randomblob(16384))").execute(&store.pool).await.unwrap();
        }
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let limit = 256 << 10;
        assert!(size() > 4 * limit, "the open read kept every page in the WAL: {} bytes", size());
        // The same pool under a bound of 256 KiB, looked at every 50 ms.
        spawn_wal_bound(store.pool.clone(), store.writer.clone(), wal.clone(), limit, Duration::from_millis(50));
        // While the reader holds its old snapshot the WAL cannot be emptied, and trying must not lock writers out:
        // a writer that does not wait at all (busy timeout 0) still gets every write in. Truncating regardless
        // held the write lock for a second at each look.
        let mut writer = store.pool.acquire().await.unwrap();
        writer.close_on_drop();
        sqlx::query("PRAGMA busy_timeout = 0").execute(&mut *writer).await.unwrap();
        for _ in 0..30 {
            sqlx::query("INSERT INTO filler (data) VALUES (randomblob(1024))").execute(&mut *writer).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(writer);
        assert!(size() > limit, "{} bytes", size());
        assert!(matches!(
            checkpoint(&store.pool, &store.writer, true).await.unwrap(),
            Checkpoint::HeldByReader { log, done } if done < log
        ));
        sqlx::query("COMMIT").execute(&mut *reader).await.unwrap();
        drop(reader);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(size(), 0, "the WAL is checkpointed and truncated once the reader is gone");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM filler").fetch_one(&store.pool).await.unwrap();
        assert_eq!(rows, 94, "nothing is lost");
        store.close().await;
    }

    #[tokio::test]
    async fn the_database_is_private_and_a_shared_one_is_refused() {
        let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("muster-data");
        let file = data.join("muster.db");
        let store = SqliteStore::open(&format!("sqlite://{}", file.display())).await.unwrap();
        store.close().await;
        assert_eq!((mode(&data), mode(&file)), (0o700, 0o600));

        // A database others can read (the 0644 file in a 0755 directory of earlier versions) is refused at start.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SqliteStore::open(&format!("sqlite://{}", file.display())).await.err().unwrap();
        assert!(matches!(err, StoreError::OpenToOthers { mode: 0o644, .. }), "{err}");
        assert!(err.to_string().contains("chmod o-rwx"), "{err}");
        // Group access is the operator's choice (containers share a group).
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        SqliteStore::open(&format!("sqlite://{}", file.display())).await.unwrap().close().await;
    }
}
super::integrations::impl_integration_store!(SqliteStore, sqlx::Sqlite, "", true);

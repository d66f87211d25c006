//! PostgreSQL keeps host history in monthly partitions (migration 0025), so retention drops a month whole instead of
//! deleting its rows batch by batch through every index, and a fleet's history never needs a table-wide DELETE.
//! Which months to create and which partitions to drop is planned here from the catalogue's bounds (pure); the
//! few statements that follow run under one advisory lock, so replicas doing the same at once do not race.
//! SQLite keeps one file and deletes by batches (`sql.rs`).

use chrono::{DateTime, Datelike, TimeZone, Utc};
use sqlx::postgres::PgPool;

use super::StoreError;

/// Months created beyond `now`'s: the daily retention run creates them, so a collector that was down for up to two
/// months still finds its month's partition; rows of a month not created wait in the default partition until it is.
pub const MONTHS_AHEAD: u32 = 2;

/// One partition's range of `at`, milliseconds since the epoch, upper bound excluded, as `pg_get_expr` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The partition for rows no other takes.
    Default,
    /// `None` stands for MINVALUE (from) or MAXVALUE (to).
    Range { from: Option<i64>, to: Option<i64> },
}

/// Reads `FOR VALUES FROM (MINVALUE) TO ('1767225600000')` or `DEFAULT`; `None` for any other shape.
pub fn parse_bound(expr: &str) -> Option<Bound> {
    let expr = expr.trim();
    if expr == "DEFAULT" {
        return Some(Bound::Default);
    }
    let (from, to) = expr.strip_prefix("FOR VALUES FROM (")?.strip_suffix(')')?.split_once(") TO (")?;
    let value = |v: &str| -> Option<Option<i64>> {
        match v {
            "MINVALUE" | "MAXVALUE" => Some(None),
            v => v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v).parse().ok().map(Some),
        }
    };
    Some(Bound::Range { from: value(from)?, to: value(to)? })
}

/// A month's partition to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month {
    pub name: String,
    pub from: i64,
    pub to: i64,
}

fn month(year: i32, month0: u32) -> Option<Month> {
    let (year, month0) = (year + i32::try_from(month0 / 12).ok()?, month0 % 12);
    let start = |y: i32, m0: u32| Utc.with_ymd_and_hms(y, m0 + 1, 1, 0, 0, 0).single().map(|t| t.timestamp_millis());
    let from = start(year, month0)?;
    let to = if month0 == 11 { start(year + 1, 0)? } else { start(year, month0 + 1)? };
    Some(Month { name: format!("history_y{year:04}m{:02}", month0 + 1), from, to })
}

/// The months from `now`'s through [`MONTHS_AHEAD`] after it that no existing partition covers any part of (the
/// partition an upgrade made of the old table covers up to the end of its month; a later month is never made to
/// overlap it).
pub fn months_to_create(existing: &[Bound], now: DateTime<Utc>) -> Vec<Month> {
    let overlaps = |m: &Month| {
        existing.iter().any(|b| match *b {
            Bound::Default => false,
            Bound::Range { from, to } => from.is_none_or(|f| f < m.to) && to.is_none_or(|t| m.from < t),
        })
    };
    (0..=MONTHS_AHEAD).filter_map(|ahead| month(now.year(), now.month0() + ahead)).filter(|m| !overlaps(m)).collect()
}

/// The partitions whose every row is older than `before` (milliseconds): they go whole. The default partition and
/// an open-ended one never do.
pub fn to_drop(existing: &[(String, Bound)], before: i64) -> Vec<String> {
    existing
        .iter()
        .filter(|(_, b)| matches!(b, Bound::Range { to: Some(to), .. } if *to <= before))
        .map(|(name, _)| name.clone())
        .collect()
}

/// One lock for every change to the partitions, held to the end of its transaction.
const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('muster.history_partitions'))";

/// A partition's name in a statement: ours are lower-case letters, digits and underscores, and a name from the
/// catalogue that is not is refused rather than quoted.
fn ident(name: &str) -> Result<&str, StoreError> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        Ok(name)
    } else {
        Err(StoreError::Corrupt(format!("history partition {name:?} has a name the collector does not make")))
    }
}

async fn partitions(conn: &mut sqlx::PgConnection) -> Result<Vec<(String, Bound)>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'history'::regclass ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(name, expr)| match parse_bound(&expr) {
            Some(bound) => Ok((name, bound)),
            None => Err(StoreError::Corrupt(format!("history partition {name} has an unexpected bound: {expr}"))),
        })
        .collect()
}

/// Locks the tables a partition change needs, waiting at most 5 s for each (reports wait behind it meanwhile):
/// `hosts` in `hosts` mode when the change needs it, then `history` whole. Always in that order, a report's own
/// (it updates its host, then writes history), so a report and a partition change never wait for each other.
async fn lock_tables(conn: &mut sqlx::PgConnection, hosts: Option<&str>) -> Result<(), StoreError> {
    sqlx::query("SET LOCAL lock_timeout = '5s'").execute(&mut *conn).await?;
    if let Some(mode) = hosts {
        sqlx::query(&format!("LOCK TABLE hosts IN {mode} MODE")).execute(&mut *conn).await?;
    }
    sqlx::query("LOCK TABLE history IN ACCESS EXCLUSIVE MODE").execute(&mut *conn).await?;
    Ok(())
}

/// A partition change that could not have its tables in time is passed over: months not made leave their rows in
/// the default partition until the next run, months not dropped leave theirs to the batches. Any other failure
/// stands.
fn unless_busy(done: Result<u64, StoreError>, what: &str) -> Result<u64, StoreError> {
    match done {
        Err(e) if e.is_contention() => {
            tracing::warn!(error = %e, "history partitions: {what} waits for its tables; tried at the next run");
            Ok(0)
        }
        done => done,
    }
}

/// Whether rows of `m` wait in the default partition.
async fn waiting(conn: &mut sqlx::PgConnection, default: &str, m: &Month) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {default} WHERE at >= $1 AND at < $2)"))
        .bind(m.from)
        .bind(m.to)
        .fetch_one(conn)
        .await?)
}

/// Creates the months [`months_to_create`] plans; a month whose rows already wait in the default partition is
/// created with them moved in. Returns how many months were created (none, when their tables stay busy).
///
/// Making a partition locks `hosts` (each partition carries the key to it) and `history` ([`lock_tables`]). Moving
/// rows out of the default partition detaches and attaches it, which takes `hosts` whole: each such month is made in
/// a transaction of its own after the others, so a move that cannot have its locks in time holds back only itself.
pub async fn prepare(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, StoreError> {
    unless_busy(prepare_months(pool, now).await, "making the coming months")
}

async fn prepare_months(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let (months, default) = {
        let mut tx = pool.begin().await?;
        sqlx::query(LOCK).execute(&mut *tx).await?;
        let existing = partitions(&mut tx).await?;
        let bounds: Vec<Bound> = existing.iter().map(|(_, b)| *b).collect();
        let default = match existing.iter().find(|(_, b)| *b == Bound::Default) {
            Some((name, _)) => Some(ident(name)?.to_owned()),
            None => None,
        };
        let mut months = Vec::new();
        for m in months_to_create(&bounds, now) {
            let rows_wait = match &default {
                Some(default) => waiting(&mut tx, default, &m).await?,
                None => false,
            };
            months.push((m, rows_wait));
        }
        tx.commit().await?;
        (months, default)
    };
    let plain: Vec<&Month> = months.iter().filter(|(_, w)| !w).map(|(m, _)| m).collect();
    let mut created = make(pool, &plain, default.as_deref(), false).await?;
    for (m, _) in months.iter().filter(|(_, w)| *w) {
        created += make(pool, &[m], default.as_deref(), true).await?;
    }
    Ok(created)
}

/// Makes `months` in one transaction; `moving`, their rows waiting in the `default` partition move in. Returns how
/// many were made.
async fn make(pool: &PgPool, months: &[&Month], default: Option<&str>, moving: bool) -> Result<u64, StoreError> {
    if months.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    sqlx::query(LOCK).execute(&mut *tx).await?;
    lock_tables(&mut tx, Some(if moving { "ACCESS EXCLUSIVE" } else { "SHARE ROW EXCLUSIVE" })).await?;
    // Read again under the locks: another replica may have made a month since, or a report written a row of it.
    let existing = partitions(&mut tx).await?;
    let mut created = 0;
    for m in months {
        if existing.iter().any(|(name, _)| *name == m.name) {
            continue;
        }
        let create =
            format!("CREATE TABLE {} PARTITION OF history FOR VALUES FROM ({}) TO ({})", ident(&m.name)?, m.from, m.to);
        let rows_wait = match default {
            Some(default) => waiting(&mut tx, default, m).await?,
            None => false,
        };
        match default {
            // PostgreSQL refuses a new partition whose rows sit in the default one: they move with the default
            // detached, all in this transaction.
            Some(default) if rows_wait && moving => {
                sqlx::query(&format!("ALTER TABLE history DETACH PARTITION {default}")).execute(&mut *tx).await?;
                sqlx::query(&create).execute(&mut *tx).await?;
                sqlx::query(&format!(
                    "WITH moved AS (DELETE FROM {default} WHERE at >= $1 AND at < $2 RETURNING {COLUMNS}) \
                     INSERT INTO history ({COLUMNS}) SELECT {COLUMNS} FROM moved"
                ))
                .bind(m.from)
                .bind(m.to)
                .execute(&mut *tx)
                .await?;
                sqlx::query(&format!("ALTER TABLE history ATTACH PARTITION {default} DEFAULT"))
                    .execute(&mut *tx)
                    .await?;
            }
            // Rows arrived between the first look and the locks, which were taken for no move: the month is made
            // by the next run, its rows meanwhile where they are.
            _ if rows_wait => continue,
            _ => {
                sqlx::query(&create).execute(&mut *tx).await?;
            }
        }
        created += 1;
    }
    tx.commit().await?;
    Ok(created)
}

/// The history's columns, named where rows move between partitions.
const COLUMNS: &str = "id, host_id, at, report_id, kind, subject, from_value, to_value, details";

/// Drops the partitions wholly older than `before` (milliseconds); returns the rows they held (none, when `history`
/// stays busy: the batches then delete them). Dropping a partition locks `history` alone (not `hosts`); the rows are
/// counted before, so the lock is held only for the drops.
pub async fn drop_before(pool: &PgPool, before: i64) -> Result<u64, StoreError> {
    unless_busy(drop_months(pool, before).await, "dropping old months")
}

async fn drop_months(pool: &PgPool, before: i64) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(LOCK).execute(&mut *tx).await?;
    let existing = partitions(&mut tx).await?;
    let doomed = to_drop(&existing, before);
    let mut rows = 0u64;
    for name in &doomed {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", ident(name)?)).fetch_one(&mut *tx).await?;
        rows += u64::try_from(n).unwrap_or(0);
    }
    if !doomed.is_empty() {
        lock_tables(&mut tx, None).await?;
        for name in &doomed {
            sqlx::query(&format!("DROP TABLE {}", ident(name)?)).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    // What PostgreSQL 15.20 (Debian 15.20-0+deb12u1, on the development machine) printed for `pg_get_expr` of a
    // BIGINT range partitioned table's partitions: one from MINVALUE, one between two bounds, the default.
    const FROM_MIN: &str = "FOR VALUES FROM (MINVALUE) TO ('1767225600000')";
    const BETWEEN: &str = "FOR VALUES FROM ('1767225600000') TO ('1769904000000')";

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn bounds_read_as_postgres_prints_them() {
        assert_eq!(parse_bound(FROM_MIN), Some(Bound::Range { from: None, to: Some(1_767_225_600_000) }));
        assert_eq!(
            parse_bound(BETWEEN),
            Some(Bound::Range { from: Some(1_767_225_600_000), to: Some(1_769_904_000_000) })
        );
        assert_eq!(parse_bound("DEFAULT"), Some(Bound::Default));
        assert_eq!(parse_bound("FOR VALUES IN ('a')"), None);
        assert_eq!(parse_bound("FOR VALUES FROM ('x') TO ('1')"), None);
    }

    #[test]
    fn months_are_created_ahead_and_never_over_the_upgraded_table() {
        // Nothing yet but the default: this month and the next two, December into the new year.
        let made = months_to_create(&[Bound::Default], at(2025, 12, 7));
        let names: Vec<&str> = made.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["history_y2025m12", "history_y2026m01", "history_y2026m02"]);
        assert_eq!(made[0].to, made[1].from);
        assert_eq!(made[1].from, 1_767_225_600_000, "2026-01-01T00:00:00Z");
        assert_eq!(made[2].to - made[2].from, 28 * 86_400_000, "February 2026 has 28 days");

        // The table an upgrade in December 2025 attached covers up to 2026-01-01: December is its.
        let upgraded = parse_bound(FROM_MIN).unwrap();
        let names: Vec<String> =
            months_to_create(&[upgraded, Bound::Default], at(2025, 12, 7)).into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["history_y2026m01", "history_y2026m02"]);

        // A month already there is not made again.
        let january = parse_bound(BETWEEN).unwrap();
        let names: Vec<String> =
            months_to_create(&[upgraded, january], at(2026, 1, 31)).into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["history_y2026m02", "history_y2026m03"]);
    }

    #[test]
    fn only_partitions_wholly_past_the_cutoff_go() {
        let existing = vec![
            ("history_before_months".to_owned(), parse_bound(FROM_MIN).unwrap()),
            ("history_y2026m01".to_owned(), parse_bound(BETWEEN).unwrap()),
            ("history_default".to_owned(), Bound::Default),
        ];
        // A cutoff inside January keeps January (its later rows are not past it) and drops what ends before.
        assert_eq!(to_drop(&existing, at(2026, 1, 15).timestamp_millis()), ["history_before_months"]);
        // A cutoff at January's end exactly: every January row is older.
        assert_eq!(to_drop(&existing, 1_769_904_000_000), ["history_before_months", "history_y2026m01"]);
        assert!(to_drop(&existing, 1_767_225_599_999).is_empty());
    }

    #[test]
    fn only_names_the_collector_makes_go_into_statements() {
        assert_eq!(ident("history_y2026m01").unwrap(), "history_y2026m01");
        assert_eq!(ident("history_before_months").unwrap(), "history_before_months");
        for odd in ["", "History", "history; DROP TABLE hosts", "history\"x"] {
            assert!(ident(odd).is_err(), "{odd}");
        }
    }
}

//! Storage the web console needs beyond the API's: the dashboard's fleet-wide aggregates, the daily trend of open
//! findings and the console's host list; one body for SQLite and PostgreSQL. Console users and sessions are in
//! `store/users.rs`.
//!
//! "Active" findings below are those someone still has to act on: status `open`, `acknowledged` or `reopened`
//! (risk-accepted and resolved ones are not counted).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::StoreError;
use crate::model::risk::RiskCounts;

pub use crate::model::console::*;

#[async_trait]
pub trait ConsoleStore: Send + Sync {
    async fn dashboard(&self, ages: &HostAges) -> Result<DashboardCounts, StoreError>;
    /// Stores the active findings per severity as of now under `day` (replacing that day's earlier snapshot).
    async fn snapshot_trend(&self, day: NaiveDate, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Snapshots for days in `from..=to`, by day then severity.
    async fn trend(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<TrendPoint>, StoreError>;

    async fn console_hosts(&self, filter: &ConsoleHostFilter) -> Result<ConsoleHostPage, StoreError>;
    /// One host's active findings as its risk score counts them.
    async fn host_risk(&self, host_id: &str) -> Result<RiskCounts, StoreError>;
    /// Every distinct host tag, sorted (for the host list's tag filter).
    async fn host_tags(&self) -> Result<Vec<String>, StoreError>;
}

/// The statuses of active findings, as SQL (see `findings::Status::is_active`).
pub(super) const ACTIVE: &str = "('open', 'acknowledged', 'reopened')";

/// The elements of `h.tags` (a JSON array of strings) as rows with a `value` column; the only SQL here that differs
/// between the backends. Comparing parsed elements keeps the tag filter exact (no partial or case-folded match).
const SQLITE_TAG_ELEMENTS: &str = "json_each(h.tags) AS t";
const PG_TAG_ELEMENTS: &str = "jsonb_array_elements_text(h.tags::jsonb) AS t(value)";

/// The rule id of vulnerability findings that have a fixed version (`findings::vulnerability::FIX_RULE`).
const FIX_RULE: &str = "vuln.fix";

/// Kernel labels of matches that are not findings: kernels that are not running, and headers and tools built from a
/// kernel source (`vuln::KernelState::is_inactive_label`).
const INACTIVE_KERNELS: &str = "('not_running', 'not_a_kernel')";

/// The rule whose active findings make a host count as past its OS's end of life.
const END_OF_LIFE_RULE: &str = "os.end_of_life";

/// How many packages and KEV advisories the dashboard lists.
const DASHBOARD_TOP: i64 = 10;

macro_rules! impl_console_store {
    ($store:ty, $db:ty, $row:ty, $tag_elements:expr) => {
        const _: () = {
            use std::collections::BTreeSet;

            use async_trait::async_trait;
            use chrono::{DateTime, NaiveDate, Utc};
            use sqlx::{QueryBuilder, Row};

            use crate::model::risk::{RiskCounts, sql_points};
            use crate::model::{Severity, from_ms, to_ms};
            use crate::vuln::priority::KEV_POINTS;
            use crate::store::StoreError;
            use crate::store::console::{
                ACTIVE, ConsoleHostFilter, ConsoleHostPage, ConsoleHostRow, ConsoleStore, DASHBOARD_TOP,
                DashboardCounts, END_OF_LIFE_RULE, FIX_RULE, HostAges, INACTIVE_KERNELS, HostSort, HostStatus, KevPresent, TrendPoint,
                VulnerablePackage,
            };
            use crate::store::sql::{HOST_COLUMNS, like_pattern};
            use crate::views::HostSummary;

            const DAY: &str = "%Y-%m-%d";
            fn corrupt(what: &str, value: &str) -> StoreError {
                StoreError::Corrupt(format!("{what} {value:?}"))
            }

            fn severity_of_rank(rank: i64) -> Result<Severity, StoreError> {
                Severity::ALL
                    .into_iter()
                    .find(|s| i64::from(s.rank()) == rank)
                    .ok_or_else(|| corrupt("severity rank", &rank.to_string()))
            }

            fn opt_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
                v.map(from_ms)
            }

            /// As in `sql.rs`, whose row reader is private to the `Store` body.
            fn host_from_row(r: &$row) -> Result<HostSummary, StoreError> {
                let tags: String = r.try_get("tags")?;
                Ok(HostSummary {
                    id: r.try_get("id")?,
                    hostname: r.try_get("hostname")?,
                    machine_id: r.try_get("machine_id")?,
                    system_uuid: r.try_get("system_uuid")?,
                    system_serial: r.try_get("system_serial")?,
                    os_id: r.try_get("os_id")?,
                    os_version_id: r.try_get("os_version_id")?,
                    os_pretty_name: r.try_get("os_pretty_name")?,
                    kernel_release: r.try_get("kernel_release")?,
                    architecture: r.try_get("architecture")?,
                    agent_version: r.try_get("agent_version")?,
                    tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    duplicate_identity: r.try_get("duplicate_identity")?,
                    first_seen: from_ms(r.try_get("first_seen")?),
                    last_seen: from_ms(r.try_get("last_seen")?),
                    last_report_at: opt_ms(r.try_get("last_report_at")?),
                })
            }

            /// `n_critical`, `n_high`, … `n_info`: active-finding counts per severity of the grouped rows; `n_kev`
            /// the known-exploited ones, `risk` their risk score (`model::risk`).
            fn severity_sums() -> String {
                let mut sums: Vec<String> = Severity::ALL
                    .iter()
                    .map(|s| format!("SUM(CASE WHEN severity_rank = {} THEN 1 ELSE 0 END) AS n_{}", s.rank(), s.as_str()))
                    .collect();
                let kev = i64::from(KEV_POINTS);
                sums.push(format!("SUM(CASE WHEN priority >= {kev} THEN 1 ELSE 0 END) AS n_kev"));
                sums.push(format!("SUM({}) AS risk", sql_points("priority", "severity_rank", kev)));
                sums.join(", ")
            }

            fn push_host_filter(qb: &mut QueryBuilder<'_, $db>, f: &ConsoleHostFilter) {
                qb.push(" WHERE 1 = 1");
                if let Some(search) = &f.search {
                    let pattern = like_pattern(search);
                    let mut first = true;
                    qb.push(" AND (");
                    for column in ["h.hostname", "h.system_serial", "h.machine_id", "h.id"] {
                        if !first {
                            qb.push(" OR ");
                        }
                        first = false;
                        qb.push(format!("lower(coalesce({column}, '')) LIKE "))
                            .push_bind(pattern.clone())
                            .push(" ESCAPE '\\'");
                    }
                    qb.push(")");
                }
                if let Some(os) = &f.os {
                    let pattern = like_pattern(os);
                    qb.push(" AND (lower(coalesce(h.os_id, '')) LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
                    qb.push(" OR lower(coalesce(h.os_pretty_name, '')) LIKE ").push_bind(pattern).push(" ESCAPE '\\')");
                }
                if let Some(status) = f.status {
                    let stale = to_ms(f.ages.stale_before);
                    let missing = to_ms(f.ages.missing_before);
                    match status {
                        // Like the dashboard: a host being decommissioned going silent is expected.
                        HostStatus::Missing => {
                            qb.push(" AND h.lifecycle_state = 'in_service' AND h.last_seen < ").push_bind(missing);
                        }
                        HostStatus::Stale => {
                            qb.push(" AND h.lifecycle_state = 'in_service' AND h.last_seen >= ").push_bind(missing);
                            qb.push(" AND h.last_seen < ").push_bind(stale);
                        }
                        HostStatus::Reporting => {
                            qb.push(" AND h.last_seen >= ").push_bind(missing);
                            qb.push(" AND h.last_seen >= ").push_bind(stale);
                        }
                    }
                }
                if let Some(tag) = &f.tag {
                    qb.push(format!(" AND EXISTS (SELECT 1 FROM {} WHERE t.value = ", $tag_elements))
                        .push_bind(tag.clone())
                        .push(")");
                }
                if f.has_critical {
                    qb.push(format!(
                        " AND EXISTS (SELECT 1 FROM findings f WHERE f.host_id = h.id AND f.status IN {ACTIVE} \
                         AND f.severity_rank = "
                    ))
                    .push_bind(i64::from(Severity::Critical.rank()))
                    .push(")");
                }
            }

            /// The host list's order: inside the page query (`risk` from the joined `r` counts) or over its result
            /// (`risk` from the output columns).
            fn host_order(f: &ConsoleHostFilter, inner: bool) -> String {
                let dir = if f.descending { "DESC" } else { "ASC" };
                let risk_dir = if f.descending { "ASC" } else { "DESC" };
                match f.sort {
                    HostSort::Hostname => format!("hostname {dir}, id"),
                    HostSort::Os => format!("(os_pretty_name IS NULL), os_pretty_name {dir}, hostname, id"),
                    HostSort::LastSeen => format!("last_seen {dir}, id"),
                    HostSort::Risk if inner => format!(
                        "coalesce(r.risk, 0) {risk_dir}, coalesce(r.n_critical, 0) {risk_dir}, hostname, id"
                    ),
                    HostSort::Risk => format!("risk {risk_dir}, critical {risk_dir}, hostname, id"),
                }
            }

            /// Active findings per severity, critical first, every severity listed.
            async fn active_by_severity(
                executor: impl sqlx::Executor<'_, Database = $db>,
            ) -> Result<Vec<(Severity, i64)>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT severity_rank, COUNT(*) AS n FROM findings WHERE status IN {ACTIVE} GROUP BY severity_rank"
                ))
                .fetch_all(executor)
                .await?;
                let mut counts: Vec<(Severity, i64)> = Severity::ALL.iter().rev().map(|s| (*s, 0)).collect();
                for r in &rows {
                    let severity = severity_of_rank(r.try_get("severity_rank")?)?;
                    let n: i64 = r.try_get("n")?;
                    for entry in counts.iter_mut().filter(|(s, _)| *s == severity) {
                        entry.1 = n;
                    }
                }
                Ok(counts)
            }

            #[async_trait]
            impl ConsoleStore for $store {
                async fn dashboard(&self, ages: &HostAges) -> Result<DashboardCounts, StoreError> {
                    let active_by_severity = active_by_severity(&self.pool)
                        .await?
                        .into_iter()
                        .map(|(s, n)| (s.as_str().to_owned(), n))
                        .collect();
                    let overdue: i64 = sqlx::query(&format!(
                        "SELECT COUNT(*) AS n FROM findings WHERE status IN {ACTIVE} AND due_at < $1"
                    ))
                    .bind(to_ms(ages.now))
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;

                    let hosts = sqlx::query(
                        "SELECT COUNT(*) AS total, \
                         coalesce(SUM(CASE WHEN lifecycle_state <> 'in_service' THEN 1 ELSE 0 END), 0) \
                           AS retiring, \
                         coalesce(SUM(CASE WHEN lifecycle_state = 'in_service' AND last_seen < $1 \
                           THEN 1 ELSE 0 END), 0) AS missing, \
                         coalesce(SUM(CASE WHEN lifecycle_state = 'in_service' AND last_seen >= $1 \
                           AND last_seen < $2 THEN 1 ELSE 0 END), 0) AS stale \
                         FROM hosts",
                    )
                    .bind(to_ms(ages.missing_before))
                    .bind(to_ms(ages.stale_before))
                    .fetch_one(&self.pool)
                    .await?;
                    let hosts_total: i64 = hosts.try_get("total")?;
                    let hosts_missing: i64 = hosts.try_get("missing")?;
                    let hosts_stale: i64 = hosts.try_get("stale")?;
                    let hosts_in_disposal: i64 = hosts.try_get("retiring")?;

                    let hosts_end_of_life: i64 = sqlx::query(&format!(
                        "SELECT COUNT(DISTINCT host_id) AS n FROM findings \
                         WHERE kind = 'rule' AND rule_id = $1 AND status IN {ACTIVE}"
                    ))
                    .bind(END_OF_LIFE_RULE)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;

                    let rows = sqlx::query(&format!(
                        "SELECT subject, COUNT(DISTINCT host_id) AS hosts, \
                         COUNT(DISTINCT CASE WHEN rule_id = '{FIX_RULE}' THEN host_id END) AS fixable_hosts, \
                         MAX(severity_rank) AS worst FROM findings \
                         WHERE kind = 'vulnerability' AND status IN {ACTIVE} \
                         GROUP BY subject ORDER BY worst DESC, hosts DESC, fixable_hosts DESC, subject LIMIT $1"
                    ))
                    .bind(DASHBOARD_TOP)
                    .fetch_all(&self.pool)
                    .await?;
                    let top_vulnerable_packages = rows
                        .iter()
                        .map(|r| {
                            Ok(VulnerablePackage {
                                package: r.try_get("subject")?,
                                hosts: r.try_get("hosts")?,
                                fixable_hosts: r.try_get("fixable_hosts")?,
                                worst_severity: severity_of_rank(r.try_get("worst")?)?.as_str().to_owned(),
                            })
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?;

                    // Driven from the few KEV-listed advisories, each counting its hosts through the matches'
                    // advisory index, rather than a join over every match of the fleet.
                    let rows = sqlx::query(&format!(
                        "SELECT id, summary, kev_added, hosts FROM (SELECT a.id, a.summary, a.kev_added, \
                         (SELECT COUNT(DISTINCT f.host_id) FROM host_vulnerabilities f WHERE f.advisory_id = a.id \
                         AND COALESCE(f.kernel, '') NOT IN {INACTIVE_KERNELS}) AS hosts \
                         FROM advisories a WHERE a.kev_added IS NOT NULL) k WHERE hosts > 0 ORDER BY hosts DESC, id"
                    ))
                    .fetch_all(&self.pool)
                    .await?;
                    let kev_total = rows.len() as i64;
                    let rows = &rows[..rows.len().min(DASHBOARD_TOP as usize)];
                    let kev_present = rows
                        .iter()
                        .map(|r| {
                            Ok(KevPresent {
                                advisory_id: r.try_get("id")?,
                                summary: r.try_get("summary")?,
                                kev_added: r.try_get("kev_added")?,
                                hosts: r.try_get("hosts")?,
                            })
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?;

                    Ok(DashboardCounts {
                        active_by_severity,
                        overdue,
                        hosts_total,
                        hosts_reporting: hosts_total - hosts_stale - hosts_missing - hosts_in_disposal,
                        hosts_in_disposal,
                        hosts_stale,
                        hosts_missing,
                        hosts_end_of_life,
                        top_vulnerable_packages,
                        kev_total,
                        kev_present,
                    })
                }

                async fn snapshot_trend(&self, day: NaiveDate, now: DateTime<Utc>) -> Result<(), StoreError> {
                    let counts = active_by_severity(&self.pool).await?;
                    let day = day.format(DAY).to_string();
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("INSERT INTO finding_trend (day, severity, active, taken_at) ");
                    qb.push_values(&counts, |mut b, (severity, n)| {
                        b.push_bind(day.clone()).push_bind(severity.as_str()).push_bind(*n).push_bind(to_ms(now));
                    });
                    qb.push(
                        " ON CONFLICT (day, severity) DO UPDATE SET active = excluded.active, \
                         taken_at = excluded.taken_at",
                    );
                    qb.build().execute(&self.writer).await?;
                    Ok(())
                }

                async fn trend(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<TrendPoint>, StoreError> {
                    let rows =
                        sqlx::query("SELECT day, severity, active FROM finding_trend WHERE day >= $1 AND day <= $2")
                            .bind(from.format(DAY).to_string())
                            .bind(to.format(DAY).to_string())
                            .fetch_all(&self.pool)
                            .await?;
                    let mut points = rows
                        .iter()
                        .map(|r| {
                            let day: String = r.try_get("day")?;
                            let severity: String = r.try_get("severity")?;
                            Ok((
                                NaiveDate::parse_from_str(&day, DAY).map_err(|_| corrupt("trend day", &day))?,
                                Severity::parse(&severity).ok_or_else(|| corrupt("severity", &severity))?,
                                r.try_get::<i64, _>("active")?,
                            ))
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    points.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                    Ok(points
                        .into_iter()
                        .map(|(day, severity, active)| TrendPoint { day, severity: severity.as_str().to_owned(), active })
                        .collect())
                }

                async fn console_hosts(&self, filter: &ConsoleHostFilter) -> Result<ConsoleHostPage, StoreError> {
                    let mut count: QueryBuilder<'_, $db> = QueryBuilder::new("SELECT COUNT(*) AS n FROM hosts h");
                    push_host_filter(&mut count, filter);
                    let total: i64 = count.build().fetch_one(&self.pool).await?.try_get("n")?;

                    // The page is chosen first; its hosts' counts come from one grouped query over their findings
                    // only. Sorting by risk needs every host's counts to choose the page.
                    let sums = severity_sums();
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new(format!("WITH page AS (SELECT {HOST_COLUMNS} FROM hosts h"));
                    if filter.sort == HostSort::Risk {
                        qb.push(format!(
                            " LEFT JOIN (SELECT host_id, {sums} FROM findings WHERE status IN {ACTIVE} \
                             GROUP BY host_id) r ON r.host_id = h.id"
                        ));
                    }
                    push_host_filter(&mut qb, filter);
                    qb.push(" ORDER BY ").push(host_order(filter, true));
                    qb.push(" LIMIT ").push_bind(filter.limit).push(" OFFSET ").push_bind(filter.offset);
                    qb.push(format!(
                        ") SELECT page.*, coalesce(c.n_kev, 0) AS known_exploited, coalesce(c.risk, 0) AS risk, \
                         coalesce(c.n_critical, 0) AS critical, coalesce(c.n_high, 0) AS high, \
                         coalesce(c.n_medium, 0) AS medium, coalesce(c.n_low, 0) AS low, \
                         coalesce(c.n_info, 0) AS info FROM page LEFT JOIN (SELECT host_id, {sums} FROM findings \
                         WHERE status IN {ACTIVE} AND host_id IN (SELECT id FROM page) GROUP BY host_id) c \
                         ON c.host_id = page.id ORDER BY "
                    ));
                    qb.push(host_order(filter, false));
                    let rows = qb.build().fetch_all(&self.pool).await?;
                    let rows = rows
                        .iter()
                        .map(|r| {
                            let host = host_from_row(r)?;
                            Ok(ConsoleHostRow {
                                status: filter.ages.status(host.last_seen),
                                host,
                                known_exploited: r.try_get("known_exploited")?,
                                critical: r.try_get("critical")?,
                                high: r.try_get("high")?,
                                medium: r.try_get("medium")?,
                                low: r.try_get("low")?,
                                info: r.try_get("info")?,
                            })
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    Ok(ConsoleHostPage { rows, total })
                }

                async fn host_risk(&self, host_id: &str) -> Result<RiskCounts, StoreError> {
                    // The host list's sums, for one host (no row: no active finding).
                    let row = sqlx::query(&format!(
                        "SELECT {} FROM findings WHERE host_id = $1 AND status IN {ACTIVE} GROUP BY host_id",
                        severity_sums()
                    ))
                    .bind(host_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    let Some(r) = row else { return Ok(RiskCounts::default()) };
                    Ok(RiskCounts {
                        known_exploited: r.try_get("n_kev")?,
                        critical: r.try_get("n_critical")?,
                        high: r.try_get("n_high")?,
                        medium: r.try_get("n_medium")?,
                        low: r.try_get("n_low")?,
                    })
                }

                async fn host_tags(&self) -> Result<Vec<String>, StoreError> {
                    let rows = sqlx::query("SELECT DISTINCT tags FROM hosts").fetch_all(&self.pool).await?;
                    let mut tags = BTreeSet::new();
                    for r in &rows {
                        let text: String = r.try_get("tags")?;
                        let list: Vec<String> =
                            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("host tags: {e}")))?;
                        tags.extend(list);
                    }
                    Ok(tags.into_iter().collect())
                }
            }
        };
    };
}

impl_console_store!(super::SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow, SQLITE_TAG_ELEMENTS);
impl_console_store!(super::PgStore, sqlx::Postgres, sqlx::postgres::PgRow, PG_TAG_ELEMENTS);

//! The read views of vulnerabilities for the console and the API (the list, one advisory with its hosts, one host's
//! matches), from one body for SQLite and PostgreSQL as in `sql.rs`.

/// Columns ranking advisories: KEV first, then severity level and CVSS score, then age (oldest first).
const RANK_ORDER: &str = "CASE WHEN a.kev_added IS NULL THEN 0 ELSE 1 END DESC, a.severity_rank DESC, \
     COALESCE(a.cvss_score, -1) DESC, COALESCE(a.published, 9223372036854775807) ASC, a.id";

fn parse_date(text: Option<String>) -> Option<chrono::NaiveDate> {
    text.and_then(|t| chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok())
}

macro_rules! impl_vulnerability_views {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl VulnerabilityViews for $store {
            async fn advisory_freshness(&self) -> Result<AdvisoryFreshness, StoreError> {
                let r = sqlx::query(
                    "SELECT COUNT(*) AS n, MAX(modified) AS newest, MAX(imported_at) AS imported FROM advisories",
                )
                .fetch_one(&self.pool)
                .await?;
                let kev: i64 = sqlx::query("SELECT COUNT(*) AS n FROM kev_catalog").fetch_one(&self.pool).await?.try_get("n")?;
                Ok(AdvisoryFreshness {
                    advisories: r.try_get("n")?,
                    kev_entries: kev,
                    newest_modified: r.try_get::<Option<i64>, _>("newest")?.map(from_ms),
                    last_imported: r.try_get::<Option<i64>, _>("imported")?.map(from_ms),
                })
            }

            async fn list_vulnerabilities(&self, f: &VulnerabilityFilter) -> Result<VulnerabilityPage, StoreError> {
                let filtered = |qb: &mut QueryBuilder<'_, $db>| {
                    qb.push(" FROM host_vulnerabilities hv JOIN advisories a ON a.id = hv.advisory_id WHERE 1 = 1");
                    if !f.severities.is_empty() {
                        qb.push(" AND a.severity IN (");
                        let mut sep = qb.separated(", ");
                        for s in &f.severities {
                            sep.push_bind(s.clone());
                        }
                        qb.push(")");
                    }
                    match f.kev {
                        Some(true) => {
                            qb.push(" AND a.kev_added IS NOT NULL");
                        }
                        Some(false) => {
                            qb.push(" AND a.kev_added IS NULL");
                        }
                        None => {}
                    }
                    if let Some(p) = &f.package {
                        qb.push(" AND (hv.package = ").push_bind(p.clone());
                        qb.push(" OR hv.source_name = ").push_bind(p.clone()).push(")");
                    }
                };
                let mut count: QueryBuilder<'_, $db> = QueryBuilder::new("SELECT COUNT(DISTINCT a.id) AS n");
                filtered(&mut count);
                let total: i64 = count.build().fetch_one(&self.pool).await?.try_get("n")?;

                let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                    "SELECT a.id, a.aliases, a.summary, a.severity, a.cvss_score, a.kev_added, a.published, \
                     COUNT(DISTINCT CASE WHEN hv.kernel IN ('not_running', 'not_a_kernel') THEN NULL ELSE hv.host_id END) AS hosts, \
                     COUNT(DISTINCT CASE WHEN hv.kernel IN ('not_running', 'not_a_kernel') THEN hv.host_id ELSE NULL END) AS nr_hosts, \
                     MAX(CASE WHEN hv.fixed_version IS NULL THEN 0 ELSE 1 END) AS any_fix",
                );
                filtered(&mut qb);
                qb.push(" GROUP BY a.id, a.aliases, a.summary, a.severity, a.cvss_score, a.kev_added, a.published, \
                          a.severity_rank ORDER BY ");
                qb.push(RANK_ORDER);
                qb.push(" LIMIT ").push_bind(f.limit).push(" OFFSET ").push_bind(f.offset);
                let rows = qb.build().fetch_all(&self.pool).await?;
                let mut list = Vec::with_capacity(rows.len());
                for r in &rows {
                    let aliases: String = r.try_get("aliases")?;
                    let any_fix: i32 = r.try_get::<i32, _>("any_fix").or_else(|_| r.try_get::<i64, _>("any_fix").map(|v| v as i32))?;
                    list.push(VulnerabilitySummary {
                        id: r.try_get("id")?,
                        aliases: serde_json::from_str(&aliases).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        summary: r.try_get("summary")?,
                        severity: r.try_get("severity")?,
                        cvss_score: r.try_get("cvss_score")?,
                        kev: r.try_get::<Option<String>, _>("kev_added")?.is_some(),
                        kev_date_added: parse_date(r.try_get("kev_added")?),
                        published: r.try_get::<Option<i64>, _>("published")?.map(from_ms),
                        affected_hosts: r.try_get("hosts")?,
                        not_running_kernel_hosts: r.try_get("nr_hosts")?,
                        packages: Vec::new(),
                        fix_available: any_fix > 0,
                    });
                }
                if !list.is_empty() {
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "SELECT DISTINCT advisory_id, source_name FROM host_vulnerabilities WHERE advisory_id IN (",
                    );
                    let mut sep = qb.separated(", ");
                    for v in &list {
                        sep.push_bind(v.id.clone());
                    }
                    qb.push(") ORDER BY advisory_id, source_name");
                    let mut by_id: HashMap<String, Vec<String>> = HashMap::new();
                    for r in qb.build().fetch_all(&self.pool).await? {
                        by_id.entry(r.try_get("advisory_id")?).or_default().push(r.try_get("source_name")?);
                    }
                    for v in &mut list {
                        v.packages = by_id.remove(&v.id).unwrap_or_default();
                    }
                }
                let end = f.offset + list.len() as i64;
                Ok(VulnerabilityPage {
                    vulnerabilities: list,
                    total,
                    limit: f.limit,
                    offset: f.offset,
                    next_offset: (end < total).then_some(end),
                })
            }

            async fn vulnerability(&self, id: &str) -> Result<Option<VulnerabilityDetail>, StoreError> {
                const COLUMNS: &str = "a.id, a.aliases, a.summary, a.details, a.severity, a.cvss_score, \
                     a.cvss_vector, a.kev_added, a.published, a.modified, a.withdrawn";
                let mut row = sqlx::query(&format!("SELECT {COLUMNS} FROM advisories a WHERE a.id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                let mut other_advisories = Vec::new();
                if row.is_none() {
                    let rows = sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM advisories a JOIN advisory_names n ON n.advisory_id = a.id \
                         WHERE n.name = $1 ORDER BY {RANK_ORDER}"
                    ))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                    let mut rows = rows.into_iter();
                    row = rows.next();
                    for r in rows {
                        other_advisories.push(r.try_get("id")?);
                    }
                }
                let Some(r) = row else { return Ok(None) };
                let advisory_id: String = r.try_get("id")?;
                let aliases: String = r.try_get("aliases")?;
                let packages = sqlx::query(
                    "SELECT ecosystem, name FROM advisory_packages WHERE advisory_id = $1 ORDER BY ecosystem, name",
                )
                .bind(&advisory_id)
                .fetch_all(&self.pool)
                .await?;
                let hosts = sqlx::query(
                    "SELECT hv.host_id, h.hostname, hv.ecosystem, hv.package, hv.arch, hv.installed_version, \
                     hv.source_name, hv.compared_version, hv.fixed_version, hv.kernel, hv.remediation, hv.image_id \
                     FROM host_vulnerabilities hv JOIN hosts h ON h.id = hv.host_id WHERE hv.advisory_id = $1 \
                     ORDER BY h.hostname, hv.host_id, hv.image_id, hv.package, hv.arch",
                )
                .bind(&advisory_id)
                .fetch_all(&self.pool)
                .await?;
                let hosts: Vec<AffectedHost> = hosts
                    .iter()
                    .map(|h| {
                        Ok(AffectedHost {
                            host_id: h.try_get("host_id")?,
                            hostname: h.try_get("hostname")?,
                            ecosystem: h.try_get("ecosystem")?,
                            package: h.try_get("package")?,
                            arch: h.try_get("arch")?,
                            installed_version: h.try_get("installed_version")?,
                            source_name: h.try_get("source_name")?,
                            source_version: h.try_get("compared_version")?,
                            fixed_version: h.try_get("fixed_version")?,
                            kernel: h.try_get("kernel")?,
                            remediation: h.try_get("remediation")?,
                            image_id: h.try_get("image_id")?,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?;
                let affected: BTreeSet<&str> = hosts
                    .iter()
                    .filter(|h| !crate::vuln::KernelState::is_inactive_label(h.kernel.as_deref()))
                    .map(|h| h.host_id.as_str())
                    .collect();
                Ok(Some(VulnerabilityDetail {
                    id: advisory_id.clone(),
                    aliases: serde_json::from_str(&aliases).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    summary: r.try_get("summary")?,
                    details: r.try_get("details")?,
                    severity: r.try_get("severity")?,
                    cvss_score: r.try_get("cvss_score")?,
                    cvss_vector: r.try_get("cvss_vector")?,
                    kev: r.try_get::<Option<String>, _>("kev_added")?.is_some(),
                    kev_date_added: parse_date(r.try_get("kev_added")?),
                    published: r.try_get::<Option<i64>, _>("published")?.map(from_ms),
                    modified: r.try_get::<Option<i64>, _>("modified")?.map(from_ms),
                    withdrawn: r.try_get::<Option<i64>, _>("withdrawn")?.map(from_ms),
                    affected_packages: packages
                        .iter()
                        .map(|p| Ok(AffectedPackage { ecosystem: p.try_get("ecosystem")?, name: p.try_get("name")? }))
                        .collect::<Result<_, StoreError>>()?,
                    other_advisories,
                    affected_hosts: affected.len() as i64,
                    hosts,
                }))
            }

            async fn host_vulnerabilities(&self, host_id: &str) -> Result<Option<HostVulnerabilities>, StoreError> {
                if sqlx::query("SELECT id FROM hosts WHERE id = $1").bind(host_id).fetch_optional(&self.pool).await?.is_none() {
                    return Ok(None);
                }
                let state = sqlx::query(
                    "SELECT matched_at, packages_checked, ecosystems, warnings FROM host_vuln_state WHERE host_id = $1",
                )
                .bind(host_id)
                .fetch_optional(&self.pool)
                .await?;
                let mut out = HostVulnerabilities {
                    host_id: host_id.to_owned(),
                    matched_at: None,
                    ecosystems: Vec::new(),
                    packages_checked: 0,
                    warnings: Vec::new(),
                    vulnerabilities: Vec::new(),
                    not_running_kernel_vulnerabilities: Vec::new(),
                    container_image_vulnerabilities: Vec::new(),
                };
                if let Some(s) = state {
                    let ecosystems: String = s.try_get("ecosystems")?;
                    let warnings: String = s.try_get("warnings")?;
                    out.matched_at = Some(from_ms(s.try_get("matched_at")?));
                    out.packages_checked = u64::try_from(s.try_get::<i64, _>("packages_checked")?).unwrap_or(0);
                    out.ecosystems = serde_json::from_str(&ecosystems).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    out.warnings = serde_json::from_str(&warnings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                }
                // An image is named as the host's software section lists it, over every engine holding it.
                let software = sqlx::query("SELECT content FROM host_sections WHERE host_id = $1 AND section = 'software'")
                    .bind(host_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let software: crate::model::StoredSoftware = match software {
                    Some(r) => serde_json::from_str(&r.try_get::<String, _>("content")?).unwrap_or_default(),
                    None => crate::model::StoredSoftware::default(),
                };
                let image_names = software.image_names();
                let rows = sqlx::query(&format!(
                    "SELECT a.id, a.aliases, a.summary, a.severity, a.cvss_score, a.cvss_vector, a.kev_added, \
                     a.published, hv.ecosystem, hv.kind, hv.package, hv.arch, hv.installed_version, hv.source_name, \
                     hv.compared_version, hv.fixed_version, hv.kernel, hv.remediation, hv.vendor_severity, \
                     hv.fix_state, hv.path, hv.image_id \
                     FROM host_vulnerabilities hv JOIN advisories a ON a.id = hv.advisory_id WHERE hv.host_id = $1 \
                     ORDER BY {RANK_ORDER}, hv.image_id, hv.package, hv.arch, hv.path"
                ))
                .bind(host_id)
                .fetch_all(&self.pool)
                .await?;
                for r in &rows {
                    let aliases: String = r.try_get("aliases")?;
                    let fixed: Option<String> = r.try_get("fixed_version")?;
                    let entry = HostVulnerabilityEntry {
                        id: r.try_get("id")?,
                        aliases: serde_json::from_str(&aliases).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        ecosystem: r.try_get("ecosystem")?,
                        package_kind: r.try_get("kind")?,
                        source_name: r.try_get("source_name")?,
                        source_version: r.try_get("compared_version")?,
                        package: r.try_get("package")?,
                        arch: r.try_get("arch")?,
                        installed_version: r.try_get("installed_version")?,
                        fix_available: fixed.is_some(),
                        fixed_version: fixed,
                        severity: r.try_get("severity")?,
                        cvss_score: r.try_get("cvss_score")?,
                        cvss_vector: r.try_get("cvss_vector")?,
                        kev: r.try_get::<Option<String>, _>("kev_added")?.is_some(),
                        kev_date_added: parse_date(r.try_get("kev_added")?),
                        published: r.try_get::<Option<i64>, _>("published")?.map(from_ms),
                        kernel: r.try_get("kernel")?,
                        remediation: r.try_get("remediation")?,
                        summary: r.try_get("summary")?,
                        vendor_severity: r.try_get("vendor_severity")?,
                        fix_state: r.try_get("fix_state")?,
                        path: r.try_get("path")?,
                        image_name: None,
                        image_id: r.try_get("image_id")?,
                    };
                    if let Some(id) = &entry.image_id {
                        let image_name = Some(image_names.get(id.as_str()).cloned().unwrap_or_else(|| muster_shared::v1::image_name(id, &[])));
                        out.container_image_vulnerabilities.push(HostVulnerabilityEntry { image_name, ..entry });
                    } else if crate::vuln::KernelState::is_inactive_label(entry.kernel.as_deref()) {
                        out.not_running_kernel_vulnerabilities.push(entry);
                    } else {
                        out.vulnerabilities.push(entry);
                    }
                }
                Ok(Some(out))
            }
        }
    };
}

mod sqlite_impl {
    use std::collections::{BTreeSet, HashMap};

    use async_trait::async_trait;
    use sqlx::{QueryBuilder, Row};

    use super::super::*;
    use super::{RANK_ORDER, parse_date};
    use crate::model::from_ms;
    use crate::store::SqliteStore;

    impl_vulnerability_views!(SqliteStore, sqlx::Sqlite);
}

mod postgres_impl {
    use std::collections::{BTreeSet, HashMap};

    use async_trait::async_trait;
    use sqlx::{QueryBuilder, Row};

    use super::super::*;
    use super::{RANK_ORDER, parse_date};
    use crate::model::from_ms;
    use crate::store::PgStore;

    impl_vulnerability_views!(PgStore, sqlx::Postgres);
}

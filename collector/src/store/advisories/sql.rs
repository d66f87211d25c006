//! `AdvisoryStore` for SQLite and PostgreSQL from one body (same SQL on both, as in `store/sql.rs`).
//!
//! Over 600 lines because it is one `macro_rules!` body instantiated for both backends; splitting it means one
//! macro per resource (advisories, match cache, host views).

use crate::vuln::severity::SeverityLevel;

/// Rows per multi-row statement, well under both backends' bind-parameter limits.
const CHUNK: usize = 1000;

/// Columns ranking advisories: KEV first, then severity level and CVSS score, then age (oldest first).
const RANK_ORDER: &str = "CASE WHEN a.kev_added IS NULL THEN 0 ELSE 1 END DESC, a.severity_rank DESC, \
     COALESCE(a.cvss_score, -1) DESC, COALESCE(a.published, 9223372036854775807) ASC, a.id";

fn severity_rank(level: SeverityLevel) -> i64 {
    level as i64
}

fn parse_date(text: Option<String>) -> Option<chrono::NaiveDate> {
    text.and_then(|t| chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok())
}

macro_rules! impl_advisory_store {
    ($store:ty, $db:ty, $row:ty) => {
        #[async_trait]
        impl AdvisoryStore for $store {
            async fn advisory_modified(&self) -> Result<HashMap<String, Option<i64>>, StoreError> {
                let rows = sqlx::query("SELECT id, modified FROM advisories").fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("modified")?))).collect()
            }

            async fn write_advisories(
                &self,
                advisories: &[Arc<Advisory>],
                kev: Option<&KevCatalog>,
                now: DateTime<Utc>,
            ) -> Result<WriteOutcome, StoreError> {
                let mut out = WriteOutcome::default();
                let mut tx = self.pool.begin().await?;
                // Writing the counter first takes SQLite's write lock and serialises imports on PostgreSQL.
                let row = sqlx::query(
                    "UPDATE vuln_meta SET value = value + 1 WHERE name = 'advisories_version' RETURNING value",
                )
                .fetch_one(&mut *tx)
                .await?;
                out.version = row.try_get("value")?;
                let before: BTreeSet<String> =
                    sqlx::query("SELECT DISTINCT ecosystem FROM advisory_packages")
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(|r| r.try_get("ecosystem"))
                        .collect::<Result<_, _>>()?;

                for chunk in advisories.chunks(CHUNK) {
                    // Old keys of replaced records change too.
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("SELECT ecosystem, name FROM advisory_packages WHERE advisory_id IN (");
                    let mut sep = qb.separated(", ");
                    for a in chunk {
                        sep.push_bind(a.id.to_string());
                    }
                    qb.push(")");
                    for r in qb.build().fetch_all(&mut *tx).await? {
                        out.changed.insert((r.try_get("ecosystem")?, r.try_get("name")?));
                    }
                    for table in ["advisory_packages", "advisory_names"] {
                        let mut qb: QueryBuilder<'_, $db> =
                            QueryBuilder::new(format!("DELETE FROM {table} WHERE advisory_id IN ("));
                        let mut sep = qb.separated(", ");
                        for a in chunk {
                            sep.push_bind(a.id.to_string());
                        }
                        qb.push(")");
                        qb.build().execute(&mut *tx).await?;
                    }

                    let mut records = Vec::with_capacity(chunk.len());
                    for a in chunk {
                        let record = serde_json::to_string(&StoredAdvisory::from_advisory(a))
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        let aliases = serde_json::to_string(&a.aliases.iter().map(|s| s.as_ref()).collect::<Vec<&str>>())
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        records.push((a, record, aliases));
                    }
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "INSERT INTO advisories (id, modified, published, withdrawn, summary, severity, severity_rank, \
                         cvss_score, cvss_vector, aliases, kev_added, record, imported_at) ",
                    );
                    qb.push_values(&records, |mut b, (a, record, aliases)| {
                        b.push_bind(a.id.to_string())
                            .push_bind(a.modified.map(to_ms))
                            .push_bind(a.published.map(to_ms))
                            .push_bind(a.withdrawn.map(to_ms))
                            .push_bind(a.summary.as_ref().map(|s| s.to_string()))
                            .push_bind(a.severity.level.as_str())
                            .push_bind(severity_rank(a.severity.level))
                            .push_bind(a.severity.score)
                            .push_bind(a.severity.vector.as_ref().map(|s| s.to_string()))
                            .push_bind(aliases.clone())
                            .push_bind(None::<String>)
                            .push_bind(record.clone())
                            .push_bind(to_ms(now));
                    });
                    qb.push(
                        " ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, published = excluded.published, \
                         withdrawn = excluded.withdrawn, summary = excluded.summary, severity = excluded.severity, \
                         severity_rank = excluded.severity_rank, cvss_score = excluded.cvss_score, \
                         cvss_vector = excluded.cvss_vector, aliases = excluded.aliases, record = excluded.record, \
                         imported_at = excluded.imported_at",
                    );
                    qb.build().execute(&mut *tx).await?;

                    let mut packages: BTreeSet<(String, String, String)> = BTreeSet::new();
                    let mut names: BTreeSet<(String, String)> = BTreeSet::new();
                    for a in chunk {
                        for n in a.names() {
                            names.insert((a.id.to_string(), n.to_owned()));
                        }
                        if a.withdrawn.is_some() {
                            continue;
                        }
                        for af in a.affected.iter() {
                            let key = (af.key.ecosystem.to_string(), af.key.name.to_string());
                            packages.insert((a.id.to_string(), key.0.clone(), key.1.clone()));
                            out.changed.insert(key);
                        }
                    }
                    let packages: Vec<_> = packages.into_iter().collect();
                    for part in packages.chunks(CHUNK) {
                        let mut qb: QueryBuilder<'_, $db> =
                            QueryBuilder::new("INSERT INTO advisory_packages (advisory_id, ecosystem, name) ");
                        qb.push_values(part, |mut b, (id, eco, name)| {
                            b.push_bind(id.clone()).push_bind(eco.clone()).push_bind(name.clone());
                        });
                        qb.build().execute(&mut *tx).await?;
                    }
                    let names: Vec<_> = names.into_iter().collect();
                    for part in names.chunks(CHUNK) {
                        let mut qb: QueryBuilder<'_, $db> =
                            QueryBuilder::new("INSERT INTO advisory_names (advisory_id, name) ");
                        qb.push_values(part, |mut b, (id, name)| {
                            b.push_bind(id.clone()).push_bind(name.clone());
                        });
                        qb.build().execute(&mut *tx).await?;
                    }
                }

                let changed: Vec<&(String, String)> = out.changed.iter().collect();
                for part in changed.chunks(CHUNK) {
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("INSERT INTO vuln_package_changes (ecosystem, name, changed_at) ");
                    qb.push_values(part, |mut b, (eco, name)| {
                        b.push_bind(eco.clone()).push_bind(name.clone()).push_bind(out.version);
                    });
                    qb.push(" ON CONFLICT (ecosystem, name) DO UPDATE SET changed_at = excluded.changed_at");
                    qb.build().execute(&mut *tx).await?;
                }

                if let Some(kev) = kev {
                    sqlx::query("DELETE FROM kev_catalog").execute(&mut *tx).await?;
                    let entries: Vec<(String, String)> =
                        kev.entries().map(|(cve, date)| (cve.to_owned(), date.format("%Y-%m-%d").to_string())).collect();
                    for part in entries.chunks(CHUNK) {
                        let mut qb: QueryBuilder<'_, $db> =
                            QueryBuilder::new("INSERT INTO kev_catalog (cve_id, date_added) ");
                        qb.push_values(part, |mut b, (cve, date)| {
                            b.push_bind(cve.clone()).push_bind(date.clone());
                        });
                        qb.push(" ON CONFLICT (cve_id) DO NOTHING");
                        qb.build().execute(&mut *tx).await?;
                    }
                }
                // The KEV flag follows the catalog for new records and, after a catalog import, for all.
                sqlx::query(
                    "UPDATE advisories SET kev_added = (SELECT MIN(k.date_added) FROM advisory_names n \
                     JOIN kev_catalog k ON k.cve_id = n.name WHERE n.advisory_id = advisories.id) \
                     WHERE kev_added IS DISTINCT FROM (SELECT MIN(k.date_added) FROM advisory_names n \
                     JOIN kev_catalog k ON k.cve_id = n.name WHERE n.advisory_id = advisories.id)",
                )
                .execute(&mut *tx)
                .await?;

                let after: Vec<String> = sqlx::query("SELECT DISTINCT ecosystem FROM advisory_packages")
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| r.try_get("ecosystem"))
                    .collect::<Result<_, _>>()?;
                out.new_ecosystems = after.into_iter().filter(|e| !before.contains(e)).collect();
                tx.commit().await?;
                Ok(out)
            }

            async fn kev_entries(&self) -> Result<Vec<(String, String)>, StoreError> {
                let rows = sqlx::query("SELECT cve_id, date_added FROM kev_catalog ORDER BY cve_id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("cve_id")?, r.try_get("date_added")?))).collect()
            }

            async fn advisories_version(&self) -> Result<i64, StoreError> {
                let row = sqlx::query("SELECT value FROM vuln_meta WHERE name = 'advisories_version'")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get("value")?)
            }

            async fn advisory_ecosystems(&self) -> Result<BTreeSet<String>, StoreError> {
                let rows = sqlx::query("SELECT DISTINCT ecosystem FROM advisory_packages").fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok(r.try_get("ecosystem")?)).collect()
            }

            async fn load_advisories(&self, ecosystem: &str, names: &[String]) -> Result<Vec<Advisory>, StoreError> {
                let mut interner = Interner::default();
                let mut out = Vec::new();
                let mut seen: BTreeSet<String> = BTreeSet::new();
                for part in names.chunks(CHUNK) {
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "SELECT DISTINCT a.id, a.record FROM advisory_packages p JOIN advisories a \
                         ON a.id = p.advisory_id WHERE a.withdrawn IS NULL AND p.ecosystem = ",
                    );
                    qb.push_bind(ecosystem.to_owned()).push(" AND p.name IN (");
                    let mut sep = qb.separated(", ");
                    for n in part {
                        sep.push_bind(n.clone());
                    }
                    qb.push(")");
                    for r in qb.build().fetch_all(&self.pool).await? {
                        let id: String = r.try_get("id")?;
                        if !seen.insert(id) {
                            continue;
                        }
                        let record: String = r.try_get("record")?;
                        let stored: StoredAdvisory =
                            serde_json::from_str(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        out.push(stored.into_advisory(&mut interner).map_err(|e| StoreError::Corrupt(e.to_string()))?);
                    }
                }
                Ok(out)
            }

            async fn cached_keys(&self, ecosystem: &str, names: &[String]) -> Result<Vec<CachedKey>, StoreError> {
                let mut out = Vec::new();
                for part in names.chunks(CHUNK) {
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "SELECT k.name, k.version, k.hits, k.evaluated_at, COALESCE(c.changed_at, 0) AS changed_at \
                         FROM vuln_keys k LEFT JOIN vuln_package_changes c \
                         ON c.ecosystem = k.ecosystem AND c.name = k.name WHERE k.ecosystem = ",
                    );
                    qb.push_bind(ecosystem.to_owned()).push(" AND k.name IN (");
                    let mut sep = qb.separated(", ");
                    for n in part {
                        sep.push_bind(n.clone());
                    }
                    qb.push(")");
                    for r in qb.build().fetch_all(&self.pool).await? {
                        let hits: String = r.try_get("hits")?;
                        let evaluated_at: i64 = r.try_get("evaluated_at")?;
                        let changed_at: i64 = r.try_get("changed_at")?;
                        out.push(CachedKey {
                            name: r.try_get("name")?,
                            version: r.try_get("version")?,
                            hits: serde_json::from_str(&hits).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                            fresh: evaluated_at >= changed_at,
                        });
                    }
                }
                Ok(out)
            }

            async fn save_keys(&self, results: &[(MatchKey, Vec<KeyHit>)], evaluated_at: i64) -> Result<(), StoreError> {
                let mut rows = Vec::with_capacity(results.len());
                for (key, hits) in results {
                    rows.push((key, serde_json::to_string(hits).map_err(|e| StoreError::Corrupt(e.to_string()))?));
                }
                for part in rows.chunks(CHUNK) {
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("INSERT INTO vuln_keys (ecosystem, name, version, hits, evaluated_at) ");
                    qb.push_values(part, |mut b, (key, hits)| {
                        b.push_bind(key.ecosystem.clone())
                            .push_bind(key.name.clone())
                            .push_bind(key.version.clone())
                            .push_bind(hits.clone())
                            .push_bind(evaluated_at);
                    });
                    // A result computed from older advisories never replaces a newer one.
                    qb.push(
                        " ON CONFLICT (ecosystem, name, version) DO UPDATE SET hits = excluded.hits, \
                         evaluated_at = excluded.evaluated_at WHERE vuln_keys.evaluated_at <= excluded.evaluated_at",
                    );
                    qb.build().execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn host_inventory(&self, host_id: &str) -> Result<Option<HostInventory>, StoreError> {
                let Some(host) = sqlx::query("SELECT hostname FROM hosts WHERE id = $1")
                    .bind(host_id)
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(None);
                };
                let os = sqlx::query("SELECT content FROM host_sections WHERE host_id = $1 AND section = 'os'")
                    .bind(host_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let os = match os {
                    Some(r) => {
                        let content: String = r.try_get("content")?;
                        Some(serde_json::from_str(&content).map_err(|e| StoreError::Corrupt(format!("os section: {e}")))?)
                    }
                    None => None,
                };
                // Packages live in the software catalogue, which keeps no dpkg state: every listed package counts
                // as installed.
                let rows = sqlx::query(
                    "SELECT s.kind, s.name, s.version, s.arch, s.source_name, s.source_version FROM host_software hs \
                     JOIN software s ON s.id = hs.software_id WHERE hs.host_id = $1 ORDER BY s.name, s.arch, s.version",
                )
                .bind(host_id)
                .fetch_all(&self.pool)
                .await?;
                let mut packages = Vec::with_capacity(rows.len());
                for r in &rows {
                    let kind: String = r.try_get("kind")?;
                    let kind: muster_shared::v1::PackageKind = serde_json::from_value(serde_json::Value::String(kind))
                        .map_err(|e| StoreError::Corrupt(format!("package kind: {e}")))?;
                    packages.push(muster_shared::v1::Package {
                        kind,
                        name: r.try_get("name")?,
                        version: r.try_get("version")?,
                        arch: r.try_get("arch")?,
                        source_name: r.try_get("source_name")?,
                        source_version: r.try_get("source_version")?,
                        installed_at: None,
                        size_bytes: None,
                        state: None,
                    });
                }
                let inv = HostInventory { hostname: host.try_get("hostname")?, os, packages };
                Ok(Some(inv))
            }

            async fn save_host_matches(
                &self,
                host_id: &str,
                keys: &BTreeSet<MatchKey>,
                matches: &[HostVulnerability],
                state: &HostMatchState,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                // The host row lock serialises this with the host's report ingest and deletion.
                let exists = sqlx::query("UPDATE hosts SET id = id WHERE id = $1").bind(host_id).execute(&mut *tx).await?;
                if exists.rows_affected() == 0 {
                    return Ok(());
                }
                for table in ["host_vuln_keys", "host_vulnerabilities"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE host_id = $1")).bind(host_id).execute(&mut *tx).await?;
                }
                let keys: Vec<&MatchKey> = keys.iter().collect();
                for part in keys.chunks(CHUNK) {
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("INSERT INTO host_vuln_keys (host_id, ecosystem, name, version) ");
                    qb.push_values(part, |mut b, k| {
                        b.push_bind(host_id.to_owned())
                            .push_bind(k.ecosystem.clone())
                            .push_bind(k.name.clone())
                            .push_bind(k.version.clone());
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                let at = to_ms(state.matched_at);
                for part in matches.chunks(CHUNK) {
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "INSERT INTO host_vulnerabilities (host_id, advisory_id, ecosystem, kind, package, arch, \
                         installed_version, source_name, matched_name, compared_version, fixed_version, kernel, \
                         remediation, matched_at) ",
                    );
                    qb.push_values(part, |mut b, m| {
                        b.push_bind(host_id.to_owned())
                            .push_bind(m.advisory_id.clone())
                            .push_bind(m.ecosystem.clone())
                            .push_bind(m.kind.as_str())
                            .push_bind(m.package.clone())
                            .push_bind(m.arch.clone())
                            .push_bind(m.installed_version.clone())
                            .push_bind(m.source_name.clone())
                            .push_bind(m.matched_name.clone())
                            .push_bind(m.compared_version.clone())
                            .push_bind(m.fixed_version.clone())
                            .push_bind(m.kernel.map(|k| k.as_str()))
                            .push_bind(m.remediation.clone())
                            .push_bind(at);
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                let json = |v: &Vec<String>| serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()));
                sqlx::query(
                    "INSERT INTO host_vuln_state (host_id, matched_at, packages_checked, ecosystems, warnings) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (host_id) DO UPDATE SET matched_at = excluded.matched_at, \
                     packages_checked = excluded.packages_checked, ecosystems = excluded.ecosystems, \
                     warnings = excluded.warnings",
                )
                .bind(host_id)
                .bind(at)
                .bind(i64::try_from(state.packages_checked).unwrap_or(i64::MAX))
                .bind(json(&state.ecosystems)?)
                .bind(json(&state.warnings)?)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn hosts_with_keys(
                &self,
                ecosystem: &str,
                names: &[String],
            ) -> Result<Vec<(String, String, String)>, StoreError> {
                let mut out = Vec::new();
                for part in names.chunks(CHUNK) {
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("SELECT host_id, name, version FROM host_vuln_keys WHERE ecosystem = ");
                    qb.push_bind(ecosystem.to_owned()).push(" AND name IN (");
                    let mut sep = qb.separated(", ");
                    for n in part {
                        sep.push_bind(n.clone());
                    }
                    qb.push(")");
                    for r in qb.build().fetch_all(&self.pool).await? {
                        out.push((r.try_get("host_id")?, r.try_get("name")?, r.try_get("version")?));
                    }
                }
                Ok(out)
            }

            async fn all_host_ids(&self) -> Result<Vec<String>, StoreError> {
                let rows = sqlx::query("SELECT id FROM hosts ORDER BY id").fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
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
                const COLUMNS: &str = "a.id, a.aliases, a.summary, a.severity, a.cvss_score, a.cvss_vector, \
                     a.kev_added, a.published, a.modified, a.withdrawn";
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
                     hv.source_name, hv.compared_version, hv.fixed_version, hv.kernel, hv.remediation \
                     FROM host_vulnerabilities hv JOIN hosts h ON h.id = hv.host_id WHERE hv.advisory_id = $1 \
                     ORDER BY h.hostname, hv.host_id, hv.package, hv.arch",
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
                };
                if let Some(s) = state {
                    let ecosystems: String = s.try_get("ecosystems")?;
                    let warnings: String = s.try_get("warnings")?;
                    out.matched_at = Some(from_ms(s.try_get("matched_at")?));
                    out.packages_checked = u64::try_from(s.try_get::<i64, _>("packages_checked")?).unwrap_or(0);
                    out.ecosystems = serde_json::from_str(&ecosystems).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    out.warnings = serde_json::from_str(&warnings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                }
                let rows = sqlx::query(&format!(
                    "SELECT a.id, a.aliases, a.summary, a.severity, a.cvss_score, a.cvss_vector, a.kev_added, \
                     a.published, hv.ecosystem, hv.package, hv.arch, hv.installed_version, hv.source_name, \
                     hv.compared_version, hv.fixed_version, hv.kernel, hv.remediation \
                     FROM host_vulnerabilities hv JOIN advisories a ON a.id = hv.advisory_id WHERE hv.host_id = $1 \
                     ORDER BY {RANK_ORDER}, hv.package, hv.arch"
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
                    };
                    if crate::vuln::KernelState::is_inactive_label(entry.kernel.as_deref()) {
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
    use std::sync::Arc;

    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use sqlx::{QueryBuilder, Row};

    use super::super::*;
    use super::{CHUNK, RANK_ORDER, parse_date, severity_rank};
    use crate::model::{from_ms, to_ms};
    use crate::store::SqliteStore;
    use crate::vuln::advisory::Interner;
    use crate::vuln::stored::StoredAdvisory;

    impl_advisory_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
}

mod postgres_impl {
    use std::collections::{BTreeSet, HashMap};
    use std::sync::Arc;

    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use sqlx::{QueryBuilder, Row};

    use super::super::*;
    use super::{CHUNK, RANK_ORDER, parse_date, severity_rank};
    use crate::model::{from_ms, to_ms};
    use crate::store::PgStore;
    use crate::vuln::advisory::Interner;
    use crate::vuln::stored::StoredAdvisory;

    impl_advisory_store!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
}

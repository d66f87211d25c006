//! `AdvisoryStore` for SQLite and PostgreSQL from one body (same SQL on both, as in `store/sql.rs`).
//! The read views of vulnerabilities (console, API) are in `views.rs`.

use crate::vuln::severity::SeverityLevel;

/// Rows per multi-row statement, well under both backends' bind-parameter limits.
const CHUNK: usize = 1000;

fn severity_rank(level: SeverityLevel) -> i64 {
    level as i64
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
                let mut tx = self.writer.begin().await?;
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
                         cvss_score, cvss_vector, aliases, kev_added, record, imported_at, details) ",
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
                            .push_bind(to_ms(now))
                            .push_bind(a.details.as_ref().map(|d| d.to_string()));
                    });
                    qb.push(
                        " ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, published = excluded.published, \
                         withdrawn = excluded.withdrawn, summary = excluded.summary, severity = excluded.severity, \
                         severity_rank = excluded.severity_rank, cvss_score = excluded.cvss_score, \
                         cvss_vector = excluded.cvss_vector, aliases = excluded.aliases, record = excluded.record, \
                         imported_at = excluded.imported_at, \
                         details = COALESCE(excluded.details, advisories.details)",
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

            async fn save_eol(&self, eol: &EolImport, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO eol_data (id, input, text, products, imported_at) VALUES (1, $1, $2, $3, $4) \
                     ON CONFLICT (id) DO UPDATE SET input = excluded.input, text = excluded.text, \
                     products = excluded.products, imported_at = excluded.imported_at",
                )
                .bind(&eol.input)
                .bind(&eol.text)
                .bind(eol.products as i64)
                .bind(to_ms(now))
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn load_eol(&self) -> Result<Option<(EolImport, DateTime<Utc>)>, StoreError> {
                let row = sqlx::query("SELECT input, text, products, imported_at FROM eol_data WHERE id = 1")
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let products: i64 = r.try_get("products")?;
                Ok(Some((
                    EolImport {
                        input: r.try_get("input")?,
                        text: r.try_get("text")?,
                        products: usize::try_from(products).unwrap_or(0),
                    },
                    from_ms(r.try_get("imported_at")?),
                )))
            }

            async fn advisories_version(&self) -> Result<i64, StoreError> {
                let row = sqlx::query("SELECT value FROM vuln_meta WHERE name = 'advisories_version'")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get("value")?)
            }

            async fn rematch_state(&self) -> Result<RematchState, StoreError> {
                let rows = sqlx::query(
                    "SELECT name, value FROM vuln_meta WHERE name IN ('advisories_version', 'rematched_version')",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut state = RematchState::default();
                let mut rematched = None;
                for r in &rows {
                    let (name, value): (String, i64) = (r.try_get("name")?, r.try_get("value")?);
                    if name == "advisories_version" {
                        state.version = value;
                    } else {
                        rematched = Some(value);
                    }
                }
                // Migration 0012 writes the row; were it missing, one full re-match is the safe reading.
                state.rematched = rematched.unwrap_or(0);
                Ok(state)
            }

            async fn package_changes_since(&self, version: i64) -> Result<BTreeSet<(String, String)>, StoreError> {
                let rows = sqlx::query("SELECT ecosystem, name FROM vuln_package_changes WHERE changed_at > $1")
                    .bind(version)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("ecosystem")?, r.try_get("name")?))).collect()
            }

            async fn mark_rematched(&self, version: i64) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO vuln_meta (name, value) VALUES ('rematched_version', $1) ON CONFLICT (name) \
                     DO UPDATE SET value = excluded.value WHERE vuln_meta.value < excluded.value",
                )
                    .bind(version)
                    .execute(&self.writer)
                    .await?;
                Ok(())
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
                    qb.build().execute(&self.writer).await?;
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
                // The package manager's state is the host's (on the link row), not the catalogue's.
                let rows = sqlx::query(
                    "SELECT s.kind, s.name, s.version, s.arch, s.source_name, s.source_version, s.path, s.owner, \
                     s.publisher, hs.state \
                     FROM host_software hs \
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
                        state: r.try_get("state")?,
                        path: r.try_get("path")?,
                        owner: r.try_get("owner")?,
                        publisher: r.try_get("publisher")?,
                        channel: None,
                    });
                }
                let sections = sqlx::query(
                    "SELECT section, content FROM host_sections WHERE host_id = $1 AND section IN ('patches', 'software')",
                )
                .bind(host_id)
                .fetch_all(&self.pool)
                .await?;
                let (mut pending, mut software) = (None, crate::model::StoredSoftware::default());
                for r in &sections {
                    let content: String = r.try_get("content")?;
                    // A section that no longer parses counts as unknown pending updates, no listener and no image,
                    // as for rules.
                    match r.try_get::<String, _>("section")?.as_str() {
                        "patches" => {
                            pending = serde_json::from_str::<muster_shared::v1::Patches>(&content)
                                .ok()
                                .and_then(|p| p.pending)
                        }
                        _ => software = serde_json::from_str(&content).unwrap_or_default(),
                    }
                }
                let rows = sqlx::query("SELECT image_id, packages FROM host_image_packages WHERE host_id = $1 ORDER BY image_id")
                    .bind(host_id)
                    .fetch_all(&self.pool)
                    .await?;
                let mut images = Vec::with_capacity(rows.len());
                let mut held: HashMap<&str, Vec<&crate::model::StoredImage>> = HashMap::new();
                for i in &software.container_images {
                    held.entry(i.image.id.as_str()).or_default().push(i);
                }
                let mut users: HashMap<&str, Vec<String>> = HashMap::new();
                for c in &software.containers {
                    users.entry(c.image_id.as_str()).or_default().push(c.name.clone());
                }
                let mut names = software.image_names();
                for r in &rows {
                    let id: String = r.try_get("image_id")?;
                    // Kept with the section it came with; an image the section no longer lists is not the host's.
                    let Some(held) = held.get(id.as_str()) else { continue };
                    let Some(first) = held.first() else { continue };
                    let text: String = r.try_get("packages")?;
                    let packages: Vec<muster_shared::v1::Package> = serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("packages of image {id}: {e}")))?;
                    let packages_len = packages.len();
                    let name = names.remove(id.as_str()).unwrap_or_else(|| muster_shared::v1::image_name(&id, &[]));
                    let mut containers = users.remove(id.as_str()).unwrap_or_default();
                    containers.sort();
                    containers.dedup();
                    images.push(ImageInventory {
                        os: first.image.os.clone(),
                        // The list kept is the longest any engine read: it is complete when that engine read it all.
                        complete: held
                            .iter()
                            .filter(|i| i.package_count == packages_len)
                            .any(|i| i.packages_complete()),
                        id,
                        name,
                        packages,
                        containers,
                    });
                }
                let inv = HostInventory {
                    hostname: host.try_get("hostname")?,
                    os,
                    packages,
                    pending,
                    listeners: software.listeners,
                    images,
                };
                Ok(Some(inv))
            }

            async fn save_host_matches(
                &self,
                host_id: &str,
                keys: &BTreeSet<MatchKey>,
                matches: &[HostVulnerability],
                state: &HostMatchState,
            ) -> Result<(), StoreError> {
                // On SQLite a member of the writer's open group (`group_commit.rs`): ~500 new key rows land in the
                // same index pages as other hosts' of one image, and are written to the log once per group.
                let mut tx = self.begin_host().await?;
                // A failure gives the group the store's fault (`Member::give_up`): a disk full met here is told to
                // the reports in the same group as `storage_full`, not as busy.
                let written: Result<bool, StoreError> = async {
                    // The host row lock serialises this with the host's report ingest and deletion.
                    let exists =
                        sqlx::query("UPDATE hosts SET id = id WHERE id = $1").bind(host_id).execute(tx.conn()?).await?;
                    if exists.rows_affected() == 0 {
                        return Ok(false);
                    }
                    sqlx::query("DELETE FROM host_vulnerabilities WHERE host_id = $1")
                        .bind(host_id)
                        .execute(tx.conn()?)
                        .await?;
                    // The key rows change with the packages only: diffed, so a report that upgrades one package does
                    // not rewrite the host's ~500 keys (issue 14's profile: 52 ms of a changed report's SQL).
                    let stored: BTreeSet<MatchKey> =
                        sqlx::query("SELECT ecosystem, name, version FROM host_vuln_keys WHERE host_id = $1")
                            .bind(host_id)
                            .fetch_all(tx.conn()?)
                            .await?
                            .iter()
                            .map(|r| {
                                Ok(MatchKey {
                                    ecosystem: r.try_get("ecosystem")?,
                                    name: r.try_get("name")?,
                                    version: r.try_get("version")?,
                                })
                            })
                            .collect::<Result<_, StoreError>>()?;
                    let gone: Vec<&MatchKey> = stored.difference(keys).collect();
                    // Many keys gone (another OS image): one statement instead of a row each.
                    let wipe = gone.len() > CHUNK;
                    if wipe {
                        sqlx::query("DELETE FROM host_vuln_keys WHERE host_id = $1")
                            .bind(host_id)
                            .execute(tx.conn()?)
                            .await?;
                    }
                    for k in gone.iter().filter(|_| !wipe) {
                        sqlx::query(
                            "DELETE FROM host_vuln_keys WHERE host_id = $1 AND ecosystem = $2 AND name = $3 \
                             AND version = $4",
                        )
                        .bind(host_id)
                        .bind(&k.ecosystem)
                        .bind(&k.name)
                        .bind(&k.version)
                        .execute(tx.conn()?)
                        .await?;
                    }
                    let keys: Vec<&MatchKey> =
                        if wipe { keys.iter().collect() } else { keys.difference(&stored).collect() };
                    for part in keys.chunks(CHUNK) {
                        let mut qb: QueryBuilder<'_, $db> =
                            QueryBuilder::new("INSERT INTO host_vuln_keys (host_id, ecosystem, name, version) ");
                        qb.push_values(part, |mut b, k| {
                            b.push_bind(host_id.to_owned())
                                .push_bind(k.ecosystem.clone())
                                .push_bind(k.name.clone())
                                .push_bind(k.version.clone());
                        });
                        qb.build().execute(tx.conn()?).await?;
                    }
                    let at = to_ms(state.matched_at);
                    for part in matches.chunks(CHUNK) {
                        let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                            "INSERT INTO host_vulnerabilities (host_id, advisory_id, ecosystem, kind, package, arch, \
                             installed_version, source_name, matched_name, compared_version, fixed_version, kernel, \
                             remediation, matched_at, vendor_severity, fix_state, path, image_id) ",
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
                                .push_bind(at)
                                .push_bind(m.vendor_severity.clone())
                                .push_bind(m.fix_state.as_str())
                                .push_bind(m.path.clone())
                                .push_bind(m.image_id.clone());
                        });
                        qb.build().execute(tx.conn()?).await?;
                    }
                    let json =
                        |v: &Vec<String>| serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()));
                    sqlx::query(
                        "INSERT INTO host_vuln_state (host_id, matched_at, packages_checked, ecosystems, warnings) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (host_id) DO UPDATE SET \
                         matched_at = excluded.matched_at, packages_checked = excluded.packages_checked, \
                         ecosystems = excluded.ecosystems, warnings = excluded.warnings",
                    )
                    .bind(host_id)
                    .bind(at)
                    .bind(i64::try_from(state.packages_checked).unwrap_or(i64::MAX))
                    .bind(json(&state.ecosystems)?)
                    .bind(json(&state.warnings)?)
                    .execute(tx.conn()?)
                    .await?;
                    Ok(true)
                }
                .await;
                match written {
                    Ok(true) => tx.commit().await,
                    Ok(false) => Ok(()),
                    Err(e) => {
                        tx.give_up(&e);
                        Err(e)
                    }
                }
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
    use super::{CHUNK, severity_rank};
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
    use super::{CHUNK, severity_rank};
    use crate::model::{from_ms, to_ms};
    use crate::store::PgStore;
    use crate::vuln::advisory::Interner;
    use crate::vuln::stored::StoredAdvisory;

    impl_advisory_store!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
}

//! The `Store` implementation shared by SQLite and PostgreSQL, written once and instantiated per backend.
//!
//! Both backends accept the same SQL here (`$n` placeholders, `ON CONFLICT`, millisecond integer times), so one
//! body keeps their behaviour identical; only connection setup and migrations differ (see `sqlite.rs`,
//! `postgres.rs`). Bulk rows go through `QueryBuilder::push_values` in chunks: no per-package round trips.

/// Rows per multi-row `INSERT`: well under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
pub(super) const CHUNK: usize = 1000;

pub(super) const HOST_COLUMNS: &str = "id, hostname, machine_id, system_uuid, system_serial, os_id, os_version_id, \
     os_pretty_name, kernel_release, architecture, agent_version, tags, duplicate_identity, first_seen, last_seen, \
     last_report_at";

/// `%text%` for `LIKE … ESCAPE '\'`, lower-cased, with the pattern characters escaped.
pub(super) fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

macro_rules! impl_store {
    ($store:ty, $db:ty, $row:ty) => {
        use std::collections::BTreeMap;

        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::{QueryBuilder, Row};

        use crate::model::{EventKind, Role, from_ms, to_ms};
        use crate::store::sql::{HOST_COLUMNS, like_pattern};
        use crate::store::tx::{HostTx, RevokedReason};
        use crate::store::{
            ApiTokenIdentity, AuditRecord, EnrollSecretState, HostFilter, HostTokenLookup, NewApiToken,
            NewEnrollSecret, Store, StoreError,
        };
        use crate::views::{
            ApiTokenInfo, AuditEntry, EnrollSecretInfo, EnrolmentRequestInfo, HistoryEntry, HostDetail, HostPage, HostRef, HostSummary,
            InstalledPackage, SectionView, SoftwareVersionHosts,
        };

        fn opt_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
            v.map(from_ms)
        }

        fn json_value(text: &str) -> Result<serde_json::Value, StoreError> {
            serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
        }

        fn host_from_row(row: &$row) -> Result<HostSummary, StoreError> {
            let tags: String = row.try_get("tags")?;
            Ok(HostSummary {
                id: row.try_get("id")?,
                hostname: row.try_get("hostname")?,
                machine_id: row.try_get("machine_id")?,
                system_uuid: row.try_get("system_uuid")?,
                system_serial: row.try_get("system_serial")?,
                os_id: row.try_get("os_id")?,
                os_version_id: row.try_get("os_version_id")?,
                os_pretty_name: row.try_get("os_pretty_name")?,
                kernel_release: row.try_get("kernel_release")?,
                architecture: row.try_get("architecture")?,
                agent_version: row.try_get("agent_version")?,
                tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                duplicate_identity: row.try_get("duplicate_identity")?,
                first_seen: from_ms(row.try_get("first_seen")?),
                last_seen: from_ms(row.try_get("last_seen")?),
                last_report_at: opt_ms(row.try_get("last_report_at")?),
            })
        }

        fn push_host_filter(qb: &mut QueryBuilder<'_, $db>, f: &HostFilter) {
            qb.push(" WHERE 1 = 1");
            if let Some(name) = &f.hostname {
                qb.push(" AND lower(hostname) LIKE ").push_bind(like_pattern(name)).push(" ESCAPE '\\'");
            }
            if let Some(os) = &f.os {
                let pattern = like_pattern(os);
                qb.push(" AND (lower(coalesce(os_id, '')) LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
                qb.push(" OR lower(coalesce(os_pretty_name, '')) LIKE ").push_bind(pattern).push(" ESCAPE '\\')");
            }
            if let Some(since) = f.seen_since {
                qb.push(" AND last_seen >= ").push_bind(to_ms(since));
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_enroll_secret(&self, new: &NewEnrollSecret) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO enroll_secrets (id, secret_hash, label, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&new.id)
                .bind(&new.secret_hash)
                .bind(&new.label)
                .bind(to_ms(new.created_at))
                .bind(new.expires_at.map(to_ms))
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn list_enroll_secrets(&self) -> Result<Vec<EnrollSecretInfo>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, label, created_at, expires_at, revoked_at, uses FROM enroll_secrets \
                     ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(EnrollSecretInfo {
                            id: r.try_get("id")?,
                            label: r.try_get("label")?,
                            created_at: from_ms(r.try_get("created_at")?),
                            expires_at: opt_ms(r.try_get("expires_at")?),
                            revoked_at: opt_ms(r.try_get("revoked_at")?),
                            uses: r.try_get("uses")?,
                        })
                    })
                    .collect()
            }

            async fn revoke_enroll_secret(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let done =
                    sqlx::query("UPDATE enroll_secrets SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                        .bind(to_ms(now))
                        .bind(id)
                        .execute(&self.writer)
                        .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn find_enroll_secret(&self, secret_hash: &str) -> Result<Option<EnrollSecretState>, StoreError> {
                let row = sqlx::query("SELECT id, expires_at, revoked_at FROM enroll_secrets WHERE secret_hash = $1")
                    .bind(secret_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let revoked: Option<i64> = r.try_get("revoked_at")?;
                Ok(Some(EnrollSecretState {
                    id: r.try_get("id")?,
                    expires_at: opt_ms(r.try_get("expires_at")?),
                    revoked: revoked.is_some(),
                }))
            }

            async fn record_enroll_failure(&self, source_ip: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO enroll_failures (source_ip, at) VALUES ($1, $2)")
                    .bind(source_ip)
                    .bind(to_ms(now))
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn count_enroll_failures(&self, source_ip: &str, since: DateTime<Utc>) -> Result<i64, StoreError> {
                sqlx::query("DELETE FROM enroll_failures WHERE at < $1").bind(to_ms(since)).execute(&self.writer).await?;
                let row = sqlx::query("SELECT COUNT(*) AS n FROM enroll_failures WHERE source_ip = $1 AND at >= $2")
                    .bind(source_ip)
                    .bind(to_ms(since))
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get("n")?)
            }

            async fn begin_host_tx(&self) -> Result<Box<dyn HostTx>, StoreError> {
                Ok(Box::new(host_tx::Tx(self.begin_host().await?)))
            }

            async fn host_for_token(&self, token_hash: &str) -> Result<HostTokenLookup, StoreError> {
                let row = sqlx::query(
                    "SELECT t.host_id, t.revoked_at, t.revoked_reason, h.machine_id FROM host_tokens t \
                     JOIN hosts h ON h.id = t.host_id WHERE t.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(r) = row else {
                    // Only unknown tokens pay for the second look: a held enrolment's token is not a host's yet.
                    let held = sqlx::query("SELECT host_id, state FROM enrolment_requests WHERE token_hash = $1")
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await?;
                    return Ok(match held {
                        Some(r) if r.try_get::<String, _>("state")? == "pending" => {
                            HostTokenLookup::Pending { host_id: r.try_get("host_id")? }
                        }
                        Some(_) => HostTokenLookup::Refused,
                        None => HostTokenLookup::Unknown,
                    });
                };
                let revoked: Option<i64> = r.try_get("revoked_at")?;
                if revoked.is_some() {
                    let reason: Option<String> = r.try_get("revoked_reason")?;
                    return Ok(HostTokenLookup::Revoked(RevokedReason::parse(reason.as_deref())));
                }
                Ok(HostTokenLookup::Valid { host_id: r.try_get("host_id")?, machine_id: r.try_get("machine_id")? })
            }

            async fn list_enrolment_requests(
                &self,
                all: bool,
                limit: i64,
            ) -> Result<Vec<EnrolmentRequestInfo>, StoreError> {
                let rows = sqlx::query(
                    "SELECT r.id, r.host_id, r.state, r.requested_at, r.source_ip, r.secret_id, r.hostname, \
                     r.machine_id, r.system_uuid, r.system_serial, r.agent_version, r.decided_at, r.decided_by, \
                     h.hostname AS host_hostname, h.last_seen AS host_last_seen \
                     FROM enrolment_requests r JOIN hosts h ON h.id = r.host_id \
                     WHERE $1 OR r.state = 'pending' ORDER BY r.requested_at DESC, r.id LIMIT $2",
                )
                .bind(all)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(EnrolmentRequestInfo {
                            id: r.try_get("id")?,
                            host_id: r.try_get("host_id")?,
                            state: r.try_get("state")?,
                            requested_at: from_ms(r.try_get("requested_at")?),
                            source_ip: r.try_get("source_ip")?,
                            secret_id: r.try_get("secret_id")?,
                            hostname: r.try_get("hostname")?,
                            machine_id: r.try_get("machine_id")?,
                            system_uuid: r.try_get("system_uuid")?,
                            system_serial: r.try_get("system_serial")?,
                            agent_version: r.try_get("agent_version")?,
                            host_hostname: r.try_get("host_hostname")?,
                            host_last_seen: from_ms(r.try_get("host_last_seen")?),
                            decided_at: opt_ms(r.try_get("decided_at")?),
                            decided_by: r.try_get("decided_by")?,
                        })
                    })
                    .collect()
            }

            async fn create_api_token(&self, new: &NewApiToken) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO api_tokens (id, token_hash, name, role, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&new.id)
                .bind(&new.token_hash)
                .bind(&new.name)
                .bind(new.role.as_str())
                .bind(to_ms(new.created_at))
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn list_api_tokens(&self) -> Result<Vec<ApiTokenInfo>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, name, role, created_at, revoked_at FROM api_tokens ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let role: String = r.try_get("role")?;
                        Ok(ApiTokenInfo {
                            id: r.try_get("id")?,
                            name: r.try_get("name")?,
                            role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
                            created_at: from_ms(r.try_get("created_at")?),
                            revoked_at: opt_ms(r.try_get("revoked_at")?),
                        })
                    })
                    .collect()
            }

            async fn revoke_api_token(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(to_ms(now))
                    .bind(id)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiTokenIdentity>, StoreError> {
                let row =
                    sqlx::query("SELECT id, name, role FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await?;
                let Some(r) = row else { return Ok(None) };
                let role: String = r.try_get("role")?;
                let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?;
                Ok(Some(ApiTokenIdentity { id: r.try_get("id")?, name: r.try_get("name")?, role }))
            }

            async fn list_hosts(&self, filter: &HostFilter) -> Result<HostPage, StoreError> {
                let mut count: QueryBuilder<'_, $db> = QueryBuilder::new("SELECT COUNT(*) AS n FROM hosts");
                push_host_filter(&mut count, filter);
                let total: i64 = count.build().fetch_one(&self.pool).await?.try_get("n")?;

                let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(format!("SELECT {HOST_COLUMNS} FROM hosts"));
                push_host_filter(&mut qb, filter);
                qb.push(" ORDER BY hostname, id LIMIT ")
                    .push_bind(filter.limit)
                    .push(" OFFSET ")
                    .push_bind(filter.offset);
                let rows = qb.build().fetch_all(&self.pool).await?;
                let hosts = rows.iter().map(host_from_row).collect::<Result<Vec<_>, _>>()?;
                let end = filter.offset + hosts.len() as i64;
                Ok(HostPage {
                    hosts,
                    total,
                    limit: filter.limit,
                    offset: filter.offset,
                    next_offset: (end < total).then_some(end),
                })
            }

            async fn get_host_summary(&self, id: &str) -> Result<Option<HostSummary>, StoreError> {
                let row = sqlx::query(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(host_from_row).transpose()
            }

            async fn get_host(&self, id: &str) -> Result<Option<HostDetail>, StoreError> {
                let Some(host) = self.get_host_summary(id).await? else { return Ok(None) };
                let rows = sqlx::query(
                    "SELECT section, hash, content, updated_at FROM host_sections WHERE host_id = $1 ORDER BY section",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                let mut sections = BTreeMap::new();
                for r in &rows {
                    let content: String = r.try_get("content")?;
                    sections.insert(
                        r.try_get::<String, _>("section")?,
                        SectionView {
                            hash: r.try_get("hash")?,
                            updated_at: from_ms(r.try_get("updated_at")?),
                            content: json_value(&content)?,
                        },
                    );
                }
                Ok(Some(HostDetail { host, sections }))
            }

            async fn hosts_section(
                &self,
                section: &str,
                after: Option<&str>,
                limit: i64,
            ) -> Result<Vec<(HostRef, String)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT h.id, h.hostname, s.content FROM host_sections s JOIN hosts h ON h.id = s.host_id \
                     WHERE s.section = $1 AND h.id > $2 ORDER BY h.id LIMIT $3",
                )
                .bind(section)
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let host = HostRef { id: r.try_get("id")?, hostname: r.try_get("hostname")? };
                        Ok((host, r.try_get("content")?))
                    })
                    .collect()
            }

            async fn host_software(&self, id: &str) -> Result<Vec<InstalledPackage>, StoreError> {
                let rows = sqlx::query(
                    "SELECT s.kind, s.name, s.version, s.arch, s.source_name, s.source_version, s.path, s.owner, \
                     s.publisher, hs.installed_at, hs.size_bytes, hs.channel FROM host_software hs \
                     JOIN software s ON s.id = hs.software_id \
                     WHERE hs.host_id = $1 ORDER BY s.name, s.arch, s.version, s.path",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(InstalledPackage {
                            kind: r.try_get("kind")?,
                            name: r.try_get("name")?,
                            version: r.try_get("version")?,
                            arch: r.try_get("arch")?,
                            source_name: r.try_get("source_name")?,
                            source_version: r.try_get("source_version")?,
                            installed_at: opt_ms(r.try_get("installed_at")?),
                            size_bytes: r.try_get("size_bytes")?,
                            path: r.try_get("path")?,
                            owner: r.try_get("owner")?,
                            publisher: r.try_get("publisher")?,
                            channel: r.try_get("channel")?,
                        })
                    })
                    .collect()
            }

            async fn host_history(&self, id: &str, limit: i64, offset: i64) -> Result<Vec<HistoryEntry>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, at, report_id, kind, subject, from_value, to_value, details FROM history \
                     WHERE host_id = $1 ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3",
                )
                .bind(id)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let kind: String = r.try_get("kind")?;
                        let details: String = r.try_get("details")?;
                        Ok(HistoryEntry {
                            id: r.try_get("id")?,
                            at: from_ms(r.try_get("at")?),
                            report_id: r.try_get("report_id")?,
                            kind: EventKind::ALL
                                .into_iter()
                                .find(|k| k.as_str() == kind)
                                .ok_or_else(|| StoreError::Corrupt(format!("history kind {kind:?}")))?,
                            subject: r.try_get("subject")?,
                            from: r.try_get("from_value")?,
                            to: r.try_get("to_value")?,
                            details: json_value(&details)?,
                        })
                    })
                    .collect()
            }

            async fn software_by_name(&self, name: &str) -> Result<Vec<SoftwareVersionHosts>, StoreError> {
                let rows = sqlx::query(
                    "SELECT s.kind, s.name, s.version, s.arch, s.source_name, s.source_version, \
                     h.id AS host_id, h.hostname FROM software s \
                     JOIN host_software hs ON hs.software_id = s.id JOIN hosts h ON h.id = hs.host_id \
                     WHERE s.name = $1 OR s.source_name = $1 \
                     ORDER BY s.name, s.version, s.arch, s.kind, s.id, h.hostname, h.id",
                )
                .bind(name)
                .fetch_all(&self.pool)
                .await?;
                let mut out: Vec<SoftwareVersionHosts> = Vec::new();
                for r in &rows {
                    let entry = SoftwareVersionHosts {
                        kind: r.try_get("kind")?,
                        name: r.try_get("name")?,
                        version: r.try_get("version")?,
                        arch: r.try_get("arch")?,
                        source_name: r.try_get("source_name")?,
                        source_version: r.try_get("source_version")?,
                        host_count: 0,
                        hosts: Vec::new(),
                    };
                    let host = HostRef { id: r.try_get("host_id")?, hostname: r.try_get("hostname")? };
                    match out.last_mut() {
                        Some(last)
                            if last.kind == entry.kind
                                && last.name == entry.name
                                && last.version == entry.version
                                && last.arch == entry.arch
                                && last.source_name == entry.source_name
                                && last.source_version == entry.source_version =>
                        {
                            last.hosts.push(host);
                            last.host_count += 1;
                        }
                        _ => out.push(SoftwareVersionHosts { host_count: 1, hosts: vec![host], ..entry }),
                    }
                }
                Ok(out)
            }

            async fn search_software(
                &self,
                pattern: &str,
                kind: Option<&str>,
                limit: i64,
            ) -> Result<Vec<crate::views::SoftwareMatch>, StoreError> {
                // A substring cannot use the name indexes: the catalogue holds distinct packages, not installations,
                // so the scan stays in the size of the distinct software, and the join counts only what matched.
                let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                    "SELECT s.kind, s.name, COUNT(DISTINCT s.version) AS versions, COUNT(DISTINCT hs.host_id) AS hosts \
                     FROM software s JOIN host_software hs ON hs.software_id = s.id WHERE (lower(s.name) LIKE ",
                );
                qb.push_bind(pattern.to_owned()).push(" ESCAPE '\\' OR lower(s.source_name) LIKE ");
                qb.push_bind(pattern.to_owned()).push(" ESCAPE '\\')");
                if let Some(kind) = kind {
                    qb.push(" AND s.kind = ").push_bind(kind.to_owned());
                }
                qb.push(" GROUP BY s.kind, s.name ORDER BY hosts DESC, s.name, s.kind LIMIT ").push_bind(limit);
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::views::SoftwareMatch {
                            kind: r.try_get("kind")?,
                            name: r.try_get("name")?,
                            versions: u64::try_from(r.try_get::<i64, _>("versions")?).unwrap_or(0),
                            hosts: u64::try_from(r.try_get::<i64, _>("hosts")?).unwrap_or(0),
                        })
                    })
                    .collect()
            }

            async fn software_by_name_sample(
                &self,
                name: &str,
                hosts_per_version: i64,
            ) -> Result<Vec<SoftwareVersionHosts>, StoreError> {
                // Counting and picking the sample run on the link table alone; only the sample joins `hosts`.
                let rows = sqlx::query(
                    "SELECT s.kind, s.name, s.version, s.arch, s.source_name, s.source_version, x.n, \
                     h.id AS host_id, h.hostname FROM software s \
                     JOIN (SELECT hs.software_id, hs.host_id, \
                             COUNT(*) OVER (PARTITION BY hs.software_id) AS n, \
                             ROW_NUMBER() OVER (PARTITION BY hs.software_id ORDER BY hs.host_id) AS rn \
                           FROM host_software hs JOIN software s2 ON s2.id = hs.software_id \
                           WHERE s2.name = $1 OR s2.source_name = $1) x ON x.software_id = s.id \
                     JOIN hosts h ON h.id = x.host_id \
                     WHERE x.rn <= $2 \
                     ORDER BY s.name, s.version, s.arch, s.kind, s.id, h.hostname, h.id",
                )
                .bind(name)
                .bind(hosts_per_version)
                .fetch_all(&self.pool)
                .await?;
                let mut out: Vec<SoftwareVersionHosts> = Vec::new();
                for r in &rows {
                    let count: i64 = r.try_get("n")?;
                    let entry = SoftwareVersionHosts {
                        kind: r.try_get("kind")?,
                        name: r.try_get("name")?,
                        version: r.try_get("version")?,
                        arch: r.try_get("arch")?,
                        source_name: r.try_get("source_name")?,
                        source_version: r.try_get("source_version")?,
                        host_count: usize::try_from(count).unwrap_or(0),
                        hosts: Vec::new(),
                    };
                    let host = HostRef { id: r.try_get("host_id")?, hostname: r.try_get("hostname")? };
                    match out.last_mut() {
                        Some(last)
                            if last.kind == entry.kind
                                && last.name == entry.name
                                && last.version == entry.version
                                && last.arch == entry.arch
                                && last.source_name == entry.source_name
                                && last.source_version == entry.source_version =>
                        {
                            last.hosts.push(host);
                        }
                        _ => out.push(SoftwareVersionHosts { hosts: vec![host], ..entry }),
                    }
                }
                Ok(out)
            }

            async fn audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
                findings_tx::insert_audit(&self.writer, record).await
            }

            async fn audit_coalesced(&self, record: &AuditRecord, since: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = self.writer.begin().await?;
                let counted = sqlx::query(
                    "UPDATE audit_log SET repeats = repeats + 1, last_at = $1 WHERE id = (SELECT id FROM audit_log \
                     WHERE action = $2 AND actor = $3 AND coalesce(target, '') = coalesce($4, '') \
                     AND coalesce(source_ip, '') = coalesce($5, '') AND at >= $6 ORDER BY at DESC, id DESC LIMIT 1)",
                )
                .bind(to_ms(record.at))
                .bind(&record.action)
                .bind(&record.actor)
                .bind(&record.target)
                .bind(&record.source_ip)
                .bind(to_ms(since))
                .execute(&mut *tx)
                .await?;
                if counted.rows_affected() == 0 {
                    findings_tx::insert_audit(&mut *tx, record).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn prune(
                &self,
                cutoffs: &crate::store::PruneCutoffs,
                batch: i64,
                done: &mut crate::store::Pruned,
                go_on: &(dyn Fn() -> bool + Send + Sync),
            ) -> Result<bool, StoreError> {
                // One batch per statement, each its own transaction: a year of rows never holds SQLite's writer
                // for long, and an interrupted prune has deleted whole batches only, each counted in `deleted`. False
                // when `go_on` ended it.
                async fn batches(
                    pool: &sqlx::Pool<$db>,
                    statement: &str,
                    cutoff: Option<i64>,
                    batch: i64,
                    deleted: &mut u64,
                    go_on: &(dyn Fn() -> bool + Send + Sync),
                ) -> Result<bool, StoreError> {
                    let mut retries = 0;
                    loop {
                        if !go_on() {
                            return Ok(false);
                        }
                        let query = sqlx::query(statement);
                        let query = match cutoff {
                            Some(cutoff) => query.bind(cutoff).bind(batch),
                            None => query.bind(batch),
                        };
                        let n = match query.execute(pool).await.map_err(StoreError::from) {
                            Ok(done) => done.rows_affected(),
                            // A report took the database or linked a row of the batch meanwhile: the batch is
                            // tried again, without what is in use now.
                            Err(e) if e.is_contention() && retries < 5 => {
                                retries += 1;
                                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                                continue;
                            }
                            Err(e) => return Err(e),
                        };
                        *deleted += n;
                        if n < u64::try_from(batch).unwrap_or(u64::MAX) {
                            return Ok(true);
                        }
                    }
                }
                if !batches(
                    &self.writer,
                    "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log \
                     WHERE at < $1 AND coalesce(last_at, at) < $1 ORDER BY at LIMIT $2)",
                    Some(to_ms(cutoffs.audit_before)),
                    batch,
                    &mut done.audit,
                    go_on,
                )
                .await?
                {
                    return Ok(false);
                }
                // Whole months first (PostgreSQL), then what is left past the cutoff, batch by batch: should the
                // months not go (their lock not had in time), the batches delete their rows all the same.
                if !go_on() {
                    return Ok(false);
                }
                done.history += <$store>::drop_history_months(self, to_ms(cutoffs.history_before)).await?;
                // A batch is a range of `at` (up to the batch's last row, and rows beside it at the same moment): an
                // index range in the one partition that holds it, where a list of ids had PostgreSQL scan them all.
                if !batches(
                    &self.writer,
                    "DELETE FROM history WHERE at < $1 AND at <= \
                     (SELECT max(at) FROM (SELECT at FROM history WHERE at < $1 ORDER BY at LIMIT $2) batch)",
                    Some(to_ms(cutoffs.history_before)),
                    batch,
                    &mut done.history,
                    go_on,
                )
                .await?
                {
                    return Ok(false);
                }
                if !batches(
                    &self.writer,
                    "DELETE FROM software WHERE id IN (SELECT s.id FROM software s WHERE NOT EXISTS \
                     (SELECT 1 FROM host_software hs WHERE hs.software_id = s.id) LIMIT $1)",
                    None,
                    batch,
                    &mut done.software,
                    go_on,
                )
                .await?
                {
                    return Ok(false);
                }
                // Events sent to every subscription, kept as long as host history for the delivery log; dead
                // letters stay until replayed or their integration is removed.
                batches(
                    &self.writer,
                    "DELETE FROM events WHERE seq IN (SELECT e.seq FROM events e WHERE e.at < $1 AND NOT EXISTS \
                     (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND d.status <> 'delivered') \
                     ORDER BY e.seq LIMIT $2)",
                    Some(to_ms(cutoffs.history_before)),
                    batch,
                    &mut done.events,
                    go_on,
                )
                .await
            }

            async fn prepare_partitions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                <$store>::prepare_history_months(self, now).await
            }

            async fn refresh_statistics(&self) -> Result<(), StoreError> {
                // One connection: SQLite's analysis limit is a setting of the connection it is made on.
                let mut conn = self.writer.acquire().await?;
                for statement in <$store>::ANALYZE {
                    sqlx::query(statement).execute(&mut *conn).await?;
                }
                Ok(())
            }

            fn statistics_beside_writes(&self) -> bool {
                <$store>::ANALYZE_BESIDE_WRITES
            }

            async fn fleet_size(&self) -> Result<super::FleetSize, StoreError> {
                let (hosts, reported): (i64, i64) =
                    sqlx::query_as("SELECT COUNT(*), COUNT(last_report_at) FROM hosts").fetch_one(&self.pool).await?;
                Ok(super::FleetSize { hosts: hosts.max(0) as u64, reported: reported.max(0) as u64 })
            }

            async fn vacuum(&self) -> Result<(), StoreError> {
                let mut conn = self.writer.acquire().await?;
                <$store>::vacuum_on(&mut conn).await
            }

            async fn fold_log(&self) {
                <$store>::fold_log_at_stop(self).await
            }

            async fn fold_log_if_idle(&self) {
                <$store>::fold_log_if_idle(self).await
            }

            async fn list_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
                self.search_audit(None, None, limit).await
            }

            async fn search_audit(
                &self,
                actor: Option<&str>,
                action: Option<&str>,
                limit: i64,
            ) -> Result<Vec<AuditEntry>, StoreError> {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT id, at, actor, action, target, source_ip, details, repeats, last_at FROM audit_log \
                     WHERE 1 = 1",
                );
                if let Some(actor) = actor {
                    qb.push(" AND lower(actor) LIKE ").push_bind(like_pattern(actor)).push(" ESCAPE '\\'");
                }
                if let Some(action) = action {
                    qb.push(" AND lower(action) LIKE ").push_bind(like_pattern(action)).push(" ESCAPE '\\'");
                }
                qb.push(" ORDER BY at DESC, id DESC LIMIT ").push_bind(limit);
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        let details: String = r.try_get("details")?;
                        Ok(AuditEntry {
                            id: r.try_get("id")?,
                            at: from_ms(r.try_get("at")?),
                            actor: r.try_get("actor")?,
                            action: r.try_get("action")?,
                            target: r.try_get("target")?,
                            source_ip: r.try_get("source_ip")?,
                            details: json_value(&details)?,
                            repeats: r.try_get("repeats")?,
                            last_at: r.try_get::<Option<i64>, _>("last_at")?.map(from_ms),
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(super) use impl_store;

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_escape() {
        assert_eq!(like_pattern("Web_01"), "%web\\_01%");
        assert_eq!(like_pattern("100%"), "%100\\%%");
    }
}

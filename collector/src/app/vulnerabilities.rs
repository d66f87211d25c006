//! Importing advisories read from an upload: stored (new and newer records only), hosts re-matched, and the
//! import audited with its counts, which the console's advisories page shows as the last import.

use chrono::{DateTime, Utc};

use crate::app::advisory_sync::{self as sync, ImportReport};
use crate::app::audit::{Actor, AuditEvent, record};
use crate::store::{Store, StoreError};
use crate::vuln::{AdvisoryDb, ImportSummary};

/// Stores what was read from the file `name` into `db` and audits it.
pub async fn import(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    db: &AdvisoryDb,
    summary: ImportSummary,
    now: DateTime<Utc>,
) -> Result<ImportReport, StoreError> {
    let report = sync::store_import(store, db, summary, now).await?;
    let s = &report.summary;
    let counts = serde_json::json!({
        "records_read": s.records_read, "imported": s.imported, "updated": s.updated,
        "unchanged": s.unchanged, "kev_entries": s.kev_entries, "errors": s.errors,
        "hosts_rematched": report.rematch.hosts_rematched,
    });
    record(store, actor, now, AuditEvent::AdvisoriesImported { file: name.to_owned(), counts }).await?;
    Ok(report)
}

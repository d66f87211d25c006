//! Importing advisories read from an upload: stored (new and newer records only), hosts re-matched, and the
//! import audited with its counts, which the console's advisories page shows as the last import.

use chrono::{DateTime, Utc};

use crate::app::advisory_sync::{self as sync, ImportReport};
use crate::app::audit::{Actor, AuditEvent, record};
use crate::rules::Policy;
use crate::store::advisories::AdvisoryFreshness;
use crate::store::{Store, StoreError};
use crate::vuln::{AdvisoryDb, FindingPolicy, ImportSummary};

/// Stores what was read from the file `name` into `db` and audits it.
pub async fn import(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    db: &AdvisoryDb,
    summary: ImportSummary,
    now: DateTime<Utc>,
    policy: &FindingPolicy,
) -> Result<ImportReport, StoreError> {
    let report = sync::store_import(store, db, summary, now, policy).await?;
    let s = &report.summary;
    let counts = serde_json::json!({
        "records_read": s.records_read, "imported": s.imported, "updated": s.updated,
        "unchanged": s.unchanged, "kev_entries": s.kev_entries, "errors": s.errors,
        "hosts_rematched": report.rematch.hosts_rematched,
    });
    record(store, actor, now, AuditEvent::AdvisoriesImported { file: name.to_owned(), counts }).await?;
    Ok(report)
}

/// Used only when an operator's policy removed the parameter: the built-in policy's value.
const DEFAULT_ADVISORY_MAX_AGE_DAYS: i64 = 7;

/// Whether the advisory data can be trusted to say a host is clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdvisoryStatus {
    /// Nothing imported: "no vulnerable package" would mean nothing at all.
    Missing,
    /// The newest record is older than the policy's `advisory_max_age_days`.
    Stale {
        days: i64,
    },
    Current {
        days: i64,
    },
}

/// The data's age is its newest record's `modified` time (an import of an old export is old data); records without
/// one count from their import.
pub fn advisory_status(f: &AdvisoryFreshness, policy: &Policy, now: DateTime<Utc>) -> AdvisoryStatus {
    let max_age = policy.params.get("advisory_max_age_days").copied().unwrap_or(DEFAULT_ADVISORY_MAX_AGE_DAYS);
    match (f.advisories, f.newest_modified.or(f.last_imported)) {
        (0, _) | (_, None) => AdvisoryStatus::Missing,
        (_, Some(at)) => {
            let days = (now - at).num_days().max(0);
            if days > max_age { AdvisoryStatus::Stale { days } } else { AdvisoryStatus::Current { days } }
        }
    }
}

/// The console's banner for a status that should stop a reader from taking "nothing found" as "nothing there".
pub fn advisory_banner(status: AdvisoryStatus, f: &AdvisoryFreshness) -> Option<String> {
    let newest = f.newest_modified.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "unknown".into());
    match status {
        AdvisoryStatus::Missing => Some(
            "No advisory data is imported: vulnerability matching has nothing to match, so no host is known to be \
             free of vulnerabilities. Import the OSV exports of your distributions and the CISA KEV catalog \
             (`muster-collector advisories update --source URL`, `advisories import FILE`, or Admin → Advisories)."
                .to_owned(),
        ),
        AdvisoryStatus::Stale { days } => Some(format!(
            "The advisory data is {days} days old (newest record modified {newest}, {} advisories, {} KEV entries): \
             vulnerabilities published since are not matched. Import current OSV exports and the KEV catalog.",
            f.advisories, f.kev_entries
        )),
        AdvisoryStatus::Current { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::rules::Rules;

    #[test]
    fn advisory_data_is_missing_stale_or_current() {
        let policy = Rules::builtin().unwrap().current();
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let fresh =
            |advisories: i64, modified_days_ago: Option<i64>, imported_days_ago: Option<i64>| AdvisoryFreshness {
                advisories,
                kev_entries: 1404,
                newest_modified: modified_days_ago.map(|d| now - chrono::Duration::days(d)),
                last_imported: imported_days_ago.map(|d| now - chrono::Duration::days(d)),
            };
        let cases = [
            ("nothing imported", fresh(0, None, None), AdvisoryStatus::Missing),
            (
                "an old export imported today is old data",
                fresh(11, Some(390), Some(0)),
                AdvisoryStatus::Stale { days: 390 },
            ),
            ("seven days is still current", fresh(11, Some(7), Some(7)), AdvisoryStatus::Current { days: 7 }),
            ("eight days is stale", fresh(11, Some(8), Some(1)), AdvisoryStatus::Stale { days: 8 }),
            (
                "no modified times: counted from the import",
                fresh(3, None, Some(2)),
                AdvisoryStatus::Current { days: 2 },
            ),
        ];
        for (name, f, expected) in cases {
            assert_eq!(advisory_status(&f, &policy, now), expected, "{name}");
            assert_eq!(
                advisory_banner(expected, &f).is_some(),
                !matches!(expected, AdvisoryStatus::Current { .. }),
                "{name}"
            );
        }
    }
}

//! Pending Windows updates as the Windows Update Agent offers them, for the patches section: each update the last
//! search found and that is not installed nor hidden becomes a [`PendingUpdate`], a security one when Windows Update
//! files it under Security Updates or Microsoft rates it (MSRC severity). With them, when Windows last searched
//! successfully, so the `updates.lists_stale` check can say when the list is too old to trust.
//!
//! The probe asks the agent's COM API for an offline search (`IUpdateSearcher` with `Online` off): the answer comes
//! from what Windows' own scheduled scan last fetched, in seconds and without the network, as `wuauclt`'s
//! "check for updates" would otherwise cost minutes of a download for every report. Pure here: the probe
//! (`update_agent.rs`) copies each update's title, knowledge-base articles, severity, category ids and product names
//! into an [`OfferedUpdate`].

use chrono::{DateTime, Duration, NaiveDate, Utc};
use muster_shared::v1::PendingUpdate;

/// The patches section's manager on Windows.
pub const MANAGER: &str = "windows-update";

/// What the search asks for: software updates not installed and not hidden by an administrator (drivers and
/// hidden updates are not what the security manager must act on).
pub const SEARCH_CRITERIA: &str = "IsInstalled=0 and IsHidden=0 and Type='Software'";

/// The "Security Updates" classification's id in Windows Update and WSUS (Microsoft's update classification GUIDs);
/// ids, unlike the category names, do not change with the language of Windows.
pub const SECURITY_UPDATES: &str = "0fa1201d-4330-4fa8-8ae9-b877473b6441";

/// One update a search returned, as the probe read it from `IUpdate`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferedUpdate {
    /// `Title`, e.g. `2024-01 Cumulative Update for Windows 11 Version 23H2 for x64-based Systems (KB5034123)`.
    pub title: String,
    /// `KBArticleIDs`, digits only as the agent gives them (`5034123`).
    pub kb_article_ids: Vec<String>,
    /// `MsrcSeverity`: `Critical`, `Important`, `Moderate`, `Low`; empty for updates Microsoft does not rate.
    pub msrc_severity: Option<String>,
    /// The `CategoryID` of each of `Categories` (classification and product).
    pub category_ids: Vec<String>,
    /// The `Name` of each of its categories of type `Product` (`Windows 11`, `Office 2016`).
    pub products: Vec<String>,
}

impl OfferedUpdate {
    /// Whether the update fixes vulnerabilities: classified as a security update, or rated by Microsoft's security
    /// response centre.
    pub fn is_security(&self) -> bool {
        self.category_ids.iter().any(|id| id.trim_matches(['{', '}']).eq_ignore_ascii_case(SECURITY_UPDATES))
            || self.msrc_severity.as_deref().is_some_and(|s| !s.trim().is_empty())
    }
}

/// When Windows last searched for updates successfully, as far as it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastSearch {
    At(DateTime<Utc>),
    /// Windows has no successful search on record.
    Never,
    /// The date could not be read (the error is recorded beside).
    Unread,
}

impl LastSearch {
    pub fn at(self) -> Option<DateTime<Utc>> {
        match self {
            LastSearch::At(at) => Some(at),
            LastSearch::Never | LastSearch::Unread => None,
        }
    }
}

/// The pending updates when a successful search is on record, else why they are not known: the offline answer
/// comes from Windows' last scan's cache, which is empty on a machine that never scanned, so without that record
/// "nothing pending" would be a guess.
pub fn pending_after_search(
    updates: &[OfferedUpdate],
    last_search: LastSearch,
) -> Result<Vec<PendingUpdate>, &'static str> {
    match last_search {
        LastSearch::At(_) => Ok(pending(updates)),
        LastSearch::Never => Err(
            "not reported: Windows Update has no successful search on record, so its offline answer says nothing about what is pending",
        ),
        LastSearch::Unread => Err(
            "not reported: when Windows Update last searched successfully could not be read, so its offline answer may be empty for want of a search",
        ),
    }
}

/// The pending updates, in the order Windows listed them. Windows has no installed version to name: the name is the
/// update's title without what changes every month ([`stable_name`]), so that next month's update of the same product
/// keeps the name and the collector keeps counting how long that product has waited; the candidate is the articles
/// (`KB5034123`), the origin Windows Update with Microsoft's rating.
pub fn pending(updates: &[OfferedUpdate]) -> Vec<PendingUpdate> {
    updates
        .iter()
        .map(|update| PendingUpdate {
            name: stable_name(&update.title, &update.products),
            arch: None,
            installed_version: String::new(),
            candidate_version: update
                .kb_article_ids
                .iter()
                .map(|id| id.trim())
                .filter(|id| !id.is_empty())
                .map(|id| if id.to_ascii_uppercase().starts_with("KB") { id.to_string() } else { format!("KB{id}") })
                .collect::<Vec<_>>()
                .join(", "),
            security: update.is_security(),
            origin: Some(match update.msrc_severity.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(severity) => format!("Windows Update ({severity})"),
                None => "Windows Update".to_string(),
            }),
        })
        .collect()
}

/// A title without what changes from one month's update of a product to the next: the month it starts with
/// (`2024-01 `) and every parenthesised article (`(KB5034123)`), build (`(26100.2314)`) or version
/// (`(Version 1.403.1043.0)`), wherever they stand. A title left too short to say what it updates (`Security Update`,
/// Microsoft's short titles) gets the update's product in front when it has exactly one (a choice among several
/// could change from month to month).
fn stable_name(title: &str, products: &[String]) -> String {
    let title = title.trim();
    let bytes = title.as_bytes();
    // `get`, not indexing: a localized title's first bytes need not be whole characters.
    let dated = bytes.len() > 8
        && title.get(..4).is_some_and(digits)
        && bytes[4] == b'-'
        && title.get(5..7).is_some_and(digits)
        && bytes[7] == b' ';
    let mut rest = if dated { &title[8..] } else { title };
    let mut kept = String::with_capacity(rest.len());
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')').map(|c| open + c) else { break };
        kept.push_str(&rest[..open]);
        if !changes_monthly(&rest[open + 1..close]) {
            kept.push_str(&rest[open..=close]);
        }
        rest = &rest[close + 1..];
    }
    kept.push_str(rest);
    let name = kept.split_whitespace().collect::<Vec<_>>().join(" ").replace(" ,", ",").replace(" .", ".");
    let name = name.trim_end_matches([',', ';', '-', ' ']).to_string();
    match products {
        [product] if !name.is_empty() && !name.to_ascii_lowercase().contains(&product.trim().to_ascii_lowercase()) => {
            format!("{}: {name}", product.trim())
        }
        _ => name,
    }
}

/// Whether parenthesised text is an article (`KB5034123`), a build (`26100.2314`) or a version
/// (`Version 1.403.1043.0`): what a product's next update changes.
fn changes_monthly(inner: &str) -> bool {
    let dotted = |text: &str| text.split('.').count() >= 2 && text.split('.').all(digits);
    let inner = inner.trim();
    inner.strip_prefix("KB").is_some_and(digits) || dotted(inner) || inner.strip_prefix("Version ").is_some_and(dotted)
}

/// One or more ASCII digits, nothing else.
fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// An OLE Automation date (a `VT_DATE` VARIANT: days since 1899-12-30 00:00, the fraction the time of day) as a
/// time, taken as UTC as the agent's `IAutomaticUpdatesResults` dates are. `None` for zero (unset), negative dates
/// (before 1899-12-30, never a search) and values out of range.
pub fn ole_date(days: f64) -> Option<DateTime<Utc>> {
    if !days.is_finite() || days <= 0.0 || days > 2_958_465.0 {
        return None;
    }
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?.and_utc();
    // Milliseconds are as fine as the agent keeps them.
    let millis = (days * 86_400_000.0).round() as i64;
    epoch.checked_add_signed(Duration::milliseconds(millis))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn security_updates_by_classification_or_rating() {
        let offered = [
            OfferedUpdate {
                title: "2024-01 Cumulative Update for Windows 11 Version 23H2 for x64-based Systems (KB5034123)".into(),
                kb_article_ids: vec!["5034123".into()],
                msrc_severity: Some("Important".into()),
                // Security Updates, as the agent may spell it (upper case).
                category_ids: vec!["0FA1201D-4330-4FA8-8AE9-B877473B6441".into()],
                products: Vec::new(),
            },
            OfferedUpdate {
                title:
                    "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.403.1043.0)"
                        .into(),
                kb_article_ids: vec!["2267602".into()],
                msrc_severity: None,
                // Definition Updates: not a security update by classification, nor rated.
                category_ids: vec!["e0789628-ce08-4437-be74-2495b842f43b".into()],
                products: Vec::new(),
            },
            OfferedUpdate {
                title: "Windows Malicious Software Removal Tool x64 - v5.120 (KB890830)".into(),
                kb_article_ids: vec!["KB890830".into()],
                msrc_severity: Some(String::new()),
                // Update Rollups.
                category_ids: vec!["{28bc880e-0592-4cbf-8f95-c79b17911d5f}".into()],
                products: Vec::new(),
            },
        ];
        let listed = pending(&offered);
        let summary: Vec<(&str, &str, bool, Option<&str>)> = listed
            .iter()
            .map(|p| (p.installed_version.as_str(), p.candidate_version.as_str(), p.security, p.origin.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("", "KB5034123", true, Some("Windows Update (Important)")),
                ("", "KB2267602", false, Some("Windows Update")),
                ("", "KB890830", false, Some("Windows Update")),
            ]
        );
        let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Cumulative Update for Windows 11 Version 23H2 for x64-based Systems",
                // An article outside parentheses stays; a parenthesised version goes.
                "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602",
                "Windows Malicious Software Removal Tool x64 - v5.120",
            ]
        );
        // Next month's update of the same product has the same name.
        let february = OfferedUpdate {
            title: "2024-02 Cumulative Update for Windows 11 Version 23H2 for x64-based Systems (KB5034765)".into(),
            ..offered[0].clone()
        };
        assert_eq!(pending(&[february])[0].name, names[0]);
        let unclassified = OfferedUpdate { msrc_severity: Some("Critical".into()), ..OfferedUpdate::default() };
        assert!(unclassified.is_security());
        assert!(pending(&[unclassified])[0].security);
    }

    #[test]
    fn nothing_is_known_pending_without_a_successful_search() {
        let offered = [OfferedUpdate { title: "2024-01 Update (KB5034123)".into(), ..OfferedUpdate::default() }];
        for last in [LastSearch::Never, LastSearch::Unread] {
            assert!(pending_after_search(&[], last).is_err());
            assert!(pending_after_search(&offered, last).unwrap_err().starts_with("not reported: "));
        }
        let searched = LastSearch::At(Utc.with_ymd_and_hms(2024, 1, 20, 3, 0, 0).unwrap());
        assert_eq!(pending_after_search(&offered, searched).map(|p| p.len()), Ok(1));
        assert_eq!(searched.at(), Some(Utc.with_ymd_and_hms(2024, 1, 20, 3, 0, 0).unwrap()));
    }

    #[test]
    fn names_keep_what_a_monthly_title_does_not_change() {
        let one = |product: &str| vec![product.to_string()];
        // Windows 11 24H2's titles give the build after the article; Office's add an edition after it.
        assert_eq!(
            stable_name(
                "2024-11 Cumulative Update for Windows 11 Version 24H2 for x64-based Systems (KB5046617) (26100.2314)",
                &one("Windows 11")
            ),
            "Cumulative Update for Windows 11 Version 24H2 for x64-based Systems"
        );
        assert_eq!(
            stable_name("Security Update for Microsoft Office 2016 (KB5002700) 64-Bit Edition", &one("Office 2016")),
            "Security Update for Microsoft Office 2016 64-Bit Edition"
        );
        assert_eq!(
            stable_name(
                "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.403.1043.0)",
                &[]
            ),
            "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602"
        );
        assert_eq!(stable_name("Update (KB5034123), Windows 10 (22H2)", &[]), "Update, Windows 10 (22H2)");
        // Microsoft's short titles say nothing of the product: it goes in front when there is one to choose.
        assert_eq!(
            stable_name("Security Update (KB5079473) (26200.8037)", &one("Windows 11")),
            "Windows 11: Security Update"
        );
        let several = vec!["Windows 10".to_string(), "Windows 11".to_string()];
        assert_eq!(stable_name("Security Update (KB5079473) (26200.8037)", &several), "Security Update");
        assert_eq!(stable_name("(KB5079473)", &one("Windows 11")), "");
        // A localized title whose first bytes are not whole characters is read, not cut.
        assert_eq!(stable_name("2024-aé Update (KB5034123)", &[]), "2024-aé Update");
        // Parentheses that are no article, build or version stay.
        assert_eq!(stable_name("Update for Windows (Beta) (KB12)", &[]), "Update for Windows (Beta)");
    }

    #[test]
    fn ole_dates_count_days_from_the_end_of_1899() {
        // Microsoft's examples for the format: 2.0 is 1900-01-01 midnight, 2.5 noon that day, 35065.0 1996-01-01.
        assert_eq!(ole_date(2.0), Some(Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap()));
        assert_eq!(ole_date(2.5), Some(Utc.with_ymd_and_hms(1900, 1, 1, 12, 0, 0).unwrap()));
        assert_eq!(ole_date(35065.0), Some(Utc.with_ymd_and_hms(1996, 1, 1, 0, 0, 0).unwrap()));
        assert_eq!(ole_date(45292.75), Some(Utc.with_ymd_and_hms(2024, 1, 1, 18, 0, 0).unwrap()));
        for unset in [0.0, -1.5, f64::NAN, f64::INFINITY, 1e12] {
            assert_eq!(ole_date(unset), None, "{unset}");
        }
    }
}

//! The CISA Known Exploited Vulnerabilities catalog: which CVEs are exploited in the wild, to rank findings first.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Deserialize;

#[derive(Debug, Clone, Default)]
pub struct KevCatalog {
    pub version: Option<String>,
    added: HashMap<String, NaiveDate>,
}

#[derive(Debug, thiserror::Error)]
pub enum KevError {
    #[error("invalid KEV catalog: {0}")]
    Json(#[from] serde_json::Error),
    #[error("KEV entry {cve} has an invalid dateAdded {date:?}")]
    Date { cve: String, date: String },
}

#[derive(Deserialize)]
struct RawCatalog {
    #[serde(rename = "catalogVersion", default)]
    catalog_version: Option<String>,
    vulnerabilities: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(rename = "dateAdded")]
    date_added: String,
}

impl KevCatalog {
    /// Parses `known_exploited_vulnerabilities.json` as CISA publishes it.
    pub fn parse(bytes: &[u8]) -> Result<Self, KevError> {
        let raw: RawCatalog = serde_json::from_slice(bytes)?;
        let mut added = HashMap::with_capacity(raw.vulnerabilities.len());
        for e in raw.vulnerabilities {
            let date = NaiveDate::parse_from_str(e.date_added.trim(), "%Y-%m-%d")
                .map_err(|_| KevError::Date { cve: e.cve_id.clone(), date: e.date_added.clone() })?;
            added.insert(e.cve_id.trim().to_owned(), date);
        }
        Ok(Self { version: raw.catalog_version, added })
    }

    pub fn len(&self) -> usize {
        self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
    }

    /// When the CVE was added to the catalog, if it is in it.
    pub fn added(&self, cve: &str) -> Option<NaiveDate> {
        self.added.get(cve).copied()
    }

    /// Every (CVE id, date added), for storing the catalog.
    pub fn entries(&self) -> impl Iterator<Item = (&str, NaiveDate)> {
        self.added.iter().map(|(cve, date)| (cve.as_str(), *date))
    }

    /// The earliest catalog date of any of the names.
    pub fn added_any<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Option<NaiveDate> {
        names.into_iter().filter_map(|n| self.added(n)).min()
    }
}

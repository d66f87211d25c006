//! Software search across every kind of package: which names in the fleet contain what a person typed, the
//! distribution's, the language ecosystems', snaps and Windows programs alike (`log4j` finds Debian's
//! `liblog4j2-java` and Maven's `org.apache.logging.log4j:log4j-core`). One home for the rules the API and the
//! console share: the text's length, how it becomes a pattern, the kinds, the page size.

use muster_shared::v1::PackageKind;

use crate::store::{Store, StoreError};
use crate::views::SoftwareSearch;

/// The most names one search returns; a longer list is marked truncated (narrow it with the kind or more text).
pub const SEARCH_LIMIT: usize = 100;
/// Shorter text would match most of the catalogue.
pub const MIN_CHARS: usize = 2;
pub const MAX_CHARS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search text must be {MIN_CHARS} to {MAX_CHARS} characters")]
    Length,
    #[error("unknown package kind {0:?}; known kinds: {kinds}", kinds = known_kinds())]
    Kind(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn known_kinds() -> String {
    PackageKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

/// The case-insensitive substring pattern for `text`: trimmed, lowercased, SQL `LIKE` wildcards escaped so that
/// `_` and `%` in a name (`typing_extensions`) match themselves.
pub fn like_pattern(text: &str) -> Result<String, SearchError> {
    let text = text.trim();
    let chars = text.chars().count();
    if !(MIN_CHARS..=MAX_CHARS).contains(&chars) {
        return Err(SearchError::Length);
    }
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Ok(pattern)
}

/// A kind filter as typed: empty means every kind.
pub fn parse_kind(kind: Option<&str>) -> Result<Option<PackageKind>, SearchError> {
    match kind.map(str::trim).filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(k) => PackageKind::parse(k).map(Some).ok_or_else(|| SearchError::Kind(k.to_owned())),
    }
}

/// The names containing `text` (in the name or the source package's name), of `kind` if given.
pub async fn search(store: &dyn Store, text: &str, kind: Option<&str>) -> Result<SoftwareSearch, SearchError> {
    let pattern = like_pattern(text)?;
    let kind = parse_kind(kind)?;
    let limit = i64::try_from(SEARCH_LIMIT + 1).unwrap_or(i64::MAX);
    let mut matches = store.search_software(&pattern, kind.map(PackageKind::as_str), limit).await?;
    let truncated = matches.len() > SEARCH_LIMIT;
    matches.truncate(SEARCH_LIMIT);
    Ok(SoftwareSearch { matches, truncated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_lowercase_substrings_with_wildcards_escaped() {
        assert_eq!(like_pattern(" Log4J ").unwrap(), "%log4j%");
        assert_eq!(like_pattern("typing_extensions").unwrap(), "%typing\\_extensions%");
        assert_eq!(like_pattern("100%").unwrap(), "%100\\%%");
        assert_eq!(like_pattern("a\\b").unwrap(), "%a\\\\b%");
        assert!(matches!(like_pattern("a"), Err(SearchError::Length)));
        assert!(matches!(like_pattern(&"x".repeat(MAX_CHARS + 1)), Err(SearchError::Length)));
        assert_eq!(parse_kind(Some("pypi")).unwrap(), Some(PackageKind::Pypi));
        assert_eq!(parse_kind(Some("")).unwrap(), None);
        let err = parse_kind(Some("egg")).unwrap_err().to_string();
        assert!(err.starts_with("unknown package kind \"egg\"; known kinds: deb, rpm,"), "{err}");
    }
}

//! CSV and JSON downloads of console lists, with the list's current filters: every row that matches, not one page.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::AppError;

/// Rows an export holds at most.
pub const MAX_EXPORT_ROWS: i64 = 100_000;

/// How a list was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Csv,
    Json,
}

impl Format {
    pub fn parse(text: Option<&str>) -> Result<Format, AppError> {
        match text {
            None | Some("") | Some("html") => Ok(Format::Html),
            Some("csv") => Ok(Format::Csv),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(AppError::bad_request("bad_format", format!("unknown format {other:?} (csv or json)"))),
        }
    }
}

/// The download of one list in `format` (CSV rows or the JSON `value`); `Html` is the caller's page, never here.
pub fn list(
    format: Format,
    name: &str,
    header_row: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
    value: &impl Serialize,
) -> Result<Response, AppError> {
    match format {
        Format::Csv => Ok(csv(name, header_row, rows)),
        Format::Json | Format::Html => json(name, value),
    }
}

/// An optional time as a CSV cell.
pub fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    crate::export::time(t)
}

/// A CSV download: RFC 4180 quoting, spreadsheet formulas neutralised.
pub fn csv(name: &str, header_row: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Response {
    download(name, "csv", "text/csv; charset=utf-8", crate::export::document(&header_row.join(","), rows))
}

/// A CSV download of an already formatted body (the API's finding export, so both have the same columns).
pub fn csv_body(name: &str, body: String) -> Response {
    download(name, "csv", "text/csv; charset=utf-8", body)
}

/// A JSON download of `value`.
pub fn json(name: &str, value: &impl Serialize) -> Result<Response, AppError> {
    let body = serde_json::to_string_pretty(value).map_err(AppError::internal)?;
    Ok(download(name, "json", "application/json", body))
}

fn download(name: &str, extension: &str, content_type: &'static str, body: String) -> Response {
    let disposition = format!("attachment; filename=\"muster-{name}.{extension}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse(None).unwrap(), Format::Html);
        assert_eq!(Format::parse(Some("csv")).unwrap(), Format::Csv);
        assert!(Format::parse(Some("xml")).is_err());
    }
}

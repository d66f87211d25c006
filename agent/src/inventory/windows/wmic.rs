//! Test support: reads `wmic path <class> get /format:list` captures (UTF-16LE, CRLF, a blank line between
//! records, `&` written as `&amp;` by wmic's list style sheet, arrays as `{"a","b"}`) into one map per record, so
//! each WMI type's tests can build the rows the probe's query would have deserialized; and PowerShell's list view of
//! the same classes, where no wmic capture exists.

use std::collections::BTreeMap;

/// The records of `testdata/windows/wmi/<name>`: property name to its text, empty properties left out.
pub fn records(name: &str) -> Vec<BTreeMap<String, String>> {
    let path = format!("{}/testdata/windows/wmi/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let text = String::from_utf16(&units).unwrap().trim_start_matches('\u{feff}').replace('\r', "");
    text.split("\n\n")
        .filter(|record| record.contains('='))
        .map(|record| {
            record
                .lines()
                .filter_map(|line| line.split_once('='))
                .filter(|(_, value)| !value.is_empty())
                .map(|(name, value)| (name.to_string(), value.replace("&amp;", "&")))
                .collect()
        })
        .collect()
}

/// An array property's items: `{"192.168.0.2","fe80::1"}` → both addresses.
pub fn array(value: &str) -> Vec<String> {
    let inner = value.trim().trim_start_matches('{').trim_end_matches('}');
    inner.split(',').map(|item| item.trim().trim_matches('"').to_string()).filter(|s| !s.is_empty()).collect()
}

/// `TRUE`/`FALSE` as wmic prints booleans.
pub fn boolean(value: &str) -> bool {
    match value {
        "TRUE" => true,
        "FALSE" => false,
        other => panic!("not a wmic boolean: {other}"),
    }
}

/// The records of a PowerShell list view (`Get-CimInstance … | Format-List`, `Get-WmiObject`) saved as text under
/// `testdata/windows/<name>`: `Name : value` lines, a blank line between records, empty values left out. Lines that
/// are not a property (the prompt and command echoed above the output) are skipped.
pub fn format_list(name: &str) -> Vec<BTreeMap<String, String>> {
    let path = format!("{}/testdata/windows/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.replace('\r', "")
        .split("\n\n")
        .map(|record| {
            record
                .lines()
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim(), value.trim()))
                .filter(|(name, value)| !name.is_empty() && !name.contains(' ') && !value.is_empty())
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect::<BTreeMap<_, _>>()
        })
        .filter(|record| !record.is_empty())
        .collect()
}

/// `True`/`False` as PowerShell prints booleans.
pub fn power_shell_boolean(value: &str) -> bool {
    match value {
        "True" => true,
        "False" => false,
        other => panic!("not a PowerShell boolean: {other}"),
    }
}

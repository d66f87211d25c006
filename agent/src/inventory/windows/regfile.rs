//! A reader of regedit's export format (`.reg`, "Windows Registry Editor Version 5.00", UTF-16LE), so the pure
//! registry interpretation is tested on real captured exports exactly as the live probe feeds it.
//!
//! Only what an export of value-carrying keys holds is understood: `[KEY]` sections, `"name"=` or `@=` followed by a
//! quoted string, `dword:`, or `hex(<type>):` bytes continued over lines with a trailing backslash. Deletions
//! (`[-KEY]`, `=-`) are skipped, since an export never contains them.

use std::collections::BTreeMap;

use super::RegValue;

/// One key of an export: its full path as regedit wrote it and its values by name (`""` for the default value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegKeyExport {
    pub path: String,
    pub values: BTreeMap<String, RegValue>,
}

/// Why an export could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegFileError {
    #[error("not a regedit export: the first line is {0:?}")]
    NotAnExport(String),
    #[error("UTF-16 text with an odd number of bytes")]
    OddLength,
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
}

/// Parses an export: UTF-16LE with its byte-order mark as regedit writes it, or UTF-8 (REGEDIT4-era files and
/// hand-converted ones).
pub fn parse_reg_export(bytes: &[u8]) -> Result<Vec<RegKeyExport>, RegFileError> {
    let text = decode(bytes)?;
    let mut lines = logical_lines(&text).into_iter();
    let header = lines.next().map(|(_, l)| l).unwrap_or_default();
    let header = header.trim_start_matches('\u{feff}').trim();
    if header != "Windows Registry Editor Version 5.00" && header != "REGEDIT4" {
        return Err(RegFileError::NotAnExport(header.chars().take(60).collect()));
    }
    let mut keys: Vec<RegKeyExport> = Vec::new();
    for (line, text) in lines {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') {
            continue;
        }
        if let Some(path) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            if !path.starts_with('-') {
                keys.push(RegKeyExport { path: path.to_string(), values: BTreeMap::new() });
            }
            continue;
        }
        let syntax = |message: &str| RegFileError::Syntax { line, message: message.to_string() };
        let Some(key) = keys.last_mut() else {
            return Err(syntax("a value before any [key]"));
        };
        let (name, rest) = if let Some(rest) = trimmed.strip_prefix('@') {
            (String::new(), rest)
        } else {
            let (name, rest) = quoted(trimmed).ok_or_else(|| syntax("unterminated value name"))?;
            (name, rest)
        };
        let data = rest.trim_start().strip_prefix('=').ok_or_else(|| syntax("no '=' after the value name"))?.trim();
        if data == "-" {
            continue;
        }
        key.values.insert(name, value(data).ok_or_else(|| syntax("unreadable value data"))?);
    }
    Ok(keys)
}

fn decode(bytes: &[u8]) -> Result<String, RegFileError> {
    if let Some(body) = bytes.strip_prefix(&[0xff, 0xfe]) {
        if body.len() % 2 != 0 {
            return Err(RegFileError::OddLength);
        }
        let units: Vec<u16> = body.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        return Ok(String::from_utf16_lossy(&units));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// Joins hex data continued with a trailing backslash and strings whose quotes span lines (a REG_SZ holding a
/// newline is written raw), numbering each logical line by its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String, bool)> = None; // (line, text so far, inside an open string)
    for (index, raw) in text.lines().enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (line, mut joined) = match pending.take() {
            Some((line, mut so_far, true)) => {
                so_far.push('\n');
                so_far.push_str(raw);
                (line, so_far)
            }
            Some((line, mut so_far, false)) => {
                so_far.push_str(raw.trim_start());
                (line, so_far)
            }
            None => (index + 1, raw.to_string()),
        };
        if open_string(&joined) {
            pending = Some((line, joined, true));
        } else if joined.ends_with('\\') && !joined.trim_start().starts_with('[') && is_hex_data(&joined) {
            joined.pop();
            pending = Some((line, joined, false));
        } else {
            out.push((line, joined));
        }
    }
    if let Some((line, so_far, _)) = pending {
        out.push((line, so_far));
    }
    out
}

/// True for a value line whose data is `hex...:` bytes (the only data regedit continues with a backslash).
fn is_hex_data(line: &str) -> bool {
    let data = match line.trim_start().strip_prefix('@') {
        Some(rest) => Some(rest),
        None => quoted(line.trim_start()).map(|(_, rest)| rest),
    };
    data.and_then(|d| d.trim_start().strip_prefix('=')).is_some_and(|d| d.trim_start().starts_with("hex"))
}

/// True when a value line has a quote opened and not closed (counting escapes).
fn open_string(line: &str) -> bool {
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') || !(trimmed.starts_with('"') || trimmed.starts_with('@')) {
        return false;
    }
    let mut inside = false;
    let mut chars = trimmed.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if inside => {
                chars.next();
            }
            '"' => inside = !inside,
            _ => {}
        }
    }
    inside
}

/// A quoted, backslash-escaped string at the start of `text`, and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &body[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

fn value(data: &str) -> Option<RegValue> {
    if data.starts_with('"') {
        let (text, rest) = quoted(data)?;
        return rest.trim().is_empty().then_some(RegValue::Sz(text));
    }
    if let Some(hex) = data.strip_prefix("dword:") {
        return u32::from_str_radix(hex.trim(), 16).ok().map(RegValue::Dword);
    }
    let (kind, bytes) = data.split_once(':')?;
    let bytes = hex_bytes(bytes)?;
    match kind {
        "hex(2)" => Some(RegValue::ExpandSz(utf16z(&bytes))),
        "hex(1)" => Some(RegValue::Sz(utf16z(&bytes))),
        "hex(7)" => Some(RegValue::MultiSz(super::multi_sz(&utf16z_keep(&bytes)))),
        "hex(4)" if bytes.len() == 4 => {
            Some(RegValue::Dword(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])))
        }
        "hex(b)" if bytes.len() == 8 => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes);
            Some(RegValue::Qword(u64::from_le_bytes(raw)))
        }
        _ if kind == "hex" || kind.starts_with("hex(") => Some(RegValue::Binary(bytes)),
        _ => None,
    }
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    text.split(',').map(str::trim).filter(|b| !b.is_empty()).map(|b| u8::from_str_radix(b, 16).ok()).collect()
}

/// UTF-16LE up to the first NUL (REG_SZ/REG_EXPAND_SZ data ends with one).
fn utf16z(bytes: &[u8]) -> String {
    let mut text = utf16z_keep(bytes);
    if let Some(end) = text.find('\0') {
        text.truncate(end);
    }
    text
}

fn utf16z_keep(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

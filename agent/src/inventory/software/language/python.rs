//! Python distribution metadata: the `METADATA` file of a `*.dist-info` directory and the `PKG-INFO` of an
//! `*.egg-info` directory (or an `*.egg-info` file, which is that `PKG-INFO` itself).
//!
//! Both are email-style headers (core metadata, PEP 566/643); only `Name` and `Version` are kept. The header block
//! ends at the first blank line, after which a long description may follow and is never read.

use memchr::memchr;

use super::Parsed;

/// Reads the distribution's name and version from its core metadata.
pub fn parse_python_metadata(data: &[u8]) -> Result<Parsed, String> {
    let mut name = None;
    let mut version = None;
    let mut pos = 0;
    while pos < data.len() {
        let end = memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
        let line = &data[pos..end];
        pos = end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let Some(colon) = memchr(b':', line) else { continue };
        let (key, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        // The first occurrence counts: a later `Name:` could only come from a malformed file.
        if key.eq_ignore_ascii_case(b"Name") && name.is_none() {
            name = Some(value);
        } else if key.eq_ignore_ascii_case(b"Version") && version.is_none() {
            version = Some(value);
        }
        if name.is_some() && version.is_some() {
            break;
        }
    }
    match (name.filter(|n| !n.is_empty()), version.filter(|v| !v.is_empty())) {
        (Some(name), Some(version)) => Ok(Parsed {
            name: String::from_utf8_lossy(name).into_owned(),
            version: String::from_utf8_lossy(version).into_owned(),
        }),
        (None, _) => Err("no Name header".to_string()),
        (_, None) => Err("no Version header".to_string()),
    }
}

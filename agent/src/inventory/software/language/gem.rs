//! A Ruby gem's installed specification, `specifications/<name>-<version>.gemspec`.
//!
//! RubyGems writes these as Ruby source (`Gem::Specification#to_ruby`): a `# stub: <name> <version> <platform>
//! <paths>` comment line and `s.name = "rack".freeze` / `s.version = "2.2.22"` assignments. Nothing is evaluated:
//! the assignments are read as text, and the stub line is the fallback for files that lack them.

use memchr::memchr;

use super::Parsed;

/// Reads the gem's name and version from an installed `.gemspec`.
pub fn parse_gemspec(data: &[u8]) -> Result<Parsed, String> {
    let mut name = None;
    let mut version = None;
    let mut stub = None;
    let mut pos = 0;
    while pos < data.len() && (name.is_none() || version.is_none()) {
        let end = memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
        let line = data[pos..end].trim_ascii();
        pos = end + 1;
        if let Some(rest) = line.strip_prefix(b"# stub: ") {
            stub = Some(rest);
        } else if let Some(value) = assigned(line, b"name") {
            name = name.or(quoted(value));
        } else if let Some(value) = assigned(line, b"version") {
            version = version.or(quoted(value));
        }
    }
    let mut from_stub = stub.into_iter().flat_map(|s| s.split(|&b| b == b' ')).filter(|w| !w.is_empty());
    let (stub_name, stub_version) = (from_stub.next(), from_stub.next());
    match (name.or(stub_name), version.or(stub_version)) {
        (Some(name), Some(version)) => Ok(Parsed {
            name: String::from_utf8_lossy(name).into_owned(),
            version: String::from_utf8_lossy(version).into_owned(),
        }),
        (None, _) => Err("no name assignment or stub line".to_string()),
        (_, None) => Err("no version assignment or stub line".to_string()),
    }
}

/// The right-hand side of `<var>.<field> = ...` (the block variable is usually `s`, sometimes `spec`).
fn assigned<'a>(line: &'a [u8], field: &[u8]) -> Option<&'a [u8]> {
    let dot = memchr(b'.', line)?;
    let (var, rest) = (&line[..dot], &line[dot + 1..]);
    if var.is_empty() || !var.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return None;
    }
    let rest = rest.strip_prefix(field)?.trim_ascii_start();
    Some(rest.strip_prefix(b"=")?.trim_ascii_start())
}

/// The first `"..."` or `'...'` literal of a value such as `"rack".freeze` or `Gem::Version.new("1.0")`.
fn quoted(value: &[u8]) -> Option<&[u8]> {
    let start = value.iter().position(|&b| b == b'"' || b == b'\'')?;
    let quote = value[start];
    let body = &value[start + 1..];
    let len = memchr(quote, body)?;
    Some(&body[..len]).filter(|v| !v.is_empty())
}

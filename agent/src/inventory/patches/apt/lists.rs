//! Streams apt's `Packages` lists (plain, `.lz4`, `.gz`, `.xz`) stanza by stanza without holding a whole file.
//!
//! The main list of a release is tens of megabytes once decompressed; only stanzas of installed packages matter,
//! so each stanza is first recognised by its `Package:` line and the rest is skipped unparsed.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// The compressions apt may keep its lists in, by file name suffix (`Acquire::GzipIndexes` and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
    Gzip,
    Xz,
}

impl Compression {
    /// Suffixes apt uses, in the order apt prefers them; `None` is the bare name.
    pub const SUFFIXES: [(&'static str, Option<Compression>); 7] = [
        ("", Some(Compression::None)),
        (".lz4", Some(Compression::Lz4)),
        (".gz", Some(Compression::Gzip)),
        (".xz", Some(Compression::Xz)),
        (".zst", None),
        (".bz2", None),
        (".lzma", None),
    ];
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("reading: {0}")]
    Io(#[from] io::Error),
    #[error("a stanza is larger than {limit} bytes; the file is not a Packages list")]
    StanzaTooLarge { limit: usize },
    #[error("stanza {index} has no Package field")]
    NoPackageField { index: usize },
}

/// One binary package version offered by a list, borrowed from the stanza being scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
}

const CHUNK: usize = 256 * 1024;
/// Real stanzas are a few kilobytes; anything this large means the input is not a Packages list.
const MAX_STANZA: usize = 8 * 1024 * 1024;

/// Opens a list file with the decoder its compression needs, buffered so stanzas can be scanned in place.
pub fn open(path: &Path, compression: Compression) -> io::Result<Box<dyn BufRead>> {
    let file = File::open(path)?;
    Ok(match compression {
        Compression::None => Box::new(BufReader::with_capacity(CHUNK, file)),
        // The lz4 frame decoder hands out each decompressed block from its own buffer: no extra copy.
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(file)),
        Compression::Gzip => Box::new(BufReader::with_capacity(CHUNK, flate2::read::MultiGzDecoder::new(file))),
        Compression::Xz => Box::new(BufReader::with_capacity(CHUNK, liblzma::read::XzDecoder::new_multi_decoder(file))),
    })
}

/// Calls `visit` for every stanza whose package name `wanted` accepts, with its version and architecture.
///
/// Stanzas are scanned inside the reader's own buffer; only a stanza cut by a buffer boundary is copied. Stanzas
/// of unwanted packages cost one name comparison. A wanted stanza without `Version` or `Architecture` is passed
/// over the same way apt ignores it.
pub fn scan(
    mut reader: impl BufRead,
    mut wanted: impl FnMut(&[u8]) -> bool,
    mut visit: impl FnMut(Offered<'_>),
) -> Result<(), ListError> {
    let finder = memchr::memmem::Finder::new(b"\n\n");
    let mut carry: Vec<u8> = Vec::new();
    let mut index = 0;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if chunk.is_empty() {
            scan_complete(&finder, &carry, true, &mut index, &mut wanted, &mut visit)?;
            return Ok(());
        }
        let len = chunk.len();
        let mut start = 0;
        if !carry.is_empty() {
            // The blank line ending the carried stanza may itself straddle the boundary.
            let end =
                if carry.ends_with(b"\n") && chunk[0] == b'\n' { Some(0) } else { finder.find(chunk).map(|i| i + 1) };
            match end {
                Some(end) => {
                    carry.extend_from_slice(&chunk[..end]);
                    stanza(&carry, index, &mut wanted, &mut visit)?;
                    index += 1;
                    carry.clear();
                    start = end;
                }
                None => {
                    if carry.len() + len > MAX_STANZA {
                        return Err(ListError::StanzaTooLarge { limit: MAX_STANZA });
                    }
                    carry.extend_from_slice(chunk);
                    reader.consume(len);
                    continue;
                }
            }
        }
        let used = start + scan_complete(&finder, &chunk[start..], false, &mut index, &mut wanted, &mut visit)?;
        carry.extend_from_slice(&chunk[used..]);
        reader.consume(len);
    }
}

/// Handles every stanza that is known to be complete and returns how many bytes were used.
fn scan_complete(
    finder: &memchr::memmem::Finder<'_>,
    data: &[u8],
    at_end: bool,
    index: &mut usize,
    wanted: &mut impl FnMut(&[u8]) -> bool,
    visit: &mut impl FnMut(Offered<'_>),
) -> Result<usize, ListError> {
    let mut start = 0;
    loop {
        while data.get(start) == Some(&b'\n') {
            start += 1;
        }
        let end = match finder.find(&data[start..]) {
            Some(offset) => start + offset + 1,
            None if at_end && start < data.len() => data.len(),
            None => return Ok(start),
        };
        stanza(&data[start..end], *index, wanted, visit)?;
        *index += 1;
        start = end;
    }
}

fn stanza(
    text: &[u8],
    index: usize,
    wanted: &mut impl FnMut(&[u8]) -> bool,
    visit: &mut impl FnMut(Offered<'_>),
) -> Result<(), ListError> {
    let name = match text.strip_prefix(b"Package:") {
        Some(rest) => line_value(rest),
        None => field(text, b"Package").ok_or(ListError::NoPackageField { index })?,
    };
    if !wanted(name) {
        return Ok(());
    }
    let Ok(name) = std::str::from_utf8(name) else { return Ok(()) };
    let version = field(text, b"Version").and_then(|v| std::str::from_utf8(v).ok());
    let arch = field(text, b"Architecture").and_then(|v| std::str::from_utf8(v).ok());
    if let (Some(version), Some(arch)) = (version, arch) {
        visit(Offered { name, version, arch });
    }
    Ok(())
}

/// The single-line value of `name` in a stanza; field names are matched case-sensitively as apt writes them.
pub fn field<'a>(text: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut at = 0;
    while at < text.len() {
        let line_end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |i| at + i);
        let line = &text[at..line_end];
        if let Some(rest) = line.strip_prefix(name)
            && let Some(value) = rest.strip_prefix(b":")
        {
            return Some(trim(value));
        }
        at = line_end + 1;
    }
    None
}

fn line_value(rest: &[u8]) -> &[u8] {
    let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    trim(&rest[..end])
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8]) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        scan(data, |name| name != b"skipped", |o| out.push((o.name.into(), o.version.into(), o.arch.into()))).unwrap();
        out
    }

    #[test]
    fn stanzas_split_across_reads_are_joined() {
        let text = b"Package: a\nVersion: 1\nArchitecture: all\n\nPackage: skipped\nVersion: 2\n\n\n\
                     Package: b\nDescription: x\n more\nVersion: 1:2-3\nArchitecture: amd64\n";
        let expected =
            vec![("a".to_string(), "1".to_string(), "all".to_string()), ("b".into(), "1:2-3".into(), "amd64".into())];
        assert_eq!(collect(text), expected);
        // Every buffer size cuts the stanzas, and their blank lines, at every possible place.
        for capacity in 1..=text.len() {
            let mut out = Vec::new();
            let reader = BufReader::with_capacity(capacity, &text[..]);
            scan(reader, |n| n != b"skipped", |o| out.push((o.name.into(), o.version.into(), o.arch.into()))).unwrap();
            assert_eq!(out, expected, "capacity {capacity}");
        }
    }

    #[test]
    fn a_stanza_without_package_is_an_error() {
        let err = scan(&b"Version: 1\n\n"[..], |_| true, |_| {}).unwrap_err();
        assert!(matches!(err, ListError::NoPackageField { index: 0 }));
    }
}

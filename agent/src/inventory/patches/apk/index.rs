//! Alpine's repository index, `APKINDEX.tar.gz`: gzip streams (the signature, then the index) that together form
//! one tar archive whose `APKINDEX` member is a blank-line-separated list of `X:value` stanzas.

use std::io::{BufRead, BufReader, Read};

/// Why an index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the archive has no APKINDEX member")]
    NoIndex,
    #[error("{0} stanza(s) without a name and version")]
    Stanzas(usize),
}

/// One package the index offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
}

/// Reads the `APKINDEX` member of an `APKINDEX.tar.gz` and returns the packages whose name `wanted` accepts.
pub fn read(archive: impl Read, wanted: impl Fn(&str) -> bool) -> Result<Vec<Offered>, IndexError> {
    let gz = flate2::read::MultiGzDecoder::new(BufReader::new(archive));
    let mut tar = tar::Archive::new(gz);
    for entry in tar.entries()? {
        let entry = entry?;
        if entry.path_bytes().as_ref() == b"APKINDEX" {
            return parse(BufReader::new(entry), wanted);
        }
    }
    Err(IndexError::NoIndex)
}

/// Parses the text of an `APKINDEX` member.
pub fn parse(input: impl BufRead, wanted: impl Fn(&str) -> bool) -> Result<Vec<Offered>, IndexError> {
    let mut out = Vec::new();
    let mut broken = 0usize;
    let (mut name, mut version, mut arch): (Option<String>, Option<String>, Option<String>) = (None, None, None);
    let mut lines = 0usize;
    let mut finish = |name: &mut Option<String>, version: &mut Option<String>, arch: &mut Option<String>, lines| {
        match (name.take(), version.take()) {
            (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => {
                out.extend(wanted(&n).then(|| Offered { name: n, version: v, arch: arch.take() }));
            }
            _ if lines > 0 => broken += 1,
            _ => {}
        }
        *arch = None;
    };
    for line in input.lines() {
        let line = line?;
        let line = line.trim_end();
        if line.is_empty() {
            finish(&mut name, &mut version, &mut arch, lines);
            lines = 0;
            continue;
        }
        lines += 1;
        match line.split_once(':') {
            Some(("P", value)) => name = Some(value.to_string()),
            Some(("V", value)) => version = Some(value.to_string()),
            Some(("A", value)) => arch = Some(value.to_string()),
            _ => {}
        }
    }
    finish(&mut name, &mut version, &mut arch, lines);
    if broken > 0 {
        return Err(IndexError::Stanzas(broken));
    }
    Ok(out)
}

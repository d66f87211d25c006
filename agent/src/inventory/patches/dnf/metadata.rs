//! rpm-md repository metadata as dnf, yum and zypper cache it: `repomd.xml`, `primary.xml` and `updateinfo.xml`,
//! each possibly compressed (gz, xz, zst, bz2), read as a stream with quick-xml so a 100 MB primary never sits in
//! memory.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Why a metadata file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("XML error at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// One package version offered by a repository (or named by an advisory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nevra {
    pub name: String,
    pub arch: String,
    pub epoch: Option<String>,
    pub version: String,
    pub release: String,
}

impl Nevra {
    /// `[epoch:]version-release` as dnf prints it: a zero epoch is left out.
    pub fn evr(&self) -> String {
        match self.epoch.as_deref() {
            Some(epoch) if !epoch.is_empty() && epoch.bytes().any(|b| b != b'0') => {
                format!("{epoch}:{}-{}", self.version, self.release)
            }
            _ => format!("{}-{}", self.version, self.release),
        }
    }
}

/// One `<data type=…>` entry of `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRef {
    pub kind: String,
    pub href: String,
}

/// An `<update>` of `updateinfo.xml`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Advisory {
    pub id: String,
    pub kind: String,
    pub severity: Option<String>,
    pub packages: Vec<Nevra>,
}

/// Opens a metadata file, decompressing by its suffix as librepo does.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>, MetadataError> {
    let file = File::open(path)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let reader: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else if name.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(BufReader::new(file)))
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file)?)
    } else if name.ends_with(".bz2") {
        Box::new(bzip2::read::MultiBzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(64 * 1024, reader)))
}

/// The data files `repomd.xml` lists, by type (`primary`, `primary_db`, `updateinfo`, …).
pub fn parse_repomd(input: impl BufRead) -> Result<Vec<DataRef>, MetadataError> {
    let mut out = Vec::new();
    let mut kind: Option<String> = None;
    walk(input, |event| {
        match event {
            Node::Start(e) if e.local_name().as_ref() == "data" => kind = attr(e, "type")?,
            Node::Start(e) if e.local_name().as_ref() == "location" => {
                if let (Some(kind), Some(href)) = (kind.clone(), attr(e, "href")?) {
                    out.push(DataRef { kind, href });
                }
            }
            Node::End("data") => kind = None,
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

/// Calls `found` with every `type="rpm"` package of a `primary.xml` whose name `wanted` accepts.
pub fn scan_primary(
    input: impl BufRead,
    wanted: impl Fn(&str) -> bool,
    mut found: impl FnMut(Nevra),
) -> Result<(), MetadataError> {
    let mut current: Option<Nevra> = None;
    let mut field: Option<Field> = None;
    let mut text = String::new();
    walk(input, |event| {
        match event {
            Node::Start(e) => match (e.local_name().as_ref(), current.as_mut()) {
                ("package", _) => {
                    current = (attr(e, "type")?.as_deref().unwrap_or("rpm") == "rpm").then(empty_nevra);
                }
                ("name", Some(_)) => (field, text) = (Some(Field::Name), String::new()),
                ("arch", Some(_)) => (field, text) = (Some(Field::Arch), String::new()),
                ("version", Some(package)) => {
                    package.epoch = attr(e, "epoch")?;
                    package.version = attr(e, "ver")?.unwrap_or_default();
                    package.release = attr(e, "rel")?.unwrap_or_default();
                }
                _ => {}
            },
            Node::Text(t) if field.is_some() => text.push_str(&t),
            Node::End(name) => match (name, current.as_mut(), field) {
                ("name", Some(package), Some(Field::Name)) => (package.name, field) = (std::mem::take(&mut text), None),
                ("arch", Some(package), Some(Field::Arch)) => (package.arch, field) = (std::mem::take(&mut text), None),
                ("package", ..) => {
                    if let Some(package) = current.take()
                        && !package.name.is_empty()
                        && wanted(&package.name)
                    {
                        found(package);
                    }
                }
                _ => {}
            },
            _ => {}
        }
        Ok(())
    })
}

/// Every advisory of an `updateinfo.xml` with the packages its collections list.
pub fn parse_updateinfo(input: impl BufRead) -> Result<Vec<Advisory>, MetadataError> {
    let mut out = Vec::new();
    let mut current: Option<Advisory> = None;
    let mut field: Option<Field> = None;
    let mut text = String::new();
    walk(input, |event| {
        match event {
            Node::Start(e) => match (e.local_name().as_ref(), current.as_mut()) {
                ("update", _) => {
                    current = Some(Advisory { kind: attr(e, "type")?.unwrap_or_default(), ..Advisory::default() });
                }
                ("id", Some(_)) => (field, text) = (Some(Field::Id), String::new()),
                ("severity", Some(_)) => (field, text) = (Some(Field::Severity), String::new()),
                ("package", Some(advisory)) => advisory.packages.push(Nevra {
                    name: attr(e, "name")?.unwrap_or_default(),
                    arch: attr(e, "arch")?.unwrap_or_default(),
                    epoch: attr(e, "epoch")?,
                    version: attr(e, "version")?.unwrap_or_default(),
                    release: attr(e, "release")?.unwrap_or_default(),
                }),
                _ => {}
            },
            Node::Text(t) if field.is_some() => text.push_str(&t),
            Node::End(name) => match (name, current.as_mut(), field) {
                ("id", Some(advisory), Some(Field::Id)) => {
                    (advisory.id, field) = (std::mem::take(&mut text).trim().to_string(), None);
                }
                ("severity", Some(advisory), Some(Field::Severity)) => {
                    let severity = std::mem::take(&mut text).trim().to_string();
                    advisory.severity = (!severity.is_empty()).then_some(severity);
                    field = None;
                }
                ("update", ..) => out.extend(current.take().filter(|a| !a.id.is_empty())),
                _ => {}
            },
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Arch,
    Id,
    Severity,
}

fn empty_nevra() -> Nevra {
    Nevra { name: String::new(), arch: String::new(), epoch: None, version: String::new(), release: String::new() }
}

/// What the walkers see: start tags (empty elements arrive as a start and an end), end tags by local name, and
/// text with entity and character references already resolved.
enum Node<'a, 'b> {
    Start(&'a BytesStart<'b>),
    End(&'a str),
    Text(Cow<'a, str>),
}

fn walk(
    input: impl BufRead,
    mut visit: impl FnMut(Node<'_, '_>) -> Result<(), MetadataError>,
) -> Result<(), MetadataError> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::with_capacity(4096);
    // A file cut short between two elements parses without an XML error; an unclosed root tells it apart.
    let mut depth = 0usize;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|err| MetadataError::Xml { position: reader.error_position(), message: err.to_string() })?;
        match &event {
            Event::Start(e) => {
                depth += 1;
                visit(Node::Start(e))?;
            }
            Event::Empty(e) => {
                visit(Node::Start(e))?;
                let name = e.local_name();
                visit(Node::End(name.as_ref()))?;
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                let name = e.local_name();
                visit(Node::End(name.as_ref()))?;
            }
            Event::Text(t) => visit(Node::Text(t.xml_content(XmlVersion::Implicit1_0)))?,
            Event::CData(t) => visit(Node::Text(t.xml_content(XmlVersion::Implicit1_0)))?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    _ => resolve_predefined_entity(r).map(str::to_string),
                };
                let resolved =
                    resolved.ok_or_else(|| MetadataError::Invalid(format!("unknown entity reference &{};", &**r)))?;
                visit(Node::Text(Cow::Owned(resolved)))?;
            }
            Event::Eof if depth > 0 => {
                return Err(MetadataError::Invalid("the document ends before its elements are closed".to_string()));
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, MetadataError> {
    for attribute in e.attributes() {
        let attribute = attribute.map_err(|err| MetadataError::Invalid(err.to_string()))?;
        if attribute.key.local_name().as_ref() == name {
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| MetadataError::Invalid(err.to_string()))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rpm-md").join(rel)
    }

    /// Every package of CentOS Stream 9's BaseOS primary, as libsolv's `rpmmd2solv | dumpsolv` reads it.
    #[test]
    fn centos_stream_9_primary_equals_libsolv() {
        let dir = testdata("centos-stream-9-baseos");
        let refs = parse_repomd(open(&dir.join("repodata/repomd.xml")).unwrap()).unwrap();
        let primary = refs.iter().find(|r| r.kind == "primary").unwrap();
        let mut ours = Vec::new();
        scan_primary(
            open(&dir.join(&primary.href)).unwrap(),
            |_| true,
            |n| {
                ours.push(format!("{} {} {}", n.name, n.evr(), n.arch));
            },
        )
        .unwrap();
        ours.sort();
        let expected = std::fs::read_to_string(dir.join("expected.libsolv.txt")).unwrap();
        let expected: Vec<&str> = expected.lines().collect();
        assert_eq!(ours.len(), 1125);
        assert_eq!(ours, expected);
    }

    /// A zstd-compressed primary as a newer createrepo_c writes it.
    #[test]
    fn zstd_primary() {
        let dir = testdata("osbuild-custom");
        let refs = parse_repomd(open(&dir.join("repodata/repomd.xml")).unwrap()).unwrap();
        let href = &refs.iter().find(|r| r.kind == "primary").unwrap().href;
        assert!(href.ends_with(".xml.zst"));
        let mut found = Vec::new();
        scan_primary(open(&dir.join(href)).unwrap(), |_| true, |n| found.push(n)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].name.as_str(), found[0].evr(), found[0].arch.as_str()),
            ("pkg-with-no-deps", "1.0.0-0".to_string(), "noarch")
        );
    }

    #[test]
    fn damaged_input_is_an_error() {
        let dir = testdata("centos-stream-9-baseos/repodata");
        let text = std::fs::read_to_string(dir.join("repomd.xml")).unwrap();
        let cut = &text[..text.find("<location").unwrap() + 12];
        assert!(parse_repomd(cut.as_bytes()).is_err());
        assert!(parse_updateinfo(&b"<updates><update type=\"security\"><id>X</id></updates>"[..]).is_err());
    }
}

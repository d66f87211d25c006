//! Reading OSV records from files, directories, archives and upload streams, one record at a time.
//!
//! Memory stays bounded by the largest single record (JSONL line or `.json` document), never by the input size:
//! compressed streams are decoded as they are read and records go straight into the [`AdvisoryDb`].

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, SeqAccess, Visitor};

use super::db::EolImport;
use super::db::{AdvisoryDb, ChangedKeys, ImportSummary};
use super::kev::KevCatalog;
use super::osv::RawRecord;
use crate::rules::eol::EolData;

/// Bounds on what one import may read; uploads through the API use [`ImportLimits::upload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLimits {
    /// Largest raw (possibly compressed) input accepted.
    pub max_input_bytes: Option<u64>,
    /// Largest total decompressed size, against compression bombs.
    pub max_decompressed_bytes: Option<u64>,
    /// Largest single JSONL line or `.json` document.
    pub max_record_bytes: u64,
}

impl ImportLimits {
    /// For files an administrator names on the command line.
    pub fn files() -> Self {
        Self { max_input_bytes: None, max_decompressed_bytes: None, max_record_bytes: 256 << 20 }
    }

    /// For `POST /api/v1/advisories`.
    pub fn upload() -> Self {
        Self { max_input_bytes: Some(512 << 20), max_decompressed_bytes: Some(4 << 30), max_record_bytes: 64 << 20 }
    }
}

/// Where an import stands, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The file (or archive member) being read.
    pub input: String,
    /// Raw bytes read so far over all inputs.
    pub bytes_read: u64,
    /// Raw bytes of all inputs, when known.
    pub bytes_total: Option<u64>,
    pub records: u64,
}

/// Why one input could not be read to the end.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {input}: {source}")]
    Io { input: String, source: io::Error },
    #[error("{input}: not an advisory file (expected .json, .jsonl, .gz, .xz, .zst or .zip)")]
    UnknownFormat { input: String },
    #[error("{input}: record at line {line} is larger than {limit} bytes")]
    RecordTooLarge { input: String, line: u64, limit: u64 },
    #[error("{input}: invalid JSON: {source}")]
    Json { input: String, source: serde_json::Error },
    #[error("{input}: invalid KEV catalog: {source}")]
    Kev { input: String, source: super::kev::KevError },
    #[error("{input}: invalid zip archive: {source}")]
    Zip { input: String, source: zip::result::ZipError },
}

/// The summary plus the (ecosystem, package) keys whose advisories changed, for incremental re-matching.
#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub summary: ImportSummary,
    pub changed: ChangedKeys,
}

/// Imports files and directories (recursively) of advisories. Inputs that fail are listed in
/// `summary.errors`; the others are still imported.
pub fn import_paths<P: AsRef<Path>>(
    db: &mut AdvisoryDb,
    paths: &[P],
    limits: &ImportLimits,
    progress: &mut dyn FnMut(&Progress),
) -> ImportOutcome {
    let mut files = Vec::new();
    let mut imp = Importer::new(db, limits, progress);
    for path in paths {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                if let Err(e) = walk(path, 0, &mut files, &mut imp.summary) {
                    imp.fail(ImportError::Io { input: path.display().to_string(), source: e });
                }
            }
            Ok(m) => files.push((path.to_path_buf(), m.len(), true)),
            Err(e) => imp.fail(ImportError::Io { input: path.display().to_string(), source: e }),
        }
    }
    imp.bytes_total = Some(files.iter().map(|f| f.1).sum());
    for (path, _, explicit) in files {
        let name = path.display().to_string();
        if classify(&name).is_none() && !explicit {
            imp.summary.skipped_files += 1;
            continue;
        }
        if let Err(e) = imp.read_file(&path, &name) {
            imp.fail(e);
        }
        imp.finish_input();
    }
    imp.report();
    imp.outcome()
}

/// Imports one stream named `name` (its extension selects the format), e.g. an API upload body.
pub fn import_stream(
    db: &mut AdvisoryDb,
    name: &str,
    reader: impl Read,
    size_hint: Option<u64>,
    limits: &ImportLimits,
    progress: &mut dyn FnMut(&Progress),
) -> ImportOutcome {
    let mut imp = Importer::new(db, limits, progress);
    imp.bytes_total = size_hint;
    let raw = Counted::new(reader, imp.raw.clone(), limits.max_input_bytes, "input");
    let result = match classify(name) {
        Some((Compression::None, Container::Zip)) => imp.read_zip_stream(name, raw),
        Some(_) => imp.read_stream(name, raw),
        None => Err(ImportError::UnknownFormat { input: name.to_owned() }),
    };
    if let Err(e) = result {
        imp.fail(e);
    }
    imp.finish_input();
    imp.report();
    imp.outcome()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Lines,
    Document,
    Zip,
}

fn classify(name: &str) -> Option<(Compression, Container)> {
    let lower = name.to_ascii_lowercase();
    let (compression, inner) = [(".gz", Compression::Gzip), (".xz", Compression::Xz), (".zst", Compression::Zstd)]
        .into_iter()
        .find_map(|(ext, c)| lower.strip_suffix(ext).map(|inner| (c, inner)))
        .unwrap_or((Compression::None, lower.as_str()));
    if inner.ends_with(".jsonl") || inner.ends_with(".ndjson") {
        Some((compression, Container::Lines))
    } else if inner.ends_with(".json") {
        Some((compression, Container::Document))
    } else if inner.ends_with(".zip") && compression == Compression::None {
        Some((compression, Container::Zip))
    } else {
        None
    }
}

fn walk(dir: &Path, depth: u32, files: &mut Vec<(PathBuf, u64, bool)>, summary: &mut ImportSummary) -> io::Result<()> {
    // Deep enough for any export layout; stops symlink loops.
    if depth > 32 {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let meta = std::fs::metadata(&path)?;
        if meta.is_dir() {
            walk(&path, depth + 1, files, summary)?;
        } else if classify(&path.display().to_string()).is_some() {
            files.push((path, meta.len(), false));
        } else {
            summary.skipped_files += 1;
        }
    }
    Ok(())
}

struct Importer<'a> {
    db: &'a mut AdvisoryDb,
    limits: &'a ImportLimits,
    progress: &'a mut dyn FnMut(&Progress),
    summary: ImportSummary,
    changed: ChangedKeys,
    /// Raw bytes read from the current input, updated by [`Counted`].
    raw: Rc<Cell<u64>>,
    /// Raw bytes of the inputs already finished.
    done: u64,
    bytes_total: Option<u64>,
    decompressed: Rc<Cell<u64>>,
    input: String,
}

impl<'a> Importer<'a> {
    fn new(db: &'a mut AdvisoryDb, limits: &'a ImportLimits, progress: &'a mut dyn FnMut(&Progress)) -> Self {
        Self {
            db,
            limits,
            progress,
            summary: ImportSummary::default(),
            changed: ChangedKeys::default(),
            raw: Rc::default(),
            done: 0,
            bytes_total: None,
            decompressed: Rc::default(),
            input: String::new(),
        }
    }

    fn outcome(self) -> ImportOutcome {
        ImportOutcome { summary: self.summary, changed: self.changed }
    }

    fn fail(&mut self, e: ImportError) {
        self.summary.errors.push(e.to_string());
    }

    fn finish_input(&mut self) {
        self.done += self.raw.replace(0);
        self.summary.bytes = self.done;
    }

    fn report(&mut self) {
        let p = Progress {
            input: self.input.clone(),
            bytes_read: self.done + self.raw.get(),
            bytes_total: self.bytes_total,
            records: self.summary.records_read,
        };
        (self.progress)(&p);
    }

    fn read_file(&mut self, path: &Path, name: &str) -> Result<(), ImportError> {
        let io_err = |source| ImportError::Io { input: name.to_owned(), source };
        let file = File::open(path).map_err(io_err)?;
        self.summary.files += 1;
        let raw = Counted::new(file, self.raw.clone(), self.limits.max_input_bytes, "input");
        match classify(name) {
            Some((Compression::None, Container::Zip)) => self.read_zip(name, raw),
            Some(_) => self.read_stream(name, raw),
            None => Err(ImportError::UnknownFormat { input: name.to_owned() }),
        }
    }

    fn read_zip_stream(&mut self, name: &str, mut raw: impl Read) -> Result<(), ImportError> {
        self.summary.files += 1;
        let mut bytes = Vec::new();
        raw.read_to_end(&mut bytes).map_err(|source| ImportError::Io { input: name.to_owned(), source })?;
        self.read_zip(name, io::Cursor::new(bytes))
    }

    fn read_zip<R: Read + io::Seek>(&mut self, name: &str, raw: R) -> Result<(), ImportError> {
        let zip_err = |source| ImportError::Zip { input: name.to_owned(), source };
        let mut archive = zip::ZipArchive::new(raw).map_err(zip_err)?;
        for i in 0..archive.len() {
            let entry = archive.by_index(i).map_err(zip_err)?;
            if entry.is_dir() {
                continue;
            }
            let member = format!("{name}!{}", entry.name().map_err(zip_err)?);
            match classify(&member) {
                Some((_, Container::Zip)) | None => self.summary.skipped_files += 1,
                Some(_) => self.read_stream(&member, entry)?,
            }
        }
        Ok(())
    }

    /// Decompresses by extension and reads JSONL or a JSON document.
    fn read_stream<'r, R: Read + 'r>(&mut self, name: &str, raw: R) -> Result<(), ImportError> {
        self.input = name.to_owned();
        let io_err = |source| ImportError::Io { input: name.to_owned(), source };
        let Some((compression, container)) = classify(name) else {
            return Err(ImportError::UnknownFormat { input: name.to_owned() });
        };
        let decoded: Box<dyn Read + 'r> = match compression {
            Compression::None => Box::new(raw),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(raw)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(raw).map_err(io_err)?),
        };
        let limited =
            Counted::new(decoded, self.decompressed.clone(), self.limits.max_decompressed_bytes, "decompressed data");
        match container {
            Container::Lines => self.read_lines(name, limited),
            Container::Document => self.read_document(name, limited),
            Container::Zip => Err(ImportError::UnknownFormat { input: name.to_owned() }),
        }
    }

    fn read_lines(&mut self, name: &str, r: impl Read) -> Result<(), ImportError> {
        let mut r = BufReader::with_capacity(1 << 18, r);
        let limit = self.limits.max_record_bytes;
        let mut buf = Vec::new();
        let mut line = 0u64;
        loop {
            buf.clear();
            let n = (&mut r)
                .take(limit + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|source| ImportError::Io { input: name.to_owned(), source })?;
            if n == 0 {
                return Ok(());
            }
            line += 1;
            if buf.len() as u64 > limit {
                return Err(ImportError::RecordTooLarge { input: name.to_owned(), line, limit });
            }
            let text = buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let parsed = serde_json::from_slice::<RawRecord<'_>>(text);
            self.record(name, line, parsed);
        }
    }

    fn read_document(&mut self, name: &str, r: impl Read) -> Result<(), ImportError> {
        let limit = self.limits.max_record_bytes;
        let mut bytes = Vec::new();
        r.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| ImportError::Io { input: name.to_owned(), source })?;
        if bytes.len() as u64 > limit {
            return Err(ImportError::RecordTooLarge { input: name.to_owned(), line: 1, limit });
        }
        let json_err = |source| ImportError::Json { input: name.to_owned(), source };
        match bytes.trim_ascii_start().first() {
            Some(b'[') => {
                let mut de = serde_json::Deserializer::from_slice(&bytes);
                RecordSeq { imp: self, name }.deserialize(&mut de).map_err(json_err)?;
                de.end().map_err(json_err)
            }
            Some(b'{') => {
                #[derive(Deserialize)]
                struct Probe {
                    #[serde(rename = "catalogVersion")]
                    catalog_version: Option<IgnoredAny>,
                    id: Option<IgnoredAny>,
                }
                let probe: Probe = serde_json::from_slice(&bytes).map_err(json_err)?;
                if probe.catalog_version.is_some() {
                    let kev = KevCatalog::parse(&bytes)
                        .map_err(|source| ImportError::Kev { input: name.to_owned(), source })?;
                    self.summary.kev_entries += kev.len() as u64;
                    let changed = self.db.set_kev(kev);
                    self.changed.extend(changed);
                    return Ok(());
                }
                // An object without an id that reads as endoflife.date product data is that, not a record.
                if probe.id.is_none()
                    && let Some((text, data)) =
                        std::str::from_utf8(&bytes).ok().and_then(|t| Some((t, EolData::parse(t).ok()?)))
                {
                    self.summary.eol_products += data.product_count() as u64;
                    self.db.set_eol(EolImport {
                        input: name.to_owned(),
                        text: text.to_owned(),
                        products: data.product_count(),
                    });
                    return Ok(());
                }
                let parsed = serde_json::from_slice::<RawRecord<'_>>(&bytes);
                self.record(name, 1, parsed);
                Ok(())
            }
            _ => {
                self.summary.skip_record("invalid JSON record", || format!("{name}: not a JSON object or array"));
                Ok(())
            }
        }
    }

    fn record(&mut self, name: &str, line: u64, parsed: Result<RawRecord<'_>, serde_json::Error>) {
        self.summary.records_read += 1;
        match parsed {
            Ok(raw) if raw.id.as_str().trim().is_empty() => {
                self.summary.skip_record("record without id", || format!("{name}:{line}: empty id"));
            }
            Ok(raw) => {
                self.db.ingest(raw, &mut self.summary, &mut self.changed);
            }
            Err(e) => self.summary.skip_record("invalid JSON record", || format!("{name}:{line}: {e}")),
        }
        if self.summary.records_read.is_multiple_of(2048) {
            self.report();
        }
    }
}

/// Feeds each element of a top-level JSON array to the importer as it is parsed.
struct RecordSeq<'i, 'a> {
    imp: &'i mut Importer<'a>,
    name: &'i str,
}

impl<'de> DeserializeSeed<'de> for RecordSeq<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordSeq<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of OSV records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(record) = seq.next_element::<RawRecord<'de>>()? {
            index += 1;
            self.imp.record(self.name, index, Ok(record));
        }
        Ok(())
    }
}

/// Counts bytes into a shared cell and fails once a limit is passed.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
    limit: Option<u64>,
    what: &'static str,
}

impl<R> Counted<R> {
    fn new(inner: R, count: Rc<Cell<u64>>, limit: Option<u64>, what: &'static str) -> Self {
        Self { inner, count, limit, what }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.count.get() + n as u64;
        self.count.set(total);
        if let Some(limit) = self.limit.filter(|l| total > *l) {
            return Err(io::Error::other(format!("{} exceeds the limit of {limit} bytes", self.what)));
        }
        Ok(n)
    }
}

impl<R: io::Seek> io::Seek for Counted<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_extension() {
        assert_eq!(classify("a/DSA-1.json"), Some((Compression::None, Container::Document)));
        assert_eq!(classify("all.jsonl.xz"), Some((Compression::Xz, Container::Lines)));
        assert_eq!(classify("x.JSON.GZ"), Some((Compression::Gzip, Container::Document)));
        assert_eq!(classify("x.ndjson.zst"), Some((Compression::Zstd, Container::Lines)));
        assert_eq!(classify("all.zip"), Some((Compression::None, Container::Zip)));
        assert_eq!(classify("all.zip.gz"), None);
        assert_eq!(classify("README.md"), None);
    }
}

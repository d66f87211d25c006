//! Java archives (JAR, WAR, EAR): the Maven artifacts they carry, from `META-INF/maven/<groupId>/<artifactId>/
//! pom.properties` (one per artifact: a shaded JAR carries several), named `groupId:artifactId` as OSV's Maven
//! ecosystem names them, and the archives nested one level down (`WEB-INF/lib/*.jar`, `BOOT-INF/lib/*.jar`).
//!
//! An archive without any `pom.properties` falls back to its `META-INF/MANIFEST.MF`: `Bundle-SymbolicName` and
//! `Bundle-Version`, else `Implementation-Title` and `Implementation-Version`. Such a name has no `:` and is no
//! Maven coordinate, so it is listed but matches no Maven advisory.

use std::io::{Cursor, Read, Seek};

use super::Parsed;

/// One artifact found in an archive; `nested` names the inner archive it is in, if it is in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub nested: Option<String>,
    pub parsed: Parsed,
}

/// What one archive yielded: its artifacts and the problems met in nested archives (the outer one was read).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ArchiveContents {
    pub artifacts: Vec<Artifact>,
    pub problems: Vec<String>,
    /// Entries in the archive and its nested archives, for the scan's entry budget.
    pub entries: usize,
}

/// True for the file names read as Java archives.
pub fn is_archive_name(name: &str) -> bool {
    [".jar", ".war", ".ear"].iter().any(|ext| name.len() > ext.len() && name.ends_with(ext))
}

/// Reads a Java archive: metadata entries of at most `max_bytes` each, nested archives of at most `max_nested`
/// bytes (they are read into memory). An error when the archive itself cannot be read; a nested archive that
/// cannot is one of the contents' problems.
pub fn read_archive<R: Read + Seek>(reader: R, max_bytes: u64, max_nested: u64) -> Result<ArchiveContents, String> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| format!("zip: {e}"))?;
    let mut out = ArchiveContents { entries: archive.len(), ..ArchiveContents::default() };
    let names = entry_names(&archive);
    out.artifacts.extend(own_artifacts(&mut archive, &names, max_bytes, None));
    for name in names.iter().filter(|n| is_archive_name(n)) {
        let inner = match read_nested(&mut archive, name, max_nested) {
            Ok(bytes) => zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("{name}: zip: {e}")),
            Err(problem) => Err(problem),
        };
        match inner {
            Ok(mut inner) => {
                out.entries += inner.len();
                let inner_names = entry_names(&inner);
                out.artifacts.extend(own_artifacts(&mut inner, &inner_names, max_bytes, Some(name)));
            }
            Err(problem) => out.problems.push(problem),
        }
    }
    Ok(out)
}

/// The archive's entry names, sorted so the artifacts come in the same order on every run.
fn entry_names<R: Read + Seek>(archive: &zip::ZipArchive<R>) -> Vec<String> {
    let mut names: Vec<String> = archive.file_names().filter_map(Result::ok).map(|n| n.into_owned()).collect();
    names.sort();
    names
}

/// The artifacts an archive describes itself (not those of archives nested in it).
fn own_artifacts<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    names: &[String],
    max_bytes: u64,
    nested: Option<&str>,
) -> Vec<Artifact> {
    let poms: Vec<&String> = names.iter().filter(|n| is_pom_properties(n)).collect();
    let mut own: Vec<Parsed> = poms
        .iter()
        .filter_map(|n| read_entry(archive, n, max_bytes))
        .filter_map(|d| parse_pom_properties(&d))
        .collect();
    if poms.is_empty()
        && let Some(parsed) = read_entry(archive, "META-INF/MANIFEST.MF", max_bytes).and_then(|d| parse_manifest(&d))
    {
        own.push(parsed);
    }
    own.into_iter().map(|parsed| Artifact { nested: nested.map(str::to_string), parsed }).collect()
}

fn is_pom_properties(name: &str) -> bool {
    name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties")
}

/// An entry's first `max_bytes` bytes; `None` when it is absent or unreadable.
fn read_entry<R: Read + Seek>(archive: &mut zip::ZipArchive<R>, name: &str, max_bytes: u64) -> Option<Vec<u8>> {
    let entry = archive.by_name(name).ok()?;
    let mut data = Vec::new();
    entry.take(max_bytes).read_to_end(&mut data).ok()?;
    Some(data)
}

/// A nested archive's bytes, when it is no larger than `max_nested`.
fn read_nested<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    max_nested: u64,
) -> Result<Vec<u8>, String> {
    let entry = archive.by_name(name).map_err(|e| format!("{name}: {e}"))?;
    let size = entry.size();
    if size > max_nested {
        return Err(format!("{name}: nested archive of {size} bytes is over the limit of {max_nested}"));
    }
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry.take(max_nested).read_to_end(&mut data).map_err(|e| format!("{name}: {e}"))?;
    Ok(data)
}

/// `groupId`, `artifactId` and `version` of a `pom.properties` (Java properties: `key=value` or `key: value`
/// lines, `#` and `!` comments), as `groupId:artifactId` and the version.
pub fn parse_pom_properties(data: &[u8]) -> Option<Parsed> {
    let text = String::from_utf8_lossy(data);
    let (mut group, mut artifact, mut version) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some(at) = line.find(['=', ':']) else { continue };
        let (key, value) = (line[..at].trim(), line[at + 1..].trim());
        match key {
            "groupId" => group = Some(value),
            "artifactId" => artifact = Some(value),
            "version" => version = Some(value),
            _ => {}
        }
    }
    let (group, artifact, version) = (group?, artifact?, version?);
    (!group.is_empty() && !artifact.is_empty() && !version.is_empty())
        .then(|| Parsed { name: format!("{group}:{artifact}"), version: version.to_string() })
}

/// The name and version a `MANIFEST.MF`'s main section states (continuation lines joined; OSGi attributes after
/// `;` dropped), when it states both.
pub fn parse_manifest(data: &[u8]) -> Option<Parsed> {
    let text = String::from_utf8_lossy(data);
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if let Some(more) = line.strip_prefix(' ') {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(more);
            }
        } else if let Some((key, value)) = line.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    let get = |key: &str| headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let bundle = get("Bundle-SymbolicName").and_then(|n| n.split(';').next()).map(str::trim);
    let (name, version) = match (bundle, get("Bundle-Version")) {
        (Some(name), Some(version)) => (name, version),
        _ => (get("Implementation-Title")?, get("Implementation-Version")?),
    };
    Some(Parsed { name: name.to_string(), version: version.to_string() })
}

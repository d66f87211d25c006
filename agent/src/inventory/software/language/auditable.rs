//! The dependency list `cargo auditable` embeds in a Rust binary (the `.dep-v0` section: zlib-compressed JSON,
//! `{"packages":[{"name","version","source",...}],"format":1}`).
//!
//! Only crates that came from crates.io are reported: a local or git crate of the same name is other code, and
//! crates.io's advisories would not apply to it.

use std::io::Read;

use serde::Deserialize;

use super::Parsed;

#[derive(Deserialize)]
struct VersionInfo {
    packages: Vec<AuditablePackage>,
}

#[derive(Deserialize)]
struct AuditablePackage {
    name: String,
    version: String,
    /// `crates.io`, `local`, `git`, `registry` or another string naming the source.
    #[serde(default)]
    source: serde_json::Value,
}

/// The crates.io crates listed in a `.dep-v0` section, decompressing at most `max_bytes` of JSON.
pub fn parse_cargo_auditable(section: &[u8], max_bytes: u64) -> Result<Vec<Parsed>, String> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(section)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut json)
        .map_err(|e| format!("zlib: {e}"))?;
    if json.len() as u64 > max_bytes {
        return Err(format!("dependency list over the limit of {max_bytes} bytes"));
    }
    let info: VersionInfo = serde_json::from_slice(&json).map_err(|e| format!("dependency list: {e}"))?;
    Ok(info
        .packages
        .into_iter()
        .filter(|p| p.source == "crates.io")
        .map(|p| Parsed { name: p.name, version: p.version })
        .collect())
}

//! A Node.js package's `package.json`: its `name` and `version`.

use serde::Deserialize;

use super::Parsed;

#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
}

/// Reads the package's name and version. A `package.json` without both (a workspace root, a build stub such as
/// `{"type": "module"}`) describes no installable package: `Ok(None)`.
pub fn parse_package_json(data: &[u8]) -> Result<Option<Parsed>, String> {
    let manifest: Manifest = serde_json::from_slice(data).map_err(|e| format!("not JSON: {e}"))?;
    Ok(match (manifest.name.filter(|n| !n.is_empty()), manifest.version.filter(|v| !v.is_empty())) {
        (Some(name), Some(version)) => Some(Parsed { name, version }),
        _ => None,
    })
}

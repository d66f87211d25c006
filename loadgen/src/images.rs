//! The OS images simulated hosts are made from: real `muster-agent inventory` captures compiled into the binary
//! (`testdata/images/`, sources in its README), or an operator's own capture given as a file.

use std::path::Path;

use muster_shared::v1::{Report, SCHEMA};

use crate::fleet::{Image, WeightedImage};

/// The built-in captures: name, JSON, default weight in the fleet mix.
const BUILT_IN: &[(&str, &str, u32)] = &[
    ("debian-12-server", include_str!("../testdata/images/debian-12-server.json"), 4),
    ("debian-12-apt", include_str!("../testdata/images/debian-12-apt.json"), 1),
    ("ubuntu-24.04", include_str!("../testdata/images/ubuntu-24.04.json"), 1),
    ("cbl-mariner-2.0", include_str!("../testdata/images/cbl-mariner-2.0.json"), 1),
    ("sles-15", include_str!("../testdata/images/sles-15.json"), 1),
    ("alpine-3.14", include_str!("../testdata/images/alpine-3.14.json"), 1),
];

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image `{0}` is neither a built-in image ({built_in}) nor a readable file", built_in = names().join(", "))]
    Unknown(String),
    #[error("image {name}: not a muster.v1 report: {reason}")]
    Invalid { name: String, reason: String },
    #[error("image weight in `{0}` must be a whole number from 1 to 1000")]
    BadWeight(String),
}

/// Names of the built-in images.
pub fn names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(name, _, _)| *name).collect()
}

/// Every built-in image with its default weight.
pub fn default_mix() -> Result<Vec<WeightedImage>, ImageError> {
    BUILT_IN
        .iter()
        .map(|(name, json, weight)| Ok(WeightedImage { image: parse(name, json)?, weight: *weight }))
        .collect()
}

/// `NAME[:WEIGHT]` or `PATH[:WEIGHT]`: a built-in image or a report file (`muster-agent inventory --output FILE`).
pub fn resolve(spec: &str) -> Result<WeightedImage, ImageError> {
    let (what, weight) = match spec.rsplit_once(':') {
        Some((what, w)) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => {
            let weight = w.parse::<u32>().ok().filter(|w| (1..=1000).contains(w));
            (what, weight.ok_or_else(|| ImageError::BadWeight(spec.to_string()))?)
        }
        _ => (spec, 1),
    };
    if let Some((name, json, _)) = BUILT_IN.iter().find(|(name, _, _)| *name == what) {
        return Ok(WeightedImage { image: parse(name, json)?, weight });
    }
    let path = Path::new(what);
    let json = std::fs::read_to_string(path).map_err(|_| ImageError::Unknown(what.to_string()))?;
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("custom");
    let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
    Ok(WeightedImage { image: parse(&name, &json)?, weight })
}

fn parse(name: &str, json: &str) -> Result<Image, ImageError> {
    let invalid = |reason: String| ImageError::Invalid { name: name.to_string(), reason };
    let report: Report = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
    if report.schema != SCHEMA {
        return Err(invalid(format!("schema is `{}`", report.schema)));
    }
    if report.software.is_none() {
        return Err(invalid("no software section (capture it with every section)".to_string()));
    }
    Ok(Image { name: name.to_string(), report })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_images_are_full_reports_of_their_os() {
        let expect = [
            ("debian-12-server", "debian", 700),
            ("debian-12-apt", "debian", 140),
            ("ubuntu-24.04", "ubuntu", 90),
            ("cbl-mariner-2.0", "mariner", 129),
            ("sles-15", "sles", 35),
            ("alpine-3.14", "alpine", 26),
        ];
        let mix = default_mix().unwrap();
        assert_eq!(mix.len(), expect.len());
        for (weighted, (name, os, min_packages)) in mix.iter().zip(expect) {
            let report = &weighted.image.report;
            assert_eq!(weighted.image.name, name);
            assert_eq!(report.os.as_ref().and_then(|o| o.id.as_deref()), Some(os), "{name}");
            let packages = report.software.as_ref().map_or(0, |s| s.packages.len());
            assert!(packages >= min_packages, "{name}: {packages} packages");
            assert!(report.software.as_ref().unwrap().sources.iter().all(|s| s.complete), "{name}");
            assert!(report.host.is_some() && report.checks.is_some(), "{name}");
            // Each capture decoded a real machine's SMBIOS tables, so simulated hosts get serials and UUIDs.
            let system = report.hardware.as_ref().and_then(|h| h.system.as_ref());
            assert!(system.is_some_and(|s| s.serial.is_some() && s.uuid.is_some()), "{name}");
            // Pending updates are computed where apt lists were captured.
            assert_eq!(report.patches.is_some(), name.starts_with("debian-12"), "{name}");
        }
    }

    #[test]
    fn image_specs() {
        assert_eq!(resolve("alpine-3.14").unwrap().weight, 1);
        assert_eq!(resolve("alpine-3.14:7").unwrap().weight, 7);
        assert!(matches!(resolve("alpine-3.14:0"), Err(ImageError::BadWeight(_))));
        assert!(matches!(resolve("no-such-image"), Err(ImageError::Unknown(_))));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("my fleet.json");
        std::fs::write(&file, include_str!("../testdata/images/alpine-3.14.json")).unwrap();
        let custom = resolve(&format!("{}:3", file.display())).unwrap();
        assert_eq!((custom.image.name.as_str(), custom.weight), ("my-fleet", 3));
        std::fs::write(&file, r#"{"schema":"muster.v2"}"#).unwrap();
        assert!(matches!(resolve(file.to_str().unwrap()), Err(ImageError::Invalid { .. })));
    }
}

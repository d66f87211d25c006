//! Report ingest logic that needs no database: body decoding under limits, the delta check, history diffing and
//! the software catalogue key.

pub mod decode;
pub mod diff;
pub mod limits;

use std::collections::BTreeMap;

use muster_shared::v1::{Package, Report, ReportEnvelope, SectionName, Software, section_hashes};
use sha2::{Digest, Sha256};

use crate::store::tx::{ImageChange, ImagePackages};

/// The section hashes to store: the collector's own hash for every section sent in full, the agent's claim for the
/// sections sent as a hash only. Also returns the full sections whose claimed hash differs from the content (a sign
/// of diverging serialisation; the content wins).
pub fn effective_hashes(envelope: &ReportEnvelope) -> (BTreeMap<SectionName, String>, Vec<SectionName>) {
    let computed = section_hashes(&envelope.report);
    let mut hashes = envelope.section_hashes.clone();
    let mut mismatched = Vec::new();
    for (section, hash) in computed {
        if hashes.get(&section).is_some_and(|claimed| *claimed != hash) {
            mismatched.push(section);
        }
        hashes.insert(section, hash);
    }
    (hashes, mismatched)
}

/// Hash-only sections whose hash the collector cannot confirm (stored copy differs or is missing).
pub fn needs_full(
    report: &Report,
    hashes: &BTreeMap<SectionName, String>,
    stored: &BTreeMap<String, String>,
) -> Vec<SectionName> {
    hashes
        .iter()
        .filter(|(section, hash)| !report.has_section(**section) && stored.get(section.as_str()) != Some(*hash))
        .map(|(section, _)| *section)
        .collect()
}

/// The stored JSON of each full section. Software keeps only `software`, the report's section made into
/// [`crate::model::StoredSoftware`] (ingest compares it too): its packages go to the shared catalogue.
pub fn section_contents(
    report: &Report,
    software: Option<&crate::model::StoredSoftware>,
) -> Result<Vec<(SectionName, String)>, serde_json::Error> {
    let mut out = Vec::new();
    if let Some(s) = &report.host {
        out.push((SectionName::Host, serde_json::to_string(s)?));
    }
    if let Some(s) = &report.hardware {
        out.push((SectionName::Hardware, serde_json::to_string(s)?));
    }
    if let Some(s) = &report.os {
        out.push((SectionName::Os, serde_json::to_string(s)?));
    }
    if let Some(s) = software {
        out.push((SectionName::Software, serde_json::to_string(s)?));
    }
    if let Some(s) = &report.patches {
        out.push((SectionName::Patches, serde_json::to_string(s)?));
    }
    if let Some(s) = &report.checks {
        out.push((SectionName::Checks, serde_json::to_string(s)?));
    }
    Ok(out)
}

/// The package lists of a software section's container images, one per image id, to store apart from the section
/// (see [`crate::model::StoredImage`]). An image several engines hold is one image; should their readings differ,
/// the longest list is kept. Images whose layers gave no package have nothing to match and are left out.
pub fn image_packages(software: &Software) -> Result<Vec<ImagePackages>, serde_json::Error> {
    let mut longest: BTreeMap<&str, &[Package]> = BTreeMap::new();
    for image in software.container_images.iter().filter(|i| !i.packages.is_empty()) {
        let kept = longest.entry(image.id.as_str()).or_insert(&image.packages);
        if image.packages.len() > kept.len() {
            *kept = &image.packages;
        }
    }
    longest
        .into_iter()
        .map(|(id, packages)| {
            let packages = serde_json::to_string(packages)?;
            let digest = hex::encode(Sha256::digest(packages.as_bytes()));
            Ok(ImagePackages { image_id: id.to_owned(), digest, packages })
        })
        .collect()
}

/// The writes that make `images` the host's stored image lists, given the digests stored (`None`: nothing known
/// stored, every image is written).
pub fn image_change(images: Vec<ImagePackages>, stored: Option<&BTreeMap<String, String>>) -> ImageChange {
    let empty = BTreeMap::new();
    let stored = stored.unwrap_or(&empty);
    let kept: std::collections::HashSet<&str> = images.iter().map(|i| i.image_id.as_str()).collect();
    let delete = stored.keys().filter(|id| !kept.contains(id.as_str())).cloned().collect();
    let write = images.into_iter().filter(|i| stored.get(&i.image_id) != Some(&i.digest)).collect();
    ImageChange { write, delete }
}

/// Catalogue key of a package: the same (kind, name, version, arch, source name, source version) on any host gives
/// the same id, so rows can be inserted in bulk with `ON CONFLICT DO NOTHING` and no id round trip.
pub fn software_id(p: &Package) -> String {
    let mut h = Sha256::new();
    let mut parts = vec![
        Some(p.kind.as_str()),
        Some(p.name.as_str()),
        Some(p.version.as_str()),
        p.arch.as_deref(),
        p.source_name.as_deref(),
        p.source_version.as_deref(),
    ];
    // Where a package was found and who owns it tell a distribution's copy of a library from pip's copy of the
    // same version. Hashed only when present, so OS packages keep the ids they always had. A snap's publisher is
    // not: the agent has it only when snapd answers or its state on disk names it, and the path already tells
    // revisions apart (the catalogue row takes the first publisher that comes).
    let publisher = p.publisher.as_deref().filter(|_| p.kind != muster_shared::v1::PackageKind::Snap);
    if p.path.is_some() || p.owner.is_some() || publisher.is_some() {
        parts.extend([p.path.as_deref(), p.owner.as_deref(), publisher]);
    }
    for part in parts {
        // A NUL cannot occur in package metadata as stored; the marker byte tells absent from empty.
        match part {
            Some(s) => {
                h.update([1u8]);
                h.update(s.as_bytes());
            }
            None => h.update([0u8]),
        }
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::PackageKind;

    fn openssl(arch: Option<&str>) -> Package {
        Package {
            kind: PackageKind::Deb,
            name: "openssl".into(),
            version: "3.0.13-1~deb12u1".into(),
            arch: arch.map(Into::into),
            source_name: Some("openssl".into()),
            source_version: None,
            installed_at: None,
            size_bytes: Some(2_311_000),
            state: None,
            path: None,
            owner: None,
            publisher: None,
            channel: None,
        }
    }

    #[test]
    fn software_id_is_stable_and_tells_absent_from_empty() {
        let a = software_id(&openssl(Some("amd64")));
        assert_eq!(a, software_id(&openssl(Some("amd64"))));
        assert_eq!(a.len(), 32);
        assert_ne!(a, software_id(&openssl(None)));
        assert_ne!(software_id(&openssl(None)), software_id(&openssl(Some(""))));
        let mut other_host = openssl(Some("amd64"));
        other_host.size_bytes = Some(1);
        assert_eq!(a, software_id(&other_host));
        // An OS package's id is what it was before packages had a path (stored catalogue rows keep matching): the
        // first 16 bytes of SHA-256 over the six marked parts, computed outside this code.
        assert_eq!(a, "7a58572308848df61f0f6a8666f84ed1");
        // The same library as a distribution ships it and as pip installed it: two ids.
        let library = |path: &str, owner: Option<&str>| Package {
            kind: muster_shared::v1::PackageKind::Pypi,
            name: "idna".into(),
            version: "3.3".into(),
            path: Some(path.into()),
            owner: owner.map(str::to_owned),
            ..openssl(None)
        };
        assert_ne!(
            software_id(&library("/usr/lib/python3/dist-packages/idna-3.3.egg-info/PKG-INFO", Some("python3-idna"))),
            software_id(&library("/usr/local/lib/python3.11/dist-packages/idna-3.3.dist-info/METADATA", None))
        );
    }

    #[test]
    fn a_snaps_publisher_is_outside_its_id_and_a_windows_programs_is_not() {
        let mounted = Package {
            path: Some("/snap/hello-world/28/meta/snap.yaml".into()),
            ..Package::new(PackageKind::Snap, "hello-world", "6.3")
        };
        let answered = Package { publisher: Some("canonical (verified)".into()), ..mounted.clone() };
        assert_eq!(software_id(&mounted), software_id(&answered), "snapd answering or not is the same snap");
        let program = Package {
            path: Some(r"HKLM\...\Uninstall\7-Zip".into()),
            ..Package::new(PackageKind::Windows, "7-Zip", "23.01")
        };
        let signed = Package { publisher: Some("Igor Pavlov".into()), ..program.clone() };
        assert_ne!(software_id(&program), software_id(&signed));
    }

    #[test]
    fn an_image_several_engines_hold_is_stored_once_with_the_longest_list() {
        use muster_shared::v1::{ContainerEngine, ContainerImage};
        let image =
            |engine, id: &str, packages: Vec<Package>| ContainerImage { packages, ..ContainerImage::new(engine, id) };
        let libssl = Package { name: "libssl3".into(), ..openssl(Some("amd64")) };
        let software = Software {
            container_images: vec![
                image(ContainerEngine::Docker, "sha256:b", vec![openssl(Some("amd64"))]),
                image(ContainerEngine::Podman, "sha256:b", vec![openssl(Some("amd64")), libssl.clone()]),
                image(ContainerEngine::Docker, "sha256:a", vec![libssl]),
                // Nothing read from its layers: nothing to match, nothing stored.
                image(ContainerEngine::Docker, "sha256:c", vec![]),
            ],
            ..Software::default()
        };
        let stored = image_packages(&software).unwrap();
        let ids: Vec<&str> = stored.iter().map(|i| i.image_id.as_str()).collect();
        assert_eq!(ids, ["sha256:a", "sha256:b"]);
        let b: Vec<Package> = serde_json::from_str(&stored[1].packages).unwrap();
        assert_eq!(b.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["openssl", "libssl3"]);
        // The digest follows the list: the same list gives the same digest, so an unchanged image is not rewritten.
        assert_eq!(stored[1].digest, hex::encode(Sha256::digest(stored[1].packages.as_bytes())));
        assert_eq!(image_packages(&software).unwrap(), stored);
        assert_ne!(stored[0].digest, stored[1].digest);
    }
}

//! Builds a `v1` report by running each requested section's collector; a failing section never stops the others.

pub mod accounts;
pub mod containers;
pub mod hardware;
pub mod host;
pub mod macos;
pub mod os;
pub mod patches;
pub mod software;
pub mod sqlite;
pub mod windows;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use muster_shared::v1::{AgentInfo, CollectionMode, Report, SCHEMA, SectionName};

use crate::checks::PatchState;
use crate::root::{ErrorLog, SystemRoot};

/// What to collect and from where.
#[derive(Debug, Clone)]
pub struct InventoryConfig {
    pub root: SystemRoot,
    pub sections: BTreeSet<SectionName>,
    /// A saved SMBIOS table to decode: the report then holds only what the dump holds (`root` and `sections` are
    /// not used).
    pub smbios_dump: Option<PathBuf>,
    /// Where language packages are looked for beyond the system locations, and the scan's bounds.
    pub language: software::LanguageScan,
}

impl InventoryConfig {
    /// Every section of the running system.
    pub fn live() -> InventoryConfig {
        InventoryConfig {
            root: SystemRoot::live(),
            sections: SectionName::ALL.into_iter().collect(),
            smbios_dump: None,
            language: software::LanguageScan::default(),
        }
    }
}

/// Collects the inventory. `now` is the collection time written into the report and used for ages.
pub fn collect(config: &InventoryConfig, now: DateTime<Utc>) -> Report {
    if let Some(dump) = &config.smbios_dump {
        return from_smbios_dump(dump, now);
    }
    let root = &config.root;
    let mut errors = ErrorLog::new();
    let wants = |section| config.sections.contains(&section);

    let host = wants(SectionName::Host).then(|| host::collect(root, &mut errors));
    let hardware = wants(SectionName::Hardware).then(|| hardware::collect(root, &mut errors));
    let os = wants(SectionName::Os).then(|| os::collect(root, &mut errors)).flatten();
    // Patch state needs the installed package list; read it even when the software section is not reported.
    let mut software =
        (wants(SectionName::Software) || wants(SectionName::Patches)).then(|| software::collect(root, &mut errors));
    let patches = wants(SectionName::Patches)
        .then(|| patches::collect(root, software.as_ref(), os.as_ref(), now, &mut errors))
        .flatten();
    // After patch state, which concerns the OS packages only.
    if wants(SectionName::Software)
        && let Some(software) = software.as_mut()
    {
        software::add_other_packages(root, &config.language, software, &mut errors);
    }
    let patch_state = match (&patches, wants(SectionName::Patches)) {
        (Some(patches), _) => PatchState::Collected(patches),
        (None, true) => PatchState::Failed,
        (None, false) => PatchState::NotRequested,
    };
    let checks = wants(SectionName::Checks).then(|| collect_checks(root, patch_state, now, &mut errors));

    Report {
        schema: SCHEMA.to_string(),
        agent: AgentInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            mode: if root.is_live() { CollectionMode::Live } else { CollectionMode::Root },
            root: (!root.is_live()).then(|| root.base().display().to_string()),
            sections: config.sections.iter().copied().collect(),
        },
        host,
        hardware,
        os,
        software: software.filter(|_| wants(SectionName::Software)),
        patches,
        checks,
        errors: errors.into_vec(),
        collected_at: now,
    }
}

/// The checks section: on a live Windows from the registry (and the patches section), elsewhere from the files of
/// `root`.
fn collect_checks(
    root: &SystemRoot,
    patches: PatchState<'_>,
    now: DateTime<Utc>,
    errors: &mut ErrorLog,
) -> Vec<muster_shared::v1::Check> {
    #[cfg(windows)]
    if root.is_live() {
        return windows::collect_checks(crate::checks::patch_checks(patches, now), now, errors);
    }
    // On a Mac the Linux checks over /etc would fail for want of Linux's tools (no firewalld, ufw or nft reads as
    // no firewall): the update checks from Software Update's files, and the posture Apple's own tools report.
    #[cfg(target_os = "macos")]
    if root.is_live() {
        return macos::collect_checks(crate::checks::patch_checks(patches, now), now);
    }
    crate::checks::collect(root, patches, now, errors)
}

/// A report of a saved SMBIOS table (`--smbios-dump`): the dump's firmware data in the hardware section and nothing
/// else, since every other section would describe the machine the agent runs on, not the one the dump came from.
fn from_smbios_dump(dump: &Path, now: DateTime<Utc>) -> Report {
    let mut errors = ErrorLog::new();
    let hardware = hardware::from_smbios_dump(dump, &mut errors);
    Report {
        schema: SCHEMA.to_string(),
        agent: AgentInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            mode: CollectionMode::SmbiosDump,
            root: None,
            sections: vec![SectionName::Hardware],
        },
        host: None,
        hardware: Some(hardware),
        os: None,
        software: None,
        patches: None,
        checks: None,
        errors: errors.into_vec(),
        collected_at: now,
    }
}

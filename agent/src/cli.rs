//! Command-line arguments of `muster-agent`, parsed with clap and turned into validated configs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use muster_shared::v1::SectionName;

use crate::inventory::InventoryConfig;
use crate::root::SystemRoot;

#[derive(Debug, Parser)]
#[command(
    name = "muster-agent",
    version,
    about = "Muster agent: inventory this machine and report it to the collector"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print this machine's inventory (or a mounted root's) as a v1 JSON report.
    Inventory(InventoryArgs),
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Inventory a mounted filesystem root (container image, chroot, a disk pulled from a machine) instead of `/`.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Indent the JSON.
    #[arg(long)]
    pub pretty: bool,
    /// Only these sections, comma-separated: host, hardware, os, software, patches, checks.
    #[arg(long, value_delimiter = ',', value_parser = parse_section)]
    pub sections: Vec<SectionName>,
    /// Decode a saved SMBIOS table (`dmidecode --dump-bin` output, or a copy of /sys/firmware/dmi/tables/DMI with its
    /// smbios_entry_point beside it) instead of the live one.
    #[arg(long, value_name = "FILE")]
    pub smbios_dump: Option<PathBuf>,
}

fn parse_section(name: &str) -> Result<SectionName, String> {
    SectionName::parse(name.trim()).ok_or_else(|| {
        let known: Vec<&str> = SectionName::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown section `{name}` (known: {})", known.join(", "))
    })
}

impl InventoryArgs {
    /// Validates the arguments into what the collectors need.
    pub fn to_config(&self) -> anyhow::Result<InventoryConfig> {
        let root = match &self.root {
            None => SystemRoot::live(),
            Some(dir) => {
                let meta = std::fs::metadata(dir).map_err(|e| anyhow::anyhow!("--root {}: {e}", dir.display()))?;
                if !meta.is_dir() {
                    anyhow::bail!("--root {}: not a directory", dir.display());
                }
                SystemRoot::mounted(dir)
            }
        };
        if let Some(dump) = &self.smbios_dump {
            std::fs::metadata(dump).map_err(|e| anyhow::anyhow!("--smbios-dump {}: {e}", dump.display()))?;
        }
        let sections: BTreeSet<SectionName> = if self.sections.is_empty() {
            SectionName::ALL.into_iter().collect()
        } else {
            self.sections.iter().copied().collect()
        };
        Ok(InventoryConfig { root, sections, smbios_dump: self.smbios_dump.clone() })
    }
}

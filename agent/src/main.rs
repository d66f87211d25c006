//! `muster-agent`: command-line entry point; argument parsing and glue only.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use muster_agent::cli::{Cli, Command, InventoryArgs};
use muster_agent::inventory;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inventory(args) => run_inventory(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("muster-agent: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run_inventory(args: &InventoryArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let report = inventory::collect(&config, chrono::Utc::now());
    let mut json = if args.pretty { serde_json::to_vec_pretty(&report)? } else { serde_json::to_vec(&report)? };
    json.push(b'\n');
    match &args.output {
        Some(path) => std::fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().lock().write_all(&json).context("writing the report to stdout")?,
    }
    Ok(())
}

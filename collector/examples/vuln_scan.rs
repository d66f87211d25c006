//! The offline scan as the `muster-collector scan` command will run it, until the lead wires the CLI:
//! `cargo run --release -p muster-collector --example vuln_scan -- REPORT.json [json|table] ADVISORIES…`.

use std::path::PathBuf;

use muster_collector::vuln::{render_table, scan::load_report, scan_paths};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [report, format, advisories @ ..] = args.as_slice() else {
        anyhow::bail!("usage: vuln_scan REPORT.json json|table ADVISORIES…");
    };
    let report = load_report(&PathBuf::from(report))?;
    let output = scan_paths(advisories, &report, &mut |_| {});
    match format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&output)?),
        _ => print!("{}", render_table(&output)),
    }
    if output.advisories.as_ref().is_some_and(|s| !s.complete()) {
        anyhow::bail!("some advisory inputs could not be read");
    }
    Ok(())
}

//! `muster-loadgen`: argument parsing, the only reads of the clock and of fresh randomness, and printing.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use muster_loadgen::cli::{Cli, Format};
use muster_loadgen::run::{self, Edges, Results};
use rand::{Rng, SeedableRng};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_cli(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("muster-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cli(cli: &Cli) -> anyhow::Result<()> {
    let config = cli.config()?;
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let edges = Edges {
        new_fleet_id: hex::encode(rng.random::<[u8; 6]>()),
        run_nonce: hex::encode(rng.random::<[u8; 8]>()),
        seed: rng.random(),
        now: chrono::Utc::now,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let results = runtime.block_on(run::run(&config, &edges))?;
    let mut out = std::io::stdout().lock();
    match cli.format {
        Format::Json => {
            serde_json::to_writer(&mut out, &results)?;
            writeln!(out)?;
        }
        Format::Text => write!(out, "{}", text(&results))?,
    }
    Ok(())
}

fn text(r: &Results) -> String {
    let latency = match &r.latency {
        Some(p) => format!("p50 {} ms, p90 {} ms, p99 {} ms, max {} ms", p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms),
        None => "no requests".to_string(),
    };
    let errors: Vec<String> = r.counts.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(
        "{:?} ({}), {} hosts ({} silent): {} requests in {} s\nok {} ({}/s), duplicate {}, needs_sections {}, errors: {}\n\
         latency (from {}): {latency}\nenrolled now {} ({:?}/s), warmed up {}\n",
        r.scenario,
        r.mode,
        r.hosts,
        r.silent_hosts,
        r.counts.requests,
        r.elapsed_s,
        r.counts.ok,
        r.rate_ok_per_s,
        r.counts.duplicate,
        r.counts.needs_sections,
        if errors.is_empty() { "none".to_string() } else { errors.join(", ") },
        r.latency_from,
        r.preparation.enrolled_now,
        r.preparation.enrol_per_s,
        r.preparation.warmed_up,
    )
}

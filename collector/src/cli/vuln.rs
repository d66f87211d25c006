//! The vulnerability commands: `version compare` (the order matching uses, for debugging a finding), the offline
//! `scan` (no database) and `advisories import` into the collector's database.

use std::fmt::Write as _;
use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use muster_shared::version::Ecosystem;
use serde::Serialize;

use crate::app::advisory_sync::{self as sync, ImportReport};
use crate::cli::{Format, emit};
use crate::store::Store;
use crate::vuln::ecosystem::version_order;
use crate::vuln::scan::load_report;
use crate::vuln::{AdvisoryDb, FindingPolicy, ImportLimits, Progress, import_paths, render_table, scan_paths_with};

#[derive(Debug, Subcommand)]
pub enum VulnCommand {
    /// Version order as vulnerability matching applies it.
    #[command(subcommand)]
    Version(VersionCommand),
    /// Match one inventory report against advisory files, offline (no database); `--format json|table`.
    Scan {
        /// OSV files (.json, .jsonl, .gz, .xz, .zst, .zip) or directories of them; a KEV catalog among them ranks.
        #[arg(long, required = true, num_args = 1..)]
        advisories: Vec<PathBuf>,
        /// A report as `muster-agent inventory` writes it; its `patches.pending` tells which fixes the host's
        /// sources offer.
        #[arg(long)]
        inventory: PathBuf,
        /// Let matches the vendor rates negligible (Debian `unimportant`, Ubuntu `negligible`) open findings and
        /// join the fixes; by default they are listed but open none.
        #[arg(long)]
        negligible_opens_finding: bool,
    },
    /// Vulnerability advisories in the collector's database.
    #[command(subcommand)]
    Advisories(AdvisoriesCommand),
}

#[derive(Debug, Subcommand)]
pub enum VersionCommand {
    /// Prints `<`, `=` or `>`: how version A orders against version B.
    Compare {
        /// deb, rpm, apk, semver, pep440, rubygems or maven (distribution and OSV names such as `Debian:12` work too).
        #[arg(long)]
        ecosystem: String,
        a: String,
        b: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdvisoriesCommand {
    /// Import OSV records (and the CISA KEV catalog, recognised by content); re-importing is a no-op.
    Import {
        #[arg(required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// The policy whose `negligible_opens_finding` decides which matches open findings (as `serve`'s).
        #[command(flatten)]
        rules: super::findings::RulesArgs,
    },
    /// Fetch advisory sources over HTTPS (conditional requests: an unchanged export is not downloaded again) or read
    /// mirror directories, and import what changed. Downloads are kept under `<data_dir>/advisories`.
    Update {
        /// An OSV export or the KEV catalog URL (https), or a mirror directory; repeat for each, e.g.
        /// https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip and
        /// https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json
        #[arg(long = "source", required = true, num_args = 1)]
        sources: Vec<String>,
        /// PEM certificates to trust besides the system's (a site mirror behind a private CA).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// The policy whose `negligible_opens_finding` decides which matches open findings (as `serve`'s).
        #[command(flatten)]
        rules: super::findings::RulesArgs,
    },
}

#[derive(Debug, Serialize)]
struct Comparison<'a> {
    ecosystem: &'static str,
    a: &'a str,
    b: &'a str,
    /// `<`, `=` or `>`.
    result: &'static str,
}

pub async fn run<F, Fut>(cmd: &VulnCommand, open: F, format: Format, data_dir: &std::path::Path) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<Arc<dyn Store>>>,
{
    match cmd {
        VulnCommand::Version(VersionCommand::Compare { ecosystem, a, b }) => {
            let eco = Ecosystem::parse(ecosystem)?;
            let order =
                version_order(eco, a, b).with_context(|| format!("{a:?} or {b:?} is not a valid {eco} version"))?;
            let result = match order {
                std::cmp::Ordering::Less => "<",
                std::cmp::Ordering::Equal => "=",
                std::cmp::Ordering::Greater => ">",
            };
            emit(format, &Comparison { ecosystem: eco.name(), a, b, result }, &format!("{result}\n"))
        }
        VulnCommand::Scan { advisories, inventory, negligible_opens_finding } => {
            let report = load_report(inventory)?;
            let advisories = advisories.clone();
            let policy = FindingPolicy { negligible_opens_finding: *negligible_opens_finding };
            let output = tokio::task::spawn_blocking(move || {
                let bar = progress_bar();
                let out = scan_paths_with(&advisories, &report, &policy, &mut |p| update(&bar, p));
                bar.finish_and_clear();
                out
            })
            .await?;
            emit(format, &output, &render_table(&output))?;
            if output.advisories.as_ref().is_some_and(|s| !s.complete()) {
                anyhow::bail!("some advisory inputs could not be read (see warnings)");
            }
            Ok(())
        }
        VulnCommand::Advisories(AdvisoriesCommand::Update { sources, ca_file, rules }) => {
            let policy = FindingPolicy::from_params(&rules.load()?.current().params);
            use crate::app::advisory_update::{self, Fetcher, Source};
            let sources = sources.iter().map(|s| Source::parse(s)).collect::<Result<Vec<_>, _>>()?;
            let fetcher = Fetcher::new(ca_file.as_deref())?;
            let store = open().await?;
            let actor = crate::app::audit::Actor::cli();
            let cache = data_dir.join("advisories");
            let report =
                advisory_update::update(store.as_ref(), &fetcher, &sources, &cache, &actor, Utc::now(), &policy)
                    .await?;
            let mut text = String::new();
            for s in &report.sources {
                let detail = match (&s.error, s.status) {
                    (Some(e), _) => format!(": {e}"),
                    (None, "downloaded") => format!(" ({} bytes)", s.bytes),
                    _ => String::new(),
                };
                text.push_str(&format!("{} {}{detail}\n", s.status, s.source));
            }
            match &report.import {
                Some(import) => text.push_str(&summary_text(import)),
                None => text.push_str("nothing changed: no import\n"),
            }
            emit(format, &report, &text)?;
            if report.failed() > 0 {
                anyhow::bail!(
                    "{} advisory source(s) could not be fetched; the copies held before stay",
                    report.failed()
                );
            }
            Ok(())
        }
        VulnCommand::Advisories(AdvisoriesCommand::Import { paths, rules }) => {
            let policy = FindingPolicy::from_params(&rules.load()?.current().params);
            let store = open().await?;
            let paths = paths.clone();
            let (db, outcome) = tokio::task::spawn_blocking(move || {
                let bar = progress_bar();
                let mut db = AdvisoryDb::new();
                let outcome = import_paths(&mut db, &paths, &ImportLimits::files(), &mut |p| update(&bar, p));
                bar.finish_and_clear();
                (db, outcome)
            })
            .await?;
            let report = sync::store_import(store.as_ref(), &db, outcome.summary, Utc::now(), &policy).await?;
            emit(format, &report, &summary_text(&report))?;
            if !report.summary.complete() {
                anyhow::bail!("some inputs could not be read to the end; what was read before the failure is stored");
            }
            Ok(())
        }
    }
}

/// A bar on stderr only when it is a terminal; hidden (and free) otherwise.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

fn update(bar: &ProgressBar, p: &Progress) {
    if let Some(total) = p.bytes_total
        && bar.length() != Some(total)
    {
        bar.set_length(total);
    }
    bar.set_position(p.bytes_read);
    bar.set_message(format!("{} records", p.records));
}

/// The import summary as text.
pub fn summary_text(report: &ImportReport) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(out, "{} files, {} bytes, {} records read", s.files, s.bytes, s.records_read);
    let _ = writeln!(
        out,
        "imported {}, updated {}, unchanged {}, withdrawn {}, KEV entries {}",
        s.imported, s.updated, s.unchanged, s.withdrawn, s.kev_entries
    );
    for (reason, n) in &s.skipped_records {
        let _ = writeln!(out, "skipped records: {reason}: {n}");
    }
    for (reason, n) in &s.skipped_affected {
        let _ = writeln!(out, "skipped affected entries: {reason}: {n}");
    }
    if s.skipped_files > 0 {
        let _ = writeln!(out, "skipped files (not advisory files): {}", s.skipped_files);
    }
    if s.eol_products > 0 {
        let _ = writeln!(
            out,
            "end-of-life data: {} products stored (in force at the collector's next start, rules reload or update)",
            s.eol_products
        );
    }
    let r = &report.rematch;
    let _ = writeln!(
        out,
        "re-matched: {} cached results re-evaluated ({} changed), {} hosts",
        r.keys_reevaluated, r.keys_changed, r.hosts_rematched
    );
    for e in &s.record_errors {
        let _ = writeln!(out, "record error: {e}");
    }
    for e in &s.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

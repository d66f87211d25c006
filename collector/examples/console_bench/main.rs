//! Benchmark of the web console at fleet scale: a fresh database seeded with 10,000 hosts and 100,000 findings, the
//! real app served in-process, one signed-in admin, and every console page timed (median and p95 of the server
//! time, the whole HTML body read). Run with
//!
//! `cargo run --release -p muster-collector --example console_bench -- [--runs 20] [--json]
//! [--database-url postgres://postgres@127.0.0.1:5432] [--keep] [--analyze]`
//!
//! Without `--database-url` the database is a SQLite file in a temporary directory; with a PostgreSQL server URL a
//! fresh database is created on that server and dropped at the end (`--keep` keeps either, to EXPLAIN queries).
//!
//! The fleet is made from real inventories ([`fleet`]); advisories ([`advisories`]), findings, their history and the
//! audit log ([`findings`]) are generated. Rows go in with multi-row INSERTs on a connection of their own ([`db`]),
//! laid out as the store writes them ([`seed`]).

mod advisories;
mod db;
mod findings;
mod fleet;
mod seed;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use http_body_util::BodyExt;
use muster_collector::config::Secret;
use muster_collector::rules::Rules;
use muster_collector::{AppState, ServicePolicy};
use tower::ServiceExt;

use db::{Db, Target};
use fleet::Fleet;
use seed::{ADMIN, ADMIN_PASSWORD, COMMON_PACKAGE, Summary};

/// The requirement for every page.
const TARGET_MS: f64 = 200.0;

/// The console's clock during the benchmark; every generated time lies before it.
fn bench_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap_or_default()
}

#[derive(Debug, Parser)]
#[command(about = "Times every web console page over a seeded fleet")]
struct Args {
    /// A PostgreSQL server (`postgres://user@host:port`) to create a fresh database on; SQLite when absent.
    #[arg(long)]
    database_url: Option<String>,
    /// Timed requests per page, after one untimed round.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Timed requests of the CSV export of all findings.
    #[arg(long, default_value_t = 5)]
    export_runs: usize,
    #[arg(long, default_value_t = 10_000)]
    hosts: usize,
    #[arg(long, default_value_t = 100_000)]
    findings: usize,
    /// Print JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// Keep the database afterwards and print where it is.
    #[arg(long)]
    keep: bool,
    /// Run ANALYZE on SQLite after seeding (the collector never does; PostgreSQL is always analysed).
    #[arg(long)]
    analyze: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.hosts < 2 || args.runs == 0 || args.export_runs == 0 {
        bail!("--hosts must be at least 2, --runs and --export-runs at least 1");
    }
    // Host 0 has 50 findings, every other host 1 to 40.
    let (least, most) = (50 + (args.hosts - 1), 50 + 40 * (args.hosts - 1));
    if !(least..=most).contains(&args.findings) {
        bail!("--findings must be between {least} and {most} for {} hosts", args.hosts);
    }
    muster_collector::install_crypto_provider();
    let target = Target::create(args.database_url.as_deref()).await?;
    let outcome = run(&args, &target).await;
    target.finish(args.keep).await?;
    outcome
}

async fn run(args: &Args, target: &Target) -> anyhow::Result<()> {
    let started = Instant::now();
    let store = muster_collector::store::open(&Secret::new(target.url.clone())).await.context("opening the store")?;
    let fleet = Fleet::load().context("loading the fleet images")?;
    let mut db = Db::connect(&target.url).await?;
    let seeded = seed::seed(&mut db, store.as_ref(), &fleet, args.hosts, args.findings, bench_now()).await?;
    db.finish(args.analyze).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    eprintln!("seeded in {seed_seconds:.1} s: {}", seeded.summary);

    let state = AppState {
        store,
        policy: Arc::new(ServicePolicy::default()),
        clock: Arc::new(bench_now),
        rules: Arc::new(Rules::builtin()?),
        ingest: muster_collector::app::gate::IngestGate::new(4),
        work: muster_collector::app::queue::WorkQueue::new(muster_collector::app::queue::Mode::Inline),
    };
    let app = muster_collector::app(state);
    let cookie = sign_in(&app).await?;
    let pages = [
        ("dashboard", "/".to_owned()),
        ("hosts", "/hosts".to_owned()),
        ("hosts by risk", "/hosts?sort=risk&dir=desc".to_owned()),
        ("stale hosts", "/hosts?status=stale".to_owned()),
        ("host search", "/hosts?q=web-01".to_owned()),
        ("hosts with a critical finding", "/hosts?critical=true".to_owned()),
        ("host detail", format!("/hosts/{}", seeded.detail_host)),
        ("findings", "/findings".to_owned()),
        ("active critical findings", "/findings?severity=critical&active=true".to_owned()),
        ("overdue findings", "/findings?overdue=true".to_owned()),
        ("findings by host, reversed", "/findings?sort=host&dir=desc".to_owned()),
        ("all findings by due date", "/findings?active=false&sort=due".to_owned()),
        ("finding detail", format!("/findings/{}", seeded.detail_finding)),
        ("vulnerabilities", "/vulnerabilities".to_owned()),
        ("vulnerability detail", format!("/vulnerabilities/{}", seeded.detail_advisory)),
        ("software", format!("/software?name={COMMON_PACKAGE}")),
        ("monitors", "/monitors".to_owned()),
        ("batteries", "/batteries".to_owned()),
        ("tpms", "/tpms".to_owned()),
        ("audit log", "/admin/audit".to_owned()),
        ("users", "/admin/users".to_owned()),
    ];
    // One untimed round first: a running collector has its caches warm.
    for (_, path) in &pages {
        fetch(&app, &cookie, path, "text/html").await?;
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); pages.len()];
    let mut sizes = vec![0; pages.len()];
    // Rounds over all pages rather than one page N times in a row, so no page profits from its own repetition.
    for _ in 0..args.runs {
        for (i, (_, path)) in pages.iter().enumerate() {
            let (ms, bytes) = fetch(&app, &cookie, path, "text/html").await?;
            samples[i].push(ms);
            sizes[i] = bytes;
        }
    }
    let (mut export, mut export_bytes) = (Vec::new(), 0);
    for _ in 0..args.export_runs {
        let (ms, bytes) = fetch(&app, &cookie, "/findings?format=csv", "text/csv").await?;
        export.push(ms);
        export_bytes = bytes;
    }

    let report = BenchReport {
        backend: target.backend,
        machine: machine(),
        seed_seconds,
        data: seeded.summary,
        runs: args.runs,
        pages: pages
            .iter()
            .zip(samples)
            .zip(sizes)
            .map(|(((name, path), ms), bytes)| PageResult::new(name, path, ms, bytes))
            .collect(),
        export: PageResult::new("CSV export of all findings", "/findings?format=csv", export, export_bytes),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.markdown());
    }
    for slow in report.pages.iter().filter(|p| p.p95_ms > TARGET_MS) {
        eprintln!("over {TARGET_MS} ms at p95: {} ({})", slow.page, slow.path);
    }
    Ok(())
}

/// Signs the admin in through the sign-in form; returns the session cookie.
async fn sign_in(app: &Router) -> anyhow::Result<String> {
    let form = format!("user={ADMIN}&password={}&next=%2F", ADMIN_PASSWORD.replace(' ', "+"));
    let request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))?;
    let response = app.clone().oneshot(request).await?;
    if response.status() != StatusCode::SEE_OTHER {
        bail!("sign-in answered {}", response.status());
    }
    let cookie = response.headers().get(header::SET_COOKIE).and_then(|v| v.to_str().ok());
    let cookie = cookie.and_then(|c| c.split(';').next()).context("sign-in set no cookie")?;
    Ok(cookie.to_owned())
}

/// One request, timed from handing it to the app until the last body byte; returns (milliseconds, body bytes).
async fn fetch(app: &Router, cookie: &str, path: &str, content_type: &str) -> anyhow::Result<(f64, usize)> {
    let request = Request::get(path).header(header::COOKIE, cookie).body(Body::empty())?;
    let start = Instant::now();
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let kind = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = response.into_body().collect().await?.to_bytes();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if status != StatusCode::OK || !kind.starts_with(content_type) {
        bail!("{path} answered {status} ({kind}): {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
    }
    if content_type == "text/html" && !body.trim_ascii_end().ends_with(b"</html>") {
        bail!("{path}: the page is not complete");
    }
    Ok((ms, body.len()))
}

#[derive(Debug, serde::Serialize)]
struct PageResult {
    page: String,
    path: String,
    runs: usize,
    median_ms: f64,
    p95_ms: f64,
    max_ms: f64,
    bytes: usize,
}

impl PageResult {
    /// `ms` holds at least one sample.
    fn new(page: &str, path: &str, mut ms: Vec<f64>, bytes: usize) -> PageResult {
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let median = if n % 2 == 1 { ms[n / 2] } else { (ms[n / 2 - 1] + ms[n / 2]) / 2.0 };
        // Nearest rank: the smallest sample with at least 95% of the samples at or below it.
        let p95 = ms[(n * 95).div_ceil(100).max(1) - 1];
        PageResult {
            page: page.to_owned(),
            path: path.to_owned(),
            runs: n,
            median_ms: median,
            p95_ms: p95,
            max_ms: ms[n - 1],
            bytes,
        }
    }
}

#[derive(Debug, serde::Serialize)]
struct BenchReport {
    backend: &'static str,
    machine: String,
    seed_seconds: f64,
    data: Summary,
    runs: usize,
    pages: Vec<PageResult>,
    export: PageResult,
}

impl BenchReport {
    fn markdown(&self) -> String {
        let mut out = format!(
            "{}, {}; {}; seeded in {:.0} s; {} timed requests per page after one untimed round\n\n",
            self.backend, self.machine, self.data, self.seed_seconds, self.runs
        );
        out.push_str("| page | path | median ms | p95 ms | max ms | HTML KiB | p95 ≤ 200 ms |\n");
        out.push_str("| --- | --- | ---: | ---: | ---: | ---: | :---: |\n");
        for p in &self.pages {
            out.push_str(&format!(
                "| {} | `{}` | {:.1} | {:.1} | {:.1} | {:.0} | {} |\n",
                p.page,
                p.path,
                p.median_ms,
                p.p95_ms,
                p.max_ms,
                p.bytes as f64 / 1024.0,
                if p.p95_ms <= TARGET_MS { "yes" } else { "**no**" }
            ));
        }
        let e = &self.export;
        out.push_str(&format!(
            "\nNot a page: {} (`{}`), {} runs: median {:.0} ms, p95 {:.0} ms, {:.1} MiB\n",
            e.page,
            e.path,
            e.runs,
            e.median_ms,
            e.p95_ms,
            e.bytes as f64 / (1024.0 * 1024.0)
        ));
        out
    }
}

/// Cores and CPU model, for the record.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown CPU", |v| v.trim_start_matches([' ', '\t', ':']));
    format!("{cores} cores ({model})")
}

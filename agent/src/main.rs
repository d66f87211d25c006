//! `muster-agent`: command-line entry point; argument parsing and glue only.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use muster_agent::cli::{Cli, Command, DoctorArgs, EnrollArgs, InventoryArgs, OutputFormat, ReportNowArgs, RunArgs};
use muster_agent::config::AgentConfig;
use muster_agent::disposal::{self, command::DisposalArgs, command::DisposalCommand};
use muster_agent::doctor::{self, DoctorOptions};
use muster_agent::inventory::{self, InventoryConfig};
use muster_agent::transport::daemon::{self, ReportNowConfig, RunConfig, RunExit};
use muster_agent::transport::deliver::{Agent, Delivery, reenrol_instruction};
use muster_agent::transport::enroll;
use muster_shared::v1::SectionName;
use rand::SeedableRng;

/// Exit status when a report was not delivered but is kept in the spool for a later attempt.
const EXIT_DEFERRED: u8 = 1;
/// Exit status for every other failure (bad arguments, state directory, enrolment).
const EXIT_ERROR: u8 = 2;
/// Exit status when the collector refused the host token: enrol again.
const EXIT_REENROL: u8 = 3;
/// Exit status when the collector refused the report itself (e.g. over a limit).
const EXIT_REFUSED: u8 = 4;

fn main() -> ExitCode {
    // Matches are kept so `run` can tell a flag given from a default, which the settings file overrides.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Inventory(args) => run_inventory(&args).map(|()| ExitCode::SUCCESS),
        Command::Enroll(args) => with_runtime(run_enroll(&args)),
        Command::Run(args) => with_runtime(async {
            let mut log = |line: &str| eprintln!("muster-agent: {line}");
            let code = run_daemon(&args, matches.subcommand_matches("run"), shutdown_signal()?, &mut log).await?;
            Ok(ExitCode::from(code))
        }),
        #[cfg(windows)]
        Command::Service(args) => run_service(args, matches.subcommand_matches("service").cloned()),
        Command::ReportNow(args) => with_runtime(run_report_now(&args)),
        Command::Doctor(args) => with_runtime(run_doctor(&args)),
        Command::Disposal(args) => run_disposal(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("muster-agent: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run_inventory(args: &InventoryArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let report = inventory::collect(&config, chrono::Utc::now());
    let mut json = inventory_json(&report, &config, args.pretty)?;
    json.push(b'\n');
    match &args.output {
        Some(path) => std::fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().lock().write_all(&json).context("writing the report to stdout")?,
    }
    Ok(())
}

/// The report as JSON. Not on Windows: the report as the collector receives it.
#[cfg(not(windows))]
fn inventory_json(report: &muster_shared::v1::Report, _: &InventoryConfig, pretty: bool) -> anyhow::Result<Vec<u8>> {
    Ok(if pretty { serde_json::to_vec_pretty(report)? } else { serde_json::to_vec(report)? })
}

/// The report as JSON. On Windows, with the CurrentVersion values the `os` section has no field for (edition)
/// added under `windows` when the live system's software is asked for (see `inventory::windows`).
#[cfg(windows)]
fn inventory_json(
    report: &muster_shared::v1::Report,
    config: &InventoryConfig,
    pretty: bool,
) -> anyhow::Result<Vec<u8>> {
    let mut value = serde_json::to_value(report)?;
    if config.root.is_live()
        && config.sections.contains(&SectionName::Software)
        && let serde_json::Value::Object(fields) = &mut value
    {
        fields.insert("windows".to_string(), serde_json::to_value(inventory::windows::collect())?);
    }
    Ok(if pretty { serde_json::to_vec_pretty(&value)? } else { serde_json::to_vec(&value)? })
}

/// One thread: the agent does one thing at a time and should stay small in memory.
fn with_runtime<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(future)
}

async fn run_enroll(args: &EnrollArgs) -> anyhow::Result<ExitCode> {
    let config = args.to_config()?;
    let quick = InventoryConfig {
        sections: [SectionName::Host, SectionName::Hardware].into_iter().collect(),
        ..InventoryConfig::live()
    };
    let identity = enroll::identity_from_report(&inventory::collect(&quick, chrono::Utc::now()))?;
    let outcome = enroll::enroll(&config, &identity, chrono::Utc::now()).await?;
    match args.format {
        OutputFormat::Json => print_json(&outcome)?,
        OutputFormat::Text if outcome.pending_approval => println!(
            "enrolment of {} with {} waits for an administrator's approval: it would take over host {}, whose agent \
             reported recently (muster-collector enrolment list / approve on the collector, or the console's \
             Enrolments page)\nthe token is kept in {}; reports wait in the spool and are sent once approved\n\
             CA fingerprint {}",
            identity.hostname,
            outcome.collector,
            outcome.host_id,
            outcome.state_dir.display(),
            outcome.ca_fingerprint,
        ),
        OutputFormat::Text => println!(
            "enrolled {} with {} as host {}{}\nCA fingerprint {}; state kept in {}",
            identity.hostname,
            outcome.collector,
            outcome.host_id,
            if outcome.reenrolled { " (existing host record taken over)" } else { "" },
            outcome.ca_fingerprint,
            outcome.state_dir.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// The report loop of `run` (and of the Windows service): settings from the file unless given as flags; returns
/// the exit status.
async fn run_daemon(
    args: &RunArgs,
    matches: Option<&ArgMatches>,
    shutdown: impl Future<Output = ()>,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<u8> {
    let given = |id: &str| matches.and_then(|m| m.value_source(id)).is_some_and(|s| s != ValueSource::DefaultValue);
    let file = AgentConfig::load(&args.config)?.unwrap_or_else(AgentConfig::defaults);
    let state_dir = if given("state_dir") { args.state.state_dir.clone() } else { file.state_dir };
    let interval = if given("interval") { args.interval } else { file.interval };
    let spool_cap = if given("spool_cap_mib") { args.spool.cap_bytes() } else { file.spool_cap_mib * 1024 * 1024 };
    let agent = Agent::load(&state_dir, spool_cap)?;
    let config = RunConfig::new(interval);
    let mut rng = rand::rngs::StdRng::from_os_rng();
    log(&format!(
        "reporting to {} as host {} every {} (±10%)",
        agent.enrolment().collector_url,
        agent.enrolment().host_id,
        humantime::format_duration(interval)
    ));
    let mut inventory_config = InventoryConfig::live();
    inventory_config.language.paths = file.language_paths.clone();
    let collect = || inventory::collect(&inventory_config, chrono::Utc::now());
    match daemon::run(&agent, &config, collect, shutdown, &mut rng, log).await {
        RunExit::Shutdown => {
            log("stopped");
            Ok(0)
        }
        RunExit::TokenRejected(instruction) => {
            log(&instruction);
            Ok(EXIT_REENROL)
        }
    }
}

/// `muster-agent service`: the report loop under the service control manager, its lines appended to the service
/// log (a service has no console).
#[cfg(windows)]
fn run_service(args: RunArgs, matches: Option<ArgMatches>) -> anyhow::Result<ExitCode> {
    use muster_agent::{service, service_log::ServiceLog};
    service::run(Box::new(move |stop| {
        let mut log = ServiceLog::open(std::path::Path::new(service::LOG_FILE), chrono::Utc::now);
        let stop = async move {
            let _ = stop.await;
        };
        match with_runtime(run_daemon(&args, matches.as_ref(), stop, &mut |line| log.line(line))) {
            Ok(code) => code,
            Err(err) => {
                log.line(&format!("{err:#}"));
                EXIT_ERROR
            }
        }
    }))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_report_now(args: &ReportNowArgs) -> anyhow::Result<ExitCode> {
    let agent = Agent::load(&args.state.state_dir, args.spool.cap_bytes())?;
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut log = |line: &str| eprintln!("muster-agent: {line}");
    let report = inventory::collect(&InventoryConfig::live(), chrono::Utc::now());
    let result = daemon::report_now(&agent, &ReportNowConfig::DEFAULT, report, &mut rng, &mut log).await?;
    for warning in &result.warnings {
        log(&format!("warning: {warning}"));
    }
    if args.format == OutputFormat::Json {
        print_json(&result.delivery)?;
    }
    let code = match &result.delivery {
        Delivery::NothingToSend => EXIT_ERROR,
        Delivery::Delivered { report_id, status, sections_in_full, wire_bytes, requests } => {
            if args.format == OutputFormat::Text {
                let full: Vec<&str> = sections_in_full.iter().map(|s| s.as_str()).collect();
                println!(
                    "report {report_id} delivered: {status:?}, {wire_bytes} bytes compressed, {requests} request(s), \
                     sections in full: {}",
                    if full.is_empty() { "none".to_string() } else { full.join(",") }
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        Delivery::Deferred { report_id, reason, spooled, .. } => {
            let kept = if *spooled {
                "kept in the spool; `muster-agent run` will retry it"
            } else {
                "it could not be spooled"
            };
            log(&format!("report {report_id} not delivered ({kept}): {reason}"));
            EXIT_DEFERRED
        }
        Delivery::TokenRejected { status, error } => {
            log(&reenrol_instruction(
                *status,
                error.as_ref(),
                &agent.enrolment().collector_url,
                agent.ca_fingerprint(),
                agent.state().path(),
            ));
            EXIT_REENROL
        }
        Delivery::Refused { report_id, status, error, body } => {
            let detail = error.as_ref().map(|e| format!("{} ({})", e.message, e.error)).unwrap_or_else(|| body.clone());
            log(&format!("report {report_id} refused by the collector (HTTP {status}): {detail}"));
            EXIT_REFUSED
        }
    };
    Ok(ExitCode::from(code))
}

async fn run_doctor(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let options = DoctorOptions {
        config_path: args.config.clone(),
        state_dir: args.state_dir.clone(),
        inventory: !args.no_inventory,
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
    };
    let diagnosis = doctor::diagnose(&options, &chrono::Utc::now).await;
    match args.format {
        OutputFormat::Json => print_json(&diagnosis)?,
        OutputFormat::Text => print!("{}", diagnosis.to_text()),
    }
    Ok(if diagnosis.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn run_disposal(args: &DisposalArgs) -> anyhow::Result<ExitCode> {
    let DisposalCommand::Verify(verify) = &args.command;
    let mut rng = rand::rngs::StdRng::from_os_rng();
    disposal::command::run_verify(verify, &chrono::Utc::now, &mut rng).map(ExitCode::from)
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut json = serde_json::to_vec_pretty(value)?;
    json.push(b'\n');
    std::io::stdout().lock().write_all(&json).context("writing to stdout")
}

/// Completes on Ctrl-C (`muster-agent run` in a console; the service is stopped through `muster-agent service`).
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Completes on SIGTERM (systemd stop) or SIGINT (Ctrl-C).
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

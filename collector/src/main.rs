//! `muster-collector`: the server that enrols agents and stores what they report. Bootstrap only: logging,
//! argument parsing and the runtime; everything else is in the library.

use std::process::ExitCode;

use clap::Parser;
use muster_collector::cli::{self, Cli};
use muster_collector::logging;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

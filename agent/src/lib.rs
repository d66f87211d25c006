//! The Muster agent as a library: collectors for each report section, pure parsers, and the probes that feed them.

pub mod checks;
pub mod cli;
pub mod command;
pub mod config;
pub mod disposal;
pub mod doctor;
#[doc(hidden)]
pub mod fuzz;
pub mod inventory;
pub mod platform;
pub mod root;
#[cfg(windows)]
pub mod service;
pub mod service_log;
#[cfg(test)]
mod testutil;
pub mod transport;

//! One integration-test binary (one link) for the collector: every store and API test runs on SQLite and on
//! PostgreSQL, each on a fresh database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;
mod advisory_update;
mod agent_e2e;
mod attack;
mod connections;
mod console;
mod console_browser;
mod console_enrolments;
mod console_pages;
mod console_store;
mod containers;
mod disposal;
mod enroll;
mod faults;
mod findings;
mod ingest;
mod integrations;
mod kill;
mod language;
mod limits;
mod proxy;
mod queue;
mod read_api;
mod retention;
mod serve;
mod vulnerabilities;
mod worklist;

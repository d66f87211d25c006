//! Muster collector library: configuration, storage, ingest logic and the HTTP API; `main.rs` only boots it.

pub mod config;
pub mod identity;
pub mod ingest;
pub mod model;
pub mod store;
pub mod views;

//! Fuzzes rpm's databases (Berkeley DB, ndb, SQLite's header blobs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::rpmdb(data));

//! Fuzzes dpkg's status database.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::dpkg_status(data));

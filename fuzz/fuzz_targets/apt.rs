//! Fuzzes apt's Release, Packages lists and sources.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::apt(data));

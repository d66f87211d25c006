//! Fuzzes monitors' EDID blobs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::edid(data));

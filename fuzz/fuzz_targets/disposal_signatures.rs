//! Fuzzes the disposal check's signature detectors over a disk's bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::disposal_signatures(data));

//! Fuzzes SMBIOS dumps and tables.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::smbios(data));

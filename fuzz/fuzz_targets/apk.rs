//! Fuzzes Alpine's installed database, APKINDEX, repositories and world files.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::apk(data));

//! Fuzzes snap's snap.yaml and flatpak's deployment files.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::snap_flatpak(data));

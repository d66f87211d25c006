//! Fuzzes a pacman desc file.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::pacman(data));

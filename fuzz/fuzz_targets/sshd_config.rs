//! Fuzzes sshd's configuration and its drop-ins.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::sshd_config(data));

//! Fuzzes the login records (wtmp, lastlog) read for each account's last login.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::logins(data));

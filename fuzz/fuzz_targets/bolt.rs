//! Fuzzes the bbolt reader and containerd's schema on it (the metadata and snapshotter databases).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::bolt(data));

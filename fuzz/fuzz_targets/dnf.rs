//! Fuzzes dnf's and yum's repository metadata (repomd, primary, updateinfo), .repo files and dnf.conf.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::dnf(data));

//! Fuzzes the language package scan's files: Python metadata, npm manifests, npm, pnpm and Yarn lockfiles, gemspecs,
//! Java archives, ELF executables with Go build information or `cargo auditable` data.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| muster_agent::fuzz::language(data));

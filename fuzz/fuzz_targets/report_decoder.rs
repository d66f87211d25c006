//! Fuzzes a report body as an agent POSTs it, in each content encoding.
#![no_main]

use muster_collector::config::Limits;
use muster_collector::ingest::decode::{Encoding, decode_envelope};

// The first byte picks the encoding; limits are the defaults but for a smaller decompressed size, so that a bomb
// is refused quickly and the fuzzer's memory limit tests the bound rather than the default 64 MiB.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let encoding = match selector % 3 {
        0 => Encoding::Identity,
        1 => Encoding::Gzip,
        _ => Encoding::Zstd,
    };
    let limits = Limits { max_decompressed_bytes: 4 << 20, ..Limits::default() };
    let _ = decode_envelope(body, encoding, &limits);
});

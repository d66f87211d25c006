//! Fuzzes an advisory upload: OSV JSON, JSON lines or a zip of them.
#![no_main]

use muster_collector::vuln::db::AdvisoryDb;
use muster_collector::vuln::read::{ImportLimits, import_stream};

// The first byte picks the format the upload's name declares; the limits are the API upload's.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let name = match selector % 3 {
        0 => "advisories.json",
        1 => "advisories.jsonl",
        _ => "advisories.zip",
    };
    let mut db = AdvisoryDb::new();
    let _ = import_stream(&mut db, name, body, Some(body.len() as u64), &ImportLimits::upload(), &mut |_| {});
});

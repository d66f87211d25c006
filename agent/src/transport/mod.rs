//! Talking to the collector: enrolment with a pinned CA, delta reports, the on-disk spool and the report loop.
//!
//! Pure parts (fingerprints, delta selection, spool merge, backoff and jitter, answer classification) take their
//! inputs, randomness and time as parameters and are unit-tested beside their code; the I/O parts (state directory,
//! HTTP client, run loop) are thin and exercised by `tests/transport.rs` against a TLS test server.

pub mod access;
#[cfg(windows)]
pub mod access_windows;
pub mod backoff;
pub mod client;
pub mod daemon;
pub mod deliver;
pub mod delta;
pub mod enroll;
pub mod fingerprint;
pub mod spool;
pub mod state;
pub mod tls;

//! `muster-loadgen` as a library: simulated hosts made from real captured inventories enrol with a collector and
//! replay report traffic (a first wave, unchanged hourly reports, a patch day), measured with latency percentiles
//! corrected for coordinated omission.
//!
//! Pure planning (`fleet`, `plan`, `envelope`, `stats`) is separate from the thin I/O (`client`, `state`,
//! `traffic`, `run`), as in the agent.

pub mod cli;
pub mod client;
pub mod envelope;
pub mod fleet;
pub mod images;
pub mod plan;
pub mod run;
pub mod state;
pub mod stats;
pub mod traffic;

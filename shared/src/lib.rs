//! Wire types exchanged by the Muster agent and collector, plus pure helpers both sides need; this crate does no I/O.
//!
//! The report format is versioned: everything an agent sends lives under [`v1`]. A new incompatible format becomes
//! `v2` beside it, so a collector can accept both while a fleet upgrades.

pub mod v1;
pub mod version;

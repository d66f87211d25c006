//! Version 1 of the inventory report an agent produces and the collector ingests.
//!
//! Every optional field is absent when it could not be read; the reason is then recorded in [`Report::errors`], so
//! a missing value is never confused with an empty one.

mod containers;
mod disposal;
mod hardware;
mod report;
mod software;
mod transport;

pub use containers::*;
pub use disposal::*;
pub use hardware::*;
pub use report::*;
pub use software::*;
pub use transport::*;

/// The value of [`Report::schema`] for this version.
pub const SCHEMA: &str = "muster.v1";

//! Vulnerability detection from offline OSV advisories with each ecosystem's exact version order.
//!
//! Pure core, thin edges: [`read`] is the only I/O (files, archives, upload streams); the rest takes data and
//! returns data. The flow is import ([`read::import_paths`] into an [`AdvisoryDb`]), then per-host matching
//! through a shared [`Matcher`] cache ([`match_host`]: each match rated vendor first ([`Rating`]), given a
//! [`FixState`] from the host's pending updates and a [`Priority`]), then one fix per source package
//! ([`group_fixes`]), then output ([`scan::ScanOutput`]).
//!
//! Architecture invariant: versions are only ever ordered by `muster_shared::version`; this module compares no
//! version strings itself.

pub mod advisory;
pub mod db;
pub mod ecosystem;
pub mod finding;
pub mod fix;
pub mod fixes;
pub mod host;
pub mod kev;
pub mod keyed;
pub mod matcher;
pub mod osv;
pub mod priority;
pub mod range;
pub mod read;
pub mod scan;
pub mod severity;
pub mod stored;

pub use advisory::{Advisory, PackageKey};
pub use db::{AdvisoryDb, ChangedKeys, EolImport, ImportSummary};
pub use finding::{Finding, HostFindings, match_host};
pub use fix::{FixState, PendingUpdates};
pub use fixes::{FixGroup, Member, group_fixes, group_members};
pub use host::{HostProfile, KernelState};
pub use kev::KevCatalog;
pub use matcher::{KeyChange, Matcher};
pub use priority::Priority;
pub use read::{ImportLimits, ImportOutcome, Progress, import_paths, import_stream};
pub use scan::{ScanOutput, render_table, scan, scan_paths, scan_paths_with, scan_with};
pub use severity::{FindingPolicy, Rating, SeveritySource};

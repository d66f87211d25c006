//! Placeholder while the reader is written.
use super::{Listing, PackageSource};
use crate::root::SystemRoot;
pub(super) fn probe(_root: &SystemRoot, _found: &mut Vec<(PackageSource, Listing)>) {}

//! Version order of each package ecosystem, exactly as its own package manager sorts versions.
//!
//! Pure functions over strings: the agent uses them for pending updates, the collector for advisory matching.

pub mod dpkg;

//! The fleet's TPMs on one list, the hosts not known to have a usable TPM 2.0 first (issue 17): what a Windows 11
//! roll-out, a BitLocker plan or a TPM firmware advisory (Infineon's ROCA named vendor and firmware) needs across
//! Linux, Windows and macOS alike. Built from the stored hardware sections page by page, as the batteries list is;
//! every section is read, since the order is by state.

use muster_shared::v1::Tpm;
use serde::Deserialize;

use crate::store::{Store, StoreError};
use crate::views::{HostRef, TpmView};

/// Where a host stands, the weakest first: the one place that says what counts as a usable TPM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TpmState {
    /// The host's last hardware report named no TPM: there is none, the system hides it, it could not be read (the
    /// report's errors say so), or the inventory was of a mounted disk.
    NoneReported,
    /// A TPM 1.2: Windows 11 refuses it (BitLocker still takes one).
    Older,
    /// A TPM whose family the system did not give (a Linux kernel older than 5.6 does not say it), or one this
    /// collector does not know.
    FamilyUnknown,
    /// A TPM 2.0 that the system says is not enabled or not activated (only Windows says either).
    Off,
    /// A TPM 2.0, enabled and activated as far as the system says.
    Ready,
}

impl TpmState {
    /// Whether it is known to be a TPM 2.0 that is on: what a Windows 11 roll-out needs.
    pub fn is_usable(self) -> bool {
        self == TpmState::Ready
    }

    pub fn of(tpm: Option<&Tpm>) -> TpmState {
        let Some(tpm) = tpm else { return TpmState::NoneReported };
        match tpm.spec_version.as_deref().map(str::trim) {
            // The agents give the family alone (Windows' `2.0, 0, 1.59` is cut to its first part).
            Some("2.0") => {
                if tpm.enabled == Some(false) || tpm.activated == Some(false) {
                    TpmState::Off
                } else {
                    TpmState::Ready
                }
            }
            Some(v) if v.starts_with("1.") => TpmState::Older,
            _ => TpmState::FamilyUnknown,
        }
    }

    /// The name the API, the exports and the `state` filter use.
    pub fn key(self) -> &'static str {
        match self {
            TpmState::NoneReported => "none",
            TpmState::Older => "older",
            TpmState::FamilyUnknown => "unknown",
            TpmState::Off => "off",
            TpmState::Ready => "ready",
        }
    }

    /// What the console shows.
    pub fn label(self) -> &'static str {
        match self {
            TpmState::NoneReported => "none reported",
            TpmState::Older => "older than 2.0",
            TpmState::FamilyUnknown => "family unknown",
            TpmState::Off => "2.0, not enabled or not activated",
            TpmState::Ready => "2.0",
        }
    }

    pub const ALL: [TpmState; 5] =
        [TpmState::NoneReported, TpmState::Older, TpmState::FamilyUnknown, TpmState::Off, TpmState::Ready];
}

/// Which hosts to list by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    #[default]
    Any,
    /// Every host not known to have a usable TPM 2.0 ([`TpmState::is_usable`]).
    Lacking,
    Only(TpmState),
}

impl StateFilter {
    /// The `state` filter as the console and the API take it: empty is any, `lacking`, or one state's key.
    pub fn parse(text: Option<&str>) -> Result<StateFilter, String> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(StateFilter::Any),
            Some("lacking") => Ok(StateFilter::Lacking),
            Some(t) => TpmState::ALL
                .into_iter()
                .find(|s| s.key() == t)
                .map(StateFilter::Only)
                .ok_or_else(|| format!("state: {t:?} is not one of lacking, none, older, unknown, off, ready")),
        }
    }

    /// The filter's text for links and forms: the inverse of [`StateFilter::parse`].
    pub fn key(self) -> &'static str {
        match self {
            StateFilter::Any => "",
            StateFilter::Lacking => "lacking",
            StateFilter::Only(state) => state.key(),
        }
    }

    fn admits(self, state: TpmState) -> bool {
        match self {
            StateFilter::Any => true,
            StateFilter::Lacking => !state.is_usable(),
            StateFilter::Only(only) => state == only,
        }
    }
}

/// Which hosts to list.
#[derive(Debug, Clone, Default)]
pub struct TpmFilter {
    /// Only those whose host name, TPM manufacturer or firmware version contains this (any case).
    pub search: Option<String>,
    pub state: StateFilter,
}

/// One host and its TPM (if any) as of the host's last hardware report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmRow {
    pub host: HostRef,
    pub tpm: Option<Tpm>,
    pub state: TpmState,
}

/// Only the TPM of a stored hardware section: the rest of it is skipped, not built.
#[derive(Deserialize)]
struct HardwareTpm {
    #[serde(default)]
    tpm: Option<Tpm>,
}

/// The weakest first ([`TpmState`]'s order), then by host name and id.
fn weakest_first(a: &TpmRow, b: &TpmRow) -> std::cmp::Ordering {
    a.state.cmp(&b.state).then_with(|| a.host.hostname.cmp(&b.host.hostname)).then_with(|| a.host.id.cmp(&b.host.id))
}

/// Every host that reported its hardware and that `filter` lets through, with its TPM, the weakest first
/// ([`weakest_first`]); at most `limit` (`true` when there were more). Every hardware section is read, but only the
/// first `limit` are kept as it goes, so memory follows `limit`, not the fleet.
pub async fn tpms(store: &dyn Store, filter: &TpmFilter, limit: usize) -> Result<(Vec<TpmRow>, bool), StoreError> {
    let search = filter.search.as_deref().map(str::to_lowercase);
    let mut kept = super::FirstN::new(limit, weakest_first);
    super::scan_hardware(store, "tpm", |host, section: HardwareTpm| {
        let state = TpmState::of(section.tpm.as_ref());
        let found = search.as_deref().is_none_or(|text| matches(host, section.tpm.as_ref(), text));
        if filter.state.admits(state) && found {
            kept.push(TpmRow { host: host.clone(), tpm: section.tpm, state });
        }
        std::ops::ControlFlow::Continue(())
    })
    .await?;
    Ok(kept.finish())
}

/// Whether `text` (lower case) is part of the host name, the TPM's manufacturer or its firmware version.
fn matches(host: &HostRef, tpm: Option<&Tpm>, text: &str) -> bool {
    let fields = [
        Some(&host.hostname),
        tpm.and_then(|t| t.manufacturer.as_ref()),
        tpm.and_then(|t| t.firmware_version.as_ref()),
    ];
    fields.into_iter().flatten().any(|f| f.to_lowercase().contains(text))
}

/// A host's TPM as the API and the exports give it.
pub fn view(row: &TpmRow) -> TpmView {
    let tpm = row.tpm.as_ref();
    TpmView {
        host_id: row.host.id.clone(),
        hostname: row.host.hostname.clone(),
        state: row.state.key().to_owned(),
        spec_version: tpm.and_then(|t| t.spec_version.clone()),
        manufacturer: tpm.and_then(|t| t.manufacturer.clone()),
        firmware_version: tpm.and_then(|t| t.firmware_version.clone()),
        enabled: tpm.and_then(|t| t.enabled),
        activated: tpm.and_then(|t| t.activated),
        owned: tpm.and_then(|t| t.owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tpm(spec: Option<&str>, enabled: Option<bool>, activated: Option<bool>) -> Tpm {
        Tpm { spec_version: spec.map(str::to_owned), enabled, activated, ..Tpm::default() }
    }

    #[test]
    fn a_tpm_is_usable_only_as_a_2_0_left_on() {
        assert_eq!(TpmState::of(None), TpmState::NoneReported);
        assert_eq!(TpmState::of(Some(&tpm(Some("1.2"), Some(true), Some(true)))), TpmState::Older);
        assert_eq!(TpmState::of(Some(&tpm(None, Some(true), None))), TpmState::FamilyUnknown);
        assert_eq!(TpmState::of(Some(&tpm(Some("2.0"), Some(false), Some(true)))), TpmState::Off);
        assert_eq!(TpmState::of(Some(&tpm(Some("2.0"), Some(true), Some(false)))), TpmState::Off);
        // What the system does not say is not held against it.
        assert_eq!(TpmState::of(Some(&tpm(Some("2.0"), None, None))), TpmState::Ready);
        assert_eq!(TpmState::of(Some(&tpm(Some("3.0"), Some(true), Some(true)))), TpmState::FamilyUnknown);
    }

    #[test]
    fn the_state_filter_reads_what_it_writes() {
        for filter in
            [StateFilter::Any, StateFilter::Lacking].into_iter().chain(TpmState::ALL.into_iter().map(StateFilter::Only))
        {
            assert_eq!(StateFilter::parse(Some(filter.key())), Ok(filter));
        }
        assert_eq!(StateFilter::parse(Some(" ")), Ok(StateFilter::Any));
        assert!(StateFilter::parse(Some("1.2")).unwrap_err().contains("lacking, none"));
        assert!(StateFilter::Lacking.admits(TpmState::Off) && !StateFilter::Lacking.admits(TpmState::Ready));
    }
}

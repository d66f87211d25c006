//! Storing one agent report: the report must be the enrolled machine's, the sections' hashes are the content's;
//! in one transaction the delta check, the history diff and the host's new columns are decided from what is
//! stored ([`plan`], pure) and then written; afterwards the host's findings and vulnerability matches follow.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use muster_shared::v1::{Hardware, Os, PendingUpdate, Report, ReportEnvelope, SectionName};

use super::queue;
use crate::AppState;
use crate::app::enrol::ago;
use crate::identity;
use crate::ingest::{self, diff};
use crate::model::to_ms;
use crate::model::{HistoryEvent, StoredPackage};
use crate::store::tx::{
    HostTx, IdentityKey, ImageChange, ReportLock, ReportRow, ReportedHost, SoftwareChange, SoftwareRow, StoredLink,
};
use crate::store::{Store, StoreError};

/// One validated report, ready to store.
#[derive(Debug, Clone)]
pub struct IngestInput {
    pub report_id: String,
    /// Sections sent in full are `Some` in the report; the others are only in `hashes`.
    pub report: Report,
    /// Hash of every section the agent collected: recomputed here for full sections, as claimed for the others.
    pub hashes: BTreeMap<SectionName, String>,
    pub received_at: DateTime<Utc>,
    /// Remembered report ids older than this are forgotten.
    pub forget_reports_before: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    Stored {
        events: usize,
        /// The work it queued on the host (`app::queue`), 0 for none.
        work: i64,
    },
    Duplicate,
    /// Nothing stored: these hash-only sections differ from (or are missing in) the stored copy.
    NeedsSections(Vec<SectionName>),
    /// The host was deleted meanwhile.
    UnknownHost,
    /// The report claims a machine-id another host holds, for a host that has none yet: nothing stored.
    MachineIdTaken,
    /// The report claims another machine-id than the one the host is bound to: nothing stored.
    OtherMachine,
    /// The host is leaving or has left service (decommissioning, sanitized, disposed): its inventory is frozen, so
    /// the disks its disposal certifies are the disks it had.
    Retired(crate::disposal::lifecycle::LifecycleState),
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report names another machine than the one the token was enrolled for.
    #[error("the report's machine id differs from the enrolled host's")]
    OtherMachine,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The host a report's token belongs to.
#[derive(Debug, Clone)]
pub struct Reporter<'a> {
    pub host_id: &'a str,
    /// The machine id recorded at enrolment, when the agent sent one.
    pub machine_id: Option<&'a str>,
}

/// Stores `envelope` for `reporter`; the evaluation and matching it calls for are queued in the same transaction
/// and run after the commit (`app::queue`), so they never fail the report.
pub async fn report(
    state: &AppState,
    reporter: Reporter<'_>,
    envelope: ReportEnvelope,
) -> Result<IngestOutcome, ReportError> {
    let host_id = reporter.host_id;
    let reported_machine = envelope.report.host.as_ref().and_then(|h| h.machine_id.as_deref());
    if let (Some(reported), Some(enrolled)) = (reported_machine, reporter.machine_id)
        && reported != enrolled
    {
        tracing::warn!(host_id = %host_id, "report refused: machine id differs from the enrolled host's");
        return Err(ReportError::OtherMachine);
    }
    let (hashes, mismatched) = ingest::effective_hashes(&envelope);
    if !mismatched.is_empty() {
        tracing::warn!(host_id = %host_id, sections = ?mismatched,
            "agent's section hashes differ from the content sent; storing the content's hashes");
    }
    let now: DateTime<Utc> = (state.clock)();
    let input = IngestInput {
        report_id: envelope.report_id,
        report: envelope.report,
        hashes,
        received_at: now,
        forget_reports_before: ago(now, state.policy.report_id_retention),
    };
    let outcome = store_report(state.store.as_ref(), host_id, &input).await?;
    if let IngestOutcome::Stored { events, work } = outcome {
        tracing::debug!(host_id = %host_id, report_id = %input.report_id, events, work, "report stored");
        if work != 0 {
            state.work.after_commit(state, host_id).await;
        }
    }
    Ok(outcome)
}

/// Stores one report in one transaction: sections replaced, history written, `last_seen` updated.
pub async fn store_report(store: &dyn Store, host_id: &str, input: &IngestInput) -> Result<IngestOutcome, StoreError> {
    let mut tx = store.begin_host_tx().await?;
    // The answers other than `Stored` changed nothing (the host's lock rewrote `last_seen` as it was), and are
    // committed all the same (`tx::end`).
    let written = write_report(tx.as_mut(), host_id, input).await;
    crate::store::tx::end(tx, written).await
}

async fn write_report(tx: &mut dyn HostTx, host_id: &str, input: &IngestInput) -> Result<IngestOutcome, StoreError> {
    let Some(ReportLock { host: before, seen, hashes: stored }) =
        tx.lock_host_for_report(host_id, &input.report_id).await?
    else {
        return Ok(IngestOutcome::UnknownHost);
    };
    if before.lifecycle != crate::disposal::lifecycle::LifecycleState::InService {
        return Ok(IngestOutcome::Retired(before.lifecycle));
    }
    if seen {
        return Ok(IngestOutcome::Duplicate);
    }
    let report = &input.report;
    let needs = ingest::needs_full(report, &input.hashes, &stored);
    if !needs.is_empty() {
        return Ok(IngestOutcome::NeedsSections(needs));
    }
    let mut prior = Prior::default();
    if report.software.is_some() && stored.contains_key(SectionName::Software.as_str()) {
        prior.packages = Some(tx.stored_packages(host_id).await?);
        prior.images = Some(tx.image_digests(host_id).await?);
        // A section of an older schema that no longer parses counts as changed.
        prior.software = tx.section_content(host_id, SectionName::Software).await?.and_then(|t| parse(&t));
    }
    if report.patches.is_some() {
        prior.pending = tx
            .section_content(host_id, SectionName::Patches)
            .await?
            .and_then(|t| parse::<muster_shared::v1::Patches>(&t))
            .map(|p| p.pending);
    }
    // A section stored by an older schema that no longer parses only costs its history diff.
    if report.hardware.is_some() {
        prior.hardware = tx.section_content(host_id, SectionName::Hardware).await?.and_then(|t| parse(&t));
    }
    if report.os.is_some() {
        prior.os = tx.section_content(host_id, SectionName::Os).await?.and_then(|t| parse(&t));
    }

    let writes = plan(input, &prior).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // The first machine-id a host reports binds it; it never takes one another host holds.
    if let Some(claimed) = writes.host.machine_id {
        let bound = tx.bound_machine_id(host_id).await?;
        let holders = tx.hosts_with_identity(IdentityKey::MachineId(claimed)).await?;
        let holders: Vec<&str> = holders.iter().map(|h| h.host_id.as_str()).collect();
        match identity::machine_id_claim(host_id, bound.as_deref(), claimed, &holders) {
            identity::MachineIdClaim::Accept => {}
            identity::MachineIdClaim::OtherMachine => return Ok(IngestOutcome::OtherMachine),
            identity::MachineIdClaim::Taken => {
                tracing::warn!(host_id = %host_id, "report refused: it claims a machine id another host holds");
                return Ok(IngestOutcome::MachineIdTaken);
            }
        }
    }
    for (section, hash, content) in &writes.sections {
        tx.put_section(host_id, *section, hash, content, input.received_at).await?;
    }
    if let Some(change) = &writes.software {
        tx.write_software(host_id, change).await?;
    }
    if let Some(images) = writes.images.as_ref().filter(|c| !c.is_empty()) {
        tx.write_image_packages(host_id, images).await?;
    }
    tx.insert_history(host_id, input.received_at, &input.report_id, &writes.events).await?;
    tx.record_report(host_id, &writes.host, &writes.report, input.forget_reports_before).await?;
    let work = queue::work_for(report, writes.changes_matches(), &before, input.received_at);
    if work != 0 {
        tx.enqueue_work(host_id, work, &input.report_id, input.received_at).await?;
    }
    Ok(IngestOutcome::Stored { events: writes.events.len(), work })
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

/// What is stored of a host before a report, as far as the report's history needs it: each part only when the
/// report brings the section in full and a stored copy exists.
#[derive(Debug, Clone, Default)]
pub struct Prior {
    pub packages: Option<Vec<StoredLink>>,
    /// The stored digest of each container image's package list.
    pub images: Option<BTreeMap<String, String>>,
    /// The stored software section (without packages: see [`crate::model::StoredSoftware`]).
    pub software: Option<crate::model::StoredSoftware>,
    /// The pending updates of the stored patches section (`Some(None)`: stored, but they were unknown).
    pub pending: Option<Option<Vec<PendingUpdate>>>,
    pub hardware: Option<Hardware>,
    pub os: Option<Os>,
}

/// Everything one report writes.
#[derive(Debug, Clone)]
pub struct Writes<'a> {
    /// (section, hash, stored JSON) of every section sent in full.
    pub sections: Vec<(SectionName, String, String)>,
    /// How the host's package links change, when the software section came in full.
    pub software: Option<SoftwareChange<'a>>,
    /// How the container images' package lists change, when the software section came in full.
    pub images: Option<ImageChange>,
    /// Whether a section came in full with other facts matching reads than stored, beside the packages and image
    /// lists: the listening sockets (exposure), the images' OS, tags and completeness (their ecosystems and finding
    /// keys), or the pending updates (`fix_state`).
    pub facts_changed: bool,
    pub host: ReportedHost<'a>,
    pub events: Vec<HistoryEvent>,
    pub report: ReportRow<'a>,
}

impl Writes<'_> {
    /// Whether the report changes what the host's matches are made from: its packages, its images (package lists,
    /// OS, tags), the sockets that expose them, or its pending updates. A software section sent in full because only
    /// a container started or stopped, or a patches section because only the lists' refresh time moved, changes none
    /// of them, and leaves the matches alone.
    pub fn changes_matches(&self) -> bool {
        let packages = self.software.as_ref().is_some_and(|c| c.first || !c.is_empty());
        packages || self.images.as_ref().is_some_and(|c| !c.is_empty()) || self.facts_changed
    }
}

/// Decides what a report that passed the delta check writes, from the report and what was stored before.
pub fn plan<'a>(input: &'a IngestInput, prior: &Prior) -> Result<Writes<'a>, serde_json::Error> {
    let report: &'a Report = &input.report;
    let mut events = Vec::new();
    if let (Some(software), Some(old)) = (&report.software, &prior.packages) {
        let new: Vec<StoredPackage> = software.packages.iter().map(Into::into).collect();
        events.extend(diff::package_events(old.iter().map(|l| &l.package), &new));
    }
    if let (Some(new), Some(old)) = (&report.hardware, &prior.hardware) {
        events.extend(diff::hardware_events(old, new));
    }
    if let (Some(new), Some(old)) = (&report.os, &prior.os) {
        events.extend(diff::os_events(old, new));
    }
    let stored_software = report.software.as_ref().map(crate::model::StoredSoftware::of);
    let sections: Vec<(SectionName, String, String)> = ingest::section_contents(report, stored_software.as_ref())?
        .into_iter()
        .map(|(section, content)| (section, input.hashes.get(&section).cloned().unwrap_or_default(), content))
        .collect();
    let software = report.software.as_ref().map(|software| {
        let mut by_id = BTreeMap::new();
        for p in &software.packages {
            by_id.entry(ingest::software_id(p)).or_insert(p);
        }
        software_change(by_id.into_iter().map(|(id, package)| SoftwareRow { id, package }), prior.packages.as_deref())
    });
    let images = match &report.software {
        Some(software) => Some(ingest::image_change(ingest::image_packages(software)?, prior.images.as_ref())),
        None => None,
    };
    let software_changed = stored_software
        .as_ref()
        .is_some_and(|new| prior.software.as_ref().is_none_or(|old| !old.same_matching_facts(new)));
    let pending_changed = report.patches.as_ref().is_some_and(|p| prior.pending.as_ref() != Some(&p.pending));
    let facts_changed = software_changed || pending_changed;
    let hardware_identity = report
        .hardware
        .as_ref()
        .and_then(|h| h.system.as_ref())
        .and_then(|system| identity::hardware_identity(system.uuid.as_deref(), system.serial.as_deref()));
    let host = ReportedHost {
        agent_version: &report.agent.version,
        hostname: report.host.as_ref().and_then(|h| h.hostname.as_deref()),
        machine_id: report.host.as_ref().and_then(|h| h.machine_id.as_deref()),
        hardware_identity,
        os: report.os.as_ref(),
    };
    let full: Vec<&str> = sections.iter().map(|(s, _, _)| s.as_str()).collect();
    let row = ReportRow {
        report_id: &input.report_id,
        received_at: input.received_at,
        collected_at: report.collected_at,
        full_sections: full.join(","),
    };
    Ok(Writes { sections, software, images, facts_changed, host, events, report: row })
}

/// The writes that turn the stored links into `rows` (one per catalogue key): only what differs, so a report
/// that upgrades one package touches that package's rows; every row when nothing was stored.
pub fn software_change<'a>(
    rows: impl Iterator<Item = SoftwareRow<'a>>,
    stored: Option<&[StoredLink]>,
) -> SoftwareChange<'a> {
    let Some(stored) = stored else {
        return SoftwareChange { first: true, insert: rows.collect(), ..SoftwareChange::default() };
    };
    let mut old: std::collections::HashMap<&str, &StoredLink> =
        stored.iter().map(|l| (l.software_id.as_str(), l)).collect();
    let mut change = SoftwareChange::default();
    for row in rows {
        match old.remove(row.id.as_str()) {
            None => change.insert.push(row),
            Some(link) if !same_host_columns(link, row.package) => change.update.push(row),
            Some(_) => {}
        }
    }
    change.delete = old.into_keys().map(str::to_owned).collect();
    change.delete.sort();
    change
}

fn same_host_columns(link: &StoredLink, package: &muster_shared::v1::Package) -> bool {
    link.installed_at == package.installed_at.map(to_ms)
        && link.size_bytes == package.size_bytes.and_then(|s| i64::try_from(s).ok())
        && link.state == package.state
        && link.channel == package.channel
        // A publisher reported where the catalogue row has none (a snap's, outside its id). The row keeps the first
        // publisher it was given (store::tx `write_software`), so a host that says another changes nothing.
        && (package.publisher.is_none() || link.publisher.is_some())
}

#[cfg(test)]
mod tests;

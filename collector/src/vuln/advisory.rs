//! The matching model of an advisory: only what decides and describes a finding, with repeated strings shared.
//!
//! Converting from [`RawRecord`] is where real-export oddities are resolved: affected entries without a package,
//! GIT ranges, ecosystems we cannot order and malformed events are dropped and counted, never guessed at.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use muster_shared::version::Ecosystem;

use super::ecosystem::{advisory_name, osv_version_order, version_order};
use super::osv::{RawAffected, RawRecord, RawSeverity, RawSpecific};
use super::severity::{Severity, SeverityLevel, is_end_of_life, is_vendor_label, summary_label};

/// An OSV ecosystem and a package name in it: the unit advisories are indexed and re-matched by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageKey {
    pub ecosystem: Arc<str>,
    pub name: Arc<str>,
}

/// The most of an advisory's `details` text stored: records of well-known sources stay far below it; a hostile
/// or broken feed cannot fill the database through one field.
pub const DETAILS_MAX_BYTES: usize = 16 * 1024;

/// `text` cut at [`DETAILS_MAX_BYTES`] on a character boundary, with a mark saying it was cut.
pub fn cut_details(text: &str) -> Box<str> {
    if text.len() <= DETAILS_MAX_BYTES {
        return text.into();
    }
    let mut end = DETAILS_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut at {} KiB)", &text[..end], DETAILS_MAX_BYTES / 1024).into()
}

#[derive(Debug, Clone)]
pub struct Advisory {
    pub id: Arc<str>,
    pub modified: Option<DateTime<Utc>>,
    pub published: Option<DateTime<Utc>>,
    pub withdrawn: Option<DateTime<Utc>>,
    /// `aliases`, plus the CVE ids of `upstream` and `related` (Debian DSAs and AlmaLinux ALSAs name their CVEs
    /// only there); never the record's own id.
    pub aliases: Arc<[Arc<str>]>,
    pub summary: Option<Box<str>>,
    /// The record's `details` text (cut at [`DETAILS_MAX_BYTES`]), kept while an import is stored; advisories
    /// rebuilt from the store leave it out, as matching never reads it.
    pub details: Option<Box<str>>,
    pub severity: Severity,
    pub affected: Box<[Affected]>,
    /// When CISA added this advisory (or one of its aliases) to the Known Exploited Vulnerabilities catalog.
    pub kev_added: Option<NaiveDate>,
}

/// One package of one ecosystem the advisory affects.
#[derive(Debug, Clone)]
pub struct Affected {
    pub key: PackageKey,
    pub ranges: Box<[Range]>,
    /// Enumerated affected versions, sorted bytewise for binary search, shared between records.
    pub versions: Arc<[Arc<str>]>,
    /// Ubuntu: binary packages built from this source, as `ecosystem_specific.binaries` lists them.
    pub binaries: Box<[Arc<str>]>,
    /// The vendor's own word on this package in this release, as published: a rating (Debian `unimportant`…`high`,
    /// Ubuntu `negligible`…`critical`, Red Hat family `Low`…`Critical`) or Debian's `end-of-life`. See
    /// [`vendor_label`] for where it is read.
    pub vendor_severity: Option<Arc<str>>,
}

/// An ECOSYSTEM or SEMVER range with its events sorted by version (`introduced: "0"` first).
#[derive(Debug, Clone)]
pub struct Range {
    pub order: Ecosystem,
    pub events: Box<[Event]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Introduced(Arc<str>),
    Fixed(Arc<str>),
    LastAffected(Arc<str>),
    Limit(Arc<str>),
}

impl Event {
    pub fn version(&self) -> &str {
        match self {
            Self::Introduced(v) | Self::Fixed(v) | Self::LastAffected(v) | Self::Limit(v) => v,
        }
    }
}

/// Why parts of records were not imported, counted by reason.
pub type SkipCounts = BTreeMap<&'static str, u64>;

pub const SKIP_EMPTY_PACKAGE: &str = "affected entry without package";
pub const SKIP_GIT_RANGE: &str = "GIT range";
pub const SKIP_UNSUPPORTED_ECOSYSTEM: &str = "affected entry in an ecosystem without version order";
pub const SKIP_UNSUPPORTED_RANGE: &str = "range of unsupported type";
pub const SKIP_BAD_EVENT: &str = "range with a malformed event";
pub const SKIP_NOTHING_TO_MATCH: &str = "affected entry without ranges or versions";

/// Shares equal strings and equal version lists between records, which keeps a full distribution export small.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Arc<str>>,
    lists: HashSet<Arc<[Arc<str>]>>,
}

impl Interner {
    pub fn str(&mut self, s: &str) -> Arc<str> {
        if let Some(found) = self.strings.get(s) {
            return found.clone();
        }
        let new: Arc<str> = Arc::from(s);
        self.strings.insert(new.clone());
        new
    }

    pub fn list(&mut self, list: Vec<Arc<str>>) -> Arc<[Arc<str>]> {
        if let Some(found) = self.lists.get(list.as_slice()) {
            return found.clone();
        }
        let new: Arc<[Arc<str>]> = Arc::from(list);
        self.lists.insert(new.clone());
        new
    }
}

impl Advisory {
    /// Normalises one record; what cannot be matched is dropped and counted in `skipped`.
    pub fn from_raw(raw: RawRecord<'_>, interner: &mut Interner, skipped: &mut SkipCounts) -> Self {
        let mut labels: Vec<String> = Vec::new();
        let mut vectors: Vec<String> = Vec::new();
        collect_severity(raw.severity.as_deref(), &mut vectors, &mut labels);
        collect_specific(raw.database_specific.as_ref(), &mut labels);
        if let Some(label) = raw.summary.as_ref().and_then(|s| summary_label(s.as_str())) {
            labels.push(label.to_owned());
        }
        // Labels of the whole record (Ubuntu's `severity[type=Ubuntu]`, a Red Hat family summary's impact): they
        // rate every entry that has no label of its own.
        let record_vendor = vendor_label(labels.iter().map(String::as_str)).map(|l| interner.str(l));

        let mut affected = Vec::new();
        for entry in raw.affected.unwrap_or_default() {
            let mut entry_labels: Vec<String> = Vec::new();
            collect_severity(entry.severity.as_deref(), &mut vectors, &mut entry_labels);
            collect_specific(entry.ecosystem_specific.as_ref(), &mut entry_labels);
            collect_specific(entry.database_specific.as_ref(), &mut entry_labels);
            let vendor = vendor_label(entry_labels.iter().map(String::as_str))
                .map(|l| interner.str(l))
                .or_else(|| record_vendor.clone());
            labels.extend(entry_labels);
            if let Some(mut a) = convert_affected(entry, interner, skipped) {
                a.vendor_severity = vendor;
                affected.push(a);
            }
        }
        let severity = Severity::from_vectors(vectors.iter().map(String::as_str))
            .unwrap_or_else(|| Severity::from_labels(labels.iter().map(String::as_str)));

        let id = raw.id.as_str();
        let mut aliases: Vec<Arc<str>> = Vec::new();
        let cves = raw.upstream.iter().chain(raw.related.iter()).flatten().filter(|s| s.as_str().starts_with("CVE-"));
        for alias in raw.aliases.iter().flatten().chain(cves) {
            let alias = alias.as_str().trim();
            if !alias.is_empty() && alias != id && !aliases.iter().any(|a| a.as_ref() == alias) {
                aliases.push(interner.str(alias));
            }
        }

        Self {
            id: Arc::from(id),
            modified: raw.modified.as_ref().and_then(|t| parse_time(t.as_str())),
            published: raw.published.as_ref().and_then(|t| parse_time(t.as_str())),
            withdrawn: raw.withdrawn.as_ref().and_then(|t| parse_time(t.as_str())),
            aliases: Arc::from(aliases),
            summary: raw.summary.map(|s| s.0.into()),
            details: raw.details.map(|d| cut_details(d.as_str())).filter(|d| !d.trim().is_empty()),
            severity,
            affected: affected.into(),
            kev_added: None,
        }
    }

    /// The advisory id first, then its aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_ref()).chain(self.aliases.iter().map(|a| a.as_ref()))
    }
}

fn collect_severity(list: Option<&[RawSeverity<'_>]>, vectors: &mut Vec<String>, labels: &mut Vec<String>) {
    for s in list.unwrap_or_default() {
        let (Some(kind), Some(score)) = (&s.kind, &s.score) else { continue };
        if kind.as_str().starts_with("CVSS_") {
            vectors.push(score.as_str().to_owned());
        } else {
            labels.push(score.as_str().to_owned());
        }
    }
}

fn collect_specific(specific: Option<&RawSpecific<'_>>, labels: &mut Vec<String>) {
    let Some(s) = specific else { return };
    labels.extend(s.labels().into_iter().map(str::to_owned));
}

/// The vendor's label among `labels`: the most severe rating, else `end-of-life`, else none (placeholders such as
/// `not yet assigned` are not a rating). A USN fixing several CVEs is rated by its most severe one.
pub fn vendor_label<'a>(labels: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(SeverityLevel, &str)> = None;
    let mut end_of_life = None;
    for label in labels.into_iter().map(str::trim).filter(|l| is_vendor_label(l)) {
        match SeverityLevel::from_label(label) {
            Some(level) if best.is_none_or(|(b, _)| level > b) => best = Some((level, label)),
            Some(_) => {}
            None if is_end_of_life(label) => end_of_life = Some(label),
            None => {}
        }
    }
    best.map(|(_, l)| l).or(end_of_life)
}

fn convert_affected(entry: RawAffected<'_>, interner: &mut Interner, skipped: &mut SkipCounts) -> Option<Affected> {
    let ranges = entry.ranges.unwrap_or_default();
    let package = entry.package.as_ref();
    let eco = package.and_then(|p| p.ecosystem.as_ref()).map(|e| e.as_str().trim()).filter(|e| !e.is_empty());
    let name = package.and_then(|p| p.name.as_ref()).map(|n| n.as_str().trim()).filter(|n| !n.is_empty());
    let (Some(eco), Some(name)) = (eco, name) else {
        *skipped.entry(SKIP_EMPTY_PACKAGE).or_default() += 1;
        let git = ranges.iter().filter(|r| r.kind.as_ref().is_some_and(|k| k.as_str() == "GIT")).count();
        *skipped.entry(SKIP_GIT_RANGE).or_default() += git as u64;
        return None;
    };
    let Some(eco_order) = osv_version_order(eco) else {
        *skipped.entry(SKIP_UNSUPPORTED_ECOSYSTEM).or_default() += 1;
        return None;
    };

    let mut converted = Vec::new();
    for range in ranges {
        let order = match range.kind.as_ref().map(|k| k.as_str()) {
            Some("ECOSYSTEM") => eco_order,
            Some("SEMVER") => Ecosystem::Semver,
            Some("GIT") => {
                *skipped.entry(SKIP_GIT_RANGE).or_default() += 1;
                continue;
            }
            _ => {
                *skipped.entry(SKIP_UNSUPPORTED_RANGE).or_default() += 1;
                continue;
            }
        };
        let mut events = Vec::new();
        let mut bad = false;
        for e in range.events.unwrap_or_default() {
            let event = match (e.introduced, e.fixed, e.last_affected, e.limit) {
                (Some(v), None, None, None) => Event::Introduced(interner.str(v.as_str().trim())),
                (None, Some(v), None, None) => Event::Fixed(interner.str(v.as_str().trim())),
                (None, None, Some(v), None) => Event::LastAffected(interner.str(v.as_str().trim())),
                (None, None, None, Some(v)) => Event::Limit(interner.str(v.as_str().trim())),
                _ => {
                    bad = true;
                    break;
                }
            };
            events.push(event);
        }
        if bad || events.is_empty() {
            *skipped.entry(SKIP_BAD_EVENT).or_default() += 1;
            continue;
        }
        sort_events(order, &mut events);
        converted.push(Range { order, events: events.into() });
    }

    let mut versions: Vec<Arc<str>> =
        entry.versions.unwrap_or_default().iter().map(|v| interner.str(v.as_str().trim())).collect();
    versions.sort_unstable();
    versions.dedup();
    if converted.is_empty() && versions.is_empty() {
        *skipped.entry(SKIP_NOTHING_TO_MATCH).or_default() += 1;
        return None;
    }

    let binaries = entry
        .ecosystem_specific
        .and_then(|s| s.binaries)
        .map(|b| b.0.iter().map(|(n, _)| interner.str(n)).collect::<Vec<_>>())
        .unwrap_or_default();
    Some(Affected {
        key: PackageKey { ecosystem: interner.str(eco), name: interner.str(&advisory_name(eco, name)) },
        ranges: converted.into(),
        versions: interner.list(versions),
        binaries: binaries.into(),
        vendor_severity: None,
    })
}

/// Sorts events by version as the OSV evaluation algorithm requires; `"0"` sorts first, `limit: "*"` last. Versions
/// the order rejects keep their place relative to each other.
fn sort_events(order: Ecosystem, events: &mut [Event]) {
    events.sort_by(|a, b| {
        let (va, vb) = (a.version(), b.version());
        let rank = |e: &Event| match e {
            Event::Introduced(v) if v.as_ref() == "0" => 0,
            Event::Limit(v) if v.as_ref() == "*" => 2,
            _ => 1,
        };
        rank(a).cmp(&rank(b)).then_with(|| {
            if rank(a) == 1 { version_order(order, va, vb).unwrap_or(Ordering::Equal) } else { Ordering::Equal }
        })
    });
}

/// OSV timestamps are RFC 3339; some exporters drop the zone, which OSV defines as UTC.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc()))
}

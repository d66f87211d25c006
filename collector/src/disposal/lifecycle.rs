//! The asset lifecycle as data: states, destinations, and which disks of a host still lack sanitization evidence.
//!
//! Pure: the store loads disks and evidence, this decides; nothing here reads the database or the clock.

use chrono::{DateTime, Utc};
use muster_shared::v1::Disk;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a host is in its life. Only `in_service` hosts count in stale/missing statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleState {
    InService,
    /// An analyst started its disposal; its disks are being sanitized and verified.
    Decommissioning,
    /// Every known disk has a passing verification or a witnessed destruction; certificates are issued.
    Sanitized,
    /// Handed over (recycler, resale, donation) or destroyed. Final.
    Disposed,
}

impl LifecycleState {
    pub const ALL: [LifecycleState; 4] = [
        LifecycleState::InService,
        LifecycleState::Decommissioning,
        LifecycleState::Sanitized,
        LifecycleState::Disposed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::InService => "in_service",
            LifecycleState::Decommissioning => "decommissioning",
            LifecycleState::Sanitized => "sanitized",
            LifecycleState::Disposed => "disposed",
        }
    }

    pub fn parse(s: &str) -> Option<LifecycleState> {
        LifecycleState::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// Where a sanitized host goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    Recycler,
    Resale,
    Donation,
    Destroyed,
}

impl Destination {
    pub const ALL: [Destination; 4] =
        [Destination::Recycler, Destination::Resale, Destination::Donation, Destination::Destroyed];

    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Recycler => "recycler",
            Destination::Resale => "resale",
            Destination::Donation => "donation",
            Destination::Destroyed => "destroyed",
        }
    }

    pub fn parse(s: &str) -> Option<Destination> {
        Destination::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// A storage device as the host's inventory listed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KnownDisk {
    /// Kernel name, e.g. `nvme0n1`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
}

impl KnownDisk {
    pub fn from_inventory(disk: &Disk) -> KnownDisk {
        KnownDisk {
            name: disk.name.clone(),
            vendor: clean(disk.vendor.as_deref()),
            model: clean(disk.model.as_deref()),
            serial: clean(disk.serial.as_deref()),
            size_bytes: disk.size_bytes,
            rotational: disk.rotational,
            transport: disk.transport.clone(),
        }
    }

    /// How people name this disk: its serial, or `name:<kernel name>` when the inventory has no serial.
    pub fn label(&self) -> String {
        match &self.serial {
            Some(serial) => serial.clone(),
            None => format!("name:{}", self.name),
        }
    }

    /// Whether evidence naming `serial` / `name` is about this disk. A disk with a serial is matched by serial only
    /// (kernel names move between boots); one without is matched by kernel name, and only by evidence without one.
    pub fn matches(&self, serial: Option<&str>, name: Option<&str>) -> bool {
        match (&self.serial, clean(serial)) {
            (Some(mine), Some(theirs)) => mine.eq_ignore_ascii_case(&theirs),
            (None, None) => name.is_some_and(|n| n.trim_start_matches("/dev/") == self.name),
            _ => false,
        }
    }

    /// NIST's media type, from what the inventory says of the device.
    pub fn media_type(&self) -> String {
        media_type(self.transport.as_deref(), self.rotational)
    }
}

/// NIST's media type from a transport and rotational flag.
pub fn media_type(transport: Option<&str>, rotational: Option<bool>) -> String {
    let kind = match (transport, rotational) {
        (Some("nvme"), _) => "flash memory (NVMe SSD)",
        (Some("mmc"), _) => "flash memory (eMMC/SD)",
        (Some("usb"), Some(false)) => "flash memory (USB)",
        (_, Some(true)) => "magnetic (hard disk drive)",
        (_, Some(false)) => "flash memory (SSD)",
        (_, None) => "unknown",
    };
    match transport {
        Some(t) if t != "nvme" && t != "mmc" => format!("{kind}, {t}"),
        _ => kind.to_owned(),
    }
}

/// A trimmed, non-empty string (NVMe and ATA serials come space-padded).
pub fn clean(value: Option<&str>) -> Option<String> {
    value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The disks a case must cover: those listed when it was opened, plus any a later inventory added. A disk that
/// disappeared from the inventory still holds its data, so it is never dropped.
pub fn merge_disks(snapshot: &[KnownDisk], current: &[KnownDisk]) -> Vec<KnownDisk> {
    let mut out = snapshot.to_vec();
    for disk in current {
        if !out.iter().any(|d| d.matches(disk.serial.as_deref(), Some(&disk.name))) {
            out.push(disk.clone());
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// A `muster-agent disposal verify` result for the medium.
    Verification,
    /// Physical destruction recorded by an analyst, with a witness.
    Destruction,
}

impl EvidenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Verification => "verification",
            EvidenceKind::Destruction => "destruction",
        }
    }

    pub fn parse(s: &str) -> Option<EvidenceKind> {
        [EvidenceKind::Verification, EvidenceKind::Destruction].into_iter().find(|k| k.as_str() == s)
    }
}

/// One piece of evidence about one medium.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Evidence {
    pub id: String,
    pub kind: EvidenceKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_name: Option<String>,
    pub passed: bool,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
    /// The agent's `MediumVerification`, or the destruction record.
    pub details: serde_json::Value,
}

/// How far one disk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiskState {
    /// A passing verification.
    Verified,
    /// A witnessed physical destruction.
    Destroyed,
    /// Only failing (or erroneous) verifications so far.
    Failed,
    /// Nothing recorded.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DiskCoverage {
    pub disk: KnownDisk,
    pub state: DiskState,
    /// The evidence that settles it (the latest passing one), or the latest failing one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_id: Option<String>,
}

impl DiskCoverage {
    pub fn is_done(&self) -> bool {
        matches!(self.state, DiskState::Verified | DiskState::Destroyed)
    }
}

/// Each disk's state given the evidence recorded so far.
pub fn coverage(disks: &[KnownDisk], evidence: &[Evidence]) -> Vec<DiskCoverage> {
    disks
        .iter()
        .map(|disk| {
            let mut about: Vec<&Evidence> =
                evidence.iter().filter(|e| disk.matches(e.disk_serial.as_deref(), e.disk_name.as_deref())).collect();
            about.sort_by(|a, b| (a.recorded_at, &a.id).cmp(&(b.recorded_at, &b.id)));
            let (state, evidence_id) = match about.iter().rev().find(|e| e.passed) {
                Some(e) if e.kind == EvidenceKind::Destruction => (DiskState::Destroyed, Some(e.id.clone())),
                Some(e) => (DiskState::Verified, Some(e.id.clone())),
                None => match about.last() {
                    Some(e) => (DiskState::Failed, Some(e.id.clone())),
                    None => (DiskState::Missing, None),
                },
            };
            DiskCoverage { disk: disk.clone(), state, evidence_id }
        })
        .collect()
}

/// Sanitized means at least one disk is known and every known disk is covered: with no disk known, nothing is
/// proven.
pub fn is_sanitized(coverage: &[DiskCoverage]) -> bool {
    !coverage.is_empty() && coverage.iter().all(DiskCoverage::is_done)
}

/// What still stands between the host and `sanitized`, one line per disk, for people.
pub fn missing(coverage: &[DiskCoverage]) -> Vec<String> {
    if coverage.is_empty() {
        return vec![
            "no storage device is known from the host's inventory; send a hardware inventory first".to_owned(),
        ];
    }
    coverage
        .iter()
        .filter(|c| !c.is_done())
        .map(|c| {
            let what = match c.state {
                DiskState::Failed => "its verification failed",
                _ => "no passing verification or destruction record",
            };
            let model = c.disk.model.as_deref().map(|m| format!(", {m}")).unwrap_or_default();
            format!("{} ({}{model}): {what}", c.disk.label(), c.disk.name)
        })
        .collect()
}

/// Operator and verifier should be two people; the same name (ignoring case and spacing) is worth a warning.
pub fn same_person(operator: &str, verifier: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    norm(operator) == norm(verifier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn disk(name: &str, serial: Option<&str>) -> KnownDisk {
        KnownDisk::from_inventory(&Disk {
            name: name.into(),
            model: Some("M".into()),
            serial: serial.map(Into::into),
            size_bytes: 1,
            rotational: Some(false),
            transport: Some("nvme".into()),
            ..Disk::default()
        })
    }

    fn evidence(
        id: &str,
        kind: EvidenceKind,
        serial: Option<&str>,
        name: Option<&str>,
        passed: bool,
        at: u32,
    ) -> Evidence {
        Evidence {
            id: id.into(),
            kind,
            disk_serial: serial.map(Into::into),
            disk_name: name.map(Into::into),
            passed,
            recorded_at: Utc.with_ymd_and_hms(2026, 3, 2, at, 0, 0).unwrap(),
            recorded_by: "t".into(),
            details: serde_json::Value::Null,
        }
    }

    #[test]
    fn every_disk_needs_passing_evidence() {
        let disks = [disk("nvme0n1", Some("S4EW ")), disk("vda", None)];
        let none = coverage(&disks, &[]);
        assert!(!is_sanitized(&none));
        assert_eq!(
            missing(&none),
            [
                "S4EW (nvme0n1, M): no passing verification or destruction record",
                "name:vda (vda, M): no passing verification or destruction record"
            ]
        );
        let ev = [
            evidence("a", EvidenceKind::Verification, Some("s4ew"), Some("sdz"), false, 9),
            evidence("b", EvidenceKind::Verification, None, Some("/dev/vda"), true, 10),
        ];
        let partial = coverage(&disks, &ev);
        assert_eq!(partial.iter().map(|c| c.state).collect::<Vec<_>>(), [DiskState::Failed, DiskState::Verified]);
        assert_eq!(missing(&partial), ["S4EW (nvme0n1, M): its verification failed"]);
        let mut ev = ev.to_vec();
        ev.push(evidence("c", EvidenceKind::Destruction, Some("S4EW"), None, true, 11));
        let done = coverage(&disks, &ev);
        assert_eq!(done[0].state, DiskState::Destroyed);
        assert!(is_sanitized(&done));
        assert!(!is_sanitized(&coverage(&[], &ev)));
    }

    #[test]
    fn serials_are_not_matched_by_name() {
        let d = disk("sda", Some("X1"));
        assert!(!d.matches(None, Some("sda")));
        assert!(!d.matches(Some("X2"), Some("sda")));
        assert!(d.matches(Some(" x1 "), Some("sdb")));
        let merged = merge_disks(std::slice::from_ref(&d), &[disk("sdb", Some("X1")), disk("sdc", Some("X3"))]);
        assert_eq!(merged.iter().map(KnownDisk::label).collect::<Vec<_>>(), ["X1", "X3"]);
    }

    #[test]
    fn names_and_people() {
        assert!(same_person("Ana  Lima", " ana lima"));
        assert!(!same_person("Ana Lima", "Bo Chen"));
        assert_eq!(media_type(Some("sata"), Some(true)), "magnetic (hard disk drive), sata");
        assert_eq!(media_type(Some("nvme"), Some(false)), "flash memory (NVMe SSD)");
        assert_eq!(LifecycleState::parse("decommissioning"), Some(LifecycleState::Decommissioning));
    }
}

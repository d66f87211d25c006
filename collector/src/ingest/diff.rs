//! History: the changes between a host's stored state and a new report, as events (pure; no I/O).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use muster_shared::v1::{Disk, Hardware, Os, Package};
use serde_json::json;

pub use crate::model::StoredPackage;
use crate::model::{EventKind, HistoryEvent};

impl From<&Package> for StoredPackage {
    fn from(p: &Package) -> StoredPackage {
        StoredPackage {
            kind: p.kind.as_str().to_owned(),
            name: p.name.clone(),
            version: p.version.clone(),
            arch: p.arch.clone(),
        }
    }
}

/// Package changes. Packages are matched on (kind, name, arch); a single version replaced by another is an upgrade
/// (or a downgrade where the kind's version order is known), anything else is installs and removals.
pub fn package_events<'p>(
    old: impl IntoIterator<Item = &'p StoredPackage>,
    new: impl IntoIterator<Item = &'p StoredPackage>,
) -> Vec<HistoryEvent> {
    type Key<'a> = (&'a str, &'a str, Option<&'a str>);
    fn group<'a>(list: impl IntoIterator<Item = &'a StoredPackage>) -> BTreeMap<Key<'a>, BTreeSet<&'a str>> {
        let mut map: BTreeMap<Key<'_>, BTreeSet<&str>> = BTreeMap::new();
        for p in list {
            map.entry((p.kind.as_str(), p.name.as_str(), p.arch.as_deref())).or_default().insert(p.version.as_str());
        }
        map
    }
    let (old, new) = (group(old), group(new));
    let empty = BTreeSet::new();
    let keys: BTreeSet<&Key<'_>> = old.keys().chain(new.keys()).collect();
    let mut events = Vec::new();
    for key in keys {
        let (kind, name, arch) = *key;
        let before = old.get(key).unwrap_or(&empty);
        let after = new.get(key).unwrap_or(&empty);
        if before == after {
            continue;
        }
        let subject = match arch {
            Some(arch) => format!("{name}:{arch}"),
            None => name.to_owned(),
        };
        let details = json!({ "package_kind": kind, "name": name, "arch": arch });
        let event = |kind: EventKind, from: Option<&str>, to: Option<&str>| HistoryEvent {
            kind,
            subject: subject.clone(),
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            details: details.clone(),
        };
        if let ([from], [to]) = (
            before.iter().copied().collect::<Vec<_>>().as_slice(),
            after.iter().copied().collect::<Vec<_>>().as_slice(),
        ) {
            let lower = kind == "deb" && muster_shared::version::dpkg::compare(to, from) == Ordering::Less;
            let event_kind = if lower { EventKind::PackageDowngraded } else { EventKind::PackageUpgraded };
            events.push(event(event_kind, Some(from), Some(to)));
            continue;
        }
        for gone in before.difference(after) {
            events.push(event(EventKind::PackageRemoved, Some(gone), None));
        }
        for added in after.difference(before) {
            events.push(event(EventKind::PackageInstalled, None, Some(added)));
        }
    }
    events
}

/// Disks added or removed, memory size changed, system serial changed.
pub fn hardware_events(old: &Hardware, new: &Hardware) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    let disk_key = |d: &Disk| {
        d.serial
            .clone()
            .or_else(|| d.wwn.clone())
            .map(|id| format!("id:{id}"))
            .unwrap_or_else(|| format!("name:{}", d.name))
    };
    let old_disks: BTreeMap<String, &Disk> = old.disks.iter().map(|d| (disk_key(d), d)).collect();
    let new_disks: BTreeMap<String, &Disk> = new.disks.iter().map(|d| (disk_key(d), d)).collect();
    let describe = |d: &Disk| {
        let model = d.model.as_deref().unwrap_or("disk");
        format!("{} {} {} bytes", d.name, model, d.size_bytes)
    };
    let disk_details = |change: &str, d: &Disk| json!({ "change": change, "name": d.name, "model": d.model, "serial": d.serial, "size_bytes": d.size_bytes });
    for (key, disk) in &old_disks {
        if !new_disks.contains_key(key) {
            events.push(HistoryEvent {
                kind: EventKind::HardwareChanged,
                subject: disk.name.clone(),
                from: Some(describe(disk)),
                to: None,
                details: disk_details("disk_removed", disk),
            });
        }
    }
    for (key, disk) in &new_disks {
        if !old_disks.contains_key(key) {
            events.push(HistoryEvent {
                kind: EventKind::HardwareChanged,
                subject: disk.name.clone(),
                from: None,
                to: Some(describe(disk)),
                details: disk_details("disk_added", disk),
            });
        }
    }

    if let Some((from, to)) = memory_change(old, new) {
        events.push(HistoryEvent {
            kind: EventKind::HardwareChanged,
            subject: "memory".to_owned(),
            from: Some(from.to_string()),
            to: Some(to.to_string()),
            details: json!({ "change": "memory_changed", "from_bytes": from, "to_bytes": to }),
        });
    }

    let serial = |h: &Hardware| h.system.as_ref().and_then(|s| s.serial.clone());
    if let (Some(from), Some(to)) = (serial(old), serial(new))
        && from != to
    {
        events.push(HistoryEvent {
            kind: EventKind::HardwareChanged,
            subject: "system.serial".to_owned(),
            from: Some(from),
            to: Some(to),
            details: json!({ "change": "serial_changed" }),
        });
    }
    events
}

/// Installed memory: the sum of the SMBIOS modules when both sides have them (exact), else the kernel's total,
/// which moves by a few MiB across kernel updates, so only a change over 2% counts.
fn memory_change(old: &Hardware, new: &Hardware) -> Option<(u64, u64)> {
    let modules = |h: &Hardware| -> u64 { h.memory_modules.iter().filter_map(|m| m.size_bytes).sum() };
    let (a, b) = (modules(old), modules(new));
    if a > 0 && b > 0 {
        return (a != b).then_some((a, b));
    }
    let (a, b) = (old.memory.as_ref()?.total_bytes, new.memory.as_ref()?.total_bytes);
    let delta = a.abs_diff(b);
    (delta.saturating_mul(50) > a.max(b)).then_some((a, b))
}

/// An OS upgrade: the distribution id, version or pretty name changed (kernel updates are package events).
pub fn os_events(old: &Os, new: &Os) -> Vec<HistoryEvent> {
    let label = |os: &Os| {
        os.pretty_name.clone().unwrap_or_else(|| {
            format!("{} {}", os.id.as_deref().unwrap_or("unknown"), os.version_id.as_deref().unwrap_or(""))
                .trim()
                .to_owned()
        })
    };
    let same = old.id == new.id && old.version_id == new.version_id && old.pretty_name == new.pretty_name;
    if same {
        return Vec::new();
    }
    vec![HistoryEvent {
        kind: EventKind::OsUpgraded,
        subject: "os".to_owned(),
        from: Some(label(old)),
        to: Some(label(new)),
        details: json!({
            "from_id": old.id, "from_version_id": old.version_id,
            "to_id": new.id, "to_version_id": new.version_id,
        }),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::{Memory, MemoryModule, SystemInfo};

    fn pkg(kind: &str, name: &str, version: &str, arch: Option<&str>) -> StoredPackage {
        StoredPackage { kind: kind.into(), name: name.into(), version: version.into(), arch: arch.map(Into::into) }
    }

    fn summary(events: &[HistoryEvent]) -> Vec<(EventKind, String, Option<String>, Option<String>)> {
        events.iter().map(|e| (e.kind, e.subject.clone(), e.from.clone(), e.to.clone())).collect()
    }

    #[test]
    fn packages_install_remove_upgrade_downgrade() {
        let old = [
            pkg("deb", "openssl", "3.0.11-1~deb12u2", Some("amd64")),
            pkg("deb", "curl", "7.88.1-10+deb12u5", Some("amd64")),
            pkg("deb", "vim", "2:9.0.1378-2", Some("amd64")),
            pkg("rpm", "kernel", "5.14.0-362.8.1.el9_3", Some("x86_64")),
        ];
        let new = [
            pkg("deb", "openssl", "3.0.13-1~deb12u1", Some("amd64")),
            pkg("deb", "vim", "2:9.0.1000-1", Some("amd64")),
            pkg("deb", "jq", "1.6-2.1", Some("amd64")),
            pkg("rpm", "kernel", "5.14.0-362.8.1.el9_3", Some("x86_64")),
            pkg("rpm", "kernel", "5.14.0-362.13.1.el9_3", Some("x86_64")),
        ];
        let s = |x: &str| Some(x.to_owned());
        assert_eq!(
            summary(&package_events(&old, &new)),
            vec![
                (EventKind::PackageRemoved, "curl:amd64".into(), s("7.88.1-10+deb12u5"), None),
                (EventKind::PackageInstalled, "jq:amd64".into(), None, s("1.6-2.1")),
                (EventKind::PackageUpgraded, "openssl:amd64".into(), s("3.0.11-1~deb12u2"), s("3.0.13-1~deb12u1")),
                (EventKind::PackageDowngraded, "vim:amd64".into(), s("2:9.0.1378-2"), s("2:9.0.1000-1")),
                (EventKind::PackageInstalled, "kernel:x86_64".into(), None, s("5.14.0-362.13.1.el9_3")),
            ]
        );
        assert!(package_events(&new, &new).is_empty());
    }

    fn disk(name: &str, serial: &str, size: u64) -> Disk {
        Disk { name: name.into(), serial: Some(serial.into()), size_bytes: size, ..Disk::default() }
    }

    #[test]
    fn hardware_disk_memory_serial() {
        let old = Hardware {
            system: Some(SystemInfo { serial: Some("PF1ABCDE".into()), ..SystemInfo::default() }),
            memory_modules: vec![MemoryModule { size_bytes: Some(8 << 30), ..MemoryModule::default() }],
            disks: vec![disk("sda", "S1", 500_107_862_016)],
            ..Hardware::default()
        };
        let mut new = old.clone();
        new.disks.push(disk("sdb", "S2", 1_000_204_886_016));
        new.memory_modules.push(MemoryModule { size_bytes: Some(8 << 30), ..MemoryModule::default() });
        new.system = Some(SystemInfo { serial: Some("PF9ZZZZZ".into()), ..SystemInfo::default() });
        let events = hardware_events(&old, &new);
        let changes: Vec<&str> = events.iter().filter_map(|e| e.details["change"].as_str()).collect();
        assert_eq!(changes, ["disk_added", "memory_changed", "serial_changed"]);
        assert_eq!(events[0].subject, "sdb");
        assert_eq!(events[1].from.as_deref(), Some("8589934592"));
        assert_eq!(events[1].to.as_deref(), Some("17179869184"));
        assert_eq!(events[2].to.as_deref(), Some("PF9ZZZZZ"));

        let removed = hardware_events(&new, &old);
        assert_eq!(removed[0].details["change"], "disk_removed");
        assert_eq!(removed[0].subject, "sdb");
    }

    #[test]
    fn kernel_memory_jitter_is_not_a_change() {
        let mem = |total| Hardware {
            memory: Some(Memory { total_bytes: total, swap_total_bytes: 0 }),
            ..Hardware::default()
        };
        assert!(hardware_events(&mem(16_318_508_000), &mem(16_318_000_000)).is_empty());
        assert_eq!(hardware_events(&mem(8_000_000_000), &mem(16_000_000_000)).len(), 1);
    }

    #[test]
    fn os_upgrade() {
        let os = |v: &str, pretty: &str| Os {
            id: Some("debian".into()),
            version_id: Some(v.into()),
            pretty_name: Some(pretty.into()),
            ..Os::default()
        };
        let e = os_events(&os("11", "Debian GNU/Linux 11 (bullseye)"), &os("12", "Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(
            summary(&e),
            vec![(
                EventKind::OsUpgraded,
                "os".into(),
                Some("Debian GNU/Linux 11 (bullseye)".into()),
                Some("Debian GNU/Linux 12 (bookworm)".into())
            )]
        );
        assert!(os_events(&os("12", "x"), &os("12", "x")).is_empty());
    }
}

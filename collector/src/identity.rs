//! Who is enrolling: recognising a reinstalled machine (same hardware, GLPI-style) versus a cloned VM.
//!
//! Pure: the store loads the candidate hosts in its transaction and applies the decision.

use chrono::{DateTime, Utc};

use crate::disposal::lifecycle::LifecycleState;

/// A stored host that shares the enrolling machine's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub host_id: String,
    pub machine_id: Option<String>,
    pub last_seen: DateTime<Utc>,
    pub lifecycle: LifecycleState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Take over this host record (keeps its history); its older tokens are revoked.
    Reenrol { host_id: String },
    /// Create a host; flag it and `duplicates` with `duplicate_identity` when that list is not empty.
    New { duplicates: Vec<String> },
    /// The record this enrolment would take over is live and nothing proves the enrolling agent is its own: hold
    /// the enrolment for an administrator's approval; the record's agent keeps working meanwhile.
    Hold { host_id: String },
    /// The record left service (decommissioning, sanitized, disposed): never taken over.
    Retired { host_id: String, state: LifecycleState },
}

/// When a stored host counts as alive, for the two questions an enrolment asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Seen since: another machine claiming its hardware identity is a clone, not a reinstall (hours).
    pub live_since: DateTime<Utc>,
    /// Seen since (the stale window, days): its record is taken over only with proof or an administrator's
    /// approval.
    pub not_stale_since: DateTime<Utc>,
}

/// Decides an enrolment among `candidates` (hosts with the same hardware identity, or with the same machine id when
/// the machine has no hardware identity). `proven` is the host whose current token the enrolling agent presented.
///
/// Which record, if any:
/// - same machine id as a candidate: the same installation enrolling again;
/// - otherwise, if any candidate was seen since `windows.live_since`, two live machines claim one identity (clones):
///   never merge them; create a new host and flag all of them;
/// - otherwise the old installation is gone (reinstall): the most recently seen candidate.
///
/// Whether it may be taken over (issue 15: anyone with the enrolment secret and a victim's machine id, which every
/// viewer can read, could become that host): never once it left service; at once when the agent proves it holds
/// the record's token (`muster-agent enroll` run again) or the record went stale (a reinstall after the old
/// installation fell silent); otherwise only after an administrator's approval.
pub fn decide(machine_id: Option<&str>, candidates: &[Candidate], windows: Windows, proven: Option<&str>) -> Decision {
    let live_since = windows.live_since;
    let newest = |hosts: &mut dyn Iterator<Item = &Candidate>| hosts.max_by_key(|c| c.last_seen).cloned();
    let same = machine_id
        .and_then(|machine_id| newest(&mut candidates.iter().filter(|c| c.machine_id.as_deref() == Some(machine_id))));
    let target = match same {
        Some(same) => same,
        None => {
            // A record that left service is no live twin: its hardware reappearing is refused below.
            let mut live: Vec<String> = candidates
                .iter()
                .filter(|c| c.last_seen >= live_since && c.lifecycle == LifecycleState::InService)
                .map(|c| c.host_id.clone())
                .collect();
            if !live.is_empty() {
                live.sort();
                return Decision::New { duplicates: live };
            }
            match newest(&mut candidates.iter()) {
                Some(gone) => gone,
                None => return Decision::New { duplicates: Vec::new() },
            }
        }
    };
    if target.lifecycle != LifecycleState::InService {
        return Decision::Retired { host_id: target.host_id, state: target.lifecycle };
    }
    if proven != Some(target.host_id.as_str()) && target.last_seen >= windows.not_stale_since {
        return Decision::Hold { host_id: target.host_id };
    }
    Decision::Reenrol { host_id: target.host_id }
}

/// Firmware placeholders that identify nothing; the agent drops most, but the collector must not trust that.
pub fn is_junk_identity(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() || v.len() < 3 {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    const JUNK: [&str; 14] = [
        "to be filled by o.e.m.",
        "to be filled by oem",
        "default string",
        "system serial number",
        "not specified",
        "not applicable",
        "none",
        "n/a",
        "na",
        "unknown",
        "invalid",
        "chassis serial number",
        "0123456789",
        "123456789",
    ];
    if JUNK.contains(&lower.as_str()) {
        return true;
    }
    // All zeros / all F (with UUID dashes), e.g. `00000000-0000-0000-0000-000000000000`.
    let significant: Vec<char> = lower.chars().filter(|c| *c != '-' && *c != ' ').collect();
    significant.iter().all(|c| *c == '0') || significant.iter().all(|c| *c == 'f')
}

/// Both parts of a usable hardware identity, or nothing.
pub fn hardware_identity(uuid: Option<&str>, serial: Option<&str>) -> Option<(String, String)> {
    match (uuid, serial) {
        (Some(u), Some(s)) if !is_junk_identity(u) && !is_junk_identity(s) => {
            Some((u.trim().to_ascii_lowercase(), s.trim().to_owned()))
        }
        _ => None,
    }
}

/// What a report's machine-id does to its host's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineIdClaim {
    /// The host already has this machine-id, or none and nobody else has it: keep or bind it.
    Accept,
    /// The host is bound to another machine-id: a report from another machine.
    OtherMachine,
    /// The host has none yet and another host holds this one: a host enrolled without a machine-id must not take
    /// a victim's identity by reporting it (the two would then share it).
    Taken,
}

/// Decides a report's `claimed` machine-id for host `host_id` bound to `bound` (if any), given the hosts that hold
/// `claimed` now (`holders`).
pub fn machine_id_claim(host_id: &str, bound: Option<&str>, claimed: &str, holders: &[&str]) -> MachineIdClaim {
    match bound {
        Some(b) if b == claimed => MachineIdClaim::Accept,
        Some(_) => MachineIdClaim::OtherMachine,
        None if holders.iter().any(|h| *h != host_id) => MachineIdClaim::Taken,
        None => MachineIdClaim::Accept,
    }
}

/// The longest hostname kept (DNS names are at most 253 bytes; Linux's own at most 64).
pub const MAX_HOSTNAME_BYTES: usize = 255;

/// A hostname as sent by an agent, trimmed, or why it cannot be a host's name: one rule for enrolment and reports,
/// so a name enrolment refuses cannot arrive later through a report.
pub fn hostname(value: &str) -> Result<&str, String> {
    let name = value.trim();
    if name.is_empty() {
        return Err("hostname is empty".to_owned());
    }
    if name.len() > MAX_HOSTNAME_BYTES {
        return Err(format!("hostname is longer than {MAX_HOSTNAME_BYTES} bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err("hostname contains a control character".to_owned());
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_id_is_bound_once_and_never_taken_from_another_host() {
        use MachineIdClaim::*;
        assert_eq!(machine_id_claim("h1", Some("m1"), "m1", &["h1"]), Accept);
        assert_eq!(machine_id_claim("h1", Some("m1"), "m2", &[]), OtherMachine);
        assert_eq!(machine_id_claim("h1", None, "m2", &[]), Accept, "first claim binds");
        assert_eq!(machine_id_claim("h1", None, "m2", &["h2"]), Taken);
        assert_eq!(machine_id_claim("h1", None, "m2", &["h1"]), Accept);
    }

    #[test]
    fn hostnames_are_trimmed_bounded_and_printable() {
        assert_eq!(hostname("  lab-t480s\n"), Ok("lab-t480s"));
        assert!(hostname(" ").is_err());
        assert!(hostname("web\u{0}01").is_err());
        assert!(hostname("web\u{1b}[2J").is_err());
        assert!(hostname(&"a".repeat(256)).is_err());
        assert_eq!(hostname(&"a".repeat(255)).map(str::len), Ok(255));
        assert_eq!(hostname("büro-pc"), Ok("büro-pc"));
    }
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
    }

    fn cand(id: &str, machine: Option<&str>, seen: u32) -> Candidate {
        Candidate {
            host_id: id.into(),
            machine_id: machine.map(Into::into),
            last_seen: at(seen),
            lifecycle: LifecycleState::InService,
        }
    }

    /// Live since hour `live`, not stale since hour `stale`.
    fn w(live: u32, stale: u32) -> Windows {
        Windows { live_since: at(live), not_stale_since: at(stale) }
    }

    #[test]
    fn same_machine_id_of_a_live_host_is_held_unless_its_token_proves_it() {
        let c = [cand("h1", Some("m1"), 11)];
        assert_eq!(decide(Some("m1"), &c, w(10, 2), None), Decision::Hold { host_id: "h1".into() });
        assert_eq!(decide(Some("m1"), &c, w(10, 2), Some("h2")), Decision::Hold { host_id: "h1".into() });
        assert_eq!(decide(Some("m1"), &c, w(10, 2), Some("h1")), Decision::Reenrol { host_id: "h1".into() });
        // Silent past the live window but not stale: still held.
        assert_eq!(decide(Some("m1"), &c, w(12, 2), None), Decision::Hold { host_id: "h1".into() });
        // Stale: the installation is gone; its record is taken over at once.
        assert_eq!(decide(Some("m1"), &c, w(13, 12), None), Decision::Reenrol { host_id: "h1".into() });
    }

    #[test]
    fn reinstall_takes_over_a_stale_host_and_asks_for_a_recent_one() {
        let c = [cand("h1", Some("old"), 3), cand("h0", Some("older"), 1)];
        assert_eq!(decide(Some("new"), &c, w(10, 4), None), Decision::Reenrol { host_id: "h1".into() });
        assert_eq!(decide(Some("new"), &c, w(10, 2), None), Decision::Hold { host_id: "h1".into() });
        assert_eq!(decide(Some("new"), &c, w(10, 2), Some("h1")), Decision::Reenrol { host_id: "h1".into() });
    }

    #[test]
    fn a_retired_host_is_never_taken_over() {
        for state in [LifecycleState::Decommissioning, LifecycleState::Sanitized, LifecycleState::Disposed] {
            let retired = Candidate { lifecycle: state, ..cand("h1", Some("m1"), 3) };
            let c = [retired.clone()];
            let expected = Decision::Retired { host_id: "h1".into(), state };
            assert_eq!(decide(Some("m1"), &c, w(10, 2), Some("h1")), expected, "even with its token");
            assert_eq!(decide(Some("new"), &c, w(10, 5), None), expected, "nor by a reinstall");
            let live = [Candidate { last_seen: at(11), ..retired }];
            assert_eq!(decide(Some("m1"), &live, w(10, 2), None), Decision::Retired { host_id: "h1".into(), state });
        }
    }

    #[test]
    fn clone_of_a_live_host_is_new_and_flags_both() {
        let c = [cand("h1", Some("m1"), 11), cand("h0", Some("m0"), 1)];
        assert_eq!(decide(Some("m2"), &c, w(10, 2), None), Decision::New { duplicates: vec!["h1".into()] });
    }

    #[test]
    fn no_candidates_is_new() {
        assert_eq!(decide(Some("m"), &[], w(10, 2), None), Decision::New { duplicates: vec![] });
        assert_eq!(decide(None, &[], w(10, 2), Some("h1")), Decision::New { duplicates: vec![] });
    }

    #[test]
    fn junk_values() {
        for junk in ["", "To Be Filled By O.E.M.", "00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF", "0", "None"]
        {
            assert!(is_junk_identity(junk), "{junk}");
        }
        for good in ["4c4c4544-0042-3510-8052-b2c04f4e3732", "PF1ABCDE", "VMware-56 4d 1c"] {
            assert!(!is_junk_identity(good), "{good}");
        }
        assert_eq!(hardware_identity(Some("ABC-1"), None), None);
        assert_eq!(
            hardware_identity(Some("4C4C4544-0042"), Some("PF1ABCDE")),
            Some(("4c4c4544-0042".into(), "PF1ABCDE".into()))
        );
    }
}

//! Who is enrolling: recognising a reinstalled machine (same hardware, GLPI-style) versus a cloned VM.
//!
//! Pure: the store loads the candidate hosts in its transaction and applies the decision.

use chrono::{DateTime, Utc};

/// A stored host that shares the enrolling machine's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub host_id: String,
    pub machine_id: Option<String>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Take over this host record (keeps its history); its older tokens are revoked.
    Reenrol { host_id: String },
    /// Create a host; flag it and `duplicates` with `duplicate_identity` when that list is not empty.
    New { duplicates: Vec<String> },
}

/// Decides an enrolment among `candidates` (hosts with the same hardware identity, or with the same machine id when
/// the machine has no hardware identity).
///
/// - same machine id as a candidate: the same installation enrolling again; take it over;
/// - otherwise, if any candidate was seen since `live_since`, two live machines claim one identity (cloned VMs):
///   never merge them; create a new host and flag all of them;
/// - otherwise the old installation is gone (reinstall): take over the most recently seen candidate.
pub fn decide(machine_id: Option<&str>, candidates: &[Candidate], live_since: DateTime<Utc>) -> Decision {
    let newest = |hosts: &mut dyn Iterator<Item = &Candidate>| hosts.max_by_key(|c| c.last_seen).cloned();
    if let Some(machine_id) = machine_id
        && let Some(same) = newest(&mut candidates.iter().filter(|c| c.machine_id.as_deref() == Some(machine_id)))
    {
        return Decision::Reenrol { host_id: same.host_id };
    }
    let mut live: Vec<String> =
        candidates.iter().filter(|c| c.last_seen >= live_since).map(|c| c.host_id.clone()).collect();
    if !live.is_empty() {
        live.sort();
        return Decision::New { duplicates: live };
    }
    match newest(&mut candidates.iter()) {
        Some(gone) => Decision::Reenrol { host_id: gone.host_id },
        None => Decision::New { duplicates: Vec::new() },
    }
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
        Candidate { host_id: id.into(), machine_id: machine.map(Into::into), last_seen: at(seen) }
    }

    #[test]
    fn same_machine_id_reenrols_even_when_live() {
        let c = [cand("h1", Some("m1"), 11)];
        assert_eq!(decide(Some("m1"), &c, at(10)), Decision::Reenrol { host_id: "h1".into() });
    }

    #[test]
    fn reinstall_takes_over_a_silent_host() {
        let c = [cand("h1", Some("old"), 3), cand("h0", Some("older"), 1)];
        assert_eq!(decide(Some("new"), &c, at(10)), Decision::Reenrol { host_id: "h1".into() });
    }

    #[test]
    fn clone_of_a_live_host_is_new_and_flags_both() {
        let c = [cand("h1", Some("m1"), 11), cand("h0", Some("m0"), 1)];
        assert_eq!(decide(Some("m2"), &c, at(10)), Decision::New { duplicates: vec!["h1".into()] });
    }

    #[test]
    fn no_candidates_is_new() {
        assert_eq!(decide(Some("m"), &[], at(10)), Decision::New { duplicates: vec![] });
        assert_eq!(decide(None, &[], at(10)), Decision::New { duplicates: vec![] });
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

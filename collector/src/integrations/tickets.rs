//! The life of a finding's ticket in any tracker, decided without I/O: which events open a ticket, which only
//! comment on it, and which move it to done or back; shared by `jira` and `servicenow`, which turn these plans
//! into their own calls.

use super::{EventData, FINDING_OVERDUE, StoredEvent};

/// A stored finding event's type and data.
pub fn finding_event(body: &str) -> Result<(String, EventData), String> {
    let stored = StoredEvent::parse(body)?;
    if stored.data.finding_id.is_empty() {
        return Err(format!("a {} event carries no finding", stored.event_type));
    }
    Ok((stored.event_type, stored.data))
}

/// Where a ticket's workflow should go after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Resolved: into the `done` category.
    Done,
    /// Back (reopened, recurred, risk acceptance expired): into the `new` category.
    Reopen,
}

/// What to do with the finding's ticket for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to tell: a change to a finding that never had a ticket (it was resolved or acknowledged before the
    /// subscription existed, or below its filters then), or an opening already told.
    Nothing,
    /// Open a ticket (first looking for one carrying the finding's label).
    Create,
    /// Comment on the ticket, then move it when `goal` says so.
    Comment { ticket: String, goal: Option<Goal> },
}

/// Events that ask someone to act: they open a ticket when the finding has none.
pub fn opens(event_type: &str) -> bool {
    matches!(
        event_type,
        "finding.opened"
            | "finding.reopened"
            | "finding.recurred"
            | "finding.risk_acceptance_expired"
            | FINDING_OVERDUE
    )
}

pub fn plan(event_type: &str, ticket: Option<&str>) -> Plan {
    match ticket {
        None if opens(event_type) => Plan::Create,
        None => Plan::Nothing,
        // A retried opening whose ticket was already recorded.
        Some(_) if event_type == "finding.opened" => Plan::Nothing,
        Some(ticket) => {
            let goal = match event_type {
                "finding.resolved" => Some(Goal::Done),
                // Overdue means still found: a ticket someone closed in the tracker meanwhile is opened again.
                "finding.reopened" | "finding.recurred" | "finding.risk_acceptance_expired" | FINDING_OVERDUE => {
                    Some(Goal::Reopen)
                }
                _ => None,
            };
            Plan::Comment { ticket: ticket.to_owned(), goal }
        }
    }
}

/// The label that ties a ticket to its finding (a Jira label, a ServiceNow correlation ID: no spaces).
pub fn label(finding_id: &str) -> String {
    format!("muster-{finding_id}")
}

/// What a new ticket says beyond the event: the finding as it stands when the ticket is opened, read at delivery.
/// A vulnerability finding is one fix (the advisories one upgrade closes), so its advisories are listed by id and
/// its rule (`vuln.fix`) is not shown as if it were one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub advisories: Vec<String>,
    pub remediation: String,
}

impl Facts {
    /// From a finding's details (`advisories[].id`) and remediation.
    pub fn of(details: &serde_json::Value, remediation: &str) -> Facts {
        let advisories = details
            .get("advisories")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("id")?.as_str().map(str::to_owned))
            .collect();
        Facts { advisories, remediation: remediation.trim().to_owned() }
    }

    /// The line naming what the finding is about: its advisories, else its rule.
    pub fn subject_line(&self, d: &EventData) -> (&'static str, String) {
        if d.kind == "vulnerability" && !self.advisories.is_empty() {
            ("Advisories", self.advisories.join(", "))
        } else if d.kind == "vulnerability" {
            ("Fix", d.rule_id.clone())
        } else {
            ("Rule", d.rule_id.clone())
        }
    }
}

/// What an event says happened, as the first words of a comment or work note.
pub fn what_happened(event_type: &str) -> &'static str {
    match event_type {
        "finding.acknowledged" => "Acknowledged in Muster",
        "finding.risk_accepted" => "Risk accepted in Muster",
        "finding.reopened" => "Reopened in Muster",
        "finding.resolved" => "Resolved: Muster no longer finds it",
        "finding.recurred" => "Found again by Muster after it was resolved",
        "finding.risk_acceptance_expired" => "The risk acceptance expired: the finding is open again",
        FINDING_OVERDUE => "Overdue: past its due date in Muster",
        _ => "Changed in Muster",
    }
}

/// The finding events a ticket can follow; anything else is refused for a tracker's subscription.
pub fn takes(event_type: &str) -> bool {
    event_type.starts_with("finding.")
}

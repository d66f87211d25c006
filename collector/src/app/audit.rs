//! The audit log's one entry type: every audited action is a variant of [`AuditEvent`], written by the use case
//! that did it through [`record`]. Handlers and pages never build audit rows.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::model::Role;
use crate::model::findings::{Action, Status};
use crate::store::{AuditRecord, Store, StoreError};

/// Who did it, for the audit log: `cli`, `agent`, `api-token:<id> (<name>)`, `user:<name> (<role>)`, …
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub source_ip: Option<String>,
}

impl Actor {
    pub fn cli() -> Actor {
        Actor { name: "cli".to_owned(), source_ip: None }
    }

    /// An enrolling agent, known only by its address.
    pub fn agent(source_ip: &str) -> Actor {
        Actor { name: "agent".to_owned(), source_ip: Some(source_ip.to_owned()) }
    }

    pub fn new(name: impl Into<String>, source_ip: &str) -> Actor {
        Actor { name: name.into(), source_ip: Some(source_ip.to_owned()) }
    }
}

/// A step of a host's disposal, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisposalStep {
    Started,
    DestructionRecorded,
    VerificationImported,
    Sanitized,
    Completed,
    Redeployed,
}

/// One audited action, with what the log keeps about it.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditEvent {
    HostEnrolled {
        host_id: String,
        hostname: String,
        secret_id: String,
        reenrolled: bool,
        duplicate_of: Vec<String>,
    },
    HostEnrollFailed {
        hostname: String,
        reason: &'static str,
    },
    /// A valid enrolment for a machine whose record left service (`state`): refused.
    HostEnrollRefused {
        host_id: String,
        hostname: String,
        state: &'static str,
    },
    /// An enrolment that would take over a live host's record, held for an administrator's approval.
    HostEnrollHeld {
        request_id: String,
        host_id: String,
        hostname: String,
        secret_id: String,
    },
    HostEnrollDecided {
        request_id: String,
        host_id: String,
        hostname: String,
        approved: bool,
    },
    EnrollSecretCreated {
        id: String,
        label: String,
    },
    EnrollSecretRevoked {
        id: String,
    },
    ApiTokenCreated {
        id: String,
        name: String,
        role: Role,
    },
    ApiTokenRevoked {
        id: String,
    },
    UserCreated {
        name: String,
        role: Role,
    },
    UserPasswordReset {
        name: String,
    },
    UserPasswordChangeRefused {
        name: String,
    },
    UserPasswordChanged {
        name: String,
    },
    UserRoleChanged {
        name: String,
        from: Role,
        to: Role,
    },
    UserEnabled {
        name: String,
    },
    UserDisabled {
        name: String,
    },
    SignInBlocked {
        name: String,
    },
    SignInFailed {
        name: String,
    },
    SignedIn {
        name: String,
    },
    SignedOut {
        name: String,
    },
    /// A sign-in through the OpenID provider was refused; `name` is empty when the provider's answer named nobody.
    SsoRefused {
        name: String,
        reason: String,
    },
    RulesReloaded {
        fingerprint: String,
    },
    RulesReloadFailed {
        error: String,
    },
    /// Rows past their retention were deleted (`app::retention`); `counts` by table, as `prune` prints them.
    RetentionPruned {
        counts: Value,
    },
    /// `counts` is the import summary as the API answers it (record counts, error lists, hosts re-matched).
    AdvisoriesImported {
        file: String,
        counts: Value,
    },
    /// A step of a finding's lifecycle, by a person, an evaluation or expiry (also in the finding's history).
    FindingChanged {
        finding_id: String,
        action: Action,
        host_id: String,
        rule_id: String,
        from: Option<Status>,
        to: Status,
        report_id: Option<String>,
        comment: Option<String>,
        details: Value,
    },
    /// The disposal use cases record their evidence in `details`.
    Disposal {
        step: DisposalStep,
        host_id: String,
        details: Value,
    },
    /// A subscription changed (`app::integrations`); `details` names it and what changed.
    Integration {
        change: IntegrationChange,
        id: String,
        details: Value,
    },
}

/// What was done to an integration, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationChange {
    Created,
    Removed,
    Updated,
    Enabled,
    Disabled,
    SecretRotated,
    TestSent,
    DeliveryReplayed,
}

impl AuditEvent {
    /// The `action` column: stable names that filters and exports rely on.
    pub fn action(&self) -> &'static str {
        match self {
            AuditEvent::HostEnrolled { .. } => "host.enrolled",
            AuditEvent::HostEnrollFailed { .. } => "host.enroll_failed",
            AuditEvent::HostEnrollRefused { .. } => "host.enroll_refused",
            AuditEvent::HostEnrollHeld { .. } => "host.enroll_held",
            AuditEvent::HostEnrollDecided { approved: true, .. } => "host.enroll_approved",
            AuditEvent::HostEnrollDecided { approved: false, .. } => "host.enroll_rejected",
            AuditEvent::EnrollSecretCreated { .. } => "enroll_secret.created",
            AuditEvent::EnrollSecretRevoked { .. } => "enroll_secret.revoked",
            AuditEvent::ApiTokenCreated { .. } => "api_token.created",
            AuditEvent::ApiTokenRevoked { .. } => "api_token.revoked",
            AuditEvent::UserCreated { .. } => "user.created",
            AuditEvent::UserPasswordReset { .. } => "user.password_reset",
            AuditEvent::UserPasswordChangeRefused { .. } => "user.password_change_refused",
            AuditEvent::UserPasswordChanged { .. } => "user.password_changed",
            AuditEvent::UserRoleChanged { .. } => "user.role_changed",
            AuditEvent::UserEnabled { .. } => "user.enabled",
            AuditEvent::UserDisabled { .. } => "user.disabled",
            AuditEvent::SignInBlocked { .. } => "console.sign_in_blocked",
            AuditEvent::SignInFailed { .. } => "console.sign_in_failed",
            AuditEvent::SignedIn { .. } => "console.signed_in",
            AuditEvent::SignedOut { .. } => "console.signed_out",
            AuditEvent::SsoRefused { .. } => "console.sso_refused",
            AuditEvent::RulesReloaded { .. } => "rules.reloaded",
            AuditEvent::RulesReloadFailed { .. } => "rules.reload_failed",
            AuditEvent::RetentionPruned { .. } => "retention.pruned",
            AuditEvent::AdvisoriesImported { .. } => "advisories.imported",
            AuditEvent::FindingChanged { action, .. } => match action {
                Action::Open => "finding.opened",
                Action::Acknowledge => "finding.acknowledged",
                Action::AcceptRisk => "finding.risk_accepted",
                Action::Reopen => "finding.reopened",
                Action::Resolve => "finding.resolved",
                Action::Recur => "finding.recurred",
                Action::Expire => "finding.risk_acceptance_expired",
            },
            AuditEvent::Disposal { step, .. } => match step {
                DisposalStep::Started => "disposal.started",
                DisposalStep::DestructionRecorded => "disposal.destruction_recorded",
                DisposalStep::VerificationImported => "disposal.verification_imported",
                DisposalStep::Sanitized => "disposal.sanitized",
                DisposalStep::Completed => "disposal.completed",
                DisposalStep::Redeployed => "disposal.redeployed",
            },
            AuditEvent::Integration { change, .. } => match change {
                IntegrationChange::Created => "integration.created",
                IntegrationChange::Removed => "integration.removed",
                IntegrationChange::Updated => "integration.updated",
                IntegrationChange::Enabled => "integration.enabled",
                IntegrationChange::Disabled => "integration.disabled",
                IntegrationChange::SecretRotated => "integration.secret_rotated",
                IntegrationChange::TestSent => "integration.test_sent",
                IntegrationChange::DeliveryReplayed => "integration.delivery_replayed",
            },
        }
    }

    /// What the action was done to, when anything.
    fn target(&self) -> Option<String> {
        match self {
            AuditEvent::HostEnrolled { host_id: t, .. }
            | AuditEvent::HostEnrollFailed { hostname: t, .. }
            | AuditEvent::HostEnrollRefused { host_id: t, .. }
            | AuditEvent::HostEnrollHeld { host_id: t, .. }
            | AuditEvent::HostEnrollDecided { host_id: t, .. }
            | AuditEvent::EnrollSecretCreated { id: t, .. }
            | AuditEvent::EnrollSecretRevoked { id: t }
            | AuditEvent::ApiTokenCreated { id: t, .. }
            | AuditEvent::ApiTokenRevoked { id: t }
            | AuditEvent::UserCreated { name: t, .. }
            | AuditEvent::UserPasswordReset { name: t }
            | AuditEvent::UserPasswordChangeRefused { name: t }
            | AuditEvent::UserPasswordChanged { name: t }
            | AuditEvent::UserRoleChanged { name: t, .. }
            | AuditEvent::UserEnabled { name: t }
            | AuditEvent::UserDisabled { name: t }
            | AuditEvent::SignInBlocked { name: t }
            | AuditEvent::SignInFailed { name: t }
            | AuditEvent::SignedIn { name: t }
            | AuditEvent::SignedOut { name: t }
            | AuditEvent::SsoRefused { name: t, .. }
            | AuditEvent::AdvisoriesImported { file: t, .. }
            | AuditEvent::FindingChanged { finding_id: t, .. }
            | AuditEvent::Disposal { host_id: t, .. }
            | AuditEvent::Integration { id: t, .. } => Some(t.clone()),
            AuditEvent::RulesReloaded { .. }
            | AuditEvent::RulesReloadFailed { .. }
            | AuditEvent::RetentionPruned { .. } => None,
        }
    }

    fn details(self) -> Value {
        match self {
            AuditEvent::HostEnrolled { hostname, secret_id, reenrolled, duplicate_of, .. } => json!({
                "hostname": hostname, "secret_id": secret_id, "reenrolled": reenrolled, "duplicate_of": duplicate_of,
            }),
            AuditEvent::HostEnrollFailed { reason, .. } => json!({ "reason": reason }),
            AuditEvent::HostEnrollRefused { hostname, state, .. } => json!({ "hostname": hostname, "state": state }),
            AuditEvent::HostEnrollHeld { request_id, hostname, secret_id, .. } => json!({
                "request_id": request_id, "hostname": hostname, "secret_id": secret_id,
            }),
            AuditEvent::HostEnrollDecided { request_id, hostname, .. } => json!({
                "request_id": request_id, "hostname": hostname,
            }),
            AuditEvent::EnrollSecretCreated { label, .. } => json!({ "label": label }),
            AuditEvent::ApiTokenCreated { name, role, .. } => json!({ "name": name, "role": role }),
            AuditEvent::UserCreated { role, .. } => json!({ "role": role }),
            AuditEvent::UserRoleChanged { from, to, .. } => json!({ "from": from, "to": to }),
            AuditEvent::RulesReloaded { fingerprint } => json!({ "fingerprint": fingerprint }),
            AuditEvent::SsoRefused { reason, .. } => json!({ "reason": reason }),
            AuditEvent::RulesReloadFailed { error } => json!({ "error": error }),
            AuditEvent::RetentionPruned { counts } => counts,
            AuditEvent::AdvisoriesImported { counts, .. } => counts,
            AuditEvent::FindingChanged { host_id, rule_id, from, to, report_id, comment, details, .. } => json!({
                "host_id": host_id, "rule_id": rule_id, "from": from, "to": to, "report_id": report_id,
                "comment": comment, "details": details,
            }),
            AuditEvent::Disposal { details, .. } | AuditEvent::Integration { details, .. } => details,
            AuditEvent::EnrollSecretRevoked { .. }
            | AuditEvent::ApiTokenRevoked { .. }
            | AuditEvent::UserPasswordReset { .. }
            | AuditEvent::UserPasswordChangeRefused { .. }
            | AuditEvent::UserPasswordChanged { .. }
            | AuditEvent::UserEnabled { .. }
            | AuditEvent::UserDisabled { .. }
            | AuditEvent::SignInBlocked { .. }
            | AuditEvent::SignInFailed { .. }
            | AuditEvent::SignedIn { .. }
            | AuditEvent::SignedOut { .. } => json!({}),
        }
    }

    /// The row the store writes.
    pub fn into_record(self, actor: &Actor, at: DateTime<Utc>) -> AuditRecord {
        AuditRecord {
            at,
            actor: actor.name.clone(),
            action: self.action().to_owned(),
            target: self.target(),
            source_ip: actor.source_ip.clone(),
            details: self.details(),
        }
    }
}

/// Writes one audit entry.
pub async fn record(store: &dyn Store, actor: &Actor, at: DateTime<Utc>, event: AuditEvent) -> Result<(), StoreError> {
    store.audit(&event.into_record(actor, at)).await
}

/// Records `event`, counted into the same client's row of the same event when one was written within `window`:
/// for what an unauthenticated client can repeat at will (blocked sign-ins), so it cannot flood the log.
pub async fn record_coalesced(
    store: &dyn Store,
    actor: &Actor,
    at: DateTime<Utc>,
    event: AuditEvent,
    window: chrono::Duration,
) -> Result<(), StoreError> {
    store.audit_coalesced(&event.into_record(actor, at), at - window).await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// The rows are what the handlers wrote before the event type existed: the log and its filters stay readable.
    #[test]
    fn events_become_the_rows_they_always_were() {
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let agent = Actor::agent("192.0.2.10");
        let cases = [
            (
                AuditEvent::HostEnrolled {
                    host_id: "h1".into(),
                    hostname: "lab".into(),
                    secret_id: "s1".into(),
                    reenrolled: false,
                    duplicate_of: vec![],
                },
                "host.enrolled",
                Some("h1"),
                json!({ "hostname": "lab", "secret_id": "s1", "reenrolled": false, "duplicate_of": [] }),
            ),
            (
                AuditEvent::HostEnrollFailed { hostname: "lab".into(), reason: "invalid_secret" },
                "host.enroll_failed",
                Some("lab"),
                json!({ "reason": "invalid_secret" }),
            ),
            (
                AuditEvent::UserRoleChanged { name: "ann".into(), from: Role::Viewer, to: Role::Admin },
                "user.role_changed",
                Some("ann"),
                json!({ "from": "viewer", "to": "admin" }),
            ),
            (
                AuditEvent::RulesReloaded { fingerprint: "ab".into() },
                "rules.reloaded",
                None,
                json!({ "fingerprint": "ab" }),
            ),
            (AuditEvent::SignedOut { name: "ann".into() }, "console.signed_out", Some("ann"), json!({})),
            (
                AuditEvent::SsoRefused { name: "ann".into(), reason: "the ID token's nonce does not match".into() },
                "console.sso_refused",
                Some("ann"),
                json!({ "reason": "the ID token's nonce does not match" }),
            ),
            (
                AuditEvent::FindingChanged {
                    finding_id: "f1".into(),
                    action: Action::Resolve,
                    host_id: "h1".into(),
                    rule_id: "ssh.root_login".into(),
                    from: Some(Status::RiskAccepted),
                    to: Status::Resolved,
                    report_id: Some("r1".into()),
                    comment: None,
                    details: json!({}),
                },
                "finding.resolved",
                Some("f1"),
                json!({
                    "host_id": "h1", "rule_id": "ssh.root_login", "from": "risk_accepted", "to": "resolved",
                    "report_id": "r1", "comment": null, "details": {},
                }),
            ),
            (
                AuditEvent::Disposal {
                    step: DisposalStep::Sanitized,
                    host_id: "h1".into(),
                    details: json!({ "n": 1 }),
                },
                "disposal.sanitized",
                Some("h1"),
                json!({ "n": 1 }),
            ),
        ];
        for (event, action, target, details) in cases {
            let row = event.into_record(&agent, at);
            assert_eq!(
                (row.action.as_str(), row.target.as_deref(), row.details, row.actor.as_str(), row.source_ip.as_deref()),
                (action, target, details, "agent", Some("192.0.2.10"))
            );
        }
    }
}

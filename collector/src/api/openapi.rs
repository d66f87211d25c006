//! The OpenAPI document, generated from the handlers' annotations; served at `/api/v1/openapi.json`.
//!
//! The agent protocol types live in `muster-shared`, which stays free of HTTP tooling, so their schemas are
//! described here by mirror types (`…Schema`) renamed to the wire names; a test checks each mirror's fields against
//! the real type's JSON.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::views;

/// Error body of every non-2xx answer.
#[derive(Serialize, ToSchema)]
#[schema(as = ApiError)]
pub struct ApiErrorSchema {
    /// Stable code, e.g. `payload_too_large`, `limit_exceeded`, `token_revoked`, `invalid_secret`.
    pub error: String,
    pub message: String,
    /// For limit errors: which limit, e.g. `max_packages`.
    pub limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = EnrollRequest)]
pub struct EnrollRequestSchema {
    pub secret: String,
    pub hostname: String,
    pub machine_id: Option<String>,
    pub system_uuid: Option<String>,
    pub system_serial: Option<String>,
    pub agent_version: String,
    pub tags: Vec<String>,
    /// The host token the agent holds now, when it enrols again: proves it is the record's own agent.
    pub previous_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = EnrollResponse)]
pub struct EnrollResponseSchema {
    pub host_id: String,
    /// Shown once; the collector keeps only its hash.
    pub host_token: String,
    pub reenrolled: bool,
    /// With HTTP 202: the enrolment would take over a live host's record and waits for an administrator.
    pub pending_approval: bool,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ReportAck)]
pub struct ReportAckSchema {
    pub report_id: String,
    /// `stored`, `duplicate` or `needs_sections`.
    pub status: String,
    /// Sections to resend in full at once (with `needs_sections`).
    pub needs_full: Vec<String>,
}

struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(what)).build())
        };
        components.add_security_scheme(
            "api_token",
            bearer(
                "API token (`muster-collector token create`). Without an Authorization header, a signed-in console \
                 session cookie is accepted instead, with the user's role; its state changes need the \
                 `X-CSRF-Token` header carrying the session's CSRF token.",
            ),
        );
        components.add_security_scheme("host_token", bearer("host token returned by enrolment"));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Muster collector API", description = "Inventory of enrolled machines: hosts, software, history."),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::agent::enroll,
        super::agent::report,
        super::hosts::list_hosts,
        super::hosts::get_host,
        super::hosts::host_software,
        super::hosts::host_history,
        super::hosts::software,
        super::hosts::software_search,
        super::hosts::monitors,
        super::hosts::batteries,
        super::hosts::tpms,
        super::admin::list_enroll_secrets,
        super::admin::create_enroll_secret,
        super::admin::revoke_enroll_secret,
        super::admin::audit,
        super::admin::list_enrolments,
        super::admin::approve_enrolment,
        super::admin::reject_enrolment,
        super::disposal::queue,
        super::disposal::public_key,
        super::disposal::host_status,
        super::disposal::start,
        super::disposal::destruction,
        super::disposal::import,
        super::disposal::complete,
        super::disposal::redeploy,
        super::disposal::certificate_json,
        super::disposal::certificate_html,
        super::disposal::agent_report,
        super::vulnerabilities::list,
        super::vulnerabilities::detail,
        super::vulnerabilities::host,
        super::vulnerabilities::upload,
        super::findings::list,
        super::findings::host_findings,
        super::findings::detail,
        super::findings::acknowledge,
        super::findings::accept_risk,
        super::findings::reopen,
        super::findings::rules,
        super::findings::reload,
        super::integrations::list,
        super::integrations::create,
        super::integrations::detail,
        super::integrations::update,
        super::integrations::remove,
        super::integrations::test,
        super::integrations::enable,
        super::integrations::disable,
        super::integrations::rotate_secret,
        super::integrations::set_token,
        super::integrations::deliveries,
        super::integrations::replay,
    ),
    components(schemas(
        ApiErrorSchema, EnrollRequestSchema, EnrollResponseSchema, ReportAckSchema,
        views::HostSummary, views::HostPage, views::HostDetail, views::SectionView, views::InstalledPackage,
        views::HistoryEntry, views::SoftwareVersionHosts, views::SoftwareMatch, views::SoftwareSearch, views::HostRef, views::MonitorView, views::MonitorList, views::BatteryView, views::BatteryList, views::TpmView, views::TpmList, views::EnrollSecretInfo,
        views::ApiTokenInfo, views::AuditEntry, views::EnrolmentRequestInfo,
        crate::model::integrations::Integration, crate::model::integrations::DeliveryRecord,
        super::integrations::CreatedIntegration, super::integrations::QueuedEvent,
        super::integrations::NewIntegrationRequest, crate::integrations::WebhookFindingEvent,
        super::integrations::TokenRequest, crate::model::integrations::JiraSettings,
        crate::model::integrations::ServiceNowSettings,
        crate::model::integrations::FindingTicket,
        crate::integrations::FindingEvent, crate::integrations::WebhookHostEvent, crate::integrations::HostEvent,
        crate::integrations::AdvisoryUpdateFailure, crate::integrations::SourceFailure,
        crate::integrations::WebhookDisposalEvent, crate::integrations::DisposalEvent,
    )),
    modifiers(&BearerSchemes),
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;
    use muster_shared::v1::{ApiError, EnrollRequest, EnrollResponse, ReportAck, ReportStatus, SectionName};

    fn keys(v: serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn mirrors_match_the_wire_types() {
        let e = ApiError { error: "e".into(), message: "m".into(), limit: Some("l".into()) };
        let m = ApiErrorSchema { error: "e".into(), message: "m".into(), limit: Some("l".into()) };
        assert_eq!(keys(serde_json::to_value(e).unwrap()), keys(serde_json::to_value(m).unwrap()));

        let r = EnrollRequest {
            secret: "s".into(),
            hostname: "h".into(),
            machine_id: Some("m".into()),
            system_uuid: Some("u".into()),
            system_serial: Some("s".into()),
            agent_version: "v".into(),
            tags: vec!["t".into()],
            previous_token: Some("p".into()),
        };
        let m = EnrollRequestSchema {
            secret: "s".into(),
            hostname: "h".into(),
            machine_id: None,
            system_uuid: None,
            system_serial: None,
            agent_version: "v".into(),
            tags: vec![],
            previous_token: None,
        };
        assert_eq!(keys(serde_json::to_value(r).unwrap()), keys(serde_json::to_value(m).unwrap()));

        let r =
            EnrollResponse { host_id: "h".into(), host_token: "t".into(), reenrolled: false, pending_approval: true };
        let m = EnrollResponseSchema {
            host_id: "h".into(),
            host_token: "t".into(),
            reenrolled: false,
            pending_approval: true,
        };
        assert_eq!(keys(serde_json::to_value(r).unwrap()), keys(serde_json::to_value(m).unwrap()));

        let r =
            ReportAck { report_id: "r".into(), status: ReportStatus::NeedsSections, needs_full: vec![SectionName::Os] };
        let m =
            ReportAckSchema { report_id: "r".into(), status: "needs_sections".into(), needs_full: vec!["os".into()] };
        assert_eq!(serde_json::to_value(r).unwrap(), serde_json::to_value(m).unwrap());
    }

    #[test]
    fn document_lists_every_route() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let paths = keys(doc["paths"].clone());
        assert_eq!(
            paths,
            [
                "/api/v1/admin/audit",
                "/api/v1/admin/enroll-secrets",
                "/api/v1/admin/enroll-secrets/{id}",
                "/api/v1/admin/enrolments",
                "/api/v1/admin/enrolments/{id}/approve",
                "/api/v1/admin/enrolments/{id}/reject",
                "/api/v1/advisories",
                "/api/v1/agent/disposal",
                "/api/v1/agent/enroll",
                "/api/v1/agent/report",
                "/api/v1/batteries",
                "/api/v1/disposal",
                "/api/v1/disposal/certificates/{id}",
                "/api/v1/disposal/certificates/{id}/html",
                "/api/v1/disposal/hosts/{host}",
                "/api/v1/disposal/hosts/{host}/complete",
                "/api/v1/disposal/hosts/{host}/destruction",
                "/api/v1/disposal/hosts/{host}/redeploy",
                "/api/v1/disposal/hosts/{host}/start",
                "/api/v1/disposal/hosts/{host}/verification",
                "/api/v1/disposal/public-key",
                "/api/v1/findings",
                "/api/v1/findings/{id}",
                "/api/v1/findings/{id}/accept-risk",
                "/api/v1/findings/{id}/acknowledge",
                "/api/v1/findings/{id}/reopen",
                "/api/v1/hosts",
                "/api/v1/hosts/{id}",
                "/api/v1/hosts/{id}/findings",
                "/api/v1/hosts/{id}/history",
                "/api/v1/hosts/{id}/software",
                "/api/v1/hosts/{id}/vulnerabilities",
                "/api/v1/integrations",
                "/api/v1/integrations/{id}",
                "/api/v1/integrations/{id}/deliveries",
                "/api/v1/integrations/{id}/deliveries/{seq}/replay",
                "/api/v1/integrations/{id}/disable",
                "/api/v1/integrations/{id}/enable",
                "/api/v1/integrations/{id}/rotate-secret",
                "/api/v1/integrations/{id}/test",
                "/api/v1/integrations/{id}/token",
                "/api/v1/monitors",
                "/api/v1/rules",
                "/api/v1/rules/reload",
                "/api/v1/software",
                "/api/v1/software/search",
                "/api/v1/tpms",
                "/api/v1/vulnerabilities",
                "/api/v1/vulnerabilities/{id}",
                "/healthz",
                "/readyz",
            ]
        );
    }
}

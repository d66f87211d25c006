//! The calls one delivery makes to a ticket tracker's REST API (Jira, ServiceNow): authenticated JSON requests
//! under one API root, each answer read up to a bound, and the subscription's claim renewed between calls so a
//! delivery of several slow calls cannot outlast its lease; and what a new ticket says of its finding as it stands.

use super::delivery::LEASE;
use crate::integrations;
use crate::model::integrations::ClaimedIntegration;
use crate::store::Store;

/// A tracker's answer: its status, and its body (up to [`ANSWER_MAX`]) for the key or list it carries, or the
/// start of a refusal for the delivery log.
pub(super) struct TrackerAnswer {
    pub code: u16,
    pub body: Vec<u8>,
}

/// Enough for a page of transitions or a query's answer; these calls' answers are a few KiB.
const ANSWER_MAX: usize = 1 << 20;

impl TrackerAnswer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

impl From<TrackerAnswer> for integrations::HttpAnswer {
    fn from(a: TrackerAnswer) -> Self {
        let said = if a.is_success() { &[][..] } else { &a.body[..a.body.len().min(4096)] };
        integrations::HttpAnswer::new(a.code, said)
    }
}

/// Calls to one tracker with one account, for one delivery of a claimed subscription.
pub(super) struct TrackerCall<'a> {
    client: &'a reqwest::Client,
    /// The API's root, ending in `/`: each call's path is appended.
    root: String,
    auth: String,
    store: &'a dyn Store,
    claim: &'a ClaimedIntegration,
    clock: &'a crate::Clock,
    /// Calls made so far in this delivery.
    made: u32,
}

impl<'a> TrackerCall<'a> {
    pub fn new(
        client: &'a reqwest::Client,
        root: String,
        auth: String,
        store: &'a dyn Store,
        claim: &'a ClaimedIntegration,
        clock: &'a crate::Clock,
    ) -> TrackerCall<'a> {
        TrackerCall { client, root, auth, store, claim, clock, made: 0 }
    }

    /// One call and its answer, or why there was none (the URL left out of errors). Every call after the
    /// first renews the claim first: a delivery of four calls at the timeout each would outlast one lease.
    pub async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
    ) -> Result<TrackerAnswer, String> {
        self.made += 1;
        if self.made > 1 {
            let renewed = self.store.renew_integration_claim(self.claim, (self.clock)() + LEASE).await;
            if !renewed.map_err(|e| e.to_string())? {
                return Err("the claim ran out during the delivery; left to the worker that holds it".to_owned());
            }
        }
        let url = format!("{}{path}", self.root);
        let mut request =
            self.client.request(method, &url).header("authorization", &self.auth).header("accept", "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let answer = request.send().await.map_err(|e| crate::app::describe_http(e.without_url()))?;
        let code = answer.status().as_u16();
        let (body, failed) = crate::app::read_prefix(answer, ANSWER_MAX).await;
        let answer = TrackerAnswer { code, body };
        // A refusal keeps what arrived; a success whose body broke off has no key or list to read.
        match failed {
            Some(e) if answer.is_success() => Err(crate::app::describe_http(e.without_url())),
            _ => Ok(answer),
        }
    }
}

/// What a new ticket says of the finding as it stands now, or `None` when it is resolved by now: an opening
/// delivered late (retried for hours, or a dead letter replayed) opens no ticket for what is already fixed. A
/// finding pruned since is as good as resolved.
pub(super) async fn open_finding(
    store: &dyn Store,
    clock: &crate::Clock,
    finding_id: &str,
) -> Result<Option<integrations::tickets::Facts>, String> {
    let finding = store.get_finding(finding_id, clock()).await.map_err(|e| e.to_string())?;
    Ok(finding
        .filter(|f| f.status != crate::model::findings::Status::Resolved)
        .map(|f| integrations::tickets::Facts::of(&f.details, &f.remediation)))
}

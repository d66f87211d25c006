//! Jira's side of delivery (see `integrations::jira` for what is decided): the calls one event makes to a Jira
//! Cloud site, with the claim renewed between them.

use super::delivery::Sender;
use super::tracker::{TrackerCall, open_finding};
use crate::integrations::{self, Failure};
use crate::model::integrations::{ClaimedIntegration, PendingDelivery, Ticket};
use crate::store::Store;

impl Sender {
    /// One event to a Jira subscription (see `integrations::jira`): a test checks the token and the project; a
    /// finding's first event that asks for action opens its ticket (or takes the one its label finds in the project:
    /// a create whose answer was lost, or a ticket from before the subscription was made again), later ones comment
    /// on it and move it through the workflow; a ticket deleted in Jira is opened again when the finding needs one.
    /// The last call's answer is the delivery's; a call that fails stops there, and the retry starts again from what
    /// is recorded. The claim is renewed before each call after the first, so several slow calls cannot outlast it.
    pub(super) async fn deliver_jira(
        &self,
        store: &dyn Store,
        clock: &crate::Clock,
        claim: &ClaimedIntegration,
        d: &PendingDelivery,
    ) -> Result<Option<integrations::HttpAnswer>, Failure> {
        use integrations::jira::{self, Plan};
        let settings =
            claim.jira.as_ref().ok_or(Failure::Never("the subscription has lost its Jira settings".to_owned()))?;
        let mut call = TrackerCall::new(
            &self.client,
            jira::api_url(&claim.url, ""),
            jira::authorization(settings, &claim.secret),
            store,
            claim,
            clock,
        );
        if d.event_type == integrations::TEST_EVENT {
            let answer = call.send(reqwest::Method::GET, "myself", &[], None).await?;
            if !answer.is_success() {
                return Ok(Some(answer.into()));
            }
            let path = format!("project/{}", segment(&settings.project)?);
            return Ok(Some(call.send(reqwest::Method::GET, &path, &[], None).await?.into()));
        }
        let (event_type, data) = jira::finding_event(&d.body).map_err(Failure::Never)?;
        let mut ticket = store.ticket(&claim.id, &data.finding_id).await.map_err(|e| e.to_string())?.map(|t| t.key);
        // At most: search or create, then comment and transition; a deleted ticket sends it round once more.
        let mut rounds = 0;
        loop {
            rounds += 1;
            match jira::plan(&event_type, ticket.as_deref()) {
                Plan::Nothing => return Ok(None),
                Plan::Create => {
                    let query = [
                        ("jql", jira::search_jql(&settings.project, &jira::label(&data.finding_id))),
                        ("fields", "key".to_owned()),
                        ("maxResults", "1".to_owned()),
                    ];
                    let answer = call.send(reqwest::Method::GET, "search/jql", &query, None).await?;
                    if !answer.is_success() {
                        return Ok(Some(answer.into()));
                    }
                    if let Some(key) = jira::found_key(&answer.body)? {
                        let key = segment(&key)?.to_owned();
                        store
                            .save_ticket(&claim.id, &data.finding_id, &jira_ticket(&key), clock())
                            .await
                            .map_err(|e| e.to_string())?;
                        // Found, not made: an opening is told; anything else still has to be said on it.
                        ticket = Some(key);
                        continue;
                    }
                    // Only now: a ticket the search found (a create whose answer was lost) is recorded even for a
                    // finding resolved since, so its resolution closes it; a new one is made only if still needed.
                    let Some(facts) = open_finding(store, clock, &data.finding_id).await? else {
                        return Ok(None);
                    };
                    let create = jira::create_body(settings, &data, self.console.as_deref(), &facts);
                    let answer = call.send(reqwest::Method::POST, "issue", &[], Some(create)).await?;
                    if answer.is_success() {
                        let key = jira::created_key(&answer.body)?;
                        let key = segment(&key)?.to_owned();
                        store
                            .save_ticket(&claim.id, &data.finding_id, &jira_ticket(&key), clock())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    return Ok(Some(answer.into()));
                }
                Plan::Comment { ticket: key, goal } => {
                    let issue = segment(&key)?.to_owned();
                    let comment = jira::comment_body(&event_type, &data, self.console.as_deref());
                    let path = format!("issue/{issue}/comment");
                    let answer = call.send(reqwest::Method::POST, &path, &[], Some(comment)).await?;
                    if answer.code == 404 && rounds == 1 {
                        // Deleted in Jira (or moved out of the account's sight): a finding that needs a ticket
                        // gets a new one; any other change has nothing left to tell.
                        tracing::info!(integration = %claim.name, ticket = %key, "the ticket is gone from Jira");
                        if !jira::opens(&event_type) {
                            return Ok(None);
                        }
                        ticket = None;
                        continue;
                    }
                    let Some(goal) = goal.filter(|_| answer.is_success()) else {
                        return Ok(Some(answer.into()));
                    };
                    // The ticket's status with the transitions offered from it, in one call.
                    let query = [("fields", "status".to_owned()), ("expand", "transitions".to_owned())];
                    let answer = call.send(reqwest::Method::GET, &format!("issue/{issue}"), &query, None).await?;
                    if !answer.is_success() {
                        return Ok(Some(answer.into()));
                    }
                    let Some(id) = jira::pick_transition(&answer.body, goal, settings)? else {
                        tracing::info!(integration = %claim.name, ticket = %key, ?goal,
                            "no transition: the ticket is not closed, or the workflow offers the account none; commented only");
                        return Ok(Some(answer.into()));
                    };
                    let path = format!("issue/{issue}/transitions");
                    let body = Some(jira::transition_body(&id));
                    return Ok(Some(call.send(reqwest::Method::POST, &path, &[], body).await?.into()));
                }
            }
        }
    }
}

fn jira_ticket(key: &str) -> Ticket {
    Ticket { key: key.to_owned(), reference: key.to_owned() }
}

/// A ticket key or project key as one path segment: Jira's keys are letters, digits, `_` and `-`; anything else
/// in a stored key is refused rather than sent into a URL, and no retry would change it.
fn segment(key: &str) -> Result<&str, Failure> {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(key)
    } else {
        Err(Failure::Never(format!("{key:?} is not a Jira key")))
    }
}

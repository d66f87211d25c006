//! ServiceNow's side of delivery (see `integrations::servicenow` for what is decided): the Table API calls one
//! event makes to an instance, with the claim renewed between them.

use reqwest::Method;

use super::delivery::Sender;
use super::tracker::{TrackerCall, open_finding};
use crate::integrations::{self, Failure};
use crate::model::integrations::{ClaimedIntegration, PendingDelivery};
use crate::store::Store;

impl Sender {
    /// One event to a ServiceNow subscription: a test reads an incident (and the assignment group) with the
    /// account; a finding's first event that asks for action opens its incident (or takes the active one carrying
    /// its correlation ID: a create whose answer was lost); later ones read the incident's state and add a work
    /// note, resolving it or putting it back in progress. An incident deleted, closed or canceled in ServiceNow is
    /// read-only history: a finding that needs one again gets a new incident, other changes have nothing to tell.
    pub(super) async fn deliver_servicenow(
        &self,
        store: &dyn Store,
        clock: &crate::Clock,
        claim: &ClaimedIntegration,
        d: &PendingDelivery,
    ) -> Result<Option<integrations::HttpAnswer>, Failure> {
        use integrations::servicenow as snow;
        use integrations::tickets::{self, Plan};
        let settings = claim
            .servicenow
            .as_ref()
            .ok_or(Failure::Never("the subscription has lost its ServiceNow settings".to_owned()))?;
        let auth = snow::authorization(settings, &claim.secret);
        let mut call = TrackerCall::new(&self.client, snow::api_url(&claim.url, ""), auth, store, claim, clock);
        if d.event_type == integrations::TEST_EVENT {
            let query = [("sysparm_limit", "1".to_owned()), ("sysparm_fields", "sys_id".to_owned())];
            let answer = call.send(Method::GET, "incident", &query, None).await?;
            if answer.is_success() && !snow::is_query_answer(&answer.body) {
                return Err(Failure::Retry(
                    "the instance answered 200 without the Table API's JSON (a sign-in page, or a hibernating \
                     developer instance?)"
                        .to_owned(),
                ));
            }
            let Some(group) = settings.assignment_group.as_deref().filter(|_| answer.is_success()) else {
                return Ok(Some(answer.into()));
            };
            let path = format!("sys_user_group/{}", sys_id(group)?);
            let query = [("sysparm_fields", "sys_id,name".to_owned())];
            return Ok(Some(call.send(Method::GET, &path, &query, None).await?.into()));
        }
        let (event_type, data) = tickets::finding_event(&d.body).map_err(Failure::Never)?;
        let correlation = snow::correlation_id(&data.finding_id, &claim.id)
            .ok_or_else(|| Failure::Never(format!("finding {:?} cannot be a correlation ID", data.finding_id)))?;
        let mut ticket = store.ticket(&claim.id, &data.finding_id).await.map_err(|e| e.to_string())?;
        // At most: query or create, then read and update; an incident gone or closed sends it round once more.
        let mut rounds = 0;
        loop {
            rounds += 1;
            match tickets::plan(&event_type, ticket.as_ref().map(|t| t.reference.as_str())) {
                Plan::Nothing => return Ok(None),
                Plan::Create => {
                    let query = [
                        ("sysparm_query", snow::search_query(&correlation)),
                        ("sysparm_fields", "sys_id,number,state".to_owned()),
                        ("sysparm_limit", "1".to_owned()),
                    ];
                    let answer = call.send(Method::GET, "incident", &query, None).await?;
                    if !answer.is_success() {
                        return Ok(Some(answer.into()));
                    }
                    if let Some(found) = snow::found(&answer.body)? {
                        sys_id(&found.reference)?;
                        store
                            .save_ticket(&claim.id, &data.finding_id, &found, clock())
                            .await
                            .map_err(|e| e.to_string())?;
                        // Found, not made: an opening is told; anything else still has to be said on it.
                        ticket = Some(found);
                        continue;
                    }
                    // Only now: a ticket the search found (a create whose answer was lost) is recorded even for a
                    // finding resolved since, so its resolution closes it; a new one is made only if still needed.
                    let Some(facts) = open_finding(store, clock, &data.finding_id).await? else {
                        return Ok(None);
                    };
                    let create = snow::create_body(settings, &data, self.console.as_deref(), &correlation, &facts);
                    let query = [("sysparm_fields", "sys_id,number".to_owned())];
                    let answer = call.send(Method::POST, "incident", &query, Some(create)).await?;
                    if answer.is_success() {
                        let made = snow::created(&answer.body)?;
                        sys_id(&made.reference)?;
                        store
                            .save_ticket(&claim.id, &data.finding_id, &made, clock())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    return Ok(Some(answer.into()));
                }
                Plan::Comment { ticket: reference, goal } => {
                    let path = format!("incident/{}", sys_id(&reference)?);
                    let query = [("sysparm_fields", "sys_id,number,state".to_owned())];
                    let answer = call.send(Method::GET, &path, &query, None).await?;
                    let state = if answer.is_success() { Some(snow::current_state(&answer.body)?) } else { None };
                    let gone = answer.code == 404 || state.as_deref().is_some_and(snow::is_final);
                    if gone && rounds == 1 {
                        // ServiceNow answers 404 alike for a deleted record and one the user may no longer read.
                        tracing::warn!(integration = %claim.name, incident = %reference, code = answer.code,
                            "the incident is deleted, closed or canceled in ServiceNow, or no longer readable by the \
                             integration user");
                        if !tickets::opens(&event_type) {
                            return Ok(None);
                        }
                        ticket = None;
                        continue;
                    }
                    let Some(state) = state.filter(|_| !gone) else {
                        return Ok(Some(answer.into()));
                    };
                    let body = snow::update_body(settings, &event_type, &data, self.console.as_deref(), goal, &state);
                    let asked = snow::asked_state(&body).map(str::to_owned);
                    let answer = call.send(Method::PATCH, &path, &query, Some(body)).await?;
                    // A business rule can keep the incident where it was while answering 200.
                    if let Some(asked) = asked.filter(|_| answer.is_success()) {
                        let now = snow::current_state(&answer.body)?;
                        if now != asked {
                            // A business rule refused the change: sending it again would only repeat the work
                            // note. Dead at once, with the reason, to replay once the rule allows it.
                            let why = format!("ServiceNow kept incident {reference} in state {now}, not {asked}");
                            return Err(Failure::Never(why));
                        }
                    }
                    return Ok(Some(answer.into()));
                }
            }
        }
    }
}

/// A stored or answered sys_id, checked before it goes into a URL. One that is not cannot become one on a retry.
fn sys_id(s: &str) -> Result<&str, Failure> {
    if integrations::servicenow::is_sys_id(s) {
        Ok(s)
    } else {
        Err(Failure::Never(format!("{s:?} is not a ServiceNow sys_id")))
    }
}

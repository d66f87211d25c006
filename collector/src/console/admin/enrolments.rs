//! The console's page for enrolments held because they would take over a live host's record (issue 15): what the
//! new agent claims next to the record it would replace, and approve or reject; the decision is
//! `app::enrol::decide_held`, as for the CLI and the API.

use super::*;
use crate::app::enrol::{DecideError, Verdict, decide_held};

/// The API's mapping, so a page says what the API would.
fn decide_error(e: DecideError) -> PageError {
    PageError(e.into())
}

async fn enrolments_page(state: &AppState, viewer: &Viewer, mut top: Vec<Block>) -> PageResult {
    let list = state.store.list_enrolment_requests(true, 200).await?;
    let pending = list.iter().filter(|r| r.state == "pending").count();
    let mut blocks = vec![Block::Heading {
        text: "Enrolments".into(),
        sub: Some(format!(
            "{pending} waiting. An enrolment that would take over the record of a host whose agent reported \
             recently waits here: approve it when the machine was really reinstalled or replaced; its current \
             agent keeps working until then and stops once you approve."
        )),
        badge: None,
    }];
    blocks.append(&mut top);
    blocks.push(table(
        "enrolments",
        &["Requested", "State", "Host record", "Record last seen", "Claims hostname", "Machine id", "From", "Decided"],
        list.iter()
            .map(|r| {
                vec![
                    Cell::text(when(r.requested_at)),
                    Cell::badge(Badge::status(&r.state)),
                    Cell::link(format!("{} ({})", r.host_hostname, r.host_id), format!("/hosts/{}", r.host_id)),
                    Cell::text(when(r.host_last_seen)),
                    Cell::text(&r.hostname),
                    Cell::mono(r.machine_id.clone().unwrap_or_default()),
                    Cell::mono(r.source_ip.clone().unwrap_or_default()),
                    Cell::text(match (&r.decided_by, r.decided_at) {
                        (Some(by), Some(at)) => format!("{} by {by}", when(at)),
                        _ => String::new(),
                    }),
                ]
            })
            .collect(),
        "No enrolment was held.",
    ));
    for r in list.iter().filter(|r| r.state == "pending") {
        blocks.push(Block::Form(FormBlock {
            id: format!("decide-{}", super::super::view::css_token(&r.id)),
            action: "/admin/enrolments".to_owned(),
            title: String::new(),
            fields: vec![Field::hidden("id", &r.id)],
            buttons: vec![
                (
                    "approve".to_owned(),
                    format!("Approve {} taking over {}", r.hostname, r.host_hostname),
                    "primary".to_owned(),
                ),
                ("reject".to_owned(), format!("Reject {}", r.hostname), "danger".to_owned()),
            ],
            csrf: viewer.user.csrf_token.clone(),
            confirm: Some("Decide this enrolment?".to_owned()),
            inline: true,
        }));
    }
    Ok(page(viewer, "enrolments", "Enrolments", blocks))
}

pub async fn enrolments(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Admin)?;
    enrolments_page(&state, &viewer, vec![]).await
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    csrf: String,
    op: String,
    #[serde(default)]
    id: String,
}

pub async fn enrolments_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Form(f): Form<DecideForm>,
) -> PageResult {
    viewer.check_form(&f.csrf)?;
    viewer.require(Role::Admin)?;
    let verdict = match f.op.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        other => return Err(bad(format!("unknown action {other:?}"))),
    };
    let now = (state.clock)();
    let held = decide_held(state.store.as_ref(), &viewer.actor(ip), &f.id, verdict, now).await.map_err(decide_error)?;
    let text = match verdict {
        Verdict::Approve => format!(
            "Approved: {} now reports as host {}; the agent that held the record before stops working.",
            held.hostname, held.host_id
        ),
        Verdict::Reject => {
            format!("Rejected: the enrolment of {} will never work; host {} is unchanged.", held.hostname, held.host_id)
        }
    };
    enrolments_page(&state, &viewer, vec![Block::Notice { kind: "ok", text }]).await
}

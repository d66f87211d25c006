//! The console's disposal pages: the queue of hosts leaving service with what each still lacks, one host's case with
//! its disks and certificates, and the analyst's start, complete and redeploy actions (the same audited functions
//! as the API and CLI). Disk evidence comes from `muster-agent disposal verify` or the API.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::{Form, Query};
use serde::Deserialize;

use super::export::{self, Format};
use super::view::{Badge, Block, Cell, Field, FieldKind, Form as FormBlock, Pair, table};
use super::{PageError, PageResult, Viewer, encode, when, when_opt};
use crate::AppState;
use crate::api::auth::ClientIp;
use crate::disposal::lifecycle::{Destination, DiskState, LifecycleState};
use crate::disposal::{self, DisposalStatus, StartRequest};
use crate::error::AppError;
use crate::model::Role;

fn disks_done(status: &DisposalStatus) -> String {
    let done = status.disks.iter().filter(|d| d.is_done()).count();
    format!("{done} / {}", status.disks.len())
}

fn disk_state(state: DiskState) -> &'static str {
    match state {
        DiskState::Verified => "verified",
        DiskState::Destroyed => "destroyed",
        DiskState::Failed => "failed",
        DiskState::Missing => "missing",
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct QueueQuery {
    format: Option<String>,
}

pub async fn queue(State(state): State<AppState>, viewer: Viewer, Query(q): Query<QueueQuery>) -> PageResult {
    let format = Format::parse(q.format.as_deref())?;
    let queue = disposal::queue(state.store.as_ref()).await.map_err(AppError::from)?;
    match format {
        Format::Csv => {
            let rows = queue.iter().map(|s| {
                vec![
                    s.host_id.clone(),
                    s.hostname.clone(),
                    s.state.as_str().to_owned(),
                    s.case.as_ref().map(|c| c.reason.clone()).unwrap_or_default(),
                    s.case.as_ref().map(|c| c.planned_destination.as_str().to_owned()).unwrap_or_default(),
                    disks_done(s),
                    s.missing.join(" | "),
                ]
            });
            let header = ["host_id", "hostname", "state", "reason", "destination", "disks_done", "missing"];
            return Ok(export::csv("disposal", &header, rows));
        }
        Format::Json => return Ok(export::json("disposal", &queue)?),
        Format::Html => {}
    }
    let blocks = vec![
        Block::Heading {
            text: "Disposal".into(),
            sub: Some(
                "Hosts leaving service: decommissioning → sanitized (every disk verified or destroyed) → disposed."
                    .into(),
            ),
            badge: None,
        },
        table(
            "disposal",
            &["Host", "State", "Reason", "Destination", "Disks done", "Still missing"],
            queue
                .iter()
                .map(|s| {
                    vec![
                        Cell::link(&s.hostname, format!("/disposal/{}", encode(&s.host_id))),
                        Cell::badge(Badge::status(s.state.as_str())),
                        Cell::text(s.case.as_ref().map(|c| c.reason.clone()).unwrap_or_default()),
                        Cell::text(s.case.as_ref().map(|c| c.planned_destination.as_str()).unwrap_or("")),
                        Cell::text(disks_done(s)),
                        Cell::text(s.missing.join("; ")),
                    ]
                })
                .collect(),
            "No host is being decommissioned. Start from a host's disposal page.",
        ),
        Block::Pairs(vec![
            Pair { label: "Export".into(), value: "CSV".into(), href: Some("/disposal?format=csv".into()) },
            Pair { label: "Export".into(), value: "JSON".into(), href: Some("/disposal?format=json".into()) },
        ]),
    ];
    Ok(viewer.page("disposal", "Disposal", blocks))
}

fn destination_options() -> Vec<(&'static str, &'static str)> {
    Destination::ALL.iter().map(|d| (d.as_str(), d.as_str())).collect()
}

fn action_form(viewer: &Viewer, host_id: &str, title: &str, fields: Vec<Field>, op: &str, label: &str) -> Block {
    let mut fields = fields;
    fields.insert(0, Field::hidden("op", op));
    Block::Form(FormBlock {
        id: format!("disposal-{op}"),
        action: format!("/disposal/{}", encode(host_id)),
        title: title.to_owned(),
        fields,
        buttons: vec![(String::new(), label.to_owned(), "warn".to_owned())],
        csrf: viewer.user.csrf_token.clone(),
        confirm: Some(format!("{title}?")),
        inline: false,
    })
}

fn text_field(name: &str, label: &str, placeholder: &str) -> Field {
    Field::text(name, label, None, placeholder).required()
}

fn host_blocks(viewer: &Viewer, s: &DisposalStatus, mut top: Vec<Block>) -> Vec<Block> {
    let mut blocks = vec![Block::Heading {
        text: format!("Disposal of {}", s.hostname),
        sub: None,
        badge: Some(Badge::status(s.state.as_str())),
    }];
    blocks.append(&mut top);
    blocks.push(Block::Pairs(vec![Pair {
        label: "Host".into(),
        value: s.hostname.clone(),
        href: Some(format!("/hosts/{}", encode(&s.host_id))),
    }]));
    if let Some(c) = &s.case {
        blocks.push(Block::Pairs(vec![
            Pair::new("Reason", c.reason.clone()),
            Pair::new("Operator", c.operator.clone()),
            Pair::new("Verifier", c.verifier.clone()),
            Pair::new("Location", c.location.clone()),
            Pair::new("Planned destination", c.planned_destination.as_str()),
            Pair::new("Opened", format!("{} by {}", when(c.opened_at), c.opened_by)),
            Pair::new("Sanitized", when_opt(c.sanitized_at)),
        ]));
    }
    if !s.disks.is_empty() {
        blocks.push(Block::Section { title: "Disks".into(), anchor: "disks".into() });
        blocks.push(table(
            "disposal-disks",
            &["Disk", "State", "Evidence"],
            s.disks
                .iter()
                .map(|d| {
                    vec![
                        Cell::mono(d.disk.label()),
                        Cell::badge(Badge::status(disk_state(d.state))),
                        Cell::mono(d.evidence_id.clone().unwrap_or_default()),
                    ]
                })
                .collect(),
            "",
        ));
    }
    if !s.missing.is_empty() {
        blocks.push(Block::Notice { kind: "warn", text: format!("Still missing: {}", s.missing.join("; ")) });
    }
    for w in &s.warnings {
        blocks.push(Block::Notice { kind: "warn", text: w.clone() });
    }
    if !s.certificates.is_empty() {
        blocks.push(Block::Section { title: "Sanitization certificates".into(), anchor: "certificates".into() });
        blocks.push(table(
            "certificates",
            &["Certificate", "Disk serial", "Issued"],
            s.certificates
                .iter()
                .map(|c| {
                    vec![
                        Cell::link(&c.id, format!("/api/v1/disposal/certificates/{}/html", encode(&c.id))),
                        Cell::mono(&c.disk_serial),
                        Cell::text(when(c.issued_at)),
                    ]
                })
                .collect(),
            "",
        ));
    }
    if viewer.can(Role::Analyst) {
        match s.state {
            LifecycleState::InService => blocks.push(action_form(
                viewer,
                &s.host_id,
                "Start decommissioning",
                vec![
                    text_field("reason", "Reason", "end of lease"),
                    text_field("operator", "Operator (sanitizes)", "A. Smith"),
                    text_field("verifier", "Verifier (checks)", "B. Jones"),
                    Field::text("location", "Location", None, "IT store room"),
                    Field::select("destination", "Planned destination", "choose…", &destination_options(), None)
                        .required(),
                    Field::checkbox("revoke_token", "revoke the agent's token once sanitized", true),
                ],
                "start",
                "Start decommissioning",
            )),
            LifecycleState::Sanitized => {
                let planned = s.case.as_ref().map(|c| c.planned_destination.as_str());
                blocks.push(action_form(
                    viewer,
                    &s.host_id,
                    "Record the hand-over",
                    vec![
                        Field::select("destination", "Destination", "choose…", &destination_options(), planned)
                            .required(),
                        text_field("reference", "Reference (receipt, ticket)", "RMA-2291"),
                    ],
                    "complete",
                    "Mark disposed",
                ));
            }
            _ => {}
        }
        if matches!(s.state, LifecycleState::Decommissioning | LifecycleState::Sanitized) {
            blocks.push(action_form(
                viewer,
                &s.host_id,
                "Return to service",
                vec![Field {
                    name: "note".into(),
                    label: "Note".into(),
                    kind: FieldKind::Textarea { value: String::new() },
                    required: false,
                }],
                "redeploy",
                "Redeploy",
            ));
        }
    }
    blocks
}

pub async fn host(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let status = disposal::status(state.store.as_ref(), &id).await.map_err(AppError::from)?;
    let title = format!("Disposal of {}", status.hostname);
    Ok(viewer.page("disposal", title, host_blocks(&viewer, &status, vec![])))
}

#[derive(Debug, Deserialize)]
pub struct DisposalForm {
    csrf: String,
    op: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    verifier: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    revoke_token: Option<String>,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    note: String,
}

pub async fn act(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<DisposalForm>,
) -> PageResult {
    viewer.check_form(&f.csrf)?;
    viewer.require(Role::Analyst)?;
    let now = (state.clock)();
    let actor = viewer.actor(ip);
    let store = state.store.as_ref();
    let destination = || {
        Destination::parse(&f.destination)
            .ok_or_else(|| PageError(AppError::bad_request("invalid_request", "choose a destination")))
    };
    let outcome = match f.op.as_str() {
        "start" => {
            let request = StartRequest {
                reason: f.reason.clone(),
                operator: f.operator.clone(),
                verifier: f.verifier.clone(),
                location: Some(f.location.clone()).filter(|l| !l.trim().is_empty()),
                destination: destination()?,
                revoke_token: f.revoke_token.as_deref() == Some("true"),
            };
            disposal::start(store, &actor, &id, &request, now).await
        }
        "complete" => disposal::complete(store, &actor, &id, destination()?, &f.reference, now).await,
        "redeploy" => {
            disposal::redeploy(store, &actor, &id, Some(f.note.as_str()).filter(|n| !n.trim().is_empty()), now).await
        }
        other => {
            return Err(PageError(AppError::bad_request("invalid_request", format!("unknown action {other:?}"))));
        }
    };
    let status = outcome.map_err(AppError::from)?;
    Ok(Redirect::to(&format!("/disposal/{}", encode(&status.host_id))).into_response())
}

//! The console's findings list, finding page and bulk triage.

use super::*;

/// The findings table's columns and the order each sorts by (none for the finding's title).
const COLUMNS: [(&str, Option<FindingSort>); 6] = [
    ("Severity", Some(FindingSort::Severity)),
    ("Finding", Some(FindingSort::Rule)),
    ("Host", Some(FindingSort::Host)),
    ("Status", Some(FindingSort::Status)),
    ("First seen", Some(FindingSort::FirstSeen)),
    ("Due", Some(FindingSort::Due)),
];

/// The findings table; with `select_form`, rows carry checkboxes for that bulk form (ticked for `selected`); with
/// `sorting`, column headers sort the list.
pub(super) fn findings_table(
    findings: &[FindingView],
    select_form: Option<&str>,
    selected: &std::collections::BTreeSet<String>,
    empty: &str,
    sorting: Option<&Sorting<'_>>,
) -> Block {
    let columns = COLUMNS
        .iter()
        .map(|(label, by)| match (by, sorting) {
            (Some(by), Some(sorting)) => sorting.column(label, by.as_str()),
            _ => Column::plain(label),
        })
        .collect();
    Block::Table(Table {
        id: "findings".into(),
        columns,
        rows: findings
            .iter()
            .map(|f| Row {
                select: select_form.map(|_| f.id.clone()),
                checked: selected.contains(&f.id),
                cells: vec![
                    Cell::badge(Badge::severity(f.severity.as_str())),
                    Cell::link(
                        clip(&format!(
                            "{}{}{}",
                            if f.known_exploited { "[known exploited] " } else { "" },
                            f.title,
                            if f.subject.is_empty() { String::new() } else { format!(" — {}", f.subject) }
                        )),
                        format!("/findings/{}", encode(&f.id)),
                    ),
                    Cell::link(clip(&f.hostname), format!("/hosts/{}", encode(&f.host_id))),
                    Cell::badge(Badge::status(f.status.as_str())),
                    Cell::text(f.first_seen.format("%Y-%m-%d").to_string()),
                    Cell {
                        text: f.due_at.format("%Y-%m-%d").to_string() + if f.overdue { " overdue" } else { "" },
                        class: if f.overdue { "overdue".into() } else { String::new() },
                        ..Cell::default()
                    },
                ],
            })
            .collect(),
        empty: empty.to_owned(),
        select_form: select_form.map(str::to_owned),
    })
}

#[derive(Debug, Deserialize, Default)]
pub struct FindingsQuery {
    severity: Option<String>,
    status: Option<String>,
    /// `true`: open, acknowledged or reopened (what someone still has to act on).
    active: Option<String>,
    rule: Option<String>,
    host: Option<String>,
    kind: Option<String>,
    overdue: Option<String>,
    /// A `FindingSort` name; the worklist order by default.
    sort: Option<String>,
    /// `desc` reverses the sort.
    dir: Option<String>,
    offset: Option<i64>,
    format: Option<String>,
    /// Outcome of a bulk action, for the notice.
    done: Option<u32>,
    failed: Option<u32>,
}

/// What a refused bulk action gives back: the error, the selection and what was typed.
#[derive(Debug, Default)]
struct Refused {
    error: String,
    selected: std::collections::BTreeSet<String>,
    comment: String,
    expires: String,
}

pub async fn findings(State(state): State<AppState>, viewer: Viewer, Query(q): Query<FindingsQuery>) -> PageResult {
    findings_page(&state, &viewer, q, None).await
}

async fn findings_page(state: &AppState, viewer: &Viewer, q: FindingsQuery, refused: Option<Refused>) -> PageResult {
    let format = Format::parse(q.format.as_deref())?;
    let now = (state.clock)();
    let severity = opt(&q.severity)
        .map(|s| Severity::parse(s).ok_or_else(|| bad(format!("unknown severity {s:?}"))))
        .transpose()?;
    let status =
        opt(&q.status).map(|s| Status::parse(s).ok_or_else(|| bad(format!("unknown status {s:?}")))).transpose()?;
    let kind =
        opt(&q.kind).map(|s| FindingKind::parse(s).ok_or_else(|| bad(format!("unknown kind {s:?}")))).transpose()?;
    let overdue = match opt(&q.overdue) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(bad(format!("overdue is true or false, not {other:?}"))),
    };
    let sort = opt(&q.sort)
        .map(|s| FindingSort::parse(s).ok_or_else(|| bad(format!("unknown sort {s:?}"))))
        .transpose()?
        .unwrap_or_default();
    let descending = opt(&q.dir) == Some("desc");
    // Active (open, acknowledged, reopened) unless a status is chosen or `active=false` asks for every status: what
    // is still to do is what a list of findings is opened for.
    let active = q.active.as_deref() != Some("false") && status.is_none();
    let offset = q.offset.unwrap_or(0).clamp(0, MAX_OFFSET);
    let (limit, offset) = if format == Format::Html { (PAGE, offset) } else { (MAX_EXPORT_ROWS, 0) };
    let filter = FindingFilter {
        severity,
        status,
        rule_id: opt(&q.rule).map(str::to_owned),
        host_id: opt(&q.host).map(str::to_owned),
        kind,
        overdue,
        active,
        sort,
        descending,
        now,
        limit,
        offset,
    };
    let mut page = state.store.list_findings(&filter).await?;
    match format {
        Format::Csv => return Ok(export::csv_body("findings", crate::export::findings(&page.findings))),
        Format::Json => return Ok(export::json("findings", &page)?),
        Format::Html => {}
    }
    let sorting = Sorting {
        path: "/findings",
        filters: vec![
            ("severity", severity.map(|s| s.as_str().to_owned()).unwrap_or_default()),
            ("status", status.map(|s| s.as_str().to_owned()).unwrap_or_default()),
            ("active", if active || status.is_some() { String::new() } else { "false".into() }),
            ("rule", opt(&q.rule).unwrap_or_default().to_owned()),
            ("host", opt(&q.host).unwrap_or_default().to_owned()),
            ("kind", kind.map(|k| k.as_str().to_owned()).unwrap_or_default()),
            ("overdue", overdue.map(|o| o.to_string()).unwrap_or_default()),
        ],
        default: FindingSort::Priority.as_str(),
        current: sort.as_str(),
        descending,
    };
    let pairs = sorting.pairs();
    let mut blocks =
        vec![Block::Heading { text: "Findings".into(), sub: Some(format!("{} matching", page.total)), badge: None }];
    if let (Some(done), failed) = (q.done, q.failed.unwrap_or(0)) {
        let kind = if failed > 0 { "warn" } else { "ok" };
        let mut text = format!("{done} finding(s) updated.");
        if failed > 0 {
            text.push_str(&format!(" {failed} could not be changed from their current status."));
        }
        blocks.push(Block::Notice { kind, text });
    }
    if let Some(r) = &refused {
        blocks.push(Block::Notice { kind: "error", text: r.error.clone() });
    }
    let status_options: Vec<(&str, &str)> = Status::ALL.iter().map(|s| (s.as_str(), s.as_str())).collect();
    blocks.push(Block::Filters(Filters {
        action: "/findings".into(),
        fields: vec![
            Field::select("severity", "Severity", "any", &SEVERITY_OPTIONS, severity.map(Severity::as_str)),
            Field::select("status", "Status", "any", &status_options, status.map(Status::as_str)),
            Field::select(
                "active",
                "Show",
                "active only",
                &[("false", "all, resolved too")],
                (!active && status.is_none()).then_some("false"),
            ),
            Field::text("rule", "Rule / advisory", opt(&q.rule), "ssh.permit_root_login"),
            Field::text("host", "Host (name or id)", opt(&q.host), "build-01"),
            Field::select(
                "kind",
                "Kind",
                "any",
                &[("rule", "rule"), ("vulnerability", "vulnerability")],
                kind.map(FindingKind::as_str),
            ),
            Field::select(
                "overdue",
                "Overdue",
                "any",
                &[("true", "overdue"), ("false", "not overdue")],
                overdue.map(|o| if o { "true" } else { "false" }),
            ),
        ],
        exports: exports("/findings", &pairs),
    }));
    let triage = viewer.can(Role::Analyst);
    if triage {
        let back = link("/findings", &with_offset(&pairs, offset));
        blocks.push(Block::Form(bulk_form(viewer, &back, now, refused.as_ref())));
    }
    let shown = page.findings.len();
    let selected = refused.map(|r| r.selected).unwrap_or_default();
    let table = findings_table(
        &std::mem::take(&mut page.findings),
        triage.then_some("bulk"),
        &selected,
        "No finding matches.",
        Some(&sorting),
    );
    blocks.push(table);
    blocks.push(pager("/findings", &pairs, offset, shown, page.total));
    Ok(viewer.page("findings", "Findings", blocks))
}

fn with_offset<'a>(pairs: &[(&'a str, String)], offset: i64) -> Vec<(&'a str, String)> {
    let mut p = pairs.to_vec();
    if offset > 0 {
        p.push(("offset", offset.to_string()));
    }
    p
}

fn bulk_form(viewer: &Viewer, back: &str, now: DateTime<Utc>, refused: Option<&Refused>) -> FormBlock {
    let default_expiry = (now + Duration::days(90)).date_naive().format("%Y-%m-%d").to_string();
    let comment = refused.map(|r| r.comment.clone()).unwrap_or_default();
    let expiry = refused.map(|r| r.expires.clone()).filter(|e| !e.trim().is_empty()).unwrap_or(default_expiry);
    FormBlock {
        id: "bulk".into(),
        action: "/findings/bulk".into(),
        title: "Triage selected findings".into(),
        fields: vec![
            Field::hidden("back", back),
            Field {
                name: "comment".into(),
                label: "Comment / reason".into(),
                kind: FieldKind::Textarea { value: comment },
                required: false,
            },
            Field {
                name: "expires".into(),
                label: "Risk accepted until".into(),
                kind: FieldKind::Date { value: expiry },
                required: false,
            },
        ],
        buttons: vec![
            ("acknowledge".into(), "Acknowledge".into(), "primary".into()),
            ("accept-risk".into(), "Accept risk".into(), "warn".into()),
            ("reopen".into(), "Reopen".into(), String::new()),
        ],
        csrf: viewer.user.csrf_token.clone(),
        confirm: None,
        inline: false,
    }
}

#[derive(Debug, Deserialize)]
pub struct BulkAction {
    csrf: String,
    op: String,
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    back: String,
}

/// Acknowledge, accept the risk of, or reopen the selected findings, each through the same checked transition as
/// the API; the list shows how many changed.
pub async fn findings_bulk(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    viewer: Viewer,
    Form(form): Form<BulkAction>,
) -> PageResult {
    viewer.check_form(&form.csrf)?;
    viewer.require(Role::Analyst)?;
    let action = match form.op.as_str() {
        "acknowledge" => Action::Acknowledge,
        "accept-risk" => Action::AcceptRisk,
        "reopen" => Action::Reopen,
        other => return Err(bad(format!("unknown action {other:?}"))),
    };
    if form.ids.len() > 1000 {
        return Err(bad("at most 1000 findings at once"));
    }
    let back = crate::console::safe_next(&form.back);
    let back = if back.starts_with("/findings") { back } else { "/findings".to_owned() };
    if form.ids.is_empty() {
        return refuse(&state, &viewer, &back, &form, "select at least one finding").await;
    }
    let now = (state.clock)();
    let comment = Some(form.comment.clone()).filter(|c| !c.trim().is_empty());
    let expires_at = if action == Action::AcceptRisk {
        if comment.is_none() {
            return refuse(&state, &viewer, &back, &form, "accepting a risk needs a reason").await;
        }
        let Ok(day) = NaiveDate::parse_from_str(form.expires.trim(), "%Y-%m-%d") else {
            return refuse(&state, &viewer, &back, &form, "accepting a risk needs an expiry date (YYYY-MM-DD)").await;
        };
        // The acceptance holds through the chosen day.
        Some(day.and_hms_opt(23, 59, 59).map(|t| t.and_utc()).ok_or_else(|| bad("invalid expiry date"))?)
    } else {
        None
    };
    let (mut done, mut failed) = (0u32, 0u32);
    for id in &form.ids {
        let request = TransitionRequest {
            finding_id: id.clone(),
            action,
            actor: viewer.actor_name(),
            source_ip: Some(ip.clone()),
            at: now,
            comment: comment.clone(),
            expires_at,
        };
        match app_findings::act(state.store.as_ref(), request).await {
            Ok(_) => done += 1,
            Err(actions::ActionError::NotAllowed { .. }) | Err(actions::ActionError::NotFound(_)) => failed += 1,
            Err(e) => return Err(PageError(e.into())),
        }
    }
    let separator = if back.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{back}{separator}done={done}&failed={failed}")).into_response())
}

/// A mistake in the bulk form shows the list again (400) with the error, the selection and what was typed, not a
/// bare error page that loses them.
async fn refuse(state: &AppState, viewer: &Viewer, back: &str, form: &BulkAction, error: &str) -> PageResult {
    let uri: axum::http::Uri = back.parse().unwrap_or_else(|_| axum::http::Uri::from_static("/findings"));
    let q = axum::extract::Query::<FindingsQuery>::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let refused = Refused {
        error: error.to_owned(),
        selected: form.ids.iter().cloned().collect(),
        comment: form.comment.clone(),
        expires: form.expires.clone(),
    };
    let page = findings_page(state, viewer, FindingsQuery { done: None, failed: None, ..q }, Some(refused)).await?;
    Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response())
}

pub async fn finding(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    let now = (state.clock)();
    let f = state.store.get_finding(&id, now).await?.ok_or_else(|| not_found("finding"))?;
    let history = state.store.finding_history(&id).await?;
    let mut blocks = vec![Block::Heading {
        text: f.title.clone(),
        sub: Some(format!("{} on {}", f.rule_id, f.hostname)),
        badge: Some(Badge::severity(f.severity.as_str())),
    }];
    blocks.push(Block::Pairs(vec![
        Pair::new("Status", f.status.as_str().replace('_', " ")),
        Pair { label: "Host".into(), value: f.hostname.clone(), href: Some(format!("/hosts/{}", encode(&f.host_id))) },
        Pair::new("Kind", f.kind.as_str()),
        Pair::new("Rule / advisory", f.rule_id.clone()),
        Pair::new("Subject", f.subject.clone()),
        Pair::new("First seen", when(f.first_seen)),
        Pair::new("Due", format!("{}{}", when(f.due_at), if f.overdue { " (overdue)" } else { "" })),
        Pair::opt("Acknowledged by", f.acknowledged_by.clone()),
        Pair::opt("Risk accepted by", f.risk_accepted_by.clone()),
        Pair::opt("Risk reason", f.risk_reason.clone()),
        Pair::new("Risk accepted until", when_opt(f.risk_expires_at)),
        Pair::new("Resolved", when_opt(f.resolved_at)),
    ]));
    let tickets = crate::app::integrations::finding_tickets(state.store.as_ref(), &id).await?;
    if !tickets.is_empty() {
        blocks.push(Block::Pairs(
            tickets
                .into_iter()
                .map(|t| Pair { label: format!("Ticket ({})", t.integration), value: t.ticket, href: Some(t.url) })
                .collect(),
        ));
    }
    blocks.push(Block::Section { title: "Evidence".into(), anchor: "evidence".into() });
    blocks.push(Block::Lines(if f.evidence.is_empty() { vec!["(none)".into()] } else { f.evidence.clone() }));
    blocks.push(Block::Section { title: "Remediation".into(), anchor: "remediation".into() });
    blocks.push(Block::Lines(vec![f.remediation.clone()]));
    if viewer.can(Role::Analyst) {
        let mut form = bulk_form(&viewer, &format!("/findings?host={}", encode(&f.host_id)), now, None);
        form.id = "triage".into();
        form.title = "Triage".into();
        form.fields.push(Field::hidden("ids", &f.id));
        blocks.push(Block::Form(form));
    }
    blocks.push(Block::Section { title: "History".into(), anchor: "history".into() });
    blocks.push(table(
        "finding-history",
        &["When", "Who", "Action", "From", "To", "Comment"],
        history
            .iter()
            .map(|e| {
                vec![
                    Cell::text(when(e.at)),
                    Cell::text(&e.actor),
                    Cell::text(&e.action),
                    Cell::text(e.from_status.map(|s| s.as_str()).unwrap_or("")),
                    Cell::text(e.to_status.as_str()),
                    Cell::text(s(&e.comment)),
                ]
            })
            .collect(),
        "No history.",
    ));
    Ok(viewer.page("findings", f.title.clone(), blocks))
}

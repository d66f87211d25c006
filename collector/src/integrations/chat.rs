//! Chat messages made from outbox events: a Slack Block Kit message and a Microsoft Teams Adaptive Card, each
//! with a link back to the finding in the console, one per event or one digest of several. Rendered at delivery
//! from the stored versioned body, so the outbox keeps one document per event whatever the destinations, and a
//! corrected console address applies to what is still queued.

use serde_json::{Value, json};

use super::tickets::Facts;
use super::{
    ADVISORIES_UPDATE_FAILED, DISPOSAL_COMPLETED, DISPOSAL_REDEPLOYED, DISPOSAL_SANITIZED, DISPOSAL_STARTED,
    FINDING_OVERDUE, HOST_ENROLLED, HOST_ENROLMENT_HELD, HOST_TAKEN_OVER, StoredEvent, TEST_EVENT,
};

/// What both services show, worked out once.
struct Message {
    /// "New finding", "Finding resolved", …
    headline: &'static str,
    title: String,
    /// The notification's one line (Slack's `text`, shown where blocks are not).
    summary: String,
    facts: Vec<(&'static str, String)>,
    /// Who, and their comment.
    by: Option<String>,
    link: Option<String>,
    /// How urgent it reads: `critical`/`high` as danger, `medium` as warning, a resolution as good.
    tone: Tone,
}

impl Message {
    /// A message about a record (a host, its disposal): the headline and title, the facts, who did it.
    fn about(
        headline: &'static str,
        title: String,
        facts: Vec<(&'static str, String)>,
        actor: &str,
        link: Option<String>,
        tone: Tone,
    ) -> Message {
        Message {
            headline,
            summary: format!("{headline}: {title}"),
            title,
            facts,
            by: (!actor.is_empty()).then(|| format!("By {actor}")),
            link,
            tone,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Danger,
    Warning,
    Good,
    Plain,
}

fn headline(event_type: &str) -> &'static str {
    match event_type {
        "finding.opened" => "New finding",
        "finding.acknowledged" => "Finding acknowledged",
        "finding.risk_accepted" => "Risk accepted",
        "finding.reopened" => "Finding reopened",
        "finding.resolved" => "Finding resolved",
        "finding.recurred" => "Finding recurred",
        "finding.risk_acceptance_expired" => "Risk acceptance expired",
        FINDING_OVERDUE => "Finding overdue",
        HOST_ENROLLED => "New host enrolled",
        HOST_TAKEN_OVER => "Host taken over by a new agent",
        HOST_ENROLMENT_HELD => "Enrolment waiting for approval",
        ADVISORIES_UPDATE_FAILED => "Advisory update failed",
        DISPOSAL_STARTED => "Disposal started",
        DISPOSAL_SANITIZED => "Disks sanitized",
        DISPOSAL_COMPLETED => "Host disposed",
        DISPOSAL_REDEPLOYED => "Host back in service",
        TEST_EVENT => "Test message",
        _ => "Muster event",
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// `body` (an outbox event's stored document) as the message both services render; `console` is the console's
/// address as people reach it, for the link.
fn message(body: &str, console: Option<&str>, known: Option<&Facts>) -> Result<Message, String> {
    let stored = StoredEvent::parse(body)?;
    let d = stored.data;
    let headline = headline(&stored.event_type);
    if stored.event_type == TEST_EVENT {
        return Ok(Message {
            headline,
            title: d.message.clone(),
            summary: format!("Muster: {}", d.message),
            facts: vec![("Integration", d.integration)],
            by: (!d.actor.is_empty()).then(|| format!("Sent by {}", d.actor)),
            link: console.map(|c| format!("{}/admin/integrations", c.trim_end_matches('/'))),
            tone: Tone::Plain,
        });
    }
    let link = console.filter(|_| !d.path.is_empty()).map(|c| format!("{}{}", c.trim_end_matches('/'), d.path));
    if stored.event_type == ADVISORIES_UPDATE_FAILED {
        // Slack shows ten fields at most: the first nine sources, then how many more.
        let mut facts: Vec<(&'static str, String)> =
            d.failures.iter().take(9).map(|f| ("Source", format!("{}\n{}", f.source, f.error))).collect();
        if d.failures.len() > 9 {
            facts.push(("More", format!("{} other sources", d.failures.len() - 9)));
        }
        return Ok(Message {
            headline,
            summary: format!("Muster: {}", d.title),
            title: d.title,
            facts,
            by: None,
            link,
            tone: Tone::Danger,
        });
    }
    if stored.event_type.starts_with("disposal.") {
        let mut facts = vec![
            ("Host", d.hostname.clone()),
            ("State", format!("{} → {}", d.from.replace('_', " "), d.to.replace('_', " "))),
        ];
        for (name, key) in [("Reason", "reason"), ("Destination", "destination"), ("Reference", "reference")] {
            if let Some(value) = d.details.get(key).and_then(serde_json::Value::as_str) {
                facts.push((name, value.replace('_', " ")));
            }
        }
        if let Some(certificates) = d.details.get("certificates").and_then(serde_json::Value::as_array) {
            facts.push(("Certificates", certificates.len().to_string()));
        }
        let tone = if stored.event_type == DISPOSAL_SANITIZED { Tone::Good } else { Tone::Plain };
        return Ok(Message::about(headline, d.title, facts, &d.actor, link, tone));
    }
    if stored.event_type.starts_with("host.") {
        let mut facts = vec![("Host", d.hostname.clone()), ("Host id", d.host_id.clone())];
        if !d.agent_version.is_empty() {
            facts.push(("Agent", d.agent_version.clone()));
        }
        if !d.tags.is_empty() {
            facts.push(("Tags", d.tags.join(", ")));
        }
        if !d.duplicates.is_empty() {
            facts.push(("Same identity as", d.duplicates.join(", ")));
        }
        if let Some(request) = &d.request_id {
            facts.push(("Request", request.clone()));
        }
        // Someone should look: an agent took a record, wants to, or enrolled beside records with its identity.
        let tone =
            if stored.event_type == HOST_ENROLLED && d.duplicates.is_empty() { Tone::Plain } else { Tone::Warning };
        return Ok(Message::about(headline, d.title, facts, &d.actor, link, tone));
    }
    let tone = match (stored.event_type.as_str(), d.severity.as_str()) {
        ("finding.resolved", _) => Tone::Good,
        (_, "critical" | "high") => Tone::Danger,
        (_, "medium") => Tone::Warning,
        _ => Tone::Plain,
    };
    // An escalation leaves the status as it was.
    let status = match &d.from_status {
        Some(from) if *from != d.status => format!("{} → {}", from.replace('_', " "), d.status.replace('_', " ")),
        _ => d.status.replace('_', " "),
    };
    let mut facts = vec![("Host", d.hostname.clone()), ("Severity", capitalised(&d.severity)), ("Status", status)];
    if d.kind == "vulnerability" {
        // A vulnerability finding is one fix: its advisories (read at delivery) name it, five at most.
        let advisories = known.map(|k| k.advisories.as_slice()).unwrap_or_default();
        match advisories.len() {
            0 => facts.push(("Fix", d.rule_id.clone())),
            n if n <= 5 => facts.push(("Advisories", advisories.join(", "))),
            n => facts.push(("Advisories", format!("{} and {} more", advisories[..5].join(", "), n - 5))),
        }
        if !d.subject.is_empty() {
            facts.push(("Package", d.subject.clone()));
        }
    } else {
        facts.push(("Rule", d.rule_id.clone()));
        if !d.subject.is_empty() {
            facts.push(("Subject", d.subject.clone()));
        }
    }
    if let Some(remediation) = known.map(|k| k.remediation.as_str()).filter(|r| !r.is_empty()) {
        facts.push(("Remediation", clip(remediation, 500)));
    }
    // The day is what a person plans by; the stored body keeps the exact time.
    if let Some(day) = d.due_at.get(..10) {
        let passed = if stored.event_type == FINDING_OVERDUE { " (passed)" } else { "" };
        facts.push(("Due", format!("{day}{passed}")));
    }
    let by = match (d.actor.as_str(), d.comment.as_deref().filter(|c| !c.trim().is_empty())) {
        ("", None) => None,
        (actor, None) => Some(format!("By {actor}")),
        (actor, Some(comment)) => Some(format!("By {actor}: “{}”", comment.trim())),
    };
    Ok(Message {
        headline,
        summary: format!("{headline}: {} on {} ({})", d.title, d.hostname, d.severity),
        title: d.title,
        facts,
        by,
        link,
        tone,
    })
}

/// At most `max` characters, an ellipsis marking a cut (the services refuse longer texts outright).
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack's `mrkdwn` reserves these three; everything else shows as written.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A Slack incoming webhook's body: `text` for notifications and clients without blocks, and Block Kit blocks
/// (header, the title linked to the console with up to ten fields, who did it, a button), inside Slack's limits.
pub fn slack(body: &str, console: Option<&str>, known: Option<&Facts>) -> Result<String, String> {
    let m = message(body, console, known)?;
    let marker = marker(m.tone);
    let title = slack_escape(&clip(&m.title, 2900));
    let title = match &m.link {
        Some(link) => format!("*<{link}|{title}>*"),
        None => format!("*{title}*"),
    };
    let fields: Vec<Value> = m
        .facts
        .iter()
        .take(10)
        .map(|(name, value)| json!({ "type": "mrkdwn", "text": clip(&format!("*{name}*\n{}", slack_escape(value)), 2000) }))
        .collect();
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": clip(&format!("{marker}{}", m.headline), 150), "emoji": true } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": title }, "fields": fields }),
    ];
    if let Some(by) = &m.by {
        blocks.push(
            json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": clip(&slack_escape(by), 2900) }] }),
        );
    }
    if let Some(link) = &m.link {
        blocks.push(slack_button("Open in Muster", link));
    }
    Ok(json!({ "text": clip(&m.summary, 3000), "blocks": blocks }).to_string())
}

/// An actions block with one button to the console.
fn slack_button(label: &str, link: &str) -> Value {
    json!({ "type": "actions", "elements": [{
        "type": "button",
        "text": { "type": "plain_text", "text": label },
        "url": clip(link, 3000),
        "action_id": "open_in_muster",
    }] })
}

/// A Teams workflow webhook's body: a message with one Adaptive Card (version 1.4, which Teams renders on every
/// client) holding the headline, the title, the facts, who did it, and a button to the console.
pub fn teams(body: &str, console: Option<&str>, known: Option<&Facts>) -> Result<String, String> {
    let m = message(body, console, known)?;
    let color = color(m.tone);
    let facts: Vec<Value> = m.facts.iter().map(|(name, value)| json!({ "title": name, "value": value })).collect();
    let mut card_body = vec![
        json!({ "type": "TextBlock", "text": m.headline, "weight": "Bolder", "size": "Medium", "color": color, "wrap": true }),
        json!({ "type": "TextBlock", "text": m.title, "wrap": true }),
        json!({ "type": "FactSet", "facts": facts }),
    ];
    if let Some(by) = &m.by {
        card_body.push(json!({ "type": "TextBlock", "text": by, "isSubtle": true, "wrap": true }));
    }
    let actions: Vec<Value> =
        m.link.iter().map(|link| json!({ "type": "Action.OpenUrl", "title": "Open in Muster", "url": link })).collect();
    Ok(teams_envelope(card_body, actions, &m.summary))
}

/// The Slack header's tone marker.
fn marker(tone: Tone) -> &'static str {
    match tone {
        Tone::Danger => "🔴 ",
        Tone::Warning => "🟠 ",
        Tone::Good => "✅ ",
        Tone::Plain => "",
    }
}

/// An Adaptive Card TextBlock's colour for the tone.
fn color(tone: Tone) -> &'static str {
    match tone {
        Tone::Danger => "Attention",
        Tone::Warning => "Warning",
        Tone::Good => "Good",
        Tone::Plain => "Default",
    }
}

/// A Teams workflow message carrying one Adaptive Card 1.4 (which Teams renders on every client).
fn teams_envelope(card_body: Vec<Value>, actions: Vec<Value>, summary: &str) -> String {
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": card_body,
        "actions": actions,
        "fallbackText": summary,
    });
    json!({
        "type": "message",
        "summary": summary,
        "attachments": [{ "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card }],
    })
    .to_string()
}

/// Events a digest lists one per line; the rest are counted.
const DIGEST_LINES: usize = 10;

/// What both services show of several events at once.
struct Digest {
    headline: String,
    /// "3 × New finding, 1 × Finding resolved", in the order each first came.
    counts: String,
    /// The first [`DIGEST_LINES`] events' one-line summaries, with their links.
    lines: Vec<(String, Option<String>)>,
    more: usize,
    /// The findings list in the console.
    link: Option<String>,
    tone: Tone,
    summary: String,
}

fn digest(bodies: &[&str], console: Option<&str>) -> Result<Digest, String> {
    let messages: Vec<Message> = bodies.iter().map(|b| message(b, console, None)).collect::<Result<_, _>>()?;
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for m in &messages {
        match counts.iter_mut().find(|(h, _)| *h == m.headline) {
            Some((_, n)) => *n += 1,
            None => counts.push((m.headline, 1)),
        }
    }
    let counts = counts.iter().map(|(h, n)| format!("{n} × {h}")).collect::<Vec<_>>().join(", ");
    // The most urgent decides; all good news reads as good.
    let tone = if messages.iter().any(|m| m.tone == Tone::Danger) {
        Tone::Danger
    } else if messages.iter().any(|m| m.tone == Tone::Warning) {
        Tone::Warning
    } else if !messages.is_empty() && messages.iter().all(|m| m.tone == Tone::Good) {
        Tone::Good
    } else {
        Tone::Plain
    };
    let n = messages.len();
    let headline = if n == 1 { "1 Muster event".to_owned() } else { format!("{n} Muster events") };
    Ok(Digest {
        summary: format!("{headline}: {counts}"),
        headline,
        counts,
        lines: messages.iter().take(DIGEST_LINES).map(|m| (m.summary.clone(), m.link.clone())).collect(),
        more: n.saturating_sub(DIGEST_LINES),
        link: console.map(|c| format!("{}/findings", c.trim_end_matches('/'))),
        tone,
    })
}

/// Several events as one Slack message: a header with the count, what kinds they were, the first few linked one
/// per line, how many more, and a button to the findings list.
pub fn slack_digest(bodies: &[&str], console: Option<&str>) -> Result<String, String> {
    let d = digest(bodies, console)?;
    let marker = marker(d.tone);
    // Whole lines only, within a section's 3000 characters, so no link is cut in half.
    let mut list = String::new();
    for (summary, link) in &d.lines {
        let text = slack_escape(&clip(summary, 280));
        let line = match link {
            Some(link) => format!("• <{link}|{text}>\n"),
            None => format!("• {text}\n"),
        };
        if list.chars().count() + line.chars().count() > 2900 {
            break;
        }
        list.push_str(&line);
    }
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": clip(&format!("{marker}{}", d.headline), 150), "emoji": true } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(&slack_escape(&d.counts), 3000) } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": list.trim_end() } }),
    ];
    if d.more > 0 {
        blocks.push(
            json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": format!("…and {} more", d.more) }] }),
        );
    }
    if let Some(link) = &d.link {
        blocks.push(slack_button("Open the findings", link));
    }
    Ok(json!({ "text": clip(&d.summary, 3000), "blocks": blocks }).to_string())
}

/// Several events as one Teams Adaptive Card (1.4): the count, what kinds they were, the first few linked one per
/// line, how many more, and a button to the findings list.
pub fn teams_digest(bodies: &[&str], console: Option<&str>) -> Result<String, String> {
    let d = digest(bodies, console)?;
    let mut card_body = vec![
        json!({ "type": "TextBlock", "text": d.headline, "weight": "Bolder", "size": "Medium", "color": color(d.tone), "wrap": true }),
        json!({ "type": "TextBlock", "text": d.counts, "wrap": true }),
    ];
    for (summary, link) in &d.lines {
        // TextBlock's Markdown: a link's text must not close its brackets early.
        let text = summary.replace('[', "(").replace(']', ")");
        let line = match link {
            Some(link) => format!("- [{text}]({link})"),
            None => format!("- {text}"),
        };
        card_body.push(json!({ "type": "TextBlock", "text": line, "wrap": true, "spacing": "Small" }));
    }
    if d.more > 0 {
        card_body.push(
            json!({ "type": "TextBlock", "text": format!("…and {} more", d.more), "isSubtle": true, "wrap": true }),
        );
    }
    let actions: Vec<Value> = d
        .link
        .iter()
        .map(|link| json!({ "type": "Action.OpenUrl", "title": "Open the findings", "url": link }))
        .collect();
    Ok(teams_envelope(card_body, actions, &d.summary))
}

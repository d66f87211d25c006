//! Events for a SIEM over syslog, decided without I/O: the destination URL (`udp://`, `tcp://`, `tls://`), the
//! RFC 5424 message (priority from the finding's severity, the event type as MSGID) with the event's JSON or an
//! ArcSight CEF line as its text, and RFC 6587 octet counting on stream transports (RFC 5425 for TLS).
//!
//! Written here rather than taken from a crate: the syslog crates on crates.io write to the local daemon or send
//! RFC 3164 lines; what a SIEM needs from us is this one message shape, a few lines of formatting.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::IntegrationError;
use crate::model::Severity;
use crate::model::integrations::PayloadFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// Where and how a syslog subscription sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
    /// RFC 5424 facility code (`?facility=local0` … `local7`, `auth`, `authpriv`, `security`, `user`, `daemon`).
    pub facility: u8,
    /// `?ca=/path/to/ca.pem` for `tls://`: the CA that signed the receiver's certificate, when it is not in the
    /// system's trusted roots.
    pub ca_file: Option<String>,
}

const FACILITIES: [(&str, u8); 14] = [
    ("user", 1),
    ("daemon", 3),
    ("auth", 4),
    ("authpriv", 10),
    ("security", 13),
    ("audit", 13),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// A syslog destination URL checked: scheme, host, port (514, or 6514 for TLS), facility (default `local0`).
pub fn target(url: &str) -> Result<Target, IntegrationError> {
    let bad = |why: &str| IntegrationError::SyslogUrl(format!("{url}: {why}"));
    let u = url::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    let transport = match u.scheme() {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        _ => return Err(bad("a syslog destination is udp://, tcp:// or tls://HOST[:PORT]")),
    };
    let host = u.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = u.port().unwrap_or(if transport == Transport::Tls { 6514 } else { 514 });
    let mut facility = 16;
    let mut ca_file = None;
    for (key, value) in u.query_pairs() {
        match key.as_ref() {
            "facility" => {
                facility =
                    FACILITIES.iter().find(|(name, _)| *name == value).map(|(_, code)| *code).ok_or_else(|| {
                        bad("facility is one of user, daemon, auth, authpriv, security, audit, local0 … local7")
                    })?;
            }
            "ca" if transport == Transport::Tls => ca_file = Some(value.into_owned()),
            other => return Err(bad(&format!("unknown parameter {other:?}"))),
        }
    }
    Ok(Target { transport, host, port, facility, ca_file })
}

/// RFC 5424 severity: how urgent the event is. Changes that leave someone work (opened, reopened, recurred, an
/// acceptance that ran out) carry the finding's severity; an agent taking a record over, or waiting to, is a
/// warning (it may be a cloned disk or an impostor); the rest are notices.
fn syslog_severity(event_type: &str, severity: Option<Severity>) -> u8 {
    if matches!(event_type, super::HOST_TAKEN_OVER | super::HOST_ENROLMENT_HELD) {
        return 4;
    }
    // Matching goes on with old advisories until someone mends the source.
    if event_type == super::ADVISORIES_UPDATE_FAILED {
        return 3;
    }
    let needs_work = matches!(
        event_type,
        "finding.opened"
            | "finding.reopened"
            | "finding.recurred"
            | "finding.risk_acceptance_expired"
            | super::FINDING_OVERDUE
    );
    match (needs_work, severity) {
        (true, Some(Severity::Critical)) => 2,
        (true, Some(Severity::High)) => 3,
        (true, Some(Severity::Medium)) => 4,
        (true, Some(Severity::Low)) => 5,
        (true, Some(Severity::Info)) => 6,
        _ => 5,
    }
}

/// CEF's 0–10 severity.
fn cef_severity(severity: Option<Severity>) -> u8 {
    match severity {
        Some(Severity::Critical) => 10,
        Some(Severity::High) => 8,
        Some(Severity::Medium) => 5,
        Some(Severity::Low) => 3,
        Some(Severity::Info) | None => 1,
    }
}

fn cef_header(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace(['\r', '\n'], " ")
}

fn cef_value(s: &str) -> String {
    s.replace('\\', "\\\\").replace('=', "\\=").replace('\r', "\\r").replace('\n', "\\n")
}

/// The event as one CEF line: vendor, product, version, event class (the type), name (the finding's title),
/// severity, then the finding's fields as extensions (`cs1` … `cs4` with their labels).
pub fn cef(event_id: &str, event_type: &str, at: DateTime<Utc>, body: &Value) -> String {
    let data = &body["data"];
    let text = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
    let severity = data["severity"].as_str().and_then(Severity::parse);
    let name = match data["title"].as_str() {
        Some(t) => t.to_owned(),
        None => data["message"].as_str().unwrap_or(event_type).to_owned(),
    };
    let mut ext = vec![
        ("rt".to_owned(), at.timestamp_millis().to_string()),
        ("externalId".to_owned(), event_id.to_owned()),
        ("dhost".to_owned(), text("hostname")),
    ];
    // CEF's custom strings come with their labels; an empty one is left out with its label.
    for (n, label) in [(1, "finding_id"), (2, "rule_id"), (3, "status"), (4, "subject")] {
        let value = text(label);
        if !value.is_empty() {
            ext.push((format!("cs{n}Label"), label.to_owned()));
            ext.push((format!("cs{n}"), value));
        }
    }
    ext.push(("suser".to_owned(), text("actor")));
    ext.push(("request".to_owned(), text("path")));
    ext.retain(|(_, v)| !v.is_empty());
    let ext: Vec<String> = ext.iter().map(|(k, v)| format!("{k}={}", cef_value(v))).collect();
    format!(
        "CEF:0|Muster|Muster Collector|{}|{}|{}|{}|{}",
        cef_header(env!("CARGO_PKG_VERSION")),
        cef_header(event_type),
        cef_header(&name),
        cef_severity(severity),
        ext.join(" ")
    )
}

/// A message's text: the event's JSON body, a CEF line made from it, or one made elsewhere (OCSF).
#[derive(Debug, Clone, Copy)]
pub enum Text<'a> {
    Body,
    Cef,
    Given(&'a str),
}

impl Text<'_> {
    /// The text for a subscription's payload format (OCSF is made by `integrations::ocsf` and given).
    pub fn of(format: PayloadFormat) -> Text<'static> {
        match format {
            PayloadFormat::Cef => Text::Cef,
            _ => Text::Body,
        }
    }
}

/// The RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME muster - MSGID - MSG`, the event's time as TIMESTAMP, its type
/// as MSGID, and as MSG the webhook body (JSON), its CEF line or the given text (OCSF). A body that is not JSON (it
/// is ours, so a corrupt row) goes as it is.
pub fn message(
    event_id: &str,
    event_type: &str,
    at: DateTime<Utc>,
    body: &str,
    hostname: &str,
    facility: u8,
    text: Text<'_>,
) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let severity = parsed.as_ref().and_then(|b| b["data"]["severity"].as_str()).and_then(Severity::parse);
    let pri = u16::from(facility) * 8 + u16::from(syslog_severity(event_type, severity));
    // HOSTNAME and MSGID are printable US-ASCII without spaces, at most 255 and 32 characters.
    let field = |s: &str, max: usize| {
        let f: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
        if f.is_empty() { "-".to_owned() } else { f }
    };
    let msg = match (text, &parsed) {
        (Text::Given(event), _) => event.to_owned(),
        (Text::Cef, Some(b)) => cef(event_id, event_type, at, b),
        _ => body.to_owned(),
    };
    format!(
        "<{pri}>1 {} {} muster - {} - {msg}",
        at.to_rfc3339_opts(SecondsFormat::Millis, true),
        field(hostname, 255),
        field(event_type, 32)
    )
}

/// RFC 6587 octet counting (`LEN SP MSG`), the framing RFC 5425 requires on TLS and rsyslog and syslog-ng accept
/// on TCP: a message may then hold any byte, newlines included.
pub fn octet_counted(message: &str) -> Vec<u8> {
    let mut out = format!("{} ", message.len()).into_bytes();
    out.extend_from_slice(message.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn urls_name_transport_port_facility_and_ca() {
        let t = target("udp://siem.example.com").unwrap();
        assert_eq!((t.transport, t.host.as_str(), t.port, t.facility), (Transport::Udp, "siem.example.com", 514, 16));
        let t = target("tls://10.0.0.5?facility=authpriv&ca=/etc/muster/siem-ca.pem").unwrap();
        assert_eq!((t.transport, t.port, t.facility), (Transport::Tls, 6514, 10));
        assert_eq!(t.ca_file.as_deref(), Some("/etc/muster/siem-ca.pem"));
        assert_eq!(target("tcp://[::1]:1514").unwrap().host, "::1");
        for bad in ["http://siem", "udp://siem?facility=kern", "tcp://siem?ca=/x.pem", "udp://"] {
            assert!(target(bad).is_err(), "{bad}");
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 9, 30, 0).unwrap()
    }

    const BODY: &str = r#"{"type":"finding.opened","timestamp":"2026-12-04T09:30:00.000Z","data":{"version":1,"finding_id":"f1","host_id":"h1","hostname":"web-01","kind":"rule","rule_id":"ssh.permit_root_login","subject":"","title":"SSH server allows root login | pipe","severity":"high","status":"open","actor":"evaluator","path":"/findings/f1"}}"#;

    #[test]
    fn messages_carry_priority_time_type_and_body() {
        let m = message("msg_1", "finding.opened", at(), BODY, "collector 1", 16, Text::Body);
        // local0 (16) * 8 + err (3): a high finding someone has to fix.
        assert_eq!(m, format!("<131>1 2026-12-04T09:30:00.000Z collector1 muster - finding.opened - {BODY}"));
        let resolved = BODY.replace("finding.opened", "finding.resolved");
        let m = message("msg_2", "finding.resolved", at(), &resolved, "c", 4, Text::Body);
        assert!(m.starts_with("<37>1 "), "auth (4) * 8 + notice (5): {m}");
    }

    #[test]
    fn cef_escapes_its_separators() {
        let m = message("msg_1", "finding.opened", at(), BODY, "c", 16, Text::Cef);
        let line = m.split_once(" - finding.opened - ").unwrap().1;
        assert_eq!(
            line,
            format!(
                "CEF:0|Muster|Muster Collector|{}|finding.opened|SSH server allows root login \\| pipe|8|\
                 rt=1796376600000 externalId=msg_1 dhost=web-01 cs1Label=finding_id cs1=f1 cs2Label=rule_id \
                 cs2=ssh.permit_root_login cs3Label=status cs3=open suser=evaluator \
                 request=/findings/f1",
                env!("CARGO_PKG_VERSION")
            )
        );
        let body: Value = serde_json::json!({"data": {"title": "a=b\nc\\d", "hostname": "h"}});
        assert!(cef("m", "t", at(), &body).contains("|a=b c\\\\d|1|"));
        let body: Value = serde_json::json!({"data": {"title": "t", "hostname": "x=y\nz"}});
        assert!(cef("m", "t", at(), &body).contains("dhost=x\\=y\\nz"));
    }

    #[test]
    fn stream_frames_count_octets() {
        assert_eq!(octet_counted("<13>1 - - - - - é"), b"18 <13>1 - - - - - \xc3\xa9".to_vec());
    }
}

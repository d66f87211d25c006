//! Log output of the collector: human-readable lines, or one JSON object per event for log pipelines
//! (`--log-format json`). The level comes from `MUSTER_LOG` (default `info`).
//!
//! Field values often come from the network (a hostname in a refused enrolment, a path, a user name): in text lines
//! every control character is escaped, so a value cannot start a forged log line or send terminal escapes (JSON
//! output escapes them by its own rules).

use std::borrow::Cow;
use std::fmt;

use clap::ValueEnum;
use tracing::field::Field;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `text` with every control character (newline, carriage return, escape, NUL…) written as `\u{…}`.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes one field of a text line: `name=value`, the message bare; control characters escaped.
fn write_field(w: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    let text = format!("{value:?}");
    if field.name() == "message" {
        write!(w, "{}", escape_control(&text))
    } else {
        write!(w, "{}={}", field.name(), escape_control(&text))
    }
}

/// Installs the global subscriber, writing to stderr (journald and container runtimes collect it).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("MUSTER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.fmt_fields(debug_fn(write_field).delimited(" ")).init(),
        LogFormat::Json => builder.json().with_current_span(false).flatten_event(true).init(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_hostile_value_stays_on_its_line() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .fmt_fields(debug_fn(write_field).delimited(" "))
            .finish();
        // What a refused enrolment logs: the hostname the client sent, with a forged second line and a terminal
        // escape in it.
        let hostname = "web-01\n2026-12-02T00:00:00Z  INFO muster: admin signed in\u{1b}[2J";
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(hostname = %hostname, user = ?hostname, "enrolment refused");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(
            text.contains(r"hostname=web-01\u{a}2026-12-02T00:00:00Z  INFO muster: admin signed in\u{1b}[2J"),
            "{text}"
        );
        assert!(text.contains("enrolment refused"), "{text}");
    }

    #[test]
    fn ordinary_text_is_not_copied() {
        assert!(matches!(escape_control("lab-t480s"), Cow::Borrowed("lab-t480s")));
        assert_eq!(escape_control("a\tb\r\n\0"), r"a\u{9}b\u{d}\u{a}\u{0}");
    }
}

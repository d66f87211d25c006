//! The use cases: what the collector does, once, for the HTTP API, the console and the CLI alike.
//!
//! Architecture invariant: handlers, console pages and CLI commands parse their input, call a function here and
//! render what it returns; they contain no business rule (no threshold, no audit row). Each use case takes its
//! inputs (store, clock reading, policy) as parameters, decides with pure functions and tells the store what to
//! write. The store below contains no decision.

pub mod admin;
pub mod advisory_sync;
pub mod advisory_update;
pub mod audit;
pub mod background;
pub mod batteries;
pub mod enrol;
pub mod evaluation;
pub mod findings;
pub mod gate;
pub mod hosts;
pub mod ingest;
pub mod integrations;
pub mod monitors;
pub mod queue;
pub mod retention;
pub mod rules;
pub mod sign_in;
pub mod software;
pub mod sso;
pub mod statistics;
pub mod tpms;
pub mod users;
pub mod vulnerabilities;

/// reqwest's error with its causes ("error sending request: … Connection refused") and without its URL (many
/// webhook and mirror URLs hold a key in their path or query), for delivery logs, events and warnings.
/// The start of an HTTP answer's body, at most `max` bytes, and the error that ended the reading early if one did
/// (what arrived before it is kept): a peer's answer is read only as far as the caller has a use for.
pub(crate) async fn read_prefix(mut response: reqwest::Response, max: usize) -> (Vec<u8>, Option<reqwest::Error>) {
    let mut body = Vec::new();
    let mut failed = None;
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    body.truncate(max);
    (body, failed)
}

pub(crate) fn describe_http(e: reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(500).collect()
}

/// Fleet-wide lists that read every host's hardware section (batteries, monitors, TPMs) take turns, two at a time: a
/// viewer reloading one cannot make the collector parse the whole fleet many times over at once.
static FLEET_SCANS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Hardware sections read per store round trip: a few MiB of JSON at most.
const HARDWARE_PAGE: i64 = 500;

/// Rows a [`FirstN`] holds before it cuts back to its `limit`, however small the limit: cutting costs a sort.
const KEEP_AT_LEAST: usize = 500;

/// The first `limit` of the rows offered, in `order`, for a fleet-wide list ordered otherwise than its scan (the
/// most worn batteries, the weakest TPMs): it cuts back whenever it holds twice `limit` (and more than
/// [`KEEP_AT_LEAST`]), so memory follows `limit`, not the fleet.
pub(crate) struct FirstN<T> {
    rows: Vec<T>,
    limit: usize,
    order: fn(&T, &T) -> std::cmp::Ordering,
    /// Whether a cut left any out.
    more: bool,
}

impl<T> FirstN<T> {
    pub(crate) fn new(limit: usize, order: fn(&T, &T) -> std::cmp::Ordering) -> Self {
        FirstN { rows: Vec::new(), limit, order, more: false }
    }

    pub(crate) fn push(&mut self, row: T) {
        self.rows.push(row);
        if self.rows.len() > self.limit.saturating_mul(2).max(KEEP_AT_LEAST) {
            self.cut();
        }
    }

    /// The first `limit` in order, and whether there were more.
    pub(crate) fn finish(mut self) -> (Vec<T>, bool) {
        self.cut();
        (self.rows, self.more)
    }

    fn cut(&mut self) {
        self.rows.sort_by(self.order);
        self.more |= self.rows.len() > self.limit;
        self.rows.truncate(self.limit);
    }
}

/// Reads every host's hardware section, page by page in host id order, decoded as `T` (a struct of the one list the
/// caller wants, so the rest of the section is skipped, not built), and hands each to `visit` until it breaks. Scans
/// take their turn ([`FLEET_SCANS`]). A section that no longer decodes (stored by an older collector) is skipped and
/// logged; `what` names what it was read for.
pub(crate) async fn scan_hardware<T: serde::de::DeserializeOwned>(
    store: &dyn crate::store::Store,
    what: &str,
    mut visit: impl FnMut(&crate::views::HostRef, T) -> std::ops::ControlFlow<()>,
) -> Result<(), crate::store::StoreError> {
    let _turn = FLEET_SCANS.acquire().await.ok();
    let mut after: Option<String> = None;
    loop {
        let page = store.hosts_section("hardware", after.as_deref(), HARDWARE_PAGE).await?;
        let Some((last, _)) = page.last() else { return Ok(()) };
        after = Some(last.id.clone());
        for (host, content) in &page {
            match serde_json::from_str(content) {
                Ok(section) => {
                    if visit(host, section).is_break() {
                        return Ok(());
                    }
                }
                Err(err) => {
                    tracing::warn!(host = %host.id, error = %err, what, "stored hardware section not readable; left out")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_n_keeps_the_first_in_order_across_its_cuts() {
        // Three times KEEP_AT_LEAST rows, so it cuts while they come; the smallest arrive first, middle and last.
        let mut rows: Vec<u32> = (10..3 * KEEP_AT_LEAST as u32).rev().collect();
        rows.insert(0, 3);
        rows.insert(KEEP_AT_LEAST, 1);
        rows.push(2);
        let mut kept = FirstN::new(4, |a: &u32, b: &u32| a.cmp(b));
        for row in rows {
            kept.push(row);
            assert!(kept.rows.len() <= 2 * KEEP_AT_LEAST, "held {} rows", kept.rows.len());
        }
        assert_eq!(kept.finish(), (vec![1, 2, 3, 10], true));
        // Fewer than the limit: all of them, in order, and none left out.
        let mut kept = FirstN::new(4, |a: &u32, b: &u32| b.cmp(a));
        [5, 7, 6].into_iter().for_each(|r| kept.push(r));
        assert_eq!(kept.finish(), (vec![7, 6, 5], false));
    }
}

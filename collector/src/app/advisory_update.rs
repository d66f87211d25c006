//! Keeping advisory data current: `muster-collector advisories update` fetches the configured sources (OSV exports,
//! the CISA KEV catalog) over HTTPS with conditional requests, or reads a local mirror directory on air-gapped sites,
//! and imports what changed through the audited import (`app::vulnerabilities::import`).
//!
//! The decisions (which validators to send, what a response means, what to import) are pure functions here; the
//! only I/O is [`Fetcher`] (HTTP) and the cache directory, where each source's last body is kept beside the
//! validators it came with, written through a temporary file so a cut-short download never replaces a good copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::advisory_sync::ImportReport;
use super::audit::Actor;
use crate::integrations::{SourceFailure, source_label};
use crate::store::{Store, StoreError};
use crate::vuln::{AdvisoryDb, FindingPolicy, ImportLimits, import_paths};

/// Where advisory data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An `https://` URL (or `http://` only to 127.0.0.1 / localhost, for tests and local mirrors).
    Url(String),
    /// A directory of exports, imported whole (air-gapped sites copy the files there).
    Mirror(PathBuf),
}

impl Source {
    /// `https://…` or `http://…` is a URL, anything else a directory.
    pub fn parse(text: &str) -> Result<Source, UpdateError> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Ok(Source::Url(text.to_owned()));
        }
        if let Some(rest) = lower.strip_prefix("http://") {
            let host = rest.split(['/', ':']).next().unwrap_or_default();
            if host == "127.0.0.1" || host == "localhost" || host == "[::1]" {
                return Ok(Source::Url(text.to_owned()));
            }
            return Err(UpdateError::Insecure(text.to_owned()));
        }
        Ok(Source::Mirror(PathBuf::from(text)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}: plain http is refused for advisory data (use https, or a mirror directory)")]
    Insecure(String),
    #[error("the advisory cache {path}: {source}")]
    Cache { path: String, source: std::io::Error },
    #[error("reading the CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The validators of the copy we hold, sent back so an unchanged export costs one small response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The cached body, relative to the cache directory.
    pub file: Option<String>,
}

/// The request headers for a source we may hold a copy of.
pub fn conditional_headers(held: Option<&Validators>) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if let Some(v) = held.filter(|v| v.file.is_some()) {
        if let Some(etag) = &v.etag {
            headers.push(("if-none-match", etag.clone()));
        }
        if let Some(date) = &v.last_modified {
            headers.push(("if-modified-since", date.clone()));
        }
    }
    headers
}

/// What a response means for the copy we hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 304: ours is current.
    NotModified,
    /// 200: a new body to store and import.
    New,
    /// Anything else is an error for this source; the copy we hold stays.
    Failed,
}

pub fn verdict(status: u16) -> Verdict {
    match status {
        304 => Verdict::NotModified,
        200 => Verdict::New,
        _ => Verdict::Failed,
    }
}

/// A cache file name for a URL: the URL's last path segment (it tells the importer the format: `.zip`, `.json`,
/// `.jsonl.xz`…) behind a hash of the whole URL, so two ecosystems' `all.zip` do not collide.
pub fn cache_name(url: &str) -> String {
    let digest = hex::encode(&Sha256::digest(url.as_bytes())[..8]);
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("download");
    let safe: String =
        last.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    format!("{digest}-{safe}")
}

/// One source's outcome, as the CLI prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceOutcome {
    pub source: String,
    /// `downloaded`, `not_modified`, `mirror` or `failed`.
    pub status: &'static str,
    pub bytes: u64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct UpdateReport {
    pub sources: Vec<SourceOutcome>,
    /// `None` when nothing changed, so nothing was imported.
    pub import: Option<ImportReport>,
}

impl UpdateReport {
    pub fn failed(&self) -> usize {
        self.sources.iter().filter(|s| s.status == "failed").count()
    }
}

/// The HTTP edge.
pub struct Fetcher {
    client: reqwest::Client,
}

impl Fetcher {
    /// Trusts the system's roots, plus the PEM certificates of `ca_file` when given (a site mirror's private CA).
    pub fn new(ca_file: Option<&Path>) -> Result<Fetcher, UpdateError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("muster-collector/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_secs(120));
        if let Some(path) = ca_file {
            let err = |message: String| UpdateError::CaFile { path: path.display().to_string(), message };
            let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client =
            builder.build().map_err(|e| UpdateError::CaFile { path: String::new(), message: e.to_string() })?;
        Ok(Fetcher { client })
    }

    /// Fetches `url` into `dest` (through a temporary file beside it), sending the validators we hold.
    async fn fetch(
        &self,
        url: &str,
        held: Option<&Validators>,
        dest: &Path,
    ) -> Result<(Verdict, Validators, u64), String> {
        let mut request = self.client.get(url);
        for (name, value) in conditional_headers(held) {
            request = request.header(name, value);
        }
        let mut response = request.send().await.map_err(|e| super::describe_http(e.without_url()))?;
        let status = response.status().as_u16();
        match verdict(status) {
            Verdict::NotModified => return Ok((Verdict::NotModified, held.cloned().unwrap_or_default(), 0)),
            Verdict::Failed => return Err(format!("HTTP {status}")),
            Verdict::New => {}
        }
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let validators = Validators { etag: header("etag"), last_modified: header("last-modified"), file: None };
        // A name of its own beside `dest`: `serve`'s refresh, an `advisories update` by hand and other collectors
        // sharing the data directory may fetch the same file at once, and each must rename a whole copy of its
        // own. A download that fails or is cut short removes its file.
        let (file, part) = tempfile_beside(dest).map_err(|e| format!("{}: {e}", dest.display()))?.into_parts();
        let mut out = tokio::fs::File::from_std(file);
        let mut bytes = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the body: {}", super::describe_http(e.without_url())))?
        {
            bytes += chunk.len() as u64;
            tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
                .await
                .map_err(|e| format!("{}: {e}", part.display()))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut out).await.map_err(|e| format!("{}: {e}", part.display()))?;
        drop(out);
        part.persist(dest).map_err(|e| format!("{}: {}", dest.display(), e.error))?;
        Ok((Verdict::New, validators, bytes))
    }
}

/// A new file named `<dest's name>.<random>.part` in `dest`'s directory, removed when dropped unless persisted.
fn tempfile_beside(dest: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    tempfile::Builder::new().prefix(&format!("{name}.")).suffix(".part").tempfile_in(dir)
}

const STATE_FILE: &str = "sources.json";

fn cache_err(path: &Path) -> impl FnOnce(std::io::Error) -> UpdateError + '_ {
    move |source| UpdateError::Cache { path: path.display().to_string(), source }
}

/// Fetches every source, then imports what changed (new downloads and every mirror file) in one audited import.
pub async fn update(
    store: &dyn Store,
    fetcher: &Fetcher,
    sources: &[Source],
    cache_dir: &Path,
    actor: &Actor,
    now: DateTime<Utc>,
    policy: &FindingPolicy,
) -> Result<UpdateReport, UpdateError> {
    tokio::fs::create_dir_all(cache_dir).await.map_err(cache_err(cache_dir))?;
    let state_path = cache_dir.join(STATE_FILE);
    let mut state: BTreeMap<String, Validators> = match tokio::fs::read(&state_path).await {
        // A state file we cannot read only costs one full download per source.
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    };
    let mut outcomes = Vec::new();
    let mut to_import: Vec<PathBuf> = Vec::new();
    for source in sources {
        match source {
            Source::Mirror(dir) => {
                to_import.push(dir.clone());
                outcomes.push(SourceOutcome {
                    source: dir.display().to_string(),
                    status: "mirror",
                    bytes: 0,
                    error: None,
                });
            }
            Source::Url(url) => {
                let name = cache_name(url);
                let dest = cache_dir.join(&name);
                let held = state.get(url).filter(|v| v.file.as_deref().is_some_and(|f| cache_dir.join(f).exists()));
                match fetcher.fetch(url, held, &dest).await {
                    Ok((Verdict::New, validators, bytes)) => {
                        state.insert(url.clone(), Validators { file: Some(name), ..validators });
                        to_import.push(dest);
                        outcomes.push(SourceOutcome { source: url.clone(), status: "downloaded", bytes, error: None });
                    }
                    Ok((_, _, _)) => outcomes.push(SourceOutcome {
                        source: url.clone(),
                        status: "not_modified",
                        bytes: 0,
                        error: None,
                    }),
                    Err(error) => outcomes.push(SourceOutcome {
                        source: url.clone(),
                        status: "failed",
                        bytes: 0,
                        error: Some(error),
                    }),
                }
            }
        }
    }
    // Only a download (`Verdict::New`) changes the validators, and each download is imported below.
    if to_import.is_empty() {
        return Ok(UpdateReport { sources: outcomes, import: None });
    }
    let paths = to_import.clone();
    let (db, summary) = tokio::task::spawn_blocking(move || {
        let mut db = AdvisoryDb::new();
        let outcome = import_paths(&mut db, &paths, &ImportLimits::files(), &mut |_| {});
        (db, outcome.summary)
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("the advisory import task failed: {e}")))?;
    let name = format!(
        "update: {}",
        outcomes
            .iter()
            .filter(|o| o.status != "not_modified")
            .map(|o| o.source.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let import = super::vulnerabilities::import(store, actor, &name, &db, summary, now, policy).await?;
    // The new validators are kept only once what they describe is imported whole: kept before, an import that
    // failed, was cut short, or met a file it could not read to the end (a proxy's error page, a truncated zip)
    // would be answered "not modified" from then on, and the file never imported.
    if !import.summary.errors.is_empty() {
        tracing::warn!(errors = ?import.summary.errors, "downloaded advisories not read whole; fetched again next time");
        return Ok(UpdateReport { sources: outcomes, import: Some(import) });
    }
    let text = serde_json::to_vec_pretty(&state).unwrap_or_default();
    let path = state_path.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut tmp = tempfile_beside(&path)?;
        std::io::Write::write_all(&mut tmp, &text)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    .map_err(cache_err(&state_path))?;
    Ok(UpdateReport { sources: outcomes, import: Some(import) })
}

/// `serve`'s refresh: [`update`] at once and then every `interval`, until the stop. Failures are logged; the data
/// held stays, and the console's age warning shows when it gets old. An update under way at the stop is not cut:
/// its import writes the advisories, re-matches the hosts and audits in steps, so it runs on within the stop's
/// limit, past which it ends as at a crash (the next run downloads the files again, and re-matching is finished
/// by the next import or scheduled evaluation, `advisory_sync::finish_rematch`).
pub fn spawn(
    background: &super::background::Background,
    state: crate::AppState,
    fetcher: Fetcher,
    sources: Vec<Source>,
    cache_dir: PathBuf,
    interval: std::time::Duration,
) {
    background.spawn(|stop| async move {
        let mut ticks = tokio::time::interval(interval.max(std::time::Duration::from_secs(60)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let actor = Actor { name: "advisory-update".to_owned(), source_ip: None };
        loop {
            if stop.unless_stopped(ticks.tick()).await.is_none() {
                return;
            }
            // The policy in force at each run: a reload between runs applies to the next.
            let policy = FindingPolicy::from_params(&state.rules.current().params);
            let now = (state.clock)();
            let result = update(state.store.as_ref(), &fetcher, &sources, &cache_dir, &actor, now, &policy).await;
            let failures: Vec<SourceFailure> = match &result {
                Ok(report) => report
                    .sources
                    .iter()
                    .filter(|s| s.status == "failed")
                    .map(|s| SourceFailure {
                        source: source_label(&s.source),
                        error: s.error.clone().unwrap_or_default(),
                    })
                    .collect(),
                Err(e) => vec![SourceFailure { source: "(all)".to_owned(), error: e.to_string() }],
            };
            if !failures.is_empty()
                && let Err(e) = crate::app::integrations::advisory_update_failed(
                    state.store.as_ref(),
                    sources.len(),
                    &failures,
                    &actor.name,
                    now,
                )
                .await
            {
                tracing::warn!(error = %e, "the advisory update's failure could not be queued for integrations");
            }
            match result {
                Ok(report) => {
                    if report.import.as_ref().is_some_and(|i| i.summary.eol_products > 0)
                        && let Err(e) = super::evaluation::reload(&state).await
                    {
                        tracing::warn!(error = %e, "the updated end-of-life data is not in force");
                    }
                    for s in report.sources.iter().filter(|s| s.status == "failed") {
                        tracing::warn!(source = %s.source, error = s.error.as_deref().unwrap_or(""), "advisory source not fetched");
                    }
                    let imported = report.import.as_ref().map(|i| i.summary.imported + i.summary.updated);
                    tracing::info!(
                        sources = report.sources.len(),
                        failed = report.failed(),
                        imported,
                        "advisories updated"
                    );
                }
                Err(e) => tracing::error!(error = %e, "advisory update failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_plain_http_is_refused_off_loopback() {
        assert_eq!(
            Source::parse("https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip").unwrap(),
            Source::Url("https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip".into())
        );
        assert!(matches!(Source::parse("http://127.0.0.1:8080/all.zip"), Ok(Source::Url(_))));
        assert!(matches!(Source::parse("http://mirror.example.com/all.zip"), Err(UpdateError::Insecure(_))));
        assert_eq!(Source::parse("/srv/osv").unwrap(), Source::Mirror(PathBuf::from("/srv/osv")));
    }

    #[test]
    fn validators_are_sent_only_for_a_copy_we_hold() {
        let held = Validators {
            etag: Some("\"abc\"".into()),
            last_modified: Some("Tue, 01 Dec 2026 10:00:00 GMT".into()),
            file: Some("x-all.zip".into()),
        };
        assert_eq!(
            conditional_headers(Some(&held)),
            vec![
                ("if-none-match", "\"abc\"".to_owned()),
                ("if-modified-since", "Tue, 01 Dec 2026 10:00:00 GMT".to_owned())
            ]
        );
        assert_eq!(conditional_headers(Some(&Validators { file: None, ..held })), vec![]);
        assert_eq!(conditional_headers(None), vec![]);
        assert_eq!(
            (verdict(304), verdict(200), verdict(404), verdict(500)),
            (Verdict::NotModified, Verdict::New, Verdict::Failed, Verdict::Failed)
        );
    }

    #[test]
    fn cache_names_keep_the_format_and_never_collide() {
        let debian = cache_name("https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip");
        let ubuntu = cache_name("https://osv-vulnerabilities.storage.googleapis.com/Ubuntu/all.zip");
        assert!(debian.ends_with("-all.zip") && ubuntu.ends_with("-all.zip") && debian != ubuntu);
        assert!(cache_name("https://h/feeds/../x?y=1").ends_with("-x"));
        assert!(!cache_name("https://h/a/").contains('/'));
    }
}

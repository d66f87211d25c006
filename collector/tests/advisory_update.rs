//! `advisories update` against a real HTTPS server on 127.0.0.1 serving the real fixture exports with ETags, on both
//! stores: the first run downloads and imports (audited), the second sends the validators and downloads nothing, a
//! changed export is fetched again, a failing source leaves the held copy, and a mirror directory imports as is.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use muster_collector::app::advisory_update::{Fetcher, Source, update};
use muster_collector::app::audit::Actor;
use sha2::{Digest, Sha256};

use crate::common::Harness;

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(path)
}

/// (path, body) served.
type Bodies = Vec<(String, Vec<u8>)>;
/// (path, the `If-None-Match` the request carried).
type Requests = Vec<(String, Option<String>)>;

/// Path → body; each request is logged with the `If-None-Match` it carried.
#[derive(Clone, Default)]
struct Files {
    bodies: Arc<Mutex<Bodies>>,
    log: Arc<Mutex<Requests>>,
}

async fn serve_file(State(files): State<Files>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let sent = request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned);
    files.log.lock().unwrap().push((path.clone(), sent.clone()));
    let body = files.bodies.lock().unwrap().iter().find(|(p, _)| *p == path).map(|(_, b)| b.clone());
    let Some(body) = body else {
        return Response::builder().status(StatusCode::NOT_FOUND).body(Body::empty()).unwrap();
    };
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(&body)));
    if sent.as_deref() == Some(etag.as_str()) {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, etag)
            .body(Body::empty())
            .unwrap();
    }
    let response = Response::builder().status(StatusCode::OK).header(header::ETAG, etag);
    if path.starts_with("/slow/") {
        // In 16 pieces 20 ms apart, so downloads of the same file overlap.
        use futures_util::StreamExt;
        let pieces: Vec<Vec<u8>> = body.chunks(body.len().div_ceil(16).max(1)).map(<[u8]>::to_vec).collect();
        let stream = futures_util::stream::iter(pieces).then(|piece| async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok::<_, std::io::Error>(piece)
        });
        return response.body(Body::from_stream(stream)).unwrap();
    }
    response.body(Body::from(body)).unwrap()
}

struct Mirror {
    addr: SocketAddr,
    ca: PathBuf,
    files: Files,
    stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// An HTTPS server with a certificate from its own CA (the collector's CA code), as a site mirror would have.
fn start(h: &Harness, files: Files) -> Mirror {
    use muster_collector::tls;
    let dir = tempfile::tempdir().unwrap();
    let tls_files = tls::TlsFiles::new(dir.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    tls::ensure_managed(&tls_files, &tls::server_names(addr, None), h.now()).unwrap();
    let config = tls::server_config(&tls_files.server_chain(), &tls_files.server_key()).unwrap();
    let app = Router::new().fallback(serve_file).with_state(files.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(muster_collector::server::serve(listener, app, Some(config), async {
        let _ = stopped.await;
    }));
    Mirror { addr, ca: tls_files.ca_cert(), files, stop, _dir: dir }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

async fn updates_fetch_conditionally_and_import_what_changed(h: Harness) {
    let files = Files::default();
    let subset = read(&testdata("advisories/debian/debian-osv-subset.jsonl"));
    let kev = read(&testdata("advisories/kev/known_exploited_vulnerabilities.json"));
    files.bodies.lock().unwrap().extend([
        ("/Debian/all.jsonl".to_owned(), subset.clone()),
        ("/feeds/known_exploited_vulnerabilities.json".to_owned(), kev),
    ]);
    let mirror = start(&h, files);
    let base = format!("https://{}", mirror.addr);
    let sources = vec![
        Source::parse(&format!("{base}/Debian/all.jsonl")).unwrap(),
        Source::parse(&format!("{base}/feeds/known_exploited_vulnerabilities.json")).unwrap(),
    ];
    let fetcher = Fetcher::new(Some(&mirror.ca)).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let actor = Actor::cli();

    // First run: both downloaded, imported once, audited.
    let first =
        update(h.store.as_ref(), &fetcher, &sources, cache.path(), &actor, h.now(), &Default::default()).await.unwrap();
    assert_eq!(first.sources.iter().map(|s| s.status).collect::<Vec<_>>(), ["downloaded", "downloaded"]);
    assert_eq!(first.sources[0].bytes, subset.len() as u64);
    let import = first.import.as_ref().unwrap();
    assert_eq!((import.summary.imported, import.summary.kev_entries), (11, 1404));
    let freshness = h.store.advisory_freshness().await.unwrap();
    assert_eq!((freshness.advisories, freshness.kev_entries), (11, 1404));
    let audit = h.store.search_audit(None, Some("advisories.imported"), 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "cli");

    // Second run: the ETags go back, nothing is downloaded, nothing imported.
    let second =
        update(h.store.as_ref(), &fetcher, &sources, cache.path(), &actor, h.now(), &Default::default()).await.unwrap();
    assert_eq!(second.sources.iter().map(|s| s.status).collect::<Vec<_>>(), ["not_modified", "not_modified"]);
    assert!(second.import.is_none());
    let log = mirror.files.log.lock().unwrap().clone();
    assert_eq!(log.len(), 4);
    assert!(log[..2].iter().all(|(_, sent)| sent.is_none()), "{log:?}");
    assert!(log[2..].iter().all(|(_, sent)| sent.as_deref().is_some_and(|e| e.starts_with('"'))), "{log:?}");
    assert_eq!(h.store.search_audit(None, Some("advisories.imported"), 10).await.unwrap().len(), 1);

    // The export changes (one record fewer): only it is fetched again; its import changes nothing stored (the
    // importer only adds and updates), and the KEV catalog is left alone.
    let fewer: Vec<u8> =
        String::from_utf8(subset).unwrap().lines().skip(1).map(|l| format!("{l}\n")).collect::<String>().into_bytes();
    mirror.files.bodies.lock().unwrap()[0].1 = fewer;
    let third =
        update(h.store.as_ref(), &fetcher, &sources, cache.path(), &actor, h.now(), &Default::default()).await.unwrap();
    assert_eq!(third.sources.iter().map(|s| s.status).collect::<Vec<_>>(), ["downloaded", "not_modified"]);
    assert_eq!(third.import.as_ref().unwrap().summary.unchanged, 10);

    // A source that fails is reported; the copy held before stays and the others still import.
    mirror.files.bodies.lock().unwrap().remove(1);
    let fourth =
        update(h.store.as_ref(), &fetcher, &sources, cache.path(), &actor, h.now(), &Default::default()).await.unwrap();
    assert_eq!(fourth.failed(), 1);
    assert_eq!(fourth.sources[1].error.as_deref(), Some("HTTP 404"));
    let held: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("known_exploited_vulnerabilities.json"))
        .collect();
    assert_eq!(held.len(), 1, "the KEV copy stays");

    // Without our CA the mirror's certificate is refused: nothing is imported from an unauthenticated server.
    let untrusting = Fetcher::new(None).unwrap();
    let refused = update(
        h.store.as_ref(),
        &untrusting,
        &sources[..1],
        tempfile::tempdir().unwrap().path(),
        &actor,
        h.now(),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(refused.failed(), 1, "{:?}", refused.sources);
    assert!(refused.import.is_none());
    let _ = mirror.stop.send(());
}

async fn a_mirror_directory_imports_as_is(h: Harness) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(testdata("advisories/alpine/alpine-osv-subset.jsonl"), dir.path().join("alpine.jsonl")).unwrap();
    let fetcher = Fetcher::new(None).unwrap();
    let source = Source::parse(dir.path().to_str().unwrap()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let report =
        update(h.store.as_ref(), &fetcher, &[source], cache.path(), &Actor::cli(), h.now(), &Default::default())
            .await
            .unwrap();
    assert_eq!(report.sources[0].status, "mirror");
    assert_eq!(report.import.unwrap().summary.imported, 3);
    assert_eq!(h.store.advisory_freshness().await.unwrap().advisories, 3);
}

/// `serve`'s refresh runs the update at once (and then on its interval) without anyone asking; end-of-life data
/// among its sources (endoflife.date's product data, 26 products against the built-in 14) is stored and put in
/// force.
async fn serve_refreshes_on_its_own(h: Harness) {
    let files = Files::default();
    files
        .bodies
        .lock()
        .unwrap()
        .push(("/Debian/all.jsonl".to_owned(), read(&testdata("advisories/debian/debian-osv-subset.jsonl"))));
    let eol = read(&testdata("endoflife/endoflife-products.json"));
    files.bodies.lock().unwrap().push(("/endoflife/products.json".to_owned(), eol.clone()));
    let mirror = start(&h, files);
    let sources = vec![
        Source::parse(&format!("https://{}/Debian/all.jsonl", mirror.addr)).unwrap(),
        Source::parse(&format!("https://{}/endoflife/products.json", mirror.addr)).unwrap(),
    ];
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(h.state.rules.current().eol.product_count(), 17, "the built-in data first");
    let background = muster_collector::app::background::Background::new();
    muster_collector::app::advisory_update::spawn(
        &background,
        h.state.clone(),
        Fetcher::new(Some(&mirror.ca)).unwrap(),
        sources,
        cache.path().to_owned(),
        std::time::Duration::from_secs(24 * 3600),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while h.store.advisory_freshness().await.unwrap().advisories < 11
        || h.state.rules.current().eol.product_count() != 26
    {
        assert!(std::time::Instant::now() < deadline, "the scheduled update did not import within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let audit = h.store.search_audit(Some("advisory-update"), Some("advisories.imported"), 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    let (stored, _) = h.store.load_eol().await.unwrap().unwrap();
    assert_eq!((stored.products, stored.text.as_bytes()), (26, eol.as_slice()));
    // Every replica (here: a second collector over the same database) puts the stored data in force at start.
    let replica = h.with_rules(muster_collector::rules::Rules::builtin().unwrap());
    assert_eq!(replica.state.rules.current().eol.product_count(), 17);
    muster_collector::app::evaluation::reload_rules(&replica.state).await.unwrap();
    assert_eq!(replica.state.rules.current().eol.product_count(), 26);
    let _ = mirror.stop.send(());
}

/// A mirror serving `body` at `path`, with the source and the fetcher for it.
fn one_file(h: &Harness, path: &str, body: Vec<u8>) -> (Mirror, Vec<Source>, Fetcher) {
    let files = Files::default();
    files.bodies.lock().unwrap().push((path.to_owned(), body));
    let mirror = start(h, files);
    let sources = vec![Source::parse(&format!("https://{}{path}", mirror.addr)).unwrap()];
    let fetcher = Fetcher::new(Some(&mirror.ca)).unwrap();
    (mirror, sources, fetcher)
}

/// For each request the mirror got, whether it carried a validator (`If-None-Match`).
fn validators_sent(mirror: &Mirror) -> Vec<bool> {
    mirror.files.log.lock().unwrap().iter().map(|(_, sent)| sent.is_some()).collect()
}

/// An update whose import fails (here: its database closed under it, as at a stop) keeps no validators for what
/// it downloaded, so the next run downloads the files again and imports them. Before, the ETags were kept before
/// the import: the next run was answered "not modified" and those advisories never arrived.
async fn an_import_that_failed_is_downloaded_again(h: Harness) {
    let subset = read(&testdata("advisories/debian/debian-osv-subset.jsonl"));
    let (mirror, sources, fetcher) = one_file(&h, "/Debian/all.jsonl", subset);
    let cache = tempfile::tempdir().unwrap();
    let actor = Actor::cli();
    let url = h.database_url.clone().unwrap();
    let closed: Box<dyn muster_collector::store::Store> = if url.starts_with("sqlite:") {
        let store = muster_collector::store::SqliteStore::open(&url).await.unwrap();
        store.close().await;
        Box::new(store)
    } else {
        let store = muster_collector::store::PgStore::open(&url).await.unwrap();
        store.close().await;
        Box::new(store)
    };

    let failed = update(closed.as_ref(), &fetcher, &sources, cache.path(), &actor, h.now(), &Default::default()).await;
    assert!(failed.is_err(), "the import on a closed database fails: {:?}", failed.map(|r| r.sources));
    assert_eq!(h.store.advisory_freshness().await.unwrap().advisories, 0);

    let again =
        update(h.store.as_ref(), &fetcher, &sources, cache.path(), &actor, h.now(), &Default::default()).await.unwrap();
    assert_eq!(again.sources.iter().map(|s| s.status).collect::<Vec<_>>(), ["downloaded"]);
    assert_eq!(again.import.as_ref().unwrap().summary.imported, 11);
    assert_eq!(h.store.advisory_freshness().await.unwrap().advisories, 11);
    assert_eq!(validators_sent(&mirror), [false, false], "both requests came without validators");
    let _ = mirror.stop.send(());
}

/// A download that cannot be read to the end (here a proxy's HTML error page served as the export's zip, with a
/// 200) is reported as an import error and its validators are not kept: the next run asks for the file again
/// without them, rather than being told "not modified" until upstream changes.
async fn a_download_that_cannot_be_read_is_fetched_again(h: Harness) {
    let page = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n".to_vec();
    let (mirror, sources, fetcher) = one_file(&h, "/Debian/all.zip", page);
    let cache = tempfile::tempdir().unwrap();
    let actor = Actor::cli();
    for _ in 0..2 {
        let run = update(h.store.as_ref(), &fetcher, &sources, cache.path(), &actor, h.now(), &Default::default())
            .await
            .unwrap();
        assert_eq!(run.sources.iter().map(|s| s.status).collect::<Vec<_>>(), ["downloaded"]);
        let summary = &run.import.as_ref().unwrap().summary;
        assert_eq!((summary.errors.len(), summary.imported), (1, 0), "{:?}", summary.errors);
    }
    assert_eq!(validators_sent(&mirror), [false, false], "both requests came without validators");
    let _ = mirror.stop.send(());
}

/// Two updates into one cache at once (`serve`'s refresh and an `advisories update` by hand, or two collectors
/// sharing a data directory) each download into a file of their own: both read the whole export, and no partial
/// file is left behind. Sharing one `.part` file, one renamed the other's file away mid-download.
async fn updates_at_once_each_download_a_whole_file(h: Harness) {
    let subset = read(&testdata("advisories/debian/debian-osv-subset.jsonl"));
    let (mirror, sources, fetcher) = one_file(&h, "/slow/Debian/all.jsonl", subset);
    let cache = tempfile::tempdir().unwrap();
    let actor = Actor::cli();
    let policy = muster_collector::vuln::FindingPolicy::default();
    let run = || update(h.store.as_ref(), &fetcher, &sources, cache.path(), &actor, h.now(), &policy);
    let (a, b) = tokio::join!(run(), run());
    for run in [a.unwrap(), b.unwrap()] {
        assert_eq!(run.sources.iter().map(|s| s.status).collect::<Vec<_>>(), ["downloaded"], "{:?}", run.sources);
        let summary = &run.import.as_ref().unwrap().summary;
        assert!(summary.errors.is_empty(), "{:?}", summary.errors);
        assert_eq!(summary.records_read, 11);
    }
    let mut names: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "the export and the sources' state, nothing partial: {names:?}");
    assert!(names.iter().all(|n| !n.ends_with(".part")), "{names:?}");
    assert_eq!(h.store.advisory_freshness().await.unwrap().advisories, 11);
    assert_eq!(validators_sent(&mirror), [false, false], "both runs downloaded");
    let _ = mirror.stop.send(());
}

both!(
    updates_fetch_conditionally_and_import_what_changed,
    updates_at_once_each_download_a_whole_file,
    an_import_that_failed_is_downloaded_again,
    a_download_that_cannot_be_read_is_fetched_again,
    a_mirror_directory_imports_as_is,
    serve_refreshes_on_its_own
);

/// The command as an operator runs it: downloads into the data directory, imports, and on the next run downloads
/// nothing; an unreachable source fails the command with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_command() {
    muster_collector::install_crypto_provider();
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("muster.db").display());
    let store: Arc<dyn muster_collector::store::Store> =
        Arc::new(muster_collector::store::SqliteStore::open(&url).await.unwrap());
    let h = Harness::with_policy(store, crate::common::Backend::Sqlite, muster_collector::ServicePolicy::default());
    let files = Files::default();
    files
        .bodies
        .lock()
        .unwrap()
        .push(("/Debian/all.jsonl".to_owned(), read(&testdata("advisories/debian/debian-osv-subset.jsonl"))));
    let mirror = start(&h, files);
    let source = format!("https://{}/Debian/all.jsonl", mirror.addr);
    let (dir, ca) = (data.path().to_owned(), mirror.ca.clone());
    let run = move |source: String| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_muster-collector"))
            .args(["--data-dir", dir.to_str().unwrap(), "--database-url", &url, "--format", "json"])
            .args(["advisories", "update", "--source", &source, "--ca-file", ca.to_str().unwrap()])
            .env_remove("MUSTER_CONFIG")
            .output()
            .unwrap();
        let json = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default();
        (out.status.success(), json, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let first = source.clone();
    let (ok, out, err) = tokio::task::spawn_blocking({
        let run = run.clone();
        move || run(first)
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out["sources"][0]["status"], "downloaded");
    assert_eq!(out["import"]["imported"], 11);
    assert!(data.path().join("advisories/sources.json").exists());
    let (ok, out, err) = tokio::task::spawn_blocking({
        let run = run.clone();
        move || run(source)
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!((out["sources"][0]["status"].as_str(), out["import"].is_null()), (Some("not_modified"), true));
    let gone = format!("https://{}/Ubuntu/all.zip", mirror.addr);
    let (ok, _, err) = tokio::task::spawn_blocking(move || run(gone)).await.unwrap();
    assert!(!ok);
    assert!(err.contains("1 advisory source(s) could not be fetched"), "{err}");
    let _ = mirror.stop.send(());
}

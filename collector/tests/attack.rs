//! The hostile report corpus replayed against a real `serve` process on 127.0.0.1, on both stores (issue 15's attack
//! suite): from several enrolled hosts at once, over HTTP/1.1 and HTTP/2 (curl, the client that found the HTTP/2
//! defect), a forged token, another host's id, decompression bombs, a report of 1,000,000 packages, JSON nested
//! 1,000,000 deep, bodies over the size limit, invalid UTF-8 and lying encodings. Each is answered with its
//! documented status and error code, nothing of it is stored, a well-behaved host's reports are stored throughout,
//! and the process's peak RSS stays under the bound deploy/README.md documents (4 reports of up to 64 MiB decoded,
//! 32 small ones of 256 KiB, on top of what it held at rest).
//!
//! The rest of the hostile corpus is tested beside what it attacks: slow and flooding connections in
//! `connections.rs`, the PROXY protocol in `proxy.rs`, take-overs and a machine-id claimed by another host in
//! `enroll.rs` and `console_enrolments.rs`, the audit flood in `console.rs` and `retention.rs`, spreadsheet formulas
//! in `src/export.rs`, log injection in `src/logging.rs`, hostile text in the console in `console_browser/hostile.rs`,
//! and the other limits in `limits.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flate2::write::GzEncoder;
use muster_collector::model::Role;
use muster_shared::v1::SectionName;
use serde_json::{Value, json};

use crate::common::process::{Serve, free_port};
use crate::common::{Harness, Machine, debian, delta, full};

both!(hostile_reports_are_refused_and_memory_stays_bounded);

const MIB: usize = 1 << 20;
const MAX_DECODED: usize = 64 * MIB;
const HOSTILE_HOSTS: usize = 4;

/// One hostile body and the answer it must get.
struct Body {
    name: &'static str,
    encoding: Option<&'static str>,
    file: PathBuf,
    status: u16,
    /// The `error` code of the answer, and the `limit` it names if any.
    error: &'static str,
    limit: Option<&'static str>,
    /// A header sent besides the report's own.
    header: Option<&'static str>,
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The corpus, written once to files for curl.
fn corpus(dir: &Path) -> Vec<Body> {
    let report = debian(&Machine::thinkpad("m-corpus"));
    let real = serde_json::to_vec(&full(&report)).unwrap();
    // Valid JSON padded with whitespace past the decoded limit: a few KiB on the wire.
    let mut over = real.clone();
    over.pop();
    over.resize(MAX_DECODED + 4096, b' ');
    over.push(b'}');
    // The smallest package entries, so that a million of them fit under the decoded limit and meet `max_packages`.
    let mut many: Value = serde_json::to_value(full(&report)).unwrap();
    many["report"]["software"]["packages"] = Value::Array(vec![json!({"name": "p", "version": "1"}); 1_000_000]);
    let many = serde_json::to_vec(&many).unwrap();
    assert!(many.len() < MAX_DECODED);
    let deep = format!(
        "{{\"report_id\":\"deep\",\"section_hashes\":{{}},\"report\":{}{}}}",
        "[".repeat(1_000_000),
        "]".repeat(1_000_000)
    );
    // A hostname with a byte that is not UTF-8, inside otherwise valid JSON.
    let mut invalid_utf8 = real.clone();
    let name = b"\"hostname\":\"lab-t480s\"";
    let at = invalid_utf8.windows(name.len()).position(|w| w == name).unwrap() + name.len() - 6;
    invalid_utf8[at] = 0xff;
    let mut oversize = real.clone();
    oversize.resize(4 * MIB + 1, b' ');
    // Refused on their headers: 3 MiB sent as is, so the answer comes while the client is still sending.
    let mut padded = real.clone();
    padded.resize(3 * MIB, b' ');

    let mut written = 0;
    let mut body = |name, encoding, data: Vec<u8>, status, error, limit| {
        let file = dir.join(format!("body-{written}"));
        written += 1;
        std::fs::write(&file, data).unwrap();
        Body { name, encoding, file, status, error, limit, header: None }
    };
    let max_decoded = Some("max_decompressed_bytes");
    vec![
        body("a forged token", None, padded.clone(), 401, "invalid_token", None),
        body("zstd bomb", Some("zstd"), zstd(&over), 413, "payload_too_large", max_decoded),
        body("gzip bomb", Some("gzip"), gzip(&over), 413, "payload_too_large", max_decoded),
        body("1,000,000 packages", Some("zstd"), zstd(&many), 422, "limit_exceeded", Some("max_packages")),
        body("JSON 1,000,000 deep", Some("zstd"), zstd(deep.as_bytes()), 400, "invalid_report", None),
        body("over max_body_bytes", None, oversize, 413, "payload_too_large", Some("max_body_bytes")),
        body("invalid UTF-8", Some("zstd"), zstd(&invalid_utf8), 400, "invalid_report", None),
        body("gzip sent as zstd", Some("zstd"), gzip(&real), 400, "invalid_report", None),
        body("an unknown encoding", Some("br"), padded.clone(), 415, "unsupported_encoding", None),
        Body {
            header: Some("x-muster-host-id: h-another-host"),
            ..body("another host's id", None, padded.clone(), 403, "host_mismatch", None)
        },
    ]
}

/// POSTs `body` as a report with curl over `http` ("1.1" or "2"); the status and the answer.
async fn post(serve: &Serve, token: &str, body: &Body, http: &str) -> (u16, Value) {
    // The forged token is well-formed and belongs to no host.
    let token = if body.name == "a forged token" { "m1-0000000000000000000000000000000000000000000" } else { token };
    let mut command = std::process::Command::new("curl");
    command
        .args(["-sS", if http == "2" { "--http2" } else { "--http1.1" }, "--cacert"])
        .arg(&serve.ca_cert)
        .args(["-X", "POST", &format!("{}/api/v1/agent/report", serve.url)])
        .args(["-H", &format!("authorization: Bearer {token}"), "-H", "content-type: application/json"]);
    if let Some(encoding) = body.encoding {
        command.args(["-H", &format!("content-encoding: {encoding}")]);
    }
    if let Some(header) = body.header {
        command.args(["-H", header]);
    }
    command.arg("--data-binary").arg(format!("@{}", body.file.display()));
    command.args(["-w", "\n%{http_code} %{http_version}"]);
    let out =
        tokio::task::spawn_blocking(move || command.output().expect("curl (Debian package curl) runs")).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}: {} {stdout}", body.name, String::from_utf8_lossy(&out.stderr));
    let (rest, last) = stdout.rsplit_once('\n').unwrap();
    let (status, version) = last.split_once(' ').unwrap();
    assert_eq!(version, http, "{}: {stdout}", body.name);
    let answer = serde_json::from_str(rest).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {stdout}", body.name));
    (status.parse().unwrap(), answer)
}

async fn hostile_reports_are_refused_and_memory_stays_bounded(h: Harness) {
    let url = h.database_url.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    // Four large places on both stores, the SQLite default, so that one bound holds for both.
    let serve = Arc::new(Serve::start(data.path(), &url, free_port(), &["--max-reports-in-flight", "4"]));
    let (_, secret) = h.enroll_secret(None).await;
    let mut hostile = Vec::new();
    for i in 0..HOSTILE_HOSTS {
        hostile.push(h.enrolled(&secret, &Machine::thinkpad(&format!("m-hostile-{i}"))).await);
    }
    let benign_machine = Machine::thinkpad("m-benign");
    let (benign_host, benign_token) = h.enrolled(&secret, &benign_machine).await;
    let benign_report = debian(&benign_machine);
    h.stored(&benign_token, &full(&benign_report)).await;
    let corpus = Arc::new(corpus(data.path()));
    let rest_kib = serve.memory_kib("VmRSS");

    // The well-behaved host reports unchanged (hashes only, as an agent does once its first report is stored)
    // throughout, to the same process; each must be stored, never refused for the attack.
    let attacking = Arc::new(AtomicBool::new(true));
    let benign = tokio::spawn({
        let (serve, attacking, token) = (serve.clone(), attacking.clone(), benign_token.clone());
        let file = data.path().join("benign");
        let envelope = delta(&benign_report, &[]);
        async move {
            let mut answers = Vec::new();
            while attacking.load(Ordering::SeqCst) {
                let mut envelope = envelope.clone();
                envelope.report_id = format!("benign-{}", answers.len());
                std::fs::write(&file, zstd(&serde_json::to_vec(&envelope).unwrap())).unwrap();
                let body = Body {
                    name: "benign",
                    encoding: Some("zstd"),
                    file: file.clone(),
                    status: 200,
                    error: "",
                    limit: None,
                    header: None,
                };
                let (status, answer) = post(&serve, &token, &body, "1.1").await;
                answers.push((status, answer["status"].as_str().unwrap_or_default().to_owned()));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            answers
        }
    });

    let mut attackers = Vec::new();
    for (_, token) in &hostile {
        let (serve, corpus, token) = (serve.clone(), corpus.clone(), token.clone());
        attackers.push(tokio::spawn(async move {
            // Each host sends one body at a time and four take the four large places at most: none is busy.
            for http in ["1.1", "2"] {
                for body in corpus.iter() {
                    let (status, answer) = post(&serve, &token, body, http).await;
                    assert_eq!(status, body.status, "{} over HTTP/{http}: {answer}", body.name);
                    assert_eq!(answer["error"], body.error, "{} over HTTP/{http}: {answer}", body.name);
                    if let Some(limit) = body.limit {
                        assert_eq!(answer["limit"], limit, "{} over HTTP/{http}: {answer}", body.name);
                    }
                }
            }
        }));
    }
    for attacker in attackers {
        attacker.await.unwrap();
    }
    attacking.store(false, Ordering::SeqCst);
    let answers = benign.await.unwrap();
    let peak_kib = serve.memory_kib("VmHWM");

    assert!(answers.len() >= 3, "the benign host sent only {} reports", answers.len());
    for (status, outcome) in &answers {
        assert_eq!((*status, outcome.as_str()), (200, "stored"), "the benign host's answers: {answers:?}");
    }
    // Nothing of the attack was stored: the hostile hosts have no section.
    let viewer = h.api_token(Role::Viewer).await;
    for (host, _) in &hostile {
        let (_, detail) = h.get(&format!("/api/v1/hosts/{host}"), &viewer).await;
        assert_eq!(detail["sections"], json!({}), "{host}: {detail}");
    }
    let (_, detail) = h.get(&format!("/api/v1/hosts/{benign_host}"), &viewer).await;
    assert!(detail["sections"].get(SectionName::Software.as_str()).is_some(), "{detail}");
    // deploy/README.md ("Connection limits"): 4 × 64 MiB + 32 × 256 KiB decoded at most, plus allocator slack.
    let bound_kib = rest_kib + ((4 * MAX_DECODED + 32 * (256 << 10) + 64 * MIB) >> 10) as u64;
    eprintln!(
        "attack: {} requests, RSS at rest {} MiB, peak {} MiB, bound {} MiB",
        HOSTILE_HOSTS * corpus.len() * 2,
        rest_kib >> 10,
        peak_kib >> 10,
        bound_kib >> 10
    );
    assert!(peak_kib <= bound_kib, "peak RSS {peak_kib} KiB over the bound {bound_kib} KiB");
}

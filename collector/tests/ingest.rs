//! Report ingest: full, delta, changed (history), retried, needs_sections, encodings, and host isolation.

use axum::http::StatusCode;
use muster_collector::model::Role;
use muster_collector::store::tx::{ReportRow, ReportedHost};
use muster_shared::v1::{Disk, Package, PackageKind, SectionName};
use serde_json::{Value, json};

use crate::common::{Harness, Machine, debian, delta, full, history, ubuntu};

both!(full_delta_and_changed_reports, retried_report_is_a_duplicate, unknown_hashes_need_sections);
both!(report_ids_are_forgotten_after_their_retention, a_retry_waiting_for_the_lock_sees_the_first_attempt);
both!(first_reports_arriving_together_are_each_stored_whole);
both!(gzip_and_identity_bodies, token_cannot_report_for_another_host, software_query_spans_hosts);
both!(
    language_packages_keep_their_path_and_owner,
    monitors_are_kept_and_shown,
    the_fleets_monitors_are_listed_and_exported,
    tpm_and_batteries_are_kept_and_shown,
    the_fleets_batteries_are_listed_most_worn_first,
    the_fleets_tpms_are_listed_weakest_first
);

async fn full_delta_and_changed_reports(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    let report = debian(&machine);
    h.stored(&token, &full(&report)).await;

    let (_, host) = h.get(&format!("/api/v1/hosts/{host_id}"), &viewer).await;
    assert_eq!(host["hostname"], "lab-t480s");
    assert_eq!(host["os_pretty_name"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(host["system_serial"], "PC131TBF");
    assert_eq!(host["sections"]["software"]["content"]["package_count"], 140);
    assert_eq!(host["sections"]["hardware"]["content"]["system"]["product"], "20L8S07A14");
    let hashes = muster_shared::v1::section_hashes(&report);
    assert_eq!(host["sections"]["os"]["hash"], hashes[&SectionName::Os].as_str());
    let (_, software) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
    assert_eq!(software.as_array().unwrap().len(), 140);
    let openssl: Vec<&Value> = software.as_array().unwrap().iter().filter(|p| p["name"] == "openssl").collect();
    assert_eq!(openssl[0]["version"], "3.0.15-1~deb12u1");
    assert_eq!(openssl[0]["source_name"], "openssl");
    assert_eq!(openssl[0]["size_bytes"], 2_351_104);
    assert!(history(&h, &viewer, &host_id).await.is_empty(), "a first report is a baseline, not 140 installs");

    // An unchanged machine an hour later: every section as a hash only; compressed, a few hundred bytes (most of
    // it the hashes and this root-mode report's list of facts it could not read).
    h.advance(chrono::Duration::hours(1));
    let unchanged = delta(&report, &[]);
    let wire = zstd::encode_all(serde_json::to_vec(&unchanged).unwrap().as_slice(), 3).unwrap().len();
    assert!(wire < 1000, "{wire} bytes");
    h.stored(&token, &unchanged).await;
    let (_, host) = h.get(&format!("/api/v1/hosts/{host_id}"), &viewer).await;
    assert_eq!(host["last_seen"], "2026-03-02T10:00:00Z");
    assert!(history(&h, &viewer, &host_id).await.is_empty());

    // Changed: openssl and libssl3 upgraded, libxmuu1 removed, curl installed, a disk added.
    h.advance(chrono::Duration::hours(1));
    let mut changed = report.clone();
    let software = changed.software.as_mut().unwrap();
    for p in &mut software.packages {
        if p.name == "openssl" || p.name == "libssl3" {
            p.version = "3.0.16-1~deb12u1".to_owned();
            p.source_version = Some("3.0.16-1~deb12u1".to_owned());
        }
    }
    software.packages.retain(|p| p.name != "libxmuu1");
    software.packages.push(Package {
        kind: PackageKind::Deb,
        name: "curl".into(),
        version: "7.88.1-10+deb12u12".into(),
        arch: Some("amd64".into()),
        source_name: Some("curl".into()),
        source_version: None,
        installed_at: None,
        size_bytes: Some(500_736),
        state: None,
        path: None,
        owner: None,
        publisher: None,
        channel: None,
    });
    changed.hardware.as_mut().unwrap().disks.push(Disk {
        name: "nvme0n1".into(),
        model: Some("Samsung SSD 970 EVO Plus 1TB".into()),
        serial: Some("S4EWNX0R123456A".into()),
        size_bytes: 1_000_204_886_016,
        rotational: Some(false),
        transport: Some("nvme".into()),
        ..Disk::default()
    });
    let envelope = delta(&changed, &[SectionName::Software, SectionName::Hardware]);
    h.stored(&token, &envelope).await;
    let events = history(&h, &viewer, &host_id).await;
    let s = |v: &str| json!(v);
    assert_eq!(
        events,
        [
            ("package_installed".into(), "curl:amd64".into(), Value::Null, s("7.88.1-10+deb12u12"), Value::Null),
            (
                "package_upgraded".into(),
                "libssl3:amd64".into(),
                s("3.0.15-1~deb12u1"),
                s("3.0.16-1~deb12u1"),
                Value::Null
            ),
            ("package_removed".into(), "libxmuu1:amd64".into(), s("2:1.1.3-3"), Value::Null, Value::Null),
            (
                "package_upgraded".into(),
                "openssl:amd64".into(),
                s("3.0.15-1~deb12u1"),
                s("3.0.16-1~deb12u1"),
                Value::Null
            ),
            (
                "hardware_changed".into(),
                "nvme0n1".into(),
                Value::Null,
                s("nvme0n1 Samsung SSD 970 EVO Plus 1TB 1000204886016 bytes"),
                s("disk_added")
            ),
        ]
    );
    let (_, software) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
    assert_eq!(software.as_array().unwrap().len(), 140);
    let (_, host) = h.get(&format!("/api/v1/hosts/{host_id}"), &viewer).await;
    assert_eq!(host["last_seen"], "2026-03-02T11:00:00Z");
    assert_eq!(host["sections"]["hardware"]["hash"], envelope.section_hashes[&SectionName::Hardware].as_str());
}

async fn retried_report_is_a_duplicate(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    let report = debian(&machine);
    h.stored(&token, &full(&report)).await;
    let mut changed = report.clone();
    changed.software.as_mut().unwrap().packages.retain(|p| p.name != "tar");
    let envelope = delta(&changed, &[SectionName::Software]);
    h.stored(&token, &envelope).await;
    // The answer was lost; the agent retries the same report id.
    let (status, body) = h.report(&token, &envelope).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "report_id": envelope.report_id, "status": "duplicate" }));
    assert_eq!(history(&h, &viewer, &host_id).await.len(), 1);
}

/// A stored report's id answers retries with `duplicate` for 30 days (the default `report_id_retention`); the
/// report that comes later forgets older ids in the same write that records its own id and sets `last_seen`.
async fn report_ids_are_forgotten_after_their_retention(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    let report = debian(&machine);
    let first = full(&report);
    h.stored(&token, &first).await;

    h.advance(chrono::Duration::days(29));
    let second = delta(&report, &[]);
    h.stored(&token, &second).await;
    let (_, body) = h.report(&token, &first).await;
    assert_eq!(body["status"], "duplicate", "29 days on, the first id is still remembered");

    h.advance(chrono::Duration::days(2));
    let third = delta(&report, &[]);
    h.stored(&token, &third).await;
    let (_, host) = h.get(&format!("/api/v1/hosts/{host_id}"), &viewer).await;
    assert_eq!(host["last_seen"], "2026-04-02T09:00:00Z");
    let (_, body) = h.report(&token, &second).await;
    assert_eq!(body["status"], "duplicate", "the second id is 2 days old");
    // 31 days on, the first id is forgotten: the same envelope is a new report again.
    h.stored(&token, &first).await;
}

/// A retry that arrives while the first attempt still holds the host's lock is answered `duplicate` once that
/// attempt commits: what a report reads, it reads under its lock. (On PostgreSQL a statement's snapshot is taken
/// before it waits for a row lock, so reads beside the locking `UPDATE` would miss the first attempt, and the retry
/// would fail on the report's primary key.)
async fn a_retry_waiting_for_the_lock_sees_the_first_attempt(h: Harness) {
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    let report = debian(&machine);
    h.stored(&token, &full(&report)).await;
    let retried = delta(&report, &[]);

    // The first attempt: locked, its report id not yet stored.
    let mut first = h.store.begin_host_tx().await.unwrap();
    let lock = first.lock_host_for_report(&host_id, &retried.report_id).await.unwrap().unwrap();
    assert!(!lock.seen);
    assert_eq!(lock.hashes.keys().collect::<Vec<_>>(), ["checks", "hardware", "host", "os", "software"]);
    let now = *h.now.lock().unwrap();
    let report_id = retried.report_id.clone();
    let first_commits_later = async move {
        // Long enough for the retry to be waiting for the lock (PostgreSQL's row lock, SQLite's one writer).
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let host = ReportedHost {
            agent_version: "1.0.0",
            hostname: None,
            machine_id: None,
            hardware_identity: None,
            os: None,
        };
        let row =
            ReportRow { report_id: &report_id, received_at: now, collected_at: now, full_sections: String::new() };
        first.record_report(&host_id, &host, &row, now - chrono::Duration::days(30)).await.unwrap();
        first.commit().await.unwrap();
    };
    let ((status, body), ()) = tokio::join!(h.report(&token, &retried), first_commits_later);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "duplicate", "{body}");
}

/// Reports that arrive together share a transaction on SQLite (`store/group_commit.rs`), each in a savepoint of its
/// own: every host gets its own report whole, nothing of another's, and a retry sent beside its first attempt is
/// stored once and answered `duplicate` once, whichever of the two runs first.
async fn first_reports_arriving_together_are_each_stored_whole(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let mut hosts = Vec::new();
    for i in 0..12 {
        let machine = Machine {
            hostname: format!("lab-{i:02}"),
            machine_id: Some(format!("{:032x}", 0x5eed_0000 + i)),
            uuid: Some(format!("161674cc-2a1e-11b2-a85c-{:012x}", i)),
            serial: Some(format!("PC13{i:04}")),
        };
        let (host_id, token) = h.enrolled(&secret, &machine).await;
        // Half Debian, half Ubuntu: two images, as in a fleet, so the groups mix catalogue rows.
        let report = if i % 2 == 0 { debian(&machine) } else { ubuntu(&machine) };
        hosts.push((host_id, token, full(&report), report));
    }
    // Sent again when the collector is full (503 `busy`), as the agent does after `Retry-After`.
    let send = |token: &str, envelope: &muster_shared::v1::ReportEnvelope| {
        let (h, token, envelope) = (&h, token.to_owned(), envelope.clone());
        async move {
            loop {
                let (status, body) = h.report(&token, &envelope).await;
                if status != StatusCode::SERVICE_UNAVAILABLE {
                    return (status, body);
                }
                assert_eq!(body["error"], "busy", "{body}");
                tokio::task::yield_now().await;
            }
        }
    };
    let sends = hosts.iter().map(|(_, token, envelope, _)| send(token, envelope));
    let retry = send(&hosts[0].1, &hosts[0].2);
    let (answers, retry) = tokio::join!(futures_util::future::join_all(sends), retry);

    for (status, body) in &answers[1..] {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "stored", "{body}");
    }
    // The host's two sends: one stored; the other refused while the first was in hand (the agent retries), or
    // answered `duplicate` when it came after.
    let mut first_host = [&answers[0], &retry];
    first_host.sort_by_key(|(_, body)| body["status"] != "stored");
    assert_eq!(first_host[0].0, StatusCode::OK, "{}", first_host[0].1);
    assert_eq!(first_host[0].1["status"], "stored", "{}", first_host[0].1);
    match first_host[1] {
        (StatusCode::OK, body) => assert_eq!(body["status"], "duplicate", "{body}"),
        (StatusCode::TOO_MANY_REQUESTS, body) => assert_eq!(body["error"], "report_in_progress", "{body}"),
        (status, body) => panic!("{status}: {body}"),
    }
    let (status, body) = h.report(&hosts[0].1, &hosts[0].2).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("duplicate")), "{body}");

    for (host_id, _, _, report) in &hosts {
        let (_, host) = h.get(&format!("/api/v1/hosts/{host_id}"), &viewer).await;
        assert_eq!(host["hostname"], report.host.as_ref().unwrap().hostname.as_deref().unwrap());
        let (_, software) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
        let mut names: Vec<&str> = software.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        names.sort_unstable();
        let mut sent: Vec<&str> = report.software.as_ref().unwrap().packages.iter().map(|p| p.name.as_str()).collect();
        sent.sort_unstable();
        sent.dedup();
        names.dedup();
        assert_eq!(names, sent, "host {host_id} holds exactly the packages it sent");
        assert!(history(&h, &viewer, host_id).await.is_empty(), "a first report is a baseline");
    }
}

async fn unknown_hashes_need_sections(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (host_id, token) = h.enrolled(&secret, &machine).await;
    let report = debian(&machine);

    // The collector has nothing yet (e.g. its database was restored): it asks for everything, stores nothing.
    h.advance(chrono::Duration::minutes(5));
    let (status, body) = h.report(&token, &delta(&report, &[SectionName::Host])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "needs_sections");
    assert_eq!(body["needs_full"], json!(["hardware", "os", "software", "checks"]));
    let (_, host) = h.get(&format!("/api/v1/hosts/{host_id}"), &viewer).await;
    assert_eq!(host["sections"], json!({}));
    assert_eq!(host["last_seen"], "2026-03-02T09:00:00Z");

    h.stored(&token, &full(&report)).await;
    // A hash the collector does not hold for one section: only that one is asked for.
    let mut other = report.clone();
    other.software.as_mut().unwrap().packages.pop();
    let (_, body) = h.report(&token, &delta(&other, &[])).await;
    assert_eq!((body["status"].as_str(), &body["needs_full"]), (Some("needs_sections"), &json!(["software"])));
    let (_, software) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
    assert_eq!(software.as_array().unwrap().len(), 140);
}

async fn gzip_and_identity_bodies(h: Harness) {
    use std::io::Write;
    let (_, secret) = h.enroll_secret(None).await;
    let machine = Machine::vmware("5e4d3c2b1a0f4e9d8c7b6a5f4e3d2c1b");
    let (_, token) = h.enrolled(&secret, &machine).await;
    let json = serde_json::to_vec(&full(&ubuntu(&machine))).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).unwrap();
    let (status, body) = h.report_raw(&token, gz.finish().unwrap(), Some("gzip"), &[]).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("stored")), "{body}");
    let json = serde_json::to_vec(&delta(&ubuntu(&machine), &[])).unwrap();
    let (status, body) = h.report_raw(&token, json, None, &[]).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("stored")), "{body}");
    let (status, body) = h.report_raw(&token, b"x".to_vec(), Some("br"), &[]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_encoding")));
    let (status, body) = h.report_raw(&token, b"not zstd".to_vec(), Some("zstd"), &[]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_report")));
}

async fn token_cannot_report_for_another_host(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let laptop = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let vm = Machine::vmware("5e4d3c2b1a0f4e9d8c7b6a5f4e3d2c1b");
    let (laptop_id, laptop_token) = h.enrolled(&secret, &laptop).await;
    let (vm_id, _) = h.enrolled(&secret, &vm).await;
    h.advance(chrono::Duration::minutes(10));

    // The VM's report sent with the laptop's token.
    let (status, body) = h.report(&laptop_token, &full(&ubuntu(&vm))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("host_mismatch")));
    // Naming the other host explicitly.
    let json = serde_json::to_vec(&full(&debian(&laptop))).unwrap();
    let (status, body) = h.report_raw(&laptop_token, json, None, &[("x-muster-host-id", &vm_id)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("host_mismatch")));
    // A host token is not an API token, and a made-up one is nobody's.
    assert_eq!(h.get("/api/v1/hosts", &laptop_token).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = h.report(&format!("mht_{}", "0".repeat(64)), &full(&debian(&laptop))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));

    for id in [&laptop_id, &vm_id] {
        let (_, host) = h.get(&format!("/api/v1/hosts/{id}"), &viewer).await;
        assert_eq!(host["sections"], json!({}));
        assert_eq!(host["last_seen"], "2026-03-02T09:00:00Z");
    }
}

async fn software_query_spans_hosts(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let laptop = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let vm = Machine::vmware("5e4d3c2b1a0f4e9d8c7b6a5f4e3d2c1b");
    let (laptop_id, laptop_token) = h.enrolled(&secret, &laptop).await;
    let (vm_id, vm_token) = h.enrolled(&secret, &vm).await;
    h.stored(&laptop_token, &full(&debian(&laptop))).await;
    h.stored(&vm_token, &full(&ubuntu(&vm))).await;
    // A second laptop of the same image shares the catalogue rows.
    let twin = Machine { hostname: "lab-t480s-2".into(), ..Machine::vmware("99999999999999999999999999999999") };
    let (twin_id, twin_token) = h.enrolled(&secret, &Machine { uuid: None, serial: None, ..twin.clone() }).await;
    h.stored(&twin_token, &full(&debian(&Machine { uuid: None, serial: None, ..twin }))).await;

    let (status, body) = h.get("/api/v1/software?name=openssl", &viewer).await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<(String, String, Vec<String>)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut hosts: Vec<String> =
                r["hosts"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect();
            hosts.sort();
            (r["name"].as_str().unwrap().to_owned(), r["version"].as_str().unwrap().to_owned(), hosts)
        })
        .collect();
    let mut debian_hosts = vec![laptop_id.clone(), twin_id.clone()];
    debian_hosts.sort();
    assert_eq!(
        rows,
        [
            ("libssl3".into(), "3.0.15-1~deb12u1".into(), debian_hosts.clone()),
            ("libssl3t64".into(), "3.0.13-0ubuntu3".into(), vec![vm_id.clone()]),
            ("openssl".into(), "3.0.15-1~deb12u1".into(), debian_hosts),
        ]
    );
    let (_, body) = h.get("/api/v1/software?name=no-such-package", &viewer).await;
    assert_eq!(body, json!([]));
}

/// The agent's inventory of a real Debian root with a distribution's idna (python3-idna) beside pip's idna of the
/// same version, and Debian's and npm's semver: every copy is stored with where it was found and its owner, none
/// dropped as a duplicate of another (issue 19: one OS-package copy, one PyPI copy).
async fn language_packages_keep_their_path_and_owner(h: Harness) {
    use muster_agent::inventory::{self, InventoryConfig};
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../agent/testdata/lang/debian-12-mixed");
    let config = InventoryConfig {
        root: muster_agent::root::SystemRoot::mounted(&root),
        sections: [muster_shared::v1::SectionName::Software].into_iter().collect(),
        ..InventoryConfig::live()
    };
    let mut report = debian(&Machine::thinkpad("m-lang"));
    report.software = inventory::collect(&config, h.now()).software;
    let sent = report.software.as_ref().unwrap().packages.clone();
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &Machine::thinkpad("m-lang")).await;
    h.stored(&token, &full(&report)).await;

    let viewer = h.api_token(Role::Viewer).await;
    let (status, body) = h.get(&format!("/api/v1/hosts/{host}/software"), &viewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored: Vec<(String, String, Option<String>, Option<String>)> = body
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "idna" || p["name"] == "semver")
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
                p["path"].as_str().map(str::to_owned),
                p["owner"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let mut expected: Vec<(String, String, Option<String>, Option<String>)> = sent
        .iter()
        .filter(|p| p.name == "idna" || p.name == "semver")
        .map(|p| (p.kind.as_str().to_owned(), p.name.clone(), p.path.clone(), p.owner.clone()))
        .collect();
    expected.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
    assert_eq!(stored, expected);
    let idna: Vec<&(String, String, Option<String>, Option<String>)> =
        stored.iter().filter(|p| p.0 == "pypi" && p.1 == "idna").collect();
    assert_eq!(idna.len(), 2, "the distribution's copy and pip's: {stored:?}");
    assert_eq!(idna.iter().filter(|p| p.3.as_deref() == Some("python3-idna")).count(), 1);
    assert_eq!(idna.iter().filter(|p| p.3.is_none()).count(), 1);
}

/// A monitor decoded by the agent from a real EDID (glpi-agent's EIZO EV2785 capture, see agent/testdata/edid) is
/// kept in the host's hardware and shown on its page with the serial on its label (issue 19).
async fn monitors_are_kept_and_shown(h: Harness) {
    let edid = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../agent/testdata/edid/glpi-agent/EV2785"),
    )
    .unwrap();
    let monitor = muster_agent::inventory::hardware::monitors::parse_edid("card0-DP-1", &edid).unwrap();
    let machine = Machine::thinkpad("m-monitor");
    let mut report = debian(&machine);
    report.hardware.as_mut().unwrap().monitors = vec![monitor.clone()];
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;

    let viewer = h.api_token(Role::Viewer).await;
    let (_, detail) = h.get(&format!("/api/v1/hosts/{host}"), &viewer).await;
    let stored = &detail["sections"]["hardware"]["content"]["monitors"][0];
    assert_eq!((stored["manufacturer_id"].as_str(), stored["serial_number"].as_u64()), (Some("ENC"), Some(68056070)));
    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, &format!("/hosts/{host}"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in ["id=\"monitors\"", "EV2785", "68056070", "2020 week 28", "60 × 34 cm", "card0-DP-1"] {
        assert!(page.body.contains(text), "{text} missing from the host page");
    }
}

/// The two packs of glpi-agent's ThinkPad powercfg report, as the Windows agent reads them (19450 of 23540 mWh,
/// 173 cycles; 17860 of 26060 mWh, 143 cycles).
fn thinkpad_packs() -> Vec<muster_shared::v1::Battery> {
    let pack = |model: &str, serial: &str, design, full, cycles| muster_shared::v1::Battery {
        model: Some(model.into()),
        manufacturer: Some("SMP".into()),
        serial: Some(serial.into()),
        chemistry: Some("LiP".into()),
        design_capacity_mwh: Some(design),
        full_charge_capacity_mwh: Some(full),
        cycle_count: Some(cycles),
        ..Default::default()
    };
    vec![pack("00HW023", "541", 23540, 19450, 173), pack("01AV406", "3319", 26060, 17860, 143)]
}

/// A laptop's TPM and its two battery packs are kept in its hardware and shown on its page, each pack with its
/// wear. The values are real machines' as the agent reads them: the TPM of OSDeploy's Win32_Tpm capture and the
/// packs of glpi-agent's ThinkPad powercfg report (see agent/testdata/README.md, windows/cim and windows/powercfg).
/// A Mac's pack, read by the agent from an M1 MacBook Air's system_profiler report, shows the health macOS reports
/// and its condition.
async fn tpm_and_batteries_are_kept_and_shown(h: Harness) {
    use muster_shared::v1::Tpm;
    let machine = Machine::thinkpad("m-battery");
    let mut report = debian(&machine);
    let hardware = report.hardware.as_mut().unwrap();
    hardware.tpm = Some(Tpm {
        spec_version: Some("2.0".into()),
        manufacturer: Some("NTC".into()),
        firmware_version: Some("7.2.3.1".into()),
        enabled: Some(true),
        activated: Some(true),
        owned: Some(false),
    });
    hardware.batteries = thinkpad_packs();
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;
    let mac = Machine::vmware("m-macbook-battery");
    let mut mac_report = debian(&mac);
    let profiler = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../agent/testdata/macos/system_profiler-11.0-apple-M1.txt");
    mac_report.hardware.as_mut().unwrap().batteries =
        muster_agent::inventory::macos::power::batteries(&std::fs::read_to_string(profiler).unwrap());
    let (mac_host, mac_token) = h.enrolled(&secret, &mac).await;
    h.stored(&mac_token, &full(&mac_report)).await;

    let viewer = h.api_token(Role::Viewer).await;
    let (_, detail) = h.get(&format!("/api/v1/hosts/{host}"), &viewer).await;
    let stored = &detail["sections"]["hardware"]["content"];
    assert_eq!((stored["tpm"]["spec_version"].as_str(), stored["tpm"]["owned"].as_bool()), (Some("2.0"), Some(false)));
    assert_eq!(stored["batteries"][1]["full_charge_capacity_mwh"].as_u64(), Some(17860));
    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, &format!("/hosts/{host}"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    // 19450 of 23540 mWh is 83% of the design capacity, 17860 of 26060 is 69%.
    for text in [
        "2.0, NTC firmware 7.2.3.1, enabled, activated, not owned",
        "id=\"batteries\"",
        "00HW023",
        "23.5 Wh",
        "19.5 Wh",
        "83%",
        "69%",
        "<td>173</td>",
    ] {
        assert!(page.body.contains(text), "{text} missing from the host page");
    }
    let page = crate::console::get(&h, &format!("/hosts/{mac_host}"), &cookie).await;
    let batteries = page.body.split("id=\"batteries\"").nth(1).expect("a battery table");
    let row = batteries.split("</tr>").nth(1).expect("one pack's row");
    for text in ["bq20z451", "<td>100%</td>", "<td>1</td>", "<td>Normal</td>"] {
        assert!(row.contains(text), "{text} missing from the Mac's battery row: {row}");
    }
}

/// The fleet's monitors on one list and in its exports, each with its host (issue 19): two workstations with real
/// EDIDs decoded by the agent (glpi-agent's captures, see agent/testdata/edid; values as `edid-decode` reads them in
/// expected.edid-decode.tsv), one with two displays; a server without a monitor adds nothing.
async fn the_fleets_monitors_are_listed_and_exported(h: Harness) {
    let edid = |name: &str, connector: &str| {
        let path =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../agent/testdata/edid/glpi-agent").join(name);
        muster_agent::inventory::hardware::monitors::parse_edid(connector, &std::fs::read(path).unwrap()).unwrap()
    };
    let (_, secret) = h.enroll_secret(None).await;
    let mut hosts = Vec::new();
    for (name, monitors) in [
        ("desk-1", vec![edid("acer-b247y", "card0-HDMI-A-1"), edid("EV2785", "card0-DP-1")]),
        ("desk-2", vec![edid("acer-al1717.2", "card0-DVI-D-1")]),
        ("server-1", vec![]),
    ] {
        let machine = Machine { hostname: name.to_owned(), ..Machine::thinkpad(name) };
        let mut report = debian(&machine);
        report.hardware.as_mut().unwrap().monitors = monitors;
        let (host, token) = h.enrolled(&secret, &machine).await;
        h.stored(&token, &full(&report)).await;
        hosts.push(host);
    }
    // The store's pages of one: every host once, in id order, whatever the page size.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = h.store.hosts_section("hardware", after.as_deref(), 1).await.unwrap();
        let Some((host, _)) = page.first() else { break };
        assert_eq!(page.len(), 1);
        after = Some(host.id.clone());
        paged.push(host.id.clone());
    }
    let mut sorted = hosts.clone();
    sorted.sort();
    assert_eq!(paged, sorted);

    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, "/monitors?format=csv", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let lines: Vec<&str> = page.body.lines().collect();
    assert_eq!(
        lines[0],
        "host_id,hostname,connector,product_id,manufacturer_id,model,serial,manufactured_year,manufactured_week,\
         model_year,width_cm,height_cm"
    );
    // Host id order (ids are random), then connector; each row as edid-decode read the EDID.
    let mut want = vec![
        (hosts[0].clone(), "desk-1,card0-DP-1,ENC2911,ENC,EV2785,68056070,2020,28,,60,34"),
        (hosts[0].clone(), "desk-1,card0-HDMI-A-1,ACR0771,ACR,B247Y,TJYEE0068521,2021,17,,53,30"),
        (hosts[1].clone(), "desk-2,card0-DVI-D-1,ACRAD72,ACR,Acer AL1717,L72080574223,2007,6,,34,27"),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let want: Vec<String> = want.into_iter().map(|(id, rest)| format!("{id},{rest}")).collect();
    assert_eq!(lines[1..], want);

    let page = crate::console::get(&h, "/monitors?q=tjyee", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("TJYEE0068521") && page.body.contains("B247Y"), "{}", page.body);
    assert!(!page.body.contains("EV2785") && !page.body.contains("L72080574223"));
    let page = crate::console::get(&h, "/monitors?format=json&q=desk-2", &cookie).await;
    let json: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!((json[0]["hostname"].as_str(), json[0]["serial"].as_str()), (Some("desk-2"), Some("L72080574223")));

    // The same list for scripts, with an API token: every monitor, each as the CSV row says it.
    let viewer = h.api_token(Role::Viewer).await;
    let (status, body) = h.get("/api/v1/monitors", &viewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["truncated"], false);
    let api: Vec<String> = body["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = |k: &str| m[k].as_str().map(str::to_owned).unwrap_or_default();
            let number = |k: &str| m[k].as_u64().map(|n| n.to_string()).unwrap_or_default();
            [
                text("host_id"),
                text("hostname"),
                text("connector"),
                text("product_id"),
                text("manufacturer_id"),
                text("model"),
                text("serial"),
                number("manufactured_year"),
                number("manufactured_week"),
                number("model_year"),
                number("width_cm"),
                number("height_cm"),
            ]
            .join(",")
        })
        .collect();
    assert_eq!(api, want);
    let (_, body) = h.get("/api/v1/monitors?q=DEL&limit=1", &viewer).await;
    assert_eq!((body["monitors"].as_array().unwrap().len(), &body["truncated"]), (0, &serde_json::json!(false)));
    let (_, body) = h.get("/api/v1/monitors?limit=1", &viewer).await;
    assert_eq!((body["monitors"].as_array().unwrap().len(), &body["truncated"]), (1, &serde_json::json!(true)));
    let (status, body) = h.get("/api/v1/monitors?limit=0", &viewer).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
}

/// The fleet's batteries on one list, the most worn first, with its filters and exports (issue 17): packs as the
/// agent reads them on each system, from real captures (agent/testdata/README.md): a ThinkPad's two packs from
/// glpi-agent's powercfg report (83% and 69%), an HP laptop's pack from sysfs (the battery crate's issue #28: 95%),
/// an M1 MacBook Air's from system_profiler (100%, macOS's own figure), and the same HP pack without its design
/// capacity (issue #30: health unknown, so last); a desktop has none.
async fn the_fleets_batteries_are_listed_most_worn_first(h: Harness) {
    let testdata = |rel: &str| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../agent/testdata").join(rel);
    let mut errors = muster_agent::root::ErrorLog::default();
    let hp = muster_agent::inventory::hardware::power::probe_batteries(
        &muster_agent::root::SystemRoot::mounted(testdata("sysfs-power/rust-battery-issue-28")),
        &mut errors,
    );
    let hp_unknown = muster_agent::inventory::hardware::power::probe_batteries(
        &muster_agent::root::SystemRoot::mounted(testdata("sysfs-power/rust-battery-issue-30")),
        &mut errors,
    );
    let profiler = std::fs::read_to_string(testdata("macos/system_profiler-11.0-apple-M1.txt")).unwrap();
    let mac = muster_agent::inventory::macos::power::batteries(&profiler);
    let (_, secret) = h.enroll_secret(None).await;
    let mut hosts = std::collections::BTreeMap::new();
    for (name, batteries) in [
        ("lap-thinkpad", thinkpad_packs()),
        ("lap-hp", hp),
        ("lap-mac", mac),
        ("lap-hp-old", hp_unknown),
        ("desk-1", vec![]),
    ] {
        let machine = Machine { hostname: name.to_owned(), ..Machine::thinkpad(name) };
        let mut report = debian(&machine);
        report.hardware.as_mut().unwrap().batteries = batteries;
        let (host, token) = h.enrolled(&secret, &machine).await;
        h.stored(&token, &full(&report)).await;
        hosts.insert(name, host);
    }

    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, "/batteries?format=csv", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let lines: Vec<&str> = page.body.lines().collect();
    assert_eq!(
        lines[0],
        "host_id,hostname,model,manufacturer,serial,health_percent,cycle_count,condition,chemistry,\
         design_capacity_mwh,full_charge_capacity_mwh"
    );
    let row = |host: &str, rest: &str| format!("{},{host},{rest}", hosts[host]);
    assert_eq!(
        lines[1..],
        [
            row("lap-thinkpad", "01AV406,SMP,3319,69,143,,LiP,26060,17860"),
            row("lap-thinkpad", "00HW023,SMP,541,83,173,,LiP,23540,19450"),
            row("lap-hp", "PABAS0241231,Hewlett-Packard,41167,95,,,Li-ion,41040,39033"),
            row("lap-mac", "bq20z451,,,100,1,Normal,,,"),
            row("lap-hp-old", "PABAS0241231,Hewlett-Packard,41167,,,,Li-ion,,39033"),
        ]
    );

    // Worn below 90%: the ThinkPad's packs; below 80%: one of them.
    let page = crate::console::get(&h, "/batteries?below=80", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("01AV406") && !page.body.contains("00HW023"), "{}", page.body);
    assert!(!page.body.contains("PABAS0241231") && !page.body.contains("bq20z451"));
    let page = crate::console::get(&h, "/batteries?format=json&q=hewlett", &cookie).await;
    let json: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let found: Vec<_> =
        json.as_array().unwrap().iter().map(|b| (b["hostname"].as_str(), b["health_percent"].as_u64())).collect();
    assert_eq!(found, [(Some("lap-hp"), Some(95)), (Some("lap-hp-old"), None)]);
    // A threshold the form does not offer is kept (offered and selected) and said in the heading.
    let page = crate::console::get(&h, "/batteries?below=75", &cookie).await;
    assert!(page.body.contains("with health below 75%"), "{}", page.body);
    assert!(page.body.contains("01AV406") && !page.body.contains("00HW023"));
    assert!(page.body.contains(r#"<option value="75" selected>below 75%</option>"#), "{}", page.body);
    for bad in ["most", "-1", "%2B80", "99999999999"] {
        let page = crate::console::get(&h, &format!("/batteries?below={bad}"), &cookie).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}: {}", page.body);
    }

    // The same list for scripts.
    let viewer = h.api_token(Role::Viewer).await;
    let (status, body) = h.get("/api/v1/batteries?below=90", &viewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let serials: Vec<_> = body["batteries"].as_array().unwrap().iter().map(|b| b["serial"].as_str().unwrap()).collect();
    assert_eq!((serials, body["truncated"].as_bool()), (vec!["3319", "541"], Some(false)));
    let (_, body) = h.get("/api/v1/batteries?limit=1", &viewer).await;
    assert_eq!((body["batteries"].as_array().unwrap().len(), body["truncated"].as_bool()), (1, Some(true)));
    assert_eq!(body["batteries"][0]["health_percent"], 69);
    let (status, body) = h.get("/api/v1/batteries?limit=0", &viewer).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{body}");
    let (status, body) = h.get("/api/v1/batteries?below=most", &viewer).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{body}");
    // An empty threshold is none, as on the console.
    let (status, body) = h.get("/api/v1/batteries?below=", &viewer).await;
    assert_eq!((status, body["batteries"].as_array().map(Vec::len)), (StatusCode::OK, Some(5)), "{body}");
}

/// The fleet's TPMs on one list, the hosts not known to have a usable TPM 2.0 first, with its filters and exports
/// (issue 17).
/// The TPMs are real machines' as the agent reads them (agent/testdata/README.md): from sysfs, fwupd's Infineon 1.2
/// (firmware 6.40, a version ROCA's advisory names) and ST 2.0 and SIMP's STMicro 1.2; from Windows, OSDeploy's
/// Nuvoton 2.0 (`Win32_Tpm`), once as captured and once with Windows saying it is not enabled, not activated and
/// not owned. A virtual machine reports none.
async fn the_fleets_tpms_are_listed_weakest_first(h: Harness) {
    use muster_shared::v1::Tpm;
    let sysfs = |name: &str| {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../agent/testdata/sysfs-tpm").join(name);
        let mut errors = muster_agent::root::ErrorLog::default();
        let tpm = muster_agent::inventory::hardware::power::probe_tpm(
            &muster_agent::root::SystemRoot::mounted(root),
            &mut errors,
        );
        assert!(errors.is_empty() && tpm.is_some(), "{name}");
        tpm
    };
    let nuvoton = Tpm {
        spec_version: Some("2.0".into()),
        manufacturer: Some("NTC".into()),
        firmware_version: Some("7.2.3.1".into()),
        enabled: Some(true),
        activated: Some(true),
        owned: Some(true),
    };
    let nuvoton_off = Tpm { enabled: Some(false), activated: Some(false), owned: Some(false), ..nuvoton.clone() };
    let (_, secret) = h.enroll_secret(None).await;
    let mut hosts = std::collections::BTreeMap::new();
    for (name, tpm) in [
        ("srv-st20", sysfs("fwupd-tpm20-stmicro")),
        ("ws-stm12", sysfs("simp-tpm12-stmicro")),
        ("lap-nuvoton", Some(nuvoton)),
        ("vm-1", None),
        ("ws-infineon", sysfs("fwupd-tpm12-infineon")),
        ("lap-nuvoton-off", Some(nuvoton_off)),
    ] {
        let machine = Machine { hostname: name.to_owned(), ..Machine::thinkpad(name) };
        let mut report = debian(&machine);
        report.hardware.as_mut().unwrap().tpm = tpm;
        let (host, token) = h.enrolled(&secret, &machine).await;
        h.stored(&token, &full(&report)).await;
        hosts.insert(name, host);
    }

    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, "/tpms?format=csv", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let lines: Vec<&str> = page.body.lines().collect();
    assert_eq!(lines[0], "host_id,hostname,state,spec_version,manufacturer,firmware_version,enabled,activated,owned");
    let row = |host: &str, rest: &str| format!("{},{host},{rest}", hosts[host]);
    assert_eq!(
        lines[1..],
        [
            row("vm-1", "none,,,,,,"),
            row("ws-infineon", "older,1.2,IFX,6.40,,,"),
            row("ws-stm12", "older,1.2,STM,8.28,,,"),
            row("lap-nuvoton-off", "off,2.0,NTC,7.2.3.1,false,false,false"),
            row("lap-nuvoton", "ready,2.0,NTC,7.2.3.1,true,true,true"),
            row("srv-st20", "ready,2.0,,,,,"),
        ]
    );

    // The page: the hosts lacking a usable 2.0 said in the heading, the filter kept in the form.
    let page = crate::console::get(&h, "/tpms?state=lacking", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("4 hosts, 4 not known to have a usable TPM 2.0"), "{}", page.body);
    assert!(page.body.contains(r#"<option value="lacking" selected>"#), "{}", page.body);
    for (name, listed) in [("vm-1", true), ("ws-infineon", true), ("lap-nuvoton-off", true), ("lap-nuvoton", false)] {
        assert_eq!(page.body.contains(&format!(">{name}<")), listed, "{name}: {}", page.body);
    }
    assert!(!page.body.contains("srv-st20"), "{}", page.body);
    assert!(page.body.contains("<td>2.0, not enabled or not activated</td>"), "{}", page.body);
    assert!(page.body.contains(r#"href="/tpms""#), "the TPMs list is in the menu: {}", page.body);
    // A firmware advisory's search: Infineon's chips by vendor id.
    let page = crate::console::get(&h, "/tpms?format=json&q=ifx", &cookie).await;
    let json: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let found: Vec<_> =
        json.as_array().unwrap().iter().map(|t| (t["hostname"].as_str(), t["firmware_version"].as_str())).collect();
    assert_eq!(found, [(Some("ws-infineon"), Some("6.40"))]);
    for bad in ["1.2", "LACKING", "ready%00"] {
        let page = crate::console::get(&h, &format!("/tpms?state={bad}"), &cookie).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}: {}", page.body);
    }

    // The same list for scripts.
    let viewer = h.api_token(Role::Viewer).await;
    let (status, body) = h.get("/api/v1/tpms?state=ready", &viewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<_> = body["tpms"].as_array().unwrap().iter().map(|t| t["hostname"].as_str().unwrap()).collect();
    assert_eq!((names, body["truncated"].as_bool()), (vec!["lap-nuvoton", "srv-st20"], Some(false)));
    let (_, body) = h.get("/api/v1/tpms?limit=2", &viewer).await;
    let states: Vec<_> = body["tpms"].as_array().unwrap().iter().map(|t| t["state"].as_str().unwrap()).collect();
    assert_eq!((states, body["truncated"].as_bool()), (vec!["none", "older"], Some(true)));
    let (status, body) = h.get("/api/v1/tpms?state=worst", &viewer).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{body}");
    let (status, body) = h.get("/api/v1/tpms?state=", &viewer).await;
    assert_eq!((status, body["tpms"].as_array().map(Vec::len)), (StatusCode::OK, Some(6)), "{body}");
}

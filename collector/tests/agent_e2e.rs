//! The real agent against the real collector: enrolment with a pinned CA fingerprint over TLS on port 0, a full
//! report of a real Debian 12 root, an unchanged report sent as hashes only, and a change recorded as history.

use std::path::{Path, PathBuf};

use muster_agent::inventory::{self, InventoryConfig};
use muster_agent::root::SystemRoot;
use muster_agent::transport::deliver::{Agent, Delivery};
use muster_agent::transport::enroll::{self, CaPin, EnrollConfig, HostIdentity};
use muster_agent::transport::fingerprint::Fingerprint;
use muster_collector::model::Role;
use muster_shared::v1::{ReportStatus, SectionName};
use rand::SeedableRng;

use crate::common::{Harness, TlsServer};

both!(agent_enrols_reports_and_sends_only_what_changed);

fn agent_testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/testdata").join(rel)
}

/// A Debian 12 root: the agent's real apt fixture (dpkg status, sources, lists) plus a real os-release.
fn debian_root(dir: &Path) -> SystemRoot {
    let copy =
        std::process::Command::new("cp").arg("-r").arg(agent_testdata("apt/debian-12/.")).arg(dir).status().unwrap();
    assert!(copy.success());
    std::fs::copy(
        agent_testdata("os-release/debian-12__claircore__debian-testdata-dist__etc.os-release"),
        dir.join("etc/os-release"),
    )
    .unwrap();
    std::fs::write(dir.join("etc/hostname"), "build-07\n").unwrap();
    SystemRoot::mounted(dir)
}

async fn agent_enrols_reports_and_sends_only_what_changed(h: Harness) {
    let server = TlsServer::start(&h);
    let (addr, ca) = (server.addr, &server.ca);
    let (_, secret) = h.enroll_secret(None).await;
    let root_dir = tempfile::tempdir().unwrap();
    let root = debian_root(root_dir.path());
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("agent");
    let enroll_config = EnrollConfig {
        collector_url: format!("https://{addr}"),
        secret,
        ca: CaPin::Fingerprint(Fingerprint::parse(&ca.sha256_fingerprint).unwrap()),
        tags: vec!["build".to_string()],
        state_dir: state_dir.clone(),
    };
    let identity = HostIdentity {
        hostname: "build-07".to_string(),
        machine_id: Some("0f2c4e7a9b1d4c6e8f0a2b4c6d8e0f1a".to_string()),
        system_uuid: None,
        system_serial: None,
    };
    let outcome = enroll::enroll(&enroll_config, &identity, h.now()).await.unwrap();
    let host_id = outcome.host_id.clone();

    let collect = || {
        let mut config = InventoryConfig::live();
        config.root = root.clone();
        let mut report = inventory::collect(&config, h.now());
        // The enrolled machine-id travels in the host section; a pulled disk has none of its own.
        if let Some(host) = report.host.as_mut() {
            host.machine_id = identity.machine_id.clone();
        }
        report
    };
    let agent = Agent::load(&state_dir, 50 * 1024 * 1024).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    let first = agent.deliver(Some(collect()), &mut rng).await.unwrap();
    let Delivery::Delivered { status, sections_in_full, wire_bytes: full_bytes, .. } = first.delivery else {
        panic!("first report not delivered: {:?}", first.delivery)
    };
    assert_eq!(status, ReportStatus::Stored);
    assert!(sections_in_full.contains(&SectionName::Software) && sections_in_full.contains(&SectionName::Patches));

    let viewer = h.api_token(Role::Viewer).await;
    let (code, software) = h.get(&format!("/api/v1/hosts/{host_id}/software"), &viewer).await;
    assert_eq!(code, 200, "{software}");
    let listed = software.as_array().or_else(|| software["items"].as_array()).unwrap().len();
    let installed = collect().software.unwrap().packages.len();
    assert_eq!(listed, installed, "every package of the root is on the collector");

    // Nothing changed: every section goes as a hash only, and the request is tiny.
    let second = agent.deliver(Some(collect()), &mut rng).await.unwrap();
    let Delivery::Delivered { status, sections_in_full, wire_bytes, .. } = second.delivery else {
        panic!("second report not delivered: {:?}", second.delivery)
    };
    assert_eq!(status, ReportStatus::Stored);
    assert_eq!(sections_in_full, Vec::<SectionName>::new());
    assert!(wire_bytes < 1_000 && wire_bytes < full_bytes, "unchanged report took {wire_bytes} of {full_bytes} bytes");

    // A package removed on the machine: only software (and what depends on it) goes in full; history records it.
    let dpkg_status = root_dir.path().join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&dpkg_status).unwrap();
    let removed = "Package: tzdata\n";
    let start = text.find(removed).expect("tzdata in the fixture");
    let end = text[start..].find("\n\n").map(|i| start + i + 2).unwrap_or(text.len());
    std::fs::write(&dpkg_status, format!("{}{}", &text[..start], &text[end..])).unwrap();
    h.advance(chrono::Duration::minutes(60));
    let third = agent.deliver(Some(collect()), &mut rng).await.unwrap();
    let Delivery::Delivered { sections_in_full, .. } = third.delivery else {
        panic!("third report not delivered: {:?}", third.delivery)
    };
    assert!(sections_in_full.contains(&SectionName::Software), "{sections_in_full:?}");
    assert!(!sections_in_full.contains(&SectionName::Os), "{sections_in_full:?}");
    let (code, history) = h.get(&format!("/api/v1/hosts/{host_id}/history"), &viewer).await;
    assert_eq!(code, 200);
    let text = history.to_string();
    assert!(text.contains("package_removed") && text.contains("tzdata"), "{history}");

    server.stop().await;
}

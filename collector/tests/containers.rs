//! Container images and containers as the host's child assets, on both stores (issue 19): the real agent reads the
//! Docker and Podman state captured on a Debian 12 VM (agent/testdata/containers/root), the collector keeps them
//! with the host's software section, and the API and the host page show them.

use chrono::TimeZone;
use muster_collector::model::Role;

use crate::common::{Harness, Machine, debian, full};

/// Enrols a Debian host whose report carries the images and containers the real agent read from `root` (below
/// agent/testdata), and returns its id, a viewer's API token and its software section as the API shows it.
async fn stored_with_containers(h: &Harness, name: &str, root: &str) -> (String, String, serde_json::Value) {
    let machine = Machine::thinkpad(name);
    let mut report = debian(&machine);
    let software = report.software.as_mut().unwrap();
    let captured = crate::common::agent_software(root);
    software.container_images = captured.container_images;
    software.containers = captured.containers;
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;
    let viewer = h.api_token(Role::Viewer).await;
    let (status, body) = h.get(&format!("/api/v1/hosts/{host}"), &viewer).await;
    assert_eq!(status, 200, "{body}");
    (host, viewer, body["sections"]["software"]["content"].clone())
}

async fn images_and_containers_are_the_hosts_children(h: Harness) {
    let (host, viewer, content) = stored_with_containers(&h, "m-containers", "containers/root").await;
    assert_eq!(
        (content["container_images"].as_array().unwrap().len(), content["containers"].as_array().unwrap().len()),
        (3, 5)
    );
    let images: Vec<(String, String, u64, String)> = content["container_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["engine"].as_str().unwrap().to_owned(),
                i["tags"][0].as_str().unwrap().to_owned(),
                i["package_count"].as_u64().unwrap(),
                i["os"]["version_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        images,
        [
            ("docker".to_owned(), "127.0.0.1:5000/muster-test/web:1.0".to_owned(), 111, "12".to_owned()),
            ("docker".to_owned(), "muster-test/debian:12".to_owned(), 88, "12".to_owned()),
            ("podman".to_owned(), "localhost/muster-test/web:1.0".to_owned(), 111, "12".to_owned()),
        ]
    );
    // The image's package list stays with the agent's report, not in the host's stored section.
    assert!(content["container_images"][0].get("packages").is_none());
    let states: Vec<(&str, Option<&str>)> = content["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["state"].as_str()))
        .collect();
    assert_eq!(
        states,
        [("done", Some("exited")), ("old", Some("created")), ("web", Some("running")), ("api", None), ("batch", None)]
    );

    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, &format!("/hosts/{host}"), &cookie).await;
    assert_eq!(page.status, 200);
    for text in [
        "Container images (3)",
        "Containers (5, 1 running)",
        "muster-test/debian:12",
        "Debian GNU/Linux 12 (bookworm)",
        "32baa6c81148",
        "127.0.0.1:5000/muster-test/web@sha256:c1f41fe258837107af1300de36390644d4cc72521083e4dc82af34b0b0d63278",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }

    // The images are facts of the host's rules as the store keeps them: Debian 12 is past all support (LTS included)
    // after 2028-06-30, so the scheduled evaluation opens the image end-of-life finding then, not before.
    assert_eq!(eol_findings(&h, &host, &viewer).await, vec![]);
    h.advance(chrono::Utc.with_ymd_and_hms(2028, 7, 1, 9, 0, 0).unwrap() - h.now());
    assert_eq!(eol_findings(&h, &host, &viewer).await, vec![("high".to_owned(), 3)]);
}

/// (severity, evidence lines) of the host's open image end-of-life findings after a scheduled evaluation now.
async fn eol_findings(h: &Harness, host: &str, viewer: &str) -> Vec<(String, usize)> {
    let policy = muster_collector::rules::Rules::builtin().unwrap().current();
    muster_collector::app::evaluation::evaluate_all(
        h.store.as_ref(),
        &policy,
        h.now(),
        muster_collector::app::evaluation::Scope::Due,
    )
    .await
    .unwrap();
    let (_, body) = h.get(&format!("/api/v1/hosts/{host}/findings"), viewer).await;
    body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == "container.image_end_of_life" && f["status"] == "open")
        .map(|f| (f["severity"].as_str().unwrap().to_owned(), f["evidence"].as_array().unwrap().len()))
        .collect()
}

both!(images_and_containers_are_the_hosts_children);

/// containerd's images and containers (its state captured on a Debian 12 VM, agent/testdata/containers/containerd-root)
/// arrive, are kept and shown like Docker's: Kubernetes' id-only image name is not a tag, and containers carry no state.
async fn containerd_images_are_the_hosts_children_too(h: Harness) {
    let (host, _, content) = stored_with_containers(&h, "m-containerd", "containers/containerd-root").await;
    let images: Vec<(&str, Vec<&str>, u64)> = content["container_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let tags = i["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
            (i["engine"].as_str().unwrap(), tags, i["package_count"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        images,
        [
            ("containerd", vec!["localhost/muster-test/web:1.0"], 111),
            ("containerd", vec!["localhost/muster-test/debian:12"], 88),
        ]
    );
    let containers: Vec<(&str, &str, Option<&str>)> = content["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["engine"].as_str().unwrap(), c["name"].as_str().unwrap(), c["state"].as_str()))
        .collect();
    assert_eq!(containers, [("containerd", "base-shell", None), ("containerd", "web", None)]);

    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, &format!("/hosts/{host}"), &cookie).await;
    assert_eq!(page.status, 200);
    for text in ["Container images (2)", "Containers (2, 0 running)", "containerd", "d4342f75a220", "base-shell"] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
}

both!(containerd_images_are_the_hosts_children_too);

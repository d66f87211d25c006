//! Container images and containers as the host's child assets, on both stores (issue 19): the real agent reads the
//! Docker and Podman state captured on a Debian 12 VM (agent/testdata/containers/root), the collector keeps them
//! with the host's software section, and the API and the host page show them.

use chrono::TimeZone;
use muster_collector::model::Role;

use muster_shared::v1::Report;

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

/// The Debian subset and the KEV catalog, as `muster-collector import-advisories` stores them.
async fn import_debian_and_kev(h: &Harness) {
    let testdata = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/advisories");
    let paths =
        [testdata.join("debian/debian-osv-subset.jsonl"), testdata.join("kev/known_exploited_vulnerabilities.json")];
    let mut db = muster_collector::vuln::AdvisoryDb::new();
    let limits = muster_collector::vuln::read::ImportLimits::files();
    let outcome = muster_collector::vuln::read::import_paths(&mut db, &paths, &limits, &mut |_| {});
    assert_eq!(outcome.summary.errors, Vec::<String>::new());
    muster_collector::app::advisory_sync::store_import(
        h.store.as_ref(),
        &db,
        outcome.summary,
        h.now(),
        &Default::default(),
    )
    .await
    .unwrap();
}

/// (rule, subject, title, severity, status) of the host's vulnerability findings.
async fn vulnerability_findings(
    h: &Harness,
    host: &str,
    viewer: &str,
) -> Vec<(String, String, String, String, String)> {
    let (_, body) = h.get(&format!("/api/v1/hosts/{host}/findings"), viewer).await;
    let s = |f: &serde_json::Value, k: &str| f[k].as_str().unwrap_or_default().to_owned();
    let mut out: Vec<_> = body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "vulnerability")
        .map(|f| (s(f, "rule_id"), s(f, "subject"), s(f, "title"), s(f, "severity"), s(f, "status")))
        .collect();
    out.sort();
    out
}

/// The host report with the captured images, the web image's glibc at bookworm's real 2.36-9+deb12u2.
fn with_old_web_image(machine: &Machine) -> Report {
    let mut report = debian(machine);
    let captured = crate::common::agent_software("containers/root");
    let software = report.software.as_mut().unwrap();
    software.container_images = captured.container_images;
    software.containers = captured.containers;
    let web =
        software.container_images.iter_mut().filter(|i| i.tags.iter().any(|t| t.ends_with("/muster-test/web:1.0")));
    for image in web {
        for p in image.packages.iter_mut().filter(|p| p.source_name.as_deref() == Some("glibc")) {
            p.version = "2.36-9+deb12u2".into();
            p.source_version = Some("2.36-9+deb12u2".into());
        }
    }
    report
}

/// An image's fix is no upgrade of the host's own packages: the host's overdue security update of libc6 (to a later
/// real bookworm release) stays in `patch.security_overdue` although the web image's glibc fix names libc6 too.
async fn an_images_fix_leaves_the_hosts_own_overdue_update_alone(h: Harness) {
    use muster_shared::v1::{Patches, PendingUpdate};
    import_debian_and_kev(&h).await;
    let machine = Machine::thinkpad("m-image-overdue");
    let mut report = with_old_web_image(&machine);
    let installed =
        report.software.as_ref().unwrap().packages.iter().find(|p| p.name == "libc6").unwrap().version.clone();
    let pending = vec![PendingUpdate {
        name: "libc6".to_owned(),
        arch: Some("amd64".to_owned()),
        installed_version: installed,
        candidate_version: "2.36-9+deb12u8".to_owned(),
        security: true,
        origin: Some("Debian-Security/bookworm-security".to_owned()),
    }];
    report.patches = Some(Patches { manager: Some("apt".into()), pending: Some(pending), ..Patches::default() });
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;
    h.advance(chrono::Duration::days(20));
    report.collected_at += chrono::Duration::days(20);
    h.stored(&token, &full(&report)).await;
    let viewer = h.api_token(Role::Viewer).await;
    let open: Vec<String> = vulnerability_findings(&h, &host, &viewer).await.into_iter().map(|f| f.1).collect();
    assert_eq!(open, ["image 127.0.0.1:5000/muster-test/web:1.0: glibc"]);
    let (_, body) = h.get(&format!("/api/v1/findings?rule=patch.security_overdue&host={host}"), &viewer).await;
    assert_eq!(body["total"], 1, "{body}");
    let evidence = body["findings"][0]["evidence"].as_array().unwrap();
    assert!(evidence.iter().any(|e| e.as_str().unwrap().starts_with("libc6 ")), "{evidence:?}");
}

both!(an_images_fix_leaves_the_hosts_own_overdue_update_alone);

/// A container image's packages are matched against its own OS's advisories, and its holes become the host's
/// findings, one per fix and image: the captured web image as built a year earlier (glibc at bookworm's real
/// 2.36-9+deb12u2, before Looney Tunables) next to a current base image.
async fn a_container_images_holes_are_findings_of_its_host(h: Harness) {
    let machine = Machine::thinkpad("m-image-holes");
    let report = with_old_web_image(&machine);
    let current_web = crate::common::agent_software("containers/root").container_images;
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;
    let viewer = h.api_token(Role::Viewer).await;
    assert_eq!(vulnerability_findings(&h, &host, &viewer).await, vec![]);

    // Advisories imported after the report re-match the host through its images' packages too.
    import_debian_and_kev(&h).await;
    let web = "sha256:32baa6c81148";
    let title = "Image 127.0.0.1:5000/muster-test/web:1.0: Upgrade glibc (libc-bin, libc6) to 2.36-9+deb12u4 — fixes 4 \
                 vulnerabilities, 2 known exploited";
    let open = |status: &str| {
        vec![(
            "vuln.fix".to_owned(),
            "image 127.0.0.1:5000/muster-test/web:1.0: glibc".to_owned(),
            title.to_owned(),
            "critical".to_owned(),
            status.to_owned(),
        )]
    };
    assert_eq!(vulnerability_findings(&h, &host, &viewer).await, open("open"));
    let (_, body) = h.get(&format!("/api/v1/hosts/{host}/findings"), &viewer).await;
    let finding = body["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "vulnerability").unwrap();
    assert!(finding["remediation"].as_str().unwrap().starts_with(
        "rebuild the container image 127.0.0.1:5000/muster-test/web:1.0 from an updated base image, or with this in \
         its build (apt-get install --only-upgrade libc-bin libc6"
    ), "{finding}");
    let first = finding["evidence"][0].as_str().unwrap();
    assert!(
        first.starts_with("in the container image 127.0.0.1:5000/muster-test/web:1.0 (sha256:32baa6c81148"),
        "{first}"
    );
    // Docker's web container and Podman's api and batch are made from it.
    assert!(first.ends_with("; containers made from it: api, batch, web"), "{first}");

    // The host's own glibc is current: its matches and the image's are apart, each image's entries named.
    let (status, body) = h.get(&format!("/api/v1/hosts/{host}/vulnerabilities"), &viewer).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["vulnerabilities"].as_array().unwrap().iter().all(|v| v["source_name"] != "glibc"), "{body}");
    let mut in_images: Vec<(String, String, String, String)> = body["container_image_vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert!(v["image_id"].as_str().unwrap().starts_with(web), "{v}");
            assert_eq!(v["fix_state"], "fix_unverified", "an image's pending updates are unknown: {v}");
            let s = |k: &str| v[k].as_str().unwrap().to_owned();
            (s("image_name"), s("id"), s("package"), s("fixed_version"))
        })
        .collect();
    in_images.sort();
    let mut want = Vec::new();
    for (id, fix) in [("CVE-2023-4806", "3"), ("CVE-2023-4911", "3"), ("DSA-5514-1", "3"), ("DSA-5611-1", "4")] {
        for package in ["libc-bin", "libc6"] {
            let name = "127.0.0.1:5000/muster-test/web:1.0".to_owned();
            want.push((name, id.to_owned(), package.to_owned(), format!("2.36-9+deb12u{fix}")));
        }
    }
    want.sort();
    assert_eq!(in_images, want);

    // The advisory names the host, through its image.
    let (_, body) = h.get("/api/v1/vulnerabilities/CVE-2023-4911", &viewer).await;
    let hosts: Vec<(&str, &str, &str)> = body["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["host_id"].as_str().unwrap(), a["package"].as_str().unwrap(), a["image_id"].as_str().unwrap()))
        .collect();
    assert_eq!(hosts.len(), 2, "{body}");
    assert!(hosts.iter().all(|(id, _, image)| *id == host && image.starts_with(web)), "{body}");
    assert_eq!(body["affected_hosts"], 1);

    let cookie = crate::console::user(&h, "viewer", Role::Viewer).await;
    let page = crate::console::get(&h, &format!("/hosts/{host}"), &cookie).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Vulnerabilities in container images (8)"), "{}", page.body);
    let page = crate::console::get(&h, "/vulnerabilities/CVE-2023-4911", &cookie).await;
    assert!(page.body.contains("libc6 (container image 32baa6c81148)"), "{}", page.body);

    // A container stopped: the software section comes in full, but its packages, images and sockets are the stored
    // ones, so the host is not matched again (its match time stays), while the host page shows the new state.
    let (_, before) = h.get(&format!("/api/v1/hosts/{host}/vulnerabilities"), &viewer).await;
    let mut stopped = report.clone();
    let web_container = stopped.software.as_mut().unwrap().containers.iter_mut().find(|c| c.name == "web").unwrap();
    web_container.state = Some("exited".to_owned());
    stopped.collected_at += chrono::Duration::minutes(30);
    h.advance(chrono::Duration::minutes(30));
    h.stored(&token, &crate::common::delta(&stopped, &[muster_shared::v1::SectionName::Software])).await;
    let (_, after) = h.get(&format!("/api/v1/hosts/{host}/vulnerabilities"), &viewer).await;
    assert_eq!(after["matched_at"], before["matched_at"]);
    assert_eq!(vulnerability_findings(&h, &host, &viewer).await, open("open"));
    let (_, body) = h.get(&format!("/api/v1/hosts/{host}"), &viewer).await;
    let containers = body["sections"]["software"]["content"]["containers"].as_array().unwrap();
    assert!(containers.iter().any(|c| c["name"] == "web" && c["state"] == "exited"), "{containers:?}");

    // The image rebuilt at current versions: the finding resolves, and the stored list is the new one.
    let mut rebuilt = report.clone();
    rebuilt.software.as_mut().unwrap().container_images = current_web;
    rebuilt.collected_at += chrono::Duration::hours(1);
    h.advance(chrono::Duration::hours(1));
    h.stored(&token, &full(&rebuilt)).await;
    assert_eq!(vulnerability_findings(&h, &host, &viewer).await, open("resolved"));
    let inventory = h.store.host_inventory(&host).await.unwrap().unwrap();
    let images: Vec<(String, usize, Vec<String>)> =
        inventory.images.iter().map(|i| (i.name.clone(), i.packages.len(), i.containers.clone())).collect();
    assert_eq!(
        images,
        [
            (
                "127.0.0.1:5000/muster-test/web:1.0".to_owned(),
                111,
                vec!["api".to_owned(), "batch".to_owned(), "web".to_owned()]
            ),
            ("muster-test/debian:12".to_owned(), 88, vec!["done".to_owned(), "old".to_owned()]),
        ]
    );
    let glibc = |i: &muster_collector::store::advisories::ImageInventory| {
        i.packages.iter().find(|p| p.name == "libc6").map(|p| p.version.clone())
    };
    assert!(inventory.images.iter().all(|i| glibc(i).as_deref() != Some("2.36-9+deb12u2")));

    // The images removed: nothing of theirs is kept.
    let mut none = rebuilt.clone();
    none.software.as_mut().unwrap().container_images.clear();
    none.software.as_mut().unwrap().containers.clear();
    none.collected_at += chrono::Duration::hours(1);
    h.stored(&token, &full(&none)).await;
    assert!(h.store.host_inventory(&host).await.unwrap().unwrap().images.is_empty());
}

both!(a_container_images_holes_are_findings_of_its_host);

/// A new tag is a fact of matching (an image's name keys its findings): a report whose only change is the web image
/// tagged once more, under a name that sorts first, re-matches the host, and the image's finding follows its name.
async fn an_image_tagged_again_is_matched_again_under_its_name(h: Harness) {
    import_debian_and_kev(&h).await;
    let machine = Machine::thinkpad("m-image-tagged");
    let mut report = with_old_web_image(&machine);
    let (_, secret) = h.enroll_secret(None).await;
    let (host, token) = h.enrolled(&secret, &machine).await;
    h.stored(&token, &full(&report)).await;
    let viewer = h.api_token(Role::Viewer).await;
    let subjects = |found: Vec<(String, String, String, String, String)>| -> Vec<(String, String)> {
        found.into_iter().map(|f| (f.1, f.4)).collect()
    };
    let old = "image 127.0.0.1:5000/muster-test/web:1.0: glibc".to_owned();
    assert_eq!(subjects(vulnerability_findings(&h, &host, &viewer).await), [(old.clone(), "open".to_owned())]);

    let software = report.software.as_mut().unwrap();
    let web = software.container_images.iter_mut().find(|i| i.tags.iter().any(|t| t.ends_with("/muster-test/web:1.0")));
    web.unwrap().tags.push("0.registry.example/web:1.0".to_owned());
    report.collected_at += chrono::Duration::hours(1);
    h.advance(chrono::Duration::hours(1));
    h.stored(&token, &crate::common::delta(&report, &[muster_shared::v1::SectionName::Software])).await;
    let mut found = subjects(vulnerability_findings(&h, &host, &viewer).await);
    found.sort();
    assert_eq!(
        found,
        [("image 0.registry.example/web:1.0: glibc".to_owned(), "open".to_owned()), (old, "resolved".to_owned())]
    );
}

both!(an_image_tagged_again_is_matched_again_under_its_name);

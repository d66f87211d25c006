//! Hostile agent text in a real browser: every page that shows agent-controlled strings keeps them text.

use super::*;

const SCRIPT: &str = "<script>window.__pwned=1</script>";
const IMG: &str = "\"><img src=x onerror=\"window.__pwned=1\">";
const JS_URL: &str = "javascript:window.__pwned=1";

pub(super) async fn hostile_agent_text_stays_text_test(c: Console) {
    let long = format!("L{}", "0123456789".repeat(500))[..5000].to_owned();
    let enrolled_as = format!("{SCRIPT}{IMG}{JS_URL}");
    // As long as a hostname may be (255 bytes: a longer one is refused, as at enrolment), over the 200 characters
    // lists show of it.
    let hostname = format!("{enrolled_as}{long}")[..muster_collector::identity::MAX_HOSTNAME_BYTES].to_owned();
    let machine = Machine { hostname: enrolled_as.clone(), ..Machine::thinkpad(THINKPAD) };
    let (_, secret) = c.h.enroll_secret(None).await;
    let (host, token) = c.h.enrolled(&secret, &machine).await;

    let mut report = weak(&machine);
    report.host.as_mut().unwrap().hostname = Some(hostname.clone());
    report.os.as_mut().unwrap().pretty_name = Some(format!("{IMG}{JS_URL}"));
    let check = report.checks.as_mut().unwrap().iter_mut().find(|c| c.id == "ssh.permit_root_login").unwrap();
    check.evidence = vec![SCRIPT.to_owned(), IMG.to_owned(), JS_URL.to_owned(), long.clone()];
    check.remediation = Some(format!("{JS_URL} {IMG}"));
    let packages = &mut report.software.as_mut().unwrap().packages;
    let template = packages[0].clone();
    let package = |name: &str, version: &str| Package {
        name: name.to_owned(),
        version: version.to_owned(),
        source_name: None,
        source_version: None,
        ..template.clone()
    };
    packages.extend([package(SCRIPT, IMG), package(JS_URL, &long), package(IMG, SCRIPT)]);
    c.h.stored(&token, &full(&report)).await;

    let finding =
        c.h.store
            .list_findings(&FindingFilter { rule_id: Some("ssh.permit_root_login".into()), ..filter(&c.h) })
            .await
            .unwrap()
            .findings
            .remove(0);
    assert_eq!((finding.host_id.as_str(), finding.hostname.as_str()), (host.as_str(), hostname.as_str()));
    assert_eq!(finding.evidence, vec![SCRIPT, IMG, JS_URL, long.as_str()]);

    c.user("root", Role::Admin).await;
    c.goto("/login").await;
    c.sign_in("root", PASSWORD).await;
    // Lists cut agent text at 200 characters (the cut keeps the hostile start); detail pages show it whole.
    let clipped: String = hostname.chars().take(200).collect();
    assert!(hostname.chars().count() > 200 && clipped.contains(SCRIPT));
    let pages: Vec<(&str, String, Vec<&str>)> = vec![
        ("dashboard", "/".to_owned(), vec![]),
        ("hosts", "/hosts".to_owned(), vec![&clipped, IMG, JS_URL]),
        ("host", format!("/hosts/{host}"), vec![&hostname, SCRIPT, IMG, JS_URL, &long]),
        ("findings", "/findings".to_owned(), vec![&clipped]),
        ("finding", format!("/findings/{}", finding.id), vec![&hostname, SCRIPT, IMG, JS_URL, &long]),
        (
            "software",
            format!("/software?name={}", muster_collector::console::encode(SCRIPT)),
            vec![SCRIPT, IMG, &hostname],
        ),
        ("audit", "/admin/audit".to_owned(), vec![SCRIPT, JS_URL]),
    ];
    for (name, path, literal) in pages {
        c.goto(&path).await;
        c.settle().await;
        let page = c.js(INSPECT, vec![]).await;
        assert_eq!(page["pwned"], "undefined", "{path}: agent text ran as script");
        match c.b.get_alert_text().await {
            Err(e) if e.is_no_such_alert() => {}
            other => panic!("{path}: an alert is open: {other:?}"),
        }
        assert_eq!(page["scripts"], json!(["/static/console.js"]), "{path}");
        assert_eq!(page["handlers"], json!([]), "{path}: event handler attributes");
        assert_eq!(page["images"], 0, "{path}: an <img> element");
        assert_eq!(page["scriptUrls"], 0, "{path}: javascript: URLs");
        let (title, text) = (page["title"].as_str().unwrap(), page["text"].as_str().unwrap());
        assert!(!title.starts_with(|c: char| c.is_ascii_digit()) && title != "Sign in · Muster", "{path}: {title}");
        for expected in literal {
            assert!(
                text.contains(expected),
                "{path} does not show {:?} literally",
                &expected[..expected.len().min(80)]
            );
        }
        let (width, viewport) = (page["scrollWidth"].as_i64().unwrap(), page["innerWidth"].as_i64().unwrap());
        assert!(width <= viewport + 1, "{path}: the page is {width}px wide in a {viewport}px window");
        c.screenshot(&format!("hostile-{name}")).await;
    }
}

/// What a page looks like to a script: everything the hostile-text test checks, read in one round trip.
const INSPECT: &str = r#"
const handlers = [];
for (const el of document.querySelectorAll('*')) {
  for (const a of el.attributes) if (a.name.toLowerCase().startsWith('on')) handlers.push(el.tagName + ' ' + a.name);
}
return {
  pwned: typeof window.__pwned,
  scripts: Array.from(document.scripts).map(s => s.getAttribute('src')),
  handlers,
  images: document.images.length,
  scriptUrls: document.querySelectorAll('[href^="javascript:" i], [src^="javascript:" i], [action^="javascript:" i]').length,
  title: document.title,
  text: document.body.innerText,
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
};
"#;

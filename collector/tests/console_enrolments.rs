//! The console's page for enrolments held because they would take over a live host (issue 15), on both stores:
//! what it shows, who may decide, the decision's effect, and console error pages for malformed forms. The request
//! and sign-in helpers are `console.rs`'s.

use axum::http::{Method, StatusCode, header};
use muster_collector::model::Role;

use crate::common::{Harness, Machine, debian, full};
use crate::console::{HOSTILE, audit_actions, get, request, user};

both!(admins_decide_held_enrolments_in_the_console);

/// Issue 15: the console is one of the three places (with the CLI and the API) where an administrator decides an
/// enrolment held because it would take over a live host; the page shows the claim next to the record, and the
/// approval hands the record over exactly as the API does, audited as the signed-in user's.
async fn admins_decide_held_enrolments_in_the_console(h: Harness) {
    let machine = Machine::thinkpad("4c4c4544004d3510804bb2c04f4e3732");
    let (_, secret) = h.enroll_secret(None).await;
    let (host_id, old_token) = h.enrolled(&secret, &machine).await;
    h.stored(&old_token, &full(&debian(&machine))).await;
    let (status, held) = h.enroll(&secret, &Machine { hostname: format!("new-{HOSTILE}"), ..machine.clone() }).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let new_token = held["host_token"].as_str().unwrap().to_owned();
    let admin = user(&h, "root-admin", Role::Admin).await;
    let analyst = user(&h, "ana", Role::Analyst).await;

    // Admins are told on the dashboard; analysts, who cannot decide, are not.
    assert!(get(&h, "/", &admin).await.body.contains("1 enrolment would take over"));
    assert!(!get(&h, "/", &analyst).await.body.contains("enrolment would take over"));
    let page = get(&h, "/admin/enrolments", &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("1 waiting"), "{}", page.body);
    assert!(page.body.contains("lab-t480s") && page.body.contains(&format!("/hosts/{host_id}")), "{}", page.body);
    assert!(!page.body.contains("<script>window.__pwned"), "the claimed hostname is escaped");
    let request_id = h.store.list_enrolment_requests(false, 10).await.unwrap()[0].id.clone();
    assert!(page.body.contains(&request_id), "{}", page.body);

    let csrf = get(&h, "/", &analyst).await.csrf();
    let form = format!("csrf={csrf}&op=approve&id={request_id}");
    let refused = request(&h, Method::POST, "/admin/enrolments", Some(&analyst), Some(&form)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let csrf = get(&h, "/", &admin).await.csrf();
    let form = format!("csrf={csrf}&op=approve&id={request_id}");
    let page = request(&h, Method::POST, "/admin/enrolments", Some(&admin), Some(&form)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Approved"), "{}", page.body);
    assert!(page.body.contains("0 waiting"), "{}", page.body);
    assert!(!get(&h, "/", &admin).await.body.contains("enrolment would take over"));
    let (status, _) = h.report(&old_token, &full(&debian(&machine))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    h.stored(&new_token, &full(&debian(&machine))).await;
    // Deciding it twice is a clear conflict, as a console page.
    let again = request(&h, Method::POST, "/admin/enrolments", Some(&admin), Some(&form)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let audit = audit_actions(&h).await;
    assert!(audit.iter().any(|a| a.0 == "host.enroll_approved" && a.1 == "user:root-admin (admin)"), "{audit:?}");

    // A form missing a field is a console page with the reason, not axum's plain text (issue 15, defect 8).
    let missing = request(&h, Method::POST, "/admin/enrolments", Some(&admin), Some(&format!("csrf={csrf}"))).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", missing.body);
    assert_eq!(missing.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(
        missing.body.contains("422 Unprocessable Entity") && missing.body.contains("missing field"),
        "{}",
        missing.body
    );
    let wrong = request(&h, Method::PUT, "/admin/enrolments", Some(&admin), None).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong.body.contains("405 Method Not Allowed"), "{}", wrong.body);
    assert!(wrong.headers.contains_key(header::ALLOW), "the headers of the answer are kept");
}

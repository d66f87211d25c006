//! The read API: roles, filters, pagination, not-found answers and the OpenAPI document.

use axum::http::StatusCode;
use muster_collector::model::Role;
use serde_json::json;

use crate::common::{Harness, Machine, debian, full, ubuntu};

both!(roles_guard_endpoints, host_filters_and_pages);

async fn roles_guard_endpoints(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let analyst = h.api_token(Role::Analyst).await;
    let admin = h.api_token(Role::Admin).await;
    for token in [&viewer, &analyst, &admin] {
        assert_eq!(h.get("/api/v1/hosts", token).await.0, StatusCode::OK);
    }
    for uri in ["/api/v1/admin/audit", "/api/v1/admin/enroll-secrets"] {
        for token in [&viewer, &analyst] {
            let (status, body) = h.get(uri, token).await;
            assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("insufficient_role")));
        }
        assert_eq!(h.get(uri, &admin).await.0, StatusCode::OK);
    }
    // Admins create secrets over the API too; the secret is shown once and works.
    let request = axum::http::Request::post("/api/v1/admin/enroll-secrets")
        .header("authorization", format!("Bearer {admin}"))
        .body(axum::body::Body::from(json!({ "label": "api", "expires_in": "1d" }).to_string()))
        .unwrap();
    let (status, _, created) = h.send(request).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["expires_at"], "2026-03-03T09:00:00Z");
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(h.enroll(secret, &Machine::vmware("m")).await.0, StatusCode::OK);

    // The audit log names the token that acted (id, name, role), not just a role.
    let admin_id = h.store.list_api_tokens().await.unwrap().into_iter().find(|t| t.role == Role::Admin).unwrap().id;
    let (status, audit) = h.get("/api/v1/admin/audit", &admin).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let text = audit.to_string();
    assert!(text.contains(&format!("api-token:{admin_id} (test, admin)")), "{audit}");

    let (status, body) = h.get("/api/v1/hosts", "mat_wrong").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")));
    let (status, _, body) =
        h.send(axum::http::Request::get("/api/v1/hosts").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("missing_token")));
    let tokens = h.store.list_api_tokens().await.unwrap();
    let revoked = tokens.iter().find(|t| t.role == Role::Viewer).unwrap().id.clone();
    muster_collector::app::admin::revoke_api_token(
        h.store.as_ref(),
        &muster_collector::app::admin::Actor::cli(),
        &revoked,
        h.now(),
    )
    .await
    .unwrap();
    assert_eq!(h.get("/api/v1/hosts", &viewer).await.0, StatusCode::UNAUTHORIZED);

    let (status, body) = h.get("/api/v1/hosts/nope", &admin).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    assert_eq!(h.get("/api/v1/hosts/nope/history", &admin).await.0, StatusCode::NOT_FOUND);
    let (status, body) = h.get("/api/v1/hosts?limit=0", &admin).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
    let (status, body) = h.get("/api/v1/hosts?seen_since=yesterday", &admin).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));

    let (status, _, doc) =
        h.send(axum::http::Request::get("/api/v1/openapi.json").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/agent/report"]["post"].is_object());
    assert_eq!(doc["components"]["securitySchemes"]["api_token"]["scheme"], "bearer");
    let (status, _, ready) = h.send(axum::http::Request::get("/readyz").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!((status, ready["status"].as_str()), (StatusCode::OK, Some("ready")));
}

async fn host_filters_and_pages(h: Harness) {
    let viewer = h.api_token(Role::Viewer).await;
    let (_, secret) = h.enroll_secret(None).await;
    let laptop = Machine::thinkpad("0f4c3e1d9a8b4c7d8e6f5a4b3c2d1e0f");
    let (_, laptop_token) = h.enrolled(&secret, &laptop).await;
    h.stored(&laptop_token, &full(&debian(&laptop))).await;
    h.advance(chrono::Duration::days(2));
    let vm = Machine::vmware("5e4d3c2b1a0f4e9d8c7b6a5f4e3d2c1b");
    let (_, vm_token) = h.enrolled(&secret, &vm).await;
    h.stored(&vm_token, &full(&ubuntu(&vm))).await;

    let names = |body: &serde_json::Value| -> Vec<String> {
        body["hosts"].as_array().unwrap().iter().map(|h| h["hostname"].as_str().unwrap().to_owned()).collect()
    };
    let (_, body) = h.get("/api/v1/hosts?os=ubuntu", &viewer).await;
    assert_eq!(names(&body), ["vm-noble"]);
    let (_, body) = h.get("/api/v1/hosts?os=Bookworm", &viewer).await;
    assert_eq!(names(&body), ["lab-t480s"]);
    let (_, body) = h.get("/api/v1/hosts?hostname=T480", &viewer).await;
    assert_eq!(names(&body), ["lab-t480s"]);
    let (_, body) = h.get("/api/v1/hosts?hostname=%25", &viewer).await;
    assert_eq!(names(&body), Vec::<String>::new(), "LIKE wildcards are matched literally");
    let (_, body) = h.get("/api/v1/hosts?seen_since=2026-03-03T00:00:00Z", &viewer).await;
    assert_eq!(names(&body), ["vm-noble"]);
    let (_, page1) = h.get("/api/v1/hosts?limit=1", &viewer).await;
    assert_eq!(
        (names(&page1), &page1["total"], &page1["next_offset"]),
        (vec!["lab-t480s".to_owned()], &json!(2), &json!(1))
    );
    let (_, page2) = h.get("/api/v1/hosts?limit=1&offset=1", &viewer).await;
    assert_eq!(names(&page2), ["vm-noble"]);
    assert!(page2.get("next_offset").is_none());
}

//! Webhook endpoints: registration with a secret shown once, changes,
//! secret rotation with an overlap, SSRF-refused URLs, tenant isolation.

use crate::harness::TestApp;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_webhook_is_registered_changed_rotated_and_removed() {
    let app = TestApp::new().await;
    let reply = app
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(&json!({"url": "https://hooks.example.com/in", "event_types": ["account.created", "account.created"], "description": "ops"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.body);
    let id = reply.body["webhook_id"].as_str().unwrap().to_string();
    let secret = reply.body["signing_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() == 70);
    assert_eq!(reply.body["event_types"], json!(["account.created"]));
    assert_eq!(reply.body["enabled"], true);

    // The secret is shown once: no read returns it.
    let read = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    let listed = app.get("/v1/webhooks").await;
    for text in [read.body.to_string(), listed.body.to_string()] {
        assert!(
            !text.contains(&secret) && !text.contains("secret"),
            "{text}"
        );
    }

    let reply = app
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(&json!({"enabled": false, "event_types": []})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(
        (reply.body["enabled"].clone(), reply.body["version"].clone()),
        (json!(false), json!(2))
    );
    assert_eq!(reply.body["url"], "https://hooks.example.com/in");

    let reply = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            Some(&json!({"overlap_hours": 2})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let rotated = reply.body["signing_secret"].as_str().unwrap();
    assert_ne!(rotated, secret);
    assert!(reply.body["previous_secret_expires_at"].is_string());
    // Both secrets sign during the overlap.
    let stored = app.store.get_webhook("acme", &id).await.unwrap();
    let signing = stored.signing_secrets(service::time::Timestamp::now());
    assert_eq!(signing, [rotated, secret.as_str()]);

    let reply = app
        .call(Method::DELETE, &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/v1/webhooks/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn urls_aimed_inside_are_refused_and_nothing_is_written() {
    let app = TestApp::new().await;
    for url in [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://10.0.0.1/in",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/in",
        "https://localhost/in",
        "https://user:secret@hooks.example.com/in",
    ] {
        let reply = app
            .call(Method::POST, "/v1/webhooks", Some(&json!({"url": url})))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{url}: {:#}",
            reply.body
        );
        assert_eq!(reply.body["error"]["field"], "url", "{url}");
    }
    let bad_type = app
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(&json!({"url": "https://hooks.example.com/in", "event_types": ["account.exploded"]})),
        )
        .await;
    assert_eq!(bad_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/v1/webhooks").await.body["items"], json!([]));
}

#[tokio::test]
async fn tenants_see_only_their_own_webhooks_and_need_admin() {
    let app = TestApp::new().await;
    let reply = app
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(&json!({"url": "https://hooks.example.com/in"})),
        )
        .await;
    let id = reply.body["webhook_id"].as_str().unwrap().to_string();
    let other = app.key("globex", service::api_key::Scope::ALL).await;
    let theirs = app
        .call_with(
            Method::GET,
            &format!("/v1/webhooks/{id}"),
            Some(&other),
            None,
            &[],
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let deleted = app
        .call_with(
            Method::DELETE,
            &format!("/v1/webhooks/{id}"),
            Some(&other),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND);
    let listed = app
        .call_with(Method::GET, "/v1/webhooks", Some(&other), None, &[])
        .await;
    assert_eq!(listed.body["items"], json!([]));
    let reader = app.key("acme", &[service::api_key::Scope::Read]).await;
    let refused = app
        .call_with(Method::GET, "/v1/webhooks", Some(&reader), None, &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

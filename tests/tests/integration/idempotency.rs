//! Idempotency-Key on POSTs: a retry answers the first response, another
//! request under the same key is refused, concurrent sends run once.

use crate::harness::{TestApp, TENANT};
use axum::http::{Method, StatusCode};
use model::api_key::Scope;
use serde_json::{json, Value};

async fn post(app: &TestApp, key: &str, uri: &str, body: &Value) -> crate::harness::Reply {
    app.call_with(
        Method::POST,
        uri,
        Some(&app.key.clone()),
        Some(body),
        &[("idempotency-key", key)],
    )
    .await
}

async fn account_count(app: &TestApp) -> usize {
    let listed = app.get("/v1/accounts?limit=1000").await;
    assert_eq!(listed.status, StatusCode::OK, "{:#}", listed.body);
    listed.body["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_retried_create_answers_the_first_response_and_creates_one_account() {
    let app = TestApp::new().await;
    let body = json!({"account_id": "000000000101", "name": "Payments"});
    let first = post(&app, "create-101", "/v1/accounts", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    assert_eq!(first.header("idempotent-replayed"), "");
    let again = post(&app, "create-101", "/v1/accounts", &body).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:#}", again.body);
    assert_eq!(again.body, first.body, "the same body, byte for byte");
    assert_eq!(again.header("idempotent-replayed"), "true");
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(account_count(&app).await, 1);

    // Without the key, the same request is a new one: the account exists.
    let plain = app.call(Method::POST, "/v1/accounts", Some(&body)).await;
    plain.assert_error(409, "already_exists");

    // The same key with another body is refused and writes nothing.
    let before = app.snapshot().await;
    let other = post(
        &app,
        "create-101",
        "/v1/accounts",
        &json!({"account_id": "000000000102", "name": "Other"}),
    )
    .await;
    other.assert_error(422, "idempotency_key_reused");
    // ...and so is the same body on another path.
    let elsewhere = post(&app, "create-101", "/v1/accounts/search", &json!({})).await;
    elsewhere.assert_error(422, "idempotency_key_reused");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn twenty_concurrent_sends_with_one_key_create_one_account() {
    let app = TestApp::new().await;
    let body = json!({"account_id": "000000000201", "name": "Concurrent"});
    let replies = futures::future::join_all(
        (0..20).map(|_| post(&app, "concurrent-201", "/v1/accounts", &body)),
    )
    .await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.body);
        assert_eq!(reply.body, replies[0].body);
    }
    let replayed = replies
        .iter()
        .filter(|r| r.header("idempotent-replayed") == "true")
        .count();
    assert_eq!(replayed, 19, "one ran, nineteen got its answer");
    assert_eq!(account_count(&app).await, 1);
    assert_eq!(replies[0].body["version"], 1);
}

#[tokio::test]
async fn errors_are_not_kept_so_a_corrected_retry_runs() {
    let app = TestApp::new().await;
    let bad = post(
        &app,
        "fix-me",
        "/v1/accounts",
        &json!({"account_id": "not-an-id", "name": "X"}),
    )
    .await;
    bad.assert_error(400, "invalid_value");
    // The same key, now with a good body: it runs (the error kept nothing).
    let good = post(
        &app,
        "fix-me",
        "/v1/accounts",
        &json!({"account_id": "000000000301", "name": "X"}),
    )
    .await;
    assert_eq!(good.status, StatusCode::CREATED, "{:#}", good.body);
    assert_eq!(good.header("idempotent-replayed"), "");
}

#[tokio::test]
async fn keys_are_per_api_key_and_bounded() {
    let app = TestApp::new().await;
    let other_key = app.key(TENANT, Scope::ALL).await;
    let body = json!({"account_id": "000000000401", "name": "Shared key"});
    let mine = post(&app, "shared", "/v1/accounts", &body).await;
    assert_eq!(mine.status, StatusCode::CREATED);
    // Another API key's "shared" is its own: it runs and meets the account.
    let theirs = app
        .call_with(
            Method::POST,
            "/v1/accounts",
            Some(&other_key),
            Some(&body),
            &[("idempotency-key", "shared")],
        )
        .await;
    theirs.assert_error(409, "already_exists");

    let long = "k".repeat(256);
    for bad in [long.as_str(), "has space"] {
        let reply = post(&app, bad, "/v1/accounts", &body).await;
        reply.assert_error(400, "invalid_value");
        assert_eq!(reply.field(), "Idempotency-Key");
    }
    // A stranger's key holds nothing: 401 before any key is taken.
    let before = app.snapshot().await;
    let stranger = app
        .call_with(
            Method::POST,
            "/v1/accounts",
            Some("oak_acme_01HZZZZZZZZZZZZZZZZZZZZZZZ_0000000000000000000000000000000000000000000000000000000000000000"),
            Some(&body),
            &[("idempotency-key", "stranger")],
        )
        .await;
    stranger.assert_error(401, "unauthorized");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_replayed_api_key_is_the_same_key_and_the_table_holds_it_sealed() {
    let app = TestApp::new().await;
    let body = json!({"name": "ci", "scopes": ["read"]});
    let first = post(&app, "new-ci-key", "/v1/api-keys", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    let again = post(&app, "new-ci-key", "/v1/api-keys", &body).await;
    assert_eq!(again.header("idempotent-replayed"), "true");
    let token = first.body["api_key"].as_str().unwrap();
    assert_eq!(again.body["api_key"], token, "the one key, shown again");
    let listed = app.get("/v1/api-keys").await;
    let names: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == "ci").count(), 1);
    // The key works, and no item of the table holds its secret.
    let secret = token.rsplit('_').next().unwrap();
    let snapshot = app.snapshot().await;
    assert!(snapshot
        .iter()
        .all(|item| item.values().all(|v| !v.contains(secret))));
    assert!(snapshot
        .iter()
        .any(|item| item.get("type").is_some_and(|t| t.contains("idempotency"))));
    let reply = app
        .call_with(Method::GET, "/v1/accounts", Some(token), None, &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn an_import_retried_with_its_key_imports_once() {
    let app = TestApp::new().await;
    let csv = "accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions\n000000000501,Imported,,,PROD,,us-east-1\n";
    let send = || async {
        let request = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/v1/accounts/import")
            .header("x-api-key", app.key.clone())
            .header("content-type", "text/csv")
            .header("idempotency-key", "import-1")
            .body(axum::body::Body::from(csv))
            .unwrap();
        app.send(request).await
    };
    let first = send().await;
    assert_eq!(first.status, StatusCode::OK, "{:#}", first.body);
    let again = send().await;
    assert_eq!(again.header("idempotent-replayed"), "true");
    assert_eq!(again.body, first.body);
    assert_eq!(account_count(&app).await, 1);
}

#[tokio::test]
async fn a_scan_requested_twice_with_one_key_is_queued_once() {
    let app = TestApp::with_scans().await;
    let (account, _) = crate::scans::onboard(&app, json!({"regions": ["us-east-1"]})).await;
    let uri = format!("/v1/accounts/{account}/data-sources/aws:iam/scans");
    let first = post(&app, "scan-once", &uri, &json!({})).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:#}", first.body);
    let again = post(&app, "scan-once", &uri, &json!({})).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.header("idempotent-replayed"), "true");
    assert_eq!(again.body["scan_id"], first.body["scan_id"]);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(app.drain_scan_queue().await, 1, "one job on the queue");
    let listed = app.get(&format!("/v1/accounts/{account}/scans")).await;
    assert_eq!(listed.body["scans"].as_array().unwrap().len(), 1);
}

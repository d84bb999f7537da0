//! Every error status, the one error shape, and that no rejected request writes.

use crate::harness::TestApp;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};

const ID: &str = "123456789012";

/// (body, expected code, expected field) for `POST /v1/accounts`.
fn invalid_creates() -> Vec<(Value, &'static str, &'static str)> {
    let ok = |extra: Value| {
        let mut body = json!({"account_id": "210987654321", "name": "Valid"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    vec![
        (json!({"name": "No id"}), "missing_field", "account_id"),
        (
            json!({"account_id": "210987654321"}),
            "missing_field",
            "name",
        ),
        (
            json!({"account_id": 210987654321u64, "name": "n"}),
            "invalid_type",
            "account_id",
        ),
        (
            ok(json!({"account_id": "12345"})),
            "invalid_value",
            "account_id",
        ),
        (
            ok(json!({"account_id": "12345678901a"})),
            "invalid_value",
            "account_id",
        ),
        (ok(json!({"name": ""})), "invalid_value", "name"),
        (
            ok(json!({"name": "x".repeat(129)})),
            "invalid_value",
            "name",
        ),
        (ok(json!({"name": 7})), "invalid_type", "name"),
        (ok(json!({"owner_name": ""})), "invalid_value", "owner_name"),
        (
            ok(json!({"owner_email": "not-an-email"})),
            "invalid_value",
            "owner_email",
        ),
        (
            ok(json!({"environment": "QA"})),
            "invalid_value",
            "environment",
        ),
        (
            ok(json!({"regions": ["us-east-1", "mars-north-1"]})),
            "invalid_value",
            "regions[1]",
        ),
        (
            ok(json!({"regions": ["us-east-1", "us-east-1"]})),
            "invalid_value",
            "regions[1]",
        ),
        (
            ok(json!({"regions": "us-east-1"})),
            "invalid_type",
            "regions",
        ),
        (
            ok(json!({"role_arn": "arn:aws:iam::210987654321:user/bob"})),
            "invalid_value",
            "role_arn",
        ),
        (
            ok(json!({"role_arn": "arn:aws:iam::999999999999:role/Audit"})),
            "invalid_value",
            "role_arn",
        ),
        (
            ok(json!({"role_arn": "arn:aws-iso:iam::210987654321:role/Audit"})),
            "invalid_value",
            "role_arn",
        ),
        (
            ok(json!({"region_ignore_list": ["nowhere-1"]})),
            "invalid_value",
            "region_ignore_list[0]",
        ),
        (
            ok(json!({"resource_type_ignore_list": ["S3 buckets"]})),
            "invalid_value",
            "resource_type_ignore_list[0]",
        ),
        (
            ok(json!({"resource_regex_ignore_list": ["ok", "(unclosed"]})),
            "invalid_value",
            "resource_regex_ignore_list[1]",
        ),
        (
            ok(json!({"parent_account_id": "abc"})),
            "invalid_value",
            "parent_account_id",
        ),
        (
            ok(json!({"parent_account_id": "210987654321"})),
            "invalid_value",
            "parent_account_id",
        ),
        (
            ok(json!({"labels": {"team": 5}})),
            "invalid_type",
            "labels.team",
        ),
        (
            // (An empty value is a bare-key label now; too long is not.)
            ok(json!({"labels": {"team": "x".repeat(257)}})),
            "invalid_value",
            "labels.team",
        ),
        (
            ok(json!({"external_id": "mine"})),
            "read_only_field",
            "external_id",
        ),
        (
            ok(json!({"credential": {"verification_status": "SUCCESS"}})),
            "read_only_field",
            "credential",
        ),
        (ok(json!({"version": 3})), "read_only_field", "version"),
        (ok(json!({"nickname": "x"})), "unknown_field", "nickname"),
    ]
}

#[tokio::test]
async fn invalid_bodies_name_the_field_and_write_nothing() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let before = app.snapshot().await;
    for (body, code, field) in invalid_creates() {
        let reply = app.call(Method::POST, "/v1/accounts", Some(&body)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body} → {:#}",
            reply.body
        );
        assert_eq!(reply.code(), code, "{body} → {:#}", reply.body);
        assert_eq!(reply.field(), field, "{body} → {:#}", reply.body);
    }
    assert_eq!(app.snapshot().await, before, "no 400 writes anything");
}

#[tokio::test]
async fn malformed_json_media_type_and_size() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    let key = app.key.clone();
    let raw = |content_type: Option<&str>, body: Body| {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri("/v1/accounts")
            .header("x-api-key", &key);
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        builder.body(body).unwrap()
    };
    app.send(raw(
        Some("application/json"),
        Body::from("{\"account_id\": "),
    ))
    .await
    .assert_error(400, "invalid_json");
    app.send(raw(Some("application/json"), Body::from("[1, 2]")))
        .await
        .assert_error(400, "invalid_body");
    app.send(raw(None, Body::from("{}")))
        .await
        .assert_error(415, "unsupported_media_type");
    app.send(raw(Some("text/csv"), Body::from("a,b")))
        .await
        .assert_error(415, "unsupported_media_type");
    let big = format!(
        "{{\"account_id\": \"{ID}\", \"name\": \"{}\"}}",
        "x".repeat(1 << 20)
    );
    app.send(raw(Some("application/json"), Body::from(big)))
        .await
        .assert_error(413, "payload_too_large");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = TestApp::new().await;
    app.get("/v1/nothing-here")
        .await
        .assert_error(404, "not_found");
    app.call(
        Method::POST,
        &format!("/v1/accounts/{ID}"),
        Some(&json!({})),
    )
    .await
    .assert_error(405, "method_not_allowed");
    app.get("/v1/accounts/not-an-id")
        .await
        .assert_error(400, "invalid_value");
}

#[tokio::test]
async fn datastore_failures_are_500_without_internals() {
    let app = TestApp::new().await;
    // Same keys, but a table that does not exist: every store call fails.
    let broken = api::router(api::AppState::new(
        service::aws::store::Store::new(app.dynamodb.clone(), "no-such-table-for-this-test"),
        app.state.verifier.clone(),
        crate::harness::test_settings(),
    ));
    let request = Request::builder()
        .uri("/v1/accounts")
        .header("x-api-key", &app.key)
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(broken, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "internal");
    let text = body.to_string();
    for leak in ["no-such-table", "ResourceNotFound", "dynamodb", "127.0.0.1"] {
        assert!(
            !text.to_lowercase().contains(&leak.to_lowercase()),
            "{leak} leaked: {text}"
        );
    }
}

#[tokio::test]
async fn every_error_has_the_one_shape() {
    let app = TestApp::new().await;
    let replies = [
        app.call_with(Method::GET, "/v1/accounts", None, None, &[])
            .await,
        app.get("/v1/accounts?limit=0").await,
        app.get(&format!("/v1/accounts/{ID}")).await,
        app.get("/v1/unknown").await,
    ];
    for reply in replies {
        let error = reply.body["error"].as_object().expect("error object");
        assert!(
            error
                .keys()
                .all(|k| ["code", "message", "field"].contains(&k.as_str())),
            "{error:?}"
        );
        assert!(error["code"].is_string() && error["message"].is_string());
        assert_eq!(reply.body.as_object().unwrap().len(), 1);
        assert!(reply.header("content-type").starts_with("application/json"));
    }
}

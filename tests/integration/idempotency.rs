//! Idempotency-Key on POSTs: a retry answers the first response, another
//! request under the same key is refused, concurrent sends run once.

use crate::harness::{TestApp, TENANT};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use service::api_key::Scope;

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
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}

/// Issue 25 #4: an Idempotency-Key changes nothing about who may do what,
/// how often and with how large a body: the key's scope, its rate and the
/// body limit come first, replays and waiters included.
#[tokio::test]
async fn an_idempotency_key_bypasses_no_scope_rate_or_body_limit() {
    let app = TestApp::new().await;
    // Scope before anything is buffered or taken: a read key's 5 MiB body
    // is a 403, as without the header.
    let reader = app.key(TENANT, &[Scope::Read]).await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(5 << 20));
    for headers in [&[("idempotency-key", "big")][..], &[][..]] {
        let mut all = vec![
            ("content-type", "application/json"),
            ("x-api-key", reader.as_str()),
        ];
        all.extend_from_slice(headers);
        let request = all
            .iter()
            .fold(
                axum::http::Request::builder()
                    .method(Method::POST)
                    .uri("/v1/accounts"),
                |builder, (name, value)| builder.header(*name, *value),
            )
            .body(axum::body::Body::from(big.clone()))
            .unwrap();
        app.send(request).await.assert_error(403, "forbidden");
    }
    // The JSON limit, with or without the header (it was 10 MiB with it).
    let two_mib = json!({"account_id": "000000000301", "name": "x".repeat(2 << 20)});
    post(&app, "too-big", "/v1/accounts", &two_mib)
        .await
        .assert_error(413, "payload_too_large");
    app.call(Method::POST, "/v1/accounts", Some(&two_mib))
        .await
        .assert_error(413, "payload_too_large");

    // The content type is part of the request: a text/plain retry is a
    // 415, not the JSON request's replay.
    let body = json!({"account_id": "000000000302", "name": "Typed"});
    let first = post(&app, "typed", "/v1/accounts", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    let plain = app
        .call_with(
            Method::POST,
            "/v1/accounts",
            Some(&app.key.clone()),
            Some(&body),
            &[("idempotency-key", "typed"), ("content-type", "text/plain")],
        )
        .await;
    plain.assert_error(415, "unsupported_media_type");
    let malformed = app
        .call_with(
            Method::POST,
            "/v1/accounts",
            Some(&app.key.clone()),
            Some(&json!({"account_id": "000000000303", "name": "M"})),
            &[("content-type", "application/json;;;;=;")],
        )
        .await;
    malformed.assert_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn replays_count_against_the_keys_rate() {
    let mut app = TestApp::new().await;
    app.reconfigure(|state| {
        state.with_key_rate(Some(api::rate_limit::KeyRate {
            per_second: std::num::NonZeroU32::new(1).unwrap(),
            burst: std::num::NonZeroU32::new(3).unwrap(),
        }))
    });
    let body = json!({"account_id": "000000000401", "name": "Once"});
    let first = post(&app, "rate", "/v1/accounts", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    let started = std::time::Instant::now();
    let replies =
        futures::future::join_all((0..30).map(|_| post(&app, "rate", "/v1/accounts", &body))).await;
    let served = replies
        .iter()
        .filter(|reply| reply.status == StatusCode::CREATED)
        .count();
    let limited = replies
        .iter()
        .filter(|reply| reply.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // The burst, and one a second beyond it: never all 30.
    let allowed = 3 + started.elapsed().as_secs() as usize + 1;
    assert!(
        served <= allowed,
        "{served} replays served, at most {allowed} allowed"
    );
    assert_eq!(served + limited, 30);
}

/// Failed authentications are limited per key id (and source): once the
/// allowance is spent, a wrong secret is a 429 before any read.
#[tokio::test]
async fn failed_authentications_are_limited() {
    let app = TestApp::new().await;
    let mut wrong = app.key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    let mut statuses = Vec::new();
    for _ in 0..13 {
        let reply = app
            .call_with(Method::GET, "/v1/accounts", Some(&wrong), None, &[])
            .await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(&statuses[..11], &[401; 11], "{statuses:?}");
    assert_eq!(&statuses[11..], &[429, 429], "{statuses:?}");
}

/// The idempotency layer's table of POST scopes is the handlers': for
/// every POST route and a key of each one scope, the header changes
/// whether the answer is a 403 in no case.
#[tokio::test]
async fn every_post_route_needs_the_same_scope_with_an_idempotency_key() {
    let app = TestApp::new().await;
    let spec = app.get("/v1/openapi.json").await.body;
    let ulid = "01JD0000000000000000000000";
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        if item.get("post").is_none() || path.starts_with("/v1/scans/") {
            continue;
        }
        let uri = path
            .replace("{account_id}", "123456789012")
            .replace("{data_source}", "aws:iam")
            .replace(
                "{delivery_id}",
                "dlv_20261123160102_0123456789abcdef0123456789abcdef",
            )
            .replace("{organization_id}", ulid)
            .replace("{webhook_id}", ulid);
        for scope in [Scope::Read, Scope::Write, Scope::Execute, Scope::Admin] {
            let key = app.key(TENANT, &[scope]).await;
            let plain = app
                .call_with(Method::POST, &uri, Some(&key), Some(&json!({})), &[])
                .await;
            let keyed = app
                .call_with(
                    Method::POST,
                    &uri,
                    Some(&key),
                    Some(&json!({})),
                    &[("idempotency-key", &format!("{path}-{scope:?}"))],
                )
                .await;
            assert_eq!(
                plain.status == StatusCode::FORBIDDEN,
                keyed.status == StatusCode::FORBIDDEN,
                "{path} with {scope:?}: {} without the header, {} with it",
                plain.status,
                keyed.status
            );
            checked += 1;
            // Revoked once used: a tenant has at most 100 live keys.
            let key_id = key.split('_').nth(2).unwrap();
            app.store
                .revoke_api_key(TENANT, key_id, "test", service::time::Timestamp::now())
                .await
                .unwrap();
        }
    }
    assert!(checked >= 80, "{checked}");
}

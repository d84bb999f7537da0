//! The audit log, fed by DynamoDB Local's real stream through the same
//! code the notifier Lambda runs.

use crate::harness::TestApp;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

/// Read everything the stream holds now and record it, as the notifier
/// does; returns how many changes were read.
pub async fn drain_stream(app: &TestApp) -> usize {
    let changes = read_stream(app).await;
    let notify = service::usecases::notify::Notify {
        store: app.store.clone(),
        retention_days: 400,
        bus: None,
        deliveries: None,
    };
    notify.handle(&changes).await.expect("record");
    changes.len()
}

/// Every change the table's stream holds, from its start.
pub async fn read_stream(app: &TestApp) -> Vec<service::aws::changes::Change> {
    let streams = aws_sdk_dynamodbstreams::Client::new(&app.sdk_config);
    let mut reader = testkit::stream::StreamReader::open(&app.dynamodb, streams, &app.table)
        .await
        .expect("the table's stream");
    reader.poll_until_quiet().await.expect("GetRecords")
}

fn types(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_change_is_one_audit_event_even_when_the_stream_is_read_twice() {
    let app = TestApp::new().await;
    app.create("123456789012", json!({})).await;
    let reply = app
        .call(
            Method::PATCH,
            "/v1/accounts/123456789012",
            Some(&json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/123456789012/external-id/rotate",
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert!(drain_stream(&app).await >= 3);
    // The whole stream again, as a redelivered batch would: nothing new.
    drain_stream(&app).await;

    let page = app.get("/v1/audit-events?account_id=123456789012").await;
    assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
    assert_eq!(
        types(&page.body),
        [
            "external_id.rotation_started",
            "account.updated",
            "account.created"
        ],
        "{:#}",
        page.body
    );
    let updated = &page.body["items"][1];
    assert_eq!(updated["data"]["changed"], json!(["name"]));
    assert_eq!(updated["data"]["after"]["name"], "Renamed");
    assert!(
        updated["actor"].as_str().unwrap().len() == 26,
        "an API key id"
    );
    // No external ID anywhere in the log.
    let account = app.get("/v1/accounts/123456789012").await.body;
    let text = page.body.to_string();
    assert!(!text.contains(account["external_id"].as_str().unwrap()));
    assert!(!text.contains(account["pending_external_id"].as_str().unwrap()));
    let everything = app.get("/v1/audit-events").await.body.to_string();
    assert!(everything.contains("api_key.created"), "{everything}");
    assert!(!everything.contains("secret_hash") && !everything.contains(&app.key));

    // Filters and paging.
    let created = app.get("/v1/audit-events?type=account.created").await.body;
    assert_eq!(types(&created), ["account.created"]);
    let first = app.get("/v1/audit-events?limit=1").await.body;
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("/v1/audit-events?limit=1&cursor={cursor}"))
        .await
        .body;
    assert_ne!(second["items"][0]["id"], first["items"][0]["id"]);
    let long_actor = app
        .get(&format!("/v1/audit-events?actor={}", "a".repeat(129)))
        .await;
    assert_eq!(long_actor.status, StatusCode::BAD_REQUEST);
    assert_eq!(long_actor.body["error"]["field"], "actor");
    let bad = app.get("/v1/audit-events?type=account.exploded").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["field"], "type");
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_audit_events() {
    let app = TestApp::new().await;
    app.create("123456789012", json!({})).await;
    drain_stream(&app).await;
    let other = app.key("globex", service::api_key::Scope::ALL).await;
    let reply = app
        .call_with(Method::GET, "/v1/audit-events", Some(&other), None, &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(reply.body["items"], json!([]));
    let mine = app.get("/v1/audit-events").await.body;
    assert!(types(&mine).contains(&"account.created".to_string()));
}

/// An event names the API request that made the change (its
/// `x-request-id`) and the key that made it, also for changes that do not
/// rewrite the whole account (archiving, a rotation); changes the service
/// makes itself name no request.
#[tokio::test]
async fn events_name_the_request_and_the_key_that_made_the_change() {
    let app = TestApp::new().await;
    let other_key = app
        .key(crate::harness::TENANT, service::api_key::Scope::ALL)
        .await;
    let created = app
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&json!({"account_id": "123456789012", "name": "Payments"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let archived = app
        .call_with(
            Method::POST,
            "/v1/accounts/123456789012/archive",
            Some(&other_key),
            None,
            &[],
        )
        .await;
    assert_eq!(archived.status, StatusCode::OK, "{:#}", archived.body);
    drain_stream(&app).await;
    let page = app
        .get("/v1/audit-events?account_id=123456789012")
        .await
        .body;
    let event = |kind: &str| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == kind)
            .unwrap_or_else(|| panic!("{kind} in {page:#}"))
            .clone()
    };
    let (created_event, archived_event) = (event("account.created"), event("account.archived"));
    assert_eq!(created_event["request_id"], created.header("x-request-id"));
    assert_eq!(
        archived_event["request_id"],
        archived.header("x-request-id")
    );
    assert_ne!(
        created.header("x-request-id"),
        archived.header("x-request-id")
    );
    assert_ne!(
        created_event["actor"], archived_event["actor"],
        "the archiving key, not the creating one"
    );
    // The admin key's own creation (written outside any request) names none.
    let keys = app.get("/v1/audit-events?type=api_key.created").await.body;
    assert!(keys["items"][0].get("request_id").is_none(), "{keys:#}");
}

/// Issue 25 #5: each event type is read with the scope of the resource it
/// describes (API keys and webhooks: admin), webhook URLs show their
/// origin only, for everyone; #12: a PATCH that changes nothing is no event.
#[tokio::test]
async fn the_audit_log_shows_each_event_to_the_scope_of_its_resource() {
    let app = TestApp::new().await;
    app.create("123456789012", json!({})).await;
    let hook = app
        .call(
            Method::POST,
            "/v1/webhooks",
            Some(&json!({"url": "https://chat.example.com/services/T000/B000/XXXXSECRET?token=abc", "event_types": ["account.created"]})),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{:#}", hook.body);
    let hook_id = hook.body["webhook_id"].as_str().unwrap();
    let unchanged = app
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{hook_id}"),
            Some(&json!({"url": null})),
        )
        .await;
    assert_eq!(unchanged.status, StatusCode::OK, "{:#}", unchanged.body);
    let reader = app
        .key(crate::harness::TENANT, &[service::api_key::Scope::Read])
        .await;
    drain_stream(&app).await;

    let read = app
        .call_with(Method::GET, "/v1/audit-events", Some(&reader), None, &[])
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.body);
    assert_eq!(types(&read.body), ["account.created"]);
    let asked = app
        .call_with(
            Method::GET,
            "/v1/audit-events?type=webhook.created",
            Some(&reader),
            None,
            &[],
        )
        .await;
    asked.assert_error(403, "forbidden");

    let admin = app.get("/v1/audit-events").await.body;
    let mut seen = types(&admin);
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        ["account.created", "api_key.created", "webhook.created"],
        "no webhook.updated for a PATCH that changed nothing"
    );
    let text = admin.to_string();
    assert!(
        !text.contains("XXXXSECRET") && !text.contains("token=abc"),
        "{text}"
    );
    assert!(text.contains("https://chat.example.com/…"), "{text}");
}

//! Create, read, replace, patch and delete; conditional writes and races.

use crate::harness::TestApp;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

const ID: &str = "123456789012";

#[tokio::test]
async fn create_returns_the_account_with_server_fields() {
    let app = TestApp::new().await;
    let body = json!({
        "account_id": ID, "name": "Payments prod", "owner_name": "Payments team",
        "owner_email": "payments@example.com", "environment": "PROD",
        "regions": ["us-east-1", "eu-west-1"],
        "role_arn": format!("arn:aws:iam::{ID}:role/VendorAudit"),
        "region_ignore_list": ["ap-south-1"], "resource_type_ignore_list": ["AWS.S3.Bucket"],
        "resource_regex_ignore_list": ["^arn:aws:s3:::tmp-.*"], "parent_account_id": "210987654321",
        "labels": {"team": "payments"}
    });
    let reply = app.call(Method::POST, "/v1/accounts", Some(&body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.body);
    assert_eq!(reply.header("location"), format!("/v1/accounts/{ID}"));
    assert_eq!(reply.header("etag"), "\"1\"");
    let account = &reply.body;
    for field in [
        "name",
        "owner_name",
        "owner_email",
        "environment",
        "regions",
        "role_arn",
        "region_ignore_list",
        "resource_type_ignore_list",
        "resource_regex_ignore_list",
        "parent_account_id",
        "labels",
    ] {
        assert_eq!(account[field], body[field], "{field}");
    }
    let external_id = account["external_id"].as_str().unwrap();
    assert_eq!(external_id.len(), 40);
    assert!(external_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(account["credential"]["verification_status"], "NOT_STARTED");
    assert_eq!(account["version"], 1);
    let key_id = app.key.split('_').nth(2).unwrap();
    assert_eq!(account["created_by"], key_id);
    assert_eq!(account["updated_by"], key_id);
    assert_eq!(account["created_at"], account["updated_at"]);

    // Reading it back gives the same document and ETag.
    let read = app.get(&format!("/v1/accounts/{ID}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, reply.body);
    assert_eq!(read.header("etag"), "\"1\"");
}

#[tokio::test]
async fn external_ids_differ_between_accounts() {
    let app = TestApp::new().await;
    let a = app.create("000000000001", json!({})).await;
    let b = app.create("000000000002", json!({})).await;
    assert_ne!(a["external_id"], b["external_id"]);
}

#[tokio::test]
async fn duplicate_is_409_in_one_tenant_and_allowed_in_another() {
    let app = TestApp::new().await;
    let first = app.create(ID, json!({})).await;
    let before = app.snapshot().await;
    let again = app
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&json!({"account_id": ID, "name": "Other"})),
        )
        .await;
    again.assert_error(409, "already_exists");
    assert_eq!(app.snapshot().await, before, "a 409 must write nothing");

    let other = app.key("globex", service::api_key::Scope::ALL).await;
    let reply = app
        .call_with(
            Method::POST,
            "/v1/accounts",
            Some(&other),
            Some(&json!({"account_id": ID, "name": "Globex"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_ne!(reply.body["external_id"], first["external_id"]);
}

#[tokio::test]
async fn conditional_get_answers_304() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let uri = format!("/v1/accounts/{ID}");
    let key = app.key.clone();
    let unchanged = app
        .call_with(
            Method::GET,
            &uri,
            Some(&key),
            None,
            &[("if-none-match", "\"1\"")],
        )
        .await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    let changed = app
        .call_with(
            Method::GET,
            &uri,
            Some(&key),
            None,
            &[("if-none-match", "\"7\"")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
}

#[tokio::test]
async fn put_replaces_mutable_fields_and_clears_absent_ones() {
    let app = TestApp::new().await;
    let created = app
        .create(ID, json!({"owner_name": "Ops", "environment": "DEV", "labels": {"a": "1"}, "regions": ["us-east-1"]}))
        .await;
    let uri = format!("/v1/accounts/{ID}");
    let reply = app
        .call(
            Method::PUT,
            &uri,
            Some(&json!({"name": "Renamed", "environment": "PROD"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let account = &reply.body;
    assert_eq!(account["name"], "Renamed");
    assert_eq!(account["environment"], "PROD");
    assert!(
        account.get("owner_name").is_none(),
        "absent optional fields are cleared"
    );
    assert_eq!(account["labels"], json!({}));
    assert_eq!(account["regions"], json!([]));
    assert_eq!(account["version"], 2);
    assert_eq!(reply.header("etag"), "\"2\"");
    // Server-managed fields survive a replace.
    assert_eq!(account["external_id"], created["external_id"]);
    assert_eq!(account["created_at"], created["created_at"]);
    assert_eq!(
        account["credential"]["verification_status"],
        created["credential"]["verification_status"]
    );
    // No role_arn given: the role the onboarding page creates, as before.
    assert_eq!(account["role_arn"], created["role_arn"]);
    assert_eq!(
        account["role_arn"],
        format!("arn:aws:iam::{ID}:role/AccountOnboardingAudit")
    );
    assert!(account["updated_at"].as_str() >= created["updated_at"].as_str());
    assert_eq!(app.get(&uri).await.body, reply.body);
}

#[tokio::test]
async fn put_accepts_echoed_ids_but_refuses_changes() {
    let app = TestApp::new().await;
    let created = app.create(ID, json!({})).await;
    let uri = format!("/v1/accounts/{ID}");
    let echoed =
        json!({"account_id": ID, "external_id": created["external_id"], "name": "Same ids"});
    assert_eq!(
        app.call(Method::PUT, &uri, Some(&echoed)).await.status,
        StatusCode::OK
    );

    let before = app.snapshot().await;
    let moved = app
        .call(
            Method::PUT,
            &uri,
            Some(&json!({"account_id": "999999999999", "name": "x"})),
        )
        .await;
    moved.assert_error(400, "immutable_field");
    assert_eq!(moved.field(), "account_id");
    let rekeyed = app
        .call(
            Method::PUT,
            &uri,
            Some(&json!({"external_id": "chosen-by-me", "name": "x"})),
        )
        .await;
    rekeyed.assert_error(400, "immutable_field");
    assert_eq!(rekeyed.field(), "external_id");
    let versioned = app
        .call(Method::PUT, &uri, Some(&json!({"version": 9, "name": "x"})))
        .await;
    versioned.assert_error(400, "read_only_field");
    assert_eq!(versioned.field(), "version");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn patch_merges_and_null_removes() {
    let app = TestApp::new().await;
    app.create(
        ID,
        json!({"owner_name": "Ops", "labels": {"a": "1", "b": "2"}, "regions": ["us-east-1"]}),
    )
    .await;
    let uri = format!("/v1/accounts/{ID}");
    let key = app.key.clone();
    let patch = json!({"owner_name": null, "labels": {"a": null, "c": "3"}, "environment": "TEST"});
    let reply = app
        .call_with(
            Method::PATCH,
            &uri,
            Some(&key),
            Some(&patch),
            &[("content-type", "application/merge-patch+json")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert!(reply.body.get("owner_name").is_none());
    assert_eq!(reply.body["labels"], json!({"b": "2", "c": "3"}));
    assert_eq!(reply.body["environment"], "TEST");
    assert_eq!(
        reply.body["regions"],
        json!(["us-east-1"]),
        "untouched fields stay"
    );
    assert_eq!(reply.body["version"], 2);

    // Plain application/json is accepted too.
    let reply = app
        .call(Method::PATCH, &uri, Some(&json!({"name": "Json patch"})))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["name"], "Json patch");
}

#[tokio::test]
async fn patch_validates_the_merged_result() {
    let app = TestApp::new().await;
    app.create(ID, json!({"regions": ["us-east-1"]})).await;
    let uri = format!("/v1/accounts/{ID}");
    let before = app.snapshot().await;
    // A role in another partition than the stored regions.
    let reply = app
        .call(
            Method::PATCH,
            &uri,
            Some(&json!({"role_arn": format!("arn:aws-cn:iam::{ID}:role/R")})),
        )
        .await;
    reply.assert_error(400, "invalid_value");
    assert_eq!(reply.field(), "role_arn");
    let reply = app
        .call(Method::PATCH, &uri, Some(&json!({"name": null})))
        .await;
    reply.assert_error(400, "missing_field");
    assert_eq!(reply.field(), "name");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn stale_if_match_is_412_and_writes_nothing() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let uri = format!("/v1/accounts/{ID}");
    let key = app.key.clone();
    let first = app
        .call_with(
            Method::PATCH,
            &uri,
            Some(&key),
            Some(&json!({"name": "v2"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("etag"), "\"2\"");

    let before = app.snapshot().await;
    for method in [Method::PATCH, Method::PUT] {
        let stale = app
            .call_with(
                method.clone(),
                &uri,
                Some(&key),
                Some(&json!({"name": "lost"})),
                &[("if-match", "\"1\"")],
            )
            .await;
        stale.assert_error(412, "precondition_failed");
    }
    let weak = app
        .call_with(
            Method::PUT,
            &uri,
            Some(&key),
            Some(&json!({"name": "lost"})),
            &[("if-match", "W/\"2\"")],
        )
        .await;
    weak.assert_error(412, "precondition_failed");
    let stale_delete = app
        .call_with(
            Method::DELETE,
            &uri,
            Some(&key),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
    stale_delete.assert_error(412, "precondition_failed");
    let garbage = app
        .call_with(
            Method::PUT,
            &uri,
            Some(&key),
            Some(&json!({"name": "lost"})),
            &[("if-match", "version two")],
        )
        .await;
    garbage.assert_error(400, "invalid_header");
    assert_eq!(app.snapshot().await, before, "412 and 400 write nothing");
    assert_eq!(app.get(&uri).await.body["name"], "v2");

    let current = app
        .call_with(
            Method::PUT,
            &uri,
            Some(&key),
            Some(&json!({"name": "v3"})),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(current.status, StatusCode::OK);
    let any = app
        .call_with(
            Method::PUT,
            &uri,
            Some(&key),
            Some(&json!({"name": "v4"})),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(any.status, StatusCode::OK);
    assert_eq!(any.body["version"], 4);
}

#[tokio::test]
async fn concurrent_patches_without_if_match_lose_nothing() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let uri = format!("/v1/accounts/{ID}");
    let writers = 12;
    let replies = futures::future::join_all((0..writers).map(|i| {
        let patch = json!({"labels": {format!("writer-{i}"): "done"}});
        let uri = uri.clone();
        let app = &app;
        async move { app.call(Method::PATCH, &uri, Some(&patch)).await }
    }))
    .await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    }
    let account = app.get(&uri).await.body;
    let labels = account["labels"].as_object().unwrap();
    assert_eq!(
        labels.len(),
        writers,
        "every concurrent patch survives: {labels:?}"
    );
    assert_eq!(account["version"], writers as u64 + 1);
}

#[tokio::test]
async fn concurrent_puts_with_one_etag_let_exactly_one_win() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let uri = format!("/v1/accounts/{ID}");
    let key = app.key.clone();
    let replies = futures::future::join_all((0..8).map(|i| {
        let body = json!({"name": format!("writer {i}")});
        let (uri, key, app) = (uri.clone(), key.clone(), &app);
        async move {
            app.call_with(
                Method::PUT,
                &uri,
                Some(&key),
                Some(&body),
                &[("if-match", "\"1\"")],
            )
            .await
        }
    }))
    .await;
    let winners: Vec<&Value> = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .map(|r| &r.body)
        .collect();
    let losers = replies
        .iter()
        .filter(|r| r.status == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!(winners.len(), 1);
    assert_eq!(losers, 7);
    let stored = app.get(&uri).await.body;
    assert_eq!(stored["name"], winners[0]["name"]);
    assert_eq!(stored["version"], 2);
}

#[tokio::test]
async fn delete_then_404() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let uri = format!("/v1/accounts/{ID}");
    let key = app.key.clone();
    let deleted = app
        .call_with(
            Method::DELETE,
            &uri,
            Some(&key),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.body, Value::Null);
    app.get(&uri).await.assert_error(404, "not_found");
    app.call(Method::DELETE, &uri, None)
        .await
        .assert_error(404, "not_found");
    app.call(Method::PUT, &uri, Some(&json!({"name": "x"})))
        .await
        .assert_error(404, "not_found");
    app.call(Method::PATCH, &uri, Some(&json!({"name": "x"})))
        .await
        .assert_error(404, "not_found");
    // Deleting frees the id for a new registration, with a new external ID.
    app.create(ID, json!({})).await;
}

/// RFC 9110: a well-formed tag that does not match is a 412 (not a 400),
/// a list matches if any of its tags does, and only a malformed header is
/// a 400.
#[tokio::test]
async fn if_match_takes_any_well_formed_list_of_entity_tags() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let uri = format!("/v1/accounts/{ID}");
    let key = app.key.clone();
    let put = |tag: &'static str, name: &'static str| {
        let (app, uri, key) = (&app, uri.clone(), key.clone());
        async move {
            app.call_with(
                Method::PUT,
                &uri,
                Some(&key),
                Some(&json!({"name": name})),
                &[("if-match", tag)],
            )
            .await
        }
    };
    let before = app.snapshot().await;
    put("\"stale-etag\"", "x")
        .await
        .assert_error(412, "precondition_failed");
    put("\"7\", \"8\"", "x")
        .await
        .assert_error(412, "precondition_failed");
    put("W/\"1\"", "x")
        .await
        .assert_error(412, "precondition_failed");
    for malformed in ["stale-etag", "\"1", "\"1\" \"2\"", ","] {
        put(malformed, "x")
            .await
            .assert_error(400, "invalid_header");
    }
    assert_eq!(app.snapshot().await, before, "nothing written");
    let listed = put("\"7\", \"1\", W/\"9\"", "v2").await;
    assert_eq!(listed.status, StatusCode::OK, "{:#}", listed.body);
    assert_eq!(listed.body["version"], 2);
    let single = put("\"2\"", "v3").await;
    assert_eq!(single.body["version"], 3);
}

/// A body with several mistakes gets them all in one answer (the first as
/// the error, every one in details), and a CSV row the same, per column.
#[tokio::test]
async fn every_problem_of_a_body_or_a_csv_row_is_reported_at_once() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&json!({
                "account_id": ID,
                "name": "",
                "owner_email": "not an address",
                "regions": ["mars-north-1"],
                "parent_account_id": ID,
            })),
        )
        .await;
    reply.assert_error(400, "invalid_value");
    let fields: Vec<&str> = reply.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|problem| problem["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["name", "owner_email", "regions[0]", "parent_account_id"],
        "{:#}",
        reply.body
    );
    assert_eq!(reply.body["error"]["field"], "name");
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("and 3 more problems"));
    assert_eq!(app.snapshot().await, before, "nothing written");

    let file = "accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions\n123456789012,,Ops,nope,PROD,,mars-north-1\n";
    let reply = crate::csv::import(&app, "all_or_nothing", file).await;
    let columns: Vec<&str> = reply.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|problem| problem["column"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["accountName", "accountOwnerEmail", "regions"],
        "{:#}",
        reply.body
    );
}

//! Linked accounts (payer and members) and archiving.

use crate::harness::{trust_external_ids, TestApp};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use service::time::Timestamp;
use std::time::{Duration, Instant};

const PAYER: &str = "900000000000";

fn ids(page: &Value, key: &str) -> Vec<String> {
    page[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap().to_string())
        .collect()
}

async fn payer_with_members(app: &TestApp, members: usize) -> Vec<String> {
    app.create(PAYER, json!({"name": "Payer"})).await;
    let mut ids = Vec::new();
    for i in 0..members {
        let id = format!("9000000001{i:02}");
        app.create(&id, json!({"parent_account_id": PAYER})).await;
        ids.push(id);
    }
    // Not linked: must never show up.
    app.create("800000000000", json!({"parent_account_id": "800000000001"}))
        .await;
    app.create("800000000002", json!({})).await;
    ids
}

#[tokio::test]
async fn linked_accounts_are_embedded_and_paged() {
    let app = TestApp::new().await;
    let members = payer_with_members(&app, 5).await;
    let reply = app
        .get(&format!("/v1/accounts/{PAYER}?include=linked_accounts"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(ids(&reply.body, "linked_accounts"), members);
    assert!(reply.body["linked_accounts_next_cursor"].is_null());
    assert_eq!(reply.header("etag"), "\"1\"");
    // Without include, nothing is embedded.
    assert!(app
        .get(&format!("/v1/accounts/{PAYER}"))
        .await
        .body
        .get("linked_accounts")
        .is_none());
    app.get(&format!("/v1/accounts/{PAYER}?include=everything"))
        .await
        .assert_error(400, "invalid_value");

    let mut seen = Vec::new();
    let mut uri = format!("/v1/accounts/{PAYER}/linked-accounts?limit=2");
    loop {
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
        assert!(page.body["items"].as_array().unwrap().len() <= 2);
        seen.extend(ids(&page.body, "items"));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                uri = format!("/v1/accounts/{PAYER}/linked-accounts?limit=2&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen, members);
    app.get("/v1/accounts/999999999999/linked-accounts")
        .await
        .assert_error(404, "not_found");
    app.get(&format!("/v1/accounts/{PAYER}/linked-accounts?cursor=zzz"))
        .await
        .assert_error(400, "invalid_cursor");

    // Re-parenting moves a member out; clearing the parent too.
    app.call(
        Method::PATCH,
        &format!("/v1/accounts/{}", members[0]),
        Some(&json!({"parent_account_id": "800000000001"})),
    )
    .await;
    app.call(
        Method::PATCH,
        &format!("/v1/accounts/{}", members[1]),
        Some(&json!({"parent_account_id": null})),
    )
    .await;
    let page = app
        .get(&format!("/v1/accounts/{PAYER}/linked-accounts"))
        .await;
    assert_eq!(ids(&page.body, "items"), members[2..].to_vec());
}

#[tokio::test]
async fn a_parent_with_members_is_deleted_only_with_cascade() {
    let app = TestApp::new().await;
    let members = payer_with_members(&app, 3).await;
    let before = app.snapshot().await;
    let refused = app
        .call(Method::DELETE, &format!("/v1/accounts/{PAYER}"), None)
        .await;
    refused.assert_error(409, "has_linked_accounts");
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused delete deletes nothing"
    );
    app.call(
        Method::DELETE,
        &format!("/v1/accounts/{PAYER}?cascade=maybe"),
        None,
    )
    .await
    .assert_error(400, "invalid_value");

    let deleted = app
        .call(
            Method::DELETE,
            &format!("/v1/accounts/{PAYER}?cascade=true"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&format!("/v1/accounts/{PAYER}"))
        .await
        .assert_error(404, "not_found");
    for member in &members {
        app.get(&format!("/v1/accounts/{member}"))
            .await
            .assert_error(404, "not_found");
    }
    // Accounts of other payers, and unlinked ones, are untouched.
    assert_eq!(
        app.get("/v1/accounts/800000000000").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/accounts/800000000002").await.status,
        StatusCode::OK
    );
    // A member can be deleted on its own; a childless account needs no cascade.
    assert_eq!(
        app.call(Method::DELETE, "/v1/accounts/800000000000", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn archived_accounts_are_hidden_frozen_and_never_swept() {
    let app = TestApp::new().await;
    let id = crate::harness::CUSTOMER_ACCOUNT;
    let account = app.create(id, json!({})).await;
    let arn = app
        .create_role(
            id,
            &trust_external_ids(&[account["external_id"].as_str().unwrap()]),
            &[],
        )
        .await;
    app.call(
        Method::PATCH,
        &format!("/v1/accounts/{id}"),
        Some(&json!({"role_arn": arn})),
    )
    .await;
    app.create("000000000001", json!({})).await;

    let archived = app
        .call(Method::POST, &format!("/v1/accounts/{id}/archive"), None)
        .await;
    assert_eq!(archived.status, StatusCode::OK, "{:#}", archived.body);
    assert!(archived.body["archived_at"].is_string());
    assert!(archived.body["credential"]
        .get("next_verification_at")
        .is_none());
    // Archiving twice is harmless and keeps the first time.
    let again = app
        .call(Method::POST, &format!("/v1/accounts/{id}/archive"), None)
        .await;
    assert_eq!(again.body["archived_at"], archived.body["archived_at"]);

    // Hidden from listings unless asked for; still readable.
    let listed: Vec<String> = ids(&app.get("/v1/accounts").await.body, "items");
    assert_eq!(listed, ["000000000001"]);
    let all: Vec<String> = ids(
        &app.get("/v1/accounts?include_archived=true&sort=name")
            .await
            .body,
        "items",
    );
    assert_eq!(all.len(), 2);
    assert_eq!(
        app.get(&format!("/v1/accounts/{id}")).await.status,
        StatusCode::OK
    );

    // Frozen: no changes, no verification, no rotation.
    let before = app.snapshot().await;
    app.call(
        Method::PATCH,
        &format!("/v1/accounts/{id}"),
        Some(&json!({"name": "x"})),
    )
    .await
    .assert_error(409, "archived");
    app.call(
        Method::PUT,
        &format!("/v1/accounts/{id}"),
        Some(&json!({"name": "x"})),
    )
    .await
    .assert_error(409, "archived");
    app.call(Method::POST, &format!("/v1/accounts/{id}/verify"), None)
        .await
        .assert_error(409, "archived");
    app.call(
        Method::POST,
        &format!("/v1/accounts/{id}/external-id/rotate"),
        None,
    )
    .await
    .assert_error(409, "archived");
    assert_eq!(app.snapshot().await, before);

    // Not verified on schedule.
    let report = app
        .sweeper()
        .sweep(Timestamp::now(), Instant::now() + Duration::from_secs(60))
        .await;
    // Only the other account, whose (default) role was never created.
    assert_eq!((report.verified, report.failed), (1, 1), "{report:?}");

    // Unarchived, it is due at once and the sweep verifies it.
    let active = app
        .call(Method::POST, &format!("/v1/accounts/{id}/unarchive"), None)
        .await;
    assert_eq!(active.status, StatusCode::OK);
    assert!(active.body.get("archived_at").is_none());
    let report = app
        .sweeper()
        .sweep(Timestamp::now(), Instant::now() + Duration::from_secs(60))
        .await;
    assert_eq!(report.succeeded, 1, "{report:?}");

    // Archived accounts can be deleted.
    app.call(Method::POST, "/v1/accounts/000000000001/archive", None)
        .await;
    assert_eq!(
        app.call(Method::DELETE, "/v1/accounts/000000000001", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    app.call(Method::POST, "/v1/accounts/000000000009/archive", None)
        .await
        .assert_error(404, "not_found");
}

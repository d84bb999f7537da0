//! `POST /v1/accounts/search` and `POST /v1/accounts/batch-delete`.

use crate::harness::TestApp;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

fn ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap().to_string())
        .collect()
}

async fn search(app: &TestApp, body: Value) -> Value {
    let reply = app
        .call(Method::POST, "/v1/accounts/search", Some(&body))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{body}: {:#}", reply.body);
    reply.body
}

async fn seed(app: &TestApp) {
    for (id, name, env, owner, team, parent) in [
        (
            "000000000001",
            "Payments Prod",
            "PROD",
            "Alice",
            "payments",
            None,
        ),
        (
            "000000000002",
            "Payments Dev",
            "DEV",
            "Bob",
            "payments",
            Some("000000000001"),
        ),
        (
            "000000000003",
            "Search Prod",
            "PROD",
            "Carol",
            "search",
            None,
        ),
        (
            "000000000004",
            "Data lake",
            "STAGING",
            "Alice",
            "data",
            Some("000000000001"),
        ),
    ] {
        let mut extra = json!({"name": name, "environment": env, "owner_name": owner,
            "owner_email": format!("{}@example.com", owner.to_lowercase()), "labels": {"team": team}});
        if let Some(parent) = parent {
            extra["parent_account_id"] = json!(parent);
        }
        app.create(id, extra).await;
    }
}

#[tokio::test]
async fn query_criteria_and_sort() {
    let app = TestApp::new().await;
    seed(&app).await;
    let cases = [
        (
            json!({"query": "payments AND NOT dev"}),
            vec!["000000000001"],
        ),
        (
            json!({"query": "owner:alice OR labels.team:search", "sort": [{"field": "name", "order": "asc"}]}),
            vec!["000000000004", "000000000001", "000000000003"],
        ),
        (
            json!({"query": "name:\"payments prod\""}),
            vec!["000000000001"],
        ),
        (
            json!({"query": "name:*prod"}),
            vec!["000000000001", "000000000003"],
        ),
        (
            json!({"criteria": {"environment": ["PROD", "STAGING"]}, "sort": [{"field": "environment", "order": "desc"}, {"field": "name"}]}),
            vec!["000000000004", "000000000001", "000000000003"],
        ),
        (
            json!({"criteria": {"parent_account_id": "000000000001"}}),
            vec!["000000000002", "000000000004"],
        ),
        (
            json!({"criteria": {"account_id": ["000000000003", "000000000002"]}}),
            vec!["000000000002", "000000000003"],
        ),
        (
            json!({"criteria": {"name": "data LAKE"}}),
            vec!["000000000004"],
        ),
        (
            json!({"criteria": {"verification_status": "SUCCESS"}}),
            vec![],
        ),
        (
            json!({"sort": [{"field": "owner_email", "order": "desc"}]}),
            vec![
                "000000000003",
                "000000000002",
                "000000000001",
                "000000000004",
            ],
        ),
    ];
    for (body, expected) in cases {
        let found = search(&app, body.clone()).await;
        assert_eq!(ids(&found), expected, "{body}");
        assert_eq!(found["num_found"], expected.len(), "{body}");
    }
    let page = search(&app, json!({"start": 1, "rows": 2})).await;
    assert_eq!(page["num_found"], 4);
    assert_eq!(ids(&page), ["000000000002", "000000000003"]);
}

#[tokio::test]
async fn syntax_and_body_errors_are_400() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    for (body, code, field, position) in [
        (
            json!({"query": "(payments OR dev"}),
            "invalid_query",
            "query",
            Some("position 16"),
        ),
        (
            json!({"query": "payments AND"}),
            "invalid_query",
            "query",
            Some("position 12"),
        ),
        (
            json!({"query": "name:\"open"}),
            "invalid_query",
            "query",
            Some("position 5"),
        ),
        (
            json!({"query": "colour:red"}),
            "invalid_query",
            "query",
            Some("position 0"),
        ),
        (json!({"rows": 10001}), "invalid_value", "rows", None),
        (
            json!({"criteria": {"environment": "QA"}}),
            "invalid_value",
            "criteria.environment",
            None,
        ),
        (
            json!({"criteria": {"colour": "red"}}),
            "unknown_field",
            "criteria.colour",
            None,
        ),
        (
            json!({"sort": [{"field": "colour"}]}),
            "invalid_value",
            "sort[0].field",
            None,
        ),
        (
            json!({"cursor": "garbage"}),
            "invalid_cursor",
            "cursor",
            None,
        ),
    ] {
        let reply = app
            .call(Method::POST, "/v1/accounts/search", Some(&body))
            .await;
        reply.assert_error(400, code);
        assert_eq!(reply.field(), field, "{body}");
        if let Some(position) = position {
            assert!(
                reply.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(position),
                "{body}: {:#}",
                reply.body
            );
        }
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn cursor_pages_neither_repeat_nor_skip_while_others_write() {
    let app = TestApp::new().await;
    for i in 0..20 {
        app.create(
            &format!("5000000000{i:02}"),
            json!({"name": format!("n{i:02}")}),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut body = json!({"rows": 3, "sort": [{"field": "name", "order": "asc"}]});
    let mut extra = 0;
    loop {
        let page = search(&app, body.clone()).await;
        seen.extend(ids(&page));
        // New accounts sort before the cursor: offsets would shift, cursors do not.
        app.create(
            &format!("4000000000{extra:02}"),
            json!({"name": format!("a{extra:02}")}),
        )
        .await;
        extra += 1;
        match page["next_cursor"].as_str() {
            Some(cursor) => body["cursor"] = json!(cursor),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no account twice");
    for i in 0..20 {
        assert!(
            seen.contains(&format!("5000000000{i:02}")),
            "account {i} missing"
        );
    }
}

#[tokio::test]
async fn batch_delete_reports_each_failure_and_never_blocks_the_rest() {
    let app = TestApp::new().await;
    seed(&app).await;
    app.create("000000000005", json!({})).await;
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/batch-delete",
            Some(&json!({"account_ids": ["000000000003", "000000000009", "000000000001", "000000000002", "000000000003", "000000000005"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let mut success: Vec<&str> = reply.body["success"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    success.sort();
    assert_eq!(success, ["000000000002", "000000000003", "000000000005"]);
    let failed: Vec<(&str, &str)> = reply.body["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["account_id"].as_str().unwrap(),
                f["code"].as_str().unwrap(),
            )
        })
        .collect();
    // 000000000001 keeps a member (000000000004) that is not in the batch.
    assert_eq!(
        failed,
        [
            ("000000000009", "not_found"),
            ("000000000001", "has_linked_accounts")
        ]
    );
    for id in ["000000000002", "000000000003", "000000000005"] {
        app.get(&format!("/v1/accounts/{id}"))
            .await
            .assert_error(404, "not_found");
    }
    assert_eq!(
        app.get("/v1/accounts/000000000001").await.status,
        StatusCode::OK
    );

    // A parent goes together with all its members.
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/batch-delete",
            Some(&json!({"account_ids": ["000000000001", "000000000004"]})),
        )
        .await;
    assert_eq!(reply.body["failed"], json!([]));
    assert_eq!(app.get("/v1/accounts").await.body["items"], json!([]));
}

#[tokio::test]
async fn batch_delete_of_many_and_bad_requests() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..60).map(|i| format!("6000000000{i:02}")).collect();
    for id in &ids {
        app.create(id, json!({})).await;
    }
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/batch-delete",
            Some(&json!({"account_ids": ids})),
        )
        .await;
    assert_eq!(
        reply.body["success"].as_array().unwrap().len(),
        60,
        "three BatchWriteItem calls of up to 25"
    );
    assert!(app.get("/v1/accounts").await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());

    let too_many: Vec<String> = (0..1001).map(|i| format!("{i:012}")).collect();
    app.call(
        Method::POST,
        "/v1/accounts/batch-delete",
        Some(&json!({"account_ids": too_many})),
    )
    .await
    .assert_error(400, "invalid_value");
    app.call(
        Method::POST,
        "/v1/accounts/batch-delete",
        Some(&json!({"account_ids": []})),
    )
    .await
    .assert_error(400, "invalid_value");
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/batch-delete",
            Some(&json!({"account_ids": ["123"]})),
        )
        .await;
    reply.assert_error(400, "invalid_value");
    assert_eq!(reply.field(), "account_ids[0]");
}

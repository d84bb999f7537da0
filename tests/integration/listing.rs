//! `GET /v1/accounts`: filters, sort orders, paging and parameter errors.

use crate::harness::TestApp;
use axum::http::Method;
use serde_json::{json, Value};
use std::collections::HashSet;

fn ids(reply: &Value) -> Vec<String> {
    reply["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap().to_string())
        .collect()
}

/// Follow next_cursor to the end; returns every id in order.
async fn walk(app: &TestApp, query: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut uri = format!("/v1/accounts?{query}");
    loop {
        let reply = app.get(&uri).await;
        assert_eq!(reply.status.as_u16(), 200, "{uri}: {:#}", reply.body);
        all.extend(ids(&reply.body));
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/accounts?{query}&cursor={cursor}"),
            None => return all,
        }
    }
}

async fn seed(app: &TestApp) {
    let accounts = [
        ("000000000001", "Zeta payments", "PROD", "Alice", None),
        (
            "000000000002",
            "alpha sandbox",
            "DEV",
            "Bob",
            Some("000000000001"),
        ),
        (
            "000000000003",
            "Mid staging",
            "STAGING",
            "Carol",
            Some("000000000001"),
        ),
        ("000000000004", "beta payments", "PROD", "Dan", None),
        ("000000000005", "Omega test", "TEST", "Alice", None),
    ];
    for (id, name, env, owner, parent) in accounts {
        let mut extra = json!({"name": name, "environment": env, "owner_name": owner,
            "owner_email": format!("{}@example.com", owner.to_lowercase())});
        if let Some(parent) = parent {
            extra["parent_account_id"] = json!(parent);
        }
        app.create(id, extra).await;
    }
}

#[tokio::test]
async fn filters_combine() {
    let app = TestApp::new().await;
    seed(&app).await;
    let cases = [
        (
            "",
            vec![
                "000000000001",
                "000000000002",
                "000000000003",
                "000000000004",
                "000000000005",
            ],
        ),
        ("environment=PROD", vec!["000000000001", "000000000004"]),
        (
            "parent_account_id=000000000001",
            vec!["000000000002", "000000000003"],
        ),
        (
            "verification_status=NOT_STARTED&environment=TEST",
            vec!["000000000005"],
        ),
        ("verification_status=SUCCESS", vec![]),
        ("q=PAYMENTS", vec!["000000000001", "000000000004"]),
        ("q=alice@", vec!["000000000001", "000000000005"]),
        (
            "q=00000000000",
            vec![
                "000000000001",
                "000000000002",
                "000000000003",
                "000000000004",
                "000000000005",
            ],
        ),
        (
            "account_id=000000000004&account_id=000000000002&account_id=999999999999",
            vec!["000000000002", "000000000004"],
        ),
        (
            "account_id=000000000004&account_id=000000000002&environment=PROD",
            vec!["000000000004"],
        ),
        (
            "q=payments&environment=PROD&sort=name",
            vec!["000000000004", "000000000001"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(walk(&app, query).await, expected, "{query}");
    }
}

#[tokio::test]
async fn sort_orders() {
    let app = TestApp::new().await;
    seed(&app).await;
    // Touch 000000000003 so it is the most recently updated.
    app.call(
        Method::PATCH,
        "/v1/accounts/000000000003",
        Some(&json!({"owner_name": "Carla"})),
    )
    .await;
    let cases = [
        (
            "sort=name",
            vec![
                "000000000002",
                "000000000004",
                "000000000003",
                "000000000005",
                "000000000001",
            ],
        ),
        (
            "sort=name&order=desc",
            vec![
                "000000000001",
                "000000000005",
                "000000000003",
                "000000000004",
                "000000000002",
            ],
        ),
        (
            "sort=account_id&order=desc",
            vec![
                "000000000005",
                "000000000004",
                "000000000003",
                "000000000002",
                "000000000001",
            ],
        ),
        (
            "sort=created_at",
            vec![
                "000000000001",
                "000000000002",
                "000000000003",
                "000000000004",
                "000000000005",
            ],
        ),
        (
            "sort=last_verified_at",
            vec![
                "000000000001",
                "000000000002",
                "000000000003",
                "000000000004",
                "000000000005",
            ],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(walk(&app, query).await, expected, "{query}");
        // The same order page by page.
        assert_eq!(
            walk(&app, &format!("{query}&limit=2")).await,
            expected,
            "{query} paged"
        );
    }
    let updated = walk(&app, "sort=updated_at&order=desc").await;
    assert_eq!(updated[0], "000000000003");
}

#[tokio::test]
async fn pages_neither_repeat_nor_skip_while_others_write() {
    let app = TestApp::new().await;
    for i in 0..25 {
        app.create(&format!("1000000000{i:02}"), json!({})).await;
    }
    // Walk in pages of 4 while new accounts arrive after each page, on
    // both sides of the cursor.
    let mut seen = Vec::new();
    let mut uri = "/v1/accounts?limit=4".to_string();
    let mut extra = 0;
    loop {
        let reply = app.get(&uri).await;
        let page = ids(&reply.body);
        assert!(page.len() <= 4);
        seen.extend(page);
        app.create(&format!("0000000000{extra:02}"), json!({}))
            .await; // before every cursor
        extra += 1;
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/accounts?limit=4&cursor={cursor}"),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no account twice");
    for i in 0..25 {
        assert!(
            seen.contains(&format!("1000000000{i:02}")),
            "account {i} missing"
        );
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, seen, "still in order");
}

#[tokio::test]
async fn filtered_pages_are_full_and_complete() {
    let app = TestApp::new().await;
    for i in 0..30 {
        let env = if i % 3 == 0 { "PROD" } else { "DEV" };
        app.create(&format!("2000000000{i:02}"), json!({"environment": env}))
            .await;
    }
    let first = app.get("/v1/accounts?environment=PROD&limit=4").await;
    assert_eq!(
        ids(&first.body).len(),
        4,
        "a filtered page is filled up to its limit"
    );
    let all = walk(&app, "environment=PROD&limit=4").await;
    assert_eq!(all.len(), 10);
    assert_eq!(walk(&app, "limit=1000").await.len(), 30);
    let default_page = app.get("/v1/accounts").await;
    assert_eq!(ids(&default_page.body).len(), 30);
    assert!(default_page.body["next_cursor"].is_null());
}

#[tokio::test]
async fn bad_parameters_are_400_with_the_parameter() {
    let app = TestApp::new().await;
    app.create("000000000001", json!({})).await;
    app.create("000000000002", json!({})).await;
    let page = app.get("/v1/accounts?limit=1&sort=name").await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    let cases = [
        ("limit=0", "invalid_value", "limit"),
        ("limit=1001", "invalid_value", "limit"),
        ("limit=ten", "invalid_value", "limit"),
        ("sort=owner", "invalid_value", "sort"),
        ("order=up", "invalid_value", "order"),
        ("environment=QA", "invalid_value", "environment"),
        (
            "verification_status=DONE",
            "invalid_value",
            "verification_status",
        ),
        ("parent_account_id=12", "invalid_value", "parent_account_id"),
        ("account_id=abc", "invalid_value", "account_id"),
        ("cursor=bm9wZQ", "invalid_cursor", "cursor"),
        ("colour=red", "unknown_parameter", "colour"),
        ("limit=1&limit=2", "invalid_value", "limit"),
    ];
    for (query, code, field) in cases {
        let reply = app.get(&format!("/v1/accounts?{query}")).await;
        reply.assert_error(400, code);
        assert_eq!(reply.field(), field, "{query}");
    }
    // A cursor only continues the listing it came from.
    let reply = app
        .get(&format!(
            "/v1/accounts?limit=1&sort=created_at&cursor={cursor}"
        ))
        .await;
    reply.assert_error(400, "invalid_cursor");
    let many: String = (0..101).map(|i| format!("account_id={:012}&", i)).collect();
    app.get(&format!("/v1/accounts?{many}"))
        .await
        .assert_error(400, "invalid_value");
}

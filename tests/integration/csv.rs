//! CSV template, import (both modes) and export.

use crate::harness::TestApp;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) const HEADER: &str = "accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions,parentAccountId";

pub(crate) async fn import(app: &TestApp, mode: &str, body: &str) -> crate::harness::Reply {
    let key = app.key.clone();
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/accounts/import?mode={mode}"))
        .header("x-api-key", key)
        .header("content-type", "text/csv")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    app.send(request).await
}

#[tokio::test]
async fn template_lists_the_columns() {
    let app = TestApp::new().await;
    let reply = app.get("/v1/accounts/import-template").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("content-type").starts_with("text/csv"));
    let template = reply.body.as_str().unwrap().to_string();
    assert_eq!(template.lines().next().unwrap(), HEADER);
    assert!(template.contains("DEV, STAGING, TEST, PROD"), "{template}");
    // As it comes, it imports nothing; the example row, uncommented, imports.
    let reply = import(&app, "all_or_nothing", &template).await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(reply.body["created"], json!([]));
    let example = template.replacen("# 123456789012,", "123456789012,", 1);
    let reply = import(&app, "all_or_nothing", &example).await;
    assert_eq!(
        reply.body["created"],
        json!(["123456789012"]),
        "{:#}",
        reply.body
    );
    let account = app.get("/v1/accounts/123456789012").await.body;
    assert_eq!(account["parent_account_id"], "210987654321");
    // An error names the row: the header is 1, comment lines are not counted.
    let broken = template.replacen("# 123456789012,", "12345,", 1);
    let reply = import(&app, "all_or_nothing", &broken).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:#}", reply.body);
    assert_eq!(
        reply.body["error"]["details"][0]["row"], 2,
        "{:#}",
        reply.body
    );
}

#[tokio::test]
async fn import_creates_then_updates_and_keeps_what_the_file_lacks() {
    let app = TestApp::new().await;
    let file = format!(
        "\u{feff}{HEADER}\r\n123456789012,\"Payments, prod\",Ops,ops@example.com,PROD,arn:aws:iam::123456789012:role/Audit,us-east-1;eu-west-1,\r\n210987654321,Payer,,,,,us-east-1|us-east-2,\r\n"
    );
    let reply = import(&app, "all_or_nothing", &file).await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(
        reply.body["created"],
        json!(["123456789012", "210987654321"])
    );
    let account = app.get("/v1/accounts/123456789012").await.body;
    assert_eq!(account["name"], "Payments, prod");
    assert_eq!(account["regions"], json!(["us-east-1", "eu-west-1"]));
    assert_eq!(account["credential"]["verification_status"], "NOT_STARTED");
    assert_eq!(account["external_id"].as_str().unwrap().len(), 40);

    // Labels are not in the file: an update keeps them, and the external ID.
    app.call(
        Method::PATCH,
        "/v1/accounts/123456789012",
        Some(&json!({"labels": {"team": "payments"}})),
    )
    .await;
    let file = format!("{HEADER}\n123456789012,Payments,Ops,ops@example.com,TEST,arn:aws:iam::123456789012:role/Audit,us-east-1,210987654321\n");
    let reply = import(&app, "best_effort", &file).await;
    assert_eq!(
        reply.body["updated"],
        json!(["123456789012"]),
        "{:#}",
        reply.body
    );
    let updated = app.get("/v1/accounts/123456789012").await.body;
    assert_eq!(updated["environment"], "TEST");
    assert_eq!(updated["parent_account_id"], "210987654321");
    assert_eq!(updated["labels"], json!({"team": "payments"}));
    assert_eq!(updated["external_id"], account["external_id"]);
    assert_eq!(updated["version"], 3);
    let linked = app
        .get("/v1/accounts/210987654321/linked-accounts")
        .await
        .body;
    assert_eq!(linked["items"][0]["account_id"], "123456789012");
}

fn bad_file() -> String {
    format!(
        "{HEADER}\n\
         100000000001,Good one,,,,,,\n\
         12345,Short id,,,,,,\n\
         100000000002,Bad env,,,QA,,,\n\
         100000000003,Bad region,,,,,mars-1,\n\
         100000000004,Twice,,,,,,\n\
         100000000004,Twice but different,,,,,,\n\
         100000000005,\"Bad quote,,,,,,\n"
    )
}

#[tokio::test]
async fn all_or_nothing_rejects_the_file_and_writes_nothing() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    let reply = import(&app, "all_or_nothing", &bad_file()).await;
    reply.assert_error(400, "invalid_rows");
    let rows: Vec<(u64, &str)> = reply.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["column"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            (3, "accountId"),
            (4, "environment"),
            (5, "regions"),
            (6, "accountId"),
            (7, "accountId"),
            (8, "row")
        ]
    );
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn best_effort_imports_the_good_rows_and_reports_the_rest() {
    let app = TestApp::new().await;
    let reply = import(&app, "best_effort", &bad_file()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(reply.body["created"], json!(["100000000001"]));
    let failed_rows: Vec<u64> = reply.body["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["row"].as_u64().unwrap())
        .collect();
    assert_eq!(failed_rows, [3, 4, 5, 6, 7, 8]);
    // Neither of two disagreeing rows is imported.
    app.get("/v1/accounts/100000000004")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn malformed_files_are_400() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    import(
        &app,
        "best_effort",
        "accountId,accountName\n123456789012,x\n",
    )
    .await
    .assert_error(400, "invalid_csv");
    import(&app, "best_effort", "")
        .await
        .assert_error(400, "invalid_csv");
    import(&app, "sometimes", &format!("{HEADER}\n"))
        .await
        .assert_error(400, "invalid_value");
    let mut big = format!("{HEADER}\n");
    for i in 0..10_001 {
        big.push_str(&format!("{:012},n,,,,,,\n", i + 1));
    }
    import(&app, "best_effort", &big)
        .await
        .assert_error(400, "invalid_csv");
    let json_body = app
        .call(Method::POST, "/v1/accounts/import", Some(&json!({})))
        .await;
    json_body.assert_error(415, "unsupported_media_type");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn ten_thousand_rows_import_in_one_request() {
    let app = TestApp::new().await;
    let mut file = format!("{HEADER}\n");
    for i in 0..10_000 {
        file.push_str(&format!(
            "{:012},Account {i} of the payments platform (production workloads; eu and us),Platform team,platform-team@example.com,PROD,,us-east-1;us-west-2,\n",
            300_000_000_000u64 + i
        ));
    }
    assert!(
        file.len() > 1 << 20,
        "over the JSON limit, within the CSV one"
    );
    let reply = import(&app, "all_or_nothing", &file).await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body["error"]);
    assert_eq!(reply.body["created"].as_array().unwrap().len(), 10_000);
    let page = app.get("/v1/accounts?limit=1000").await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn export_then_import_round_trips() {
    let app = TestApp::new().await;
    app.create(
        "210987654321",
        json!({"name": "Payer", "regions": ["us-east-1"]}),
    )
    .await;
    app.create(
        "123456789012",
        json!({"name": "Member, \"quoted\"", "owner_name": "Ops", "owner_email": "ops@example.com", "environment": "PROD",
               "regions": ["us-east-1", "eu-west-1"], "role_arn": "arn:aws:iam::123456789012:role/Audit", "parent_account_id": "210987654321"}),
    )
    .await;
    app.create(
        "000000000001",
        json!({"name": "Not exported", "environment": "DEV"}),
    )
    .await;
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/export",
            Some(&json!({"query": "NOT environment:DEV", "sort": [{"field": "account_id"}]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let csv = reply.body.as_str().unwrap().to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "header, two regions of one account, one of the other:\n{csv}"
    );
    assert!(lines[0].ends_with(
        "externalId,verificationStatus,verificationCode,lastVerifiedAt,verificationMessage"
    ));
    assert!(lines[1].contains("NOT_STARTED"));

    // Into a fresh tenant: the same accounts come back.
    let other = TestApp::new().await;
    let reply = import(&other, "all_or_nothing", &csv).await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(
        reply.body["created"],
        json!(["123456789012", "210987654321"])
    );
    for id in ["123456789012", "210987654321"] {
        let original = app.get(&format!("/v1/accounts/{id}")).await.body;
        let copy = other.get(&format!("/v1/accounts/{id}")).await.body;
        for field in [
            "name",
            "owner_name",
            "owner_email",
            "environment",
            "regions",
            "role_arn",
            "parent_account_id",
        ] {
            assert_eq!(copy.get(field), original.get(field), "{id} {field}");
        }
    }
    let _ = Value::Null;
}

/// Existing, archived and new accounts in the same 100-account transaction:
/// the existing one is updated at the version its refused create found,
/// the archived one is reported and left as it was, and every new one is
/// created once.
#[tokio::test]
async fn mixed_transactions_create_update_and_refuse_archived() {
    let app = TestApp::new().await;
    app.create("100000000050", json!({"labels": {"keep": "me"}}))
        .await;
    app.create("100000000070", json!({})).await;
    let reply = app
        .call(Method::POST, "/v1/accounts/100000000070/archive", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let before = app.get("/v1/accounts/100000000050").await.body;
    let archived = app.get("/v1/accounts/100000000070").await.body;
    let mut file = format!("{HEADER}\n");
    for i in 0..150u64 {
        file.push_str(&format!(
            "{},Row {i},,,DEV,,us-east-1,\n",
            100_000_000_000 + i
        ));
    }
    let reply = import(&app, "best_effort", &file).await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(reply.body["updated"], json!(["100000000050"]));
    assert_eq!(reply.body["created"].as_array().unwrap().len(), 148);
    let failed = reply.body["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["account_id"], "100000000070");
    assert_eq!(failed[0]["row"], 72);
    assert!(failed[0]["message"].as_str().unwrap().contains("archived"));

    let after = app.get("/v1/accounts/100000000050").await.body;
    assert_eq!(after["name"], "Row 50");
    assert_eq!(after["labels"], json!({"keep": "me"}));
    assert_eq!(after["external_id"], before["external_id"]);
    assert_eq!(after["version"], before["version"].as_u64().unwrap() + 1);
    assert_eq!(app.get("/v1/accounts/100000000070").await.body, archived);
    let created = app.get("/v1/accounts/100000000149").await.body;
    assert_eq!(created["environment"], "DEV");
    assert_eq!(created["version"], 1);
}

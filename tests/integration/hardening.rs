//! What a hostile client tried (issue 10): each of these failed on the
//! service before this file existed.

use crate::harness::{TestApp, TENANT};
use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use service::api_key::Scope;

const ID: &str = "111111111111";

fn nested(depth: usize) -> String {
    format!("{}a{}", "(".repeat(depth), ")".repeat(depth))
}

#[tokio::test]
async fn deep_queries_are_refused_at_their_position_and_the_service_lives_on() {
    let app = TestApp::new().await;
    app.create(ID, json!({"name": "alpha"})).await;
    let reader = app.key(TENANT, &[Scope::Read]).await;
    // Each with the position of the level past the bound of 32.
    let hostile = [
        (nested(480), 32),
        (format!("{}a", "NOT ".repeat(400)), 32 * 4),
        (
            format!("{}a{}", "(NOT ".repeat(300), ")".repeat(300)),
            16 * 5,
        ),
    ];
    for (query, position) in &hostile {
        assert!(query.len() <= 2048);
        for route in ["/v1/accounts/search", "/v1/accounts/export"] {
            let reply = app
                .call_with(
                    Method::POST,
                    route,
                    Some(&reader),
                    Some(&json!({"query": query})),
                    &[],
                )
                .await;
            reply.assert_error(400, "invalid_query");
            assert_eq!(reply.field(), "query");
            let message = reply.body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("position {position}:")),
                "{message}"
            );
        }
    }
    // As deep as allowed, and a long chain: answered.
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/search",
            Some(&json!({"query": nested(32).replace('a', "alpha")})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(reply.body["num_found"], 1);
    let chain = vec!["alpha"; 64].join(" OR ");
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/search",
            Some(&json!({"query": chain})),
        )
        .await;
    assert_eq!(reply.body["num_found"], 1, "{:#}", reply.body);
    let chain = vec!["alpha"; 65].join(" AND ");
    app.call(
        Method::POST,
        "/v1/accounts/search",
        Some(&json!({"query": chain})),
    )
    .await
    .assert_error(400, "invalid_query");
    assert_eq!(
        app.get(&format!("/v1/accounts/{ID}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn csv_export_neutralises_formulas_and_import_restores_them() {
    let app = TestApp::new().await;
    let name = "=2+5+cmd|' /C calc'!A0";
    app.create(ID, json!({"name": name, "owner_name": "@SUM(A1)"}))
        .await;
    // And one made by CSV import, with cells already quoted as we export them.
    let file = "accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions\r\n\
                222222222222,-1+2,'+cmd,,,,\r\n";
    let reply = app
        .raw(
            Method::POST,
            "/v1/accounts/import?mode=all_or_nothing",
            "text/csv",
            file,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let imported = app.get("/v1/accounts/222222222222").await.body;
    assert_eq!(
        (imported["name"].as_str(), imported["owner_name"].as_str()),
        (Some("-1+2"), Some("+cmd"))
    );

    let export = app
        .call(Method::POST, "/v1/accounts/export", Some(&json!({})))
        .await;
    let text = export.body.as_str().unwrap().to_string();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut cells = Vec::new();
    for record in reader.records() {
        cells.extend(record.unwrap().iter().map(str::to_string));
    }
    for cell in &cells {
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "a live formula: {cell:?}"
        );
    }
    for quoted in [
        format!("'{name}"),
        "'@SUM(A1)".into(),
        "'-1+2".into(),
        "'+cmd".into(),
    ] {
        assert!(cells.contains(&quoted), "{quoted} in {cells:?}");
    }

    // Round trip: delete both, import the export, get the originals back.
    let deleted = app
        .call(
            Method::POST,
            "/v1/accounts/batch-delete",
            Some(&json!({"account_ids": [ID, "222222222222"]})),
        )
        .await;
    assert_eq!(deleted.body["success"].as_array().unwrap().len(), 2);
    let reply = app
        .raw(
            Method::POST,
            "/v1/accounts/import?mode=all_or_nothing",
            "text/csv",
            &text,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let account = app.get(&format!("/v1/accounts/{ID}")).await.body;
    assert_eq!(account["name"], name);
    assert_eq!(account["owner_name"], "@SUM(A1)");
    assert_eq!(
        app.get("/v1/accounts/222222222222").await.body["owner_name"],
        "+cmd"
    );
}

/// A valid value for each path parameter the API has.
fn valid(parameter: &str) -> &'static str {
    match parameter {
        "account_id" => ID,
        "data_source" => "aws:iam",
        "scan_id" | "key_id" | "webhook_id" | "organization_id" | "rule_id" | "link_id" => {
            "01JABCDEFGHJKMNPQRSTVWXYZ0"
        }
        "delivery_id" => "dlv_20261123160102_0123456789abcdef0123456789abcdef",
        "finding_id" => "0123456789abcdef0123456789abcdef",
        other => {
            panic!(
                "a path parameter without a test value: {other}; add it here and to service::ids"
            )
        }
    }
}

#[tokio::test]
async fn every_path_parameter_of_every_route_is_bounded_before_dynamodb() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let document = serde_json::to_value(api::openapi()).unwrap();
    let long = "1".repeat(1021);
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let parameters: Vec<String> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_string)
            .collect();
        for (method, _) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            for target in &parameters {
                let uri = parameters.iter().fold(path.clone(), |uri, name| {
                    let value = if name == target {
                        long.as_str()
                    } else {
                        valid(name)
                    };
                    uri.replace(&format!("{{{name}}}"), value)
                });
                let reply = app
                    .call_with(
                        method.clone(),
                        &uri,
                        Some(&app.key.clone()),
                        Some(&json!({})),
                        &[],
                    )
                    .await;
                assert_eq!(
                    reply.status,
                    StatusCode::BAD_REQUEST,
                    "{method} {path} with a long {target}: {:#}",
                    reply.body
                );
                assert_eq!(reply.field(), target, "{method} {path}");
                assert!(
                    reply.body["error"]["message"].as_str().unwrap().len() < 300,
                    "the value is not echoed whole"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "only {checked} route parameters checked");

    // Cursors become DynamoDB keys too: a forged long one is a 400.
    let forged = URL_SAFE_NO_PAD.encode(
        json!({"sort": "name", "order": "asc", "last_value": format!("{}\u{1}{ID}", "a".repeat(1500))}).to_string(),
    );
    app.get(&format!("/v1/accounts?sort=name&cursor={forged}"))
        .await
        .assert_error(400, "invalid_cursor");
    let forged = URL_SAFE_NO_PAD.encode(format!(
        "{}{}",
        service::aws::store::keys::scans_prefix(ID),
        "x".repeat(1500)
    ));
    app.get(&format!("/v1/accounts/{ID}/scans?cursor={forged}"))
        .await
        .assert_error(400, "invalid_cursor");
    app.call(
        Method::POST,
        "/v1/accounts/search",
        Some(&json!({"cursor": "A".repeat(5000)})),
    )
    .await
    .assert_error(400, "invalid_cursor");
}

#[tokio::test]
async fn a_search_names_at_most_100_values_per_criterion() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..101).map(|i| format!("{:012}", i)).collect();
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/search",
            Some(&json!({"criteria": {"account_id": ids}})),
        )
        .await;
    reply.assert_error(400, "invalid_value");
    assert_eq!(reply.field(), "criteria.account_id");
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/search",
            Some(&json!({"criteria": {"account_id": ids[..100]}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
}

/// Ids of the results of every page of a search, following next_cursor.
async fn every_page(app: &TestApp, body: Value) -> (Vec<String>, Vec<bool>) {
    let (mut ids, mut complete) = (Vec::new(), Vec::new());
    let mut body = body;
    for _ in 0..50 {
        let reply = app
            .call(Method::POST, "/v1/accounts/search", Some(&body))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
        for result in reply.body["results"].as_array().unwrap() {
            ids.push(result["account_id"].as_str().unwrap().to_string());
        }
        complete.push(reply.body["complete"].as_bool().unwrap());
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => body["cursor"] = json!(cursor),
            None => return (ids, complete),
        }
    }
    panic!("the search never ended");
}

#[tokio::test]
async fn criteria_read_their_index_and_free_text_reads_in_bounded_windows() {
    let mut app = TestApp::new().await;
    // 9 accounts, 2 of them PROD; a request may read 3.
    for i in 0..9 {
        let environment = if i % 4 == 1 { "PROD" } else { "DEV" };
        app.create(
            &format!("{:012}", 100 + i),
            json!({"environment": environment, "name": format!("n{i}")}),
        )
        .await;
    }
    app.reconfigure(|state| state.with_search_read_budget(3));
    // The index holds just the 2 PROD accounts: one window, complete.
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/search",
            Some(&json!({"criteria": {"environment": "PROD"}})),
        )
        .await;
    assert_eq!(reply.body["num_found"], 2, "{:#}", reply.body);
    assert_eq!(reply.body["complete"], true);
    // The same question as free text reads the partition, 3 at a time, and
    // still finds each match exactly once.
    let (ids, complete) = every_page(&app, json!({"query": "environment:PROD", "rows": 1})).await;
    assert_eq!(ids, ["000000000101", "000000000105"]);
    assert!(complete.iter().all(|c| !c), "{complete:?}");
    let (ids, _) = every_page(&app, json!({"rows": 2})).await;
    let expected: Vec<String> = (0..9).map(|i| format!("{:012}", 100 + i)).collect();
    assert_eq!(ids, expected, "every account once, in order, over windows");
    // Environment and status together: one index read, the other criterion
    // filtered, over as many windows as that index needs.
    let (ids, _) = every_page(
        &app,
        json!({"criteria": {"environment": ["PROD", "PROD"], "verification_status": "NOT_STARTED"}}),
    )
    .await;
    assert_eq!(ids, ["000000000101", "000000000105"]);
}

#[tokio::test]
async fn the_status_index_follows_verification_and_environment_follows_updates() {
    let app = TestApp::new().await;
    // A role that does not exist: verification fails.
    app.create(
        ID,
        json!({"role_arn": format!("arn:aws:iam::{ID}:role/Missing"), "environment": "DEV"}),
    )
    .await;
    app.call(Method::POST, &format!("/v1/accounts/{ID}/verify"), None)
        .await;
    let count = |criteria: Value| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/v1/accounts/search",
                Some(&json!({"criteria": criteria})),
            )
            .await
            .body["num_found"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(count(json!({"verification_status": "FAIL"})).await, 1);
    assert_eq!(
        count(json!({"verification_status": "NOT_STARTED"})).await,
        0
    );
    app.call(
        Method::PATCH,
        &format!("/v1/accounts/{ID}"),
        Some(&json!({"environment": "PROD"})),
    )
    .await;
    assert_eq!(count(json!({"environment": "DEV"})).await, 0);
    assert_eq!(count(json!({"environment": "PROD"})).await, 1);
    app.call(
        Method::PATCH,
        &format!("/v1/accounts/{ID}"),
        Some(&json!({"environment": null})),
    )
    .await;
    assert_eq!(count(json!({"environment": "PROD"})).await, 0);
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_while_another_tenant_is_served() {
    let mut app = TestApp::new().await;
    app.reconfigure(|state| {
        state.with_key_rate(Some(api::rate_limit::KeyRate {
            per_second: std::num::NonZeroU32::new(1).unwrap(),
            burst: std::num::NonZeroU32::new(3).unwrap(),
        }))
    });
    let other = app.key("globex", &[Scope::Read]).await;
    // The burst of 3 passes; then, at 1 a second, a 429 comes within a few
    // more requests however slowly this machine answers them (each request
    // of a loaded test run can take most of a second).
    let mut served = 0;
    let limited = loop {
        let reply = app.get("/v1/accounts").await;
        if reply.status != StatusCode::OK {
            break reply;
        }
        served += 1;
        assert!(served < 30, "never limited");
    };
    assert!(served >= 3, "the burst is served: {served}");
    limited.assert_error(429, "rate_limited");
    let retry: u32 = limited.header("retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert!(
        limited.header("ratelimit-policy").contains("q=1"),
        "{:?}",
        limited.headers
    );
    assert!(
        limited.header("ratelimit").contains("r=0"),
        "{:?}",
        limited.headers
    );
    for _ in 0..3 {
        let reply = app
            .call_with(Method::GET, "/v1/accounts", Some(&other), None, &[])
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "the other tenant is unaffected"
        );
    }
}

#[tokio::test]
async fn repeated_json_keys_and_csv_columns_are_refused_by_name() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    let body = r#"{"account_id":"111111111113","name":"a","account_id":"111111111114"}"#;
    let reply = app
        .raw(Method::POST, "/v1/accounts", "application/json", body)
        .await;
    reply.assert_error(400, "duplicate_key");
    assert_eq!(reply.field(), "account_id");
    let body = r#"{"account_id":"111111111113","name":"a","labels":{"team":"a","team":"b"}}"#;
    let reply = app
        .raw(Method::POST, "/v1/accounts", "application/json", body)
        .await;
    assert_eq!(reply.field(), "labels.team");
    let file = "accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions,accountName\r\n\
                111111111113,a,,,,,,b\r\n";
    let reply = app
        .raw(
            Method::POST,
            "/v1/accounts/import?mode=best_effort",
            "text/csv",
            file,
        )
        .await;
    reply.assert_error(400, "invalid_csv");
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'accountName' twice"));
    assert_eq!(app.snapshot().await, before, "nothing written");
}

#[tokio::test]
async fn bidirectional_overrides_are_refused_in_every_text() {
    let app = TestApp::new().await;
    for (field, body) in [
        (
            "name",
            json!({"account_id": ID, "name": "invoice\u{202E}fdp.exe"}),
        ),
        (
            "owner_name",
            json!({"account_id": ID, "name": "a", "owner_name": "x\u{2066}y"}),
        ),
        (
            "labels.team",
            json!({"account_id": ID, "name": "a", "labels": {"team": "\u{2069}"}}),
        ),
    ] {
        let reply = app.call(Method::POST, "/v1/accounts", Some(&body)).await;
        reply.assert_error(400, "invalid_value");
        assert_eq!(reply.field(), field);
    }
}

#[tokio::test]
async fn if_none_match_on_a_write_to_an_existing_account_is_412() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let before = app.snapshot().await;
    let uri = format!("/v1/accounts/{ID}");
    let body = json!({"name": "renamed"});
    for tag in ["*", "\"1\"", "\"7\", W/\"1\""] {
        app.call_with(
            Method::PUT,
            &uri,
            Some(&app.key.clone()),
            Some(&body),
            &[("if-none-match", tag)],
        )
        .await
        .assert_error(412, "precondition_failed");
        app.call_with(
            Method::DELETE,
            &uri,
            Some(&app.key.clone()),
            None,
            &[("if-none-match", tag)],
        )
        .await
        .assert_error(412, "precondition_failed");
    }
    assert_eq!(app.snapshot().await, before, "nothing written");
    app.call_with(
        Method::PUT,
        &uri,
        Some(&app.key.clone()),
        Some(&body),
        &[("if-none-match", "nonsense")],
    )
    .await
    .assert_error(400, "invalid_header");
    let reply = app
        .call_with(
            Method::PUT,
            &uri,
            Some(&app.key.clone()),
            Some(&body),
            &[("if-none-match", "\"7\"")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    app.call_with(
        Method::PUT,
        "/v1/accounts/999999999999",
        Some(&app.key.clone()),
        Some(&body),
        &[("if-none-match", "*")],
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn concurrent_batch_deletes_delete_each_account_once() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..30).map(|i| format!("{:012}", 500 + i)).collect();
    for id in &ids {
        app.create(id, json!({})).await;
    }
    let body = json!({"account_ids": ids});
    let (a, b) = tokio::join!(
        app.call(Method::POST, "/v1/accounts/batch-delete", Some(&body)),
        app.call(Method::POST, "/v1/accounts/batch-delete", Some(&body)),
    );
    let deleted = |reply: &crate::harness::Reply| -> Vec<String> {
        reply.body["success"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let not_found = |reply: &crate::harness::Reply| -> Vec<String> {
        reply.body["failed"]
            .as_array()
            .unwrap()
            .iter()
            .inspect(|f| assert_eq!(f["code"], "not_found"))
            .map(|f| f["account_id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut all: Vec<String> = deleted(&a).into_iter().chain(deleted(&b)).collect();
    all.sort();
    assert_eq!(all, ids, "each account reported deleted exactly once");
    let mut missed: Vec<String> = not_found(&a).into_iter().chain(not_found(&b)).collect();
    missed.sort();
    assert_eq!(missed, ids, "and not_found by the other batch");
}

#[tokio::test]
async fn a_key_that_is_not_ascii_is_invalid_not_missing() {
    let app = TestApp::new().await;
    let request = axum::http::Request::builder()
        .uri("/v1/accounts")
        .header(
            "x-api-key",
            axum::http::HeaderValue::from_bytes("oak_acme_é".as_bytes()).unwrap(),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let reply = app.send(request).await;
    reply.assert_error(401, "unauthorized");
    assert_eq!(reply.body["error"]["message"], "invalid API key");
}

#[tokio::test]
async fn a_label_may_be_a_bare_key() {
    let app = TestApp::new().await;
    let created = app
        .create(ID, json!({"labels": {"pci": "", "team": "core"}}))
        .await;
    assert_eq!(created["labels"], json!({"pci": "", "team": "core"}));
    let read = app.get(&format!("/v1/accounts/{ID}")).await.body;
    assert_eq!(read["labels"]["pci"], "");
}

/// Issue 25 #11: one text policy for every stored field (invisible and
/// control characters refused in patterns and tag filters too), and names
/// a customer is shown in one script; one stored before is flagged on the
/// customer's page.
#[tokio::test]
async fn invisible_characters_and_look_alike_names_are_refused() {
    let app = TestApp::new().await;
    let cases = [
        (
            Method::POST,
            "/v1/accounts",
            json!({"account_id": ID, "name": "\u{0410}mazon"}),
            "name",
            "mixed_script",
        ),
        (
            Method::POST,
            "/v1/accounts",
            json!({"account_id": ID, "name": "Pay\u{200B}ments"}),
            "name",
            "invalid_value",
        ),
        (
            Method::POST,
            "/v1/accounts",
            json!({"account_id": ID, "name": "P", "resource_regex_ignore_list": ["^a\nb$"]}),
            "resource_regex_ignore_list[0]",
            "invalid_value",
        ),
        (
            Method::PUT,
            "/v1/settings",
            json!({"product_name": "P\u{0430}yPal"}),
            "product_name",
            "mixed_script",
        ),
        (
            Method::POST,
            "/v1/organizations",
            json!({
                "name": "Org", "management_account_id": "888888888888",
                "role_arn": "arn:aws:iam::888888888888:role/AccountOnboardingOrganizations",
                "filters": {"tags": [{"key": "team\u{202E}", "values": []}]},
            }),
            "filters.tags",
            "invalid_value",
        ),
        (
            Method::POST,
            "/v1/organizations",
            json!({
                "name": "Org", "management_account_id": "888888888888",
                "role_arn": "arn:aws:iam::888888888888:role/AccountOnboardingOrganizations",
                "filters": {"tags": [{"key": "team", "values": ["core\n"]}]},
            }),
            "filters.tags",
            "invalid_value",
        ),
    ];
    let before = app.snapshot().await;
    for (method, uri, body, field, code) in cases {
        let reply = app.call(method, uri, Some(&body)).await;
        reply.assert_error(400, code);
        assert_eq!(reply.field(), field, "{body}");
    }
    assert_eq!(app.snapshot().await, before, "nothing written");

    // A name stored before the rule: the page marks it.
    let mut account = service::account::Account::register(
        ID.into(),
        service::account::AccountFields {
            name: "\u{0410}mazon".into(),
            ..Default::default()
        },
        "legacy",
        service::time::Timestamp::now(),
    );
    account.fields.role_arn = None;
    app.store.create_account(TENANT, &account).await.unwrap();
    let link = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{ID}/onboarding-links"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(link.status, StatusCode::CREATED, "{:#}", link.body);
    let page = app
        .call_with(
            Method::GET,
            link.body["path"].as_str().unwrap(),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .body
        .as_str()
        .unwrap()
        .contains("mixes writing systems"));
}

/// Issue 25 #8: every write route, given a body of valid shape that is
/// too large for what it stores, answers 400 or 413 naming the problem,
/// never a 500, and writes nothing.
#[tokio::test]
async fn every_write_route_refuses_an_oversized_body_of_valid_shape() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let long = |n: usize| "a".repeat(n);
    let patterns: Vec<String> = (0..100).map(|i| format!("{i}{}", long(1020))).collect();
    let labels: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("{i}{}", "é".repeat(120)), json!("é".repeat(256))))
        .collect();
    let fat = json!({"name": "Fat", "resource_regex_ignore_list": patterns, "labels": labels});
    let mut fat_create = fat.clone();
    fat_create["account_id"] = json!("222222222222");
    let tags: Vec<Value> = (0..100)
        .map(|i| json!({"key": format!("k{i}"), "values": (0..100).map(|v| format!("{v}{}", long(40))).collect::<Vec<_>>()}))
        .collect();
    let organization = json!({
        "name": "Org", "management_account_id": "888888888888",
        "role_arn": "arn:aws:iam::888888888888:role/AccountOnboardingOrganizations",
        "filters": {"tags": tags},
    });
    let long_type =
        json!({"name": "T", "resource_type_ignore_list": [format!("AWS.S3.{}", long(1800))]});
    let cases = [
        (Method::POST, "/v1/accounts".to_string(), fat_create),
        (Method::PUT, format!("/v1/accounts/{ID}"), fat.clone()),
        (Method::PATCH, format!("/v1/accounts/{ID}"), fat.clone()),
        (Method::PATCH, format!("/v1/accounts/{ID}"), long_type),
        (Method::POST, "/v1/organizations".to_string(), organization),
        (
            Method::POST,
            "/v1/webhooks".to_string(),
            json!({"url": format!("https://hooks.example.com/{}", long(3000))}),
        ),
        (
            Method::POST,
            "/v1/webhooks".to_string(),
            json!({"url": "https://hooks.example.com/", "description": long(3000)}),
        ),
        (
            Method::POST,
            "/v1/api-keys".to_string(),
            json!({"name": long(3000), "scopes": ["read"]}),
        ),
        (
            Method::POST,
            "/v1/suppression-rules".to_string(),
            json!({"reason": long(3000), "rule": "X"}),
        ),
        (
            Method::PUT,
            "/v1/settings".to_string(),
            json!({"product_name": long(3000)}),
        ),
        (
            Method::PUT,
            "/v1/settings".to_string(),
            json!({"logo_url": format!("https://cdn.example.com/{}", long(3000))}),
        ),
        (
            Method::PUT,
            format!("/v1/accounts/{ID}/data-sources/aws:iam"),
            json!({"config": (0..60).map(|i| (format!("k{i}"), json!(long(10)))).collect::<serde_json::Map<_, _>>()}),
        ),
        (
            Method::POST,
            "/v1/accounts".to_string(),
            json!({"account_id": "333333333333", "name": long(2 << 20)}),
        ),
    ];
    let before = app.snapshot().await;
    for (method, uri, body) in cases {
        let reply = app.call(method.clone(), &uri, Some(&body)).await;
        assert!(
            [400, 413].contains(&reply.status.as_u16()),
            "{method} {uri}: {} {:#}",
            reply.status,
            reply.body
        );
        assert!(
            !reply.code().is_empty()
                && !reply.body["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
        );
    }
    assert_eq!(app.snapshot().await, before, "nothing written");
}

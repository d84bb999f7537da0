//! Other products' account APIs served beside `/v1` (functions/api/src/dialects):
//! each called as its document describes, on the same accounts as `/v1`.

use crate::harness::{TestApp, CUSTOMER_ACCOUNT};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use service::api_key::Scope;

fn role(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

/// What Panther's error body is: `{"message"}` and nothing of ours.
#[track_caller]
fn assert_panther_error(reply: &crate::harness::Reply, status: u16) -> String {
    assert_eq!(reply.status.as_u16(), status, "{:#}", reply.body);
    let body = reply.body.as_object().expect("an object");
    assert_eq!(body.len(), 1, "{:#}", reply.body);
    let message = body["message"].as_str().expect("a message").to_string();
    assert!(!message.is_empty());
    assert_eq!(reply.header("content-type"), "application/json");
    message
}

#[track_caller]
fn assert_product_error(product: &str, reply: &crate::harness::Reply, status: u16) {
    match product {
        "panther" => drop(assert_panther_error(reply, status)),
        "cloudcraft" => drop(assert_cloudcraft_error(reply, status)),
        "risken" => {
            assert_eq!(reply.status.as_u16(), status, "{:#}", reply.body);
            assert!(reply.body["error"].is_string(), "{:#}", reply.body);
            assert_eq!(reply.body.as_object().map(|o| o.len()), Some(1));
        }
        "carbonblack" => drop(assert_carbon_black_error(reply, status)),
        _ => drop(assert_cloudability_error(reply, status)),
    }
}

/// What an infrastructure-as-code client does: create, read back what it
/// sent, update, meet a delete made out of band (404), create again (a new
/// integrationId; the old one finds nothing), destroy.
#[tokio::test]
async fn panther_lifecycle_as_an_infrastructure_as_code_client_walks_it() {
    let app = TestApp::new().await;
    let sent = json!({
        "awsAccountId": CUSTOMER_ACCOUNT,
        "integrationLabel": "Prod Audit-1",
        "awsScanConfig": {"auditRole": role(CUSTOMER_ACCOUNT, "PantherAuditRole")},
        "regionIgnoreList": ["eu-west-3"],
        "resourceTypeIgnoreList": ["AWS.S3.Bucket"],
        "resourceRegexIgnoreList": ["^arn:aws:s3:::logs-.*$"],
    });
    let created = app
        .call(Method::POST, "/cloud-accounts/aws", Some(&sent))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let id = created.body["integrationId"].as_str().unwrap().to_string();
    let mut expected = sent.clone();
    expected["integrationId"] = json!(id);
    assert_eq!(created.body, expected);

    let read = app.get(&format!("/cloud-accounts/aws/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, expected, "read back exactly what was sent");

    let update = json!({
        "integrationLabel": "Prod Audit-2",
        "awsScanConfig": {"auditRole": role(CUSTOMER_ACCOUNT, "PantherAuditRole")},
        "regionIgnoreList": [],
    });
    let updated = app
        .call(
            Method::PUT,
            &format!("/cloud-accounts/aws/{id}/"),
            Some(&update),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:#}", updated.body);
    assert_eq!(updated.body["integrationLabel"], "Prod Audit-2");
    // A PUT replaces Panther's fields: the lists it left out are empty.
    for list in [
        "regionIgnoreList",
        "resourceTypeIgnoreList",
        "resourceRegexIgnoreList",
    ] {
        assert_eq!(updated.body[list], json!([]), "{list}");
    }
    assert_eq!(
        app.get(&format!("/cloud-accounts/aws/{id}")).await.body,
        updated.body
    );

    // Deleted out of band (through /v1): Panther's client reads a 404.
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/v1/accounts/{CUSTOMER_ACCOUNT}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app.get(&format!("/cloud-accounts/aws/{id}")).await;
    assert_panther_error(&gone, 404);

    let again = app
        .call(Method::POST, "/cloud-accounts/aws/", Some(&sent))
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{:#}", again.body);
    let new_id = again.body["integrationId"].as_str().unwrap().to_string();
    assert_ne!(new_id, id, "an integrationId is never reused");
    assert_panther_error(&app.get(&format!("/cloud-accounts/aws/{id}")).await, 404);
    let stale_put = app
        .call(
            Method::PUT,
            &format!("/cloud-accounts/aws/{id}"),
            Some(&update),
        )
        .await;
    assert_panther_error(&stale_put, 404);
    // The stale id deletes nothing: the new account stays.
    let stale_delete = app
        .call(Method::DELETE, &format!("/cloud-accounts/aws/{id}"), None)
        .await;
    assert_eq!(stale_delete.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/cloud-accounts/aws/{new_id}"))
            .await
            .status,
        StatusCode::OK
    );

    let destroyed = app
        .call(
            Method::DELETE,
            &format!("/cloud-accounts/aws/{new_id}"),
            None,
        )
        .await;
    assert_eq!(destroyed.status, StatusCode::NO_CONTENT);
    assert_eq!(destroyed.body, Value::Null);
    assert_panther_error(
        &app.get(&format!("/cloud-accounts/aws/{new_id}")).await,
        404,
    );
    assert_eq!(
        app.get(&format!("/v1/accounts/{CUSTOMER_ACCOUNT}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// One account, two APIs: created in Panther it is the `/v1` account (its
/// integrationId under `products.panther`), a `/v1` change shows in
/// Panther, and a Panther PUT keeps the fields Panther does not have.
#[tokio::test]
async fn an_account_created_in_panther_is_the_same_account_in_v1() {
    let app = TestApp::new().await;
    let created = app
        .call(
            Method::POST,
            "/cloud-accounts/aws",
            Some(&json!({"awsAccountId": CUSTOMER_ACCOUNT, "integrationLabel": "shared", "awsScanConfig": {}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    // No role given: the one the customer's template creates is assumed.
    assert_eq!(
        created.body["awsScanConfig"],
        json!({"auditRole": role(CUSTOMER_ACCOUNT, "AccountOnboardingAudit")})
    );
    let id = created.body["integrationId"].as_str().unwrap().to_string();

    let v1 = app.get(&format!("/v1/accounts/{CUSTOMER_ACCOUNT}")).await;
    assert_eq!(v1.status, StatusCode::OK);
    assert_eq!(v1.body["name"], "shared");
    assert_eq!(v1.body["products"]["panther"]["integration_id"], json!(id));
    assert_eq!(v1.header("etag"), "\"1\"");

    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{CUSTOMER_ACCOUNT}"),
            Some(&json!({"name": "renamed", "owner_email": "sec@example.com", "labels": {"team": "blue"}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);
    assert_eq!(
        app.get(&format!("/cloud-accounts/aws/{id}")).await.body["integrationLabel"],
        "renamed"
    );

    let put = app
        .call(
            Method::PUT,
            &format!("/cloud-accounts/aws/{id}"),
            Some(&json!({"awsAccountId": CUSTOMER_ACCOUNT, "integrationLabel": "again", "awsScanConfig": {}})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{:#}", put.body);
    let v1 = app.get(&format!("/v1/accounts/{CUSTOMER_ACCOUNT}")).await;
    assert_eq!(v1.body["name"], "again");
    assert_eq!(v1.body["owner_email"], "sec@example.com");
    assert_eq!(v1.body["labels"], json!({"team": "blue"}));
    assert_eq!(
        v1.header("etag"),
        "\"3\"",
        "one version per write, in either API"
    );
    // The account id cannot be changed through Panther either.
    let moved = app
        .call(
            Method::PUT,
            &format!("/cloud-accounts/aws/{id}"),
            Some(&json!({"awsAccountId": "222222222222", "integrationLabel": "x", "awsScanConfig": {}})),
        )
        .await;
    let message = assert_panther_error(&moved, 400);
    assert!(message.contains("awsAccountId"), "{message}");
    // The integrationId is the server's: a /v1 write cannot set it.
    let forged = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{CUSTOMER_ACCOUNT}"),
            Some(&json!({"products": {"panther": {"integration_id": "x"}}})),
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{:#}", forged.body);

    // An account registered through /v1 is in Panther by its own id.
    let other = app.create("333333333333", json!({})).await;
    let other_id = other["products"]["panther"]["integration_id"]
        .as_str()
        .unwrap();
    let seen = app.get(&format!("/cloud-accounts/aws/{other_id}")).await;
    assert_eq!(seen.status, StatusCode::OK, "{:#}", seen.body);
    assert_eq!(seen.body["awsAccountId"], "333333333333");
    for list in [
        "regionIgnoreList",
        "resourceTypeIgnoreList",
        "resourceRegexIgnoreList",
    ] {
        assert_eq!(seen.body[list], json!([]), "always an array, never null");
    }
}

/// Refusals in Panther's shape, with its statuses and field names; its
/// permissions are our scopes; another tenant's id is a 404.
#[tokio::test]
async fn panther_refusals_are_in_panthers_shape() {
    let app = TestApp::new().await;
    let body = json!({
        "awsAccountId": CUSTOMER_ACCOUNT,
        "integrationLabel": "ok",
        "awsScanConfig": {"auditRole": role("999999999999", "Elsewhere")},
    });
    let wrong_role = app
        .call(Method::POST, "/cloud-accounts/aws", Some(&body))
        .await;
    let message = assert_panther_error(&wrong_role, 400);
    assert!(message.starts_with("awsScanConfig.auditRole"), "{message}");
    assert!(!message.contains("role_arn"), "{message}");

    let not_json = app
        .raw(Method::POST, "/cloud-accounts/aws", "application/json", "{")
        .await;
    assert_panther_error(&not_json, 400);
    let bad_id = app
        .call(
            Method::POST,
            "/cloud-accounts/aws",
            Some(&json!({"awsAccountId": "12", "integrationLabel": "x", "awsScanConfig": {}})),
        )
        .await;
    let message = assert_panther_error(&bad_id, 400);
    assert!(message.contains("awsAccountId"), "{message}");

    let good =
        json!({"awsAccountId": CUSTOMER_ACCOUNT, "integrationLabel": "ok", "awsScanConfig": {}});
    let created = app
        .call(Method::POST, "/cloud-accounts/aws", Some(&good))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["integrationId"].as_str().unwrap().to_string();
    assert_panther_error(
        &app.call(Method::POST, "/cloud-accounts/aws", Some(&good))
            .await,
        409,
    );

    // Permissions: View is read, Manage is write.
    let view = app.key("acme", &[Scope::Read]).await;
    let read = app
        .call_with(
            Method::GET,
            &format!("/cloud-accounts/aws/{id}"),
            Some(&view),
            None,
            &[],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let write = app
        .call_with(
            Method::DELETE,
            &format!("/cloud-accounts/aws/{id}"),
            Some(&view),
            None,
            &[],
        )
        .await;
    assert_panther_error(&write, 403);
    let anonymous = app
        .call_with(
            Method::GET,
            &format!("/cloud-accounts/aws/{id}"),
            None,
            None,
            &[],
        )
        .await;
    assert_panther_error(&anonymous, 401);

    // Another tenant holding the id finds nothing, and deletes nothing.
    let stranger = app.key("other", Scope::ALL).await;
    let seen = app
        .call_with(
            Method::GET,
            &format!("/cloud-accounts/aws/{id}"),
            Some(&stranger),
            None,
            &[],
        )
        .await;
    assert_panther_error(&seen, 404);
    let removed = app
        .call_with(
            Method::DELETE,
            &format!("/cloud-accounts/aws/{id}"),
            Some(&stranger),
            None,
            &[],
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/cloud-accounts/aws/{id}")).await.status,
        StatusCode::OK
    );

    // Ids that cannot be ours cost no read and say so in Panther's shape.
    let long = "a".repeat(5000);
    assert_panther_error(&app.get(&format!("/cloud-accounts/aws/{long}")).await, 400);
    assert_panther_error(&app.get("/cloud-accounts/aws/not-an-id").await, 404);
    assert_panther_error(&app.get("/cloud-accounts/aws/x/y").await, 404);
    assert_panther_error(
        &app.call(
            Method::PATCH,
            &format!("/cloud-accounts/aws/{id}"),
            Some(&good),
        )
        .await,
        400,
    );
}

/// The document is served per dialect, and a deployment can switch a
/// dialect off: its paths and document are then not there at all.
#[tokio::test]
async fn a_dialect_has_its_document_and_can_be_switched_off() {
    let mut app = TestApp::new().await;
    let document = app.get("/v1/dialects/panther/openapi.json").await;
    assert_eq!(document.status, StatusCode::OK);
    assert_eq!(document.body["info"]["title"], "Panther REST API");
    assert!(document.body["paths"]["/cloud-accounts/aws/{id}"]["put"].is_object());
    app.get("/v1/dialects/nothing/openapi.json")
        .await
        .assert_error(404, "not_found");

    app.reconfigure(|mut state| {
        state.dialects = Vec::new().into();
        state
    });
    app.get("/v1/dialects/panther/openapi.json")
        .await
        .assert_error(404, "not_found");
    let body =
        json!({"awsAccountId": CUSTOMER_ACCOUNT, "integrationLabel": "x", "awsScanConfig": {}});
    let off = app
        .call(Method::POST, "/cloud-accounts/aws", Some(&body))
        .await;
    assert_panther_error(&off, 404);
    assert_eq!(
        app.get(&format!("/v1/accounts/{CUSTOMER_ACCOUNT}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Every operation of each dialect's document is routed (with and without
/// a trailing slash), asks for the scope its product's permission maps to,
/// and refuses an over-long path parameter before any read, all in the
/// product's shape.
#[tokio::test]
async fn every_documented_dialect_operation_is_served_with_its_scope() {
    let app = TestApp::new().await;
    let read = app.key("acme", &[Scope::Read]).await;
    let write = app.key("acme", &[Scope::Write]).await;
    let execute = app.key("acme", &[Scope::Execute]).await;
    for (product, count) in [
        ("panther", 4),
        ("cloudcraft", 6),
        ("cloudability", 10),
        ("risken", 9),
        ("carbonblack", 13),
    ] {
        let document = app
            .get(&format!("/v1/dialects/{product}/openapi.json"))
            .await
            .body;
        let mut operations = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, _) in item.as_object().unwrap() {
                operations += 1;
                let method: Method = method.to_uppercase().parse().unwrap();
                // Cloudcraft's iamParameters reserves an external ID: a write.
                // Carbon Black's template is for who may import (CREATE, UPDATE).
                let needs = match method {
                    Method::GET
                        if !path.ends_with("iamParameters") && !path.ends_with("/template") =>
                    {
                        &read
                    }
                    _ if path.contains("_search") => &read,
                    _ if path.ends_with("/verification")
                        || path.contains("invoke-scan")
                        || path.ends_with("validate_role")
                        || path.ends_with("account_actions") =>
                    {
                        &execute
                    }
                    _ => &write,
                };
                let lacks = if needs == &read { &write } else { &read };
                let body = json!({});
                let concrete = path
                    .replace("{id}", "00000000-0000-8000-8000-000000000000")
                    .replace("{vendor}", "AWS")
                    .replace("{account_id}", "000000000001")
                    .replace("{org_key}", "acme")
                    .replace("{cloud_provider}", "AWS")
                    .trim_end_matches('/')
                    .to_string();
                for uri in [concrete.clone(), format!("{concrete}/")] {
                    let reply = app
                        .call_with(method.clone(), &uri, Some(needs), Some(&body), &[])
                        .await;
                    assert!(
                        !reply.body.to_string().contains("no such route"),
                        "{method} {uri} is not routed: {:#}",
                        reply.body
                    );
                    assert!(
                        ![401, 403, 405].contains(&reply.status.as_u16()),
                        "{method} {uri}: {:#}",
                        reply.body
                    );
                    let refused = app
                        .call_with(method.clone(), &uri, Some(lacks), Some(&body), &[])
                        .await;
                    assert_product_error(product, &refused, 403);
                }
                if path.contains("{id}") || path.contains("{account_id}") {
                    let long = concrete
                        .replace("00000000-0000-8000-8000-000000000000", &"9".repeat(300))
                        .replace("000000000001", &"9".repeat(300));
                    let reply = app
                        .call_with(method.clone(), &long, Some(needs), Some(&body), &[])
                        .await;
                    assert_product_error(product, &reply, 400);
                }
            }
        }
        assert_eq!(operations, count, "{product}");
    }
}

/// A Cloudcraft call: `Authorization: Bearer <key>`.
async fn cloudcraft(
    app: &TestApp,
    method: Method,
    uri: &str,
    key: &str,
    body: Option<&Value>,
) -> crate::harness::Reply {
    let bearer = format!("Bearer {key}");
    app.call_with(
        method,
        uri,
        None,
        body,
        &[("authorization", bearer.as_str())],
    )
    .await
}

/// Cloudcraft's error objects: `{"statusCode", "error", "message"}`.
#[track_caller]
fn assert_cloudcraft_error(reply: &crate::harness::Reply, status: u16) -> String {
    assert_eq!(reply.status.as_u16(), status, "{:#}", reply.body);
    assert_eq!(reply.body["statusCode"], json!(status), "{:#}", reply.body);
    assert!(reply.body["error"].is_string(), "{:#}", reply.body);
    assert!(reply.body.get("code").is_none(), "{:#}", reply.body);
    reply.body["message"]
        .as_str()
        .expect("a message")
        .to_string()
}

/// Cloudcraft's guide, step by step: get the IAM role parameters (the
/// external ID comes before the account), create the role with them as the
/// guide's `aws iam create-role` does, add the account with the role's ARN
/// and a region: the account is guarded by that very external ID, so the
/// role verifies at once. Then list, update, delete as its API does.
#[tokio::test]
async fn cloudcraft_guide_add_an_account_with_the_reserved_external_id() {
    let app = TestApp::new().await;
    let key = app.key.clone();
    let parameters = cloudcraft(&app, Method::GET, "/aws/account/iamParameters", &key, None).await;
    assert_eq!(parameters.status, StatusCode::OK, "{:#}", parameters.body);
    let vendor = parameters.body["accountId"].as_str().unwrap().to_string();
    let external_id = parameters.body["externalId"].as_str().unwrap().to_string();
    assert_eq!(vendor, crate::harness::VENDOR_ACCOUNT);
    assert!(parameters.body["awsConsoleUrl"]
        .as_str()
        .unwrap()
        .starts_with("https://console.aws.amazon.com/cloudformation/"));
    let again = cloudcraft(&app, Method::GET, "/aws/account/iamParameters", &key, None).await;
    assert_eq!(
        again.body["externalId"],
        json!(external_id),
        "one reservation until used"
    );

    // The guide's role: trusts the vendor's root with the external ID, and
    // (the one difference, see the README) lets sessions name the tenant.
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{vendor}:root")},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]});
    let role_arn = app
        .create_named_role(CUSTOMER_ACCOUNT, "cloudcraft", &trust, &[])
        .await;

    let added = cloudcraft(
        &app,
        Method::POST,
        "/aws/account",
        &key,
        Some(&json!({"name": "AWS_ACCOUNT_NAME", "roleArn": role_arn, "region": "us-east-1"})),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:#}", added.body);
    assert_eq!(added.body["externalId"], json!(external_id));
    assert_eq!(added.body["roleArn"], json!(role_arn));
    assert_eq!(added.body["region"], "us-east-1");
    assert_eq!(added.body["awsAccountId"], CUSTOMER_ACCOUNT);
    let created_at = added.body["createdAt"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok(),
        "{created_at}"
    );
    let id = added.body["id"].as_str().unwrap().to_string();

    let verified = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{CUSTOMER_ACCOUNT}/verify"),
            None,
        )
        .await;
    assert_eq!(
        verified.body["credential"]["verification_status"], "SUCCESS",
        "{:#}",
        verified.body
    );
    // The reservation is used: the next account gets another external ID.
    let next = cloudcraft(&app, Method::GET, "/aws/account/iamParameters", &key, None).await;
    assert_ne!(next.body["externalId"], json!(external_id));

    let listed = cloudcraft(&app, Method::GET, "/aws/account", &key, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["accounts"][0]["id"], json!(id));
    let updated = cloudcraft(
        &app,
        Method::PUT,
        &format!("/aws/account/{id}"),
        &key,
        Some(&json!({"region": "eu-west-1"})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{:#}", updated.body);
    assert_eq!(updated.body["region"], "eu-west-1");
    assert_eq!(updated.body["name"], "AWS_ACCOUNT_NAME");
    let v1 = app.get(&format!("/v1/accounts/{CUSTOMER_ACCOUNT}")).await;
    assert_eq!(v1.body["labels"]["cloudcraft:region"], "eu-west-1");
    assert_eq!(v1.body["products"]["cloudcraft"]["id"], json!(id));

    let deleted = cloudcraft(
        &app,
        Method::DELETE,
        &format!("/aws/account/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = cloudcraft(&app, Method::GET, &format!("/aws/account/{id}"), &key, None).await;
    assert_cloudcraft_error(&gone, 404);
}

/// Cloudcraft's refusals, and one account in every API: made in Cloudcraft,
/// renamed in /v1, seen in Panther, deleted in Panther.
#[tokio::test]
async fn cloudcraft_refusals_and_one_account_across_three_apis() {
    let app = TestApp::new().await;
    let key = app.key.clone();
    let role = role(CUSTOMER_ACCOUNT, "cloudcraft");
    let post = |body: Value| {
        let key = key.clone();
        let app = &app;
        async move { cloudcraft(app, Method::POST, "/aws/account", &key, Some(&body)).await }
    };
    let message = assert_cloudcraft_error(&post(json!({"name": "x"})).await, 400);
    assert!(message.contains("roleArn"), "{message}");
    let message = assert_cloudcraft_error(
        &post(json!({"name": "x", "roleArn": role, "region": "mars-1"})).await,
        400,
    );
    assert!(message.starts_with("region"), "{message}");
    let message = assert_cloudcraft_error(&post(json!({"name": "", "roleArn": role})).await, 400);
    assert!(message.contains("name"), "{message}");
    let added = post(json!({"name": "three apis", "roleArn": role})).await;
    assert_eq!(added.status, StatusCode::CREATED, "{:#}", added.body);
    assert_eq!(added.body["region"], Value::Null);
    assert_cloudcraft_error(&post(json!({"name": "again", "roleArn": role})).await, 409);
    let id = added.body["id"].as_str().unwrap().to_string();
    assert_cloudcraft_error(
        &cloudcraft(&app, Method::GET, "/aws/account", "not-a-key", None).await,
        401,
    );
    let stranger = app.key("other", Scope::ALL).await;
    assert_cloudcraft_error(
        &cloudcraft(
            &app,
            Method::GET,
            &format!("/aws/account/{id}"),
            &stranger,
            None,
        )
        .await,
        404,
    );
    let listed = cloudcraft(&app, Method::GET, "/aws/account", &stranger, None).await;
    assert_eq!(listed.body, json!({"accounts": []}));
    let reader = app.key("acme", &[Scope::Read]).await;
    assert_cloudcraft_error(
        &cloudcraft(
            &app,
            Method::GET,
            "/aws/account/iamParameters",
            &reader,
            None,
        )
        .await,
        403,
    );

    let renamed = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{CUSTOMER_ACCOUNT}"),
            Some(&json!({"name": "renamed in v1"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    let panther_id = renamed.body["products"]["panther"]["integration_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(panther_id, id, "each product has its own id");
    let in_panther = app.get(&format!("/cloud-accounts/aws/{panther_id}")).await;
    assert_eq!(in_panther.body["integrationLabel"], "renamed in v1");
    assert_eq!(in_panther.body["awsScanConfig"]["auditRole"], json!(role));
    let read = cloudcraft(&app, Method::GET, &format!("/aws/account/{id}"), &key, None).await;
    assert_eq!(read.body["name"], "renamed in v1");
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/cloud-accounts/aws/{panther_id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_cloudcraft_error(
        &cloudcraft(&app, Method::GET, &format!("/aws/account/{id}"), &key, None).await,
        404,
    );
    assert_cloudcraft_error(
        &cloudcraft(
            &app,
            Method::DELETE,
            &format!("/aws/account/{id}"),
            &key,
            None,
        )
        .await,
        404,
    );
}

/// A Cloudability call: HTTP Basic, the key as user name, no password.
async fn cloudability(
    app: &TestApp,
    method: Method,
    uri: &str,
    key: &str,
    body: Option<&Value>,
) -> crate::harness::Reply {
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    );
    app.call_with(
        method,
        uri,
        None,
        body,
        &[("authorization", basic.as_str())],
    )
    .await
}

/// Cloudability's errors: `{"error": {"status", "code": [...], "messages": [...]}}`.
#[track_caller]
fn assert_cloudability_error(reply: &crate::harness::Reply, status: u16) -> String {
    assert_eq!(reply.status.as_u16(), status, "{:#}", reply.body);
    let error = &reply.body["error"];
    assert_eq!(error["status"], json!(status), "{:#}", reply.body);
    assert!(error["code"]
        .as_array()
        .is_some_and(|codes| codes.len() == 1));
    error["messages"][0]
        .as_str()
        .expect("a message")
        .to_string()
}

/// The document's requests, in its order: list (`viewId=0`), create a
/// payer and a linked account, list with their association, update,
/// retrieve, verify, the template, rotate the external ID, migrate,
/// archive, delete (200). Where the document asks for what this service
/// refuses (a chosen external ID, IAM user keys) the answer says why.
#[tokio::test]
async fn cloudability_vendor_credentials_as_documented() {
    let app = TestApp::new().await;
    let key = app.key.clone();
    let call = |method: Method, uri: &str, body: Option<Value>| {
        let (app, key, uri) = (&app, key.clone(), uri.to_string());
        async move { cloudability(app, method, &uri, &key, body.as_ref()).await }
    };
    let listed = call(Method::GET, "/v3/vendors/AWS/accounts?viewId=0", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{:#}", listed.body);
    assert_eq!(listed.body, json!({"result": []}));

    // The payer, as documented: its chosen external ID is refused.
    let mut payer = json!({
        "vendorAccountId": "999966667777",
        "type": "aws_role",
        "bucketName": "some bucket name",
        "roleName": "CloudabilityRole",
        "externalID": "some external ID",
        "costAndUsageReport": {"name": "costandusageboth", "prefix": "some prefix"},
        "region": "us-west-2",
        "isOrgLevelPolicyEnabled": true
    });
    let refused = call(
        Method::POST,
        "/v3/vendors/aws/accounts",
        Some(payer.clone()),
    )
    .await;
    let message = assert_cloudability_error(&refused, 400);
    assert!(message.contains("external ID is generated"), "{message}");
    payer.as_object_mut().unwrap().remove("externalID");
    let created = call(
        Method::POST,
        "/v3/vendors/aws/accounts",
        Some(payer.clone()),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let credential = &created.body["result"];
    assert_eq!(credential["id"], "999966667777");
    assert_eq!(credential["vendorAccountId"], "999966667777");
    assert_eq!(credential["vendorKey"], "aws");
    assert_eq!(credential["verification"]["state"], "unverified");
    let authorization = &credential["authorization"];
    assert_eq!(authorization["type"], "aws_role");
    assert_eq!(authorization["roleName"], "CloudabilityRole");
    assert_eq!(authorization["bucketName"], "some bucket name");
    assert_eq!(authorization["region"], "us-west-2");
    assert_eq!(authorization["isOrgLevelPolicyEnabled"], true);
    assert_eq!(
        authorization["costAndUsageReport"],
        json!({"name": "costandusageboth", "prefix": "some prefix"})
    );
    let external_id = authorization["externalId"].as_str().unwrap().to_string();
    assert_eq!(external_id.len(), 40);

    let user = call(
        Method::POST,
        "/v3/vendors/aws/accounts",
        Some(json!({"vendorAccountId": "999988887777", "type": "aws_user"})),
    )
    .await;
    assert!(assert_cloudability_error(&user, 400).contains("aws_user"));
    let linked = call(
        Method::POST,
        "/v3/vendors/aws/accounts/",
        Some(json!({"vendorAccountId": "999988887777", "type": "aws_role", "region": "us-west-2", "parentAccountId": "999966667777"})),
    )
    .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{:#}", linked.body);
    assert_eq!(linked.body["result"]["parentAccountId"], "999966667777");

    let associated = call(
        Method::GET,
        "/v3/vendors/AWS/accounts?viewId=0&include=associatedAccounts",
        None,
    )
    .await;
    let payer_listed = associated.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "999966667777")
        .unwrap()
        .clone();
    assert_eq!(payer_listed["associatedAccounts"][0]["id"], "999988887777");
    let one = call(
        Method::GET,
        "/v3/vendors/AWS/accounts/999966667777?include=associatedAccounts",
        None,
    )
    .await;
    assert_eq!(
        one.body["result"]["associatedAccounts"][0]["id"],
        "999988887777"
    );

    // Update as documented: another external ID is refused, its own is fine.
    let mut update = json!({
        "type": "aws_role", "vendorAccountId": "999966667777", "bucketName": "test",
        "consumerOrgId": "", "costAndUsageReport": {"name": "test", "prefix": "test"},
        "region": "us-west-2", "isOrgLevelPolicyEnabled": false,
        "externalId": "c1c1a1b1-b1c1-1111-ac11-e111a11f1ab1"
    });
    let refused = call(
        Method::PUT,
        "/v3/vendors/aws/accounts/999966667777",
        Some(update.clone()),
    )
    .await;
    assert_cloudability_error(&refused, 400);
    update["externalId"] = json!(external_id);
    let updated = call(
        Method::PUT,
        "/v3/vendors/aws/accounts/999966667777",
        Some(update),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{:#}", updated.body);
    assert_eq!(
        updated.body["result"]["authorization"]["bucketName"],
        "test"
    );
    assert_eq!(
        updated.body["result"]["authorization"]["isOrgLevelPolicyEnabled"],
        false
    );
    let v1 = app.get("/v1/accounts/999966667777").await;
    assert_eq!(v1.body["labels"]["cloudability:bucketName"], "test");

    let verified = call(
        Method::POST,
        "/v3/vendors/AWS/accounts/999988887777/verification",
        None,
    )
    .await;
    assert_eq!(verified.status, StatusCode::OK, "{:#}", verified.body);
    assert_eq!(verified.body["result"]["verification"]["state"], "error");
    assert!(verified.body["result"]["verification"]["lastVerificationAttemptedAt"].is_string());
    assert!(verified.body["result"]["verification"]["message"].is_string());

    let template = call(
        Method::GET,
        "/v3/vendors/AWS/accounts/999988887777/cloudformation-template",
        None,
    )
    .await;
    assert_eq!(template.status, StatusCode::OK);
    let linked_id = linked.body["result"]["authorization"]["externalId"]
        .as_str()
        .unwrap();
    assert!(template.body.as_str().unwrap().contains(linked_id));

    let rotated = call(
        Method::POST,
        "/v3/vendors/AWS/accounts/999988887777/external-id-rotation",
        None,
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:#}", rotated.body);
    assert_ne!(
        rotated.body["result"]["authorization"]["externalId"],
        json!(linked_id)
    );
    let migrated = call(
        Method::POST,
        "/v3/vendors/AWS/accounts/999988887777/user-to-role-migration",
        None,
    )
    .await;
    assert_eq!(migrated.body["result"]["authorization"]["type"], "aws_role");
    let archived = call(
        Method::POST,
        "/v3/vendors/aws/accounts/999988887777/archive",
        None,
    )
    .await;
    assert_eq!(archived.status, StatusCode::OK, "{:#}", archived.body);
    assert!(app.get("/v1/accounts/999988887777").await.body["archived_at"].is_string());

    // The payer has a linked account: deleting it first is refused.
    assert_cloudability_error(
        &call(
            Method::DELETE,
            "/v3/vendors/AWS/accounts/999966667777",
            None,
        )
        .await,
        409,
    );
    let deleted = call(
        Method::DELETE,
        "/v3/vendors/AWS/accounts/999988887777",
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body["result"]["id"], "999988887777");
    assert_cloudability_error(
        &call(Method::GET, "/v3/vendors/AWS/accounts/999988887777", None).await,
        404,
    );
    assert_cloudability_error(
        &call(Method::GET, "/v3/vendors/gcp/accounts", None).await,
        404,
    );
}

/// HTTP Basic carries the key only as a user name with no password, and
/// another tenant's account is not there.
#[tokio::test]
async fn cloudability_keys_and_tenants() {
    use base64::Engine;
    let app = TestApp::new().await;
    app.create("999966667777", json!({})).await;
    let with_password = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:secret", app.key))
    );
    let reply = app
        .call_with(
            Method::GET,
            "/v3/vendors/AWS/accounts",
            None,
            None,
            &[("authorization", with_password.as_str())],
        )
        .await;
    assert_cloudability_error(&reply, 401);
    let garbage = app
        .call_with(
            Method::GET,
            "/v3/vendors/AWS/accounts",
            None,
            None,
            &[("authorization", "Basic !!!")],
        )
        .await;
    assert_cloudability_error(&garbage, 401);
    let stranger = app.key("other", Scope::ALL).await;
    let reply = cloudability(
        &app,
        Method::GET,
        "/v3/vendors/AWS/accounts/999966667777",
        &stranger,
        None,
    )
    .await;
    assert_cloudability_error(&reply, 404);
    let reader = app.key("acme", &[Scope::Read, Scope::Write]).await;
    let reply = cloudability(
        &app,
        Method::POST,
        "/v3/vendors/AWS/accounts/999966667777/verification",
        &reader,
        None,
    )
    .await;
    assert_cloudability_error(&reply, 403);
    let mine = cloudability(
        &app,
        Method::GET,
        "/v3/vendors/AWS/accounts/999966667777",
        &app.key,
        None,
    )
    .await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(
        mine.body["result"]["vendorAccountName"],
        "Account 999966667777"
    );
}

/// A RISKEN call: `Authorization: Bearer <token>`.
async fn risken(
    app: &TestApp,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> crate::harness::Reply {
    cloudcraft(app, method, uri, &app.key.clone(), body.as_ref()).await
}

/// RISKEN's document, call by call: the project is the tenant's, `aws_id`
/// is a number allocated once per account (the same on every read, even
/// read concurrently; a new one after a delete), times are Unix seconds.
#[tokio::test]
async fn risken_aws_accounts_as_documented() {
    let app = TestApp::new().await;
    let signin = risken(&app, Method::GET, "/api/v1/signin", None).await;
    assert_eq!(signin.status, StatusCode::OK, "{:#}", signin.body);
    let project = signin.body["data"]["project_id"].as_u64().unwrap();
    let listed = risken(&app, Method::GET, "/api/v1/project/list-project/", None).await;
    assert_eq!(
        listed.body["data"]["project"][0]["project_id"],
        json!(project)
    );

    let put = risken(
        &app,
        Method::POST,
        "/api/v1/aws/put-aws/",
        Some(json!({"project_id": project, "aws": {"name": "Production AWS Account", "project_id": project, "aws_account_id": "123456789012"}})),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{:#}", put.body);
    let aws = &put.body["data"]["aws"];
    let aws_id = aws["aws_id"].as_u64().unwrap();
    assert_eq!(aws["name"], "Production AWS Account");
    assert_eq!(aws["project_id"], json!(project));
    assert_eq!(aws["aws_account_id"], "123456789012");
    assert!(aws["created_at"].as_i64().unwrap() > 1_700_000_000);
    assert!(aws["updated_at"].is_i64());

    // Put again: an update of the same account, the same aws_id.
    let renamed = risken(
        &app,
        Method::POST,
        "/api/v1/aws/put-aws",
        Some(json!({"project_id": project, "aws": {"name": "Renamed", "project_id": project, "aws_account_id": "123456789012"}})),
    )
    .await;
    assert_eq!(renamed.body["data"]["aws"]["aws_id"], json!(aws_id));
    assert_eq!(renamed.body["data"]["aws"]["name"], "Renamed");
    let by_account = risken(
        &app,
        Method::GET,
        &format!("/api/v1/aws/list-aws/?project_id={project}&aws_account_id=123456789012"),
        None,
    )
    .await;
    assert_eq!(by_account.body["data"]["aws"][0]["aws_id"], json!(aws_id));

    // Registered through /v1: numbered when RISKEN first meets it, once,
    // however many read it at once.
    app.create("210987654321", json!({})).await;
    let uri = format!("/api/v1/aws/list-aws/?project_id={project}&aws_account_id=210987654321");
    let reads =
        futures::future::join_all((0..8).map(|_| risken(&app, Method::GET, &uri, None))).await;
    let ids: std::collections::BTreeSet<u64> = reads
        .iter()
        .map(|reply| reply.body["data"]["aws"][0]["aws_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let other_id = *ids.iter().next().unwrap();
    assert_ne!(other_id, aws_id);
    let v1 = app.get("/v1/accounts/210987654321").await;
    assert_eq!(v1.body["products"]["risken"]["aws_id"], json!(other_id));
    let all = risken(
        &app,
        Method::GET,
        &format!("/api/v1/aws/list-aws?project_id={project}"),
        None,
    )
    .await;
    assert_eq!(all.body["data"]["aws"].as_array().unwrap().len(), 2);
    let one = risken(
        &app,
        Method::GET,
        &format!("/api/v1/aws/list-aws/?project_id={project}&aws_id={aws_id}"),
        None,
    )
    .await;
    assert_eq!(one.body["data"]["aws"][0]["aws_account_id"], "123456789012");

    let deleted = risken(
        &app,
        Method::POST,
        "/api/v1/aws/delete-aws/",
        Some(json!({"project_id": project, "aws_id": aws_id})),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body, json!({"data": {}}));
    let gone = risken(
        &app,
        Method::GET,
        &format!("/api/v1/aws/list-aws/?project_id={project}&aws_id={aws_id}"),
        None,
    )
    .await;
    assert_eq!(gone.body, json!({"data": {"aws": []}}));
    let again = risken(
        &app,
        Method::POST,
        "/api/v1/aws/put-aws/",
        Some(json!({"project_id": project, "aws": {"name": "Back", "project_id": project, "aws_account_id": "123456789012"}})),
    )
    .await;
    let new_id = again.body["data"]["aws"]["aws_id"].as_u64().unwrap();
    assert!(
        new_id != aws_id && new_id != other_id,
        "never reused: {new_id}"
    );
}

/// Another project is not there; RISKEN's errors are one string.
#[tokio::test]
async fn risken_projects_are_tenants() {
    let app = TestApp::new().await;
    app.create("123456789012", json!({})).await;
    let project = service::products::risken_project_id("acme");
    let foreign = service::products::risken_project_id("other");
    let reply = risken(
        &app,
        Method::GET,
        &format!("/api/v1/aws/list-aws/?project_id={foreign}"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body["error"].is_string(), "{:#}", reply.body);
    let missing = risken(&app, Method::GET, "/api/v1/aws/list-aws/", None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.body["error"]
        .as_str()
        .unwrap()
        .contains("project_id"));
    let bad = risken(
        &app,
        Method::POST,
        "/api/v1/aws/put-aws/",
        Some(json!({"project_id": project, "aws": {"name": "x", "project_id": project, "aws_account_id": "12"}})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body.as_object().unwrap().len(), 1, "{:#}", bad.body);
    let listed = risken(
        &app,
        Method::GET,
        &format!("/api/v1/aws/list-aws/?project_id={project}"),
        None,
    )
    .await;
    let aws_id = listed.body["data"]["aws"][0]["aws_id"].as_u64().unwrap();
    // The other tenant, in its own project, cannot reach it by number.
    let stranger = app.key("other", Scope::ALL).await;
    let theirs = cloudcraft(
        &app,
        Method::GET,
        &format!("/api/v1/aws/list-aws/?project_id={foreign}&aws_id={aws_id}"),
        &stranger,
        None,
    )
    .await;
    assert_eq!(theirs.body, json!({"data": {"aws": []}}));
    let removed = cloudcraft(
        &app,
        Method::POST,
        "/api/v1/aws/delete-aws/",
        &stranger,
        Some(&json!({"project_id": foreign, "aws_id": aws_id})),
    )
    .await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(
        app.get("/v1/accounts/123456789012").await.status,
        StatusCode::OK
    );
}

/// RISKEN's data sources on one account: list what is offered, attach one
/// with the account's role and external ID (a chosen one is refused), scan
/// it (200, as documented), see its numeric status, detach.
#[tokio::test]
async fn risken_data_sources_attach_scan_detach() {
    // An account of its own: moto is shared, and other tests make a role
    // of this name in CUSTOMER_ACCOUNT.
    const SCANNED_ACCOUNT: &str = "246802468024";
    let app = TestApp::with_scans().await;
    let project = service::products::risken_project_id("acme");
    let put = risken(
        &app,
        Method::POST,
        "/api/v1/aws/put-aws/",
        Some(json!({"project_id": project, "aws": {"name": "scanned", "project_id": project, "aws_account_id": SCANNED_ACCOUNT}})),
    )
    .await;
    let aws_id = put.body["data"]["aws"]["aws_id"].as_u64().unwrap();
    let uri = format!("/api/v1/aws/list-datasource/?project_id={project}&aws_id={aws_id}");
    let offered = risken(&app, Method::GET, &uri, None).await;
    assert_eq!(offered.status, StatusCode::OK, "{:#}", offered.body);
    let iam = offered.body["data"]["data_source"]
        .as_array()
        .unwrap()
        .iter()
        .find(|source| source["data_source"] == "aws:iam")
        .unwrap()
        .clone();
    let source_id = iam["aws_data_source_id"].as_u64().unwrap();
    assert_eq!(iam["aws_id"], json!(aws_id));
    assert!(iam.get("status").is_none(), "not attached yet: {iam:#}");

    let v1 = app
        .get(&format!("/v1/accounts/{SCANNED_ACCOUNT}"))
        .await
        .body;
    let attach = |external_id: &str| {
        json!({"project_id": project, "attach_data_source": {
            "aws_id": aws_id, "aws_data_source_id": source_id, "project_id": project,
            "assume_role_arn": v1["role_arn"], "external_id": external_id,
            "status": 1, "status_detail": "OK", "specific_version": "v1.0.0"}})
    };
    let chosen = risken(
        &app,
        Method::POST,
        "/api/v1/aws/attach-datasource/",
        Some(attach("unique-external-id")),
    )
    .await;
    assert_eq!(chosen.status, StatusCode::BAD_REQUEST, "{:#}", chosen.body);
    assert!(chosen.body["error"]
        .as_str()
        .unwrap()
        .contains("external_id"));
    let external_id = v1["external_id"].as_str().unwrap();
    let attached = risken(
        &app,
        Method::POST,
        "/api/v1/aws/attach-datasource/",
        Some(attach(external_id)),
    )
    .await;
    assert_eq!(attached.status, StatusCode::OK, "{:#}", attached.body);
    let source = &attached.body["data"]["data_source"];
    assert_eq!(
        source["status"], 2,
        "CONFIGURED: the caller's status is not taken"
    );
    assert_eq!(source["external_id"], json!(external_id));
    assert_eq!(source["specific_version"], "v1.0.0");
    assert!(source["created_at"].is_i64());

    let scan = json!({"project_id": project, "aws_id": aws_id, "aws_data_source_id": source_id, "scan_only": false});
    // Not verified yet: refused, in RISKEN's shape.
    let refused = risken(
        &app,
        Method::POST,
        "/api/v1/aws/invoke-scan/",
        Some(scan.clone()),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:#}", refused.body);
    assert!(refused.body["error"].is_string(), "{:#}", refused.body);
    // The customer makes the role; it verifies; the scan is queued and run.
    let trust = crate::harness::trust_external_ids(&[external_id]);
    let role = app
        .create_named_role(SCANNED_ACCOUNT, "AccountOnboardingAudit", &trust, &[])
        .await;
    let iam_client = aws_sdk_iam::Client::new(&app.sdk_config);
    let scanner = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
        "Action": ["iam:GetAccountAuthorizationDetails", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:ListMFADevices"]}]});
    crate::harness::put_role_policy(
        &iam_client,
        SCANNED_ACCOUNT,
        "AccountOnboardingAudit",
        "Scanner",
        &scanner,
    )
    .await;
    assert!(role.ends_with("/AccountOnboardingAudit"));
    let verified = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{SCANNED_ACCOUNT}/verify"),
            None,
        )
        .await;
    assert_eq!(
        verified.body["credential"]["verification_status"], "SUCCESS",
        "{:#}",
        verified.body
    );
    let invoked = risken(
        &app,
        Method::POST,
        "/api/v1/aws/invoke-scan/",
        Some(scan.clone()),
    )
    .await;
    assert_eq!(invoked.status, StatusCode::OK, "{:#}", invoked.body);
    assert_eq!(invoked.body, json!({"data": {}}));
    assert_eq!(
        app.drain_scan_queue().await,
        1,
        "one scan job, run by the worker"
    );
    let listed = risken(&app, Method::GET, &uri, None).await;
    let iam = listed.body["data"]["data_source"]
        .as_array()
        .unwrap()
        .iter()
        .find(|source| source["data_source"] == "aws:iam")
        .unwrap()
        .clone();
    // Scanned: OK (1) or ERROR (4), with when, no longer CONFIGURED.
    assert!([1, 4].contains(&iam["status"].as_u64().unwrap()), "{iam:#}");
    assert!(iam["scan_at"].as_i64().unwrap() > 1_700_000_000, "{iam:#}");
    let scans = app
        .get(&format!(
            "/v1/accounts/{SCANNED_ACCOUNT}/data-sources/aws:iam"
        ))
        .await;
    assert_eq!(
        scans.status,
        StatusCode::OK,
        "the attachment is the /v1 one"
    );

    let detach = json!({"project_id": project, "aws_id": aws_id, "aws_data_source_id": source_id});
    let detached = risken(
        &app,
        Method::POST,
        "/api/v1/aws/detach-datasource/",
        Some(detach.clone()),
    )
    .await;
    assert_eq!(detached.body, json!({"data": {}}));
    let again = risken(
        &app,
        Method::POST,
        "/api/v1/aws/detach-datasource/",
        Some(detach),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!(
            "/v1/accounts/{SCANNED_ACCOUNT}/data-sources/aws:iam"
        ))
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let unknown = json!({"project_id": project, "aws_id": aws_id, "aws_data_source_id": 1});
    let missing = risken(
        &app,
        Method::POST,
        "/api/v1/aws/invoke-scan/",
        Some(unknown),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body["error"]
        .as_str()
        .unwrap()
        .contains("aws_data_source_id"));
}

/// Carbon Black's key header: `X-Auth-Token: <secret>/<id>`, the key's 64
/// hex digits and the rest of it.
fn auth_token(key: &str) -> String {
    let (id, secret) = key.rsplit_once('_').expect("a key");
    format!("{secret}/{id}")
}

const CBC: &str = "/public-cloud/account-management/v1";

/// A Carbon Black call with the test app's key as its token.
async fn carbonblack(
    app: &TestApp,
    method: Method,
    uri: &str,
    body: Option<&Value>,
) -> crate::harness::Reply {
    in_product(app, "carbonblack", method, uri, body).await
}

/// A Carbon Black CSV upload.
async fn carbonblack_csv(app: &TestApp, uri: &str, csv: &str) -> crate::harness::Reply {
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("x-auth-token", auth_token(&app.key))
        .header("content-type", "text/csv")
        .body(axum::body::Body::from(csv.to_string()))
        .unwrap();
    app.send(request).await
}

/// Carbon Black's errors: `{"error_code", "follow_up_api", "message",
/// "success": false}` (a 401: `{"message", "success": false}`).
#[track_caller]
fn assert_carbon_black_error(reply: &crate::harness::Reply, status: u16) -> String {
    assert_eq!(reply.status.as_u16(), status, "{:#}", reply.body);
    assert_eq!(reply.body["success"], json!(false), "{:#}", reply.body);
    let keys: Vec<&String> = reply.body.as_object().unwrap().keys().collect();
    match status {
        401 => assert_eq!(keys, ["message", "success"]),
        _ => assert_eq!(
            keys,
            ["error_code", "follow_up_api", "message", "success"],
            "{:#}",
            reply.body
        ),
    }
    reply.body["message"].as_str().unwrap().to_string()
}

/// Carbon Black's document, operation by operation, the way its clients
/// walk it: provider details (the principal to trust and an external ID
/// reserved for the key), the role made with them, the account onboarded
/// with that very ID (so the role verifies), validate_role, get, update,
/// search, download, the import template and an import, per-region
/// status, a sync, bulk delete and delete; every answer in its shape and
/// the same account in `/v1`.
#[tokio::test]
async fn carbon_black_account_management_as_documented() {
    let app = TestApp::with_scans().await;
    let provider = carbonblack(
        &app,
        Method::GET,
        &format!("{CBC}/cloud_providers/AWS"),
        None,
    )
    .await;
    assert_eq!(provider.status, StatusCode::OK, "{:#}", provider.body);
    assert!(provider.body.get("errorMessage").is_none());
    assert_eq!(
        provider.body["environments"],
        json!(["DEV", "STAGING", "TEST", "PROD"])
    );
    assert_eq!(provider.body["regions"][0]["id"], "us-east-1");
    let trust_details = &provider.body["trust_relationship_setup_details"];
    let collector = trust_details["aws_collector_arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        collector,
        format!("arn:aws:iam::{}:root", crate::harness::VENDOR_ACCOUNT)
    );
    let external_id = trust_details["external_id"].as_str().unwrap().to_string();
    let read_only = app.key("acme", &[Scope::Read]).await;
    let details = app
        .call_with(
            Method::GET,
            &format!("{CBC}/cloud_providers/aws"),
            None,
            None,
            &[("x-auth-token", auth_token(&read_only).as_str())],
        )
        .await;
    assert_eq!(details.status, StatusCode::OK);
    assert!(
        details.body["trust_relationship_setup_details"]
            .get("external_id")
            .is_none(),
        "a read-only key reserves nothing"
    );

    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": collector},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]});
    let role_arn = app
        .create_named_role(CUSTOMER_ACCOUNT, "carbonblack-audit", &trust, &[])
        .await;
    let mut body = json!({
        "cloud_provider_account_id": CUSTOMER_ACCOUNT,
        "cloud_provider": "AWS",
        "name": "AWS Account 1",
        "owner_name": "Test",
        "owner_email": "test@testorg.com",
        "environment": "DEV",
        "credential": {"role_arn": role_arn, "external_id": "QWERTY"},
        "regions": ["us-east-1", "us-east-2"]
    });
    let accounts = format!("{CBC}/orgs/acme/accounts");
    let chosen = carbonblack(&app, Method::POST, &accounts, Some(&body)).await;
    let message = assert_carbon_black_error(&chosen, 400);
    assert!(
        message.starts_with("credential.external_id: ") && message.contains("cannot be chosen"),
        "{message}"
    );
    body["credential"]["external_id"] = json!(external_id);
    let created = carbonblack(&app, Method::POST, &accounts, Some(&body)).await;
    assert_eq!(created.status, StatusCode::OK, "{:#}", created.body);
    assert_eq!(created.body["cloud_provider_account_id"], CUSTOMER_ACCOUNT);
    assert_eq!(
        created.body["credential"]["external_id"],
        json!(external_id)
    );
    assert_eq!(
        created.body["credential"]["verification_status"],
        "NOT_STARTED"
    );
    assert_eq!(created.body["event_stream_status"], "DISABLED");
    assert_eq!(created.body["regions"], json!(["us-east-1", "us-east-2"]));
    let again = carbonblack(&app, Method::POST, &accounts, Some(&body)).await;
    assert_carbon_black_error(&again, 409);
    let other_org = carbonblack(
        &app,
        Method::POST,
        &format!("{CBC}/orgs/other/accounts"),
        Some(&body),
    )
    .await;
    assert_carbon_black_error(&other_org, 404);

    let validate = format!("{CBC}/orgs/acme/accounts/validate_role");
    let checked = carbonblack(
        &app,
        Method::POST,
        &validate,
        Some(&json!([
            {"cloud_provider_account_id": CUSTOMER_ACCOUNT, "cloud_provider": "AWS", "saved_credentials": true},
            {"cloud_provider_account_id": CUSTOMER_ACCOUNT, "cloud_provider": "AWS", "saved_credentials": false,
             "role_arn": role_arn, "external_id": "not-the-one"},
        ])),
    )
    .await;
    assert_eq!(checked.status, StatusCode::OK, "{:#}", checked.body);
    assert_eq!(
        checked.body[0]["validation_status"],
        json!(true),
        "{:#}",
        checked.body
    );
    assert_eq!(checked.body[0]["validation_code"], "OK");
    assert_eq!(checked.body[0]["validation_message"], "");
    assert_eq!(checked.body[1]["validation_status"], json!(false));
    assert_ne!(checked.body[1]["validation_code"], "OK");

    let one = format!("{CBC}/orgs/acme/cloud_providers/AWS/accounts/{CUSTOMER_ACCOUNT}");
    let verified = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{CUSTOMER_ACCOUNT}/verify"),
            None,
        )
        .await;
    assert_eq!(
        verified.body["credential"]["verification_status"],
        "SUCCESS"
    );
    let read = carbonblack(&app, Method::GET, &one, None).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["credential"]["verification_status"], "SUCCESS");
    assert_eq!(read.body["credential"]["verification_code"], "OK");
    assert!(read.body["credential"]["last_verified_time"].is_string());

    body["name"] = json!("AWS Account One");
    body["event_stream_status"] = json!("ENABLED");
    let updated = carbonblack(&app, Method::PUT, &one, Some(&body)).await;
    assert_eq!(updated.status, StatusCode::OK, "{:#}", updated.body);
    assert_eq!(updated.body["name"], "AWS Account One");
    assert_eq!(updated.body["event_stream_status"], "ENABLED");
    let mut moved = body.clone();
    moved["credential"]["external_id"] = json!("QWERTY");
    assert_carbon_black_error(
        &carbonblack(&app, Method::PUT, &one, Some(&moved)).await,
        400,
    );
    let v1 = app.get(&format!("/v1/accounts/{CUSTOMER_ACCOUNT}")).await;
    assert_eq!(v1.body["name"], "AWS Account One");
    assert_eq!(
        v1.body["labels"]["carbonblack:event_stream_status"],
        "ENABLED"
    );

    let search = json!({"start": 0, "rows": 0,
        "criteria": {"cloud_provider": ["AWS"], "cloud_provider_account_id": [CUSTOMER_ACCOUNT],
                     "credential.verification_status": ["SUCCESS"], "environment": ["DEV", "PROD"]},
        "sort": [{"field": "credential.last_verified_time", "order": "ASC"}]});
    let found = carbonblack(
        &app,
        Method::POST,
        &format!("{accounts}/_search"),
        Some(&search),
    )
    .await;
    assert_eq!(found.status, StatusCode::OK, "{:#}", found.body);
    assert_eq!(found.body["num_found"], 1);
    assert_eq!(found.body["results"][0]["name"], "AWS Account One");
    let downloaded = carbonblack(
        &app,
        Method::POST,
        &format!("{accounts}/_search/download"),
        Some(&search),
    )
    .await;
    assert_eq!(downloaded.status, StatusCode::OK);
    assert!(downloaded.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = downloaded.body.as_str().unwrap();
    let rows: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert!(rows[0].starts_with("orgKey,accountId,accountProvider,region,accountName"));
    assert_eq!(rows.len(), 3, "one row per region: {text}");
    assert!(
        rows[1].starts_with(&format!(
            "acme,{CUSTOMER_ACCOUNT},AWS,us-east-1,AWS Account One,Test,"
        )),
        "{}",
        rows[1]
    );
    assert!(
        rows[1].contains(&format!(",{external_id},SUCCESS,OK,")),
        "{}",
        rows[1]
    );

    let template = carbonblack(
        &app,
        Method::GET,
        &format!("{CBC}/accounts/import/template"),
        None,
    )
    .await;
    assert_eq!(template.status, StatusCode::OK);
    let header = "accountId,accountProvider,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,credentialExternalId,regions";
    assert_eq!(template.body, json!(format!("{header}\r\n")));
    let import = format!("{accounts}/import");
    let chosen = format!("{header}\r\n222222222222,AWS,AWS Account 2,Test,test@testorg.com,DEV,,QWERTY,us-east-1\r\n");
    let refused = carbonblack_csv(&app, &import, &chosen).await;
    assert!(assert_carbon_black_error(&refused, 400).contains("row 2"));
    assert_eq!(
        app.get("/v1/accounts/222222222222").await.status,
        StatusCode::NOT_FOUND
    );
    let file = format!("{header}\r\n222222222222,AWS,AWS Account 2,Test,test@testorg.com,DEV,,,us-east-1\r\n{CUSTOMER_ACCOUNT},AWS,AWS Account One,Test,test@testorg.com,DEV,{role_arn},{external_id},us-east-1;us-east-2\r\n");
    let imported = carbonblack_csv(&app, &import, &file).await;
    assert_eq!(imported.status, StatusCode::OK, "{:#}", imported.body);
    assert_eq!(imported.body["success"], json!(true));
    assert_eq!(
        imported.body["message"],
        "Accounts uploaded successfully: 1 created, 1 updated"
    );

    let regions = carbonblack(&app, Method::GET, &format!("{one}/regions"), None).await;
    assert_eq!(regions.status, StatusCode::OK, "{:#}", regions.body);
    assert_eq!(regions.body[0]["id"], "us-east-1");
    assert_eq!(regions.body[0]["name"], "US East (N. Virginia)");
    assert_eq!(regions.body[0]["inventory_sync"]["status"], "NOT_STARTED");
    let same = carbonblack(
        &app,
        Method::GET,
        &format!("/account-management/v1/orgs/acme/cloud_providers/AWS/accounts/{CUSTOMER_ACCOUNT}/regions"),
        None,
    )
    .await;
    assert_eq!(same.body, regions.body, "the document's other form");

    let sync = json!({"accounts": [{"cloud_provider_account_id": CUSTOMER_ACCOUNT, "cloud_provider": "AWS"}],
                      "action_type": "SYNC_INVENTORY"});
    let actions = format!("{CBC}/orgs/acme/account_actions");
    let nothing = carbonblack(&app, Method::POST, &actions, Some(&sync)).await;
    assert_eq!(nothing.status, StatusCode::OK, "{:#}", nothing.body);
    assert_eq!(nothing.body[0]["count"], 1);
    assert_eq!(nothing.body[0]["result"][0]["action_status"], json!(false));
    let attach = app
        .call(
            Method::PUT,
            &format!("/v1/accounts/{CUSTOMER_ACCOUNT}/data-sources/aws:iam"),
            Some(&json!({})),
        )
        .await;
    assert!(attach.status.is_success(), "{:#}", attach.body);
    let queued = carbonblack(&app, Method::POST, &actions, Some(&sync)).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:#}", queued.body);
    assert_eq!(
        queued.body,
        json!({"follow_up_api": "/orgs/acme/accounts/_search", "message": "Sync action initiated successfully", "success": true})
    );
    let scans = app
        .get(&format!("/v1/accounts/{CUSTOMER_ACCOUNT}/scans"))
        .await;
    assert_eq!(
        scans.body["items"].as_array().map(Vec::len),
        Some(1),
        "{:#}",
        scans.body
    );

    let bulk = carbonblack(
        &app,
        Method::POST,
        &format!("{accounts}/_delete"),
        Some(&json!([
            {"cloud_provider_account_id": "222222222222", "cloud_provider": "AWS"},
            {"cloud_provider_account_id": "333333333333", "cloud_provider": "AWS"},
        ])),
    )
    .await;
    assert_eq!(bulk.status, StatusCode::OK, "{:#}", bulk.body);
    assert_eq!(bulk.body["success"], json!(false));
    assert_eq!(
        bulk.body["failed"],
        json!([{"cloud_provider": "AWS", "cloud_provider_account_id": "333333333333"}])
    );
    assert_eq!(
        app.get("/v1/accounts/222222222222").await.status,
        StatusCode::NOT_FOUND
    );

    let deleted = carbonblack(&app, Method::DELETE, &one, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_carbon_black_error(&carbonblack(&app, Method::GET, &one, None).await, 404);
}

/// Keys and orgs: the token in Carbon Black's form or ours, a wrong one
/// refused in its 401 shape, another tenant's org a 404 (never its data),
/// a provider other than AWS a 400.
#[tokio::test]
async fn carbon_black_tokens_and_orgs() {
    let app = TestApp::new().await;
    let list = format!("{CBC}/orgs/acme/accounts/_search");
    let body = json!({"rows": 10});
    for header in ["x-auth-token"] {
        for token in [auth_token(&app.key), app.key.clone()] {
            let reply = app
                .call_with(
                    Method::POST,
                    &list,
                    None,
                    Some(&body),
                    &[(header, token.as_str())],
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
        }
        let mut wrong = auth_token(&app.key);
        wrong.replace_range(0..1, if wrong.starts_with('0') { "1" } else { "0" });
        let reply = app
            .call_with(
                Method::POST,
                &list,
                None,
                Some(&body),
                &[(header, wrong.as_str())],
            )
            .await;
        assert_carbon_black_error(&reply, 401);
    }
    let other = app.key("other", &[Scope::Read, Scope::Write]).await;
    app.call(
        Method::POST,
        "/v1/accounts",
        Some(&json!({"account_id": "444444444444", "name": "acme's"})),
    )
    .await;
    let reply = app
        .call_with(
            Method::GET,
            &format!("{CBC}/orgs/acme/cloud_providers/AWS/accounts/444444444444"),
            None,
            None,
            &[("x-auth-token", auth_token(&other).as_str())],
        )
        .await;
    assert!(assert_carbon_black_error(&reply, 404).contains("org"));
    let reply = carbonblack(
        &app,
        Method::GET,
        &format!("{CBC}/cloud_providers/GCP"),
        None,
    )
    .await;
    assert!(assert_carbon_black_error(&reply, 400).contains("only AWS"));
    let reply = carbonblack(
        &app,
        Method::GET,
        &format!("{CBC}/orgs/acme/cloud_providers/aws/accounts/444444444444"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    assert_eq!(reply.body["name"], "acme's");
    assert!(reply.body["owner_email"].is_null());
}

/// The five dialects, for the test that walks one account through all.
const PRODUCTS: [&str; 5] = [
    "panther",
    "cloudcraft",
    "cloudability",
    "risken",
    "carbonblack",
];

/// A call in `product`'s authentication: Panther `X-API-Key`, Cloudcraft
/// and RISKEN Bearer, Cloudability Basic, Carbon Black `X-Auth-Token`.
async fn in_product(
    app: &TestApp,
    product: &str,
    method: Method,
    uri: &str,
    body: Option<&Value>,
) -> crate::harness::Reply {
    use base64::Engine;
    let key = app.key.clone();
    let header = match product {
        "panther" => ("x-api-key", key),
        "cloudcraft" | "risken" => ("authorization", format!("Bearer {key}")),
        "cloudability" => (
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
            ),
        ),
        _ => ("x-auth-token", auth_token(&key)),
    };
    app.call_with(method, uri, None, body, &[(header.0, header.1.as_str())])
        .await
}

/// Register `account` named `name` through `product`.
async fn create_in(app: &TestApp, product: &str, account: &str, name: &str) {
    let project = service::products::risken_project_id("acme");
    let (uri, body) = match product {
        "panther" => (
            "/cloud-accounts/aws".to_string(),
            json!({"awsAccountId": account, "integrationLabel": name, "awsScanConfig": {}}),
        ),
        "cloudcraft" => (
            "/aws/account".to_string(),
            json!({"name": name, "roleArn": role(account, "cross-dialect")}),
        ),
        "cloudability" => (
            "/v3/vendors/aws/accounts".to_string(),
            json!({"vendorAccountId": account, "vendorAccountName": name, "type": "aws_role"}),
        ),
        "risken" => (
            "/api/v1/aws/put-aws/".to_string(),
            json!({"project_id": project, "aws": {"name": name, "project_id": project, "aws_account_id": account}}),
        ),
        _ => (
            format!("{CBC}/orgs/acme/accounts"),
            carbon_black_body(account, name),
        ),
    };
    let reply = in_product(app, product, Method::POST, &uri, Some(&body)).await;
    assert!(reply.status.is_success(), "{product}: {:#}", reply.body);
}

fn carbon_black_body(account: &str, name: &str) -> Value {
    json!({
        "cloud_provider_account_id": account, "cloud_provider": "AWS", "name": name,
        "owner_name": "Ops", "owner_email": "ops@example.com", "environment": "PROD",
        "credential": {"role_arn": role(account, "cross-dialect")}, "regions": ["us-east-1"],
    })
}

/// `account`'s path in `product`, by the id that product knows it by.
async fn path_in(app: &TestApp, product: &str, account: &str) -> String {
    let v1 = app.get(&format!("/v1/accounts/{account}")).await;
    assert_eq!(v1.status, StatusCode::OK, "{:#}", v1.body);
    match product {
        "panther" => format!(
            "/cloud-accounts/aws/{}",
            v1.body["products"]["panther"]["integration_id"]
                .as_str()
                .unwrap()
        ),
        "cloudcraft" => format!(
            "/aws/account/{}",
            v1.body["products"]["cloudcraft"]["id"].as_str().unwrap()
        ),
        "cloudability" => format!("/v3/vendors/AWS/accounts/{account}"),
        "risken" => {
            let project = service::products::risken_project_id("acme");
            format!("/api/v1/aws/list-aws/?project_id={project}&aws_account_id={account}")
        }
        _ => format!("{CBC}/orgs/acme/cloud_providers/AWS/accounts/{account}"),
    }
}

/// `account`'s name as `product` reads it.
async fn name_in(app: &TestApp, product: &str, account: &str) -> String {
    let uri = path_in(app, product, account).await;
    let reply = in_product(app, product, Method::GET, &uri, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{product}: {:#}", reply.body);
    let name = match product {
        "panther" => &reply.body["integrationLabel"],
        "cloudability" => &reply.body["result"]["vendorAccountName"],
        "risken" => &reply.body["data"]["aws"][0]["name"],
        _ => &reply.body["name"],
    };
    name.as_str()
        .unwrap_or_else(|| panic!("{product}: {:#}", reply.body))
        .to_string()
}

/// Rename `account` through `product`'s update.
async fn rename_in(app: &TestApp, product: &str, account: &str, name: &str) {
    let uri = path_in(app, product, account).await;
    let project = service::products::risken_project_id("acme");
    let (method, uri, body) = match product {
        "panther" => (
            Method::PUT,
            uri,
            json!({"awsAccountId": account, "integrationLabel": name, "awsScanConfig": {}}),
        ),
        "cloudcraft" => (Method::PUT, uri, json!({"name": name})),
        "cloudability" => (Method::PUT, uri, json!({"vendorAccountName": name})),
        "risken" => (
            Method::POST,
            "/api/v1/aws/put-aws/".to_string(),
            json!({"project_id": project, "aws": {"name": name, "project_id": project, "aws_account_id": account}}),
        ),
        _ => (Method::PUT, uri, carbon_black_body(account, name)),
    };
    let reply = in_product(app, product, method, &uri, Some(&body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{product}: {:#}", reply.body);
}

/// Delete `account` through `product`.
async fn delete_in(app: &TestApp, product: &str, account: &str) {
    let uri = path_in(app, product, account).await;
    let reply = match product {
        "risken" => {
            let project = service::products::risken_project_id("acme");
            let listed = in_product(app, product, Method::GET, &uri, None).await;
            let aws_id = listed.body["data"]["aws"][0]["aws_id"].clone();
            let body = json!({"project_id": project, "aws_id": aws_id});
            in_product(
                app,
                product,
                Method::POST,
                "/api/v1/aws/delete-aws/",
                Some(&body),
            )
            .await
        }
        _ => in_product(app, product, Method::DELETE, &uri, None).await,
    };
    assert!(reply.status.is_success(), "{product}: {:#}", reply.body);
}

/// One source of truth: an account created in each dialect is read in
/// `/v1` and in the four others, renamed in `/v1` and then in each of the
/// others (every one reading each change: one version each), and deleted
/// in a third; then it is gone from `/v1`.
#[tokio::test]
async fn an_account_made_in_any_dialect_is_the_same_in_all_five() {
    let app = TestApp::new().await;
    for (index, creator) in PRODUCTS.iter().enumerate() {
        let account = format!("55555555555{index}");
        create_in(&app, creator, &account, &format!("Made in {creator}")).await;
        for reader in PRODUCTS {
            assert_eq!(
                name_in(&app, reader, &account).await,
                format!("Made in {creator}"),
                "{reader}"
            );
        }
        let patched = app
            .call(
                Method::PATCH,
                &format!("/v1/accounts/{account}"),
                Some(&json!({"name": "Renamed in v1"})),
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);
        for changer in PRODUCTS.iter().filter(|p| *p != creator) {
            let name = format!("Renamed in {changer}");
            rename_in(&app, changer, &account, &name).await;
            for reader in PRODUCTS {
                assert_eq!(
                    name_in(&app, reader, &account).await,
                    name,
                    "{changer} -> {reader}"
                );
            }
            assert_eq!(
                app.get(&format!("/v1/accounts/{account}")).await.body["name"],
                json!(name)
            );
        }
        let v1 = app.get(&format!("/v1/accounts/{account}")).await;
        assert_eq!(
            v1.body["version"],
            json!(6),
            "created, renamed in v1 and in four others"
        );
        let third = PRODUCTS[(index + 2) % PRODUCTS.len()];
        delete_in(&app, third, &account).await;
        assert_eq!(
            app.get(&format!("/v1/accounts/{account}")).await.status,
            StatusCode::NOT_FOUND,
            "made in {creator}, deleted in {third}"
        );
    }
}

/// A client that takes only a key of its product's shape (Cloudcraft's:
/// 44 characters) gets an alias of the key in that shape: it works as the
/// key does, in every dialect and in `/v1`, holds the key's scopes, and
/// stops with the key. Only its digest is stored.
#[tokio::test]
async fn a_key_alias_in_cloudcrafts_format_is_the_key() {
    let app = TestApp::new().await;
    let reader = app.key("acme", &[Scope::Read]).await;
    let key_id = reader.split('_').nth(2).unwrap().to_string();
    let issued = app
        .call(
            Method::POST,
            &format!("/v1/api-keys/{key_id}/aliases"),
            Some(&json!({"format": "cloudcraft"})),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{:#}", issued.body);
    let alias = issued.body["alias"].as_str().unwrap().to_string();
    assert_eq!(alias.len(), 44);
    assert!(alias.ends_with('='));
    let listed = app.get(&format!("/v1/api-keys/{key_id}")).await;
    assert_eq!(listed.body["aliases"], json!(["cloudcraft"]));

    let accounts = cloudcraft(&app, Method::GET, "/aws/account", &alias, None).await;
    assert_eq!(accounts.status, StatusCode::OK, "{:#}", accounts.body);
    let v1 = app
        .call_with(Method::GET, "/v1/accounts", Some(&alias), None, &[])
        .await;
    assert_eq!(v1.status, StatusCode::OK);
    // The key's scopes: read only.
    let write = cloudcraft(
        &app,
        Method::POST,
        "/aws/account",
        &alias,
        Some(&json!({"name": "x", "roleArn": role("777777777777", "r")})),
    )
    .await;
    assert_cloudcraft_error(&write, 403);
    // Another 44-character value is no key.
    let forged = "A".repeat(43) + "=";
    assert_cloudcraft_error(
        &cloudcraft(&app, Method::GET, "/aws/account", &forged, None).await,
        401,
    );
    // Another tenant cannot alias this tenant's key.
    let other = app.key("other", &[Scope::Admin]).await;
    let foreign = app
        .call_with(
            Method::POST,
            &format!("/v1/api-keys/{key_id}/aliases"),
            Some(&other),
            Some(&json!({"format": "cloudcraft"})),
            &[],
        )
        .await;
    foreign.assert_error(404, "not_found");

    let revoked = app
        .call(Method::DELETE, &format!("/v1/api-keys/{key_id}"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = cloudcraft(&app, Method::GET, "/aws/account", &alias, None).await;
    assert!(assert_cloudcraft_error(&after, 401).contains("revoked"));
    let again = app
        .call(
            Method::POST,
            &format!("/v1/api-keys/{key_id}/aliases"),
            Some(&json!({"format": "cloudcraft"})),
        )
        .await;
    again.assert_error(404, "not_found");
}

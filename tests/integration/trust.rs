//! Verification against roles created in the emulator's customer account,
//! whose AssumeRole enforces trust policies as AWS does.

use crate::harness::{trust, trust_external_ids, TestApp, CUSTOMER_ACCOUNT, VENDOR_ACCOUNT};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use service::time::Timestamp;
use std::time::{Duration, Instant};

const OTHER_ACCOUNT: &str = "222222222222";

/// Register the customer account with `role_arn` (if any); returns the account.
async fn register(app: &TestApp, role_arn: Option<&str>) -> Value {
    let extra = match role_arn {
        Some(arn) => json!({"role_arn": arn}),
        None => json!({}),
    };
    app.create(CUSTOMER_ACCOUNT, extra).await
}

/// Register the account, create its role with the given trust policy
/// (built from the account's external ID) and register the role.
async fn account_with_role(
    app: &TestApp,
    policy: impl Fn(&str) -> Value,
    tags: &[(&str, &str)],
) -> (Value, String) {
    let account = register(app, None).await;
    let external_id = account["external_id"].as_str().unwrap().to_string();
    let arn = app
        .create_role(CUSTOMER_ACCOUNT, &policy(&external_id), tags)
        .await;
    let reply = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{CUSTOMER_ACCOUNT}"),
            Some(&json!({"role_arn": arn})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    (reply.body, arn)
}

async fn verify(app: &TestApp) -> Value {
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{CUSTOMER_ACCOUNT}/verify"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    reply.body
}

#[track_caller]
fn assert_credential(account: &Value, status: &str, code: &str) {
    let credential = &account["credential"];
    assert_eq!(credential["verification_status"], status, "{credential:#}");
    assert_eq!(credential["verification_code"], code, "{credential:#}");
    assert!(
        credential["verification_message"].as_str().unwrap().len() > 20,
        "{credential:#}"
    );
    assert!(credential["last_verified_at"].is_string());
}

#[tokio::test]
async fn a_good_role_verifies() {
    let app = TestApp::new().await;
    let (before, arn) = account_with_role(&app, |id| trust_external_ids(&[id]), &[]).await;
    let account = verify(&app).await;
    assert_credential(&account, "SUCCESS", "OK");
    assert!(account["credential"]["verification_message"]
        .as_str()
        .unwrap()
        .contains(&arn));
    assert_eq!(
        account["version"].as_u64(),
        before["version"].as_u64().map(|v| v + 1)
    );
    let verified =
        Timestamp::parse(account["credential"]["last_verified_at"].as_str().unwrap()).unwrap();
    let next = Timestamp::parse(
        account["credential"]["next_verification_at"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!((next.datetime() - verified.datetime()).num_hours(), 24);
    // The result is stored, and the listing filter sees it.
    let listed = app.get("/v1/accounts?verification_status=SUCCESS").await;
    assert_eq!(listed.body["items"][0]["account_id"], CUSTOMER_ACCOUNT);
}

#[tokio::test]
async fn without_a_role_arn_the_role_the_page_creates_is_the_one_verified() {
    let app = TestApp::new().await;
    let account = register(&app, None).await;
    let role_name = &app.state.settings.role_name;
    let expected = format!("arn:aws:iam::{CUSTOMER_ACCOUNT}:role/{role_name}");
    assert_eq!(account["role_arn"], expected.as_str());
    // Not created yet: AWS answers AccessDenied, and the message says it
    // may simply not exist.
    let account = verify(&app).await;
    assert_credential(&account, "FAIL", "ACCESS_DENIED");
    let message = account["credential"]["verification_message"]
        .as_str()
        .unwrap();
    assert!(message.contains("does not exist"), "{message}");
    // The customer creates it as the page and templates name it.
    let external_id = account["external_id"].as_str().unwrap();
    let arn = app
        .create_named_role(
            CUSTOMER_ACCOUNT,
            role_name,
            &trust_external_ids(&[external_id]),
            &[],
        )
        .await;
    assert_eq!(arn, expected);
    assert_credential(&verify(&app).await, "SUCCESS", "OK");
    // A merge patch that removes the role goes back to the default one.
    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{CUSTOMER_ACCOUNT}"),
            Some(&json!({"role_arn": null})),
        )
        .await;
    assert_eq!(patched.body["role_arn"], expected.as_str());
}

#[tokio::test]
async fn an_account_where_the_service_has_no_principal_has_no_role_to_check() {
    let app = TestApp::new().await;
    let account = app
        .create(CUSTOMER_ACCOUNT, json!({"regions": ["cn-north-1"]}))
        .await;
    assert!(account.get("role_arn").is_none(), "{account:#}");
    let account = verify(&app).await;
    assert_credential(&account, "FAIL", "ROLE_MISSING");
    assert!(
        account["credential"].get("next_verification_at").is_none(),
        "nothing to re-check without a role"
    );
}

#[tokio::test]
async fn a_trust_policy_with_another_external_id_is_access_denied() {
    let app = TestApp::new().await;
    account_with_role(&app, |_| trust_external_ids(&["someone-elses-id"]), &[]).await;
    assert_credential(&verify(&app).await, "FAIL", "ACCESS_DENIED");
}

#[tokio::test]
async fn a_role_that_does_not_trust_us_is_access_denied() {
    let app = TestApp::new().await;
    let policy = |id: &str| {
        let mut policy = trust_external_ids(&[id]);
        policy["Statement"][0]["Principal"]["AWS"] = json!("arn:aws:iam::999999999999:root");
        policy
    };
    account_with_role(&app, policy, &[]).await;
    assert_credential(&verify(&app).await, "FAIL", "ACCESS_DENIED");
}

#[tokio::test]
async fn a_deleted_or_never_created_role_is_access_denied() {
    let app = TestApp::new().await;
    register(
        &app,
        Some(&format!(
            "arn:aws:iam::{CUSTOMER_ACCOUNT}:role/NeverCreated"
        )),
    )
    .await;
    assert_credential(&verify(&app).await, "FAIL", "ACCESS_DENIED");
}

#[tokio::test]
async fn trust_without_external_id_condition_is_not_enforced() {
    let app = TestApp::new().await;
    let (_, arn) = account_with_role(&app, |_| trust(None), &[]).await;
    let account = verify(&app).await;
    assert_credential(&account, "FAIL", "EXTERNAL_ID_NOT_ENFORCED");
    let message = account["credential"]["verification_message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains(&arn) && message.contains("sts:ExternalId"),
        "{message}"
    );
}

#[tokio::test]
async fn a_wildcard_external_id_is_not_enforced() {
    let app = TestApp::new().await;
    account_with_role(
        &app,
        |_| trust(Some(json!({"StringLike": {"sts:ExternalId": "*"}}))),
        &[],
    )
    .await;
    let account = verify(&app).await;
    assert_credential(&account, "FAIL", "EXTERNAL_ID_NOT_ENFORCED");
    assert!(account["credential"]["verification_message"]
        .as_str()
        .unwrap()
        .contains("wrong external ID"));
}

#[tokio::test]
async fn a_role_in_another_account_is_account_mismatch() {
    let app = TestApp::new().await;
    let arn = app
        .create_role(OTHER_ACCOUNT, &trust_external_ids(&["shared-ext-id"]), &[])
        .await;
    let body = json!({"accounts": [
        {"account_id": CUSTOMER_ACCOUNT, "role_arn": arn, "external_id": "shared-ext-id"},
    ]});
    let reply = app
        .call(Method::POST, "/v1/accounts/validate-roles", Some(&body))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let result = &reply.body["results"][0];
    assert_eq!(result["verification_code"], "ACCOUNT_MISMATCH");
    assert_eq!(result["verification_status"], "FAIL");
    assert!(result["verification_message"]
        .as_str()
        .unwrap()
        .contains(OTHER_ACCOUNT));
    // Registering such a role on the account is refused outright.
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&json!({"account_id": CUSTOMER_ACCOUNT, "name": "x", "role_arn": arn})),
        )
        .await;
    reply.assert_error(400, "invalid_value");
}

#[tokio::test]
async fn persistent_throttling_is_throttled() {
    let app = TestApp::new().await;
    account_with_role(
        &app,
        |id| trust_external_ids(&[id]),
        &[("emulator:throttle", "always")],
    )
    .await;
    let account = verify(&app).await;
    assert_credential(&account, "FAIL", "THROTTLED");
}

#[tokio::test]
async fn brief_throttling_is_retried_with_backoff() {
    let app = TestApp::new().await;
    // The first two AssumeRole calls are throttled; retries get through.
    account_with_role(
        &app,
        |id| trust_external_ids(&[id]),
        &[("emulator:throttle", "2")],
    )
    .await;
    assert_credential(&verify(&app).await, "SUCCESS", "OK");
}

#[tokio::test]
async fn a_slow_sts_is_timed_out() {
    let app = TestApp::new().await;
    account_with_role(
        &app,
        |id| trust_external_ids(&[id]),
        &[("emulator:latency-ms", "12000")],
    )
    .await;
    let started = Instant::now();
    let account = verify(&app).await;
    assert_credential(&account, "TIMED_OUT", "TIMEOUT");
    // 3 attempts of 3 s, plus backoff: bounded well below the role's
    // delay times attempts (36 s).
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn validate_roles_checks_many_at_once_and_saves_nothing() {
    let app = TestApp::new().await;
    let (_, good) = account_with_role(&app, |id| trust_external_ids(&[id]), &[]).await;
    let open = app.create_role(CUSTOMER_ACCOUNT, &trust(None), &[]).await;
    app.create("000000000001", json!({})).await;
    let before = app.snapshot().await;
    let body = json!({"accounts": [
        {"account_id": CUSTOMER_ACCOUNT, "saved_credentials": true},
        {"account_id": CUSTOMER_ACCOUNT, "role_arn": good, "external_id": "not-the-right-one"},
        {"account_id": CUSTOMER_ACCOUNT, "role_arn": open, "external_id": "anything"},
        {"account_id": "000000000001", "saved_credentials": true},
        {"account_id": "000000000002", "saved_credentials": true},
    ]});
    let reply = app
        .call(Method::POST, "/v1/accounts/validate-roles", Some(&body))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let codes: Vec<&str> = reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verification_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "OK",
            "ACCESS_DENIED",
            "EXTERNAL_ID_NOT_ENFORCED",
            // Its default role was never created: AWS says AccessDenied.
            "ACCESS_DENIED",
            "NOT_FOUND"
        ]
    );
    assert_eq!(app.snapshot().await, before, "validation saves nothing");

    // Many entries run concurrently: 40 checks take far less than 40 sequential ones.
    let many: Vec<Value> = (0..40)
        .map(|_| json!({"account_id": CUSTOMER_ACCOUNT, "saved_credentials": true}))
        .collect();
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/validate-roles",
            Some(&json!({"accounts": many})),
        )
        .await;
    assert!(reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["verification_code"] == "OK"));
}

#[tokio::test]
async fn validate_roles_rejects_bad_entries() {
    let app = TestApp::new().await;
    let cases = [
        (json!({"accounts": []}), "accounts"),
        (
            json!({"accounts": [{"account_id": "1"}]}),
            "accounts[0].account_id",
        ),
        (
            json!({"accounts": [{"account_id": CUSTOMER_ACCOUNT}]}),
            "accounts[0].role_arn",
        ),
        (
            json!({"accounts": [{"account_id": CUSTOMER_ACCOUNT, "role_arn": "arn:aws:iam::111111111111:role/R"}]}),
            "accounts[0].external_id",
        ),
        (
            json!({"accounts": [{"account_id": CUSTOMER_ACCOUNT, "role_arn": "nope", "external_id": "abc"}]}),
            "accounts[0].role_arn",
        ),
        (
            json!({"accounts": [{"account_id": CUSTOMER_ACCOUNT, "role_arn": "arn:aws:iam::111111111111:role/R", "external_id": "a b"}]}),
            "accounts[0].external_id",
        ),
        (
            json!({"accounts": [{"account_id": CUSTOMER_ACCOUNT, "saved_credentials": true, "external_id": "abc"}]}),
            "accounts[0].saved_credentials",
        ),
    ];
    for (body, field) in cases {
        let reply = app
            .call(Method::POST, "/v1/accounts/validate-roles", Some(&body))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:#}",
            reply.body
        );
        assert_eq!(reply.field(), field, "{body}");
    }
    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({"account_id": CUSTOMER_ACCOUNT, "saved_credentials": true}))
        .collect();
    let reply = app
        .call(
            Method::POST,
            "/v1/accounts/validate-roles",
            Some(&json!({"accounts": too_many})),
        )
        .await;
    reply.assert_error(400, "invalid_value");
}

#[tokio::test]
async fn rotation_promotes_only_after_a_successful_verification() {
    let app = TestApp::new().await;
    let (account, arn) = account_with_role(&app, |id| trust_external_ids(&[id]), &[]).await;
    let old = account["external_id"].as_str().unwrap().to_string();
    let uri = format!("/v1/accounts/{CUSTOMER_ACCOUNT}");

    let rotated = app
        .call(Method::POST, &format!("{uri}/external-id/rotate"), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:#}", rotated.body);
    let pending = rotated.body["pending_external_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(pending, old);
    assert_eq!(rotated.body["external_id"], old.as_str());
    // A second rotation does not silently replace the pending ID (issue
    // 25 #6): 409, unless asked to replace it.
    let before = app.get(&uri).await.body;
    app.call(Method::POST, &format!("{uri}/external-id/rotate"), None)
        .await
        .assert_error(409, "rotation_pending");
    assert_eq!(app.get(&uri).await.body, before);
    let replaced = app
        .call(
            Method::POST,
            &format!("{uri}/external-id/rotate?replace=true"),
            None,
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{:#}", replaced.body);
    let pending = replaced.body["pending_external_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(pending, old);

    // The role still trusts only the old ID: the pending one fails, the old one stays in force.
    let account = verify(&app).await;
    assert_credential(&account, "SUCCESS", "OK");
    assert_eq!(account["external_id"], old.as_str());
    assert_eq!(account["pending_external_id"], pending.as_str());
    assert!(account["credential"]["verification_message"]
        .as_str()
        .unwrap()
        .contains("pending external ID was not accepted"));

    // The template now carries both IDs, for the transition.
    let template = app.get(&format!("{uri}/cloudformation-template")).await;
    let text = template.body.as_str().unwrap();
    assert!(text.contains(&old) && text.contains(&pending));

    // The customer trusts both; the next verification promotes the pending ID.
    app.update_trust(
        CUSTOMER_ACCOUNT,
        &arn,
        &trust_external_ids(&[&old, &pending]),
    )
    .await;
    let account = verify(&app).await;
    assert_credential(&account, "SUCCESS", "OK");
    assert_eq!(account["external_id"], pending.as_str());
    assert!(account.get("pending_external_id").is_none());

    // The old ID is retired: a role trusting only it now fails.
    app.update_trust(CUSTOMER_ACCOUNT, &arn, &trust_external_ids(&[&old]))
        .await;
    assert_credential(&verify(&app).await, "FAIL", "ACCESS_DENIED");
    app.update_trust(CUSTOMER_ACCOUNT, &arn, &trust_external_ids(&[&pending]))
        .await;
    assert_credential(&verify(&app).await, "SUCCESS", "OK");
}

#[tokio::test]
async fn a_failed_promotion_leaves_the_old_id_and_cancel_drops_the_pending_one() {
    let app = TestApp::new().await;
    let (account, arn) = account_with_role(&app, |id| trust_external_ids(&[id]), &[]).await;
    let old = account["external_id"].as_str().unwrap().to_string();
    let uri = format!("/v1/accounts/{CUSTOMER_ACCOUNT}");
    let rotated = app
        .call(Method::POST, &format!("{uri}/external-id/rotate"), None)
        .await;
    let pending = rotated.body["pending_external_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The customer switched to the pending ID but left the policy open as well.
    app.update_trust(CUSTOMER_ACCOUNT, &arn, &trust(None)).await;
    let account = verify(&app).await;
    assert_credential(&account, "FAIL", "EXTERNAL_ID_NOT_ENFORCED");
    assert_eq!(
        account["external_id"],
        old.as_str(),
        "no promotion on a failed verification"
    );
    assert_eq!(account["pending_external_id"], pending.as_str());

    let cancelled = app
        .call(Method::DELETE, &format!("{uri}/external-id/pending"), None)
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert!(cancelled.body.get("pending_external_id").is_none());
    assert_eq!(cancelled.body["external_id"], old.as_str());
    app.call(Method::DELETE, &format!("{uri}/external-id/pending"), None)
        .await
        .assert_error(404, "not_found");
    let key = app.key.clone();
    let stale = app
        .call_with(
            Method::POST,
            &format!("{uri}/external-id/rotate"),
            Some(&key),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.assert_error(412, "precondition_failed");
    app.call(
        Method::POST,
        "/v1/accounts/000000000009/external-id/rotate",
        None,
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn the_generated_template_passes_cfn_lint_and_its_trust_policy_verifies() {
    let app = TestApp::new().await;
    let account = register(&app, None).await;
    let external_id = account["external_id"].as_str().unwrap();
    let uri = format!("/v1/accounts/{CUSTOMER_ACCOUNT}/cloudformation-template?managed_policies=SecurityAudit,ReadOnlyAccess");
    let reply = app.get(&uri).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("content-type").starts_with("application/yaml"));
    let text = reply.body.as_str().unwrap().to_string();
    assert!(text.contains("arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess"));

    // cfn-lint, as installed by make test.
    let lint = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/cfn-lint");
    assert!(
        std::path::Path::new(lint).exists(),
        "cfn-lint is installed by `make test` (dev/setup.sh)"
    );
    let file = std::env::temp_dir().join(format!("role-{}.yaml", ulid::Ulid::new()));
    std::fs::write(&file, &text).unwrap();
    let output = std::process::Command::new(lint)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // Deploy its trust policy as the customer would, then verify.
    let template: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let policy = &template["Resources"]["VendorRole"]["Properties"]["AssumeRolePolicyDocument"];
    let policy: Value = serde_json::to_value(policy).unwrap();
    assert_eq!(
        policy["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"][0],
        external_id
    );
    let arn = app.create_role(CUSTOMER_ACCOUNT, &policy, &[]).await;
    app.call(
        Method::PATCH,
        &format!("/v1/accounts/{CUSTOMER_ACCOUNT}"),
        Some(&json!({"role_arn": arn})),
    )
    .await;
    assert_credential(&verify(&app).await, "SUCCESS", "OK");

    app.get(&format!(
        "/v1/accounts/{CUSTOMER_ACCOUNT}/cloudformation-template?managed_policies=Bad%22Name"
    ))
    .await
    .assert_error(400, "invalid_value");
    app.get("/v1/accounts/000000000009/cloudformation-template")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn the_generic_template_passes_cfn_lint() {
    let app = TestApp::new().await;
    let reply = app
        .call_with(Method::GET, "/v1/aws/role-template.yaml", None, None, &[])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "public: CloudFormation fetches it without a key"
    );
    let lint = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/cfn-lint");
    let file = std::env::temp_dir().join(format!("generic-{}.yaml", ulid::Ulid::new()));
    std::fs::write(&file, reply.body.as_str().unwrap()).unwrap();
    let output = std::process::Command::new(lint)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[tokio::test]
async fn cloud_provider_details() {
    let app = TestApp::new().await;
    let reply = app.get("/v1/cloud-providers/aws").await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let regions = reply.body["regions"].as_array().unwrap();
    for partition in ["aws", "aws-us-gov", "aws-cn"] {
        assert!(regions.iter().any(|r| r["partition"] == partition));
    }
    assert!(regions
        .iter()
        .any(|r| r["id"] == "eu-west-1" && r["name"] == "Europe (Ireland)"));
    assert_eq!(
        reply.body["environments"],
        json!(["DEV", "STAGING", "TEST", "PROD"])
    );
    let trust = &reply.body["trust"];
    assert_eq!(
        trust["vendor_principal"],
        format!("arn:aws:iam::{VENDOR_ACCOUNT}:root")
    );
    assert_eq!(trust["vendor_account_id"], VENDOR_ACCOUNT);
    assert_eq!(trust["default_role_name"], "AccountOnboardingAudit");
    assert_eq!(
        trust["role_template_url"],
        format!("{}/v1/aws/role-template.yaml", crate::harness::PUBLIC_URL)
    );
    // Issue 25 #12: a Host header the caller writes changes nothing.
    let forged = app
        .call_with(
            Method::GET,
            "/v1/cloud-providers/aws",
            Some(&app.key.clone()),
            None,
            &[("host", "evil.example.net")],
        )
        .await;
    assert_eq!(
        forged.body["trust"]["role_template_url"],
        trust["role_template_url"]
    );
}

#[tokio::test]
async fn iam_parameters_are_read_and_a_post_reserves_an_account_once() {
    let app = TestApp::new().await;
    let uri = format!("/v1/aws/iam-parameters?account_id={CUSTOMER_ACCOUNT}");
    // A GET never writes: an account not registered is a 404 saying how.
    let before = app.snapshot().await;
    let unknown = app.get(&uri).await;
    unknown.assert_error(404, "not_found");
    assert!(unknown.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("POST /v1/aws/iam-parameters"));
    assert_eq!(app.snapshot().await, before);
    // A read key may read parameters, not reserve.
    let reader = app.key("acme", &[service::api_key::Scope::Read]).await;
    let reserve = json!({"account_id": CUSTOMER_ACCOUNT});
    app.call_with(
        Method::POST,
        "/v1/aws/iam-parameters",
        Some(&reader),
        Some(&reserve),
        &[],
    )
    .await
    .assert_error(403, "forbidden");

    let first = app
        .call(Method::POST, "/v1/aws/iam-parameters", Some(&reserve))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    assert_eq!(first.body["newly_registered"], true);
    assert_eq!(first.body["vendor_account_id"], VENDOR_ACCOUNT);
    let external_id = first.body["external_id"].as_str().unwrap();
    let url = first.body["aws_console_url"].as_str().unwrap();
    assert!(
        url.starts_with("https://console.aws.amazon.com/cloudformation/home#/stacks/quickcreate?")
    );
    assert!(url.contains(&format!("param_ExternalId={external_id}")));
    let account = app.get(&format!("/v1/accounts/{CUSTOMER_ACCOUNT}")).await;
    assert_eq!(account.body["external_id"], external_id);
    let second = app
        .call(Method::POST, "/v1/aws/iam-parameters", Some(&reserve))
        .await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["newly_registered"], false);
    assert_eq!(second.body["external_id"], external_id);
    let read = app
        .call_with(Method::GET, &uri, Some(&reader), None, &[])
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.body);
    assert_eq!(read.body["external_id"], external_id);
    assert!(read.body.get("newly_registered").is_none());
    app.get("/v1/aws/iam-parameters")
        .await
        .assert_error(400, "missing_field");
    app.get("/v1/aws/iam-parameters?account_id=12")
        .await
        .assert_error(400, "invalid_value");
}

#[tokio::test]
async fn a_sweep_verifies_due_accounts_and_leaves_the_others() {
    let app = TestApp::new().await;
    // Due: a fresh account with a good role (due at registration).
    let (_, _) = account_with_role(&app, |id| trust_external_ids(&[id]), &[]).await;
    // Not due: verified a moment ago, next check in 24 h.
    let verified_id = "333333333333";
    let verified = app.create(verified_id, json!({})).await;
    let arn = app
        .create_role(
            verified_id,
            &trust_external_ids(&[verified["external_id"].as_str().unwrap()]),
            &[],
        )
        .await;
    app.call(
        Method::PATCH,
        &format!("/v1/accounts/{verified_id}"),
        Some(&json!({"role_arn": arn})),
    )
    .await;
    let verified = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{verified_id}/verify"),
            None,
        )
        .await
        .body;
    // Never due: no role (no principal in its partition).
    let no_role = app
        .create("000000000001", json!({"regions": ["cn-north-1"]}))
        .await;
    // Due, in another tenant, with a throttled role: rescheduled, not failed.
    let globex = app.key("globex", service::api_key::Scope::ALL).await;
    let throttled = app
        .call_with(
            Method::POST,
            "/v1/accounts",
            Some(&globex),
            Some(&json!({"account_id": "444444444444", "name": "g"})),
            &[],
        )
        .await
        .body;
    let throttled_arn = app
        .create_role(
            "444444444444",
            &trust_external_ids(&[throttled["external_id"].as_str().unwrap()]),
            &[("emulator:throttle", "always")],
        )
        .await;
    app.call_with(
        Method::PATCH,
        "/v1/accounts/444444444444",
        Some(&globex),
        Some(&json!({"role_arn": throttled_arn})),
        &[],
    )
    .await;

    let report = app
        .sweeper()
        .sweep(Timestamp::now(), Instant::now() + Duration::from_secs(60))
        .await;
    assert_eq!(report.verified, 1, "{report:?}");
    assert_eq!(report.succeeded, 1);
    assert_eq!(report.rescheduled, 1);
    assert!(!report.deadline_reached);

    assert_credential(
        &app.get(&format!("/v1/accounts/{CUSTOMER_ACCOUNT}"))
            .await
            .body,
        "SUCCESS",
        "OK",
    );
    assert_eq!(
        app.get(&format!("/v1/accounts/{verified_id}")).await.body,
        verified,
        "not due: untouched"
    );
    assert_eq!(
        app.get("/v1/accounts/000000000001").await.body,
        no_role,
        "no role: untouched"
    );
    let throttled = app
        .call_with(
            Method::GET,
            "/v1/accounts/444444444444",
            Some(&globex),
            None,
            &[],
        )
        .await
        .body;
    assert_eq!(
        throttled["credential"]["verification_status"], "NOT_STARTED",
        "our throttling never fails an account"
    );

    // Nothing is due any more.
    let again = app
        .sweeper()
        .sweep(Timestamp::now(), Instant::now() + Duration::from_secs(60))
        .await;
    assert_eq!(again.verified + again.rescheduled, 0, "{again:?}");
}

#[tokio::test]
async fn a_sweep_past_its_deadline_starts_nothing_and_the_next_run_continues() {
    let app = TestApp::new().await;
    account_with_role(&app, |id| trust_external_ids(&[id]), &[]).await;
    let late = app.sweeper().sweep(Timestamp::now(), Instant::now()).await;
    assert_eq!(late.verified, 0);
    assert!(late.deadline_reached);
    let next = app
        .sweeper()
        .sweep(Timestamp::now(), Instant::now() + Duration::from_secs(60))
        .await;
    assert_eq!(next.succeeded, 1, "{next:?}");
}

#[tokio::test]
async fn roles_outside_the_assumable_name_pattern_are_refused_at_registration() {
    let app = TestApp::new().await;
    let mut settings = crate::harness::test_settings();
    settings.role_name_pattern = "AccountOnboarding*".into();
    let router = api::router(api::AppState::new(
        app.store.clone(),
        app.state.verifier.clone(),
        settings,
    ));
    let send = |method: &str, uri: &str, body: Value| {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("x-api-key", &app.key)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        tower::ServiceExt::oneshot(router.clone(), request)
    };
    let outside = json!({"account_id": CUSTOMER_ACCOUNT, "name": "x", "role_arn": format!("arn:aws:iam::{CUSTOMER_ACCOUNT}:role/Admin")});
    let response = send("POST", "/v1/accounts", outside).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let inside = json!({"account_id": CUSTOMER_ACCOUNT, "name": "x", "role_arn": format!("arn:aws:iam::{CUSTOMER_ACCOUNT}:role/AccountOnboardingAudit")});
    assert_eq!(
        send("POST", "/v1/accounts", inside).await.unwrap().status(),
        StatusCode::CREATED
    );
    let before = app.snapshot().await;
    let patch = json!({"role_arn": format!("arn:aws:iam::{CUSTOMER_ACCOUNT}:role/Admin")});
    let response = send("PATCH", &format!("/v1/accounts/{CUSTOMER_ACCOUNT}"), patch)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.snapshot().await, before);
}

/// Issue 26 #1: under `make dev`'s own settings (a sweep every 30 s, STS
/// calls of 5 s with 4 attempts) a due account is verified by the next
/// sweep. The budget subtracted the longest verification twice over (50 s
/// of a 30 s interval), so every sweep reached its deadline at once and a
/// registered account stayed NOT_STARTED for good.
#[tokio::test]
async fn make_devs_sweeps_verify_a_due_account() {
    let app = TestApp::new().await;
    account_with_role(&app, |id| trust_external_ids(&[id]), &[]).await;
    // make dev's settings: the configuration's defaults, and its interval.
    let defaults = service::runtime::config::Config::from_env().expect("configuration");
    let dev_interval = Duration::from_secs(30);
    let mut settings = (*app.state.settings).clone();
    settings.call_timeout = Duration::from_millis(defaults.verify_call_timeout_ms);
    settings.max_attempts = defaults.verify_max_attempts;
    assert_eq!(settings.longest_verification(), Duration::from_secs(25));
    assert!(settings.sweep_budget(dev_interval).is_some());
    assert!(
        settings.sweep_budget(Duration::from_secs(20)).is_none(),
        "too short for one: refused"
    );
    let sweeper = service::usecases::sweep::Sweeper {
        settings: std::sync::Arc::new(settings),
        ..app.sweeper()
    };
    let schedule = aws_lambda_events::event::eventbridge::EventBridgeEvent::default();
    let report = verifier::handle_schedule(&sweeper, schedule, dev_interval).await;
    assert_eq!(report.verified, 1, "{report:?}");
    assert!(!report.deadline_reached, "{report:?}");
    let account = app
        .get(&format!("/v1/accounts/{CUSTOMER_ACCOUNT}"))
        .await
        .body;
    assert_eq!(
        account["credential"]["verification_status"], "SUCCESS",
        "{account:#}"
    );
}

//! Data sources and scans, end to end: the API queues a scan on SQS, the
//! worker assumes the customer's role in moto and scans the IAM users and
//! roles planted there.

use crate::harness::{in_account, trust_external_ids, TestApp};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_iam::types::Tag;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use service::scans::Catalogue;
use std::collections::BTreeSet;

/// A customer account of its own, so parallel tests never see each
/// other's IAM users.
fn fresh_account() -> String {
    let random = ulid::Ulid::new().random() % 700_000_000_000;
    format!("{}", 200_000_000_000 + random)
}

/// IAM calls in one customer account, as the customer would make them.
pub(crate) struct CustomerIam {
    client: aws_sdk_iam::Client,
    account: String,
}

macro_rules! as_customer {
    ($iam:expr, $request:expr) => {
        $request
            .customize()
            .mutate_request(in_account(&$iam.account))
            .send()
            .await
            .expect("customer IAM call")
    };
}

impl CustomerIam {
    pub(crate) fn new(app: &TestApp, account: &str) -> Self {
        CustomerIam {
            client: aws_sdk_iam::Client::new(&app.sdk_config),
            account: account.to_string(),
        }
    }

    /// A user; `key_age` and `key_last_used` (days) plant an access key.
    pub(crate) async fn user(
        &self,
        name: &str,
        key_age: Option<u32>,
        key_last_used: Option<u32>,
    ) -> String {
        let mut request = self.client.create_user().user_name(name);
        for (key, value) in [
            ("emulator:access-key-age-days", key_age),
            ("emulator:access-key-last-used-days", key_last_used),
        ] {
            if let Some(days) = value {
                request = request.tags(
                    Tag::builder()
                        .key(key)
                        .value(days.to_string())
                        .build()
                        .unwrap(),
                );
            }
        }
        let user = as_customer!(self, request).user.unwrap();
        if key_age.is_some() {
            as_customer!(self, self.client.create_access_key().user_name(name));
        }
        user.arn
    }

    async fn enable_mfa(&self, user: &str) {
        let device = as_customer!(
            self,
            self.client
                .create_virtual_mfa_device()
                .virtual_mfa_device_name(format!("{user}-mfa"))
        );
        let serial = device.virtual_mfa_device.unwrap().serial_number;
        as_customer!(
            self,
            self.client
                .enable_mfa_device()
                .user_name(user)
                .serial_number(serial)
                .authentication_code1("123456")
                .authentication_code2("654321")
        );
    }

    async fn disable_mfa(&self, user: &str) {
        let devices = as_customer!(self, self.client.list_mfa_devices().user_name(user));
        for device in devices.mfa_devices {
            as_customer!(
                self,
                self.client
                    .deactivate_mfa_device()
                    .user_name(user)
                    .serial_number(device.serial_number)
            );
        }
    }

    pub(crate) async fn inline_admin(&self, user: &str) {
        let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        as_customer!(
            self,
            self.client
                .put_user_policy()
                .user_name(user)
                .policy_name("everything")
                .policy_document(document.to_string())
        );
    }

    /// A group whose customer managed policy allows everything, with `user` in it.
    async fn admin_group(&self, group: &str, user: &str) {
        as_customer!(self, self.client.create_group().group_name(group));
        let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]});
        let policy = as_customer!(
            self,
            self.client
                .create_policy()
                .policy_name(format!("{group}-all"))
                .policy_document(document.to_string())
        )
        .policy
        .unwrap();
        as_customer!(
            self,
            self.client
                .attach_group_policy()
                .group_name(group)
                .policy_arn(policy.arn.unwrap())
        );
        as_customer!(
            self,
            self.client
                .add_user_to_group()
                .group_name(group)
                .user_name(user)
        );
    }

    /// A role with an AWS managed policy attached.
    async fn role_with(&self, name: &str, managed_policy: &str) -> String {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        let role = as_customer!(
            self,
            self.client
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust.to_string())
        )
        .role
        .unwrap();
        as_customer!(
            self,
            self.client
                .attach_role_policy()
                .role_name(name)
                .policy_arn(format!("arn:aws:iam::aws:policy/{managed_policy}"))
        );
        role.arn
    }

    async fn tag_role(&self, role_arn: &str, key: &str, value: &str) {
        as_customer!(
            self,
            self.client
                .tag_role()
                .role_name(role_arn.rsplit('/').next().unwrap())
                .tags(Tag::builder().key(key).value(value).build().unwrap())
        );
    }
}

/// Register an account in a fresh customer account with a role that
/// requires its external ID, verify it, and attach `aws:iam`.
pub async fn onboard(app: &TestApp, extra: Value) -> (String, String) {
    let account = fresh_account();
    let created = app.create(&account, extra).await;
    let external_id = created["external_id"].as_str().unwrap().to_string();
    let role = app
        .create_role(&account, &trust_external_ids(&[&external_id]), &[])
        .await;
    let patched = app
        .call_with(
            Method::PATCH,
            &format!("/v1/accounts/{account}"),
            Some(&app.key.clone()),
            Some(&json!({"role_arn": role})),
            &[("content-type", "application/merge-patch+json")],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);
    let verified = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/verify"),
            None,
        )
        .await;
    assert_eq!(
        verified.body["credential"]["verification_status"], "SUCCESS",
        "{:#}",
        verified.body
    );
    let attached = app
        .call(
            Method::PUT,
            &format!("/v1/accounts/{account}/data-sources/aws:iam"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(attached.status, StatusCode::CREATED, "{:#}", attached.body);
    (account, role)
}

pub async fn start_scan(app: &TestApp, account: &str, body: Value) -> Value {
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/data-sources/aws:iam/scans"),
            Some(&body),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:#}", reply.body);
    assert_eq!(reply.body["status"], "QUEUED");
    assert!(reply
        .header("location")
        .ends_with(reply.body["scan_id"].as_str().unwrap()));
    reply.body
}

async fn scan_of(app: &TestApp, account: &str, scan_id: &str) -> Value {
    let reply = app
        .get(&format!(
            "/v1/accounts/{account}/data-sources/aws:iam/scans/{scan_id}"
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    reply.body
}

async fn findings(app: &TestApp, account: &str, query: &str) -> Vec<Value> {
    let reply = app
        .get(&format!("/v1/accounts/{account}/findings?{query}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

/// (rule, resource name after the last `/`) of each finding.
fn rules_and_resources(findings: &[Value]) -> BTreeSet<(String, String)> {
    findings
        .iter()
        .map(|f| {
            let resource = f["resource_id"].as_str().unwrap();
            let name = resource.rsplit('/').next().unwrap();
            let name = name.split('#').next().unwrap();
            (f["rule"].as_str().unwrap().to_string(), name.to_string())
        })
        .collect()
}

/// Plant the problems the IAM scanner looks for, and some that are fine.
async fn plant(iam: &CustomerIam) {
    // alice: no MFA, administrator through an inline policy.
    iam.user("alice", None, None).await;
    iam.inline_admin("alice").await;
    // bob: MFA; a key 120 days old, last used 100 days ago.
    iam.user("bob", Some(120), Some(100)).await;
    iam.enable_mfa("bob").await;
    // carol: no MFA; a key 120 days old used yesterday; admin by group.
    iam.user("carol", Some(120), Some(1)).await;
    iam.admin_group("admins", "carol").await;
    // dave: MFA, a key 10 days old never used: nothing to report.
    iam.user("dave", Some(10), None).await;
    iam.enable_mfa("dave").await;
    iam.role_with("Deployer", "AdministratorAccess").await;
    iam.role_with("Reader", "ReadOnlyAccess").await;
}

fn expected_findings() -> BTreeSet<(String, String)> {
    [
        ("IAM_USER_WITHOUT_MFA", "alice"),
        ("IAM_ADMINISTRATOR_ACCESS", "alice"),
        ("IAM_ACCESS_KEY_OLDER_THAN_90_DAYS", "bob"),
        ("IAM_ACCESS_KEY_UNUSED_90_DAYS", "bob"),
        ("IAM_USER_WITHOUT_MFA", "carol"),
        ("IAM_ACCESS_KEY_OLDER_THAN_90_DAYS", "carol"),
        ("IAM_ADMINISTRATOR_ACCESS", "carol"),
        ("IAM_ADMINISTRATOR_ACCESS", "Deployer"),
    ]
    .into_iter()
    .map(|(rule, name)| (rule.to_string(), name.to_string()))
    .collect()
}

#[tokio::test]
async fn iam_scanner_finds_exactly_the_planted_problems() {
    let app = TestApp::with_scans().await;
    let (account, _) = onboard(&app, json!({"regions": ["us-east-1", "eu-west-1"]})).await;
    plant(&CustomerIam::new(&app, &account)).await;

    let queued = start_scan(&app, &account, json!({})).await;
    assert_eq!(queued["regions"], json!(["us-east-1", "eu-west-1"]));
    let scan_id = queued["scan_id"].as_str().unwrap();
    let attachment = app
        .get(&format!("/v1/accounts/{account}/data-sources/aws:iam"))
        .await;
    assert_eq!(attachment.body["status"], "IN_PROGRESS");

    assert_eq!(app.drain_scan_queue().await, 1);
    let scan = scan_of(&app, &account, scan_id).await;
    assert_eq!(scan["status"], "SUCCEEDED", "{scan:#}");
    assert_eq!(scan["attempts"], 1);
    // 4 users, 1 group, 3 roles (ours, Deployer, Reader).
    assert_eq!(scan["counts"]["resources"], 8, "{scan:#}");
    assert_eq!(scan["counts"]["findings"], 8);
    assert_eq!(scan["counts"]["stored"], 8);
    assert!(scan["finished_at"].is_string());

    let found = findings(&app, &account, "").await;
    assert_eq!(rules_and_resources(&found), expected_findings());
    // The summary counts what the listing lists.
    let summary = app
        .get(&format!("/v1/accounts/{account}/findings/summary"))
        .await;
    assert_eq!(summary.status, StatusCode::OK, "{:#}", summary.body);
    assert_eq!(summary.body["total"], found.len(), "{:#}", summary.body);
    for severity in ["critical", "high", "medium", "low"] {
        let listed = found
            .iter()
            .filter(|f| f["severity"] == severity.to_uppercase())
            .count();
        assert_eq!(summary.body[severity], listed, "{severity}");
    }
    assert_eq!(summary.body["data_sources"][0]["data_source"], "aws:iam");
    assert_eq!(summary.body["data_sources"][0]["total"], found.len());
    let admin_role = found
        .iter()
        .find(|f| {
            f["resource_id"]
                .as_str()
                .unwrap()
                .ends_with("role/Deployer")
        })
        .unwrap();
    assert_eq!(admin_role["severity"], "CRITICAL");
    assert_eq!(admin_role["resource_type"], "AWS.IAM.Role");
    assert_eq!(
        admin_role["details"]["granted_by"],
        "AWS managed policy AdministratorAccess"
    );
    let carol_admin = found
        .iter()
        .find(|f| {
            f["rule"] == "IAM_ADMINISTRATOR_ACCESS"
                && f["resource_id"].as_str().unwrap().ends_with("user/carol")
        })
        .unwrap();
    assert!(carol_admin["details"]["granted_by"]
        .as_str()
        .unwrap()
        .starts_with("group admins"));

    // The severity filter and paging.
    let critical = findings(&app, &account, "severity=CRITICAL").await;
    assert_eq!(critical.len(), 3);
    let high_or_medium = findings(&app, &account, "severity=HIGH,MEDIUM").await;
    assert_eq!(high_or_medium.len(), 5);
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/v1/accounts/{account}/findings?limit=3&cursor={c}"),
            None => format!("/v1/accounts/{account}/findings?limit=3"),
        };
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
        paged.extend(page.body["items"].as_array().unwrap().clone());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, found);
    app.get(&format!("/v1/accounts/{account}/findings?severity=URGENT"))
        .await
        .assert_error(400, "invalid_value");

    // Each region records the sync; the attachment its success.
    let regions = app.get(&format!("/v1/accounts/{account}/regions")).await;
    assert_eq!(regions.status, StatusCode::OK, "{:#}", regions.body);
    for region in regions.body["regions"].as_array().unwrap() {
        assert_eq!(region["inventory_sync"]["status"], "SUCCESS", "{region:#}");
        assert_eq!(
            region["inventory_sync"]["synced_by"],
            format!("scan:{scan_id}")
        );
        assert!(region["create_time"].is_string());
        assert!(region["created_by"].is_string());
    }
    // An import that rewrites the account keeps each region's status and
    // when it was added (a whole-item write used to drop the first).
    let current = app.get(&format!("/v1/accounts/{account}")).await.body;
    let row = format!(
        "{}\n{account},Renamed by import,,,,{},us-east-1;eu-west-1,\n",
        crate::csv::HEADER,
        current["role_arn"].as_str().unwrap()
    );
    let imported = crate::csv::import(&app, "all_or_nothing", &row).await;
    assert_eq!(
        imported.body["updated"],
        json!([account]),
        "{:#}",
        imported.body
    );
    let after = app.get(&format!("/v1/accounts/{account}/regions")).await;
    assert_eq!(
        after.body["regions"], regions.body["regions"],
        "{:#}",
        after.body
    );
    let attachment = app
        .get(&format!("/v1/accounts/{account}/data-sources/aws:iam"))
        .await;
    assert_eq!(attachment.body["status"], "OK", "{:#}", attachment.body);
    assert!(attachment.body["scan_at"].is_string());

    // A second scan after a fix resolves the finding and keeps first_seen_at.
    let iam = CustomerIam::new(&app, &account);
    iam.enable_mfa("alice").await;
    let second = start_scan(&app, &account, json!({})).await;
    app.drain_scan_queue().await;
    let second = scan_of(&app, &account, second["scan_id"].as_str().unwrap()).await;
    assert_eq!(second["counts"]["resolved"], 1, "{second:#}");
    let after = findings(&app, &account, "").await;
    assert_eq!(after.len(), 7);
    let before_admin = found
        .iter()
        .find(|f| {
            f["rule"] == "IAM_ADMINISTRATOR_ACCESS"
                && f["resource_id"].as_str().unwrap().ends_with("user/alice")
        })
        .unwrap();
    let after_admin = after
        .iter()
        .find(|f| f["finding_id"] == before_admin["finding_id"])
        .unwrap();
    assert_eq!(after_admin["first_seen_at"], before_admin["first_seen_at"]);
    assert_ne!(after_admin["scan_id"], before_admin["scan_id"]);

    // Recent scans, newest first.
    let listed = app
        .get(&format!(
            "/v1/accounts/{account}/data-sources/aws:iam/scans"
        ))
        .await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scan_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second["scan_id"].as_str().unwrap(), scan_id]);
}

#[tokio::test]
async fn a_duplicated_job_runs_once() {
    let app = TestApp::with_scans().await;
    let (account, _) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    CustomerIam::new(&app, &account)
        .user("solo", None, None)
        .await;
    let queued = start_scan(&app, &account, json!({})).await;
    let scan_id = queued["scan_id"].as_str().unwrap();
    // SQS delivers at least once: the same job twice (and a third copy
    // arriving after the scan finished).
    let job = service::scans::ScanJob {
        tenant: crate::harness::TENANT.into(),
        account_id: account.clone(),
        data_source: "aws:iam".into(),
        scan_id: scan_id.into(),
        region: None,
    };
    let queue = app.state.scan_queue.clone().unwrap();
    queue.send_job(&job).await.unwrap();
    assert_eq!(app.drain_scan_queue().await, 2);
    queue.send_job(&job).await.unwrap();
    assert_eq!(app.drain_scan_queue().await, 1);

    let scan = scan_of(&app, &account, scan_id).await;
    assert_eq!(scan["status"], "SUCCEEDED");
    assert_eq!(scan["attempts"], 1, "the scan ran once: {scan:#}");
    let listed = app.get(&format!("/v1/accounts/{account}/scans")).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(findings(&app, &account, "").await.len(), 1);
    assert!(app.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_failing_job_is_retried_then_dead_lettered_while_its_batch_succeeds() {
    let app = TestApp::with_scans().await;
    let (healthy, _) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    let (failing, failing_role) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    // Verified, then STS starts throttling this role for good.
    CustomerIam::new(&app, &failing)
        .tag_role(&failing_role, "emulator:throttle", "always")
        .await;
    let good = start_scan(&app, &healthy, json!({})).await;
    let bad = start_scan(&app, &failing, json!({})).await;
    // A poison message too: not a scan job at all.
    let scanning = app.scanning();
    scanning
        .sqs
        .send_message()
        .queue_url(&scanning.queue_url)
        .message_body("not a job")
        .send()
        .await
        .unwrap();

    app.drain_scan_queue().await;

    let good = scan_of(&app, &healthy, good["scan_id"].as_str().unwrap()).await;
    assert_eq!(good["status"], "SUCCEEDED", "{good:#}");
    assert_eq!(good["attempts"], 1);
    let bad_id = bad["scan_id"].as_str().unwrap();
    let bad = scan_of(&app, &failing, bad_id).await;
    assert_eq!(bad["status"], "FAILED", "{bad:#}");
    assert_eq!(bad["dead_lettered"], true);
    assert_eq!(bad["attempts"], 5, "one attempt per receive: {bad:#}");
    let errors = bad["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 5);
    assert!(errors.iter().all(|e| e["code"] == "THROTTLED"), "{bad:#}");

    let dead = app.dead_letters().await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead.iter().any(|body| body == "not a job"));
    assert!(dead.iter().any(|body| body.contains(bad_id)));

    let regions = app.get(&format!("/v1/accounts/{failing}/regions")).await;
    assert_eq!(
        regions.body["regions"][0]["inventory_sync"]["status"],
        "FAIL"
    );
    assert_eq!(
        regions.body["regions"][0]["inventory_sync"]["code"],
        "THROTTLED"
    );
    let attachment = app
        .get(&format!("/v1/accounts/{failing}/data-sources/aws:iam"))
        .await;
    assert_eq!(attachment.body["status"], "ERROR", "{:#}", attachment.body);
}

#[tokio::test]
async fn scan_only_stores_nothing() {
    let app = TestApp::with_scans().await;
    let (account, _) = onboard(&app, json!({})).await;
    CustomerIam::new(&app, &account)
        .user("nomfa", None, None)
        .await;
    let before = app.snapshot().await;
    let queued = start_scan(&app, &account, json!({"scan_only": true})).await;
    app.drain_scan_queue().await;
    let scan = scan_of(&app, &account, queued["scan_id"].as_str().unwrap()).await;
    assert_eq!(scan["status"], "SUCCEEDED", "{scan:#}");
    assert_eq!(scan["scan_only"], true);
    assert_eq!(scan["counts"]["findings"], 1);
    assert_eq!(scan["counts"]["stored"], 0);
    assert!(findings(&app, &account, "").await.is_empty());
    let after = app.snapshot().await;
    let finding_items = after
        .iter()
        .filter(|item| item.get("sk").is_some_and(|sk| sk.contains("FINDING#")))
        .count();
    assert_eq!(finding_items, 0);
    // Only the scan record and its session in the access log were added.
    assert_eq!(after.len(), before.len() + 2);
    assert!(after
        .iter()
        .any(|item| item.get("sk").is_some_and(|sk| sk.contains("#ACCESS#"))));
}

#[tokio::test]
async fn ignore_lists_are_honoured() {
    let app = TestApp::with_scans().await;
    let (account, _) = onboard(
        &app,
        json!({
            "regions": ["us-east-1", "eu-west-1"],
            "region_ignore_list": ["eu-west-1"],
            "resource_type_ignore_list": ["AWS.IAM.Role"],
            "resource_regex_ignore_list": ["user/ignored-"],
        }),
    )
    .await;
    let iam = CustomerIam::new(&app, &account);
    iam.user("kept", None, None).await;
    iam.user("ignored-bot", None, None).await;
    iam.role_with("Deployer", "AdministratorAccess").await;

    // An ignored region cannot be asked for.
    let refused = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/data-sources/aws:iam/scans"),
            Some(&json!({"regions": ["eu-west-1"]})),
        )
        .await;
    refused.assert_error(400, "invalid_value");
    assert_eq!(refused.field(), "regions[0]");

    let queued = start_scan(&app, &account, json!({})).await;
    assert_eq!(queued["regions"], json!(["us-east-1"]));
    app.drain_scan_queue().await;
    let scan = scan_of(&app, &account, queued["scan_id"].as_str().unwrap()).await;
    // Found: kept, ignored-bot (no MFA), Deployer (admin); two ignored.
    assert_eq!(scan["counts"]["findings"], 3, "{scan:#}");
    assert_eq!(scan["counts"]["ignored"], 2);
    let found = findings(&app, &account, "").await;
    assert_eq!(
        rules_and_resources(&found),
        BTreeSet::from([("IAM_USER_WITHOUT_MFA".to_string(), "kept".to_string())])
    );

    let regions = app.get(&format!("/v1/accounts/{account}/regions")).await;
    let by_id = |id: &str| {
        regions.body["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("us-east-1")["inventory_sync"]["status"], "SUCCESS");
    assert_eq!(
        by_id("eu-west-1")["inventory_sync"]["status"],
        "NOT_STARTED"
    );
    assert_eq!(by_id("eu-west-1")["ignored"], true);
    assert_eq!(by_id("eu-west-1")["name"], "Europe (Ireland)");
}

#[tokio::test]
async fn sync_inventory_refuses_unverified_accounts() {
    let app = TestApp::with_scans().await;
    let (verified, _) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    // Registered with a role nobody verified yet.
    let unverified = fresh_account();
    app.create(
        &unverified,
        json!({"role_arn": format!("arn:aws:iam::{unverified}:role/Audit")}),
    )
    .await;
    let bare = fresh_account();
    app.create(&bare, json!({})).await;

    let reply = app
        .call(
            Method::POST,
            "/v1/account-actions",
            Some(&json!({
                "action_type": "SYNC_INVENTORY",
                "accounts": [
                    {"account_id": verified},
                    {"cloud_provider_account_id": unverified, "cloud_provider": "AWS"},
                    {"account_id": "999999999999"},
                ]
            })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:#}", reply.body);
    assert_eq!(reply.body["accepted"], 1);
    let results = reply.body["results"].as_array().unwrap();
    assert_eq!(results[0]["action_status"], true, "{:#}", reply.body);
    assert_eq!(results[0]["scans"][0]["data_source"], "aws:iam");
    assert_eq!(results[1]["action_status"], false);
    assert_eq!(results[1]["action_code"], "credential_not_verified");
    assert!(results[1]["action_message"]
        .as_str()
        .unwrap()
        .starts_with("Role validation failed"));
    assert_eq!(results[2]["action_code"], "not_found");

    // Nothing queued for the refused ones; the accepted scan runs.
    assert_eq!(app.drain_scan_queue().await, 1);
    let scan_id = results[0]["scans"][0]["scan_id"].as_str().unwrap();
    assert_eq!(
        scan_of(&app, &verified, scan_id).await["status"],
        "SUCCEEDED"
    );
    let unverified_scans = app.get(&format!("/v1/accounts/{unverified}/scans")).await;
    assert!(unverified_scans.body["items"]
        .as_array()
        .unwrap()
        .is_empty());

    // All refused: 200, not 202.
    let reply = app
        .call(
            Method::POST,
            "/v1/account-actions",
            Some(
                &json!({"action_type": "SYNC_INVENTORY", "accounts": [{"account_id": unverified}]}),
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["accepted"], 0);

    // Bad requests name the field and write nothing.
    let before = app.snapshot().await;
    for (body, field) in [
        (
            json!({"action_type": "REBOOT", "accounts": [{"account_id": verified}]}),
            "action_type",
        ),
        (
            json!({"action_type": "SYNC_INVENTORY", "accounts": []}),
            "accounts",
        ),
        (
            json!({"action_type": "SYNC_INVENTORY", "accounts": [{"account_id": "12"}]}),
            "accounts[0].account_id",
        ),
        (
            json!({"action_type": "SYNC_INVENTORY", "accounts": [{"account_id": verified, "regions": ["mars-1"]}]}),
            "accounts[0].regions[0]",
        ),
        (
            json!({"action_type": "SYNC_INVENTORY", "accounts": [{"account_id": verified}, {"account_id": verified}]}),
            "accounts[1].account_id",
        ),
    ] {
        let reply = app
            .call(Method::POST, "/v1/account-actions", Some(&body))
            .await;
        reply.assert_error(400, "invalid_value");
        assert_eq!(reply.field(), field, "{:#}", reply.body);
    }
    assert_eq!(app.snapshot().await, before);

    // A single account's scan is refused the same way.
    let attach = app
        .call(
            Method::PUT,
            &format!("/v1/accounts/{unverified}/data-sources/aws:iam"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(attach.status, StatusCode::CREATED);
    app.call(
        Method::POST,
        &format!("/v1/accounts/{unverified}/data-sources/aws:iam/scans"),
        Some(&json!({})),
    )
    .await
    .assert_error(409, "credential_not_verified");
}

#[tokio::test]
async fn attachments_are_managed_per_account_and_listed_across_accounts() {
    let app = TestApp::with_scans().await;
    let first = fresh_account();
    let second = fresh_account();
    app.create(
        &first,
        json!({"role_arn": format!("arn:aws:iam::{first}:role/Audit")}),
    )
    .await;
    app.create(&second, json!({})).await;

    let catalogue = app.get("/v1/data-sources").await;
    assert_eq!(catalogue.body["items"][0]["name"], "aws:iam");
    assert_eq!(catalogue.body["items"][0]["built_in"], true);

    // The account's own role: no external ID of its own.
    let uri = format!("/v1/accounts/{first}/data-sources/aws:iam");
    let created = app
        .call(
            Method::PUT,
            &uri,
            Some(&json!({"config": {"depth": "full"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    assert_eq!(created.body["status"], "CONFIGURED");
    assert!(created.body.get("external_id").is_none());
    let again = app
        .call(
            Method::PUT,
            &uri,
            Some(&json!({"config": {"depth": "full"}})),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["created_at"], created.body["created_at"]);

    // A role of its own gets a server-generated external ID, kept while the role stays.
    let own_role = format!("arn:aws:iam::{second}:role/IamScanner");
    let uri2 = format!("/v1/accounts/{second}/data-sources/aws:iam");
    let own = app
        .call(Method::PUT, &uri2, Some(&json!({"role_arn": own_role})))
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{:#}", own.body);
    let external_id = own.body["external_id"].as_str().unwrap().to_string();
    assert_eq!(external_id.len(), 40);
    let own_again = app
        .call(Method::PUT, &uri2, Some(&json!({"role_arn": own_role})))
        .await;
    assert_eq!(own_again.body["external_id"], external_id.as_str());

    // Bad input: named field, nothing written.
    let before = app.snapshot().await;
    let other_account = app
        .call(
            Method::PUT,
            &uri2,
            Some(&json!({"role_arn": "arn:aws:iam::111111111111:role/X"})),
        )
        .await;
    other_account.assert_error(400, "invalid_value");
    assert_eq!(other_account.field(), "role_arn");
    app.call(Method::PUT, &uri2, Some(&json!({"external_id": "mine"})))
        .await
        .assert_error(400, "unknown_field");
    app.call(
        Method::PUT,
        &format!("/v1/accounts/{second}/data-sources/aws:nothing"),
        Some(&json!({})),
    )
    .await
    .assert_error(404, "not_found");
    app.call(
        Method::PUT,
        "/v1/accounts/999999999999/data-sources/aws:iam",
        Some(&json!({})),
    )
    .await
    .assert_error(404, "not_found");
    assert_eq!(app.snapshot().await, before);

    let listed = app.get(&format!("/v1/accounts/{first}/data-sources")).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let across = app
        .get("/v1/data-source-attachments?data_source=aws:iam&limit=1")
        .await;
    assert_eq!(across.status, StatusCode::OK, "{:#}", across.body);
    assert_eq!(across.body["items"].as_array().unwrap().len(), 1);
    let cursor = across.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!(
            "/v1/data-source-attachments?data_source=aws:iam&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert!(rest.body["next_cursor"].is_null());
    let mut ids = vec![
        across.body["items"][0]["account_id"].clone(),
        rest.body["items"][0]["account_id"].clone(),
    ];
    ids.sort_by_key(|v| v.as_str().unwrap().to_string());
    let mut expected = vec![json!(first), json!(second)];
    expected.sort_by_key(|v| v.as_str().unwrap().to_string());
    assert_eq!(ids, expected);
    app.get("/v1/data-source-attachments")
        .await
        .assert_error(400, "missing_parameter");

    // Another tenant sees none of it.
    let other = app.key("other", service::api_key::Scope::ALL).await;
    let foreign = app
        .call_with(Method::GET, &uri, Some(&other), None, &[])
        .await;
    foreign.assert_error(404, "not_found");
    let foreign_list = app
        .call_with(
            Method::GET,
            "/v1/data-source-attachments?data_source=aws:iam",
            Some(&other),
            None,
            &[],
        )
        .await;
    assert!(foreign_list.body["items"].as_array().unwrap().is_empty());

    // Detach; again is 404.
    let detached = app.call(Method::DELETE, &uri, None).await;
    assert_eq!(detached.status, StatusCode::NO_CONTENT);
    app.call(Method::DELETE, &uri, None)
        .await
        .assert_error(404, "not_found");
    // Scanning a detached source is refused.
    app.call(Method::POST, &format!("{uri}/scans"), Some(&json!({})))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn archived_and_deleted_accounts_are_not_scanned_and_deletion_purges_findings() {
    let app = TestApp::with_scans().await;
    let (account, _) = onboard(&app, json!({})).await;
    CustomerIam::new(&app, &account)
        .user("someone", None, None)
        .await;
    // A scan queued, then the account archived before the worker runs.
    let queued = start_scan(&app, &account, json!({})).await;
    let archived = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/archive"),
            None,
        )
        .await;
    assert_eq!(archived.status, StatusCode::OK);
    app.drain_scan_queue().await;
    let scan = scan_of(&app, &account, queued["scan_id"].as_str().unwrap()).await;
    assert_eq!(scan["status"], "FAILED", "{scan:#}");
    assert_eq!(scan["errors"][0]["code"], "ACCOUNT_ARCHIVED");
    assert_eq!(scan["dead_lettered"], false);
    app.call(
        Method::POST,
        &format!("/v1/accounts/{account}/data-sources/aws:iam/scans"),
        Some(&json!({})),
    )
    .await
    .assert_error(409, "archived");

    app.call(
        Method::POST,
        &format!("/v1/accounts/{account}/unarchive"),
        None,
    )
    .await;
    // Unarchiving schedules a verification; the credential stays SUCCESS.
    let queued = start_scan(&app, &account, json!({})).await;
    app.drain_scan_queue().await;
    assert_eq!(
        scan_of(&app, &account, queued["scan_id"].as_str().unwrap()).await["status"],
        "SUCCEEDED"
    );
    assert_eq!(findings(&app, &account, "").await.len(), 1);

    // Deleting the account removes its attachments, scans and findings.
    let deleted = app
        .call(Method::DELETE, &format!("/v1/accounts/{account}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let left: Vec<_> = app
        .snapshot()
        .await
        .into_iter()
        .filter(|item| item.get("sk").is_some_and(|sk| sk.contains(&account)))
        .collect();
    assert!(left.is_empty(), "{left:#?}");
}

#[tokio::test]
async fn external_data_sources_are_forwarded_to_their_queue() {
    let config = crate::harness::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let external_url = sqs
        .create_queue()
        .queue_name(format!("guard-{}", ulid::Ulid::new()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let catalogue = Catalogue::with_external(
        &json!([{"name": "aws:guard-duty", "description": "GuardDuty findings", "max_score": 10.0, "queue_url": external_url}]).to_string(),
    )
    .unwrap();
    let app = TestApp::with_catalogue(catalogue).await;
    let (account, role) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    let listed = app.get("/v1/data-sources").await;
    let names: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["aws:iam", "aws:sqs", "aws:guard-duty"]);
    assert!(
        !listed.body.to_string().contains(&external_url),
        "queue URLs stay inside"
    );

    let uri = format!("/v1/accounts/{account}/data-sources/aws:guard-duty");
    let attached = app
        .call(
            Method::PUT,
            &uri,
            Some(&json!({"config": {"severity": "high"}})),
        )
        .await;
    assert_eq!(attached.status, StatusCode::CREATED);
    let queued = app
        .call(Method::POST, &format!("{uri}/scans"), Some(&json!({})))
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:#}", queued.body);
    app.drain_scan_queue().await;

    let scan_id = queued.body["scan_id"].as_str().unwrap();
    let scan = app.get(&format!("{uri}/scans/{scan_id}")).await;
    assert_eq!(scan.body["status"], "FORWARDED", "{:#}", scan.body);
    let received = sqs
        .receive_message()
        .queue_url(&external_url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let job: Value = serde_json::from_str(received[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(job["scan_id"], scan_id);
    assert_eq!(job["role_arn"], role.as_str());
    assert_eq!(job["regions"], json!(["us-east-1"]));
    assert_eq!(job["config"]["severity"], "high");
}

/// The summary's open counts, per severity, against a count of `listed`.
fn assert_summary_counts(summary: &Value, listed: &[Value]) {
    assert_eq!(summary["total"], listed.len(), "{summary:#}");
    for severity in ["critical", "high", "medium", "low"] {
        let count = listed
            .iter()
            .filter(|f| f["severity"] == severity.to_uppercase())
            .count();
        assert_eq!(summary[severity], count, "{severity}: {summary:#}");
    }
}

#[tokio::test]
async fn suppressed_findings_leave_the_listing_across_rescans_and_return_when_it_expires() {
    let app = TestApp::with_scans().await;
    let (account, _) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    plant(&CustomerIam::new(&app, &account)).await;
    start_scan(&app, &account, json!({})).await;
    assert_eq!(app.drain_scan_queue().await, 1);
    let all = findings(&app, &account, "").await;
    assert_eq!(all.len(), 8);
    let pick = |rule: &str, name: &str| {
        all.iter()
            .find(|f| f["rule"] == rule && f["resource_id"].as_str().unwrap().ends_with(name))
            .unwrap()["finding_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let briefly = pick("IAM_ADMINISTRATOR_ACCESS", "role/Deployer");
    let for_good = pick("IAM_USER_WITHOUT_MFA", "user/carol");
    let uri =
        |id: &str| format!("/v1/accounts/{account}/data-sources/aws:iam/findings/{id}/suppression");

    // A second account, for the tenant-wide query below.
    let (second, _) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    plant(&CustomerIam::new(&app, &second)).await;
    start_scan(&app, &second, json!({})).await;
    assert_eq!(app.drain_scan_queue().await, 1);

    // Bad requests name the field and write nothing.
    let before = app.snapshot().await;
    let soon = service::time::Timestamp::now().plus(std::time::Duration::from_secs(10));
    for (body, field) in [
        (json!({"reason": ""}), "reason"),
        (json!({"reason": "ok", "until": "tomorrow"}), "until"),
        (
            json!({"reason": "ok", "until": "2020-01-01T00:00:00Z"}),
            "until",
        ),
        (
            json!({"reason": "ok", "until": "2099-01-01T00:00:00Z"}),
            "until",
        ),
        (json!({"reason": "ok", "why": "x"}), "why"),
    ] {
        let reply = app.call(Method::PUT, &uri(&briefly), Some(&body)).await;
        reply.assert_error(400, reply.code());
        assert_eq!(reply.field(), field, "{:#}", reply.body);
    }
    app.call(
        Method::PUT,
        &uri("not-a-finding"),
        Some(&json!({"reason": "x"})),
    )
    .await
    .assert_error(400, "invalid_value");
    app.call(
        Method::PUT,
        &uri(&"0".repeat(32)),
        Some(&json!({"reason": "x"})),
    )
    .await
    .assert_error(404, "not_found");
    assert_eq!(app.snapshot().await, before);

    let suppressed = app
        .call(
            Method::PUT,
            &uri(&briefly),
            Some(&json!({"reason": "break-glass role, reviewed", "until": soon.to_string()})),
        )
        .await;
    assert_eq!(suppressed.status, StatusCode::OK, "{:#}", suppressed.body);
    assert_eq!(suppressed.body["status"], "SUPPRESSED");
    assert_eq!(
        suppressed.body["suppression"]["reason"],
        "break-glass role, reviewed"
    );
    let forever = app
        .call(
            Method::PUT,
            &uri(&for_good),
            Some(&json!({"reason": "service user"})),
        )
        .await;
    assert_eq!(forever.status, StatusCode::OK, "{:#}", forever.body);

    let check = |expect_open: usize, expect_suppressed: usize| {
        let app = &app;
        let account = account.clone();
        async move {
            let open = findings(app, &account, "").await;
            let held = findings(app, &account, "status=suppressed").await;
            let every = findings(app, &account, "status=all").await;
            assert_eq!(open.len(), expect_open);
            assert_eq!(held.len(), expect_suppressed);
            assert_eq!(every.len(), expect_open + expect_suppressed);
            assert!(open.iter().all(|f| f["status"] == "OPEN"));
            assert!(held.iter().all(|f| f["status"] == "SUPPRESSED"));
            let summary = app
                .get(&format!("/v1/accounts/{account}/findings/summary"))
                .await;
            assert_summary_counts(&summary.body, &open);
            assert_summary_counts(&summary.body["suppressed"], &held);
            (open, held)
        }
    };
    let (open, _) = check(6, 2).await;
    assert!(open.iter().all(|f| f["finding_id"] != briefly.as_str()));

    // Tenant-wide, through the severity index: pages of 4 across two
    // accounts, critical first and by score, the suppressed left out.
    let mut tenant_wide = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/v1/findings?limit=4&cursor={c}"),
            None => "/v1/findings?limit=4".to_string(),
        };
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
        tenant_wide.extend(page.body["items"].as_array().unwrap().clone());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(
        tenant_wide.len(),
        6 + 8,
        "both accounts' open findings, once each"
    );
    let rank = |f: &Value| {
        let severity = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
            .iter()
            .position(|s| f["severity"] == *s)
            .unwrap();
        (severity, -(f["score"].as_f64().unwrap() * 1000.0) as i64)
    };
    assert!(
        tenant_wide.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])),
        "severity order"
    );
    let ids: BTreeSet<(String, String)> = tenant_wide
        .iter()
        .map(|f| {
            (
                f["account_id"].as_str().unwrap().into(),
                f["finding_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(ids.len(), tenant_wide.len(), "no finding twice");
    assert!(!ids.iter().any(|(_, id)| id == &for_good));
    let suppressed = app.get("/v1/findings?status=suppressed").await;
    assert!((1..=2).contains(&suppressed.body["items"].as_array().unwrap().len()));
    let critical = app
        .get("/v1/findings?severity=CRITICAL&data_source=aws:iam")
        .await;
    assert!(critical.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["severity"] == "CRITICAL"));
    // A forged cursor of the right shape is only a position: past the
    // end it reads nothing, and never another tenant's partition.
    let forged = service::listing::encode_key_cursor(Some(format!(
        "9#999999#{}#aws:iam#{}",
        "9".repeat(12),
        "f".repeat(32)
    )))
    .unwrap();
    let past_the_end = app.get(&format!("/v1/findings?cursor={forged}")).await;
    assert_eq!(
        past_the_end.status,
        StatusCode::OK,
        "{:#}",
        past_the_end.body
    );
    assert_eq!(past_the_end.body["items"], json!([]));
    app.get("/v1/findings?cursor=bm90LWEtY3Vyc29y")
        .await
        .assert_error(400, "invalid_cursor");
    // Another tenant sees none of it.
    let stranger = app.key("globex", &[service::api_key::Scope::Read]).await;
    let theirs = app
        .call_with(
            Method::GET,
            "/v1/findings?status=all",
            Some(&stranger),
            None,
            &[],
        )
        .await;
    assert_eq!(theirs.status, StatusCode::OK, "{:#}", theirs.body);
    assert_eq!(theirs.body["items"], json!([]));

    // A rescan sees both again and keeps them suppressed.
    start_scan(&app, &account, json!({})).await;
    assert_eq!(app.drain_scan_queue().await, 1);
    check(6, 2).await;

    // The short one expires: back in the listing and the open counts.
    let wait = soon.datetime() - service::time::Timestamp::now().datetime();
    tokio::time::sleep(wait.to_std().unwrap_or_default() + std::time::Duration::from_millis(300))
        .await;
    let (open, held) = check(7, 1).await;
    let back = open
        .iter()
        .find(|f| f["finding_id"] == briefly.as_str())
        .unwrap();
    assert!(back["suppression"].is_null());
    assert_eq!(held[0]["finding_id"], for_good.as_str());

    // Lifted by hand: every finding is open again.
    let lifted = app.call(Method::DELETE, &uri(&for_good), None).await;
    assert_eq!(lifted.status, StatusCode::OK, "{:#}", lifted.body);
    assert_eq!(lifted.body["status"], "OPEN");
    check(8, 0).await;
}

/// Every page of an account's findings listing, `limit` at a time.
async fn all_pages(app: &TestApp, account: &str, query: &str, limit: usize) -> Vec<Value> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = format!("/v1/accounts/{account}/findings?limit={limit}&{query}");
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
        found.extend(page.body["items"].as_array().unwrap().clone());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return found,
        }
    }
}

/// (status rank, severity rank, inverted score) as the listing orders them.
fn listing_rank(f: &Value) -> (bool, usize, i64) {
    let severity = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
        .iter()
        .position(|s| f["severity"] == *s)
        .unwrap();
    (
        f["status"] == "RESOLVED",
        severity,
        -(f["score"].as_f64().unwrap() * 1000.0) as i64,
    )
}

#[tokio::test]
async fn rules_suppress_at_each_scan_resolved_findings_stay_and_the_account_lists_by_severity() {
    let app = TestApp::with_scans().await;
    let (account, _) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    let iam = CustomerIam::new(&app, &account);
    plant(&iam).await;
    start_scan(&app, &account, json!({})).await;
    assert_eq!(app.drain_scan_queue().await, 1);

    // The account's listing is in severity order from its index, paged.
    let listed = all_pages(&app, &account, "", 3).await;
    assert_eq!(rules_and_resources(&listed), expected_findings());
    assert_eq!(listed.len(), 8, "each finding once");
    assert!(listed
        .windows(2)
        .all(|w| listing_rank(&w[0]) <= listing_rank(&w[1])));
    assert_eq!(listed[0]["severity"], "CRITICAL");
    // Another account's place in the order is not a cursor here.
    let elsewhere = service::listing::encode_key_cursor(Some(format!(
        "0#000000#{}#aws:iam#{}",
        "1".repeat(12),
        "f".repeat(32)
    )))
    .unwrap();
    app.get(&format!(
        "/v1/accounts/{account}/findings?cursor={elsewhere}"
    ))
    .await
    .assert_error(400, "invalid_cursor");

    // Bad rules name the field and write nothing.
    let before = app.snapshot().await;
    for (body, field) in [
        (json!({"reason": "r"}), "rule"),
        (
            json!({"reason": "r", "resource_pattern": "*"}),
            "resource_pattern",
        ),
        (
            json!({"reason": "r", "data_source": "aws:nope"}),
            "data_source",
        ),
        (json!({"reason": "r", "rule": "has space"}), "rule"),
        (json!({"reason": "", "rule": "X"}), "reason"),
        (json!({"reason": "r", "rule": "X", "scope": "all"}), "scope"),
    ] {
        let reply = app
            .call(Method::POST, "/v1/suppression-rules", Some(&body))
            .await;
        reply.assert_error(400, reply.code());
        assert_eq!(reply.field(), field, "{:#}", reply.body);
    }
    app.call(Method::DELETE, "/v1/suppression-rules/not-a-rule", None)
        .await
        .assert_error(400, "invalid_value");
    app.call(
        Method::DELETE,
        "/v1/suppression-rules/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        None,
    )
    .await
    .assert_error(404, "not_found");
    assert_eq!(app.snapshot().await, before);

    // A rule for administrator roles: it applies from the next scan.
    let created = app
        .call(
            Method::POST,
            "/v1/suppression-rules",
            Some(&json!({
                "rule": "IAM_ADMINISTRATOR_ACCESS",
                "resource_pattern": format!("arn:aws:iam::{account}:role/*"),
                "reason": "deployment roles are reviewed quarterly",
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let rule_id = created.body["rule_id"].as_str().unwrap().to_string();
    let rules = app.get("/v1/suppression-rules").await;
    assert_eq!(rules.body["items"][0]["rule_id"], rule_id.as_str());
    assert_eq!(findings(&app, &account, "").await.len(), 8);
    start_scan(&app, &account, json!({})).await;
    assert_eq!(app.drain_scan_queue().await, 1);
    let held = findings(&app, &account, "status=suppressed").await;
    assert_eq!(held.len(), 1, "{held:#?}");
    assert!(held[0]["resource_id"]
        .as_str()
        .unwrap()
        .ends_with("role/Deployer"));
    assert_eq!(held[0]["suppression"]["rule_id"], rule_id.as_str());
    let open = findings(&app, &account, "").await;
    assert_eq!(open.len(), 7);
    let summary = app
        .get(&format!("/v1/accounts/{account}/findings/summary"))
        .await;
    assert_summary_counts(&summary.body, &open);
    assert_summary_counts(&summary.body["suppressed"], &held);
    // One finding a rule holds is changed through the rule.
    let deployer = held[0]["finding_id"].as_str().unwrap();
    let by_hand =
        format!("/v1/accounts/{account}/data-sources/aws:iam/findings/{deployer}/suppression");
    app.call(Method::PUT, &by_hand, Some(&json!({"reason": "mine"})))
        .await
        .assert_error(409, "suppressed_by_rule");

    // alice gets MFA: her finding is resolved, kept and counted as such.
    iam.enable_mfa("alice").await;
    let scan = start_scan(&app, &account, json!({})).await;
    assert_eq!(app.drain_scan_queue().await, 1);
    let scan = scan_of(&app, &account, scan["scan_id"].as_str().unwrap()).await;
    assert_eq!(scan["counts"]["resolved"], 1, "{scan:#}");
    let resolved = findings(&app, &account, "status=resolved").await;
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert_eq!(resolved[0]["rule"], "IAM_USER_WITHOUT_MFA");
    assert_eq!(resolved[0]["status"], "RESOLVED");
    assert!(resolved[0]["resolved_at"].is_string());
    let open = findings(&app, &account, "").await;
    assert_eq!(open.len(), 6);
    assert!(open
        .iter()
        .all(|f| f["finding_id"] != resolved[0]["finding_id"]));
    let every = all_pages(&app, &account, "status=all", 2).await;
    assert_eq!(every.len(), 8);
    assert_eq!(every.last().unwrap()["status"], "RESOLVED", "resolved last");
    assert!(every
        .windows(2)
        .all(|w| listing_rank(&w[0]) <= listing_rank(&w[1])));
    let summary = app
        .get(&format!("/v1/accounts/{account}/findings/summary"))
        .await;
    assert_summary_counts(&summary.body, &open);
    assert_summary_counts(&summary.body["resolved"], &resolved);
    let alice = resolved[0]["finding_id"].as_str().unwrap().to_string();
    app.call(
        Method::PUT,
        &format!("/v1/accounts/{account}/data-sources/aws:iam/findings/{alice}/suppression"),
        Some(&json!({"reason": "gone anyway"})),
    )
    .await
    .assert_error(409, "finding_resolved");
    // Kept for 30 days by TTL, not forever.
    let item = app
        .dynamodb
        .get_item()
        .table_name(&app.table)
        .key("pk", AttributeValue::S("T#acme".into()))
        .key(
            "sk",
            AttributeValue::S(format!("ACCT#{account}#FINDING#aws:iam#{alice}")),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let in_days = (expires - chrono::Utc::now().timestamp()) / 86_400;
    assert!((29..=30).contains(&in_days), "{in_days}");

    // Without MFA again, it reopens, first seen as before; the rule
    // deleted, the next scan opens what it held.
    iam.disable_mfa("alice").await;
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/v1/suppression-rules/{rule_id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    start_scan(&app, &account, json!({})).await;
    assert_eq!(app.drain_scan_queue().await, 1);
    let open = findings(&app, &account, "").await;
    assert_eq!(rules_and_resources(&open), expected_findings());
    let reopened = open
        .iter()
        .find(|f| f["finding_id"] == alice.as_str())
        .unwrap();
    assert_eq!(reopened["first_seen_at"], resolved[0]["first_seen_at"]);
    assert!(reopened["resolved_at"].is_null());
    assert_eq!(findings(&app, &account, "status=resolved").await.len(), 0);
    let summary = app
        .get(&format!("/v1/accounts/{account}/findings/summary"))
        .await;
    assert_summary_counts(&summary.body, &open);
    assert_eq!(summary.body["suppressed"]["total"], 0);
    assert_eq!(summary.body["resolved"]["total"], 0);
}

/// A scan settles findings against what it read, then writes them; a hand
/// suppression or lift made in between must survive that write. The race
/// is made deterministic by writing copies read before the hand changes
/// through the scans' own writer.
#[tokio::test]
async fn a_hand_triage_made_while_a_scan_writes_is_never_overwritten() {
    let app = TestApp::with_scans().await;
    let (account, _) = onboard(&app, json!({"regions": ["us-east-1"]})).await;
    plant(&CustomerIam::new(&app, &account)).await;
    start_scan(&app, &account, json!({})).await;
    assert_eq!(app.drain_scan_queue().await, 1);
    let uri =
        |id: &str| format!("/v1/accounts/{account}/data-sources/aws:iam/findings/{id}/suppression");
    let listed = findings(&app, &account, "").await;
    assert!(listed.len() >= 3, "{listed:#?}");
    let id = |i: usize| listed[i]["finding_id"].as_str().unwrap().to_string();
    let (to_suppress, to_lift, to_resolve) = (id(0), id(1), id(2));
    let lifted_before = app
        .call(
            Method::PUT,
            &uri(&to_lift),
            Some(&json!({"reason": "reviewed last quarter"})),
        )
        .await;
    assert_eq!(lifted_before.status, StatusCode::OK);
    assert_eq!(lifted_before.body["triage_revision"], 1);

    // What the scan read.
    let read: Vec<service::scans::Finding> = findings(&app, &account, "status=all")
        .await
        .into_iter()
        .map(|f| serde_json::from_value(f).unwrap())
        .collect();
    let stale = |id: &str| read.iter().find(|f| f.finding_id == id).unwrap().clone();

    // The hand changes, after the read.
    let suppressed = app
        .call(
            Method::PUT,
            &uri(&to_suppress),
            Some(&json!({"reason": "accepted risk"})),
        )
        .await;
    assert_eq!(suppressed.status, StatusCode::OK, "{:#}", suppressed.body);
    let lifted = app.call(Method::DELETE, &uri(&to_lift), None).await;
    assert_eq!(lifted.status, StatusCode::OK, "{:#}", lifted.body);
    assert_eq!(lifted.body["triage_revision"], 2);
    let held = app
        .call(
            Method::PUT,
            &uri(&to_resolve),
            Some(&json!({"reason": "decommissioning"})),
        )
        .await;
    assert_eq!(held.status, StatusCode::OK);

    // The scan's write: each seen again (settled against what it read),
    // the third resolved.
    let rules = service::suppression_rules::Rules::none();
    let now = service::time::Timestamp::now();
    let mut writes = Vec::new();
    for id in [&to_suppress, &to_lift] {
        let mut seen = stale(id);
        seen.suppression = None;
        seen.last_seen_at = now;
        let earlier = stale(id);
        seen.settle(Some(&earlier), &rules);
        writes.push(seen);
    }
    writes.push(stale(&to_resolve).resolved(now));
    assert!(writes[1].suppression.is_some(), "the stale read held it");
    let written = app
        .store
        .write_settled_findings("acme", writes, &rules)
        .await
        .unwrap();
    assert_eq!(written.len(), 3);

    let after: Vec<Value> = findings(&app, &account, "status=all").await;
    let now_of = |id: &str| {
        after
            .iter()
            .find(|f| f["finding_id"] == id)
            .unwrap()
            .clone()
    };
    let kept = now_of(&to_suppress);
    assert_eq!(kept["status"], "SUPPRESSED", "{kept:#}");
    assert_eq!(kept["suppression"]["reason"], "accepted risk");
    assert_eq!(kept["last_seen_at"], now.to_string(), "the scan's sighting");
    let open = now_of(&to_lift);
    assert_eq!(open["status"], "OPEN", "{open:#}");
    assert!(open["suppression"].is_null());
    assert_eq!(open["triage_revision"], 2);
    let resolved = now_of(&to_resolve);
    assert_eq!(resolved["status"], "RESOLVED", "{resolved:#}");
    assert_eq!(resolved["suppression"]["reason"], "decommissioning");

    // Written again unchanged (a retried delivery), nothing moves.
    let again = app
        .store
        .write_settled_findings("acme", written.clone(), &rules)
        .await
        .unwrap();
    assert_eq!(again, written);

    // The scan's end: a tally counted against the attachment as read
    // before a hand suppression is not written over it; the findings are
    // counted again and the summary counts the suppression.
    let (_, attachment) = app
        .store
        .account_and_attachment("acme", &account, "aws:iam")
        .await
        .unwrap();
    let counted: Vec<service::scans::Finding> = findings(&app, &account, "status=all")
        .await
        .into_iter()
        .map(|f| serde_json::from_value(f).unwrap())
        .collect();
    let stale_tally = service::scans::FindingTally::of(&counted).read_against(attachment.as_ref());
    let late = id(3);
    let suppressed_late = app
        .call(
            Method::PUT,
            &uri(&late),
            Some(&json!({"reason": "suppressed as the scan ended"})),
        )
        .await;
    assert_eq!(suppressed_late.status, StatusCode::OK);
    let scan_id = kept["scan_id"].as_str().unwrap();
    let scan = app
        .store
        .get_scan("acme", &account, scan_id)
        .await
        .unwrap()
        .unwrap();
    app.store
        .set_attachment_status(
            "acme",
            &scan,
            service::scans::AttachmentStatus::Ok,
            "ended",
            None,
            Some(&stale_tally),
        )
        .await
        .unwrap();
    let (_, attachment) = app
        .store
        .account_and_attachment("acme", &account, "aws:iam")
        .await
        .unwrap();
    let attachment = attachment.unwrap();
    assert!(
        attachment.suppressed.contains_key(&late),
        "{:#?}",
        attachment.suppressed
    );
    assert!(attachment.suppressed.contains_key(&to_suppress));
    assert!(!attachment.suppressed.contains_key(&to_lift));
    let held = findings(&app, &account, "status=suppressed").await;
    let summary = app
        .get(&format!("/v1/accounts/{account}/findings/summary"))
        .await;
    assert_summary_counts(&summary.body["suppressed"], &held);
    assert!(held.iter().any(|f| f["finding_id"] == late.as_str()));

    // The operator's reindex rewrites every finding as a scan would,
    // triage kept.
    let every = findings(&app, &account, "status=all").await;
    assert_eq!(
        app.store.reindex_findings("acme").await.unwrap(),
        every.len()
    );
    assert_eq!(findings(&app, &account, "status=all").await, every);

    // Each hand triage is an event naming who did it, and nothing else
    // here is one: the scans' writes, rewrites and the reindex are not.
    crate::audit::drain_stream(&app).await;
    let events_of = |event_type: &'static str| {
        let (app, account) = (&app, &account);
        async move {
            app.get(&format!(
                "/v1/audit-events?type={event_type}&account_id={account}"
            ))
            .await
            .body["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let suppressed = events_of("finding.suppressed").await;
    let ids = |events: &[Value]| -> BTreeSet<String> {
        events
            .iter()
            .map(|e| e["data"]["finding_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&suppressed),
        BTreeSet::from([
            to_suppress.clone(),
            to_lift.clone(),
            to_resolve.clone(),
            late.clone()
        ]),
        "{suppressed:#?}"
    );
    assert_eq!(suppressed.len(), 4, "{suppressed:#?}");
    let accepted = suppressed
        .iter()
        .find(|e| e["data"]["finding_id"] == to_suppress.as_str())
        .unwrap();
    assert_eq!(accepted["data"]["suppression"]["reason"], "accepted risk");
    assert_eq!(accepted["actor"].as_str().unwrap().len(), 26, "the API key");
    let lifted = events_of("finding.unsuppressed").await;
    assert_eq!(
        ids(&lifted),
        BTreeSet::from([to_lift.clone()]),
        "{lifted:#?}"
    );
    assert_eq!(lifted[0]["actor"], accepted["actor"]);
    assert!(lifted[0]["request_id"].is_string(), "{:#}", lifted[0]);
}

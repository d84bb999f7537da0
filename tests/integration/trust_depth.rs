//! Trust in depth: the trust-policy lint, a quiet footprint in the
//! customer's CloudTrail, named sessions and the access log, the
//! verification history. What the customer would see is read from the
//! trust emulator's trail (its CloudTrail).

use crate::harness::{
    put_role_policy, self_read, trust, trust_external_ids, TestApp, TENANT, VENDOR_ACCOUNT,
};
use crate::scans::{onboard, start_scan};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use service::api_key::Scope;
use service::time::Timestamp;
use std::time::{Duration, Instant};

fn fresh_account() -> String {
    let random = ulid::Ulid::new().random() % 700_000_000_000;
    format!("{}", 200_000_000_000 + random)
}

/// The trail's events about `role_arn` (AssumeRole of it, IAM calls by its
/// sessions), oldest first. A call the client timed out and retried under
/// load reaches the emulator twice with one session name: counted once.
fn trail(role_arn: &str) -> Vec<Value> {
    let path = std::env::var("TRUST_EMULATOR_TRAIL").expect("the emulators' trail");
    let mut seen = std::collections::HashSet::new();
    std::fs::read_to_string(path)
        .expect("read the trail")
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["roleArn"] == role_arn)
        .filter(|event| {
            seen.insert((
                event["eventName"].to_string(),
                event["roleSessionName"].to_string(),
                event["errorCode"].to_string(),
            ))
        })
        .collect()
}

fn failed(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| !e["errorCode"].is_null())
        .collect()
}

/// Register a fresh account, create its role from `policy(external_id)`
/// (`bare`: without the self-read permission), register the role.
async fn account_with(
    app: &TestApp,
    policy: impl Fn(&str) -> Value,
    bare: bool,
) -> (String, String) {
    let account = fresh_account();
    let created = app.create(&account, json!({})).await;
    let external_id = created["external_id"].as_str().unwrap().to_string();
    let name = format!("Audit{}", ulid::Ulid::new());
    let role = if bare {
        app.create_bare_role(&account, &name, &policy(&external_id), &[])
            .await
    } else {
        app.create_named_role(&account, &name, &policy(&external_id), &[])
            .await
    };
    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{account}"),
            Some(&json!({"role_arn": role})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);
    (account, role)
}

async fn verify(app: &TestApp, account: &str) -> Value {
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/verify"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    reply.body["credential"].clone()
}

fn codes(credential: &Value) -> Vec<String> {
    credential["trust_findings"]
        .as_array()
        .map(|findings| {
            findings
                .iter()
                .map(|f| f["code"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn statement(principal: Value, condition: Option<Value>) -> Value {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": principal,
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
    });
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    json!({"Version": "2012-10-17", "Statement": [statement]})
}

fn exactly(id: &str) -> Option<Value> {
    Some(json!({"StringEquals": {"sts:ExternalId": id}}))
}

/// A label, the role's trust policy from its external ID, whether the role
/// lacks the self-read permission, the status and the finding codes expected.
type WeaknessCase = (
    &'static str,
    Box<dyn Fn(&str) -> Value>,
    bool,
    &'static str,
    Vec<&'static str>,
);

#[tokio::test]
async fn each_trust_weakness_yields_exactly_its_finding_and_a_clean_role_none() {
    let app = TestApp::new().await;
    let vendor_root = format!("arn:aws:iam::{VENDOR_ACCOUNT}:root");
    let vendor = vendor_root.clone();
    let cases: Vec<WeaknessCase> = vec![
        (
            "clean",
            Box::new(|id: &str| trust_external_ids(&[id])),
            false,
            "SUCCESS",
            vec![],
        ),
        (
            "any principal",
            Box::new(|id: &str| statement(json!("*"), exactly(id))),
            false,
            "SUCCESS",
            vec!["PRINCIPAL_WILDCARD"],
        ),
        (
            "another account too",
            Box::new(move |id: &str| {
                statement(
                    json!({"AWS": [vendor.clone(), "arn:aws:iam::999988887777:root"]}),
                    exactly(id),
                )
            }),
            false,
            "SUCCESS",
            vec!["PRINCIPAL_OTHER_ACCOUNT"],
        ),
        (
            "a wildcard external ID",
            Box::new(|id: &str| {
                trust(Some(
                    json!({"StringLike": {"sts:ExternalId": format!("{}*", &id[..12])}}),
                ))
            }),
            false,
            "SUCCESS",
            vec!["EXTERNAL_ID_WILDCARD"],
        ),
        (
            "no external ID",
            Box::new(|_: &str| trust(None)),
            false,
            "FAIL",
            vec!["EXTERNAL_ID_NOT_REQUIRED"],
        ),
        (
            "may not read itself",
            Box::new(|id: &str| trust_external_ids(&[id])),
            true,
            "SUCCESS",
            vec!["TRUST_POLICY_UNREADABLE"],
        ),
    ];
    for (label, policy, bare, status, expected) in cases {
        let (account, _) = account_with(&app, policy, bare).await;
        let credential = verify(&app, &account).await;
        assert_eq!(
            credential["verification_status"], status,
            "{label}: {credential:#}"
        );
        assert_eq!(codes(&credential), expected, "{label}: {credential:#}");
        for finding in credential["trust_findings"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert!(
                finding["fix"].as_str().is_some_and(|fix| !fix.is_empty())
                    && finding["severity"].is_string(),
                "{label}: {finding:#}"
            );
        }
    }

    // Sessions of twelve hours.
    let (account, role) = account_with(&app, |id| trust_external_ids(&[id]), false).await;
    aws_sdk_iam::Client::new(&app.sdk_config)
        .update_role()
        .role_name(role.rsplit('/').next().unwrap())
        .max_session_duration(43_200)
        .customize()
        .mutate_request(crate::harness::in_account(&account))
        .send()
        .await
        .expect("lengthen the role's sessions");
    let credential = verify(&app, &account).await;
    assert_eq!(credential["verification_status"], "SUCCESS");
    assert_eq!(codes(&credential), ["SESSION_DURATION_TOO_LONG"]);
    let fix = credential["trust_findings"][0]["fix"].as_str().unwrap();
    assert!(fix.contains("3600"), "{fix}");

    // A service that runs as a role: its whole account is a finding.
    let mut app = app;
    let mut settings = (*app.state.settings).clone();
    settings.vendor_principal = Some(format!("arn:aws:iam::{VENDOR_ACCOUNT}:role/Onboarding"));
    let verifier = service::aws::verification::RoleVerifier::new(&app.sdk_config, &settings);
    app.reconfigure(|mut state| {
        state.verifier = verifier;
        state.settings = std::sync::Arc::new(settings);
        state
    });
    let (account, _) = account_with(
        &app,
        |id| statement(json!({"AWS": vendor_root.clone()}), exactly(id)),
        false,
    )
    .await;
    let credential = verify(&app, &account).await;
    assert_eq!(
        codes(&credential),
        ["PRINCIPAL_WHOLE_ACCOUNT"],
        "{credential:#}"
    );
    assert!(credential["trust_findings"][0]["fix"]
        .as_str()
        .unwrap()
        .contains("role/Onboarding"));
}

#[tokio::test]
async fn a_scheduled_reverification_is_quiet_and_still_catches_an_open_trust_policy() {
    let app = TestApp::new().await;
    let (account, role) = account_with(&app, |id| trust_external_ids(&[id]), false).await;

    // On demand: the probes run, and the customer sees them refused.
    let first = verify(&app, &account).await;
    assert_eq!(first["verification_status"], "SUCCESS", "{first:#}");
    let probed_at = first["probed_at"].clone();
    assert!(probed_at.is_string());
    let events = trail(&role);
    let refused: Vec<_> = failed(&events)
        .iter()
        .map(|e| e["roleSessionName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(refused.len(), 2, "{events:#?}");
    assert!(refused.iter().all(|name| name.starts_with("probe-")));

    // On schedule: one AssumeRole and the role reading itself, nothing refused.
    let seen = events.len();
    let sweeper = app.sweeper();
    let later = |days: u64| Timestamp::now().plus(Duration::from_secs(days * 86_400));
    let report = sweeper
        .sweep(later(2), Instant::now() + Duration::from_secs(60))
        .await;
    assert_eq!(report.succeeded, 1, "{report:?}");
    let events = trail(&role);
    let new = &events[seen..];
    let names: Vec<_> = new
        .iter()
        .map(|e| e["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["AssumeRole", "GetRole"], "{new:#?}");
    assert!(failed(new).is_empty(), "{new:#?}");
    let account_now = app.get(&format!("/v1/accounts/{account}")).await.body;
    assert_eq!(account_now["credential"]["verification_status"], "SUCCESS");
    assert_eq!(
        account_now["credential"]["probed_at"], probed_at,
        "not probed again"
    );

    // The customer drops the external-ID condition: the schedule sees it
    // in the policy, without a refused call.
    app.update_trust(&account, &role, &trust(None)).await;
    let seen = events.len();
    sweeper
        .sweep(later(4), Instant::now() + Duration::from_secs(60))
        .await;
    let events = trail(&role);
    assert!(failed(&events[seen..]).is_empty(), "{:#?}", &events[seen..]);
    let account_now = app.get(&format!("/v1/accounts/{account}")).await.body;
    let credential = &account_now["credential"];
    assert_eq!(
        credential["verification_code"], "EXTERNAL_ID_NOT_ENFORCED",
        "{credential:#}"
    );
    assert_eq!(codes(credential), ["EXTERNAL_ID_NOT_REQUIRED"]);

    // On demand, the probes still catch it.
    let again = verify(&app, &account).await;
    assert_eq!(again["verification_code"], "EXTERNAL_ID_NOT_ENFORCED");
    assert!(again["verification_message"]
        .as_str()
        .unwrap()
        .contains("without any external ID"));
}

#[tokio::test]
async fn a_role_that_does_not_allow_source_identity_is_refused_with_what_to_add() {
    let app = TestApp::new().await;
    let (account, role) = account_with(
        &app,
        |id| {
            let mut policy = trust_external_ids(&[id]);
            policy["Statement"][0]["Action"] = json!("sts:AssumeRole");
            policy
        },
        false,
    )
    .await;
    let credential = verify(&app, &account).await;
    assert_eq!(
        credential["verification_code"], "ACCESS_DENIED",
        "{credential:#}"
    );
    assert!(credential["verification_message"]
        .as_str()
        .unwrap()
        .contains("sts:SetSourceIdentity"));
    assert!(trail(&role)
        .iter()
        .all(|e| e["errorCode"] == "AccessDenied"));
}

#[tokio::test]
async fn every_session_is_named_and_the_access_log_lists_them_for_its_tenant_only() {
    let app = TestApp::with_scans().await;
    let (account, role) = onboard(&app, json!({})).await;
    start_scan(&app, &account, json!({})).await;
    assert_eq!(app.drain_scan_queue().await, 1);
    crate::audit::drain_stream(&app).await;

    // The customer's view: every AssumeRole names the tenant and a session.
    let events: Vec<Value> = trail(&role)
        .into_iter()
        .filter(|e| e["eventName"] == "AssumeRole")
        .collect();
    assert_eq!(
        events.len(),
        4,
        "three for the verification, one for the scan: {events:#?}"
    );
    for event in &events {
        assert_eq!(
            event["sourceIdentity"],
            format!("{TENANT}@onboarding"),
            "{event:#}"
        );
    }

    // The vendor's view matches it one to one, newest first.
    let log = app.get(&format!("/v1/accounts/{account}/access-log")).await;
    assert_eq!(log.status, StatusCode::OK, "{:#}", log.body);
    let sessions = log.body["items"].as_array().unwrap();
    let mut logged: Vec<String> = sessions
        .iter()
        .map(|s| s["session_name"].as_str().unwrap().to_string())
        .collect();
    let mut seen: Vec<String> = events
        .iter()
        .map(|e| e["roleSessionName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sessions[0]["purpose"], "SCAN", "{sessions:#?}");
    assert_eq!(sessions[0]["outcome"], "ISSUED");
    for session in sessions {
        assert_eq!(session["operation_id"], session["session_name"]);
        assert_eq!(session["source_identity"], format!("{TENANT}@onboarding"));
        let outcome = if session["purpose"].as_str().unwrap().starts_with("PROBE") {
            "DENIED"
        } else {
            "ISSUED"
        };
        assert_eq!(session["outcome"], outcome, "{session:#}");
    }
    logged.sort();
    seen.sort();
    assert_eq!(logged, seen);
    let times: Vec<&str> = sessions.iter().map(|s| s["at"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    // A page at a time.
    let first = app
        .get(&format!("/v1/accounts/{account}/access-log?limit=3"))
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let rest = app
        .get(&format!(
            "/v1/accounts/{account}/access-log?limit=3&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert!(rest.body["next_cursor"].is_null());
    let foreign = app
        .get(&format!(
            "/v1/accounts/{account}/access-log?cursor={cursor}"
        ))
        .await;
    assert_eq!(foreign.status, StatusCode::OK);
    let wrong_prefix = app
        .get(&format!(
            "/v1/accounts/{account}/verifications?cursor={cursor}"
        ))
        .await;
    wrong_prefix.assert_error(400, "invalid_cursor");

    // The verification history has the on-demand verification.
    let history = app
        .get(&format!("/v1/accounts/{account}/verifications"))
        .await;
    assert_eq!(history.status, StatusCode::OK, "{:#}", history.body);
    let verifications = history.body["items"].as_array().unwrap();
    assert_eq!(verifications.len(), 1, "{verifications:#?}");
    assert_eq!(verifications[0]["status"], "SUCCESS");
    assert_eq!(verifications[0]["probed"], true);
    assert_eq!(verifications[0]["role_arn"], role.as_str());
    assert_eq!(
        verifications[0]["operation_ids"].as_array().unwrap().len(),
        3
    );

    // Another tenant registers the same AWS account: its sessions are its own.
    let other = app.key("other-tenant", Scope::ALL).await;
    let registered = app
        .call_with(
            Method::POST,
            "/v1/accounts",
            Some(&other),
            Some(&json!({"account_id": account, "name": "theirs", "role_arn": role})),
            &[],
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:#}",
        registered.body
    );
    let refused = app
        .call_with(
            Method::POST,
            &format!("/v1/accounts/{account}/verify"),
            Some(&other),
            None,
            &[],
        )
        .await;
    assert_eq!(
        refused.body["credential"]["verification_code"],
        "ACCESS_DENIED"
    );
    crate::audit::drain_stream(&app).await;
    let theirs = app
        .call_with(
            Method::GET,
            &format!("/v1/accounts/{account}/access-log"),
            Some(&other),
            None,
            &[],
        )
        .await;
    let their_sessions = theirs.body["items"].as_array().unwrap();
    assert_eq!(their_sessions.len(), 3, "{:#}", theirs.body);
    assert!(their_sessions
        .iter()
        .all(|s| s["source_identity"] == "other-tenant@onboarding"));
    let ours = app.get(&format!("/v1/accounts/{account}/access-log")).await;
    assert_eq!(ours.body["items"].as_array().unwrap().len(), 4);

    // An account the caller does not have is a 404, not an empty log.
    let unknown = app.get("/v1/accounts/999999999999/access-log").await;
    unknown.assert_error(404, "not_found");
}

#[tokio::test]
async fn a_new_role_replaces_a_working_one_only_once_it_verifies() {
    let app = TestApp::new().await;
    let (account, old_role) = account_with(&app, |id| trust_external_ids(&[id]), false).await;
    let credential = verify(&app, &account).await;
    assert_eq!(credential["verification_status"], "SUCCESS");
    assert_eq!(credential["role_arn"], old_role.as_str());

    // A new role that does not trust this account's external ID yet.
    let new_role = app
        .create_role(
            &account,
            &trust_external_ids(&["not-this-accounts-external-id"]),
            &[],
        )
        .await;
    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{account}"),
            Some(&json!({"role_arn": new_role, "name": "renamed"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);
    assert_eq!(
        patched.body["role_arn"],
        old_role.as_str(),
        "{:#}",
        patched.body
    );
    assert_eq!(patched.body["pending_role_arn"], new_role.as_str());
    assert_eq!(patched.body["name"], "renamed");
    assert_eq!(patched.body["credential"]["verification_status"], "SUCCESS");
    assert_eq!(patched.body["credential"]["role_arn"], old_role.as_str());

    // It fails: the old role stays in force, the failure is the new role's.
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/accounts/{account}/verify"),
            None,
        )
        .await;
    let body = &reply.body;
    assert_eq!(body["role_arn"], old_role.as_str(), "{body:#}");
    assert_eq!(
        body["credential"]["verification_status"], "SUCCESS",
        "{body:#}"
    );
    assert_eq!(body["credential"]["role_arn"], old_role.as_str());
    let pending = &body["pending_role_credential"];
    assert_eq!(pending["verification_status"], "FAIL", "{body:#}");
    assert_eq!(pending["verification_code"], "ACCESS_DENIED");
    assert_eq!(pending["role_arn"], new_role.as_str());
    // The scheduled sweep keeps it so too.
    let sweeper = app.sweeper();
    sweeper
        .sweep(
            Timestamp::now().plus(Duration::from_secs(2 * 86_400)),
            Instant::now() + Duration::from_secs(60),
        )
        .await;
    let swept = app.get(&format!("/v1/accounts/{account}")).await.body;
    assert_eq!(swept["role_arn"], old_role.as_str());
    assert_eq!(swept["pending_role_arn"], new_role.as_str());
    assert_eq!(swept["credential"]["verification_status"], "SUCCESS");

    // The customer fixes the new role: one verification switches to it.
    let external_id = swept["external_id"].as_str().unwrap().to_string();
    app.update_trust(&account, &new_role, &trust_external_ids(&[&external_id]))
        .await;
    let switched = verify(&app, &account).await;
    assert_eq!(switched["verification_status"], "SUCCESS", "{switched:#}");
    assert_eq!(switched["role_arn"], new_role.as_str());
    let now = app.get(&format!("/v1/accounts/{account}")).await.body;
    assert_eq!(now["role_arn"], new_role.as_str(), "{now:#}");
    assert!(now.get("pending_role_arn").is_none(), "{now:#}");
    assert!(now.get("pending_role_credential").is_none());

    // A CSV import that changes the working role makes it pending too.
    let imported_role = format!("arn:aws:iam::{account}:role/FromCsv");
    let file = format!(
        "{}\n{account},renamed,,,,{imported_role},,\n",
        crate::csv::HEADER
    );
    let reply = crate::csv::import(&app, "all_or_nothing", &file).await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.body);
    let after_import = app.get(&format!("/v1/accounts/{account}")).await.body;
    assert_eq!(
        after_import["role_arn"],
        new_role.as_str(),
        "{after_import:#}"
    );
    assert_eq!(after_import["pending_role_arn"], imported_role.as_str());
    let path = format!("/v1/accounts/{account}/role-arn/pending");
    app.call(Method::DELETE, &path, None).await;

    // A change can be withdrawn; then there is nothing to withdraw.
    let third = app
        .create_role(&account, &trust_external_ids(&[&external_id]), &[])
        .await;
    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{account}"),
            Some(&json!({"role_arn": third})),
        )
        .await;
    assert_eq!(patched.body["pending_role_arn"], third.as_str());
    let path = format!("/v1/accounts/{account}/role-arn/pending");
    let cancelled = app.call(Method::DELETE, &path, None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:#}", cancelled.body);
    assert!(cancelled.body.get("pending_role_arn").is_none());
    assert_eq!(cancelled.body["role_arn"], new_role.as_str());
    app.call(Method::DELETE, &path, None)
        .await
        .assert_error(404, "not_found");

    // A role that never worked is replaced at once.
    let (fresh, _) = account_with(&app, |_| trust_external_ids(&["nope"]), false).await;
    let failing = verify(&app, &fresh).await;
    assert_eq!(failing["verification_status"], "FAIL");
    let replaced = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{fresh}"),
            Some(&json!({"role_arn": format!("arn:aws:iam::{fresh}:role/Other")})),
        )
        .await;
    assert_eq!(
        replaced.body["role_arn"],
        format!("arn:aws:iam::{fresh}:role/Other")
    );
    assert!(replaced.body.get("pending_role_arn").is_none());
}

#[tokio::test]
async fn a_govcloud_account_verifies_against_the_govcloud_configuration() {
    let mut app = TestApp::new().await;
    let gov_principal = format!("arn:aws-us-gov:iam::{VENDOR_ACCOUNT}:root");
    let mut settings = (*app.state.settings).clone();
    settings.partitions = service::partitions::parse(
        &json!([{"partition": "aws-us-gov", "vendor_principal": gov_principal}]).to_string(),
    )
    .unwrap();
    let verifier = service::aws::verification::RoleVerifier::new(&app.sdk_config, &settings);
    app.reconfigure(|mut state| {
        state.verifier = verifier;
        state.settings = std::sync::Arc::new(settings);
        state
    });

    let account = fresh_account();
    let created = app
        .create(&account, json!({"regions": ["us-gov-west-1"]}))
        .await;
    let external_id = created["external_id"].as_str().unwrap().to_string();
    // The customer's role, made in GovCloud's IAM, trusting the GovCloud principal.
    let gov_iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&app.sdk_config)
            .region(aws_sdk_iam::config::Region::from_static("us-gov-west-1"))
            .build(),
    );
    let name = format!("Audit{}", ulid::Ulid::new());
    let mut policy = trust_external_ids(&[&external_id]);
    policy["Statement"][0]["Principal"]["AWS"] = json!(gov_principal);
    let role = gov_iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(policy.to_string())
        .customize()
        .mutate_request(crate::harness::in_account(&account))
        .send()
        .await
        .expect("create the GovCloud role")
        .role
        .unwrap()
        .arn;
    assert!(role.starts_with("arn:aws-us-gov:iam::"), "{role}");
    put_role_policy(
        &gov_iam,
        &account,
        &name,
        "VendorSelfRead",
        &self_read(&role),
    )
    .await;
    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{account}"),
            Some(&json!({"role_arn": role})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);

    let credential = verify(&app, &account).await;
    assert_eq!(
        credential["verification_status"], "SUCCESS",
        "{credential:#}"
    );
    assert_eq!(codes(&credential), Vec::<String>::new(), "{credential:#}");
    let calls: Vec<Value> = trail(&role)
        .into_iter()
        .filter(|e| e["eventName"] == "AssumeRole")
        .collect();
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert!(
        calls.iter().all(|e| e["awsRegion"] == "us-gov-west-1"),
        "GovCloud's STS: {calls:#?}"
    );

    // Its template and quick-create link are GovCloud's.
    let template = app
        .get(&format!("/v1/accounts/{account}/cloudformation-template"))
        .await;
    assert!(template.body.as_str().unwrap().contains(&gov_principal));
    let parameters = app.reserve(&account).await;
    assert_eq!(parameters.status, StatusCode::OK, "{:#}", parameters.body);
    assert!(parameters.body["aws_console_url"]
        .as_str()
        .unwrap()
        .starts_with("https://console.amazonaws-us-gov.com/"));
    assert_eq!(parameters.body["vendor_principal"], gov_principal.as_str());
    let provider = app.get("/v1/cloud-providers/aws").await;
    assert_eq!(
        provider.body["partitions"][1],
        json!({"partition": "aws-us-gov", "vendor_principal": gov_principal})
    );

    // A role of another partition is refused, naming role_arn.
    let commercial = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{account}"),
            Some(&json!({"role_arn": format!("arn:aws:iam::{account}:role/Audit")})),
        )
        .await;
    commercial.assert_error(400, "invalid_value");
    assert_eq!(commercial.field(), "role_arn");
    // So is a role in a partition the service has no principal in.
    let china = fresh_account();
    let refused = app
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&json!({"account_id": china, "name": "cn", "role_arn": format!("arn:aws-cn:iam::{china}:role/Audit")})),
        )
        .await;
    refused.assert_error(400, "invalid_value");
    assert_eq!(refused.field(), "role_arn");
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no principal in partition aws-cn"));
}

/// Give `role` (in `account`) an inline policy `name` allowing `actions` on everything.
async fn grant(app: &TestApp, account: &str, role: &str, name: &str, actions: &[&str]) {
    let document = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": "*"},
    ]});
    let iam = aws_sdk_iam::Client::new(&app.sdk_config);
    put_role_policy(
        &iam,
        account,
        role.rsplit('/').next().unwrap(),
        name,
        &document,
    )
    .await;
}

#[tokio::test]
async fn a_role_lacking_one_action_of_its_data_source_is_told_exactly_which() {
    let app = TestApp::with_scans().await;
    let (account, role) = account_with(&app, |id| trust_external_ids(&[id]), false).await;
    let scanner = [
        "iam:GetAccountAuthorizationDetails",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
    ];
    grant(&app, &account, &role, "Scanner", &scanner).await;
    let attached = app
        .call(
            Method::PUT,
            &format!("/v1/accounts/{account}/data-sources/aws:iam"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(attached.status, StatusCode::CREATED, "{:#}", attached.body);

    let credential = verify(&app, &account).await;
    assert_eq!(
        credential["verification_status"], "SUCCESS",
        "{credential:#}"
    );
    assert_eq!(
        credential["missing_permissions"],
        json!({"aws:iam": ["iam:ListMFADevices"]}),
        "{credential:#}"
    );
    // A scan of that source is refused up front, with the list.
    let scan_path = format!("/v1/accounts/{account}/data-sources/aws:iam/scans");
    let refused = app.call(Method::POST, &scan_path, Some(&json!({}))).await;
    refused.assert_error(409, "missing_permissions");
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("iam:ListMFADevices"));
    // The account's template grants what the source needs.
    let template = app
        .get(&format!("/v1/accounts/{account}/cloudformation-template"))
        .await;
    assert!(template
        .body
        .as_str()
        .unwrap()
        .contains("\"iam:ListMFADevices\""));

    // The scheduled sweep checks the same (and finds the same).
    let sweep = |days: u64| {
        let sweeper = app.sweeper();
        async move {
            sweeper
                .sweep(
                    Timestamp::now().plus(Duration::from_secs(days * 86_400)),
                    Instant::now() + Duration::from_secs(60),
                )
                .await
        }
    };
    assert_eq!(sweep(2).await.succeeded, 1);
    let swept = app.get(&format!("/v1/accounts/{account}")).await.body;
    assert_eq!(
        swept["credential"]["missing_permissions"],
        json!({"aws:iam": ["iam:ListMFADevices"]}),
        "{swept:#}"
    );

    // Granted: the next (scheduled) verification clears it, and the scan is queued.
    grant(
        &app,
        &account,
        &role,
        "Scanner",
        &[&scanner[..], &["iam:ListMFADevices"]].concat(),
    )
    .await;
    let report = sweep(4).await;
    assert_eq!(report.succeeded, 1, "{report:?}");
    let swept = app.get(&format!("/v1/accounts/{account}")).await.body;
    assert!(
        swept["credential"].get("missing_permissions").is_none(),
        "{swept:#}"
    );
    let queued = app.call(Method::POST, &scan_path, Some(&json!({}))).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:#}", queued.body);

    // A role that may not simulate is judged by its own policies instead.
    let (other, other_role) = account_with(&app, |id| trust_external_ids(&[id]), true).await;
    grant(
        &app,
        &other,
        &other_role,
        "ReadItself",
        &[
            "iam:GetRole",
            "iam:ListRolePolicies",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
        ],
    )
    .await;
    grant(
        &app,
        &other,
        &other_role,
        "Audit",
        &["iam:Get*", "iam:ListAccessKeys"],
    )
    .await;
    app.call(
        Method::PUT,
        &format!("/v1/accounts/{other}/data-sources/aws:iam"),
        Some(&json!({})),
    )
    .await;
    let credential = verify(&app, &other).await;
    assert_eq!(
        credential["missing_permissions"],
        json!({"aws:iam": ["iam:ListMFADevices"]}),
        "{credential:#}"
    );
    assert!(codes(&credential).is_empty(), "{credential:#}");

    // One that may do neither is told what to add, and nothing is assumed missing.
    let (blind, _) = account_with(&app, |id| trust_external_ids(&[id]), true).await;
    app.call(
        Method::PUT,
        &format!("/v1/accounts/{blind}/data-sources/aws:iam"),
        Some(&json!({})),
    )
    .await;
    let credential = verify(&app, &blind).await;
    assert_eq!(
        codes(&credential),
        ["TRUST_POLICY_UNREADABLE", "PERMISSIONS_UNCHECKED"],
        "{credential:#}"
    );
    assert!(credential.get("missing_permissions").is_none());
}

#[tokio::test]
async fn an_external_id_past_the_tenants_age_is_due_and_rotated_by_policy() {
    let app = TestApp::new().await;
    for (body, field) in [
        (
            json!({"auto_rotate_external_id": true}),
            "auto_rotate_external_id",
        ),
        (
            json!({"external_id_max_age_days": 0}),
            "external_id_max_age_days",
        ),
        (
            json!({"external_id_max_age_days": 90, "rotate": true}),
            "rotate",
        ),
    ] {
        let reply = app.call(Method::PUT, "/v1/settings", Some(&body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:#}", reply.body);
        assert_eq!(reply.field(), field, "{:#}", reply.body);
    }
    assert_eq!(
        app.get("/v1/settings").await.body,
        json!({"auto_rotate_external_id": false})
    );

    let (account, role) = account_with(&app, |id| trust_external_ids(&[id]), false).await;
    assert!(verify(&app, &account).await["verification_status"] == "SUCCESS");
    // The ID was issued 40 days ago.
    let issued =
        Timestamp::from_datetime(Timestamp::now().datetime() - chrono::TimeDelta::days(40));
    app.dynamodb
        .update_item()
        .table_name(&app.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("T#{TENANT}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#{account}")),
        )
        .update_expression("SET external_id_since = :since")
        .expression_attribute_values(
            ":since",
            aws_sdk_dynamodb::types::AttributeValue::S(issued.to_string()),
        )
        .send()
        .await
        .expect("age the external ID");

    // A 30-day policy: the account shows rotation_due, nothing else changes.
    let policy = app
        .call(
            Method::PUT,
            "/v1/settings",
            Some(&json!({"external_id_max_age_days": 30})),
        )
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{:#}", policy.body);
    verify(&app, &account).await;
    let now = app.get(&format!("/v1/accounts/{account}")).await.body;
    assert_eq!(now["rotation_due"], true, "{now:#}");
    assert!(now.get("pending_external_id").is_none());

    // With automatic rotation the next scheduled verification starts one.
    app.call(
        Method::PUT,
        "/v1/settings",
        Some(&json!({"external_id_max_age_days": 30, "auto_rotate_external_id": true})),
    )
    .await;
    app.sweeper()
        .sweep(
            Timestamp::now().plus(Duration::from_secs(2 * 86_400)),
            Instant::now() + Duration::from_secs(60),
        )
        .await;
    let rotating = app.get(&format!("/v1/accounts/{account}")).await.body;
    let pending = rotating["pending_external_id"]
        .as_str()
        .expect("a pending ID")
        .to_string();
    assert_eq!(rotating["credential"]["verification_status"], "SUCCESS");
    // The customer's role accepts the new ID: the rotation completes.
    let current = rotating["external_id"].as_str().unwrap().to_string();
    app.update_trust(&account, &role, &trust_external_ids(&[&current, &pending]))
        .await;
    verify(&app, &account).await;
    let rotated = app.get(&format!("/v1/accounts/{account}")).await.body;
    assert_eq!(rotated["external_id"], pending.as_str(), "{rotated:#}");
    assert!(rotated.get("rotation_due").is_none(), "{rotated:#}");
    assert!(rotated["external_id_since"].as_str().unwrap() > issued.to_string().as_str());
}

#[tokio::test]
async fn a_data_source_keeps_its_working_role_until_the_new_one_verifies() {
    let app = TestApp::with_scans().await;
    let (account, _) = account_with(&app, |id| trust_external_ids(&[id]), false).await;
    assert_eq!(
        verify(&app, &account).await["verification_status"],
        "SUCCESS"
    );
    let path = format!("/v1/accounts/{account}/data-sources/aws:iam");

    // A role of its own, which scans: it works.
    let name = format!("Source{}", ulid::Ulid::new());
    let first_arn = format!("arn:aws:iam::{account}:role/{name}");
    let attached = app
        .call(Method::PUT, &path, Some(&json!({"role_arn": first_arn})))
        .await;
    assert_eq!(attached.status, StatusCode::CREATED, "{:#}", attached.body);
    let source_id = attached.body["external_id"].as_str().unwrap().to_string();
    app.create_named_role(&account, &name, &trust_external_ids(&[&source_id]), &[])
        .await;
    start_scan(&app, &account, json!({})).await;
    app.drain_scan_queue().await;
    let scanned = app.get(&path).await.body;
    assert_eq!(scanned["status"], "OK", "{scanned:#}");

    // A new role that does not trust the source's external ID: pending, FAIL.
    let second = app
        .create_role(&account, &trust_external_ids(&["another-id"]), &[])
        .await;
    let changed = app
        .call(Method::PUT, &path, Some(&json!({"role_arn": second})))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:#}", changed.body);
    assert_eq!(
        changed.body["role_arn"],
        first_arn.as_str(),
        "{:#}",
        changed.body
    );
    assert_eq!(changed.body["external_id"], source_id.as_str());
    assert_eq!(changed.body["pending_role_arn"], second.as_str());
    assert_eq!(changed.body["status"], "OK");
    let pending = &changed.body["pending_role_credential"];
    assert_eq!(pending["verification_status"], "FAIL", "{pending:#}");
    assert_eq!(pending["verification_code"], "ACCESS_DENIED");

    // Once it trusts the ID, asking again switches in one step.
    app.update_trust(&account, &second, &trust_external_ids(&[&source_id]))
        .await;
    let switched = app
        .call(Method::PUT, &path, Some(&json!({"role_arn": second})))
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{:#}", switched.body);
    assert_eq!(
        switched.body["role_arn"],
        second.as_str(),
        "{:#}",
        switched.body
    );
    assert_eq!(switched.body["external_id"], source_id.as_str());
    assert!(switched.body.get("pending_role_arn").is_none());
}

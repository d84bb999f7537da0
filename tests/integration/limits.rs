//! Issue 25 #7: every count limit is exact under concurrency. Each limit
//! is filled to a few below it, then 30 creations race: exactly enough of
//! them succeed to reach the limit, the rest are a 409 naming it, and the
//! listing holds exactly the limit.

use crate::harness::TestApp;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

/// Fire `bodies` at `uri` at once; the statuses' counts.
async fn race(app: &TestApp, uri: &str, bodies: Vec<Value>) -> (usize, Vec<String>) {
    let replies = futures::future::join_all(
        bodies
            .iter()
            .map(|body| app.call(Method::POST, uri, Some(body))),
    )
    .await;
    let created = replies
        .iter()
        .filter(|reply| reply.status == StatusCode::CREATED)
        .count();
    let refused = replies
        .iter()
        .filter(|reply| reply.status != StatusCode::CREATED)
        .map(|reply| {
            assert_eq!(reply.status, StatusCode::CONFLICT, "{:#}", reply.body);
            reply.code().to_string()
        })
        .collect();
    (created, refused)
}

async fn fill(app: &TestApp, uri: &str, bodies: impl Iterator<Item = Value>) {
    for body in bodies {
        let reply = app.call(Method::POST, uri, Some(&body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.body);
    }
}

#[tokio::test]
async fn thirty_concurrent_webhook_creations_stop_at_the_limit() {
    let app = TestApp::new().await;
    let hook = |i: usize| json!({"url": format!("https://hooks{i}.example.com/in"), "event_types": ["account.created"]});
    let limit = service::webhooks::MAX_WEBHOOKS;
    fill(&app, "/v1/webhooks", (0..limit - 5).map(hook)).await;
    let (created, refused) = race(&app, "/v1/webhooks", (100..130).map(hook).collect()).await;
    assert_eq!(created, 5);
    assert!(
        refused.iter().all(|code| code == "too_many_webhooks"),
        "{refused:?}"
    );
    let listed = app.get("/v1/webhooks").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), limit);
}

#[tokio::test]
async fn thirty_concurrent_link_creations_stop_at_the_limit() {
    let app = TestApp::new().await;
    app.create("123456789012", json!({})).await;
    let uri = "/v1/accounts/123456789012/onboarding-links";
    let (created, refused) = race(&app, uri, vec![json!({}); 30]).await;
    assert_eq!(created, service::onboarding::MAX_LIVE_LINKS);
    assert!(
        refused
            .iter()
            .all(|code| code == "too_many_onboarding_links"),
        "{refused:?}"
    );
    let listed = app.get(uri).await;
    let live = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|link| link["status"] == "LIVE")
        .count();
    assert_eq!(live, service::onboarding::MAX_LIVE_LINKS);
}

#[tokio::test]
async fn thirty_concurrent_key_rule_and_organization_creations_stop_at_their_limits() {
    let app = TestApp::new().await;
    // API keys: the harness's own key is one of them.
    let key = |i: usize| json!({"name": format!("k{i}"), "scopes": ["read"]});
    let limit = service::usecases::api_keys::MAX_LIVE_API_KEYS;
    fill(&app, "/v1/api-keys", (1..limit - 5).map(key)).await;
    let (created, refused) = race(&app, "/v1/api-keys", (200..230).map(key).collect()).await;
    assert_eq!(created, 5);
    assert!(
        refused.iter().all(|code| code == "too_many_api_keys"),
        "{refused:?}"
    );

    let rule = |i: usize| json!({"reason": "r", "rule": format!("RULE_{i}")});
    let limit = service::suppression_rules::MAX_RULES;
    fill(&app, "/v1/suppression-rules", (0..limit - 5).map(rule)).await;
    let (created, refused) = race(
        &app,
        "/v1/suppression-rules",
        (200..230).map(rule).collect(),
    )
    .await;
    assert_eq!(created, 5);
    assert!(
        refused
            .iter()
            .all(|code| code == "too_many_suppression_rules"),
        "{refused:?}"
    );

    // One AWS Organization, registered 30 times at once: once (#12).
    let organization = json!({
        "name": "Acme organization",
        "management_account_id": "888888888888",
        "role_arn": "arn:aws:iam::888888888888:role/AccountOnboardingOrganizations",
    });
    let (created, refused) = race(&app, "/v1/organizations", vec![organization; 30]).await;
    assert_eq!(created, 1);
    assert!(
        refused
            .iter()
            .all(|code| code == "organization_already_registered"),
        "{refused:?}"
    );
}

//! API keys, scopes and tenant isolation.

use crate::harness::{TestApp, TENANT};
use axum::http::{Method, StatusCode};
use serde_json::json;
use service::api_key::Scope;

const ID: &str = "123456789012";

#[tokio::test]
async fn missing_unknown_malformed_and_wrong_keys_are_401() {
    let app = TestApp::new().await;
    let uri = "/v1/accounts";
    app.call_with(Method::GET, uri, None, None, &[])
        .await
        .assert_error(401, "unauthorized");
    app.call_with(Method::GET, uri, Some("garbage"), None, &[])
        .await
        .assert_error(401, "unauthorized");
    // Well-formed but never issued.
    let unknown = format!(
        "oak_{TENANT}_01ARZ3NDEKTSV4RRFFQ69G5FAV_{}",
        "ab".repeat(32)
    );
    app.call_with(Method::GET, uri, Some(&unknown), None, &[])
        .await
        .assert_error(401, "unauthorized");
    // Right key id, wrong secret.
    let (prefix, _) = app.key.rsplit_once('_').unwrap();
    let wrong = format!("{prefix}_{}", "cd".repeat(32));
    app.call_with(Method::GET, uri, Some(&wrong), None, &[])
        .await
        .assert_error(401, "unauthorized");
    // A key that claims another tenant than its own.
    let spoofed = app.key.replacen(TENANT, "globex", 1);
    app.call_with(Method::GET, uri, Some(&spoofed), None, &[])
        .await
        .assert_error(401, "unauthorized");
    // Bearer works like X-API-Key.
    let bearer = format!("Bearer {}", app.key);
    let ok = app
        .call_with(Method::GET, uri, None, None, &[("authorization", &bearer)])
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let basic = app
        .call_with(
            Method::GET,
            uri,
            None,
            None,
            &[("authorization", "Basic abc")],
        )
        .await;
    basic.assert_error(401, "unauthorized");
}

#[tokio::test]
async fn scopes_are_enforced_before_the_body_is_read() {
    let app = TestApp::new().await;
    app.create(ID, json!({})).await;
    let reader = app.key(TENANT, &[Scope::Read]).await;
    let writer = app.key(TENANT, &[Scope::Write]).await;
    let before = app.snapshot().await;
    let uri = format!("/v1/accounts/{ID}");
    let body = json!({"name": "x"});
    for (method, path, body) in [
        (Method::POST, "/v1/accounts", Some(&body)),
        (Method::PUT, uri.as_str(), Some(&body)),
        (Method::PATCH, uri.as_str(), Some(&body)),
        (Method::DELETE, uri.as_str(), None),
        (Method::GET, "/v1/api-keys", None),
        (Method::POST, "/v1/api-keys", Some(&body)),
    ] {
        let reply = app
            .call_with(method.clone(), path, Some(&reader), body, &[])
            .await;
        reply.assert_error(403, "forbidden");
    }
    // Forbidden even with a body that would be a 415 or 400.
    let reply = app
        .call_with(
            Method::POST,
            "/v1/accounts",
            Some(&reader),
            Some(&json!({})),
            &[("content-type", "text/plain")],
        )
        .await;
    reply.assert_error(403, "forbidden");
    for path in ["/v1/accounts", uri.as_str()] {
        app.call_with(Method::GET, path, Some(&writer), None, &[])
            .await
            .assert_error(403, "forbidden");
        let ok = app
            .call_with(Method::GET, path, Some(&reader), None, &[])
            .await;
        assert_eq!(ok.status, StatusCode::OK);
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn api_keys_are_issued_listed_without_secrets_and_revoked() {
    let app = TestApp::new().await;
    let created = app
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&json!({"name": "ci pipeline", "scopes": ["read", "write"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let token = created.body["api_key"].as_str().unwrap().to_string();
    let key_id = created.body["key_id"].as_str().unwrap().to_string();
    assert_eq!(created.body["scopes"], json!(["read", "write"]));
    assert!(token.contains(&key_id));

    // The new key works, with its scopes.
    let reply = app
        .call_with(
            Method::POST,
            "/v1/accounts",
            Some(&token),
            Some(&json!({"account_id": ID, "name": "By CI"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["created_by"], key_id.as_str());
    app.call_with(Method::GET, "/v1/api-keys", Some(&token), None, &[])
        .await
        .assert_error(403, "forbidden");

    // Listing never shows the secret or its hash.
    let listed = app.get("/v1/api-keys").await;
    assert_eq!(listed.status, StatusCode::OK);
    let text = listed.body.to_string();
    let secret = token.rsplit('_').next().unwrap();
    assert!(!text.contains(secret));
    assert!(!text.contains(&service::crypto::hash_secret(secret)));
    assert!(!text.contains("secret_hash"));
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let one = app.get(&format!("/v1/api-keys/{key_id}")).await;
    assert_eq!(one.body["name"], "ci pipeline");
    assert!(one.body.get("api_key").is_none());

    // Revoked keys are refused at once; revoking again is harmless.
    let revoked = app
        .call(Method::DELETE, &format!("/v1/api-keys/{key_id}"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let refused = app
        .call_with(Method::GET, "/v1/accounts", Some(&token), None, &[])
        .await;
    refused.assert_error(401, "unauthorized");
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    assert_eq!(
        app.call(Method::DELETE, &format!("/v1/api-keys/{key_id}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(app.get(&format!("/v1/api-keys/{key_id}")).await.body["revoked_at"].is_string());
    app.call(
        Method::DELETE,
        "/v1/api-keys/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        None,
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn invalid_key_requests_are_400() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    for (body, field) in [
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "x", "scopes": ["root"]}), "scopes[0]"),
        (json!({"scopes": ["read"]}), "name"),
        (
            json!({"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scopes": ["read"], "tenant": "globex"}),
            "tenant",
        ),
    ] {
        let reply = app.call(Method::POST, "/v1/api-keys", Some(&body)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:#}",
            reply.body
        );
        assert_eq!(reply.field(), field, "{body}: {:#}", reply.body);
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn another_tenant_sees_404_for_every_account() {
    let app = TestApp::new().await;
    let ids = ["000000000001", "000000000002", "000000000003"];
    for id in ids {
        app.create(id, json!({"environment": "PROD"})).await;
    }
    let intruder = app.key("globex", Scope::ALL).await;
    let before = app.snapshot().await;
    for id in ids {
        let uri = format!("/v1/accounts/{id}");
        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(json!({"name": "owned"}))),
            (Method::PATCH, Some(json!({"name": "owned"}))),
            (Method::DELETE, None),
        ] {
            let reply = app
                .call_with(method.clone(), &uri, Some(&intruder), body.as_ref(), &[])
                .await;
            reply.assert_error(404, "not_found");
        }
        let reply = app
            .call_with(
                Method::GET,
                &format!("/v1/accounts?account_id={id}"),
                Some(&intruder),
                None,
                &[],
            )
            .await;
        assert_eq!(reply.body["items"], json!([]));
    }
    for query in ["", "?environment=PROD", "?q=account", "?sort=name"] {
        let listed = app
            .call_with(
                Method::GET,
                &format!("/v1/accounts{query}"),
                Some(&intruder),
                None,
                &[],
            )
            .await;
        assert_eq!(listed.status, StatusCode::OK);
        assert_eq!(listed.body["items"], json!([]), "{query}");
    }
    let keys = app
        .call_with(Method::GET, "/v1/api-keys", Some(&intruder), None, &[])
        .await;
    assert_eq!(
        keys.body["items"].as_array().unwrap().len(),
        1,
        "only its own key"
    );
    assert_eq!(app.snapshot().await, before, "the intruder changed nothing");
    // The owner still sees all three.
    assert_eq!(
        app.get("/v1/accounts").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// A tenant has at most 100 live keys, and a key rotation without end
/// leaves a bounded listing: the live keys and the 50 newest dead ones.
#[tokio::test]
async fn live_keys_are_capped_and_old_revoked_ones_go() {
    let app = TestApp::new().await;
    let create = |name: String| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/v1/api-keys",
                Some(&json!({"name": name, "scopes": ["read"]})),
            )
            .await
        }
    };
    // The test's admin key is live: 99 more reach the bound.
    let mut made = Vec::new();
    for i in 0..99 {
        let created = create(format!("k{i}")).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
        made.push(created.body["key_id"].as_str().unwrap().to_string());
    }
    let before = app.snapshot().await;
    create("one too many".into())
        .await
        .assert_error(409, "too_many_api_keys");
    assert_eq!(app.snapshot().await, before, "a refusal writes nothing");

    // Revoke 60; the next creation deletes the 10 oldest of them.
    for key_id in &made[..60] {
        let revoked = app
            .call(Method::DELETE, &format!("/v1/api-keys/{key_id}"), None)
            .await;
        assert!(revoked.status.is_success(), "{:#}", revoked.body);
    }
    let created = create("after the rotation".into()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let listed = app.get("/v1/api-keys").await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1 + 39 + 1 + 50, "admin, live, new, kept dead");
    for gone in &made[..10] {
        assert!(!ids.contains(&gone.as_str()), "{gone} was among the oldest");
        app.get(&format!("/v1/api-keys/{gone}"))
            .await
            .assert_error(404, "not_found");
    }
    for kept in &made[10..] {
        assert!(ids.contains(&kept.as_str()));
    }
}

/// With key records kept (`API_KEY_CACHE_SECONDS`, 10 in the template): a
/// second request costs no read of the key; a revocation through this
/// instance holds on the very next request; one made elsewhere (another
/// instance, the operator CLI: here, straight in the table) holds once the
/// kept record is older than the cache time. A wrong secret is refused
/// even while the record is kept.
#[tokio::test]
async fn kept_key_records_save_a_read_and_revocations_still_hold() {
    let mut app = TestApp::new().await;
    app.reconfigure(|state| state.with_key_cache(std::time::Duration::from_millis(400)));
    let key = app.key("acme", &[Scope::Read, Scope::Admin]).await;
    let key_id = key.split('_').nth(2).unwrap().to_string();
    let get = |key: String| {
        let app = &app;
        async move {
            app.call_with(Method::GET, "/v1/accounts", Some(&key), None, &[])
                .await
        }
    };
    let (first, read) = service::aws::capacity::measure(get(key.clone())).await;
    assert_eq!(first.status, StatusCode::OK);
    let (second, kept) = service::aws::capacity::measure(get(key.clone())).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(kept.calls + 1, read.calls, "the key is not read again");
    assert_eq!(
        kept.read + 1.0,
        read.read,
        "a consistent read of the key saved"
    );
    let mut wrong = key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    get(wrong).await.assert_error(401, "unauthorized");

    // Revoked elsewhere: accepted while the record is kept, refused after.
    app.store
        .revoke_api_key(
            "acme",
            &key_id,
            "admin-cli",
            service::time::Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(get(key.clone()).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    get(key.clone()).await.assert_error(401, "unauthorized");

    // Revoked through this instance: refused on the next request.
    let other = app.key("acme", &[Scope::Read, Scope::Admin]).await;
    let other_id = other.split('_').nth(2).unwrap().to_string();
    assert_eq!(get(other.clone()).await.status, StatusCode::OK);
    let revoked = app
        .call_with(
            Method::DELETE,
            &format!("/v1/api-keys/{other_id}"),
            Some(&app.key.clone()),
            None,
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    get(other).await.assert_error(401, "unauthorized");
}

/// The worst a key header can be (each scheme, far over any key's length,
/// and a 44-character value that is not an alias): a 401, and not one
/// DynamoDB call spent on it.
#[tokio::test]
async fn oversized_or_forged_credentials_cost_no_read() {
    use base64::Engine;
    let app = TestApp::new().await;
    let long = "a".repeat(16 * 1024);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{long}:"))
    );
    let token = format!("{long}/{long}");
    let bearer = format!("Bearer {long}");
    let not_base64 = "!".repeat(44);
    for (name, value) in [
        ("x-auth-token", token.as_str()),
        ("authorization", basic.as_str()),
        ("authorization", bearer.as_str()),
        ("x-api-key", long.as_str()),
        ("x-api-key", not_base64.as_str()),
    ] {
        let (reply, units) = service::aws::capacity::measure(app.call_with(
            Method::GET,
            "/v1/accounts",
            None,
            None,
            &[(name, value)],
        ))
        .await;
        reply.assert_error(401, "unauthorized");
        assert_eq!(units.calls, 0, "{name}: {units:?}");
    }
}

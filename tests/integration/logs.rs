//! Logs: JSON lines that name the request, tenant and account, and never a
//! secret. The flow below touches every secret the service handles: an API
//! key issued through the API, external IDs, and the session credentials
//! of assumed roles (verification and a scan).

use crate::harness::{trust_external_ids, TestApp, CUSTOMER_ACCOUNT};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing::instrument::WithSubscriber;

/// A MakeWriter that keeps everything written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn logs_name_request_tenant_and_account_and_never_a_secret() {
    let app = TestApp::with_scans().await;
    let captured = Captured::default();
    // The Lambda functions' format and default level.
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter("info")
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(captured.clone())
        .finish();
    let mut secrets: Vec<String> = Vec::new();
    let account = CUSTOMER_ACCOUNT;
    async {
        let issued = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&json!({"name": "logged", "scopes": ["read", "write", "execute"]})),
            )
            .await;
        assert_eq!(issued.status, StatusCode::CREATED, "{:#}", issued.body);
        let token = issued.body["api_key"].as_str().unwrap().to_string();
        secrets.push(token.clone());
        secrets.push(token.rsplit('_').next().unwrap().to_string());

        let created = app.create(account, json!({"regions": ["us-east-1"]})).await;
        let external_id = created["external_id"].as_str().unwrap().to_string();
        secrets.push(external_id.clone());
        let role = app
            .create_role(account, &trust_external_ids(&[&external_id]), &[])
            .await;
        let patched = app
            .call_with(
                Method::PATCH,
                &format!("/v1/accounts/{account}"),
                Some(&token),
                Some(&json!({"role_arn": role})),
                &[("content-type", "application/merge-patch+json")],
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);
        let verified = app
            .call_with(
                Method::POST,
                &format!("/v1/accounts/{account}/verify"),
                Some(&token),
                None,
                &[],
            )
            .await;
        assert_eq!(
            verified.body["credential"]["verification_status"],
            "SUCCESS"
        );
        let rotated = app
            .call(
                Method::POST,
                &format!("/v1/accounts/{account}/external-id/rotate"),
                None,
            )
            .await;
        secrets.push(
            rotated.body["pending_external_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        // A data source with a role of its own: another external ID.
        let own = app
            .call(
                Method::PUT,
                &format!("/v1/accounts/{account}/data-sources/aws:iam"),
                Some(&json!({"role_arn": format!("arn:aws:iam::{account}:role/Other")})),
            )
            .await;
        secrets.push(own.body["external_id"].as_str().unwrap().to_string());
        app.call(
            Method::PUT,
            &format!("/v1/accounts/{account}/data-sources/aws:iam"),
            Some(&json!({})),
        )
        .await;
        let scan = app
            .call_with(
                Method::POST,
                &format!("/v1/accounts/{account}/data-sources/aws:iam/scans"),
                Some(&token),
                Some(&json!({"scan_only": true})),
                &[],
            )
            .await;
        assert_eq!(scan.status, StatusCode::ACCEPTED, "{:#}", scan.body);
        app.drain_scan_queue().await;
        // Failures log too: a wrong key, a bad body.
        app.call_with(
            Method::GET,
            "/v1/accounts",
            Some(&format!("{token}x")),
            None,
            &[],
        )
        .await;
        app.call(
            Method::POST,
            "/v1/accounts",
            Some(&json!({"account_id": "1"})),
        )
        .await;
    }
    .with_subscriber(subscriber)
    .await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect();
    assert!(lines.len() >= 11, "{text}");
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret was logged: {secret}"
        );
    }
    // Session credentials of assumed roles (moto's temporary keys and tokens).
    for marker in [
        "ASIA",
        "FQoGZXIvYXdzE",
        "SecretAccessKey",
        "SessionToken",
        "secret_access_key",
    ] {
        assert!(
            !text.contains(marker),
            "credential material ({marker}) in the logs:\n{text}"
        );
    }
    // Every request line names the request; account routes the account
    // and, once authenticated, the tenant.
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 10, "{text}");
    for line in &requests {
        let span = &line["span"];
        assert!(
            !span["request_id"].as_str().unwrap_or("").is_empty(),
            "{line}"
        );
        if span["route"].as_str().unwrap().contains("{account_id}") {
            assert_eq!(span["account_id"], account, "{line}");
            assert_eq!(span["tenant"], "acme", "{line}");
        } else {
            // No empty field where there is no account.
            assert!(span.get("account_id").is_none(), "{line}");
        }
    }
    let worker_lines: Vec<&Value> = lines
        .iter()
        .filter(|line| line["span"]["name"] == "scan_job")
        .collect();
    assert!(!worker_lines.is_empty(), "{text}");
    for line in worker_lines {
        assert_eq!(line["span"]["tenant"], "acme");
        assert_eq!(line["span"]["account_id"], account);
    }
}

/// Webhook signing secrets (at creation and after a rotation) never reach
/// the logs or the audit log, through registration, the stream, failed
/// deliveries and their retries.
#[tokio::test]
async fn webhook_secrets_never_reach_logs_or_the_audit_log() {
    use crate::deliveries::{settings, Hooks, Receiver};
    let hooks = Hooks::new().await;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter("info")
        .with_writer(captured.clone())
        .finish();
    let mut secrets = Vec::new();
    async {
        let receiver = Receiver::start(503, None).await;
        let (webhook_id, secret) = hooks.webhook(&receiver.url(), &[]).await;
        secrets.push(secret);
        let rotated = hooks
            .app
            .call(
                Method::POST,
                &format!("/v1/webhooks/{webhook_id}/rotate-secret"),
                Some(&json!({"overlap_hours": 1})),
            )
            .await;
        assert_eq!(rotated.status, StatusCode::OK, "{:#}", rotated.body);
        secrets.push(rotated.body["signing_secret"].as_str().unwrap().to_string());
        hooks.app.create("123456789012", json!({})).await;
        hooks.notify(1).await;
        let sender = hooks.sender(
            settings(2),
            webhook_sender::http::HttpTransport::new(true).unwrap(),
        );
        hooks
            .deliver_until(&sender, std::time::Duration::from_secs(30), || {
                receiver.count() >= 4
            })
            .await;
        hooks.notify(1).await;
    }
    .with_subscriber(subscriber)
    .await;
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.lines().count() >= 3, "{text}");
    let audit = hooks
        .app
        .get("/v1/audit-events?limit=1000")
        .await
        .body
        .to_string();
    assert!(
        audit.contains("webhook.updated") && audit.contains("signing_secret"),
        "{audit}"
    );
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a signing secret was logged"
        );
        assert!(
            !audit.contains(secret.as_str()),
            "a signing secret in the audit log"
        );
    }
    assert!(!text.contains("whsec_") && !audit.contains("whsec_"));
}

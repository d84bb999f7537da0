//! Test harness: a fresh table per test, keys, and a request helper.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use shared::api_key::{ApiKey, Scope};
use shared::store::Store;
use shared::time::Timestamp;
use std::collections::BTreeMap;
use tower::ServiceExt;

pub const TENANT: &str = "acme";

pub struct TestApp {
    pub router: Router,
    pub store: Store,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    /// Admin key (all scopes) of tenant `acme`.
    pub key: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Assert status and error code, with the body in the failure message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(self.code(), code, "{:#}", self.body);
        assert!(
            !self.body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "error without a message: {:#}",
            self.body
        );
    }
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "integration tests need the emulators: run `make test` (or dev/with-emulators.sh cargo test)"
    );
    shared::config::aws().await
}

impl TestApp {
    pub async fn new() -> Self {
        let config = sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let table = format!("test-{}", ulid::Ulid::new().to_string().to_lowercase());
        shared::schema::create_table(&dynamodb, &table)
            .await
            .expect("create the test table");
        let store = Store::new(dynamodb.clone(), table.clone());
        let router = api::router(api::AppState {
            store: store.clone(),
        });
        let key = issue_key(&store, TENANT, &Scope::ALL).await;
        TestApp {
            router,
            store,
            dynamodb,
            table,
            key,
        }
    }

    /// A new key for `tenant` with `scopes`, straight in the table.
    pub async fn key(&self, tenant: &str, scopes: &[Scope]) -> String {
        issue_key(&self.store, tenant, scopes).await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A JSON request with the given key (if any) and extra headers.
    pub async fn call_with(
        &self,
        method: Method,
        uri: &str,
        key: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        let has_content_type = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_content_type {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = body
            .map(|b| Body::from(b.to_string()))
            .unwrap_or_else(Body::empty);
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn call(&self, method: Method, uri: &str, body: Option<&Value>) -> Reply {
        self.call_with(method, uri, Some(&self.key.clone()), body, &[])
            .await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, None).await
    }

    /// Register an account; `extra` fields override the defaults.
    pub async fn create(&self, account_id: &str, extra: Value) -> Value {
        let mut body = json!({"account_id": account_id, "name": format!("Account {account_id}")});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        let reply = self.call(Method::POST, "/v1/accounts", Some(&body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.body);
        reply.body
    }

    /// Every item of the test table, to prove that requests wrote nothing.
    /// (A Scan is fine here: this is the test's own table, not a request path.)
    pub async fn snapshot(&self) -> Vec<BTreeMap<String, String>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .dynamodb
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan the test table");
            for item in output.items.unwrap_or_default() {
                items.push(
                    item.into_iter()
                        .map(|(k, v)| (k, format!("{v:?}")))
                        .collect(),
                );
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        items.sort();
        items
    }
}

async fn issue_key(store: &Store, tenant: &str, scopes: &[Scope]) -> String {
    let issued = ApiKey::issue(
        tenant,
        "test",
        scopes.to_vec(),
        "test",
        None,
        Timestamp::now(),
    )
    .unwrap();
    store
        .create_api_key(&issued.record)
        .await
        .expect("store key");
    issued.token
}
